"""sbatch's option tables: every long option, its short letter, and the ``SBATCH_*`` variables.

Guarantees: :data:`LONGOPTS`/:data:`SHORTOPTS` are Slurm 22.05's full sbatch option table, so
getopt accepts, abbreviates and refuses exactly what sbatch does, plus stratus's own
``--stage-in``/``--stage-out`` (data staging, :mod:`stratus.staging`) (options stratus gives no
behaviour are accepted and recorded in ``BatchRequest.extra``); :data:`ENV_OPTIONS` lists the
input variables in Slurm's order of evaluation. salloc and srun allocations are read with
these same tables. Also the usage and help texts, and sbatch's error line.
"""

from __future__ import annotations

from stratus.slurm.errors import SlurmError, command_error
from stratus.slurm.options import Arg, LongOpt, OptionError

PROG = "sbatch"
EXIT_USAGE = 255  # slurm_process_option_or_exit() exits -1
EXIT_ERROR = 1


# (long name, argument kind, key). The key is the short letter where Slurm has one, so that
# "-J x" and "--job-name=x" are the same option. This is sbatch's full option table; options
# without behaviour in stratus yet are accepted and recorded in BatchRequest.extra.
_R, _N, _O = Arg.REQUIRED, Arg.NONE, Arg.OPTIONAL
_TABLE: tuple[tuple[str, Arg, str], ...] = (
    ("account", _R, "A"),
    ("acctg-freq", _R, "acctg-freq"),
    ("array", _R, "a"),
    ("batch", _R, "batch"),
    ("bb", _R, "bb"),
    ("bbf", _R, "bbf"),
    ("begin", _R, "b"),
    ("chdir", _R, "D"),
    ("cluster", _R, "cluster"),
    ("cluster-constraint", _R, "cluster-constraint"),
    ("clusters", _R, "M"),
    ("comment", _R, "comment"),
    ("constraint", _R, "C"),
    ("container", _R, "container"),
    ("context", _R, "context"),
    ("contiguous", _N, "contiguous"),
    ("core-spec", _R, "S"),
    ("cores-per-socket", _R, "cores-per-socket"),
    ("cpu-freq", _R, "cpu-freq"),
    ("cpus-per-gpu", _R, "cpus-per-gpu"),
    ("cpus-per-task", _R, "c"),
    ("deadline", _R, "deadline"),
    ("delay-boot", _R, "delay-boot"),
    ("dependency", _R, "d"),
    ("distribution", _R, "m"),
    ("error", _R, "e"),
    ("exclude", _R, "x"),
    ("exclusive", _O, "exclusive"),
    ("export", _R, "export"),
    ("export-file", _R, "export-file"),
    ("extra-node-info", _R, "B"),
    ("get-user-env", _O, "get-user-env"),
    ("gid", _R, "gid"),
    ("gpu-bind", _R, "gpu-bind"),
    ("gpu-freq", _R, "gpu-freq"),
    ("gpus", _R, "G"),
    ("gpus-per-node", _R, "gpus-per-node"),
    ("gpus-per-socket", _R, "gpus-per-socket"),
    ("gpus-per-task", _R, "gpus-per-task"),
    ("gres", _R, "gres"),
    ("gres-flags", _R, "gres-flags"),
    ("help", _N, "h"),
    ("hint", _R, "hint"),
    ("hold", _N, "H"),
    ("ignore-pbs", _N, "ignore-pbs"),
    ("input", _R, "i"),
    ("job-name", _R, "J"),
    ("kill-on-invalid-dep", _R, "kill-on-invalid-dep"),
    ("licenses", _R, "L"),
    ("mail-type", _R, "mail-type"),
    ("mail-user", _R, "mail-user"),
    ("mcs-label", _R, "mcs-label"),
    ("mem", _R, "mem"),
    ("mem-bind", _R, "mem-bind"),
    ("mem-per-cpu", _R, "mem-per-cpu"),
    ("mem-per-gpu", _R, "mem-per-gpu"),
    ("mincpus", _R, "mincpus"),
    ("network", _R, "network"),
    ("nice", _O, "nice"),
    ("no-kill", _O, "k"),
    ("no-requeue", _N, "no-requeue"),
    ("nodefile", _R, "F"),
    ("nodelist", _R, "w"),
    ("nodes", _R, "N"),
    ("ntasks", _R, "n"),
    ("ntasks-per-core", _R, "ntasks-per-core"),
    ("ntasks-per-gpu", _R, "ntasks-per-gpu"),
    ("ntasks-per-node", _R, "ntasks-per-node"),
    ("ntasks-per-socket", _R, "ntasks-per-socket"),
    ("ntasks-per-tres", _R, "ntasks-per-tres"),
    ("open-mode", _R, "open-mode"),
    ("output", _R, "o"),
    ("overcommit", _N, "O"),
    ("oversubscribe", _N, "s"),
    ("parsable", _N, "parsable"),
    ("partition", _R, "p"),
    ("power", _R, "power"),
    ("prefer", _R, "prefer"),
    ("priority", _R, "priority"),
    ("profile", _R, "profile"),
    ("propagate", _O, "propagate"),
    ("qos", _R, "q"),
    ("quiet", _N, "Q"),
    ("reboot", _N, "reboot"),
    ("requeue", _N, "requeue"),
    ("reservation", _R, "reservation"),
    ("signal", _R, "signal"),
    ("sockets-per-node", _R, "sockets-per-node"),
    ("spread-job", _N, "spread-job"),
    ("stage-in", _R, "stage-in"),  # stratus's own: data staging from S3
    ("stage-out", _R, "stage-out"),  # stratus's own: data staging to S3
    ("switches", _R, "switches"),
    ("tasks-per-node", _R, "ntasks-per-node"),
    ("test-only", _N, "test-only"),
    ("thread-spec", _R, "thread-spec"),
    ("threads-per-core", _R, "threads-per-core"),
    ("time", _R, "t"),
    ("time-min", _R, "time-min"),
    ("tmp", _R, "tmp"),
    ("uid", _R, "uid"),
    ("usage", _N, "usage"),
    ("use-min-nodes", _N, "use-min-nodes"),
    ("verbose", _N, "v"),
    ("version", _N, "V"),
    ("wait", _N, "W"),
    ("wait-all-nodes", _R, "wait-all-nodes"),
    ("wckey", _R, "wckey"),
    ("wrap", _R, "wrap"),
)
LONGOPTS: tuple[LongOpt, ...] = tuple(LongOpt(n, a, k) for n, a, k in _TABLE)
LONG_BY_KEY: dict[str, str] = {}
for _n, _a, _k in _TABLE:
    LONG_BY_KEY.setdefault(_k, _n)


def _shortopts() -> str:
    spec = "+"
    for _name, arg, key in _TABLE:
        if len(key) == 1 and key not in spec:
            spec += key + {Arg.NONE: "", Arg.REQUIRED: ":", Arg.OPTIONAL: "::"}[arg]
    return spec


SHORTOPTS = _shortopts()


# SBATCH_* variables and the option each one sets, in Slurm's order of evaluation.
ENV_OPTIONS: tuple[tuple[str, str], ...] = (
    ("SBATCH_ACCOUNT", "A"),
    ("SBATCH_ARRAY_INX", "a"),
    ("SBATCH_ACCTG_FREQ", "acctg-freq"),
    ("SBATCH_BATCH", "batch"),
    ("SBATCH_CLUSTER_CONSTRAINT", "cluster-constraint"),
    ("SBATCH_CLUSTERS", "M"),
    ("SLURM_CLUSTERS", "M"),
    ("SBATCH_CONTAINER", "container"),
    ("SBATCH_CONSTRAINT", "C"),
    ("SBATCH_CORE_SPEC", "S"),
    ("SBATCH_CPU_FREQ_REQ", "cpu-freq"),
    ("SBATCH_CPUS_PER_GPU", "cpus-per-gpu"),
    ("SBATCH_DEBUG", "v"),
    ("SBATCH_DELAY_BOOT", "delay-boot"),
    ("SBATCH_DISTRIBUTION", "m"),
    ("SBATCH_EXCLUSIVE", "exclusive"),
    ("SBATCH_EXPORT", "export"),
    ("SBATCH_GET_USER_ENV", "get-user-env"),
    ("SBATCH_GRES", "gres"),
    ("SBATCH_GRES_FLAGS", "gres-flags"),
    ("SBATCH_GPUS", "G"),
    ("SBATCH_GPU_BIND", "gpu-bind"),
    ("SBATCH_GPU_FREQ", "gpu-freq"),
    ("SBATCH_GPUS_PER_NODE", "gpus-per-node"),
    ("SBATCH_GPUS_PER_SOCKET", "gpus-per-socket"),
    ("SBATCH_GPUS_PER_TASK", "gpus-per-task"),
    ("SLURM_HINT", "hint"),
    ("SBATCH_HINT", "hint"),
    ("SBATCH_JOB_NAME", "J"),
    ("SBATCH_MEM_BIND", "mem-bind"),
    ("SBATCH_MEM_PER_CPU", "mem-per-cpu"),
    ("SBATCH_MEM_PER_GPU", "mem-per-gpu"),
    ("SBATCH_MEM_PER_NODE", "mem"),
    ("SBATCH_NETWORK", "network"),
    ("SBATCH_NO_KILL", "k"),
    ("SBATCH_NO_REQUEUE", "no-requeue"),
    ("SBATCH_OPEN_MODE", "open-mode"),
    ("SBATCH_OVERCOMMIT", "O"),
    ("SBATCH_PARTITION", "p"),
    ("SBATCH_POWER", "power"),
    ("SBATCH_PROFILE", "profile"),
    ("SBATCH_QOS", "q"),
    ("SBATCH_REQUEUE", "requeue"),
    ("SBATCH_RESERVATION", "reservation"),
    ("SBATCH_SIGNAL", "signal"),
    ("SBATCH_SPREAD_JOB", "spread-job"),
    ("SBATCH_THREAD_SPEC", "thread-spec"),
    ("SBATCH_THREADS_PER_CORE", "threads-per-core"),
    ("SBATCH_TIMELIMIT", "t"),
    ("SBATCH_USE_MIN_NODES", "use-min-nodes"),
    ("SBATCH_WAIT", "W"),
    ("SBATCH_WAIT_ALL_NODES", "wait-all-nodes"),
    ("SBATCH_WCKEY", "wckey"),
    ("SBATCH_ERROR", "e"),
    ("SBATCH_INPUT", "i"),
    ("SBATCH_OUTPUT", "o"),
)


# Options acted on in the first pass over the command line only (see OptionState.apply).
EARLY_KEYS = {"h", "usage", "V", "Q", "v", "wrap"}


def sbatch_error(msg: str, exit_code: int = EXIT_USAGE) -> SlurmError:
    """``sbatch: error: <msg>``; exit 255 unless told otherwise, as a bad option value exits."""
    return command_error(PROG, msg, exit_code)


def usage_error(exc: OptionError) -> SlurmError:
    """A getopt diagnostic and the hint that follows it (exit 255)."""
    return SlurmError([str(exc), f'Try "{PROG} --help" for more information'], EXIT_USAGE)


SUBMIT_FAILED = "Batch job submission failed"


def as_command(exc: SlurmError, prog: str, failed: str) -> SlurmError:
    """The same refusal as ``prog`` (salloc, srun) words it, which reads sbatch's options too.

    Lines that start with ``sbatch: `` start with ``prog: `` instead; sbatch's "Batch job
    submission failed" becomes ``failed`` (salloc: "Job submit/allocate failed", srun: "Unable to
    allocate resources", or for a step "Unable to create step for job N"); the help hint names
    ``prog``. The exit code is kept.
    """
    lines: list[str] = []
    for line in exc.lines:
        if line.startswith(f"{PROG}: "):
            line = f"{prog}: " + line[len(PROG) + 2 :].replace(
                f"error: {SUBMIT_FAILED}: ", f"error: {failed}: ", 1
            )
        elif line == f'Try "{PROG} --help" for more information':
            line = f'Try "{prog} --help" for more information'
        lines.append(line)
    return SlurmError(lines, exc.exit_code)


USAGE = """\
Usage: sbatch [-N nnodes] [-n ntasks]
              [-c ncpus] [-p partition] [--hold] [--parsable] [-t minutes]
              [-D path] [--input file] [--output file] [--error file]
              [--chdir=directory] [-J jobname] [--mem=MB] [--mem-per-cpu=MB]
              [--account=name] [--dependency=type:jobid] [--comment=name]
              [--mail-type=type] [--mail-user=user] [--nice[=value]]
              [--requeue] [--no-requeue] [--ntasks-per-node=n] [--exclusive]
              [--gres=list] [--gpus=n] [--gpus-per-node=n] [-C list]
              [--array=index_values] [--export[=names]] [--begin=time]
              [--open-mode=append|truncate] [--wrap=command]
              executable [args...]
"""

HELP = """\
Usage: sbatch [OPTIONS...] script [args...]

Parallel run options:
  -a, --array=indexes         job array index values
  -A, --account=name          charge job to specified account
  -b, --begin=time            defer job until HH:MM MM/DD/YY
      --comment=name          arbitrary comment
  -c, --cpus-per-task=ncpus   number of cpus required per task
  -d, --dependency=type:jobid[:time] defer job until condition on jobid is satisfied
  -D, --chdir=directory       set working directory for batch script
  -e, --error=err             file for batch script's standard error
      --export[=names]        specify environment variables to export
  -H, --hold                  submit job in held state
  -i, --input=in              file for batch script's standard input
  -J, --job-name=jobname      name of job
      --mail-type=type        notify on state change: BEGIN, END, FAIL or ALL
      --mail-user=user        who to send email notification for job state changes
  -n, --ntasks=ntasks         number of tasks to run
      --nice[=value]          decrease scheduling priority by value
      --no-requeue            if set, do not permit the job to be requeued
      --ntasks-per-node=n     number of tasks to invoke on each node
  -N, --nodes=N               number of nodes on which to run (N = min[-max])
  -o, --output=out            file for batch script's standard output
      --open-mode=append|truncate  how to open the output and error files
  -p, --partition=partition   partition requested
      --parsable              outputs only the jobid and cluster name (if present),
                              separated by semicolon, only on successful submission.
  -Q, --quiet                 quiet mode (suppress informational messages)
      --requeue               if set, permit the job to be requeued
  -t, --time=minutes          time limit
  -v, --verbose               verbose mode (multiple -v's increase verbosity)
      --wrap[=command string] wrap command string in a sh script and submit

Constraint options:
  -C, --constraint=list       specify a list of constraints
      --mem=MB                minimum amount of real memory
      --exclusive[=user]      allocate nodes in exclusive mode
      --mem-per-cpu=MB        maximum amount of real memory per allocated cpu

GPU scheduling options:
  -G, --gpus=n                count of GPUs required for the job
      --gpus-per-node=n       number of GPUs required per allocated node
      --gres=list             required generic resources (gpu[:type]:count)

Help options:
  -h, --help                  show this help message
      --usage                 display brief usage message

Other options:
  -V, --version               output version information and exit

This is stratus's sbatch: every other option of Slurm 22.05's sbatch is accepted and
recorded.
"""

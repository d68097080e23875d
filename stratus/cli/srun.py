"""``srun``: run a command as a job step on the tasks of a job allocation.

Inside a job (``SLURM_JOB_ID`` set, or ``--jobid``), srun asks the head node for a step;
the head node lays the tasks out on the job's nodes (all of them, or those ``-N``, ``-w``, ``-x``
and ``-r`` select) and tells their agents, which run the tasks and stream their output and exit
codes back here over a socket this srun listens on, as slurmstepd does for Slurm's srun. srun
prints the output as it comes (``-l`` labels lines with the task id), and exits as Slurm's
does: 128 plus the highest signal that killed a task, else the highest exit code. If srun is
interrupted, the step's tasks are signalled; if srun dies, the agents kill them. Outside a
job, srun first gets an allocation as salloc does, asked with the options that shape one
(``-p -N -n -t -A -q --gres --mem -C -w -x`` ...), runs the step in it, releases it.

Options are Slurm 22.05's srun table, read with getopt as srun reads them: the sbatch options srun
shares, whose values are checked by sbatch's rules (:mod:`stratus.slurm.sbatch_values`) and worded
as srun words them, and srun's own. Inside a job the options that only shape an allocation are
accepted and change nothing. A few ``SLURM_*``/``SRUN_*`` input variables set options as in
Slurm (:data:`_ENV_OPTIONS`); those a job's own environment carries (``SLURM_NTASKS`` ...) are
not read: a step's defaults come from its job.

Output: ``-o``/``-e`` take Slurm's modes and file name patterns (``all``, ``none``, a task id, a
file; ``%j %J %s %t %n %N %x %u %A %a``); a pattern naming the task or node (``%t %n %N %u``) is a
file per task, relative to the step's directory, others one file relative to srun's; without
``-e``, stderr goes where stdout goes. Files are created with srun's umask (``--open-mode``:
truncate or append). Input: ``-i all`` (the default: srun's stdin to every task), ``none``, a
task id, a file, or a per-task file pattern. Stdin is read from the start and held until every
node has started its tasks, so keys typed while a step starts are not lost. ``--pty`` runs task
0 on a pseudo-terminal of its own: srun puts its terminal in raw mode, forwards every key and
the window size, and prints the terminal's output as it comes (``srun --pty bash``).

``-K`` ends the step at the first failed task, ``-W S`` S seconds after the first task ended, and
``-t`` inside a job at the step's time limit, each with Slurm's messages; ``--mpi`` types are
accepted and set ``SLURM_MPI_TYPE``, no PMI server is provided (``--mpi=list`` lists them).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from stratus.agent.protocol import NODE_ADDRESS_ENV
from stratus.agent.stepio import MAX_LINE, decode, encode
from stratus.cli.salloc import EXIT_USAGE, early_text, env_options, option_table, sbatch_argv
from stratus.net import LOOPBACK
from stratus.slurm.errors import SlurmError
from stratus.slurm.options import Arg, LongOpt, OptionError, getopt_long
from stratus.slurm.sbatch_options import LONG_BY_KEY, as_command
from stratus.slurm.sbatch_values import OptionState
from stratus.slurm.views import BatchRequest

SIGNAL_NAMES = {
    int(signal.SIGKILL): "Killed",
    int(signal.SIGTERM): "Terminated",
    int(signal.SIGSEGV): "Segmentation fault",
    int(signal.SIGABRT): "Aborted",
    int(signal.SIGINT): "Interrupt",
    int(signal.SIGBUS): "Bus error",
}
NO_VAL = 4294967294  # Slurm's NO_VAL: what %a prints outside an array
STEP_ABORT_TIME = 2  # seconds srun adds to KillWait when it says how long it waits (Slurm's)
STDIN_BUFFER = 1 << 20  # stdin read ahead of the step's start: at most this much is held

# -- the option table -------------------------------------------------------------------------------

# sbatch options srun does not have (Slurm 22.05's srun table); srun's -W takes a value.
_NOT_IN_SRUN = frozenset(
    {
        "array", "batch", "export-file", "get-user-env", "ignore-pbs", "kill-on-invalid-dep",
        "no-requeue", "parsable", "requeue", "wait", "wait-all-nodes", "wrap",
    }
)  # fmt: skip
_R, _N, _O = Arg.REQUIRED, Arg.NONE, Arg.OPTIONAL
_SRUN_OWN = (
    LongOpt("accel-bind", _R, "accel-bind"),
    LongOpt("bcast", _O, "bcast"),
    LongOpt("bcast-exclude", _R, "bcast-exclude"),
    LongOpt("compress", _O, "compress"),
    LongOpt("cpu-bind", _R, "cpu-bind"),
    LongOpt("cpu_bind", _R, "cpu-bind"),
    LongOpt("debugger-test", _N, "debugger-test"),
    LongOpt("disable-status", _N, "X"),
    LongOpt("epilog", _R, "epilog"),
    LongOpt("exact", _N, "exact"),
    LongOpt("het-group", _R, "het-group"),
    LongOpt("immediate", _O, "I"),
    LongOpt("interactive", _N, "interactive"),
    LongOpt("jobid", _R, "jobid"),
    LongOpt("kill-on-bad-exit", _O, "K"),
    LongOpt("label", _N, "l"),
    LongOpt("mpi", _R, "mpi"),
    LongOpt("msg-timeout", _R, "msg-timeout"),
    LongOpt("multi-prog", _N, "multi-prog"),
    LongOpt("no-allocate", _N, "Z"),
    LongOpt("overlap", _O, "overlap"),
    LongOpt("pack-group", _R, "het-group"),
    LongOpt("preserve-env", _N, "E"),
    LongOpt("prolog", _R, "prolog"),
    LongOpt("pty", _N, "pty"),
    LongOpt("quit-on-interrupt", _N, "quit-on-interrupt"),
    LongOpt("relative", _R, "r"),
    LongOpt("resv-ports", _O, "resv-ports"),
    LongOpt("send-libs", _O, "send-libs"),
    LongOpt("slurmd-debug", _R, "slurmd-debug"),
    LongOpt("task-epilog", _R, "task-epilog"),
    LongOpt("task-prolog", _R, "task-prolog"),
    LongOpt("threads", _R, "T"),
    LongOpt("unbuffered", _N, "u"),
    LongOpt("wait", _R, "W"),
    LongOpt("whole", _N, "whole"),
    LongOpt("x11", _O, "x11"),
)
SRUN_LONGOPTS, SRUN_SHORTOPTS = option_table(_NOT_IN_SRUN, _SRUN_OWN)
_SRUN_KEYS = frozenset(lo.key for lo in _SRUN_OWN)
# sbatch options that shape the step, not the allocation: not sent when srun asks for one.
_STEP_KEYS = frozenset({"o", "e", "i", "open-mode", "export"})
# Options Slurm's srun has that stratus refuses: ignoring them would run something else than
# what was asked (another program per task, scripts around the step, no allocation at all).
_REFUSED = frozenset(
    {"multi-prog", "prolog", "epilog", "task-prolog", "task-epilog", "het-group", "Z", "test-only"}
)
# srun's input variables (Slurm 22.05's srun table) that stratus reads, in Slurm's order. Not
# read: those a job's own environment sets (SLURM_NTASKS, SLURM_JOB_NUM_NODES, SLURM_JOB_NAME,
# SLURM_MEM_PER_*, SLURM_EXPORT_ENV, SLURM_GPUS* ...): a step's defaults come from its job.
_ENV_OPTIONS = (
    ("SLURM_ACCOUNT", "A"), ("SLURM_CONSTRAINT", "C"), ("SRUN_CPUS_PER_TASK", "c"),
    ("SLURM_DEPENDENCY", "d"), ("SLURM_EXCLUSIVE", "exclusive"), ("SRUN_EXPORT_ENV", "export"),
    ("SLURM_GRES", "gres"), ("SLURM_KILL_BAD_EXIT", "K"), ("SLURM_LABELIO", "l"),
    ("SLURM_MPI_TYPE", "mpi"), ("SLURM_OPEN_MODE", "open-mode"), ("SLURM_PARTITION", "p"),
    ("SLURM_QOS", "q"), ("SLURM_RESERVATION", "reservation"), ("SLURM_STDERRMODE", "e"),
    ("SLURM_STDINMODE", "i"), ("SLURM_STDOUTMODE", "o"), ("SLURM_TIMELIMIT", "t"),
    ("SLURM_UNBUFFEREDIO", "u"), ("SLURM_WAIT", "W"), ("SLURM_WORKING_DIR", "D"),
)  # fmt: skip

# --mpi: the plugin types Slurm 22.05 lists (pmix is pmix_v3's link); openmpi is none's alias.
MPI_TYPES = ("none", "pmi2", "pmix")
MPI_VERSIONS = ("pmix_v3",)
MPI_LIST = (
    "MPI plugin types are...\n"
    + "".join(f"\t{t}\n" for t in MPI_TYPES)
    + (f"specific pmix plugin versions available: {','.join(MPI_VERSIONS)}\n")
)

USAGE = """\
Usage: srun [-N nnodes] [-n ntasks] [-i in] [-o out] [-e err]
            [-c ncpus] [-r n] [-p partition] [--hold] [-t minutes]
            [-D path] [--overlap] [--label] [--unbuffered] [-J jobname]
            [--jobid=id] [--verbose] [--gres=list] [-W sec] [--qos=qos]
            [--mem=MB] [-C list] [--mpi=type] [--account=name]
            [--kill-on-bad-exit] [--open-mode=append|truncate] [--export=names]
            [--ntasks-per-node=n] [--mem-per-cpu=MB] [--exclusive] [--exact]
            [-w hosts...] [-x hosts...] [--gpus=n] [--gpus-per-node=n] [--pty]
            executable [args...]
"""

HELP = """\
Usage: srun [OPTIONS...] executable [args...]

Parallel run options:
  -A, --account=name          charge job to specified account
  -c, --cpus-per-task=ncpus   number of cpus required per task
  -D, --chdir=path            change remote current working directory
  -e, --error=err             location of stderr redirection
      --export=env_vars|NONE  environment variables passed to the tasks
  -i, --input=in              location of stdin redirection
      --jobid=id              run under already allocated job
  -J, --job-name=jobname      name of job (and of the step)
  -K, --kill-on-bad-exit      kill the step if any task exits with a non-zero code
  -l, --label                 prepend task number to lines of stdout/err
      --mpi=type              type of MPI being used (--mpi=list lists them)
  -n, --ntasks=ntasks         number of tasks to run
      --ntasks-per-node=n     number of tasks to invoke on each node
  -N, --nodes=N               number of nodes on which to run (N = min[-max])
  -o, --output=out            location of stdout redirection
      --open-mode=append|truncate  how to open the output and error files
      --overlap               allow other steps to overlap this step
  -p, --partition=partition   partition requested
      --pty                   run task zero in pseudo terminal
  -q, --qos=qos               quality of service
  -Q, --quiet                 quiet mode (suppress informational messages)
  -r, --relative=n            run job step relative to node n of allocation
  -t, --time=minutes          time limit
  -u, --unbuffered            do not line-buffer stdout/err
  -W, --wait=sec              seconds to wait after first task exits
                              before killing job

Constraint options:
  -C, --constraint=list       specify a list of constraints
      --mem=MB                minimum amount of real memory
      --mem-per-cpu=MB        maximum amount of real memory per allocated cpu
      --exclusive[=user]      allocate nodes in exclusive mode
  -w, --nodelist=hosts...     request a specific list of hosts
  -x, --exclude=hosts...      exclude a specific list of hosts

GPU scheduling options:
  -G, --gpus=n                count of GPUs required for the job
      --gpus-per-node=n       number of GPUs required per allocated node
      --gres=list             required generic resources (gpu[:type]:count)

Help options:
  -h, --help                  show this help message
      --usage                 display brief usage message

Other options:
  -V, --version               output version information and exit

This is stratus's srun: every other option of Slurm 22.05's srun is accepted and recorded;
--multi-prog, --prolog, --epilog, --task-prolog, --task-epilog, --het-group, -Z and
--test-only are not supported yet.
"""


@dataclass(slots=True)
class SrunOptions:
    """srun's command line and input variables, read and checked.

    ``request`` holds the values of the options srun shares with sbatch (``-n -N -c -o -e -i -D
    -J -t --mem --export --open-mode -w -x`` ...); the rest are srun's own.
    """

    command: list[str] = field(default_factory=list)
    request: BatchRequest = field(default_factory=lambda: BatchRequest(script=""))
    alloc_argv: list[str] = field(default_factory=list)  # what an allocation is asked with
    early: str | None = None  # --help, --usage, --version, --mpi=list: print this and exit 0
    label: bool = False
    pty: bool = False
    kill_on_bad_exit: bool = False
    wait_s: int = 0  # -W: end the step this long after its first task ended (0: never)
    mpi: str = "none"
    jobid: int | None = None
    relative: int | None = None
    quiet: bool = False
    warnings: list[str] = field(default_factory=list)


def parse_srun(argv: list[str], env: Mapping[str, str], cwd: str, now: float) -> SrunOptions:
    """Read srun's options as Slurm 22.05's srun does; raises ``SlurmError`` with srun's words.

    The order is Slurm's: getopt and each value (exit 255, or 1 for a bad number), then
    ``--help``-like options, ``--mpi=list``, a missing command (``srun: fatal: No command given
    to execute.``), then the consistency checks of srun's ``_opt_verify`` (exit 1). A value the
    controller checks in Slurm (``--gres``) is refused as the controller refuses it: "Unable to
    create step for job N" inside a job (``SLURM_JOB_ID`` or ``--jobid``), else "Unable to
    allocate resources".
    """
    try:
        cli, command = getopt_long("srun", argv, SRUN_SHORTOPTS, SRUN_LONGOPTS)
    except OptionError as exc:
        early = early_text(exc.parsed, HELP, USAGE)
        if early is not None:
            return SrunOptions(early=early)
        raise SlurmError([str(exc), 'Try "srun --help" for more information'], EXIT_USAGE) from None
    early = early_text(cli, HELP, USAGE)
    if early is not None:
        return SrunOptions(early=early)
    opts = [*env_options(env, _ENV_OPTIONS, SRUN_LONGOPTS), *cli]
    out = SrunOptions(command=list(command), alloc_argv=sbatch_argv(opts, skip=_SRUN_KEYS | _STEP_KEYS))
    job = next((val for key, val in reversed(cli) if key == "jobid"), None) or env.get("SLURM_JOB_ID")
    failed = f"Unable to create step for job {job}" if job else "Unable to allocate resources"
    state = OptionState(cwd=cwd, now=now)
    verbose = False
    for key, val in opts:
        if key in _REFUSED:
            raise _error(f"--{_long_name(key)} is not supported by stratus yet")
        if key in _SRUN_KEYS:
            _apply_own(out, key, val)
        elif key == "Q":
            out.quiet = True
        elif key == "v":
            verbose = True
        else:
            try:
                state.apply(key, val)
            except SlurmError as exc:
                raise as_command(exc, "srun", failed) from None
    out.request = state.request
    if out.mpi == "list":
        out.early = MPI_LIST
        return out
    if not out.command:
        raise SlurmError("srun: fatal: No command given to execute.", 1)
    given = {key for key, _ in cli}
    _verify(out, given, verbose)
    return out


def _long_name(key: str) -> str:
    for lo in SRUN_LONGOPTS:
        if lo.key == key:
            return lo.name
    return LONG_BY_KEY.get(key, key)


def _error(msg: str, exit_code: int = 1) -> SlurmError:
    return SlurmError(f"srun: error: {msg}", exit_code)


def _number(name: str, val: str) -> int:
    """parse_int(): a whole decimal number, 0 or more; Slurm's message and exit 1 otherwise."""
    text = val.strip()
    if not (text.isascii() and text.lstrip("+").isdigit()):
        raise _error(f'Invalid numeric value "{val}" for {name}.')
    return int(text)


def _apply_own(out: SrunOptions, key: str, val: str | None) -> None:
    """One of srun's own options (those sbatch does not have)."""
    if key == "l":
        out.label = True
    elif key == "pty":
        out.pty = True
    elif key == "K":
        out.kill_on_bad_exit = val is None or _number("--kill-on-bad-exit", val) != 0
    elif key == "W":
        out.wait_s = _number("--wait", val or "")
    elif key == "mpi":
        out.mpi = val or ""
    elif key == "jobid":
        out.jobid = _number("--jobid", val or "")
    elif key == "r":
        out.relative = _number("--relative", val or "")
    # The others (-u, -X, -E, -T, --cpu-bind, --bcast, --quit-on-interrupt ...) tune how Slurm
    # launches and binds tasks: stratus starts tasks unbound and streams their output
    # unbuffered already, so they are accepted and change nothing.


def _verify(out: SrunOptions, given: set[str], verbose: bool) -> None:
    """srun's consistency checks (its _opt_verify), in its order, and its node-count warning."""
    r = out.request
    if out.quiet and verbose:
        raise _error("don't specify both --verbose (-v) and --quiet (-Q)")
    if out.relative is not None and ("nodelist" in r.extra or "exclude" in r.extra):
        raise _error("-r,--relative not allowed with -w,--nodelist or -x,--exclude.")
    if "exclusive" in given and "overlap" in given:
        raise _error("--exclusive and --overlap are mutually exclusive")
    if "exact" in given and "whole" in given:
        raise _error("--exact and --whole are mutually exclusive.")
    if r.ntasks is not None and r.min_nodes is not None and r.ntasks < r.min_nodes:
        # Slurm lowers the node count to the task count and says so (an info line).
        out.warnings.append(
            f"srun: Warning: can't run {r.ntasks} processes on {r.min_nodes} nodes, "
            f"setting nnodes to {r.ntasks}"
        )
        r.min_nodes = r.max_nodes = r.ntasks
    if out.mpi == "openmpi":
        out.mpi = "none"  # Slurm 22.05 treats openmpi as none
    if out.mpi not in (*MPI_TYPES, *MPI_VERSIONS):
        plugin = f"mpi/{out.mpi}"
        raise SlurmError(
            [
                f"srun: error: Couldn't find the specified plugin name for {plugin} looking at all files",
                f"srun: error: cannot find mpi plugin for {plugin}",
                f"srun: error: MPI: Cannot create context for {plugin}",
                "srun: error: MPI: Unable to load any plugin",
                f"srun: error: Invalid MPI type '{out.mpi}', --mpi=list for acceptable types",
            ],
            1,
        )
    if out.pty and (r.stdout is not None or r.stderr is not None or r.stdin is not None):
        raise _error("--error/--input/--output are incompatible with --pty")


# -- where output goes, and file name patterns ----------------------------------------------------


@dataclass(frozen=True, slots=True)
class TaskPlace:
    """What a file name pattern may say of one task of a step."""

    job_id: int
    step_id: int
    procid: int
    nodeid: int
    node: str
    user: str
    job_name: str
    array_job_id: int | None = None
    array_task_id: int | None = None


_CODES = frozenset("ajAJstnNux")
_PER_TASK = frozenset("tnNu")  # Slurm's srun leaves these to each node: a file per task


def pattern_fields(pattern: str) -> list[str | tuple[str, int]]:
    """A file name pattern as text and ``(letter, width)`` fields, as Slurm's srun reads it.

    ``%%`` is a ``%``; a width (``%3t``) zero-pads numbers, at most 10; an unknown letter is
    kept as written, except that after a width only its last digit is kept (Slurm's quirk).
    """
    out: list[str | tuple[str, int]] = []
    text: list[str] = []
    i, n = 0, len(pattern)
    while i < n:
        if pattern[i] != "%":
            text.append(pattern[i])
            i += 1
            continue
        if pattern[i + 1 : i + 2] == "%":
            text.append("%")
            i += 2
            continue
        j = i + 1
        while j < n and pattern[j].isascii() and pattern[j].isdigit():
            j += 1
        resume = j - 1 if j > i + 1 else i
        if j < n and pattern[j] in _CODES:
            if text:
                out.append("".join(text))
                text = []
            out.append((pattern[j], min(int(pattern[i + 1 : j] or "0"), 10)))
        else:
            text.append(pattern[resume : j + 1])
        i = j + 1
    if text:
        out.append("".join(text))
    return out


def expand_pattern(fields: list[str | tuple[str, int]], place: TaskPlace) -> str:
    """The file name ``fields`` (see :func:`pattern_fields`) denote for one task."""
    parts: list[str] = []
    for item in fields:
        if isinstance(item, str):
            parts.append(item)
            continue
        code, width = item
        if code == "N":
            parts.append(place.node)
        elif code == "u":
            parts.append(place.user)
        elif code == "x":
            parts.append(place.job_name)
        else:
            number = {
                "j": place.job_id,
                "J": place.job_id,
                "s": place.step_id,
                "t": place.procid,
                "n": place.nodeid,
                "A": place.array_job_id if place.array_job_id is not None else place.job_id,
                "a": place.array_task_id if place.array_task_id is not None else NO_VAL,
            }[code]
            parts.append(f"{number:0{width}d}" + (f".{place.step_id}" if code == "J" else ""))
    return "".join(parts)


@dataclass(frozen=True, slots=True)
class IoMode:
    """How srun redirects one stream (Slurm's fname types): ``all`` (srun's own stream, every
    task), ``none``, ``one`` (only ``task``'s, through srun's stream), or ``file`` (``fields``;
    one file per task when ``per_task``)."""

    kind: str
    task: int | None = None
    fields: tuple[str | tuple[str, int], ...] = ()
    per_task: bool = False


def io_mode(text: str | None, ntasks: int) -> IoMode:
    """What an ``-o``/``-e``/``-i`` value means for a step of ``ntasks`` tasks (Slurm's srun).

    Kept from Slurm: any value starting with ``all`` (or ``-``) is srun's own stream; a number
    is a task id only below ``ntasks`` (otherwise it is a file name); a backslash anywhere turns
    expansion off and is removed.
    """
    if text is None or text[:3].lower() == "all" or text.startswith("-"):
        return IoMode("all")
    if text.lower() == "none":
        return IoMode("none")
    if text.isascii() and text.isdigit() and int(text) < ntasks:
        return IoMode("one", task=int(text))
    if "\\" in text:
        return IoMode("file", fields=(text.replace("\\", ""),))
    fields = pattern_fields(text)
    per_task = any(isinstance(f, tuple) and f[0] in _PER_TASK for f in fields)
    return IoMode("file", fields=tuple(fields), per_task=per_task)


class Outputs:
    """Where each task's stdout and stderr go: srun's own streams, files, or nowhere.

    ``err`` None: stderr goes where stdout goes (to srun's stderr when that is srun's stream).
    Files are opened when the step starts, before any output, as Slurm opens them (an empty
    task still leaves its file); a file named by both streams, or by several tasks, is opened
    once. Paths of per-task files are relative to the step's directory, others to srun's.
    With ``label`` (``-l``) every line starts with its task id, padded to the widest one.
    """

    def __init__(
        self,
        out: IoMode,
        err: IoMode | None,
        places: list[TaskPlace],
        step_cwd: str,
        *,
        append: bool,
        label: bool,
        raw: bool = False,
    ) -> None:
        self.label = label and not raw
        self.width = len(str(max(len(places) - 1, 0)))  # labels are padded to the widest task id
        self.flags = os.O_CREAT | os.O_WRONLY | os.O_APPEND | (0 if append else os.O_TRUNC)
        self.files: dict[str, int] = {}
        self.partial: dict[tuple[int, str], bytes] = {}
        self.targets: dict[tuple[int, str], int | None] = {}
        for place in places:
            for kind, mode, own_fd in (("out", out, 1), ("err", err or out, 2)):
                self.targets[(place.procid, kind)] = self._target(mode, place, own_fd, step_cwd, kind)

    def _target(self, mode: IoMode, place: TaskPlace, own_fd: int, step_cwd: str, kind: str) -> int | None:
        if mode.kind == "all" or (mode.kind == "one" and mode.task == place.procid):
            return own_fd
        if mode.kind in ("none", "one"):
            return None
        name = expand_pattern(list(mode.fields), place)
        path = os.path.join(step_cwd if mode.per_task else os.getcwd(), name)
        if path not in self.files:
            try:
                self.files[path] = os.open(path, self.flags, 0o644)
            except OSError as exc:
                what = "stdout" if kind == "out" else "stderr"
                if mode.per_task:  # opened by slurmstepd on the node in Slurm
                    raise SlurmError(
                        f"slurmstepd-{place.node}: error: Could not open {what} file {path}: {exc.strerror}",
                        1,
                    ) from None
                raise _error(f"Could not open {what} file: {exc.strerror}") from None
        return self.files[path]

    def write(self, procid: int, kind: str, data: bytes) -> None:
        fd = self.targets.get((procid, kind), 1 if kind == "out" else 2)
        if fd is None or not data:
            return
        if self.label:
            # Every line starts with its task id; a partial line waits for its end.
            text = self.partial.pop((procid, kind), b"") + data
            lines = text.split(b"\n")
            self.partial[(procid, kind)] = lines.pop()
            data = b"".join(self._prefix(procid) + line + b"\n" for line in lines)
        _write_all(fd, data)

    def flush(self, procid: int) -> None:
        """A task ended: its last partial line is printed, ended (``-l``)."""
        for kind in ("out", "err"):
            rest = self.partial.pop((procid, kind), b"")
            fd = self.targets.get((procid, kind), 1 if kind == "out" else 2)
            if rest and fd is not None:
                _write_all(fd, self._prefix(procid) + rest + b"\n")

    def _prefix(self, procid: int) -> bytes:
        return f"{procid:>{self.width}}: ".encode()

    def close(self) -> None:
        for fd in self.files.values():
            with contextlib.suppress(OSError):
                os.close(fd)
        self.files.clear()


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    try:
        while view:
            view = view[os.write(fd, view) :]
    except BrokenPipeError:
        _reader_gone()


def _reader_gone() -> None:
    """srun's output has no reader any more (``srun ... | head -1``): end quietly, as SIGPIPE ends
    a C program (status 141, no traceback). The agents see srun go and kill the step's tasks."""
    os._exit(128 + signal.SIGPIPE)


def task_ranges(ids: Iterable[int]) -> str:
    """Task ids as Slurm lists them: ``0-2,5``."""
    out: list[str] = []
    run: list[int] = []
    for i in sorted(set(ids)):
        if run and i == run[-1] + 1:
            run.append(i)
            continue
        if run:
            out.append(f"{run[0]}-{run[-1]}" if len(run) > 1 else str(run[0]))
        run = [i]
    if run:
        out.append(f"{run[0]}-{run[-1]}" if len(run) > 1 else str(run[0]))
    return ",".join(out)


# -- the running step ---------------------------------------------------------------------------------


class Step:
    """The running step, seen from srun: connections from agents, output, task exits, stdin.

    Output and exits that arrive before the head node's answer (fast tasks) wait until
    :meth:`configure` says where output goes. Stdin and signals are held until every node has
    started its tasks (:attr:`ready`), then forwarded in order.
    """

    def __init__(self, token: str, raw: bool = False) -> None:
        self.ntasks: int | None = None  # known once the head node has laid the step out
        self.nnodes: int | None = None
        self.token = token
        self.raw = raw  # --pty: the terminal's bytes as they come
        self.exits: dict[int, tuple[int, int, str]] = {}  # procid -> (code, signal, node)
        self.done = asyncio.Event()
        self.writers: list[asyncio.StreamWriter] = []
        self.nodes_ready = 0
        self.ready = asyncio.Event()  # every node has started its tasks: stdin may flow
        self.ready_flag = threading.Event()  # the same, for the thread that reads stdin
        self.outputs: Outputs | None = None
        self.early: list[tuple[dict[str, Any], str]] = []  # messages before configure()
        self.stdin_held: list[dict[str, Any]] = []
        self.on_exit: Callable[[int, int, int], None] | None = None

    def configure(self, ntasks: int, nnodes: int, outputs: Outputs) -> None:
        """The step as the head node laid it out: deliver what came before, in order."""
        self.ntasks, self.nnodes, self.outputs = ntasks, nnodes, outputs
        early, self.early = self.early, []
        for msg, node in early:
            self.handle(msg, node)
        self.check_done()
        self.check_ready()

    async def connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        node = "?"
        try:
            hello = decode(await reader.readuntil(b"\n"))
            if hello.get("type") != "hello" or hello.get("token") != self.token:
                writer.close()
                return
            node = str(hello.get("node"))
            self.writers.append(writer)
            while True:
                msg = decode(await reader.readuntil(b"\n"))
                kind = msg.get("type")
                if kind in ("out", "err", "exit"):
                    if self.outputs is None:
                        self.early.append((msg, node))
                    else:
                        self.handle(msg, node)
                elif kind == "ready":
                    self.nodes_ready += 1
                    self.check_ready()
        except (asyncio.IncompleteReadError, ConnectionError, ValueError, asyncio.CancelledError):
            pass  # an agent done (or srun done with it): nothing more to read
        finally:
            writer.close()

    def handle(self, msg: dict[str, Any], node: str) -> None:
        assert self.outputs is not None
        kind = msg.get("type")
        procid = int(msg["procid"])
        if kind in ("out", "err"):
            data = str(msg["data"]).encode("utf-8", "surrogateescape")
            if self.raw:
                _write_all(1, data)
            else:
                self.outputs.write(procid, kind, data)
            return
        self.outputs.flush(procid)
        code, sig = int(msg["code"]), int(msg["signal"])
        self.exits[procid] = (code, sig, node)
        if self.on_exit is not None:
            self.on_exit(procid, code, sig)
        self.check_done()

    def check_done(self) -> None:
        if self.ntasks is not None and len(self.exits) >= self.ntasks:
            self.done.set()

    def check_ready(self) -> None:
        if self.nnodes is not None and self.nodes_ready >= self.nnodes and not self.ready.is_set():
            self.ready.set()
            self.ready_flag.set()
            held, self.stdin_held = self.stdin_held, []
            for msg in held:
                self.send(msg)

    def forward(self, msg: dict[str, Any]) -> None:
        """Stdin or a signal for the tasks: sent now if every node is ready, else held until then
        (in order), since a node that has not started its tasks yet would lose it."""
        if self.ready.is_set():
            self.send(msg)
        else:
            self.stdin_held.append(msg)

    def send(self, msg: dict[str, Any]) -> None:
        for w in self.writers:
            if not w.is_closing():
                with contextlib.suppress(OSError, RuntimeError):
                    w.write(encode(msg))

    def signal(self, name: str) -> None:
        self.forward({"type": "signal", "signal": name})


class Ending:
    """How srun ends a step early, with Slurm's messages: ``-K`` (at the first failed task),
    ``-W`` (some seconds after the first task ended) and a step's ``-t`` time limit.

    Ending is SIGTERM, then SIGKILL after KillWait (``STRATUS_KILL_WAIT``, as the head node reads
    it; 30 s by default), except ``-W``, which kills at once, as Slurm does.
    """

    def __init__(self, step: Step, opts: SrunOptions, job_id: int, step_id: int, first_node: str) -> None:
        self.step = step
        self.opts = opts
        self.step_name = f"StepId={job_id}.{step_id}"
        self.entity = f"STEP {job_id}.{step_id}"
        self.first_node = first_node
        try:
            self.kill_wait = float(os.environ.get("STRATUS_KILL_WAIT", "30"))
        except ValueError:
            self.kill_wait = 30.0
        self.terminating = False
        self.first_exit_seen = False
        self.reported: set[int] = set()  # tasks whose failure was printed as it happened
        self.loop = asyncio.get_running_loop()

    def _info(self, line: str) -> None:
        if not self.opts.quiet:  # Slurm's informational messages, which -Q silences
            sys.stderr.write(line + "\n")

    def task_exited(self, procid: int, code: int, sig: int) -> None:
        """A task ended: the first end arms ``-W``'s timer; with ``-K`` the first failure ends
        the step."""
        if self.opts.wait_s > 0 and not self.first_exit_seen:
            self.loop.call_later(self.opts.wait_s, self._first_exit_timeout)
        self.first_exit_seen = True
        if self.opts.kill_on_bad_exit and (code or sig) and not self.terminating:
            # The failure that ends the step is printed before the step is ended, as in Slurm.
            self.reported.add(procid)
            _, _, node = self.step.exits[procid]
            sys.stderr.write(_exit_line(node, [procid], code, sig) + "\n")
            self._info(f"srun: Terminating {self.step_name}")
            self._terminate("TERM")

    def start_time_limit(self, seconds: float) -> None:
        """End the step ``seconds`` from now if it is still running (a step's ``-t``)."""
        self.loop.call_later(seconds, self._time_limit)

    def _first_exit_timeout(self) -> None:
        if self.step.done.is_set():
            return
        self._info(f"srun: First task exited {self.opts.wait_s}s ago")
        exits = self.step.exits
        running = [p for p in range(self.step.ntasks or 0) if p not in exits]
        abnormal = [p for p, (code, sig, _) in exits.items() if code or sig]
        normal = [p for p, (code, sig, _) in exits.items() if not code and not sig]
        for tasks, what in ((running, "running"), (abnormal, "exited abnormally"), (normal, "exited")):
            if tasks:
                plural = "s" if len(tasks) > 1 else ""
                self._info(f"srun: {self.step_name} task{plural} {task_ranges(tasks)}: {what}")
        self._info(f"srun: Terminating {self.step_name}")
        self.terminating = True
        self.step.signal("KILL")

    def _time_limit(self) -> None:
        if self.step.done.is_set() or self.terminating:
            return
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S")
        sys.stderr.write(
            f"slurmstepd-{self.first_node}: error: *** {self.entity} ON {self.first_node} "
            f"CANCELLED AT {stamp} DUE TO TIME LIMIT ***\n"
        )
        wait = int(self.kill_wait) + STEP_ABORT_TIME
        self._info(f"srun: Job step aborted: Waiting up to {wait} seconds for job step to finish.")
        self._terminate("TERM")

    def _terminate(self, name: str) -> None:
        self.terminating = True
        self.step.signal("CONT")
        self.step.signal(name)
        self.loop.call_later(self.kill_wait, self._kill)

    def _kill(self) -> None:
        if not self.step.done.is_set():
            self.step.signal("KILL")


def _exit_line(node: str, procids: list[int], code: int, sig: int) -> str:
    what = SIGNAL_NAMES.get(sig, f"signal {sig}") if sig else f"Exited with exit code {code}"
    plural = "s" if len(procids) > 1 else ""
    return f"srun: error: {node}: task{plural} {task_ranges(procids)}: {what}"


# -- stdin --------------------------------------------------------------------------------------------


def _window_size() -> tuple[int, int] | None:
    import fcntl
    import struct
    import termios

    try:
        rows, cols, _, _ = struct.unpack("HHHH", fcntl.ioctl(0, termios.TIOCGWINSZ, b"\0" * 8))
    except OSError:
        return None
    return rows, cols


def _pump(step: Step, loop: asyncio.AbstractEventLoop, fd: int, target: int | None, close: bool) -> None:
    """Read ``fd`` to its end into the step (for task ``target``, or all), then end its input.

    Runs in a daemon thread, so a terminal that never ends its input does not keep srun alive
    after the step. Until every node is ready, at most :data:`STDIN_BUFFER` bytes are read
    ahead; they are held (:meth:`Step.forward`), not lost.
    """
    held = 0
    while True:
        if held >= STDIN_BUFFER:
            step.ready_flag.wait()
        try:
            data = os.read(fd, 65536)
        except OSError:
            data = b""
        if not step.ready_flag.is_set():
            held += len(data)
        msg: dict[str, Any] = {
            "type": "in",
            "procid": target,
            "data": data.decode("utf-8", "surrogateescape"),
        }
        if not data:
            msg = {"type": "eof", "procid": target}
        try:
            loop.call_soon_threadsafe(step.forward, msg)
        except RuntimeError:  # the loop is gone: srun is done
            return
        if not data:
            if close:
                os.close(fd)
            return


def start_stdin(step: Step, fd: int, target: int | None) -> None:
    """Forward ``fd`` (srun's stdin, or an open file) to task ``target`` (None: every task)."""
    loop = asyncio.get_running_loop()
    threading.Thread(
        target=_pump, args=(step, loop, fd, target, fd != 0), name="srun-stdin", daemon=True
    ).start()


def plan_stdin(step: Step, mode: IoMode, places: list[TaskPlace], step_cwd: str) -> None:
    """Route the step's stdin once it is laid out, per ``-i`` (``mode``): nowhere (the tasks read
    end of file), srun's stdin to one task or all, a file to all, or a file per task. Raises
    ``SlurmError`` with Slurm's words if an input file cannot be opened."""
    if mode.kind == "none":
        step.forward({"type": "eof", "procid": None})
    elif mode.kind == "one":
        for place in places:  # the other tasks read end of file
            if place.procid != mode.task:
                step.forward({"type": "eof", "procid": place.procid})
        start_stdin(step, 0, mode.task)
    elif mode.kind == "all":
        start_stdin(step, 0, None)
    elif not mode.per_task:
        path = os.path.join(os.getcwd(), expand_pattern(list(mode.fields), places[0]))
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError as exc:
            raise _error(f"Could not open stdin file: {exc.strerror}") from None
        start_stdin(step, fd, None)
    else:
        for place in places:
            path = os.path.join(step_cwd, expand_pattern(list(mode.fields), place))
            try:
                fd = os.open(path, os.O_RDONLY)
            except OSError as exc:
                raise SlurmError(
                    f"slurmstepd-{place.node}: error: Could not open stdin file {path}: {exc.strerror}", 1
                ) from None
            start_stdin(step, fd, place.procid)


# -- running a step ------------------------------------------------------------------------------------


def _post(cluster_dir: str, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    from stratus.cli.salloc import Head

    return Head(cluster_dir).call("POST", path, body)


def _user() -> str:
    import pwd

    try:
        return pwd.getpwuid(os.getuid()).pw_name
    except KeyError:
        return str(os.getuid())


def _places(reply: dict[str, Any], job_id: int, name: str) -> list[TaskPlace]:
    """Each task of the step as the head node laid it out: its node and ids, for file names."""
    env = os.environ
    array_job = env.get("SLURM_ARRAY_JOB_ID", "")
    array_task = env.get("SLURM_ARRAY_TASK_ID", "")
    user = _user()
    job_name = env.get("SLURM_JOB_NAME") or name
    places = []
    for nodeid, (node, procids) in enumerate((reply.get("layout") or {}).items()):
        for procid in procids:
            places.append(
                TaskPlace(
                    job_id=job_id,
                    step_id=int(reply["step_id"]),
                    procid=int(procid),
                    nodeid=nodeid,
                    node=str(node),
                    user=user,
                    job_name=job_name,
                    array_job_id=int(array_job) if array_job.isdigit() else None,
                    array_task_id=int(array_task) if array_task.isdigit() else None,
                )
            )
    return sorted(places, key=lambda p: p.procid)


@contextlib.contextmanager
def _raw_terminal(enabled: bool) -> Iterator[bool]:
    """srun's terminal in raw mode for ``--pty`` (keys go to the remote terminal as typed);
    yields whether it is, and restores the terminal after.

    The switch does not flush what was typed before it (TCSANOW, not tty's TCSAFLUSH): those
    keys, already being read, are forwarded once the remote terminal exists.
    """
    if not enabled or not os.isatty(0):
        yield False
        return
    import termios
    import tty

    saved = termios.tcgetattr(0)
    tty.setraw(0, termios.TCSANOW)
    try:
        yield True
    finally:
        termios.tcsetattr(0, termios.TCSADRAIN, saved)


async def _run(cluster_dir: str, opts: SrunOptions, job_id: int, step_time_limit: bool) -> int:
    """Run the step in job ``job_id``; srun's exit code. ``step_time_limit``: ``-t`` is the
    step's own limit (inside an existing job; outside, it is the allocation's)."""
    req = opts.request
    token = secrets.token_hex(16)
    step = Step(token, raw=opts.pty)
    # Inside a job on a node, the step's other nodes reach srun where that node reaches the head
    # node from; elsewhere (the head node's machine) on the loopback address.
    io_host = os.environ.get(NODE_ADDRESS_ENV) or LOOPBACK
    server = await asyncio.start_server(step.connection, io_host, 0, limit=MAX_LINE)
    port = server.sockets[0].getsockname()[1]
    loop = asyncio.get_running_loop()
    # srun's stdin is read from now on when it goes to every task (or, with --pty, to task 0's
    # terminal): what is typed while the step starts is held, not lost.
    stdin_text = req.stdin
    early_stdin = opts.pty or io_mode(stdin_text, 1).kind == "all"
    if early_stdin:
        start_stdin(step, 0, 0 if opts.pty else None)
    env = dict(os.environ)
    env["SLURM_MPI_TYPE"] = opts.mpi
    step_cwd = req.workdir or os.getcwd()
    body = {
        "job_id": job_id,
        "argv": opts.command,
        "cwd": step_cwd,
        "env": env,
        "ntasks": req.ntasks,
        "nodes": req.min_nodes,
        "cpus_per_task": req.cpus_per_task,
        "ntasks_per_node": req.ntasks_per_node,
        "name": req.name,
        "io_host": io_host,
        "io_port": port,
        "io_token": token,
        "pty": opts.pty,
        "nodelist": req.extra.get("nodelist"),
        "exclude": req.extra.get("exclude"),
        "relative": opts.relative,
        "export": req.export,
        "mem_per_node_mb": req.mem_per_node_mb,
        "mem_per_cpu_mb": req.mem_per_cpu_mb,
    }
    try:
        status, reply = await asyncio.to_thread(_post, cluster_dir, "/slurm/v1/steps", body)
    except (OSError, ValueError) as exc:
        sys.stderr.write(f"srun: error: Unable to contact slurm controller (connect failure): {exc}\n")
        server.close()
        return 1
    if status != 200:
        sys.stderr.write(str(reply.get("message", f"srun: error: HTTP {status}")) + "\n")
        server.close()
        return 1
    ntasks = int(reply["ntasks"])
    places = _places(reply, job_id, req.name or os.path.basename(opts.command[0]))
    layout = reply.get("layout") or {}
    outputs: Outputs | None = None
    try:
        outputs = Outputs(
            io_mode(req.stdout, ntasks),
            io_mode(req.stderr, ntasks) if req.stderr is not None else None,
            places,
            step_cwd,
            append=req.open_mode == "append",
            label=opts.label,
            raw=opts.pty,
        )
        step.configure(ntasks, len(layout), outputs)
        if opts.pty:
            # The keys are task 0's (its terminal); the other tasks read end of file.
            for place in places[1:]:
                step.forward({"type": "eof", "procid": place.procid})
        elif not early_stdin:
            plan_stdin(step, io_mode(stdin_text, ntasks), places, step_cwd)
    except SlurmError as exc:
        # A file srun cannot open ends srun, and with it the step, as in Slurm.
        sys.stderr.write("".join(line + "\n" for line in exc.lines))
        server.close()
        if outputs is not None:
            outputs.close()
        return exc.exit_code
    ending = Ending(step, opts, job_id, int(reply["step_id"]), next(iter(layout), "?"))
    step.on_exit = ending.task_exited
    for procid, (code, sig, _) in list(step.exits.items()):  # tasks that ended before this point
        ending.task_exited(procid, code, sig)
    if step_time_limit and req.time_limit_s:
        ending.start_time_limit(req.time_limit_s)
    for signum, name in ((signal.SIGINT, "INT"), (signal.SIGTERM, "TERM")):
        loop.add_signal_handler(signum, step.signal, name)
    with _raw_terminal(opts.pty) as raw:
        if raw:

            def resized() -> None:
                size = _window_size()
                if size is not None:
                    step.send({"type": "winch", "rows": size[0], "cols": size[1]})

            loop.add_signal_handler(signal.SIGWINCH, resized)
            await step.ready.wait()
            resized()  # the terminal's size, once task 0's terminal exists
        await step.done.wait()
    server.close()
    outputs.close()
    return _report_exits(step, ending.reported)


def _report_exits(step: Step, reported: set[int]) -> int:
    """Print the failed tasks (grouped by node and outcome) and return srun's exit code: 128 plus
    the highest signal if a task was killed by one, else the highest exit code (Slurm's)."""
    by_outcome: dict[tuple[str, int, int], list[int]] = {}
    signals = [sig for _, sig, _ in step.exits.values() if sig]
    for procid, (code, sig, node) in sorted(step.exits.items()):
        if (code or sig) and procid not in reported:
            by_outcome.setdefault((node, code, sig), []).append(procid)
    for (node, code, sig), procids in sorted(by_outcome.items()):
        sys.stderr.write(_exit_line(node, procids, code, sig) + "\n")
    if signals:
        return 128 + max(signals)
    return max((code for code, _, _ in step.exits.values()), default=0)


def main_outside(cluster_dir: str, opts: SrunOptions) -> int:
    """srun without an allocation: get one (as salloc does), run the step in it, release it."""
    from stratus.cli.salloc import Head, KeepAlive, allocate, relinquish

    head = Head(cluster_dir)
    try:
        job_id, _, env = allocate(head, "srun", opts.alloc_argv, opts.command, quiet=opts.quiet)
    except OSError:
        sys.stderr.write("srun: error: Unable to allocate resources: Unable to contact slurm controller\n")
        return 1
    os.environ.update(env)
    keep = KeepAlive(head, job_id)
    keep.start()
    code = 1
    try:
        code = asyncio.run(_run(cluster_dir, opts, job_id, step_time_limit=False))
    finally:
        keep.stopped.set()
        with contextlib.suppress(OSError):
            relinquish(head, job_id, code)
    return code


def main(cluster_dir: str) -> None:
    try:
        opts = parse_srun(sys.argv[1:], os.environ, os.getcwd(), time.time())
    except SlurmError as exc:
        sys.stderr.write("".join(line + "\n" for line in exc.lines))
        sys.exit(exc.exit_code)
    if opts.early is not None:
        sys.stdout.write(opts.early)
        sys.exit(0)
    if not opts.quiet:
        sys.stderr.write("".join(line + "\n" for line in opts.warnings))
    job = os.environ.get("SLURM_JOB_ID", "")
    if opts.jobid is not None:
        job_id = opts.jobid
    elif job.isascii() and job.isdigit():
        job_id = int(job)
    else:
        sys.exit(main_outside(cluster_dir, opts))
    sys.exit(asyncio.run(_run(cluster_dir, opts, job_id, step_time_limit=True)))

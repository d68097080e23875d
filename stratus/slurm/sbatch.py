"""``sbatch``: from argv, ``#SBATCH`` lines and ``SBATCH_*`` variables to a :class:`BatchRequest`.

The order of evaluation is Slurm's (src/sbatch/opt.c), and so are its consequences:

1. A first pass over the command line finds syntax errors (``unrecognized option``, exit 255),
   ``--help``/``--usage``/``--version``, ``--wrap`` and the script name; script arguments
   with ``--wrap`` are refused.
2. The script is read (file, generated ``--wrap`` script, or the client's stdin) and checked:
   empty, whitespace only, no ``#!``, NUL bytes, DOS line breaks.
3. Options are applied in increasing precedence: ``#SBATCH`` lines, then ``SBATCH_*``
   environment variables, then the command line. (Environment variables override the script,
   as Slurm documents; the command line overrides both.) A bad value exits 255 with Slurm's
   message (``Invalid --time specification``); a bad number exits 1.
4. Consistency checks and defaults (job name, ``--ntasks-per-node`` implying ``--ntasks``).
5. What slurmctld checks without knowing the cluster (array and dependency syntax) is
   checked last, with its wording (``Batch job submission failed: ...``, exit 1).

Checks that need the cluster (partition names, resource fit) belong to the backend's
``submit``, using the message factories of :mod:`stratus.slurm.errors`.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from stratus import __version__
from stratus.slurm import SLURM_VERSION, errors
from stratus.slurm.arrays import DEFAULT_MAX_ARRAY_SIZE, ArraySpecError, parse_array
from stratus.slurm.depend import DependencyError, parse_dependency
from stratus.slurm.errors import SlurmError, check_clusters
from stratus.slurm.options import Arg, LongOpt, OptionError, getopt_long
from stratus.slurm.timefmt import (
    TimeSpecError,
    duration_mins,
    duration_secs,
    fmt_timestamp,
    parse_begin,
    parse_mem_mb,
)
from stratus.slurm.views import BatchRequest, ClientContext, CommandResult, SlurmBackend

PROG = "sbatch"
EXIT_USAGE = 255  # slurm_process_option_or_exit() exits -1
EXIT_ERROR = 1
NICE_LIMIT = 0x80000000 - 3

WRAP_HEADER = "#!/bin/sh\n# This script was created by sbatch --wrap.\n\n"

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
_LONG_BY_KEY: dict[str, str] = {}
for _n, _a, _k in _TABLE:
    _LONG_BY_KEY.setdefault(_k, _n)


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

_EARLY = {"h", "usage", "V", "Q", "v", "wrap"}
# Options whose effect stratus cannot provide yet; refusing them is better than silently
# submitting a job the user asked only to test, or returning before it ends.
_UNSUPPORTED: set[str] = set()
_MAIL_TYPES = {
    "NONE", "ARRAY_TASKS", "BEGIN", "END", "FAIL", "INVALID_DEPEND", "REQUEUE", "ALL",
    "STAGE_OUT", "TIME_LIMIT", "TIME_LIMIT_90", "TIME_LIMIT_80", "TIME_LIMIT_50",
}  # fmt: skip


def _err(msg: str, exit_code: int = EXIT_USAGE) -> SlurmError:
    return SlurmError(f"{PROG}: error: {msg}", exit_code)


def _usage_error(exc: OptionError) -> SlurmError:
    return SlurmError([str(exc), f'Try "{PROG} --help" for more information'], EXIT_USAGE)


def version_line() -> str:
    """``sbatch -V``: Slurm's version line, naming stratus (tools parse the second word)."""
    return f"slurm {SLURM_VERSION} (stratus {__version__})\n"


# -- values ----------------------------------------------------------------------------------


def _parse_int(name: str, val: str, positive: bool = True) -> int:
    """parse_int(): a whole decimal number; exit 1 with Slurm's message otherwise."""
    s = val.strip()
    ok = s.lstrip("+-").isdigit()
    n = int(s) if ok else 0
    if not ok or n < 0 or (positive and n <= 0):
        raise _err(f'Invalid numeric value "{val}" for {name}.', EXIT_ERROR)
    return n


def _strtol(s: str) -> tuple[int, str]:
    """C ``strtol(s, &end, 10)``: the value and what follows it (all of ``s`` if no digits)."""
    i = 0
    while i < len(s) and s[i] in " \t\n\r\f\v":
        i += 1
    j = i + 1 if s[i : i + 1] in ("+", "-") else i
    k = j
    while k < len(s) and s[k].isdigit():
        k += 1
    if k == j:
        return 0, s
    return int(s[i:k]), s[k:]


def _str_to_nodes(text: str) -> tuple[int, str]:
    """A node count with an optional k/m multiplier, and the unparsed rest."""
    n, rest = _strtol(text)
    if rest[:1] in ("k", "K"):
        n, rest = n * 1024, rest[1:]
    elif rest[:1] in ("m", "M"):
        n, rest = n * 1048576, rest[1:]
    return n, rest


def parse_nodes(text: str) -> tuple[int, int | None]:
    """``-N min[-max]`` (verify_node_count): ``(min, max)``, max ``None`` when open-ended.

    Raises SlurmError with Slurm's wording (exit 255) for a malformed count.
    """
    if "-" in text:
        lo_s, _, hi_s = text.partition("-")
        lo, rest = _str_to_nodes(lo_s)
        if rest.strip():
            raise _err(f'"{lo_s}" is not a valid node count')
        lo = max(lo, 1) if lo < 0 else lo
        hi, rest = _str_to_nodes(hi_s)
        if rest.strip():
            raise _err(f'"{hi_s}" is not a valid node count')
    else:
        lo, rest = _str_to_nodes(text)
        if rest.strip() or lo < 0:
            raise _err(f'"{text}" is not a valid node count')
        hi = lo
    if hi != 0 and hi < lo:
        raise _err(f"Maximum node count {hi} is less than minimum node count {lo}")
    return lo, (hi if hi > 0 else None)


@dataclass(frozen=True, slots=True)
class GpuRequest:
    """A parsed GPU request: ``count`` GPUs, optionally of one ``type``."""

    count: int
    type: str | None = None


def parse_gpu_count(text: str) -> GpuRequest:
    """``--gpus``/``--gpus-per-node`` value: ``N``, ``type:N``, ``gpu:N``, ``gpu:type:N``."""
    parts = text.split(":")
    if parts and parts[0] == "gpu":
        parts = parts[1:]
    if len(parts) == 1 and parts[0].isdigit():
        return GpuRequest(int(parts[0]))
    if len(parts) == 2 and parts[1].isdigit() and parts[0]:
        return GpuRequest(int(parts[1]), parts[0])
    raise ValueError(text)


def parse_gres(text: str) -> tuple[GpuRequest | None, list[str]]:
    """``--gres=gpu[:type][:N][,other...]``: the GPU part and the other GRES entries as given."""
    gpu: GpuRequest | None = None
    others: list[str] = []
    if text.lower() == "none":
        return None, []
    for item in text.split(","):
        item = item.removeprefix("gres:")
        if not item:
            raise ValueError(text)
        fields = item.split(":")
        if fields[0] != "gpu":
            others.append(item)
            continue
        if len(fields) == 1:
            gpu = GpuRequest(1)
        elif len(fields) == 2:
            gpu = GpuRequest(int(fields[1])) if fields[1].isdigit() else GpuRequest(1, fields[1])
        elif len(fields) == 3 and fields[2].isdigit() and fields[1]:
            gpu = GpuRequest(int(fields[2]), fields[1])
        else:
            raise ValueError(text)
    return gpu, others


# -- the option state ------------------------------------------------------------------------


@dataclass(slots=True)
class _Opts:
    cwd: str
    now: float
    name: str | None = None
    partitions: list[str] = field(default_factory=list)
    min_nodes: int | None = None
    max_nodes: int | None = None
    ntasks: int | None = None
    cpus_per_task: int | None = None
    ntasks_per_node: int | None = None
    mem_per_node_mb: int | None = None
    mem_per_cpu_mb: int | None = None
    gpus_per_node: int | None = None
    gpus: int | None = None
    gpu_type: str | None = None
    time_limit_min: int | None = None
    time_unlimited: bool = False
    time_limit_s: int | None = None
    array_text: str | None = None
    workdir: str | None = None
    stdout: str | None = None
    stderr: str | None = None
    stdin: str | None = None
    parsable: bool = False
    hold: bool = False
    nice: int = 0
    account: str | None = None
    comment: str | None = None
    exclusive: bool = False
    requeue: bool | None = None
    open_mode: str | None = None
    constraint: str | None = None
    export: str | None = None
    begin_time: float | None = None
    dependency: str | None = None
    mail_type: str | None = None
    mail_user: str | None = None
    quiet: bool = False
    extra: dict[str, str] = field(default_factory=dict)

    def apply(self, key: str, val: str | None) -> None:
        """Set one option; raise SlurmError with sbatch's message for a bad value."""
        v = val if val is not None else ""
        if key in _EARLY:
            # Handled in the first pass over the command line only: sbatch keeps that pass's
            # --quiet, so a "#SBATCH -Q" line does not silence the job id.
            return
        if key in _UNSUPPORTED:
            raise _err(f"--{_LONG_BY_KEY[key]} is not supported by stratus yet", EXIT_ERROR)
        if key == "J":
            self.name = v
        elif key == "p":
            self.partitions = [p for p in v.split(",") if p]
        elif key == "N":
            self.min_nodes, self.max_nodes = parse_nodes(v)
        elif key == "n":
            self.ntasks = _parse_int("--ntasks", v)
        elif key == "c":
            self.cpus_per_task = _parse_int("--cpus-per-task", v)
        elif key == "ntasks-per-node":
            self.ntasks_per_node = _parse_int("--ntasks-per-node", v)
        elif key == "mem":
            try:
                self.mem_per_node_mb = parse_mem_mb(v)
            except ValueError:
                raise _err("Invalid --mem specification") from None
            self.mem_per_cpu_mb = None
        elif key == "mem-per-cpu":
            try:
                self.mem_per_cpu_mb = parse_mem_mb(v)
            except ValueError:
                raise _err("Invalid --mem-per-cpu specification") from None
        elif key == "t":
            try:
                mins = duration_mins(v)
                secs = duration_secs(v)
            except TimeSpecError:
                raise _err("Invalid --time specification") from None
            # Slurm: 0 means no limit; a negative value wraps to an enormous unsigned limit.
            self.time_unlimited = mins is None or mins <= 0
            self.time_limit_min = None if self.time_unlimited else mins
            self.time_limit_s = None if self.time_unlimited else secs
        elif key == "a":
            self.array_text = v
        elif key == "D":
            self.workdir = v if v.startswith("/") else f"{self.cwd}/{v}"
        elif key == "o":
            self.stdout = v
        elif key == "e":
            self.stderr = v
        elif key == "i":
            self.stdin = v
        elif key == "parsable":
            self.parsable = True
        elif key == "H":
            self.hold = True
        elif key == "nice":
            n = _strtol(v)[0] if val is not None else 100
            if abs(n) > NICE_LIMIT:
                raise _err(f"Invalid --nice value, out of range (+/- {NICE_LIMIT})")
            self.nice = n
        elif key == "exclusive":
            if val is None or v.lower() == "exclusive":
                self.exclusive = True
            elif v.lower() in ("user", "mcs", "oversubscribe"):
                self.exclusive = False
                self.extra["exclusive"] = v.lower()
            else:
                raise _err("Invalid --exclusive specification")
        elif key == "gres":
            try:
                gpu, others = parse_gres(v)
            except ValueError:
                raise errors.invalid_gres() from None
            if gpu is not None:
                self.gpus_per_node, self.gpu_type = gpu.count, gpu.type
            if others:
                self.extra["gres"] = ",".join(others)
        elif key in ("G", "gpus-per-node"):
            try:
                req = parse_gpu_count(v)
            except ValueError:
                raise errors.submit_failed(errors.INVALID_TRES) from None
            if key == "G":
                self.gpus = req.count
            else:
                self.gpus_per_node = req.count
            self.gpu_type = req.type or self.gpu_type
        elif key == "requeue":
            self.requeue = True
        elif key == "no-requeue":
            self.requeue = False
        elif key == "open-mode":
            if v[:1] in ("a", "A"):
                self.open_mode = "append"
            elif v[:1] in ("t", "T"):
                self.open_mode = "truncate"
            else:
                raise _err("Invalid --open-mode specification")
        elif key == "A":
            self.account = v
        elif key == "comment":
            self.comment = v
        elif key == "mail-type":
            # Unknown words are ignored, as in Slurm; the option accumulates over repeats.
            known = [t.upper() for t in v.split(",") if t.upper() in _MAIL_TYPES]
            if not known:
                raise _err("Invalid --mail-type specification")
            if "NONE" in known:
                # Slurm ORs the parsed bits into what earlier options set; NONE adds nothing.
                self.mail_type = self.mail_type or "NONE"
            else:
                prev = [t for t in (self.mail_type or "").split(",") if t and t != "NONE"]
                self.mail_type = ",".join(dict.fromkeys([*prev, *known]))
        elif key == "mail-user":
            self.mail_user = v
        elif key == "export":
            self.export = v
        elif key == "b":
            try:
                self.begin_time = parse_begin(v, self.now)
            except TimeSpecError:
                raise _err("Invalid --begin specification") from None
        elif key == "d":
            self.dependency = v
        elif key == "C":
            self.constraint = v
        else:
            self.extra[_LONG_BY_KEY.get(key, key)] = v


# -- the script ------------------------------------------------------------------------------


def wrap_script(command: str) -> str:
    """The script sbatch generates for ``--wrap=<command>``."""
    return f"{WRAP_HEADER}{command}\n"


def check_script(body: bytes) -> str:
    """Slurm's sanity checks of a batch script; returns it decoded (UTF-8, bytes kept as escapes)."""
    if not body:
        raise _err("Batch script is empty!", EXIT_ERROR)
    text = body.decode("utf-8", errors="surrogateescape")
    if not text.strip():
        raise _err("Batch script contains only whitespace!", EXIT_ERROR)
    if not text.startswith("#!"):
        raise SlurmError(
            [
                f"{PROG}: error: This does not look like a batch script.  The first",
                f"{PROG}: error: line must start with #! followed by the path to an interpreter.",
                f"{PROG}: error: For instance: #!/bin/sh",
            ],
            EXIT_ERROR,
        )
    if "\0" in text:
        raise SlurmError(
            [
                f"{PROG}: error: The Slurm controller does not allow scripts that",
                f"{PROG}: error: contain a NULL character '\\0'.",
            ],
            EXIT_ERROR,
        )
    if "\r\n" in text:
        raise SlurmError(
            [
                f"{PROG}: error: Batch script contains DOS line breaks (\\r\\n)",
                f"{PROG}: error: instead of expected UNIX line breaks (\\n).",
            ],
            EXIT_ERROR,
        )
    return text


def _fatal(msg: str) -> SlurmError:
    return SlurmError(f"{PROG}: fatal: {msg}", EXIT_ERROR)


def _get_argument(fname: str, lineno: int, line: str, start: int) -> tuple[str | None, int]:
    """One argument of a directive line (get_argument): quotes group, ``\\`` escapes, ``#`` ends."""
    i = start
    while i < len(line) and line[i].isspace():
        i += 1
    if line[i : i + 1] == ":":
        raise _fatal(f"{fname}: line {lineno}: Unexpected `:` in [{line}]")
    if i >= len(line):
        return None, i
    out: list[str] = []
    quote = ""
    escape = False
    while i < len(line) and (quote or not line[i].isspace()) and line[i] != "\n":
        ch = line[i]
        if escape:
            escape = False
        elif ch == "\\":
            escape = True
            i += 1
            continue
        elif quote:
            if ch == quote:
                quote = ""
                i += 1
                continue
        elif ch in "\"'":
            quote = ch
            i += 1
            continue
        elif ch == "#":
            break
        out.append(ch)
        i += 1
    if quote:
        raise _fatal(f"{fname}: line {lineno}: Unmatched `{quote}` in [{line}]")
    return ("".join(out) if out else None), i


def directive_args(script: str, fname: str) -> tuple[list[str], list[str]]:
    """The arguments of the script's ``#SBATCH`` (and ``#SLURM``) lines, and warnings.

    Only lines before the first command count; a line is a command if it has anything other
    than blanks before a ``#``. The magic word must start the line; text after an unquoted
    ``#`` is a comment.
    """
    args: list[str] = []
    warnings: list[str] = []
    for lineno, line in enumerate(script.split("\n"), start=1):
        if line.startswith("#SBATCH"):
            pos = 7
        elif line.startswith("#SLURM"):
            pos = 6
            if not warnings:
                warnings.append(
                    f"{PROG}: error: Change from #SLURM to #SBATCH in your script and "
                    "verify the options are valid in sbatch"
                )
        else:
            stripped = line.lstrip()
            if stripped and not stripped.startswith("#"):
                break
            continue
        while True:
            arg, pos = _get_argument(fname, lineno, line, pos)
            if arg is None:
                break  # end of line, a comment, or an empty quoted word (Slurm stops there too)
            args.append(arg)
    return args, warnings


MAX_SCRIPT_SIZE = 4 * 1024 * 1024  # Slurm's default max_script_size


def _script_bytes(given: str, path: str, ctx: ClientContext) -> bytes | None:
    """The script's bytes, or None to have the client send them.

    The head node reads a regular file itself (fast, and what users mostly submit). Anything
    else (a pipe from ``sbatch <(...)``, a FIFO, ``/dev/stdin``) exists only in the client's
    world, so the client reads it; so nothing the user names can block or flood the head node.
    """
    if given in ctx.files:
        data = ctx.files[given]
        if data is None:
            raise _err(f"Unable to open file {given}", EXIT_ERROR)
    else:
        if path.startswith(("/dev/", "/proc/")):
            return None
        try:
            st = os.stat(path)
        except OSError:
            raise _err(f"Unable to open file {given}", EXIT_ERROR) from None
        if stat.S_ISDIR(st.st_mode):
            raise _err(f"Unable to open file {given}", EXIT_ERROR)
        if not stat.S_ISREG(st.st_mode):
            return None
        if st.st_size > MAX_SCRIPT_SIZE:
            raise _too_large()
        try:
            data = Path(path).read_bytes()
        except OSError:
            raise _err(f"Unable to open file {given}", EXIT_ERROR) from None
    if len(data) > MAX_SCRIPT_SIZE:
        raise _too_large()
    return data


def _too_large() -> SlurmError:
    return errors.submit_failed("Batch script is larger than 4 MB (max_script_size)")


def _resolve_script(name: str, cwd: str, env: Mapping[str, str]) -> str:
    """Where sbatch finds the script (search_path): the working directory, then ``PATH``.

    Names starting with ``.`` or ``/`` are taken as written (relative to ``cwd``); the result
    is absolute, joined the way Slurm joins it (no normalisation).
    """
    if name.startswith("/"):
        return name
    if not name.startswith("."):
        for d in [cwd] + [d for d in env.get("PATH", "").split(":") if d]:
            cand = f"{cwd}/{d}/{name}" if d.startswith(".") else f"{d}/{name}"
            if os.path.exists(cand):
                return cand
    return f"{cwd}/{name}"


# -- the command -----------------------------------------------------------------------------


@dataclass(slots=True)
class ParsedSbatch:
    """The outcome of parsing: a request to submit, or output to give right away."""

    request: BatchRequest | None = None
    result: CommandResult | None = None  # --help/--version, or "send me your stdin"
    quiet: bool = False
    warnings: list[str] = field(default_factory=list)
    clusters_from_env: bool = False  # -M came from SBATCH_CLUSTERS/SLURM_CLUSTERS


def _early_result(opts: Sequence[tuple[str, str | None]]) -> CommandResult | None:
    for key, _val in opts:
        if key == "h":
            return CommandResult(stdout=HELP)
        if key == "usage":
            return CommandResult(stdout=USAGE)
        if key == "V":
            return CommandResult(stdout=version_line())
    return None


def parse_sbatch(
    argv: Sequence[str],
    ctx: ClientContext,
    now: float,
    max_array_size: int = DEFAULT_MAX_ARRAY_SIZE,
) -> ParsedSbatch:
    """Turn an sbatch command line (without the program name) into a :class:`BatchRequest`.

    Raises :class:`SlurmError` for anything sbatch itself would refuse. Returns
    ``ParsedSbatch(result=CommandResult(need_stdin=True))`` when the script must come from the
    client's stdin and ``ctx.stdin`` is not set yet.
    """
    try:
        first, rest = getopt_long(PROG, argv, SHORTOPTS, LONGOPTS)
    except OptionError as exc:
        # sbatch acts on early options as getopt returns them: --help before a typo wins.
        early = _early_result(exc.parsed)
        if early is not None:
            return ParsedSbatch(result=early)
        raise _usage_error(exc) from None
    early = _early_result(first)
    if early is not None:
        return ParsedSbatch(result=early)
    wrap: str | None = None
    quiet = False
    for key, val in first:
        if key == "wrap":
            wrap = val or ""
        if key == "Q":
            quiet = True
    if rest and wrap is not None:
        raise _err("Script arguments not permitted with --wrap option", EXIT_ERROR)

    script_path: str | None = None
    script_args: list[str] = []
    if wrap is not None:
        script = wrap_script(wrap)
        fname = "stdin"
    elif rest:
        script_path = _resolve_script(rest[0], ctx.cwd, ctx.env)
        script_args = list(rest[1:])
        body = _script_bytes(rest[0], script_path, ctx)
        if body is None:
            return ParsedSbatch(result=CommandResult(need_file=rest[0]))
        script = check_script(body)
        fname = os.path.basename(script_path)
    else:
        if ctx.stdin is None:
            return ParsedSbatch(result=CommandResult(need_stdin=True))
        script = check_script(ctx.stdin)
        fname = "stdin"

    opts = _Opts(cwd=ctx.cwd, now=now, quiet=quiet)
    # 1. #SBATCH directives.
    dargs, warnings = directive_args(script, fname)
    try:
        dopts, drest = getopt_long(PROG, dargs, SHORTOPTS, LONGOPTS)
    except OptionError as exc:
        raise _usage_error(exc) from None
    if drest:
        raise _err(f"Invalid directive found in batch script: {drest[0]}")
    for key, val in dopts:
        opts.apply(key, val)
    # 2. SBATCH_* environment variables.
    for var, key in ENV_OPTIONS:
        if var in ctx.env:
            opts.apply(key, ctx.env[var])
    # 3. The command line.
    for key, val in first:
        opts.apply(key, val)

    request = _verify(opts, ctx, script, script_path, script_args, wrap is not None, warnings)
    _check_controller_syntax(request, opts, max_array_size)
    from_env = any(var in ctx.env for var in ("SBATCH_CLUSTERS", "SLURM_CLUSTERS")) and not any(
        key == "M" for key, _ in first
    )
    return ParsedSbatch(request=request, quiet=opts.quiet, warnings=warnings, clusters_from_env=from_env)


def _verify(
    opts: _Opts,
    ctx: ClientContext,
    script: str,
    script_path: str | None,
    script_args: list[str],
    is_wrap: bool,
    warnings: list[str],
) -> BatchRequest:
    """sbatch's _opt_verify(): defaults and consistency rules."""
    ntasks = opts.ntasks
    min_nodes, max_nodes = opts.min_nodes, opts.max_nodes
    if opts.ntasks_per_node is not None and ntasks is None and (max_nodes is None or min_nodes == max_nodes):
        ntasks = (min_nodes or 1) * opts.ntasks_per_node
    elif min_nodes is not None and ntasks is not None and opts.ntasks is not None:
        if max_nodes is not None and ntasks < max_nodes:
            max_nodes = ntasks
        if ntasks < min_nodes:
            warnings.append(
                f"{PROG}: Warning: can't run {ntasks} processes on {min_nodes} nodes, "
                f"setting nnodes to {ntasks}"
            )
            min_nodes = max_nodes = ntasks
    if is_wrap:
        default_name = "wrap"
    elif script_path is not None:
        default_name = os.path.basename(script_path)
    else:
        default_name = "sbatch"
    return BatchRequest(
        script=script,
        script_args=script_args,
        script_path=script_path,
        name=opts.name if opts.name is not None else default_name,
        partitions=opts.partitions,
        min_nodes=min_nodes,
        max_nodes=max_nodes,
        ntasks=ntasks,
        cpus_per_task=opts.cpus_per_task,
        ntasks_per_node=opts.ntasks_per_node,
        mem_per_node_mb=opts.mem_per_node_mb,
        mem_per_cpu_mb=opts.mem_per_cpu_mb,
        gpus_per_node=opts.gpus_per_node,
        gpus=opts.gpus,
        gpu_type=opts.gpu_type,
        time_limit_min=opts.time_limit_min,
        time_unlimited=opts.time_unlimited,
        time_limit_s=opts.time_limit_s,
        array=None,
        workdir=opts.workdir or ctx.cwd,
        stdout=opts.stdout,
        stderr=opts.stderr,
        stdin=opts.stdin,
        parsable=opts.parsable,
        hold=opts.hold,
        nice=opts.nice,
        account=opts.account,
        comment=opts.comment,
        exclusive=opts.exclusive,
        requeue=opts.requeue,
        open_mode=opts.open_mode,
        constraint=opts.constraint,
        export=opts.export,
        begin_time=opts.begin_time,
        dependency=opts.dependency,
        mail_type=opts.mail_type,
        mail_user=opts.mail_user,
        extra=dict(opts.extra),
    )


def _check_controller_syntax(request: BatchRequest, opts: _Opts, max_array_size: int) -> None:
    """What slurmctld rejects before looking at the cluster: array and dependency syntax."""
    if opts.array_text is not None:
        try:
            request.array = parse_array(opts.array_text, max_array_size)
        except ArraySpecError:
            raise errors.invalid_array() from None
    if opts.dependency:
        try:
            parse_dependency(opts.dependency)
        except DependencyError:
            raise errors.dependency_problem() from None


def run_sbatch(argv: Sequence[str], ctx: ClientContext, backend: SlurmBackend) -> CommandResult:
    """Parse, submit through ``backend``, and print what sbatch prints."""
    parsed = parse_sbatch(argv, ctx, backend.now(), backend.max_array_size)
    if parsed.result is not None:
        return parsed.result
    request = parsed.request
    assert request is not None
    clusters = request.extra.get("clusters")
    if clusters is not None:
        check_clusters(PROG, clusters, backend.cluster_name, parsed.clusters_from_env)
    if "test-only" in request.extra:
        # Nothing is submitted: say when and where it would start (sbatch's info line).
        job_id, start, nodes, cpus, partition = backend.estimate(request, ctx)
        return CommandResult(
            stderr=f"{PROG}: Job {job_id} to start at {fmt_timestamp(start)} using {cpus} processors "
            f"on nodes {nodes} in partition {partition}\n"
        )
    job_id = backend.submit(request, ctx)
    wait_job = job_id if "wait" in request.extra else None
    stderr = "".join(w + "\n" for w in parsed.warnings)
    if parsed.quiet:
        return CommandResult(stderr=stderr, wait_job=wait_job)
    # With -M, sbatch names the cluster it submitted to.
    if request.parsable:
        suffix = f";{backend.cluster_name}" if clusters is not None else ""
        return CommandResult(stdout=f"{job_id}{suffix}\n", stderr=stderr, wait_job=wait_job)
    suffix = f" on cluster {backend.cluster_name}" if clusters is not None else ""
    return CommandResult(stdout=f"Submitted batch job {job_id}{suffix}\n", stderr=stderr, wait_job=wait_job)


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
recorded; --test-only and --wait are not supported yet.
"""

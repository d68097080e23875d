"""``scancel``: job ids and filters to a :class:`CancelRequest`, results to Slurm's output.

Job ids follow scancel's parser (src/scancel/opt.c): ``18``, ``18_5``, ``18_*``,
``18_[10-64]``, and comma lists (``41,44``). A malformed id fails the whole command with
``scancel: error: Invalid job id <arg>`` (exit 1) before anything is cancelled.

Two deliberate behaviours, both from the reference captures and the project's issues: an
unknown job id is an error (``Kill job error on job id 999999: Invalid job id specified``,
exit 1) where Slurm itself stays silent, and ``-Q`` keeps scancel quiet and exiting 0
whatever happens, which clients such as PSI/J rely on.
"""

from __future__ import annotations

import signal as _signal
from collections.abc import Sequence
from dataclasses import dataclass

from stratus import __version__
from stratus.engine.indexset import IndexSet
from stratus.slurm import SLURM_VERSION, hostlist, jobstate
from stratus.slurm.arrays import parse_task_list
from stratus.slurm.cparse import isdigits, strtol_rest
from stratus.slurm.errors import SlurmError
from stratus.slurm.options import Arg, LongOpt, OptionError, getopt_long
from stratus.slurm.views import CancelRequest, ClientContext, CommandResult, JobTarget, SlurmBackend

PROG = "scancel"

LONGOPTS: tuple[LongOpt, ...] = tuple(
    LongOpt(n, a, k)
    for n, a, k in (
        ("account", Arg.REQUIRED, "A"),
        ("batch", Arg.NONE, "b"),
        ("ctld", Arg.NONE, "ctld"),
        ("full", Arg.NONE, "f"),
        ("help", Arg.NONE, "help"),
        ("hurry", Arg.NONE, "H"),
        ("interactive", Arg.NONE, "i"),
        ("cluster", Arg.REQUIRED, "M"),
        ("clusters", Arg.REQUIRED, "M"),
        ("jobname", Arg.REQUIRED, "n"),
        ("me", Arg.NONE, "me"),
        ("name", Arg.REQUIRED, "n"),
        ("nodelist", Arg.REQUIRED, "w"),
        ("partition", Arg.REQUIRED, "p"),
        ("qos", Arg.REQUIRED, "q"),
        ("quiet", Arg.NONE, "Q"),
        ("reservation", Arg.REQUIRED, "R"),
        ("sibling", Arg.REQUIRED, "sibling"),
        ("signal", Arg.REQUIRED, "s"),
        ("state", Arg.REQUIRED, "t"),
        ("usage", Arg.NONE, "usage"),
        ("user", Arg.REQUIRED, "u"),
        ("verbose", Arg.NONE, "v"),
        ("version", Arg.NONE, "V"),
        ("wckey", Arg.REQUIRED, "wckey"),
    )
)
SHORTOPTS = "A:bfHiM:n:p:Qq:R:s:t:u:vVw:"

# The names scancel accepts for -s (sig_name2num), with or without "SIG".
SIGNAL_NAMES = (
    "HUP", "INT", "QUIT", "ABRT", "KILL", "ALRM", "TERM", "USR1", "USR2", "URG", "CONT",
    "STOP", "TSTP", "TTIN", "TTOU", "XCPU",
)  # fmt: skip


def _err(msg: str) -> SlurmError:
    return SlurmError(f"{PROG}: error: {msg}", 1)


def signal_number(text: str) -> int:
    """sig_name2num: ``9``, ``KILL``, ``SIGUSR1`` (any case) to a number; 0 if unknown."""
    s = text.strip()
    digits = s.lstrip("+-")
    if isdigits(digits):
        return int(s)
    name = s.upper()
    name = name.removeprefix("SIG")
    if name in SIGNAL_NAMES:
        return int(_signal.Signals["SIG" + name])
    return 0


@dataclass(frozen=True, slots=True)
class ParsedId:
    """One job id argument: the target and the text scancel prints for it."""

    target: JobTarget
    text: str


def parse_job_ids(args: Sequence[str]) -> list[ParsedId]:
    """scancel's job id arguments; raises ``Invalid job id <arg>`` for a malformed one."""
    out: list[ParsedId] = []
    queue = list(args)
    while queue:
        arg = queue.pop(0)
        job_id, rest = strtol_rest(arg)
        if job_id is None or job_id <= 0:
            raise _err(f"Invalid job id {arg}")
        tasks = None
        text = arg
        if rest.startswith("_["):
            end = rest.find("]", 2)
            if end < 0 or end != len(rest) - 1:
                raise _err(f"Invalid job id {arg}")
            try:
                tasks = parse_task_list(rest[2:end])
            except ValueError:
                raise _err(f"Invalid job id {arg}") from None
            out.append(ParsedId(JobTarget(job_id, tasks), arg))
            continue
        if rest.startswith("_*"):
            rest = rest[2:]
        elif rest.startswith("_"):
            task, rest = strtol_rest(rest[1:])
            if task is None or task < 0:
                raise _err(f"Invalid job id {arg}")
            tasks = IndexSet.from_ids([task])
        elif rest.startswith("+"):
            comp, rest = strtol_rest(rest[1:])
            if comp is None or comp < 0:
                raise _err(f"Invalid job id {arg}")
        if rest.startswith("."):
            raise _err(f"job steps are not supported by stratus yet: {arg}")
        if rest.startswith(","):
            text = arg[: len(arg) - len(rest)]
            queue.insert(0, rest[1:])
        elif rest:
            raise _err(f"Invalid job id {arg}")
        out.append(ParsedId(JobTarget(job_id, tasks), text))
    return out


def parse_scancel(argv: Sequence[str], ctx: ClientContext) -> tuple[CancelRequest, list[str]] | CommandResult:
    """Parse argv (without the program name) and ``SCANCEL_*`` variables.

    Returns the request and the id texts to echo with ``-v``, or output for --help/--version.
    """
    req = CancelRequest()
    env = ctx.env
    if "SCANCEL_ACCOUNT" in env:
        req.account = env["SCANCEL_ACCOUNT"].lower()
    if "SCANCEL_NAME" in env:
        req.name = env["SCANCEL_NAME"]
    if "SCANCEL_PARTITION" in env:
        req.partitions = [env["SCANCEL_PARTITION"]]
    if "SCANCEL_QOS" in env:
        req.qos = env["SCANCEL_QOS"].lower()
    if "SCANCEL_STATE" in env:
        req.states = [_state(env["SCANCEL_STATE"], True)]
    if "SCANCEL_USER" in env:
        req.user = env["SCANCEL_USER"]
    if env.get("SCANCEL_VERBOSE", "").lower() in ("true", "t"):
        req.verbose = True
    try:
        opts, rest = getopt_long(PROG, argv, SHORTOPTS, LONGOPTS)
    except OptionError as exc:
        raise SlurmError([str(exc), f'Try "{PROG} --help" for more information'], 1) from None
    for key, val in opts:
        v = val or ""
        if key == "A":
            req.account = v.lower()
        elif key == "n":
            req.name = v
        elif key == "p":
            req.partitions = [v]
        elif key == "q":
            req.qos = v.lower()
        elif key == "Q":
            req.quiet = True
            req.verbose = False
        elif key == "R":
            req.reservation = v
        elif key == "s":
            num = signal_number(v)
            if not num:
                raise SlurmError(f"Unknown job signal: {v}", 1)
            req.signal = str(num)
        elif key == "t":
            req.states = [_state(v, False)]
        elif key == "u":
            req.user = v
        elif key == "me":
            req.user = ctx.user
        elif key == "v":
            req.verbose = not req.quiet
        elif key == "V":
            return CommandResult(stdout=f"slurm {SLURM_VERSION} (stratus {__version__})\n")
        elif key == "w":
            try:
                req.nodes = hostlist.expand(v)
            except hostlist.HostlistError:
                raise _err(f"Invalid node list: {v}") from None
        elif key == "i":
            raise _err("--interactive is not supported by stratus")
        elif key == "help":
            return CommandResult(stdout=HELP)
        elif key == "usage":
            return CommandResult(stdout=USAGE)
        # -b/--batch, -f/--full, -H/--hurry, --ctld, -M, --sibling, --wckey: nothing to change.
    ids = parse_job_ids(rest)
    req.targets = [p.target for p in ids]
    filters = (req.account, req.name, req.qos, req.reservation, req.user)
    if not ids and not req.partitions and not req.states and not req.nodes and not any(filters):
        raise _err("No job identification provided")
    return req, [p.text for p in ids]


def _state(text: str, from_env: bool) -> str:
    name = jobstate.parse_state_name(text)
    if name is None:
        first = (
            f"Unrecognized SCANCEL_STATE value: {text}"
            if from_env
            else f"Invalid job state specified: {text}"
        )
        raise SlurmError([first, "Valid job states are PENDING, RUNNING, and SUSPENDED"], 1)
    return name


def run_scancel(argv: Sequence[str], ctx: ClientContext, backend: SlurmBackend) -> CommandResult:
    """Parse, cancel through ``backend``, and print what scancel prints."""
    parsed = parse_scancel(argv, ctx)
    if isinstance(parsed, CommandResult):
        return parsed
    req, texts = parsed
    result = backend.cancel(req, ctx)
    if req.quiet:
        return CommandResult()
    lines: list[str] = []
    if req.verbose:
        for text in texts:
            if req.signal is None:
                lines.append(f"{PROG}: Terminating job {text}")
            else:
                lines.append(f"{PROG}: Signal {req.signal} to job {text}")
        lines.extend(result.messages)
    lines.extend(result.errors)
    stderr = "".join(line + "\n" for line in lines)
    return CommandResult(stderr=stderr, exit_code=result.exit_code)


USAGE = """\
Usage: scancel [-A account] [--batch] [--full] [--interactive] [-n job_name]
               [-p partition] [-Q] [-q qos] [-R reservation] [-s signal | integer]
               [-t PENDING | RUNNING | SUSPENDED] [--usage] [-u user_name]
               [--hurry] [-V] [-v] [-w hosts...] [--wckey=wckey]
               [job_id[_array_id][.step_id]]
"""

HELP = """\
Usage: scancel [OPTIONS] [job_id[_array_id][.step_id]]
  -A, --account=account           act only on jobs charging this account
  -b, --batch                     signal batch shell for specified job
  -f, --full                      signal batch shell and all steps for specified job
  -H, --hurry                     avoid burst buffer stage out
  -n, --name=job_name             act only on jobs with this name
  -p, --partition=partition       act only on jobs in this partition
  -Q, --quiet                     disable warnings
  -q, --qos=qos                   act only on jobs with this quality of service
  -R, --reservation=reservation   act only on jobs with this reservation
      --me                        act only on jobs of the current user
  -s, --signal=name | integer     signal to send to job, default is SIGKILL
  -t, --state=states              act only on jobs in this state.  Valid job
                                  states are PENDING, RUNNING and SUSPENDED
  -u, --user=user_name            act only on jobs of this user
  -V, --version                   output version information and exit
  -v, --verbose                   verbosity level
  -w, --nodelist                  act only on jobs on these nodes

Help options:
  --help                          show this help message
  --usage                         display brief usage message
"""

"""``sprio``: the factors that make up each pending job's priority, as Slurm 22.05 prints them.

Only ``priority/multifactor`` has factors; with ``priority/basic`` sprio refuses, with Slurm's
message and exit code 1. Rows are pending jobs that could be scheduled (not held, past their
begin time), one per partition the job was submitted to, sorted by job id unless ``-S`` says
otherwise. The default columns depend on which weights are set, as in Slurm: a factor whose
weight is 0 is left out. PRIORITY is the sum of the weighted factors less the nice value,
truncated and at least 1, so it is what ``squeue -o %Q`` shows as of the last calculation
(every PriorityCalcPeriod).

Formats (``-o``, ``SPRIO_FORMAT``) take Slurm's letters: ``%i %r %u %Y %y %S %A %a %B %b %F %f
%J %j %P %p %Q %q %N %T %t %c``; a ``.`` right-justifies, a width pads and cuts.
"""

from __future__ import annotations

import contextlib
import pwd
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from stratus import __version__
from stratus.slurm import SLURM_VERSION
from stratus.slurm.columns import ColumnSpec, parse_percent_format, print_str
from stratus.slurm.cparse import isdigits
from stratus.slurm.errors import SlurmError
from stratus.slurm.options import Arg, LongOpt, OptionError, getopt_long
from stratus.slurm.views import ClientContext, CommandResult, PriorityRow, PriorityWeights, SlurmBackend

PROG = "sprio"
MAX_PRIORITY = 4_294_967_295

LONGOPTS: tuple[LongOpt, ...] = tuple(
    LongOpt(n, a, k)
    for n, a, k in (
        ("noheader", Arg.NONE, "h"),
        ("jobs", Arg.OPTIONAL, "j"),
        ("long", Arg.NONE, "l"),
        ("cluster", Arg.REQUIRED, "M"),
        ("clusters", Arg.REQUIRED, "M"),
        ("norm", Arg.NONE, "n"),
        ("format", Arg.REQUIRED, "o"),
        ("sort", Arg.REQUIRED, "S"),
        ("partition", Arg.REQUIRED, "p"),
        ("user", Arg.REQUIRED, "u"),
        ("users", Arg.REQUIRED, "u"),
        ("verbose", Arg.NONE, "v"),
        ("version", Arg.NONE, "V"),
        ("weights", Arg.NONE, "w"),
        ("federation", Arg.NONE, "federation"),
        ("help", Arg.NONE, "help"),
        ("local", Arg.NONE, "local"),
        ("sibling", Arg.NONE, "sibling"),
        ("usage", Arg.NONE, "usage"),
    )
)
SHORTOPTS = "hj::lM:no:S:p:u:vVw"

USAGE = (
    "Usage: sprio [-j jid[s]] [-u user_name[s]] [-o format] [-p partitions]\n"
    "     [--federation] [--local] [--sibling] [--usage] [-hlnvVw]\n"
)
HELP = """\
Usage: sprio [OPTIONS]
  -h, --noheader                  no headers on output
  -j, --jobs                      comma separated list of jobs
                                  to view, default is all
  -l, --long                      long report
  -M, --cluster=cluster_name      cluster to issue commands to.  Default is
                                  current cluster.  cluster with no name will
                                  reset to default.
  -n, --norm                      display normalized values
  -o, --format=format             format specification
  -p, --partition=partition_name  comma separated list of partitions
  -S, --sort=sort_list            comma separated list of fields to sort on
  -u, --user=user_name            comma separated list of users to view
  -v, --verbose                   verbosity level
  -V, --version                   output version information and exit
  -w, --weights                   show the weights for each priority factor

Help options:
  --help                          show this help message
  --usage                         display a brief summary of sprio options
"""

NOT_SUPPORTED = (
    "You are not running a supported priority plugin\n({}).\nOnly 'priority/multifactor' is supported.\n"
)
NO_MATCH = "Unable to find jobs matching user/id(s) specified\n"

_HEADERS = {
    "i": "JOBID", "r": "PARTITION", "u": "USER", "Y": "PRIORITY", "y": "PRIORITY", "S": "SITE",
    "A": "AGE", "a": "AGE", "B": "ASSOC", "b": "ASSOC", "F": "FAIRSHARE", "f": "FAIRSHARE",
    "J": "JOBSIZE", "j": "JOBSIZE", "P": "PARTITION", "p": "PARTITION", "Q": "QOS", "q": "QOS",
    "N": "NICE", "T": "TRES", "t": "TRES", "c": "CLUSTER",
}  # fmt: skip


@dataclass
class _Args:
    no_header: bool = False
    jobs: list[int] | None = None
    long: bool = False
    norm: bool = False
    fmt: str | None = None
    sort: str | None = None
    partitions: list[str] | None = None
    users: list[str] | None = None
    weights: bool = False


def _err(message: str) -> SlurmError:
    return SlurmError(f"{PROG}: error: {message}", 1)


def _parse(argv: Sequence[str], ctx: ClientContext) -> _Args | CommandResult:
    try:
        opts, rest = getopt_long(PROG, argv, SHORTOPTS, LONGOPTS)
    except OptionError as exc:
        return CommandResult(stderr=f'{exc}\nTry "sprio --help" for more information\n', exit_code=1)
    a = _Args()
    pending_jobs_word = False
    for key, value in opts:
        if key == "h":
            a.no_header = True
        elif key == "j":
            if value is None:
                pending_jobs_word = True
                a.jobs = a.jobs or []
            else:
                a.jobs = (a.jobs or []) + _job_ids(value)
        elif key == "l":
            a.long = True
        elif key == "n":
            a.norm = True
        elif key == "o":
            a.fmt = value
        elif key == "S":
            a.sort = value
        elif key == "p":
            a.partitions = [p for p in (value or "").split(",") if p]
        elif key == "u":
            a.users = [u for u in (value or "").split(",") if u]
        elif key == "w":
            a.weights = True
        elif key == "V":
            return CommandResult(stdout=f"slurm {SLURM_VERSION} (stratus {__version__})\n")
        elif key == "help":
            return CommandResult(stdout=HELP)
        elif key == "usage":
            return CommandResult(stdout=USAGE)
    if rest and pending_jobs_word:
        # "-j 12,13": the optional argument given as the next word, as sprio accepts it.
        a.jobs = (a.jobs or []) + _job_ids(rest.pop(0))
    if rest:
        return CommandResult(stderr=f"{PROG}: error: Unrecognized option: {rest[0]}\n{USAGE}", exit_code=1)
    if a.fmt is not None and a.long:
        raise SlurmError(
            f"{PROG}: fatal: Options -o(--format) and -l(--long) are mutually exclusive. "
            "Please remove one and retry.",
            1,
        )
    if a.fmt is None and not a.long and ctx.env.get("SPRIO_FORMAT"):
        a.fmt = ctx.env["SPRIO_FORMAT"]
    return a


def _job_ids(text: str) -> list[int]:
    out: list[int] = []
    for piece in text.split(","):
        if not piece:
            continue
        head = piece.split("_", 1)[0]
        if not isdigits(head) or int(head) <= 0:
            raise _err(f"Invalid job id: {piece}")
        out.append(int(head))
    return out


def default_format(w: PriorityWeights, *, long: bool, norm: bool, user: bool) -> str:
    """sprio's default format for these weights (src/sprio/sprio.c)."""
    if long:
        if norm:
            return "%.15i %9r %.8u %10y %10a %10b %10f %10j %10p %10q %20t"
        return "%.15i %9r %.8u %.10Y %.10S %.10A %.10B %.10F %.10J %.10P %.10Q %.11N %.20T"
    fmt = "%.15i %9r"
    if user:
        fmt += " %.8u"
    factors = (("a", w.age), ("f", w.fairshare), ("j", w.jobsize), ("p", w.partition))
    if norm:
        fmt += " %10y" + "".join(f" %10{letter}" for letter, weight in factors if weight)
    else:
        fmt += " %.10Y %.10S" + "".join(f" %.10{letter.upper()}" for letter, weight in factors if weight)
    return fmt


def _weighted(value: float, weight: int) -> str:
    return f"{value * weight:.0f}"


def _norm(value: float, weight: int) -> str:
    return f"{value:.7f}" if weight else f"{0.0:.7f}"


_Value = Callable[[PriorityRow, PriorityWeights], str]
_VALUES: dict[str, _Value] = {
    "i": lambda r, w: str(r.job_id),
    "r": lambda r, w: r.partition,
    "u": lambda r, w: r.user,
    "Y": lambda r, w: str(r.priority),
    "y": lambda r, w: f"{r.priority / MAX_PRIORITY:16.14f}",
    "S": lambda r, w: "0",
    "A": lambda r, w: _weighted(r.age, w.age),
    "a": lambda r, w: _norm(r.age, w.age),
    "B": lambda r, w: "0",
    "b": lambda r, w: _norm(0.0, 0),
    "F": lambda r, w: _weighted(r.fairshare, w.fairshare),
    "f": lambda r, w: _norm(r.fairshare, w.fairshare),
    "J": lambda r, w: _weighted(r.jobsize, w.jobsize),
    "j": lambda r, w: _norm(r.jobsize, w.jobsize),
    "P": lambda r, w: _weighted(r.partition_factor, w.partition),
    "p": lambda r, w: _norm(r.partition_factor, w.partition),
    "Q": lambda r, w: "0",
    "q": lambda r, w: _norm(0.0, 0),
    "N": lambda r, w: str(r.nice),
    "T": lambda r, w: "",
    "t": lambda r, w: "",
}

_WEIGHT_ROW: dict[str, Callable[[PriorityWeights], str]] = {
    "i": lambda w: "Weights",
    "S": lambda w: "1",
    "A": lambda w: str(w.age),
    "a": lambda w: str(w.age),
    "B": lambda w: "0",
    "b": lambda w: "0",
    "F": lambda w: str(w.fairshare),
    "f": lambda w: str(w.fairshare),
    "J": lambda w: str(w.jobsize),
    "j": lambda w: str(w.jobsize),
    "P": lambda w: str(w.partition),
    "p": lambda w: str(w.partition),
    "Q": lambda w: "0",
    "q": lambda w: "0",
}

_SORT_KEYS: dict[str, Callable[[PriorityRow, PriorityWeights], object]] = {
    "i": lambda r, w: r.job_id,
    "r": lambda r, w: r.partition,
    "u": lambda r, w: r.user,
    "Y": lambda r, w: r.priority,
    "y": lambda r, w: r.priority,
    "A": lambda r, w: r.age,
    "a": lambda r, w: r.age,
    "F": lambda r, w: r.fairshare,
    "f": lambda r, w: r.fairshare,
    "J": lambda r, w: r.jobsize,
    "j": lambda r, w: r.jobsize,
    "P": lambda r, w: r.partition_factor,
    "p": lambda r, w: r.partition_factor,
    "N": lambda r, w: r.nice,
}


def _line(cols: list[ColumnSpec], cell: Callable[[ColumnSpec], str]) -> str:
    parts: list[str] = []
    for col in cols:
        if col.code == "":
            parts.append(col.suffix or "")  # the literal text before the first field
        else:
            parts.append(print_str(cell(col), col.width, col.right, True) + (col.suffix or ""))
    return "".join(parts) + "\n"


def _sorted(rows: list[PriorityRow], spec: str | None, w: PriorityWeights) -> list[PriorityRow]:
    keys = [k.strip() for k in (spec or "i").split(",") if k.strip()]
    out = list(rows)
    for key in reversed(keys):
        descending = key.startswith("-")
        letter = key.lstrip("+-")[:1]
        fn = _SORT_KEYS.get(letter)
        if fn is None:
            continue
        out.sort(key=lambda r, fn=fn: fn(r, w), reverse=descending)  # type: ignore[misc]
    return out


def _user_names(users: list[str]) -> set[str]:
    names: set[str] = set()
    for u in users:
        names.add(u)
        if isdigits(u):
            with contextlib.suppress(KeyError):
                names.add(pwd.getpwuid(int(u)).pw_name)
    return names


def run_sprio(argv: Sequence[str], ctx: ClientContext, backend: SlurmBackend) -> CommandResult:
    """Run sprio against ``backend`` and print as Slurm 22.05 does."""
    parsed = _parse(argv, ctx)
    if isinstance(parsed, CommandResult):
        return parsed
    a = parsed
    weights, rows = backend.priorities()
    if weights.priority_type != "priority/multifactor":
        return CommandResult(stderr=NOT_SUPPORTED.format(weights.priority_type), exit_code=1)
    fmt = a.fmt or default_format(weights, long=a.long, norm=a.norm, user=a.users is not None)
    cols: list[ColumnSpec] = []
    err: list[str] = []
    for col in parse_percent_format(fmt):
        if col.code == "" or col.code in _HEADERS:
            cols.append(col)
        else:
            err.append(f"{PROG}: error: Invalid job format specification: {col.code}\n")
    out: list[str] = []
    if not a.no_header:
        out.append(_line(cols, lambda c: _HEADERS[c.code]))
    if a.weights:
        out.append(_line(cols, lambda c: _WEIGHT_ROW[c.code](weights) if c.code in _WEIGHT_ROW else ""))
        return CommandResult(stdout="".join(out), stderr="".join(err))
    if a.jobs is not None:
        wanted = set(a.jobs)
        rows = [r for r in rows if r.job_id in wanted]
    if a.users is not None:
        names = _user_names(a.users)
        rows = [r for r in rows if r.user in names]
    if a.partitions is not None:
        parts = set(a.partitions)
        rows = [r for r in rows if r.partition in parts]
    if a.jobs and not rows:
        return CommandResult(stdout=NO_MATCH, stderr="".join(err))
    for row in _sorted(rows, a.sort, weights):
        out.append(_line(cols, lambda c, row=row: _VALUES[c.code](row, weights)))  # type: ignore[misc]
    return CommandResult(stdout="".join(out), stderr="".join(err))

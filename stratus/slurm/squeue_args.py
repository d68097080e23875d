"""squeue's command line and ``SQUEUE_*`` variables (src/squeue/opts.c) to :class:`SqueueParams`.

Guarantees: options are read by getopt as squeue reads them; the command line overrides the
``SQUEUE_*`` variables, as in Slurm; a bad job id, state or node list fails with squeue's
message (exit 1); ``--start`` brings its own format, sort and state defaults.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from stratus.engine.indexset import IndexSet
from stratus.slurm import hostlist, jobstate, version_line
from stratus.slurm.arrays import parse_task_list
from stratus.slurm.cparse import isdigits
from stratus.slurm.errors import SlurmError, command_error
from stratus.slurm.options import Arg, LongOpt, OptionError, getopt_long
from stratus.slurm.views import ClientContext, CommandResult

PROG = "squeue"


START_FORMAT = "%.18i %.9P %.8j %.8u %.2t %.19S %.6D %20Y %R"


LONGOPTS: tuple[LongOpt, ...] = tuple(
    LongOpt(n, a, k)
    for n, a, k in (
        ("accounts", Arg.REQUIRED, "A"),
        ("all", Arg.NONE, "a"),
        ("array", Arg.NONE, "r"),
        ("array-unique", Arg.NONE, "array-unique"),
        ("Format", Arg.REQUIRED, "O"),
        ("format", Arg.REQUIRED, "o"),
        ("federation", Arg.NONE, "federation"),
        ("help", Arg.NONE, "help"),
        ("hide", Arg.NONE, "hide"),
        ("iterate", Arg.REQUIRED, "i"),
        ("jobs", Arg.OPTIONAL, "j"),
        ("local", Arg.NONE, "local"),
        ("long", Arg.NONE, "l"),
        ("licenses", Arg.REQUIRED, "L"),
        ("cluster", Arg.REQUIRED, "M"),
        ("clusters", Arg.REQUIRED, "M"),
        ("me", Arg.NONE, "me"),
        ("name", Arg.REQUIRED, "n"),
        ("noconvert", Arg.NONE, "noconvert"),
        ("node", Arg.REQUIRED, "w"),
        ("nodes", Arg.REQUIRED, "w"),
        ("nodelist", Arg.REQUIRED, "w"),
        ("noheader", Arg.NONE, "h"),
        ("partitions", Arg.REQUIRED, "p"),
        ("priority", Arg.NONE, "P"),
        ("qos", Arg.REQUIRED, "q"),
        ("reservation", Arg.REQUIRED, "R"),
        ("sib", Arg.NONE, "sibling"),
        ("sibling", Arg.NONE, "sibling"),
        ("sort", Arg.REQUIRED, "S"),
        ("start", Arg.NONE, "start"),
        ("steps", Arg.OPTIONAL, "s"),
        ("states", Arg.REQUIRED, "t"),
        ("usage", Arg.NONE, "usage"),
        ("user", Arg.REQUIRED, "u"),
        ("users", Arg.REQUIRED, "u"),
        ("verbose", Arg.NONE, "v"),
        ("version", Arg.NONE, "V"),
        ("json", Arg.NONE, "json"),
        ("yaml", Arg.NONE, "yaml"),
    )
)
SHORTOPTS = "A:ahi:j::lL:n:M:O:o:p:Pq:R:rs::S:t:u:U:vVw:"


# -- parameters -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class JobSelector:
    """One ``-j`` entry: a job id, optionally with task ids (``18_5``, ``18_[1-3]``)."""

    job_id: int
    tasks: IndexSet | None = None


@dataclass(slots=True)
class SqueueParams:
    """A parsed squeue command line."""

    no_header: bool = False
    long: bool = False
    array: bool = False
    array_unique: bool = False
    priority: bool = False
    start: bool = False
    steps: bool = False
    verbose: int = 0
    noconvert: bool = False
    iterate: int = 0
    fmt: str | None = None
    fmt_long: str | None = None
    sort: str | None = None
    jobs: list[JobSelector] | None = None
    job_flag: bool = False
    users: list[str] | None = None
    partitions: list[str] | None = None
    states: list[str] | None = None
    all_states: bool = False
    names: list[str] | None = None
    accounts: list[str] | None = None
    qos: list[str] | None = None
    licenses: list[str] | None = None
    reservation: str | None = None
    nodes: list[str] | None = None
    clusters: str | None = None
    clusters_from_env: bool = False
    mimetype: str | None = None  # --json / --yaml: dump every job, other options ignored


def str_list(s: str) -> list[str]:
    return [t for t in s.split(",") if t]


def parse_job_list(text: str) -> list[JobSelector]:
    """``-j 12,18_5,18_[1-3]``; raises SlurmError ``Invalid job id: X`` like squeue."""
    out: list[JobSelector] = []
    for tok in str_list(text):
        head, us, tail = tok.partition("_")
        digits = ""
        for ch in head:
            if not "0" <= ch <= "9":  # ASCII digits only ("²".isdigit() is True)
                break
            digits += ch
        job_id = int(digits) if digits else 0
        if job_id <= 0 or (len(digits) != len(head)):
            raise command_error(PROG, f"Invalid job id: {tok}")
        tasks: IndexSet | None = None
        if us:
            inner = tail[1:-1] if tail.startswith("[") and tail.endswith("]") else tail
            try:
                tasks = parse_task_list(inner)
            except ValueError:
                raise command_error(PROG, f"Invalid job id: {tok}") from None
        out.append(JobSelector(job_id, tasks))
    return out


def parse_state_list(text: str) -> tuple[list[str] | None, bool]:
    """``-t`` value: (state names, all_states); raises SlurmError for an unknown name."""
    if text.lower() == "all":
        return None, True
    states: list[str] = []
    for tok in str_list(text):
        name = jobstate.parse_state_name(tok)
        if name is None:
            raise SlurmError(
                [
                    f"{PROG}: error: Invalid job state specified: {tok}",
                    f"{PROG}: error: Valid job states include: {jobstate.valid_states_text()}",
                    "",
                ],
                1,
            )
        states.append(name)
    return states, False


def parse_squeue_args(argv: Sequence[str], ctx: ClientContext) -> SqueueParams | CommandResult:
    """Parse argv (without the program name); a CommandResult for --help/--usage/--version."""
    p = SqueueParams()
    env = ctx.env
    if "SQUEUE_ALL" in env:
        pass  # hidden partitions do not exist in stratus; nothing to show in addition
    if "SQUEUE_ARRAY" in env:
        p.array = True
    if "SQUEUE_SORT" in env:
        p.sort = env["SQUEUE_SORT"]
    if "SQUEUE_ARRAY_UNIQUE" in env:
        p.array_unique = True
    if "SQUEUE_PRIORITY" in env:
        p.priority = True
    if "SLURM_CLUSTERS" in env:
        p.clusters, p.clusters_from_env = env["SLURM_CLUSTERS"], True
    try:
        opts, rest = getopt_long(PROG, argv, SHORTOPTS, LONGOPTS)
    except OptionError as exc:
        raise SlurmError([str(exc), f'Try "{PROG} --help" for more information'], 1) from None
    override_format_env = False
    for key, val in opts:
        v = val or ""
        if key in ("A", "U"):
            p.accounts = str_list(v)
        elif key == "h":
            p.no_header = True
        elif key == "i":
            n = int(v) if isdigits(v.lstrip("-")) else 0
            if n <= 0:
                raise SlurmError([f"{PROG}: error: --iterate={v}", ""], 1)
            p.iterate = n
        elif key == "j":
            if val is not None:
                p.jobs = parse_job_list(val)
            p.job_flag = True
        elif key == "l":
            p.long = True
            override_format_env = True
        elif key == "L":
            p.licenses = str_list(v)
        elif key == "M":
            p.clusters, p.clusters_from_env = v, False
        elif key == "n":
            p.names = str_list(v)
        elif key == "O":
            if p.fmt is not None:
                raise command_error(PROG, "-O (--Format) is incompatible with -o (--format)")
            p.fmt_long = v
            override_format_env = True
        elif key == "o":
            if p.fmt_long is not None:
                raise command_error(PROG, "-o (--format) is incompatible with -O (--Format)")
            p.fmt = v
            override_format_env = True
        elif key == "p":
            p.partitions = str_list(v)
        elif key == "P":
            p.priority = True
        elif key == "q":
            p.qos = str_list(v)
        elif key == "R":
            p.reservation = v
        elif key == "r":
            p.array = True
        elif key == "s":
            p.steps = True
            override_format_env = True
        elif key == "S":
            p.sort = v
        elif key == "t":
            p.states, p.all_states = parse_state_list(v)
        elif key == "u":
            p.users = str_list(v)
        elif key == "v":
            p.verbose += 1
        elif key == "V":
            return CommandResult(stdout=version_line())
        elif key == "w":
            try:
                p.nodes = hostlist.expand(v)
            except hostlist.HostlistError:
                raise command_error(PROG, f"'{v}' invalid entry for --nodelist") from None
        elif key == "array-unique":
            p.array_unique = True
        elif key == "help":
            return CommandResult(stdout=HELP)
        elif key == "usage":
            return CommandResult(stdout=USAGE)
        elif key == "me":
            p.users = [str(ctx.uid)]
        elif key == "noconvert":
            p.noconvert = True
        elif key == "start":
            p.start = True
            override_format_env = True
        elif key in ("json", "yaml"):
            p.mimetype = key
        # --all, --hide, --federation, --local, --sibling: nothing to change in stratus.
    if p.long and p.fmt is not None:
        raise SlurmError(
            f"{PROG}: fatal: Options -o(--format) and -l(--long) are mutually exclusive. "
            "Please remove one and retry.",
            1,
        )
    if not override_format_env:
        if "SQUEUE_FORMAT" in env:
            p.fmt = env["SQUEUE_FORMAT"]
        elif "SQUEUE_FORMAT2" in env:
            p.fmt_long = env["SQUEUE_FORMAT2"]
    if rest:
        if p.job_flag and not p.steps:
            p.jobs = parse_job_list(rest[0])
            rest = rest[1:]
        elif p.steps:
            rest = rest[1:]
        if rest:
            raise SlurmError([f"{PROG}: error: Unrecognized option: {rest[0]}"], 1)
    if p.accounts is None and "SQUEUE_ACCOUNT" in env:
        p.accounts = str_list(env["SQUEUE_ACCOUNT"])
    if p.names is None and "SQUEUE_NAMES" in env:
        p.names = str_list(env["SQUEUE_NAMES"])
    if p.partitions is None and "SQUEUE_PARTITION" in env:
        p.partitions = str_list(env["SQUEUE_PARTITION"])
    if p.qos is None and "SQUEUE_QOS" in env:
        p.qos = str_list(env["SQUEUE_QOS"])
    if p.states is None and not p.all_states and "SQUEUE_STATES" in env:
        p.states, p.all_states = parse_state_list(env["SQUEUE_STATES"])
    if p.users is None and "SQUEUE_USERS" in env:
        p.users = str_list(env["SQUEUE_USERS"])
    if p.start and not p.steps:
        if p.fmt is None:
            p.fmt = START_FORMAT
        if p.sort is None:
            p.sort = "S"
        if p.states is None and not p.all_states:
            p.states = ["PENDING"]
    return p


USAGE = """\
Usage: squeue [-A account] [--clusters names] [-i seconds] [--job jobid]
              [-n name] [-o format] [-p partitions] [--qos qos]
              [--reservation reservation] [--sort fields] [--start]
              [--step step_id] [-t states] [-u user_name] [--usage]
              [-L licenses] [-w nodes] [--federation] [--local] [--sibling]
              [-ahjlrsv]
"""

HELP = """\
Usage: squeue [OPTIONS]
  -A, --account=account(s)        comma separated list of accounts
                                  to view, default is all accounts
  -a, --all                       display jobs in hidden partitions
      --array-unique              display one unique pending job array
                                  element per line
  -h, --noheader                  no headers on output
      --hide                      do not display jobs in hidden partitions
  -i, --iterate=seconds           specify an interation period
  -j, --job=job(s)                comma separated list of jobs IDs
                                  to view, default is all
  -l, --long                      long report
  -L, --licenses=(license names)  comma separated list of license names to view
  -M, --clusters=cluster_name     cluster to issue commands to.
      --me                        equivalent to --user=<my username>
  -n, --name=job_name(s)          comma separated list of job names to view
      --noconvert                 don't convert units from their original type
                                  (e.g. 2048M won't be converted to 2G).
  -o, --format=format             format specification
  -O, --Format=format             format specification
  -p, --partition=partition(s)    comma separated list of partitions
                                  to view, default is all partitions
  -q, --qos=qos(s)                comma separated list of qos's
                                  to view, default is all qos's
  -R, --reservation=name          reservation to view, default is all
  -r, --array                     display one job array element per line
  -s, --step=step(s)              comma separated list of job steps
                                  to view, default is all
  -S, --sort=fields               comma separated list of fields to sort on
      --start                     print expected start times of pending jobs
  -t, --states=states             comma separated list of states to view,
                                  default is pending and running,
                                  '--states=all' reports all states
  -u, --user=user_name(s)         comma separated list of users to view
  -v, --verbose                   verbosity level
  -V, --version                   output version information and exit
  -w, --nodelist=hostlist         list of nodes to view, default is
                                  all nodes

Help options:
  --help                          show this help message
  --usage                         display a brief summary of squeue options
"""

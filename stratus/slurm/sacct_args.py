"""sacct's command line (src/sacct/options.c): argv to :class:`SacctParams`.

Guarantees: options are read by getopt as sacct reads them, and a refused value fails with
sacct's own message and exit code (``Invalid time specification (pos=N)``, ``unrecognized job
state value``, ``Bad job/step specified``, ``Invalid field requested``). The time window gets
Slurm's defaults here (:func:`_default_window`), so what follows only filters.
"""

from __future__ import annotations

import time as _time
from collections.abc import Sequence
from dataclasses import dataclass, field

from stratus.slurm import hostlist, jobstate, version_line
from stratus.slurm.cparse import isdigits, strtol
from stratus.slurm.errors import SlurmError, command_error, command_fatal
from stratus.slurm.options import Arg, LongOpt, OptionError, getopt_long
from stratus.slurm.sacct_fields import BRIEF_FIELDS, DEFAULT_FIELDS, LONG_FIELDS, PROG, Column, parse_fields
from stratus.slurm.sacct_time import TimeParseError, parse_time
from stratus.slurm.timefmt import fmt_timestamp
from stratus.slurm.views import ClientContext, CommandResult

# The states sacct accepts for -s (_supported_state): these are what accounting records.
SUPPORTED_STATES = frozenset(
    {
        "PENDING", "RUNNING", "SUSPENDED", "COMPLETED", "CANCELLED", "FAILED", "TIMEOUT",
        "NODE_FAIL", "PREEMPTED", "BOOT_FAIL", "DEADLINE", "OUT_OF_MEMORY", "REQUEUED",
        "RESIZING", "REVOKED",
    }
)  # fmt: skip

# Step ids as Slurm names its special steps.
SPECIAL_STEPS = ("batch", "extern", "interactive")


def _unsupported(option: str) -> SlurmError:
    return command_error(PROG, f"{option} is not supported by stratus")


def _time_opt(text: str, now: float) -> int:
    try:
        return parse_time(text, now, past=True)
    except TimeParseError as exc:
        raise SlurmError(f"Invalid time specification (pos={exc.pos}): {text}", 1) from None


@dataclass(frozen=True, slots=True)
class StepSelector:
    """One ``-j`` entry: ``18``, ``18_5``, ``18.batch``, ``18_5.0`` (slurm_parse_step_str)."""

    job_id: int
    task_id: int | None = None
    step: str | None = None  # None: the whole job


@dataclass(slots=True)
class SacctParams:
    """A parsed sacct command line."""

    all_users: bool = False
    users: list[str] | None = None  # -u entries as given (names or uids)
    groups: list[str] | None = None  # -g entries as given (names or gids)
    accounts: list[str] | None = None
    partitions: list[str] | None = None
    names: list[str] | None = None
    states: list[str] | None = None
    steps: list[StepSelector] | None = None
    nodes: list[str] | None = None
    clusters: list[str] | None = None
    all_clusters: bool = False
    start: int = 0
    end: int = 0
    no_steps: bool = False
    duplicates: bool = False
    truncate: bool = False
    header: bool = True
    parsable: int = 0  # 1: -p (trailing delimiter), 2: -P
    delimiter: str | None = None
    noconvert: bool = False
    units: int | None = None  # --units: UNIT_NONE .. UNIT_PETA
    array: bool = False
    script: bool = False
    env_vars: bool = False
    columns: list[Column] = field(default_factory=list)  # the output fields, parsed
    brief: bool = False
    long: bool = False
    help: int = 0  # 1: --help, 2: --helpformat, 3: --usage


LONGOPTS: tuple[LongOpt, ...] = tuple(
    LongOpt(n, a, k)
    for n, a, k in (
        ("allusers", Arg.NONE, "a"),
        ("accounts", Arg.REQUIRED, "A"),
        ("allocations", Arg.NONE, "X"),
        ("array", Arg.NONE, "array"),
        ("brief", Arg.NONE, "b"),
        ("batch-script", Arg.NONE, "B"),
        ("completion", Arg.NONE, "c"),
        ("constraints", Arg.REQUIRED, "C"),
        ("delimiter", Arg.REQUIRED, "delimiter"),
        ("duplicates", Arg.NONE, "D"),
        ("federation", Arg.NONE, "federation"),
        ("helpformat", Arg.NONE, "e"),
        ("help-fields", Arg.NONE, "e"),
        ("endtime", Arg.REQUIRED, "E"),
        ("env-vars", Arg.NONE, "env-vars"),
        ("file", Arg.REQUIRED, "f"),
        ("flags", Arg.REQUIRED, "F"),
        ("gid", Arg.REQUIRED, "g"),
        ("group", Arg.REQUIRED, "g"),
        ("help", Arg.NONE, "h"),
        ("local", Arg.NONE, "local"),
        ("name", Arg.REQUIRED, "name"),
        ("nnodes", Arg.REQUIRED, "i"),
        ("ncpus", Arg.REQUIRED, "I"),
        ("jobs", Arg.REQUIRED, "j"),
        ("timelimit-min", Arg.REQUIRED, "k"),
        ("timelimit-max", Arg.REQUIRED, "K"),
        ("long", Arg.NONE, "l"),
        ("allclusters", Arg.NONE, "L"),
        ("cluster", Arg.REQUIRED, "M"),
        ("clusters", Arg.REQUIRED, "M"),
        ("nodelist", Arg.REQUIRED, "N"),
        ("noconvert", Arg.NONE, "noconvert"),
        ("units", Arg.REQUIRED, "units"),
        ("noheader", Arg.NONE, "n"),
        ("fields", Arg.REQUIRED, "o"),
        ("format", Arg.REQUIRED, "o"),
        ("parsable", Arg.NONE, "p"),
        ("parsable2", Arg.NONE, "P"),
        ("qos", Arg.REQUIRED, "q"),
        ("partition", Arg.REQUIRED, "r"),
        ("reason", Arg.REQUIRED, "R"),
        ("state", Arg.REQUIRED, "s"),
        ("starttime", Arg.REQUIRED, "S"),
        ("truncate", Arg.NONE, "T"),
        ("uid", Arg.REQUIRED, "u"),
        ("use-local-uid", Arg.NONE, "use-local-uid"),
        ("usage", Arg.NONE, "U"),
        ("user", Arg.REQUIRED, "u"),
        ("verbose", Arg.NONE, "v"),
        ("version", Arg.NONE, "V"),
        ("wckeys", Arg.REQUIRED, "W"),
        ("whole-hetjob", Arg.OPTIONAL, "whole-hetjob"),
        ("associations", Arg.REQUIRED, "x"),
        ("json", Arg.NONE, "json"),
        ("yaml", Arg.NONE, "yaml"),
    )
)
SHORTOPTS = "aA:bBcC:DeE:f:F:g:hi:I:j:k:K:lLM:nN:o:pPq:r:s:S:Ttu:UvVW:x:X"


def split_list(text: str) -> list[str]:
    """slurm_parse_char_list: comma-separated, empty items skipped, one leading quote honoured.

    A list that starts with a quote ends at the matching quote; other quotes become backquotes.
    """
    s = text
    if s[:1] in ("'", '"'):
        q = s[0]
        s = s[1:]
        end = s.find(q)
        if end >= 0:
            s = s[:end]
    s = s.replace('"', "`").replace("'", "`")
    out: list[str] = []
    for item in s.split(","):
        if item and item not in out:
            out.append(item)
    return out


def parse_step_list(text: str) -> list[StepSelector]:
    """``-j`` entries (slurm_addto_step_list); raises sacct's fatal messages for bad ones."""
    out: list[StepSelector] = []
    for name in split_list(text):
        if not isdigits(name[:1]):
            raise command_fatal(PROG, f"Bad job/step specified: {name}")
        base, dot, step_text = name.partition(".")
        step: str | None = None
        if dot:
            if step_text in SPECIAL_STEPS:
                step = step_text
            elif isdigits(step_text[:1]):
                step = str(strtol(step_text, 0)[0])
                if "+" in step_text:
                    step += "+" + step_text.partition("+")[2]
            else:
                raise command_fatal(PROG, f"Bad step specified: {base}")
        job_part, under, task_text = base.partition("_")
        task: int | None = None
        if under:
            if not isdigits(task_text[:1]):
                raise command_fatal(PROG, f"Bad job array element specified: {job_part}")
            task = strtol(task_text, 0)[0]
        elif "+" in base and not (dot and "+" in step_text):
            job_part, _, offset = base.partition("+")
            if not isdigits(offset[:1]):
                raise command_fatal(PROG, f"Bad hetjob offset specified: {job_part}")
            continue  # stratus has no heterogeneous jobs: a component matches nothing
        sel = StepSelector(strtol(job_part, 0)[0], task, step)
        if sel not in out:
            out.append(sel)
    return out


def _state_list(text: str) -> list[str]:
    out: list[str] = []
    for name in split_list(text):
        state = jobstate.parse_state_name(name)
        if state is None:
            raise command_fatal(PROG, f"unrecognized job state value '{name}'")
        if state not in SUPPORTED_STATES:
            raise command_fatal(PROG, f"job state {name} is not supported / accounted")
        if state not in out:
            out.append(state)
    return out


_UNIT_LETTERS = "KMGTP"


def parse_sacct_args(argv: Sequence[str], ctx: ClientContext, now: float) -> SacctParams | CommandResult:
    """Parse argv (without the program name); a CommandResult for ``--version``.

    Option errors are Slurm's: getopt's message (exit 1), ``Invalid time specification``,
    ``unrecognized job state value``, ``Bad job/step specified``, ``Invalid user id``.
    """
    p = SacctParams()
    try:
        opts, rest = getopt_long(PROG, argv, SHORTOPTS, LONGOPTS)
    except OptionError as exc:
        raise SlurmError(str(exc), 1) from None
    fields: list[str] = []
    for key, val in opts:
        v = val or ""
        if key == "a":
            p.all_users = True
        elif key == "A":
            p.accounts = (p.accounts or []) + split_list(v)
        elif key == "array":
            p.array = True
        elif key == "b":
            p.brief = True
        elif key == "B":
            p.script = True
            p.no_steps = True
        elif key in ("c", "f"):
            raise SlurmError("Slurm job completion is disabled", 1)
        elif key == "delimiter":
            p.delimiter = v
        elif key == "D":
            p.duplicates = True
        elif key == "e":
            p.help = 2
        elif key == "E":
            p.end = _time_opt(v, now)
        elif key == "env-vars":
            p.env_vars = True
            p.no_steps = True
        elif key == "g":
            p.groups = (p.groups or []) + split_list(v)
        elif key == "h":
            p.help = 1
        elif key == "j":
            p.steps = (p.steps or []) + parse_step_list(v)
            if not p.steps:
                p.steps = None
        elif key == "l":
            p.long = True
        elif key == "L":
            p.all_clusters = True
        elif key == "M":
            if v.lower() in ("all", "-1"):
                p.all_clusters = True
            else:
                p.all_clusters = False
                p.clusters = (p.clusters or []) + split_list(v)
        elif key == "n":
            p.header = False
        elif key == "N":
            if p.nodes is None:
                try:
                    p.nodes = hostlist.expand(v)
                except hostlist.HostlistError:
                    p.nodes = [v]
        elif key == "name":
            p.names = (p.names or []) + split_list(v)
        elif key == "noconvert":
            p.noconvert = True
        elif key == "o":
            fields.append(v)
        elif key == "p":
            p.parsable = 1
        elif key == "P":
            p.parsable = 2
        elif key == "r":
            p.partitions = (p.partitions or []) + split_list(v)
        elif key == "s":
            p.states = (p.states or []) + [s for s in _state_list(v) if s not in (p.states or [])]
        elif key == "S":
            p.start = _time_opt(v, now)
        elif key == "T":
            p.truncate = True
        elif key == "u":
            if v == "-1":
                p.all_users = True
            else:
                p.all_users = False
                p.users = (p.users or []) + split_list(v)
        elif key == "U":
            p.help = 3
        elif key == "units":
            letter = v[:1].upper()
            if letter not in _UNIT_LETTERS or not letter:
                raise command_fatal(PROG, "Invalid unit type")
            p.units = _UNIT_LETTERS.index(letter) + 1
        elif key == "V":
            return CommandResult(stdout=version_line())
        elif key == "whole-hetjob":
            if val is not None and val.lower() not in ("yes", "y", "no", "n"):
                raise command_error(PROG, f'Invalid --whole-hetjob value "{val}". Valid values: [yes|no].')
        elif key in ("t", "X"):
            p.no_steps = True
        elif key in ("C", "F", "i", "I", "k", "K", "q", "R", "W", "x"):
            long_name = next(lo.name for lo in LONGOPTS if lo.key == key)
            raise _unsupported(f"-{key}/--{long_name}")
        elif key in ("json", "yaml"):
            raise _unsupported(f"--{key}")
        # --federation, --local, --use-local-uid, -v: nothing to change with one local cluster.
    if not p.steps and (p.script or p.env_vars):
        what = "job scripts" if p.script else "job environment"
        if p.env_vars:
            what = "job environment"
        raise command_fatal(
            PROG, f"When requesting {what} you must also request specific jobs with the '-j' option."
        )
    if p.script and p.env_vars:
        raise command_fatal(PROG, "Options --batch-script and --env-vars are mutually exclusive")
    if p.long and fields:
        raise command_fatal(
            PROG, "Options -o(--format) and -l(--long) are mutually exclusive. Please remove one and retry."
        )
    _default_window(p, now)
    if p.end and p.start > p.end:
        raise command_error(
            PROG,
            f"Start time ({fmt_timestamp(p.start)}) requested is after end time ({fmt_timestamp(p.end)}).",
        )
    text = "".join(f + "," for f in fields)
    if p.brief:
        text += BRIEF_FIELDS + ","
    if p.long:
        text += LONG_FIELDS + ","
    if not text:
        text = ctx.env.get("SACCT_FORMAT", DEFAULT_FIELDS) + ","
    p.columns = parse_fields(text)
    if rest:
        raise SlurmError([f"{PROG}: error: Unknown arguments:"] + [f"{PROG}: error:  {a}" for a in rest], 1)
    return p


def _default_window(p: SacctParams, now: float) -> None:
    """slurmdb_job_cond_def_start_end: fill in -S and -E; the end becomes exclusive."""
    nowi = int(now)
    if p.states:
        if not p.start and not p.steps:
            p.start = nowi
        if p.start and not p.end:
            p.end = p.start
    elif not p.steps and not p.start:
        t = _time.localtime(nowi)
        p.start = int(_time.mktime((t.tm_year, t.tm_mon, t.tm_mday, 0, 0, 0, 0, 0, -1)))
    if not p.end:
        p.end = nowi
    if p.end == p.start or p.end == nowi:
        p.end += 1

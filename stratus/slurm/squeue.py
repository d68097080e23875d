"""``squeue``: filter, combine, sort and print the job rows of a backend like Slurm 22.05.

What decides the output, and where it comes from (src/squeue):

* Filtering (print.c ``_filter_job``): without ``-t`` only pending, running, suspended,
  completing and staging-out jobs show; ``-t`` matches state names exactly (so ``-t R`` does
  not list ``CF`` jobs); ``-j 18_5`` narrows a pending array record to the named tasks.
* Pending tasks of an array that were split off (requeued, held) are folded back into the
  array's pending record, merging their reasons (``_combine_pending_array_tasks``), unless
  ``-r`` asks for one line per task.
* Order (sort.c): first by start time, latest first (``sort_jobs_by_start_time``; records
  without a start time go last), then by the ``-S`` keys applied from last to first with a
  stable sort. The default keys are ``P,t,-p``: partition name, compact state *as a string*
  (so ``CA < CD < CF < F < PD < R < TO``), then priority descending. Rows tied on all of
  these and on start time come out by job id and task id; Slurm's order there comes from
  its internal job table (it differs between runs of the same workload).
* Printing (print.c): ``%[.][width]X`` fields padded and cut by :func:`columns.print_str`;
  a pending array prints as ``18_[1-9]`` (``%N`` limit appended, long lists cut to
  ``...``), the JOBID text itself being capped at 31 characters as in Slurm.
* ``--json``/``--yaml`` (squeue.c): every job as :mod:`stratus.slurm.openapi` dumps it, all
  other formatting and filtering options ignored.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

from stratus import __version__
from stratus.engine.indexset import IndexSet
from stratus.slurm import SLURM_VERSION, hostlist, jobstate, openapi
from stratus.slurm.arrays import bitstr_len, format_task_ids, parse_task_list
from stratus.slurm.columns import ColumnSpec, parse_long_format, parse_percent_format, print_str
from stratus.slurm.errors import INVALID_JOB_ID, SlurmError, check_clusters
from stratus.slurm.options import Arg, LongOpt, OptionError, getopt_long
from stratus.slurm.timefmt import (
    NO_VAL,
    UNIT_MEGA,
    convert_num_unit,
    fmt_date_header,
    fmt_elapsed,
    fmt_squeue_limit,
    fmt_timestamp,
)
from stratus.slurm.views import ClientContext, CommandResult, JobRow, PartitionRow, SlurmBackend

PROG = "squeue"
JOBID_MAX = 31  # squeue formats ids into a 32-byte buffer
INFINITE32 = 0xFFFFFFFF

DEFAULT_FORMAT = (
    "jobarrayid:.18 ,partition:.9 ,name:.8 ,username:.8 ,statecompact:.2 ,timeused:.10 ,"
    "numnodes:.6 ,reasonlist:0"
)
LONG_FORMAT = (
    "jobarrayid:.18 ,partition:.9 ,name:.8 ,username:.8 ,state:.8 ,timeused:.10 ,"
    "timelimit:.9 ,numnodes:.6 ,reasonlist:0"
)
START_FORMAT = "%.18i %.9P %.8j %.8u %.2t %.19S %.6D %20Y %R"
STEP_FORMAT = "%.15i %.8j %.9P %.8u %.9M %N"
DEFAULT_SORT = "P,t,-p"

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


def _err(msg: str, code: int = 1) -> SlurmError:
    return SlurmError(f"{PROG}: error: {msg}", code)


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


def _str_list(s: str) -> list[str]:
    return [t for t in s.split(",") if t]


def parse_job_list(text: str) -> list[JobSelector]:
    """``-j 12,18_5,18_[1-3]``; raises SlurmError ``Invalid job id: X`` like squeue."""
    out: list[JobSelector] = []
    for tok in _str_list(text):
        head, us, tail = tok.partition("_")
        digits = ""
        for ch in head:
            if not ch.isdigit():
                break
            digits += ch
        job_id = int(digits) if digits else 0
        if job_id <= 0 or (len(digits) != len(head)):
            raise _err(f"Invalid job id: {tok}")
        tasks: IndexSet | None = None
        if us:
            inner = tail[1:-1] if tail.startswith("[") and tail.endswith("]") else tail
            try:
                tasks = parse_task_list(inner)
            except ValueError:
                raise _err(f"Invalid job id: {tok}") from None
        out.append(JobSelector(job_id, tasks))
    return out


def parse_state_list(text: str) -> tuple[list[str] | None, bool]:
    """``-t`` value: (state names, all_states); raises SlurmError for an unknown name."""
    if text.lower() == "all":
        return None, True
    states: list[str] = []
    for tok in _str_list(text):
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
            p.accounts = _str_list(v)
        elif key == "h":
            p.no_header = True
        elif key == "i":
            n = int(v) if v.lstrip("-").isdigit() else 0
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
            p.licenses = _str_list(v)
        elif key == "M":
            p.clusters, p.clusters_from_env = v, False
        elif key == "n":
            p.names = _str_list(v)
        elif key == "O":
            if p.fmt is not None:
                raise _err("-O (--Format) is incompatible with -o (--format)")
            p.fmt_long = v
            override_format_env = True
        elif key == "o":
            if p.fmt_long is not None:
                raise _err("-o (--format) is incompatible with -O (--Format)")
            p.fmt = v
            override_format_env = True
        elif key == "p":
            p.partitions = _str_list(v)
        elif key == "P":
            p.priority = True
        elif key == "q":
            p.qos = _str_list(v)
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
            p.users = _str_list(v)
        elif key == "v":
            p.verbose += 1
        elif key == "V":
            return CommandResult(stdout=f"slurm {SLURM_VERSION} (stratus {__version__})\n")
        elif key == "w":
            try:
                p.nodes = hostlist.expand(v)
            except hostlist.HostlistError:
                raise _err(f"'{v}' invalid entry for --nodelist") from None
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
        p.accounts = _str_list(env["SQUEUE_ACCOUNT"])
    if p.names is None and "SQUEUE_NAMES" in env:
        p.names = _str_list(env["SQUEUE_NAMES"])
    if p.partitions is None and "SQUEUE_PARTITION" in env:
        p.partitions = _str_list(env["SQUEUE_PARTITION"])
    if p.qos is None and "SQUEUE_QOS" in env:
        p.qos = _str_list(env["SQUEUE_QOS"])
    if p.states is None and not p.all_states and "SQUEUE_STATES" in env:
        p.states, p.all_states = parse_state_list(env["SQUEUE_STATES"])
    if p.users is None and "SQUEUE_USERS" in env:
        p.users = _str_list(env["SQUEUE_USERS"])
    if p.start and not p.steps:
        if p.fmt is None:
            p.fmt = START_FORMAT
        if p.sort is None:
            p.sort = "S"
        if p.states is None and not p.all_states:
            p.states = ["PENDING"]
    return p


# -- records ----------------------------------------------------------------------------------


@dataclass(slots=True)
class _Rec:
    """One candidate output line (before ``-r`` expansion)."""

    row: JobRow
    part: str
    part_prio: int = 0
    pending_ids: IndexSet | None = None  # a pending array record: the task ids it stands for
    task_str: str | None = None  # what prints inside "N_[...]"
    task_id: int | None = None  # one array task
    reason: str = ""

    @property
    def state(self) -> str:
        return self.row.state

    def sort_id(self) -> tuple[int, int]:
        r = self.row
        if self.task_id is not None and r.array_job_id is not None:
            return r.array_job_id, self.task_id
        if self.pending_ids is not None and r.array_job_id is not None:
            return r.array_job_id, NO_VAL
        return r.job_id, NO_VAL


def _make_rec(row: JobRow, part: str, part_prio: int, env: Mapping[str, str]) -> _Rec:
    rec = _Rec(row=row, part=part, part_prio=part_prio, reason=row.reason)
    if row.array_pending is not None and len(row.array_pending) == 1:
        # Slurm turns an array's last pending task into a plain task record: "27_3".
        rec.task_id = row.array_pending.min()
    elif row.array_pending is not None:
        rec.pending_ids = row.array_pending.copy()
        rec.task_str = format_task_ids(row.array_pending, row.array_max_running, bitstr_len(env))
    elif row.array_task_id is not None:
        rec.task_id = row.array_task_id
    return rec


def _job_known(rows: Iterable[JobRow], job_id: int) -> bool:
    return any(r.job_id == job_id or r.array_job_id == job_id for r in rows)


def _user_matches(row: JobRow, users: list[str]) -> bool:
    return any(u == row.user or (u.isdigit() and int(u) == row.uid) for u in users)


def _filter(rec: _Rec, p: SqueueParams) -> bool:
    """True if ``rec`` is to be printed; may narrow a pending array record (``-j 18_5``)."""
    row = rec.row
    if p.jobs:
        keep = False
        partial: set[int] = set()
        for sel in p.jobs:
            if sel.tasks is None:
                if sel.job_id in (row.job_id, row.array_job_id):
                    keep = True
                    break
                continue
            if row.array_job_id != sel.job_id:
                continue
            if rec.task_id is not None and rec.task_id in sel.tasks:
                keep = True
                break
            if rec.pending_ids is not None:
                hit = [t for t in sel.tasks if t in rec.pending_ids]
                if hit:
                    keep = True
                    partial.update(hit)
        if not keep:
            return False
        if partial and rec.pending_ids is not None:
            _narrow(rec, p, partial)
    if p.licenses is not None:
        return False  # stratus jobs hold no licenses
    if p.accounts is not None and (
        row.account is None or row.account.lower() not in {a.lower() for a in p.accounts}
    ):
        return False
    if p.qos is not None and (row.qos is None or row.qos.lower() not in {q.lower() for q in p.qos}):
        return False
    if p.all_states:
        pass
    elif p.states is not None:
        if row.state not in p.states:
            return False
    elif row.state not in jobstate.ACTIVE:
        return False
    if p.nodes is not None and not (set(p.nodes) & set(row.nodes)):
        return False
    if p.users is not None and not _user_matches(row, p.users):
        return False
    if p.reservation is not None and row.reservation != p.reservation:
        return False
    return not (p.names is not None and row.name.lower() not in {n.lower() for n in p.names})


def _narrow(rec: _Rec, p: SqueueParams, wanted: set[int]) -> None:
    """Keep only the requested tasks of a pending array record: those of every ``-j`` entry
    naming its job (as Slurm intersects its task bitmap with all of them)."""
    pending = rec.pending_ids
    assert pending is not None
    ids = set(wanted)
    for sel in p.jobs or ():
        if sel.tasks is not None and sel.job_id == rec.row.array_job_id:
            ids.update(t for t in sel.tasks if t in pending)
    narrowed = IndexSet.from_ids(ids)
    if len(narrowed) == 1:
        rec.task_id = narrowed.min()
        rec.pending_ids = None
        rec.task_str = None
    else:
        rec.pending_ids = narrowed
        rec.task_str = narrowed.to_slurm()


def _combine_pending(recs: list[_Rec], env: Mapping[str, str]) -> list[_Rec]:
    """Fold pending split-off tasks into their array's pending record (reasons merged).

    A task joins the record of its array when both are pending and have the same name and
    partition, as in Slurm; its reason is appended to the record's if new.
    """
    tasks_by_array: dict[int, list[int]] = {}
    for j, rec in enumerate(recs):
        if rec.task_id is not None and rec.row.array_job_id is not None and jobstate.is_pending(rec.state):
            tasks_by_array.setdefault(rec.row.array_job_id, []).append(j)
    absorbed: set[int] = set()
    for meta in recs:
        if meta.pending_ids is None or not jobstate.is_pending(meta.state):
            continue
        joined: list[int] = []
        for j in tasks_by_array.get(meta.row.array_job_id or -1, ()):
            task = recs[j]
            if j in absorbed or task.row.name != meta.row.name or task.part != meta.part:
                continue
            if task.reason != meta.row.reason and task.reason not in meta.reason.split(","):
                meta.reason = f"{meta.reason},{task.reason}"
            assert task.task_id is not None
            joined.append(task.task_id)
            absorbed.add(j)
        if joined:
            meta.pending_ids = meta.pending_ids.union(IndexSet.from_ids(joined))
            text = meta.pending_ids.to_slurm()
            n = bitstr_len(env)
            meta.task_str = text[: n - 1] if n > 0 else text
    return [rec for j, rec in enumerate(recs) if j not in absorbed]


# -- values -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Ctx:
    now: float
    noconvert: bool
    cluster: str
    bitstr_env: bool  # SLURM_BITSTR_LEN set: print array ids uncut


def _time_used(row: JobRow, now: float) -> int:
    if row.start_time is None or row.start_time <= 0 or jobstate.is_pending(row.state):
        return 0
    if jobstate.is_running(row.state) or row.end_time is None or row.end_time <= 0:
        end = now
    else:
        end = row.end_time
    return int(end) - int(row.start_time)


def _ts(t: float | None) -> str:
    """_print_time: N/A for no time, else ISO (Unknown/None for Slurm's sentinels)."""
    if t is None or t == 0:
        return "N/A"
    return fmt_timestamp(t)


def _job_id_str(rec: _Rec, c: _Ctx) -> tuple[str, bool]:
    row = rec.row
    if rec.task_str is not None:
        text = f"{row.array_job_id if row.array_job_id is not None else row.job_id}_[{rec.task_str}]"
        if c.bitstr_env:
            return text, False
        return text[:JOBID_MAX], True
    if rec.task_id is not None:
        return f"{row.array_job_id}_{rec.task_id}", True
    return str(row.job_id), True


def _nodes(row: JobRow) -> str:
    return hostlist.compress(row.nodes)


def _reason_list(rec: _Rec) -> tuple[str, bool]:
    st = rec.state
    if st != "COMPLETING" and (jobstate.is_pending(st) or st in jobstate.REASON_SHOWN):
        return f"({rec.reason})", True
    return _nodes(rec.row), False


def _tres_per_node(row: JobRow) -> str:
    if not row.gpus_per_node:
        return "N/A"
    if row.gpu_type:
        return f"gres:gpu:{row.gpu_type}:{row.gpus_per_node}"
    return f"gres:gpu:{row.gpus_per_node}"


def _time_left(row: JobRow, now: float) -> tuple[str, bool]:
    if row.time_limit_min is None:
        return "UNLIMITED", True
    return fmt_elapsed(row.time_limit_min * 60 - _time_used(row, now)), False


def _end_time(row: JobRow, now: float) -> str:
    if row.time_limit_min is None and row.end_time is not None and row.end_time > now:
        return "NONE"
    return _ts(row.end_time)


def _min_memory(row: JobRow, c: _Ctx) -> str:
    return convert_num_unit(float(row.min_memory_mb or 0), UNIT_MEGA, noconvert=c.noconvert)


def _std_path(row: JobRow, which: str) -> str:
    if which == "out":
        return row.stdout or f"{row.workdir}/slurm-{row.job_id}.out"
    return row.stderr or row.stdout or f"{row.workdir}/slurm-{row.job_id}.out"


ValueFn = Callable[[_Rec, _Ctx], "str | tuple[str, bool] | None"]


@dataclass(frozen=True, slots=True)
class _Field:
    header: str
    value: ValueFn
    cut: bool = True  # whether the value is cut to the width
    header_cut: bool = True


def _f(header: str, fn: ValueFn, cut: bool = True, header_cut: bool = True) -> _Field:
    return _Field(header, fn, cut, header_cut)


_NA: ValueFn = lambda r, c: "N/A"  # noqa: E731
_NULL: ValueFn = lambda r, c: None  # noqa: E731

LETTER_FIELDS: dict[str, _Field] = {
    "a": _f("ACCOUNT", lambda r, c: r.row.account),
    "A": _f("JOBID", lambda r, c: str(r.row.job_id)),
    "b": _f("TRES_PER_NODE", lambda r, c: _tres_per_node(r.row)),
    "B": _f("EXEC_HOST", lambda r, c: r.row.batch_host or "n/a"),
    "c": _f("MIN_CPUS", lambda r, c: convert_num_unit(float(r.row.cpus_per_task))),
    "C": _f("CPUS", lambda r, c: str(r.row.num_cpus)),
    "d": _f("MIN_TMP_DISK", lambda r, c: "0"),
    "D": _f("NODES", lambda r, c: str(r.row.num_nodes)),
    "e": _f("END_TIME", lambda r, c: _end_time(r.row, c.now)),
    "E": _f("DEPENDENCY", lambda r, c: r.row.dependency),
    "f": _f("FEATURES", lambda r, c: r.row.features),
    "F": _f(
        "ARRAY_JOB_ID",
        lambda r, c: str(
            r.row.array_job_id
            if (r.task_str is not None or r.task_id is not None) and r.row.array_job_id is not None
            else r.row.job_id
        ),
    ),
    "g": _f("GROUP", lambda r, c: r.row.group or str(r.row.gid)),
    "G": _f("GROUP", lambda r, c: str(r.row.gid)),
    "h": _f("OVER_SUBSCRIBE", lambda r, c: r.row.oversubscribe),
    "H": _f("SOCKETS_PER_NODE", lambda r, c: "*"),
    "i": _f("JOBID", _job_id_str),
    "I": _f("CORES_PER_SOCKET", lambda r, c: "*"),
    "j": _f("NAME", lambda r, c: r.row.name),
    "J": _f("THREADS_PER_CORE", lambda r, c: "*"),
    "k": _f("COMMENT", lambda r, c: r.row.comment),
    "K": _f(
        "ARRAY_TASK_ID",
        lambda r, c: (
            r.task_str if r.task_str is not None else (str(r.task_id) if r.task_id is not None else "N/A")
        ),
    ),
    # The limit itself is never cut (365-00:00:00 overflows TIME_LIMI); UNLIMITED is.
    "l": _f(
        "TIME_LIMIT",
        lambda r, c: (fmt_squeue_limit(r.row.time_limit_min), r.row.time_limit_min is None),
    ),
    "L": _f("TIME_LEFT", lambda r, c: _time_left(r.row, c.now)),
    "m": _f("MIN_MEMORY", lambda r, c: _min_memory(r.row, c)),
    "M": _f("TIME", lambda r, c: fmt_elapsed(_time_used(r.row, c.now)), cut=False),
    "n": _f("REQ_NODES", lambda r, c: ""),
    "N": _f("NODELIST", lambda r, c: _nodes(r.row), cut=False, header_cut=False),
    "o": _f("COMMAND", lambda r, c: r.row.command),
    "O": _f("CONTIGUOUS", lambda r, c: "0"),
    "p": _f("PRIORITY", lambda r, c: f"{r.row.priority / INFINITE32:16.14f}"),
    "P": _f("PARTITION", lambda r, c: r.part),
    "q": _f("QOS", lambda r, c: r.row.qos),
    "Q": _f("PRIORITY", lambda r, c: str(r.row.priority)),
    "r": _f("REASON", lambda r, c: r.reason),
    "R": _f("NODELIST(REASON)", lambda r, c: _reason_list(r), header_cut=False),
    "s": _f("", lambda r, c: ""),
    "S": _f("START_TIME", lambda r, c: _ts(r.row.start_time)),
    "t": _f("ST", lambda r, c: jobstate.compact(r.state)),
    "T": _f("STATE", lambda r, c: jobstate.long_name(r.state)),
    "u": _f("USER", lambda r, c: r.row.user),
    "U": _f("UID", lambda r, c: str(r.row.uid)),
    "v": _f("RESERVATION", lambda r, c: r.row.reservation),
    "V": _f("SUBMIT_TIME", lambda r, c: _ts(r.row.submit_time)),
    "w": _f("WCKEY", _NULL),
    "W": _f("LICENSES", _NULL),
    "x": _f("EXC_NODES", lambda r, c: ""),
    "X": _f("CORE_SPEC", _NA),
    "y": _f("NICE", lambda r, c: str(r.row.nice)),
    "Y": _f("SCHEDNODES", _NULL, header_cut=False),
    "z": _f("S:C:T", lambda r, c: "*:*:*"),
    "Z": _f("WORK_DIR", lambda r, c: r.row.workdir),
}

_LONG_TO_LETTER = {
    "account": "a", "jobid": "A", "gres": "b", "tres-per-node": "b", "batchhost": "B",
    "mincpus": "c", "numcpus": "C", "mintmpdisk": "d", "numnodes": "D", "endtime": "e",
    "dependency": "E", "feature": "f", "arrayjobid": "F", "groupname": "g", "groupid": "G",
    "oversubscribe": "h", "shared": "h", "sockets": "H", "jobarrayid": "i", "cores": "I",
    "name": "j", "threads": "J", "comment": "k", "arraytaskid": "K", "timelimit": "l",
    "timeleft": "L", "minmemory": "m", "timeused": "M", "reqnodes": "n", "nodelist": "N",
    "command": "o", "contiguous": "O", "priority": "p", "partition": "P", "qos": "q",
    "prioritylong": "Q", "reason": "r", "reasonlist": "R", "selectjobinfo": "s",
    "starttime": "S", "statecompact": "t", "state": "T", "userid": "U", "username": "u",
    "reservation": "v", "submittime": "V", "wckey": "w", "licenses": "W", "excnodes": "x",
    "corespec": "X", "nice": "y", "schednodes": "Y", "sct": "z", "workdir": "Z",
}  # fmt: skip


def _exit_code(row: JobRow) -> str:
    return str((row.exit_code << 8) | row.exit_signal)


LONG_ONLY_FIELDS: dict[str, _Field] = {
    "cluster": _f("CLUSTER", lambda r, c: c.cluster),
    "container": _f("CONTAINER", _NULL),
    "burstbuffer": _f("BURST_BUFFER", _NULL),
    "burstbufferstate": _f("BURST_BUFFER_STATE", _NULL),
    "delayboot": _f("DELAY_BOOT", lambda r, c: fmt_elapsed(0)),
    "lastschedeval": _f("LAST_SCHED_EVAL", lambda r, c: "N/A"),
    "pendingtime": _f(
        "PENDING_TIME",
        lambda r, c: str(
            int(r.row.start_time - r.row.submit_time)
            if r.row.start_time and r.row.start_time < c.now
            else int(c.now - r.row.submit_time)
        ),
    ),
    "prefer": _f("PREFER", _NULL),
    "clusterfeature": _f("CLUSTER_FEATURES", _NULL),
    "admin_comment": _f("ADMIN_COMMENT", _NULL),
    "system_comment": _f("SYSTEM_COMMENT", _NULL),
    "accruetime": _f("ACCRUE_TIME", lambda r, c: _ts(r.row.eligible_time)),
    "allocnodes": _f("ALLOC_NODES", _NULL),
    "allocsid": _f("ALLOC_SID", lambda r, c: "0"),
    "associd": _f("ASSOC_ID", lambda r, c: "0"),
    "batchflag": _f("BATCH_FLAG", lambda r, c: "1"),
    "boardspernode": _f("BOARDS_PER_NODE", _NA),
    "cpuspertask": _f("CPUS_PER_TASK", lambda r, c: str(r.row.cpus_per_task)),
    "cpus-per-task": _f("CPUS_PER_TASK", lambda r, c: str(r.row.cpus_per_task)),
    "derivedec": _f("DERIVED_EC", lambda r, c: "0:0"),
    "eligibletime": _f("ELIGIBLE_TIME", lambda r, c: _ts(r.row.eligible_time)),
    "exit_code": _f("EXIT_CODE", lambda r, c: _exit_code(r.row)),
    "origin": _f("ORIGIN", lambda r, c: "NA"),
    "originraw": _f("ORIGIN_RAW", lambda r, c: "NA"),
    "siblingsactive": _f("ACTIVE_SIBLINGS", lambda r, c: "NA"),
    "siblingsactiveraw": _f("ACTIVE_SIBLINGS_RAW", lambda r, c: "NA"),
    "siblingsviable": _f("VIABLE_SIBLINGS", lambda r, c: "NA"),
    "siblingsviableraw": _f("VIALBLE_SIBLINGS_RAW", lambda r, c: "NA"),
    "maxcpus": _f("MAX_CPUS", lambda r, c: "0"),
    "maxnodes": _f("MAX_NODES", lambda r, c: "0"),
    "network": _f("NETWORK", _NULL),
    "ntpercore": _f("NTASKS_PER_CORE", _NA),
    "ntpernode": _f("NTASKS_PER_NODE", _NA),
    "ntpersocket": _f("NTASKS_PER_SOCKET", _NA),
    "ntperboard": _f("NTASKS_PER_BOARD", _NA),
    "numtasks": _f("TASKS", lambda r, c: str(r.row.num_tasks)),
    "numtask": _f("TASKS", lambda r, c: str(r.row.num_tasks)),
    "preempttime": _f("PREEMPT_TIME", lambda r, c: "N/A"),
    "profile": _f("PROFILE", lambda r, c: "NotSet"),
    "reboot": _f("REBOOT", lambda r, c: "0"),
    "reqswitch": _f("REQ_SWITCH", lambda r, c: "0"),
    "requeue": _f("REQUEUE", lambda r, c: "1" if r.row.requeue else "0"),
    "resizetime": _f("RESIZE_TIME", lambda r, c: "0"),
    "restartcnt": _f("RESTART_COUNT", lambda r, c: str(r.row.restarts)),
    "sperboard": _f("SOCKETS_PER_BOARD", lambda r, c: "0"),
    "stderr": _f("STDERR", lambda r, c: _std_path(r.row, "err")),
    "stdin": _f("STDIN", lambda r, c: r.row.stdin),
    "stdout": _f("STDOUT", lambda r, c: _std_path(r.row, "out")),
    "mintime": _f("TIME_MIN", lambda r, c: fmt_elapsed(0)),
    "wait4switch": _f("WAIT4SWITCH", lambda r, c: fmt_elapsed(0)),
    "cpus-per-tres": _f("CPUS_PER_TRES", _NA),
    "mem-per-tres": _f("MEM_PER_TRES", _NA),
    "tres": _f("TRES_ALLOC", _NA),
    "tres-alloc": _f("TRES_ALLOC", _NA),
    "tres-bind": _f("TRES_BIND", _NA),
    "tres-freq": _f("TRES_FREQ", _NA),
    "tres-per-job": _f("TRES_PER_JOB", _NA),
    "tres-per-socket": _f("TRES_PER_SOCKET", _NA),
    "tres-per-task": _f("TRES_PER_TASK", _NA),
    "mcslabel": _f("MCSLABEL", _NULL),
    "deadline": _f("DEADLINE", lambda r, c: "N/A"),
    "hetjobid": _f("HET_JOB_ID", _NA),
    "packjobid": _f("HET_JOB_ID", _NA),
    "hetjoboffset": _f("HET_JOB_OFFSET", _NA),
    "packjoboffset": _f("HET_JOB_OFFSET", _NA),
    "hetjobidset": _f("HET_JOB_ID_SET", _NA),
    "packjobidset": _f("HET_JOB_ID_SET", _NA),
}


@dataclass(frozen=True, slots=True)
class _Col:
    fld: _Field | None  # None: a literal prefix or an invalid field (prints its suffix only)
    width: int
    right: bool
    suffix: str | None


def build_columns(p: SqueueParams) -> tuple[list[_Col], list[str]]:
    """The output columns of ``p`` and the error lines for unknown fields (printed, not fatal)."""
    errs: list[str] = []
    cols: list[_Col] = []
    if p.fmt is not None:
        for spec in parse_percent_format(p.fmt, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"):
            cols.append(_letter_col(spec, errs, p.fmt.lower() == "%all"))
        return cols, errs
    fmt_long = p.fmt_long if p.fmt_long is not None else (LONG_FORMAT if p.long else DEFAULT_FORMAT)
    for spec in parse_long_format(fmt_long):
        letter = _LONG_TO_LETTER.get(spec.code)
        fld = LETTER_FIELDS.get(letter) if letter else LONG_ONLY_FIELDS.get(spec.code)
        if fld is None and spec.code.startswith("numtask"):
            fld = LONG_ONLY_FIELDS["numtasks"]
        if fld is None:
            errs.append(f"{PROG}: error: Invalid job format specification: {spec.code}")
        cols.append(_Col(fld, spec.width, spec.right, spec.suffix))
    return cols, errs


def _letter_col(spec: ColumnSpec, errs: list[str], format_all: bool) -> _Col:
    if spec.code == "":
        return _Col(None, 0, False, spec.suffix)
    fld = LETTER_FIELDS.get(spec.code)
    if fld is None:
        if format_all:
            return _Col(None, 0, False, None)
        errs.append(f"{PROG}: error: Invalid job format specification: {spec.code}")
        return _Col(None, spec.width, spec.right, "%" + spec.token)
    return _Col(fld, spec.width, spec.right, spec.suffix)


def _render(cols: Sequence[_Col], rec: _Rec | None, c: _Ctx) -> str:
    out: list[str] = []
    for col in cols:
        if col.fld is not None:
            if rec is None:
                out.append(print_str(col.fld.header, col.width, col.right, col.fld.header_cut))
            else:
                val = col.fld.value(rec, c)
                cut = col.fld.cut
                if isinstance(val, tuple):
                    val, cut = val
                out.append(print_str(val, col.width, col.right, cut))
        if col.suffix:
            out.append(col.suffix)
    return "".join(out) + "\n"


# -- sorting ----------------------------------------------------------------------------------


def _start_key(rec: _Rec, now: float) -> float:
    st = rec.row.start_time or 0.0
    if jobstate.is_pending(rec.state) and 0 < st < now:
        return now
    return st


def _first_node_key(rec: _Rec) -> tuple[object, ...]:
    nodes = sorted(rec.row.nodes, key=hostlist.sort_key)
    return hostlist.sort_key(nodes[0]) if nodes else ((), -1, -1, -1)


def _limit_key(rec: _Rec) -> int:
    lim = rec.row.time_limit_min
    return INFINITE32 if lim is None else lim


_SORT_KEYS: dict[str, Callable[[_Rec, _Ctx], object]] = {
    "B": lambda r, c: r.row.batch_host or "",
    "C": lambda r, c: r.row.num_cpus,
    "d": lambda r, c: 0,
    "D": lambda r, c: r.row.num_nodes,
    "e": lambda r, c: r.row.end_time or 0,
    "g": lambda r, c: r.row.group or "",
    "G": lambda r, c: r.row.gid,
    "H": lambda r, c: 0,
    "i": lambda r, c: r.sort_id(),
    "I": lambda r, c: 0,
    "j": lambda r, c: r.row.name,
    "J": lambda r, c: 0,
    "l": lambda r, c: _limit_key(r),
    "L": lambda r, c: (
        INFINITE32 if r.row.time_limit_min is None else r.row.time_limit_min * 60 - _time_used(r.row, c.now)
    ),
    "m": lambda r, c: r.row.min_memory_mb or 0,
    "M": lambda r, c: _time_used(r.row, c.now),
    "N": lambda r, c: _first_node_key(r),
    "p": lambda r, c: (r.part_prio, r.row.priority),
    "P": lambda r, c: r.part,
    "Q": lambda r, c: (r.part_prio, r.row.priority),
    "t": lambda r, c: jobstate.compact(r.state),
    "T": lambda r, c: jobstate.long_name(r.state),
    "u": lambda r, c: r.row.user,
    "U": lambda r, c: r.row.uid,
    "v": lambda r, c: r.row.reservation or "",
    "V": lambda r, c: r.row.submit_time,
    "z": lambda r, c: 0,
}
_SORT_NOOP = set("cfhnO")


def sort_records(recs: list[_Rec], spec: str, c: _Ctx) -> tuple[list[_Rec], list[str]]:
    """Apply squeue's sort keys (last key first, stable); returns records and info lines."""
    info: list[str] = []
    # Start time, latest first; records without a start time after every other.
    recs = sorted(recs, key=lambda r: r.sort_id())
    started = [r for r in recs if _start_key(r, c.now) > 0]
    unstarted = [r for r in recs if _start_key(r, c.now) <= 0]
    started.sort(key=lambda r: _start_key(r, c.now), reverse=True)
    recs = started + unstarted
    i = len(spec) - 1
    while i >= 0:
        ch = spec[i]
        if ch in ",+-":
            i -= 1
            continue
        reverse = i > 0 and spec[i - 1] == "-"
        if i + 1 >= 7 and spec[i - 6 : i + 1].lower() == "cluster":
            reverse = i >= 7 and spec[i - 7] == "-"
            i -= 7
            continue  # one cluster: every record has the same name
        if ch == "b":
            info.append(f"{PROG}: Invalid sort specification: b")
        elif ch == "S":
            with_start = [r for r in recs if r.row.start_time]
            without = [r for r in recs if not r.row.start_time]
            with_start.sort(key=lambda r: _start_key(r, c.now), reverse=reverse)
            recs = with_start + without
        elif ch in _SORT_KEYS:
            keyfn = _SORT_KEYS[ch]
            recs.sort(key=lambda r, k=keyfn: k(r, c), reverse=reverse)  # type: ignore[misc]
        elif ch not in _SORT_NOOP:
            raise _err(f"Invalid sort specification: {ch}")
        i -= 1
    return recs, info


# -- the command -------------------------------------------------------------------------------


def _partition_prio(parts: Iterable[PartitionRow]) -> dict[str, int]:
    return {p.name: p.priority_tier for p in parts}


def build_records(
    rows: Sequence[JobRow], p: SqueueParams, backend: SlurmBackend, env: Mapping[str, str]
) -> list[_Rec]:
    """Rows to filtered, combined records (one per partition with ``-P``)."""
    prio = _partition_prio(backend.partitions()) if p.priority else {}
    recs: list[_Rec] = []
    for row in rows:
        if p.priority:
            for part in _str_list(row.partition):
                rec = _make_rec(row, part, prio.get(part, 1), env)
                if p.partitions is not None and part not in p.partitions:
                    continue
                if _filter(rec, p):
                    recs.append(rec)
            continue
        rec = _make_rec(row, row.partition, 0, env)
        if p.partitions is not None and not set(_str_list(row.partition)) & set(p.partitions):
            continue
        if _filter(rec, p):
            recs.append(rec)
    if not p.array:
        recs = _combine_pending(recs, env)
    return recs


def _expand(rec: _Rec) -> list[_Rec]:
    if rec.pending_ids is None:
        return [rec]
    return [replace(rec, pending_ids=None, task_str=None, task_id=t) for t in rec.pending_ids]


def run_squeue(argv: Sequence[str], ctx: ClientContext, backend: SlurmBackend) -> CommandResult:
    """Run squeue against ``backend`` and print as Slurm does."""
    parsed = parse_squeue_args(argv, ctx)
    if isinstance(parsed, CommandResult):
        return parsed
    p = parsed
    if p.mimetype is not None:
        doc = openapi.jobs_document(backend.jobs(True), backend.now(), backend.cluster_name)
        return CommandResult(stdout=openapi.serialize(doc, p.mimetype))
    if p.clusters is not None:
        check_clusters(PROG, p.clusters, backend.cluster_name, p.clusters_from_env)
    now = backend.now()
    out: list[str] = []
    err: list[str] = []
    if not p.no_header and (p.iterate or p.verbose or p.long):
        out.append(fmt_date_header(now) + "\n")
    if p.clusters is not None and not p.no_header:
        out.append(f"CLUSTER: {backend.cluster_name}\n")
    if p.steps:
        # stratus keeps no job steps yet: the header only.
        return CommandResult(stdout="".join(out) + _step_header(p))
    # Finished jobs only matter for -t with a finished state, -t all, or explicit job ids.
    finished = p.all_states or bool(p.jobs) or any(s not in jobstate.ACTIVE for s in p.states or ())
    rows = list(backend.jobs(finished))
    if p.jobs and len(p.jobs) == 1 and not _job_known(rows, p.jobs[0].job_id):
        return CommandResult(
            stdout="".join(out), stderr=f"slurm_load_jobs error: {INVALID_JOB_ID}\n", exit_code=1
        )
    if p.verbose:
        out.append(f"last_update_time={int(now)} records={len(rows)}\n")
    c = _Ctx(now, p.noconvert, backend.cluster_name, "SLURM_BITSTR_LEN" in ctx.env and not p.array)
    cols, col_errs = build_columns(p)
    err.extend(line + "\n" for line in col_errs)
    recs = build_records(rows, p, backend, ctx.env)
    recs, info = sort_records(recs, p.sort or DEFAULT_SORT, c)
    err.extend(line + "\n" for line in info)
    if not p.no_header:
        out.append(_render(cols, None, c))
    for rec in recs:
        for one in _expand(rec) if p.array else [rec]:
            out.append(_render(cols, one, c))
    return CommandResult(stdout="".join(out), stderr="".join(err))


def _step_header(p: SqueueParams) -> str:
    if p.no_header:
        return ""
    headers = {"i": "STEPID", "j": "NAME", "P": "PARTITION", "u": "USER", "M": "TIME", "N": "NODELIST",
               "l": "TIME_LIMIT", "S": "START_TIME", "U": "UID", "A": "TASKS"}  # fmt: skip
    parts: list[str] = []
    for spec in parse_percent_format(p.fmt or STEP_FORMAT):
        if spec.code == "":
            parts.append(spec.suffix or "")
            continue
        parts.append(print_str(headers.get(spec.code, ""), spec.width, spec.right, spec.code != "N"))
        parts.append(spec.suffix or "")
    return "".join(parts) + "\n"


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

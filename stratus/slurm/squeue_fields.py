"""squeue's output fields: ``%X`` letters and ``--Format`` names, their headers and values.

Guarantees: headers, values and which values are cut to the column width are Slurm 22.05's
(src/squeue/print.c); a pending array prints as ``18_[1-9]`` (the ``%N`` limit appended, long
lists cut), the JOBID text capped at 31 characters unless ``SLURM_BITSTR_LEN`` is set; an
unknown field is reported and printed as its literal text, not fatal.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from stratus.slurm import hostlist, jobstate
from stratus.slurm.columns import ColumnSpec, parse_long_format, parse_percent_format, print_str
from stratus.slurm.squeue_args import PROG, SqueueParams
from stratus.slurm.squeue_records import Record
from stratus.slurm.timefmt import UNIT_MEGA, convert_num_unit, fmt_elapsed, fmt_squeue_limit, fmt_timestamp
from stratus.slurm.views import JobRow

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


# -- values -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ValueContext:
    now: float
    noconvert: bool
    cluster: str
    bitstr_env: bool  # SLURM_BITSTR_LEN set: print array ids uncut


def time_used(row: JobRow, now: float) -> int:
    if row.start_time is None or row.start_time <= 0 or jobstate.is_pending(row.state):
        return 0
    if jobstate.is_running(row.state) or row.end_time is None or row.end_time <= 0:
        end = now
    else:
        end = row.end_time
    return int(end) - int(row.start_time)


def _start(row: JobRow) -> float | None:
    """A job's start, or for a pending one its expected start where the scheduler planned one
    (as squeue shows backfill's estimate)."""
    if jobstate.is_pending(row.state) and row.planned_start is not None:
        return row.planned_start
    return row.start_time


def _ts(t: float | None) -> str:
    """_print_time: N/A for no time, else ISO (Unknown/None for Slurm's sentinels)."""
    if t is None or t == 0:
        return "N/A"
    return fmt_timestamp(t)


def _job_id_str(rec: Record, c: ValueContext) -> tuple[str, bool]:
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


def _reason_list(rec: Record) -> tuple[str, bool]:
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
    return fmt_elapsed(row.time_limit_min * 60 - time_used(row, now)), False


def _end_time(row: JobRow, now: float) -> str:
    if row.time_limit_min is None and row.end_time is not None and row.end_time > now:
        return "NONE"
    return _ts(row.end_time)


def _min_memory(row: JobRow, c: ValueContext) -> str:
    """``%m``: the memory asked for per node, or per CPU (squeue 22.05 prints either the same)."""
    mb = row.min_memory_cpu_mb or row.min_memory_mb or 0
    return convert_num_unit(float(mb), UNIT_MEGA, noconvert=c.noconvert)


def _std_path(row: JobRow, which: str) -> str:
    """``-O STDOUT``/``STDERR`` as squeue 22.05 prints them: the path as submitted (absolute,
    patterns unexpanded), else ``<workdir>/slurm-<job id>.out`` with the record's own id (the
    array job's id for a pending array)."""
    default = f"{row.workdir}/slurm-{row.job_id}.out"
    if which == "out":
        return row.stdout_given or default
    return row.stderr_given or row.stdout_given or default


ValueFn = Callable[[Record, ValueContext], "str | tuple[str, bool] | None"]


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
    "M": _f("TIME", lambda r, c: fmt_elapsed(time_used(r.row, c.now)), cut=False),
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
    "S": _f("START_TIME", lambda r, c: _ts(_start(r.row))),
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


def render(cols: Sequence[_Col], rec: Record | None, c: ValueContext) -> str:
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

"""``scontrol``: show jobs, nodes, partitions, the configuration and hostlists; hold, release,
requeue and update jobs — printed and worded like Slurm 22.05.

Where the output comes from (Slurm's ``src/api/job_info.c``, ``node_info.c``,
``partition_info.c`` and ``src/scontrol``):

* Records are ``Key=Value`` lines indented by three spaces, each record followed by a blank
  line (``-o``: one line per record, ending in a space). Field order, optional lines and the
  trailing spaces some lines carry are Slurm's.
* ``show job ID`` loads what ``slurm_load_job`` returns: the job itself, and for an array job
  id every record of the array (the pending remainder first, then the split-off tasks newest
  first). ``ID_TASK`` picks the task's record, or the pending remainder printed as that one
  task (``JobId=18 ArrayJobId=18 ArrayTaskId=5``). An unknown job is
  ``slurm_load_jobs error: Invalid job id specified`` on stderr (exit 1); a known array
  without the task is ``Job 18_20 not found`` on *stdout* (exit 1), as in Slurm.
* ``TRES=`` is the allocation once a job has started and the request before: a pending job
  that never ran asks for the memory of the first node of its partition when it gave no
  ``--mem`` (``job_get_tres_mem``), which is why it shows ``mem=24105M`` until it starts.
* Keywords and entities accept Slurm's abbreviations (``scontrol sho j 18``, ``show part``) by
  the same minimum lengths; ``scontrol update`` keys are matched case-insensitively by
  Slurm's prefixes (``jobid=``, ``timel=``).
* Job actions (``hold``, ``uhold``, ``release``, ``requeue``, ``requeuehold``, ``update``)
  go to :meth:`SlurmBackend.control`, one request per job argument as scontrol sends one RPC
  per argument. Job ids are read with scancel's parser. Whole-job refusals come back in
  :attr:`ControlResult.failures` and print ``<reason> for job <id>``, followed for hold and
  release by scontrol's ``slurm_suspend error: <reason>``; other lines in
  :attr:`ControlResult.errors` are printed as they are.

Known differences from Slurm 22.05 (stratus does not keep these values):

* ``AllocNode:Sid`` shows the head node's short host name and session 0.
* ``LastSchedEval`` is the start time of a started job, else its eligible time once that has
  passed, else its submit time; ``Scheduler`` is always ``Main``; ``MCS_label`` is ``N/A``.
* ``-d`` adds ``DerivedExitCode=0:0`` (stratus runs no job steps yet) but not the per-node
  ``CPU_IDs`` lines.
* ``show node`` prints ``Arch``/``OS`` only when the backend reports them, never ``Port``;
  ``CurrentWatts=0 AveWatts=0`` and ``ExtSensorsWatts=0`` are constants.
* ``show config`` lists only what stratus has: ``ClusterName``, ``MaxArraySize``,
  ``SLURM_VERSION``, and whatever the backend's optional ``slurm_config()`` mapping adds.
* Job ids are read as scancel reads them: job-id ranges such as ``[18-20]`` are refused as
  invalid ids, and the requeue flags ``Incomplete``/``State=SpecialExit`` are accepted but do
  not change how stratus requeues.
* Node and partition updates, reservations, steps, suspend/resume and the interactive prompt
  are refused with a message naming the missing feature (exit 1).
"""

from __future__ import annotations

import grp
import socket
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from stratus.engine.indexset import IndexSet
from stratus.slurm import SLURM_VERSION, hostlist, jobstate, nodestate
from stratus.slurm.arrays import bitstr_len, format_task_ids
from stratus.slurm.errors import INVALID_JOB_ID, SlurmError, check_clusters

# Name splitting and zero-padding compatibility are Slurm's hostrange rules, kept in hostlist.
from stratus.slurm.hostlist import compress_in_order
from stratus.slurm.options import Arg, LongOpt, OptionError, getopt_long
from stratus.slurm.sbatch import version_line
from stratus.slurm.scancel import parse_job_ids
from stratus.slurm.timefmt import (
    NO_VAL,
    UNIT_MEGA,
    TimeSpecError,
    convert_num_unit,
    duration_mins,
    fmt_mins_long,
    fmt_secs_long,
    fmt_timestamp,
)
from stratus.slurm.views import (
    ClientContext,
    CommandResult,
    ControlRequest,
    ControlResult,
    JobRow,
    JobTarget,
    NodeRow,
    PartitionRow,
    SlurmBackend,
)

PROG = "scontrol"

# Slurm's strerror texts for refused job actions (slurm_errno.c), for a backend's
# ControlResult.failures; the ones sbatch also uses are in stratus.slurm.errors.
JOB_NOT_PENDING = "Job is no longer pending execution"
JOB_PENDING = "Job is pending execution"
JOB_FINISHED = "Job has already finished"
TRANSITION_STATE_NO_UPDATE = "Job can not be altered now, try again later"
DISABLED = "Requested operation is presently disabled"
BATCH_ONLY = "Only batch jobs are accepted or processed"
JOB_HELD = "Job is in held state, pending scheduler release"

NICE_OFFSET = 0x80000000  # scontrol's limit for Nice= is NICE_OFFSET - 3
# Hold and release report a failure a second time through slurm_perror with this label.
HOLD_PERROR = "slurm_suspend error"

LONGOPTS: tuple[LongOpt, ...] = tuple(
    LongOpt(n, a, k)
    for n, a, k in (
        ("all", Arg.NONE, "a"),
        ("cluster", Arg.REQUIRED, "M"),
        ("clusters", Arg.REQUIRED, "M"),
        ("details", Arg.NONE, "d"),
        ("federation", Arg.NONE, "federation"),
        ("future", Arg.NONE, "F"),
        ("help", Arg.NONE, "h"),
        ("hide", Arg.NONE, "hide"),
        ("local", Arg.NONE, "local"),
        ("oneliner", Arg.NONE, "o"),
        ("quiet", Arg.NONE, "Q"),
        ("sibling", Arg.NONE, "sibling"),
        ("uid", Arg.REQUIRED, "u"),
        ("usage", Arg.NONE, "h"),
        ("verbose", Arg.NONE, "v"),
        ("version", Arg.NONE, "V"),
    )
)
SHORTOPTS = "adhM:FoQu:vV"

# The keys of ``show config`` in the order slurm_print_ctl_conf prints them; keys a backend adds
# that are not listed here follow in alphabetical order.
CONFIG_ORDER: tuple[str, ...] = (
    "AccountingStorageType", "AuthType", "BOOT_TIME", "ClusterName", "DefMemPerNode",
    "EnforcePartLimits", "FirstJobId", "JobRequeue", "MaxArraySize", "MaxJobCount",
    "MaxMemPerNode", "MinJobAge", "NEXT_JOB_ID", "PrivateData", "ResumeProgram", "ResumeRate",
    "ResumeTimeout", "SchedulerType", "SelectType", "SelectTypeParameters", "SlurmctldHost[0]",
    "SLURM_VERSION", "SuspendExcNodes", "SuspendExcParts", "SuspendProgram", "SuspendRate",
    "SuspendTime", "SuspendTimeout",
)  # fmt: skip


# -- output collection -------------------------------------------------------------------------


@dataclass(slots=True)
class _Session:
    """One scontrol invocation: its flags and what it has printed so far."""

    ctx: ClientContext
    backend: SlurmBackend
    one_liner: bool = False
    details: bool = False
    quiet: int = 0  # 1: -Q (no error messages), -1: -v (verbose), 0: default
    out: list[str] = field(default_factory=list)
    err: list[str] = field(default_factory=list)
    exit_code: int = 0
    need_file: str | None = None

    def error(self, line: str, *, always: bool = False) -> None:
        """An error line on stderr (not with ``-Q`` unless ``always``); the command exits 1."""
        self.exit_code = 1
        if always or self.quiet != 1:
            self.err.append(line + "\n")

    def result(self) -> CommandResult:
        if self.need_file is not None:
            return CommandResult(need_file=self.need_file)
        return CommandResult(stdout="".join(self.out), stderr="".join(self.err), exit_code=self.exit_code)


# -- keyword matching (xstrncasecmp with Slurm's minimum lengths) ------------------------------


def _kw(tag: str, name: str, min_len: int) -> bool:
    """``xstrncasecmp(tag, name, MAX(strlen(tag), min_len)) == 0``: an abbreviation of ``name``.

    The tag must be a prefix of the name at least ``min_len`` long, or the whole name.
    """
    t, n = tag.lower(), name.lower()
    return n.startswith(t) and (len(t) >= min_len or t == n)


def _kw_fixed(tag: str, name: str) -> bool:
    """``xstrncasecmp(tag, name, strlen(name)) == 0``: the tag starts with the whole name."""
    return tag.lower().startswith(name.lower())


# -- jobs --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _JobCtx:
    """What formatting a job needs besides its row."""

    now: float
    host: str
    part_first_mem: Mapping[str, int]  # RealMemory of each partition's first node
    bitstr_len: int = 64


def _short_host() -> str:
    return socket.gethostname().split(".")[0] or "localhost"


def _group_name(name: str, gid: int) -> str:
    """gid_to_string: the row's group, else the system's name for the gid, else the number."""
    if name:
        return name
    try:
        return grp.getgrgid(gid).gr_name
    except (KeyError, OverflowError):
        return str(gid)


def _is_started(row: JobRow) -> bool:
    return not jobstate.is_pending(row.state) and row.start_time is not None and row.start_time > 0


def _run_time(row: JobRow, now: float) -> int:
    """RunTime: 0 while pending, up to now while running, start to end once finished."""
    if jobstate.is_pending(row.state) or row.start_time is None or row.start_time <= 0:
        return 0
    if jobstate.is_running(row.state) or row.state == "SUSPENDED" or not row.end_time:
        return int(now) - int(row.start_time)
    return int(row.end_time) - int(row.start_time)


def _end_time(row: JobRow, now: float) -> str:
    """EndTime: the end, or the expected end of a running job; Unknown for an unlimited one."""
    end = row.end_time
    if end is None and jobstate.is_running(row.state) and row.start_time and row.time_limit_min is not None:
        end = row.start_time + row.time_limit_min * 60
    if row.time_limit_min is None and end is not None and end > now:
        return "Unknown"
    return fmt_timestamp(end)


def _accrue_time(row: JobRow, now: float) -> str:
    """AccrueTime: when the job became eligible, once that moment has passed."""
    t = row.eligible_time
    return fmt_timestamp(t) if t is not None and 0 < t <= now else "Unknown"


def _last_sched_eval(row: JobRow, now: float) -> str:
    if _is_started(row) and row.start_time is not None and row.start_time <= now:
        return fmt_timestamp(row.start_time)
    if row.eligible_time is not None and 0 < row.eligible_time <= now:
        return fmt_timestamp(row.eligible_time)
    return fmt_timestamp(row.submit_time)


def _gpus_total(row: JobRow) -> int:
    return row.gpus_per_node * max(row.num_nodes, 1)


def _mem_str(mb: int) -> str:
    return convert_num_unit(float(mb), UNIT_MEGA)


def job_tres(row: JobRow, part_first_mem: Mapping[str, int]) -> str:
    """The ``TRES=`` value: the allocation once started, the request before.

    A job that never ran shows its requested memory: ``--mem`` per node times nodes, else the
    first node of its partition's memory (Slurm's default request when no memory is given).
    A job pending again after a requeue keeps its last allocation, as in Slurm.
    """
    parts = [f"cpu={row.num_cpus}"]
    pending_first_time = jobstate.is_pending(row.state) and row.restarts == 0
    mem: int | None = None
    if row.min_memory_mb:
        mem = row.min_memory_mb * max(row.num_nodes, 1)
    elif pending_first_time:
        first_part = row.partition.split(",")[0]
        node_mem = part_first_mem.get(first_part, 0)
        mem = node_mem * max(row.num_nodes, 1) if node_mem else None
    if mem:
        parts.append(f"mem={_mem_str(mem)}")
    parts.append(f"node={row.num_nodes}")
    parts.append(f"billing={row.num_cpus}")
    if row.gpus_per_node:
        parts.append(f"gres/gpu={_gpus_total(row)}")
    return ",".join(parts)


def _expand_pattern(pattern: str, row: JobRow, task_id: int | None) -> str:
    """Slurm's _fname_format: ``%A %a %j %u %x`` of an output path; relative paths under WorkDir."""
    array_id = row.array_job_id
    task = NO_VAL if task_id is None else task_id
    out = pattern.replace("%A", str(array_id if array_id is not None else row.job_id))
    out = out.replace("%a", str(task))
    out = out.replace("%j", str(row.job_id))
    out = out.replace("%u", row.user)
    out = out.replace("%x", row.name)
    return out if out.startswith("/") else f"{row.workdir}/{out}"


def _std_path(row: JobRow, given: str, task_id: int | None) -> str:
    """StdOut/StdErr: the path as given (patterns expanded), else Slurm's default file name."""
    if given:
        return _expand_pattern(given, row, task_id) if "%" in given or not given.startswith("/") else given
    if row.array_job_id is not None:
        task = NO_VAL if task_id is None else task_id
        return f"{row.workdir}/slurm-{row.array_job_id}_{task}.out"
    return f"{row.workdir}/slurm-{row.job_id}.out"


def format_job(row: JobRow, jc: _JobCtx, *, one_liner: bool = False, details: bool = False,
               task_id: int | None = None) -> str:  # fmt: skip
    """One job record as ``scontrol show job`` prints it (slurm_sprint_job_info).

    ``task_id`` prints a pending array remainder as that one task (``scontrol show job 18_5``).
    The record ends with ``"\\n\\n"``, or ``" \\n"`` with ``one_liner``.
    """
    lines: list[str] = []
    head = f"JobId={row.job_id} "
    own_task = task_id if task_id is not None else row.array_task_id
    if row.array_job_id is not None:
        if row.array_pending is not None and task_id is None:
            task_str = format_task_ids(row.array_pending, row.array_max_running, jc.bitstr_len)
            head += f"ArrayJobId={row.array_job_id} ArrayTaskId={task_str} "
        else:
            head += f"ArrayJobId={row.array_job_id} ArrayTaskId={own_task} "
        if row.array_max_running:
            head += f"ArrayTaskThrottle={row.array_max_running} "
    lines.append(head + f"JobName={row.name}")
    group = _group_name(row.group, row.gid)
    lines.append(f"UserId={row.user}({row.uid}) GroupId={group}({row.gid}) MCS_label=N/A")
    lines.append(
        f"Priority={row.priority} Nice={row.nice} Account={row.account or '(null)'} QOS={row.qos or '(null)'}"
    )
    reason = "_".join(row.reason.split(" ")) if row.reason else "None"
    lines.append(f"JobState={row.state} Reason={reason} Dependency={row.dependency or '(null)'}")
    lines.append(
        f"Requeue={1 if row.requeue else 0} Restarts={row.restarts} BatchFlag=1 Reboot=0 "
        f"ExitCode={row.exit_code}:{row.exit_signal}"
    )
    if details:
        lines.append("DerivedExitCode=0:0")
    lines.append(
        f"RunTime={fmt_secs_long(_run_time(row, jc.now))} TimeLimit={fmt_mins_long(row.time_limit_min)} "
        "TimeMin=N/A"
    )
    lines.append(
        f"SubmitTime={fmt_timestamp(row.submit_time)} EligibleTime={fmt_timestamp(row.eligible_time)}"
    )
    lines.append(f"AccrueTime={_accrue_time(row, jc.now)}")
    lines.append(f"StartTime={fmt_timestamp(row.start_time)} EndTime={_end_time(row, jc.now)} Deadline=N/A")
    lines.append(
        f"SuspendTime=None SecsPreSuspend=0 LastSchedEval={_last_sched_eval(row, jc.now)} Scheduler=Main"
    )
    lines.append(f"Partition={row.partition} AllocNode:Sid={jc.host}:0")
    lines.append("ReqNodeList=(null) ExcNodeList=(null)")
    lines.append(f"NodeList={hostlist.compress(row.nodes)}")
    batch_host = row.batch_host or (sorted(row.nodes, key=hostlist.sort_key)[0] if row.nodes else None)
    if batch_host:
        lines.append(f"BatchHost={batch_host}")
    lines.append(
        f"NumNodes={row.num_nodes} NumCPUs={row.num_cpus} NumTasks={row.num_tasks} "
        f"CPUs/Task={row.cpus_per_task} ReqB:S:C:T=0:0:*:*"
    )
    lines.append(f"TRES={job_tres(row, jc.part_first_mem)}")
    lines.append("Socks/Node=* NtasksPerN:B:S:C=0:0:*:* CoreSpec=*")
    min_mem = _mem_str(row.min_memory_mb) if row.min_memory_mb else "0"
    lines.append(f"MinCPUsNode={row.cpus_per_task} MinMemoryNode={min_mem} MinTmpDiskNode=0")
    lines.append(f"Features={row.features or '(null)'} DelayBoot=00:00:00")
    if row.reservation:
        lines.append(f"Reservation={row.reservation}")
    lines.append(f"OverSubscribe={row.oversubscribe} Contiguous=0 Licenses=(null) Network=(null)")
    lines.append(f"Command={row.command or '(null)'}")
    lines.append(f"WorkDir={row.workdir}")
    if row.comment:
        lines.append(f"Comment={row.comment} ")
    lines.append(f"StdErr={_std_path(row, row.stderr or row.stdout, own_task)}")
    lines.append(f"StdIn={row.stdin or '/dev/null'}")
    lines.append(f"StdOut={_std_path(row, row.stdout, own_task)}")
    lines.append("Power=")
    if row.gpus_per_node:
        gpu = f"gpu:{row.gpu_type}:{row.gpus_per_node}" if row.gpu_type else f"gpu:{row.gpus_per_node}"
        lines.append(f"TresPerNode=gres:{gpu}")
    line_end = " " if one_liner else "\n   "
    return line_end.join(lines) + line_end + ("\n" if one_liner else "\n\n")


def _job_records(rows: Sequence[JobRow], job_id: int) -> list[JobRow]:
    """What slurm_load_job returns for ``job_id``: the job, or every record of its array.

    The record whose own id is ``job_id`` comes first; other tasks of the array follow newest
    first, the order of slurmctld's array hash chain.
    """
    head = [r for r in rows if r.job_id == job_id]
    if head and head[0].array_job_id is None:
        return head[:1]
    if head and head[0].array_job_id != job_id:
        return head[:1]  # a task's own job id: that task only
    others = [r for r in rows if r.array_job_id == job_id and r.job_id != job_id]
    others.sort(key=lambda r: r.job_id, reverse=True)
    return head[:1] + others


def _parse_show_job_id(text: str) -> tuple[int, int | None, int | None] | None:
    """scontrol_print_job's check: digits, ``_`` and ``+`` only.

    Returns (job id, task id or None, heterogeneous offset or None); None for anything else.
    """
    if any(not (ch.isdigit() or ch in "_+") for ch in text):
        return None

    def number(at: int) -> tuple[int, int]:
        end = at
        while end < len(text) and text[end].isdigit():
            end += 1
        return (int(text[at:end]) if end > at else 0), end

    job_id, i = number(0)
    task: int | None = None
    offset: int | None = None
    if text[i : i + 1] == "_":
        task, i = number(i + 1)
    if text[i : i + 1] == "+":
        offset, i = number(i + 1)
    return job_id, task, offset


def _part_first_mem(backend: SlurmBackend) -> dict[str, int]:
    nodes = {n.name: n for n in backend.nodes()}
    out: dict[str, int] = {}
    for p in backend.partitions():
        first = next((nodes[name] for name in p.nodes if name in nodes), None)
        out[p.name] = first.memory_mb if first is not None else 0
    return out


def _show_jobs(s: _Session, val: str | None) -> None:
    job_id = 0
    task_id: int | None = None
    het_offset: int | None = None
    if val is not None:
        parsed = _parse_show_job_id(val)
        if parsed is None:
            s.error(f"scontrol_print_job error: {INVALID_JOB_ID}")
            return
        job_id, task_id, het_offset = parsed
    rows = list(s.backend.jobs())
    now = s.backend.now()
    if job_id:
        records = _job_records(rows, job_id)
        if not records:
            s.error(f"slurm_load_jobs error: {INVALID_JOB_ID}")
            return
    else:
        records = sorted(rows, key=lambda r: r.job_id)
    if s.quiet == -1:
        s.out.append(f"last_update_time={fmt_timestamp(now)}, records={len(records)}\n")
    jc = _JobCtx(now, _short_host(), _part_first_mem(s.backend), bitstr_len(s.ctx.env))
    printed = 0
    for row in records:
        override: int | None = None
        if het_offset is not None:
            continue  # stratus has no heterogeneous jobs: no component matches
        if task_id is not None:
            if row.array_task_id == task_id and row.array_pending is None:
                pass
            elif row.array_pending is not None and task_id in row.array_pending:
                override = task_id
            else:
                continue
        s.out.append(format_job(row, jc, one_liner=s.one_liner, details=s.details, task_id=override))
        printed += 1
    if printed == 0:
        if val is not None:
            s.exit_code = 1
            if s.quiet != 1:
                if task_id is not None:
                    shown = f"{job_id}_{task_id}"
                elif het_offset is not None:
                    shown = f"{job_id}+{het_offset}"
                else:
                    shown = str(job_id)
                s.out.append(f"Job {shown} not found\n")
        elif s.quiet != 1:
            s.out.append("No jobs in the system\n")


# -- nodes -------------------------------------------------------------------------------------


def _node_state(n: NodeRow) -> str:
    """State= of a node: Slurm's full name, MIXED when only some CPUs are allocated."""
    state = nodestate.encode(n)
    if 0 < n.alloc_cpus < n.cpus:
        state = (state & ~nodestate.BASE_MASK) | nodestate.MIXED
    return nodestate.state_complete(state)


def _gres(n: NodeRow) -> str:
    if not n.gpus:
        return "(null)"
    return f"gpu:{n.gpu_type}:{n.gpus}" if n.gpu_type else f"gpu:{n.gpus}"


def node_cfg_tres(n: NodeRow) -> str:
    """CfgTRES: ``cpu=2,mem=24105M,billing=2`` (plus ``gres/gpu=N``)."""
    parts = [f"cpu={n.cpus}"]
    if n.memory_mb:
        parts.append(f"mem={_mem_str(n.memory_mb)}")
    parts.append(f"billing={n.cpus}")
    if n.gpus:
        parts.append(f"gres/gpu={n.gpus}")
    return ",".join(parts)


def node_alloc_tres(n: NodeRow) -> str:
    """AllocTRES: what jobs hold on the node; empty when nothing is allocated."""
    parts: list[str] = []
    if n.alloc_cpus:
        parts.append(f"cpu={n.alloc_cpus}")
    if n.alloc_memory_mb:
        parts.append(f"mem={_mem_str(n.alloc_memory_mb)}")
    if n.alloc_gpus:
        parts.append(f"gres/gpu={n.alloc_gpus}")
    return ",".join(parts)


def _none_or_time(t: float | None) -> str:
    return fmt_timestamp(t) if t else "None"


def format_node(n: NodeRow, *, one_liner: bool = False) -> str:
    """One node record as ``scontrol show node`` prints it (slurm_sprint_node_table).

    A node whose agent never registered prints no ``Arch``, ``Version`` or ``OS``, and
    ``BootTime=None SlurmdStartTime=None``, as a powered-down CLOUD node in Slurm.
    """
    lines: list[str] = []
    head = f"NodeName={n.name} "
    if n.arch:
        head += f"Arch={n.arch} "
    lines.append(head + f"CoresPerSocket={n.cores_per_socket} ")
    load = "N/A" if n.cpu_load is None else f"{n.cpu_load:.2f}"
    lines.append(f"CPUAlloc={n.alloc_cpus} CPUEfctv={n.cpus} CPUTot={n.cpus} CPULoad={load}")
    feats = ",".join(n.features) if n.features else "(null)"
    lines.append(f"AvailableFeatures={feats}")
    lines.append(f"ActiveFeatures={feats}")
    lines.append(f"Gres={_gres(n)}")
    addr = f"NodeAddr={n.addr or n.name} NodeHostName={n.hostname or n.name} "
    if n.agent_start_time is not None:
        addr += f"Version={SLURM_VERSION}"
    lines.append(addr)
    if n.os:
        lines.append(f"OS={n.os} ")
    free = "N/A" if n.free_memory_mb is None else str(n.free_memory_mb)
    lines.append(
        f"RealMemory={n.memory_mb} AllocMem={n.alloc_memory_mb} FreeMem={free} Sockets={n.sockets} Boards=1"
    )
    lines.append(
        f"State={_node_state(n)} ThreadsPerCore={n.threads_per_core} TmpDisk={n.tmp_disk_mb} "
        f"Weight={n.weight} Owner=N/A MCS_label=N/A"
    )
    if n.partitions:
        lines.append(f"Partitions={','.join(n.partitions)} ")
    lines.append(f"BootTime={_none_or_time(n.boot_time)} SlurmdStartTime={_none_or_time(n.agent_start_time)}")
    lines.append(f"LastBusyTime={fmt_timestamp(n.last_busy_time)}")
    lines.append(f"CfgTRES={node_cfg_tres(n)}")
    lines.append(f"AllocTRES={node_alloc_tres(n)}")
    lines.append("CapWatts=n/a")
    lines.append("CurrentWatts=0 AveWatts=0")
    lines.append("ExtSensorsJoules=n/s ExtSensorsWatts=0 ExtSensorsTemp=n/s")
    if n.reason:
        reason_lines = [r for r in n.reason.split("\n") if r]
        first = f"Reason={reason_lines[0]}"
        if n.reason_time:
            first += f" [{n.reason_user or 'root'}@{fmt_timestamp(n.reason_time)}]"
        lines.append(first)
        lines.extend("       " + r for r in reason_lines[1:])
    line_end = " " if one_liner else "\n   "
    return line_end.join(lines) + ("\n" if one_liner else "\n\n")


def _show_nodes(s: _Session, val: str | None) -> None:
    nodes = list(s.backend.nodes())
    if s.quiet == -1:
        s.out.append(f"last_update_time={fmt_timestamp(s.backend.now())}, records={len(nodes)}\n")
    if val is None:
        if not nodes and s.quiet != 1:
            s.out.append("No nodes in the system\n")
        for n in nodes:
            s.out.append(format_node(n, one_liner=s.one_liner))
        return
    try:
        names = hostlist.expand(val)
    except hostlist.HostlistError:
        s.error(f"unable to parse node list {val}")
        return
    by_name = {n.name: n for n in nodes}
    for name in names:
        node = by_name.get(name)
        if node is None:
            s.exit_code = 1
            if s.quiet != 1:
                s.out.append(f"Node {name} not found\n")
            continue
        s.out.append(format_node(node, one_liner=s.one_liner))


# -- partitions -------------------------------------------------------------------------------


def format_partition(p: PartitionRow, nodes: Mapping[str, NodeRow], *, one_liner: bool = False) -> str:
    """One partition record as ``scontrol show partition`` prints it (slurm_sprint_partition_info).

    ``TotalCPUs``, ``TotalNodes`` and ``TRES`` are summed over the partition's nodes.
    """
    members = [nodes[name] for name in p.nodes if name in nodes]
    cpus = sum(n.cpus for n in members)
    mem = sum(n.memory_mb for n in members)
    gpus = sum(n.gpus for n in members)
    tres = f"cpu={cpus}"
    if mem:
        tres += f",mem={_mem_str(mem)}"
    tres += f",node={len(p.nodes)},billing={cpus}"
    if gpus:
        tres += f",gres/gpu={gpus}"
    default_time = "NONE" if p.default_time_min is None else fmt_secs_long(p.default_time_min * 60)
    max_time = "UNLIMITED" if p.max_time_min is None else fmt_secs_long(p.max_time_min * 60)
    max_nodes = "UNLIMITED" if p.max_nodes is None else str(p.max_nodes)
    lines = [
        f"PartitionName={p.name}",
        "AllowGroups=ALL AllowAccounts=ALL AllowQos=ALL",
        f"AllocNodes=ALL Default={'YES' if p.default else 'NO'} QoS=N/A",
        f"DefaultTime={default_time} DisableRootJobs=NO ExclusiveUser=NO GraceTime=0 Hidden=NO",
        f"MaxNodes={max_nodes} MaxTime={max_time} MinNodes={p.min_nodes} LLN=NO MaxCPUsPerNode=UNLIMITED",
        f"Nodes={hostlist.compress(p.nodes) or '(null)'}",
        f"PriorityJobFactor={p.priority_job_factor} PriorityTier={p.priority_tier} RootOnly=NO "
        "ReqResv=NO OverSubscribe=NO",
        "OverTimeLimit=NONE PreemptMode=OFF",
        f"State={p.state} TotalCPUs={cpus} TotalNodes={len(p.nodes)} SelectTypeParameters=NONE",
        "JobDefaults=(null)",
        "DefMemPerNode=UNLIMITED MaxMemPerNode=UNLIMITED",
        f"TRES={tres}",
    ]
    line_end = " " if one_liner else "\n   "
    return line_end.join(lines) + ("\n" if one_liner else "\n\n")


def _show_partitions(s: _Session, val: str | None) -> None:
    parts = list(s.backend.partitions())
    if s.quiet == -1:
        s.out.append(f"last_update_time={fmt_timestamp(s.backend.now())}, records={len(parts)}\n")
    nodes = {n.name: n for n in s.backend.nodes()}
    printed = 0
    for p in parts:
        if val is not None and p.name != val:
            continue
        s.out.append(format_partition(p, nodes, one_liner=s.one_liner))
        printed += 1
        if val is not None:
            break
    if printed == 0:
        if val is not None:
            s.exit_code = 1
            if s.quiet != 1:
                s.out.append(f"Partition {val} not found\n")
        elif s.quiet != 1:
            s.out.append("No partitions in the system\n")


# -- hostlists --------------------------------------------------------------------------------


def _show_hostnames(s: _Session, val: str | None) -> None:
    text = val if val is not None else s.ctx.env.get("SLURM_NODELIST")
    if text is None:
        # error() without setting the exit code, as scontrol_print_hosts does.
        if s.quiet != 1:
            s.err.append(f"{PROG}: error: host list is empty\n")
        return
    try:
        names = hostlist.expand(text)
    except hostlist.HostlistError:
        s.err.append(f"Invalid hostlist: {text}\n")
        return
    s.out.extend(name + "\n" for name in names)


def _show_hostlist(s: _Session, val: str | None, sorted_: bool) -> None:
    if val is None:
        s.error("invalid encode argument", always=True)
        s.out.append(USAGE)
        return
    text = val
    if val.startswith("/"):
        # A file of host names on the client's machine: ask the client for it.
        if val not in s.ctx.files:
            s.need_file = val
            return
        data = s.ctx.files[val]
        if data is None:
            s.error(f"Can not open {val}", always=True)
            return
        if len(data) >= 1024 * 1024:
            s.error(f"File {val} is too large", always=True)
            return
        text = data.decode(errors="replace").replace("\n", ",")
        while ",," in text:
            text = text.replace(",,", ",")
    try:
        names = hostlist.expand(text)
    except hostlist.HostlistError:
        s.error(f"Invalid hostlist: {text}", always=True)
        return
    if sorted_:
        names.sort(key=hostlist.sort_key)
    s.out.append(compress_in_order(names) + "\n")


# -- config -----------------------------------------------------------------------------------


def _backend_config(backend: SlurmBackend) -> Mapping[str, str]:
    """The optional ``slurm_config()`` of a backend: more ``show config`` keys, values as printed."""
    fn = getattr(backend, "slurm_config", None)
    if not callable(fn):
        return {}
    values = fn()
    return {str(k): str(v) for k, v in dict(values).items()}


def format_config(backend: SlurmBackend, now: float) -> str:
    """``show config``: the header, ``Key = Value`` lines in Slurm's order, then the ping line."""
    values: dict[str, str] = {
        "ClusterName": backend.cluster_name,
        "MaxArraySize": str(backend.max_array_size),
        "SLURM_VERSION": SLURM_VERSION,
    }
    values.update(_backend_config(backend))
    order = {k: i for i, k in enumerate(CONFIG_ORDER)}
    keys = sorted(values, key=lambda k: (order.get(k, len(order)), k.lower()))
    out = [f"Configuration data as of {fmt_timestamp(now)}\n"]
    out.extend(f"{k:<23} = {values[k]}\n" for k in keys)
    out.append("\n")
    out.append(f"Slurmctld(primary) at {_short_host()} is UP\n")
    return "".join(out)


# -- show ----------------------------------------------------------------------------------------


def _show(s: _Session, words: Sequence[str]) -> None:
    if len(words) < 2:
        s.error(f"too few arguments for keyword:{words[0]}")
        return
    if len(words) > 3:
        s.error(f"too many arguments for keyword:{words[0]}")
        return
    entity = words[1]
    tag, eq, after = entity.partition("=")
    val: str | None = after if eq else (words[2] if len(words) == 3 else None)
    if _kw(tag, "aliases", 1):
        return  # stratus nodes have no aliases: Slurm prints nothing either
    if _kw(tag, "bbstat", 2) or _kw(tag, "dwstat", 2) or _kw(tag, "burstbuffer", 2):
        s.error(f"{PROG}: error: burst buffers are not supported by stratus")
    elif _kw(tag, "assoc_mgr", 2) or _kw(tag, "cache", 2):
        s.error(f"{PROG}: error: the association manager is not supported by stratus")
    elif _kw(tag, "config", 1):
        s.out.append(format_config(s.backend, s.backend.now()))
    elif _kw(tag, "daemons", 1):
        if val is not None:
            s.error(f"too many arguments for keyword:{words[0]}")
        else:
            s.error(f"{PROG}: error: show daemons is not supported by stratus")
    elif _kw(tag, "Federations", 1) or _kw(tag, "FrontendName", 1):
        s.error(f"{PROG}: error: show {tag} is not supported by stratus")
    elif _kw(tag, "hostnames", 5):
        _show_hostnames(s, val)
    elif _kw(tag, "hostlist", 5):
        _show_hostlist(s, val, False)
    elif _kw(tag, "hostlistsorted", 9):
        _show_hostlist(s, val, True)
    elif _kw(tag, "jobs", 1) or _kw(tag, "jobid", 1):
        _show_jobs(s, val)
    elif _kw(tag, "licenses", 2):
        s.out.append("No licenses configured in Slurm.\n")
    elif _kw(tag, "nodes", 1):
        _show_nodes(s, val)
    elif _kw(tag, "partitions", 2) or _kw(tag, "partitionname", 2):
        _show_partitions(s, val)
    elif _kw(tag, "reservations", 1) or _kw(tag, "reservationname", 1):
        if val is not None:
            s.exit_code = 1
            if s.quiet != 1:
                s.out.append(f"Reservation {val} not found\n")
        elif s.quiet != 1:
            s.out.append("No reservations in the system\n")
    elif _kw(tag, "slurmd", 2) or _kw(tag, "steps", 2) or _kw(tag, "topology", 1):
        s.error(f"{PROG}: error: show {tag} is not supported by stratus")
    else:
        s.error(f"invalid entity:{tag} for keyword:{words[0]} ")


# -- job actions ------------------------------------------------------------------------------


def _strip_job_prefix(arg: str) -> str:
    """scontrol accepts ``JobID=18`` and ``Job=18`` where a job id is expected."""
    if arg[:6].lower() == "jobid=":
        arg = arg[6:]
    if arg[:4].lower() == "job=":
        arg = arg[4:]
    return arg


def _parse_targets(text: str) -> list[JobTarget] | None:
    """A job id argument (``18``, ``18_5``, ``18_[1-3]``, ``18,19``) by scancel's rules; None if bad.

    Spaces separate ids like commas, as in scontrol's own check.
    """
    words = [w for w in text.replace(" ", ",").split(",") if w]
    if not words:
        return None
    try:
        return [p.target for p in parse_job_ids([",".join(words)])]
    except SlurmError:
        return None


def _report(s: _Session, result: ControlResult, action: str) -> None:
    """Print a control result the way scontrol does for ``action``."""
    reasons: list[str] = []
    for line in result.errors:
        s.error(line)
        # A backend may word whole-job refusals itself ("<reason> for job <id>").
        reason, sep, _ = line.rpartition(" for job ")
        if sep:
            reasons.append(reason)
    for job_text, reason in result.failures:
        s.error(f"{reason} for job {job_text}")
        reasons.append(reason)
    if reasons and action in ("hold", "uhold", "release"):
        # slurm_perror after a failed hold or release repeats the last error.
        s.error(f"{HOLD_PERROR}: {reasons[-1]}")
    if result.exit_code:
        s.exit_code = max(s.exit_code, result.exit_code)


def _job_action(s: _Session, action: str, words: Sequence[str]) -> None:
    """hold / uhold / release / requeue / requeuehold: one request per job argument."""
    if len(words) < 2:
        s.error(f"too few arguments for keyword:{words[0]}")
        return
    args = list(words[1:])
    if action in ("requeue", "requeuehold"):
        # Leading flags (parse_requeue_flags) are accepted; stratus requeues the same way.
        while args and _is_requeue_flag(args[0]):
            args.pop(0)
    for arg in args:
        if action not in ("hold", "uhold", "release") and not arg:
            s.exit_code = 1
            continue
        text = _strip_job_prefix(arg)
        targets = _parse_targets(text)
        if targets is None:
            if action in ("hold", "uhold", "release") and (
                text[:5].lower() == "name=" or text[:8].lower() == "jobname="
            ):
                targets = _targets_by_name(s, text.partition("=")[2])
                if not targets:
                    continue
            else:
                s.error(f"{INVALID_JOB_ID} for job {text}")
                if action in ("hold", "uhold", "release"):
                    s.error(f"{HOLD_PERROR}: {INVALID_JOB_ID}")
                continue
        result = s.backend.control(ControlRequest(action=action, targets=targets), s.ctx)
        _report(s, result, action)


def _is_requeue_flag(arg: str) -> bool:
    """``Incomplete`` (any abbreviation) or ``State=SpecialExit``/``State=SE...``, as scontrol reads them."""
    low = arg.lower()
    if "incomplete".startswith(low):
        return True
    rest = low[6:] if low.startswith("state=") else None
    return rest is not None and (rest.startswith("specialexit") or rest.startswith("se"))


def _targets_by_name(s: _Session, name: str) -> list[JobTarget]:
    """``hold Name=x``: every job of that name (array records as their array)."""
    out: list[JobTarget] = []
    for r in s.backend.jobs():
        if r.name != name:
            continue
        if r.array_pending is not None and r.array_job_id is not None:
            out.append(JobTarget(r.array_job_id, r.array_pending.copy()))
        elif r.array_task_id is not None and r.array_job_id is not None:
            if not jobstate.is_pending(r.state):
                continue  # started tasks are skipped silently, as scontrol does
            out.append(JobTarget(r.array_job_id, IndexSet.from_ids([r.array_task_id])))
        else:
            out.append(JobTarget(r.job_id))
    return out


@dataclass(frozen=True, slots=True)
class _UpdateKey:
    """One ``scontrol update`` job key: its Slurm spelling and minimum abbreviation."""

    name: str
    min_len: int
    check: Callable[[str], str | None] | None = None  # returns an error message, or None


def _check_uint(name: str) -> Callable[[str], str | None]:
    def check(val: str) -> str | None:
        return None if val.isdigit() else f"Invalid {name} value: {val}"

    return check


def _check_num_cpus(val: str) -> str | None:
    lo, dash, hi = val.partition("-")
    ok = lo.isdigit() and int(lo) > 0 and (not dash or (hi.isdigit() and int(hi) >= int(lo)))
    return None if ok else f"Invalid NumCPUs value: {val}"


def _check_nice(val: str) -> str | None:
    digits = val.lstrip("+-")
    n = int(val) if digits.isdigit() else 0
    if abs(n) > NICE_OFFSET - 3:
        return f"Nice value out of range (+/- {NICE_OFFSET - 3}). Value ignored"
    return None


def _check_yes_no(name: str) -> Callable[[str], str | None]:
    def check(val: str) -> str | None:
        v = val.lower()
        if v and ("yes".startswith(v) or "no".startswith(v) or v.isdigit()):
            return None
        return f"Invalid {name} value: {val}"

    return check


# In scontrol's order (update_job.c): the first key the tag abbreviates wins.
UPDATE_KEYS: tuple[_UpdateKey, ...] = (
    _UpdateKey("JobId", 3),
    _UpdateKey("AdminComment", 6),
    _UpdateKey("SiteFactor", 5),
    _UpdateKey("ArrayTaskThrottle", 10, _check_uint("ArrayTaskThrottle")),
    _UpdateKey("Comment", 3),
    _UpdateKey("Clusters", 8),
    _UpdateKey("ClusterFeatures", 8),
    _UpdateKey("DelayBoot", 5),
    _UpdateKey("TimeLimit", 5),
    _UpdateKey("TimeMin", 5),
    _UpdateKey("Priority", 2, _check_uint("Priority")),
    _UpdateKey("Nice", 2, _check_nice),
    _UpdateKey("CPUsPerTask", 9, _check_uint("CPUsPerTask")),
    _UpdateKey("CpusPerTres", 9),
    _UpdateKey("NumCPUs", 6, _check_num_cpus),
    _UpdateKey("NumTasks", 8, _check_uint("NumTasks")),
    _UpdateKey("ReqProcs", 8, _check_uint("NumTasks")),
    _UpdateKey("Requeue", 4, _check_uint("Requeue")),
    _UpdateKey("ReqNodes", 8),
    _UpdateKey("NumNodes", 8),
    _UpdateKey("ReqSockets", 4, _check_uint("ReqSockets")),
    _UpdateKey("ReqCores", 4, _check_uint("ReqCores")),
    _UpdateKey("TasksPerNode", 2, _check_uint("TasksPerNode")),
    _UpdateKey("ReqThreads", 4, _check_uint("ReqThreads")),
    _UpdateKey("MinCPUsNode", 4, _check_uint("MinCPUsNode")),
    _UpdateKey("MinMemoryNode", 10, _check_uint("MinMemoryNode")),
    _UpdateKey("MinMemoryCPU", 10, _check_uint("MinMemoryCPU")),
    _UpdateKey("MinTmpDiskNode", 5, _check_uint("MinTmpDiskNode")),
    _UpdateKey("Partition", 2),
    _UpdateKey("QOS", 2),
    _UpdateKey("ReservationName", 3),
    _UpdateKey("Name", 2),
    _UpdateKey("JobName", 4),
    _UpdateKey("WCKey", 1),
    _UpdateKey("StdOut", 6),
    _UpdateKey("Switches", 5),
    _UpdateKey("wait-for-switch", 5, _check_uint("wait-for-switch")),
    _UpdateKey("OverSubscribe", 2, _check_yes_no("OverSubscribe")),
    _UpdateKey("Shared", 2, _check_yes_no("OverSubscribe")),
    _UpdateKey("Contiguous", 3, _check_yes_no("Contiguous")),
    _UpdateKey("CoreSpec", 4),
    _UpdateKey("MemPerTres", 5),
    _UpdateKey("ThreadSpec", 4),
    _UpdateKey("TresBind", 5),
    _UpdateKey("TresFreq", 5),
    _UpdateKey("TresPerJob", 8),
    _UpdateKey("TresPerNode", 8),
    _UpdateKey("TresPerSocket", 8),
    _UpdateKey("TresPerTask", 8),
    _UpdateKey("ExcNodeList", 3),
    _UpdateKey("NodeList", 8),
    _UpdateKey("ReqNodeList", 8),
    _UpdateKey("Features", 1),
    _UpdateKey("Prefer", 3),
    _UpdateKey("Gres", 2),
    _UpdateKey("Account", 1),
    _UpdateKey("BurstBuffer", 1),
    _UpdateKey("Dependency", 1),
    _UpdateKey("Licenses", 1),
    _UpdateKey("EligibleTime", 2),
    _UpdateKey("StartTime", 2),
    _UpdateKey("EndTime", 2),
    _UpdateKey("Reboot", 3, _check_yes_no("reboot")),
    _UpdateKey("UserID", 3),
    _UpdateKey("Deadline", 3),
    _UpdateKey("WorkDir", 2),
    _UpdateKey("MailType", 5),
    _UpdateKey("MailUser", 5),
)
# Spellings that name the same setting.
_CANONICAL = {"Name": "JobName", "ReqProcs": "NumTasks", "ReqNodes": "NumNodes", "Shared": "OverSubscribe",
              "ReqNodeList": "NodeList", "StartTime": "EligibleTime"}  # fmt: skip


def _match_update_key(tag: str) -> _UpdateKey | None:
    return next((k for k in UPDATE_KEYS if _kw(tag, k.name, k.min_len)), None)


def parse_update(words: Sequence[str]) -> tuple[ControlRequest | None, list[str]]:
    """``update JobId=18 TimeLimit=1:00:00 ...`` to a request, or (None, error lines).

    Keys are matched as scontrol matches them (any case, Slurm's abbreviations, ``Key Value``
    as two words) and stored in Slurm's spelling with the value as given. Values scontrol
    checks itself are checked here, with its messages. A relative ``TimeLimit`` (``+=10``,
    ``=+10``, ``-=5``, ``=-5``) is stored as ``+N``/``-N`` minutes for :func:`run_scontrol` to
    resolve against the job's current limit, as scontrol does before sending the update.
    ``UserID=`` only narrows a ``JobName=`` lookup and is kept under ``UserID``.
    """
    fields: dict[str, str] = {}
    job_text: str | None = None
    i = 0
    while i < len(words):
        word = words[i]
        tag, eq, val = word.partition("=")
        sign = ""
        if eq:
            if len(tag) > 1 and tag[-1] in "+-":
                sign, tag = tag[-1], tag[:-1]
        elif _kw(word, "Nice", 2):
            fields["Nice"] = "100"
            i += 1
            continue
        elif _kw(word, "ResetAccrueTime", 3):
            fields["ResetAccrueTime"] = ""
            i += 1
            continue
        elif i + 1 < len(words):
            val = words[i + 1]
            i += 1
        else:
            return None, [f"Invalid input: {word}", "Request aborted"]
        i += 1
        key = _match_update_key(tag)
        if key is None:
            return None, [f"Update of this parameter is not supported: {word}", "Request aborted"]
        if key.name == "JobId":
            job_text = val
        elif key.name == "TimeLimit":
            if val[:1] in ("+", "-"):
                if sign:
                    return None, [f"{PROG}: error: Invalid syntax, variations of +=- are not accepted."]
                sign, val = val[0], val[1:]
            try:
                minutes = duration_mins(val)
            except TimeSpecError:
                return None, [f"{PROG}: error: Invalid TimeLimit value"]
            if sign:
                if job_text is None:
                    return None, [f"{PROG}: error: JobId must precede TimeLimit increment or decrement"]
                fields["TimeLimit"] = f"{sign}{minutes if minutes is not None else 'UNLIMITED'}"
                sign = ""
            else:
                fields["TimeLimit"] = val
        elif key.name == "UserID":
            fields["UserID"] = val
        else:
            if key.check is not None:
                msg = key.check(val)
                if msg is not None:
                    return None, [f"{PROG}: error: {msg}"]
            fields[_CANONICAL.get(key.name, key.name)] = val
        if sign and key.name != "AdminComment":
            return None, [f"{PROG}: error: Option {word} does not accept [+|-]= syntax"]
    if not [k for k in fields if k != "UserID"]:
        return None, ["No changes specified"]
    if job_text is None:
        if "JobName" not in fields:
            return None, [f"{PROG}: error: No job ID specified"]
        return ControlRequest(action="update", fields=fields), []
    targets = _parse_targets(job_text)
    if targets is None:
        return None, [f"{INVALID_JOB_ID} for job {job_text}"]
    req = ControlRequest(action="update", targets=targets, fields=fields)
    if "TimeLimit" in fields and fields["TimeLimit"][:1] in ("+", "-"):
        req.fields["JobId"] = job_text  # the relative limit is resolved against this job
    return req, []


def _resolve_relative_limit(s: _Session, req: ControlRequest) -> bool:
    """Turn ``TimeLimit=+N``/``-N`` into an absolute limit from the job's current one.

    scontrol does this itself (_get_job_time) before sending the update; errors are its own.
    """
    job_text = req.fields.pop("JobId", "")
    rel = req.fields.get("TimeLimit", "")
    if rel[:1] not in ("+", "-"):
        return True
    head, us, tail = job_text.partition("_")
    if not head.isdigit() or (us and not tail.isdigit()):
        s.error(f"{PROG}: error: Invalid job ID {job_text}", always=True)
        return False
    records = _job_records(list(s.backend.jobs()), int(head))
    if not records:
        s.error(f"{PROG}: error: Could not load state information for job {job_text}: {INVALID_JOB_ID}",
                always=True)  # fmt: skip
        return False
    task = int(tail) if us else None
    if len(records) > 1 and task is None:
        s.error(f"{PROG}: error: TimeLimit increment/decrement not supported for job arrays", always=True)
        return False
    match = next(
        (
            r
            for r in records
            if task is None
            or r.array_task_id == task
            or (r.array_pending is not None and task in r.array_pending)
        ),
        None,
    )
    if match is None:
        s.exit_code = 1
        return False
    delta = rel[1:]
    if match.time_limit_min is None or delta == "UNLIMITED":
        req.fields["TimeLimit"] = "UNLIMITED"
        return True
    current, change = match.time_limit_min, int(delta)
    if rel[0] == "+":
        req.fields["TimeLimit"] = str(current + change)
    elif change > current:
        s.error(
            f"{PROG}: error: TimeLimit decrement larger than current time limit ({change} > {current})",
            always=True,
        )
        return False
    else:
        req.fields["TimeLimit"] = str(current - change)
    return True


def _update(s: _Session, words: Sequence[str]) -> None:
    if len(words) < 2:
        s.error(f"too few arguments for {words[0]} keyword", always=True)
        return
    args = list(words[1:])
    entity = _update_entity(args)
    if entity is None:
        for line in (
            "No valid entity in update command",
            'Input line must include "NodeName", "PartitionName", "Reservation", '
            '"JobId", or "SlurmctldDebug"',
        ):
            s.error(line, always=True)
        return
    if entity != "job":
        s.error(f"{PROG}: error: scontrol update of {entity} is not supported by stratus", always=True)
        return
    req, errs = parse_update(args)
    if req is None:
        for line in errs:
            s.error(line, always=True)
        return
    if not _resolve_relative_limit(s, req):
        return
    user = req.fields.pop("UserID", None)
    if not req.targets:
        # JobName= without JobId=: the jobs of that name (_job_name2id), of one user if UserID= given.
        name = req.fields["JobName"]
        targets = [
            JobTarget(r.array_job_id, IndexSet.from_ids([r.array_task_id]))
            if r.array_job_id is not None and r.array_task_id is not None
            else JobTarget(r.job_id)
            for r in s.backend.jobs()
            if r.name == name and (user is None or user in (r.user, str(r.uid)))
        ]
        if not targets:
            who = "" if user is None else f"user ID {user} and "
            s.error(f"{PROG}: error: No jobs with {who}name '{name}'", always=True)
            return
        req.targets = targets
    _report(s, s.backend.control(req, s.ctx), "update")


def _update_entity(args: Sequence[str]) -> str | None:
    """Which entity an update names (scontrol's _update_it): job first, then the others."""
    found: set[str] = set()
    i = 0
    while i < len(args):
        tag, eq, _ = args[i].partition("=")
        if not eq:
            i += 1  # "Key Value": the next word is the value
        if _kw(tag, "NodeName", 3):
            found.add("nodes")
        elif _kw(tag, "PartitionName", 3):
            found.add("partitions")
        elif _kw(tag, "JobId", 3) or _kw(tag, "JobNAME", 3):
            found.add("job")
        elif _kw(tag, "StepId", 4):
            found.add("steps")
        elif _kw(tag, "FrontendName", 2):
            found.add("front end nodes")
        elif _kw(tag, "ReservationName", 3):
            found.add("reservations")
        elif _kw(tag, "SlurmctldDebug", 2):
            found.add("the controller's debug level")
        i += 1
    for entity in ("job", "steps", "reservations", "nodes", "front end nodes", "partitions",
                   "the controller's debug level"):  # fmt: skip
        if entity in found:
            return entity
    return None


# -- the command -------------------------------------------------------------------------------


def _process(s: _Session, words: Sequence[str]) -> None:
    """scontrol's _process_command: the first word picks the keyword, by Slurm's abbreviations."""
    tag = words[0]
    unsupported = (
        ("abort", 5), ("cancel_reboot", 3), ("completing", 2), ("cluster", 2), ("create", 2),
        ("errnumstr", 2), ("errnostr", 2), ("gethost", 7), ("hash_file", 15), ("hash", 9),
    )  # fmt: skip
    if _kw(tag, "all", 2) or _kw(tag, "details", 1) or _kw(tag, "exit", 2):
        return
    for name, n in unsupported:
        if _kw(tag, name, n):
            s.error(f"{PROG}: error: {name} is not supported by stratus", always=True)
            return
    if _kw(tag, "help", 2):
        if len(words) > 1:
            s.error(f"too many arguments for keyword:{tag}", always=True)
        s.out.append(USAGE)
    elif _kw(tag, "hide", 2) or _kw(tag, "oneliner", 1):
        return
    elif _kw(tag, "pidinfo", 3):
        s.error(f"{PROG}: error: pidinfo is not supported by stratus", always=True)
    elif _kw(tag, "ping", 3):
        if len(words) > 1:
            s.error(f"too many arguments for keyword:{tag}", always=True)
        else:
            s.out.append(f"Slurmctld(primary) at {_short_host()} is UP\n")
    elif _kw_fixed(tag, "\\q") or _kw(tag, "quiet", 4) or _kw(tag, "quit", 4):
        return
    elif _kw(tag, "reboot_nodes", 3) or _kw(tag, "reconfigure", 3):
        s.error(f"{PROG}: error: {tag} is not supported by stratus", always=True)
    elif _kw(tag, "requeue", 3):
        _job_action(s, "requeue", words)
    elif _kw_fixed(tag, "requeuehold"):
        _job_action(s, "requeuehold", words)
    elif _kw_fixed(tag, "holdu") or _kw_fixed(tag, "uhold"):
        _job_action(s, "uhold", words)
    elif _kw_fixed(tag, "hold"):
        _job_action(s, "hold", words)
    elif _kw(tag, "release", 3):
        _job_action(s, "release", words)
    elif any(_kw(tag, name, n) for name, n in (
        ("suspend", 2), ("resume", 3), ("top", 3), ("token", 3), ("wait_job", 2),
        ("setdebugflags", 9), ("fsdampeningfactor", 3), ("fairsharedampeningfactor", 3),
        ("setdebug", 2), ("schedloglevel", 3),
    )):  # fmt: skip
        s.error(f"{PROG}: error: {tag} is not supported by stratus", always=True)
    elif _kw(tag, "show", 3):
        _show(s, words)
    elif any(_kw(tag, name, n) for name, n in (("write", 5), ("takeover", 8), ("shutdown", 8))):
        s.error(f"{PROG}: error: {tag} is not supported by stratus", always=True)
    elif _kw(tag, "update", 1):
        _update(s, words)
    elif _kw(tag, "delete", 1):
        s.error(f"{PROG}: error: delete is not supported by stratus", always=True)
    elif _kw(tag, "verbose", 4):
        return
    elif _kw(tag, "version", 4):
        s.out.append(version_line())
    elif any(_kw(tag, name, n) for name, n in (("listpids", 1), ("getent", 6), ("notify", 1),
                                               ("callerid", 3))):  # fmt: skip
        s.error(f"{PROG}: error: {tag} is not supported by stratus", always=True)
    else:
        s.error(f"invalid keyword: {tag}", always=True)


def run_scontrol(argv: Sequence[str], ctx: ClientContext, backend: SlurmBackend) -> CommandResult:
    """Parse scontrol's options, run its one command against ``backend``, print as Slurm does."""
    if "SLURM_CLUSTERS" in ctx.env:
        check_clusters(PROG, ctx.env["SLURM_CLUSTERS"], backend.cluster_name, from_env=True)
    try:
        opts, words = getopt_long(PROG, argv, SHORTOPTS, LONGOPTS)
    except OptionError as exc:
        raise SlurmError([str(exc), f'Try "{PROG} --help" for more information'], 1) from None
    s = _Session(ctx, backend)
    for key, val in opts:
        if key == "d":
            s.details = True
        elif key == "h":
            return CommandResult(stdout=USAGE)
        elif key == "hide":
            s.details = False
        elif key == "M":
            check_clusters(PROG, val or "", backend.cluster_name)
        elif key == "o":
            s.one_liner = True
        elif key == "Q":
            s.quiet = 1
        elif key == "v":
            s.quiet = -1
        elif key == "V":
            return CommandResult(stdout=version_line())
        # -a/--all, -F/--future, -u/--uid, --federation, --local, --sibling: nothing to change.
    if not words:
        raise SlurmError(
            f"{PROG}: error: interactive mode is not supported by stratus; give the command as arguments", 1
        )
    _process(s, words)
    return s.result()


USAGE = """\
scontrol [<OPTION>] [<COMMAND>]
    Valid <OPTION> values are:
     -a or --all: equivalent to "all" command
     -d or --details: equivalent to "details" command
     -h or --help: equivalent to "help" command
     -M or --cluster: equivalent to "cluster" command
     -o or --oneliner: equivalent to "oneliner" command
     -Q or --quiet: equivalent to "quiet" command
     -v or --verbose: equivalent to "verbose" command
     -V or --version: equivalent to "version" command

  <keyword> may be omitted from the execute line and scontrol will execute
  in interactive mode (not available with stratus).
    Valid <COMMAND> values are:
     help                     show this description of use.
     hold <job_list>          prevent specified job from starting. <job_list>
                              is either a space separate list of job IDs or
                              job names
     ping                     print status of slurmctld daemons.
     release <job_list>       permit specified job to start (see hold).
     requeue <job_id>         re-queue a batch job
     requeuehold <job_id>     re-queue and hold a batch
     show <ENTITY> [<ID>]     display state of identified entity, default
                              is all records.
     uhold <job_list>         place user hold on specified job (see hold).
     update <SPECIFICATIONS>  update job configuration.
     version                  display tool version number.

  <ENTITY> may be "config", "hostnames", "hostlist", "hostlistsorted",
       "job", "licenses", "node", "partition" or "reservation".

  <ID> may be a configuration parameter name, job id, node name, partition
       name, hostlist or hostnames.

  Node names may be specified using simple range expressions,
  (e.g. "lx[10-20]" corresponds to lx10, lx11, lx12, ...)
  The job step id is the job id followed by a period and the step id.

  <SPECIFICATIONS> are specified in the same format as the configuration
  file. You may wish to use the "show" keyword then use its output as
  input for the update keyword, editing as needed.  Bracketed names are
  optional.

  All commands and options are case-insensitive, although node names and
  partition names tests are case-sensitive (node names "LX" and "lx"
  are distinct).
"""

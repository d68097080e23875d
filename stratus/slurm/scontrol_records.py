"""``scontrol show`` records: jobs, nodes, partitions and the configuration, as Slurm prints them.

Guarantees: ``Key=Value`` lines indented by three spaces with each record followed by a blank
line (``-o``: one line per record, ending in a space); field order, optional lines and trailing
spaces are those of Slurm 22.05's ``slurm_sprint_job_info``, ``slurm_sprint_node_table`` and
``slurm_sprint_partition_info``. One line is stratus's own: a job waiting rather than powering up
paid cloud nodes (reason ``BurstDeferred``) shows ``BurstCost=`` after its ``StartTime`` line
(see :func:`burst_cost`). The ``TRES`` strings are shared with the JSON dumps of
:mod:`stratus.slurm.openapi`.
"""

from __future__ import annotations

import grp
import socket
from collections.abc import Mapping
from dataclasses import dataclass

from stratus.slurm import SLURM_VERSION, hostlist, jobstate, nodestate
from stratus.slurm.arrays import format_task_ids
from stratus.slurm.timefmt import (
    NO_VAL,
    UNIT_MEGA,
    convert_num_unit,
    fmt_mins_long,
    fmt_secs_long,
    fmt_timestamp,
)
from stratus.slurm.views import JobRow, NodeRow, PartitionRow, SlurmBackend

# The keys of ``show config`` in the order slurm_print_ctl_conf prints them; keys a backend adds
# that are not listed here follow in alphabetical order.
CONFIG_ORDER: tuple[str, ...] = (
    "AccountingStorageType", "AuthType", "BOOT_TIME", "ClusterName", "DefMemPerNode",
    "EnforcePartLimits", "FirstJobId", "JobRequeue", "MaxArraySize", "MaxJobCount",
    "MaxMemPerNode", "MinJobAge", "NEXT_JOB_ID", "PrivateData", "ResumeProgram", "ResumeRate",
    "ResumeTimeout", "SchedulerType", "SelectType", "SelectTypeParameters", "SlurmctldHost[0]",
    "SLURM_CONF", "SLURM_VERSION", "SuspendExcNodes", "SuspendExcParts", "SuspendProgram",
    "SuspendRate", "SuspendTime", "SuspendTimeout",
)  # fmt: skip


# -- jobs --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class JobFormatContext:
    """What formatting a job needs besides its row."""

    now: float
    host: str
    part_first_mem: Mapping[str, int]  # RealMemory of each partition's first node
    bitstr_len: int = 64


def short_host() -> str:
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


def _start_time(row: JobRow, now: float) -> float | None:
    """StartTime: the start; for a pending job whose eligible time is still to come, that time
    (slurmctld reports a future begin time as the earliest start); for a job waiting rather than
    bursting, its planned start (as slurmctld reports the backfill scheduler's expected start)."""
    if jobstate.is_pending(row.state) and row.start_time is None:
        if row.planned_start is not None:
            return row.planned_start
        t = row.eligible_time
        return t if t is not None and t > now else None
    return row.start_time


def _end_time(row: JobRow, now: float) -> str:
    """EndTime: the end, or the expected end of a running job (or of a pending job with a
    future begin time); Unknown for an unlimited one."""
    end = row.end_time
    if end is None and jobstate.is_running(row.state) and row.start_time and row.time_limit_min is not None:
        end = row.start_time + row.time_limit_min * 60
    begin = _start_time(row, now) if jobstate.is_pending(row.state) else None
    if end is None and begin is not None and row.time_limit_min is not None:
        end = begin + row.time_limit_min * 60
    if row.time_limit_min is None and end is not None and end > now:
        return "Unknown"
    return fmt_timestamp(end)


def burst_cost(row: JobRow) -> str | None:
    """``BurstCost=`` (stratus's own): what powering up the paid nodes a ``BurstDeferred`` job
    waits to avoid would cost, in dollars: their hourly price times its time limit in hours
    (``$0.34``; four decimals when two would show a non-zero cost as ``$0.00``), or their
    hourly price alone for a job without a time limit (``$0.34/h``). None for any other job."""
    if row.burst_price_per_hour is None:
        return None
    if row.burst_cost is None:
        return f"${_dollars(row.burst_price_per_hour)}/h"
    return f"${_dollars(row.burst_cost)}"


def _dollars(amount: float) -> str:
    text = f"{amount:.2f}"
    return f"{amount:.4f}" if text == "0.00" and amount > 0 else text


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


def requested_memory_mb(row: JobRow, part_first_mem: Mapping[str, int]) -> int | None:
    """The memory a job asks for in all, as slurmctld counts it for its requested TRES:
    ``--mem`` times its nodes, ``--mem-per-cpu`` times its CPUs, else the memory of the first
    node of its partition times its nodes (the request of a job that gives none)."""
    nodes = max(row.num_nodes, 1)
    if row.min_memory_mb:
        return row.min_memory_mb * nodes
    if row.min_memory_cpu_mb:
        return row.min_memory_cpu_mb * max(row.num_cpus, 1)
    node_mem = part_first_mem.get(row.partition.split(",")[0], 0)
    return node_mem * nodes if node_mem else None


def job_tres(row: JobRow, part_first_mem: Mapping[str, int], *, request: bool = False) -> str:
    """The ``TRES=`` value: the allocation once started, the request before (always the request
    with ``request``: slurmctld's tres_req_str).

    A job that never ran shows its request, memory included (:func:`requested_memory_mb`).
    A started job, or one pending again after a requeue (Slurm keeps its last allocation),
    shows its allocation, where memory appears only when memory is a consumable resource
    (``CR_CPU_Memory``, ParallelCluster's EnableMemoryBasedScheduling): under ``CR_CPU``
    Slurm 22.05 allocates no memory, whatever ``--mem`` asked.
    """
    parts = [f"cpu={row.num_cpus}"]
    pending_first_time = jobstate.is_pending(row.state) and row.restarts == 0
    mem: int | None = None
    if pending_first_time or request:
        mem = requested_memory_mb(row, part_first_mem)
    elif row.memory_consumable:
        # The allocation's memory; a requeued job no longer holds one, so its request stands in.
        mem = row.alloc_memory_mb or requested_memory_mb(row, part_first_mem)
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


def format_job(row: JobRow, jc: JobFormatContext, *, one_liner: bool = False, details: bool = False,
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
    # slurm_sprint_job_info prints a job's state_desc, blanks made underscores, over its reason.
    if row.state_desc:
        reason = "".join("_" if ch.isspace() else ch for ch in row.state_desc)
    else:
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
    lines.append(
        f"StartTime={fmt_timestamp(_start_time(row, jc.now))} EndTime={_end_time(row, jc.now)} Deadline=N/A"
    )
    cost = burst_cost(row)
    if cost is not None:
        lines.append(f"BurstCost={cost}")
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
    # MinMemoryCPU for --mem-per-cpu, MinMemoryNode otherwise (0 when no memory was asked for).
    if row.min_memory_cpu_mb:
        min_mem = f"MinMemoryCPU={_mem_str(row.min_memory_cpu_mb)}"
    else:
        min_mem = f"MinMemoryNode={_mem_str(row.min_memory_mb) if row.min_memory_mb else '0'}"
    lines.append(f"MinCPUsNode={row.cpus_per_task} {min_mem} MinTmpDiskNode=0")
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


# -- partitions --------------------------------------------------------------------------------


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


# -- config ------------------------------------------------------------------------------------


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
    out.append(f"Slurmctld(primary) at {short_host()} is UP\n")
    return "".join(out)

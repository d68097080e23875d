"""Engine records as the rows Slurm's commands print (squeue, sinfo, scontrol, sacct, sprio, sshare).

Pure functions of the records the cluster service returns: no state, no store access. The
front door's backend caches what is costly to rebuild (see :func:`version`).
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from stratus.engine.cost import ended_run_use, open_run_use, run_cost
from stratus.engine.fairshare import ShareRow as FairShareRow
from stratus.engine.model import Job, NodeDef, Partition, PriorityConfig
from stratus.engine.priority import Factors
from stratus.engine.states import BURST_DEFERRED, JobState, NodeState
from stratus.service.model import NodeRecord
from stratus.slurm.server.launch import output_files
from stratus.slurm.views import AcctRow, JobRow, NodeRow, PartitionRow, PriorityRow, PriorityWeights, ShareRow

if TYPE_CHECKING:
    from stratus.config import ClusterLayout


def _usage_fields(usage: dict[str, Any] | None) -> dict[str, Any]:
    """What the agent measured of a run, as AcctRow fields (nothing when unknown)."""
    if not usage:
        return {}
    return {
        "max_rss_kb": usage.get("maxrss_kb"),
        "user_cpu_s": usage.get("utime"),
        "system_cpu_s": usage.get("stime"),
    }


def _batch_step_state(job: Job) -> str:
    """The batch step's state: how the script itself ended (killed scripts show CANCELLED)."""
    if not job.state.final:
        return "RUNNING" if job.state in (JobState.RUNNING, JobState.COMPLETING) else job.state.value
    if job.state == JobState.OUT_OF_MEMORY:
        return "OUT_OF_MEMORY"
    if job.exit_signal:
        return "CANCELLED"
    return "COMPLETED" if job.exit_code == 0 else "FAILED"


def version(job: Job) -> tuple[object, ...]:
    """Everything about a job that its squeue row shows: the row is rebuilt when this changes."""
    pending = job.pending_tasks
    return (
        job.state,
        job.reason,
        job.run,
        job.state_time,
        job.partition,
        job.priority,
        job.start_time,
        job.end_time,
        job.task_id,
        -1 if pending is None else len(pending),
        -1 if not pending else pending.min(),
        job.alloc is not None,
        job.exit_code,
        job.exit_signal,
        job.time_limit_s,
        job.held,
        job.eligible_time,
        job.burst,
        # An update replaces the spec (name, tasks, CPUs, nice ...): compared by identity first,
        # so an unchanged job costs nothing here.
        job.spec,
    )


# Engine reasons Slurm shows as a reason code plus free text (its state_desc): a requeued and
# held job is JobHeldUser to slurmctld, described as "job requeued in held state".
_REASON_TEXT: dict[str, tuple[str, str]] = {"JobHeldRequeue": ("JobHeldUser", "job requeued in held state")}


def slurm_reason(reason: str) -> tuple[str, str | None]:
    """An engine reason as Slurm's (reason code, state_desc or None)."""
    code, text = _REASON_TEXT.get(reason, (reason, None))
    return code, text


def _given_path(info: dict[str, Any], key: str) -> str | None:
    """``--output``/``--error`` as sbatch sends it: absolute (under the working directory), the
    patterns left as they are."""
    given = info.get(key)
    if not given:
        return None
    path = str(given)
    return path if path.startswith("/") else os.path.join(str(info.get("workdir", "/")), path)


def job_row(job: Job, info: dict[str, Any], *, memory_consumable: bool = False) -> JobRow:
    """A job record as the rows squeue, scontrol and the openapi dumps print.

    ``memory_consumable``: the cluster schedules memory (ParallelCluster's
    EnableMemoryBasedScheduling), so an allocation's memory is part of its TRES.
    """
    spec = job.spec
    alloc = job.alloc
    node = alloc.nodes[0] if alloc is not None else ""
    stdout, stderr = output_files(job, info, node)
    stdin = info.get("stdin") or "/dev/null"
    reason, state_desc = slurm_reason(job.reason)
    burst = job.burst if job.reason == BURST_DEFERRED and job.state == JobState.PENDING else None
    return JobRow(
        job_id=job.id,
        name=spec.name,
        user=spec.user,
        uid=spec.uid,
        gid=spec.gid,
        partition=job.partition or ",".join(spec.partitions),
        state=job.state.value,
        reason=reason,
        state_desc=state_desc,
        submit_time=job.submit_time,
        priority=0 if job.held else job.priority,  # Slurm zeroes a held job's priority
        array_job_id=job.array_id,
        array_task_id=job.task_id,
        array_pending=job.pending_tasks if job.is_array_remainder else None,
        array_max_running=spec.array_max_running,
        group=info.get("group", str(spec.gid)),
        account=info.get("account"),
        nice=spec.nice,
        eligible_time=job.eligible_time,
        start_time=job.start_time,
        end_time=job.end_time,
        # Shown in whole minutes, rounded up, as Slurm stores limits; enforced to the second.
        time_limit_min=None if job.time_limit_s is None else math.ceil(job.time_limit_s / 60),
        nodes=alloc.nodes if alloc is not None else (),
        num_nodes=len(alloc.nodes) if alloc is not None else spec.min_nodes,
        num_cpus=alloc.total_cpus if alloc is not None else spec.ntasks * spec.cpus_per_task,
        num_tasks=spec.ntasks,
        cpus_per_task=spec.cpus_per_task,
        min_memory_mb=spec.mem_per_node_mb,
        min_memory_cpu_mb=spec.mem_per_cpu_mb,
        alloc_memory_mb=sum(alloc.memory_mb) if alloc is not None else 0,
        memory_consumable=memory_consumable,
        gpus_per_node=spec.gpus_per_node,
        workdir=info.get("workdir", ""),
        command=info.get("script_path"),
        stdout=stdout,
        stderr=stderr,
        stdout_given=_given_path(info, "stdout"),
        stderr_given=_given_path(info, "stderr"),
        stdin=stdin if os.path.isabs(stdin) else os.path.join(info.get("workdir", "/"), stdin),
        exit_code=job.exit_code,
        exit_signal=job.exit_signal,
        restarts=job.run,
        requeue=spec.requeue,
        batch_host=node or None,
        features=info.get("features"),
        comment=info.get("comment"),
        planned_start=burst.start if burst is not None else None,
        burst_price_per_hour=burst.price_per_hour if burst is not None else None,
        burst_cost=burst.cost if burst is not None else None,
    )


def node_row(record: NodeRecord) -> NodeRow:
    """A node as sinfo, scontrol and the openapi dumps print it."""
    node = record.node
    d = node.defn
    has_instance = record.instance is not None
    if node.state == NodeState.DOWN:
        base = "DOWN"
    elif node.alloc_cpus == 0 and not node.jobs:
        base = "IDLE"
    elif node.alloc_cpus >= d.cpus:
        base = "ALLOCATED"
    else:
        base = "MIXED"
    flags = {"CLOUD"}
    if node.state == NodeState.POWERED_DOWN or (node.state == NodeState.DOWN and not has_instance):
        flags.add("POWERED_DOWN")
    elif node.state == NodeState.POWERING_UP:
        flags.add("POWERING_UP")
    elif node.state == NodeState.POWERING_DOWN:
        flags.add("POWERING_DOWN")
    if (node.state == NodeState.UP and not node.responding) or (
        node.state == NodeState.DOWN and has_instance
    ):
        flags.add("NOT_RESPONDING")
    inst = record.instance
    return NodeRow(
        name=node.name,
        partitions=d.partitions,
        state=base,
        flags=frozenset(flags),
        cpus=d.cpus,
        alloc_cpus=node.alloc_cpus,
        memory_mb=d.memory_mb,
        alloc_memory_mb=node.alloc_memory_mb,
        gpus=d.gpus,
        gpu_type=d.gpu_type,
        alloc_gpus=node.alloc_gpus,
        cores_per_socket=d.cpus,
        weight=d.weight,
        features=d.features,
        reason=node.reason if node.state == NodeState.DOWN else None,
        reason_user="root" if node.state == NodeState.DOWN else None,
        reason_time=node.reason_time if node.state == NodeState.DOWN else None,
        addr=record.address,
        hostname=node.name,
        boot_time=node.boot_time,
        agent_start_time=node.boot_time,
        last_busy_time=node.last_busy_time,
        instance_type=d.instance_type,
        instance_id=inst.instance_id if inst is not None else None,
    )


def partition_rows(partitions: list[tuple[Partition, bool]]) -> list[PartitionRow]:
    """Every partition (with whether it is the default), in configuration order."""
    return [
        PartitionRow(
            name=p.name,
            nodes=p.defn.nodes,
            default=default,
            state="UP" if p.up else "INACTIVE",
            max_time_min=None if p.defn.max_time_s is None else int(p.defn.max_time_s // 60),
            default_time_min=None if p.defn.default_time_s is None else int(p.defn.default_time_s // 60),
            priority_tier=p.defn.priority_tier,
            priority_job_factor=p.defn.priority_job_factor,
        )
        for p, default in partitions
    ]


def slurm_config(layout: ClusterLayout) -> dict[str, str]:
    """The slurm.conf parameters stratus has, for ``scontrol show config``."""
    idle = layout.scaledown_idletime_s
    return {
        "MinJobAge": f"{int(layout.min_job_age_s)} sec",
        "SuspendTime": "INFINITE" if idle == math.inf else f"{int(idle)} sec",
        "ResumeTimeout": f"{int(layout.resume_timeout_s)} sec",
        "EnforcePartLimits": "ALL",
        "PrivateData": "cloud",
        "SelectTypeParameters": "CR_CPU_MEMORY" if layout.memory_based_scheduling else "CR_CPU",
        "SchedulerType": "sched/backfill",
        "PriorityType": f"priority/{layout.scheduling.priority.kind}",
        "JobRequeue": "1",
    }


def priority_rows(
    cfg: PriorityConfig, pending: list[tuple[Job, str, Factors]]
) -> tuple[PriorityWeights, list[PriorityRow]]:
    """sprio's weights and a row per schedulable pending job and partition."""
    weights = PriorityWeights(
        f"priority/{cfg.kind}",
        cfg.weight_age,
        cfg.weight_fairshare,
        cfg.weight_jobsize,
        cfg.weight_partition,
    )
    if cfg.kind != "multifactor":
        return weights, []
    rows = [
        PriorityRow(
            job.id,
            pname,
            job.spec.user,
            f.age,
            f.fairshare,
            f.jobsize,
            f.partition,
            f.nice,
            f.priority(cfg),
        )
        for job, pname, f in pending
    ]
    return weights, rows


def share_rows(cfg: PriorityConfig, shares: list[FairShareRow]) -> tuple[str, list[ShareRow]]:
    """sshare's priority plugin and fair-share tree."""
    rows = [
        ShareRow(
            r.account,
            r.user,
            r.depth,
            r.raw_shares,
            r.norm_shares,
            r.raw_usage,
            r.norm_usage,
            r.effective_usage,
            r.fairshare,
        )
        for r in shares
    ]
    return f"priority/{cfg.kind}", rows


def _run_costs(
    job: Job, runs: list[dict[str, Any]], defs: Mapping[str, NodeDef], now: float
) -> dict[int, float]:
    """The job's cost up to and including each of its runs (by run number), in USD: each run's
    own cost added to the runs before it, the current one counted up to ``now`` while it runs."""
    own: dict[int, float] = {}
    for run in runs:
        use = ended_run_use(
            run["nodes"],
            run["cpus"],
            run["start_time"],
            run["end_time"],
            defs,
            exclusive=job.spec.exclusive,
            alloc=job.alloc if run["run"] == job.run else None,
        )
        own[run["run"]] = run_cost(use, defs, now)
    if job.run not in own:
        current = open_run_use(job)
        own[job.run] = run_cost(current, defs, now) if current is not None else 0.0
    out: dict[int, float] = {}
    total = 0.0
    for n in sorted(own):
        total += own[n]
        out[n] = total
    return out


def accounting_rows(
    stored: list[tuple[Job, dict[str, Any], list[dict[str, Any]]]],
    cluster_name: str,
    defs: Mapping[str, NodeDef] | None = None,
    now: float = 0.0,
) -> list[AcctRow]:
    """Stored jobs as sacct's rows: one per run, plus the batch step and job steps.

    A job run's ``cost`` is the job's cost up to and including that run (so the row of its
    newest run carries the job's whole cost, every attempt included), priced with ``defs``
    (the cluster's nodes) up to ``now``; steps carry none.
    """
    out: list[AcctRow] = []
    prices: Mapping[str, NodeDef] = defs or {}
    for job, info, records in stored:
        runs = [r for r in records if r.get("kind") != "step"]
        steps = [r for r in records if r.get("kind") == "step" and r["run"] == job.run]
        costs = _run_costs(job, runs, prices, now)
        spec = job.spec
        base = {
            "job_id": job.id,
            "name": spec.name,
            "user": spec.user,
            "uid": spec.uid,
            "gid": spec.gid,
            "partition": job.partition or ",".join(spec.partitions),
            "submit_time": job.submit_time,
            "array_job_id": job.array_id,
            "array_task_id": job.task_id,
            "account": info.get("account"),
            "group": info.get("group", str(spec.gid)),
            "eligible_time": job.eligible_time,
            "time_limit_min": None if job.time_limit_s is None else math.ceil(job.time_limit_s / 60),
            "num_tasks": spec.ntasks,
            "req_cpus": spec.ntasks * spec.cpus_per_task,
            "req_mem_mb": spec.mem_per_node_mb,
            "req_mem_cpu_mb": spec.mem_per_cpu_mb,
            "req_gpus": spec.gpus_per_node,
            "workdir": info.get("workdir", ""),
            "priority": job.priority,
            "cluster": cluster_name,
        }
        for run in runs:
            if run["run"] >= job.run:
                continue  # the current run is the job's own row below
            out.append(
                AcctRow(
                    **base,
                    state=run["state"],
                    restarts=run["run"],
                    start_time=run["start_time"],
                    end_time=run["end_time"],
                    nodes=run["nodes"],
                    num_nodes=len(run["nodes"]) or 1,
                    num_cpus=run["cpus"] or 1,
                    exit_code=run["exit_code"],
                    exit_signal=run["exit_signal"],
                    reason=run["reason"] or "None",
                    cost=costs.get(run["run"], 0.0),
                    **_usage_fields(run["usage"]),
                )
            )
        current = next((r for r in runs if r["run"] == job.run), None)
        usage = _usage_fields(current["usage"] if current else None)
        alloc = job.alloc
        started = job.start_time is not None and job.state not in (JobState.PENDING, JobState.CONFIGURING)
        out.append(
            AcctRow(
                **base,
                state=job.state.value,
                state_by_uid=spec.uid if job.state == JobState.CANCELLED else None,
                restarts=job.run,
                array_pending=job.pending_tasks if job.is_array_remainder else None,
                reason=slurm_reason(job.reason)[0],
                start_time=job.start_time if started else None,
                end_time=job.end_time,
                nodes=alloc.nodes if alloc is not None and started else (),
                num_nodes=len(alloc.nodes) if alloc is not None else spec.min_nodes,
                num_cpus=alloc.total_cpus if alloc is not None else spec.ntasks * spec.cpus_per_task,
                exit_code=job.exit_code,
                exit_signal=job.exit_signal,
                derived_exit_code=job.exit_code,
                derived_exit_signal=job.exit_signal,
                cost=costs[job.run],
                **usage,
            )
        )
        if started and alloc is not None:
            out.append(
                AcctRow(
                    **{**base, "name": "batch", "partition": "", "num_tasks": 1},
                    step="batch",
                    state=_batch_step_state(job),
                    restarts=job.run,
                    start_time=job.start_time,
                    end_time=job.end_time,
                    nodes=alloc.nodes[:1],
                    num_nodes=1,
                    num_cpus=alloc.cpus[0],
                    exit_code=job.exit_code,
                    exit_signal=job.exit_signal,
                    **usage,
                )
            )
        for step in steps:
            ended = step["end_time"] is not None
            # A step still open when its job ended (the head node restarted meanwhile)
            # ended with the job.
            state = step["state"] if ended or not job.state.final else job.state.value
            out.append(
                AcctRow(
                    **{**base, "name": step["name"], "partition": "", "num_tasks": step["ntasks"]},
                    step=str(step["step_id"]),
                    state=state,
                    restarts=job.run,
                    start_time=step["start_time"],
                    end_time=step["end_time"] if ended else (job.end_time if job.state.final else None),
                    nodes=step["nodes"],
                    num_nodes=len(step["nodes"]),
                    num_cpus=step["cpus"],
                    exit_code=step["exit_code"],
                    exit_signal=step["exit_signal"],
                    **_usage_fields(step.get("usage")),
                )
            )
    return out

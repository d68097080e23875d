"""The scheduling engine: a deterministic state machine over jobs, nodes and partitions.

Pure by contract: no I/O, no threads, no clock. Every method takes ``now`` and returns the
actions the caller must carry out (launch, kill, power up, power down). State changes are
recorded in :attr:`Engine.journal` (one :class:`Transition` each) and the changed entities are
listed in ``dirty_jobs``/``dirty_nodes`` so the caller can persist exactly what changed, in one
transaction, before acting or acknowledging anything. The live controller and the simulator run
this same code.

Scheduling is priority order with EASY backfill: the highest-priority job that cannot start gets
a reservation (the earliest time running jobs' time limits free enough resources for it), and a
lower-priority job may start now only if it ends before that time or stays off the reserved
nodes, so it never delays the reserved job. Powered-down dynamic nodes count as available: a
job placed on them makes them power up (the job is CONFIGURING until they register).
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterable
from dataclasses import dataclass, field, replace

from stratus.engine.indexset import IndexSet
from stratus.engine.model import (
    Action,
    Allocation,
    Changes,
    DepCondition,
    EngineConfig,
    Job,
    JobSpec,
    KillJob,
    LaunchJob,
    Node,
    NodeDef,
    Partition,
    PowerDown,
    PowerUp,
    Rejection,
    RunEnd,
    Transition,
)
from stratus.engine.placement import Avail, apply, node_limits, place, shape_of
from stratus.engine.states import (
    JOB_TRANSITIONS,
    NODE_TRANSITIONS,
    JobState,
    NodeState,
    check_transition,
)

PRIORITY_BASE = 0xFFFF0000  # Slurm's priority/basic starts here and counts down per job

# A dependency's state: may start, must wait, can never be met.
_OK, _WAIT, _NEVER = 0, 1, 2

_STATE_RANK = {NodeState.UP: 0, NodeState.POWERING_UP: 1, NodeState.POWERED_DOWN: 2}

# Jobs that hold resources on their nodes.
_HOLDING = frozenset({JobState.CONFIGURING, JobState.RUNNING, JobState.COMPLETING})


@dataclass(slots=True)
class CancelOutcome:
    """What a cancel did: ``found`` is False for unknown ids; ``already_done`` if some had ended."""

    found: bool = True
    cancelled: int = 0
    already_done: bool = False
    actions: list[Action] = field(default_factory=list)


@dataclass(slots=True)
class _Pass:
    """Working state of one scheduling pass."""

    now: float
    avail: dict[str, Avail]
    by_partition: dict[str, list[Avail]]
    reservations: dict[str, tuple[float, frozenset[str]]]
    blocked_shapes: set[tuple[object, ...]]
    actions: list[Action]
    power_up: list[str]


def _has_features(d: NodeDef, wanted: tuple[str, ...]) -> bool:
    return all(f in d.features for f in wanted)


def _final_reason(state: JobState) -> str:
    """Slurm's reason for a job that ended in ``state`` by a kill (cancel, time limit)."""
    return "TimeLimit" if state == JobState.TIMEOUT else "None"


def _natural_key(name: str) -> tuple[str, int]:
    head = name.rstrip("0123456789")
    tail = name[len(head) :]
    return head, int(tail) if tail else -1


class Engine:
    """All live scheduling state of one cluster, and the rules that change it."""

    def __init__(self, config: EngineConfig, now: float = 0.0) -> None:
        self.config = config
        self.partitions: dict[str, Partition] = {p.name: Partition(p) for p in config.partitions}
        self.default_partition: str | None = next(
            (p.name for p in config.partitions if p.default),
            config.partitions[0].name if config.partitions else None,
        )
        self.nodes: dict[str, Node] = {}
        order = sorted(config.nodes, key=lambda d: _natural_key(d.name))
        self._order: dict[str, int] = {d.name: i for i, d in enumerate(order)}
        for d in config.nodes:
            self.nodes[d.name] = Node(defn=d, state_time=now, idle_since=now)
        self.jobs: dict[int, Job] = {}
        self.next_job_id = 1
        self.fleet_running = True
        self.journal: list[Transition] = []
        self.dirty_jobs: set[int] = set()
        self.dirty_nodes: set[str] = set()
        self.dirty_partitions: set[str] = set()
        self.ended_runs: list[RunEnd] = []
        # Derived indexes, rebuilt by restore(): tasks of each array, running tasks per array,
        # and a heap of (deadline, job id, run) for time limits.
        self._array_tasks: dict[int, set[int]] = {}
        self._array_active: dict[int, int] = {}
        self._deadlines: list[tuple[float, int, int]] = []
        self._warnings: list[tuple[float, int, int]] = []  # (when, job id, run) for --signal
        self._node_retry_at: dict[str, float] = {}
        self._node_failures: dict[str, int] = {}
        self._next_task: dict[int, int] = {}  # array id -> task to start next (aftercorr)
        self._unfinished_by_name: dict[tuple[str, str], int] | None = None  # per pass

    # ------------------------------------------------------------------------------------------
    # bookkeeping
    # ------------------------------------------------------------------------------------------

    @staticmethod
    def job_key(job: Job) -> str:
        """How the journal and Slurm name a job: ``20`` or ``20_3`` for an array task."""
        if job.array_id is not None and job.task_id is not None:
            return f"{job.array_id}_{job.task_id}"
        return str(job.id)

    def _job_to(self, job: Job, new: JobState, now: float, cause: str, reason: str = "") -> None:
        check_transition(JOB_TRANSITIONS, f"job {self.job_key(job)}", job.state, new)
        self.journal.append(Transition("job", self.job_key(job), job.state, new, now, cause, reason, job.run))
        old = job.state
        job.state = new
        job.state_time = now
        self.dirty_jobs.add(job.id)
        if job.array_id is not None and job.task_id is not None:
            was_active = old in _HOLDING
            is_active = new in _HOLDING
            if was_active != is_active:
                self._array_active[job.array_id] = self._array_active.get(job.array_id, 0) + (
                    1 if is_active else -1
                )

    def _node_to(self, node: Node, new: NodeState, now: float, cause: str, reason: str = "") -> None:
        check_transition(NODE_TRANSITIONS, f"node {node.name}", node.state, new)
        self.journal.append(Transition("node", node.name, node.state, new, now, cause, reason))
        node.state = new
        node.state_time = now
        self.dirty_nodes.add(node.name)

    def drain_changes(self) -> Changes:
        """Hand over (and forget) what changed since the last call: journal, dirty sets, ended runs."""
        out = Changes(self.journal, self.dirty_jobs, self.dirty_nodes, self.dirty_partitions, self.ended_runs)
        self.journal, self.dirty_jobs, self.dirty_nodes, self.dirty_partitions = [], set(), set(), set()
        self.ended_runs = []
        return out

    def _run_ended(self, job: Job, state: JobState | str, now: float, reason: str = "") -> None:
        """Record the end of ``job``'s current run for accounting (only runs that started)."""
        if job.start_time is None:
            return
        alloc = job.alloc
        self.ended_runs.append(
            RunEnd(
                job_id=job.id,
                run=job.run,
                state=str(state),
                start_time=job.start_time,
                end_time=now,
                nodes=alloc.nodes if alloc is not None else (),
                cpus=alloc.total_cpus if alloc is not None else 0,
                exit_code=job.exit_code,
                exit_signal=job.exit_signal,
                reason=reason,
            )
        )

    def _effective_limit(self, spec: JobSpec, partition: str | None) -> float | None:
        if spec.time_limit_s is not None:
            return spec.time_limit_s
        p = self.partitions.get(partition or "")
        return p.defn.default_time_s if p else None

    # ------------------------------------------------------------------------------------------
    # submission
    # ------------------------------------------------------------------------------------------

    def check(self, spec: JobSpec) -> Rejection | None:
        """Why ``spec`` can never run in this cluster, or None if it can (possibly later).

        Only impossibilities are rejections (a partition that does not exist, more CPUs, memory
        or GPUs per node than any node of the partition has). A request for more nodes than the
        partition has is accepted and stays pending, as Slurm does.
        """
        names = spec.partitions or ((self.default_partition,) if self.default_partition else ())
        if not names:
            return Rejection("INVALID_PARTITION", "")
        for name in names:
            if name not in self.partitions:
                return Rejection("INVALID_PARTITION", name)
        rejection: Rejection | None = None
        for name in names:
            r = self._check_partition(spec, name)
            if r is None:
                return None
            rejection = rejection or r
        return rejection

    def _check_partition(self, spec: JobSpec, partition: str) -> Rejection | None:
        defs = [self.nodes[n].defn for n in self.partitions[partition].defn.nodes]
        if not defs:
            return Rejection("NODE_COUNT", partition)
        if spec.features:
            defs = [d for d in defs if _has_features(d, spec.features)]
            if not defs:
                return Rejection("FEATURES", partition)
        if spec.gpu_type is not None:
            defs = [d for d in defs if d.gpu_type == spec.gpu_type]
            if not defs:
                return Rejection("GPUS", partition)
        if spec.cpus_per_task > max(d.cpus for d in defs):
            return Rejection("CPUS_PER_NODE", partition)
        mem = spec.mem_per_node_mb or 0
        if spec.mem_per_cpu_mb is not None:
            mem = max(mem, spec.mem_per_cpu_mb * spec.cpus_per_task)
        if mem > max(d.memory_mb for d in defs):
            return Rejection("MEMORY", partition)
        if spec.gpus_per_node > max(d.gpus for d in defs):
            return Rejection("GPUS", partition)
        pristine = [
            Avail(d.name, d.cpus, d.memory_mb, d.gpus, d.cpus, d.memory_mb, d.gpus, True) for d in defs
        ]
        if place(spec, pristine, self.config.memory_scheduling) is not None:
            return None
        lo, _ = node_limits(spec)
        if lo > len(defs):
            return None  # accepted; pending with PartitionNodeLimit
        if spec.ntasks_per_node is not None or spec.max_nodes is not None:
            return Rejection("CPUS_PER_NODE", partition)
        return Rejection("TASKS", partition)

    def submit(
        self,
        spec: JobSpec,
        now: float,
        *,
        array: IndexSet | None = None,
        hold: bool = False,
    ) -> Job:
        """Accept a job (call :meth:`check` first). Returns the new record with its id."""
        job_id = self.next_job_id
        self.next_job_id += 1
        partition = (spec.partitions[0] if spec.partitions else self.default_partition) or ""
        job = Job(
            id=job_id,
            spec=spec,
            submit_time=now,
            priority=max(0, PRIORITY_BASE - job_id - spec.nice),
            state=JobState.PENDING,
            reason="None",
            partition=partition,
            eligible_time=spec.begin_time if spec.begin_time and spec.begin_time > now else now,
            state_time=now,
            held=hold,
        )
        job.time_limit_s = self._effective_limit(spec, partition)
        if array is not None:
            job.array_id = job_id
            job.pending_tasks = array.copy()
            self._array_tasks[job_id] = set()
            self._array_active[job_id] = 0
        self.jobs[job_id] = job
        self.journal.append(Transition("job", str(job_id), "", JobState.PENDING, now, "submit"))
        self.dirty_jobs.add(job_id)
        return job

    # ------------------------------------------------------------------------------------------
    # cancellation and holds
    # ------------------------------------------------------------------------------------------

    def cancel(
        self, job_id: int, task_ids: IndexSet | None, now: float, cause: str = "user"
    ) -> CancelOutcome:
        """Cancel a job, an array (every task), or some tasks of an array."""
        job = self.jobs.get(job_id)
        if job_id in self._array_tasks or (job is not None and job.array_id == job_id):
            return self._cancel_array(job_id, task_ids, now, cause)
        out = CancelOutcome()
        if job is None or task_ids is not None:
            out.found = False
            return out
        self._cancel_one(job, now, cause, out)
        return out

    def _cancel_array(
        self, array_id: int, task_ids: IndexSet | None, now: float, cause: str
    ) -> CancelOutcome:
        out = CancelOutcome()
        meta = self.jobs.get(array_id)
        tasks = [self.jobs[i] for i in self._array_tasks.get(array_id, ()) if i in self.jobs]
        found_any = False
        if meta is not None and meta.is_array_remainder and meta.state == JobState.PENDING:
            pending = meta.pending_tasks
            assert pending is not None
            if task_ids is None or all(t in task_ids for t in pending):
                if pending:
                    found_any = True
                    self._job_to(meta, JobState.CANCELLED, now, cause)
                    meta.end_time = now
                    meta.reason = "None"
                    out.cancelled += len(pending)
            else:
                removed = [t for t in task_ids if pending.discard(t)]
                if removed:
                    found_any = True
                    out.cancelled += len(removed)
                    self.dirty_jobs.add(meta.id)
                    self.journal.append(
                        Transition(
                            "job",
                            f"{array_id}_[{IndexSet.from_ids(removed).to_slurm()}]",
                            JobState.PENDING,
                            JobState.CANCELLED,
                            now,
                            cause,
                        )
                    )
        elif meta is not None and meta.task_id is not None and (task_ids is None or meta.task_id in task_ids):
            tasks.append(meta)
        for t in tasks:
            if task_ids is None or t.task_id in task_ids:
                found_any = True
                self._cancel_one(t, now, cause, out)
        out.found = found_any
        return out

    def _cancel_one(self, job: Job, now: float, cause: str, out: CancelOutcome) -> None:
        if job.state.final or job.state == JobState.COMPLETING:
            out.already_done = True
            return
        out.cancelled += 1
        if job.state in (JobState.PENDING, JobState.CONFIGURING):
            # Nothing runs yet; booting nodes keep booting and idle out if nobody needs them.
            self._job_to(job, JobState.CANCELLED, now, cause)
            job.end_time = now
            job.reason = "None"
            self._release(job, now)
            return
        assert job.alloc is not None
        job.final_state = JobState.CANCELLED
        self._job_to(job, JobState.COMPLETING, now, cause, "cancel")
        out.actions.append(KillJob(job.id, job.run, job.alloc.nodes, "CANCELLED"))

    # ------------------------------------------------------------------------------------------
    # holds, requeues and updates (scontrol)
    # ------------------------------------------------------------------------------------------

    def knows(self, job_id: int) -> bool:
        """Whether ``job_id`` names a job or an array this engine still holds."""
        return job_id in self.jobs or job_id in self._array_tasks

    def targets(self, job_id: int, task_ids: IndexSet | None) -> list[Job]:
        """The records ``job_id`` (and ``task_ids`` of it) names: a job, or an array's records."""
        records = self._dep_records(job_id, None)
        if task_ids is None:
            return records
        return [
            r
            for r in records
            if (r.task_id is not None and r.task_id in task_ids)
            or (
                r.is_array_remainder
                and r.pending_tasks is not None
                and any(t in task_ids for t in r.pending_tasks)
            )
        ]

    def set_hold(self, job: Job, held: bool, now: float) -> bool:
        """Hold or release a pending job (or a pending array remainder); False if not pending."""
        if job.state != JobState.PENDING:
            return False
        if job.held != held:
            job.held = held
            self.dirty_jobs.add(job.id)
            self.journal.append(
                Transition(
                    "job", self.job_key(job), "PENDING", "PENDING", now, "user", "hold" if held else "release"
                )
            )
        job.reason = "JobHeldUser" if held else "None"
        return True

    def requeue(self, job: Job, now: float, *, hold: bool = False) -> tuple[str | None, list[Action]]:
        """Send a started or finished job back to PENDING as a new run (``scontrol requeue``).

        A running job is stopped first: it stays COMPLETING until its processes are gone, so the
        new run can never overlap the old one. Returns (error code, actions); error codes:
        ``PENDING`` (nothing to requeue), ``COMPLETING``, ``NO_REQUEUE`` (--no-requeue).
        """
        if not job.spec.requeue:
            return "NO_REQUEUE", []
        if job.state == JobState.PENDING:
            return "PENDING", []
        if job.state == JobState.COMPLETING:
            return "COMPLETING", []
        actions: list[Action] = []
        if job.state == JobState.RUNNING:
            assert job.alloc is not None
            job.requeue_when_done = True
            job.held = job.held or hold
            self._job_to(job, JobState.COMPLETING, now, "user", "requeue")
            actions.append(KillJob(job.id, job.run, job.alloc.nodes, "REQUEUE"))
            return None, actions
        if job.state == JobState.CONFIGURING:
            self._release(job, now)
        self._back_to_pending(job, now, "requeue", hold=hold)
        return None, actions

    def _back_to_pending(
        self, job: Job, now: float, cause: str, reason: str = "requeued", *, hold: bool = False
    ) -> None:
        """End the current run and make the job wait again as run ``n+1`` (recorded)."""
        self._job_to(job, JobState.PENDING, now, cause, reason)
        job.run += 1
        job.start_time = job.end_time = None
        job.alloc = None
        job.final_state = None
        job.requeue_when_done = False
        job.exit_code = job.exit_signal = 0
        job.eligible_time = now
        job.held = job.held or hold
        job.reason = "JobHeldUser" if job.held else "None"

    def update(self, job: Job, changes: dict[str, object], now: float) -> str | None:
        """Change a job's request (``scontrol update``); an error code, or None when done.

        A running job may only change its time limit. Any change is checked like a submission:
        ``IMPOSSIBLE`` if the job could then never run, ``NOT_PENDING``, ``ALREADY_DONE``.
        """
        if job.state.final or job.state == JobState.COMPLETING:
            return "ALREADY_DONE"
        if job.state != JobState.PENDING and set(changes) - {"time_limit_s"}:
            return "NOT_PENDING"
        spec = replace(job.spec, **changes)  # type: ignore[arg-type]
        if self.check(spec) is not None:
            return "IMPOSSIBLE"
        job.spec = spec
        if "partitions" in changes and spec.partitions:
            job.partition = spec.partitions[0]
        if "nice" in changes:
            job.priority = max(0, PRIORITY_BASE - (job.array_id or job.id) - spec.nice)
        job.time_limit_s = self._effective_limit(spec, job.partition)
        if job.state == JobState.RUNNING and job.time_limit_s is not None and job.start_time is not None:
            heapq.heappush(self._deadlines, (job.start_time + job.time_limit_s, job.id, job.run))
        self.dirty_jobs.add(job.id)
        self.journal.append(
            Transition(
                "job",
                self.job_key(job),
                job.state,
                job.state,
                now,
                "user",
                "update " + ",".join(sorted(changes)),
            )
        )
        return None

    # ------------------------------------------------------------------------------------------
    # events from nodes
    # ------------------------------------------------------------------------------------------

    def job_ended(
        self,
        job_id: int,
        run: int,
        now: float,
        *,
        exit_code: int = 0,
        signal: int = 0,
        out_of_memory: bool = False,
    ) -> list[Action]:
        """The batch script of ``job_id`` (run ``run``) exited. Stale runs are ignored."""
        job = self.jobs.get(job_id)
        if job is None or job.run != run or job.state not in (JobState.RUNNING, JobState.COMPLETING):
            return []
        job.exit_code = exit_code
        job.exit_signal = signal
        if job.state == JobState.COMPLETING and job.requeue_when_done:
            self._run_ended(job, "REQUEUED", now, "requeue")
            self._release(job, now)
            self._back_to_pending(job, now, "requeue")
            return []
        if job.state == JobState.COMPLETING and job.final_state is not None:
            new = job.final_state
            reason = _final_reason(new)
        elif out_of_memory:
            new, reason = JobState.OUT_OF_MEMORY, "OutOfMemory"
        elif exit_code != 0 or signal != 0:
            new, reason = JobState.FAILED, "NonZeroExitCode"
        else:
            new, reason = JobState.COMPLETED, "None"
        self._job_to(job, new, now, "agent", reason)
        job.reason = reason
        job.end_time = now
        job.final_state = None
        self._run_ended(job, new, now, reason)
        actions: list[Action] = []
        if job.alloc is not None and len(job.alloc.nodes) > 1:
            # The batch script ended; the other nodes may still run its steps.
            actions.append(KillJob(job.id, job.run, job.alloc.nodes[1:], "END"))
        self._release(job, now)
        return actions

    def node_up(self, name: str, now: float, instance_id: str | None = None) -> list[Action]:
        """A node's agent registered. Jobs waiting on it start if all their nodes are up."""
        node = self.nodes[name]
        if node.state == NodeState.UP:
            node.responding = True
            return []
        if node.state != NodeState.POWERING_UP:
            return []
        self._node_to(node, NodeState.UP, now, "agent", "registered")
        node.reason = None
        node.responding = True
        node.boot_time = now
        if instance_id is not None:
            node.instance_id = instance_id
        if not node.jobs:
            node.idle_since = now
        self._node_failures.pop(name, None)
        actions: list[Action] = []
        for job_id in sorted(node.jobs):
            job = self.jobs.get(job_id)
            if job is None or job.state != JobState.CONFIGURING or job.alloc is None:
                continue
            if all(self.nodes[n].state == NodeState.UP for n in job.alloc.nodes):
                self._start_running(job, now, actions)
        return actions

    def node_lost(self, name: str, now: float, reason: str) -> list[Action]:
        """A node failed (agent gone, boot timed out, launch failed). Its jobs are requeued.

        A requeue is explicit and recorded: the run ends with a NODE_FAIL transition and the job
        returns to PENDING as run ``n+1``. Jobs that may not be requeued end in NODE_FAIL.
        """
        node = self.nodes[name]
        if node.state in (NodeState.DOWN, NodeState.POWERED_DOWN):
            return []
        actions: list[Action] = []
        for job_id in sorted(node.jobs):
            job = self.jobs.get(job_id)
            if job is None:
                continue
            self._fail_job_on_node(job, now, reason, actions, lost={name})
        self._node_to(node, NodeState.DOWN, now, "node_fail", reason)
        node.reason = reason
        node.reason_time = now
        node.responding = False
        self._node_failures[name] = self._node_failures.get(name, 0) + 1
        backoff = min(60.0, 2.0 ** (self._node_failures[name] - 1))
        self._node_retry_at[name] = now + backoff
        actions.append(PowerDown((name,)))
        return actions

    def _fail_job_on_node(
        self, job: Job, now: float, reason: str, actions: list[Action], lost: set[str]
    ) -> None:
        """End the current run of ``job`` because nodes in ``lost`` are gone."""
        assert job.alloc is not None
        # Its processes on surviving nodes must stop too, or the requeued run would overlap them.
        others = tuple(n for n in job.alloc.nodes if n not in lost and self.nodes[n].state == NodeState.UP)
        if job.state == JobState.COMPLETING and job.final_state is not None:
            # It was being cancelled or timed out anyway: that is how it ends.
            final = job.final_state
            self._job_to(job, final, now, "node_fail", reason)
            job.end_time = now
            job.final_state = None
            job.reason = _final_reason(final)
            self._run_ended(job, final, now, reason)
            if others:
                actions.append(KillJob(job.id, job.run, others, "NODE_FAIL"))
            self._release(job, now)
            return
        if job.state == JobState.RUNNING and others:
            actions.append(KillJob(job.id, job.run, others, "NODE_FAIL"))
        if job.state in (JobState.RUNNING, JobState.COMPLETING):  # a booting job never ran
            self._run_ended(job, JobState.NODE_FAIL, now, reason)
        self._release(job, now)
        if job.spec.requeue:
            self.journal.append(
                Transition(
                    "job", self.job_key(job), job.state, JobState.NODE_FAIL, now, "node_fail", reason, job.run
                )
            )
            self._back_to_pending(job, now, "requeue", f"NodeFail: {reason}")
        else:
            self._job_to(job, JobState.NODE_FAIL, now, "node_fail", reason)
            job.end_time = now
            job.reason = "NodeDown"

    def node_terminated(self, name: str, now: float) -> None:
        """The provider confirmed the node's instance is gone."""
        node = self.nodes[name]
        node.instance_id = None
        node.boot_time = None
        if node.state == NodeState.POWERING_DOWN:
            self._node_to(node, NodeState.POWERED_DOWN, now, "provider", "terminated")
            node.reason = None
        elif node.state == NodeState.DOWN and not node.defn.static:
            self._node_to(node, NodeState.POWERED_DOWN, now, "provider", "terminated")
        self.dirty_nodes.add(name)

    def node_responding(self, name: str, responding: bool, now: float) -> None:
        """Mark an UP node's agent as (not) connected; Slurm shows ``*`` while it is not."""
        node = self.nodes[name]
        if node.responding != responding:
            node.responding = responding
            self.dirty_nodes.add(name)

    # ------------------------------------------------------------------------------------------
    # fleet control
    # ------------------------------------------------------------------------------------------

    def stop_fleet(self, now: float) -> list[Action]:
        """Stop the compute fleet: partitions INACTIVE, every node powered down.

        Running jobs lose their nodes and are requeued (recorded), like ParallelCluster's stop.
        """
        self.fleet_running = False
        for p in self.partitions.values():
            if p.up:
                p.up = False
                self.dirty_partitions.add(p.name)
                self.journal.append(Transition("partition", p.name, "UP", "INACTIVE", now, "user"))
        actions: list[Action] = []
        to_stop = [n.name for n in self.nodes.values() if n.state in (NodeState.UP, NodeState.POWERING_UP)]
        for node in self.nodes.values():
            if node.state in (NodeState.UP, NodeState.POWERING_UP):
                for job_id in sorted(node.jobs):
                    job = self.jobs.get(job_id)
                    if job is not None and job.state in _HOLDING:
                        self._fail_job_on_node(job, now, "compute fleet stopped", actions, set(to_stop))
                self._node_to(node, NodeState.POWERING_DOWN, now, "user", "fleet stop")
        if to_stop:
            actions.append(PowerDown(tuple(to_stop)))
        return actions

    def start_fleet(self, now: float) -> list[Action]:
        """Start the compute fleet: partitions UP, static nodes power up on the next tick."""
        self.fleet_running = True
        for p in self.partitions.values():
            if not p.up:
                p.up = True
                self.dirty_partitions.add(p.name)
                self.journal.append(Transition("partition", p.name, "INACTIVE", "UP", now, "user"))
        return self.tick(now)

    # ------------------------------------------------------------------------------------------
    # time
    # ------------------------------------------------------------------------------------------

    def tick(self, now: float, *, schedule: bool = True) -> list[Action]:
        """Everything that happens because time passed, then (unless held) a scheduling pass.

        ``schedule=False`` holds new placements while a restarted controller waits for its
        nodes to report back, so it does not boot new nodes for work that idle ones will take.
        """
        actions: list[Action] = []
        self._send_warning_signals(now, actions)
        self._enforce_time_limits(now, actions)
        self._check_boot_timeouts(now, actions)
        self._keep_static_nodes_up(now, actions)
        if schedule:
            actions.extend(self.schedule(now))
        self._power_down_idle(now, actions)
        self._purge_finished(now)
        return actions

    def next_wakeup(self, now: float) -> float:
        """The next time :meth:`tick` has something time-based to do (``math.inf`` if none)."""
        t = math.inf
        if self._warnings:
            t = self._warnings[0][0]
        while self._deadlines:
            deadline, job_id, run = self._deadlines[0]
            job = self.jobs.get(job_id)
            if job is None or job.run != run or job.state != JobState.RUNNING:
                heapq.heappop(self._deadlines)
                continue
            t = min(t, deadline)
            break
        idle = self.config.scaledown_idle_s
        for node in self.nodes.values():
            if node.state == NodeState.UP and not node.jobs and not node.defn.static:
                t = min(t, node.idle_since + idle)
            elif node.state == NodeState.POWERING_UP:
                t = min(t, node.state_time + self.config.resume_timeout_s)
            elif (
                self.fleet_running
                and node.defn.static
                and node.state in (NodeState.DOWN, NodeState.POWERED_DOWN)
                and node.instance_id is None
            ):
                t = min(t, self._node_retry_at.get(node.name, now))
        for job in self.jobs.values():
            if job.state == JobState.PENDING and job.eligible_time and job.eligible_time > now:
                t = min(t, job.eligible_time)
        return t

    def _send_warning_signals(self, now: float, actions: list[Action]) -> None:
        """--signal: warn running jobs with a signal some time before their limit."""
        while self._warnings and self._warnings[0][0] <= now:
            _, job_id, run = heapq.heappop(self._warnings)
            job = self.jobs.get(job_id)
            warn = job.spec.warn_signal if job is not None else None
            if (
                job is None
                or warn is None
                or job.run != run
                or job.state != JobState.RUNNING
                or job.alloc is None
            ):
                continue
            sig, _, batch_only = warn
            why = "SIGNAL_BATCH" if batch_only else "SIGNAL"
            actions.append(
                KillJob(job.id, job.run, job.alloc.nodes[:1] if batch_only else job.alloc.nodes, why, sig)
            )

    def _enforce_time_limits(self, now: float, actions: list[Action]) -> None:
        while self._deadlines and self._deadlines[0][0] <= now:
            deadline, job_id, run = heapq.heappop(self._deadlines)
            job = self.jobs.get(job_id)
            if job is None or job.run != run or job.state != JobState.RUNNING or job.alloc is None:
                continue
            if (
                job.time_limit_s is None
                or job.start_time is None
                or (abs(job.start_time + job.time_limit_s - deadline) > 1e-6)
            ):
                continue  # the limit was changed since (scontrol update): another entry stands
            job.final_state = JobState.TIMEOUT
            self._job_to(job, JobState.COMPLETING, now, "timer", "TimeLimit")
            actions.append(KillJob(job.id, job.run, job.alloc.nodes, "TIMEOUT"))

    def _check_boot_timeouts(self, now: float, actions: list[Action]) -> None:
        limit = self.config.resume_timeout_s
        for node in self.nodes.values():
            if node.state == NodeState.POWERING_UP and now - node.state_time >= limit:
                actions.extend(self.node_lost(node.name, now, "ResumeTimeout reached"))

    def _keep_static_nodes_up(self, now: float, actions: list[Action]) -> None:
        if not self.fleet_running:
            return
        names: list[str] = []
        for node in self.nodes.values():
            if not node.defn.static:
                continue
            if node.state == NodeState.POWERED_DOWN or (
                node.state == NodeState.DOWN and node.instance_id is None
            ):
                if self._node_retry_at.get(node.name, 0.0) > now:
                    continue
                cause = "replace" if node.state == NodeState.DOWN else "static"
                self._node_to(node, NodeState.POWERING_UP, now, cause)
                names.append(node.name)
        if names:
            actions.append(PowerUp(tuple(names)))

    def _power_down_idle(self, now: float, actions: list[Action]) -> None:
        idle = self.config.scaledown_idle_s
        names: list[str] = []
        for node in self.nodes.values():
            if (
                node.state == NodeState.UP
                and not node.defn.static
                and not node.jobs
                and now - node.idle_since >= idle
            ):
                self._node_to(node, NodeState.POWERING_DOWN, now, "timer", "idle")
                names.append(node.name)
        if names:
            actions.append(PowerDown(tuple(names)))

    def _purge_finished(self, now: float) -> None:
        age = self.config.min_job_age_s
        old = [
            j.id
            for j in self.jobs.values()
            if j.state.final and j.end_time is not None and now - j.end_time >= age
        ]
        for job_id in old:
            job = self.jobs.pop(job_id)
            if job.array_id is not None:
                tasks = self._array_tasks.get(job.array_id)
                if tasks is not None:
                    tasks.discard(job_id)
                    if not tasks and job.array_id not in self.jobs:
                        del self._array_tasks[job.array_id]
                        self._array_active.pop(job.array_id, None)

    # ------------------------------------------------------------------------------------------
    # the scheduling pass
    # ------------------------------------------------------------------------------------------

    def schedule(self, now: float) -> list[Action]:
        """One pass: start what can start, in priority order, with EASY backfill."""
        actions: list[Action] = []
        avail = self._build_avail()
        by_partition: dict[str, list[Avail]] = {}
        for pname, p in self.partitions.items():
            if not p.up:
                continue
            lst = [avail[n] for n in p.defn.nodes if n in avail]
            lst.sort(key=lambda a: a.rank)
            by_partition[pname] = lst
        reservations: dict[str, tuple[float, frozenset[str]]] = {}
        blocked_shapes: set[tuple[object, ...]] = set()
        power_up: list[str] = []
        queue = sorted(
            (j for j in self.jobs.values() if j.state == JobState.PENDING),
            key=lambda j: (-j.priority, j.submit_time, j.id),
        )
        ctx = _Pass(now, avail, by_partition, reservations, blocked_shapes, actions, power_up)
        self._unfinished_by_name = None
        for job in queue:
            while True:
                reason = self._ineligible_reason(job, now)
                if reason == "DependencyNeverSatisfied" and job.spec.kill_on_invalid_dep:
                    self._cancel_never_satisfied(job, now)
                    break
                if reason is None:
                    reason = self._schedule_one(job, ctx)
                if reason is not None:
                    job.reason = reason
                    break
                # An array remainder keeps starting tasks while they fit; anything else is done.
                if not (job.is_array_remainder and job.state == JobState.PENDING):
                    break
        if power_up:
            actions.append(PowerUp(tuple(power_up)))
        return actions

    def _schedule_one(self, job: Job, ctx: _Pass) -> str | None:
        """Start ``job`` (or one task of an array remainder) if it fits; else say why not."""
        names = job.spec.partitions or ((self.default_partition,) if self.default_partition else ())
        first_reason: str | None = None
        for pname in names:
            candidates = ctx.by_partition.get(pname)
            if candidates is None:
                first_reason = first_reason or "PartitionInactive"
                continue
            # Jobs of the same shape and time limit fit or fail together within a pass.
            shape = (pname, self._effective_limit(job.spec, pname), *shape_of(job.spec))
            if shape in ctx.blocked_shapes:
                # Same request as a job that just failed here: it fails too, without a search.
                first_reason = first_reason or ("Priority" if pname in ctx.reservations else "Resources")
                continue
            alloc = self._try_place(job, pname, candidates, ctx.reservations, ctx.now)
            if alloc is None:
                ctx.blocked_shapes.add(shape)
                r = self._blocked_reason(job, pname, ctx.avail, ctx.reservations, ctx.now)
                first_reason = first_reason or r
                continue
            apply(alloc, ctx.avail)
            self._start(job, pname, alloc, ctx.now, ctx.actions, ctx.power_up)
            return None
        return first_reason or "Resources"

    def _build_avail(self) -> dict[str, Avail]:
        out: dict[str, Avail] = {}
        for node in self.nodes.values():
            rank = _STATE_RANK.get(node.state)
            if rank is None or (node.state == NodeState.UP and not node.responding):
                continue
            d = node.defn
            out[d.name] = Avail(
                d.name,
                node.free_cpus,
                node.free_memory_mb,
                node.free_gpus,
                d.cpus,
                d.memory_mb,
                d.gpus,
                not node.jobs,
                (d.weight, rank, self._order[d.name]),
            )
        return out

    def _ineligible_reason(self, job: Job, now: float) -> str | None:
        if job.held:
            return "JobHeldUser"
        if job.eligible_time is not None and job.eligible_time > now:
            return "BeginTime"
        if job.is_array_remainder and job.spec.array_max_running is not None:
            active = self._array_active.get(job.id, 0)
            if active >= job.spec.array_max_running:
                return "JobArrayTaskLimit"
        if job.spec.dependencies:
            state = self._dependency_state(job, now)
            if state == _WAIT:
                return "Dependency"
            if state == _NEVER:
                return "DependencyNeverSatisfied"
        return None

    # -- dependencies ---------------------------------------------------------------------------

    def _dependency_state(self, job: Job, now: float) -> int:
        """Whether ``job`` may start as far as its dependencies go: _OK, _WAIT or _NEVER.

        For an array remainder with ``aftercorr`` conditions, each pending task has its own
        answer: the first task that may start is remembered for :meth:`_split_task`.
        """
        if job.is_array_remainder and any(c.kind == "aftercorr" for c in job.spec.dependencies):
            assert job.pending_tasks is not None
            seen_wait = False
            for n, task_id in enumerate(job.pending_tasks):
                state = self._conditions_state(job, now, task_id)
                if state == _OK:
                    self._next_task[job.id] = task_id
                    return _OK
                seen_wait = seen_wait or state == _WAIT
                if n >= 10_000:  # bound the search; later tasks are looked at as these start
                    return _WAIT
            return _WAIT if seen_wait else _NEVER
        return self._conditions_state(job, now, job.task_id)

    def _conditions_state(self, job: Job, now: float, task_id: int | None) -> int:
        spec = job.spec
        states = [self._condition_state(c, job, now, task_id) for c in spec.dependencies]
        if spec.dependency_any:
            return _OK if _OK in states else (_WAIT if _WAIT in states else _NEVER)
        return _NEVER if _NEVER in states else (_WAIT if _WAIT in states else _OK)

    def _condition_state(self, c: DepCondition, job: Job, now: float, task_id: int | None) -> int:
        if c.resolved is not None:
            return _OK if c.resolved else _NEVER
        if c.kind == "singleton":
            first = self._unfinished_singletons().get((job.spec.user, job.spec.name))
            mine = job.array_id if job.array_id is not None else job.id
            return _OK if first is None or first >= mine else _WAIT
        if c.kind == "aftercorr":
            if task_id is None:
                return _OK  # not an array task: nothing corresponds
            records = self._dep_records(c.job_id, task_id)
        else:
            records = self._dep_records(c.job_id, c.task_id)
        if not records:
            return _OK  # gone (purged, or a cancelled pending task): nothing left to wait for
        if c.kind == "after":
            if any(r.state == JobState.PENDING for r in records):
                return _WAIT
            started = [r.start_time or r.end_time or 0.0 for r in records]
            return _OK if now >= max(started) + c.delay_s else _WAIT
        if not all(r.state.final for r in records):
            return _WAIT
        if c.kind == "afterany":
            return _OK
        ok = all(r.state == JobState.COMPLETED for r in records)
        if c.kind in ("afterok", "aftercorr"):
            return _OK if ok else _NEVER
        # afternotok: met when something did not complete successfully
        return _NEVER if ok else _OK

    def _dep_records(self, job_id: int, task_id: int | None) -> list[Job]:
        """The records a condition on ``job_id`` (task ``task_id``, -1 or None: all) watches.

        An array's pending remainder stands for its tasks that have not started.
        """
        job = self.jobs.get(job_id)
        is_array = job_id in self._array_tasks or (job is not None and job.array_id == job_id)
        if not is_array:
            return [job] if job is not None else []
        records = self.array_tasks(job_id)
        if job is not None:
            records.append(job)
        if task_id is None or task_id < 0:
            return records
        for r in records:
            if r.task_id == task_id or (
                r.is_array_remainder and r.pending_tasks and task_id in r.pending_tasks
            ):
                return [r]
        return []

    def _unfinished_singletons(self) -> dict[tuple[str, str], int]:
        """(user, name) -> the lowest job (or array) id of that pair not yet finished, per pass."""
        if self._unfinished_by_name is None:
            out: dict[tuple[str, str], int] = {}
            for j in self.jobs.values():
                if j.state.final:
                    continue
                key = (j.spec.user, j.spec.name)
                jid = j.array_id if j.array_id is not None else j.id
                if key not in out or jid < out[key]:
                    out[key] = jid
            self._unfinished_by_name = out
        return self._unfinished_by_name

    def dependency_text(self, job: Job, now: float) -> str | None:
        """Slurm's ``Dependency=`` text: the conditions still standing, with their state."""
        spec = job.spec
        if not spec.dependencies:
            return None
        parts = []
        for c in spec.dependencies:
            state = self._condition_state(c, job, now, job.task_id)
            if state == _OK:
                continue
            if c.kind == "singleton":
                parts.append("singleton(unfulfilled)")
                continue
            target = str(c.job_id)
            if c.task_id is not None:
                target += "_*" if c.task_id < 0 else f"_{c.task_id}"
            delay = f"+{int(c.delay_s // 60)}" if c.delay_s else ""
            parts.append(f"{c.kind}:{target}{delay}({'failed' if state == _NEVER else 'unfulfilled'})")
        return ("?" if spec.dependency_any else ",").join(parts) or None

    def _cancel_never_satisfied(self, job: Job, now: float) -> None:
        """--kill-on-invalid-dep: a job whose dependency can never be met is cancelled."""
        self._job_to(job, JobState.CANCELLED, now, "dependency", "DependencyNeverSatisfied")
        job.end_time = now
        job.reason = "DependencyNeverSatisfied"

    def _try_place(
        self,
        job: Job,
        pname: str,
        candidates: list[Avail],
        reservations: dict[str, tuple[float, frozenset[str]]],
        now: float,
    ) -> Allocation | None:
        limit = self._effective_limit(job.spec, pname)
        pmax = self.partitions[pname].defn.max_time_s
        if pmax is not None and limit is not None and limit > pmax:
            return None
        end = now + limit if limit is not None else math.inf
        blocked: set[str] = set()
        for shadow, nodes in reservations.values():
            if end > shadow:
                blocked |= nodes
        spec = job.spec
        usable = [
            a
            for a in candidates
            if a.cpus > 0
            and a.name not in blocked
            and (not spec.features or _has_features(self.nodes[a.name].defn, spec.features))
            and (spec.gpu_type is None or self.nodes[a.name].defn.gpu_type == spec.gpu_type)
        ]
        return place(spec, usable, self.config.memory_scheduling)

    def _blocked_reason(
        self,
        job: Job,
        pname: str,
        avail: dict[str, Avail],
        reservations: dict[str, tuple[float, frozenset[str]]],
        now: float,
    ) -> str:
        """Explain why ``job`` did not start, and give the first blocked job a reservation."""
        part = self.partitions[pname].defn
        lo, _ = node_limits(job.spec)
        if lo > len(part.nodes):
            return "PartitionNodeLimit"
        limit = self._effective_limit(job.spec, pname)
        if part.max_time_s is not None and limit is not None and limit > part.max_time_s:
            return "PartitionTimeLimit"
        if pname in reservations:
            return "Priority"
        shadow = self._reserve(job, pname, avail, now)
        if shadow is not None:
            reservations[pname] = shadow
        return "Resources"

    def estimate(self, spec: JobSpec, now: float) -> tuple[float, tuple[str, ...], str] | None:
        """When and where a job with ``spec`` would start if submitted now (``--test-only``).

        Placement as a pass would place it, ignoring priority order; a job that does not fit now
        is given the time running jobs' limits free enough nodes. None if that time is unknown.
        """
        avail = self._build_avail()
        probe = Job(id=-1, spec=spec, submit_time=now, priority=0)
        best: tuple[float, tuple[str, ...], str] | None = None
        for pname in spec.partitions or ((self.default_partition,) if self.default_partition else ()):
            part = self.partitions.get(pname)
            if part is None or not part.up:
                continue
            candidates = sorted((avail[n] for n in part.defn.nodes if n in avail), key=lambda a: a.rank)
            alloc = self._try_place(probe, pname, candidates, {}, now)
            if alloc is not None:
                return now, alloc.nodes, pname
            later = self._reserve(probe, pname, avail, now)
            if later is not None and (best is None or later[0] < best[0]):
                best = (later[0], tuple(sorted(later[1], key=_natural_key)), pname)
        return best

    def _reserve(
        self, job: Job, pname: str, avail: dict[str, Avail], now: float
    ) -> tuple[float, frozenset[str]] | None:
        """The earliest time and nodes at which ``job`` could start, from running jobs' limits."""
        spec = job.spec
        members = {
            n
            for n in self.partitions[pname].defn.nodes
            if (not spec.features or _has_features(self.nodes[n].defn, spec.features))
            and (spec.gpu_type is None or self.nodes[n].defn.gpu_type == spec.gpu_type)
        }
        sim = {name: a.copy() for name, a in avail.items() if name in members}
        releases: list[tuple[float, int]] = []
        for other in self.jobs.values():
            if other.state in _HOLDING and other.alloc is not None:
                if not members.intersection(other.alloc.nodes):
                    continue
                if other.state == JobState.COMPLETING:
                    end = now
                elif other.time_limit_s is None or other.start_time is None:
                    end = math.inf
                else:
                    end = other.start_time + other.time_limit_s
                releases.append((end, other.id))
        releases.sort()
        ordered = sorted(sim.values(), key=lambda a: a.rank)
        for end, other_id in releases:
            alloc = self.jobs[other_id].alloc
            assert alloc is not None
            apply(alloc, sim, +1)
            found = place(job.spec, [a for a in ordered if a.cpus > 0], self.config.memory_scheduling)
            if found is not None:
                return end, frozenset(found.nodes)
        return None

    def _start(
        self,
        job: Job,
        pname: str,
        alloc: Allocation,
        now: float,
        actions: list[Action],
        power_up: list[str],
    ) -> None:
        if job.is_array_remainder:
            job = self._split_task(job, now)
        job.partition = pname
        job.time_limit_s = self._effective_limit(job.spec, pname)
        job.alloc = alloc
        job.start_time = now
        job.reason = "None"
        self._hold(job)
        booting = False
        for name in alloc.nodes:
            node = self.nodes[name]
            node.last_busy_time = now
            self.dirty_nodes.add(name)
            if node.state == NodeState.POWERED_DOWN:
                self._node_to(node, NodeState.POWERING_UP, now, "schedule", f"job {self.job_key(job)}")
                power_up.append(name)
                booting = True
            elif node.state == NodeState.POWERING_UP:
                booting = True
        if booting:
            self._job_to(job, JobState.CONFIGURING, now, "schedule")
        else:
            self._start_running(job, now, actions)

    def _start_running(self, job: Job, now: float, actions: list[Action]) -> None:
        assert job.alloc is not None
        self._job_to(job, JobState.RUNNING, now, "schedule")
        # Slurm starts the clock when the job really runs, not when its nodes were allocated.
        job.start_time = now
        job.reason = "None"
        if job.time_limit_s is not None:
            heapq.heappush(self._deadlines, (now + job.time_limit_s, job.id, job.run))
            if job.spec.warn_signal is not None:
                when = now + max(job.time_limit_s - job.spec.warn_signal[1], 0.0)
                heapq.heappush(self._warnings, (when, job.id, job.run))
        actions.append(LaunchJob(job.id, job.run, job.alloc.nodes))

    def _split_task(self, meta: Job, now: float) -> Job:
        """Take the lowest pending task (or the one its dependencies chose) as a record of its own."""
        pending = meta.pending_tasks
        assert pending is not None
        chosen = self._next_task.pop(meta.id, None)
        if chosen is not None and pending.discard(chosen):
            task_id = chosen
        else:
            task_id = pending.pop_min()
        self.dirty_jobs.add(meta.id)
        if not pending:
            # The last task keeps the array's own id, as in Slurm.
            meta.task_id = task_id
            meta.pending_tasks = None
            self.journal.append(
                Transition("job", f"{meta.id}_{task_id}", "", JobState.PENDING, now, "array_split")
            )
            return meta
        task = Job(
            id=self.next_job_id,
            spec=meta.spec,
            submit_time=meta.submit_time,
            priority=meta.priority,
            state=JobState.PENDING,
            array_id=meta.id,
            task_id=task_id,
            partition=meta.partition,
            eligible_time=meta.eligible_time,
            state_time=now,
            time_limit_s=meta.time_limit_s,
        )
        self.next_job_id += 1
        self.jobs[task.id] = task
        self._array_tasks.setdefault(meta.id, set()).add(task.id)
        self.dirty_jobs.add(task.id)
        self.journal.append(
            Transition("job", f"{meta.id}_{task_id}", "", JobState.PENDING, now, "array_split")
        )
        return task

    def _hold(self, job: Job) -> None:
        """Count ``job``'s allocation on its nodes (the inverse of :meth:`_release`)."""
        alloc = job.alloc
        assert alloc is not None
        for i, name in enumerate(alloc.nodes):
            node = self.nodes.get(name)
            if node is None:
                continue  # a node removed from the configuration
            node.jobs.add(job.id)
            node.alloc_cpus += alloc.cpus[i]
            node.alloc_memory_mb += alloc.memory_mb[i]
            node.alloc_gpus += alloc.gpus[i]
            if job.spec.exclusive:
                node.exclusive_job = job.id

    def _release(self, job: Job, now: float) -> None:
        alloc = job.alloc
        if alloc is None:
            return
        for i, name in enumerate(alloc.nodes):
            node = self.nodes.get(name)
            if node is None or job.id not in node.jobs:
                continue
            node.jobs.discard(job.id)
            node.alloc_cpus -= alloc.cpus[i]
            node.alloc_memory_mb -= alloc.memory_mb[i]
            node.alloc_gpus -= alloc.gpus[i]
            if node.exclusive_job == job.id:
                node.exclusive_job = None
            if not node.jobs:
                node.idle_since = now
                node.last_busy_time = now
            self.dirty_nodes.add(name)

    # ------------------------------------------------------------------------------------------
    # restore after a restart
    # ------------------------------------------------------------------------------------------

    def restore(self, jobs: Iterable[Job], node_states: Iterable[Node], next_job_id: int) -> None:
        """Rebuild live state from the store: node records first, then the jobs they hold.

        Allocation counters on nodes are recomputed from the jobs (never trusted from storage),
        so a crash between writes cannot leave a node holding resources for a finished job.
        """
        for saved in node_states:
            node = self.nodes.get(saved.name)
            if node is None:
                continue  # a node removed from the config
            node.state = saved.state
            node.state_time = saved.state_time
            node.reason = saved.reason
            node.reason_time = saved.reason_time
            node.instance_id = saved.instance_id
            node.boot_time = saved.boot_time
            node.idle_since = saved.idle_since
            node.last_busy_time = saved.last_busy_time
            node.responding = False  # until its agent reconnects
            node.jobs = set()
            node.alloc_cpus = node.alloc_memory_mb = node.alloc_gpus = 0
        for job in jobs:
            self.jobs[job.id] = job
            if job.array_id is not None:
                self._array_tasks.setdefault(job.array_id, set())
                self._array_active.setdefault(job.array_id, 0)
                if job.task_id is not None and job.id != job.array_id:
                    self._array_tasks[job.array_id].add(job.id)
                if job.task_id is not None and job.state in _HOLDING:
                    self._array_active[job.array_id] += 1
            if job.state in _HOLDING and job.alloc is not None:
                self._hold(job)
            if job.state == JobState.RUNNING and job.time_limit_s is not None and job.start_time:
                heapq.heappush(self._deadlines, (job.start_time + job.time_limit_s, job.id, job.run))
                if job.spec.warn_signal is not None:
                    when = job.start_time + max(job.time_limit_s - job.spec.warn_signal[1], 0.0)
                    heapq.heappush(self._warnings, (when, job.id, job.run))
        self.next_job_id = max(next_job_id, max(self.jobs, default=0) + 1)
        # Nodes UP without an agent are not trusted until they reconnect (see node_responding).

    def set_partition_state(self, name: str, up: bool) -> None:
        """Restore a partition's UP/INACTIVE state (used when reloading from the store)."""
        self.partitions[name].up = up

    # ------------------------------------------------------------------------------------------
    # helpers for callers
    # ------------------------------------------------------------------------------------------

    def array_tasks(self, array_id: int) -> list[Job]:
        """The materialised task records of an array (not its pending remainder)."""
        return [self.jobs[i] for i in sorted(self._array_tasks.get(array_id, ())) if i in self.jobs]

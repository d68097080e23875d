"""The scheduling engine: a deterministic state machine over jobs, nodes and partitions.

Pure by contract: no I/O, no threads, no clock. Every method takes ``now`` and returns the
actions the caller must carry out (launch, kill, power up, power down). State changes are
recorded in :attr:`Engine.journal` (one :class:`Transition` each) and the changed entities are
listed in ``dirty_jobs``/``dirty_nodes`` so the caller can persist exactly what changed, in one
transaction, before acting or acknowledging anything. The live controller and the simulator run
this same code.

A scheduling pass takes pending jobs in priority order (:mod:`stratus.engine.priority`) and
starts each one that fits now, on the nodes it prefers. What happens to a job that does not fit
is the backfilling policy (:class:`SchedulingPolicy`), decided on the :class:`Plan`, which knows
what every node holds until when (running jobs until their time limit, reservations from their
planned start to their planned end):

- ``none`` (first come, first served): the job blocks its partition; nothing behind it starts.
- ``easy`` (EASY backfilling): the first such job of each partition gets a reservation, the
  earliest start at which it fits; later jobs start now only if they fit around it, so a
  backfilled job never delays the reserved one.
- ``conservative``: every such job gets a reservation, in priority order, and keeps it: when
  jobs end early, reservations are moved earlier (in priority order, each around the others'),
  never later.

Passes are incremental: when nothing but new submissions happened since the last one (no job
ended, no node changed), a pass looks only at the new jobs, against the plan and reservations the
last pass left, which gives the same decisions as a full pass at a fraction of its cost.
Powered-down dynamic nodes count as available: a job placed on them makes them power up (the job
is CONFIGURING until they register).
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterable
from dataclasses import dataclass, field, replace

from stratus.engine.fairshare import FairShare, ShareRow
from stratus.engine.indexset import IndexSet
from stratus.engine.model import (
    BACKFILL_CONSERVATIVE,
    BACKFILL_EASY,
    BACKFILL_NONE,
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
    UserLimits,
)
from stratus.engine.placement import Avail, node_limits, place, shape_of
from stratus.engine.plan import Plan, cpus_needed
from stratus.engine.priority import (
    ClusterSize,
    Factors,
    basic_priority,
    expansion_priority,
    job_factors,
)
from stratus.engine.states import (
    JOB_TRANSITIONS,
    NODE_TRANSITIONS,
    JobState,
    NodeState,
    check_transition,
)
from stratus.engine.timeline import INF

# A dependency's state: may start, must wait, can never be met.
_OK, _WAIT, _NEVER = 0, 1, 2

_STATE_RANK = {NodeState.UP: 0, NodeState.POWERING_UP: 1, NodeState.POWERED_DOWN: 2}

# Jobs that hold resources on their nodes.
_HOLDING = frozenset({JobState.CONFIGURING, JobState.RUNNING, JobState.COMPLETING})

# A job still holding its nodes after its planned end (being killed, or allowed to overrun) is
# planned to end this much later, again and again until it does.
OVERDUE_GRACE_S = 1.0

# Reasons a user limit gives (Slurm's names for QOS limits).
_LIMIT_REASONS = ("QOSMaxJobsPerUserLimit", "QOSMaxNodePerUserLimit", "QOSMaxCpuPerUserLimit")


@dataclass(slots=True)
class CancelOutcome:
    """What a cancel did: ``found`` is False for unknown ids; ``already_done`` if some had ended."""

    found: bool = True
    cancelled: int = 0
    already_done: bool = False
    actions: list[Action] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Reservation:
    """Where and when a pending job is planned to start (held in the plan until dropped)."""

    start: float
    end: float
    alloc: Allocation
    partition: str
    persistent: bool  # conservative: kept from pass to pass, only ever moved earlier


@dataclass(slots=True)
class _Pass:
    """Working state of one scheduling pass."""

    now: float
    full: bool
    actions: list[Action]
    power_up: list[str]
    tested: int = 0  # jobs examined that did not start (bounded by max_job_test)
    started: bool = False
    free: dict[str, int] = field(default_factory=dict)  # CPUs free now per partition (cache)


@dataclass(slots=True)
class _Usage:
    """What one user holds (in the cluster, or in one partition)."""

    jobs: int = 0
    nodes: int = 0
    cpus: int = 0


@dataclass(slots=True)
class _PartRequest:
    """What a request asks of one partition: how long, its shape, a reason it can never start."""

    part: Partition
    duration: float  # its time limit there (INF: none)
    shape: tuple[object, ...]  # requests of equal shape fit or fail together
    static_reason: str | None  # PartitionNodeLimit / PartitionTimeLimit, or None
    cpus: int  # the fewest CPUs it can start on


@dataclass(slots=True)
class _Request:
    """A job spec's requests, partition by partition (cached per spec: specs are shared)."""

    spec: JobSpec
    parts: tuple[_PartRequest, ...]
    nodes: int
    cpus: int

    @property
    def shortest(self) -> float:
        """Its time limit (the shortest of its partitions'), for shortest-first orders."""
        return min((p.duration for p in self.parts), default=INF)


def _has_features(d: NodeDef, wanted: tuple[str, ...]) -> bool:
    return all(f in d.features for f in wanted)


def _final_reason(state: JobState) -> str:
    """Slurm's reason for a job that ended in ``state`` by a kill (cancel, time limit)."""
    return "TimeLimit" if state == JobState.TIMEOUT else "None"


def _natural_key(name: str) -> tuple[str, int]:
    head = name.rstrip("0123456789")
    tail = name[len(head) :]
    return head, int(tail) if tail else -1


def _queue_key(job: Job) -> tuple[int, float, int]:
    """Pass order: highest priority first, then earliest submission, then lowest id."""
    return (-job.priority, job.submit_time, job.id)


def _over_limit(limits: UserLimits, held: _Usage | None, nodes: int, cpus: int) -> str | None:
    """The reason a job needing ``nodes`` and ``cpus`` would break ``limits``, if it would."""
    if not limits:
        return None
    h = held or _Usage()
    if limits.max_jobs is not None and h.jobs + 1 > limits.max_jobs:
        return _LIMIT_REASONS[0]
    if limits.max_nodes is not None and h.nodes + nodes > limits.max_nodes:
        return _LIMIT_REASONS[1]
    if limits.max_cpus is not None and h.cpus + cpus > limits.max_cpus:
        return _LIMIT_REASONS[2]
    return None


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
        self._nodes_in: dict[NodeState, set[str]] = {s: set() for s in NodeState}
        for d in config.nodes:
            self.nodes[d.name] = Node(defn=d, state_time=now, idle_since=now)
            self._nodes_in[NodeState.POWERED_DOWN].add(d.name)
        self.jobs: dict[int, Job] = {}
        self.next_job_id = 1
        self.fleet_running = True
        self.journal: list[Transition] = []
        self.dirty_jobs: set[int] = set()
        self.dirty_nodes: set[str] = set()
        self.dirty_partitions: set[str] = set()
        self.ended_runs: list[RunEnd] = []
        # Derived indexes, rebuilt by restore(): tasks of each array, running tasks per array,
        # and heaps of (time, job id, run) for time limits and --signal warnings.
        self._array_tasks: dict[int, set[int]] = {}
        self._array_active: dict[int, int] = {}
        self._deadlines: list[tuple[float, int, int]] = []
        self._warnings: list[tuple[float, int, int]] = []
        # The one live --signal warning time of each running job (heap entries with another
        # time are stale: the limit changed, or the warning was sent).
        self._warn_at: dict[int, float] = {}
        self._node_retry_at: dict[str, float] = {}
        self._node_failures: dict[str, int] = {}
        self._next_task: dict[int, int] = {}  # array id -> task to start next (aftercorr)
        self._unfinished_by_name: dict[tuple[str, str], int] | None = None  # per pass
        # Timers kept as heaps (validated when popped) so that a tick costs what changed, not
        # what exists: idle dynamic nodes, finished jobs to forget, jobs waiting for --begin.
        self._idle_heap: list[tuple[float, str]] = []
        self._finished_heap: list[tuple[float, int]] = []
        self._eligible_heap: list[tuple[float, int]] = []
        # The plan (see the module docstring) and what the passes keep between them.
        self.plan = Plan(config.nodes, now, config.memory_scheduling)
        self._planned_end: dict[int, float] = {}  # holding job -> end of its hold in the plan
        self._hold_heap: list[tuple[float, int, int]] = []  # (planned end, job id, run)
        self.reservations: dict[int, Reservation] = {}  # pending job (or array remainder) ->
        self._resv_heap: list[tuple[float, int]] = []  # (reservation start, job id)
        self._queue: list[Job] = []  # pending jobs in pass order, as of the last full pass
        self._new: list[Job] = []  # jobs that became pending since
        self._replan = True  # something other than submissions happened: next pass is full
        self._last_full = -math.inf
        self._blocked_parts: set[str] = set()  # FCFS: partitions whose first job cannot start
        self._reserved_parts: set[str] = set()  # EASY: partitions that hold their reservation
        self._blocked_shapes: set[tuple[object, ...]] = set()  # requests known not to fit now
        self._resources_jobs: set[int] = set()  # jobs whose reason is Resources (first blocked)
        self._candidates: dict[tuple[object, ...], list[str]] = {}  # nodes a request may use
        self._dep_pending: set[int] = set()  # pending jobs with dependencies
        self._check_cache: dict[tuple[object, ...], Rejection | None] = {}
        self._requests: dict[int, _Request] = {}
        self._static_names = frozenset(d.name for d in config.nodes if d.static)
        self._limits_on = bool(config.user_limits) or any(p.user_limits for p in config.partitions)
        # Usage: what each user holds (limits), and fair share (multifactor priorities).
        self._holding: dict[int, Job] = {}
        self._user_usage: dict[str, _Usage] = {}
        self._part_usage: dict[tuple[str, str], _Usage] = {}
        self.fairshare = FairShare(config.priority.decay_half_life_s, now)
        self._charged_at = now
        self._next_priority_calc = -math.inf
        self.priority_calc_time = -math.inf  # when pending jobs' priorities were last worked out
        self._fs_cache: dict[tuple[str, str], float] = {}
        self._running_since: dict[int, float] = {}  # running job -> since when it is charged
        self._queued_ids: set[int] = set()
        self._queue_unsorted = False  # priorities changed: the queue must be sorted again
        self._queue_left = 0  # about how many queue entries are no longer pending
        max_factor = max((p.priority_job_factor for p in config.partitions), default=1)
        self._size = ClusterSize(
            nodes=len(config.nodes), cpus=sum(d.cpus for d in config.nodes), max_partition_factor=max_factor
        )

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
        if old == JobState.PENDING:
            self._queue_left += 1
            self._dep_pending.discard(job.id)
            self._drop_reservation(job.id)
            if new == JobState.CANCELLED:
                self._replan = True  # the queue lost a job some decision may rest on
        elif new == JobState.PENDING:
            self._enqueue(job)
            self._queue_unsorted = True  # back again (a requeue): its place may have changed
        if new.final:
            heapq.heappush(self._finished_heap, (now, job.id))
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
        self._nodes_in[node.state].discard(node.name)
        self._nodes_in[new].add(node.name)
        node.state = new
        node.state_time = now
        self.dirty_nodes.add(node.name)
        self._nodes_changed()
        if new == NodeState.UP and not node.jobs:
            self._idle(node, now)

    def _nodes_changed(self) -> None:
        """Which nodes may be used changed: forget the candidate lists and plan everything anew."""
        self._candidates.clear()
        self._replan = True

    def _idle(self, node: Node, now: float) -> None:
        """``node`` has no job since ``now``: a dynamic one powers down after the idle time."""
        node.idle_since = now
        if not node.defn.static:
            heapq.heappush(self._idle_heap, (now, node.name))

    def _enqueue(self, job: Job) -> None:
        """``job`` is pending (again): the next pass looks at it."""
        self._new.append(job)
        if job.spec.dependencies:
            self._dep_pending.add(job.id)
        if job.eligible_time is not None and job.eligible_time > job.state_time:
            heapq.heappush(self._eligible_heap, (job.eligible_time, job.id))

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
        """The job's time limit, or the partition's default, or its maximum (None: unlimited)."""
        if spec.time_limit_s is not None:
            return spec.time_limit_s
        p = self.partitions.get(partition or "")
        if p is None:
            return None
        return p.defn.default_time_s if p.defn.default_time_s is not None else p.defn.max_time_s

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
            key = (name, spec.features, spec.gpu_type, *shape_of(spec))
            if key in self._check_cache:
                r = self._check_cache[key]
            else:
                r = self._check_cache[key] = self._check_partition(spec, name)
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
            priority=basic_priority(job_id, spec.nice),
            state=JobState.PENDING,
            reason="None",
            partition=partition,
            eligible_time=spec.begin_time if spec.begin_time and spec.begin_time > now else now,
            state_time=now,
            held=hold,
        )
        job.time_limit_s = self._effective_limit(spec, partition)
        if self.config.priority.kind != "basic":
            job.priority = self._priority_of(job, now, self._fairshare_factors())
        if array is not None:
            job.array_id = job_id
            job.pending_tasks = array.copy()
            self._array_tasks[job_id] = set()
            self._array_active[job_id] = 0
        self.jobs[job_id] = job
        self.journal.append(Transition("job", str(job_id), "", JobState.PENDING, now, "submit"))
        self.dirty_jobs.add(job_id)
        self._enqueue(job)
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
                    self._replan = True
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
            self._drop_reservation(job.id)
            self._replan = True
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
        job.eligible_time = now
        self._job_to(job, JobState.PENDING, now, cause, reason)
        job.run += 1
        job.start_time = job.end_time = None
        job.alloc = None
        job.final_state = None
        job.requeue_when_done = False
        job.exit_code = job.exit_signal = 0
        job.held = job.held or hold
        job.reason = "JobHeldUser" if job.held else "None"
        self._replan = True

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
            job.priority = self._priority_of(job, now, self._fairshare_factors())
        job.time_limit_s = self._effective_limit(spec, job.partition)
        if job.state == JobState.RUNNING and job.start_time is not None:
            self._push_deadline(job, job.start_time)
            if job.id in self._warn_at:  # not sent yet: due before the new limit instead
                self._arm_warning(job, job.start_time)
            limit = job.time_limit_s if job.time_limit_s is not None else INF
            self._plan_set_end(job, max(job.start_time + limit, now + OVERDUE_GRACE_S))
        self._drop_reservation(job.id)
        self._replan = True
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
            self.node_responding(name, True, now)
            return []
        if node.state != NodeState.POWERING_UP:
            return []
        self._node_to(node, NodeState.UP, now, "agent", "registered")
        node.reason = None
        node.responding = True
        node.boot_time = now
        if instance_id is not None:
            node.instance_id = instance_id
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
            self._nodes_changed()

    # ------------------------------------------------------------------------------------------
    # fleet control
    # ------------------------------------------------------------------------------------------

    def stop_fleet(self, now: float) -> list[Action]:
        """Stop the compute fleet: partitions INACTIVE, every node powered down.

        Running jobs lose their nodes and are requeued (recorded), like ParallelCluster's stop.
        """
        self.fleet_running = False
        self._nodes_changed()
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
        self._nodes_changed()
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
        self.plan.advance(now)
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
        while self._idle_heap:
            since, name = self._idle_heap[0]
            if not self._idle_entry_valid(since, name):
                heapq.heappop(self._idle_heap)
                continue
            t = min(t, since + idle)
            break
        for name in self._nodes_in[NodeState.POWERING_UP]:
            t = min(t, self.nodes[name].state_time + self.config.resume_timeout_s)
        if self.fleet_running:
            for name in self._static_down():
                t = min(t, self._node_retry_at.get(name, now))
        while self._eligible_heap:
            when, job_id = self._eligible_heap[0]
            job = self.jobs.get(job_id)
            if job is None or job.state != JobState.PENDING or job.eligible_time != when or when <= now:
                heapq.heappop(self._eligible_heap)
                continue
            t = min(t, when)
            break
        heap = self._resv_heap
        while heap:
            start, job_id = heap[0]
            r = self.reservations.get(job_id)
            if r is None or r.start != start:
                heapq.heappop(heap)
                continue
            t = min(t, start)
            break
        if self.config.priority.kind != "basic" and self.config.priority.calc_period_s > 0:
            t = min(t, self._next_priority_calc)
        interval = self.config.policy.interval_s
        if self._dep_pending and interval is not None:
            # Conditions such as after:job+10 come true with time alone.
            t = min(t, self._last_full + interval)
        return t

    def _send_warning_signals(self, now: float, actions: list[Action]) -> None:
        """--signal: warn running jobs with a signal some time before their limit."""
        while self._warnings and self._warnings[0][0] <= now:
            when, job_id, run = heapq.heappop(self._warnings)
            if self._warn_at.get(job_id) != when:
                continue
            del self._warn_at[job_id]
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

    def _arm_warning(self, job: Job, start: float) -> None:
        """Schedule a running job's --signal warning for its current time limit."""
        if job.time_limit_s is None or job.spec.warn_signal is None:
            self._warn_at.pop(job.id, None)
            return
        when = start + max(job.time_limit_s - job.spec.warn_signal[1], 0.0)
        self._warn_at[job.id] = when
        heapq.heappush(self._warnings, (when, job.id, job.run))

    def _deadline_of(self, job: Job, start: float) -> float | None:
        """When a job started at ``start`` is killed: its limit plus Slurm's OverTimeLimit."""
        over = self.config.over_time_limit_s
        if job.time_limit_s is None or over is None:
            return None
        return start + job.time_limit_s + over

    def _push_deadline(self, job: Job, start: float) -> None:
        deadline = self._deadline_of(job, start)
        if deadline is not None:
            heapq.heappush(self._deadlines, (deadline, job.id, job.run))

    def _enforce_time_limits(self, now: float, actions: list[Action]) -> None:
        while self._deadlines and self._deadlines[0][0] <= now:
            deadline, job_id, run = heapq.heappop(self._deadlines)
            job = self.jobs.get(job_id)
            if job is None or job.run != run or job.state != JobState.RUNNING or job.alloc is None:
                continue
            if job.start_time is None or self._deadline_of(job, job.start_time) != deadline:
                continue  # the limit was changed since (scontrol update): another entry stands
            job.final_state = JobState.TIMEOUT
            self._job_to(job, JobState.COMPLETING, now, "timer", "TimeLimit")
            actions.append(KillJob(job.id, job.run, job.alloc.nodes, "TIMEOUT"))

    def _check_boot_timeouts(self, now: float, actions: list[Action]) -> None:
        limit = self.config.resume_timeout_s
        for name in sorted(self._nodes_in[NodeState.POWERING_UP], key=self._order.__getitem__):
            node = self.nodes[name]
            if node.state == NodeState.POWERING_UP and now - node.state_time >= limit:
                actions.extend(self.node_lost(node.name, now, "ResumeTimeout reached"))

    def _static_down(self) -> list[str]:
        """Static nodes without an instance (powered down, or failed and gone), in node order."""
        if not self._static_names:
            return []
        down = self._nodes_in[NodeState.POWERED_DOWN], self._nodes_in[NodeState.DOWN]
        if not (down[0] or down[1]):
            return []
        names = [
            n for nodes in down for n in (self._static_names & nodes) if self.nodes[n].instance_id is None
        ]
        if len(names) > 1:
            names.sort(key=self._order.__getitem__)
        return names

    def _keep_static_nodes_up(self, now: float, actions: list[Action]) -> None:
        if not self.fleet_running:
            return
        names: list[str] = []
        for name in self._static_down():
            node = self.nodes[name]
            if self._node_retry_at.get(node.name, 0.0) > now:
                continue
            cause = "replace" if node.state == NodeState.DOWN else "static"
            self._node_to(node, NodeState.POWERING_UP, now, cause)
            names.append(node.name)
        if names:
            actions.append(PowerUp(tuple(names)))

    def _idle_entry_valid(self, since: float, name: str) -> bool:
        node = self.nodes.get(name)
        return (
            node is not None
            and node.state == NodeState.UP
            and not node.jobs
            and not node.defn.static
            and node.idle_since == since
        )

    def _power_down_idle(self, now: float, actions: list[Action]) -> None:
        idle = self.config.scaledown_idle_s
        names: list[str] = []
        heap = self._idle_heap
        while heap and heap[0][0] + idle <= now:
            since, name = heapq.heappop(heap)
            if not self._idle_entry_valid(since, name):
                continue
            node = self.nodes[name]
            self._node_to(node, NodeState.POWERING_DOWN, now, "timer", "idle")
            names.append(name)
        if names:
            names.sort(key=self._order.__getitem__)
            actions.append(PowerDown(tuple(names)))

    def _purge_finished(self, now: float) -> None:
        age = self.config.min_job_age_s
        heap = self._finished_heap
        while heap and heap[0][0] + age <= now:
            _, job_id = heapq.heappop(heap)
            job = self.jobs.get(job_id)
            if job is None or not job.state.final or job.end_time is None or now - job.end_time < age:
                continue
            del self.jobs[job_id]
            if job.array_id is not None:
                tasks = self._array_tasks.get(job.array_id)
                if tasks is not None:
                    tasks.discard(job_id)
                    if not tasks and job.array_id not in self.jobs:
                        del self._array_tasks[job.array_id]
                        self._array_active.pop(job.array_id, None)

    # ------------------------------------------------------------------------------------------
    # priorities and fair share
    # ------------------------------------------------------------------------------------------

    def _fairshare_factors(self) -> dict[tuple[str, str], float]:
        cfg = self.config.priority
        if cfg.kind != "multifactor" or not cfg.weight_fairshare:
            return {}
        return self._fs_cache

    def _priority_of(self, job: Job, now: float, fs: dict[tuple[str, str], float]) -> int:
        cfg = self.config.priority
        if cfg.kind == "basic":
            return basic_priority(job.array_id or job.id, job.spec.nice)
        if cfg.kind == "expansion":
            return expansion_priority(job, now, job.time_limit_s)
        return self.priority_factors(job, now, fs).priority(cfg)

    def priority_factors(
        self,
        job: Job,
        now: float,
        fs: dict[tuple[str, str], float] | None = None,
        partition: str | None = None,
    ) -> Factors:
        """The multifactor factors of ``job`` (in ``partition``, default its first), as sprio shows."""
        spec = job.spec
        if fs is None:
            fs = self._fairshare_factors()
        account = FairShare.account_of(spec.account, spec.user)
        fs_factor = fs.get((account, spec.user), 1.0) if fs else 0.0
        pname = partition or job.partition or self.default_partition or ""
        part = self.partitions.get(pname)
        part_factor = part.defn.priority_job_factor if part is not None else 0
        return job_factors(job, self.config.priority, now, fs_factor, self._size, part_factor)

    def _recalc_priorities(self, now: float) -> None:
        """Every PriorityCalcPeriod: charge running jobs' usage, then reprioritise pending jobs."""
        cfg = self.config.priority
        if cfg.kind == "basic" or now < self._next_priority_calc:
            return
        self._next_priority_calc = now + cfg.calc_period_s
        self.priority_calc_time = now
        self.charge_usage(now)
        if cfg.kind == "multifactor" and cfg.weight_fairshare:
            self._fs_cache = self.fairshare.factors()
        fs = self._fairshare_factors()
        changed = False
        for job in (*self._queue, *self._new):
            if job.state == JobState.PENDING:
                p = self._priority_of(job, now, fs)
                if p != job.priority:
                    job.priority = p
                    changed = True
        if changed and not self._queue_in_order():
            self._replan = True
            self._queue_unsorted = True

    def _queue_in_order(self) -> bool:
        """Whether the pending queue is still in pass order (and new jobs come after it)."""
        last: tuple[int, float, int] | None = None
        for job in (
            *self._queue,
            *sorted((j for j in self._new if j.state == JobState.PENDING), key=_queue_key),
        ):
            if job.state != JobState.PENDING:
                continue
            key = _queue_key(job)
            if last is not None and key < last:
                return False
            last = key
        return True

    def charge_usage(self, now: float) -> None:
        """Add running jobs' CPU-seconds since the last charge to their users' fair-share usage."""
        since = self._charged_at
        if now <= since:
            return
        for job_id, started in self._running_since.items():
            job = self.jobs.get(job_id)
            if job is None or job.alloc is None:
                continue
            begin = max(started, since)
            self.fairshare.charge(job.spec.account, job.spec.user, job.alloc.total_cpus * (now - begin), now)
        self._charged_at = now
        self.fairshare.decay_to(now)

    def shares(self, now: float) -> list[ShareRow]:
        """The fair-share tree as of ``now`` (``sshare``)."""
        self.charge_usage(now)
        return self.fairshare.rows()

    # ------------------------------------------------------------------------------------------
    # the scheduling pass
    # ------------------------------------------------------------------------------------------

    def schedule(self, now: float) -> list[Action]:
        """One pass: start what can start, in priority order, and backfill (module docstring)."""
        self.plan.advance(now)
        self._expire_holds(now)
        self._check_begin_times(now)
        self._recalc_priorities(now)
        policy = self.config.policy
        interval = policy.interval_s
        if interval is not None and now - self._last_full >= interval and (self._queue or self._new):
            self._replan = True
        jobs = None if self._replan else self._incremental_queue()
        full = jobs is None
        if jobs is None:
            jobs = self._full_queue()
            self._begin_full_pass(now)
        else:
            # Reservations that have come due start their jobs; nothing else is re-planned.
            due = self._due_reservations(now)
            if due:
                jobs = [*due, *jobs]
        ctx = _Pass(now, full, [], [])
        self._unfinished_by_name = None
        limit = policy.max_job_test
        fcfs = policy.backfill == BACKFILL_NONE
        shortest = policy.shortest_first and policy.backfill == BACKFILL_EASY
        up_partitions = sum(1 for p in self.partitions.values() if p.up)
        index = 0
        while index < len(jobs):
            job = jobs[index]
            index += 1
            if job.state != JobState.PENDING:
                continue
            if limit is not None and ctx.tested >= limit:
                break
            if fcfs and len(self._blocked_parts) >= up_partitions and not self._dep_pending:
                # First come, first served: nothing behind the blocked jobs can start.
                break
            self._consider(job, ctx)
            if shortest and job.state == JobState.PENDING and self._reserved_parts:
                # Shortest-job backfilling: once the queue's head waits, the others are tried
                # shortest time limit first.
                jobs = sorted(
                    (j for j in jobs[index:] if j.state == JobState.PENDING),
                    key=lambda j: (self._request(j.spec).shortest, _queue_key(j)),
                )
                index = 0
                shortest = False
        if ctx.power_up:
            ctx.actions.append(PowerUp(tuple(ctx.power_up)))
        if ctx.started and self._dep_pending:
            self._replan = True  # "after" dependencies are met when a job starts
        return ctx.actions

    def _consider(self, job: Job, ctx: _Pass) -> None:
        """Start ``job`` (or tasks of an array remainder, as many as fit), or record why not."""
        now = ctx.now
        spec = job.spec
        plain = (
            not job.held
            and (job.eligible_time is None or job.eligible_time <= now)
            and not spec.dependencies
            and spec.array_max_running is None
        )
        while True:
            reason = None if plain else self._ineligible_reason(job, now)
            if reason == "DependencyNeverSatisfied" and job.spec.kill_on_invalid_dep:
                self._cancel_never_satisfied(job, now)
                return
            if reason is None:
                reason = self._schedule_one(job, ctx)
            if reason is not None:
                if job.reason != reason:
                    job.reason = reason
                ctx.tested += 1
                return
            # An array remainder keeps starting tasks while they fit; anything else is done.
            if not (job.is_array_remainder and job.state == JobState.PENDING):
                return

    def _incremental_queue(self) -> list[Job] | None:
        """The jobs an incremental pass looks at (the new ones), or None if a full pass is due.

        New jobs can be looked at alone only if each ranks after every job already queued:
        then the decisions made for those still hold, and the new ones come last.
        """
        if not self._new:
            return []
        seen: set[int] = set()
        new: list[Job] = []
        for job in self._new:
            if job.state == JobState.PENDING and job.id not in seen:
                seen.add(job.id)
                new.append(job)
        new.sort(key=_queue_key)
        queue = self._queue
        while queue and queue[-1].state != JobState.PENDING:
            self._queued_ids.discard(queue.pop().id)
        if queue and new and _queue_key(new[0]) < _queue_key(queue[-1]):
            return None
        if any(j.id in self._queued_ids for j in new):
            return None  # back in the queue after leaving it (a requeue): look at everything
        queue.extend(new)
        self._queued_ids.update(j.id for j in new)
        self._new = []
        return new

    def _full_queue(self) -> list[Job]:
        """Every pending job in pass order (jobs that left it are skipped by the pass).

        The queue is kept sorted from pass to pass: new jobs are merged in, and it is rebuilt
        only when priorities changed or too many of its entries have left, so a pass over a
        long first-come-first-served queue costs what it looks at, not the queue's length.
        """
        queue = self._queue
        ids = self._queued_ids
        if self._new:
            new: list[Job] = []
            for job in self._new:
                if job.state == JobState.PENDING and job.id not in ids:
                    ids.add(job.id)
                    new.append(job)
            self._new = []
            if new:
                new.sort(key=_queue_key)
                while queue and queue[-1].state != JobState.PENDING:
                    ids.discard(queue.pop().id)
                if queue and _queue_key(new[0]) < _queue_key(queue[-1]):
                    self._queue_unsorted = True
                queue.extend(new)
        if self._queue_unsorted or self._queue_left * 2 > len(queue):
            queue = self._queue = [j for j in queue if j.state == JobState.PENDING]
            if self._queue_unsorted:
                queue.sort(key=_queue_key)
            self._queued_ids = {j.id for j in queue}
            self._queue_unsorted = False
            self._queue_left = 0
        else:
            # First come, first served starts jobs from the front: drop them at once.
            k = 0
            while k < len(queue) and queue[k].state != JobState.PENDING:
                ids.discard(queue[k].id)
                k += 1
            if k:
                del queue[:k]
                self._queue_left = max(0, self._queue_left - k)
        return queue

    def _begin_full_pass(self, now: float) -> None:
        """Forget what the last passes concluded: transient reservations, blocked partitions."""
        self._replan = False
        self._last_full = now
        self._blocked_parts.clear()
        self._reserved_parts.clear()
        self._blocked_shapes.clear()
        for job_id in [j for j, r in self.reservations.items() if not r.persistent]:
            self._drop_reservation(job_id)

    def _request(self, spec: JobSpec) -> _Request:
        """What ``spec`` asks of each of its partitions, worked out once per distinct spec."""
        entry = self._requests.get(id(spec))
        if entry is not None and entry.spec is spec:
            return entry
        names = spec.partitions or ((self.default_partition,) if self.default_partition else ())
        nodes_wanted = node_limits(spec)[0]
        parts: list[_PartRequest] = []
        for pname in names:
            part = self.partitions.get(pname)
            if part is None:
                continue
            limit = self._effective_limit(spec, pname)
            static: str | None = None
            if nodes_wanted > len(part.defn.nodes):
                static = "PartitionNodeLimit"
            elif part.defn.max_time_s is not None and limit is not None and limit > part.defn.max_time_s:
                static = "PartitionTimeLimit"
            duration = limit if limit is not None else INF
            shape = (pname, duration, spec.features, spec.gpu_type, *shape_of(spec))
            parts.append(_PartRequest(part, duration, shape, static, cpus_needed(spec)))
        entry = _Request(spec, tuple(parts), nodes_wanted, spec.ntasks * spec.cpus_per_task)
        if len(self._requests) > 100_000:
            self._requests.clear()
        self._requests[id(spec)] = entry
        return entry

    def _schedule_one(self, job: Job, ctx: _Pass) -> str | None:
        """Start ``job`` (or one task of an array remainder) if it fits; else say why not."""
        spec = job.spec
        now = ctx.now
        backfill = self.config.policy.backfill
        req = self._request(spec)
        if self._limits_on:
            reason = _over_limit(
                self.config.user_limits, self._user_usage.get(spec.user), req.nodes, req.cpus
            )
            if reason is not None:
                return reason
        own = self._drop_reservation(job.id) if self.reservations else None
        if own is not None:
            ctx.free.clear()
        first_reason: str | None = None
        reserved = False
        for pr in req.parts:
            part = pr.part
            pname = part.defn.name
            if not part.up:
                first_reason = first_reason or "PartitionInactive"
                continue
            if self._limits_on and part.defn.user_limits:
                usage = self._part_usage.get((pname, spec.user))
                reason = _over_limit(part.defn.user_limits, usage, req.nodes, req.cpus)
                if reason is not None:
                    first_reason = first_reason or reason
                    continue
            if pr.static_reason is not None:
                first_reason = first_reason or pr.static_reason
                continue
            if backfill == BACKFILL_NONE and pname in self._blocked_parts:
                first_reason = first_reason or "Priority"
                continue
            alloc: Allocation | None = None
            # Requests that just failed fail again (availability only shrinks between full
            # passes), unless this job's own reservation was just handed back; and nothing
            # fits in fewer CPUs than it needs.
            free = ctx.free.get(pname)
            if free is None:
                free = ctx.free[pname] = self.plan.totals[pname].at(now)
            if free < pr.cpus:
                pass
            elif own is not None or pr.shape not in self._blocked_shapes:
                alloc = self.plan.fit(spec, self._candidates_for(pname, spec), pname, now, pr.duration)
                if alloc is None and own is None:
                    self._blocked_shapes.add(pr.shape)
            if alloc is not None:
                self._start(job, pname, alloc, ctx)
                ctx.free.clear()
                return None
            if backfill == BACKFILL_NONE:
                self._blocked_parts.add(pname)
                reason = "Resources"
            else:
                reason = "Priority" if pname in self._reserved_parts and own is None else "Resources"
                wants = (
                    backfill == BACKFILL_CONSERVATIVE or own is not None or pname not in self._reserved_parts
                )
                if wants and not reserved:
                    persistent = backfill == BACKFILL_CONSERVATIVE
                    reserved = self._reserve(job, pname, pr.duration, now, persistent)
                    self._reserved_parts.add(pname)
            first_reason = first_reason or reason
        return first_reason or "Resources"

    def _candidates_for(self, pname: str, spec: JobSpec) -> list[str]:
        """The nodes of ``pname`` a request may use now or later, in the order they are preferred.

        Up nodes first, then booting ones, then powered-down ones (within ParallelCluster's
        weights: static before dynamic), in node order; nodes that are down, powering down or
        silent are left out.
        """
        key = (pname, spec.features, spec.gpu_type)
        names = self._candidates.get(key)
        if names is None:
            usable: list[tuple[tuple[int, int, int], str]] = []
            for n in self.partitions[pname].defn.nodes:
                node = self.nodes[n]
                rank = _STATE_RANK.get(node.state)
                if rank is None or (node.state == NodeState.UP and not node.responding):
                    continue
                d = node.defn
                if spec.features and not _has_features(d, spec.features):
                    continue
                if spec.gpu_type is not None and d.gpu_type != spec.gpu_type:
                    continue
                usable.append(((d.weight, rank, self._order[n]), n))
            usable.sort()
            names = self._candidates[key] = [n for _, n in usable]
        return names

    # -- reservations ---------------------------------------------------------------------------

    def _reserve(self, job: Job, pname: str, duration: float, now: float, persistent: bool) -> bool:
        """Give ``job`` the earliest start at which it fits in ``pname``; False if there is none."""
        window = self.config.policy.window_s
        horizon = now + window if window is not None else INF
        found = self.plan.earliest(
            job.spec, self._candidates_for(pname, job.spec), pname, now, duration, horizon
        )
        if found is None:
            return False
        start, alloc = found
        end = start + duration
        self.plan.take(alloc, start, end)
        self.reservations[job.id] = Reservation(start, end, alloc, pname, persistent)
        heapq.heappush(self._resv_heap, (start, job.id))
        return True

    def _drop_reservation(self, job_id: int) -> Reservation | None:
        """Hand a pending job's reservation back to the plan (returned, or None if it had none)."""
        r = self.reservations.pop(job_id, None)
        if r is not None:
            self.plan.give(r.alloc, r.start, r.end)
        return r

    def _due_reservations(self, now: float) -> list[Job]:
        """Pending jobs whose reservation starts now (or earlier), in pass order."""
        heap = self._resv_heap
        due: list[Job] = []
        while heap and heap[0][0] <= now:
            start, job_id = heapq.heappop(heap)
            r = self.reservations.get(job_id)
            job = self.jobs.get(job_id)
            if r is not None and r.start == start and job is not None and job.state == JobState.PENDING:
                due.append(job)
        due.sort(key=_queue_key)
        return due

    def expected_start(self, job: Job) -> float | None:
        """When a pending job is planned to start (its reservation), if it has one."""
        r = self.reservations.get(job.id)
        return r.start if r is not None else None

    # -- holds that outlive their plan --------------------------------------------------------

    def _plan_hold(self, job: Job, start: float, end: float) -> None:
        assert job.alloc is not None
        self.plan.take(job.alloc, start, end)
        self._planned_end[job.id] = end
        if end < INF:
            heapq.heappush(self._hold_heap, (end, job.id, job.run))

    def _plan_set_end(self, job: Job, end: float) -> None:
        """Move the end of a holding job's hold in the plan (longer or shorter)."""
        old = self._planned_end.get(job.id)
        if old is None or job.alloc is None or old == end:
            return
        if end > old:
            self.plan.take(job.alloc, old, end)
        else:
            self.plan.give(job.alloc, end, old)
        self._planned_end[job.id] = end
        if end < INF:
            heapq.heappush(self._hold_heap, (end, job.id, job.run))

    def _plan_release(self, job: Job, now: float) -> bool:
        """Give back the rest of a job's hold; False if nothing was left (it ended as planned)."""
        end = self._planned_end.pop(job.id, None)
        if end is not None and job.alloc is not None and end > self.plan.now and end > now:
            self.plan.give(job.alloc, now, end)
            return True
        return False

    def _expire_holds(self, now: float) -> None:
        """Jobs still holding their nodes past their planned end are planned to end a bit later.

        A job exactly at its planned end counts as gone: its end is due at this very instant.
        """
        heap = self._hold_heap
        while heap and heap[0][0] < now:
            end, job_id, run = heapq.heappop(heap)
            job = self.jobs.get(job_id)
            if job is None or job.run != run or self._planned_end.get(job_id) != end:
                continue
            if job.state not in _HOLDING:
                continue
            self._plan_set_end(job, now + OVERDUE_GRACE_S)
            self._replan = True

    def _check_begin_times(self, now: float) -> None:
        """A job whose --begin time has come is looked at by a full pass."""
        heap = self._eligible_heap
        while heap and heap[0][0] <= now:
            when, job_id = heapq.heappop(heap)
            job = self.jobs.get(job_id)
            if job is not None and job.state == JobState.PENDING and job.eligible_time == when:
                self._replan = True

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

    def estimate(self, spec: JobSpec, now: float) -> tuple[float, tuple[str, ...], str] | None:
        """When and where a job with ``spec`` would start if submitted now (``--test-only``).

        Placed on the plan as it stands (running jobs until their limits, the reservations of
        waiting jobs), ignoring priority order. None if no start can be found.
        """
        self.plan.advance(now)
        best: tuple[float, tuple[str, ...], str] | None = None
        for pname in spec.partitions or ((self.default_partition,) if self.default_partition else ()):
            part = self.partitions.get(pname)
            if part is None or not part.up:
                continue
            limit = self._effective_limit(spec, pname)
            duration = limit if limit is not None else INF
            names = self._candidates_for(pname, spec)
            alloc = self.plan.fit(spec, names, pname, now, duration)
            if alloc is not None:
                return now, alloc.nodes, pname
            found = self.plan.earliest(spec, names, pname, now, duration)
            if found is not None and (best is None or found[0] < best[0]):
                best = (found[0], tuple(sorted(found[1].nodes, key=_natural_key)), pname)
        return best

    def _start(self, job: Job, pname: str, alloc: Allocation, ctx: _Pass) -> None:
        now = ctx.now
        if job.is_array_remainder:
            job = self._split_task(job, now)
        job.partition = pname
        job.time_limit_s = self._effective_limit(job.spec, pname)
        job.alloc = alloc
        job.start_time = now
        job.reason = "None"
        self._hold(job, now)
        ctx.started = True
        booting = False
        for name in alloc.nodes:
            node = self.nodes[name]
            node.last_busy_time = now
            self.dirty_nodes.add(name)
            if node.state == NodeState.POWERED_DOWN:
                self._node_to(node, NodeState.POWERING_UP, now, "schedule", f"job {self.job_key(job)}")
                ctx.power_up.append(name)
                booting = True
            elif node.state == NodeState.POWERING_UP:
                booting = True
        if booting:
            self._job_to(job, JobState.CONFIGURING, now, "schedule")
        else:
            self._start_running(job, now, ctx.actions)

    def _start_running(self, job: Job, now: float, actions: list[Action]) -> None:
        assert job.alloc is not None
        self._job_to(job, JobState.RUNNING, now, "schedule")
        # Slurm starts the clock when the job really runs, not when its nodes were allocated.
        if job.start_time != now:
            job.start_time = now
            if job.time_limit_s is not None:
                self._plan_set_end(job, now + job.time_limit_s)
        job.reason = "None"
        self._running_since[job.id] = now
        self._push_deadline(job, now)
        self._arm_warning(job, now)
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

    def _hold(self, job: Job, now: float) -> None:
        """Count ``job``'s allocation on its nodes, its user's usage and the plan (the inverse of
        :meth:`_release`)."""
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
        self._holding[job.id] = job
        if self._limits_on:
            self._count_usage(job, +1)
        start = job.start_time if job.start_time is not None else now
        limit = job.time_limit_s
        self._plan_hold(job, now, start + limit if limit is not None else INF)

    def _release(self, job: Job, now: float) -> None:
        alloc = job.alloc
        if alloc is None or self._holding.pop(job.id, None) is None:
            return
        changed = self._plan_release(job, now)
        if self._limits_on:
            self._count_usage(job, -1)
        started = self._running_since.pop(job.id, None)
        if started is not None and now > started:
            begin = max(started, self._charged_at)
            self.fairshare.charge(job.spec.account, job.spec.user, alloc.total_cpus * (now - begin), now)
        # Every end re-plans: even one that frees nothing the plan did not expect lets
        # reservations move earlier (conservative) and jobs waiting on it go (dependencies).
        del changed
        self._replan = True
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
                node.last_busy_time = now
                if node.state == NodeState.UP:
                    self._idle(node, now)
                else:
                    node.idle_since = now
            self.dirty_nodes.add(name)

    def _count_usage(self, job: Job, sign: int) -> None:
        """What ``job`` holds, added to (or taken from) its user's totals (for user limits)."""
        alloc = job.alloc
        assert alloc is not None
        user = job.spec.user
        nodes = len(alloc.nodes)
        cpus = alloc.total_cpus
        keys: list[_Usage] = [self._user_usage.setdefault(user, _Usage())]
        if job.partition is not None:
            keys.append(self._part_usage.setdefault((job.partition, user), _Usage()))
        for u in keys:
            u.jobs += sign
            u.nodes += sign * nodes
            u.cpus += sign * cpus

    # ------------------------------------------------------------------------------------------
    # restore after a restart
    # ------------------------------------------------------------------------------------------

    def restore(self, jobs: Iterable[Job], node_states: Iterable[Node], next_job_id: int) -> None:
        """Rebuild live state from the store: node records first, then the jobs they hold.

        Allocation counters on nodes are recomputed from the jobs (never trusted from storage),
        so a crash between writes cannot leave a node holding resources for a finished job.
        Derived state (the plan, reservations, priorities) is rebuilt by the next full pass.
        """
        now = self.plan.now
        for saved in node_states:
            node = self.nodes.get(saved.name)
            if node is None:
                continue  # a node removed from the config
            self._nodes_in[node.state].discard(node.name)
            node.state = saved.state
            self._nodes_in[node.state].add(node.name)
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
                self._hold(job, now)
                if job.state != JobState.CONFIGURING and job.start_time is not None:
                    self._running_since[job.id] = now
                    self.fairshare.charge_past(
                        job.spec.account, job.spec.user, job.alloc.total_cpus, job.start_time, now, now
                    )
            if job.state == JobState.PENDING:
                self._enqueue(job)
            elif job.state.final:
                heapq.heappush(
                    self._finished_heap, (job.end_time if job.end_time is not None else now, job.id)
                )
            if job.state == JobState.RUNNING and job.time_limit_s is not None and job.start_time:
                self._push_deadline(job, job.start_time)
                self._arm_warning(job, job.start_time)
        for name in self._nodes_in[NodeState.UP]:
            node = self.nodes[name]
            if not node.jobs:
                self._idle(node, node.idle_since)
        self._charged_at = now
        self.next_job_id = max(next_job_id, max(self.jobs, default=0) + 1)
        self._nodes_changed()
        # Nodes UP without an agent are not trusted until they reconnect (see node_responding).

    def restore_usage(self, account: str, user: str, cpus: int, start: float, end: float, now: float) -> None:
        """Charge fair share for a run recorded before a restart (see :meth:`FairShare.charge_past`)."""
        self.fairshare.charge_past(account, user, cpus, start, end, now)
        self._fs_cache = {}
        self._next_priority_calc = -math.inf

    def set_partition_state(self, name: str, up: bool) -> None:
        """Restore a partition's UP/INACTIVE state (used when reloading from the store)."""
        self.partitions[name].up = up

    # ------------------------------------------------------------------------------------------
    # helpers for callers
    # ------------------------------------------------------------------------------------------

    def array_tasks(self, array_id: int) -> list[Job]:
        """The materialised task records of an array (not its pending remainder)."""
        return [self.jobs[i] for i in sorted(self._array_tasks.get(array_id, ())) if i in self.jobs]

"""The engine's state and the bookkeeping every part of it shares.

:class:`EngineBase` owns every field of the engine (built once in ``__init__``; restored by
``Engine.restore``) and the primitives through which state changes:

- :meth:`EngineBase._job_to` and :meth:`EngineBase._node_to` are the only ways a job or a node
  changes state. Each checks the transition against its table (``engine/states.py``), records it
  in the journal under the entity's key (:func:`record_key` for jobs) and marks the entity dirty,
  and keeps the derived indexes (pending queue, nodes by state, running tasks per array, timers)
  in step with the change.
- :meth:`EngineBase.drain_changes` hands everything changed since the last call to the caller in
  one piece, so it can be persisted in one transaction before any action is carried out.

The rest of the engine is written as mixins over this base, one per concern (see
``engine/engine.py``). Methods one mixin calls on another are declared here for the type
checker only (under ``TYPE_CHECKING``): at run time a call resolves directly to the one mixin
that defines it, with no indirection.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from stratus.engine.fairshare import FairShare
from stratus.engine.indexset import IndexSet
from stratus.engine.model import (
    Action,
    Allocation,
    Changes,
    EngineConfig,
    Job,
    JobSpec,
    Node,
    NodeDef,
    Partition,
    PowerUp,
    Rejection,
    RunEnd,
    Transition,
    record_key,
)
from stratus.engine.plan import Plan
from stratus.engine.priority import ClusterSize
from stratus.engine.states import (
    JOB_TRANSITIONS,
    NODE_TRANSITIONS,
    JobState,
    NodeState,
    check_transition,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

    from stratus.engine.model import DepCondition
    from stratus.engine.scheduling import _Request

# Jobs that hold resources on their nodes.
_HOLDING = frozenset({JobState.CONFIGURING, JobState.RUNNING, JobState.COMPLETING})

# A job still holding its nodes after its planned end (being killed, or allowed to overrun) is
# planned to end this much later, again and again until it does.
OVERDUE_GRACE_S = 1.0


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
class _Usage:
    """What one user holds (in the cluster, or in one partition)."""

    jobs: int = 0
    nodes: int = 0
    cpus: int = 0


def _has_features(d: NodeDef, wanted: tuple[str, ...]) -> bool:
    return all(f in d.features for f in wanted)


def _final_reason(state: JobState) -> str:
    """The reason code of a job that ended in ``state`` by a kill (cancel, time limit)."""
    return "TimeLimit" if state == JobState.TIMEOUT else "None"


def _natural_key(name: str) -> tuple[str, int]:
    head = name.rstrip("0123456789")
    tail = name[len(head) :]
    return head, int(tail) if tail else -1


def _queue_key(job: Job) -> tuple[int, int, float, int]:
    """Pass order: highest job tier first (``JobSpec.tier``), then highest priority, then
    earliest submission, then lowest id."""
    return (-job.spec.tier, -job.priority, job.submit_time, job.id)


# A pass-order key: smaller first. Keys of one engine all have the same shape.
QueueKey = Callable[[Job], tuple[float, ...]]


class EngineBase:
    """The engine's state, and the primitives that change it (module docstring)."""

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
        # Compute-resource groups (NodeDef.group): every node is in exactly one group, listed in
        # node order; nodes declared without a group are in group "".
        self._group_of: dict[str, str] = {d.name: d.group for d in order}
        members: dict[str, list[str]] = {}
        for d in order:
            members.setdefault(d.group, []).append(d.name)
        self.groups: dict[str, tuple[str, ...]] = {g: tuple(names) for g, names in members.items()}
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
        # The plan (engine/plan.py) and what the passes keep between them.
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
        # The same without paid nodes (powered-down dynamic cloud nodes), and whether every paid
        # node came after every other in the full list; for partitions with a burst threshold.
        self._free_candidates: dict[tuple[object, ...], tuple[list[str], bool]] = {}
        # Per request shape: no start on capacity that needs no power-up before this time. Valid
        # while that capacity only shrinks: forgotten by full passes and when nodes change state
        # (a node powering up becomes such capacity).
        self._burst_shapes: dict[tuple[object, ...], float] = {}
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
        # Priority tiers: pass order starts with the tier when partitions differ in it; otherwise
        # (every partition in one tier) it is the plain order, at no extra cost.
        self._tiers: dict[str, int] = {p.name: p.priority_tier for p in config.partitions}
        self._tier_of_names: dict[tuple[str, ...], int] = {}
        self._tiered = len(set(self._tiers.values())) > 1
        self._queue_key: QueueKey = self._tiered_queue_key if self._tiered else _queue_key
        max_factor = max((p.priority_job_factor for p in config.partitions), default=1)
        self._size = ClusterSize(
            nodes=len(config.nodes), cpus=sum(d.cpus for d in config.nodes), max_partition_factor=max_factor
        )

    def _tier(self, job: Job) -> int:
        """The priority tier ``job`` ranks in: the highest of its partitions' (default: the
        default partition's)."""
        names = job.spec.partitions
        tier = self._tier_of_names.get(names)
        if tier is None:
            wanted = names or ((self.default_partition,) if self.default_partition else ())
            tier = self._tier_of_names[names] = max((self._tiers.get(n, 0) for n in wanted), default=0)
        return tier

    def _tiered_queue_key(self, job: Job) -> tuple[int, int, int, float, int]:
        """Pass order with partition tiers: highest tier first, then as :func:`_queue_key`."""
        return (-self._tier(job), -job.spec.tier, -job.priority, job.submit_time, job.id)

    def _job_to(self, job: Job, new: JobState, now: float, cause: str, reason: str = "") -> None:
        """Move ``job`` to ``new`` (checked, recorded, marked dirty) and keep the indexes in step:
        the pending queue, dependency and reservation bookkeeping, finished jobs, array counts."""
        key = record_key(job)
        check_transition(JOB_TRANSITIONS, f"job {key}", job.state, new)
        self.journal.append(Transition("job", key, job.state, new, now, cause, reason, job.run))
        old = job.state
        job.state = new
        job.state_time = now
        self.dirty_jobs.add(job.id)
        if old == JobState.PENDING:
            self._queue_left += 1
            job.burst = None
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
            if (
                new.final
                and new != JobState.COMPLETED
                and job.spec.array_sequential
                and job.spec.fail_on_parent_failure
            ):
                # Decided when the task ends, not by a later pass: the failed task may be
                # forgotten (purged) before a pass looks at the rest of the array.
                self._fail_sequential_rest(job, now)

    def _node_to(self, node: Node, new: NodeState, now: float, cause: str, reason: str = "") -> None:
        """Move ``node`` to ``new`` (checked, recorded, marked dirty); usable nodes changed, so the
        next pass is a full one."""
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
        self._free_candidates.clear()
        self._burst_shapes.clear()
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

    def _power_up(self, names: list[str]) -> PowerUp:
        """The action that launches ``names``, with the group of each node."""
        group_of = self._group_of
        return PowerUp(tuple(names), tuple(group_of[n] for n in names))

    if TYPE_CHECKING:
        # Provided by the mixins (engine/*.py); declared here so that each mixin type-checks alone.

        # lifecycle.py
        def _cancel_one(self, job: Job, now: float, cause: str, out: CancelOutcome) -> None: ...
        def _back_to_pending(
            self,
            job: Job,
            now: float,
            cause: str,
            reason: str = "requeued",
            *,
            hold: bool = False,
            delay_s: float | None = None,
        ) -> None: ...

        # arrays.py
        def _cancel_array(
            self, array_id: int, task_ids: IndexSet | None, now: float, cause: str
        ) -> CancelOutcome: ...
        def _split_task(self, meta: Job, now: float) -> Job: ...
        def array_tasks(self, array_id: int) -> list[Job]: ...
        def _cancel_pending_tasks(
            self, meta: Job, task_ids: Sequence[int] | IndexSet, now: float, cause: str, reason: str = ""
        ) -> int: ...
        def _sequential_wait(self, job: Job) -> bool: ...
        def _fail_sequential_rest(self, task: Job, now: float) -> None: ...

        # dependencies.py
        def _dependency_state(self, job: Job, now: float) -> int: ...
        def _condition_state(self, c: DepCondition, job: Job, now: float, task_id: int | None) -> int: ...
        def _dep_records(self, job_id: int, task_id: int | None) -> list[Job]: ...
        def _cancel_never_satisfied(self, job: Job, now: float) -> None: ...
        def _cancel_never_satisfied_tasks(self, meta: Job, now: float) -> None: ...

        # nodes.py
        def node_lost(self, name: str, now: float, reason: str) -> list[Action]: ...
        def _check_boot_timeouts(self, now: float, actions: list[Action]) -> None: ...
        def _static_down(self) -> list[str]: ...
        def _keep_static_nodes_up(self, now: float, actions: list[Action]) -> None: ...
        def _idle_entry_valid(self, since: float, name: str) -> bool: ...
        def _power_down_idle(self, now: float, actions: list[Action]) -> None: ...

        # timers.py
        def tick(self, now: float, *, schedule: bool = True) -> list[Action]: ...
        def _arm_warning(self, job: Job, start: float) -> None: ...
        def _push_deadline(self, job: Job, start: float) -> None: ...
        def _check_begin_times(self, now: float) -> None: ...

        # ranking.py
        def _fairshare_factors(self) -> dict[tuple[str, str], float]: ...
        def _priority_of(self, job: Job, now: float, fs: dict[tuple[str, str], float]) -> int: ...
        def _recalc_priorities(self, now: float) -> None: ...
        def charge_usage(self, now: float) -> None: ...

        # allocations.py
        def _hold(self, job: Job, now: float) -> None: ...
        def _release(self, job: Job, now: float) -> None: ...
        def _reserve(self, job: Job, pname: str, duration: float, now: float, persistent: bool) -> bool: ...
        def _reserve_at(
            self, job: Job, pname: str, start: float, alloc: Allocation, duration: float, persistent: bool
        ) -> None: ...
        def _drop_reservation(self, job_id: int) -> Reservation | None: ...
        def _due_reservations(self, now: float) -> list[Job]: ...
        def _plan_set_end(self, job: Job, end: float) -> None: ...
        def _expire_holds(self, now: float) -> None: ...

        # scheduling.py
        def schedule(self, now: float) -> list[Action]: ...
        def _candidates_for(self, pname: str, spec: JobSpec) -> list[str]: ...
        def _start_running(self, job: Job, now: float, actions: list[Action]) -> None: ...

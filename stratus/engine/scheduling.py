"""The scheduling pass: which pending jobs start now, and the backfilling policy for the rest.

A pass takes pending jobs in priority order (:mod:`stratus.engine.ranking`) and starts each one
that fits now, on the nodes it prefers. What happens to a job that does not fit is the
backfilling policy (:class:`SchedulingPolicy`), decided on the :class:`Plan`, which knows what
every node holds until when (running jobs until their time limit, reservations from their
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

Pass order is priority order within priority tiers (``PartitionDef.priority_tier``, then the
job's own ``JobSpec.tier``): every pending job of a higher tier comes before any job of a lower
tier, and shortest-first backfilling reorders jobs within their tier only. The queue stays
sorted by that order between passes, so an incremental pass whose new jobs would rank before a
queued one (a higher tier, or a higher priority) becomes a full pass.

A job that does not start is given a reason code from the engine's vocabulary
(``engine/states.py``): ``Resources``, ``Priority``, ``Dependency``, a limit's name ...

Nodes are preferred in this order: their weight first (ParallelCluster's node priorities: static
1, dynamic 1000 by default), then nodes that are up, then booting, then powered down; among
equals, nodes on the site's own hosts (``NodeDef.on_prem``) before cloud nodes, then the
cheapest (``NodeDef.price_per_hour``), then node order.

Bursting (``PartitionDef.burst_max_wait_s``): in a partition with a burst threshold, a job that
could start now only by powering up paid nodes (powered-down dynamic nodes that are not on the
site's hosts) first asks the plan when it would start on the rest (nodes that are up or booting,
on-prem nodes). If that start is no later than its eligible time plus the threshold, it waits
for it: it reserves that start in the plan (so the jobs after it are planned around it) and
shows ``BurstDeferred``, with the planned start and what bursting would cost in
:attr:`Job.burst`. Otherwise (no such start within the threshold: too big for those nodes, the
wrong features, or simply too far) it powers the paid nodes up at once. Each later pass that
looks at it decides again, so it bursts as soon as the prediction moves past its threshold; its
reservation coming due wakes the engine, and it starts there if the plan held.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from stratus.engine.base import EngineBase, _has_features, _natural_key, _Usage
from stratus.engine.dependencies import _NEVER, _WAIT, PER_TASK_KINDS
from stratus.engine.model import (
    BACKFILL_CONSERVATIVE,
    BACKFILL_EASY,
    BACKFILL_NONE,
    Action,
    Allocation,
    BurstDeferral,
    Job,
    JobSpec,
    LaunchJob,
    Node,
    Partition,
    UserLimits,
    record_key,
)
from stratus.engine.placement import node_limits, shape_of
from stratus.engine.plan import cpus_needed
from stratus.engine.states import BURST_DEFERRED, HOLD_REASONS, JobState, NodeState
from stratus.engine.timeline import INF

_STATE_RANK = {NodeState.UP: 0, NodeState.POWERING_UP: 1, NodeState.POWERED_DOWN: 2}

# Reason codes of the user limits, in the order they are checked.
_LIMIT_REASONS = ("QOSMaxJobsPerUserLimit", "QOSMaxNodePerUserLimit", "QOSMaxCpuPerUserLimit")


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


class SchedulingPass(EngineBase):
    """One scheduling pass over the pending queue, its backfilling, and starting jobs."""

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
                key = self._queue_key
                rest = (j for j in jobs[index:] if j.state == JobState.PENDING)
                if self._tiered:  # shortest first within a tier: a lower tier still comes after
                    jobs = sorted(
                        rest,
                        key=lambda j: (-self._tier(j), -j.spec.tier, self._request(j.spec).shortest, key(j)),
                    )
                else:
                    jobs = sorted(rest, key=lambda j: (-j.spec.tier, self._request(j.spec).shortest, key(j)))
                index = 0
                shortest = False
        if ctx.power_up:
            ctx.actions.append(self._power_up(ctx.power_up))
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
            and not spec.array_sequential
        )
        if (
            spec.fail_on_parent_failure
            and job.is_array_remainder
            and any(c.kind in PER_TASK_KINDS for c in spec.dependencies)
        ):
            # Tasks whose paired task failed are cancelled one by one; the others keep waiting.
            self._cancel_never_satisfied_tasks(job, now)
            if job.state != JobState.PENDING:
                return
        while True:
            reason = None if plain else self._ineligible_reason(job, now)
            if not plain or job.eligible_time is None:
                self._track_eligibility(job, reason, now)
            cancel = spec.kill_on_invalid_dep or spec.fail_on_parent_failure
            if reason == "DependencyNeverSatisfied" and cancel:
                self._cancel_never_satisfied(job, now)
                return
            if reason is None:
                reason = self._schedule_one(job, ctx)
            if reason is not None:
                if job.reason != reason:
                    job.reason = reason
                if job.burst is not None and reason != BURST_DEFERRED:
                    job.burst = None
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
        key = self._queue_key
        new.sort(key=key)
        queue = self._queue
        while queue and queue[-1].state != JobState.PENDING:
            self._queued_ids.discard(queue.pop().id)
        if queue and new and key(new[0]) < key(queue[-1]):
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
        key = self._queue_key
        if self._new:
            new: list[Job] = []
            for job in self._new:
                if job.state == JobState.PENDING and job.id not in ids:
                    ids.add(job.id)
                    new.append(job)
            self._new = []
            if new:
                new.sort(key=key)
                while queue and queue[-1].state != JobState.PENDING:
                    ids.discard(queue.pop().id)
                if queue and key(new[0]) < key(queue[-1]):
                    self._queue_unsorted = True
                queue.extend(new)
        if self._queue_unsorted or self._queue_left * 2 > len(queue):
            queue = self._queue = [j for j in queue if j.state == JobState.PENDING]
            if self._queue_unsorted:
                queue.sort(key=key)
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
        self._burst_shapes.clear()
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
        deferral: BurstDeferral | None = None
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
            if alloc is not None and part.defn.burst_max_wait_s > 0:
                decided = self._burst_or_wait(job, pr, alloc, ctx, not reserved, own is not None)
                if isinstance(decided, BurstDeferral):
                    reserved = job.id in self.reservations
                    deferral = deferral or decided
                    first_reason = first_reason or BURST_DEFERRED
                    continue
                alloc = decided
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
        job.burst = deferral if first_reason == BURST_DEFERRED else None
        return first_reason or "Resources"

    def _burst_or_wait(
        self, job: Job, pr: _PartRequest, alloc: Allocation, ctx: _Pass, may_reserve: bool, own: bool
    ) -> Allocation | BurstDeferral:
        """Where ``job`` starts now in a partition with a burst threshold, or why it waits.

        ``alloc`` is where it fits now. If that powers up no paid node, or no start on capacity
        that needs no power-up comes within the threshold, ``alloc`` stands (it bursts); if it
        fits now on that capacity alone, there. Otherwise it waits for the planned start, which
        it reserves when ``may_reserve`` (``own``: its own reservation was just handed back).
        """
        paid = self._paid_nodes(alloc)
        if not paid:
            return alloc
        spec = job.spec
        now = ctx.now
        part = pr.part.defn
        pname = part.name
        free, paid_last = self._free_candidates_for(pname, spec)
        if not paid_last:
            # Weights put some paid node before capacity that needs no power-up: try that alone.
            here = self.plan.fit(spec, free, pname, now, pr.duration)
            if here is not None:
                return here
        eligible = job.eligible_time if job.eligible_time is not None else now
        deadline = eligible + part.burst_max_wait_s
        if deadline <= now or not free:
            return alloc
        # No request of this shape starts there before ``floor`` (a job with its own reservation
        # handed back may: it neither uses nor sets the floor).
        floor = now if own else max(now, self._burst_shapes.get(pr.shape, now))
        if floor > deadline:
            return alloc
        found = self.plan.earliest(spec, free, pname, floor, pr.duration, deadline)
        if not own:
            self._burst_shapes[pr.shape] = found[0] if found is not None else math.nextafter(deadline, INF)
        if found is None:
            return alloc
        start, where = found
        if start <= now:
            return where
        if may_reserve:
            persistent = self.config.policy.backfill == BACKFILL_CONSERVATIVE
            self._reserve_at(job, pname, start, where, pr.duration, persistent)
            ctx.free.clear()
        nodes = self.nodes
        price = sum(nodes[n].defn.price_per_hour for n in paid)
        cost = price * pr.duration / 3600.0 if pr.duration < INF else None
        return BurstDeferral(start, deadline, price, cost, paid)

    def _paid_nodes(self, alloc: Allocation) -> tuple[str, ...]:
        """The nodes of ``alloc`` that would have to be powered up at a price (see ``_is_paid``)."""
        nodes = self.nodes
        return tuple(n for n in alloc.nodes if self._is_paid(nodes[n]))

    @staticmethod
    def _is_paid(node: Node) -> bool:
        """Whether using ``node`` means powering up a paid node: a powered-down dynamic node
        that is not on the site's own hosts."""
        d = node.defn
        return node.state == NodeState.POWERED_DOWN and not d.static and not d.on_prem

    def _free_candidates_for(self, pname: str, spec: JobSpec) -> tuple[list[str], bool]:
        """:meth:`_candidates_for` without paid nodes, and whether every paid node came after
        all of these (then a fit on the full list uses paid nodes only where these fall short)."""
        key = (pname, spec.features, spec.gpu_type)
        entry = self._free_candidates.get(key)
        if entry is None:
            nodes = self.nodes
            free: list[str] = []
            seen_paid = False
            paid_last = True
            for n in self._candidates_for(pname, spec):
                if self._is_paid(nodes[n]):
                    seen_paid = True
                else:
                    paid_last = paid_last and not seen_paid
                    free.append(n)
            entry = self._free_candidates[key] = (free, paid_last)
        return entry

    def _candidates_for(self, pname: str, spec: JobSpec) -> list[str]:
        """The nodes of ``pname`` a request may use now or later, in the order they are preferred.

        By weight first (ParallelCluster's: static before dynamic), then up nodes, booting ones,
        powered-down ones; among equals on-prem nodes before cloud nodes, then the cheapest, then
        node order. Nodes that are down, powering down or silent are left out.
        """
        key = (pname, spec.features, spec.gpu_type)
        names = self._candidates.get(key)
        if names is None:
            usable: list[tuple[tuple[int, int, int, float, int], str]] = []
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
                usable.append(((d.weight, rank, 0 if d.on_prem else 1, d.price_per_hour, self._order[n]), n))
            usable.sort()
            names = self._candidates[key] = [n for _, n in usable]
        return names

    def _track_eligibility(self, job: Job, reason: str | None, now: float) -> None:
        """Keep ``job.eligible_time`` as Slurm keeps a job's begin time: set to now when the job is
        first found free to go, cleared (once passed) while it waits on a dependency."""
        if reason is None:
            if job.eligible_time is None:
                job.eligible_time = now
                self.dirty_jobs.add(job.id)
        elif (
            reason in ("Dependency", "DependencyNeverSatisfied")
            and job.eligible_time is not None
            and job.eligible_time <= now
        ):
            job.eligible_time = None
            self.dirty_jobs.add(job.id)

    def _ineligible_reason(self, job: Job, now: float) -> str | None:
        if job.held:
            # The hold's own reason. A job whose hold reason was replaced (held while it ran, its
            # run failed, then it was requeued) is the administrator's, as Slurm's scheduler has it.
            return job.reason if job.reason in HOLD_REASONS else "JobHeldAdmin"
        if job.eligible_time is not None and job.eligible_time > now:
            return "BeginTime"
        if job.is_array_remainder and job.spec.array_max_running is not None:
            active = self._array_active.get(job.id, 0)
            if active >= job.spec.array_max_running:
                return "JobArrayTaskLimit"
        if job.spec.array_sequential and job.array_id is not None and self._sequential_wait(job):
            return "Dependency"  # the task before it has not ended
        if job.spec.dependencies:
            state = self._dependency_state(job, now)
            if state == _WAIT:
                return "Dependency"
            if state == _NEVER:
                return "DependencyNeverSatisfied"
        return None

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
                self._node_to(node, NodeState.POWERING_UP, now, "schedule", f"job {record_key(job)}")
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

"""What jobs hold and reserve: node counters, holds in the plan, user usage, reservations.

A job that holds nodes (CONFIGURING, RUNNING, COMPLETING) is counted on each of its nodes, in its
user's usage (for user limits) and in the plan until its time limit; a pending job may hold a
reservation in the plan from its planned start to its planned end.

What it guarantees: :meth:`Allocations._hold` and :meth:`Allocations._release` are exact
inverses, and a second release does nothing; node counters are always the sums over the jobs on
the node; a job still holding its nodes past its planned end is planned to end a little later
(``OVERDUE_GRACE_S``), again and again, so nothing is planned onto nodes it still holds; a
reservation handed back returns to the plan exactly what it took.
"""

from __future__ import annotations

import heapq

from stratus.engine.base import _HOLDING, OVERDUE_GRACE_S, EngineBase, Reservation, _Usage
from stratus.engine.model import Allocation, Job
from stratus.engine.states import JobState, NodeState
from stratus.engine.timeline import INF


class Allocations(EngineBase):
    """Holding and releasing allocations, holds in the plan, and reservations."""

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
            self.fairshare.charge(job.spec.share, job.spec.user, alloc.total_cpus * (now - begin), now)
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
        self._reserve_at(job, pname, start, alloc, duration, persistent)
        return True

    def _reserve_at(
        self, job: Job, pname: str, start: float, alloc: Allocation, duration: float, persistent: bool
    ) -> None:
        """Hold ``alloc`` in the plan for ``job`` from ``start`` for ``duration`` (its reservation)."""
        end = start + duration
        self.plan.take(alloc, start, end)
        self.reservations[job.id] = Reservation(start, end, alloc, pname, persistent)
        heapq.heappush(self._resv_heap, (start, job.id))

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
        due.sort(key=self._queue_key)
        return due

    def expected_start(self, job: Job) -> float | None:
        """When a pending job is planned to start (its reservation), if it has one."""
        r = self.reservations.get(job.id)
        return r.start if r is not None else None

"""Time: what happens because time passed (:meth:`Timers.tick`), and when that is next due.

Each timer is a heap of ``(time, ...)`` entries validated when popped, so a tick costs what is
due, not what exists: time limits (a job is killed at its limit plus ``over_time_limit_s``),
``--signal`` warnings, begin times, idle nodes, finished jobs to forget after ``min_job_age_s``.

What it guarantees: :meth:`Timers.next_wakeup` is never later than the next time :meth:`tick`
has something time-based to do, so a caller that sleeps until then misses nothing; a stale heap
entry (the job ended, was requeued, or its limit changed) never acts.
"""

from __future__ import annotations

import heapq
import math

from stratus.engine.base import EngineBase
from stratus.engine.model import Action, Job, KillJob
from stratus.engine.states import JobState, NodeState


class Timers(EngineBase):
    """Ticks: warnings, time limits, boot timeouts, static nodes, idle power-down, purging."""

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

    def _check_begin_times(self, now: float) -> None:
        """A job whose --begin time has come is looked at by a full pass."""
        heap = self._eligible_heap
        while heap and heap[0][0] <= now:
            when, job_id = heapq.heappop(heap)
            job = self.jobs.get(job_id)
            if job is not None and job.state == JobState.PENDING and job.eligible_time == when:
                self._replan = True

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

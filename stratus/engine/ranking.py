"""Ranking pending jobs: their priorities (:mod:`stratus.engine.priority`) and fair-share usage.

What it guarantees: with ``basic`` priorities a job's priority is set at submission (and by an
update of ``nice``); otherwise every ``calc_period_s`` running jobs are charged their CPU-seconds,
fair-share factors are worked out once, and every pending job is re-prioritised; if that breaks
the queue's order, the next pass is a full one over a re-sorted queue. Each CPU-second is charged
once: up to the last charge by :meth:`Ranking.charge_usage`, after it when the job ends.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from stratus.engine.base import EngineBase
from stratus.engine.fairshare import FairShare, ShareRow
from stratus.engine.model import Job
from stratus.engine.priority import Factors, basic_priority, expansion_priority, job_factors
from stratus.engine.states import JobState


class Ranking(EngineBase):
    """Job priorities and the fair-share usage they rest on."""

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
        account = FairShare.account_of(spec.share, spec.user)
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
        queue_key = self._queue_key
        last: tuple[float, ...] | None = None
        for job in (
            *self._queue,
            *sorted((j for j in self._new if j.state == JobState.PENDING), key=queue_key),
        ):
            if job.state != JobState.PENDING:
                continue
            key = queue_key(job)
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
            self.fairshare.charge(job.spec.share, job.spec.user, job.alloc.total_cpus * (now - begin), now)
        self._charged_at = now
        self.fairshare.decay_to(now)

    def shares(self, now: float) -> list[ShareRow]:
        """The fair-share tree as of ``now`` (``sshare``)."""
        self.charge_usage(now)
        return self.fairshare.rows()

    def restore_usage(self, account: str, user: str, cpus: int, start: float, end: float, now: float) -> None:
        """Charge fair share for a run recorded before a restart (see :meth:`FairShare.charge_past`).

        ``account`` is the fair-share account the run was charged to (its spec's ``share``).
        """
        self.fairshare.charge_past(account, user, cpus, start, end, now)
        self._fs_cache = {}
        self._next_priority_calc = -math.inf

    def set_share_weights(self, weights: Mapping[str, float]) -> None:
        """Weigh fair-share accounts (see :meth:`FairShare.set_weights`); pending jobs'
        priorities are worked out again at the next pass."""
        self.fairshare.set_weights(weights)
        self._fs_cache = {}
        self._next_priority_calc = -math.inf

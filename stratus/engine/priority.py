"""Job priorities: Slurm's priority/basic and priority/multifactor, and expansion-factor order.

- ``basic``: first come, first served. Slurm's priority/basic gives each job
  ``0xFFFF0000 - job_id``, so earlier jobs rank higher; ``--nice`` lowers it.
- ``multifactor``: Slurm's weighted sum, recomputed every ``PriorityCalcPeriod``::

      priority = PriorityWeightAge       * age
               + PriorityWeightFairshare * fair-share
               + PriorityWeightJobSize   * job size
               + PriorityWeightPartition * partition
               - nice

  each factor between 0 and 1: *age* is the time since the job became eligible over
  ``PriorityMaxAge`` (capped at 1); *fair-share* is :meth:`FairShare.factor`; *job size* is the
  average of the job's share of the cluster's nodes and of its CPUs (with ``PriorityFavorSmall``,
  of what it leaves free); *partition* is the partition's ``PriorityJobFactor`` over the
  largest one. The sum is truncated to an integer, and a job's priority is at least 1.
- ``expansion``: largest expansion factor first, ``(wait + limit) / limit``, so that short jobs
  do not wait long relative to their length and every job's rank grows as it waits (LXF).
  Shown as an integer: the factor times 1000.
"""

from __future__ import annotations

from dataclasses import dataclass

from stratus.engine.model import Job, PriorityConfig

PRIORITY_BASE = 0xFFFF0000  # Slurm's priority/basic starts here and counts down per job
EXPANSION_SCALE = 1000
_MAX_PRIORITY = 0xFFFFFFFF


def basic_priority(job_id: int, nice: int) -> int:
    """Slurm's priority/basic: submission order, lowered by ``--nice``."""
    return max(0, PRIORITY_BASE - job_id - nice)


@dataclass(frozen=True, slots=True)
class Factors:
    """A job's multifactor factors (each 0 to 1) and its nice value (``sprio`` shows these)."""

    age: float
    fairshare: float
    jobsize: float
    partition: float
    nice: int

    def priority(self, cfg: PriorityConfig) -> int:
        """The weighted sum, truncated, at least 1 (Slurm's rule)."""
        total = (
            cfg.weight_age * self.age
            + cfg.weight_fairshare * self.fairshare
            + cfg.weight_jobsize * self.jobsize
            + cfg.weight_partition * self.partition
            - self.nice
        )
        return int(min(max(total, 1.0), _MAX_PRIORITY))


@dataclass(frozen=True, slots=True)
class ClusterSize:
    """What the job-size and partition factors are relative to."""

    nodes: int
    cpus: int
    max_partition_factor: int


def job_factors(
    job: Job,
    cfg: PriorityConfig,
    now: float,
    fairshare: float,
    size: ClusterSize,
    partition_factor: int,
) -> Factors:
    """The multifactor factors of a pending ``job`` at ``now``."""
    spec = job.spec
    since = job.eligible_time if job.eligible_time is not None else job.submit_time
    age = 0.0
    if cfg.max_age_s > 0 and now > since:
        age = min((now - since) / cfg.max_age_s, 1.0)
    nodes = max(1, spec.min_nodes)
    cpus = max(1, spec.ntasks * spec.cpus_per_task)
    if cfg.favor_small:
        node_part = (size.nodes - nodes) / size.nodes if size.nodes else 0.0
        cpu_part = (size.cpus - cpus) / size.cpus if size.cpus else 0.0
    else:
        node_part = nodes / size.nodes if size.nodes else 0.0
        cpu_part = cpus / size.cpus if size.cpus else 0.0
    jobsize = min(max((node_part + cpu_part) / 2.0, 0.0), 1.0)
    part = partition_factor / size.max_partition_factor if size.max_partition_factor else 0.0
    return Factors(age, fairshare, jobsize, part, spec.nice)


def expansion_priority(job: Job, now: float, limit_s: float | None) -> int:
    """Largest-expansion-factor-first: ``(wait + limit) / limit`` times 1000, lowered by nice."""
    since = job.eligible_time if job.eligible_time is not None else job.submit_time
    wait = max(0.0, now - since)
    limit = limit_s if limit_s is not None and limit_s > 0 else 365 * 86400.0
    factor = (wait + limit) / limit
    return int(min(max(factor * EXPANSION_SCALE - job.spec.nice, 1.0), _MAX_PRIORITY))

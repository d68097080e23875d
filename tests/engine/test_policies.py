"""Priorities, limits and partitions in the engine: multifactor, user caps with Slurm's reasons,
partition time limits and defaults, nodes in several partitions, and ``-p a,b``."""

from __future__ import annotations

import math

from stratus.engine.engine import Engine
from stratus.engine.model import (
    BACKFILL_EASY,
    EngineConfig,
    JobSpec,
    LaunchJob,
    NodeDef,
    PartitionDef,
    PriorityConfig,
    SchedulingPolicy,
    UserLimits,
)
from stratus.engine.priority import PRIORITY_BASE, basic_priority
from stratus.engine.states import JobState


def spec(**kw: object) -> JobSpec:
    base: dict[str, object] = {"name": "job", "user": "alice", "time_limit_s": 600.0}
    base.update(kw)
    return JobSpec(**base)  # type: ignore[arg-type]


def engine(
    parts: dict[str, tuple[str, ...]],
    nodes: dict[str, int],
    *,
    defaults: dict[str, dict[str, object]] | None = None,
    **kw: object,
) -> Engine:
    """Static nodes (name -> CPUs), up at t=0, in the partitions that list them."""
    member = {n: tuple(p for p, names in parts.items() if n in names) for n in nodes}
    cfg = EngineConfig(
        partitions=tuple(
            PartitionDef(p, names, default=i == 0, **(defaults or {}).get(p, {}))  # type: ignore[arg-type]
            for i, (p, names) in enumerate(parts.items())
        ),
        nodes=tuple(NodeDef(n, member[n], cpus, cpus * 1000, static=True) for n, cpus in nodes.items()),
        scaledown_idle_s=math.inf,
        **kw,  # type: ignore[arg-type]
    )
    e = Engine(cfg, now=0.0)
    e.tick(0.0)
    for n in nodes:
        e.node_up(n, 0.0)
    return e


def launched(actions: list[object]) -> list[int]:
    return [a.job_id for a in actions if isinstance(a, LaunchJob)]


def test_basic_priority_is_submission_order_lowered_by_nice() -> None:
    assert basic_priority(5, 0) == PRIORITY_BASE - 5
    assert basic_priority(5, 100) < basic_priority(6, 0)


def test_multifactor_age_and_job_size_order_the_queue() -> None:
    prio = PriorityConfig(
        kind="multifactor", weight_age=1000, weight_jobsize=100, max_age_s=1000.0, calc_period_s=0.0
    )
    e = engine({"q": ("n1", "n2")}, {"n1": 2, "n2": 2}, priority=prio)
    blocker = e.submit(spec(ntasks=4), 0.0)
    assert launched(e.tick(0.0)) == [blocker.id]
    old = e.submit(spec(ntasks=1), 0.0)
    big = e.submit(spec(ntasks=4), 500.0)
    e.tick(500.0)
    f = e.priority_factors(old, 500.0)
    assert (f.age, f.jobsize) == (0.5, (1 / 2 + 1 / 4) / 2)
    assert old.priority == int(1000 * 0.5 + 100 * 0.375)
    fb = e.priority_factors(big, 500.0)
    assert (fb.age, fb.jobsize) == (0.0, (1 / 2 + 4 / 4) / 2)  # Slurm counts min nodes: 1 of 2
    assert big.priority == 75
    nice = e.submit(spec(ntasks=1, nice=20), 500.0)
    e.tick(500.0)
    assert nice.priority == int(100 * 0.375) - 20
    lowest = e.submit(spec(ntasks=1, nice=500), 500.0)
    e.tick(500.0)
    assert lowest.priority == 1  # never below 1 (0 means held)


def test_fair_share_ranks_the_light_user_first() -> None:
    prio = PriorityConfig(kind="multifactor", weight_fairshare=10000, calc_period_s=0.0)
    e = engine({"q": ("n1",)}, {"n1": 1}, priority=prio)
    heavy = e.submit(spec(user="heavy"), 0.0)
    e.tick(0.0)
    e.job_ended(heavy.id, heavy.run, 500.0)
    e.tick(500.0)
    blocker = e.submit(spec(user="other", time_limit_s=100.0), 500.0)
    assert launched(e.tick(500.0)) == [blocker.id]
    first = e.submit(spec(user="heavy"), 501.0)
    second = e.submit(spec(user="light"), 502.0)
    e.tick(502.0)
    assert second.priority > first.priority
    actions = e.job_ended(blocker.id, blocker.run, 550.0) + e.tick(550.0)
    assert launched(actions) == [second.id]


def test_user_limits_hold_jobs_with_slurms_reasons() -> None:
    e = engine(
        {"q": ("n1", "n2", "n3")},
        {"n1": 1, "n2": 1, "n3": 1},
        user_limits=UserLimits(max_jobs=2),
        defaults={"q": {"user_limits": UserLimits(max_cpus=1)}},
    )
    a = e.submit(spec(), 0.0)
    b = e.submit(spec(), 0.0)
    c = e.submit(spec(user="bob"), 0.0)
    assert launched(e.tick(0.0)) == [a.id, c.id]
    assert (b.state, b.reason) == (JobState.PENDING, "QOSMaxCpuPerUserLimit")
    e.job_ended(a.id, a.run, 10.0)
    assert launched(e.tick(10.0)) == [b.id]

    e2 = engine({"q": ("n1", "n2", "n3")}, {"n1": 1, "n2": 1, "n3": 1}, user_limits=UserLimits(max_jobs=2))
    jobs = [e2.submit(spec(), 0.0) for _ in range(3)]
    assert launched(e2.tick(0.0)) == [jobs[0].id, jobs[1].id]
    assert jobs[2].reason == "QOSMaxJobsPerUserLimit"
    e3 = engine({"q": ("n1", "n2")}, {"n1": 1, "n2": 1}, user_limits=UserLimits(max_nodes=1))
    x, y = e3.submit(spec(), 0.0), e3.submit(spec(), 0.0)
    assert launched(e3.tick(0.0)) == [x.id]
    assert y.reason == "QOSMaxNodePerUserLimit"


def test_partition_time_limits_and_default_time() -> None:
    e = engine({"q": ("n1",)}, {"n1": 1}, defaults={"q": {"max_time_s": 600.0, "default_time_s": 60.0}})
    # Slurm 22.05 with EnforcePartLimits=ALL (ParallelCluster's): longer than MaxTime is refused.
    rejection = e.check(spec(time_limit_s=3600.0))
    assert rejection is not None and rejection.code == "TIME_LIMIT"
    unset = e.submit(spec(time_limit_s=None), 0.0)
    assert launched(e.tick(0.0)) == [unset.id]
    assert unset.time_limit_s == 60.0
    assert e.check(spec(cpus_per_task=1, ntasks=2)).code == "PROCESSORS"  # 1 CPU in all


def test_a_node_in_two_partitions_is_shared_and_never_double_booked() -> None:
    e = engine({"small": ("n1",), "all": ("n1", "n2")}, {"n1": 2, "n2": 2})
    a = e.submit(spec(ntasks=2, partitions=("small",)), 0.0)
    b = e.submit(spec(ntasks=4, partitions=("all",)), 0.0)
    c = e.submit(spec(ntasks=2, partitions=("all",)), 0.0)
    assert launched(e.tick(0.0)) == [a.id, c.id]
    assert a.alloc is not None and a.alloc.nodes == ("n1",)
    assert c.alloc is not None and c.alloc.nodes == ("n2",)
    assert b.state == JobState.PENDING
    e.job_ended(a.id, a.run, 5.0)
    e.job_ended(c.id, c.run, 5.0)
    assert launched(e.tick(5.0)) == [b.id]


def test_several_partitions_run_in_the_first_that_can_start_the_job() -> None:
    e = engine(
        {"a": ("n1",), "b": ("n2",)}, {"n1": 1, "n2": 1}, policy=SchedulingPolicy(backfill=BACKFILL_EASY)
    )
    busy = e.submit(spec(partitions=("a",)), 0.0)
    either = e.submit(spec(partitions=("a", "b")), 0.0)
    assert launched(e.tick(0.0)) == [busy.id, either.id]
    assert either.partition == "b"
    e.job_ended(busy.id, busy.run, 2.0)
    first = e.submit(spec(partitions=("b", "a")), 2.0)
    assert launched(e.tick(2.0)) == [first.id]
    assert first.partition == "a"  # b is busy: the first of its partitions that can start it

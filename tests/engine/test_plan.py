"""The backfill plan: fitting jobs in windows of time on nodes."""

from __future__ import annotations

import math

from stratus.engine.model import Allocation, JobSpec, NodeDef
from stratus.engine.plan import Plan


def nodes(n: int, cpus: int = 4, gpus: int = 0) -> list[NodeDef]:
    return [NodeDef(f"n{i}", ("p",), cpus, 1000, gpus=gpus) for i in range(1, n + 1)]


def alloc(*pairs: tuple[str, int]) -> Allocation:
    return Allocation(
        nodes=tuple(n for n, _ in pairs),
        cpus=tuple(c for _, c in pairs),
        memory_mb=tuple(0 for _ in pairs),
        gpus=tuple(0 for _ in pairs),
        tasks=tuple(c for _, c in pairs),
    )


NAMES = ["n1", "n2", "n3"]


def test_fit_respects_holds_over_the_whole_window() -> None:
    plan = Plan(nodes(3), 0.0, memory_scheduling=False)
    plan.take(alloc(("n1", 4), ("n2", 4)), 0.0, 100.0)  # running until 100
    plan.take(alloc(("n3", 3)), 50.0, 80.0)  # a reservation from 50 to 80
    job = JobSpec("j", "u", ntasks=2)
    assert plan.fit(job, NAMES, "p", 0.0, 40.0) is not None  # ends before the reservation
    assert plan.fit(job, NAMES, "p", 0.0, 60.0) is None  # would overlap it (1 CPU left)
    one = JobSpec("j", "u", ntasks=1)
    got = plan.fit(one, NAMES, "p", 0.0, 60.0)
    assert got is not None and got.nodes == ("n3",)


def test_earliest_start_across_nodes() -> None:
    plan = Plan(nodes(3), 0.0, memory_scheduling=False)
    plan.take(alloc(("n1", 4)), 0.0, 100.0)
    plan.take(alloc(("n2", 4)), 0.0, 200.0)
    plan.take(alloc(("n3", 2)), 0.0, 50.0)
    whole_node = JobSpec("j", "u", ntasks=4)
    found = plan.earliest(whole_node, NAMES, "p", 0.0, 30.0)
    assert found is not None and found[0] == 50.0 and found[1].nodes == ("n3",)
    two_nodes = JobSpec("j", "u", ntasks=8, min_nodes=2)
    found = plan.earliest(two_nodes, NAMES, "p", 0.0, 30.0)
    assert found is not None and found[0] == 100.0 and set(found[1].nodes) == {"n1", "n3"}
    forever = JobSpec("j", "u", ntasks=12, min_nodes=3)
    found = plan.earliest(forever, NAMES, "p", 0.0, math.inf)
    assert found is not None and found[0] == 200.0
    assert plan.earliest(JobSpec("j", "u", ntasks=13), NAMES, "p", 0.0, 1.0) is None


def test_exclusive_needs_empty_nodes_and_gpus_count() -> None:
    plan = Plan(nodes(2, gpus=2), 0.0, memory_scheduling=False)
    plan.take(Allocation(("n1",), (1,), (0,), (2,), (1,)), 0.0, 10.0)
    excl = JobSpec("j", "u", exclusive=True)
    got = plan.fit(excl, ["n1", "n2"], "p", 0.0, 5.0)
    assert got is not None and got.nodes == ("n2",)
    gpu = JobSpec("j", "u", gpus_per_node=2)
    got = plan.fit(gpu, ["n1", "n2"], "p", 0.0, 5.0)
    assert got is not None and got.nodes == ("n2",)
    found = plan.earliest(gpu, ["n1"], "p", 0.0, 5.0)
    assert found is not None and found[0] == 10.0


def test_advance_and_give_back() -> None:
    plan = Plan(nodes(1), 0.0, memory_scheduling=False)
    a = alloc(("n1", 4))
    plan.take(a, 0.0, 100.0)
    plan.advance(60.0)
    plan.give(a, 60.0, 100.0)  # the job ended early, at 60
    assert plan.fit(JobSpec("j", "u", ntasks=4), ["n1"], "p", 60.0, 1000.0) is not None


def test_filling_an_idle_cluster_does_not_rewalk_full_nodes() -> None:
    # Regression: placing N whole-node jobs in one pass looked at every full node again for each
    # job (N*N/2 windows: 40 s for 10,000 nodes).
    plan = Plan(nodes(500), 0.0, memory_scheduling=False)
    names = [f"n{i}" for i in range(1, 501)]
    looked = 0
    window = plan.window

    def counting(name: str, start: float, end: float):  # type: ignore[no-untyped-def]
        nonlocal looked
        looked += 1
        return window(name, start, end)

    plan.window = counting  # type: ignore[method-assign]
    spec = JobSpec(name="j", user="u", ntasks=4)
    for _ in range(500):
        a = plan.fit(spec, names, "p", 0.0, 100.0)
        assert a is not None
        plan.take(a, 0.0, 100.0)
    assert plan.fit(spec, names, "p", 0.0, 100.0) is None
    assert looked <= 2 * 500
    # Capacity given back at the present is seen again at once.
    plan.give(alloc(("n7", 4)), 0.0, 100.0)
    found = plan.fit(spec, names, "p", 0.0, 100.0)
    assert found is not None and found.nodes == ("n7",)

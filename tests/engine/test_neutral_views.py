"""The engine's neutral views: dependency status, journal keys, compute-resource groups, reasons."""

from __future__ import annotations

from stratus.engine.dependencies import DEP_FAILED, DEP_UNFULFILLED
from stratus.engine.engine import CancelOutcome, Engine
from stratus.engine.indexset import IndexSet
from stratus.engine.model import (
    DepCondition,
    EngineConfig,
    Job,
    JobSpec,
    NodeDef,
    PartitionDef,
    PowerUp,
    record_key,
    task_record_key,
    tasks_record_key,
)
from stratus.engine.states import END_REASONS, WAIT_REASONS, JobState


def spec(**kw: object) -> JobSpec:
    base: dict[str, object] = {"name": "job", "user": "alice"}
    base.update(kw)
    return JobSpec(**base)  # type: ignore[arg-type]


def dep(kind: str, job_id: int = 0, task_id: int | None = None, delay_s: float = 0.0) -> DepCondition:
    return DepCondition(kind, job_id, task_id, delay_s)


def engine(groups: dict[str, int], static: bool = True, cpus: int = 1) -> Engine:
    """A cluster with ``n`` nodes in each group (group "a/x" -> nodes a-x-1 ...)."""
    nodes = [
        NodeDef(f"{g.replace('/', '-')}-{i}", ("q",), cpus, 1000, static=static, group=g)
        for g, n in groups.items()
        for i in range(1, n + 1)
    ]
    cfg = EngineConfig(
        partitions=(PartitionDef("q", tuple(d.name for d in nodes), default=True),), nodes=tuple(nodes)
    )
    return Engine(cfg, now=0.0)


def up(e: Engine, actions: list[object], now: float) -> None:
    for a in actions:
        if isinstance(a, PowerUp):
            for n in a.nodes:
                e.node_up(n, now)


def one_node() -> Engine:
    e = engine({"q/c": 1})
    up(e, e.tick(0.0), 0.0)
    return e


# -- dependency_status ----------------------------------------------------------------------------


def test_dependency_status_lists_standing_conditions_in_order_with_their_state() -> None:
    e = engine({"q/c": 2})
    up(e, e.tick(0.0), 0.0)
    a = e.submit(spec(), 0.0)
    b = e.submit(spec(), 0.0)
    conds = (dep("afterok", a.id), dep("afterany", b.id), dep("afternotok", a.id), dep("after", a.id))
    child = e.submit(spec(dependencies=conds), 0.0)
    e.schedule(0.0)
    assert (a.state, b.state) == (JobState.RUNNING, JobState.RUNNING)
    # "after" is met once a started; the others wait for the ends
    assert e.dependency_status(child, 0.0) == [
        (conds[0], DEP_UNFULFILLED),
        (conds[1], DEP_UNFULFILLED),
        (conds[2], DEP_UNFULFILLED),
    ]
    e.job_ended(a.id, 0, 1.0)  # completed: afterok met, afternotok can never be
    assert e.dependency_status(child, 1.0) == [(conds[1], DEP_UNFULFILLED), (conds[2], DEP_FAILED)]
    e.job_ended(b.id, 0, 2.0, exit_code=3)
    assert e.dependency_status(child, 2.0) == [(conds[2], DEP_FAILED)]


def test_dependency_status_is_empty_without_standing_conditions() -> None:
    e = one_node()
    plain = e.submit(spec(), 0.0)
    gone = e.submit(spec(dependencies=(dep("afterok", 999),)), 0.0)  # unknown job: nothing to wait for
    resolved = e.submit(spec(dependencies=(DepCondition("afterok", 998, resolved=True),)), 0.0)
    never = e.submit(spec(dependencies=(DepCondition("afterok", 997, resolved=False),)), 0.0)
    assert e.dependency_status(plain, 0.0) == []
    assert e.dependency_status(gone, 0.0) == []
    assert e.dependency_status(resolved, 0.0) == []
    assert e.dependency_status(never, 0.0) == [(never.spec.dependencies[0], DEP_FAILED)]


def test_dependency_status_of_delays_singletons_and_tasks() -> None:
    e = engine({"q/c": 3})
    up(e, e.tick(0.0), 0.0)
    first = e.submit(spec(name="s", dependencies=(dep("singleton"),)), 0.0)
    second = e.submit(spec(name="s", dependencies=(dep("singleton"),)), 0.0)
    delayed = e.submit(spec(dependencies=(dep("after", first.id, delay_s=120.0),)), 0.0)
    array = e.submit(spec(time_limit_s=50.0), 0.0, array=IndexSet.from_range(0, 1))
    on_task = e.submit(spec(dependencies=(dep("afterok", array.id, 1), dep("afterok", array.id, -1))), 0.0)
    e.schedule(0.0)
    assert first.state == JobState.RUNNING
    assert e.dependency_status(first, 0.0) == []
    assert e.dependency_status(second, 0.0) == [(dep("singleton"), DEP_UNFULFILLED)]
    assert e.dependency_status(delayed, 60.0) == [(delayed.spec.dependencies[0], DEP_UNFULFILLED)]
    assert e.dependency_status(delayed, 120.0) == []
    assert [s for _, s in e.dependency_status(on_task, 0.0)] == [DEP_UNFULFILLED, DEP_UNFULFILLED]


# -- journal keys -----------------------------------------------------------------------------------


def test_record_keys_keep_the_stored_format() -> None:
    spec_ = spec()
    assert record_key(Job(20, spec_, 0.0, 1)) == "20"
    assert record_key(Job(21, spec_, 0.0, 1, array_id=20, task_id=3)) == "20_3"
    # an array's pending remainder is the array's own record
    assert record_key(Job(20, spec_, 0.0, 1, array_id=20, pending_tasks=IndexSet.from_range(0, 9))) == "20"
    assert task_record_key(20, 3) == "20_3"
    assert tasks_record_key(20, IndexSet.from_ids([1, 2, 3, 7])) == "20_[1-3,7]"


def test_the_journal_uses_record_keys() -> None:
    e = engine({"q/c": 1})
    up(e, e.tick(0.0), 0.0)
    array = e.submit(spec(), 0.0, array=IndexSet.from_range(0, 5))
    e.drain_changes()
    e.schedule(0.0)
    out = e.cancel(array.id, IndexSet.from_ids([2, 3, 5]), 1.0)
    assert isinstance(out, CancelOutcome) and out.cancelled == 3
    keys = [t.key for t in e.drain_changes().transitions if t.entity == "job"]
    assert keys == [f"{array.id}_0", f"{array.id}_0", f"{array.id}_[2-3,5]"]


# -- compute-resource groups -------------------------------------------------------------------------


def test_groups_view_and_group_of() -> None:
    e = engine({"gpu/p4": 2, "cpu/c5": 11})
    assert e.groups == {
        "cpu/c5": tuple(f"cpu-c5-{i}" for i in range(1, 12)),  # node order: c5-2 before c5-10
        "gpu/p4": ("gpu-p4-1", "gpu-p4-2"),
    }
    assert e.group_of("gpu-p4-2") == "gpu/p4"
    ungrouped = Engine(
        EngineConfig(partitions=(PartitionDef("q", ("n1",)),), nodes=(NodeDef("n1", ("q",), 1, 100),))
    )
    assert ungrouped.groups == {"": ("n1",)} and ungrouped.group_of("n1") == ""


def test_power_up_carries_the_group_of_each_node() -> None:
    e = engine({"a/x": 2, "b/y": 1})
    static = [a for a in e.tick(0.0) if isinstance(a, PowerUp)]
    assert static == [PowerUp(("a-x-1", "a-x-2", "b-y-1"))]
    assert static[0].groups == ("a/x", "a/x", "b/y")
    assert static[0].by_group() == {"a/x": ("a-x-1", "a-x-2"), "b/y": ("b-y-1",)}
    dyn = engine({"a/x": 2, "b/y": 2}, static=False)
    dyn.submit(spec(min_nodes=3, ntasks=3), 0.0)
    [act] = dyn.schedule(0.0)
    assert isinstance(act, PowerUp) and act.by_group() == {"a/x": ("a-x-1", "a-x-2"), "b/y": ("b-y-1",)}


def test_power_up_without_groups_is_one_batch() -> None:
    assert PowerUp(("n1", "n2")).by_group() == {"": ("n1", "n2")}
    assert PowerUp(("n1",), ("g",)) == PowerUp(("n1",))  # groups follow from the nodes


# -- reasons --------------------------------------------------------------------------------------


def test_reasons_given_are_in_the_vocabulary() -> None:
    e = engine({"q/c": 1})
    up(e, e.tick(0.0), 0.0)
    running = e.submit(spec(time_limit_s=10.0), 0.0)
    waiting = [
        e.submit(spec(), 0.0),
        e.submit(spec(), 0.0, hold=True),
        e.submit(spec(begin_time=50.0), 0.0),
        e.submit(spec(dependencies=(dep("afterok", running.id),)), 0.0),
        e.submit(spec(min_nodes=5, ntasks=5), 0.0),
    ]
    e.schedule(0.0)
    assert all(j.reason in WAIT_REASONS for j in waiting)
    assert {j.reason for j in waiting} >= {
        "Resources",
        "JobHeldUser",
        "BeginTime",
        "Dependency",
        "PartitionNodeLimit",
    }
    e.tick(10.0)
    e.job_ended(running.id, 0, 10.5, signal=9)
    assert running.state == JobState.TIMEOUT and running.reason in END_REASONS

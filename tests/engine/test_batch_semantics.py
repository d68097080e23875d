"""Engine semantics a queue-of-jobs front door relies on: paired ("corresponding") and
sequential arrays, failing dependents of a failed job, and priority tiers of partitions.

Pure engine tests: events in, actions, states and journal entries out.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

import pytest

from stratus.engine.engine import Engine
from stratus.engine.indexset import IndexSet
from stratus.engine.model import (
    DepCondition,
    EngineConfig,
    Job,
    JobSpec,
    LaunchJob,
    NodeDef,
    PartitionDef,
    PowerUp,
    SchedulingPolicy,
    Transition,
)
from stratus.engine.states import JobState
from stratus.store.store import Store, job_to_row, row_to_job

_NEVER_REASON = "DependencyNeverSatisfied"


def _cluster(
    nodes: int = 10,
    cpus: int = 1,
    partitions: tuple[PartitionDef, ...] | None = None,
    policy: SchedulingPolicy | None = None,
) -> Engine:
    """Static nodes, all up at time 0; one default partition over all of them unless given."""
    names = [f"n{i}" for i in range(1, nodes + 1)]
    parts = partitions or (PartitionDef("q", tuple(names), default=True),)
    defs = tuple(
        NodeDef(n, tuple(p.name for p in parts if n in p.nodes), cpus, 1000, static=True) for n in names
    )
    return _boot(Engine(EngineConfig(parts, defs, policy=policy or SchedulingPolicy()), 0.0))


def _boot(e: Engine) -> Engine:
    for action in e.tick(0.0):
        if isinstance(action, PowerUp):
            for name in action.nodes:
                e.node_up(name, 0.0, f"i-{name}")
    return e


def _spec(**kw: object) -> JobSpec:
    base: dict[str, object] = {"name": "job", "user": "alice"}
    base.update(kw)
    return JobSpec(**base)  # type: ignore[arg-type]


def _tasks(e: Engine, array: Job) -> dict[int, Job]:
    """The materialised task records of ``array`` by task id (the array's own record included
    once it is its last task)."""
    records = [*e.array_tasks(array.id), array]
    return {r.task_id: r for r in records if r.task_id is not None}


def _pending_ids(array: Job) -> list[int]:
    return list(array.pending_tasks) if array.pending_tasks is not None else []


def _dependency_cancels(e: Engine) -> list[Transition]:
    return [t for t in e.journal if t.new == JobState.CANCELLED and t.cause == "dependency"]


# -- corresponding arrays ------------------------------------------------------------------------


def test_corresponding_task_waits_for_the_same_task_of_the_other_array_to_end() -> None:
    e = _cluster(nodes=10)
    a = e.submit(_spec(name="a"), 0.0, array=IndexSet.from_range(0, 4))
    b = e.submit(
        _spec(name="b", dependencies=(DepCondition("corresponding", a.id),)),
        0.0,
        array=IndexSet.from_range(0, 4),
    )
    e.schedule(0.0)
    a_tasks = _tasks(e, a)
    assert sorted(a_tasks) == [0, 1, 2, 3, 4]
    assert all(t.state == JobState.RUNNING for t in a_tasks.values())
    assert _tasks(e, b) == {} and b.reason == "Dependency"

    # Task 3 of a fails: task 3 of b starts (any end will do), and only that one.
    e.job_ended(a_tasks[3].id, 0, 5.0, exit_code=1)
    e.schedule(5.0)
    b_tasks = _tasks(e, b)
    assert list(b_tasks) == [3]
    assert b_tasks[3].state == JobState.RUNNING and b_tasks[3].start_time == 5.0
    assert _pending_ids(b) == [0, 1, 2, 4] and b.reason == "Dependency"

    e.job_ended(a_tasks[1].id, 0, 6.0)
    e.schedule(6.0)
    assert sorted(_tasks(e, b)) == [1, 3]
    for task_id in (0, 2, 4):
        e.job_ended(a_tasks[task_id].id, 0, 7.0)
    e.schedule(7.0)
    b_tasks = _tasks(e, b)
    assert sorted(b_tasks) == [0, 1, 2, 3, 4]
    assert all(t.state == JobState.RUNNING for t in b_tasks.values())
    assert _dependency_cancels(e) == []


def test_corresponding_with_fail_on_parent_failure_cancels_only_the_matching_task() -> None:
    e = _cluster(nodes=10)
    a = e.submit(_spec(name="a"), 0.0, array=IndexSet.from_range(0, 4))
    b = e.submit(
        _spec(name="b", dependencies=(DepCondition("corresponding", a.id),), fail_on_parent_failure=True),
        0.0,
        array=IndexSet.from_range(0, 4),
    )
    e.schedule(0.0)
    a_tasks = _tasks(e, a)
    e.job_ended(a_tasks[3].id, 0, 5.0, exit_code=1)
    e.schedule(5.0)
    assert _tasks(e, b) == {}  # nothing of b started: the failure only cancelled task 3
    assert _pending_ids(b) == [0, 1, 2, 4] and b.state == JobState.PENDING
    cancels = _dependency_cancels(e)
    assert [(t.key, t.old, t.new, t.reason, t.time) for t in cancels] == [
        (f"{b.id}_[3]", JobState.PENDING, JobState.CANCELLED, _NEVER_REASON, 5.0)
    ]

    for task_id in (0, 1, 2, 4):
        e.job_ended(a_tasks[task_id].id, 0, 6.0)
    e.schedule(6.0)
    b_tasks = _tasks(e, b)
    assert sorted(b_tasks) == [0, 1, 2, 4]
    assert all(t.state == JobState.RUNNING for t in b_tasks.values())
    assert len(_dependency_cancels(e)) == 1


def test_corresponding_with_fail_on_parent_failure_cancels_the_last_task_as_a_whole() -> None:
    """When every pending task is impossible, the remainder itself is cancelled (one record)."""
    e = _cluster(nodes=4)
    a = e.submit(_spec(name="a"), 0.0, array=IndexSet.from_range(0, 1))
    b = e.submit(
        _spec(name="b", dependencies=(DepCondition("corresponding", a.id),), fail_on_parent_failure=True),
        0.0,
        array=IndexSet.from_range(0, 1),
    )
    e.schedule(0.0)
    a_tasks = _tasks(e, a)
    e.job_ended(a_tasks[0].id, 0, 1.0)
    e.schedule(1.0)
    assert _tasks(e, b)[0].state == JobState.RUNNING
    e.job_ended(a_tasks[1].id, 0, 2.0, out_of_memory=True)
    e.schedule(2.0)
    assert b.state == JobState.CANCELLED and b.reason == _NEVER_REASON
    assert [(t.key, t.reason) for t in _dependency_cancels(e)] == [(str(b.id), _NEVER_REASON)]


def test_corresponding_tasks_of_a_cancelled_remainder_are_cancelled_the_others_wait() -> None:
    e = _cluster(nodes=1)
    a = e.submit(_spec(name="a"), 0.0, array=IndexSet.from_range(0, 3))
    b = e.submit(
        _spec(name="b", dependencies=(DepCondition("corresponding", a.id),), fail_on_parent_failure=True),
        0.0,
        array=IndexSet.from_range(0, 3),
    )
    e.schedule(0.0)
    (first,) = _tasks(e, a).values()  # one node: task 0 runs, 1-3 wait in a's remainder
    e.cancel(a.id, IndexSet.from_range(1, 3), 1.0)  # cancels a's whole remainder
    assert a.state == JobState.CANCELLED and first.state == JobState.RUNNING
    e.schedule(1.0)
    assert _pending_ids(b) == [0] and b.state == JobState.PENDING and b.reason == "Dependency"
    assert [(t.key, t.reason) for t in _dependency_cancels(e)] == [(f"{b.id}_[1-3]", _NEVER_REASON)]
    e.job_ended(first.id, 0, 2.0)
    e.schedule(2.0)
    assert b.state == JobState.RUNNING and b.task_id == 0  # the last task keeps the array's id


def test_aftercorr_is_unchanged_a_failed_task_leaves_its_match_waiting() -> None:
    e = _cluster(nodes=4)
    a = e.submit(_spec(name="a"), 0.0, array=IndexSet.from_range(0, 1))
    b = e.submit(
        _spec(name="b", dependencies=(DepCondition("aftercorr", a.id),)), 0.0, array=IndexSet.from_range(0, 1)
    )
    e.schedule(0.0)
    a_tasks = _tasks(e, a)
    e.job_ended(a_tasks[0].id, 0, 1.0, exit_code=1)
    e.job_ended(a_tasks[1].id, 0, 1.0)
    e.schedule(1.0)
    assert list(_tasks(e, b)) == [1]
    e.schedule(2.0)
    assert _pending_ids(b) == [0] and b.reason == _NEVER_REASON and b.state == JobState.PENDING


# -- sequential arrays ---------------------------------------------------------------------------


def _run_sequential(e: Engine, array: Job, fail: int | None = None) -> tuple[list[int], int]:
    """End each running task of ``array`` in turn (``fail`` with exit code 1), scheduling after
    each end. Returns the task ids in the order they started and the most held at once."""
    order: list[int] = []
    most = 0
    now = 0.0
    for _ in range(20):
        e.schedule(now)
        holding = [
            t
            for t in _tasks(e, array).values()
            if t.state in (JobState.CONFIGURING, JobState.RUNNING, JobState.COMPLETING)
        ]
        most = max(most, len(holding))
        if not holding:
            break
        (task,) = holding
        assert task.task_id is not None
        order.append(task.task_id)
        now += 10.0
        e.job_ended(task.id, task.run, now, exit_code=1 if task.task_id == fail else 0)
    return order, most


def test_sequential_array_runs_one_task_at_a_time_in_order() -> None:
    e = _cluster(nodes=10)
    array = e.submit(_spec(array_sequential=True), 0.0, array=IndexSet.from_range(0, 4))
    actions = e.schedule(0.0)
    assert len([a for a in actions if isinstance(a, LaunchJob)]) == 1  # room for all five
    assert array.reason == "Dependency"
    order, most = _run_sequential(e, array)
    assert order == [0, 1, 2, 3, 4] and most == 1
    assert all(t.state == JobState.COMPLETED for t in _tasks(e, array).values())


def test_sequential_array_without_the_flag_goes_on_after_a_failed_task() -> None:
    e = _cluster(nodes=10)
    array = e.submit(_spec(array_sequential=True), 0.0, array=IndexSet.from_range(0, 4))
    order, most = _run_sequential(e, array, fail=1)
    assert order == [0, 1, 2, 3, 4] and most == 1
    tasks = _tasks(e, array)
    assert tasks[1].state == JobState.FAILED
    assert [tasks[i].state for i in (0, 2, 3, 4)] == [JobState.COMPLETED] * 4


def test_sequential_array_with_the_flag_fails_the_rest_after_a_failed_task() -> None:
    e = _cluster(nodes=10)
    array = e.submit(
        _spec(array_sequential=True, fail_on_parent_failure=True), 0.0, array=IndexSet.from_range(0, 4)
    )
    order, most = _run_sequential(e, array, fail=1)
    assert order == [0, 1] and most == 1
    tasks = _tasks(e, array)
    assert (tasks[0].state, tasks[1].state) == (JobState.COMPLETED, JobState.FAILED)
    # The rest is cancelled when task 1 ends, not at a later pass.
    assert array.state == JobState.CANCELLED and array.reason == _NEVER_REASON
    assert _pending_ids(array) == [2, 3, 4]
    assert [(t.key, t.time, t.reason) for t in _dependency_cancels(e)] == [
        (str(array.id), 20.0, _NEVER_REASON)
    ]


def test_sequential_array_a_requeued_task_runs_again_before_the_next_one() -> None:
    e = _cluster(nodes=10)
    array = e.submit(_spec(array_sequential=True), 0.0, array=IndexSet.from_range(0, 2))
    e.schedule(0.0)
    first = _tasks(e, array)[0]
    err, _ = e.requeue(first, 1.0)
    assert err is None and first.state == JobState.COMPLETING
    e.job_ended(first.id, 0, 2.0, signal=15)
    assert first.state == JobState.PENDING and first.run == 1
    again = 2.0 + e.config.requeue_delay_s  # a requeued job waits a little before it runs again
    e.schedule(2.0)
    assert first.reason == "BeginTime" and array.reason == "Dependency"
    e.schedule(again)
    assert first.state == JobState.RUNNING and array.reason == "Dependency"
    assert list(_tasks(e, array)) == [0]
    e.job_ended(first.id, 1, again + 1.0)
    e.schedule(again + 1.0)
    assert sorted(_tasks(e, array)) == [0, 1]


def test_sequential_array_respects_corresponding_dependencies_in_order() -> None:
    """Sequential and corresponding together: only the lowest pending task may start, when its
    paired task has ended (a later paired task ending first does not let it jump ahead)."""
    e = _cluster(nodes=10)
    a = e.submit(_spec(name="a"), 0.0, array=IndexSet.from_range(0, 2))
    b = e.submit(
        _spec(name="b", array_sequential=True, dependencies=(DepCondition("corresponding", a.id),)),
        0.0,
        array=IndexSet.from_range(0, 2),
    )
    e.schedule(0.0)
    a_tasks = _tasks(e, a)
    e.job_ended(a_tasks[2].id, 0, 1.0)
    e.schedule(1.0)
    assert _tasks(e, b) == {} and b.reason == "Dependency"
    e.job_ended(a_tasks[0].id, 0, 2.0)
    e.schedule(2.0)
    assert list(_tasks(e, b)) == [0]


# -- fail on parent failure ----------------------------------------------------------------------


def _end_by_exit(e: Engine, job: Job, now: float) -> None:
    e.job_ended(job.id, job.run, now, exit_code=1)


def _end_by_memory(e: Engine, job: Job, now: float) -> None:
    e.job_ended(job.id, job.run, now, out_of_memory=True)


def _end_by_cancel(e: Engine, job: Job, now: float) -> None:
    e.cancel(job.id, None, now)
    e.job_ended(job.id, job.run, now, signal=15)


def _end_by_time_limit(e: Engine, job: Job, now: float) -> None:
    e.tick(now)  # the parent's limit is 10 s: it is killed
    e.job_ended(job.id, job.run, now, signal=15)


@pytest.mark.parametrize(
    ("end", "state"),
    [
        (_end_by_exit, JobState.FAILED),
        (_end_by_memory, JobState.OUT_OF_MEMORY),
        (_end_by_cancel, JobState.CANCELLED),
        (_end_by_time_limit, JobState.TIMEOUT),
    ],
)
def test_a_failed_parent_cancels_its_dependent(
    end: Callable[[Engine, Job, float], None], state: JobState
) -> None:
    e = _cluster(nodes=2)
    parent = e.submit(_spec(time_limit_s=10.0), 0.0)
    child = e.submit(
        _spec(dependencies=(DepCondition("afterany", parent.id),), fail_on_parent_failure=True), 0.0
    )
    e.schedule(0.0)
    assert parent.state == JobState.RUNNING and child.reason == "Dependency"
    end(e, parent, 10.0)
    assert parent.state == state
    e.schedule(10.0)
    assert child.state == JobState.CANCELLED and child.reason == _NEVER_REASON
    assert child.end_time == 10.0
    (cancel,) = _dependency_cancels(e)
    assert (cancel.key, cancel.old, cancel.new, cancel.time, cancel.reason) == (
        str(child.id),
        JobState.PENDING,
        JobState.CANCELLED,
        10.0,
        _NEVER_REASON,
    )


def test_a_parent_cancelled_while_pending_cancels_its_dependent() -> None:
    e = _cluster(nodes=1)
    parent = e.submit(_spec(), 0.0, hold=True)
    child = e.submit(
        _spec(dependencies=(DepCondition("afterok", parent.id),), fail_on_parent_failure=True), 0.0
    )
    e.schedule(0.0)
    e.cancel(parent.id, None, 1.0)
    e.schedule(1.0)
    assert child.state == JobState.CANCELLED and child.reason == _NEVER_REASON


def test_a_completed_parent_lets_its_dependent_run() -> None:
    e = _cluster(nodes=2)
    parent = e.submit(_spec(), 0.0)
    child = e.submit(
        _spec(dependencies=(DepCondition("afterany", parent.id),), fail_on_parent_failure=True), 0.0
    )
    e.schedule(0.0)
    e.job_ended(parent.id, 0, 5.0)
    e.schedule(5.0)
    assert child.state == JobState.RUNNING and child.start_time == 5.0
    assert _dependency_cancels(e) == []


def test_without_the_flag_afterany_still_runs_after_a_failed_parent() -> None:
    e = _cluster(nodes=2)
    parent = e.submit(_spec(), 0.0)
    child = e.submit(_spec(dependencies=(DepCondition("afterany", parent.id),)), 0.0)
    e.schedule(0.0)
    e.job_ended(parent.id, 0, 5.0, exit_code=1)
    e.schedule(5.0)
    assert child.state == JobState.RUNNING


def test_one_failure_decides_without_waiting_for_the_other_parents() -> None:
    e = _cluster(nodes=3)
    first = e.submit(_spec(), 0.0)
    second = e.submit(_spec(), 0.0)
    child = e.submit(
        _spec(
            dependencies=(DepCondition("afterok", first.id), DepCondition("afterok", second.id)),
            fail_on_parent_failure=True,
        ),
        0.0,
    )
    e.schedule(0.0)
    e.job_ended(first.id, 0, 5.0, exit_code=1)
    e.schedule(5.0)
    assert second.state == JobState.RUNNING
    assert child.state == JobState.CANCELLED and child.reason == _NEVER_REASON


def test_afternotok_is_met_by_a_failure_even_with_the_flag() -> None:
    e = _cluster(nodes=2)
    parent = e.submit(_spec(), 0.0)
    child = e.submit(
        _spec(dependencies=(DepCondition("afternotok", parent.id),), fail_on_parent_failure=True), 0.0
    )
    e.schedule(0.0)
    e.job_ended(parent.id, 0, 5.0, exit_code=1)
    e.schedule(5.0)
    assert child.state == JobState.RUNNING


def test_any_of_dependencies_cancel_only_when_none_can_be_met() -> None:
    e = _cluster(nodes=3)
    first = e.submit(_spec(), 0.0)
    second = e.submit(_spec(), 0.0)
    child = e.submit(
        _spec(
            dependencies=(DepCondition("afterany", first.id), DepCondition("afterany", second.id)),
            dependency_any=True,
            fail_on_parent_failure=True,
        ),
        0.0,
    )
    e.schedule(0.0)
    e.job_ended(first.id, 0, 5.0, exit_code=1)
    e.schedule(5.0)
    assert child.state == JobState.PENDING and child.reason == "Dependency"
    e.job_ended(second.id, 0, 6.0)
    e.schedule(6.0)
    assert child.state == JobState.RUNNING


# -- priority tiers ------------------------------------------------------------------------------


def _tiered(tier_low: int = 0, tier_high: int = 1) -> Engine:
    """One node of 1 CPU shared by partitions ``low`` and ``high``, with a 100 s job on it."""
    return _cluster(
        nodes=1,
        partitions=(
            PartitionDef("low", ("n1",), default=True, priority_tier=tier_low),
            PartitionDef("high", ("n1",), priority_tier=tier_high),
        ),
    )


def _busy(e: Engine) -> Job:
    job = e.submit(_spec(name="busy", time_limit_s=100.0, partitions=("low",)), 0.0)
    e.schedule(0.0)
    assert job.state == JobState.RUNNING
    return job


def test_a_higher_tier_job_starts_before_a_higher_priority_one_of_a_lower_tier() -> None:
    e = _tiered()
    busy = _busy(e)
    early = e.submit(_spec(name="early", time_limit_s=10.0, partitions=("low",)), 1.0)
    e.schedule(1.0)
    late = e.submit(_spec(name="late", time_limit_s=10.0, partitions=("high",)), 2.0)
    e.schedule(2.0)  # only a new job: the pass must still put it first
    assert early.priority > late.priority
    assert e.expected_start(late) == 100.0
    assert e.expected_start(early) == 110.0
    e.job_ended(busy.id, 0, 50.0)
    e.schedule(50.0)
    assert late.state == JobState.RUNNING and early.state == JobState.PENDING


def test_without_tiers_priority_order_is_unchanged() -> None:
    e = _tiered(tier_low=0, tier_high=0)
    busy = _busy(e)
    early = e.submit(_spec(name="early", time_limit_s=10.0, partitions=("low",)), 1.0)
    e.schedule(1.0)
    late = e.submit(_spec(name="late", time_limit_s=10.0, partitions=("high",)), 2.0)
    e.schedule(2.0)
    e.job_ended(busy.id, 0, 50.0)
    e.schedule(50.0)
    assert early.state == JobState.RUNNING and late.state == JobState.PENDING


def test_within_a_tier_priority_order_is_kept() -> None:
    e = _tiered()
    busy = _busy(e)
    low = e.submit(_spec(name="low", partitions=("low",)), 1.0)
    first = e.submit(_spec(name="first", partitions=("high",)), 2.0)
    second = e.submit(_spec(name="second", partitions=("high",)), 3.0)
    e.schedule(3.0)
    e.job_ended(busy.id, 0, 50.0)
    e.schedule(50.0)
    assert first.state == JobState.RUNNING
    assert second.state == JobState.PENDING and low.state == JobState.PENDING
    e.job_ended(first.id, 0, 60.0)
    e.schedule(60.0)
    assert second.state == JobState.RUNNING and low.state == JobState.PENDING


def test_a_job_of_several_partitions_ranks_in_the_highest_tier() -> None:
    e = _tiered()
    busy = _busy(e)
    early = e.submit(_spec(name="early", partitions=("low",)), 1.0)
    both = e.submit(_spec(name="both", partitions=("low", "high")), 2.0)
    e.schedule(2.0)
    e.job_ended(busy.id, 0, 50.0)
    e.schedule(50.0)
    assert both.state == JobState.RUNNING and early.state == JobState.PENDING


def test_moving_a_pending_job_to_a_higher_tier_reorders_the_queue() -> None:
    e = _tiered()
    busy = _busy(e)
    early = e.submit(_spec(name="early", partitions=("low",)), 1.0)
    late = e.submit(_spec(name="late", partitions=("low",)), 2.0)
    e.schedule(2.0)
    assert e.update(late, {"partitions": ("high",)}, 3.0) is None
    e.schedule(3.0)
    e.job_ended(busy.id, 0, 50.0)
    e.schedule(50.0)
    assert late.state == JobState.RUNNING and early.state == JobState.PENDING


def test_shortest_first_backfilling_stays_within_tiers() -> None:
    """With shortest-first ordering behind a blocked head, a lower tier still comes last."""
    parts = (
        PartitionDef("low", ("n1", "n2"), default=True, priority_tier=0),
        PartitionDef("high", ("n1", "n2"), priority_tier=1),
    )
    e = _cluster(nodes=2, partitions=parts, policy=SchedulingPolicy(shortest_first=True))
    busy = e.submit(_spec(name="busy", time_limit_s=100.0, partitions=("low",)), 0.0)
    e.schedule(0.0)
    head = e.submit(_spec(name="head", time_limit_s=100.0, min_nodes=2, ntasks=2, partitions=("high",)), 1.0)
    short_low = e.submit(_spec(name="short", time_limit_s=5.0, partitions=("low",)), 1.0)
    long_high = e.submit(_spec(name="long", time_limit_s=50.0, partitions=("high",)), 1.0)
    e.schedule(1.0)
    assert busy.state == JobState.RUNNING and head.state == JobState.PENDING
    # One free node: the tier-1 job takes it although the tier-0 job is shorter (both end
    # before the head's reservation at 100 s).
    assert long_high.state == JobState.RUNNING and short_low.state == JobState.PENDING


# -- the store -----------------------------------------------------------------------------------


def test_new_fields_round_trip_through_the_store(tmp_path: Path) -> None:
    e = _cluster(nodes=2)
    a = e.submit(_spec(name="a"), 0.0, array=IndexSet.from_range(0, 3))
    spec = _spec(
        name="b",
        dependencies=(DepCondition("corresponding", a.id),),
        fail_on_parent_failure=True,
        array_sequential=True,
    )
    b = e.submit(spec, 0.0, array=IndexSet.from_range(0, 3))
    store = Store.open(tmp_path / "state.db", create=True)
    with store.transaction() as conn:
        store.save_engine_changes(conn, e, e.drain_changes())
    with store.reading() as conn:
        loaded = {job.id: job for job, _ in store.load_live_jobs(conn, finished_since=0.0)}
    store.close()
    assert loaded[b.id].spec == spec
    assert loaded[b.id].spec.dependencies[0].kind == "corresponding"
    assert loaded[a.id].spec.fail_on_parent_failure is False and loaded[a.id].spec.array_sequential is False


def test_a_spec_stored_before_the_new_fields_still_loads() -> None:
    e = _cluster(nodes=1)
    job = e.submit(_spec(dependencies=(DepCondition("afterok", 1),)), 0.0)
    row = job_to_row(job)
    old = asdict(job.spec)
    del old["fail_on_parent_failure"], old["array_sequential"]
    row["spec"] = json.dumps(old)
    loaded = row_to_job(row)
    assert loaded.spec.fail_on_parent_failure is False and loaded.spec.array_sequential is False
    assert loaded.spec == job.spec

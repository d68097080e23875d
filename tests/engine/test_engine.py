"""Unit tests of the pure scheduling engine: states, placement, elasticity, arrays, backfill."""

from __future__ import annotations

import math

import pytest

from stratus.engine.engine import Engine
from stratus.engine.indexset import IndexSet
from stratus.engine.model import (
    DepCondition,
    EngineConfig,
    JobSpec,
    KillJob,
    LaunchJob,
    NodeDef,
    PartitionDef,
    PowerDown,
    PowerUp,
)
from stratus.engine.states import IllegalTransition, JobState, NodeState


def cluster(
    static: int = 0,
    dynamic: int = 10,
    cpus: int = 1,
    mem: int = 972,
    gpus: int = 0,
    idle: float = 60.0,
    **kw: object,
) -> Engine:
    nodes = [
        NodeDef(f"q-st-c-{i}", ("q",), cpus, mem, gpus, weight=1, static=True) for i in range(1, static + 1)
    ] + [NodeDef(f"q-dy-c-{i}", ("q",), cpus, mem, gpus, weight=1000) for i in range(1, dynamic + 1)]
    cfg = EngineConfig(
        partitions=(PartitionDef("q", tuple(n.name for n in nodes), default=True),),
        nodes=tuple(nodes),
        scaledown_idle_s=idle,
        **kw,  # type: ignore[arg-type]
    )
    return Engine(cfg, now=0.0)


def spec(**kw: object) -> JobSpec:
    base: dict[str, object] = {"name": "job", "user": "alice"}
    base.update(kw)
    return JobSpec(**base)  # type: ignore[arg-type]


def boot_all(e: Engine, actions: list, now: float) -> list:
    """Register every node a PowerUp action asked for; return the actions that follows."""
    out = []
    for a in actions:
        if isinstance(a, PowerUp):
            for n in a.nodes:
                out += e.node_up(n, now, instance_id=f"i-{n}")
    return out


def test_static_nodes_power_up_on_first_tick_and_run_jobs_immediately() -> None:
    e = cluster(static=2, dynamic=0)
    acts = e.tick(0.0)
    assert [a for a in acts if isinstance(a, PowerUp)] == [PowerUp(("q-st-c-1", "q-st-c-2"))]
    boot_all(e, acts, 0.5)
    assert all(n.state == NodeState.UP for n in e.nodes.values())
    job = e.submit(spec(), 1.0)
    acts = e.schedule(1.0)
    assert acts == [LaunchJob(job.id, 0, ("q-st-c-1",))]
    assert job.state == JobState.RUNNING and job.start_time == 1.0


def test_waiting_job_powers_up_exactly_one_dynamic_node() -> None:
    e = cluster(dynamic=10)
    job = e.submit(spec(), 0.0)
    acts = e.tick(0.0)
    assert acts == [PowerUp(("q-dy-c-1",))]
    assert job.state == JobState.CONFIGURING
    assert e.nodes["q-dy-c-1"].state == NodeState.POWERING_UP
    acts = e.node_up("q-dy-c-1", 0.8, "i-1")
    assert acts == [LaunchJob(job.id, 0, ("q-dy-c-1",))]
    assert job.state == JobState.RUNNING and job.start_time == 0.8


def test_array_runs_ten_at_a_time_and_stays_one_record_while_pending() -> None:
    e = cluster(dynamic=10)
    arr = e.submit(spec(), 0.0, array=IndexSet.from_range(0, 64))
    acts = e.tick(0.0)
    up = [a for a in acts if isinstance(a, PowerUp)]
    assert len(up) == 1 and len(up[0].nodes) == 10
    # 10 task records + the remainder, whose pending set is 10-64 (55 ids in one run)
    assert len(e.jobs) == 11
    assert arr.pending_tasks is not None and arr.pending_tasks.to_slurm() == "10-64"
    assert arr.reason == "Resources"
    tasks = sorted(e.array_tasks(arr.id), key=lambda j: j.task_id or 0)
    assert [t.task_id for t in tasks] == list(range(10))
    assert all(t.array_id == arr.id and t.id != arr.id for t in tasks)
    assert all(t.state == JobState.CONFIGURING for t in tasks)


def test_huge_array_costs_one_record() -> None:
    e = cluster(dynamic=2)
    arr = e.submit(spec(), 0.0, array=IndexSet.from_range(0, 99_999))
    e.tick(0.0)
    assert len(e.jobs) == 3
    assert arr.pending_tasks is not None and len(arr.pending_tasks) == 99_998
    assert len(arr.pending_tasks.runs()) == 1


def test_last_array_task_keeps_the_array_id() -> None:
    e = cluster(static=1, dynamic=0)
    boot_all(e, e.tick(0.0), 0.0)
    arr = e.submit(spec(), 1.0, array=IndexSet.from_range(0, 1))
    acts = e.schedule(1.0)
    (first,) = [a for a in acts if isinstance(a, LaunchJob)]
    assert first.job_id != arr.id
    e.job_ended(first.job_id, 0, 2.0)
    acts = e.schedule(2.0)
    (second,) = [a for a in acts if isinstance(a, LaunchJob)]
    assert second.job_id == arr.id and arr.task_id == 1 and arr.pending_tasks is None


def test_array_task_limit() -> None:
    e = cluster(dynamic=10)
    arr = e.submit(spec(array_max_running=3), 0.0, array=IndexSet.from_range(1, 20))
    acts = e.tick(0.0)
    assert sum(len(a.nodes) for a in acts if isinstance(a, PowerUp)) == 3
    assert arr.reason == "JobArrayTaskLimit"


def test_job_end_states_and_idle_power_down_cycle() -> None:
    e = cluster(dynamic=2, idle=30.0)
    ok = e.submit(spec(), 0.0)
    bad = e.submit(spec(), 0.0)
    boot_all(e, e.tick(0.0), 1.0)
    e.job_ended(ok.id, 0, 5.0, exit_code=0)
    e.job_ended(bad.id, 0, 6.0, exit_code=3)
    assert ok.state == JobState.COMPLETED
    assert bad.state == JobState.FAILED and bad.reason == "NonZeroExitCode" and bad.exit_code == 3
    assert e.tick(20.0) == []
    acts = e.tick(36.0)
    assert acts == [PowerDown(("q-dy-c-1", "q-dy-c-2"))]
    assert e.nodes["q-dy-c-1"].state == NodeState.POWERING_DOWN
    e.node_terminated("q-dy-c-1", 36.1)
    assert e.nodes["q-dy-c-1"].state == NodeState.POWERED_DOWN
    assert e.next_wakeup(36.1) == math.inf or e.next_wakeup(36.1) > 36.1


def test_time_limit_kills_then_timeout() -> None:
    e = cluster(static=1, dynamic=0)
    boot_all(e, e.tick(0.0), 0.0)
    job = e.submit(spec(time_limit_s=60.0), 1.0)
    e.schedule(1.0)
    assert e.next_wakeup(1.0) == 61.0
    assert e.tick(30.0) == []
    acts = e.tick(61.0)
    assert KillJob(job.id, 0, ("q-st-c-1",), "TIMEOUT") in acts
    assert job.state == JobState.COMPLETING
    e.job_ended(job.id, 0, 61.2, signal=15)
    assert job.state == JobState.TIMEOUT and job.reason == "TimeLimit"


def test_cancel_pending_running_and_array_ranges() -> None:
    e = cluster(static=1, dynamic=0)
    boot_all(e, e.tick(0.0), 0.0)
    running = e.submit(spec(), 1.0)
    pending = e.submit(spec(), 1.0)
    arr = e.submit(spec(), 1.0, array=IndexSet.from_range(0, 64))
    e.schedule(1.0)
    out = e.cancel(pending.id, None, 2.0)
    assert out.cancelled == 1 and pending.state == JobState.CANCELLED
    out = e.cancel(running.id, None, 2.0)
    assert out.actions == [KillJob(running.id, 0, ("q-st-c-1",), "CANCELLED")]
    assert running.state == JobState.COMPLETING
    e.job_ended(running.id, 0, 2.5, signal=15)
    assert running.state == JobState.CANCELLED
    out = e.cancel(arr.id, IndexSet.from_range(10, 64), 3.0)
    assert out.cancelled == 55 and arr.pending_tasks is not None
    assert arr.pending_tasks.to_slurm() == "0-9" and arr.state == JobState.PENDING
    out = e.cancel(arr.id, IndexSet.from_range(100, 200), 3.0)
    assert not out.found
    out = e.cancel(arr.id, None, 4.0)
    assert arr.state == JobState.CANCELLED
    assert not e.cancel(999, None, 4.0).found
    assert e.cancel(running.id, None, 5.0).already_done


def test_node_failure_requeues_explicitly_and_replaces_static_node() -> None:
    e = cluster(static=1, dynamic=0)
    boot_all(e, e.tick(0.0), 0.0)
    job = e.submit(spec(), 1.0)
    e.schedule(1.0)
    e.drain_changes()
    acts = e.node_lost("q-st-c-1", 2.0, "agent lost")
    assert acts == [PowerDown(("q-st-c-1",))]
    changes = e.drain_changes()
    journal, dirty_jobs = changes.transitions, changes.jobs
    assert "q-st-c-1" in changes.nodes
    assert [(r.job_id, r.run, r.state) for r in changes.runs] == [(job.id, 0, "NODE_FAIL")]
    job_moves = [(t.old, t.new, t.run) for t in journal if t.entity == "job"]
    assert job_moves == [(JobState.RUNNING, JobState.NODE_FAIL, 0), (JobState.RUNNING, JobState.PENDING, 0)]
    assert job.state == JobState.PENDING and job.run == 1 and job.id in dirty_jobs
    assert e.nodes["q-st-c-1"].state == NodeState.DOWN
    e.node_terminated("q-st-c-1", 2.1)
    assert e.tick(2.5) == []  # back-off before relaunching
    acts = e.tick(3.5)
    assert PowerUp(("q-st-c-1",)) in acts
    # Requeued, it waits out the requeue delay (BeginTime), as Slurm 22.05 delays a requeued job.
    again = 2.0 + e.config.requeue_delay_s
    assert e.node_up("q-st-c-1", 4.0, "i-2") == [] and job.reason == "BeginTime"
    assert job.eligible_time == again and e.next_wakeup(4.0) == again
    assert e.tick(again) == [LaunchJob(job.id, 1, ("q-st-c-1",))]
    # A report from the lost run is stale and ignored.
    assert e.job_ended(job.id, 0, again + 1.0, exit_code=0) == [] and job.state == JobState.RUNNING


def test_boot_timeout_requeues_and_powers_down() -> None:
    e = cluster(dynamic=1, resume_timeout_s=10.0)
    job = e.submit(spec(), 0.0)
    e.tick(0.0)
    acts = e.tick(10.0)
    assert PowerDown(("q-dy-c-1",)) in acts
    assert job.state in (JobState.PENDING, JobState.CONFIGURING)
    assert e.nodes["q-dy-c-1"].state == NodeState.DOWN
    assert e.nodes["q-dy-c-1"].reason == "ResumeTimeout reached"


def test_check_rejects_impossible_requests() -> None:
    e = cluster(dynamic=10, cpus=1, mem=972)
    assert e.check(spec(partitions=("nope",))).code == "INVALID_PARTITION"  # type: ignore[union-attr]
    assert e.check(spec(cpus_per_task=3)).code == "CPUS_PER_NODE"  # type: ignore[union-attr]
    assert e.check(spec(mem_per_node_mb=999_999)).code == "MEMORY"  # type: ignore[union-attr]
    assert e.check(spec(gpus_per_node=1)).code == "GPUS"  # type: ignore[union-attr]
    # More nodes than the partition has: refused (EnforcePartLimits=ALL, ParallelCluster's).
    assert e.check(spec(min_nodes=12, ntasks=12)).code == "NODE_COUNT"  # type: ignore[union-attr]
    assert e.check(spec(ntasks=3)) is None  # spreads over three 1-CPU nodes
    # A job that got past the check anyway (its partition shrank since) waits with a reason.
    job = e.submit(spec(min_nodes=12, ntasks=12), 0.0)
    e.tick(0.0)
    assert job.reason == "PartitionNodeLimit"


def test_multi_node_and_task_placement() -> None:
    e = cluster(static=3, dynamic=0, cpus=2)
    boot_all(e, e.tick(0.0), 0.0)
    job = e.submit(spec(ntasks=3), 1.0)
    (launch,) = e.schedule(1.0)
    assert isinstance(launch, LaunchJob)
    assert job.alloc is not None and job.alloc.nodes == ("q-st-c-1", "q-st-c-2")
    assert job.alloc.tasks == (2, 1) and job.alloc.cpus == (2, 1)
    job2 = e.submit(spec(min_nodes=2, max_nodes=2, ntasks=2), 1.0)
    e.schedule(1.0)
    assert job2.alloc is not None and job2.alloc.nodes == ("q-st-c-2", "q-st-c-3")


def test_memory_scheduling_counts_memory() -> None:
    e = cluster(static=1, dynamic=0, cpus=4, mem=1000, memory_scheduling=True)
    boot_all(e, e.tick(0.0), 0.0)
    a = e.submit(spec(mem_per_node_mb=600), 1.0)
    b = e.submit(spec(mem_per_node_mb=600), 1.0)
    e.schedule(1.0)
    assert a.state == JobState.RUNNING and b.state == JobState.PENDING and b.reason == "Resources"


def test_easy_backfill_never_delays_the_head_job() -> None:
    e = cluster(static=2, dynamic=0, cpus=1)
    boot_all(e, e.tick(0.0), 0.0)
    long_ = e.submit(spec(time_limit_s=100.0), 0.0)
    e.schedule(0.0)  # long job on node 1; node 2 free
    head = e.submit(spec(min_nodes=2, ntasks=2, time_limit_s=50.0), 1.0)  # needs both nodes
    short = e.submit(spec(time_limit_s=90.0), 2.0)  # ends at 92 <= 100: may backfill
    too_long = e.submit(spec(time_limit_s=200.0), 3.0)  # would delay the head: must wait
    e.schedule(3.0)
    assert long_.state == JobState.RUNNING
    assert head.state == JobState.PENDING and head.reason == "Resources"
    assert short.state == JobState.RUNNING
    assert too_long.state == JobState.PENDING and too_long.reason == "Priority"


def test_priority_order_is_fifo_and_nice_lowers_priority() -> None:
    e = cluster(static=1, dynamic=0)
    boot_all(e, e.tick(0.0), 0.0)
    blocker = e.submit(spec(), 0.0)
    e.schedule(0.0)
    nice = e.submit(spec(nice=100), 1.0)
    plain = e.submit(spec(), 2.0)
    e.job_ended(blocker.id, 0, 3.0)
    e.schedule(3.0)
    assert plain.state == JobState.RUNNING and nice.state == JobState.PENDING


def test_fleet_stop_requeues_and_start_relaunches_static() -> None:
    e = cluster(static=1, dynamic=1)
    boot_all(e, e.tick(0.0), 0.0)
    job = e.submit(spec(), 1.0)
    e.schedule(1.0)
    acts = e.stop_fleet(2.0)
    assert PowerDown(("q-st-c-1",)) in acts
    assert job.state == JobState.PENDING and job.run == 1
    e.node_terminated("q-st-c-1", 2.1)
    assert e.tick(3.0) == [] and job.reason == "BeginTime"  # the requeue delay comes first
    again = 2.0 + e.config.requeue_delay_s
    assert e.tick(again) == [] and job.reason == "PartitionInactive"
    assert e.next_wakeup(again) == math.inf
    acts = e.start_fleet(4.0)
    assert any(isinstance(a, PowerUp) and "q-st-c-1" in a.nodes for a in acts)


def test_illegal_transition_is_an_engine_bug() -> None:
    e = cluster(dynamic=1)
    job = e.submit(spec(), 0.0)
    with pytest.raises(IllegalTransition):
        e._job_to(job, JobState.COMPLETING, 1.0, "test")


def test_restore_rebuilds_allocations_from_jobs() -> None:
    e = cluster(static=1, dynamic=1, cpus=2)
    boot_all(e, e.tick(0.0), 0.0)
    a = e.submit(spec(), 1.0)
    b = e.submit(spec(time_limit_s=10.0), 1.0)
    e.schedule(1.0)
    fresh = Engine(e.config, now=5.0)
    fresh.restore(list(e.jobs.values()), list(e.nodes.values()), e.next_job_id)
    node = fresh.nodes["q-st-c-1"]
    assert node.alloc_cpus == 2 and node.jobs == {a.id, b.id}
    assert fresh.next_job_id == e.next_job_id
    assert fresh.next_wakeup(5.0) == 11.0


def test_features_and_gpu_type_choose_nodes() -> None:
    nodes = (
        NodeDef("q-st-a-1", ("q",), 4, 1000, 1, "t4", static=True, features=("static", "g4dn", "gpu")),
        NodeDef("q-st-b-1", ("q",), 4, 1000, 1, "a10g", static=True, features=("static", "g5", "gpu")),
    )
    e = Engine(EngineConfig((PartitionDef("q", ("q-st-a-1", "q-st-b-1"), default=True),), nodes), 0.0)
    boot_all(e, e.tick(0.0), 0.0)
    assert e.check(spec(features=("nosuch",))).code == "FEATURES"  # type: ignore[union-attr]
    assert e.check(spec(gpus_per_node=1, gpu_type="h100")).code == "GPUS"  # type: ignore[union-attr]
    g5 = e.submit(spec(features=("g5",)), 1.0)
    a10 = e.submit(spec(gpus_per_node=1, gpu_type="a10g"), 1.0)
    e.schedule(1.0)
    assert g5.alloc is not None and g5.alloc.nodes == ("q-st-b-1",)
    assert a10.alloc is not None and a10.alloc.nodes == ("q-st-b-1",)


def test_backfill_cache_respects_time_limits() -> None:
    # Regression: jobs of one shape were assumed to fail together even with different limits.
    e = cluster(static=2, dynamic=0, cpus=1)
    boot_all(e, e.tick(0.0), 0.0)
    e.submit(spec(time_limit_s=100.0), 0.0)
    e.schedule(0.0)
    e.submit(spec(min_nodes=2, ntasks=2, time_limit_s=50.0), 1.0)  # reserved at t=100
    long_ = e.submit(spec(time_limit_s=500.0), 2.0)  # would delay the reservation
    short = e.submit(spec(time_limit_s=50.0), 3.0)  # same shape, ends before it: backfills
    e.schedule(3.0)
    assert long_.state == JobState.PENDING and short.state == JobState.RUNNING


def test_cancel_one_task_of_an_array_by_task_id() -> None:
    e = cluster(static=1, dynamic=0)
    boot_all(e, e.tick(0.0), 0.0)
    arr = e.submit(spec(), 1.0, array=IndexSet.from_range(0, 1))
    e.schedule(1.0)  # task 0 runs; task 1 (the array's own record) waits
    out = e.cancel(arr.id, IndexSet.from_ids([1]), 2.0)
    assert out.cancelled == 1 and arr.state == JobState.CANCELLED
    (task0,) = e.array_tasks(arr.id)
    assert task0.state == JobState.RUNNING


def dep(kind: str, job_id: int = 0, task_id: int | None = None, delay_s: float = 0.0) -> DepCondition:
    return DepCondition(kind, job_id, task_id, delay_s)


def _one_node() -> Engine:
    e = cluster(static=2, dynamic=0, cpus=1)
    boot_all(e, e.tick(0.0), 0.0)
    return e


def test_afterok_afternotok_afterany_follow_the_parent() -> None:
    e = _one_node()
    parent = e.submit(spec(), 0.0)
    ok = e.submit(spec(dependencies=(dep("afterok", parent.id),)), 0.0)
    notok = e.submit(spec(dependencies=(dep("afternotok", parent.id),)), 0.0)
    anyc = e.submit(spec(dependencies=(dep("afterany", parent.id),)), 0.0)
    e.schedule(0.0)
    assert parent.state == JobState.RUNNING
    assert (ok.reason, notok.reason, anyc.reason) == ("Dependency", "Dependency", "Dependency")
    assert e.dependency_status(ok, 0.0) == [(dep("afterok", parent.id), "unfulfilled")]
    e.job_ended(parent.id, 0, 1.0, exit_code=1)
    e.schedule(1.0)
    assert ok.state == JobState.PENDING and ok.reason == "DependencyNeverSatisfied"
    assert e.dependency_status(ok, 1.0) == [(dep("afterok", parent.id), "failed")]
    assert notok.state == JobState.RUNNING and anyc.state == JobState.RUNNING


def test_kill_on_invalid_dependency_cancels() -> None:
    e = _one_node()
    parent = e.submit(spec(), 0.0)
    child = e.submit(spec(dependencies=(dep("afterok", parent.id),), kill_on_invalid_dep=True), 0.0)
    e.schedule(0.0)
    e.job_ended(parent.id, 0, 1.0, exit_code=2)
    e.schedule(1.0)
    assert child.state == JobState.CANCELLED and child.reason == "DependencyNeverSatisfied"


def test_or_dependencies_after_with_delay_and_singleton() -> None:
    e = _one_node()
    a = e.submit(spec(name="a"), 0.0)
    b = e.submit(spec(name="b", time_limit_s=100.0), 0.0)
    either = e.submit(
        spec(dependencies=(dep("afterok", a.id), dep("afterok", b.id)), dependency_any=True), 0.0
    )
    later = e.submit(spec(dependencies=(dep("after", b.id, delay_s=60.0),)), 0.0)
    e.schedule(0.0)
    e.job_ended(a.id, 0, 5.0)
    e.schedule(5.0)
    assert either.state == JobState.RUNNING  # one of the two is enough
    assert later.reason == "Dependency"
    e.schedule(61.0)
    assert later.state == JobState.RUNNING or later.reason in ("Resources", "Priority")
    # singleton: one job of a name and user at a time, in submission order
    f = _one_node()
    s1 = f.submit(spec(name="s", dependencies=(dep("singleton"),)), 0.0)
    s2 = f.submit(spec(name="s", dependencies=(dep("singleton"),)), 0.0)
    f.schedule(0.0)
    assert s1.state == JobState.RUNNING and s2.reason == "Dependency"
    f.job_ended(s1.id, 0, 1.0)
    f.schedule(1.0)
    assert s2.state == JobState.RUNNING


def test_dependency_on_an_array_and_aftercorr() -> None:
    e = cluster(static=4, dynamic=0, cpus=1)
    boot_all(e, e.tick(0.0), 0.0)
    first = e.submit(spec(), 0.0, array=IndexSet.from_range(0, 2))
    whole = e.submit(spec(dependencies=(dep("afterok", first.id),)), 0.0)
    corr = e.submit(spec(dependencies=(dep("aftercorr", first.id),)), 0.0, array=IndexSet.from_range(0, 2))
    e.schedule(0.0)
    tasks = {t.task_id: t for t in [*e.array_tasks(first.id), first] if t.task_id is not None}
    assert sorted(tasks) == [0, 1, 2] and all(t.state == JobState.RUNNING for t in tasks.values())
    e.job_ended(tasks[1].id, 0, 1.0)  # task 1 done: corr's task 1 may start, not 0 or 2
    e.schedule(1.0)
    started = [t.task_id for t in e.array_tasks(corr.id)]
    assert started == [1] and whole.reason == "Dependency"
    e.job_ended(tasks[0].id, 0, 2.0)
    e.job_ended(tasks[2].id, 0, 2.0)
    e.schedule(2.0)
    assert whole.state == JobState.RUNNING


def test_hold_release_requeue_and_update() -> None:
    e = _one_node()
    job = e.submit(spec(), 0.0, hold=True)
    e.schedule(0.0)
    assert job.reason == "JobHeldUser" and job.state == JobState.PENDING
    assert e.set_hold(job, False, 1.0) is None
    e.schedule(1.0)
    assert job.state == JobState.RUNNING
    err, actions = e.requeue(job, 2.0)
    assert err is None and actions == [KillJob(job.id, 0, job.alloc.nodes, "REQUEUE")]  # type: ignore[union-attr]
    assert job.state == JobState.COMPLETING
    e.job_ended(job.id, 0, 2.5, signal=15)
    assert job.state == JobState.PENDING and job.run == 1
    e.schedule(3.0)
    assert job.state == JobState.PENDING and job.reason == "BeginTime"
    t = 2.5 + e.config.requeue_delay_s
    e.schedule(t)
    assert job.state == JobState.RUNNING
    assert e.update(job, {"time_limit_s": 10.0}, t) is None
    assert e.next_wakeup(t) == t + 10.0
    assert e.update(job, {"cpus_per_task": 2}, t) == "NOT_PENDING"
    pending = e.submit(spec(), 4.0)
    assert e.update(pending, {"cpus_per_task": 99}, 4.0) == "IMPOSSIBLE"
    assert e.update(pending, {"partitions": ("q",), "nice": 10}, 4.0) is None
    assert e.requeue(pending, 4.0)[0] == "PENDING"
    norequeue = e.submit(spec(requeue=False), 4.0)
    assert e.requeue(norequeue, 4.0)[0] == "NO_REQUEUE"


def test_warning_signal_follows_a_time_limit_update() -> None:
    """scontrol update TimeLimit= on a running job moves its --signal warning (sent once)."""
    e = _one_node()
    job = e.submit(spec(time_limit_s=100.0, warn_signal=("USR1", 30.0, False)), 0.0)
    e.schedule(0.0)
    assert job.alloc is not None
    assert e.update(job, {"time_limit_s": 200.0}, 10.0) is None
    assert e.tick(70.0) == []  # the old warning time passes quietly
    assert e.tick(100.0) == [] and job.state == JobState.RUNNING  # nor does the old limit
    assert e.tick(170.0) == [KillJob(job.id, 0, job.alloc.nodes, "SIGNAL", "USR1")]
    assert e.update(job, {"time_limit_s": 300.0}, 180.0) is None
    assert [a for a in e.tick(270.0) if isinstance(a, KillJob)] == []  # not sent twice
    other = e.submit(spec(time_limit_s=100.0, warn_signal=("USR2", 30.0, True)), 180.0)
    assert e.update(job, {"time_limit_s": 190.0}, 181.0) is None  # ends at 190: frees the node
    e.tick(190.0)
    e.schedule(191.0)
    assert other.state == JobState.RUNNING and other.alloc is not None
    assert e.update(other, {"time_limit_s": 40.0}, 192.0) is None  # shorter: warned sooner
    assert e.tick(201.0) == [KillJob(other.id, 0, other.alloc.nodes[:1], "SIGNAL_BATCH", "USR2")]


def test_warning_signal_before_the_time_limit() -> None:
    e = _one_node()
    job = e.submit(spec(time_limit_s=100.0, warn_signal=("USR1", 30.0, True)), 0.0)
    e.schedule(0.0)
    assert e.next_wakeup(0.0) == 70.0
    assert e.tick(69.0) == []
    assert e.tick(70.0) == [KillJob(job.id, 0, job.alloc.nodes[:1], "SIGNAL_BATCH", "USR1")]  # type: ignore[union-attr]
    assert job.state == JobState.RUNNING


def test_regression_a_nice_update_did_not_move_the_job_in_the_queue() -> None:
    """``scontrol update Nice=`` changes a pending job's priority; its place must follow."""
    from stratus.engine.engine import Engine
    from stratus.engine.model import EngineConfig, JobSpec, LaunchJob, NodeDef, PartitionDef

    nodes = (NodeDef("n1", ("p",), cpus=1, memory_mb=1000, static=True),)
    engine = Engine(EngineConfig(partitions=(PartitionDef("p", ("n1",), default=True),), nodes=nodes), 0.0)
    engine.tick(0.0)
    engine.node_up("n1", 0.0)
    blocker = engine.submit(JobSpec(name="blocker", user="u", time_limit_s=10.0), 0.0)
    engine.tick(0.0)
    first = engine.submit(JobSpec(name="first", user="u"), 1.0)
    second = engine.submit(JobSpec(name="second", user="u"), 2.0)
    engine.tick(2.0)
    assert engine.update(first, {"nice": 1000}, 3.0) is None  # lower priority than `second` now
    engine.tick(3.0)
    actions = engine.job_ended(blocker.id, 0, 4.0)
    actions += engine.tick(4.0)
    started = [a.job_id for a in actions if isinstance(a, LaunchJob)]
    assert started == [second.id]

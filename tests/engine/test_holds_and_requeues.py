"""Holds, requeues and eligibility as Slurm 22.05's slurmctld has them (src/slurmctld/job_mgr.c).

Each test states the Slurm fact it pins; the engine speaks its own reason codes, which are
Slurm's words (``JobHeldRequeue`` is Slurm's JobHeldUser with the description "job requeued in
held state", see the Slurm front door).
"""

from __future__ import annotations

from stratus.engine.engine import Engine
from stratus.engine.model import (
    DepCondition,
    EngineConfig,
    JobSpec,
    KillJob,
    LaunchJob,
    NodeDef,
    PartitionDef,
)
from stratus.engine.states import JobState


def spec(**kw: object) -> JobSpec:
    base: dict[str, object] = {"name": "job", "user": "alice"}
    base.update(kw)
    return JobSpec(**base)  # type: ignore[arg-type]


def engine(nodes: int = 1, **config: object) -> Engine:
    """``nodes`` static one-CPU nodes in partition ``q``, all up."""
    defs = tuple(NodeDef(f"q-st-c-{i}", ("q",), 1, 1000, static=True) for i in range(1, nodes + 1))
    cfg = EngineConfig(
        partitions=(PartitionDef("q", tuple(d.name for d in defs), default=True),),
        nodes=defs,
        **config,  # type: ignore[arg-type]
    )
    e = Engine(cfg, now=0.0)
    e.tick(0.0)
    for d in defs:
        e.node_up(d.name, 0.0, instance_id=f"i-{d.name}")
    return e


def test_an_administrators_hold_is_theirs_to_release() -> None:
    """Slurm 22.05: ``scontrol hold`` by an operator sets JobHeldAdmin, ``uhold`` JobHeldUser;
    a user may release only JobHeldUser (anything else: Access/permission denied)."""
    e = engine()
    e.submit(spec(), 0.0)  # keeps the node busy
    job = e.submit(spec(), 0.0)
    assert e.set_hold(job, True, 1.0, admin=True) is None
    e.schedule(1.0)
    assert (job.held, job.reason) == (True, "JobHeldAdmin")
    assert e.set_hold(job, False, 2.0) == "DENIED" and job.held
    assert e.set_hold(job, True, 2.0) is None and job.reason == "JobHeldAdmin"  # a user's hold adds nothing
    assert e.set_hold(job, True, 2.0, admin=True, user_hold=True) is None  # an admin's uhold
    assert job.reason == "JobHeldUser"
    assert e.set_hold(job, False, 3.0) is None and not job.held
    assert e.set_hold(job, False, 3.0) is None  # releasing a released job does nothing
    assert e.set_hold(job, True, 4.0) is None and job.reason == "JobHeldUser"  # a user's own hold
    assert e.set_hold(job, False, 5.0, admin=True) is None and not job.held


def test_a_running_job_may_be_held_and_waits_held_once_requeued() -> None:
    """Slurm 22.05 accepts a hold of a running job (priority 0, reason set); it keeps running,
    and a requeue brings it back pending and held, not running again."""
    e = engine()
    job = e.submit(spec(), 0.0)
    e.schedule(0.0)
    assert job.state == JobState.RUNNING
    assert e.set_hold(job, True, 1.0, admin=True) is None
    assert job.state == JobState.RUNNING and job.reason == "JobHeldAdmin"
    err, actions = e.requeue(job, 2.0)
    assert err is None and actions == [KillJob(job.id, 0, ("q-st-c-1",), "REQUEUE")]
    e.job_ended(job.id, 0, 2.5, signal=15)
    e.schedule(100.0)
    assert (job.state, job.run, job.reason) == (JobState.PENDING, 1, "JobHeldAdmin")
    assert e.set_hold(job, False, 101.0, admin=True) is None
    assert e.schedule(101.0) == [LaunchJob(job.id, 1, ("q-st-c-1",))]


def test_a_held_job_whose_run_failed_is_the_administrators_once_requeued() -> None:
    """Slurm 22.05: a failed run's reason replaces the hold's; a held pending job whose reason
    is no hold reason is made JobHeldAdmin by the scheduler; a clean end keeps the hold's."""
    e = engine(2)
    failed = e.submit(spec(), 0.0)
    clean = e.submit(spec(), 0.0)
    e.schedule(0.0)
    for job in (failed, clean):
        assert e.set_hold(job, True, 1.0) is None and job.reason == "JobHeldUser"
    e.job_ended(failed.id, 0, 2.0, exit_code=1)
    e.job_ended(clean.id, 0, 2.0)
    assert (failed.reason, clean.reason) == ("NonZeroExitCode", "JobHeldUser")
    for job in (failed, clean):
        assert e.requeue(job, 3.0)[0] is None
    e.schedule(3.0)
    assert (failed.reason, clean.reason) == ("JobHeldAdmin", "JobHeldUser")
    assert e.set_hold(failed, False, 4.0) == "DENIED"
    assert e.set_hold(clean, False, 4.0) is None


def test_requeuehold_waits_held_and_its_user_may_release_it() -> None:
    """Slurm 22.05: ``scontrol requeuehold`` leaves the job pending with reason JobHeldUser and
    the description "job requeued in held state"; its user may release it."""
    e = engine()
    job = e.submit(spec(), 0.0)
    e.schedule(0.0)
    assert e.requeue(job, 1.0, hold=True)[0] is None
    assert job.state == JobState.COMPLETING and job.reason == "JobHeldRequeue"
    e.job_ended(job.id, 0, 1.5, signal=15)
    e.schedule(50.0)
    assert (job.state, job.held, job.reason) == (JobState.PENDING, True, "JobHeldRequeue")
    assert e.set_hold(job, False, 51.0) is None
    assert e.schedule(51.0) == [LaunchJob(job.id, 1, ("q-st-c-1",))]


def test_finished_jobs_cannot_be_held_or_released() -> None:
    """Slurm 22.05: any update of a finished job (a cancelled one being torn down included) is
    ESLURM_JOB_FINISHED."""
    e = engine()
    done = e.submit(spec(), 0.0)
    e.schedule(0.0)
    e.job_ended(done.id, 0, 1.0)
    assert e.set_hold(done, True, 2.0, admin=True) == "ALREADY_DONE"
    assert e.set_hold(done, False, 2.0, admin=True) == "ALREADY_DONE"
    busy = e.submit(spec(), 2.0)
    e.schedule(2.0)
    e.cancel(busy.id, None, 3.0)
    assert busy.state == JobState.COMPLETING
    assert e.set_hold(busy, True, 3.0, admin=True) == "ALREADY_DONE"


def test_a_requeued_job_waits_before_it_runs_again() -> None:
    """Slurm 22.05 makes a requeued job's begin time now + its credential lifetime + 1 s
    (batch_requeue_fini): it waits with reason BeginTime. stratus's wait is
    ``EngineConfig.requeue_delay_s``, shorter, and configurable."""
    e = engine()
    job = e.submit(spec(), 0.0)
    e.schedule(0.0)
    e.requeue(job, 1.0)
    e.job_ended(job.id, 0, 2.0, signal=15)
    again = 2.0 + e.config.requeue_delay_s
    assert e.config.requeue_delay_s > 0
    assert e.schedule(2.0) == [] and (job.state, job.reason) == (JobState.PENDING, "BeginTime")
    assert job.eligible_time == again and e.next_wakeup(2.0) == again
    assert e.tick(again) == [LaunchJob(job.id, 1, ("q-st-c-1",))]
    at_once = engine(requeue_delay_s=0.0)
    other = at_once.submit(spec(), 0.0)
    at_once.schedule(0.0)
    at_once.requeue(other, 1.0)
    at_once.job_ended(other.id, 0, 2.0, signal=15)
    assert at_once.schedule(2.0) == [LaunchJob(other.id, 1, ("q-st-c-1",))]


def test_a_job_cancelled_while_its_requeue_completes_never_runs_again() -> None:
    """Slurm 22.05: a requeued job is pending (still completing) from the requeue on, and a
    cancel of a pending job ends it: it must not come back for another run."""
    e = engine()
    job = e.submit(spec(), 0.0)
    e.schedule(0.0)
    assert e.requeue(job, 1.0)[0] is None and job.state == JobState.COMPLETING
    assert e.requeue(job, 1.1)[0] == "PENDING"  # requeued already
    out = e.cancel(job.id, None, 1.5)
    assert out.cancelled == 1 and not out.actions  # the kill was sent by the requeue
    e.job_ended(job.id, 0, 2.0, signal=15)
    assert (job.state, job.run) == (JobState.CANCELLED, 0)
    assert e.tick(100.0) == [] and job.state == JobState.CANCELLED
    assert [r.state for r in e.drain_changes().runs] == [JobState.CANCELLED]


def test_eligible_time_is_unknown_while_held_or_waiting_on_a_dependency() -> None:
    """Slurm 22.05 clears a job's begin time while it is held (_hold_job_rec) or waits on a
    dependency (job_independent), and sets it when the job is found free to go."""
    e = engine()
    parent = e.submit(spec(), 0.0)
    held = e.submit(spec(), 0.0, hold=True)
    child = e.submit(spec(dependencies=(DepCondition("afterok", parent.id),)), 0.0)
    later = e.submit(spec(begin_time=500.0), 0.0, hold=True)
    e.schedule(0.0)
    assert parent.eligible_time == 0.0
    assert held.eligible_time is None and child.eligible_time is None
    assert later.eligible_time == 500.0  # a begin time still to come stays
    e.set_hold(held, False, 5.0)
    e.schedule(5.0)
    assert held.eligible_time == 5.0
    e.job_ended(parent.id, 0, 7.0)
    e.schedule(7.0)
    assert child.eligible_time == 7.0
    waiting = e.submit(spec(), 8.0)
    e.schedule(8.0)
    assert waiting.eligible_time == 8.0
    e.set_hold(waiting, True, 9.0)
    assert waiting.eligible_time is None


def test_more_nodes_than_any_named_partition_has_is_refused() -> None:
    """Slurm 22.05 with EnforcePartLimits=ALL (ParallelCluster's setting) refuses at submit a
    job whose node count exceeds a requested partition's (ESLURM_INVALID_NODE_COUNT), even when
    another requested partition is big enough."""
    small = tuple(NodeDef(f"s-{i}", ("small",), 1, 1000, static=True) for i in range(1, 4))
    big = tuple(NodeDef(f"b-{i}", ("big",), 1, 1000, static=True) for i in range(1, 7))
    cfg = EngineConfig(
        partitions=(
            PartitionDef("small", tuple(d.name for d in small), default=True),
            PartitionDef("big", tuple(d.name for d in big)),
        ),
        nodes=small + big,
    )
    e = Engine(cfg, now=0.0)
    five = {"min_nodes": 5, "ntasks": 5}
    assert e.check(spec(**five)).code == "NODE_COUNT"  # type: ignore[union-attr]
    assert e.check(spec(partitions=("big",), **five)) is None
    assert e.check(spec(partitions=("big", "small"), **five)).code == "NODE_COUNT"  # type: ignore[union-attr]
    assert e.check(spec(min_nodes=3, ntasks=3)) is None

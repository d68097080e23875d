"""Retried runs (JobSpec.max_attempts) and fair-share identifiers (JobSpec.share_id)."""

from __future__ import annotations

import json

from stratus.engine.engine import Engine
from stratus.engine.model import (
    DepCondition,
    EngineConfig,
    JobSpec,
    KillJob,
    LaunchJob,
    NodeDef,
    PartitionDef,
    PowerUp,
    PriorityConfig,
    RetryRule,
)
from stratus.engine.states import JobState
from stratus.store.store import job_to_row, row_to_job


def engine(nodes: int = 1, **kw: object) -> Engine:
    defs = tuple(NodeDef(f"n{i}", ("q",), 1, 100, static=True) for i in range(1, nodes + 1))
    part = PartitionDef("q", tuple(d.name for d in defs), default=True)
    cfg = EngineConfig(partitions=(part,), nodes=defs, **kw)  # type: ignore[arg-type]
    e = Engine(cfg, now=0.0)
    for a in e.tick(0.0):
        if isinstance(a, PowerUp):
            for n in a.nodes:
                e.node_up(n, 0.0)
    return e


def spec(**kw: object) -> JobSpec:
    base: dict[str, object] = {"name": "job", "user": "alice"}
    base.update(kw)
    return JobSpec(**base)  # type: ignore[arg-type]


# -- max_attempts -----------------------------------------------------------------------------------


def test_a_failed_run_with_attempts_left_runs_again() -> None:
    e = engine()
    job = e.submit(spec(max_attempts=3), 0.0)
    assert e.schedule(0.0) == [LaunchJob(job.id, 0, ("n1",))]
    e.drain_changes()
    assert e.job_ended(job.id, 0, 1.0, exit_code=2) == []
    assert job.state == JobState.PENDING and job.run == 1 and job.reason == "None"
    assert job.exit_code == 0 and job.alloc is None and job.end_time is None
    changes = e.drain_changes()
    assert [(t.old, t.new, t.cause, t.run) for t in changes.transitions] == [
        (JobState.RUNNING, JobState.FAILED, "agent", 0),
        (JobState.RUNNING, JobState.PENDING, "retry", 0),
    ]
    assert [(r.run, r.state, r.exit_code) for r in changes.runs] == [(0, "FAILED", 2)]
    assert e.schedule(2.0) == [LaunchJob(job.id, 1, ("n1",))]
    e.job_ended(job.id, 1, 3.0, out_of_memory=True)  # out of memory counts as a failure too
    assert job.state == JobState.PENDING and job.run == 2
    e.schedule(4.0)
    e.job_ended(job.id, 2, 5.0)
    assert job.state == JobState.COMPLETED and job.run == 2
    assert e.nodes["n1"].jobs == set() and e.nodes["n1"].alloc_cpus == 0


def test_the_last_attempt_fails_for_good() -> None:
    e = engine()
    job = e.submit(spec(max_attempts=2), 0.0)
    e.schedule(0.0)
    e.job_ended(job.id, 0, 1.0, signal=9)
    e.schedule(1.0)
    e.job_ended(job.id, 1, 2.0, exit_code=1)
    assert (job.state, job.run, job.reason, job.exit_code) == (JobState.FAILED, 1, "NonZeroExitCode", 1)
    once = e.submit(spec(), 3.0)  # the default: one attempt, today's behaviour
    e.schedule(3.0)
    e.job_ended(once.id, 0, 4.0, exit_code=1)
    assert once.state == JobState.FAILED and once.run == 0


def test_kills_are_not_retried() -> None:
    e = engine(nodes=2)
    cancelled = e.submit(spec(max_attempts=5), 0.0)
    timed_out = e.submit(spec(max_attempts=5, time_limit_s=10.0), 0.0)
    e.schedule(0.0)
    assert e.cancel(cancelled.id, None, 1.0).actions == [KillJob(cancelled.id, 0, ("n1",), "CANCELLED")]
    e.job_ended(cancelled.id, 0, 1.5, signal=15)
    assert e.tick(10.0) == [KillJob(timed_out.id, 0, ("n2",), "TIMEOUT")]
    e.job_ended(timed_out.id, 0, 10.5, signal=15)
    assert cancelled.state == JobState.CANCELLED and timed_out.state == JobState.TIMEOUT


def test_retry_rules_decide_which_failures_run_again() -> None:
    """The first rule that applies decides; an attempt no rule applies to is retried."""
    rules = (
        RetryRule("EXIT", exit_code="3"),
        RetryRule("RETRY", exit_code="1*"),
        RetryRule("EXIT", end_states=("OUT_OF_MEMORY",)),
        RetryRule("EXIT"),
    )
    e = engine()
    cases = [({"exit_code": 3}, False), ({"exit_code": 12}, True), ({"exit_code": 7}, False),
             ({"out_of_memory": True}, False)]  # fmt: skip
    for t, (kw, retried) in enumerate(cases):
        job = e.submit(spec(max_attempts=2, retry_rules=rules), 10.0 * t)
        assert e.schedule(10.0 * t) == [LaunchJob(job.id, 0, ("n1",))]
        e.job_ended(job.id, 0, 10.0 * t + 1, **kw)  # type: ignore[arg-type]
        assert (job.state == JobState.PENDING) == retried, kw
        if retried:
            e.cancel(job.id, None, 10.0 * t + 2)
    unruled = e.submit(spec(max_attempts=2, retry_rules=(RetryRule("EXIT", exit_code="9"),)), 50.0)
    e.schedule(50.0)
    e.job_ended(unruled.id, 0, 51.0, exit_code=4)
    assert unruled.state == JobState.PENDING  # no rule applies: retried, as AWS Batch does
    # Stored and loaded with the job.
    again = row_to_job(json.loads(json.dumps(job_to_row(unruled))))
    assert again.spec.retry_rules == unruled.spec.retry_rules
    ooms = RetryRule("RETRY", end_states=("OUT_OF_MEMORY",))
    loaded = row_to_job(json.loads(json.dumps(job_to_row(e.submit(spec(retry_rules=(ooms,)), 52.0)))))
    assert loaded.spec.retry_rules == (ooms,)


def test_a_multi_node_retry_stops_the_other_nodes_first() -> None:
    e = engine(nodes=2)
    job = e.submit(spec(max_attempts=2, min_nodes=2, ntasks=2), 0.0)
    e.schedule(0.0)
    assert e.job_ended(job.id, 0, 1.0, exit_code=1) == [KillJob(job.id, 0, ("n2",), "END")]
    assert job.state == JobState.PENDING and job.run == 1


def test_dependents_wait_through_retries() -> None:
    e = engine(nodes=2)
    parent = e.submit(spec(max_attempts=2), 0.0)
    child = e.submit(spec(dependencies=(DepCondition("afterok", parent.id),)), 0.0)
    e.schedule(0.0)
    e.job_ended(parent.id, 0, 1.0, exit_code=1)
    e.schedule(1.0)
    assert child.reason == "Dependency" and parent.state == JobState.RUNNING
    e.job_ended(parent.id, 1, 2.0)
    e.schedule(2.0)
    assert child.state == JobState.RUNNING


# -- share_id -------------------------------------------------------------------------------------


def test_usage_is_charged_to_the_share_id_else_the_account() -> None:
    e = engine(nodes=3, priority=PriorityConfig(kind="multifactor", weight_fairshare=1000, calc_period_s=0))
    by_share = e.submit(spec(user="u1", account="acct", share_id="teamA"), 0.0)
    by_account = e.submit(spec(user="u2", account="acct"), 0.0)
    plain = e.submit(spec(user="u3"), 0.0)
    e.schedule(0.0)
    for j in (by_share, by_account, plain):
        e.job_ended(j.id, 0, 100.0)
    rows = {(r.account, r.user): r.raw_usage for r in e.shares(100.0) if r.user is not None}
    assert set(rows) == {("teamA", "u1"), ("acct", "u2"), ("root", "u3")}
    assert all(usage > 0 for usage in rows.values())
    assert spec(account="acct").share == "acct" and spec(account="acct", share_id="s").share == "s"


# -- the store ------------------------------------------------------------------------------------


def test_new_fields_round_trip_through_the_store_and_old_specs_load() -> None:
    e = engine()
    job = e.submit(spec(max_attempts=4, share_id="teamA"), 0.0)
    back = row_to_job(job_to_row(job))
    assert back.spec == job.spec and back.spec.max_attempts == 4 and back.spec.share_id == "teamA"
    row = job_to_row(e.submit(spec(name="old"), 0.0))
    old = {k: v for k, v in json.loads(row["spec"]).items() if k not in ("max_attempts", "share_id")}
    row["spec"] = json.dumps(old)
    loaded = row_to_job(row).spec
    assert (loaded.max_attempts, loaded.share_id, loaded.share) == (1, "", "")
    assert loaded == spec(name="old")

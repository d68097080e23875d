"""Fair-share weights (FairShare.set_weights), per-job tiers (JobSpec.tier) and out-of-memory
reports by exit status (JobSpec.oom_exit_code): what AWS Batch's scheduling policies, job queue
priorities and container out-of-memory ends map onto."""

from __future__ import annotations

import pytest

from stratus.engine.fairshare import FairShare
from stratus.engine.model import LaunchJob, PriorityConfig, RetryRule
from stratus.engine.states import JobState
from tests.engine.test_attempts_and_shares import engine, spec

DAY = 86400.0


def _norm(fs: FairShare) -> dict[str, float]:
    return {r.account: r.norm_shares for r in fs.rows() if r.user is None and r.depth == 1}


def test_a_weight_of_one_half_is_entitled_to_twice_the_share() -> None:
    fs = FairShare(7 * DAY)
    for account in ("teamA", "teamB", "other"):
        fs.association(account, "alice")
    fs.set_weights({"teamA": 0.5})
    assert _norm(fs) == pytest.approx({"teamA": 0.5, "teamB": 0.25, "other": 0.25})
    raw = {r.account: r.raw_shares for r in fs.rows() if r.user is None and r.depth == 1}
    assert raw == {"teamA": 2, "teamB": 1, "other": 1}
    # Same usage, but teamA is entitled to more: its factor is the higher.
    for account in ("teamA", "teamB"):
        fs.charge(account, "alice", 100.0, 0.0)
    assert fs.factor("teamA", "alice") > fs.factor("teamB", "alice")
    # Replacing the weights puts every account back to one share.
    fs.set_weights({})
    assert _norm(fs) == pytest.approx({"teamA": 1 / 3, "teamB": 1 / 3, "other": 1 / 3})


def test_prefix_weights_apply_to_accounts_created_later_and_the_longest_prefix_wins() -> None:
    fs = FairShare(7 * DAY)
    fs.set_weights({"gpu*": 0.25, "gpu-big*": 4.0, "gpu-big-a": 1.0, "bad": 0.0})
    for account in ("gpu-1", "gpu-big-b", "gpu-big-a", "cpu", "bad"):
        fs.association(account, "bob")
    raw = {a.account: a.raw_shares for a in fs.accounts.values()}
    assert raw == {"gpu-1": 4.0, "gpu-big-b": 0.25, "gpu-big-a": 1.0, "cpu": 1, "bad": 1}
    # sshare's RawShares are whole shares (at least 1); NormShares are exact.
    rows = {r.account: r for r in fs.rows() if r.user is None and r.depth == 1}
    assert rows["gpu-big-b"].raw_shares == 1
    assert rows["gpu-big-b"].norm_shares == pytest.approx(0.25 / 7.25)


def test_weights_change_multifactor_priorities_at_the_next_pass() -> None:
    cfg = PriorityConfig(kind="multifactor", weight_fairshare=10_000, calc_period_s=0)
    e = engine(priority=cfg)
    for share in ("teamA", "teamB"):
        e.fairshare.charge(share, "alice", 1000.0, 0.0)
    e.schedule(0.0)
    busy = e.submit(spec(name="busy"), 0.0)
    assert e.schedule(0.0) == [LaunchJob(busy.id, 0, ("n1",))]
    a = e.submit(spec(share_id="teamA"), 1.0)
    b = e.submit(spec(share_id="teamB"), 1.0)
    e.schedule(1.0)
    assert a.priority == b.priority
    e.set_share_weights({"teamA": 0.5})
    e.schedule(2.0)
    assert a.priority > b.priority
    e.job_ended(busy.id, 0, 3.0)
    assert e.schedule(3.0) == [LaunchJob(a.id, 0, ("n1",))]


def test_a_higher_tier_starts_first_whatever_the_priorities() -> None:
    e = engine()
    busy = e.submit(spec(name="busy"), 0.0)
    assert e.schedule(0.0) == [LaunchJob(busy.id, 0, ("n1",))]
    low = e.submit(spec(name="low", tier=1), 1.0)
    high = e.submit(spec(name="high", tier=10), 2.0)  # later, so of lower basic priority
    also_high = e.submit(spec(name="high2", tier=10), 3.0)
    e.schedule(3.0)
    assert low.priority > high.priority
    e.job_ended(busy.id, 0, 4.0)
    assert e.schedule(4.0) == [LaunchJob(high.id, 0, ("n1",))]
    e.job_ended(high.id, 0, 5.0)
    assert e.schedule(5.0) == [LaunchJob(also_high.id, 0, ("n1",))]
    e.job_ended(also_high.id, 0, 6.0)
    assert e.schedule(6.0) == [LaunchJob(low.id, 0, ("n1",))]


def test_an_oom_exit_code_ends_the_run_out_of_memory_and_is_retried_as_such() -> None:
    e = engine()
    rules = (RetryRule("EXIT", None, ("OUT_OF_MEMORY",)),)
    job = e.submit(spec(oom_exit_code=247, max_attempts=2, retry_rules=rules), 0.0)
    e.schedule(0.0)
    e.job_ended(job.id, 0, 1.0, exit_code=247)
    assert (job.state, job.exit_code, job.reason) == (JobState.OUT_OF_MEMORY, 137, "OutOfMemory")
    # Without the field, the same status is a plain failure (and retried here).
    other = e.submit(spec(max_attempts=2, retry_rules=rules), 2.0)
    e.schedule(2.0)
    e.job_ended(other.id, 0, 3.0, exit_code=247)
    assert other.state == JobState.PENDING and other.run == 1

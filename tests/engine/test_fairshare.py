"""Fair share: Slurm's decay and the classic factor 2**(-EffectvUsage/NormShares)."""

from __future__ import annotations

import math

import pytest

from stratus.engine.fairshare import ROOT, FairShare, calc_factor

DAY = 86400.0


def test_factor_is_one_half_at_exactly_the_share_and_one_unused() -> None:
    fs = FairShare(7 * DAY)
    fs.charge("", "alice", 100.0, 0.0)
    fs.association("", "bob")
    # two users under root, one share each: alice used everything (usage 1, share 0.5)
    assert fs.factor("", "alice") == pytest.approx(2 ** (-1 / 0.5))
    assert fs.factor("", "bob") == 1.0
    fs.charge("", "bob", 100.0, 0.0)
    assert fs.factor("", "alice") == pytest.approx(0.5)
    assert fs.factor("", "bob") == pytest.approx(0.5)


def test_usage_halves_after_one_half_life() -> None:
    fs = FairShare(DAY)
    fs.charge("", "alice", 1000.0, 0.0)
    fs.decay_to(DAY)
    (row,) = [r for r in fs.rows() if r.user == "alice"]
    # Slurm decays by (1 - 0.693 / half-life) per second: about a half after one half-life
    assert row.raw_usage == pytest.approx(1000.0 * (1 - 0.693 / DAY) ** DAY)
    assert row.raw_usage == pytest.approx(500.0, rel=0.001)


def test_no_decay_with_a_zero_half_life() -> None:
    fs = FairShare(0.0)
    fs.charge("", "alice", 10.0, 0.0)
    fs.decay_to(100 * DAY)
    assert fs.usage(fs.association("", "alice")) == 10.0


def test_accounts_share_their_parent_and_pass_usage_down() -> None:
    fs = FairShare(7 * DAY)
    fs.charge("physics", "alice", 300.0, 0.0)
    fs.charge("physics", "bob", 100.0, 0.0)
    fs.charge("", "carol", 400.0, 0.0)
    rows = fs.rows()
    assert [(r.account, r.user, r.depth) for r in rows] == [
        (ROOT, None, 0),
        (ROOT, "carol", 1),
        ("physics", None, 1),
        ("physics", "alice", 2),
        ("physics", "bob", 2),
    ]
    root, carol, physics, alice, bob = rows
    assert (root.raw_shares, root.norm_usage, root.effective_usage) == (None, None, 1.0)
    assert physics.norm_shares == 0.5 and alice.norm_shares == 0.25
    assert physics.norm_usage == pytest.approx(0.5)
    # EffectvUsage(user) = Usage + (EffectvUsage(account) - Usage) * RawShares / LevelShares
    assert alice.effective_usage == pytest.approx(0.375 + (0.5 - 0.375) / 2)
    assert bob.effective_usage == pytest.approx(0.125 + (0.5 - 0.125) / 2)
    assert alice.fairshare == pytest.approx(calc_factor(alice.effective_usage, 0.25))
    assert alice.fairshare < bob.fairshare < 1.0
    assert carol.fairshare == pytest.approx(0.5)


def test_charge_past_integrates_the_decay_over_the_run() -> None:
    live = FairShare(DAY, 0.0)
    t = 0.0
    while t < 3600.0:  # one CPU for an hour, charged every second
        live.charge("", "alice", 1.0, t + 1.0)
        t += 1.0
    live.decay_to(2 * DAY)
    past = FairShare(DAY, 0.0)
    past.charge_past("", "alice", 1, 0.0, 3600.0, 2 * DAY)
    a, b = live.association("", "alice"), past.association("", "alice")
    assert past.usage(b) == pytest.approx(live.usage(a), rel=1e-3)
    assert math.isclose(past.usage(b), 3600.0 / 4, rel_tol=0.03)  # about two half-lives later

"""Replays through the engine: hand-checked schedules, the EASY guarantee, the reference figures."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stratus.engine import engine as engine_module
from stratus.engine.model import (
    BACKFILL_CONSERVATIVE,
    BACKFILL_EASY,
    BACKFILL_NONE,
    EngineConfig,
    NodeDef,
    PartitionDef,
    SchedulingPolicy,
)
from stratus.sim import runner as runner_module
from stratus.sim.report import build_report
from stratus.sim.runner import Simulation
from stratus.sim.workload import SimJob


def machine(procs: int, backfill: str) -> EngineConfig:
    return EngineConfig(
        partitions=(PartitionDef("batch", ("node1",), default=True),),
        nodes=(NodeDef("node1", ("batch",), procs, procs * 1024, static=True),),
        scaledown_idle_s=math.inf,
        min_job_age_s=0.0,
        policy=SchedulingPolicy(backfill=backfill, max_job_test=None),
    )


def job(n: int, submit: float, run: float, procs: int, estimate: float | None = None) -> SimJob:
    return SimJob(n, submit, run, estimate if estimate is not None else run, procs, 1, 1, 1, -1, True)


# A 4-processor machine: A holds 2 for 100 s, B wants all 4 (the head from t=1), C is short
# enough to finish before B's reserved start, D is not and needs a processor B will use.
WORKLOAD = [job(1, 0, 100, 2), job(2, 1, 50, 4), job(3, 2, 20, 2, 50), job(4, 3, 200, 2)]


def starts(backfill: str) -> list[float | None]:
    result = Simulation(machine(4, backfill), WORKLOAD).run()
    return [o.start for o in result.outcomes]


def test_fcfs_runs_in_order() -> None:
    assert starts(BACKFILL_NONE) == [0, 100, 150, 150]


def test_easy_backfills_only_what_ends_before_the_head_starts() -> None:
    assert starts(BACKFILL_EASY) == [0, 100, 2, 150]


def test_conservative_matches_easy_when_only_the_head_waits() -> None:
    assert starts(BACKFILL_CONSERVATIVE) == [0, 100, 2, 150]


def test_report_figures_by_hand() -> None:
    result = Simulation(machine(4, BACKFILL_EASY), WORKLOAD).run()
    report = build_report(result)
    waits = [0, 99, 0, 147]
    assert report.overall.mean_wait_s == pytest.approx(sum(waits) / 4)
    assert report.overall.max_wait_s == 147
    bsld = [1.0, (99 + 50) / 50, 1.0, (147 + 200) / 200]
    assert report.overall.mean_bounded_slowdown == pytest.approx(sum(bsld) / 4)
    # 2*100 + 4*50 + 2*20 + 2*200 CPU-seconds over 4 CPUs for 350 s (submit 0 to the last end)
    assert report.overall.utilization == pytest.approx(840 / (4 * 350))
    assert report.makespan_s == 350


def test_job_killed_at_its_limit_unless_overrun_is_allowed() -> None:
    overrun = [job(1, 0, 300, 1, estimate=100)]
    result = Simulation(machine(2, BACKFILL_EASY), overrun).run()
    assert (result.outcomes[0].end, result.outcomes[0].killed) == (100, True)
    from dataclasses import replace

    result = Simulation(replace(machine(2, BACKFILL_EASY), over_time_limit_s=None), overrun).run()
    assert (result.outcomes[0].end, result.outcomes[0].killed) == (300, False)


# -- the EASY guarantee ---------------------------------------------------------------------------


class _Watched(engine_module.Engine):
    """An engine that remembers every reservation it makes, to check they never move later."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.first_reserved: dict[int, float] = {}
        self.later: list[tuple[int, float, float]] = []

    def tick(self, now: float, *, schedule: bool = True) -> list[Any]:
        actions = super().tick(now, schedule=schedule)
        for job_id, r in self.reservations.items():
            first = self.first_reserved.setdefault(job_id, r.start)
            if r.start > first + 1e-9:
                self.later.append((job_id, first, r.start))
        return actions


jobs_strategy = st.lists(
    st.tuples(
        st.integers(0, 500),  # submit
        st.integers(1, 300),  # run
        st.integers(0, 300),  # estimate - run
        st.integers(1, 8),  # processors
    ),
    min_size=1,
    max_size=40,
)


@settings(max_examples=150, deadline=None)
@given(jobs_strategy, st.sampled_from([BACKFILL_EASY, BACKFILL_CONSERVATIVE]))
def test_backfill_never_delays_a_reserved_start(raw: list[tuple[int, int, int, int]], backfill: str) -> None:
    """EASY: the queue head's reservation; conservative: every waiting job's."""
    jobs = sorted(
        (job(i, s, r, p, r + extra) for i, (s, r, extra, p) in enumerate(raw, start=1)),
        key=lambda j: j.submit,
    )
    original = runner_module.Engine
    runner_module.Engine = _Watched  # type: ignore[misc]
    try:
        sim = Simulation(machine(8, backfill), jobs)
        result = sim.run()
    finally:
        runner_module.Engine = original  # type: ignore[misc]
    engine = result.engine
    assert isinstance(engine, _Watched)
    # Jobs end at or before their estimates, so a head's reservation can only move earlier,
    # and the head starts no later than the first start it was promised.
    assert engine.later == []
    by_id = {jid: i for jid, i in _index_of(result).items()}
    for job_id, promised in engine.first_reserved.items():
        start = result.outcomes[by_id[job_id]].start
        assert start is not None and start <= promised + 1e-9
    assert all(o.start is not None for o in result.outcomes)


def _index_of(result: runner_module.SimResult) -> dict[int, int]:
    # Engine job ids are given in submission order, from 1.
    return {i + 1: i for i in range(len(result.jobs))}


# -- the reference figures (whole trace, pyss's job model) ------------------------------------------

KTH = Path(__file__).parent / "data" / "KTH-SP2-1996-2.1-cln.swf.gz"


@pytest.mark.parametrize(
    ("policy", "wait", "bsld", "utilization", "tolerance"),
    [
        ("fcfs", 354_180, 6828.34, 0.6985, 0.005),
        ("easy", 6_900, 92.88, 0.6990, 0.02),
        ("conservative", 7_298, 88.30, 0.6990, 0.02),
    ],
)
def test_kth_reproduces_the_reference_figures(
    policy: str, wait: float, bsld: float, utilization: float, tolerance: float
) -> None:
    from stratus.cli.simulate import SimulateOptions, run

    _report, _result, doc = run(SimulateOptions(trace=str(KTH), policy=policy, progress=False))
    overall = doc["overall"]
    assert doc["jobs"]["counted"] == 28_467
    assert overall["meanWaitSeconds"] == pytest.approx(wait, rel=tolerance)
    assert overall["meanBoundedSlowdown"] == pytest.approx(bsld, rel=tolerance)
    assert overall["utilization"] == pytest.approx(utilization, abs=0.001)

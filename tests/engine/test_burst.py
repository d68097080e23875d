"""Hybrid placement: on-prem before cloud, the cheapest cloud first, and the burst threshold.

A queue with one on-prem static node (4 CPUs, no price) and two cloud compute resources of
dynamic nodes (8 CPUs): ``dear`` ($0.40/h, declared first and first in node order) and ``cheap``
($0.10/h). A job that could start now only by powering up a cloud node waits for the on-prem node
when the plan starts it there within the queue's threshold (``BurstDeferred``), and powers the
cloud node up otherwise.
"""

from __future__ import annotations

import math

import pytest

from stratus.engine.engine import Engine
from stratus.engine.model import (
    BACKFILL_CONSERVATIVE,
    Action,
    EngineConfig,
    JobSpec,
    NodeDef,
    PartitionDef,
    PowerUp,
    SchedulingPolicy,
)
from stratus.engine.states import BURST_DEFERRED, WAIT_REASONS, JobState

ONPREM = "q-st-lab-1"
DEAR = ("q-dy-a-1", "q-dy-a-2")  # sorts before the cheap ones: only price puts them after
CHEAP = ("q-dy-b-1", "q-dy-b-2")


def cluster(
    wait: float,
    *,
    over_time_limit_s: float | None = 0.0,
    backfill: str = "easy",
    onprem_dynamic: bool = False,
) -> Engine:
    nodes = [
        NodeDef(
            ONPREM, ("q",), 4, 8000, static=True, weight=1, features=("lab",), on_prem=True, group="q/lab"
        ),
        *(
            NodeDef(n, ("q",), 8, 16000, weight=1000, features=("aws",), price_per_hour=0.40, group="q/a")
            for n in DEAR
        ),
        *(
            NodeDef(n, ("q",), 8, 16000, weight=1000, features=("aws",), price_per_hour=0.10, group="q/b")
            for n in CHEAP
        ),
    ]
    if onprem_dynamic:
        nodes.append(NodeDef("q-dy-z-1", ("q",), 8, 16000, weight=1000, on_prem=True, group="q/z"))
    cfg = EngineConfig(
        partitions=(PartitionDef("q", tuple(d.name for d in nodes), default=True, burst_max_wait_s=wait),),
        nodes=tuple(nodes),
        over_time_limit_s=over_time_limit_s,
        policy=SchedulingPolicy(backfill=backfill),
    )
    e = Engine(cfg, now=0.0)
    powered = powered_up(e.tick(0.0))
    assert powered == [ONPREM]  # the static node is kept up
    e.node_up(ONPREM, 0.0)
    return e


def powered_up(actions: list[Action]) -> list[str]:
    return [n for a in actions if isinstance(a, PowerUp) for n in a.nodes]


def job(cpus: int = 4, limit: float | None = 600.0, **kw: object) -> JobSpec:
    return JobSpec("j", "alice", ntasks=cpus, time_limit_s=limit, **kw)  # type: ignore[arg-type]


def busy_until(e: Engine, end: float) -> int:
    """Fill the on-prem node with a job that runs until ``end`` (its time limit)."""
    holder = e.submit(job(limit=end), 0.0)
    assert powered_up(e.tick(0.0)) == []
    assert holder.state == JobState.RUNNING and holder.alloc is not None
    assert holder.alloc.nodes == (ONPREM,)
    return holder.id


def test_the_reason_is_part_of_the_vocabulary() -> None:
    assert BURST_DEFERRED == "BurstDeferred" and BURST_DEFERRED in WAIT_REASONS


def test_threshold_zero_bursts_at_once_on_the_cheapest_cloud_node() -> None:
    e = cluster(0.0)
    busy_until(e, 300.0)
    b = e.submit(job(), 0.0)
    assert powered_up(e.tick(0.0)) == [CHEAP[0]]
    assert b.state == JobState.CONFIGURING and b.reason == "None" and b.burst is None


def test_waits_for_on_prem_predicted_within_the_threshold() -> None:
    e = cluster(600.0)
    holder = busy_until(e, 300.0)
    b = e.submit(job(limit=1800.0), 10.0)
    assert powered_up(e.tick(10.0)) == []
    assert b.state == JobState.PENDING and b.reason == BURST_DEFERRED
    # The prediction is the plan's: its reservation on the on-prem node.
    assert b.burst is not None and b.burst.start == 300.0 and e.expected_start(b) == 300.0
    assert b.burst.deadline == 610.0 and b.burst.nodes == (CHEAP[0],)
    assert b.burst.price_per_hour == pytest.approx(0.10)
    assert b.burst.cost == pytest.approx(0.10 * 0.5)  # $0.10/h for its 30 minutes
    # Its reservation wakes the engine; the on-prem node frees up and it starts there.
    assert e.next_wakeup(10.0) <= 300.0
    e.job_ended(holder, 0, 300.0)
    assert powered_up(e.tick(300.0)) == []
    assert b.state == JobState.RUNNING and b.alloc is not None and b.alloc.nodes == (ONPREM,)
    assert b.reason == "None" and b.burst is None


def test_bursts_when_on_prem_is_predicted_past_the_threshold() -> None:
    e = cluster(600.0)
    busy_until(e, 900.0)
    b = e.submit(job(), 0.0)
    assert powered_up(e.tick(0.0)) == [CHEAP[0]]
    assert b.state == JobState.CONFIGURING and b.burst is None


def test_waiting_jobs_are_planned_one_after_another() -> None:
    # The second job sees the first one's reservation: on-prem at 900, past its threshold.
    e = cluster(600.0)
    busy_until(e, 300.0)
    first = e.submit(job(), 0.0)
    second = e.submit(job(), 0.0)
    assert powered_up(e.tick(0.0)) == [CHEAP[0]]
    assert first.reason == BURST_DEFERRED and first.burst is not None and first.burst.start == 300.0
    assert second.state == JobState.CONFIGURING and second.alloc is not None
    assert second.alloc.nodes == (CHEAP[0],)


@pytest.mark.parametrize(
    "spec",
    [
        job(cpus=8, max_nodes=1),  # the on-prem node is idle, but has 4 CPUs
        job(cpus=1, features=("aws",)),  # a feature of cloud nodes only
    ],
)
def test_a_job_no_on_prem_node_can_run_bursts_at_once(spec: JobSpec) -> None:
    e = cluster(600.0)
    b = e.submit(spec, 0.0)
    assert powered_up(e.tick(0.0)) == [CHEAP[0]]
    assert b.state == JobState.CONFIGURING and b.burst is None


def test_a_booting_cloud_node_needs_no_power_up() -> None:
    # A cloud node already booting for another job counts as capacity that needs no power-up:
    # a job waits for it (its predicted start there is within the threshold).
    e = cluster(600.0)
    first = e.submit(job(cpus=8, max_nodes=1, limit=300.0), 0.0)
    second = e.submit(job(cpus=8, max_nodes=1), 0.0)
    assert powered_up(e.tick(0.0)) == [CHEAP[0]]
    assert first.state == JobState.CONFIGURING
    assert second.reason == BURST_DEFERRED and second.burst is not None
    assert second.burst.start == 300.0 and second.burst.nodes == (CHEAP[1],)


def test_bursts_when_the_prediction_moves_past_the_threshold() -> None:
    e = cluster(600.0)
    holder = busy_until(e, 300.0)
    b = e.submit(job(), 0.0)
    assert powered_up(e.tick(0.0)) == [] and b.reason == BURST_DEFERRED
    # The on-prem job's time limit grows: its node is now planned busy until 1500.
    assert e.update(e.jobs[holder], {"time_limit_s": 1500.0}, 100.0) is None
    assert powered_up(e.tick(100.0)) == [CHEAP[0]]
    assert b.state == JobState.CONFIGURING and b.burst is None


def test_bursts_once_its_wait_reaches_the_threshold() -> None:
    # The on-prem job overruns its limit (never killed): the plan keeps pushing its end a little
    # later, the waiting job keeps waiting until its own wait reaches the threshold.
    e = cluster(600.0, over_time_limit_s=None)
    busy_until(e, 300.0)
    b = e.submit(job(), 0.0)
    assert powered_up(e.tick(0.0)) == []
    for now in (305.0, 450.0, 598.0):
        assert powered_up(e.tick(now)) == []
        assert b.reason == BURST_DEFERRED and b.burst is not None and b.burst.start == now + 1.0
    assert powered_up(e.tick(600.5)) == [CHEAP[0]]
    assert b.state == JobState.CONFIGURING


def test_no_time_limit_has_an_hourly_cost_only() -> None:
    e = cluster(600.0)
    busy_until(e, 300.0)
    b = e.submit(job(limit=None), 0.0)
    e.tick(0.0)
    assert b.reason == BURST_DEFERRED and b.burst is not None
    assert b.burst.cost is None and b.burst.price_per_hour == pytest.approx(0.10)
    assert b.burst.start == 300.0 and math.isinf(e.reservations[b.id].end)


def test_conservative_backfill_keeps_the_deferred_reservation() -> None:
    e = cluster(600.0, backfill=BACKFILL_CONSERVATIVE)
    holder = busy_until(e, 300.0)
    b = e.submit(job(), 0.0)
    assert powered_up(e.tick(0.0)) == [] and b.reason == BURST_DEFERRED
    assert powered_up(e.tick(60.0)) == [] and e.expected_start(b) == 300.0
    e.job_ended(holder, 0, 120.0)  # ended early: it starts on the on-prem node at once
    assert powered_up(e.tick(120.0)) == []
    assert b.state == JobState.RUNNING and b.alloc is not None and b.alloc.nodes == (ONPREM,)


def test_placement_order_up_on_prem_then_cloud_by_price() -> None:
    e = cluster(0.0, onprem_dynamic=True)
    # The idle on-prem static node first.
    first = e.submit(job(), 0.0)
    assert powered_up(e.tick(0.0)) == []
    assert first.alloc is not None and first.alloc.nodes == (ONPREM,)
    # Then, among powered-down dynamic nodes of equal weight: on-prem before cloud, and never a
    # burst; then the cheapest cloud node, before the dearer one declared before it.
    second, third, fourth, fifth = (e.submit(job(cpus=8, max_nodes=1), 0.0) for _ in range(4))
    assert powered_up(e.tick(0.0)) == ["q-dy-z-1", CHEAP[0], CHEAP[1], DEAR[0]]
    assert [j.alloc.nodes if j.alloc else () for j in (second, third, fourth, fifth)] == [
        ("q-dy-z-1",),
        (CHEAP[0],),
        (CHEAP[1],),
        (DEAR[0],),
    ]
    # A cloud node that is up comes before a powered-down one, whatever its price.
    e.node_up(DEAR[0], 10.0)
    e.job_ended(fifth.id, 0, 20.0)
    sixth = e.submit(job(cpus=8, max_nodes=1), 20.0)
    assert powered_up(e.tick(20.0)) == []
    assert sixth.alloc is not None and sixth.alloc.nodes == (DEAR[0],)


def test_on_prem_dynamic_nodes_are_not_a_burst() -> None:
    e = cluster(600.0, onprem_dynamic=True)
    busy_until(e, 300.0)
    b = e.submit(job(), 0.0)
    assert powered_up(e.tick(0.0)) == ["q-dy-z-1"]
    assert b.state == JobState.CONFIGURING and b.burst is None


def test_weights_that_put_cloud_first_still_use_on_prem_capacity_now() -> None:
    # Cloud nodes weighted before the on-prem one: a job that fits on-prem now starts there
    # rather than powering up a paid node.
    nodes = (
        NodeDef(ONPREM, ("q",), 4, 8000, static=True, weight=2000, on_prem=True),
        NodeDef(CHEAP[0], ("q",), 8, 16000, weight=1, price_per_hour=0.10),
    )
    cfg = EngineConfig(
        partitions=(PartitionDef("q", tuple(d.name for d in nodes), default=True, burst_max_wait_s=60.0),),
        nodes=nodes,
    )
    e = Engine(cfg, now=0.0)
    e.tick(0.0)
    e.node_up(ONPREM, 0.0)
    b = e.submit(job(), 0.0)
    assert powered_up(e.tick(0.0)) == []
    assert b.state == JobState.RUNNING and b.alloc is not None and b.alloc.nodes == (ONPREM,)


def test_jobs_too_big_for_on_prem_share_the_cloud_nodes_already_booting() -> None:
    # Each burst boots a node that the next job can wait for (free at 600, within its
    # threshold); the job after that would wait until 1200, past it, so it bursts again.
    e = cluster(600.0)
    jobs = [e.submit(job(cpus=8, max_nodes=1), 0.0) for _ in range(6)]
    assert powered_up(e.tick(0.0)) == [CHEAP[0], CHEAP[1], DEAR[0]]
    assert [j.state for j in jobs] == [JobState.CONFIGURING, JobState.PENDING] * 3
    waiting = [j.burst for j in jobs[1::2]]
    assert [(b.start, b.nodes) for b in waiting if b is not None] == [
        (600.0, (CHEAP[1],)),
        (600.0, (DEAR[0],)),
        (600.0, (DEAR[1],)),
    ]

"""The cost model (stratus.engine.cost): shares of nodes, exclusive runs, several runs, a run
still running, unpriced (on-prem) nodes, and the idle part of what is up."""

from __future__ import annotations

import pytest

from stratus.engine.cost import (
    RunUse,
    ended_run_use,
    idle_cost_per_hour,
    job_cost,
    node_share,
    open_run_use,
    run_cost,
)
from stratus.engine.model import Allocation, Job, JobSpec, Node, NodeDef
from stratus.engine.states import JobState, NodeState

# A 4-CPU node at $2/hour, an 8-CPU one at $4/hour, and an on-prem host with no price.
SMALL = NodeDef("q-dy-small-1", ("q",), 4, 8000, price_per_hour=2.0)
BIG = NodeDef("q-dy-big-1", ("q",), 8, 16000, price_per_hour=4.0)
HOST = NodeDef("q-st-host-1", ("q",), 16, 64000, on_prem=True)
DEFS = {d.name: d for d in (SMALL, BIG, HOST)}
HOUR = 3600.0


def use(
    nodes: tuple[str, ...], cpus: tuple[float, ...], start: float, end: float | None, **kw: bool
) -> RunUse:
    return RunUse(nodes, cpus, start, end, **kw)


def test_a_run_pays_its_share_of_each_node() -> None:
    # One CPU of four for an hour: a quarter of $2.
    assert run_cost(use((SMALL.name,), (1,), 0.0, HOUR), DEFS, HOUR) == pytest.approx(0.5)
    # Half an hour on the whole small node and a quarter of the big one.
    both = use((SMALL.name, BIG.name), (4, 2), 0.0, HOUR / 2)
    assert run_cost(both, DEFS, HOUR) == pytest.approx(2.0 / 2 + 4.0 / 4 / 2)


def test_an_exclusive_run_pays_for_whole_nodes_whatever_cpus_it_uses() -> None:
    one_cpu = use((SMALL.name, BIG.name), (1, 1), 0.0, HOUR, exclusive=True)
    assert run_cost(one_cpu, DEFS, HOUR) == pytest.approx(6.0)
    assert node_share(1, 4, exclusive=True) == 1.0


def test_shares_never_exceed_the_node_and_cpuless_nodes_are_whole() -> None:
    assert node_share(6, 4) == 1.0
    assert node_share(0, 4) == 0.0
    assert node_share(2, 0) == 1.0


def test_every_run_counts_toward_the_job() -> None:
    first = use((SMALL.name,), (2,), 0.0, HOUR)  # failed or requeued: $1
    second = use((BIG.name,), (8,), 2 * HOUR, 2.5 * HOUR)  # the last attempt: $2
    assert job_cost([first, second], DEFS, 10 * HOUR) == pytest.approx(3.0)
    assert job_cost([], DEFS, HOUR) == 0.0


def test_a_running_job_is_charged_up_to_now() -> None:
    running = use((BIG.name,), (4,), 100.0, None)
    assert run_cost(running, DEFS, 100.0 + HOUR) == pytest.approx(2.0)
    assert run_cost(running, DEFS, 100.0 + 2 * HOUR) == pytest.approx(4.0)
    # A clock behind the start (a restarted head node) never makes a cost negative.
    assert run_cost(running, DEFS, 50.0) == 0.0


def test_unpriced_unknown_and_unstarted_cost_nothing() -> None:
    assert run_cost(use((HOST.name,), (16,), 0.0, HOUR), DEFS, HOUR) == 0.0
    assert run_cost(use(("gone-node",), (1,), 0.0, HOUR), DEFS, HOUR) == 0.0
    assert run_cost(RunUse((SMALL.name,), (1,), None, None), DEFS, HOUR) == 0.0


def test_a_run_known_by_its_total_is_spread_by_node_size() -> None:
    # 6 CPUs over a 4-CPU and an 8-CPU node: half of each, $3 an hour.
    spread = RunUse.of_total((SMALL.name, BIG.name), 6, DEFS, 0.0, HOUR)
    assert spread.cpus == pytest.approx((2.0, 4.0))
    assert run_cost(spread, DEFS, HOUR) == pytest.approx(3.0)
    # The allocation node by node wins when it is this run's.
    alloc = Allocation((SMALL.name, BIG.name), (4, 2), (0, 0), (0, 0), (4, 2))
    exact = ended_run_use((SMALL.name, BIG.name), 6, 0.0, HOUR, DEFS, alloc=alloc)
    assert run_cost(exact, DEFS, HOUR) == pytest.approx(2.0 + 1.0)
    other = ended_run_use((BIG.name,), 4, 0.0, HOUR, DEFS, alloc=alloc)  # another run's allocation
    assert run_cost(other, DEFS, HOUR) == pytest.approx(2.0)


def _job(state: JobState, alloc: Allocation | None, start: float | None, end: float | None) -> Job:
    job = Job(1, JobSpec("j", "alice"), submit_time=0.0, priority=1, state=state)
    job.alloc, job.start_time, job.end_time = alloc, start, end
    return job


def test_the_open_run_of_a_job() -> None:
    alloc = Allocation((BIG.name,), (2,), (0,), (0,), (2,))
    running = open_run_use(_job(JobState.RUNNING, alloc, 10.0, None))
    assert running is not None and run_cost(running, DEFS, 10.0 + HOUR) == pytest.approx(1.0)
    # Completing (cancelled): charged up to its end, not to now.
    completing = open_run_use(_job(JobState.COMPLETING, alloc, 10.0, 10.0 + HOUR))
    assert completing is not None and run_cost(completing, DEFS, 10.0 + 5 * HOUR) == pytest.approx(1.0)
    # Booting nodes, pending, or ended (then accounting has the run): no open run.
    assert open_run_use(_job(JobState.CONFIGURING, alloc, 10.0, None)) is None
    assert open_run_use(_job(JobState.PENDING, None, None, None)) is None
    assert open_run_use(_job(JobState.COMPLETED, alloc, 10.0, 20.0)) is None


def test_idle_cost_is_the_part_of_machines_up_that_no_job_holds() -> None:
    small = Node(SMALL, state=NodeState.UP, alloc_cpus=1)  # 3/4 idle: $1.5
    big = Node(BIG, state=NodeState.UP, alloc_cpus=1, exclusive_job=7)  # held whole: $0
    booting = Node(DEFS["q-dy-small-1"], state=NodeState.POWERING_UP)  # idle, paid: $2
    down = Node(BIG, state=NodeState.POWERED_DOWN)
    host = Node(HOST, state=NodeState.UP)
    assert idle_cost_per_hour([small, big, booting, down, host]) == pytest.approx(3.5)

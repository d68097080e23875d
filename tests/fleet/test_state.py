"""The fleet's decisions without a provider: events in, instructions out, on a real engine."""

from __future__ import annotations

from stratus.config import load_cluster_config
from stratus.controller.build import engine_config
from stratus.engine.engine import Engine
from stratus.engine.model import PowerUp
from stratus.engine.states import NodeState
from stratus.fleet.state import (
    Abandoned,
    AliveChecked,
    CheckAlive,
    Commit,
    Create,
    Created,
    FailRequested,
    FleetInstruction,
    FleetState,
    HealthTick,
    Kill,
    Killed,
    LaunchRequested,
    Listed,
    PowerDown,
    PowerDownRequested,
    PoweredDown,
    Record,
    Terminate,
    resume_failure,
)
from stratus.providers.base import CapacityError, CreateResult, Instance
from tests.fleet.test_fleet import CONFIG

T0 = 1000.0


def _state(a: int = 2, b: int = 1, **kwargs: object) -> tuple[Engine, FleetState, tuple[str, ...]]:
    layout = load_cluster_config(CONFIG.format(a=a, a_max=max(a, 1), b=b, b_max=max(b, 1))).layout
    engine = Engine(engine_config(layout), T0)
    ups = [n for act in engine.tick(T0) if isinstance(act, PowerUp) for n in act.nodes]
    return engine, FleetState(engine, **kwargs), tuple(ups)  # type: ignore[arg-type]  # (test kwargs)


def _inst(node: str, n: int = 1) -> Instance:
    return Instance(f"i-{node}-{n}", node, "t3.micro", T0, "127.0.0.1")


def _of(kind: type, out: list[FleetInstruction]) -> list[FleetInstruction]:
    return [i for i in out if isinstance(i, kind)]


def test_one_create_per_compute_resource_and_launched_nodes_recorded() -> None:
    _, state, ups = _state()
    out = state.handle(LaunchRequested(ups, T0))
    assert out == [Create("q/a", ("q-st-a-1", "q-st-a-2")), Create("q/b", ("q-st-b-1",))]
    assert state.launching == set(ups)
    assert state.handle(LaunchRequested(ups, T0)) == []  # already under way: not twice
    result = CreateResult([_inst("q-st-a-1"), _inst("q-st-a-2")])
    out = state.handle(Created("q/a", ("q-st-a-1", "q-st-a-2"), result, T0, {"q-st-a-1": {"join": "d"}}))
    (record,) = _of(Record, out)
    assert isinstance(record, Record)
    assert [i.node for i in record.instances] == ["q-st-a-1", "q-st-a-2"]
    assert record.instances[0].credentials == {"join": "d"}
    assert state.launching == {"q-st-b-1"} and sorted(state.instances) == ["q-st-a-1", "q-st-a-2"]


def test_capacity_error_fails_the_nodes_and_cools_the_group_down() -> None:
    engine, state, ups = _state(a=1)
    state.handle(LaunchRequested(ups, T0))
    no = CapacityError("InsufficientInstanceCapacity", "none")
    out = state.handle(Created("q/a", ("q-st-a-1",), CreateResult([], {"q-st-a-1": no}), T0))
    assert _of(Kill, out) == [Kill("q-st-a-1", None, resume_failure("InsufficientInstanceCapacity"))]
    assert state.cooling_down("q/a", T0 + 59) and not state.cooling_down("q/a", T0 + 61)
    assert not state.cooling_down("q/b", T0)
    out = state.handle(Killed("q-st-a-1", resume_failure("InsufficientInstanceCapacity"), T0 + 1))
    assert _of(Commit, out) and engine.nodes["q-st-a-1"].state == NodeState.DOWN
    # Asked again while cooling down: no provider call, the node fails the same way.
    engine.nodes["q-st-a-1"].state = NodeState.POWERING_UP
    out = state.handle(LaunchRequested(("q-st-a-1",), T0 + 10))
    assert not _of(Create, out) and _of(Kill, out)


def test_all_or_nothing_undoes_a_partial_batch() -> None:
    _, state, ups = _state(all_or_nothing=True)
    state.handle(LaunchRequested(ups, T0))
    got = _inst("q-st-a-1")
    result = CreateResult([got], {"q-st-a-2": CapacityError("InsufficientInstanceCapacity", "x")})
    out = state.handle(Created("q/a", ("q-st-a-1", "q-st-a-2"), result, T0))
    assert not _of(Record, out)
    assert _of(Terminate, out) == [Terminate(((None, got),), "unwanted")]
    assert {k.name for k in _of(Kill, out) if isinstance(k, Kill)} == {"q-st-a-1", "q-st-a-2"}


def test_an_instance_launched_for_a_node_no_longer_wanted_is_terminated() -> None:
    engine, state, ups = _state(a=1)
    state.handle(LaunchRequested(ups, T0))
    engine.nodes["q-st-a-1"].state = NodeState.POWERED_DOWN  # powered down while it launched
    late = _inst("q-st-a-1")
    out = state.handle(Created("q/a", ("q-st-a-1",), CreateResult([late]), T0))
    assert not _of(Record, out) and _of(Terminate, out) == [Terminate(((None, late),), "unwanted")]


def test_power_down_then_forget_and_tell_the_engine() -> None:
    engine, state, ups = _state(a=1)
    state.handle(LaunchRequested(ups, T0))
    inst = _inst("q-st-a-1")
    state.handle(Created("q/a", ("q-st-a-1",), CreateResult([inst]), T0))
    engine.node_up("q-st-a-1", T0)
    engine.nodes["q-st-a-1"].state = NodeState.POWERING_DOWN
    assert state.handle(PowerDownRequested("q-st-a-1")) == [PowerDown("q-st-a-1", inst)]
    assert state.handle(PowerDownRequested("q-st-a-1")) == []  # once
    assert state.handle(PoweredDown("q-st-a-1", T0 + 5)) == [Commit(forget=("q-st-a-1",))]
    assert "q-st-a-1" not in state.instances and not state.busy("q-st-a-1")


def test_a_failed_termination_is_abandoned_not_completed() -> None:
    _, state, ups = _state(a=1)
    state.handle(LaunchRequested(ups, T0))
    state.handle(Created("q/a", ("q-st-a-1",), CreateResult([_inst("q-st-a-1")]), T0))
    state.handle(FailRequested("q-st-a-1", "Not responding"))
    assert state.busy("q-st-a-1")
    assert state.handle(Abandoned("q-st-a-1")) == []
    assert not state.busy("q-st-a-1") and "q-st-a-1" in state.instances


def test_health_is_judged_against_the_state_when_the_answer_arrives() -> None:
    engine, state, ups = _state(a=1, b=0)
    state.handle(LaunchRequested(ups, T0))
    first = _inst("q-st-a-1")
    state.handle(Created("q/a", ("q-st-a-1",), CreateResult([first]), T0))
    engine.node_up("q-st-a-1", T0)
    assert state.handle(HealthTick()) == [CheckAlive("q-st-a-1", first)]
    assert state.handle(HealthTick(deleting=True)) == []
    # The instance was replaced while the provider looked: the old answer changes nothing.
    state.instances["q-st-a-1"] = _inst("q-st-a-1", 2)
    assert state.handle(AliveChecked("q-st-a-1", first.instance_id, False)) == []
    out = state.handle(AliveChecked("q-st-a-1", "i-q-st-a-1-2", False))
    assert _of(Kill, out) == [Kill("q-st-a-1", state.instances["q-st-a-1"], "Not responding")]


def test_orphans_are_instances_no_record_knows() -> None:
    _, state, ups = _state(a=1, b=0)
    state.handle(LaunchRequested(ups, T0))
    recorded = _inst("q-st-a-1")
    state.handle(Created("q/a", ("q-st-a-1",), CreateResult([recorded]), T0))
    orphan, stored_only = _inst("q-st-a-1", 9), _inst("q-st-a-1", 8)
    found = ((0, recorded), (0, orphan), (0, stored_only))
    out = state.handle(Listed(found, frozenset({stored_only.instance_id})))
    assert _of(Terminate, out) == [Terminate(((0, orphan),), "orphan")]
    assert state.handle(Listed(found, frozenset(), deleting=True)) == []

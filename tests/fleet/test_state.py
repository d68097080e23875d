"""The fleet's decisions without a provider: events in, instructions out, on a real engine."""

from __future__ import annotations

from stratus.config import load_cluster_config
from stratus.controller.build import engine_config
from stratus.engine.engine import Engine
from stratus.engine.model import Job, JobSpec, PowerUp
from stratus.engine.states import JobState, NodeState
from stratus.fleet.state import (
    FAILED_NODE_HOLD_TEXT,
    Abandoned,
    AliveChecked,
    CheckAlive,
    Commit,
    Create,
    Created,
    FailRequested,
    FleetInstruction,
    FleetStarted,
    FleetState,
    HealthTick,
    Kill,
    Killed,
    LaunchRequested,
    Listed,
    NodesMoved,
    PowerDown,
    PowerDownRequested,
    PoweredDown,
    Protect,
    Record,
    Terminate,
    capacity_hold,
    resume_failure,
)
from stratus.providers.base import CapacityError, ConfigurationError, CreateResult, Instance
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


NO_CAPACITY = CapacityError("InsufficientInstanceCapacity", "none")
HELD = capacity_hold("InsufficientInstanceCapacity")


def _dynamic(**kwargs: object) -> tuple[Engine, FleetState]:
    """Queue q: compute resource a with 3 dynamic nodes, b with 2, nothing up."""
    layout = load_cluster_config(CONFIG.format(a=0, a_max=3, b=0, b_max=2)).layout
    engine = Engine(engine_config(layout), T0)
    return engine, FleetState(engine, **kwargs)  # type: ignore[arg-type]  # (test kwargs)


def _start(engine: Engine, now: float = T0, **spec: object) -> tuple[Job, tuple[str, ...]]:
    """Submit a one-task job and run a pass: the job and the nodes powered up for it."""
    job = engine.submit(JobSpec("j", "alice", partitions=("q",), **spec), now)  # type: ignore[arg-type]
    ups = tuple(n for act in engine.tick(now) if isinstance(act, PowerUp) for n in act.nodes)
    return job, ups


def _ice(
    engine: Engine, state: FleetState, names: tuple[str, ...], now: float = T0
) -> list[FleetInstruction]:
    state.handle(LaunchRequested(names, now))
    out = state.handle(Created("q/a", names, CreateResult([], dict.fromkeys(names, NO_CAPACITY)), now))
    engine.drain_changes()
    return out


def test_insufficient_capacity_holds_the_compute_resource_down() -> None:
    engine, state = _dynamic(insufficient_capacity_timeout_s=100.0)
    job, ups = _start(engine)
    assert ups == ("q-dy-a-1",)
    out = _ice(engine, state, ups)
    assert _of(Kill, out) == [Kill("q-dy-a-1", None, resume_failure("InsufficientInstanceCapacity"))]
    assert state.capacity_disabled("q/a", T0 + 99) and not state.capacity_disabled("q/a", T0 + 100)
    assert not state.capacity_disabled("q/b", T0)
    for name in ("q-dy-a-2", "q-dy-a-3"):
        assert (engine.nodes[name].state, engine.nodes[name].reason) == (NodeState.DOWN, HELD)
    assert engine.nodes["q-dy-a-1"].state == NodeState.POWERING_UP  # failed once its kill is done
    # Its job is requeued when the node is gone; the node, once terminated, is held down too.
    out = state.handle(Killed("q-dy-a-1", resume_failure("InsufficientInstanceCapacity"), T0 + 1))
    assert job.state == JobState.PENDING
    out = state.handle(PowerDownRequested("q-dy-a-1"))
    state.handle(PoweredDown("q-dy-a-1", T0 + 2))
    assert (engine.nodes["q-dy-a-1"].state, engine.nodes["q-dy-a-1"].reason) == (NodeState.DOWN, HELD)
    # The next pass sends the job to the other compute resource.
    ups = tuple(n for act in engine.tick(T0 + 10) if isinstance(act, PowerUp) for n in act.nodes)
    assert ups == ("q-dy-b-1",)
    # A launch in the disabled group asked meanwhile fails at once, with no provider call.
    engine.nodes["q-dy-a-2"].state = NodeState.POWERING_UP
    out = state.handle(LaunchRequested(("q-dy-a-2", "q-dy-b-1"), T0 + 10))
    assert _of(Create, out) == [Create("q/b", ("q-dy-b-1",))]
    assert _of(Kill, out) == [Kill("q-dy-a-2", None, resume_failure("InsufficientInstanceCapacity"))]


def test_held_nodes_come_back_after_the_timeout() -> None:
    engine, state = _dynamic(insufficient_capacity_timeout_s=100.0)
    _, ups = _start(engine)
    _ice(engine, state, ups)
    assert state.handle(HealthTick(now=T0 + 99)) == []
    out = state.handle(HealthTick(now=T0 + 100))
    assert _of(Commit, out) == [Commit(nodes_changed=True)]
    for name in ("q-dy-a-2", "q-dy-a-3"):
        assert (engine.nodes[name].state, engine.nodes[name].reason) == (NodeState.POWERED_DOWN, None)
    moved = [(t.key, t.old, t.new, t.cause) for t in engine.drain_changes().transitions]
    assert ("q-dy-a-2", "DOWN", "POWERED_DOWN", "timer") in moved
    assert not state.capacity_disabled("q/a", T0 + 100)


def test_after_a_restart_the_deadline_follows_from_the_stored_node_states() -> None:
    engine, state = _dynamic(insufficient_capacity_timeout_s=100.0)
    _, ups = _start(engine)
    _ice(engine, state, ups)
    fresh = FleetState(engine, insufficient_capacity_timeout_s=100.0)  # a new head node's
    assert fresh.handle(HealthTick(now=T0 + 50)) == []
    assert fresh.capacity_disabled("q/a", T0 + 50)
    assert engine.nodes["q-dy-a-2"].state == NodeState.DOWN
    fresh.handle(HealthTick(now=T0 + 100))
    assert engine.nodes["q-dy-a-2"].state == NodeState.POWERED_DOWN
    # Without the fail-over (timeout <= 0) nodes held by an earlier head node come back at once.
    engine2, state2 = _dynamic(insufficient_capacity_timeout_s=100.0)
    _, ups = _start(engine2)
    _ice(engine2, state2, ups)
    FleetState(engine2, insufficient_capacity_timeout_s=0).handle(HealthTick(now=T0 + 1))
    assert engine2.nodes["q-dy-a-2"].state == NodeState.POWERED_DOWN


def test_no_fail_over_when_the_timeout_is_off() -> None:
    engine, state = _dynamic(insufficient_capacity_timeout_s=0.0)
    _, ups = _start(engine)
    out = _ice(engine, state, ups)
    assert _of(Kill, out) and not state.capacity_disabled("q/a", T0)
    assert engine.nodes["q-dy-a-2"].state == NodeState.POWERED_DOWN


def test_static_nodes_never_disable_their_compute_resource() -> None:
    _, state, ups = _state(a=1)
    state.handle(LaunchRequested(ups, T0))
    state.handle(Created("q/a", ("q-st-a-1",), CreateResult([], {"q-st-a-1": NO_CAPACITY}), T0))
    assert not state.capacity_disabled("q/a", T0)


def _fail_launch(
    engine: Engine, state: FleetState, group: str, name: str, now: float
) -> list[FleetInstruction]:
    """Launch ``name``, have it refused, kill it: what the stored transitions make of it."""
    state.handle(LaunchRequested((name,), now))
    err = ConfigurationError("AuthFailure", "wrong credentials")
    state.handle(Created(group, (name,), CreateResult([], {name: err}), now))
    state.handle(Killed(name, resume_failure("AuthFailure"), now))
    state.handle(PowerDownRequested(name))
    state.handle(PoweredDown(name, now))
    return state.handle(NodesMoved(tuple(engine.drain_changes().transitions)))


def test_bootstrap_failures_of_a_queue_put_it_in_protected_mode() -> None:
    engine, state = _dynamic(protected_failure_count=3)
    _start(engine)
    out = _fail_launch(engine, state, "q/a", "q-dy-a-1", T0)
    assert state.failures == {"q/a": 1} and not _of(Protect, out)
    # A resume timeout counts too (the engine fails the node itself).
    assert [a for a in engine.tick(T0 + 10) if isinstance(a, PowerUp)]  # the requeued job again
    engine.tick(T0 + 10 + engine.config.resume_timeout_s)
    out = state.handle(NodesMoved(tuple(engine.drain_changes().transitions)))
    assert state.failures == {"q/a": 2} and not _of(Protect, out)
    # So does a failure in another compute resource of the queue; the queue reaches the limit.
    engine.nodes["q-dy-b-1"].state = NodeState.POWERING_UP
    out = _fail_launch(engine, state, "q/b", "q-dy-b-1", T0 + 20)
    assert state.queue_failures("q") == 3
    (protect,) = _of(Protect, out)
    assert protect == Protect(("q",), "3 node bootstrap failures in queue q")
    engine.nodes["q-dy-b-1"].state = NodeState.POWERING_UP
    assert not _of(Protect, _fail_launch(engine, state, "q/b", "q-dy-b-1", T0 + 30))  # asked once
    assert not any(isinstance(i, Protect) for i in state.handle(HealthTick(now=T0 + 40)))
    # The fleet started again: counted from zero.
    state.handle(FleetStarted())
    assert state.queue_failures("q") == 0 and not state.protected


def test_capacity_failures_and_successes_do_not_add_up() -> None:
    engine, state = _dynamic(protected_failure_count=2, insufficient_capacity_timeout_s=0.0)
    _start(engine)
    _fail_launch(engine, state, "q/a", "q-dy-a-1", T0)
    assert state.failures == {"q/a": 1}
    # Insufficient capacity is no bootstrap failure.
    engine.nodes["q-dy-a-2"].state = NodeState.POWERING_UP
    state.handle(LaunchRequested(("q-dy-a-2",), T0))
    state.handle(Created("q/a", ("q-dy-a-2",), CreateResult([], {"q-dy-a-2": NO_CAPACITY}), T0))
    state.handle(Killed("q-dy-a-2", resume_failure("InsufficientInstanceCapacity"), T0))
    assert state.handle(NodesMoved(tuple(engine.drain_changes().transitions))) == []
    assert state.failures == {"q/a": 1}
    # An agent registering resets its compute resource's count.
    engine.nodes["q-dy-a-3"].state = NodeState.POWERING_UP
    engine.node_up("q-dy-a-3", T0 + 1)
    state.handle(NodesMoved(tuple(engine.drain_changes().transitions)))
    assert state.failures == {}


def test_no_protected_mode_while_jobs_run_in_the_queue() -> None:
    engine, state = _dynamic(protected_failure_count=1)
    job, ups = _start(engine)
    engine.node_up(ups[0], T0)
    assert job.state == JobState.RUNNING
    engine.drain_changes()
    engine.nodes["q-dy-b-1"].state = NodeState.POWERING_UP
    out = _fail_launch(engine, state, "q/b", "q-dy-b-1", T0 + 1)
    assert state.failures == {"q/b": 1} and not _of(Protect, out)
    assert not _of(Protect, state.handle(HealthTick(now=T0 + 2)))
    engine.job_ended(job.id, job.run, T0 + 3)
    assert _of(Protect, state.handle(HealthTick(now=T0 + 4))) == [
        Protect(("q",), "1 node bootstrap failures in queue q")
    ]
    # Off with a count <= 0.
    engine2, off = _dynamic(protected_failure_count=0)
    _start(engine2)
    assert not _of(Protect, _fail_launch(engine2, off, "q/a", "q-dy-a-1", T0))


AUTH = resume_failure("AuthFailure")


def _pass(engine: Engine, now: float) -> tuple[str, ...]:
    """A scheduling pass: the nodes it powers up."""
    return tuple(n for act in engine.tick(now) if isinstance(act, PowerUp) for n in act.nodes)


def _node(engine: Engine, name: str) -> tuple[NodeState, str | None, str | None]:
    node = engine.nodes[name]
    return node.state, node.reason, node.instance_id


def test_a_node_that_failed_to_power_up_stays_down_for_the_hold() -> None:
    engine, state = _dynamic(failed_node_hold_s=60.0)
    job, ups = _start(engine)
    assert ups == ("q-dy-a-1",)
    _fail_launch(engine, state, "q/a", "q-dy-a-1", T0)
    # Its instance is gone (none was launched): down~ with the launch's error, not idle~.
    assert _node(engine, "q-dy-a-1") == (NodeState.DOWN, AUTH, None)
    assert job.state == JobState.PENDING
    assert state.failures == {"q/a": 1}  # counted once, as before
    # Not relaunched: the requeued job takes the compute resource's next node.
    assert _pass(engine, T0 + 10) == ("q-dy-a-2",)
    assert job.alloc is not None and job.alloc.nodes == ("q-dy-a-2",)
    engine.drain_changes()
    assert state.handle(HealthTick(now=T0 + 59)) == []
    assert _node(engine, "q-dy-a-1") == (NodeState.DOWN, AUTH, None)
    # The hold is over: powered down (idle~), reason cleared, journaled.
    out = state.handle(HealthTick(now=T0 + 60))
    assert _of(Commit, out) == [Commit(nodes_changed=True)]
    assert _node(engine, "q-dy-a-1") == (NodeState.POWERED_DOWN, None, None)
    moved = [(t.key, t.old, t.new, t.time, t.cause, t.reason) for t in engine.drain_changes().transitions]
    assert moved == [("q-dy-a-1", "DOWN", "POWERED_DOWN", T0 + 60, "timer", FAILED_NODE_HOLD_TEXT)]
    assert state.handle(NodesMoved(())) == [] and state.failures == {"q/a": 1}  # no new failure
    assert state.handle(HealthTick(now=T0 + 61)) == []  # released once
    # Usable again.
    engine.submit(JobSpec("k", "alice", partitions=("q",), exclusive=True), T0 + 61)
    assert _pass(engine, T0 + 61) == ("q-dy-a-1",)


def test_a_job_waits_while_its_only_nodes_are_held() -> None:
    layout = load_cluster_config(CONFIG.format(a=0, a_max=1, b=0, b_max=1)).layout
    engine = Engine(engine_config(layout), T0)
    state = FleetState(engine, failed_node_hold_s=60.0)
    job, ups = _start(engine)
    _fail_launch(engine, state, "q/a", ups[0], T0)
    assert _pass(engine, T0 + 10) == ("q-dy-b-1",)
    _fail_launch(engine, state, "q/b", "q-dy-b-1", T0 + 10)
    for now in (T0 + 20, T0 + 40, T0 + 59):
        state.handle(HealthTick(now=now))
        assert _pass(engine, now) == ()  # nothing to launch: it waits
    assert job.state == JobState.PENDING
    assert {n: engine.nodes[n].state for n in engine.nodes} == {
        "q-dy-a-1": NodeState.DOWN,
        "q-dy-b-1": NodeState.DOWN,
    }
    state.handle(HealthTick(now=T0 + 60))  # q-dy-a-1's hold is over, not yet q-dy-b-1's
    assert engine.nodes["q-dy-b-1"].state == NodeState.DOWN
    assert _pass(engine, T0 + 60) == ("q-dy-a-1",)


def test_resume_timeouts_and_bootstrap_errors_are_held_too() -> None:
    engine, state = _dynamic(failed_node_hold_s=60.0)
    _, ups = _start(engine)
    state.handle(LaunchRequested(ups, T0))
    inst = _inst("q-dy-a-1")
    state.handle(Created("q/a", ups, CreateResult([inst]), T0))
    # The engine fails a node that did not register in time; the fleet terminates it.
    late = T0 + engine.config.resume_timeout_s
    engine.tick(late)
    assert _node(engine, "q-dy-a-1") == (NodeState.DOWN, "ResumeTimeout reached", inst.instance_id)
    assert state.handle(PowerDownRequested("q-dy-a-1")) == [PowerDown("q-dy-a-1", inst)]
    state.handle(PoweredDown("q-dy-a-1", late + 1))
    assert _node(engine, "q-dy-a-1") == (NodeState.DOWN, "ResumeTimeout reached", None)
    # A node whose bootstrap failed (its agent said so instead of registering).
    engine.nodes["q-dy-a-2"].state = NodeState.POWERING_UP
    state.handle(LaunchRequested(("q-dy-a-2",), late))
    state.handle(Created("q/a", ("q-dy-a-2",), CreateResult([_inst("q-dy-a-2")]), late))
    assert _of(Kill, state.handle(FailRequested("q-dy-a-2", "custom action failed")))
    state.handle(Killed("q-dy-a-2", "custom action failed", late + 2))
    state.handle(PowerDownRequested("q-dy-a-2"))
    state.handle(PoweredDown("q-dy-a-2", late + 3))
    assert _node(engine, "q-dy-a-2") == (NodeState.DOWN, "custom action failed", None)
    state.handle(HealthTick(now=late + 60))
    assert engine.nodes["q-dy-a-1"].state == NodeState.POWERED_DOWN
    assert engine.nodes["q-dy-a-2"].state == NodeState.DOWN
    state.handle(HealthTick(now=late + 62))
    assert engine.nodes["q-dy-a-2"].state == NodeState.POWERED_DOWN


def test_nodes_that_failed_once_up_and_static_nodes_are_not_held() -> None:
    engine, state = _dynamic(failed_node_hold_s=60.0)
    _, ups = _start(engine)
    state.handle(LaunchRequested(ups, T0))
    state.handle(Created("q/a", ups, CreateResult([_inst("q-dy-a-1")]), T0))
    engine.node_up("q-dy-a-1", T0 + 1)
    state.handle(FailRequested("q-dy-a-1", "Not responding"))
    state.handle(Killed("q-dy-a-1", "Not responding", T0 + 5))
    state.handle(PowerDownRequested("q-dy-a-1"))
    state.handle(PoweredDown("q-dy-a-1", T0 + 6))
    assert _node(engine, "q-dy-a-1") == (NodeState.POWERED_DOWN, "Not responding", None)
    # A static node that failed to launch is replaced (after the engine's back-off), not held.
    engine2, static, ups = _state(a=1, b=0, failed_node_hold_s=60.0)
    static.handle(LaunchRequested(ups, T0))
    err = ConfigurationError("AuthFailure", "wrong credentials")
    static.handle(Created("q/a", ups, CreateResult([], {ups[0]: err}), T0))
    static.handle(Killed(ups[0], AUTH, T0))
    static.handle(PowerDownRequested(ups[0]))
    static.handle(PoweredDown(ups[0], T0))
    assert _node(engine2, ups[0]) == (NodeState.DOWN, AUTH, None)
    assert _pass(engine2, T0 + 5) == ups


def test_after_a_restart_the_hold_follows_from_the_stored_node_state() -> None:
    engine, state = _dynamic(failed_node_hold_s=60.0)
    _, ups = _start(engine)
    _fail_launch(engine, state, "q/a", ups[0], T0)
    fresh = FleetState(engine, failed_node_hold_s=60.0)  # a new head node's
    assert fresh.handle(HealthTick(now=T0 + 30)) == []
    assert _node(engine, ups[0]) == (NodeState.DOWN, AUTH, None)
    assert _of(Commit, fresh.handle(HealthTick(now=T0 + 60)))
    assert _node(engine, ups[0]) == (NodeState.POWERED_DOWN, None, None)
    # Stopped before the failed node's instance was gone: terminated again, then held for what
    # is left of the hold (it counts from when the node went down).
    engine2, state2 = _dynamic(failed_node_hold_s=60.0)
    _, ups = _start(engine2)
    state2.handle(LaunchRequested(ups, T0))
    inst = _inst(ups[0])
    state2.handle(Created("q/a", ups, CreateResult([inst]), T0))
    state2.handle(FailRequested(ups[0], "custom action failed"))
    state2.handle(Killed(ups[0], "custom action failed", T0 + 1))
    fresh2 = FleetState(engine2, failed_node_hold_s=60.0)
    fresh2.instances[ups[0]] = inst
    assert fresh2.handle(PowerDownRequested(ups[0])) == [PowerDown(ups[0], inst)]
    fresh2.handle(PoweredDown(ups[0], T0 + 40))
    assert _node(engine2, ups[0]) == (NodeState.DOWN, "custom action failed", None)
    fresh2.handle(HealthTick(now=T0 + 61))
    assert engine2.nodes[ups[0]].state == NodeState.POWERED_DOWN


def test_a_failed_node_released_while_its_compute_resource_is_disabled_is_held_for_capacity() -> None:
    engine, state = _dynamic(failed_node_hold_s=60.0, insufficient_capacity_timeout_s=100.0)
    _, ups = _start(engine)
    _fail_launch(engine, state, "q/a", ups[0], T0)
    engine.nodes["q-dy-a-2"].state = NodeState.POWERING_UP
    _ice(engine, state, ("q-dy-a-2",), T0 + 10)
    assert _node(engine, "q-dy-a-1") == (NodeState.DOWN, AUTH, None)  # still held as failed
    state.handle(HealthTick(now=T0 + 60))
    assert _node(engine, "q-dy-a-1") == (NodeState.DOWN, HELD, None)  # now for capacity
    state.handle(HealthTick(now=T0 + 110))
    assert _node(engine, "q-dy-a-1") == (NodeState.POWERED_DOWN, None, None)


def test_no_hold_when_it_is_off() -> None:
    engine, state = _dynamic(failed_node_hold_s=0.0)
    _, ups = _start(engine)
    _fail_launch(engine, state, "q/a", ups[0], T0)
    assert engine.nodes[ups[0]].state == NodeState.POWERED_DOWN  # idle~ at once
    assert _pass(engine, T0 + 10) == ups  # and relaunched
    # Nodes held by an earlier head node come back on the next health pass.
    engine2, state2 = _dynamic(failed_node_hold_s=60.0)
    _, ups = _start(engine2)
    _fail_launch(engine2, state2, "q/a", ups[0], T0)
    FleetState(engine2, failed_node_hold_s=0.0).handle(HealthTick(now=T0 + 1))
    assert engine2.nodes[ups[0]].state == NodeState.POWERED_DOWN


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

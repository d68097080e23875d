"""The node plane's decisions without a socket: events in, instructions out, on a real engine.

What a reconnection, a repeated report, a lost launch, a forged report or a silent agent leads
to, played as events against :class:`~stratus.controller.nodestate.NodeState`.
"""

from __future__ import annotations

from stratus.agent.protocol import Ack, Finished, Hello, Kill, RunRef, Started, StepFinished
from stratus.config import load_cluster_config
from stratus.controller.build import engine_config
from stratus.controller.nodestate import (
    AGENT_RECONNECT_GRACE_S,
    AGENT_SILENCE_S,
    Commit,
    Disconnect,
    EndStep,
    FailNode,
    Instruction,
    Joined,
    Left,
    NodeState,
    Reported,
    Send,
    SendLaunch,
    StepStarted,
    Tick,
)
from stratus.engine.engine import Engine
from stratus.engine.model import JobSpec, LaunchJob
from tests.controller.inprocess import CONFIG

TWO = CONFIG.replace("MinCount: 1\n      MaxCount: 1", "MinCount: 2\n      MaxCount: 2")
A, B = "q-st-c-1", "q-st-c-2"
T0 = 1000.0


def _hello(node: str, running: list[RunRef] | None = None, finished: list[Finished] | None = None) -> Hello:
    return Hello(node, f"i-{node}", "s" * 64, running=running or [], finished=finished or [])


def _cluster() -> tuple[Engine, NodeState]:
    engine = Engine(engine_config(load_cluster_config(TWO).layout), T0)
    engine.tick(T0)  # the static nodes are powering up
    state = NodeState(engine)
    for node in (A, B):
        state.handle(Joined(node, _hello(node), f"i-{node}", T0))
    return engine, state


def _running_job(engine: Engine) -> tuple[int, str]:
    """A one-node job started by the engine: (its id, its node)."""
    job = engine.submit(JobSpec(name="j", user="u", uid=1000), T0)
    actions = engine.tick(T0 + 1)
    (launch,) = [a for a in actions if isinstance(a, LaunchJob)]
    assert launch.job_id == job.id
    return job.id, launch.nodes[0]


def _kinds(out: list[Instruction]) -> list[str]:
    return [type(i).__name__ for i in out]


def test_a_repeated_end_is_recorded_once_and_acked_after_it_is_stored() -> None:
    engine, state = _cluster()
    job, node = _running_job(engine)
    state.handle(Reported(node, Started(job, 0, 42), T0 + 2))
    end = Finished(job, 0, exit_code=0, end_time=T0 + 3)
    out = state.handle(Reported(node, end, T0 + 3))
    assert _kinds(out) == ["Commit", "Send"] and out[1] == Send(node, Ack(job, 0))
    assert engine.jobs[job].state == "COMPLETED"
    engine.drain_changes()
    # The ack was lost: the agent reconnects and repeats the end in its hello.
    out = state.handle(Joined(node, _hello(node, finished=[end]), f"i-{node}", T0 + 10))
    commit = next(i for i in out if isinstance(i, Commit))
    assert out.index(commit) < out.index(Send(node, Ack(job, 0)))
    assert not [t for t in engine.drain_changes().transitions if t.entity == "job"]


def test_a_launch_the_agent_never_got_is_sent_again_for_the_same_run() -> None:
    engine, state = _cluster()
    job, node = _running_job(engine)
    out = state.handle(Joined(node, _hello(node), f"i-{node}", T0 + 5))
    assert SendLaunch(job, 0, (node,)) in out
    assert engine.jobs[job].run == 0


def test_runs_the_head_node_no_longer_wants_are_killed_and_lost_kills_resent() -> None:
    engine, state = _cluster()
    job, node = _running_job(engine)
    engine.cancel(job, None, T0 + 2)  # decided while the agent was away
    out = state.handle(
        Joined(node, _hello(node, running=[RunRef(job, 0), RunRef(999, 0)]), f"i-{node}", T0 + 3)
    )
    assert Send(node, Kill(job, 0, "CANCELLED", "TERM")) in out
    assert Send(node, Kill(999, 0, "END", "KILL")) in out


def test_regression_a_node_reporting_a_job_that_runs_elsewhere_changes_nothing() -> None:
    engine, state = _cluster()
    job, node = _running_job(engine)
    other = B if node == A else A
    out = state.handle(Reported(other, Finished(job, 0, exit_code=1), T0 + 2))
    assert _kinds(out) == ["Ignored", "Commit", "Send"]
    assert out[1] == Commit() and out[2] == Send(other, Ack(job, 0))
    assert engine.jobs[job].state == "RUNNING"


def test_silent_agents_are_disconnected_and_absent_ones_failed() -> None:
    _, state = _cluster()
    state.handle(Reported(A, Started(5, 0), T0 + 1))
    out = state.handle(Tick(T0 + 1 + AGENT_SILENCE_S + 1))
    assert Disconnect(A, AGENT_SILENCE_S + 1) in out
    state.handle(Left(B, T0 + 2))
    assert not any(isinstance(i, FailNode) for i in state.handle(Tick(T0 + 2 + AGENT_RECONNECT_GRACE_S)))
    assert FailNode(B, "Not responding") in state.handle(Tick(T0 + 3 + AGENT_RECONNECT_GRACE_S))
    assert not any(isinstance(i, FailNode) for i in state.handle(Tick(T0 + 999, deleting=True)))


def test_a_step_ends_when_every_node_of_it_has_reported() -> None:
    _, state = _cluster()
    key = (7, 0, 1)
    state.handle(StepStarted(key, frozenset({A, B})))
    assert state.handle(Reported(A, StepFinished(7, 0, 9), T0)) == []  # not a step of this job
    out = state.handle(Reported("q-dy-x-1", StepFinished(*key, exit_code=3), T0))
    assert _kinds(out) == ["Ignored"]  # a node the step does not run on
    assert state.handle(Reported(A, StepFinished(*key, usage={"utime": 1.0, "maxrss_kb": 10}), T0)) == []
    out = state.handle(Reported(B, StepFinished(*key, exit_code=3, usage={"utime": 2.0, "maxrss_kb": 7}), T0))
    assert out == [EndStep(key, "FAILED", 3, 0, T0, {"utime": 3.0, "maxrss_kb": 10.0})]


def test_a_node_without_a_mount_its_provider_should_have_is_refused() -> None:
    engine = Engine(engine_config(load_cluster_config(TWO).layout), T0)
    engine.tick(T0)
    state = NodeState(engine, {A: (("/data", "data"),), B: (("/data", "data"),)})
    out = state.handle(Joined(A, _hello(A), f"i-{A}", T0))
    assert _kinds(out) == ["FailNode"]
    assert out[0].reason == "Mount missing: /data (SharedStorage data)"  # type: ignore[attr-defined]
    hello = _hello(B)
    hello.mounts = ["/", "/data"]
    assert "FailNode" not in _kinds(state.handle(Joined(B, hello, f"i-{B}", T0)))

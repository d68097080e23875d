"""Nodes held down (a compute resource without capacity) and partitions deactivated one by one
(protected mode): what the scheduler may use, what powers up and down, what is recorded."""

from __future__ import annotations

from stratus.engine.engine import Engine
from stratus.engine.model import EngineConfig, JobSpec, NodeDef, PartitionDef, PowerDown, PowerUp
from stratus.engine.states import JobState, NodeState

HELD = "(Code:InsufficientInstanceCapacity)Temporarily disabling node due to insufficient capacity"


def two_queues() -> Engine:
    """Queue a: a static node and two dynamic ones (groups a/x and a/y); queue b: one static."""
    nodes = (
        NodeDef("a-st-x-1", ("a",), 1, 100, weight=1, static=True, group="a/x"),
        NodeDef("a-dy-x-1", ("a",), 1, 100, weight=1000, group="a/x"),
        NodeDef("a-dy-y-1", ("a",), 1, 100, weight=1000, group="a/y"),
        NodeDef("b-st-z-1", ("b",), 1, 100, weight=1, static=True, group="b/z"),
    )
    parts = (
        PartitionDef("a", tuple(n.name for n in nodes[:3]), default=True),
        PartitionDef("b", ("b-st-z-1",)),
    )
    return Engine(EngineConfig(partitions=parts, nodes=nodes), now=0.0)


def ups(actions: list) -> list[str]:
    return [n for a in actions if isinstance(a, PowerUp) for n in a.nodes]


def test_held_nodes_are_not_used_until_released() -> None:
    e = two_queues()
    e.tick(0.0)
    for name in ("a-st-x-1", "b-st-z-1"):
        e.node_up(name, 1.0)
    busy = e.submit(JobSpec("busy", "alice", partitions=("a",), exclusive=True), 2.0)
    e.tick(2.0)
    assert busy.alloc is not None and busy.alloc.nodes == ("a-st-x-1",)
    # Only powered-down dynamic nodes are held; the static one is left as it is.
    assert e.hold_down(["a-dy-x-1", "a-st-x-1"], 5.0, "capacity", HELD) == ["a-dy-x-1"]
    node = e.nodes["a-dy-x-1"]
    assert (node.state, node.reason, node.reason_time) == (NodeState.DOWN, HELD, 5.0)
    (t,) = [t for t in e.drain_changes().transitions if t.key == "a-dy-x-1"]
    assert (t.old, t.new, t.time, t.cause, t.reason) == ("POWERED_DOWN", "DOWN", 5.0, "capacity", HELD)
    job = e.submit(JobSpec("j", "alice", partitions=("a",)), 6.0)
    assert ups(e.tick(6.0)) == ["a-dy-y-1"]  # the other compute resource
    assert job.alloc is not None and job.alloc.nodes == ("a-dy-y-1",)
    assert e.release_down(["a-dy-x-1", "a-dy-y-1"], 7.0, "timer", "insufficient capacity timeout") == [
        "a-dy-x-1"
    ]
    assert (node.state, node.reason) == (NodeState.POWERED_DOWN, None)
    e.submit(JobSpec("k", "alice", partitions=("a",)), 8.0)
    assert ups(e.tick(8.0)) == ["a-dy-x-1"]


def test_an_inactive_partition_stops_launching_and_powers_its_nodes_down() -> None:
    e = two_queues()
    assert sorted(ups(e.tick(0.0))) == ["a-st-x-1", "b-st-z-1"]
    for name in ("a-st-x-1", "b-st-z-1"):
        e.node_up(name, 1.0)
    ran = e.submit(JobSpec("j", "alice", partitions=("a",), exclusive=True), 2.0)
    booting = e.submit(JobSpec("k", "alice", partitions=("a",), exclusive=True), 2.0)
    e.tick(2.0)
    assert ran.state == JobState.RUNNING and booting.state == JobState.CONFIGURING
    e.job_ended(ran.id, ran.run, 3.0)
    e.drain_changes()

    actions = e.deactivate_partitions(["a"], 4.0, "protected", "10 node bootstrap failures in queue a")
    assert not e.partitions["a"].up and e.partitions["b"].up
    (down,) = [a for a in actions if isinstance(a, PowerDown)]
    # The queue's nodes that are up or booting power down; queue b's node is untouched.
    assert sorted(down.nodes) == ["a-dy-x-1", "a-st-x-1"]
    assert e.nodes["b-st-z-1"].state == NodeState.UP
    # A job that waited for a booting node waits again (recorded).
    assert booting.state == JobState.PENDING and booting.run == 1
    changes = e.drain_changes()
    (part,) = [t for t in changes.transitions if t.entity == "partition"]
    assert (part.key, part.old, part.new, part.cause, part.reason) == (
        "a",
        "UP",
        "INACTIVE",
        "protected",
        "10 node bootstrap failures in queue a",
    )
    for name in down.nodes:
        e.node_terminated(name, 5.0)
    # Nothing is launched there any more: not the static node, not for the waiting job.
    assert ups(e.tick(70.0)) == []
    assert booting.state == JobState.PENDING
    assert e.deactivate_partitions(["a"], 71.0, "protected") == []  # already inactive
    # Started again: partitions up, the static node comes back and the job goes there.
    assert ups(e.start_fleet(80.0)) == ["a-st-x-1"]
    assert booting.alloc is not None and booting.alloc.nodes == ("a-st-x-1",)


def test_a_node_with_a_running_job_keeps_running() -> None:
    e = two_queues()
    e.tick(0.0)
    e.node_up("a-st-x-1", 1.0)
    job = e.submit(JobSpec("j", "alice", partitions=("a",)), 2.0)
    e.tick(2.0)
    assert job.state == JobState.RUNNING
    actions = e.deactivate_partitions(["a"], 3.0, "protected")
    assert not [a for a in actions if isinstance(a, PowerDown) and "a-st-x-1" in a.nodes]
    assert job.state == JobState.RUNNING and e.nodes["a-st-x-1"].state == NodeState.UP


def test_a_node_that_failed_to_boot_can_be_kept_down_once_terminated() -> None:
    e = two_queues()
    e.tick(0.0)
    for name in ("a-st-x-1", "b-st-z-1"):
        e.node_up(name, 1.0)
    first = e.submit(JobSpec("j", "alice", partitions=("a",), exclusive=True), 2.0)
    second = e.submit(JobSpec("k", "alice", partitions=("a",), exclusive=True), 2.0)
    third = e.submit(JobSpec("l", "alice", partitions=("a",), exclusive=True), 2.0)
    assert ups(e.tick(2.0)) == ["a-dy-x-1", "a-dy-y-1"]
    assert first.state == JobState.RUNNING  # on the static node
    # a-dy-x-1 fails while it boots; a-dy-y-1 registers, then fails.
    e.node_lost("a-dy-x-1", 3.0, "(Code:AuthFailure)Failure when resuming nodes")
    e.node_up("a-dy-y-1", 3.0)
    assert third.state == JobState.RUNNING
    e.node_lost("a-dy-y-1", 4.0, "Not responding")
    assert e.failed_to_boot("a-dy-x-1") and not e.failed_to_boot("a-dy-y-1")
    e.drain_changes()
    e.node_terminated("a-dy-x-1", 5.0, hold=True)
    e.node_terminated("a-dy-y-1", 5.0, hold=True)
    node = e.nodes["a-dy-x-1"]
    assert (node.state, node.reason, node.instance_id, node.state_time) == (
        NodeState.DOWN,
        "(Code:AuthFailure)Failure when resuming nodes",
        None,
        3.0,
    )
    assert e.nodes["a-dy-y-1"].state == NodeState.POWERED_DOWN  # it had booted: not kept
    moved = [(t.key, t.old, t.new) for t in e.drain_changes().transitions if t.entity == "node"]
    assert moved == [("a-dy-y-1", "DOWN", "POWERED_DOWN")]
    # The held node is not picked; the other one is.
    assert ups(e.tick(20.0)) == ["a-dy-y-1"]
    assert sorted(j.alloc.nodes for j in (second, third) if j.alloc is not None) == [("a-dy-y-1",)]
    assert e.release_down(["a-dy-x-1"], 63.0, "timer", "failed node hold over") == ["a-dy-x-1"]
    assert (node.state, node.reason, node.boot_time) == (NodeState.POWERED_DOWN, None, None)
    assert ups(e.tick(63.0)) == ["a-dy-x-1"]

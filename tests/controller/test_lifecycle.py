"""How cluster and compute-fleet statuses move on as nodes come and go (pure steps)."""

from __future__ import annotations

from stratus.controller.lifecycle import (
    ClusterStatus,
    ClusterTo,
    CreationFailed,
    FleetStatus,
    FleetTo,
    progress,
)
from stratus.engine.model import Node, NodeDef
from stratus.engine.states import NodeState


def _node(name: str, static: bool, state: NodeState, reason: str = "") -> Node:
    node = Node(NodeDef(name, ("q",), cpus=1, memory_mb=100, static=static))
    node.state = state
    node.reason = reason
    return node


def test_creation_completes_when_every_static_node_is_up() -> None:
    nodes = [_node("s1", True, NodeState.UP), _node("d1", False, NodeState.POWERED_DOWN)]
    steps = progress("CREATE_IN_PROGRESS", "START_REQUESTED", nodes, lambda _: False)
    assert steps == [
        FleetTo(FleetStatus.STARTING),
        FleetTo(FleetStatus.RUNNING),
        ClusterTo(ClusterStatus.CREATE_COMPLETE, "static nodes up"),
    ]


def test_creation_fails_as_soon_as_a_static_node_is_down() -> None:
    nodes = [_node("s1", True, NodeState.DOWN, "(Code:X)Failure"), _node("s2", True, NodeState.POWERING_UP)]
    (step,) = [s for s in progress("CREATE_IN_PROGRESS", "STARTING", nodes, lambda _: False)]
    assert step == CreationFailed(
        "StaticNodeBootstrapFailure", "static node s1 failed to start: (Code:X)Failure"
    )


def test_the_fleet_stops_once_nothing_is_up_or_has_a_machine() -> None:
    nodes = [_node("s1", True, NodeState.POWERED_DOWN), _node("d1", False, NodeState.DOWN)]
    assert progress("CREATE_COMPLETE", "STOP_REQUESTED", nodes, lambda n: n == "d1") == [
        FleetTo(FleetStatus.STOPPING)
    ]
    assert progress("CREATE_COMPLETE", "STOPPING", nodes, lambda _: False) == [FleetTo(FleetStatus.STOPPED)]
    assert progress("CREATE_COMPLETE", "RUNNING", nodes, lambda _: False) == []

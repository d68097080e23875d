"""Cluster and compute-fleet lifecycles, named as ParallelCluster names them.

One enum and one transition table each; every change is journaled like job and node changes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import TypeVar

from stratus.engine.model import Node
from stratus.engine.states import NodeState


class ClusterStatus(StrEnum):
    """pcluster's ``clusterStatus`` (and, 1:1 here, ``cloudformationStackStatus``)."""

    CREATE_IN_PROGRESS = "CREATE_IN_PROGRESS"
    CREATE_FAILED = "CREATE_FAILED"
    CREATE_COMPLETE = "CREATE_COMPLETE"
    DELETE_IN_PROGRESS = "DELETE_IN_PROGRESS"
    DELETE_FAILED = "DELETE_FAILED"
    DELETE_COMPLETE = "DELETE_COMPLETE"
    UPDATE_IN_PROGRESS = "UPDATE_IN_PROGRESS"
    UPDATE_COMPLETE = "UPDATE_COMPLETE"
    UPDATE_FAILED = "UPDATE_FAILED"


CLUSTER_TRANSITIONS: dict[ClusterStatus, frozenset[ClusterStatus]] = {
    ClusterStatus.CREATE_IN_PROGRESS: frozenset(
        {ClusterStatus.CREATE_COMPLETE, ClusterStatus.CREATE_FAILED, ClusterStatus.DELETE_IN_PROGRESS}
    ),
    ClusterStatus.CREATE_COMPLETE: frozenset(
        {ClusterStatus.DELETE_IN_PROGRESS, ClusterStatus.UPDATE_IN_PROGRESS}
    ),
    ClusterStatus.CREATE_FAILED: frozenset({ClusterStatus.DELETE_IN_PROGRESS}),
    ClusterStatus.UPDATE_IN_PROGRESS: frozenset({ClusterStatus.UPDATE_COMPLETE, ClusterStatus.UPDATE_FAILED}),
    ClusterStatus.UPDATE_COMPLETE: frozenset(
        {ClusterStatus.DELETE_IN_PROGRESS, ClusterStatus.UPDATE_IN_PROGRESS}
    ),
    ClusterStatus.UPDATE_FAILED: frozenset(
        {ClusterStatus.DELETE_IN_PROGRESS, ClusterStatus.UPDATE_IN_PROGRESS}
    ),
    ClusterStatus.DELETE_IN_PROGRESS: frozenset({ClusterStatus.DELETE_COMPLETE, ClusterStatus.DELETE_FAILED}),
    ClusterStatus.DELETE_FAILED: frozenset({ClusterStatus.DELETE_IN_PROGRESS}),
    ClusterStatus.DELETE_COMPLETE: frozenset(),
}


class FleetStatus(StrEnum):
    """pcluster's ``computeFleetStatus`` for Slurm clusters."""

    START_REQUESTED = "START_REQUESTED"
    STARTING = "STARTING"
    RUNNING = "RUNNING"
    PROTECTED = "PROTECTED"
    STOP_REQUESTED = "STOP_REQUESTED"
    STOPPING = "STOPPING"
    STOPPED = "STOPPED"
    UNKNOWN = "UNKNOWN"


FLEET_TRANSITIONS: dict[FleetStatus, frozenset[FleetStatus]] = {
    # PROTECTED (protected mode: nodes keep failing to bootstrap) from a fleet that runs or is
    # starting: one whose static nodes cannot come up must stop trying too.
    FleetStatus.START_REQUESTED: frozenset(
        {FleetStatus.STARTING, FleetStatus.STOP_REQUESTED, FleetStatus.PROTECTED}
    ),
    FleetStatus.STARTING: frozenset({FleetStatus.RUNNING, FleetStatus.STOP_REQUESTED, FleetStatus.PROTECTED}),
    FleetStatus.RUNNING: frozenset({FleetStatus.STOP_REQUESTED, FleetStatus.PROTECTED}),
    FleetStatus.PROTECTED: frozenset({FleetStatus.START_REQUESTED, FleetStatus.STOP_REQUESTED}),
    FleetStatus.STOP_REQUESTED: frozenset({FleetStatus.STOPPING, FleetStatus.START_REQUESTED}),
    FleetStatus.STOPPING: frozenset({FleetStatus.STOPPED, FleetStatus.START_REQUESTED}),
    FleetStatus.STOPPED: frozenset({FleetStatus.START_REQUESTED}),
    FleetStatus.UNKNOWN: frozenset(set(FleetStatus)),
}

# What a user may ask for with update-compute-fleet (the rest are reached by the controller).
FLEET_REQUESTS = (FleetStatus.START_REQUESTED, FleetStatus.STOP_REQUESTED)


S = TypeVar("S", ClusterStatus, FleetStatus)


def can_move(table: Mapping[S, frozenset[S]], old: S, new: S) -> bool:
    """Whether ``old -> new`` is in ``table``."""
    return new in table.get(old, frozenset())


@dataclass(frozen=True, slots=True)
class FleetTo:
    """Move the compute fleet to ``status``."""

    status: FleetStatus
    reason: str = ""


@dataclass(frozen=True, slots=True)
class ClusterTo:
    """Move the cluster to ``status``."""

    status: ClusterStatus
    reason: str = ""


@dataclass(frozen=True, slots=True)
class CreationFailed:
    """Creation failed (pcluster's ``failures``): record why and stop the compute fleet."""

    code: str
    reason: str


Progress = FleetTo | ClusterTo | CreationFailed


def progress(
    cluster: str | None, fleet: str | None, nodes: Iterable[Node], has_instance: Callable[[str], bool]
) -> list[Progress]:
    """How the cluster's and the compute fleet's statuses move on, given the nodes as they are.

    Pure: the head node applies the steps in order (each one journaled). The fleet starts once
    asked and is RUNNING when every static node is up; it stops once asked and is STOPPED when
    no node is up or has a machine. A cluster being created is complete when every static node
    is up, and fails (StaticNodeBootstrapFailure) as soon as one of them is down.
    """
    nodes = list(nodes)
    statics = [n for n in nodes if n.defn.static]
    all_static_up = all(n.state == NodeState.UP for n in statics)
    out: list[Progress] = []
    if fleet == FleetStatus.START_REQUESTED:
        out.append(FleetTo(FleetStatus.STARTING))
        fleet = FleetStatus.STARTING
    if fleet == FleetStatus.STARTING and all_static_up:
        out.append(FleetTo(FleetStatus.RUNNING))
    if fleet == FleetStatus.STOP_REQUESTED:
        out.append(FleetTo(FleetStatus.STOPPING))
        fleet = FleetStatus.STOPPING
    if fleet == FleetStatus.STOPPING and all(
        n.state in (NodeState.POWERED_DOWN, NodeState.DOWN) and not has_instance(n.name) for n in nodes
    ):
        out.append(FleetTo(FleetStatus.STOPPED))
    if cluster == ClusterStatus.CREATE_IN_PROGRESS:
        if all_static_up:
            out.append(ClusterTo(ClusterStatus.CREATE_COMPLETE, "static nodes up"))
        else:
            failed = next((n for n in statics if n.state == NodeState.DOWN), None)
            if failed is not None:
                why = f"static node {failed.name} failed to start: {failed.reason}"
                out.append(CreationFailed("StaticNodeBootstrapFailure", why))
    return out

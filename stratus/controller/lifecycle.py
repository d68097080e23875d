"""Cluster and compute-fleet lifecycles, named as ParallelCluster names them.

One enum and one transition table each; every change is journaled like job and node changes.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import TypeVar


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
    FleetStatus.START_REQUESTED: frozenset({FleetStatus.STARTING, FleetStatus.STOP_REQUESTED}),
    FleetStatus.STARTING: frozenset({FleetStatus.RUNNING, FleetStatus.STOP_REQUESTED}),
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

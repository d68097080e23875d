"""What an update of a cluster's configuration changes, and what each change needs.

``pcluster update-cluster`` compares the running configuration with the requested one, lists
every difference in its ``changeSet`` (``parameter``, ``currentValue``, ``requestedValue``) and
refuses the changes its update policies forbid in the current state, with
``updateValidationErrors``. This module is that comparison, pure: a list of :class:`Change`,
each with the :class:`Policy` stratus applies.

stratus applies more changes live than ParallelCluster (its head node restarts onto the new
configuration while jobs keep running, see the README): queue and compute-resource additions,
MaxCount and MinCount, ScaledownIdletime, scheduling settings and partition settings need no
fleet stop. What would change a running node under its jobs needs a stopped compute fleet, as in
ParallelCluster; what cannot change without a new cluster is refused with ParallelCluster's
words.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol


class Policy(StrEnum):
    """How a change is applied."""

    LIVE = "LIVE"  # applied while the compute fleet runs
    NODES = "NODES"  # live, unless it removes nodes that are in use (checked on the head node)
    FLEET_STOP = "FLEET_STOP"  # only with the compute fleet stopped
    UNSUPPORTED = "UNSUPPORTED"  # only in a new cluster


# ParallelCluster's messages (ParallelCluster 3.12, update validation errors); its command named
# as stratus's (pcluster's verbs are stratus's).
FLEET_STOP_MESSAGE = (
    "All compute nodes must be stopped. Stop the compute fleet with the stratus update-compute-fleet command"
)


class UpdateObstacles(Protocol):
    """What stands in the way of an update as the cluster is now (the service's ``UpdateCheck``):
    whether the compute fleet is stopped, the nodes the update drops that are in use, and the
    queues it drops that unfinished jobs wait for or run in."""

    @property
    def fleet_stopped(self) -> bool: ...

    @property
    def nodes_in_use(self) -> tuple[str, ...]: ...

    @property
    def partitions_in_use(self) -> tuple[str, ...]: ...


def unsupported_message(name: str, current: Any) -> str:
    """pcluster's refusal of a change that needs a new cluster (``name``: the key's last part)."""
    return (
        f"Update actions are not currently supported for the '{name}' parameter. Restore '{name}' value "
        f"to '{current}'. If you need this change, please consider creating a new cluster instead of "
        "updating the existing one."
    )


@dataclass(frozen=True, slots=True)
class Change:
    """One difference: ``parameter`` as pcluster names it (``Scheduling.SlurmQueues[q1].Name``),
    the current and requested values (None where the item is added or removed)."""

    parameter: str
    current: Any
    requested: Any
    policy: Policy

    @property
    def key(self) -> str:
        """The changed key's own name (``MaxCount`` of ``...ComputeResources[cr].MaxCount``)."""
        last = self.parameter.rsplit(".", 1)[-1]
        return last.split("[", 1)[0]

    def to_json(self) -> dict[str, Any]:
        """An entry of pcluster's ``changeSet``."""
        return {"parameter": self.parameter, "currentValue": self.current, "requestedValue": self.requested}


# Lists whose items are told apart by a key (pcluster writes the key's value in brackets).
_KEYED_LISTS = {
    "SlurmQueues": "Name",
    "ComputeResources": "Name",
    "SharedStorage": "Name",
    "Tags": "Key",
    "Instances": "InstanceType",
    "Providers": "Name",  # Stratus.Providers
    "CustomSlurmSettings": None,  # a list of one-key maps: compared whole
}

# Keys (by their own name, wherever they are) that need a new cluster, as in ParallelCluster.
_UNSUPPORTED = {"Region", "Scheduler", "Os", "CustomAmi", "KeyName", "MountDir", "StorageType", "Tags"}
# Keys whose change alters what a running node is: only with the fleet stopped.
_FLEET_STOP = {
    "InstanceType",
    "Instances",
    "Efa",
    "CapacityType",
    "EnableMemoryBasedScheduling",
    "Networking",
}
# Keys that only change how many nodes a compute resource has.
_NODE_COUNTS = {"MaxCount", "MinCount"}


def config_changes(current: Mapping[str, Any], requested: Mapping[str, Any]) -> list[Change]:
    """Every difference between two loaded configurations, in document order, with its policy."""
    return [
        Change(path, old, new, _policy(path, old, new)) for path, old, new in _diff(current, requested, "")
    ]


def _policy(path: str, old: Any, new: Any) -> Policy:
    name = path.rsplit(".", 1)[-1].split("[", 1)[0]
    top = path.split(".", 1)[0].split("[", 1)[0]
    if top == "Stratus" and (name == "Engine" or path.startswith("Stratus.ExistingSlurm")):
        # A cluster keeps the engine it was created with, and the Slurm its nodes join.
        return Policy.UNSUPPORTED
    if path.startswith(("Stratus.BatchApi", "Stratus.S3", "Stratus.Metrics")):
        # The head node serves the endpoint anew, and gives jobs the object store's settings,
        # when it restarts onto the update (jobs already running keep what they were given).
        return Policy.LIVE
    if top == "Stratus":
        # Where nodes come from: hosts added are live; hosts removed take their nodes along, so
        # those must be unused. Agents dial the head node's address: it changes with the fleet
        # stopped only.
        return Policy.FLEET_STOP if name == "HeadNodeAddress" else Policy.NODES
    if top == "HeadNode" or name in _UNSUPPORTED or top in _UNSUPPORTED:
        return Policy.UNSUPPORTED
    if top == "SharedStorage":
        return Policy.UNSUPPORTED if old is not None and new is not None else Policy.FLEET_STOP
    if name in ("SlurmQueues", "ComputeResources"):
        # A whole queue or compute resource: added live, removed only with the fleet stopped.
        return Policy.LIVE if old is None else Policy.FLEET_STOP
    if name in _NODE_COUNTS:
        return Policy.NODES
    if name in _FLEET_STOP or any(f".{key}" in path or path.startswith(key) for key in _FLEET_STOP):
        return Policy.FLEET_STOP
    return Policy.LIVE


def _diff(old: Any, new: Any, path: str) -> Iterator[tuple[str, Any, Any]]:
    if isinstance(old, Mapping) and isinstance(new, Mapping):
        for key in [*old, *(k for k in new if k not in old)]:
            sub = f"{path}.{key}" if path else str(key)
            if key not in new:
                yield sub, old[key], None
            elif key not in old:
                yield sub, None, new[key]
            else:
                yield from _diff(old[key], new[key], sub)
        return
    name = path.rsplit(".", 1)[-1]
    id_key = _KEYED_LISTS.get(name)
    if (
        isinstance(old, list)
        and isinstance(new, list)
        and id_key
        and _keyed(old, id_key)
        and _keyed(new, id_key)
    ):
        olds = {item[id_key]: item for item in old}
        news = {item[id_key]: item for item in new}
        for ident in [*olds, *(i for i in news if i not in olds)]:
            sub = f"{path}[{ident}]"
            if ident not in news:
                yield path, _named(olds[ident], id_key), None
            elif ident not in olds:
                yield path, None, _named(news[ident], id_key)
            else:
                yield from _diff(olds[ident], news[ident], sub)
        return
    if old != new:
        yield path, old, new


def _keyed(items: list[Any], key: str) -> bool:
    """Whether every item is a map with a distinct ``key``."""
    idents = [item.get(key) for item in items if isinstance(item, Mapping)]
    return len(idents) == len(items) and None not in idents and len(set(map(str, idents))) == len(idents)


def _named(item: Mapping[str, Any], key: str) -> Any:
    """How a whole added or removed item shows in the change set: its key's value."""
    return item[key]


def update_errors(changes: list[Change], check: UpdateObstacles) -> tuple[list[dict[str, Any]], bool]:
    """pcluster's ``updateValidationErrors`` for ``changes`` as the cluster is now, and whether
    ``--force-update`` may override them (never when nodes or queues in use would go).

    Every front door that changes the configuration (update-cluster, the Batch door's compute
    environments) decides with this one function, so they refuse alike.
    """
    errors: list[dict[str, Any]] = []
    forceable = True

    def error(change: Change, message: str) -> None:
        errors.append(
            {
                "parameter": change.parameter,
                "requestedValue": change.requested,
                "message": message,
                "currentValue": change.current,
            }
        )

    for change in changes:
        if change.policy == Policy.UNSUPPORTED:
            error(change, unsupported_message(change.key, change.current))
        elif change.policy == Policy.FLEET_STOP and not check.fleet_stopped:
            error(change, FLEET_STOP_MESSAGE)
        if change.policy in (Policy.NODES, Policy.FLEET_STOP) and check.nodes_in_use:
            forceable = False
            error(
                change,
                f"Nodes this change removes are in use ({', '.join(check.nodes_in_use)}). Wait until "
                "they are idle and powered down, or stop the compute fleet first",
            )
        if change.parameter == "Scheduling.SlurmQueues" and change.current in check.partitions_in_use:
            forceable = False
            error(
                change,
                f"Queue {change.current} has jobs that are not finished. Cancel them, or wait for them "
                "to end, before removing the queue",
            )
    return errors, forceable

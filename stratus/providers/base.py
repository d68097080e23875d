"""The provider interface: how nodes get machines.

A provider turns "power up these nodes" into running node agents and "power down" into nothing
left running. It is shaped after a cloud API (EC2's ``RunInstances`` / ``DescribeInstances`` /
``TerminateInstances``) so that remote infrastructures (ssh hosts, a cloud) fit it as they are:

* every call is a coroutine; a provider does its blocking work (process scans, waits, HTTP) off
  the caller's event loop, so the head node's loop never blocks on infrastructure;
* launches are batched: one ``create`` per compute resource (a :class:`NodeGroup`) for many
  nodes, best effort, with a failure reported per node, never an exception for a partial batch;
* a launch carries an idempotency token: the same token asked again returns what it launched the
  first time instead of launching twice;
* what a provider launched can be listed again (``describe``) by the tags it put on it, so
  machines nobody recorded (a head node that stopped between launching and recording) are found.

Errors are :class:`ProviderError` with a ``code`` following EC2's error codes where one fits; the
subclasses say what the caller may do about it (wait for capacity, slow down, fix the config).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

#: Tags every provider puts on what it launches (``Instance.tags``).
TAG_CLUSTER = "cluster"
TAG_NODE = "node"
TAG_GROUP = "group"


@dataclass(frozen=True, slots=True)
class NodeGroup:
    """One compute resource of a cluster: identical nodes launched the same way.

    ``name`` (``queue/compute_resource``) is the same string as the engine's ``NodeDef.group``.
    ``capacity_type`` is ParallelCluster's ``CapacityType`` of the queue (``ONDEMAND`` or ``SPOT``):
    only a cloud provider tells the two apart. ``instance_types`` are every type the compute
    resource may use (``Instances``), ``instance_type`` the first; a cloud provider launches
    whichever has capacity, the cheapest first (empty: ``instance_type`` only).
    """

    cluster: str
    queue: str
    compute_resource: str
    instance_type: str
    cpus: int
    memory_mb: int
    gpus: int = 0
    capacity_type: str = "ONDEMAND"
    instance_types: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return f"{self.queue}/{self.compute_resource}"


@dataclass(frozen=True, slots=True)
class Bootstrap:
    """What a machine needs to start its node agent, and nothing about the head node's files.

    ``head`` is the head node's agent address (``HOST:PORT``); ``join`` holds each node's join
    credential, which the provider hands to that node's agent privately (never on a command
    line, never in a tag); ``kill_wait_s`` is how long the agent lets a job's processes end after
    SIGTERM. ``actions`` are ParallelCluster's CustomActions by queue: what each node of the
    queue runs as it boots, before it joins, as ``{event: [[script, *args], ...]}``.
    ``ca_file``, when set, is the CA certificate (a file on the head node's machine) the agent
    must verify the head node's TLS certificate with: the agent port then speaks TLS only.
    """

    head: str = ""
    join: dict[str, str] = field(default_factory=dict)
    kill_wait_s: float = 30.0
    actions: dict[str, dict[str, list[list[str]]]] = field(default_factory=dict)
    ca_file: str = ""


@dataclass(frozen=True, slots=True)
class Instance:
    """A launched machine.

    ``data`` is opaque to everyone but the provider that launched it: what it needs to find the
    machine again after a restart of the head node. ``tags`` are the provider's labels
    (``TAG_CLUSTER``, ``TAG_NODE``, ``TAG_GROUP``); instances recorded by an older stratus have
    none. ``credentials`` is the head node's, not the provider's: digests of the agent's join
    credential and node secret (see :mod:`stratus.agent.protocol`).
    """

    instance_id: str
    node: str
    instance_type: str
    launch_time: float
    private_ip: str
    data: dict[str, Any] = field(default_factory=dict)
    queue: str = ""
    tags: dict[str, str] = field(default_factory=dict)
    credentials: dict[str, str] = field(default_factory=dict)

    @property
    def group(self) -> str:
        """The compute resource (``queue/name``) it was launched for, or "" if not tagged."""
        return self.tags.get(TAG_GROUP, "")

    def to_json(self) -> dict[str, Any]:
        return {
            "instance_id": self.instance_id,
            "node": self.node,
            "instance_type": self.instance_type,
            "launch_time": self.launch_time,
            "private_ip": self.private_ip,
            "data": self.data,
            "queue": self.queue,
            "tags": self.tags,
            "credentials": self.credentials,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Instance:
        return cls(
            d["instance_id"],
            d["node"],
            d["instance_type"],
            d["launch_time"],
            d["private_ip"],
            d.get("data", {}),
            d.get("queue", ""),
            dict(d.get("tags") or {}),
            dict(d.get("credentials") or {}),
        )


class ProviderError(Exception):
    """A provider could not do what was asked. ``code`` follows EC2's error codes where one fits."""

    default_code = "InternalError"

    def __init__(self, code: str, message: str) -> None:
        self.code = code or self.default_code
        super().__init__(message)


class CapacityError(ProviderError):
    """No capacity for this kind of machine now; trying again at once will fail the same way."""

    default_code = "InsufficientInstanceCapacity"


class ThrottlingError(ProviderError):
    """Too many requests: the same request may succeed later."""

    default_code = "RequestLimitExceeded"


class ConfigurationError(ProviderError):
    """The request cannot succeed as configured (a bad parameter, a missing image or program)."""

    default_code = "InvalidParameterValue"


class QuotaError(ProviderError):
    """An account limit was reached (EC2's vCPU or instance limits)."""

    default_code = "VcpuLimitExceeded"


#: A machine that cannot be reached (an on-prem host down or cut off): a capacity error (try
#: again later), not a fault of the configuration.
HOST_UNREACHABLE = "HostUnreachable"

#: EC2 error codes and the kind of error each one is.
_KINDS: dict[str, type[ProviderError]] = {
    "InsufficientInstanceCapacity": CapacityError,
    "InsufficientHostCapacity": CapacityError,
    "InsufficientReservedInstanceCapacity": CapacityError,
    "InsufficientCapacity": CapacityError,
    "InsufficientFreeAddressesInSubnet": CapacityError,
    "SpotMaxPriceTooLow": CapacityError,
    HOST_UNREACHABLE: CapacityError,
    "RequestLimitExceeded": ThrottlingError,
    "Throttling": ThrottlingError,
    "InvalidParameterValue": ConfigurationError,
    "InvalidParameterCombination": ConfigurationError,
    "InvalidAMIID.NotFound": ConfigurationError,
    "Unsupported": ConfigurationError,
    "InvalidSubnetID.NotFound": ConfigurationError,
    "InvalidGroup.NotFound": ConfigurationError,
    "InvalidKeyPair.NotFound": ConfigurationError,
    "AuthFailure": ConfigurationError,
    "UnauthorizedOperation": ConfigurationError,
    "OptInRequired": ConfigurationError,
    "VcpuLimitExceeded": QuotaError,
    "InstanceLimitExceeded": QuotaError,
    "MaxSpotInstanceCountExceeded": QuotaError,
}


def error_for_code(code: str, message: str) -> ProviderError:
    """The error of the right kind for an EC2-style ``code`` (a plain ProviderError if unknown)."""
    return _KINDS.get(code, ProviderError)(code, message)


@dataclass(frozen=True, slots=True)
class CreateResult:
    """What one ``create`` did: the instances it launched and, by node name, what failed.

    Every node asked for is in exactly one of the two.
    """

    instances: list[Instance] = field(default_factory=list)
    failures: dict[str, ProviderError] = field(default_factory=dict)


class Provider(Protocol):
    """What the fleet needs from an infrastructure."""

    name: str

    async def create(
        self, group: NodeGroup, names: Sequence[str], token: str, bootstrap: Bootstrap
    ) -> CreateResult:
        """Launch one machine per node in ``names``, each running its node agent.

        Best effort: what cannot be launched is reported in ``failures`` by node name, with a
        :class:`ProviderError`; nothing is raised for a partial batch. A ``token`` that was
        used before returns the instances it launched then (those still running) instead of
        launching them again. Instances are tagged with the cluster, node and group.
        """
        ...

    async def describe(self, cluster: str) -> list[Instance]:
        """Every instance of ``cluster`` that still runs something, found by the provider's own
        records and tags (never by process or host name)."""
        ...

    async def terminate(self, instances: Sequence[Instance], grace_s: float) -> None:
        """Stop the machines and everything on them. ``grace_s`` lets agents stop their jobs.

        Idempotent: an instance already gone is not an error.
        """
        ...

    def address(self, instance: Instance) -> str:
        """The host at which the instance's agent can be reached."""
        ...

    async def is_alive(self, instance: Instance) -> bool:
        """Whether the machine (its agent) is still running."""
        ...

    def reap(self) -> None:
        """Collect exit statuses of machines that stopped (no-op where not applicable). Cheap."""
        ...

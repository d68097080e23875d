"""The provider interface: how nodes get machines.

A provider turns "power up these nodes" into running node agents and "power down" into nothing
left running. It is deliberately small so that a new kind of infrastructure (ssh hosts, a cloud
API) is a few methods. Calls may block briefly; the controller calls them off its event loop.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class LaunchRequest:
    """One node to bring up, with the resources its instance type gives it."""

    node: str
    instance_type: str
    cpus: int
    memory_mb: int
    gpus: int = 0
    queue: str = ""


@dataclass(frozen=True, slots=True)
class Instance:
    """A launched machine. ``data`` is what the provider needs to find it again after a restart."""

    instance_id: str
    node: str
    instance_type: str
    launch_time: float
    private_ip: str
    data: dict[str, Any] = field(default_factory=dict)
    queue: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "instance_id": self.instance_id,
            "node": self.node,
            "instance_type": self.instance_type,
            "launch_time": self.launch_time,
            "private_ip": self.private_ip,
            "data": self.data,
            "queue": self.queue,
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
        )


class LaunchError(Exception):
    """A node could not be launched. ``code`` follows EC2's error codes where one fits."""

    def __init__(self, code: str, message: str) -> None:
        self.code = code
        super().__init__(message)


class Provider(Protocol):
    """What the fleet manager needs from an infrastructure."""

    name: str

    def launch(self, request: LaunchRequest) -> Instance:
        """Start a machine running the node agent for ``request.node``; raise ``LaunchError``."""
        ...

    def terminate(self, instance: Instance, grace_s: float) -> None:
        """Stop the machine and everything on it (idempotent). ``grace_s`` lets the agent stop jobs."""
        ...

    def is_alive(self, instance: Instance) -> bool:
        """Whether the machine is still running."""
        ...

    def reap(self) -> None:
        """Collect exit statuses of machines that stopped (no-op where not applicable)."""
        ...

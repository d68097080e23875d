"""What the fleet needs from the head node that owns it.

The fleet carries out the engine's power decisions; it does not decide, and it does not own the
agents' connections. Everything it needs from its owner is this protocol, so the fleet can be
driven by the controller or by a test, and never imports the controller.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Sequence
from typing import Any, Protocol

from sqlalchemy import Connection

from stratus.engine.engine import Engine
from stratus.engine.model import Action
from stratus.store.store import Store


class FleetHost(Protocol):
    """The fleet's owner: the engine (node definitions and states), the store, and the agents.

    Guarantees the fleet relies on:

    * ``commit`` writes the engine's changes plus ``extra`` in one transaction before acting on
      ``actions``; it returns once they are durable (or never: the head node stops).
    * ``spawn`` runs a coroutine as a task the owner cancels when it shuts down, and logs its
      failure.
    * ``release_agent`` forgets the node's agent connection (after asking the agent to shut down
      when ``shutdown``), so no message for the node is sent to it any more.
    * ``commit`` hands the engine's transitions it stored to the fleet's ``observe`` (bootstrap
      failures are counted from them).
    * ``protect`` makes the partitions of ``queues`` INACTIVE and the compute fleet PROTECTED
      (stored, journaled with ``reason``), unless the fleet is being stopped or is stopped.
    """

    @property
    def engine(self) -> Engine: ...

    @property
    def store(self) -> Store: ...

    @property
    def deleting(self) -> bool:
        """The cluster is being deleted: instances are no longer checked or reconciled."""
        ...

    @property
    def clock(self) -> Callable[[], float]: ...

    @property
    def agent_address(self) -> str:
        """Where agents reach the head node (``HOST:PORT``), for the nodes' bootstrap."""
        ...

    def commit(
        self, actions: list[Action] | None = None, extra: Callable[[Connection], None] | None = None
    ) -> None: ...

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> None: ...

    def nodes_changed(self) -> None:
        """Nodes failed or came and went: move the cluster and fleet statuses along."""
        ...

    async def release_agent(self, name: str, *, shutdown: bool) -> None: ...

    def protect(self, queues: Sequence[str], reason: str) -> None:
        """Protected mode: ``queues``' partitions INACTIVE, the compute fleet PROTECTED."""
        ...

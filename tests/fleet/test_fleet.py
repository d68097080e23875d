"""The fleet carries out the engine's power decisions: batched launches, capacity cool-down,
orphans.

The fleet runs against a real engine and a real store through a small host (what the head node
is to it). Launches and orphans use the local provider (real agent processes, killed by pid
afterwards); the cool-down, which needs capacity errors on demand, uses a provider that only
hands out records.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import signal
import socket
from collections.abc import Callable, Coroutine, Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import psutil
import pytest
from sqlalchemy import Connection

from stratus.config import load_cluster_config
from stratus.controller.build import engine_config
from stratus.engine.engine import Engine
from stratus.engine.model import Action, PowerDown, PowerUp
from stratus.engine.states import NodeState
from stratus.fleet import Fleet, FleetHost
from stratus.paths import ClusterPaths
from stratus.providers.base import (
    Bootstrap,
    CapacityError,
    CreateResult,
    Instance,
    NodeGroup,
    Provider,
    ProviderError,
)
from stratus.providers.local import LocalProvider
from stratus.store.store import Store

CONFIG = """\
HeadNode:
  InstanceType: t3.micro
Scheduling:
  Scheduler: slurm
  SlurmQueues:
  - Name: q
    ComputeResources:
    - Name: a
      InstanceType: t3.micro
      MinCount: {a}
      MaxCount: {a_max}
    - Name: b
      InstanceType: t3.micro
      MinCount: {b}
      MaxCount: {b_max}
"""

ICE = "(Code:InsufficientInstanceCapacity)Failure when resuming nodes"


def closed_port() -> int:
    """A loopback port nothing listens on (taken from the kernel, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Host:
    """The head node as the fleet sees it: engine, store, commit-then-act, tasks."""

    def __init__(self, root: Path, a: int, b: int) -> None:
        root.mkdir()
        (root / "logs").mkdir()
        self.root = root
        # A compute resource has at least one node: with MinCount 0 it is a dynamic one, left off.
        layout = load_cluster_config(CONFIG.format(a=a, a_max=max(a, 1), b=b, b_max=max(b, 1))).layout
        self.now = 1000.0
        self.engine = Engine(engine_config(layout), self.now)
        self.store = Store.open(root / "state.db", create=True)
        self.deleting = False
        self.tasks: set[asyncio.Task[Any]] = set()
        self.released: list[tuple[str, bool]] = []
        self.fleet: Fleet | None = None

    @property
    def clock(self) -> Callable[[], float]:
        return lambda: self.now

    @property
    def agent_address(self) -> str:
        # Nothing listens there: agents keep dialling while their cluster's state exists.
        return f"127.0.0.1:{closed_port()}"

    def commit(
        self, actions: list[Action] | None = None, extra: Callable[[Connection], None] | None = None
    ) -> None:
        changes = self.engine.drain_changes()
        with self.store.transaction() as conn:
            self.store.save_engine_changes(conn, self.engine, changes)
            if extra is not None:
                extra(conn)
        assert self.fleet is not None
        for action in actions or []:
            if isinstance(action, PowerUp):
                self.fleet.power_up(action.nodes)
            elif isinstance(action, PowerDown):
                self.fleet.power_down(action.nodes)

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        self.tasks.add(asyncio.get_running_loop().create_task(coro))

    def nodes_changed(self) -> None:
        pass

    async def release_agent(self, name: str, *, shutdown: bool) -> None:
        self.released.append((name, shutdown))

    def tick(self, now: float) -> None:
        self.now = now
        self.commit(self.engine.tick(now))

    async def settle(self) -> None:
        """Wait until the fleet has carried out everything asked of it so far."""
        while True:
            await asyncio.sleep(0)  # a batch of power-ups is flushed on the next loop step
            pending = [t for t in self.tasks if not t.done()]
            if not pending:
                break
            await asyncio.gather(*pending)
        for task in self.tasks:
            task.result()  # a failure in the fleet fails the test

    def states(self) -> dict[str, NodeState]:
        return {name: node.state for name, node in self.engine.nodes.items()}


def make_fleet(host: Host, provider: Provider, **kwargs: Any) -> Fleet:
    h: FleetHost = host  # the test host is a FleetHost, as the controller is
    host.fleet = Fleet(h, provider, cluster="c", bootstrap=Bootstrap(kill_wait_s=1.0), **kwargs)
    return host.fleet


class RecordingLocal(LocalProvider):
    """The local provider, remembering each create call (group, node names)."""

    def __init__(self, cluster_dir: Path) -> None:
        super().__init__(ClusterPaths(cluster_dir))
        self.calls: list[tuple[str, tuple[str, ...]]] = []
        self.launched: list[Instance] = []

    async def create(
        self, group: NodeGroup, names: Sequence[str], token: str, bootstrap: Bootstrap
    ) -> CreateResult:
        self.calls.append((group.name, tuple(names)))
        result = await super().create(group, names, token, bootstrap)
        self.launched += result.instances
        return result


@pytest.fixture
def local(tmp_path: Path) -> Iterator[RecordingLocal]:
    provider = RecordingLocal(tmp_path / "c")
    try:
        yield provider
    finally:
        for inst in provider.launched:  # kill whatever is left of every agent started, by pid
            pid = int(inst.data["pid"])
            with contextlib.suppress(psutil.Error):
                proc = psutil.Process(pid)
                if abs(proc.create_time() - float(inst.data["create_time"])) <= 1.0:
                    with contextlib.suppress(ProcessLookupError, PermissionError):
                        os.killpg(pid, signal.SIGKILL)
                    proc.wait(timeout=5)


def test_power_ups_of_one_pass_are_one_create_per_compute_resource(
    tmp_path: Path, local: RecordingLocal
) -> None:
    async def scenario() -> None:
        host = Host(tmp_path / "c", a=2, b=2)
        fleet = make_fleet(host, local)
        host.tick(1000.0)  # the static nodes power up
        await host.settle()
        assert sorted(local.calls) == [("q/a", ("q-st-a-1", "q-st-a-2")), ("q/b", ("q-st-b-1", "q-st-b-2"))]
        assert sorted(fleet.instances) == ["q-st-a-1", "q-st-a-2", "q-st-b-1", "q-st-b-2"]
        assert not fleet.launching
        # Recorded in the store (what a restart rebuilds from), with the engine's instance ids.
        with host.store.reading() as conn:
            stored = {name: inst["instance_id"] for name, _, inst in host.store.node_instances(conn)}
        assert stored == {name: inst.instance_id for name, inst in fleet.instances.items()}
        assert all(host.engine.nodes[n].instance_id == i for n, i in stored.items())
        for inst in fleet.instances.values():
            assert inst.group == host.engine.nodes[inst.node].defn.group
            assert await local.is_alive(inst)
        await fleet.terminate_all(1.0)
        assert await local.describe("c") == []

    asyncio.run(scenario())


def test_reconcile_terminates_instances_no_record_knows(tmp_path: Path, local: RecordingLocal) -> None:
    async def scenario() -> None:
        host = Host(tmp_path / "c", a=1, b=0)
        fleet = make_fleet(host, local)
        host.tick(1000.0)
        await host.settle()
        (recorded,) = fleet.instances.values()
        # As if a head node launched it and stopped before recording it.
        group = NodeGroup("c", "q", "a", "t3.micro", cpus=2, memory_mb=900)
        orphan_result = await local.create(
            group, ["q-st-a-1"], "lost", replace(fleet.bootstrap, head=host.agent_address)
        )
        (orphan,) = orphan_result.instances
        assert {i.instance_id for i in await local.describe("c")} == {
            recorded.instance_id,
            orphan.instance_id,
        }

        terminated = await fleet.reconcile()

        assert [i.instance_id for i in terminated] == [orphan.instance_id]
        assert not await local.is_alive(orphan)
        assert await local.is_alive(recorded), (host.root / "logs" / "q-st-a-1.log").read_text()
        assert [i.instance_id for i in await local.describe("c")] == [recorded.instance_id]
        assert await fleet.reconcile() == []  # nothing else is unknown
        await fleet.terminate_all(1.0)

    asyncio.run(scenario())


class CapacityProvider:
    """Hands out instance records; compute resources in ``short`` have no capacity."""

    name = "capacity"

    def __init__(self, short: set[str]) -> None:
        self.short = short
        self.calls: list[tuple[str, tuple[str, ...]]] = []
        self.live: dict[str, Instance] = {}

    async def create(
        self, group: NodeGroup, names: Sequence[str], token: str, bootstrap: Bootstrap
    ) -> CreateResult:
        self.calls.append((group.name, tuple(names)))
        result = CreateResult()
        for name in names:
            if group.name in self.short:
                result.failures[name] = CapacityError("InsufficientInstanceCapacity", "none left")
                continue
            inst = Instance(f"i-{secrets.token_hex(8)}", name, group.instance_type, 0.0, "127.0.0.1")
            self.live[inst.instance_id] = inst
            result.instances.append(inst)
        return result

    async def describe(self, cluster: str) -> list[Instance]:
        return list(self.live.values())

    async def terminate(self, instances: Sequence[Instance], grace_s: float) -> None:
        for inst in instances:
            self.live.pop(inst.instance_id, None)

    def address(self, instance: Instance) -> str:
        return instance.private_ip

    async def is_alive(self, instance: Instance) -> bool:
        return instance.instance_id in self.live

    def reap(self) -> None:
        pass


def test_a_capacity_error_cools_its_compute_resource_down(tmp_path: Path) -> None:
    async def scenario() -> None:
        host = Host(tmp_path / "c", a=2, b=1)
        provider = CapacityProvider(short={"q/a"})
        fleet = make_fleet(host, provider, capacity_cooldown_s=60.0)
        host.tick(1000.0)
        await host.settle()
        # Each node that could not be launched failed, with the provider's code.
        for name in ("q-st-a-1", "q-st-a-2"):
            assert host.states()[name] == NodeState.DOWN
            assert host.engine.nodes[name].reason == ICE
        assert sorted(fleet.instances) == ["q-st-b-1"]
        assert fleet.cooling_down("q/a", 1000.0) and not fleet.cooling_down("q/b", 1000.0)
        assert len(provider.calls) == 2

        # The engine asks again (its own back-off is shorter): the provider is not asked while the
        # compute resource cools down; the nodes fail the same way.
        host.tick(1010.0)
        await host.settle()
        assert [c for c in provider.calls if c[0] == "q/a"] == [("q/a", ("q-st-a-1", "q-st-a-2"))]
        assert host.engine.nodes["q-st-a-1"].reason == ICE

        # Once it is over, launches are tried again, and succeed when capacity is back.
        provider.short.clear()
        assert not fleet.cooling_down("q/a", 1061.0)
        host.tick(1200.0)
        await host.settle()
        assert provider.calls[-1] == ("q/a", ("q-st-a-1", "q-st-a-2"))
        assert sorted(fleet.instances) == ["q-st-a-1", "q-st-a-2", "q-st-b-1"]

    asyncio.run(scenario())


def test_all_or_nothing_undoes_a_partial_batch(tmp_path: Path) -> None:
    class HalfProvider(CapacityProvider):
        async def create(
            self, group: NodeGroup, names: Sequence[str], token: str, bootstrap: Bootstrap
        ) -> CreateResult:
            result = await super().create(group, names[:1], token, bootstrap)
            result.failures.update({n: ProviderError("InternalError", "lost") for n in names[1:]})
            return result

    async def scenario() -> None:
        host = Host(tmp_path / "c", a=2, b=0)
        provider = HalfProvider(short=set())
        fleet = make_fleet(host, provider, all_or_nothing=True)
        host.tick(1000.0)
        await host.settle()
        assert fleet.instances == {}
        assert provider.live == {}  # the one launched was terminated again
        for name in ("q-st-a-1", "q-st-a-2"):
            assert host.engine.nodes[name].reason == "(Code:InternalError)Failure when resuming nodes"
        assert not fleet.cooling_down("q/a", 1000.0)  # not a capacity error

    asyncio.run(scenario())

"""The fleet carries out the engine's power decisions: batched launches, the insufficient
capacity fail-over, protected mode, orphans.

The fleet runs against a real engine and a real store through a small host (what the head node
is to it). Launches and orphans use the local provider (real agent processes, killed by pid
afterwards); the capacity fail-over and protected mode, which need launch errors on demand, use
a provider that only hands out records.
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
from stratus.engine.model import Action, JobSpec, PowerDown, PowerUp
from stratus.engine.states import JobState, NodeState
from stratus.fleet import Fleet, FleetHost
from stratus.fleet.state import FAILED_NODE_HOLD_S
from stratus.paths import ClusterPaths
from stratus.providers.base import (
    Bootstrap,
    CapacityError,
    ConfigurationError,
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
HELD = "(Code:InsufficientInstanceCapacity)Temporarily disabling node due to insufficient capacity"


def closed_port() -> int:
    """A loopback port nothing listens on (taken from the kernel, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Host:
    """The head node as the fleet sees it: engine, store, commit-then-act, tasks."""

    def __init__(self, root: Path, a: int, b: int, a_max: int = 1, b_max: int = 1) -> None:
        root.mkdir()
        (root / "logs").mkdir()
        self.root = root
        # A compute resource has at least one node: with MinCount 0 it is a dynamic one.
        layout = load_cluster_config(CONFIG.format(a=a, a_max=max(a, a_max), b=b, b_max=max(b, b_max))).layout
        self.now = 1000.0
        self.engine = Engine(engine_config(layout), self.now)
        self.store = Store.open(root / "state.db", create=True)
        self.deleting = False
        self.tasks: set[asyncio.Task[Any]] = set()
        self.released: list[tuple[str, bool]] = []
        self.protected: list[tuple[tuple[str, ...], str]] = []
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
        self.fleet.observe(changes.transitions)
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

    def protect(self, queues: Sequence[str], reason: str) -> None:
        self.protected.append((tuple(queues), reason))
        self.commit(self.engine.deactivate_partitions(queues, self.now, "protected", reason))

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
    """Hands out instance records; compute resources in ``short`` have no capacity, those in
    ``refused`` refuse the request (as EC2 does with wrong credentials)."""

    name = "capacity"

    def __init__(self, short: set[str], refused: set[str] | None = None) -> None:
        self.short = short
        self.refused = refused or set()
        self.calls: list[tuple[str, tuple[str, ...]]] = []
        self.groups: list[NodeGroup] = []
        self.live: dict[str, Instance] = {}

    async def create(
        self, group: NodeGroup, names: Sequence[str], token: str, bootstrap: Bootstrap
    ) -> CreateResult:
        self.calls.append((group.name, tuple(names)))
        self.groups.append(group)
        result = CreateResult()
        for name in names:
            if group.name in self.short:
                result.failures[name] = CapacityError("InsufficientInstanceCapacity", "none left")
                continue
            if group.name in self.refused:
                result.failures[name] = ConfigurationError("AuthFailure", "AWS was not able to validate")
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


def test_insufficient_capacity_disables_the_compute_resource_for_a_while(tmp_path: Path) -> None:
    async def scenario() -> None:
        host = Host(tmp_path / "c", a=0, b=0, a_max=3, b_max=2)
        provider = CapacityProvider(short={"q/a"})
        fleet = make_fleet(host, provider, insufficient_capacity_timeout_s=120.0)
        job = host.engine.submit(JobSpec("one", "alice", partitions=("q",)), 1000.0)
        host.tick(1000.0)
        await host.settle()
        assert provider.calls == [("q/a", ("q-dy-a-1",))]
        # Every dynamic node of the compute resource is held down, the one that failed too.
        for name in ("q-dy-a-1", "q-dy-a-2", "q-dy-a-3"):
            node = host.engine.nodes[name]
            assert (node.state, node.reason, node.instance_id) == (NodeState.DOWN, HELD, None)
        assert fleet.capacity_disabled("q/a", 1000.0) and not fleet.capacity_disabled("q/b", 1000.0)
        with host.store.reading() as conn:
            reasons = [t.reason for t in host.store.journal_for(conn, "node", "q-dy-a-2")]
        assert reasons == [HELD]  # journaled, with the code
        # The job that was on it is requeued; once it may start again it goes to the other
        # compute resource, and nothing more is asked of the disabled one.
        assert job.state == JobState.PENDING
        host.tick(1010.0)
        await host.settle()
        assert provider.calls == [("q/a", ("q-dy-a-1",)), ("q/b", ("q-dy-b-1",))]
        assert job.alloc is not None and job.alloc.nodes == ("q-dy-b-1",)
        # A failure to launch for lack of capacity is no bootstrap failure.
        assert fleet.bootstrap_failures("q") == 0

        # Once the timeout is over the nodes are powered down again (idle~), usable again.
        host.now = 1119.0
        await fleet.check_health()
        assert host.states()["q-dy-a-2"] == NodeState.DOWN
        host.now = 1121.0
        await fleet.check_health()
        await host.settle()
        for name in ("q-dy-a-1", "q-dy-a-2", "q-dy-a-3"):
            assert (host.states()[name], host.engine.nodes[name].reason) == (NodeState.POWERED_DOWN, None)
        assert not fleet.capacity_disabled("q/a", 1121.0)
        provider.short.clear()
        second = host.engine.submit(JobSpec("two", "alice", partitions=("q",), exclusive=True), 1121.0)
        host.tick(1121.0)
        await host.settle()
        assert provider.calls[-1] == ("q/a", ("q-dy-a-1",))
        assert second.alloc is not None and second.alloc.nodes == ("q-dy-a-1",)

    asyncio.run(scenario())


def test_static_nodes_are_not_disabled_by_insufficient_capacity(tmp_path: Path) -> None:
    async def scenario() -> None:
        host = Host(tmp_path / "c", a=2, b=1)
        provider = CapacityProvider(short={"q/a"})
        fleet = make_fleet(host, provider, insufficient_capacity_timeout_s=120.0)
        host.tick(1000.0)
        await host.settle()
        for name in ("q-st-a-1", "q-st-a-2"):
            assert host.states()[name] == NodeState.DOWN
            assert host.engine.nodes[name].reason == ICE
        assert not fleet.capacity_disabled("q/a", 1000.0)
        # The engine replaces them (after its back-off): the provider is asked again.
        host.tick(1010.0)
        await host.settle()
        assert [c for c in provider.calls if c[0] == "q/a"] == [("q/a", ("q-st-a-1", "q-st-a-2"))] * 2
        assert fleet.bootstrap_failures("q") == 0

    asyncio.run(scenario())


def test_repeated_launch_failures_put_the_queue_in_protected_mode(tmp_path: Path) -> None:
    async def scenario() -> None:
        host = Host(tmp_path / "c", a=0, b=0, a_max=2, b_max=1)
        provider = CapacityProvider(short=set(), refused={"q/a", "q/b"})
        fleet = make_fleet(host, provider, protected_failure_count=3)
        job = host.engine.submit(JobSpec("one", "alice", partitions=("q",)), 1000.0)
        now = 1000.0
        for count in (1, 2, 3):
            host.tick(now)
            await host.settle()
            assert len(provider.calls) == count
            now += 10.0  # past the requeue delay
        assert fleet.bootstrap_failures("q") == 3
        ((queues, reason),) = host.protected
        assert queues == ("q",) and "3 node bootstrap failures" in reason
        assert not host.engine.partitions["q"].up
        # Nothing is launched any more; the job waits.
        for _ in range(3):
            host.tick(now)
            await host.settle()
            now += 10.0
        assert len(provider.calls) == 3
        assert job.state == JobState.PENDING

        # Each failure was a node of its own: a failed node stays down~ for a while.
        assert [c[1] for c in provider.calls] == [("q-dy-a-1",), ("q-dy-a-2",), ("q-dy-b-1",)]

        # Started again (the cause fixed): counted from zero, launched again once a failed
        # node's hold is over.
        provider.refused.clear()
        fleet.fleet_started()
        host.now = now
        host.commit(host.engine.start_fleet(now))
        await host.settle()
        assert fleet.bootstrap_failures("q") == 0
        assert len(provider.calls) == 3 and job.state == JobState.PENDING
        host.now = 1000.0 + FAILED_NODE_HOLD_S
        await fleet.check_health()
        host.tick(host.now)
        await host.settle()
        assert provider.calls[-1] == ("q/a", ("q-dy-a-1",)) and job.state == JobState.CONFIGURING

    asyncio.run(scenario())


def test_a_successful_bootstrap_resets_its_compute_resource_count(tmp_path: Path) -> None:
    async def scenario() -> None:
        host = Host(tmp_path / "c", a=0, b=0, a_max=1, b_max=1)
        provider = CapacityProvider(short=set(), refused={"q/a", "q/b"})
        fleet = make_fleet(host, provider, protected_failure_count=3, failed_node_hold_s=30.0)
        host.engine.submit(JobSpec("one", "alice", partitions=("q",)), 1000.0)
        host.tick(1000.0)
        await host.settle()
        host.tick(1010.0)  # q-dy-a-1 is held down: the requeued job tries the other one
        await host.settle()
        assert provider.calls == [("q/a", ("q-dy-a-1",)), ("q/b", ("q-dy-b-1",))]
        assert fleet.bootstrap_failures("q") == 2
        provider.refused.clear()
        host.now = 1030.0
        await fleet.check_health()  # q-dy-a-1's hold is over
        host.tick(1030.0)
        await host.settle()
        assert provider.calls[-1] == ("q/a", ("q-dy-a-1",))
        assert fleet.bootstrap_failures("q") == 2  # launched, not yet registered
        host.commit(host.engine.node_up("q-dy-a-1", 1031.0))
        assert fleet.bootstrap_failures("q") == 1  # q/b's failure is still counted
        assert host.protected == []

    asyncio.run(scenario())


def test_each_launch_carries_its_queue_capacity_type(tmp_path: Path) -> None:
    async def scenario() -> None:
        host = Host(tmp_path / "c", a=1, b=1)
        provider = CapacityProvider(short=set())
        make_fleet(host, provider, capacity_types={"q/a": "SPOT", "q/b": "ONDEMAND"})
        host.tick(1000.0)
        await host.settle()
        assert sorted((g.name, g.capacity_type) for g in provider.groups) == [
            ("q/a", "SPOT"),
            ("q/b", "ONDEMAND"),
        ]

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
        assert not fleet.capacity_disabled("q/a", 1000.0)  # not a capacity error

    asyncio.run(scenario())

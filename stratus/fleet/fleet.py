"""The compute fleet: carries out the engine's power decisions through the providers.

The engine decides which nodes power up and down (``PowerUp`` / ``PowerDown`` actions); the fleet
turns them into provider calls and reports back to the engine (node launched, terminated,
failed) through its host. Guarantees:

* A launched instance is recorded (store and memory, one transaction) before anything may use it;
  an instance whose node stopped wanting it while it launched is terminated, not recorded.
* The power-ups of one scheduling pass are launched with one ``create`` per compute resource
  (``NodeDef.group``), best effort: each node that could not be launched fails on its own, with
  the reason ``(Code:<code>)Failure when resuming nodes``. With ``all_or_nothing`` a batch with
  any failure is undone and every node of it fails.
* After a capacity error for a compute resource, its nodes are not tried again for
  ``capacity_cooldown_s``: they fail at once with the same code (``cooling_down``).
* A failed node's jobs are requeued only once its instance, and anything its jobs left running,
  is gone (``node_failed`` terminates first, then tells the engine).
* Instances of the cluster that no record knows (orphans: launched by a head node that stopped
  before recording them) are terminated on start-up and every ``reconcile_period_s``.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import replace

from sqlalchemy import Connection

from stratus.agent.protocol import secret_digest
from stratus.engine.model import NodeDef
from stratus.engine.states import NodeState
from stratus.fleet.host import FleetHost
from stratus.providers.base import (
    Bootstrap,
    CapacityError,
    CreateResult,
    Instance,
    NodeGroup,
    Provider,
    ProviderError,
)
from stratus.providers.registry import ProviderSet

log = logging.getLogger("stratus.controller")

TERMINATE_GRACE_S = 5.0
HEALTH_PERIOD_S = 1.0
RECONCILE_PERIOD_S = 30.0
CAPACITY_COOLDOWN_S = 60.0

_LIVE = (NodeState.UP, NodeState.POWERING_UP)


def resume_failure(code: str) -> str:
    """The node reason of a launch that failed (as ParallelCluster's resume program words it)."""
    return f"(Code:{code})Failure when resuming nodes"


class Fleet:
    """The instances of one cluster's nodes, and the launches and terminations under way.

    ``instances`` maps a node to its recorded instance (what the store's node rows hold);
    ``launching`` and ``terminating`` are the nodes with a provider call under way.
    """

    def __init__(
        self,
        host: FleetHost,
        providers: ProviderSet | Provider,
        *,
        cluster: str,
        bootstrap: Bootstrap,
        capacity_cooldown_s: float = CAPACITY_COOLDOWN_S,
        reconcile_period_s: float = RECONCILE_PERIOD_S,
        health_period_s: float = HEALTH_PERIOD_S,
        all_or_nothing: bool = False,
    ) -> None:
        self.host = host
        self.providers = providers if isinstance(providers, ProviderSet) else ProviderSet.single(providers)
        self.cluster = cluster
        self.bootstrap = bootstrap
        self.capacity_cooldown_s = capacity_cooldown_s
        self.reconcile_period_s = reconcile_period_s
        self.health_period_s = health_period_s
        self.all_or_nothing = all_or_nothing
        self.instances: dict[str, Instance] = {}
        self.launching: set[str] = set()
        self.terminating: set[str] = set()
        self._cooling: dict[str, tuple[float, str]] = {}  # group -> (until, error code)
        self._queued: list[str] = []  # power-ups of the current pass, launched together
        self._flush_scheduled = False

    # ------------------------------------------------------------------------------------------
    # queries
    # ------------------------------------------------------------------------------------------

    def busy(self, name: str) -> bool:
        """A launch or termination of the node is under way (its state is about to change)."""
        return name in self.launching or name in self.terminating

    def cooling_down(self, group: str, now: float) -> bool:
        """Whether launches in compute resource ``group`` are held back after a capacity error."""
        entry = self._cooling.get(group)
        return entry is not None and now < entry[0]

    def provider_of(self, instance: Instance) -> Provider:
        node = self.host.engine.nodes.get(instance.node)
        return self.providers.for_instance(instance, node.defn.group if node is not None else "")

    # ------------------------------------------------------------------------------------------
    # power up
    # ------------------------------------------------------------------------------------------

    def power_up(self, names: Iterable[str]) -> None:
        """Launch instances for ``names`` (POWERING_UP in the engine).

        Calls made in the same step of the event loop (the actions of one scheduling pass) are
        launched together: one ``create`` per compute resource.
        """
        self._queued.extend(names)
        if not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_scheduled = False
        names, self._queued = self._queued, []
        if names:
            self.host.spawn(self.launch(names))

    async def launch(self, names: Sequence[str]) -> None:
        """Launch ``names`` now, one ``create`` per compute resource, the groups concurrently."""
        groups: dict[str, list[str]] = {}
        for name in dict.fromkeys(names):
            groups.setdefault(self.host.engine.nodes[name].defn.group, []).append(name)
        await asyncio.gather(*(self._launch_group(group, members) for group, members in groups.items()))

    def _node_group(self, defn: NodeDef) -> NodeGroup:
        _, _, cr = defn.group.rpartition("/")
        return NodeGroup(
            cluster=self.cluster,
            queue=defn.partitions[0],
            compute_resource=cr,
            instance_type=defn.instance_type,
            cpus=defn.cpus,
            memory_mb=defn.memory_mb,
            gpus=defn.gpus,
        )

    async def _launch_group(self, group: str, names: list[str]) -> None:
        engine = self.host.engine
        names = [n for n in names if n not in self.launching and n not in self.instances]
        if not names:
            return
        now = self.host.clock()
        cooling = self._cooling.get(group)
        if cooling is not None and now < cooling[0]:
            log.warning("not launching %s: %s is cooling down after %s", ",".join(names), group, cooling[1])
            await asyncio.gather(*(self.node_failed(n, resume_failure(cooling[1])) for n in names))
            return
        self.launching.update(names)
        provider = self.providers.for_group(group)
        # A fresh token per request: a retry of this very request may reuse it, a new one may not.
        token = secrets.token_hex(16)
        # Each agent joins with a credential of its own, good for its node only; the head node
        # keeps only its digest (recorded with the instance, checked when the agent says hello).
        joins = {name: secrets.token_hex(32) for name in names}
        bootstrap = replace(self.bootstrap, head=self.host.agent_address, join=joins)
        try:
            try:
                result = await provider.create(
                    self._node_group(engine.nodes[names[0]].defn), names, token, bootstrap
                )
            except ProviderError as exc:
                result = CreateResult([], {n: exc for n in names})
            launched: dict[str, Instance] = {}
            unwanted: list[Instance] = []
            for inst in result.instances:
                if inst.node in names and inst.node not in launched and inst.node not in result.failures:
                    launched[inst.node] = inst
                else:
                    unwanted.append(inst)
            failures = dict(result.failures)
            for name in names:
                if name not in launched and name not in failures:
                    failures[name] = ProviderError("InternalError", "the provider returned no instance")
            if failures and self.all_or_nothing and launched:
                first = next(iter(failures.values()))
                failures.update({name: first for name in launched})
                unwanted += launched.values()
                launched = {}
            if any(isinstance(e, CapacityError) for e in failures.values()):
                code = next(e.code for e in failures.values() if isinstance(e, CapacityError))
                self._cooling[group] = (self.host.clock() + self.capacity_cooldown_s, code)
            wanted: list[Instance] = []
            for name, inst in launched.items():
                if engine.nodes[name].state != NodeState.POWERING_UP:
                    # Powered down or failed meanwhile: the instance is not wanted any more.
                    unwanted.append(inst)
                else:
                    wanted.append(replace(inst, credentials={"join": secret_digest(joins[name])}))
            self._record(wanted)
        finally:
            # In the same step as recording: an agent waiting for its launch sees the instance.
            self.launching.difference_update(names)
        if unwanted:
            for err in await self.providers.terminate(((i, group) for i in unwanted), 0.0):
                log.error("terminating an unwanted instance failed", exc_info=err)
        for name, err in failures.items():
            log.warning("launch of %s failed: %s (%s)", name, err, err.code)
        await asyncio.gather(*(self.node_failed(n, resume_failure(e.code)) for n, e in failures.items()))

    def _record(self, instances: list[Instance]) -> None:
        if not instances:
            return
        engine = self.host.engine
        store = self.host.store
        for inst in instances:
            self.instances[inst.node] = inst
            engine.nodes[inst.node].instance_id = inst.instance_id
            engine.dirty_nodes.add(inst.node)

        def write(conn: Connection) -> None:
            for inst in instances:
                store.set_node_instance(conn, inst.node, inst.to_json())

        self.host.commit(extra=write)
        for inst in instances:
            log.info("launched %s as %s", inst.node, inst.instance_id)

    # ------------------------------------------------------------------------------------------
    # power down, failures
    # ------------------------------------------------------------------------------------------

    def power_down(self, names: Iterable[str]) -> None:
        """Terminate the instances of ``names`` (POWERING_DOWN or DOWN in the engine)."""
        for name in names:
            self.host.spawn(self._power_down(name))

    async def _power_down(self, name: str) -> None:
        if name in self.terminating:
            return
        self.terminating.add(name)
        try:
            await self.host.release_agent(name, shutdown=True)
            inst = self.instances.get(name)
            if inst is not None:
                await self.provider_of(inst).terminate([inst], TERMINATE_GRACE_S)
            self.instances.pop(name, None)
            self.host.engine.node_terminated(name, self.host.clock())
            store = self.host.store
            self.host.commit(extra=lambda c: store.set_node_instance(c, name, None))
        finally:
            self.terminating.discard(name)

    async def node_failed(self, name: str, reason: str) -> None:
        """A node failed: make sure nothing of it still runs, then requeue its jobs.

        The order matters: a job is requeued (and may start elsewhere) only once the failed
        node's instance, and any process a job left on it, is gone, so two runs never overlap.
        """
        if name in self.terminating:
            return
        self.terminating.add(name)
        try:
            await self.host.release_agent(name, shutdown=False)
            inst = self.instances.get(name)
            if inst is not None:
                await self.provider_of(inst).terminate([inst], 0.0)
        finally:
            self.terminating.discard(name)
        self.host.commit(self.host.engine.node_lost(name, self.host.clock(), reason))
        self.host.nodes_changed()

    async def terminate_all(self, grace_s: float = TERMINATE_GRACE_S) -> None:
        """Terminate every recorded instance (deleting the cluster), one batch per provider.

        Failures are logged; every provider is asked regardless.
        """
        pairs = [(inst, self._group_of(inst)) for inst in list(self.instances.values())]
        for err in await self.providers.terminate(pairs, grace_s):
            log.error("terminating a node failed during delete", exc_info=err)

    def _group_of(self, inst: Instance) -> str:
        node = self.host.engine.nodes.get(inst.node)
        return node.defn.group if node is not None else ""

    # ------------------------------------------------------------------------------------------
    # health and reconciliation
    # ------------------------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Until ``stop`` is set: reconcile now and every ``reconcile_period_s``, and check the
        health of every instance every ``health_period_s``."""
        loop = asyncio.get_running_loop()
        next_reconcile = loop.time()
        while not stop.is_set():
            if loop.time() >= next_reconcile:
                next_reconcile = loop.time() + self.reconcile_period_s
                try:
                    await self.reconcile()
                except Exception:
                    log.exception("reconciling the fleet failed; retrying")
            await asyncio.sleep(self.health_period_s)
            try:
                await self.check_health()
            except Exception:
                log.exception("liveness check failed; retrying")

    async def check_health(self) -> None:
        """Fail nodes whose instance is gone (or that are UP without one)."""
        for provider in self.providers.distinct():
            provider.reap()
        engine = self.host.engine
        for name, node in list(engine.nodes.items()):
            if self.host.deleting or node.state not in _LIVE:
                continue
            if self.busy(name):
                continue
            inst = self.instances.get(name)
            if inst is None:
                if node.state == NodeState.UP:
                    self.host.spawn(self.node_failed(name, "Not responding: no instance"))
                continue
            alive = await self.provider_of(inst).is_alive(inst)
            # The world may have moved while we looked: act only on the same instance.
            if self.instances.get(name) is not inst or name in self.terminating or node.state not in _LIVE:
                continue
            if not alive:
                log.warning("node %s: agent process is gone", name)
                self.host.spawn(self.node_failed(name, "Not responding"))

    async def reconcile(self) -> list[Instance]:
        """Terminate the cluster's instances that no record knows; return them.

        An instance is an orphan when the providers list it for this cluster, neither the store
        nor memory records it, and no launch for its node is under way (a launch records its
        instance in the same step as it ends).
        """
        if self.host.deleting:
            return []
        found: list[tuple[Provider, Instance]] = []
        for provider in self.providers.distinct():
            try:
                found += [(provider, inst) for inst in await provider.describe(self.cluster)]
            except ProviderError as exc:
                log.warning("cannot list the instances of %s (%s): %s", self.cluster, exc.code, exc)
        # Compared after the listing: what was launched meanwhile is recorded or still launching.
        store = self.host.store
        with store.reading() as conn:
            known = {str(inst["instance_id"]) for _, _, inst in store.node_instances(conn)}
        known |= {inst.instance_id for inst in self.instances.values()}
        pending = self.launching | set(self._queued)
        orphans = [
            (provider, inst)
            for provider, inst in found
            if inst.instance_id not in known and inst.node not in pending and not self.host.deleting
        ]
        for _, inst in orphans:
            log.warning("terminating %s of node %s: no record knows it", inst.instance_id, inst.node)
        # Each orphan goes back to the provider that listed it, one batch per provider.
        batches: dict[int, tuple[Provider, list[Instance]]] = {}
        for provider, inst in orphans:
            batches.setdefault(id(provider), (provider, []))[1].append(inst)
        results = await asyncio.gather(
            *(p.terminate(insts, 0.0) for p, insts in batches.values()), return_exceptions=True
        )
        for err in results:
            if isinstance(err, BaseException):
                log.error("terminating an orphaned instance failed", exc_info=err)
        return [inst for _, inst in orphans]

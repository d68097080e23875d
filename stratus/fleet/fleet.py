"""The compute fleet: carries out the engine's power decisions through the providers.

This is the runtime half: it calls the providers and feeds every answer back into
:class:`stratus.fleet.state.FleetState`, which decides (see there). Every coroutine here ends by
feeding an event in; no decision is taken on a view read before an await.

The engine decides which nodes power up and down (``PowerUp`` / ``PowerDown`` actions); the fleet
turns them into provider calls and reports back to the engine (node launched, terminated,
failed) through its host. Guarantees:

* A launched instance is recorded (store and memory, one transaction) before anything may use it;
  an instance whose node stopped wanting it while it launched is terminated, not recorded.
* The power-ups of one scheduling pass are launched with one ``create`` per compute resource
  (``NodeDef.group``), best effort: each node that could not be launched fails on its own, with
  the reason ``(Code:<code>)Failure when resuming nodes``. With ``all_or_nothing`` a batch with
  any failure is undone and every node of it fails.
* After a dynamic node of a compute resource fails to launch for insufficient capacity, the
  compute resource is disabled for ``insufficient_capacity_timeout_s`` (``capacity_disabled``):
  its powered-down dynamic nodes are held ``down~`` so jobs go to the queue's other compute
  resources, then powered-down again (see :mod:`stratus.fleet.state`).
* A dynamic node that failed to power up (launch failed, resume timeout, bootstrap error) stays
  ``down~`` with its reason for ``failed_node_hold_s`` once its instance is gone, then the health
  pass powers it down (``idle~``) and it may be launched again (see :mod:`stratus.fleet.state`).
* Bootstrap failures are counted per compute resource from the node transitions the head node
  stores (:meth:`Fleet.observe`); a queue reaching ``protected_failure_count`` with no job running
  is put in protected mode through the host (:meth:`FleetHost.protect`).
* A failed node's jobs are requeued only once its instance, and anything its jobs left running,
  is gone (``node_failed`` terminates first, then tells the engine).
* Instances of the cluster that no record knows (orphans: launched by a head node that stopped
  before recording them) are terminated on start-up and every ``reconcile_period_s``.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace

from sqlalchemy import Connection

from stratus.agent.protocol import secret_digest
from stratus.engine.model import NodeDef, Transition
from stratus.fleet.host import FleetHost
from stratus.fleet.state import (
    FAILED_NODE_HOLD_S,
    INSUFFICIENT_CAPACITY_TIMEOUT_S,
    PROTECTED_FAILURE_COUNT,
    UNREACHABLE_TIMEOUT_S,
    Abandoned,
    AliveChecked,
    CheckAlive,
    Commit,
    Create,
    Created,
    FailRequested,
    FleetEvent,
    FleetInstruction,
    FleetStarted,
    FleetState,
    HealthTick,
    Kill,
    Killed,
    LaunchRequested,
    Listed,
    NodesMoved,
    Note,
    PowerDown,
    PowerDownRequested,
    PoweredDown,
    Protect,
    Record,
    Terminate,
    resume_failure,
)
from stratus.providers.base import Bootstrap, CreateResult, Instance, NodeGroup, Provider, ProviderError
from stratus.providers.registry import ProviderSet

log = logging.getLogger("stratus.controller")

TERMINATE_GRACE_S = 5.0
HEALTH_PERIOD_S = 1.0
RECONCILE_PERIOD_S = 30.0

__all__ = [
    "FAILED_NODE_HOLD_S",
    "INSUFFICIENT_CAPACITY_TIMEOUT_S",
    "PROTECTED_FAILURE_COUNT",
    "Fleet",
    "resume_failure",
]


class Fleet:
    """The instances of one cluster's nodes, and the launches and terminations under way.

    ``instances`` maps a node to its recorded instance (what the store's node rows hold);
    ``launching`` and ``terminating`` are the nodes with a provider call under way. All three
    are :class:`FleetState`'s; this class carries out what it decides. ``capacity_types`` gives
    each compute resource (``queue/name``) its queue's CapacityType (``ONDEMAND`` when absent),
    ``instance_types`` its instance types (absent: the node's own only).
    """

    def __init__(
        self,
        host: FleetHost,
        providers: ProviderSet | Provider,
        *,
        cluster: str,
        bootstrap: Bootstrap,
        insufficient_capacity_timeout_s: float = INSUFFICIENT_CAPACITY_TIMEOUT_S,
        protected_failure_count: int = PROTECTED_FAILURE_COUNT,
        capacity_types: Mapping[str, str] | None = None,
        instance_types: Mapping[str, tuple[str, ...]] | None = None,
        reconcile_period_s: float = RECONCILE_PERIOD_S,
        health_period_s: float = HEALTH_PERIOD_S,
        all_or_nothing: bool = False,
        failed_node_hold_s: float = FAILED_NODE_HOLD_S,
        unreachable_timeout_s: float = UNREACHABLE_TIMEOUT_S,
    ) -> None:
        self.host = host
        self.providers = providers if isinstance(providers, ProviderSet) else ProviderSet.single(providers)
        self.cluster = cluster
        self.bootstrap = bootstrap
        self.reconcile_period_s = reconcile_period_s
        self.health_period_s = health_period_s
        self.capacity_types: Mapping[str, str] = dict(capacity_types or {})
        self.instance_types: Mapping[str, tuple[str, ...]] = dict(instance_types or {})
        self.state = FleetState(
            host.engine,
            insufficient_capacity_timeout_s=insufficient_capacity_timeout_s,
            protected_failure_count=protected_failure_count,
            all_or_nothing=all_or_nothing,
            failed_node_hold_s=failed_node_hold_s,
            unreachable_timeout_s=unreachable_timeout_s,
        )
        self._queued: list[str] = []  # power-ups of the current pass, launched together
        self._flush_scheduled = False

    # ------------------------------------------------------------------------------------------
    # queries
    # ------------------------------------------------------------------------------------------

    @property
    def instances(self) -> dict[str, Instance]:
        return self.state.instances

    @property
    def launching(self) -> set[str]:
        return self.state.launching

    @property
    def terminating(self) -> set[str]:
        return self.state.terminating

    def busy(self, name: str) -> bool:
        """A launch or termination of the node is under way (its state is about to change)."""
        return self.state.busy(name)

    def capacity_disabled(self, group: str, now: float) -> bool:
        """Whether compute resource ``group`` is disabled after an insufficient capacity error."""
        return self.state.capacity_disabled(group, now)

    def bootstrap_failures(self, queue: str) -> int:
        """The bootstrap failures counted for ``queue`` since its last start (protected mode)."""
        return self.state.queue_failures(queue)

    def provider_of(self, instance: Instance) -> Provider:
        return self.providers.for_instance(instance, self.state.group_of(instance.node))

    # ------------------------------------------------------------------------------------------
    # requests (from the controller's dispatch of engine actions)
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
        await self._feed(LaunchRequested(tuple(names), self.host.clock()))

    def power_down(self, names: Iterable[str]) -> None:
        """Terminate the instances of ``names`` (POWERING_DOWN or DOWN in the engine).

        Decided at once, in the commit that asked for it: from then on the nodes are ``busy``,
        so no health pass judges them before their instance is gone.
        """
        instructions: list[FleetInstruction] = []
        for name in names:
            instructions += self.state.handle(PowerDownRequested(name))
        if instructions:
            self.host.spawn(self._execute(instructions, self.providers.distinct()))

    async def node_failed(self, name: str, reason: str) -> None:
        """A node failed: make sure nothing of it still runs, then requeue its jobs."""
        await self._feed(FailRequested(name, reason))

    def observe(self, transitions: Sequence[Transition]) -> None:
        """The head node stored these engine transitions: count bootstrap failures and successes.

        Called by the host after each commit, synchronously; what it decides (protected mode) is
        carried out in a task of its own, after the commit that called it has acted.
        """
        nodes = tuple(t for t in transitions if t.entity == "node")
        if not nodes:
            return
        instructions = self.state.handle(NodesMoved(nodes))
        for ins in instructions:
            if isinstance(ins, Note):
                (log.warning if ins.level == "warning" else log.info)("%s", ins.text)
        rest: list[FleetInstruction] = [ins for ins in instructions if not isinstance(ins, Note)]
        if rest:
            self.host.spawn(self._execute(rest, self.providers.distinct()))

    def fleet_started(self) -> None:
        """The compute fleet was started (again): bootstrap failures are counted from zero."""
        self.state.handle(FleetStarted())

    async def terminate_all(self, grace_s: float = TERMINATE_GRACE_S) -> None:
        """Terminate every recorded instance (deleting the cluster), one batch per provider.

        Failures are logged; every provider is asked regardless.
        """
        pairs = [(inst, self.state.group_of(inst.node)) for inst in list(self.instances.values())]
        for err in await self.providers.terminate(pairs, grace_s):
            log.error("terminating a node failed during delete", exc_info=err)

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
        await self._feed(HealthTick(self.host.deleting, self.host.clock()))

    async def reconcile(self) -> list[Instance]:
        """Terminate the cluster's instances that no record knows; return them."""
        if self.host.deleting:
            return []
        providers = self.providers.distinct()
        found: list[tuple[int, Instance]] = []
        for index, provider in enumerate(providers):
            try:
                found += [(index, inst) for inst in await provider.describe(self.cluster)]
            except ProviderError as exc:
                log.warning("cannot list the instances of %s (%s): %s", self.cluster, exc.code, exc)
        # Compared after the listing: what was launched meanwhile is recorded or still launching.
        store = self.host.store
        with store.reading() as conn:
            stored = frozenset(str(inst["instance_id"]) for _, _, inst in store.node_instances(conn))
        pending = set(self._queued)
        event = Listed(tuple(f for f in found if f[1].node not in pending), stored, self.host.deleting)
        instructions = self.state.handle(event)
        orphans = [i for ins in instructions if isinstance(ins, Terminate) for _, i in ins.instances]
        await self._execute(instructions, providers)
        return orphans

    # ------------------------------------------------------------------------------------------
    # carrying out
    # ------------------------------------------------------------------------------------------

    async def _feed(self, event: FleetEvent) -> None:
        await self._execute(self.state.handle(event), self.providers.distinct())

    async def _execute(self, instructions: list[FleetInstruction], providers: list[Provider]) -> None:
        """Carry out ``instructions`` in order; provider calls of one batch run concurrently."""
        calls = []
        for ins in instructions:
            if isinstance(ins, Note):
                (log.warning if ins.level == "warning" else log.info)("%s", ins.text)
            elif isinstance(ins, Record):
                self._record(ins.instances)
            elif isinstance(ins, Commit):
                self._commit(ins)
            elif isinstance(ins, Protect):
                self.host.protect(ins.queues, ins.reason)
            elif isinstance(ins, Create):
                calls.append(self._create(ins))
            elif isinstance(ins, Terminate):
                calls.append(self._terminate(ins, providers))
            elif isinstance(ins, PowerDown):
                calls.append(self._power_down(ins))
            elif isinstance(ins, Kill):
                calls.append(self._kill(ins))
            elif isinstance(ins, CheckAlive):
                calls.append(self._check(ins))
        if calls:
            await asyncio.gather(*calls)

    def _record(self, instances: Sequence[Instance]) -> None:
        store = self.host.store

        def write(conn: Connection) -> None:
            for inst in instances:
                store.set_node_instance(conn, inst.node, inst.to_json())

        self.host.commit(extra=write)

    def _commit(self, ins: Commit) -> None:
        store = self.host.store

        def forget(conn: Connection) -> None:
            for name in ins.forget:
                store.set_node_instance(conn, name, None)

        self.host.commit(list(ins.actions), extra=forget if ins.forget else None)
        if ins.nodes_changed:
            self.host.nodes_changed()

    async def _create(self, ins: Create) -> None:
        engine = self.host.engine
        names = list(ins.names)
        # A fresh token per request: a retry of this very request may reuse it, a new one may not.
        token = secrets.token_hex(16)
        # Each agent joins with a credential of its own, good for its node only; the head node
        # keeps only its digest (recorded with the instance, checked when the agent says hello).
        joins = {name: secrets.token_hex(32) for name in names}
        bootstrap = replace(self.bootstrap, head=self.host.agent_address, join=joins)
        provider = self.providers.for_group(ins.group)
        try:
            result = await provider.create(
                self._node_group(engine.nodes[names[0]].defn), names, token, bootstrap
            )
        except ProviderError as exc:
            result = CreateResult([], {n: exc for n in names})
        credentials = {name: {"join": secret_digest(join)} for name, join in joins.items()}
        await self._feed(Created(ins.group, ins.names, result, self.host.clock(), credentials))

    async def _terminate(self, ins: Terminate, providers: list[Provider]) -> None:
        batches: dict[int, tuple[Provider, list[Instance]]] = {}
        for index, inst in ins.instances:
            provider = providers[index] if index is not None else self.provider_of(inst)
            batches.setdefault(id(provider), (provider, []))[1].append(inst)
        results = await asyncio.gather(
            *(p.terminate(insts, 0.0) for p, insts in batches.values()), return_exceptions=True
        )
        for err in results:
            if isinstance(err, BaseException):
                log.error("terminating an %s instance failed", ins.why, exc_info=err)

    async def _power_down(self, ins: PowerDown) -> None:
        try:
            await self.host.release_agent(ins.name, shutdown=True)
            if ins.instance is not None:
                await self.provider_of(ins.instance).terminate([ins.instance], TERMINATE_GRACE_S)
        except BaseException:
            await self._feed(Abandoned(ins.name))  # the instance may live on: it stays recorded
            raise
        await self._feed(PoweredDown(ins.name, self.host.clock()))

    async def _kill(self, ins: Kill) -> None:
        # The order matters: the engine requeues the node's jobs (Killed) only once its instance,
        # and any process a job left on it, is gone, so two runs never overlap.
        try:
            await self.host.release_agent(ins.name, shutdown=False)
            if ins.instance is not None:
                await self.provider_of(ins.instance).terminate([ins.instance], 0.0)
        except Exception as exc:
            # Not gone for sure (its host cannot be reached): its jobs are not requeued, yet.
            await self._feed(
                Abandoned(ins.name, self.host.clock(), str(exc) or type(exc).__name__, kill=True)
            )
            return
        except BaseException:
            await self._feed(Abandoned(ins.name))
            raise
        await self._feed(Killed(ins.name, ins.reason, self.host.clock()))

    async def _check(self, ins: CheckAlive) -> None:
        alive = await self.provider_of(ins.instance).is_alive(ins.instance)
        await self._feed(AliveChecked(ins.name, ins.instance.instance_id, alive))

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
            capacity_type=self.capacity_types.get(defn.group, "ONDEMAND"),
            instance_types=self.instance_types.get(defn.group, ()),
        )

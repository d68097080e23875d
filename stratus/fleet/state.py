"""The fleet's decisions: events in, instructions out, no provider call or await of its own.

What the fleet knows (the recorded instance of each node, the launches and terminations under
way, compute resources cooling down after a capacity error) changes only in
:meth:`FleetState.handle`. The runtime (:class:`stratus.fleet.fleet.Fleet`) carries out the
instructions, calls the providers, and feeds every result back in as an event, so nothing is
decided after an await on a stale view: a provider's answer is judged against the state as it
is when the answer arrives. Launch batching, cool-downs, the all-or-nothing rule, unwanted
instances, health and orphans are tested here with no process or socket.

Guarantees of the instructions, kept by the runtime executing them in order:

* :class:`Record` stores instances (one transaction) before anything may use them; an instance
  whose node stopped wanting it while it launched is terminated instead.
* A node is failed (:class:`Commit` with the engine's ``node_lost`` actions) only after the
  :class:`Kill` of its instance has completed (the ``Killed`` event), so a requeued job never
  overlaps a run left on the failed node.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from stratus.engine.engine import Engine
from stratus.engine.model import Action
from stratus.engine.states import NodeState
from stratus.providers.base import CapacityError, CreateResult, Instance, ProviderError

CAPACITY_COOLDOWN_S = 60.0
_LIVE = (NodeState.UP, NodeState.POWERING_UP)


def resume_failure(code: str) -> str:
    """The node reason of a launch that failed (as ParallelCluster's resume program words it)."""
    return f"(Code:{code})Failure when resuming nodes"


# -- events ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LaunchRequested:
    """The engine powers these nodes up (one scheduling pass's worth)."""

    names: tuple[str, ...]
    now: float


@dataclass(frozen=True, slots=True)
class Created:
    """A provider answered a ``Create``; ``error`` when the whole call failed."""

    group: str
    names: tuple[str, ...]
    result: CreateResult
    now: float
    credentials: dict[str, dict[str, str]] = field(default_factory=dict)  # node -> to record


@dataclass(frozen=True, slots=True)
class PowerDownRequested:
    name: str


@dataclass(frozen=True, slots=True)
class PoweredDown:
    """A ``PowerDown`` completed: the instance is gone."""

    name: str
    now: float


@dataclass(frozen=True, slots=True)
class FailRequested:
    """``name`` failed (its agent stayed away, its instance died, its launch failed)."""

    name: str
    reason: str


@dataclass(frozen=True, slots=True)
class Killed:
    """A ``Kill`` completed: nothing of the failed node runs any more."""

    name: str
    reason: str
    now: float


@dataclass(frozen=True, slots=True)
class Abandoned:
    """A ``PowerDown`` or ``Kill`` failed: the node is no longer being terminated."""

    name: str


@dataclass(frozen=True, slots=True)
class HealthTick:
    deleting: bool = False


@dataclass(frozen=True, slots=True)
class AliveChecked:
    name: str
    instance_id: str
    alive: bool


@dataclass(frozen=True, slots=True)
class Listed:
    """What the providers list for the cluster, and the instance ids the store records."""

    found: tuple[tuple[int, Instance], ...]  # (provider index, instance)
    stored: frozenset[str]
    deleting: bool = False


FleetEvent = (
    LaunchRequested
    | Created
    | PowerDownRequested
    | PoweredDown
    | FailRequested
    | Killed
    | Abandoned
    | HealthTick
    | AliveChecked
    | Listed
)

# -- instructions ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Create:
    """Ask the group's provider for instances for ``names``; feed back ``Created``."""

    group: str
    names: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Record:
    """Store these instances (and tell the engine their ids) in one transaction."""

    instances: tuple[Instance, ...]


@dataclass(frozen=True, slots=True)
class Terminate:
    """Terminate instances nobody wants (unwanted launches, orphans); nothing is fed back."""

    instances: tuple[tuple[int | None, Instance], ...]  # (provider index if known, instance)
    why: str


@dataclass(frozen=True, slots=True)
class PowerDown:
    """Ask the node's agent to shut down, terminate its instance; feed back ``PoweredDown``."""

    name: str
    instance: Instance | None


@dataclass(frozen=True, slots=True)
class Kill:
    """Forget the node's agent, terminate its instance at once; feed back ``Killed``."""

    name: str
    instance: Instance | None
    reason: str


@dataclass(frozen=True, slots=True)
class CheckAlive:
    """Ask the provider whether the instance still runs; feed back ``AliveChecked``."""

    name: str
    instance: Instance


@dataclass(frozen=True, slots=True)
class Commit:
    """Store the engine's changes (and forget the instances of ``forget``), then act."""

    actions: tuple[Action, ...] = ()
    forget: tuple[str, ...] = ()
    nodes_changed: bool = False


@dataclass(frozen=True, slots=True)
class Note:
    """Something worth a line in the head node's log."""

    level: str  # "info" | "warning"
    text: str


FleetInstruction = Create | Record | Terminate | PowerDown | Kill | CheckAlive | Commit | Note


class FleetState:
    """The instances of one cluster's nodes and the provider calls under way, as decided."""

    def __init__(
        self,
        engine: Engine,
        *,
        capacity_cooldown_s: float = CAPACITY_COOLDOWN_S,
        all_or_nothing: bool = False,
    ) -> None:
        self.engine = engine
        self.capacity_cooldown_s = capacity_cooldown_s
        self.all_or_nothing = all_or_nothing
        self.instances: dict[str, Instance] = {}
        self.launching: set[str] = set()
        self.terminating: set[str] = set()
        self.cooling: dict[str, tuple[float, str]] = {}  # group -> (until, error code)

    def busy(self, name: str) -> bool:
        """A launch or termination of the node is under way (its state is about to change)."""
        return name in self.launching or name in self.terminating

    def cooling_down(self, group: str, now: float) -> bool:
        entry = self.cooling.get(group)
        return entry is not None and now < entry[0]

    def group_of(self, name: str) -> str:
        node = self.engine.nodes.get(name)
        return node.defn.group if node is not None else ""

    # -- the state machine ----------------------------------------------------------------------

    def handle(self, event: FleetEvent) -> list[FleetInstruction]:
        if isinstance(event, LaunchRequested):
            return self._launch(event)
        if isinstance(event, Created):
            return self._created(event)
        if isinstance(event, PowerDownRequested):
            if event.name in self.terminating:
                return []
            self.terminating.add(event.name)
            return [PowerDown(event.name, self.instances.get(event.name))]
        if isinstance(event, PoweredDown):
            self.terminating.discard(event.name)
            self.instances.pop(event.name, None)
            self.engine.node_terminated(event.name, event.now)
            return [Commit(forget=(event.name,))]
        if isinstance(event, FailRequested):
            if event.name in self.terminating:
                return []
            self.terminating.add(event.name)
            return [Kill(event.name, self.instances.get(event.name), event.reason)]
        if isinstance(event, Killed):
            self.terminating.discard(event.name)
            actions = self.engine.node_lost(event.name, event.now, event.reason)
            return [Commit(tuple(actions), nodes_changed=True)]
        if isinstance(event, Abandoned):
            self.terminating.discard(event.name)
            return []
        if isinstance(event, HealthTick):
            return self._health(event)
        if isinstance(event, AliveChecked):
            return self._alive(event)
        return self._listed(event)

    def _launch(self, ev: LaunchRequested) -> list[FleetInstruction]:
        groups: dict[str, list[str]] = {}
        for name in dict.fromkeys(ev.names):
            if name not in self.launching and name not in self.instances and name in self.engine.nodes:
                groups.setdefault(self.group_of(name), []).append(name)
        out: list[FleetInstruction] = []
        for group, names in groups.items():
            cooling = self.cooling.get(group)
            if cooling is not None and ev.now < cooling[0]:
                out.append(
                    Note(
                        "warning",
                        f"not launching {','.join(names)}: {group} is cooling down after {cooling[1]}",
                    )
                )
                out += [i for n in names for i in self.handle(FailRequested(n, resume_failure(cooling[1])))]
                continue
            self.launching.update(names)
            out.append(Create(group, tuple(names)))
        return out

    def _created(self, ev: Created) -> list[FleetInstruction]:
        names = ev.names
        result = ev.result
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
        capacity = [e for e in failures.values() if isinstance(e, CapacityError)]
        if capacity:
            self.cooling[ev.group] = (ev.now + self.capacity_cooldown_s, capacity[0].code)
        wanted: list[Instance] = []
        for name, inst in launched.items():
            if self.engine.nodes[name].state != NodeState.POWERING_UP:
                unwanted.append(inst)  # powered down or failed meanwhile: no longer wanted
            else:
                creds = ev.credentials.get(name)
                wanted.append(replace(inst, credentials=creds) if creds else inst)
        # Recorded in the same step as the launch ends: an agent waiting for it sees it.
        self.launching.difference_update(names)
        out: list[FleetInstruction] = []
        for inst in wanted:
            self.instances[inst.node] = inst
            self.engine.nodes[inst.node].instance_id = inst.instance_id
            self.engine.dirty_nodes.add(inst.node)
        if wanted:
            out.append(Record(tuple(wanted)))
            out += [Note("info", f"launched {i.node} as {i.instance_id}") for i in wanted]
        if unwanted:
            out.append(Terminate(tuple((None, i) for i in unwanted), "unwanted"))
        for name, err in failures.items():
            out.append(Note("warning", f"launch of {name} failed: {err} ({err.code})"))
            out += self.handle(FailRequested(name, resume_failure(err.code)))
        return out

    def _health(self, ev: HealthTick) -> list[FleetInstruction]:
        if ev.deleting:
            return []
        out: list[FleetInstruction] = []
        for name, node in self.engine.nodes.items():
            if node.state not in _LIVE or self.busy(name):
                continue
            inst = self.instances.get(name)
            if inst is None:
                if node.state == NodeState.UP:
                    out += self.handle(FailRequested(name, "Not responding: no instance"))
                continue
            out.append(CheckAlive(name, inst))
        return out

    def _alive(self, ev: AliveChecked) -> list[FleetInstruction]:
        inst = self.instances.get(ev.name)
        node = self.engine.nodes.get(ev.name)
        # Judged against the state now: the same instance, still live, nobody terminating it.
        if ev.alive or inst is None or inst.instance_id != ev.instance_id or node is None:
            return []
        if node.state not in _LIVE or self.busy(ev.name):
            return []
        return [
            Note("warning", f"node {ev.name}: agent process is gone"),
            *self.handle(FailRequested(ev.name, "Not responding")),
        ]

    def _listed(self, ev: Listed) -> list[FleetInstruction]:
        """Orphans: listed for the cluster, recorded nowhere, no launch for their node under way."""
        if ev.deleting:
            return []
        known = set(ev.stored) | {inst.instance_id for inst in self.instances.values()}
        orphans = [
            (index, inst)
            for index, inst in ev.found
            if inst.instance_id not in known and inst.node not in self.launching
        ]
        if not orphans:
            return []
        notes: list[FleetInstruction] = [
            Note("warning", f"terminating {inst.instance_id} of node {inst.node}: no record knows it")
            for _, inst in orphans
        ]
        return [*notes, Terminate(tuple((i, inst) for i, inst in orphans), "orphan")]

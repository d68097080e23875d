"""The fleet's decisions: events in, instructions out, no provider call or await of its own.

What the fleet knows (the recorded instance of each node, the launches and terminations under
way, compute resources disabled after a capacity error, bootstrap failures) changes only in
:meth:`FleetState.handle`. The runtime (:class:`stratus.fleet.fleet.Fleet`) carries out the
instructions, calls the providers, and feeds every result back in as an event, so nothing is
decided after an await on a stale view: a provider's answer is judged against the state as it
is when the answer arrives. Launch batching, the capacity fail-over, protected mode, the
all-or-nothing rule, unwanted instances, health and orphans are tested here with no process or
socket.

Guarantees of the instructions, kept by the runtime executing them in order:

* :class:`Record` stores instances (one transaction) before anything may use them; an instance
  whose node stopped wanting it while it launched is terminated instead.
* A node is failed (:class:`Commit` with the engine's ``node_lost`` actions) only after the
  :class:`Kill` of its instance has completed (the ``Killed`` event), so a requeued job never
  overlaps a run left on the failed node.

Insufficient capacity (ParallelCluster's fast fail-over, as its clustermgtd does it): when a
dynamic node fails to launch with one of :data:`INSUFFICIENT_CAPACITY_CODES`, its compute
resource is disabled for ``insufficient_capacity_timeout_s``: every powered-down dynamic node of
it is held DOWN (Slurm shows ``down~``) with the reason ``(Code:<code>)Temporarily disabling node
due to insufficient capacity``, so the scheduler places waiting jobs on the queue's other compute
resources at once; a dynamic node of it asked to launch meanwhile fails at once with the same
code, and one that powers down meanwhile is held down too. Static and running nodes are left
alone. Once the timeout is over the held nodes are powered-down (``idle~``) again. The deadline
survives a restart of the head node: it is rebuilt from the held nodes' stored state (when they
went down, plus the timeout). A timeout <= 0 turns the fail-over off.

Failed nodes (as clustermgtd handles a node whose resume failed): a dynamic node that failed
while it powered up (its launch failed for any reason but insufficient capacity with the
fail-over on, its agent did not register within the resume timeout, its bootstrap failed) stays
DOWN once its instance is gone (Slurm shows ``down~``), its reason kept (``(Code:<code>)Failure
when resuming nodes``, ``ResumeTimeout reached``, the bootstrap error), for ``failed_node_hold_s``
from when it went down; no pass launches it meanwhile, so its job waits or runs on the compute
resource's other nodes instead of relaunching it at once. Then the health pass powers it down
(``idle~``, reason cleared, recorded with the cause ``timer``), and it may be launched again. A
node that failed once up, and a static node (replaced), are not held. The hold needs no memory
of its own: after a restart of the head node it follows from the held nodes' stored state (when
they went down, plus the hold). A hold <= 0 turns it off.

Protected mode: a node that went from POWERING_UP to DOWN (its launch failed for any reason but
insufficient capacity, its agent did not register within the resume timeout, its bootstrap
failed, its machine died while it booted) is a bootstrap failure of its compute resource; a node
whose agent registers resets its compute resource's count. The runtime reports every node
transition it stores (:class:`NodesMoved`). When a queue's compute resources add up to
``protected_failure_count`` failures or more and no job runs in the queue, :class:`Protect` asks
the head node to make the queue's partition INACTIVE and the compute fleet PROTECTED: nothing
is launched there any more until the fleet is started again (:class:`FleetStarted`, which also
resets every count). Counts live in memory only: a restarted head node counts from zero, while
an INACTIVE partition and the PROTECTED status, which are stored, stay as they were. A count
<= 0 turns protected mode off.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

from stratus.engine.engine import Engine
from stratus.engine.model import Action, Transition
from stratus.engine.states import JobState, NodeState
from stratus.providers.base import HOST_UNREACHABLE, CreateResult, Instance, ProviderError

#: ParallelCluster's insufficient capacity error codes (a launch failing with one of them
#: disables the node's compute resource for a while instead of counting as a bootstrap failure).
INSUFFICIENT_CAPACITY_CODES = frozenset(
    {
        "InsufficientInstanceCapacity",
        "InsufficientHostCapacity",
        "InsufficientReservedInstanceCapacity",
        "MaxSpotInstanceCountExceeded",
        "SpotMaxPriceTooLow",
        "Unsupported",
    }
)
#: Failures that say nothing about how nodes boot, so not counted towards protected mode: no
#: capacity, and a host that cannot be reached (it is down, not badly configured).
NOT_BOOTSTRAP_FAILURES = INSUFFICIENT_CAPACITY_CODES | {HOST_UNREACHABLE}
INSUFFICIENT_CAPACITY_TIMEOUT_S = 600.0
#: How long a dynamic node that failed to power up stays ``down~`` before it may be launched
#: again (clustermgtd's loop time: it powers such nodes down on its next loop).
FAILED_NODE_HOLD_S = 60.0
FAILED_NODE_HOLD_TEXT = "failed node hold over"
#: How long a failed node's machine may stay unreachable (so that nothing can make sure its jobs
#: stopped) before its jobs are requeued anyway: ParallelCluster's SlurmdTimeout.
UNREACHABLE_TIMEOUT_S = 180.0
PROTECTED_FAILURE_COUNT = 10
CAPACITY_HOLD_TEXT = "Temporarily disabling node due to insufficient capacity"
_LIVE = (NodeState.UP, NodeState.POWERING_UP)
_RUNNING = (JobState.RUNNING, JobState.COMPLETING)
_CODE = re.compile(r"\(Code:([^)]*)\)")


def resume_failure(code: str) -> str:
    """The node reason of a launch that failed (as ParallelCluster's resume program words it)."""
    return f"(Code:{code})Failure when resuming nodes"


def capacity_hold(code: str) -> str:
    """The reason of a node held down while its compute resource has no capacity."""
    return f"(Code:{code}){CAPACITY_HOLD_TEXT}"


def reason_code(reason: str | None) -> str | None:
    """The error code a node reason starts with (``(Code:X)...``), or None."""
    m = _CODE.match(reason or "")
    return m.group(1) if m else None


def is_capacity_hold(reason: str | None) -> bool:
    """Whether ``reason`` is that of a node held down for insufficient capacity."""
    return reason is not None and reason.endswith(CAPACITY_HOLD_TEXT) and reason_code(reason) is not None


def queue_of(group: str) -> str:
    """The queue (partition) of compute resource ``group`` (``queue/compute_resource``)."""
    return group.partition("/")[0]


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
    """A ``PowerDown`` or ``Kill`` failed: the node is no longer being terminated.

    ``kill``: it was a ``Kill`` (a failed node's), failing with ``error`` at ``now``.
    """

    name: str
    now: float = 0.0
    error: str = ""
    kill: bool = False


@dataclass(frozen=True, slots=True)
class HealthTick:
    """Time passed (about once a second): health checks, capacity timeouts, protected mode."""

    deleting: bool = False
    now: float = 0.0


@dataclass(frozen=True, slots=True)
class NodesMoved:
    """Node transitions the head node stored (the engine's journal, in order)."""

    transitions: tuple[Transition, ...]


@dataclass(frozen=True, slots=True)
class FleetStarted:
    """The compute fleet was (re)started: bootstrap failures are counted from zero again."""


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
    | NodesMoved
    | FleetStarted
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


@dataclass(frozen=True, slots=True)
class Protect:
    """Protected mode: make the partitions of ``queues`` INACTIVE and the fleet PROTECTED."""

    queues: tuple[str, ...]
    reason: str


FleetInstruction = Create | Record | Terminate | PowerDown | Kill | CheckAlive | Commit | Note | Protect


class FleetState:
    """The instances of one cluster's nodes and the provider calls under way, as decided."""

    def __init__(
        self,
        engine: Engine,
        *,
        insufficient_capacity_timeout_s: float = INSUFFICIENT_CAPACITY_TIMEOUT_S,
        protected_failure_count: int = PROTECTED_FAILURE_COUNT,
        all_or_nothing: bool = False,
        failed_node_hold_s: float = FAILED_NODE_HOLD_S,
        unreachable_timeout_s: float = UNREACHABLE_TIMEOUT_S,
    ) -> None:
        self.engine = engine
        self.unreachable_timeout_s = unreachable_timeout_s
        self.unreachable: dict[str, float] = {}  # failed node -> since when it cannot be stopped
        self.insufficient_capacity_timeout_s = insufficient_capacity_timeout_s
        self.failed_node_hold_s = failed_node_hold_s
        self.protected_failure_count = protected_failure_count
        self.all_or_nothing = all_or_nothing
        self.instances: dict[str, Instance] = {}
        self.launching: set[str] = set()
        self.terminating: set[str] = set()
        self.disabled: dict[str, tuple[float, str]] = {}  # group -> (until, error code)
        self.failures: dict[str, int] = {}  # group -> bootstrap failures since its last success
        self.protected: set[str] = set()  # queues protected mode was asked for

    def busy(self, name: str) -> bool:
        """A launch or termination of the node is under way (its state is about to change)."""
        return name in self.launching or name in self.terminating

    def capacity_disabled(self, group: str, now: float) -> bool:
        """Whether compute resource ``group`` is disabled after an insufficient capacity error."""
        entry = self.disabled.get(group)
        return entry is not None and now < entry[0]

    def queue_failures(self, queue: str) -> int:
        """The bootstrap failures counted for ``queue``'s compute resources."""
        return sum(n for group, n in self.failures.items() if queue_of(group) == queue)

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
            return self._powered_down(event)
        if isinstance(event, FailRequested):
            if event.name in self.terminating:
                return []
            self.terminating.add(event.name)
            return [Kill(event.name, self.instances.get(event.name), event.reason)]
        if isinstance(event, Killed):
            self.terminating.discard(event.name)
            self.unreachable.pop(event.name, None)
            actions = self.engine.node_lost(event.name, event.now, event.reason)
            return [Commit(tuple(actions), nodes_changed=True)]
        if isinstance(event, Abandoned):
            self.terminating.discard(event.name)
            return self._unreachable(event) if event.kill else []
        if isinstance(event, HealthTick):
            return self._health(event)
        if isinstance(event, AliveChecked):
            return self._alive(event)
        if isinstance(event, NodesMoved):
            return self._moved(event)
        if isinstance(event, FleetStarted):
            self.failures.clear()
            self.protected.clear()
            return []
        return self._listed(event)

    def _launch(self, ev: LaunchRequested) -> list[FleetInstruction]:
        groups: dict[str, list[str]] = {}
        for name in dict.fromkeys(ev.names):
            if name not in self.launching and name not in self.instances and name in self.engine.nodes:
                groups.setdefault(self.group_of(name), []).append(name)
        out: list[FleetInstruction] = []
        for group, names in groups.items():
            disabled = self.disabled.get(group)
            if disabled is not None and ev.now < disabled[0]:
                # Asked before the compute resource was disabled: fail at once, as the provider
                # would, so their jobs go elsewhere now rather than after a launch attempt.
                held = [n for n in names if not self.engine.nodes[n].defn.static]
                if held:
                    out.append(
                        Note(
                            "warning",
                            f"not launching {','.join(held)}: {group} is disabled after {disabled[1]}",
                        )
                    )
                    out += [
                        i for n in held for i in self.handle(FailRequested(n, resume_failure(disabled[1])))
                    ]
                names = [n for n in names if n not in held]
                if not names:
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
        capacity = [
            err.code
            for name, err in failures.items()
            if err.code in INSUFFICIENT_CAPACITY_CODES and not self.engine.nodes[name].defn.static
        ]
        if capacity:
            out += self._disable(ev.group, capacity[0], ev.now)
        return out

    # -- insufficient capacity ------------------------------------------------------------------

    def _disable(self, group: str, code: str, now: float) -> list[FleetInstruction]:
        """A dynamic node of ``group`` found no capacity: hold its powered-down nodes down."""
        timeout = self.insufficient_capacity_timeout_s
        if timeout <= 0:
            return []
        self.disabled[group] = (now + timeout, code)
        held = self.engine.hold_down(self.engine.groups.get(group, ()), now, "capacity", capacity_hold(code))
        text = (
            f"{group}: {code}: disabling the compute resource for {timeout:g} s"
            f" (nodes set down: {','.join(held) or 'none'});"
            " its queue's other compute resources take its jobs"
        )
        return [Note("warning", text), Commit(nodes_changed=True)]

    def _powered_down(self, ev: PoweredDown) -> list[FleetInstruction]:
        self.terminating.discard(ev.name)
        self.instances.pop(ev.name, None)
        group = self.group_of(ev.name)
        disabled = self.disabled.get(group)
        capacity = disabled is not None and ev.now < disabled[0]
        # A node that failed to boot stays down~ with its reason (released by the health pass),
        # unless its compute resource is disabled: then it is held for capacity instead.
        self.engine.node_terminated(ev.name, ev.now, hold=self.failed_node_hold_s > 0 and not capacity)
        if disabled is not None and capacity:
            # Stored by the same commit: no pass picks the node in between. Its reason dates
            # from when the compute resource was disabled, as its other nodes' do.
            since = disabled[0] - self.insufficient_capacity_timeout_s
            self.engine.hold_down((ev.name,), ev.now, "capacity", capacity_hold(disabled[1]), since)
        return [Commit(forget=(ev.name,))]

    def _held(self) -> tuple[dict[str, list[str]], list[str]]:
        """The dynamic nodes held DOWN without an instance: those held for insufficient capacity
        (by compute resource), and the others (failed to boot), in node order."""
        capacity: dict[str, list[str]] = {}
        failed: list[str] = []
        for name, node in self.engine.nodes.items():
            if (
                node.state != NodeState.DOWN
                or node.defn.static
                or node.instance_id is not None
                or self.busy(name)
            ):
                continue
            if is_capacity_hold(node.reason):
                capacity.setdefault(node.defn.group, []).append(name)
            else:
                failed.append(name)
        return capacity, failed

    def _capacity_timeouts(self, now: float, held: dict[str, list[str]]) -> list[FleetInstruction]:
        """Release the nodes of compute resources whose insufficient capacity timeout is over."""
        for group, names in held.items():
            if group not in self.disabled:
                # Held by an earlier head node: its deadline follows from when they went down.
                since = min(self.engine.nodes[n].state_time for n in names)
                code = reason_code(self.engine.nodes[names[0]].reason) or ""
                self.disabled[group] = (since + self.insufficient_capacity_timeout_s, code)
        out: list[FleetInstruction] = []
        for group, (until, code) in list(self.disabled.items()):
            if now < until:
                continue
            del self.disabled[group]
            released = self.engine.release_down(
                held.get(group, ()), now, "timer", "insufficient capacity timeout"
            )
            text = f"{group}: insufficient capacity timeout after {code} over; enabling it again"
            out.append(Note("info", f"{text} (nodes back to power saving: {','.join(released) or 'none'})"))
            if released:
                out.append(Commit(nodes_changed=True))
        return out

    # -- failed nodes ---------------------------------------------------------------------------

    def _failed_holds(self, now: float, failed: list[str]) -> list[FleetInstruction]:
        """Power down the nodes held down after failing to boot whose hold is over."""
        hold = max(self.failed_node_hold_s, 0.0)
        nodes = self.engine.nodes
        due = [n for n in failed if now >= nodes[n].state_time + hold]
        if not due:
            return []
        reasons = {n: nodes[n].reason for n in due}
        released = self.engine.release_down(due, now, "timer", FAILED_NODE_HOLD_TEXT)
        if not released:
            return []
        out: list[FleetInstruction] = [
            Note("info", f"node {n}: held down after {reasons[n]} for {hold:g} s; back to power saving")
            for n in released
        ]
        # A compute resource disabled meanwhile holds them for capacity from now on.
        for name in released:
            group = self.group_of(name)
            disabled = self.disabled.get(group)
            if disabled is not None and now < disabled[0]:
                since = disabled[0] - self.insufficient_capacity_timeout_s
                self.engine.hold_down((name,), now, "capacity", capacity_hold(disabled[1]), since)
        out.append(Commit(nodes_changed=True))
        return out

    # -- protected mode -------------------------------------------------------------------------

    def _moved(self, ev: NodesMoved) -> list[FleetInstruction]:
        """Count bootstrap failures (a node that left POWERING_UP for DOWN) and successes."""
        out: list[FleetInstruction] = []
        queues: list[str] = []
        for t in ev.transitions:
            if t.entity != "node" or t.old != NodeState.POWERING_UP or t.key not in self.engine.nodes:
                continue
            group = self.group_of(t.key)
            if t.new == NodeState.UP:
                self.failures.pop(group, None)
            elif t.new == NodeState.DOWN and reason_code(t.reason) not in NOT_BOOTSTRAP_FAILURES:
                count = self.failures[group] = self.failures.get(group, 0) + 1
                out.append(Note("warning", f"{group}: bootstrap failure {count} ({t.key}: {t.reason})"))
                queues.append(queue_of(group))
        for queue in dict.fromkeys(queues):
            out += self._protect(queue)
        return out

    def _protect(self, queue: str) -> list[FleetInstruction]:
        """Protected mode for ``queue`` if its failures reached the limit and no job runs there."""
        limit = self.protected_failure_count
        if limit <= 0 or queue in self.protected:
            return []
        total = self.queue_failures(queue)
        part = self.engine.partitions.get(queue)
        if total < limit or part is None or not part.up:
            return []
        if any(j.state in _RUNNING and j.partition == queue for j in self.engine.jobs.values()):
            return []  # not while jobs run there: checked again every tick
        self.protected.add(queue)
        reason = f"{total} node bootstrap failures in queue {queue}"
        text = (
            f"{reason} (protected failure count {limit}): setting the cluster into protected mode,"
            f" partition {queue} INACTIVE. Investigate the failures, then start the compute fleet"
            " again (update-compute-fleet --status START_REQUESTED)"
        )
        return [Note("warning", text), Protect((queue,), reason)]

    def _unreachable(self, ev: Abandoned) -> list[FleetInstruction]:
        """A failed node's machine could not be stopped (its host unreachable): its jobs stay
        theirs (they may still run there) until it has been so for ``unreachable_timeout_s``;
        then, as Slurm does once a node stops responding for SlurmdTimeout, the node goes DOWN
        and its jobs are requeued (``NODE_FAIL``). Its instance is forgotten by the node, not by
        the provider: reconciliation terminates it once its host answers again, and an agent of
        it that comes back is refused (its runs are no longer wanted)."""
        name = ev.name
        since = self.unreachable.setdefault(name, ev.now)
        node = self.engine.nodes.get(name)
        if node is None or node.state not in _LIVE:
            self.unreachable.pop(name, None)
            return []
        if ev.now - since < self.unreachable_timeout_s:
            if since != ev.now:
                return []
            text = (
                f"node {name}: cannot make sure it stopped ({ev.error}); its jobs are requeued if it"
                f" stays so for {self.unreachable_timeout_s:g} s"
            )
            return [Note("warning", text)]
        del self.unreachable[name]
        self.instances.pop(name, None)
        node.instance_id = None
        reason = f"Not responding: {ev.error}"[:200]
        actions = self.engine.node_lost(name, ev.now, reason)
        text = f"node {name}: unreachable for {ev.now - since:.0f} s: set down, its jobs requeued"
        return [Note("warning", text), Commit(tuple(actions), forget=(name,), nodes_changed=True)]

    def _health(self, ev: HealthTick) -> list[FleetInstruction]:
        if ev.deleting:
            return []
        capacity, failed = self._held()
        out = self._capacity_timeouts(ev.now, capacity)
        out += self._failed_holds(ev.now, failed)
        for queue in dict.fromkeys(queue_of(g) for g in self.failures):
            out += self._protect(queue)
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

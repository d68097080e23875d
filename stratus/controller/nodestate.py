"""What the head node knows of its agents, changed only by events, deciding by instructions.

The node plane's decisions live here, with no socket, task or clock of their own: an event
(an agent joined with its hello, reported something, went away; a step started; time passed)
goes into :meth:`NodeState.handle`, which changes the engine and this record and returns the
instructions to carry out, in order. The runtime (:mod:`stratus.controller.nodeplane`) reads
and writes the sockets and carries the instructions out; so what happens on a reconnection, a
repeated report or a forged one is tested by feeding events and reading instructions.

Guarantees of the instructions, which the runtime keeps by executing them in order:

* :class:`Commit` comes before any instruction that tells an agent or a client about what it
  stores (acks after the ends they acknowledge are stored; launches after they are decided).
* A node is heard only about its own work: a run's end only from the run's batch host, a
  step's end only from a node the step runs on; anything else yields no engine change (a
  stale or forged end is still acknowledged, so the agent forgets it).
* On a (re)connection: every reported end is recorded once and acknowledged; a run the head
  node no longer wants is killed; a kill decided while the agent was away is sent again; a
  launch the agent never received is sent again; a COMPLETING run the agent no longer has is
  ended.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from stratus.agent.protocol import HEARTBEAT_S, Ack, Finished, Hello, Kill, Message, Started, StepFinished
from stratus.engine.engine import Engine
from stratus.engine.model import Action, LaunchJob
from stratus.engine.states import JobState
from stratus.engine.states import NodeState as NodeStatus

AGENT_SILENCE_S = 3 * HEARTBEAT_S  # a connected agent silent this long is hung
AGENT_RECONNECT_GRACE_S = 60.0  # an UP node whose agent stays away this long has failed

# -- events -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Joined:
    """An agent was admitted (its credentials checked) and said hello."""

    node: str
    hello: Hello
    instance_id: str
    now: float


@dataclass(frozen=True, slots=True)
class Reported:
    """A connected agent sent a message."""

    node: str
    msg: Message
    now: float


@dataclass(frozen=True, slots=True)
class Left:
    """An agent's connection ended."""

    node: str
    now: float


@dataclass(frozen=True, slots=True)
class StepStarted:
    """A job step was stored as started and handed to ``nodes``."""

    key: tuple[int, int, int]
    nodes: frozenset[str]


@dataclass(frozen=True, slots=True)
class Tick:
    """Time passed (about once a second)."""

    now: float
    deleting: bool = False


Event = Joined | Reported | Left | StepStarted | Tick

# -- instructions -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Commit:
    """Store what the engine changed (and measured usage), then carry out ``actions``."""

    actions: tuple[Action, ...] = ()
    usage: dict[tuple[int, int], dict[str, float]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Send:
    """Send ``msg`` to ``node``'s agent."""

    node: str
    msg: Message


@dataclass(frozen=True, slots=True)
class SendLaunch:
    """Build and send a run's launch to its batch host (the runtime owns the payloads)."""

    job_id: int
    run: int
    nodes: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class EndStep:
    """Store a job step's end."""

    key: tuple[int, int, int]
    state: str
    exit_code: int
    signal: int
    now: float
    usage: dict[str, float]


@dataclass(frozen=True, slots=True)
class Disconnect:
    """Close ``node``'s connection (its agent is hung)."""

    node: str
    silent_s: float


@dataclass(frozen=True, slots=True)
class FailNode:
    """``node`` failed: terminate its instance, then requeue its jobs."""

    node: str
    reason: str


@dataclass(frozen=True, slots=True)
class Ignored:
    """A report that changed nothing, and why (for the log)."""

    node: str
    why: str


Instruction = Commit | Send | SendLaunch | EndStep | Disconnect | FailNode | Ignored


@dataclass(slots=True)
class _OpenStep:
    nodes: set[str]
    codes: list[tuple[int, int]] = field(default_factory=list)  # (exit code, signal) per node
    usage: dict[str, float] = field(default_factory=dict)  # summed over the nodes so far


class NodeState:
    """The agents' side of the cluster state: who is connected, what runs where, open steps.

    ``has_instance`` tells whether a node has a recorded instance (the fleet's record); a node
    without one is the fleet's to fail, not this record's.
    """

    def __init__(
        self, engine: Engine, mounts: Mapping[str, tuple[tuple[str, str], ...]] | None = None
    ) -> None:
        self.engine = engine
        # node -> (mount directory, storage name) the node must have mounted to be admitted
        self.mounts = dict(mounts or {})
        self.running: dict[str, set[tuple[int, int]]] = {}  # connected node -> runs it has
        self.last_seen: dict[str, float] = {}
        self.away_since: dict[str, float] = {}
        self.open_steps: dict[tuple[int, int, int], _OpenStep] = {}

    def connected(self, node: str) -> bool:
        return node in self.running

    def restored(self, now: float) -> None:
        """After a restart no agent is connected yet: nodes with machines count as away."""
        for node in self.engine.nodes.values():
            if node.state in (
                NodeStatus.UP,
                NodeStatus.POWERING_UP,
                NodeStatus.POWERING_DOWN,
                NodeStatus.DOWN,
            ):
                self.away_since[node.name] = now

    def launched(self, node: str, job_id: int, run: int) -> None:
        """A launch was sent to ``node``'s agent: the run counts as there from now on."""
        if node in self.running:
            self.running[node].add((job_id, run))

    def released(self, node: str) -> None:
        """The node is being powered down or failed: forget its agent altogether."""
        self.running.pop(node, None)
        self.last_seen.pop(node, None)
        self.away_since.pop(node, None)

    # -- the state machine ----------------------------------------------------------------------

    def handle(self, event: Event) -> list[Instruction]:
        if isinstance(event, Joined):
            return self._joined(event)
        if isinstance(event, Reported):
            self.last_seen[event.node] = event.now
            return self._reported(event)
        if isinstance(event, Left):
            self.running.pop(event.node, None)
            self.last_seen.pop(event.node, None)
            self.away_since[event.node] = event.now
            if event.node in self.engine.nodes:
                self.engine.node_responding(event.node, False, event.now)
            return [Commit()]
        if isinstance(event, StepStarted):
            self.open_steps[event.key] = _OpenStep(set(event.nodes))
            return []
        return self._tick(event)

    def _joined(self, ev: Joined) -> list[Instruction]:
        engine = self.engine
        name, hello, now = ev.node, ev.hello, ev.now
        if hello.bootstrap_error:
            # The node did not boot (a custom action failed): it runs nothing, and is replaced
            # as any node that failed its bootstrap.
            return [FailNode(name, hello.bootstrap_error)]
        missing = [(d, s) for d, s in self.mounts.get(name, ()) if d not in hello.mounts]
        if missing:
            # Jobs whose data lives there would fail on this node: it is refused, and replaced
            # (or held down) as any node that failed its bootstrap.
            what = ", ".join(f"{d} (SharedStorage {s})" for d, s in missing)
            return [FailNode(name, f"Mount missing: {what}")]
        out: list[Instruction] = []
        actions: list[Action] = []
        usage: dict[tuple[int, int], dict[str, float]] = {}
        for rep in hello.finished:
            actions += self._ended(rep, name, now, usage, out)
        reported = {(r.job_id, r.run) for r in hello.running}
        for job_id, run in sorted(reported):
            job = engine.jobs.get(job_id)
            if job is None or job.run != run or job.state not in (JobState.RUNNING, JobState.COMPLETING):
                # A run the head node no longer wants (requeued or ended while they were apart).
                out.append(Send(name, Kill(job_id, run, "END", "KILL")))
            elif job.state == JobState.COMPLETING and job.final_state is not None:
                # A cancel or time limit decided while the agent was away: its kill was lost.
                out.append(Send(name, Kill(job_id, run, job.final_state.value, "TERM")))
        self.running[name] = set(reported)
        self.last_seen[name] = now
        self.away_since.pop(name, None)
        engine.node_responding(name, True, now)
        actions += engine.node_up(name, now, ev.instance_id)
        # Launches decided just now are sent by the commit; the others the agent never got.
        launching = {(a.job_id, a.run) for a in actions if isinstance(a, LaunchJob) and a.nodes[0] == name}
        finished = {(r.job_id, r.run) for r in hello.finished}
        later: list[Instruction] = []
        for job in list(engine.jobs.values()):
            key = (job.id, job.run)
            if (
                job.state in (JobState.RUNNING, JobState.COMPLETING)
                and not job.spec.interactive
                and job.alloc is not None
                and job.alloc.nodes[0] == name
                and key not in reported
                and key not in finished
                and key not in launching
            ):
                if job.state == JobState.COMPLETING:
                    # Being stopped, and its agent no longer has it: it has ended.
                    actions += engine.job_ended(job.id, job.run, now, signal=9)
                else:
                    later.append(SendLaunch(job.id, job.run, job.alloc.nodes))
        out.append(Commit(tuple(actions), usage))
        out += [Send(name, Ack(r.job_id, r.run)) for r in hello.finished]
        return out + later

    def _reported(self, ev: Reported) -> list[Instruction]:
        msg, name = ev.msg, ev.node
        if isinstance(msg, Finished):
            out: list[Instruction] = []
            usage: dict[tuple[int, int], dict[str, float]] = {}
            actions = self._ended(msg, name, ev.now, usage, out)
            self.running.get(name, set()).discard((msg.job_id, msg.run))
            return [*out, Commit(tuple(actions), usage), Send(name, Ack(msg.job_id, msg.run))]
        if isinstance(msg, Started):
            self.running.setdefault(name, set()).add((msg.job_id, msg.run))
            return []
        if isinstance(msg, StepFinished):
            return self._step_finished(msg, name, ev.now)
        return []

    def _ended(
        self,
        rep: Finished,
        node: str,
        now: float,
        usage: dict[tuple[int, int], dict[str, float]],
        out: list[Instruction],
    ) -> list[Action]:
        """The engine's actions for a run's end as ``node`` reports it (none if not its own)."""
        job = self.engine.jobs.get(rep.job_id)
        if job is not None and job.run == rep.run and job.alloc is not None and job.alloc.nodes[0] != node:
            why = f"a report on job {rep.job_id} run {rep.run}, which runs on {job.alloc.nodes[0]}"
            out.append(Ignored(node, why))
            return []
        if rep.error:
            out.append(Ignored(node, f"job {rep.job_id} run {rep.run}: {rep.error}"))
        if rep.usage:
            usage[(rep.job_id, rep.run)] = dict(rep.usage)
        end = min(rep.end_time or now, now)
        return self.engine.job_ended(
            rep.job_id, rep.run, end, exit_code=rep.exit_code, signal=rep.signal, out_of_memory=rep.oom
        )

    def _step_finished(self, msg: StepFinished, node: str, now: float) -> list[Instruction]:
        key = (msg.job_id, msg.run, msg.step_id)
        step = self.open_steps.get(key)
        if step is None:
            return []  # reported after a restart: the step is closed with its job
        if node not in step.nodes:
            return [Ignored(node, f"a report on step {key} it does not run")]
        step.nodes.discard(node)
        step.codes.append((msg.exit_code, msg.signal))
        total = step.usage
        for name, value in msg.usage.items():
            if name in ("utime", "stime"):
                total[name] = total.get(name, 0.0) + value  # CPU time adds up over nodes
            elif name == "maxrss_kb":
                total[name] = max(total.get(name, 0.0), value)  # the largest task's peak
        if step.nodes:
            return []
        del self.open_steps[key]
        code, sig = max(step.codes, key=lambda c: (c[1] != 0, c[0] or c[1]))
        state = "CANCELLED" if sig else ("COMPLETED" if code == 0 else "FAILED")
        return [EndStep(key, state, code, sig, now, total)]

    def _tick(self, ev: Tick) -> list[Instruction]:
        out: list[Instruction] = []
        for name in list(self.running):
            silent = ev.now - self.last_seen.get(name, ev.now)
            if silent > AGENT_SILENCE_S:
                out.append(Disconnect(name, silent))
        if ev.deleting:
            return out
        for name, since in list(self.away_since.items()):
            node = self.engine.nodes.get(name)
            if node is not None and node.state == NodeStatus.UP and ev.now - since > AGENT_RECONNECT_GRACE_S:
                out.append(FailNode(name, "Not responding"))
        return out

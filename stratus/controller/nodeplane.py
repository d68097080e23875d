"""The head node's side of the node plane: agent connections, credentials, and what agents report.

Guarantees:

* An agent is admitted only for a node whose instance the head node recorded, with that
  instance's id, and with its credentials: the join credential the fleet gave that launch (until
  the agent's node secret is recorded, durably, before the agent is welcomed), then only that
  secret. The users' API token plays no part here.
* A node is heard only about its own work: a run's end only from the run's batch host, a step's
  end only from a node the step runs on. Anything else changes nothing (and is logged).
* On every (re)connection the head node and the agent agree on what runs there: repeated ends
  are recorded once, runs the head node no longer wants are killed, kills and launches lost
  while they were apart are sent again.
* A connected agent silent for three heartbeats is disconnected; an UP node whose agent stays
  away for a minute while its instance lives is failed (its jobs requeued by the engine).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import socket
import ssl
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from stratus.agent.protocol import (
    HEARTBEAT_S,
    MAX_LINE,
    PROTOCOL_VERSION,
    Ack,
    Finished,
    Heartbeat,
    Hello,
    Kill,
    Launch,
    Message,
    ProtocolError,
    Reject,
    Shutdown,
    Started,
    Step,
    StepFinished,
    Task,
    Unknown,
    Welcome,
    decode,
    encode,
    secret_digest,
)
from stratus.engine.model import Action, KillJob
from stratus.engine.states import JobState, NodeState
from stratus.providers.base import Instance

if TYPE_CHECKING:
    from stratus.controller.core import Controller

log = logging.getLogger("stratus.controller")

AGENT_RECONNECT_GRACE_S = 60.0  # an agent alive but not connected for this long has failed
AGENT_SILENCE_S = 3 * HEARTBEAT_S  # a connected agent silent this long is hung: disconnect it
HELLO_TIMEOUT_S = 10.0
LAUNCH_RECORD_WAIT_S = 5.0  # an agent can say hello before its launch is recorded


@dataclass
class AgentConn:
    """A connected node agent."""

    node: str
    writer: asyncio.StreamWriter
    last_seen: float
    running: set[tuple[int, int]] = field(default_factory=set)

    def send(self, msg: Message) -> None:
        if not self.writer.is_closing():
            self.writer.write(encode(msg))


@dataclass(slots=True)
class _OpenStep:
    """A job step some of whose nodes still run their tasks."""

    nodes: set[str]
    codes: list[tuple[int, int]] = field(default_factory=list)  # (exit code, signal) per node
    usage: dict[str, float] = field(default_factory=dict)  # summed over the nodes so far


class NodePlane:
    """Every agent connection of one head node, and the messages exchanged on them."""

    def __init__(self, ctrl: Controller) -> None:
        self._ctrl = ctrl
        self.agents: dict[str, AgentConn] = {}
        self.disconnected_since: dict[str, float] = {}
        self._open_steps: dict[tuple[int, int, int], _OpenStep] = {}
        self._server: asyncio.Server | None = None

    # -- serving --------------------------------------------------------------------------------

    async def serve(self, sock: socket.socket, tls: ssl.SSLContext | None = None) -> None:
        """Accept agents on ``sock`` (a listening socket), over TLS when ``tls`` is given."""
        self._server = await asyncio.start_server(self._connection, sock=sock, limit=MAX_LINE, ssl=tls)

    def close(self) -> None:
        """Stop accepting and drop every connection (agents keep their jobs and dial again)."""
        if self._server is not None:
            self._server.close()
        for conn in list(self.agents.values()):
            conn.writer.close()

    def restored(self, now: float) -> None:
        """After a restart no agent is connected yet: count nodes with machines as away."""
        for node in self._ctrl.engine.nodes.values():
            if node.state in (NodeState.UP, NodeState.POWERING_UP, NodeState.POWERING_DOWN, NodeState.DOWN):
                self.disconnected_since[node.name] = now

    # -- sending --------------------------------------------------------------------------------

    def connected(self, node: str) -> bool:
        return node in self.agents

    def send_launch(self, msg: Launch) -> bool:
        """Hand a run's batch script to its node's agent; False when that agent is away."""
        conn = self.agents.get(msg.node)
        if conn is None:
            return False  # sent when the agent (re)connects: see _reconcile
        conn.send(msg)
        conn.running.add((msg.job_id, msg.run))
        return True

    def kill(self, action: KillJob) -> None:
        """Ask every node of a run to stop (or signal) it; nodes away get it on reconnection."""
        for node in action.nodes:
            conn = self.agents.get(node)
            if conn is not None:
                conn.send(Kill(action.job_id, action.run, action.why, action.signal))

    def shutdown_all(self) -> None:
        """Ask every connected agent to stop its jobs and exit (the cluster is being deleted)."""
        for conn in list(self.agents.values()):
            conn.send(Shutdown())

    async def release(self, name: str, *, shutdown: bool) -> None:
        """Forget the node's agent connection; with ``shutdown``, ask the agent to stop first."""
        conn = self.agents.pop(name, None)
        self.disconnected_since.pop(name, None)
        if conn is not None and shutdown:
            conn.send(Shutdown())
            with contextlib.suppress(OSError, TimeoutError):
                await asyncio.wait_for(conn.writer.drain(), timeout=2.0)

    def start_step(self, job_id: int, run: int, step_id: int, parts: dict[str, dict[str, Any]]) -> None:
        """Hand each node its part of a job step (the step was recorded as started).

        ``parts`` maps a node to the fields of its :class:`~stratus.agent.protocol.Step`
        (argv, cwd, env, tasks as ``{procid, env}``, io_host, io_port, io_token, pty).
        """
        msgs = {
            node: Step(
                job_id,
                run,
                step_id,
                **{**body, "tasks": [Task(int(t["procid"]), dict(t["env"])) for t in body["tasks"]]},
            )
            for node, body in parts.items()
        }
        for node, msg in msgs.items():
            self.agents[node].send(msg)
        self._open_steps[(job_id, run, step_id)] = _OpenStep(set(msgs))

    # -- health ---------------------------------------------------------------------------------

    def check(self, now: float) -> None:
        """Disconnect hung agents; fail UP nodes whose agent stays away while their instance lives."""
        ctrl = self._ctrl
        for conn in list(self.agents.values()):
            if now - conn.last_seen > AGENT_SILENCE_S:
                log.warning(
                    "node %s: agent silent for %.0f s; disconnecting it", conn.node, now - conn.last_seen
                )
                conn.writer.close()
        if ctrl.deleting:
            return
        # The fleet fails nodes whose instance is gone; this catches agents that stay away.
        for name, since in list(self.disconnected_since.items()):
            node = ctrl.engine.nodes.get(name)
            if node is None or node.state != NodeState.UP or now - since <= AGENT_RECONNECT_GRACE_S:
                continue
            if ctrl.fleet.busy(name) or name not in ctrl.fleet.instances:
                continue
            ctrl.spawn(ctrl.fleet.node_failed(name, "Not responding"))

    # -- connections ----------------------------------------------------------------------------

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        ctrl = self._ctrl
        conn: AgentConn | None = None
        try:
            hello = decode(await asyncio.wait_for(reader.readuntil(b"\n"), timeout=HELLO_TIMEOUT_S))
            conn = await self._accept(hello, writer)
            if conn is None:
                return
            while True:
                line = await reader.readuntil(b"\n")
                conn.last_seen = ctrl.clock()
                self._on_message(conn, decode(line))
        except ProtocolError as exc:
            log.warning("node %s: closing the connection: %s", conn.node if conn else "?", exc)
        except (
            asyncio.IncompleteReadError,
            asyncio.LimitOverrunError,
            ConnectionError,
            TimeoutError,
            OSError,
        ):
            pass
        finally:
            writer.close()
            if conn is not None and self.agents.get(conn.node) is conn:
                del self.agents[conn.node]
                self.disconnected_since[conn.node] = ctrl.clock()
                ctrl.engine.node_responding(conn.node, False, ctrl.clock())
                ctrl.commit()
                log.info("node %s: agent disconnected", conn.node)

    async def _accept(self, hello: Message, writer: asyncio.StreamWriter) -> AgentConn | None:
        ctrl = self._ctrl

        def reject(reason: str) -> None:
            log.warning("rejecting agent %s: %s", getattr(hello, "node", "?"), reason)
            writer.write(encode(Reject(reason)))

        if not isinstance(hello, Hello):
            reject("expected a hello")
            return None
        if hello.version != PROTOCOL_VERSION:
            reject(f"protocol version {hello.version} is not {PROTOCOL_VERSION}: upgrade the agent")
            return None
        name = hello.node
        node = ctrl.engine.nodes.get(name)
        if node is None:
            reject("unknown node")
            return None
        # The agent can be quicker than the fleet recording its launch.
        for _ in range(int(LAUNCH_RECORD_WAIT_S / 0.05)):
            if name not in ctrl.fleet.launching:
                break
            await asyncio.sleep(0.05)
        inst = ctrl.fleet.instances.get(name)
        if inst is None or inst.instance_id != hello.instance_id:
            reject("unknown instance")
            return None
        problem = self._authenticate(name, inst, hello)
        if problem is not None:
            reject(problem)
            return None
        if node.state not in (NodeState.UP, NodeState.POWERING_UP) or ctrl.deleting:
            reject(f"node is {node.state}")
            return None
        old = self.agents.get(name)
        if old is not None:
            old.writer.close()
        conn = AgentConn(name, writer, ctrl.clock())
        self.agents[name] = conn
        self.disconnected_since.pop(name, None)
        writer.write(encode(Welcome()))
        self._reconcile(conn, hello)
        log.info("node %s: agent connected (%s)", name, inst.instance_id)
        return conn

    def _authenticate(self, name: str, inst: Instance, hello: Hello) -> str | None:
        """Check the hello's credentials; record the node secret on first join. None: admitted."""
        ctrl = self._ctrl
        given = secret_digest(hello.secret)
        recorded = inst.credentials.get("secret")
        if recorded is not None:
            return None if secrets.compare_digest(given, recorded) else "wrong node secret"
        expected = inst.credentials.get("join")
        if not expected or not hello.join or not secrets.compare_digest(secret_digest(hello.join), expected):
            return "wrong join credential"
        if len(hello.secret) < 32:
            return "node secret too short"
        # Durable before the agent is welcomed: from now on only this secret admits the instance.
        joined = replace(inst, credentials={**inst.credentials, "secret": given})
        ctrl.fleet.instances[name] = joined
        ctrl.commit(extra=lambda c: ctrl.store.set_node_instance(c, name, joined.to_json()))
        return None

    def _reconcile(self, conn: AgentConn, hello: Hello) -> None:
        """Agree with a (re)connecting agent on what runs there."""
        ctrl = self._ctrl
        engine = ctrl.engine
        now = ctrl.clock()
        name = conn.node
        actions: list[Action] = []
        reported_finished = {(r.job_id, r.run) for r in hello.finished}
        for rep in hello.finished:
            actions += self._job_finished(rep, name)
        reported = {(r.job_id, r.run) for r in hello.running}
        for job_id, run in sorted(reported):
            job = engine.jobs.get(job_id)
            if job is None or job.run != run or job.state not in (JobState.RUNNING, JobState.COMPLETING):
                # A run the head node no longer wants (requeued or ended while we were apart).
                conn.send(Kill(job_id, run, "END", "KILL"))
            elif job.state == JobState.COMPLETING and job.final_state is not None:
                # A cancel or time limit decided while the agent was away: its kill was lost.
                conn.send(Kill(job_id, run, job.final_state.value, "TERM"))
        conn.running = set(reported)
        engine.node_responding(name, True, now)
        actions += engine.node_up(name, now, ctrl.fleet.instances[name].instance_id)
        ctrl.commit(actions)  # may send launches, which mark conn.running
        for job_id, run in reported_finished:
            conn.send(Ack(job_id, run))
        # Launches this agent never received (the head node stopped between deciding and sending).
        for job in list(engine.jobs.values()):
            key = (job.id, job.run)
            if (
                job.state in (JobState.RUNNING, JobState.COMPLETING)
                and not job.spec.interactive
                and job.alloc is not None
                and job.alloc.nodes[0] == name
                and key not in conn.running
                and key not in reported_finished
            ):
                if job.state == JobState.COMPLETING:
                    ctrl.commit(engine.job_ended(job.id, job.run, now, signal=9))
                else:
                    log.info("re-sending launch of job %s run %d to %s", job.id, job.run, name)
                    ctrl.send_launch(job.id, job.run, job.alloc.nodes)

    def _on_message(self, conn: AgentConn, msg: Message) -> None:
        if isinstance(msg, Finished):
            self._ctrl.commit(self._job_finished(msg, conn.node))
            conn.running.discard((msg.job_id, msg.run))
            conn.send(Ack(msg.job_id, msg.run))
        elif isinstance(msg, Started):
            conn.running.add((msg.job_id, msg.run))
        elif isinstance(msg, StepFinished):
            self._step_finished(msg, conn.node)
        elif isinstance(msg, Heartbeat):
            pass
        elif isinstance(msg, Unknown):
            log.warning("node %s: unknown message %r", conn.node, msg.name)
        else:
            log.warning("node %s: unexpected message %r", conn.node, msg.type)

    def _job_finished(self, rep: Finished, node: str) -> list[Action]:
        """The end of a run as ``node``'s agent reports it; only the run's batch host is heard.

        A report from any other node (a stale or a forged one) changes nothing; it is still
        acknowledged, so the agent forgets it.
        """
        ctrl = self._ctrl
        job = ctrl.engine.jobs.get(rep.job_id)
        if job is not None and job.run == rep.run and job.alloc is not None and job.alloc.nodes[0] != node:
            log.warning(
                "node %s: ignoring a report on job %s run %d, which runs on %s",
                node,
                rep.job_id,
                rep.run,
                job.alloc.nodes[0],
            )
            return []
        if rep.error:
            log.warning("job %s run %d: %s", rep.job_id, rep.run, rep.error)
        now = ctrl.clock()
        end = min(rep.end_time or now, now)
        if rep.usage:
            ctrl.record_usage(rep.job_id, rep.run, dict(rep.usage))
        return ctrl.engine.job_ended(
            rep.job_id, rep.run, end, exit_code=rep.exit_code, signal=rep.signal, out_of_memory=rep.oom
        )

    def _step_finished(self, msg: StepFinished, node: str) -> None:
        """``node``'s agent finished its tasks of a step; the step ends (stored) when every node has."""
        ctrl = self._ctrl
        key = (msg.job_id, msg.run, msg.step_id)
        step = self._open_steps.get(key)
        if step is None:
            return  # reported after a restart: the step is closed with its job
        if node not in step.nodes:
            log.warning("node %s: ignoring a report on step %s it does not run", node, key)
            return
        step.nodes.discard(node)
        step.codes.append((msg.exit_code, msg.signal))
        total = step.usage
        for name, value in msg.usage.items():
            if name in ("utime", "stime"):
                total[name] = total.get(name, 0.0) + value  # CPU time adds up over nodes
            elif name == "maxrss_kb":
                total[name] = max(total.get(name, 0.0), value)  # the largest task's peak
        if step.nodes:
            return
        del self._open_steps[key]
        code, sig = max(step.codes, key=lambda c: (c[1] != 0, c[0] or c[1]))
        state = "CANCELLED" if sig else ("COMPLETED" if code == 0 else "FAILED")
        now = ctrl.clock()
        ctrl.commit(extra=lambda c: ctrl.store.end_step(c, *key, state, code, sig, now, total))

"""The head node's side of the node plane: agent connections, credentials, and carrying out
what :mod:`stratus.controller.nodestate` decides about what agents report.

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
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from stratus.agent.protocol import (
    MAX_LINE,
    PROTOCOL_VERSION,
    Hello,
    Kill,
    Launch,
    Message,
    ProtocolError,
    Reject,
    Shutdown,
    Step,
    Task,
    Unknown,
    Welcome,
    decode,
    encode,
    secret_digest,
)
from stratus.controller.nodestate import (
    Commit,
    Disconnect,
    EndStep,
    FailNode,
    Ignored,
    Instruction,
    Joined,
    Left,
    NodeState,
    Reported,
    Send,
    SendLaunch,
    StepStarted,
    Tick,
)
from stratus.engine.model import KillJob
from stratus.engine.states import NodeState as NodeStatus
from stratus.providers.base import Instance

if TYPE_CHECKING:
    from stratus.controller.core import Controller

log = logging.getLogger("stratus.controller")

HELLO_TIMEOUT_S = 10.0
LAUNCH_RECORD_WAIT_S = 5.0  # an agent can say hello before its launch is recorded


@dataclass
class AgentConn:
    """A connected node agent."""

    node: str
    writer: asyncio.StreamWriter

    def send(self, msg: Message) -> None:
        if not self.writer.is_closing():
            self.writer.write(encode(msg))

    def peer_address(self) -> str:
        """The address the agent connects from ("" when unknown)."""
        peer = self.writer.get_extra_info("peername")
        return str(peer[0]) if isinstance(peer, tuple) and peer else ""


class NodePlane:
    """Every agent connection of one head node; decisions are :class:`NodeState`'s."""

    def __init__(self, ctrl: Controller) -> None:
        self._ctrl = ctrl
        self.state = NodeState(ctrl.engine, ctrl.layout.required_mounts())
        self.agents: dict[str, AgentConn] = {}
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
        """After a restart no agent is connected yet: nodes with machines count as away."""
        self.state.restored(now)

    # -- sending --------------------------------------------------------------------------------

    def connected(self, node: str) -> bool:
        return node in self.agents

    def send_launch(self, msg: Launch) -> bool:
        """Hand a run's batch script to its node's agent; False when that agent is away."""
        conn = self.agents.get(msg.node)
        if conn is None:
            return False  # sent when the agent (re)connects (see NodeState)
        conn.send(msg)
        self.state.launched(msg.node, msg.job_id, msg.run)
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
        self.state.released(name)
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
        self._execute(self.state.handle(StepStarted((job_id, run, step_id), frozenset(msgs))))

    def check(self, now: float) -> None:
        """Disconnect hung agents; fail UP nodes whose agent stays away while their instance lives."""
        self._execute(self.state.handle(Tick(now, self._ctrl.deleting)))

    # -- carrying out -----------------------------------------------------------------------

    def _execute(self, instructions: list[Instruction]) -> None:
        """Carry out the state machine's instructions, in order."""
        ctrl = self._ctrl
        for ins in instructions:
            if isinstance(ins, Commit):
                for (job_id, run), usage in ins.usage.items():
                    ctrl.record_usage(job_id, run, usage)
                ctrl.commit(list(ins.actions))
            elif isinstance(ins, Send):
                conn = self.agents.get(ins.node)
                if conn is not None:
                    conn.send(ins.msg)
            elif isinstance(ins, SendLaunch):
                log.info("re-sending launch of job %s run %d to %s", ins.job_id, ins.run, ins.nodes[0])
                ctrl.send_launch(ins.job_id, ins.run, ins.nodes)
            elif isinstance(ins, EndStep):
                self._end_step(ins)
            elif isinstance(ins, Disconnect):
                log.warning("node %s: agent silent for %.0f s; disconnecting it", ins.node, ins.silent_s)
                conn = self.agents.get(ins.node)
                if conn is not None:
                    conn.writer.close()
            elif isinstance(ins, FailNode):
                # The fleet fails nodes whose instance is gone; this catches agents that stay away.
                if not ctrl.fleet.busy(ins.node) and ins.node in ctrl.fleet.instances:
                    ctrl.spawn(ctrl.fleet.node_failed(ins.node, ins.reason))
            elif isinstance(ins, Ignored):
                log.warning("node %s: ignoring %s", ins.node, ins.why)

    def _end_step(self, step: EndStep) -> None:
        store = self._ctrl.store
        self._ctrl.commit(
            extra=lambda c: store.end_step(
                c, *step.key, step.state, step.exit_code, step.signal, step.now, step.usage
            )
        )

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
                msg = decode(line)
                if isinstance(msg, Unknown):
                    log.warning("node %s: unknown message %r", conn.node, msg.name)
                self._execute(self.state.handle(Reported(conn.node, msg, ctrl.clock())))
        except ProtocolError as exc:
            log.warning("node %s: closing the connection: %s", conn.node if conn else "?", exc)
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError, OSError):
            pass  # the agent went away (ConnectionError is an OSError): it dials again
        finally:
            writer.close()
            if conn is not None and self.agents.get(conn.node) is conn:
                del self.agents[conn.node]
                self._execute(self.state.handle(Left(conn.node, ctrl.clock())))
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
        if node.state not in (NodeStatus.UP, NodeStatus.POWERING_UP) or ctrl.deleting:
            reject(f"node is {node.state}")
            return None
        old = self.agents.get(name)
        if old is not None:
            old.writer.close()
        conn = AgentConn(name, writer)
        self.agents[name] = conn
        writer.write(encode(Welcome()))
        self._execute(self.state.handle(Joined(name, hello, inst.instance_id, ctrl.clock())))
        log.info("node %s: agent connected (%s)", name, inst.instance_id)
        if ctrl.engine.nodes[name].state == NodeStatus.UP:
            for listener in ctrl.join_listeners:
                try:
                    listener(name, conn)
                except Exception:
                    log.exception("node %s: a join listener failed", name)
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

"""The controller: the head node's daemon and the only writer of a cluster's durable state.

One asyncio loop. Events (a submission, an agent's report, a timer) go into the engine; the
engine's state changes are written to the store in one transaction; only then are the engine's
actions carried out (launch, kill, power up, power down) or the client answered. So anything a
client was told, and anything a node was asked to do, survives a crash of this process.

After a restart (``stratus start-head-node``), state is rebuilt from the store. Nodes are not
trusted until their agent reconnects and reports what it runs; jobs keep running on agents
meanwhile. Exits that happened while the controller was down are reported on reconnection and
recorded once (reports are matched by job id and run number).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection

from stratus import __version__
from stratus.agent.agent import HEARTBEAT_S
from stratus.agent.protocol import MAX_LINE, decode, encode
from stratus.config import LoadedConfig
from stratus.controller.build import engine_config
from stratus.controller.lifecycle import (
    CLUSTER_TRANSITIONS,
    FLEET_TRANSITIONS,
    ClusterStatus,
    FleetStatus,
    can_move,
)
from stratus.engine.engine import Engine
from stratus.engine.model import Action, KillJob, LaunchJob, PowerDown, PowerUp, Transition
from stratus.engine.states import JobState, NodeState
from stratus.paths import ClusterPaths, read_token
from stratus.providers.base import Instance, LaunchError, LaunchRequest, Provider
from stratus.store.store import Store

log = logging.getLogger("stratus.controller")

LIVENESS_PERIOD_S = 1.0
AGENT_RECONNECT_GRACE_S = 60.0  # an agent alive but not connected for this long has failed
AGENT_SILENCE_S = 3 * HEARTBEAT_S  # a connected agent silent this long is hung: disconnect it
RECOVERY_GRACE_S = 15.0  # after a restart, hold new placements this long for agents to return
TERMINATE_GRACE_S = 5.0
INTERACTIVE_SILENCE_S = 60.0  # a salloc/srun that stops asking this long has gone: cancel it
EXIT_STORE_FAILURE = 70


def _bind_loopback(port: int) -> socket.socket:
    """A listening TCP socket on 127.0.0.1: ``port`` if it is free, any free port otherwise."""
    for candidate in (port, 0) if port else (0,):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", candidate))
        except OSError:
            sock.close()
            continue
        sock.listen(128)
        sock.setblocking(False)
        return sock
    raise OSError("no free port on 127.0.0.1")


@dataclass
class AgentConn:
    """A connected node agent."""

    node: str
    writer: asyncio.StreamWriter
    last_seen: float
    running: set[tuple[int, int]] = field(default_factory=set)

    def send(self, msg: dict[str, Any]) -> None:
        if not self.writer.is_closing():
            self.writer.write(encode(msg))


class Controller:
    """Owns the engine, the store and the fleet of one cluster."""

    def __init__(
        self,
        paths: ClusterPaths,
        loaded: LoadedConfig,
        store: Store,
        provider: Provider,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.paths = paths
        self.name = paths.name
        self.loaded = loaded
        self.layout = loaded.layout
        self.store = store
        self.provider = provider
        self.clock = clock
        self.token = read_token(paths)
        self.engine = Engine(engine_config(self.layout, min_job_age_s=self.layout.min_job_age_s), clock())
        self.instances: dict[str, Instance] = {}
        self.agents: dict[str, AgentConn] = {}
        self.disconnected_since: dict[str, float] = {}
        self.launching: set[str] = set()
        self.terminating: set[str] = set()
        self.recovering_until = 0.0
        self._usage: dict[tuple[int, int], dict[str, Any]] = {}  # measured by agents, until stored
        self.cluster: dict[str, Any] = {}
        self.api_port = 0
        self.agent_port = 0
        self._wake = asyncio.Event()
        self._stop = asyncio.Event()
        self._tasks: set[asyncio.Task[Any]] = set()
        self.deleting = False
        from stratus.controller.slurm_backend import ControllerSlurmBackend

        self.slurm = ControllerSlurmBackend(self)

    # ------------------------------------------------------------------------------------------
    # state: load, commit, act
    # ------------------------------------------------------------------------------------------

    def _past_usage(self, conn: Connection, now: float) -> Iterator[tuple[str, str, int, float, float]]:
        """Finished runs that still count for fair share (within ten half-lives)."""
        cfg = self.engine.config.priority
        if cfg.kind != "multifactor":
            return iter(())
        since = now - 10 * cfg.decay_half_life_s if cfg.decay_half_life_s > 0 else 0.0
        return self.store.load_usage(conn, since)

    def restore(self) -> None:
        """Rebuild the engine from the store (a fresh cluster has only its ``cluster`` record)."""
        now = self.clock()
        with self.store.reading() as conn:
            self.cluster = self.store.get_meta(conn, "cluster", {})
            next_id = int(self.store.get_meta(conn, "next_job_id", 1))
            jobs = self.store.load_live_jobs(conn, finished_since=now - self.engine.config.min_job_age_s)
            nodes = self.store.load_nodes(conn, {n.name: n.defn for n in self.engine.nodes.values()})
            parts = self.store.load_partitions(conn)
            usage = list(self._past_usage(conn, now))
        self.engine.restore([j for j, _ in jobs], [n for n, _ in nodes], next_id)
        for account, user, cpus, start, end in usage:
            self.engine.restore_usage(account, user, cpus, start, end, now)
        for node, inst in nodes:
            if inst is not None:
                self.instances[node.name] = Instance.from_json(inst)
        for name, up in parts.items():
            if name in self.engine.partitions:
                self.engine.set_partition_state(name, up)
        fleet = self.cluster.get("computeFleetStatus", FleetStatus.RUNNING)
        self.engine.fleet_running = fleet not in (
            FleetStatus.STOP_REQUESTED,
            FleetStatus.STOPPING,
            FleetStatus.STOPPED,
        )
        for node in self.engine.nodes.values():
            if node.state in (NodeState.UP, NodeState.POWERING_UP, NodeState.POWERING_DOWN, NodeState.DOWN):
                self.disconnected_since[node.name] = now
        if any(n.state == NodeState.UP for n in self.engine.nodes.values()):
            self.recovering_until = now + RECOVERY_GRACE_S
        if self.cluster.get("clusterStatus") == ClusterStatus.DELETE_IN_PROGRESS:
            self.deleting = True  # run() resumes the deletion
        log.info("restored %d live jobs, next job id %d", len(jobs), self.engine.next_job_id)

    def commit(
        self, actions: list[Action] | None = None, extra: Callable[[Connection], None] | None = None
    ) -> None:
        """Persist what the engine changed (plus ``extra`` writes) in one transaction, then act."""
        changes = self.engine.drain_changes()
        if changes or extra is not None:
            try:
                with self.store.transaction() as conn:
                    self.store.save_engine_changes(conn, self.engine, changes, self._usage)
                    if extra is not None:
                        extra(conn)
                self._usage.clear()
            except Exception:
                # Memory is now ahead of the disk. Carrying on could act on, or acknowledge,
                # state that a restart would not know: stop, and restart from what is stored.
                log.critical("cannot write the state store; stopping the head node", exc_info=True)
                os._exit(EXIT_STORE_FAILURE)
        if actions:
            self.dispatch(actions)
        self.poke()

    def poke(self) -> None:
        """Ask the main loop for a scheduling pass soon."""
        self._wake.set()

    def dispatch(self, actions: list[Action]) -> None:
        for action in actions:
            if isinstance(action, LaunchJob):
                self._send_launch(action.job_id, action.run, action.nodes)
            elif isinstance(action, KillJob):
                self._end_interactive(action)
                for node in action.nodes:
                    conn = self.agents.get(node)
                    if conn is not None:
                        conn.send(
                            {
                                "type": "kill",
                                "job_id": action.job_id,
                                "run": action.run,
                                "why": action.why,
                                "signal": action.signal,
                            }
                        )
            elif isinstance(action, PowerUp):
                for node in action.nodes:
                    self._spawn(self._power_up(node))
            elif isinstance(action, PowerDown):
                for node in action.nodes:
                    self._spawn(self._power_down(node))

    def _end_interactive(self, action: KillJob) -> None:
        """An interactive allocation has no batch script to report its end: end it now.

        Its steps on the nodes are killed by the same KillJob; the allocation itself is over
        as soon as the head node decides so (cancel, time limit).
        """
        job = self.engine.jobs.get(action.job_id)
        if job is None or not job.spec.interactive or job.state != JobState.COMPLETING:
            return
        self._spawn(self._finish_interactive(job.id, job.run))

    async def _finish_interactive(self, job_id: int, run: int) -> None:
        self.commit(self.engine.job_ended(job_id, run, self.clock(), signal=9))

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("background task failed", exc_info=task.exception())

    def _send_launch(self, job_id: int, run: int, nodes: tuple[str, ...]) -> None:
        conn = self.agents.get(nodes[0])
        if conn is None:
            return  # sent when the agent (re)connects: see _reconcile
        job = self.engine.jobs.get(job_id)
        if job is None or job.run != run or job.spec.interactive:
            return  # an interactive allocation has no batch script: its client runs steps
        try:
            msg = self.slurm.launch_message(job)
        except Exception:
            # Its payload cannot be read back: fail this job, not the head node.
            log.exception("job %s run %d: cannot build its launch; failing it", job_id, run)
            self.commit(self.engine.job_ended(job_id, run, self.clock(), exit_code=1))
            return
        conn.send(msg)
        conn.running.add((job_id, run))

    # ------------------------------------------------------------------------------------------
    # cluster and fleet status
    # ------------------------------------------------------------------------------------------

    def set_cluster_status(
        self, new: ClusterStatus, reason: str = "", conn: Connection | None = None
    ) -> None:
        old = ClusterStatus(self.cluster.get("clusterStatus", ClusterStatus.CREATE_IN_PROGRESS))
        if old == new:
            return
        if not can_move(CLUSTER_TRANSITIONS, old, new):
            raise RuntimeError(f"cluster: {old} -> {new} is not a legal transition")
        now = self.clock()
        self.cluster["clusterStatus"] = new.value
        self.cluster["lastUpdatedTime"] = now
        t = Transition("cluster", self.name, old, new, now, "controller", reason)
        self._write_cluster([t], conn)

    def set_fleet_status(self, new: FleetStatus, reason: str = "", conn: Connection | None = None) -> None:
        old = FleetStatus(self.cluster.get("computeFleetStatus", FleetStatus.UNKNOWN))
        if old == new:
            return
        if not can_move(FLEET_TRANSITIONS, old, new):
            raise RuntimeError(f"fleet: {old} -> {new} is not a legal transition")
        now = self.clock()
        self.cluster["computeFleetStatus"] = new.value
        self.cluster["computeFleetStatusTime"] = now
        t = Transition("fleet", self.name, old, new, now, "controller", reason)
        self._write_cluster([t], conn)

    def _write_cluster(self, transitions: list[Transition], conn: Connection | None) -> None:
        if conn is not None:
            self.store.set_meta(conn, "cluster", self.cluster)
            self.store.append_journal(conn, transitions)
            return
        with self.store.transaction() as c:
            self.store.set_meta(c, "cluster", self.cluster)
            self.store.append_journal(c, transitions)

    def _progress_lifecycle(self) -> None:
        """Move cluster and fleet statuses along as nodes come and go."""
        status = self.cluster.get("clusterStatus")
        fleet = self.cluster.get("computeFleetStatus")
        statics = [n for n in self.engine.nodes.values() if n.defn.static]
        all_static_up = all(n.state == NodeState.UP for n in statics)
        if fleet == FleetStatus.START_REQUESTED:
            self.set_fleet_status(FleetStatus.STARTING)
            fleet = FleetStatus.STARTING
        if fleet == FleetStatus.STARTING and all_static_up:
            self.set_fleet_status(FleetStatus.RUNNING)
        if fleet == FleetStatus.STOP_REQUESTED:
            self.set_fleet_status(FleetStatus.STOPPING)
            fleet = FleetStatus.STOPPING
        if fleet == FleetStatus.STOPPING and all(
            n.state in (NodeState.POWERED_DOWN, NodeState.DOWN) and n.name not in self.instances
            for n in self.engine.nodes.values()
        ):
            self.set_fleet_status(FleetStatus.STOPPED)
        if status == ClusterStatus.CREATE_IN_PROGRESS:
            if all_static_up:
                self.set_cluster_status(ClusterStatus.CREATE_COMPLETE, "static nodes up")
            else:
                failed = next((n for n in statics if n.state == NodeState.DOWN), None)
                if failed is not None:
                    self.fail_creation(
                        "StaticNodeBootstrapFailure",
                        f"static node {failed.name} failed to start: {failed.reason}",
                    )

    def fail_creation(self, code: str, reason: str) -> None:
        """Creation failed: record why (pcluster's ``failures``) and stop the compute fleet."""
        if self.cluster.get("clusterStatus") != ClusterStatus.CREATE_IN_PROGRESS:
            return
        self.cluster["failures"] = [{"failureCode": code, "failureReason": reason}]
        actions = self.engine.stop_fleet(self.clock())

        def record(conn: Connection) -> None:
            self.set_cluster_status(ClusterStatus.CREATE_FAILED, reason, conn)
            self.set_fleet_status(FleetStatus.STOP_REQUESTED, "creation failed", conn)

        self.commit(actions, extra=record)

    # ------------------------------------------------------------------------------------------
    # fleet: powering nodes up and down through the provider
    # ------------------------------------------------------------------------------------------

    async def _power_up(self, name: str) -> None:
        node = self.engine.nodes[name]
        if name in self.launching or name in self.instances:
            return
        self.launching.add(name)
        d = node.defn
        request = LaunchRequest(name, d.instance_type, d.cpus, d.memory_mb, d.gpus, d.partitions[0])
        try:
            inst = await asyncio.to_thread(self.provider.launch, request)
        except LaunchError as exc:
            self.launching.discard(name)
            log.warning("launch of %s failed: %s", name, exc)
            await self._node_failed(name, f"(Code:{exc.code})Failure when resuming nodes")
            return
        finally:
            self.launching.discard(name)
        if self.engine.nodes[name].state != NodeState.POWERING_UP:
            # Powered down or failed meanwhile: the instance is not wanted any more.
            await asyncio.to_thread(self.provider.terminate, inst, 0.0)
            return
        self.instances[name] = inst
        node.instance_id = inst.instance_id
        self.engine.dirty_nodes.add(name)
        self.commit(extra=lambda c: self.store.set_node_instance(c, name, inst.to_json()))
        log.info("launched %s as %s", name, inst.instance_id)

    async def _power_down(self, name: str) -> None:
        if name in self.terminating:
            return
        self.terminating.add(name)
        try:
            conn = self.agents.pop(name, None)
            if conn is not None:
                conn.send({"type": "shutdown"})
                with contextlib.suppress(OSError, TimeoutError):
                    await asyncio.wait_for(conn.writer.drain(), timeout=2.0)
            inst = self.instances.get(name)
            if inst is not None:
                await asyncio.to_thread(self.provider.terminate, inst, TERMINATE_GRACE_S)
            self.instances.pop(name, None)
            self.disconnected_since.pop(name, None)
            self.engine.node_terminated(name, self.clock())
            self.commit(extra=lambda c: self.store.set_node_instance(c, name, None))
        finally:
            self.terminating.discard(name)

    async def _node_failed(self, name: str, reason: str) -> None:
        """A node failed: make sure nothing of it still runs, then requeue its jobs.

        The order matters: a job is requeued (and may start elsewhere) only once the failed
        node's instance, and any process a job left on it, is gone, so two runs never overlap.
        """
        if name in self.terminating:
            return
        self.terminating.add(name)
        try:
            self.agents.pop(name, None)
            inst = self.instances.get(name)
            if inst is not None:
                await asyncio.to_thread(self.provider.terminate, inst, 0.0)
        finally:
            self.terminating.discard(name)
        self.commit(self.engine.node_lost(name, self.clock(), reason))
        self._progress_lifecycle()

    async def _liveness_loop(self) -> None:
        """Detect dead agents (process gone), hung ones (silent) and ones that stay away."""
        while not self._stop.is_set():
            await asyncio.sleep(LIVENESS_PERIOD_S)
            try:
                await self._check_liveness()
            except Exception:
                log.exception("liveness check failed; retrying")

    async def _check_liveness(self) -> None:
        self.provider.reap()
        self.slurm.expire_allocations(INTERACTIVE_SILENCE_S)
        now = self.clock()
        for conn in list(self.agents.values()):
            if now - conn.last_seen > AGENT_SILENCE_S:
                log.warning(
                    "node %s: agent silent for %.0f s; disconnecting it", conn.node, now - conn.last_seen
                )
                conn.writer.close()
        for name, node in list(self.engine.nodes.items()):
            if self.deleting or node.state not in (NodeState.UP, NodeState.POWERING_UP):
                continue
            if name in self.launching or name in self.terminating:
                continue
            inst = self.instances.get(name)
            if inst is None:
                if node.state == NodeState.UP:
                    self._spawn(self._node_failed(name, "Not responding: no instance"))
                continue
            alive = await asyncio.to_thread(self.provider.is_alive, inst)
            # The world may have moved while we looked: act only on the same instance.
            if (
                self.instances.get(name) is not inst
                or name in self.terminating
                or node.state not in (NodeState.UP, NodeState.POWERING_UP)
            ):
                continue
            if not alive:
                log.warning("node %s: agent process is gone", name)
                self._spawn(self._node_failed(name, "Not responding"))
                continue
            since = self.disconnected_since.get(name)
            if node.state == NodeState.UP and since is not None and now - since > AGENT_RECONNECT_GRACE_S:
                self._spawn(self._node_failed(name, "Not responding"))

    # ------------------------------------------------------------------------------------------
    # agent connections
    # ------------------------------------------------------------------------------------------

    async def _agent_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn: AgentConn | None = None
        try:
            hello = decode(await asyncio.wait_for(reader.readuntil(b"\n"), timeout=10.0))
            conn = await self._accept(hello, writer)
            if conn is None:
                return
            while True:
                line = await reader.readuntil(b"\n")
                conn.last_seen = self.clock()
                self._on_agent_message(conn, decode(line))
        except (asyncio.IncompleteReadError, ConnectionError, TimeoutError, ValueError, OSError):
            pass
        finally:
            writer.close()
            if conn is not None and self.agents.get(conn.node) is conn:
                del self.agents[conn.node]
                self.disconnected_since[conn.node] = self.clock()
                self.engine.node_responding(conn.node, False, self.clock())
                self.commit()
                log.info("node %s: agent disconnected", conn.node)

    async def _accept(self, hello: dict[str, Any], writer: asyncio.StreamWriter) -> AgentConn | None:
        def reject(reason: str) -> None:
            log.warning("rejecting agent %s: %s", hello.get("node"), reason)
            writer.write(encode({"type": "reject", "reason": reason}))

        if hello.get("type") != "hello" or not secrets.compare_digest(
            str(hello.get("token", "")), self.token
        ):
            reject("bad token")
            return None
        name = str(hello.get("node", ""))
        node = self.engine.nodes.get(name)
        if node is None:
            reject("unknown node")
            return None
        # The agent can be quicker than the thread recording its launch.
        for _ in range(100):
            if name not in self.launching:
                break
            await asyncio.sleep(0.05)
        inst = self.instances.get(name)
        if inst is None or inst.instance_id != hello.get("instance_id"):
            reject("unknown instance")
            return None
        if node.state not in (NodeState.UP, NodeState.POWERING_UP) or self.deleting:
            reject(f"node is {node.state}")
            return None
        old = self.agents.get(name)
        if old is not None:
            old.writer.close()
        conn = AgentConn(name, writer, self.clock())
        self.agents[name] = conn
        self.disconnected_since.pop(name, None)
        writer.write(encode({"type": "welcome"}))
        self._reconcile(conn, hello)
        log.info("node %s: agent connected (%s)", name, inst.instance_id)
        return conn

    def _reconcile(self, conn: AgentConn, hello: dict[str, Any]) -> None:
        """Agree with a (re)connecting agent on what runs there."""
        now = self.clock()
        name = conn.node
        acks: list[dict[str, Any]] = []
        actions: list[Action] = []
        reported_finished = {(int(r["job_id"]), int(r["run"])) for r in hello.get("finished", [])}
        for rep in hello.get("finished", []):
            actions += self._job_finished(rep)
            acks.append({"type": "ack", "job_id": rep["job_id"], "run": rep["run"]})
        reported = {(int(r["job_id"]), int(r["run"])) for r in hello.get("running", [])}
        for job_id, run in sorted(reported):
            job = self.engine.jobs.get(job_id)
            if job is None or job.run != run or job.state not in (JobState.RUNNING, JobState.COMPLETING):
                # A run the controller no longer wants (requeued or ended while we were apart).
                conn.send({"type": "kill", "job_id": job_id, "run": run, "why": "END", "signal": "KILL"})
            elif job.state == JobState.COMPLETING and job.final_state is not None:
                # A cancel or time limit decided while the agent was away: its kill was lost.
                why = job.final_state.value
                conn.send({"type": "kill", "job_id": job_id, "run": run, "why": why, "signal": "TERM"})
        conn.running = set(reported)
        self.engine.node_responding(name, True, now)
        actions += self.engine.node_up(name, now, self.instances[name].instance_id)
        self.commit(actions)  # may send launches, which mark conn.running
        for ack in acks:
            conn.send(ack)
        # Launches this agent never received (the controller stopped between deciding and sending).
        for job in list(self.engine.jobs.values()):
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
                    self.commit(self.engine.job_ended(job.id, job.run, now, signal=9))
                else:
                    log.info("re-sending launch of job %s run %d to %s", job.id, job.run, name)
                    self._send_launch(job.id, job.run, job.alloc.nodes)

    def _on_agent_message(self, conn: AgentConn, msg: dict[str, Any]) -> None:
        kind = msg["type"]
        if kind == "finished":
            actions = self._job_finished(msg)
            self.commit(actions)
            conn.running.discard((int(msg["job_id"]), int(msg["run"])))
            conn.send({"type": "ack", "job_id": msg["job_id"], "run": msg["run"]})
        elif kind == "started":
            conn.running.add((int(msg["job_id"]), int(msg["run"])))
        elif kind == "step_finished":
            self.slurm.step_finished(msg)
        elif kind == "heartbeat":
            pass
        else:
            log.warning("node %s: unknown message %r", conn.node, kind)

    def _job_finished(self, rep: dict[str, Any]) -> list[Action]:
        job_id, run = int(rep["job_id"]), int(rep["run"])
        if rep.get("error"):
            log.warning("job %s run %d: %s", job_id, run, rep["error"])
        end = min(float(rep.get("end_time") or self.clock()), self.clock())
        if rep.get("usage"):
            self._usage[(job_id, run)] = dict(rep["usage"])
        return self.engine.job_ended(
            job_id,
            run,
            end,
            exit_code=int(rep.get("exit_code", 0)),
            signal=int(rep.get("signal", 0)),
            out_of_memory=bool(rep.get("oom")),
        )

    # ------------------------------------------------------------------------------------------
    # main loop and lifecycle of the process
    # ------------------------------------------------------------------------------------------

    async def start_servers(self, api_app: Any, api_port: int = 0, agent_port: int = 0) -> None:
        """Serve the API and the agent port on loopback; reuse the given ports if still free."""
        import uvicorn

        api_sock = _bind_loopback(api_port)
        agent_sock = _bind_loopback(agent_port)
        agent_server = await asyncio.start_server(self._agent_connection, sock=agent_sock, limit=MAX_LINE)
        self.agent_port = agent_sock.getsockname()[1]
        config = uvicorn.Config(api_app, log_level="warning", access_log=False, lifespan="off")
        server = uvicorn.Server(config)
        self._spawn(server.serve(sockets=[api_sock]))
        while not server.started:
            await asyncio.sleep(0.01)
        self.api_port = api_sock.getsockname()[1]
        self._api_server = server
        self._agent_server = agent_server

    async def run(self) -> None:
        """Schedule, act and watch until stopped."""
        self._spawn(self._liveness_loop())
        if self.cluster.get("clusterStatus") == ClusterStatus.CREATE_IN_PROGRESS and not self.cluster.get(
            "computeFleetStatus"
        ):
            self.cluster["computeFleetStatus"] = FleetStatus.START_REQUESTED.value
            self._write_cluster([], None)
        if self.deleting:
            self._spawn(self._delete())  # a deletion the previous head node did not finish
        for job in list(self.engine.jobs.values()):
            if job.spec.interactive and job.state == JobState.COMPLETING:
                self._spawn(self._finish_interactive(job.id, job.run))
            elif job.spec.interactive and not job.state.final:
                self.slurm.allocation_status(job.id)  # its client gets the usual time to come back
        for name, node in self.engine.nodes.items():
            if node.state == NodeState.POWERING_DOWN or (
                node.state == NodeState.DOWN and name in self.instances
            ):
                self._spawn(self._power_down(name))
            elif node.state == NodeState.POWERING_UP and name not in self.instances:
                # The previous head node stopped between deciding to launch and recording the
                # instance: launch again (an agent it may have started is rejected and exits).
                self._spawn(self._power_up(name))
        while not self._stop.is_set():
            now = self.clock()
            if not self.deleting:
                try:
                    self.commit(self.engine.tick(now, schedule=not self._recovering(now)))
                    self._progress_lifecycle()
                except Exception:
                    log.exception("scheduling pass failed; retrying")
                    await asyncio.sleep(1.0)
            self._wake.clear()
            delay = min(max(self.engine.next_wakeup(now) - self.clock(), 0.0), 1.0)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=delay if delay > 0 else 0.001)

    def _recovering(self, now: float) -> bool:
        """After a restart: until every UP node's agent is back (or the grace period ends)."""
        if self.recovering_until == 0.0:
            return False
        waiting = [
            n for n, node in self.engine.nodes.items() if node.state == NodeState.UP and n not in self.agents
        ]
        if not waiting or now >= self.recovering_until:
            self.recovering_until = 0.0
            return False
        return True

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()

    async def shutdown_servers(self) -> None:
        if hasattr(self, "_api_server"):
            self._api_server.should_exit = True
        if hasattr(self, "_agent_server"):
            self._agent_server.close()
        for conn in list(self.agents.values()):
            conn.writer.close()
        for task in list(self._tasks):
            if task is not asyncio.current_task():
                task.cancel()
        await asyncio.sleep(0.05)

    # ------------------------------------------------------------------------------------------
    # requests from the API
    # ------------------------------------------------------------------------------------------

    def request_fleet(self, status: FleetStatus) -> None:
        """update-compute-fleet: START_REQUESTED or STOP_REQUESTED."""
        now = self.clock()
        actions = (
            self.engine.stop_fleet(now)
            if status == FleetStatus.STOP_REQUESTED
            else self.engine.start_fleet(now)
        )
        # The request and its effect on partitions and nodes land in one transaction.
        self.commit(actions, extra=lambda conn: self.set_fleet_status(status, "user request", conn))
        self._progress_lifecycle()

    def begin_delete(self) -> None:
        """delete-cluster: record DELETE_IN_PROGRESS (durably, before answering), then tear down."""
        if self.deleting:
            return
        self.set_cluster_status(ClusterStatus.DELETE_IN_PROGRESS, "user request")
        self.deleting = True
        self._spawn(self._delete())

    async def _delete(self) -> None:
        """Terminate every node; the daemon removes the cluster's files once the loop stops."""
        try:
            for conn in list(self.agents.values()):
                conn.send({"type": "shutdown"})
            results = await asyncio.gather(
                *(
                    asyncio.to_thread(self.provider.terminate, inst, TERMINATE_GRACE_S)
                    for inst in list(self.instances.values())
                ),
                return_exceptions=True,
            )
            for result in results:
                if isinstance(result, BaseException):
                    log.error("terminating a node failed during delete", exc_info=result)
        finally:
            self.stop()

    def version(self) -> str:
        return __version__

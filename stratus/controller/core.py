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
import collections
import contextlib
import logging
import os
import socket
import ssl
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from sqlalchemy import Connection

from stratus import __version__
from stratus.agent.protocol import Launch
from stratus.config import LoadedConfig
from stratus.config.layout import HostFacts
from stratus.controller.build import engine_config
from stratus.controller.lifecycle import (
    CLUSTER_TRANSITIONS,
    FLEET_TRANSITIONS,
    ClusterStatus,
    ClusterTo,
    FleetStatus,
    FleetTo,
    can_move,
    progress,
)
from stratus.controller.nodeplane import AgentConn, NodePlane
from stratus.controller.payloads import Payloads
from stratus.engine.engine import Engine
from stratus.engine.model import Action, Job, KillJob, LaunchJob, PowerDown, PowerUp, Transition
from stratus.engine.states import JobState, NodeState
from stratus.fleet import Fleet
from stratus.fleet.state import FAILED_NODE_HOLD_S, UNREACHABLE_TIMEOUT_S
from stratus.net import HEAD_ADDRESS, bind_unix
from stratus.paths import ClusterPaths, read_token
from stratus.providers.base import Bootstrap, Instance, Provider
from stratus.providers.registry import ProviderSet
from stratus.staging.env import s3_env
from stratus.store.store import Store

log = logging.getLogger("stratus.controller")

LIVENESS_PERIOD_S = 1.0
RECOVERY_GRACE_S = 15.0  # after a restart, hold new placements this long for agents to return
INTERACTIVE_SILENCE_S = 60.0  # a salloc/srun that stops asking this long has gone: cancel it
EXIT_STORE_FAILURE = 70
DEFAULT_DOOR = "slurm"  # payloads stored before they named their front door are Slurm's

# How a front door launches its jobs: (job, payload info, script, environment) -> the fields of
# the node's launch message besides type/job_id/run/node: script, args, env, cwd, stdout,
# stderr, stdin, open_mode, umask, mem_limit_mb, and stage_in/stage_out (lists of
# ``[path, s3 URL]``, see stratus.staging).
LaunchBuilder = Callable[[Job, dict[str, Any], str, dict[str, str]], dict[str, Any]]


class CycleStats:
    """How long the engine's passes (a tick: timers, then a scheduling pass) take, as sdiag
    reports its main scheduler's cycles: the last one, the mean, the most, and how many ran in
    the last minute."""

    def __init__(self) -> None:
        self.count = 0
        self.total_s = 0.0
        self.last_s = 0.0
        self.max_s = 0.0
        self._recent: collections.deque[float] = collections.deque()

    def add(self, seconds: float, now: float) -> None:
        self.count += 1
        self.total_s += seconds
        self.last_s = seconds
        self.max_s = max(self.max_s, seconds)
        self._recent.append(now)
        while self._recent and self._recent[0] < now - 60.0:
            self._recent.popleft()

    def per_minute(self, now: float) -> int:
        return sum(1 for t in self._recent if t >= now - 60.0)

    @property
    def mean_s(self) -> float:
        return self.total_s / self.count if self.count else 0.0


def _bind(port: int, host: str = HEAD_ADDRESS) -> socket.socket:
    """A listening TCP socket on ``host``: ``port`` if free, any free port otherwise."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    for candidate in (port, 0) if port else (0,):
        # IPPROTO_TCP named: asyncio turns Nagle's algorithm off (TCP_NODELAY) only on connections
        # of sockets that say they are TCP, and with it on, every answer written in two parts
        # (headers, body) waited up to 40 ms for the client's delayed acknowledgement.
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, candidate))
        except OSError:
            sock.close()
            continue
        sock.listen(128)
        sock.setblocking(False)
        return sock
    raise OSError(f"no free port on {host}")


class Controller:
    """Owns the engine, the store and the fleet of one cluster."""

    def __init__(
        self,
        paths: ClusterPaths,
        loaded: LoadedConfig,
        store: Store,
        provider: Provider | ProviderSet,
        *,
        clock: Callable[[], float] = time.time,
        bootstrap: Bootstrap | None = None,
    ) -> None:
        self.paths = paths
        self.name = paths.name
        self.loaded = loaded
        self.layout = loaded.layout
        self.s3 = s3_env(self.layout)
        self.store = store
        self.clock = clock
        self.token = read_token(paths)
        self.engine = Engine(engine_config(self.layout, min_job_age_s=self.layout.min_job_age_s), clock())
        # Instances, launches and terminations: the fleet carries out the engine's power actions.
        self.fleet = Fleet(
            self,
            provider,
            cluster=self.name,
            bootstrap=bootstrap or Bootstrap(),
            insufficient_capacity_timeout_s=self.layout.insufficient_capacity_timeout_s,
            protected_failure_count=self.layout.protected_failure_count,
            # How long a node that failed to power up stays down~ (a tuning knob, for tests).
            failed_node_hold_s=float(os.environ.get("STRATUS_FAILED_NODE_HOLD", FAILED_NODE_HOLD_S)),
            unreachable_timeout_s=float(os.environ.get("STRATUS_UNREACHABLE_TIMEOUT", UNREACHABLE_TIMEOUT_S)),
            capacity_types={
                f"{q.name}/{cr.name}": q.capacity_type
                for q in self.layout.queues
                for cr in q.compute_resources
            },
            instance_types={
                f"{q.name}/{cr.name}": cr.instance_types
                for q in self.layout.queues
                for cr in q.compute_resources
            },
        )
        self.nodeplane = NodePlane(self)
        self.recovering_until = 0.0
        self._usage: dict[tuple[int, int], dict[str, Any]] = {}  # measured by agents, until stored
        self.cluster: dict[str, Any] = {}
        self.api_port = 0
        self.agent_port = 0
        self.agent_host = HEAD_ADDRESS  # where the agent port listens (Stratus.HeadNodeAddress)
        self._wake = asyncio.Event()
        self._stop = asyncio.Event()
        self.cycles = CycleStats()  # what the scheduling passes cost (sdiag's figures)
        self._tasks: set[asyncio.Task[Any]] = set()
        self.deleting = False
        # Set by apply_config: the daemon starts the head node again, on the new configuration.
        self.restart_requested = False
        self._extra_servers: list[Any] = []  # front doors' own HTTP servers (serve_app)
        # The resources of Stratus.Providers' hosts, for loading a new configuration (recorded
        # ones, new hosts probed): set by the daemon, which knows the providers.
        self.host_facts: HostFacts | None = None
        self.interactive_silence_s = INTERACTIVE_SILENCE_S
        self.payloads = Payloads(store)
        # Front doors register how their jobs are launched (by the door a payload names) and
        # what they check periodically; the controller never imports a front door.
        self.launchers: dict[str, LaunchBuilder] = {}
        self._periodic: list[Callable[[], None]] = []
        # Who else follows the cluster's state (real Slurm as the engine mirrors node and
        # partition changes into slurmctld, and starts slurmd on each node whose agent joins):
        # called after every stored change, and when a node's agent has joined and the node is up.
        self.transition_listeners: list[Callable[[Sequence[Transition]], None]] = []
        self.join_listeners: list[Callable[[str, AgentConn], None]] = []

    def register_launcher(self, door: str, builder: LaunchBuilder) -> None:
        """How jobs whose payload names ``door`` are launched (see :data:`LaunchBuilder`)."""
        self.launchers[door] = builder

    def add_periodic(self, check: Callable[[], None]) -> None:
        """Run ``check`` on the head node's loop about once a second (errors are logged)."""
        self._periodic.append(check)

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
            disabled = self.store.load_disabled_partitions(conn)
            usage = list(self._past_usage(conn, now))
        self.engine.restore([j for j, _ in jobs], [n for n, _ in nodes], next_id)
        for account, user, cpus, start, end in usage:
            self.engine.restore_usage(account, user, cpus, start, end, now)
        for node, inst in nodes:
            if inst is not None:
                self.instances[node.name] = Instance.from_json(inst)
        fleet = self.cluster.get("computeFleetStatus", FleetStatus.RUNNING)
        self.engine.fleet_running = fleet not in (
            FleetStatus.STOP_REQUESTED,
            FleetStatus.STOPPING,
            FleetStatus.STOPPED,
        )
        for name in self.engine.partitions:
            # A queue the stored state does not know (added by update-cluster while the fleet
            # was stopped) is as the fleet is: INACTIVE until the fleet starts.
            up = parts.get(name, self.engine.fleet_running)
            if name in parts or not up:
                # An administrator's DISABLED holds across restarts; one recorded for a queue
                # that an update was adding applies as soon as the queue exists.
                self.engine.set_partition_state(name, up, disabled=name in disabled)
        gone = set(parts) - set(self.engine.partitions)
        if gone:
            # Queues an update removed: their state goes with them (a queue added again later
            # under the same name starts enabled, as a new queue does).
            with self.store.transaction() as conn:
                self.store.forget_partitions(conn, gone)
        self.nodeplane.restored(now)
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
            self.fleet.observe(changes.transitions)
            for listener in self.transition_listeners:
                try:
                    listener(changes.transitions)
                except Exception:
                    log.exception("a transition listener failed")
        if actions:
            self.dispatch(actions)
        self.poke()

    def poke(self) -> None:
        """Ask the main loop for a scheduling pass soon."""
        self._wake.set()

    def dispatch(self, actions: list[Action]) -> None:
        for action in actions:
            if isinstance(action, LaunchJob):
                self.send_launch(action.job_id, action.run, action.nodes)
            elif isinstance(action, KillJob):
                self._end_interactive(action)
                self.nodeplane.kill(action)
            elif isinstance(action, PowerUp):
                self.fleet.power_up(action.nodes)  # one launch per compute resource for the pass
            elif isinstance(action, PowerDown):
                self.fleet.power_down(action.nodes)

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

    def send_launch(self, job_id: int, run: int, nodes: tuple[str, ...]) -> None:
        """Send a run's batch script to its first node, built by the front door that owns its payload.

        Nothing is sent while that node's agent is away (it is sent when the agent reconnects);
        a payload that cannot be turned into a launch fails the job, not the head node.
        """
        if not self.nodeplane.connected(nodes[0]):
            return
        job = self.engine.jobs.get(job_id)
        if job is None or job.run != run or job.spec.interactive:
            return  # an interactive allocation has no batch script: its client runs steps
        try:
            payload_id = job.array_id if job.array_id is not None else job.id
            info, script, env = self.payloads.full(payload_id)
            builder = self.launchers[info.get("door", DEFAULT_DOOR)]
            fields = builder(job, info, script, env)
            # Every job sees the cluster's object store (Stratus.S3), whichever door it came by.
            self.s3.apply(fields.setdefault("env", {}))
            msg = Launch(
                job_id=job.id,
                run=job.run,
                node=nodes[0],
                user=job.spec.user,
                uid=job.spec.uid,
                gid=job.spec.gid,
                gpus=job.alloc.gpus[0] if job.alloc is not None and job.alloc.gpus else 0,
                **fields,
            )
        except Exception:
            log.exception("job %s run %d: cannot build its launch; failing it", job_id, run)
            self.commit(self.engine.job_ended(job_id, run, self.clock(), exit_code=1))
            return
        self.nodeplane.send_launch(msg)

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
        """Move cluster and fleet statuses along as nodes come and go (see ``lifecycle.progress``)."""
        steps = progress(
            self.cluster.get("clusterStatus"),
            self.cluster.get("computeFleetStatus"),
            self.engine.nodes.values(),
            lambda name: name in self.instances,
        )
        for step in steps:
            if isinstance(step, FleetTo):
                self.set_fleet_status(step.status, step.reason)
            elif isinstance(step, ClusterTo):
                self.set_cluster_status(step.status, step.reason)
            else:
                self.fail_creation(step.code, step.reason)

    def protect(self, queues: Sequence[str], reason: str) -> None:
        """Protected mode (asked by the fleet): ``queues``' partitions INACTIVE, their nodes
        powered down, the compute fleet PROTECTED, in one transaction. Nothing is done while the
        fleet is being stopped or is stopped."""
        fleet = FleetStatus(self.cluster.get("computeFleetStatus", FleetStatus.UNKNOWN))
        if self.deleting or (
            fleet != FleetStatus.PROTECTED and not can_move(FLEET_TRANSITIONS, fleet, FleetStatus.PROTECTED)
        ):
            log.warning("not protecting %s (%s): the compute fleet is %s", ",".join(queues), reason, fleet)
            return
        actions = self.engine.deactivate_partitions(queues, self.clock(), "protected", reason)
        log.warning(
            "protected mode: partition %s INACTIVE, compute fleet %s -> PROTECTED (%s)",
            ",".join(queues),
            fleet,
            reason,
        )
        self.commit(actions, extra=lambda conn: self.set_fleet_status(FleetStatus.PROTECTED, reason, conn))

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
    # the fleet's host (see stratus.fleet.FleetHost); nodes are launched and terminated there
    # ------------------------------------------------------------------------------------------

    @property
    def instances(self) -> dict[str, Instance]:
        """Node name -> its recorded instance (the fleet's record, as stored)."""
        return self.fleet.instances

    def spawn(self, coro: Any) -> None:
        """Run ``coro`` as a task of the head node (cancelled at shutdown, failures logged)."""
        self._spawn(coro)

    def nodes_changed(self) -> None:
        """Nodes failed or came and went: move the cluster and fleet statuses along."""
        self._progress_lifecycle()

    async def release_agent(self, name: str, *, shutdown: bool) -> None:
        """Forget the node's agent connection; with ``shutdown``, ask the agent to stop first."""
        await self.nodeplane.release(name, shutdown=shutdown)

    @property
    def agent_address(self) -> str:
        """Where agents reach this head node (``HOST:PORT``)."""
        host = self.agent_host
        return f"[{host}]:{self.agent_port}" if ":" in host else f"{host}:{self.agent_port}"

    # ------------------------------------------------------------------------------------------
    # agents (the node plane: see nodeplane.py) and periodic checks
    # ------------------------------------------------------------------------------------------

    @property
    def agents(self) -> dict[str, AgentConn]:
        """The connected agents, by node."""
        return self.nodeplane.agents

    async def _watch_loop(self) -> None:
        """About once a second: agents' health, and the front doors' periodic checks."""
        while not self._stop.is_set():
            await asyncio.sleep(LIVENESS_PERIOD_S)
            for check in (*self._periodic, self._check_agents):
                try:
                    check()
                except Exception:
                    log.exception("periodic check failed; retrying")

    def _check_agents(self) -> None:
        self.nodeplane.check(self.clock())

    def record_usage(self, job_id: int, run: int, usage: dict[str, float]) -> None:
        """What an agent measured of a run: stored with the run's end (next commit)."""
        self._usage[(job_id, run)] = usage

    # ------------------------------------------------------------------------------------------
    # main loop and lifecycle of the process
    # ------------------------------------------------------------------------------------------

    async def start_servers(
        self,
        api_app: Any,
        api_port: int = 0,
        agent_port: int = 0,
        *,
        agent_tls: ssl.SSLContext | None = None,
        http_protocol: type[asyncio.Protocol] | None = None,
        agent_host: str = HEAD_ADDRESS,
    ) -> None:
        """Serve the API on the cluster's unix socket and the head node's address, and the agent port.

        The agent port listens on ``agent_host`` (where agents on other machines reach the head
        node), over TLS when ``agent_tls`` is given; the API stays on the head node's address.

        The given ports are reused if still free: agents were given the agent port when their
        node was launched, and dial it again after a restart. ``http_protocol`` is the HTTP
        protocol class of the API server (the API's, which learns unix-socket callers' uids).
        The socket is open to every local user when the head node runs as root (each is then
        served as who the kernel says they are), to its owner alone otherwise.
        """
        import uvicorn

        api_sock = _bind(api_port)
        agent_sock = _bind(agent_port, agent_host)
        self.agent_host = agent_host
        if agent_port and agent_sock.getsockname()[1] != agent_port:
            log.error(
                "agent port %d is taken: agents launched before cannot reconnect and will be replaced",
                agent_port,
            )
        unix_sock = bind_unix(str(self.paths.socket), 0o666 if os.geteuid() == 0 else 0o600)
        await self.nodeplane.serve(agent_sock, agent_tls)
        self.agent_port = agent_sock.getsockname()[1]
        config = uvicorn.Config(
            api_app, log_level="warning", access_log=False, lifespan="off", http=http_protocol or "auto"
        )
        server = uvicorn.Server(config)
        self._spawn(server.serve(sockets=[api_sock, unix_sock]))
        while not server.started:
            await asyncio.sleep(0.01)
        self.api_port = api_sock.getsockname()[1]
        self._api_server = server

    async def run(self) -> None:
        """Schedule, act and watch until stopped."""
        self._spawn(self.fleet.run(self._stop))
        self._spawn(self._watch_loop())
        if self.cluster.get("clusterStatus") == ClusterStatus.CREATE_IN_PROGRESS and not self.cluster.get(
            "computeFleetStatus"
        ):
            self.cluster["computeFleetStatus"] = FleetStatus.START_REQUESTED.value
            self._write_cluster([], None)
        if self.deleting:
            self._spawn(self._delete())  # a deletion the previous head node did not finish
        if self.cluster.get("clusterStatus") == ClusterStatus.UPDATE_IN_PROGRESS:
            # This head node runs on the configuration the update wrote: the update is done.
            self.set_cluster_status(ClusterStatus.UPDATE_COMPLETE, "configuration applied")
        for job in list(self.engine.jobs.values()):
            if job.spec.interactive and job.state == JobState.COMPLETING:
                self._spawn(self._finish_interactive(job.id, job.run))
        for name, node in self.engine.nodes.items():
            if node.state == NodeState.POWERING_DOWN or (
                node.state == NodeState.DOWN and name in self.instances
            ):
                self.fleet.power_down([name])
            elif node.state == NodeState.POWERING_UP and name not in self.instances:
                # The previous head node stopped between deciding to launch and recording the
                # instance: launch again (an agent it may have started is rejected and exits).
                self.fleet.power_up([name])
        while not self._stop.is_set():
            now = self.clock()
            if not self.deleting:
                try:
                    started = time.perf_counter()
                    actions = self.engine.tick(now, schedule=not self._recovering(now))
                    self.cycles.add(time.perf_counter() - started, now)
                    self.commit(actions)
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

    async def serve_app(self, app: Any, host: str, port: int = 0, *, fixed: bool = False) -> int:
        """Serve another HTTP app (a front door with a port of its own) on ``host``; its port.
        ``port`` is reused if free (any free port otherwise), or must be free when ``fixed``
        (``OSError`` when it is not). Stopped with the API by :meth:`shutdown_servers`."""
        import uvicorn

        sock = _bind(port, host)
        if fixed and port and sock.getsockname()[1] != port:
            sock.close()
            raise OSError(f"port {port} on {host} is taken")
        server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off"))
        self._spawn(server.serve(sockets=[sock]))
        while not server.started:
            await asyncio.sleep(0.01)
        self._extra_servers.append(server)
        return int(sock.getsockname()[1])

    async def shutdown_servers(self) -> None:
        if hasattr(self, "_api_server"):
            self._api_server.should_exit = True
            self.paths.socket.unlink(missing_ok=True)
        for server in self._extra_servers:
            server.should_exit = True
        self.nodeplane.close()
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
        if status == FleetStatus.START_REQUESTED:
            self.fleet.fleet_started()  # protected mode counts bootstrap failures from zero again
        # The request and its effect on partitions and nodes land in one transaction.
        self.commit(actions, extra=lambda conn: self.set_fleet_status(status, "user request", conn))
        self._progress_lifecycle()

    def set_partition_enabled(self, name: str, enabled: bool) -> None:
        """Enable or disable (an administrator's DISABLED, see ``NodePower.set_partition_enabled``)
        partition ``name``; stored before this returns. A name the configuration does not have
        yet (a queue an update is adding) gets the state stored for when it exists."""
        if name in self.engine.partitions:
            self.commit(self.engine.set_partition_enabled(name, enabled, self.clock()))
            return
        with self.store.transaction() as conn:
            if enabled:
                self.store.forget_partitions(conn, [name])  # it starts as a new queue does
            else:
                self.store.set_partition_disabled(conn, name)

    def nodes_in_use(self, names: set[str]) -> list[str]:
        """Which of ``names`` hold work or a machine: a job's allocation, an instance, or any
        state but powered down. Such a node cannot leave the configuration under its jobs."""
        allocated = {
            n
            for job in self.engine.jobs.values()
            if job.alloc is not None and not job.state.final
            for n in job.alloc.nodes
        }
        return sorted(
            name
            for name in names
            if name in allocated
            or name in self.instances
            or (name in self.engine.nodes and self.engine.nodes[name].state != NodeState.POWERED_DOWN)
        )

    def partitions_in_use(self, names: set[str]) -> list[str]:
        """Which of the partitions ``names`` unfinished jobs wait for or run in."""
        used: set[str] = set()
        for job in self.engine.jobs.values():
            if not job.state.final:
                used.update(job.spec.partitions or ())
                if job.partition:
                    used.add(job.partition)
        return sorted(names & used)

    def apply_config(self, text: str) -> None:
        """update-cluster: make ``text`` (validated, with its changes allowed) the configuration.

        The file is replaced first (atomically, synced), then UPDATE_IN_PROGRESS is stored, then
        the head node restarts onto it (see :attr:`restart_requested`); the new head node
        restores every job and node from the store, as after any restart, and records
        UPDATE_COMPLETE. Jobs keep running throughout: their agents reconnect.
        """
        tmp = self.paths.config.with_suffix(".update")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        tmp.replace(self.paths.config)
        self.set_cluster_status(ClusterStatus.UPDATE_IN_PROGRESS, "update-cluster")
        self.restart_requested = True
        # Let the answer go out before the servers stop.
        asyncio.get_running_loop().call_later(0.2, self.stop)

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
            self.nodeplane.shutdown_all()
            await self.fleet.terminate_all()
        finally:
            self.stop()

    def version(self) -> str:
        return __version__

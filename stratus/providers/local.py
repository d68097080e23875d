"""The local provider: every node is a node-agent process on this machine.

Each agent starts in a session of its own (it is the session leader) and runs its job steps in
that session. "Terminating the instance" therefore means: ask the agent to stop (SIGTERM), then
kill every process still in that session (SIGKILL). That catches job processes orphaned by an
agent that was itself killed, so a requeued job can never run twice. Processes are found by
session id and confirmed by the instance id in their environment (``STRATUS_INSTANCE_ID``, set
for the agent and every job step), and the agent by pid plus its start time; so a reused pid
never gets another process killed, and nothing is ever found by name.

What it launched is recorded in the cluster's ``instances/`` folder (one JSON file per
instance: the instance with its pid, start time, tags and the idempotency token of its launch),
written before ``create`` returns. ``describe`` lists those records whose processes still run,
so an agent nobody else recorded (its head node stopped between the launch and recording it) is
still found. Records of instances with nothing left running are removed.

Every blocking step (spawning, process scans, waiting for agents to exit) runs in a worker
thread; the coroutines never block their event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence

import psutil

from stratus.agent.protocol import INSTANCE_ENV, JOIN_ENV
from stratus.net import LOCAL_NODE_ADDRESS
from stratus.paths import ClusterPaths
from stratus.process import spawn_detached
from stratus.providers.base import (
    TAG_CLUSTER,
    TAG_GROUP,
    TAG_NODE,
    Bootstrap,
    CapacityError,
    ConfigurationError,
    CreateResult,
    Instance,
    NodeGroup,
    ProviderError,
)
from stratus.providers.records import InstanceRecords

# A process's start time as psutil reports it is rounded: allow this much difference.
_START_TIME_SLACK_S = 1.0
# How long a SIGKILLed process may take to be gone before terminate() gives up waiting.
_KILL_WAIT_S = 5.0
# Spawn failures that mean "the machine cannot take more processes now", not a bad request.
_CAPACITY_ERRNOS = {errno.EAGAIN, errno.ENOMEM, errno.EMFILE, errno.ENFILE, errno.ENOSPC}


def new_instance_id() -> str:
    """An id shaped like EC2's (``i-`` and 17 hex digits)."""
    return "i-" + secrets.token_hex(9)[:17]


class LocalProvider:
    """Runs node agents as local processes of the cluster at ``paths``; records them in its
    ``instances/`` folder. Each agent's log is the node's log, its spool the node's spool
    folder, and the cluster's state store its lifeline: deleting the cluster stops it.

    ``python`` is the interpreter that runs the agents (this one by default).
    """

    name = "local"

    def __init__(self, paths: ClusterPaths, *, python: str | None = None) -> None:
        self.paths = paths
        self.state_dir = paths.root / "instances"
        self.records = InstanceRecords(self.state_dir, "i-")
        self.python = python or sys.executable
        self._children: dict[int, subprocess.Popen[bytes]] = {}
        # create() of the same token from two callers must not both launch: one at a time.
        self._create_lock = threading.Lock()

    # -- create ---------------------------------------------------------------------------------

    async def create(
        self, group: NodeGroup, names: Sequence[str], token: str, bootstrap: Bootstrap
    ) -> CreateResult:
        return await asyncio.to_thread(self._create, group, list(names), token, bootstrap)

    def _create(self, group: NodeGroup, names: list[str], token: str, bootstrap: Bootstrap) -> CreateResult:
        result = CreateResult()
        with self._create_lock:
            # A token seen before: hand back what it launched (still running) instead of a twin.
            earlier = {inst.node: inst for inst, tok in self.records.read(group.cluster) if tok == token}
            for name in names:
                inst = earlier.get(name)
                if inst is not None and self._agent(inst) is not None:
                    result.instances.append(inst)
                    continue
                try:
                    result.instances.append(self._launch(group, name, token, bootstrap))
                except ProviderError as exc:
                    result.failures[name] = exc
        return result

    def _launch(self, group: NodeGroup, node: str, token: str, bootstrap: Bootstrap) -> Instance:
        instance_id = new_instance_id()
        paths = self.paths
        args = ["--head", bootstrap.head, "--node", node, "--instance-id", instance_id]
        args += ["--spool", str(paths.spool(node)), "--kill-wait", str(bootstrap.kill_wait_s)]
        args += ["--lifeline", str(paths.db)]
        if os.geteuid() == 0:
            # Each node's jobs see the node's name as the host name, as on a real node.
            args += ["--hostname", node]
        actions = bootstrap.actions.get(group.queue)
        if actions:
            args += ["--actions", json.dumps(actions)]
        if bootstrap.ca_file:
            args += ["--ca-file", bootstrap.ca_file]  # the agent port speaks TLS
        try:
            paths.logs.mkdir(parents=True, exist_ok=True)
            self.state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
            proc = spawn_detached(
                "stratus.agent",
                args,
                paths.node_log(node),
                extra_env={INSTANCE_ENV: instance_id, JOIN_ENV: bootstrap.join.get(node, "")},
                python=self.python,
            )
        except OSError as exc:
            raise _spawn_error(exc) from exc
        self._children[proc.pid] = proc
        try:
            create_time = psutil.Process(proc.pid).create_time()
        except psutil.Error:
            create_time = 0.0
        inst = Instance(
            instance_id=instance_id,
            node=node,
            instance_type=group.instance_type,
            launch_time=time.time(),
            private_ip=LOCAL_NODE_ADDRESS,
            data={"pid": proc.pid, "create_time": create_time},
            queue=group.queue,
            tags={TAG_CLUSTER: group.cluster, TAG_NODE: node, TAG_GROUP: group.name},
        )
        try:
            self.records.write(inst, token)
        except OSError as exc:
            # Unrecorded, it could not be found again: it must not run.
            self._terminate([inst], 0.0)
            raise ProviderError("InternalError", f"cannot record instance {instance_id}: {exc}") from exc
        return inst

    # -- describe, liveness ---------------------------------------------------------------------

    async def describe(self, cluster: str) -> list[Instance]:
        return await asyncio.to_thread(self._describe, cluster)

    def _describe(self, cluster: str) -> list[Instance]:
        self.reap()
        records = [inst for inst, _ in self.records.read(cluster)]
        # The agent is enough to say "running"; only instances without one need the session scan.
        headless = [inst for inst in records if self._agent(inst) is None]
        headless_ids = {inst.instance_id for inst in headless}
        leftovers = {owner.instance_id for owner, _ in self._session_members(headless)}
        out = []
        for inst in records:
            if inst.instance_id in headless_ids and inst.instance_id not in leftovers:
                self.records.remove(inst.instance_id)  # nothing of it runs
                continue
            out.append(inst)
        return out

    def address(self, instance: Instance) -> str:
        return instance.private_ip

    async def is_alive(self, instance: Instance) -> bool:
        return await asyncio.to_thread(self._is_alive, instance)

    def _is_alive(self, instance: Instance) -> bool:
        self.reap()
        return self._agent(instance) is not None

    def _agent(self, instance: Instance) -> psutil.Process | None:
        pid = int(instance.data.get("pid", 0))
        if pid <= 0:
            return None
        try:
            p = psutil.Process(pid)
            if abs(p.create_time() - float(instance.data.get("create_time", 0.0))) > _START_TIME_SLACK_S:
                return None  # the pid was reused by another process
            if p.status() == psutil.STATUS_ZOMBIE:
                return None
            return p
        except psutil.Error:
            return None

    def session_members(self, instance: Instance) -> list[psutil.Process]:
        """Every live process of the node (its agent and what it started), by session and marker."""
        return [p for _, p in self._session_members([instance])]

    def _session_members(self, instances: Sequence[Instance]) -> list[tuple[Instance, psutil.Process]]:
        """Live processes of ``instances``, found in one pass over the process table."""
        # A session id is the agent's pid; a stale record may share it with a live instance.
        by_sid: dict[int, list[Instance]] = {}
        for inst in instances:
            sid = int(inst.data.get("pid", 0))
            if sid > 0:
                by_sid.setdefault(sid, []).append(inst)
        out: list[tuple[Instance, psutil.Process]] = []
        if not by_sid:
            return out
        for p in psutil.process_iter(["pid", "create_time"]):
            try:
                candidates = by_sid.get(os.getsid(p.pid))
                if not candidates or p.status() == psutil.STATUS_ZOMBIE:
                    continue
                marker = p.environ().get(INSTANCE_ENV)
            except (ProcessLookupError, PermissionError, psutil.Error):
                continue
            for inst in candidates:
                born = float(inst.data.get("create_time", 0.0))
                if p.info["create_time"] + _START_TIME_SLACK_S < born:
                    continue
                if marker != inst.instance_id:
                    continue  # same session id, another process: the pid was reused
                out.append((inst, p))
        return out

    # -- terminate ------------------------------------------------------------------------------

    async def terminate(self, instances: Sequence[Instance], grace_s: float) -> None:
        if instances:
            await asyncio.to_thread(self._terminate, list(instances), grace_s)

    def _terminate(self, instances: list[Instance], grace_s: float) -> None:
        agents = [a for a in (self._agent(inst) for inst in instances) if a is not None]
        for agent in agents:
            with contextlib.suppress(psutil.Error):
                agent.send_signal(signal.SIGTERM)
        if agents and grace_s > 0:
            with contextlib.suppress(psutil.Error):
                psutil.wait_procs(agents, timeout=grace_s)
        # The agent itself by pid and start time too: one killed right after it was started may
        # not carry its session and marker yet (not exec'd), and must not outlive this call.
        members = list(
            {p.pid: p for p in [*agents, *(p for _, p in self._session_members(instances))]}.values()
        )
        for p in members:
            with contextlib.suppress(psutil.Error):
                p.kill()
        # Return only once they are gone: a failed node's jobs are requeued right after this.
        _wait_gone(members, _KILL_WAIT_S)
        self.reap()
        for inst in instances:
            self.records.remove(inst.instance_id)

    def reap(self) -> None:
        # Called from several threads (terminate, is_alive) and the event loop: pop, not del.
        for pid, proc in list(self._children.items()):
            if proc.poll() is not None:
                self._children.pop(pid, None)


def _wait_gone(procs: list[psutil.Process], timeout_s: float) -> None:
    """Wait until every process has exited (a zombie has: it runs nothing), at most ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    left = list(procs)
    while left and time.monotonic() < deadline:
        still = []
        for p in left:
            with contextlib.suppress(psutil.Error):
                if p.status() != psutil.STATUS_ZOMBIE:
                    still.append(p)
        left = still
        if left:
            time.sleep(0.01)


def _spawn_error(exc: OSError) -> ProviderError:
    """What a failure to start an agent process means, as a provider error."""
    if exc.errno in _CAPACITY_ERRNOS:
        return CapacityError("InsufficientInstanceCapacity", f"cannot start node agent: {exc}")
    if (
        isinstance(exc, FileNotFoundError | PermissionError | NotADirectoryError)
        or exc.errno == errno.ENOEXEC
    ):
        return ConfigurationError("InvalidParameterValue", f"cannot start node agent: {exc}")
    return ProviderError("InternalError", f"cannot start node agent: {exc}")

"""The local provider: every node is a node-agent process on this machine.

Each agent starts in a session of its own (it is the session leader) and runs its job steps in
that session. "Terminating the instance" therefore means: ask the agent to stop (SIGTERM), then
kill every process still in that session (SIGKILL). That catches job processes orphaned by an
agent that was itself killed, so a requeued job can never run twice. Processes are found by
session id and confirmed by the instance id in their environment (``STRATUS_INSTANCE_ID``, set
for the agent and every job step), and the agent by pid plus its start time; so a reused pid
never gets another process killed, and nothing is ever found by name.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import subprocess
import sys
import time

import psutil

from stratus.agent.agent import INSTANCE_ENV
from stratus.paths import ClusterPaths
from stratus.process import spawn_detached
from stratus.providers.base import Instance, LaunchError, LaunchRequest


def new_instance_id() -> str:
    """An id shaped like EC2's (``i-`` and 17 hex digits)."""
    return "i-" + secrets.token_hex(9)[:17]


class LocalProvider:
    """Runs node agents as local processes."""

    name = "local"

    def __init__(self, paths: ClusterPaths, *, kill_wait_s: float = 30.0, python: str | None = None) -> None:
        self.paths = paths
        self.kill_wait_s = kill_wait_s
        self.python = python or sys.executable
        self._children: dict[int, subprocess.Popen[bytes]] = {}

    def launch(self, request: LaunchRequest) -> Instance:
        instance_id = new_instance_id()
        self.paths.logs.mkdir(parents=True, exist_ok=True)
        log_path = self.paths.node_log(request.node)
        args = ["--cluster-dir", str(self.paths.root), "--node", request.node]
        args += ["--instance-id", instance_id, "--kill-wait", str(self.kill_wait_s)]
        try:
            proc = spawn_detached(
                "stratus.agent", args, log_path, extra_env={INSTANCE_ENV: instance_id}, python=self.python
            )
        except OSError as exc:
            raise LaunchError("LaunchFailure", f"cannot start node agent: {exc}") from exc
        self._children[proc.pid] = proc
        try:
            create_time = psutil.Process(proc.pid).create_time()
        except psutil.Error:
            create_time = 0.0
        return Instance(
            instance_id=instance_id,
            node=request.node,
            instance_type=request.instance_type,
            launch_time=time.time(),
            private_ip="127.0.0.1",
            data={"pid": proc.pid, "create_time": create_time},
            queue=request.queue,
        )

    def _agent(self, instance: Instance) -> psutil.Process | None:
        pid = int(instance.data.get("pid", 0))
        if pid <= 0:
            return None
        try:
            p = psutil.Process(pid)
            if abs(p.create_time() - float(instance.data.get("create_time", 0.0))) > 1.0:
                return None  # the pid was reused by another process
            if p.status() == psutil.STATUS_ZOMBIE:
                return None
            return p
        except psutil.Error:
            return None

    def is_alive(self, instance: Instance) -> bool:
        self.reap()
        return self._agent(instance) is not None

    def session_members(self, instance: Instance) -> list[psutil.Process]:
        """Every live process of the node (its agent and what it started), by session and marker."""
        sid = int(instance.data.get("pid", 0))
        born = float(instance.data.get("create_time", 0.0))
        out = []
        for p in psutil.process_iter(["pid", "create_time"]):
            try:
                if p.info["create_time"] + 1.0 < born or os.getsid(p.pid) != sid:
                    continue
                if p.status() == psutil.STATUS_ZOMBIE:
                    continue
                if p.environ().get(INSTANCE_ENV) != instance.instance_id:
                    continue  # same session id, another process: the pid was reused
                out.append(p)
            except (ProcessLookupError, PermissionError, psutil.Error):
                continue
        return out

    def terminate(self, instance: Instance, grace_s: float) -> None:
        agent = self._agent(instance)
        if agent is not None:
            try:
                agent.send_signal(signal.SIGTERM)
                agent.wait(timeout=grace_s)
            except psutil.TimeoutExpired:
                pass
            except psutil.Error:
                pass
        for p in self.session_members(instance):
            with contextlib.suppress(psutil.Error):
                p.kill()
        self.reap()

    def reap(self) -> None:
        # Called from several threads (terminate, is_alive) and the event loop: pop, not del.
        for pid, proc in list(self._children.items()):
            if proc.poll() is not None:
                self._children.pop(pid, None)

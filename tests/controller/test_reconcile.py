"""The head node and an agent agree on what ran, whatever was lost in between.

A scripted agent speaks the real protocol to a real head node over a real socket (the head node
runs in-process, with a provider that records launches instead of starting processes), so the
cases a crash produces can be played exactly: a report whose ack was lost, a launch that was
decided but never delivered, a run the head node no longer wants.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from stratus.agent.protocol import decode, encode
from stratus.api.app import create_app
from stratus.config import load_cluster_config
from stratus.controller.core import Controller
from stratus.paths import ClusterPaths
from stratus.providers.base import Instance, LaunchRequest
from stratus.slurm.views import BatchRequest, ClientContext
from stratus.store.store import Store

CONFIG = """\
HeadNode:
  InstanceType: t3.micro
Scheduling:
  Scheduler: slurm
  SlurmQueues:
  - Name: q
    ComputeResources:
    - Name: c
      InstanceType: t3.micro
      MinCount: 1
      MaxCount: 1
"""


class RecordingProvider:
    """Launches nothing: hands out instance records, which a scripted agent then claims."""

    name = "recording"

    def __init__(self) -> None:
        self.launched: dict[str, Instance] = {}

    def launch(self, request: LaunchRequest) -> Instance:
        inst = Instance(f"i-{secrets.token_hex(4)}", request.node, request.instance_type, 0.0, "127.0.0.1")
        self.launched[request.node] = inst
        return inst

    def terminate(self, instance: Instance, grace_s: float) -> None:
        self.launched.pop(instance.node, None)

    def is_alive(self, instance: Instance) -> bool:
        return instance.node in self.launched

    def reap(self) -> None:
        pass


class ScriptedAgent:
    def __init__(self, ctrl: Controller, node: str, instance_id: str) -> None:
        self.ctrl, self.node, self.instance_id = ctrl, node, instance_id
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def connect(self, running: list[dict[str, Any]], finished: list[dict[str, Any]]) -> None:
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.ctrl.agent_port)
        hello = {
            "type": "hello",
            "token": self.ctrl.token,
            "node": self.node,
            "instance_id": self.instance_id,
            "pid": 1,
            "running": running,
            "finished": finished,
        }
        self.writer.write(encode(hello))
        assert (await self.next())["type"] == "welcome"

    async def next(self, timeout: float = 10.0) -> dict[str, Any]:
        assert self.reader is not None
        return decode(await asyncio.wait_for(self.reader.readuntil(b"\n"), timeout))

    async def expect(self, kind: str) -> dict[str, Any]:
        while True:
            msg = await self.next()
            if msg["type"] == kind:
                return msg

    def send(self, msg: dict[str, Any]) -> None:
        assert self.writer is not None
        self.writer.write(encode(msg))

    async def close(self) -> None:
        assert self.writer is not None
        self.writer.close()
        await asyncio.sleep(0.05)


def finished(job_id: int, run: int = 0) -> dict[str, Any]:
    return {"type": "finished", "job_id": job_id, "run": run, "exit_code": 0, "signal": 0, "end_time": 0}


@contextlib.asynccontextmanager
async def head_node(tmp_path: Path, provider: RecordingProvider) -> AsyncIterator[Controller]:
    """A real head node for a fresh cluster, serving on loopback, stopped on exit."""
    paths = ClusterPaths(tmp_path / "c")
    paths.root.mkdir()
    paths.config.write_text(CONFIG)
    paths.token.write_text(secrets.token_hex(16))
    store = Store.open(paths.db, create=True)
    with store.transaction() as conn:
        store.set_meta(conn, "cluster", {"clusterName": "c", "clusterStatus": "CREATE_IN_PROGRESS"})
    ctrl = Controller(paths, load_cluster_config(CONFIG), store, provider)
    ctrl.restore()
    await ctrl.start_servers(create_app(ctrl))
    runner = asyncio.create_task(ctrl.run())
    try:
        yield ctrl
    finally:
        ctrl.stop()
        await runner
        await ctrl.shutdown_servers()
        store.close()


async def _scenario(tmp_path: Path) -> None:
    async with head_node(tmp_path, RecordingProvider()) as ctrl:
        store = ctrl.store
        for _ in range(200):
            if "q-st-c-1" in ctrl.instances:
                break
            await asyncio.sleep(0.01)
        agent = ScriptedAgent(ctrl, "q-st-c-1", ctrl.instances["q-st-c-1"].instance_id)
        await agent.connect([], [])
        ctx = ClientContext(user="alice", uid=1000, gid=1000, cwd=str(tmp_path), env={}, host="h")

        # 1. A report whose ack was lost is repeated on reconnection and recorded once.
        job = ctrl.slurm.submit(BatchRequest(script="#!/bin/sh\ntrue\n", name="one"), ctx)
        launch = await agent.expect("launch")
        assert (launch["job_id"], launch["run"]) == (job, 0)
        agent.send({"type": "started", "job_id": job, "run": 0, "pid": 42})
        agent.send(finished(job))
        assert (await agent.expect("ack"))["job_id"] == job
        await agent.close()
        await agent.connect([], [finished(job)])
        assert (await agent.expect("ack"))["job_id"] == job
        with store.reading() as conn:
            ends = [t for t in store.journal_for(conn, "job", str(job)) if t.new == "COMPLETED"]
        assert len(ends) == 1
        assert ctrl.engine.jobs[job].state == "COMPLETED"

        # 2. A launch decided but never delivered is sent again when the agent reconnects.
        job2 = ctrl.slurm.submit(BatchRequest(script="#!/bin/sh\ntrue\n", name="two"), ctx)
        first = await agent.expect("launch")
        assert first["job_id"] == job2
        await agent.close()  # as if the message was lost with the old head node
        await agent.connect([], [])
        again = await agent.expect("launch")
        assert (again["job_id"], again["run"]) == (job2, 0)
        assert ctrl.engine.jobs[job2].run == 0  # the same run: it never started anywhere

        # 3. A run the head node does not know is killed, not adopted.
        await agent.close()
        await agent.connect([{"job_id": job2, "run": 0, "pid": 7}, {"job_id": 999, "run": 0, "pid": 8}], [])
        kill = await agent.expect("kill")
        assert (kill["job_id"], kill["run"]) == (999, 0)
        await agent.close()


def test_reconciliation_after_lost_messages(tmp_path: Path) -> None:
    asyncio.run(_scenario(tmp_path))


class FailingProvider(RecordingProvider):
    def launch(self, request: LaunchRequest) -> Instance:
        from stratus.providers.base import LaunchError

        raise LaunchError("InsufficientInstanceCapacity", "no capacity")


async def _failed_creation(tmp_path: Path) -> None:
    async with head_node(tmp_path, FailingProvider()) as ctrl:
        for _ in range(300):
            if ctrl.cluster.get("clusterStatus") == "CREATE_FAILED":
                break
            await asyncio.sleep(0.01)
        assert ctrl.cluster["clusterStatus"] == "CREATE_FAILED"
        (failure,) = ctrl.cluster["failures"]
        assert failure["failureCode"] == "StaticNodeBootstrapFailure"
        assert "InsufficientInstanceCapacity" in failure["failureReason"]
        # The fleet is stopped: the failed static node is not relaunched in a loop.
        for _ in range(300):
            if ctrl.cluster.get("computeFleetStatus") == "STOPPED":
                break
            await asyncio.sleep(0.01)
        assert ctrl.cluster["computeFleetStatus"] == "STOPPED"
        assert not ctrl.engine.fleet_running


def test_static_node_that_cannot_launch_fails_creation(tmp_path: Path) -> None:
    asyncio.run(_failed_creation(tmp_path))

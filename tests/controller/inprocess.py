"""A real head node in-process, and a scripted agent that speaks the wire format by hand.

The head node serves on loopback with a provider that records launches instead of starting
processes, so tests can play an agent exactly (lost messages, wrong credentials, forged reports)
or drive the cluster service directly.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import ssl
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

from stratus.config import load_cluster_config
from stratus.controller.core import Controller
from stratus.headnode.compose import HeadNode, assemble
from stratus.paths import ClusterPaths
from stratus.providers.base import Bootstrap, CreateResult, Instance, NodeGroup
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
        self.joins: dict[str, str] = {}  # the join credential each node's agent was given

    async def create(
        self, group: NodeGroup, names: Sequence[str], token: str, bootstrap: Bootstrap
    ) -> CreateResult:
        result = CreateResult()
        self.joins.update(bootstrap.join)
        for node in names:
            inst = Instance(f"i-{secrets.token_hex(4)}", node, group.instance_type, 0.0, "127.0.0.1")
            self.launched[node] = inst
            result.instances.append(inst)
        return result

    async def describe(self, cluster: str) -> list[Instance]:
        return list(self.launched.values())

    async def terminate(self, instances: Sequence[Instance], grace_s: float) -> None:
        for instance in instances:
            self.launched.pop(instance.node, None)

    def address(self, instance: Instance) -> str:
        return instance.private_ip

    async def is_alive(self, instance: Instance) -> bool:
        return instance.node in self.launched

    def reap(self) -> None:
        pass


def encode(msg: dict[str, Any]) -> bytes:
    return json.dumps(msg).encode() + b"\n"


def decode(line: bytes) -> dict[str, Any]:
    msg = json.loads(line)
    assert isinstance(msg, dict)
    return msg


class ScriptedAgent:
    """Speaks the node plane's wire format by hand, as an agent of ``node`` would."""

    def __init__(self, ctrl: Controller, node: str, instance_id: str, join: str) -> None:
        self.ctrl, self.node, self.instance_id, self.join = ctrl, node, instance_id, join
        self.secret = secrets.token_hex(32)
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def hello(
        self, running: list[dict[str, Any]], finished: list[dict[str, Any]], **override: Any
    ) -> dict[str, Any]:
        """Say hello; the head node's answer (welcome or reject)."""
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.ctrl.agent_port)
        hello = {
            "type": "hello",
            "version": 1,
            "node": self.node,
            "instance_id": self.instance_id,
            "secret": self.secret,
            "join": self.join,
            "pid": 1,
            "running": running,
            "finished": finished,
            **override,
        }
        self.writer.write(encode(hello))
        return await self.next()

    async def connect(self, running: list[dict[str, Any]], finished: list[dict[str, Any]]) -> None:
        assert (await self.hello(running, finished))["type"] == "welcome"

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
async def head_node(
    tmp_path: Path,
    provider: RecordingProvider,
    config: str = CONFIG,
    *,
    agent_tls: ssl.SSLContext | None = None,
) -> AsyncIterator[HeadNode]:
    """A real head node for a fresh cluster, serving on loopback, stopped on exit."""
    paths = ClusterPaths(tmp_path / "c")
    paths.root.mkdir()
    paths.config.write_text(config)
    paths.token.write_text(secrets.token_hex(16))
    store = Store.open(paths.db, create=True)
    with store.transaction() as conn:
        store.set_meta(conn, "cluster", {"clusterName": "c", "clusterStatus": "CREATE_IN_PROGRESS"})
    ctrl = Controller(paths, load_cluster_config(config), store, provider)
    ctrl.restore()
    head = assemble(ctrl)
    await ctrl.start_servers(head.app, agent_tls=agent_tls, http_protocol=head.http_protocol)
    runner = asyncio.create_task(ctrl.run())
    try:
        yield head
    finally:
        ctrl.stop()
        await runner
        await ctrl.shutdown_servers()
        store.close()

"""The node plane over TLS: the agent's own connection code against the head node's, both with
real certificates (made for the test), and a plain-text client refused.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from pathlib import Path

import trustme

from stratus.agent.connection import HeadLink
from stratus.agent.protocol import Hello, Launch, Message
from stratus.slurm.views import BatchRequest, ClientContext
from tests.controller.inprocess import RecordingProvider, head_node


async def _scenario(tmp_path: Path) -> None:
    ca = trustme.CA()
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server)
    client = ssl.create_default_context()
    ca.configure_trust(client)

    provider = RecordingProvider()
    async with head_node(tmp_path, provider, agent_tls=server) as head:
        ctrl = head.controller
        for _ in range(300):
            if "q-st-c-1" in ctrl.instances and "q-st-c-1" in provider.joins:
                break
            await asyncio.sleep(0.01)
        instance_id = ctrl.instances["q-st-c-1"].instance_id

        def hello() -> Hello:
            return Hello("q-st-c-1", instance_id, "s" * 64, join=provider.joins["q-st-c-1"])

        # Plain text to a TLS port: the handshake fails, nothing is admitted.
        reader, writer = await asyncio.open_connection("127.0.0.1", ctrl.agent_port)
        writer.write(b'{"type": "hello"}\n')
        with contextlib.suppress(ConnectionResetError):  # a reset refuses it as well
            assert await asyncio.wait_for(reader.read(), 10) == b""
        writer.close()
        assert not ctrl.nodeplane.connected("q-st-c-1")

        # The agent's link, over TLS: welcomed, then it receives its node's launch.
        link = HeadLink("127.0.0.1", ctrl.agent_port, hello, tls=client)
        got: list[Message] = []
        stop = asyncio.Event()

        async def handle(msg: Message) -> None:
            got.append(msg)
            if isinstance(msg, Launch):
                stop.set()

        session = asyncio.create_task(link.session(handle, stop))
        for _ in range(300):
            if ctrl.nodeplane.connected("q-st-c-1"):
                break
            await asyncio.sleep(0.01)
        ctx = ClientContext(user="u", uid=1000, gid=1000, cwd=str(tmp_path), env={}, host="h")
        job = head.slurm.submit(BatchRequest(script="#!/bin/sh\ntrue\n"), ctx)
        await asyncio.wait_for(session, 10)
        launch = next(m for m in got if isinstance(m, Launch))
        assert (launch.job_id, launch.node) == (job, "q-st-c-1")
        assert (launch.user, launch.uid, launch.gid) == ("u", 1000, 1000)  # the agent runs it as them


def test_agents_and_head_node_speak_tls(tmp_path: Path) -> None:
    asyncio.run(_scenario(tmp_path))

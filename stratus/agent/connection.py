"""The agent's link to its head node: hello, heartbeats, reports until acknowledged, reconnects.

The agent dials the head node's agent address (it is given that address; it never looks at the
head node's files), presents its credentials in :class:`~stratus.agent.protocol.Hello`, and
then reads messages for its executor and step runner. It keeps its jobs running while the head
node is away and dials again with a back-off; every ``Finished`` report it made meanwhile goes
in the next hello.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from stratus.agent.executor import log
from stratus.agent.protocol import (
    HEARTBEAT_S,
    MAX_LINE,
    Finished,
    Heartbeat,
    Hello,
    Message,
    Reject,
    Welcome,
    decode,
    encode,
)

if TYPE_CHECKING:
    import ssl  # only a TLS agent loads it: it costs the agent's start-up time otherwise


class Rejected(Exception):
    """The head node refused this agent for good (wrong credential, stale instance)."""


class HeadLink:
    """One agent's connection to the head node (re-established as often as needed)."""

    def __init__(
        self,
        host: str,
        port: int,
        hello: Callable[[], Hello],
        *,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self._hello = hello
        self._tls = tls
        self.unacked: dict[tuple[int, int], Finished] = {}
        self.writer: asyncio.StreamWriter | None = None
        # This end's address on the link: where the node is reached from the head node's side.
        self.local_address = ""

    def send(self, msg: Message) -> None:
        """Send now if connected; otherwise drop it (what must survive goes in ``report``)."""
        if self.writer is not None and not self.writer.is_closing():
            self.writer.write(encode(msg))

    def report(self, msg: Finished) -> None:
        """A run's end: kept and repeated in every hello until the head node acknowledges it."""
        self.unacked[(msg.job_id, msg.run)] = msg
        self.send(msg)

    def ack(self, job_id: int, run: int) -> None:
        self.unacked.pop((job_id, run), None)

    async def session(self, handle: Callable[[Message], Awaitable[None]], stopping: asyncio.Event) -> None:
        """Connect, say hello, then hand every message to ``handle`` until the link or we stop.

        Raises :class:`Rejected` if the head node refuses the hello, OSError and ValueError
        when the link fails.
        """
        reader, writer = await asyncio.open_connection(self.host, self.port, limit=MAX_LINE, ssl=self._tls)
        sockname = writer.get_extra_info("sockname")
        if sockname:
            self.local_address = str(sockname[0])
        try:
            writer.write(encode(self._hello()))
            await writer.drain()
            first = decode(await reader.readuntil(b"\n"))
            if isinstance(first, Reject):
                raise Rejected(first.reason)
            if not isinstance(first, Welcome):
                raise ValueError(f"unexpected first message {first.type!r}")
            log("connected to the head node")
            self.writer = writer
            beat = asyncio.create_task(self._heartbeat(writer))
            stop = asyncio.create_task(stopping.wait())
            try:
                while True:
                    read = asyncio.create_task(reader.readuntil(b"\n"))
                    done, _ = await asyncio.wait({read, stop}, return_when=asyncio.FIRST_COMPLETED)
                    if stop in done:
                        read.cancel()
                        return
                    await handle(decode(read.result()))
            finally:
                beat.cancel()
                stop.cancel()
        finally:
            self.writer = None
            writer.close()

    async def _heartbeat(self, writer: asyncio.StreamWriter) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_S)
            writer.write(encode(Heartbeat()))

    async def drain(self, timeout: float = 1.0) -> None:
        """Give what was sent a moment to leave (before the agent exits)."""
        if self.writer is not None:
            with contextlib.suppress(OSError, TimeoutError):
                await asyncio.wait_for(self.writer.drain(), timeout=timeout)

"""The head node's listening sockets."""

from __future__ import annotations

import asyncio
import socket

from stratus.controller.core import _bind


def test_regression_answers_over_tcp_waited_40_ms_for_a_delayed_ack() -> None:
    """Connections accepted on the head node's TCP ports have Nagle's algorithm off.

    asyncio turns it off only on connections of sockets created as IPPROTO_TCP; the API's and the
    Batch endpoint's sockets were not, and each answer, written as headers then body, waited for
    the client's delayed acknowledgement: about 44 ms per boto3 call instead of 2 ms."""
    seen: list[int] = []

    async def main() -> None:
        async def accepted(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            sock = writer.get_extra_info("socket")
            seen.append(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            writer.close()

        listening = _bind(0, "127.0.0.1")
        assert listening.proto == socket.IPPROTO_TCP
        server = await asyncio.start_server(accepted, sock=listening)
        port = listening.getsockname()[1]
        _, writer = await asyncio.open_connection("127.0.0.1", port)
        for _ in range(200):
            if seen:
                break
            await asyncio.sleep(0.01)
        writer.close()
        server.close()
        await server.wait_closed()

    asyncio.run(main())
    assert seen and seen[0] != 0

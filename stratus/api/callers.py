"""Who is calling the head node: the kernel's word on its unix socket, the token's over TCP.

Two ways in, one answer: the caller's :class:`~stratus.service.model.Identity`, which the routes
read with :func:`identity` (never from a request's body):

* **The unix socket** (``api.sock`` in the cluster's directory) serves callers on the head node's
  machine: the Slurm commands, srun and salloc. The kernel says who connected (``SO_PEERCRED``:
  the uid and gid of the process that called ``connect``); nothing in the request can change it.
  Root and the cluster's owner are administrators there. A head node that runs as an ordinary
  user (a laptop) serves that user alone; one that runs as root (a shared install) serves
  everyone, each as themselves.
* **TCP with the token** (``Authorization: Bearer``, the 0600 ``token`` file) is the owner's
  credential, for the admin API and remote use: whoever presents it acts as the owner.

Callers who are not administrators reach only the Slurm routes (as a Slurm user reaches
slurmctld); the cluster's own API (ParallelCluster's verbs) answers them 403.
"""

from __future__ import annotations

import asyncio
import secrets
import socket
import struct
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from stratus.service.model import Identity, identity_of, user_name

PEER = "stratus.peer"  # scope key: (pid, uid, gid) of a unix-socket caller, set by the server
CALLER = "stratus.caller"  # scope key: the caller's Identity, set by Authenticate

_UCRED = struct.Struct("3i")  # struct ucred: pid, uid, gid


def identity(request: Request) -> Identity:
    """Who sent ``request``, as :class:`Authenticate` established it."""
    found: Identity = request.scope[CALLER]
    return found


def peer_credentials(sock: Any) -> tuple[int, int, int] | None:
    """(pid, uid, gid) of the process at the other end of a unix socket; None for other sockets."""
    if sock is None or sock.family != socket.AF_UNIX:
        return None
    pid, uid, gid = _UCRED.unpack(sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _UCRED.size))
    return pid, uid, gid


class PeerCredProtocol(HttpToolsProtocol):
    """uvicorn's HTTP protocol, plus the peer's credentials in every request's scope.

    The credentials are read once, when the connection is accepted, from the kernel; a TCP
    connection gets none (and so must present the token).
    """

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        creds = peer_credentials(transport.get_extra_info("socket"))
        if creds is None:
            return
        inner = self.app

        async def with_peer(scope: Any, receive: Any, send: Any) -> None:
            scope[PEER] = creds
            await inner(scope, receive, send)

        self.app = with_peer


class Authenticate:
    """ASGI middleware: establishes the identity of every HTTP request's caller, or refuses it.

    A plain ASGI class, not Starlette's ``BaseHTTPMiddleware``, which costs about a millisecond
    per request on the path of every Slurm command.
    """

    def __init__(
        self,
        app: Any,
        token: str,
        owner_uid: int,
        owner_gid: int,
        user_prefixes: tuple[str, ...] = ("/slurm/", "/batch/"),
    ) -> None:
        self.app = app
        self.expected = f"Bearer {token}".encode()
        self.owner_uid = owner_uid
        self.owner_gid = owner_gid
        self.user_prefixes = user_prefixes

    def caller(self, scope: Any) -> Identity | tuple[int, str]:
        """The request's caller, or (status, message) to refuse it with."""
        peer = scope.get(PEER)
        if peer is not None:
            _, uid, gid = peer
            admin = uid in (0, self.owner_uid)
            if not admin and self.owner_uid != 0:
                return 403, (
                    f"Forbidden: this head node runs as user {user_name(self.owner_uid)} and serves "
                    "only that user; a cluster shared by several users is run by root"
                )
            caller = identity_of(uid, gid, admin=admin)
        else:
            given = b""
            for key, value in scope["headers"]:
                if key == b"authorization":
                    given = value
                    break
            if not secrets.compare_digest(given, self.expected):
                return 401, "Unauthorized: a valid token is required"
            caller = identity_of(self.owner_uid, self.owner_gid, admin=True)
        if not caller.is_admin and not str(scope.get("path", "")).startswith(self.user_prefixes):
            return 403, "Forbidden: only the cluster's administrators may use this API"
        return caller

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            found = self.caller(scope)
            if not isinstance(found, Identity):
                status, message = found
                await JSONResponse({"message": message}, status_code=status)(scope, receive, send)
                return
            scope[CALLER] = found
        await self.app(scope, receive, send)

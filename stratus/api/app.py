"""The head node's HTTP API: one FastAPI app that composes the front doors' routers.

Served on the cluster's unix socket (callers known by uid, from the kernel) and on loopback TCP
(``Authorization: Bearer <token>`` with the token from the cluster's 0600 ``token`` file): see
:mod:`stratus.api.callers`. An unauthenticated request gets 401 before any work is done. The
routes themselves live with their front door (``stratus.slurm.server.routes``,
``stratus.pcluster.routes``); this module only adds authentication, the body limit and the error
shape, and mounts them.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from typing import Any

from fastapi import APIRouter, FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse

from stratus import __version__
from stratus.api.callers import Authenticate


class BodyLimit:
    """ASGI middleware: a request body larger than ``max_bytes`` gets 413 before any route runs.

    The body is read here (the routes need all of it anyway) and replayed to the application, so
    a huge or endless body costs at most ``max_bytes`` of memory, whether or not it announced its
    length.
    """

    def __init__(self, app: Any, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for key, value in scope["headers"]:
            if key == b"content-length" and value.isdigit() and int(value) > self.max_bytes:
                await self._too_large(scope, receive, send)
                return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break  # the client went away: let the application see it
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self._too_large(scope, receive, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        replayed = False

        async def replay() -> Any:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _too_large(self, scope: Any, receive: Any, send: Any) -> None:
        message = f"Request Entity Too Large: a request body is at most {self.max_bytes} bytes"
        await JSONResponse({"message": message}, status_code=413)(scope, receive, send)


class Timing:
    """ASGI middleware: ``observe(api, seconds)`` once per answered request, ``api`` being the
    path's first part (``slurm``, ``v3``, ``batch``, ``console`` ...), the seconds from the request
    to the answer's last byte. Only what the observer is told leaves here: never a path's rest,
    a header or a body."""

    def __init__(self, app: Any, observe: Callable[[str, float], None], name: str | None = None) -> None:
        self.app = app
        self.observe = observe
        self.name = name

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        api = self.name or (str(scope.get("path", "/")).strip("/").split("/", 1)[0] or "root")

        async def timed_send(message: Any) -> None:
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                self.observe(api, time.perf_counter() - started)

        await self.app(scope, receive, timed_send)


MAX_BODY_BYTES = 32 * 1024 * 1024  # a 4 MiB script of raw bytes is about 24 MiB of JSON


def create_app(
    token: str,
    routers: Iterable[APIRouter],
    *,
    owner: tuple[int, int] | None = None,
    max_body_bytes: int = MAX_BODY_BYTES,
    observe: Callable[[str, float], None] | None = None,
) -> FastAPI:
    """The API: ``routers`` mounted in order, behind authentication and the body limit.

    ``owner`` (uid, gid) is the cluster's owner, by default the user this process runs as;
    ``observe`` is told how long each request took (see :class:`Timing`).
    """
    owner_uid, owner_gid = owner if owner is not None else (os.getuid(), os.getgid())
    app = FastAPI(title="stratus head node", version=__version__, docs_url=None, redoc_url=None)
    # Added first, so it runs inside authentication: an unauthenticated body is never read.
    app.add_middleware(BodyLimit, max_bytes=max_body_bytes)
    app.add_middleware(Authenticate, token=token, owner_uid=owner_uid, owner_gid=owner_gid)
    if observe is not None:
        app.add_middleware(Timing, observe=observe)  # outermost: refused requests count too

    @app.exception_handler(HTTPException)
    async def http_error(_request: Request, exc: HTTPException) -> JSONResponse:
        return JSONResponse({"message": exc.detail}, status_code=exc.status_code)

    for router in routers:
        app.include_router(router)
    return app

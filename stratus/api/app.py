"""The head node's HTTP API: one FastAPI app that composes the front doors' routers.

Listens on loopback only (see the controller). Every route requires
``Authorization: Bearer <token>`` with the token from the cluster's 0600 ``token`` file; anything
else gets 401 before any work is done. The routes themselves live with their front door
(``stratus.slurm.server.routes``, ``stratus.pcluster.routes``); this module only adds
authentication and the error shape, and mounts them.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from typing import Any

from fastapi import APIRouter, FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse

from stratus import __version__


class TokenAuth:
    """ASGI middleware: every HTTP request must carry ``Authorization: Bearer <token>``.

    A plain ASGI class, not Starlette's ``BaseHTTPMiddleware``, which costs about a millisecond
    per request on the path of every Slurm command.
    """

    def __init__(self, app: Any, token: str) -> None:
        self.app = app
        self.expected = f"Bearer {token}".encode()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            given = b""
            for key, value in scope["headers"]:
                if key == b"authorization":
                    given = value
                    break
            if not secrets.compare_digest(given, self.expected):
                response = JSONResponse(
                    {"message": "Unauthorized: a valid token is required"}, status_code=401
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


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


MAX_BODY_BYTES = 32 * 1024 * 1024  # a 4 MiB script of raw bytes is about 24 MiB of JSON


def create_app(token: str, routers: Iterable[APIRouter], *, max_body_bytes: int = MAX_BODY_BYTES) -> FastAPI:
    """The API: ``routers`` mounted in order, behind the token check and the body limit."""
    app = FastAPI(title="stratus head node", version=__version__, docs_url=None, redoc_url=None)
    # Added first, so it runs inside the token check: an unauthenticated body is never read.
    app.add_middleware(BodyLimit, max_bytes=max_body_bytes)
    app.add_middleware(TokenAuth, token=token)

    @app.exception_handler(HTTPException)
    async def http_error(_request: Request, exc: HTTPException) -> JSONResponse:
        return JSONResponse({"message": exc.detail}, status_code=exc.status_code)

    for router in routers:
        app.include_router(router)
    return app

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


def create_app(token: str, routers: Iterable[APIRouter]) -> FastAPI:
    """The API: ``routers`` mounted in order, behind the token check."""
    app = FastAPI(title="stratus head node", version=__version__, docs_url=None, redoc_url=None)
    app.add_middleware(TokenAuth, token=token)

    @app.exception_handler(HTTPException)
    async def http_error(_request: Request, exc: HTTPException) -> JSONResponse:
        return JSONResponse({"message": exc.detail}, status_code=exc.status_code)

    for router in routers:
        app.include_router(router)
    return app

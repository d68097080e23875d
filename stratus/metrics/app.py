"""The metrics endpoint: ``GET /metrics`` in Prometheus's text format, on a port of its own.

Guarantees: unless the cluster's ``Stratus.Metrics.Open`` is true, a scrape must carry
``Authorization: Bearer <token>`` with the cluster's metrics token (the file
``<cluster>/metrics/token``, the owner's only, which Prometheus reads with
``authorization: {credentials_file: ...}``); anything else is answered 401 with nothing of the
cluster in it. The token is compared in constant time. Metrics are computed on the head node's
event loop, so a scrape sees one consistent state.
"""

from __future__ import annotations

import hmac
import secrets
from pathlib import Path

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.registry import Collector
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route


def metrics_token(directory: Path) -> str:
    """The cluster's metrics token (made on first use, kept in ``directory/token``, mode 0600)."""
    directory.mkdir(mode=0o700, exist_ok=True)
    path = directory / "token"
    if not path.exists():
        tmp = directory / "token.tmp"
        tmp.write_text(secrets.token_urlsafe(32) + "\n")
        tmp.chmod(0o600)
        tmp.replace(path)
    return path.read_text().strip()


def create_metrics_app(collector: Collector, token: str | None) -> Starlette:
    """The app serving ``collector``'s metrics (``token`` None: no authentication)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    expected = f"Bearer {token}".encode() if token else b""

    async def metrics(request: Request) -> Response:
        if token is not None:
            given = request.headers.get("authorization", "").encode()
            if not hmac.compare_digest(given, expected):
                return PlainTextResponse(
                    "401 Unauthorized: send the cluster's metrics token as a bearer token\n",
                    status_code=401,
                    headers={"WWW-Authenticate": 'Bearer realm="stratus metrics"'},
                )
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return Starlette(routes=[Route("/metrics", metrics, methods=["GET"])])

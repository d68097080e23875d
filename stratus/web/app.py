"""The ``stratus serve`` application: ParallelCluster's REST API and the web console.

Guarantees: every route but ``/health`` and the login page needs the serve token
(:mod:`stratus.web.auth`); request bodies larger than :data:`MAX_BODY` are refused before they
are read whole; malformed bodies and parameters get pcluster's 400 with a ``message`` naming
the field; the OpenAPI document is at ``/openapi.json``.
"""

from __future__ import annotations

import html
import urllib.parse
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint

from stratus import __version__
from stratus.web.auth import COOKIE, Gate, serve_token, session_value
from stratus.web.pcluster import pcluster_api

#: The largest request body accepted (a cluster configuration fits many times over).
MAX_BODY = 4 * 1024 * 1024

_LOGIN = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>stratus: log in</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body {{ font-family: system-ui, sans-serif; background: #f4f6f8; display: grid; place-items: center;
       height: 100vh; margin: 0; }}
form {{ background: #fff; padding: 2rem; border-radius: 8px; box-shadow: 0 1px 4px #0002; width: 22rem; }}
h1 {{ font-size: 1.3rem; margin-top: 0; }} input {{ width: 100%; padding: .5rem; box-sizing: border-box; }}
button {{ margin-top: 1rem; padding: .5rem 1rem; }} .error {{ color: #b00020; }}
p.hint {{ color: #555; font-size: .85rem; }}
</style></head><body>
<form method="post" action="/login">
<h1>stratus</h1>
<label for="token">Serve token</label>
<input id="token" name="token" type="password" autocomplete="current-password" autofocus>
<p class="hint">The token is in <code>$STRATUS_HOME/serve/token</code> on the machine that runs
<code>stratus serve</code>.</p>
{error}
<button type="submit">Log in</button>
</form></body></html>
"""


class _BodyLimit(BaseHTTPMiddleware):
    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        length = request.headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > MAX_BODY):
            return JSONResponse(
                {"message": f"Bad Request: the request body is larger than {MAX_BODY} bytes"}, status_code=413
            )
        return await call_next(request)


def create_app(home: Path, *, console: Any = None) -> FastAPI:
    """The application for the clusters of ``home`` (``console``: routes of the web console,
    an APIRouter factory taking the gate)."""
    token = serve_token(home).read_text().strip()
    gate = Gate(token)
    app = FastAPI(
        title="stratus (ParallelCluster API)",
        version=__version__,
        description="ParallelCluster's REST API for the clusters of one STRATUS_HOME, with pcluster's "
        "shapes and errors.",
    )
    app.add_middleware(_BodyLimit)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        # A browser asking for a console page without a session is sent to log in; API
        # clients get pcluster's JSON error.
        page = request.method == "GET" and "text/html" in request.headers.get("accept", "")
        if exc.status_code == 401 and page and not request.url.path.startswith("/v3/"):
            return RedirectResponse("/login", status_code=303)
        return JSONResponse({"message": str(exc.detail)}, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, exc: RequestValidationError) -> Response:
        problems = []
        for error in exc.errors():
            where = ".".join(str(p) for p in error.get("loc", ()) if p not in ("body", "query", "path"))
            problems.append(f"{error.get('msg', 'invalid')} - '{where}'" if where else str(error.get("msg")))
        return JSONResponse({"message": "Bad Request: " + "; ".join(problems)}, status_code=400)

    @app.get("/health", include_in_schema=False)
    def health() -> dict[str, str]:
        return {"status": "ok", "version": __version__}

    @app.get("/login", include_in_schema=False)
    def login_page() -> HTMLResponse:
        return HTMLResponse(_LOGIN.format(error=""))

    @app.post("/login", include_in_schema=False)
    async def login(request: Request) -> Response:
        # The login form's one field, url-encoded (a form parser library for one field is not needed).
        fields = urllib.parse.parse_qs((await request.body()).decode("utf-8", "replace"))
        token = (fields.get("token") or [""])[0]
        if not gate.token_matches(token.strip()):
            page = _LOGIN.format(error=f'<p class="error">{html.escape("That is not the serve token.")}</p>')
            return HTMLResponse(page, status_code=401)
        answer = RedirectResponse("/", status_code=303)
        answer.set_cookie(COOKIE, session_value(gate.token), httponly=True, samesite="strict", path="/")
        return answer

    @app.post("/logout", include_in_schema=False)
    def logout() -> Response:
        answer = RedirectResponse("/login", status_code=303)
        answer.delete_cookie(COOKIE, path="/")
        return answer

    app.include_router(pcluster_api(gate))
    if console is not None:
        app.include_router(console(gate))
    return app

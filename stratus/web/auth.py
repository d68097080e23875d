"""Who may use ``stratus serve``: whoever holds the home's serve token.

The token is made on first use, kept in ``$STRATUS_HOME/serve/token`` (mode 0600, the home's
owner's, whose rights every operation runs with), and sent as ``Authorization: Bearer TOKEN``
(API clients) or, after a login with it, as the session cookie (the console). Guarantees: every
route but the login page and the health check needs it; tokens are compared in constant time;
the session cookie is HttpOnly and SameSite=Strict, and a request that changes anything with a
cookie must also carry the ``X-Stratus-Console`` header, which a page of another site cannot
send, so a cookie alone never acts (cross-site request forgery).
"""

from __future__ import annotations

import hmac
import secrets
from pathlib import Path

from fastapi import HTTPException, Request

COOKIE = "stratus_session"
CONSOLE_HEADER = "x-stratus-console"
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def serve_token(home: Path) -> Path:
    """The serve token's file under ``home`` (made on first use)."""
    directory = home / "serve"
    directory.mkdir(parents=True, mode=0o700, exist_ok=True)
    path = directory / "token"
    if not path.exists():
        tmp = directory / "token.tmp"
        tmp.write_text(secrets.token_urlsafe(32) + "\n")
        tmp.chmod(0o600)
        tmp.replace(path)
    return path


def session_value(token: str) -> str:
    """What the session cookie holds: derived from the token, so the cookie is not the token."""
    return hmac.new(token.encode(), b"stratus console session", "sha256").hexdigest()


class Gate:
    """Checks a request's credential against the serve token (see the module docstring)."""

    def __init__(self, token: str) -> None:
        self._bearer = f"Bearer {token}".encode()
        self._session = session_value(token).encode()
        self.token = token

    def token_matches(self, given: str) -> bool:
        return hmac.compare_digest(given.encode(), self.token.encode())

    def allowed(self, request: Request) -> bool:
        header = request.headers.get("authorization", "")
        if header and hmac.compare_digest(header.encode(), self._bearer):
            return True
        cookie = request.cookies.get(COOKIE, "")
        if cookie and hmac.compare_digest(cookie.encode(), self._session):
            return request.method in _SAFE_METHODS or CONSOLE_HEADER in request.headers
        return False

    def __call__(self, request: Request) -> None:
        """A FastAPI dependency: 401 (pcluster's shape) unless the request may go on."""
        if not self.allowed(request):
            raise HTTPException(
                401,
                detail="Unauthorized: send the serve token (Authorization: Bearer TOKEN) or log in",
                headers={"WWW-Authenticate": 'Bearer realm="stratus"'},
            )

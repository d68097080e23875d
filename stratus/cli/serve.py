"""``stratus serve``: run the REST API and web console (:mod:`stratus.web`) until interrupted.

It listens on ``--host``/``--port`` (port 0: a free one), says where on stderr (the URL and the
token's file, never the token), and stops cleanly on SIGINT or SIGTERM.
"""

from __future__ import annotations

import socket
import sys

from stratus.paths import stratus_home


def serve(host: str, port: int) -> int:
    import uvicorn

    from stratus.web.app import create_app
    from stratus.web.auth import serve_token
    from stratus.web.console import console

    if not 0 <= port <= 65535:
        sys.stderr.write(f"stratus serve: --port {port} is not a port (0 to 65535)\n")
        return 1
    home = stratus_home()
    app = create_app(home, console=console)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sys.stderr.write(f"stratus serve: cannot listen on {host}:{port}: {exc.strerror}\n")
        return 1
    bound = sock.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    sys.stderr.write(
        f"stratus serve: http://{shown}:{bound}/ (API under /v3/clusters; the serve token is in "
        f"{serve_token(home)})\n"
    )
    sys.stderr.flush()
    config = uvicorn.Config(app, log_level="warning", access_log=False)
    uvicorn.Server(config).run(sockets=[sock])
    return 0

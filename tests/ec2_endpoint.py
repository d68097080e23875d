"""An EC2-compatible endpoint for tests: moto's server, and a fault-injecting proxy in front of it.

moto answers RunInstances, DescribeInstances and TerminateInstances (instances go pending, then
running, and run nothing) but never runs out of capacity; the proxy forwards every request to it
unless told to answer an action with an EC2 error, which boto3 then raises as AWS's would.
"""

from __future__ import annotations

import contextlib
import http.client
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

REGION = "us-east-1"
CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
# EC2 answers capacity shortages as server errors, client mistakes as 400.
_SERVER_ERRORS = {"InsufficientInstanceCapacity", "InsufficientCapacity", "InternalError"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def local_server(
    argv: list[str], port: int, what: str, timeout_s: float = 20.0
) -> Iterator[subprocess.Popen[bytes]]:
    """Run ``argv`` (a server that listens on loopback ``port``) until it accepts connections;
    stop it (by its handle) after."""
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"{what} did not start (exit {proc.poll()})") from None
                time.sleep(0.05)
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


@contextlib.contextmanager
def moto_server(timeout_s: float = 20.0) -> Iterator[str]:
    """moto's server on a free loopback port; yields its URL, stops it (by its handle) after."""
    port = free_port()
    argv = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
    with local_server(argv, port, "moto's server", timeout_s):
        yield f"http://127.0.0.1:{port}"


@dataclass
class FaultProxy:
    """Forwards requests to ``upstream``; answers the actions in ``faults`` with their EC2 error.

    ``faults`` maps an action (``RunInstances``) to an error code, and ``type_faults`` an
    instance type to the error code of every ``RunInstances`` for it (no capacity of one type);
    ``seen`` holds, by action, the parameters of every request that reached the proxy (forwarded
    or not).
    """

    upstream: str
    faults: dict[str, str] = field(default_factory=dict)
    type_faults: dict[str, str] = field(default_factory=dict)
    seen: dict[str, list[dict[str, str]]] = field(default_factory=dict)
    url: str = ""

    def fail(self, action: str, code: str) -> None:
        self.faults[action] = code

    def fail_type(self, instance_type: str, code: str) -> None:
        self.type_faults[instance_type] = code

    def clear(self) -> None:
        self.faults.clear()
        self.type_faults.clear()


def _handler(proxy: FaultProxy) -> type[BaseHTTPRequestHandler]:
    target = urllib.parse.urlsplit(proxy.upstream)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:  # quiet test output
            pass

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            params = dict(urllib.parse.parse_qsl(body.decode(errors="replace")))
            action = params.get("Action", "")
            proxy.seen.setdefault(action, []).append(params)
            code = proxy.faults.get(action)
            if not code and action == "RunInstances":
                code = proxy.type_faults.get(params.get("InstanceType", ""))
            if code:
                self._answer(500 if code in _SERVER_ERRORS else 400, _error_xml(code), "text/xml")
                return
            conn = http.client.HTTPConnection(target.hostname or "127.0.0.1", target.port, timeout=30)
            try:
                headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                conn.request("POST", self.path, body, headers)
                answer = conn.getresponse()
                data = answer.read()
                self._answer(answer.status, data, answer.getheader("Content-Type") or "text/xml")
            except OSError:
                # The endpoint (or the client) went away, e.g. while a test tears down.
                with contextlib.suppress(OSError):
                    self._answer(502, _error_xml("InternalError"), "text/xml")
            finally:
                conn.close()

        def _answer(self, status: int, data: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return Handler


def _error_xml(code: str) -> bytes:
    message = {
        "InsufficientInstanceCapacity": "We currently do not have sufficient capacity in the "
        "Availability Zone you requested.",
        "RequestLimitExceeded": "Request limit exceeded.",
        "VcpuLimitExceeded": "You have requested more vCPU capacity than your current vCPU limit allows.",
        "UnauthorizedOperation": "You are not authorized to perform this operation.",
    }.get(code, f"{code} (injected by the test proxy)")
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Response><Errors><Error><Code>{code}</Code><Message>{message}</Message></Error></Errors>"
        "<RequestID>00000000-0000-0000-0000-000000000000</RequestID></Response>"
    ).encode()


@contextlib.contextmanager
def fault_proxy(upstream: str) -> Iterator[FaultProxy]:
    """A :class:`FaultProxy` on a free loopback port, shut down after."""
    proxy = FaultProxy(upstream)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(proxy))
    server.daemon_threads = True
    proxy.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, name="ec2-fault-proxy", daemon=True)
    thread.start()
    try:
        yield proxy
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def client(url: str) -> Any:
    """A boto3 EC2 client of the test account at ``url``."""
    import boto3

    return boto3.session.Session(**CREDENTIALS).client("ec2", region_name=REGION, endpoint_url=url)


def stock_image(url: str) -> str:
    """An image id moto knows (its stock images survive a reset; listing them is slow: once)."""
    return str(client(url).describe_images(Owners=["amazon"])["Images"][0]["ImageId"])


@contextlib.contextmanager
def fresh_account(url: str) -> Iterator[FaultProxy]:
    """Empty moto's account at ``url``, then a :class:`FaultProxy` in front of it."""
    urllib.request.urlopen(urllib.request.Request(f"{url}/moto-api/reset", method="POST")).close()
    with fault_proxy(url) as proxy:
        yield proxy

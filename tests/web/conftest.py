"""``stratus serve`` for tests: a private STRATUS_HOME (its clusters torn down after each test, as
the integration tests do) and the server on a free port, stopped by its handle."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from tests.ec2_endpoint import free_port
from tests.integration.conftest import stratus, workdir
from tests.integration.harness import REPO, Stratus, wait_for

__all__ = ["Served", "served", "stratus", "workdir"]


@dataclass
class Served:
    url: str
    token: str
    stratus: Stratus

    def client(self, token: str | None = "") -> httpx.Client:
        """An HTTP client of the server (``token`` "": the serve token; None: no credential)."""
        token = self.token if token == "" else token
        headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=60)


@pytest.fixture
def served(stratus: Stratus) -> Iterator[Served]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "stratus.cli.main", "serve", "--port", str(port)],
        env=stratus.env,
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    try:

        def up() -> bool:
            try:
                return httpx.get(f"{url}/health", timeout=2).status_code == 200
            except httpx.HTTPError:
                assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
                return False

        wait_for(up, 30, interval=0.1, what="stratus serve")
        token = (stratus.home / "serve" / "token").read_text().strip()
        yield Served(url, token, stratus)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)

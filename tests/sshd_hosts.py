"""Real SSH hosts for tests: Debian's sshd on loopback addresses 127.0.10.x, each with its own
port, host key and configuration, in a temporary directory; stopped by pid.

Each host logs in root with a client key generated here (``identity``); ``refused_identity`` is
a key no host accepts, and ``unreachable`` a host:port where nothing listens. Skips the test
when sshd is not installed or the tests do not run as root (sshd's logins need it).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

SSHD = shutil.which("sshd") or ("/usr/sbin/sshd" if Path("/usr/sbin/sshd").exists() else None)


def _free_port(address: str) -> int:
    with socket.socket() as s:
        s.bind((address, 0))
        return int(s.getsockname()[1])


def _listening(address: str, port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((address, port), timeout=0.2):
        return True
    return False


@dataclass
class SshHosts:
    """Running sshd hosts: ``specs`` are their ``address:port``."""

    root: Path
    specs: list[str] = field(default_factory=list)
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    identity: Path = Path()
    refused_identity: Path = Path()
    unreachable: str = ""

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _write_key(path: Path) -> None:
    import asyncssh

    key = asyncssh.generate_private_key("ssh-ed25519")
    key.write_private_key(str(path))
    key.write_public_key(str(path) + ".pub")
    path.chmod(0o600)


@contextlib.contextmanager
def ssh_hosts(root: Path, count: int) -> Iterator[SshHosts]:
    """Start ``count`` sshd hosts under ``root``; stop them (by pid) on exit."""
    if SSHD is None:
        pytest.skip("sshd (openssh-server) is not installed")
    if os.geteuid() != 0:
        pytest.skip("sshd test hosts need root")
    # sshd refuses to start without its privilege-separation directory.
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
    root.mkdir(parents=True, exist_ok=True)
    hosts = SshHosts(root)
    hosts.identity = root / "id_client"
    hosts.refused_identity = root / "id_refused"
    _write_key(hosts.identity)
    _write_key(hosts.refused_identity)
    authorized = root / "authorized_keys"
    authorized.write_text(Path(str(hosts.identity) + ".pub").read_text())
    authorized.chmod(0o600)
    try:
        for i in range(1, count + 1):
            address = f"127.0.10.{i}"
            port = _free_port(address)
            d = root / f"host{i}"
            d.mkdir()
            _write_key(d / "host_key")
            conf = d / "sshd_config"
            conf.write_text(
                f"Port {port}\nListenAddress {address}\nHostKey {d / 'host_key'}\n"
                f"PidFile {d / 'sshd.pid'}\nAuthorizedKeysFile {authorized}\n"
                "PermitRootLogin prohibit-password\nPasswordAuthentication no\n"
                "KbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\n"
                "Subsystem sftp internal-sftp\nLogLevel ERROR\nMaxStartups 100\nMaxSessions 100\n"
            )
            log = (d / "sshd.log").open("wb")
            # -f needs an absolute path, or every login fails ("Connection reset by peer").
            argv = [SSHD, "-D", "-e", "-f", str(conf.resolve())]
            proc = subprocess.Popen(argv, stdout=log, stderr=log, stdin=subprocess.DEVNULL)
            hosts.procs.append(proc)
            hosts.specs.append(f"{address}:{port}")
        for spec, proc in zip(hosts.specs, hosts.procs, strict=True):
            address, _, port = spec.partition(":")
            deadline = time.monotonic() + 10
            while not _listening(address, int(port)):
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"sshd for {spec} did not start")
                time.sleep(0.02)
        hosts.unreachable = f"127.0.10.{count + 1}:{_free_port(f'127.0.10.{count + 1}')}"
        yield hosts
    finally:
        hosts.stop()

"""Real SSH hosts for tests: Debian's sshd on loopback addresses 127.0.10.x, each with its own
port, host key and configuration, in a temporary directory; stopped by pid.

Each host logs in root with a client key generated here (``identity``); ``refused_identity`` is
a key no host accepts, and ``unreachable`` a host:port where nothing listens. Skips the test
when sshd is not installed or the tests do not run as root (sshd's logins need it).

``netns_hosts`` starts hosts that are network namespaces instead: each has a veth link to this
machine on a private subnet, a hostname of its own and an sshd on port 22 of its address, so
that what runs there reaches the head node over a real (non-loopback) interface.
"""

from __future__ import annotations

import contextlib
import fcntl
import ipaddress
import itertools
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
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


def _session_env(root: Path) -> str:
    """The ``SetEnv`` line of a test host's sshd: its logins get a home of their own, so that the
    start-up files of the machine's root account (which may set up tools of the machine and take
    locks that a shell killed mid-start leaves behind) are not read, and a ``PATH`` whose
    ``python3`` is the interpreter running the tests."""
    home = root / "login-home"
    home.mkdir(exist_ok=True)
    python_dir = Path(sys.base_prefix) / "bin"
    system = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"  # sshd's own for root
    return f"SetEnv HOME={home} PATH={python_dir}:{system}\n"


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
                + _session_env(root)
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


IP = shutil.which("ip") or ("/usr/sbin/ip" if Path("/usr/sbin/ip").exists() else None)
UNSHARE = shutil.which("unshare")
NSENTER = shutil.which("nsenter")
_NETNS_SEQ = itertools.count(1)  # several sets of namespace hosts in one process get distinct names


@dataclass
class NetnsHost:
    """One host: network namespace ``netns`` (hostname the same), reached at ``address``:22 through
    the veth pair ``veth`` (this machine's end, on the hosts' bridge, whose address is ``gateway``)
    and ``eth0`` (its end)."""

    netns: str
    veth: str
    address: str
    gateway: str
    dir: Path
    proc: subprocess.Popen[bytes] | None = None

    @property
    def hostname(self) -> str:
        return self.netns

    @property
    def spec(self) -> str:
        return f"{self.address}:22"

    @property
    def sshd_pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def pids(self) -> set[int]:
        """The processes in this host's network namespace (``ip netns pids``)."""
        r = subprocess.run([str(IP), "netns", "pids", self.netns], capture_output=True, text=True)
        return {int(word) for word in r.stdout.split()} if r.returncode == 0 else set()


@dataclass
class NetnsHosts:
    """Running namespace hosts; ``head_address`` is the address the head node listens on for them
    (this machine's end of the first host's veth; the others reach it through their own veth)."""

    root: Path
    hosts: list[NetnsHost] = field(default_factory=list)
    identity: Path = Path()
    head_address: str = ""

    @property
    def specs(self) -> list[str]:
        return [h.spec for h in self.hosts]


def _ip(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(IP), *args], capture_output=True, text=True, timeout=30)


def _ip_ok(*args: str) -> None:
    r = _ip(*args)
    if r.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {r.stderr.strip()}")


_ROUTE_TYPES = {"local", "broadcast", "unicast", "unreachable", "blackhole", "prohibit", "throw", "multicast"}


def _networks_in_use() -> list[ipaddress.IPv4Network]:
    """Every IPv4 network this machine has an address or a route in (default routes aside)."""
    used: list[ipaddress.IPv4Network] = []
    for line in _ip("-4", "-o", "addr", "show").stdout.splitlines():
        words = line.split()
        if "inet" in words:
            with contextlib.suppress(ValueError, IndexError):
                used.append(ipaddress.IPv4Interface(words[words.index("inet") + 1]).network)
    for line in _ip("-4", "route", "show", "table", "all").stdout.splitlines():
        words = line.split()
        dest = words[1] if words and words[0] in _ROUTE_TYPES and len(words) > 1 else (words or [""])[0]
        if dest and dest != "default":
            with contextlib.suppress(ValueError):
                used.append(ipaddress.IPv4Network(dest, strict=False))
    return used


def _free_subnet() -> ipaddress.IPv4Network:
    """A /24 in 10.213.0.0/16 that no address or route of this machine overlaps."""
    used = _networks_in_use()
    start = os.getpid() % 256
    for k in range(256):
        net = ipaddress.IPv4Network(f"10.213.{(start + k) % 256}.0/24")
        if not any(net.overlaps(u) for u in used):
            return net
    pytest.skip("no free /24 in 10.213.0.0/16 for namespace hosts")


def _kill_pids(pids: set[int]) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


@contextlib.contextmanager
def netns_hosts(root: Path, count: int) -> Iterator[NetnsHosts]:
    """Start ``count`` namespace hosts under ``root``; on exit stop their sshd (by pid), kill
    whatever is still in their namespaces (by the pids ``ip netns pids`` lists) and delete the
    namespaces and veth links it created, by name.

    The hosts share a free /24 ``10.213.K.0``, as machines on one LAN: this machine has ``.1`` on
    a bridge of its own, and host ``i`` is the namespace ``stratus-<pid>-<n>`` with ``.(i+1)`` on
    its ``eth0``, the peer of a veth whose other end is on the bridge; its default route goes
    through ``.1``. Hosts reach each other directly (a job step over several hosts). Skips the
    test without root, ``ip``, ``unshare``, ``nsenter`` or sshd, or when namespaces, bridges or veth links
    cannot be created (no CAP_SYS_ADMIN/CAP_NET_ADMIN).
    """
    if SSHD is None:
        pytest.skip("sshd (openssh-server) is not installed")
    if IP is None or UNSHARE is None or NSENTER is None:
        pytest.skip("namespace hosts need iproute2's ip and util-linux's unshare and nsenter")
    if os.geteuid() != 0:
        pytest.skip("namespace hosts need root")
    if not 1 <= count <= 63:
        raise ValueError("1 to 63 namespace hosts")
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
    root.mkdir(parents=True, exist_ok=True)
    hosts = NetnsHosts(root)
    hosts.identity = root / "id_client"
    _write_key(hosts.identity)
    authorized = root / "authorized_keys"
    authorized.write_text(Path(str(hosts.identity) + ".pub").read_text())
    authorized.chmod(0o600)
    created_netns: list[str] = []
    created_veths: list[str] = []
    bridge = ""
    try:
        # Held while a subnet is chosen and taken, so that two test runs never pick the same one.
        lock = os.open(tempfile.gettempdir(), os.O_RDONLY)
        try:
            fcntl.flock(lock, fcntl.LOCK_EX)
            subnet = _free_subnet()
            base = subnet.network_address
            gateway = str(base + 1)
            name = f"stb{os.getpid()}x{next(_NETNS_SEQ)}"
            r = _ip("link", "add", name, "type", "bridge")
            if r.returncode != 0:
                pytest.skip(f"cannot create a bridge: {r.stderr.strip()}")
            bridge = name
            _ip_ok("addr", "add", f"{gateway}/24", "dev", bridge)
            _ip_ok("link", "set", bridge, "up")
            for i in range(1, count + 1):
                n = next(_NETNS_SEQ)
                name = f"stratus-{os.getpid()}-{n}"
                veth, peer = f"sth{os.getpid()}x{n}", f"stn{os.getpid()}x{n}"  # 15 characters at most
                r = _ip("netns", "add", name)
                if r.returncode != 0:
                    pytest.skip(f"cannot create a network namespace: {r.stderr.strip()}")
                created_netns.append(name)
                r = _ip("link", "add", veth, "type", "veth", "peer", "name", peer)
                if r.returncode != 0:
                    pytest.skip(f"cannot create a veth link: {r.stderr.strip()}")
                created_veths.append(veth)
                address = str(base + 1 + i)
                _ip_ok("link", "set", peer, "netns", name)
                _ip_ok("-n", name, "link", "set", peer, "name", "eth0")
                _ip_ok("link", "set", veth, "master", bridge)
                _ip_ok("link", "set", veth, "up")
                _ip_ok("-n", name, "addr", "add", f"{address}/24", "dev", "eth0")
                _ip_ok("-n", name, "link", "set", "lo", "up")
                _ip_ok("-n", name, "link", "set", "eth0", "up")
                _ip_ok("-n", name, "route", "add", "default", "via", gateway)
                hosts.hosts.append(NetnsHost(name, veth, address, gateway, root / name))
        finally:
            os.close(lock)  # releases the lock
        hosts.head_address = gateway
        for h in hosts.hosts:
            h.dir.mkdir()
            _write_key(h.dir / "host_key")
            conf = h.dir / "sshd_config"
            conf.write_text(
                f"Port 22\nListenAddress {h.address}\nHostKey {h.dir / 'host_key'}\n"
                f"PidFile {h.dir / 'sshd.pid'}\nAuthorizedKeysFile {authorized}\n"
                "PermitRootLogin prohibit-password\nPasswordAuthentication no\n"
                "KbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\n"
                "Subsystem sftp internal-sftp\nLogLevel ERROR\nMaxStartups 100\nMaxSessions 100\n"
                + _session_env(root)
            )
            log = (h.dir / "sshd.log").open("wb")
            # nsenter, unshare and sh all exec, so the process started here is sshd itself, with
            # a UTS namespace (hostname) of its own that its logins inherit. nsenter joins the
            # network namespace only: ``ip netns exec`` would also mount a /sys of the namespace,
            # without the cgroup hierarchy a machine has (slurmd does not start without it).
            argv = [
                NSENTER, f"--net=/run/netns/{h.netns}", UNSHARE, "--uts",
                "sh", "-c", 'hostname "$0" && exec "$@"', h.hostname,
                SSHD, "-D", "-e", "-f", str(conf.resolve()),
            ]  # fmt: skip
            h.proc = subprocess.Popen(argv, stdout=log, stderr=log, stdin=subprocess.DEVNULL)
        for h in hosts.hosts:
            assert h.proc is not None
            deadline = time.monotonic() + 20
            while not _listening(h.address, 22):
                if h.proc.poll() is not None or time.monotonic() > deadline:
                    log_text = (h.dir / "sshd.log").read_text(errors="replace")
                    raise RuntimeError(f"sshd in {h.netns} did not start: {log_text}")
                time.sleep(0.02)
        yield hosts
    finally:
        for h in hosts.hosts:
            if h.proc is not None and h.proc.poll() is None:
                h.proc.send_signal(signal.SIGTERM)
        for h in hosts.hosts:
            if h.proc is not None:
                try:
                    h.proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    h.proc.kill()
                    h.proc.wait()
        # Whatever is still in a namespace (a login, a leftover process) would keep it alive.
        for h in hosts.hosts:
            _kill_pids(h.pids())
        deadline = time.monotonic() + 10
        while any(h.pids() for h in hosts.hosts) and time.monotonic() < deadline:
            time.sleep(0.05)
        for name in created_netns:
            _ip("netns", "del", name)
        for veth in created_veths:
            if _ip("link", "show", "dev", veth).returncode == 0:
                _ip("link", "del", veth)
        if bridge:
            _ip("link", "del", bridge)

"""Network addresses: the one place that says where a head node listens and is reached.

Today every part of a cluster runs on one machine, so the head node listens on the loopback
address only (nothing outside this machine can reach its API or its agent port) and nodes
report it as their address. Serving nodes on other machines starts here: a configured address
replaces these defaults, not literals spread through the code.

Imported by the node agent and the thin clients: the standard library only.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterable

LOOPBACK = "127.0.0.1"
HEAD_ADDRESS = LOOPBACK  # where the head node's API and agent port listen, and are reached
LOCAL_NODE_ADDRESS = LOOPBACK  # the address of a node the local provider runs on this machine

# A unix socket's path must fit in ``sun_path`` (108 bytes with its NUL); a longer one is reached
# through its directory's descriptor (``/proc/self/fd/N/NAME``), which the kernel resolves.
_SUN_PATH_MAX = 107


def unix_address(path: str) -> tuple[str, int | None]:
    """The address to bind or connect ``path`` by, and a descriptor to close afterwards (or None).

    Paths that fit are used as they are; a longer one goes through an ``O_PATH`` descriptor of
    its directory, so a cluster may live as deep in the file system as its owner likes.
    """
    import os

    if len(os.fsencode(path)) <= _SUN_PATH_MAX:
        return path, None
    directory, name = os.path.split(path)
    fd = os.open(directory or ".", os.O_PATH | os.O_DIRECTORY)
    return f"/proc/self/fd/{fd}/{name}", fd


def bind_unix(path: str, mode: int) -> socket.socket:
    """A listening unix stream socket at ``path`` (a stale one is replaced), with ``mode``.

    Connecting needs write permission on the socket file, so ``mode`` says who may call;
    the head node still learns each caller's uid from the kernel, whatever the mode.
    """
    import os

    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
    address, fd = unix_address(path)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.bind(address)
        os.chmod(path, mode)
        sock.listen(512)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    finally:
        if fd is not None:
            os.close(fd)
    return sock


def connect_unix(path: str, timeout: float) -> socket.socket:
    """A connected unix stream socket to ``path`` (``OSError`` when nothing listens there)."""
    import os

    address, fd = unix_address(path)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        sock.connect(address)
    except BaseException:
        sock.close()
        raise
    finally:
        if fd is not None:
            os.close(fd)
    return sock


def free_ports(count: int, host: str = "127.0.0.1") -> list[int]:
    """``count`` distinct TCP ports nobody listens on at ``host`` now (held together while the
    kernel picks them). Another program may take one before it is used."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind((host, 0))
        return [int(s.getsockname()[1]) for s in sockets]
    finally:
        for s in sockets:
            s.close()


def free_port_run(count: int, avoid: Iterable[int] = (), host: str = "127.0.0.1") -> int:
    """The first of ``count`` consecutive TCP ports free at ``host`` now, none in ``avoid``
    (several daemons on one machine, each on the next port). ``OSError`` if none is found."""
    avoided = set(avoid)
    for _ in range(100):
        (base,) = free_ports(1, host)
        span = range(base, base + count)
        if base + count > 65535 or avoided.intersection(span):
            continue
        taken: list[socket.socket] = []
        try:
            for port in span:
                s = socket.socket()
                taken.append(s)
                s.bind((host, port))
            return base
        except OSError:
            continue
        finally:
            for s in taken:
                s.close()
    raise OSError(f"no {count} consecutive free TCP ports on {host}")

"""Unix sockets anywhere in the file system: a path longer than ``sun_path`` still works."""

from __future__ import annotations

import stat
from pathlib import Path

from stratus.net import bind_unix, connect_unix, unix_address


def test_a_socket_deeper_than_sun_path_allows_is_bound_and_reached(tmp_path: Path) -> None:
    deep = tmp_path.joinpath(*["a-rather-long-directory-name"] * 6)
    deep.mkdir(parents=True)
    path = str(deep / "api.sock")
    assert len(path) > 108
    server = bind_unix(path, 0o600)
    try:
        assert stat.S_ISSOCK(Path(path).stat().st_mode) and stat.S_IMODE(Path(path).stat().st_mode) == 0o600
        client = connect_unix(path, timeout=5.0)
        conn, _ = server.accept()
        with client, conn:
            client.sendall(b"ping")
            assert conn.recv(4) == b"ping"
        # A stale socket (its server killed) is replaced, not an error.
        server.close()
        server = bind_unix(path, 0o666)
        assert stat.S_IMODE(Path(path).stat().st_mode) == 0o666
    finally:
        server.close()


def test_a_short_path_is_used_as_it_is() -> None:
    assert unix_address("/run/x.sock") == ("/run/x.sock", None)

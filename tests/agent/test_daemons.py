"""The agent's daemons (:mod:`stratus.agent.daemons`): files written in the daemon directory,
``{daemon_dir}`` expanded, paths outside refused, readiness awaited, everything stopped by
process group and the directory removed. Real processes (``python -c``), no Slurm needed."""

from __future__ import annotations

import base64
import stat
import sys
import time
from pathlib import Path

import psutil

from stratus.agent.daemons import DaemonKeeper, daemon_directory
from stratus.agent.protocol import DAEMON_DIR, Daemon, DaemonFile, decode, encode

# Waits a moment, then makes the file named by its argument and stays.
SLOW_READY = "import sys, time, pathlib; time.sleep(0.3); pathlib.Path(sys.argv[1]).touch(); time.sleep(600)"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def test_daemon_files_are_written_expanded_and_the_keeper_waits_for_ready(tmp_path: Path) -> None:
    keeper = DaemonKeeper(tmp_path / "spool")
    d = keeper.directory
    assert d == daemon_directory(tmp_path / "spool") and d.name.startswith("stratus-d-")
    key = bytes(range(256)) * 4  # not text: written as it is
    msg = Daemon(
        name="fake",
        argv=[sys.executable, "-c", SLOW_READY, f"{DAEMON_DIR}/sock"],
        files=[
            DaemonFile("conf/fake.conf", _b64(f"Socket={DAEMON_DIR}/sock\n".encode())),
            DaemonFile("key", _b64(key), 0o400),
        ],
        ready="sock",
    )
    # Over the wire and back, as the head node sends it.
    msg = decode(encode(msg))
    assert isinstance(msg, Daemon)
    try:
        started = time.monotonic()
        keeper.ensure(msg)
        assert (d / "sock").exists(), "ensure returned before the daemon was ready"
        assert time.monotonic() - started >= 0.3
        assert (d / "conf" / "fake.conf").read_text() == f"Socket={d}/sock\n"
        assert (d / "key").read_bytes() == key
        assert stat.S_IMODE((d / "key").stat().st_mode) == 0o400
        assert stat.S_IMODE(d.stat().st_mode) == 0o755  # sockets there are reachable by jobs
        pid = keeper.running["fake"].pid
        assert psutil.Process(pid).cmdline()[-1] == f"{d}/sock"
        # Idempotent: the same message leaves the running daemon alone.
        keeper.ensure(msg)
        assert keeper.running["fake"].pid == pid
    finally:
        keeper.stop_all()
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    assert not d.exists(), "the daemon directory outlived its daemons"


def test_a_daemon_file_outside_the_daemon_directory_is_refused_and_nothing_starts(tmp_path: Path) -> None:
    keeper = DaemonKeeper(tmp_path / "spool")
    outside = tmp_path / "escaped"
    msg = Daemon(
        name="bad",
        argv=[sys.executable, "-c", "import time; time.sleep(600)"],
        files=[DaemonFile(f"../{keeper.directory.name}-x/../../{outside}", _b64(b"x"))],
    )
    try:
        keeper.ensure(msg)
        assert "bad" not in keeper.running
        assert not outside.exists()
        absolute = Daemon(name="abs", argv=msg.argv, files=[DaemonFile(str(outside), _b64(b"x"))])
        keeper.ensure(absolute)
        assert "abs" not in keeper.running and not outside.exists()
        notb64 = Daemon(name="b64", argv=msg.argv, files=[DaemonFile("f", "not base64!")])
        keeper.ensure(notb64)
        assert "b64" not in keeper.running
    finally:
        keeper.stop_all()

"""Daemons an agent keeps running on its node (Slurm's slurmd when Slurm is the engine).

Guarantees:

* A daemon runs as a child of the agent, in a session (and process group) of its own, with
  stdin from /dev/null and its output appended to ``<spool>/<name>.out``; it never inherits the
  agent's join credential (the agent removed it from its environment at start).
* :meth:`DaemonKeeper.ensure` is idempotent: a daemon of that name that still runs is left
  alone, one that exited is started again (and the exit is logged).
* :meth:`DaemonKeeper.stop_all` stops every daemon by its process group (SIGTERM, a wait, then
  SIGKILL): the daemon and whatever it started in its group, never anything else.
* A daemon's files are written, replaced whole, in the agent's daemon directory
  (:attr:`DaemonKeeper.directory`: ``/run/stratus-d-<digest>``, short enough for unix sockets,
  searchable by all so that jobs reach a socket there, or under the temporary directory when
  /run is not writable); a path that leaves the directory is refused (the daemon does not
  start). The directory is removed when the daemons are stopped.
* With ``ready`` the keeper returns once that path exists (or after :data:`READY_WAIT_S`, logged),
  so that the daemon asked for next (slurmd) finds this one (munged) serving.
* With ``fresh_boot`` the daemon starts in a new time namespace (``unshare --time --boottime``)
  whose uptime starts near zero, so the boot time it reports is not before the moment it was
  asked for (:func:`fresh_boot_argv`): slurmctld accepts a powered-up node only then, and a
  node here is a process on a machine that booted long ago. It needs the right to make
  namespaces (root); without it the daemon does not start, and the agent logs why.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import math
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from stratus.agent.executor import log
from stratus.agent.protocol import DAEMON_DIR, Daemon

#: How long a daemon has to exit after SIGTERM before its group is killed.
STOP_WAIT_S = 10.0
#: How long a daemon has to make its ``ready`` path.
READY_WAIT_S = 30.0


def _uptime() -> float:
    with open("/proc/uptime") as f:
        return float(f.read().split()[0])


def fresh_boot_argv(argv: list[str]) -> list[str]:
    """``argv`` run in a new time namespace whose uptime starts near zero.

    slurmctld takes a node's boot time to be the moment of its registration minus the uptime
    it reports, in whole seconds, and the kernel rounds uptime up (sysinfo). So the daemon
    starts in a wall-clock second after the one it was asked for (a wait of at most a second)
    with an uptime under a second (a further wait when the machine's uptime is late in its
    second: offsets cannot make the clock negative): its boot time is then never before the
    request. May block up to about 1.5 s."""
    unshare = shutil.which("unshare")
    if unshare is None:
        return argv
    now = time.time()
    time.sleep(math.floor(now) + 1.01 - now)
    uptime = _uptime()
    if uptime - int(uptime) > 0.5:
        time.sleep(1.02 - (uptime - int(uptime)))
        uptime = _uptime()
    return [unshare, "--time", f"--boottime=-{int(uptime)}", "--fork", "--kill-child", *argv]


def daemon_directory(spool: Path) -> Path:
    """The daemon directory of the agent whose spool is ``spool``: ``/run/stratus-d-<digest>``
    (under the temporary directory when /run is not writable)."""
    digest = hashlib.sha256(os.fsencode(spool.resolve())).hexdigest()[:12]
    base = Path("/run") if os.access("/run", os.W_OK) else Path(tempfile.gettempdir())
    return base / f"stratus-d-{digest}"


class DaemonKeeper:
    """The daemons of one agent, by name."""

    def __init__(self, spool: Path) -> None:
        self.spool = spool
        self.directory = daemon_directory(spool)
        self.running: dict[str, subprocess.Popen[bytes]] = {}

    def _expand(self, text: str) -> str:
        return text.replace(DAEMON_DIR, str(self.directory))

    def _write_files(self, msg: Daemon) -> bool:
        """Write ``msg``'s files; False (logged) when one cannot be."""
        self.directory.mkdir(parents=True, exist_ok=True)
        self.directory.chmod(0o755)
        for f in msg.files:
            target = (self.directory / f.path).resolve()
            if self.directory.resolve() not in target.parents:
                log(f"daemon {msg.name}: refusing file {f.path!r} outside {self.directory}")
                return False
            try:
                data = base64.b64decode(f.data, validate=True)
            except (binascii.Error, ValueError):
                log(f"daemon {msg.name}: file {f.path!r} is not base64")
                return False
            with contextlib.suppress(UnicodeDecodeError):  # binary (a key): written as it is
                data = self._expand(data.decode()).encode()
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
                tmp = target.with_name(target.name + ".tmp")
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, f.mode & 0o7777)
                with os.fdopen(fd, "wb") as out:
                    out.write(data)
                os.chmod(tmp, f.mode & 0o7777)  # the umask must not widen nor narrow it
                tmp.replace(target)
            except OSError as exc:
                log(f"daemon {msg.name}: cannot write {target}: {exc}")
                return False
        return True

    def ensure(self, msg: Daemon) -> None:
        """Start the daemon ``msg`` describes unless one of that name still runs."""
        current = self.running.get(msg.name)
        if current is not None:
            if current.poll() is None:
                return
            log(f"daemon {msg.name} had exited with status {current.returncode}; starting it again")
        if not self._write_files(msg):
            return
        ready = self.directory / msg.ready if msg.ready else None
        if ready is not None:
            with contextlib.suppress(OSError):
                ready.unlink()  # left by the previous run: not a sign of this one
        argv = [self._expand(a) for a in msg.argv]
        argv = fresh_boot_argv(argv) if msg.fresh_boot else argv
        env = {**os.environ, **{k: self._expand(v) for k, v in msg.env.items()}}
        self.spool.mkdir(parents=True, exist_ok=True)
        try:
            with open(self.spool / f"{msg.name}.out", "ab") as out:
                process = subprocess.Popen(
                    argv,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    env=env,
                    start_new_session=True,
                    close_fds=True,
                )
        except OSError as exc:
            log(f"daemon {msg.name} did not start: {exc}")
            return
        self.running[msg.name] = process
        log(f"daemon {msg.name} started (pid {process.pid}): {' '.join(argv)}")
        if ready is not None:
            deadline = time.monotonic() + READY_WAIT_S
            while not ready.exists() and process.poll() is None and time.monotonic() < deadline:
                time.sleep(0.02)
            if not ready.exists():
                log(f"daemon {msg.name} is not ready ({ready} missing; exit status {process.poll()})")

    def stop_all(self) -> None:
        """Stop every daemon (SIGTERM to its group, then SIGKILL after :data:`STOP_WAIT_S`)."""
        for process in list(self.running.values()):
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_WAIT_S
        for name, process in list(self.running.items()):
            try:
                process.wait(timeout=max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                log(f"daemon {name} ignored SIGTERM; killing it")
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()
            # Whatever it left in its group (a daemon's own helpers) goes with it.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
        self.running.clear()
        # Sockets, keys and spool of the daemons: nothing of them outlives the node.
        shutil.rmtree(self.directory, ignore_errors=True)

"""Daemons an agent keeps running on its node (Slurm's slurmd when Slurm is the engine).

Guarantees:

* A daemon runs as a child of the agent, in a session (and process group) of its own, with
  stdin from /dev/null and its output appended to ``<spool>/<name>.out``; it never inherits the
  agent's join credential (the agent removed it from its environment at start).
* :meth:`DaemonKeeper.ensure` is idempotent: a daemon of that name that still runs is left
  alone, one that exited is started again (and the exit is logged).
* :meth:`DaemonKeeper.stop_all` stops every daemon by its process group (SIGTERM, a wait, then
  SIGKILL): the daemon and whatever it started in its group, never anything else.
* With ``fresh_boot`` the daemon starts in a new time namespace (``unshare --time --boottime``)
  whose uptime starts near zero, so the boot time it reports is not before the moment it was
  asked for (:func:`fresh_boot_argv`): slurmctld accepts a powered-up node only then, and a
  node here is a process on a machine that booted long ago. It needs the right to make
  namespaces (root); without it the daemon does not start, and the agent logs why.
"""

from __future__ import annotations

import contextlib
import math
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

from stratus.agent.executor import log
from stratus.agent.protocol import Daemon

#: How long a daemon has to exit after SIGTERM before its group is killed.
STOP_WAIT_S = 10.0


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


class DaemonKeeper:
    """The daemons of one agent, by name."""

    def __init__(self, spool: Path) -> None:
        self.spool = spool
        self.running: dict[str, subprocess.Popen[bytes]] = {}

    def ensure(self, msg: Daemon) -> None:
        """Start the daemon ``msg`` describes unless one of that name still runs."""
        current = self.running.get(msg.name)
        if current is not None:
            if current.poll() is None:
                return
            log(f"daemon {msg.name} had exited with status {current.returncode}; starting it again")
        argv = fresh_boot_argv(list(msg.argv)) if msg.fresh_boot else list(msg.argv)
        env = {**os.environ, **msg.env}
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

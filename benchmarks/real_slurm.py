"""A throwaway real Slurm cluster for the local benchmark: munged, slurmctld and slurmd, by pid.

The cluster has the shape of the benchmark's stratus cluster: its configuration is rendered by
stratus's own renderer (:func:`stratus.slurmengine.render.render_slurm_conf`) from the same
cluster configuration, with the tuning Slurm's baseline used (``batch_sched_delay=0``) passed as
the cluster's ``CustomSlurmSettings``. The daemons are Slurm's own (``slurm-wlm`` binaries on
PATH), started by :class:`stratus.slurmengine.daemons.SlurmDaemons` in a temporary directory with
ports that are free now, so a site's own Slurm on the same machine is left alone.

The static node's slurmd is started here. The cloud queue's nodes start powered down; Slurm's
ResumeProgram (a small Python script, run with this Python) starts ``slurmd -D -N <node>`` for
each node of the hostlist it is given, detached, in a time namespace of its own whose uptime
starts at zero: slurmctld takes a node whose boot time (now minus its uptime, which slurmd
rounds up to whole seconds) is before the second it asked for the resume as not booted yet, and
a node here is a process on a machine that booted long ago. For the same reason the script
starts the slurmd at the next whole second (up to 1 s, charged to Slurm's figure (f)). The
offset is written with ``unshare(CLONE_NEWTIME)`` and ``/proc/self/timens_offsets`` rather
than ``unshare --time --boottime``, whose offset is in whole seconds. The SuspendProgram (also
the ResumeFailProgram) stops that slurmd by its pid file in the site's pid directory.
Everything started is stopped by pid when the cluster is stopped: the daemons started here and
every slurmd the resume program left running (by pid file, checked to be that node's slurmd).

Needs root (slurmd runs jobs as their owner, and ``unshare --time`` needs CAP_SYS_ADMIN), so
``SlurmUser`` is root: slurmctld then runs the power-saving programs as root too.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import yaml

from stratus.config import load_cluster_config
from stratus.config.schema import ClusterConfig
from stratus.net import free_port_run, free_ports
from stratus.slurmengine.daemons import SlurmDaemons
from stratus.slurmengine.render import ConfigSlurmSettings, SlurmSite, node_ports, render_slurm_conf

#: What must be on PATH to run a real Slurm cluster here.
PROGRAMS = ("munged", "slurmctld", "slurmd", "sbatch", "squeue", "sacct", "scontrol", "sinfo", "scancel")

#: Slurm settings on top of the rendered defaults. ``batch_sched_delay=0`` is the throughput
#: tuning of Slurm's baseline. The other two change nothing that is timed: ``SuspendTimeout``
#: only shortens the wait between two samples of (f) (a node is "powering down" for that long
#: after its slurmd was stopped), and ``MaxJobCount`` (default 10,000) must hold the 10,000
#: queued jobs of (g) plus the finished ones slurmctld keeps for ``MinJobAge``.
TUNING: list[dict[str, Any]] = [
    {"SchedulerParameters": "batch_sched_delay=0"},
    {"SuspendTimeout": 5},
    {"MaxJobCount": 100_000},
]

RESUME = '''\
#!{python} -I
"""ResumeProgram: start the slurmd of each node of the hostlist in argv[1], detached, in a
time namespace whose boot time is now."""
import ctypes, os, signal, subprocess, sys, time

signal.pthread_sigmask(signal.SIG_SETMASK, [])  # slurmctld runs us with signals blocked
env = dict(os.environ, SLURM_CONF={conf!r})
nodes = subprocess.run(
    [{scontrol!r}, "show", "hostnames", sys.argv[1]], env=env, capture_output=True, text=True, check=True
).stdout.split()
# slurmctld takes a node that registers with a boot time (now minus its uptime, which slurmd
# rounds up to whole seconds) before the second it was asked to resume as not booted yet. A
# node here boots in well under a second, so it starts at the next whole second, with an
# uptime of zero: its boot time is then the second of the request.
time.sleep(1 - time.time() % 1)
libc = ctypes.CDLL(None, use_errno=True)
if libc.unshare(0x80) != 0:  # CLONE_NEWTIME: for the children started below
    raise OSError(ctypes.get_errno(), "unshare(CLONE_NEWTIME)")
up = time.clock_gettime_ns(time.CLOCK_BOOTTIME) + 1_000_000_000
with open("/proc/self/timens_offsets", "w") as f:
    f.write("boottime %d %d" % (-(up // 1_000_000_000), 1_000_000_000 - up % 1_000_000_000))
for node in nodes:
    os.makedirs(os.path.join({spool!r}, node), exist_ok=True)
    with open(os.path.join({logs!r}, "slurmd-" + node + ".out"), "ab") as out:
        subprocess.Popen(
            [{slurmd!r}, "-D", "-N", node, "-f", {conf!r}],
            stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True, env=env,
        )
'''

SUSPEND = '''\
#!{python} -I
"""SuspendProgram (and ResumeFailProgram): stop the slurmd of each node, by its pid file."""
import os, signal, subprocess, sys

env = dict(os.environ, SLURM_CONF={conf!r})
nodes = subprocess.run(
    [{scontrol!r}, "show", "hostnames", sys.argv[1]], env=env, capture_output=True, text=True, check=True
).stdout.split()
for node in nodes:
    try:
        with open(os.path.join({pids!r}, "slurmd-" + node + ".pid")) as f:
            os.kill(int(f.read().split()[0]), signal.SIGTERM)
    except (OSError, ValueError, IndexError):
        pass
'''


def unavailable() -> str | None:
    """Why a real Slurm cluster cannot be run here, or None when it can."""
    missing = [p for p in PROGRAMS if shutil.which(p) is None]
    if missing:
        return "not installed here (no " + ", ".join(missing) + " on PATH)"
    if os.geteuid() != 0:
        return "not run here (installed, but it needs root)"
    return None


class RealSlurm:
    """A running real Slurm cluster of the benchmark's shape; stop it with :meth:`stop`."""

    def __init__(self, config_text: str, static_node: str) -> None:
        loaded = load_cluster_config(config_text)
        # The tuning goes in as CustomSlurmSettings. stratus's validator refuses Slurm-only
        # SchedulerParameters (stratus schedules itself), so only the schema checks this copy.
        raw = yaml.safe_load(config_text)
        raw["Scheduling"].setdefault("SlurmSettings", {})["CustomSlurmSettings"] = TUNING
        settings = ConfigSlurmSettings.from_config(ClusterConfig.model_validate(raw))

        # A short path: munged's socket path must fit a sockaddr_un; o+x for munged.
        self.root = Path(tempfile.mkdtemp(prefix="sb-"))
        self.root.chmod(0o755)
        self.work = self.root / "work"
        self.work.mkdir()
        controller, slurmd = free_ports(2)
        nodes = len(node_ports(loaded.layout, _site(self.root, controller, slurmd, 1)))
        base = free_port_run(nodes, {controller, slurmd})
        self.site = _site(self.root, controller, slurmd, base)
        self.nodes = list(node_ports(loaded.layout, self.site))
        conf = render_slurm_conf(loaded.layout, self.site, settings)
        self.daemons = SlurmDaemons(self.root / "cluster", self.site, conf)
        self.env = self.daemons.client_env()
        self.bin = Path(shutil.which("sbatch") or "sbatch").parent
        self._write_programs()
        try:
            self.daemons.start()
            self.daemons.start_slurmd(static_node)
            self.wait(lambda: self.node_state(static_node) == "idle", 60, 0.2)
        except BaseException:
            self.stop()
            raise

    def _write_programs(self) -> None:
        fields = {
            "python": os.path.realpath(sys.executable),
            "conf": str(self.daemons.slurm_conf),
            "spool": self.site.spool_dir,
            "logs": self.site.log_dir,
            "pids": self.site.pid_dir,
            # slurmctld runs these programs with an almost empty environment: no PATH.
            **{name: shutil.which(name) or name for name in ("scontrol", "slurmd")},
        }
        for name, text in (("resume", RESUME), ("suspend", SUSPEND)):
            path = self.root / name
            path.write_text(text.format(**fields))
            path.chmod(0o755)

    def run(self, *argv: str) -> str:
        """Run a Slurm client against this cluster; its output (exits on failure)."""
        p = subprocess.run(argv, env=self.env, cwd=self.work, capture_output=True, text=True)
        if p.returncode != 0:
            raise SystemExit(f"Slurm: {' '.join(argv)} failed: {p.stderr}")
        return p.stdout

    def node_state(self, node: str) -> str:
        return self.run("sinfo", "-h", "-n", node, "-o", "%t").strip()

    def wait(self, cond: Callable[[], bool], timeout: float, every: float) -> None:
        deadline = time.monotonic() + timeout
        while not cond():
            if time.monotonic() > deadline:
                raise SystemExit(f"Slurm: timed out; logs in {self.site.log_dir}")
            time.sleep(every)

    def submit_held(self, count: int) -> None:
        """Submit ``count`` held jobs, one sbatch each, 4 at a time."""
        with ThreadPoolExecutor(4) as pool:
            list(
                pool.map(lambda _: self.run("sbatch", "--hold", "-p", "queue1", "--wrap=true"), range(count))
            )

    def stop(self) -> None:
        """Stop every slurmd the resume program started, then the daemons started here (all by
        pid), and remove the cluster's directory."""
        for node in self.nodes:
            if self.daemons.slurmd(node) is None:
                _stop_pid(Path(self.site.pid_dir) / f"slurmd-{node}.pid", node)
        self.daemons.stop()
        shutil.rmtree(self.root, ignore_errors=True)


def _site(root: Path, controller: int, slurmd: int, base: int) -> SlurmSite:
    return SlurmSite(
        cluster_name="bench",
        slurm_cluster_name="bench",
        controller_host="localhost",
        state_dir=str(root / "state"),
        spool_dir=str(root / "spool"),
        log_dir=str(root / "log"),
        pid_dir=str(root / "run"),
        resume_program=str(root / "resume"),
        suspend_program=str(root / "suspend"),
        munge_socket=str(root / "m" / "munge.sock"),
        controller_port=controller,
        slurmd_port=slurmd,
        slurmd_port_base=base,
        slurm_user="root",
    )


def _stop_pid(pid_file: Path, node: str, timeout: float = 10.0) -> None:
    """SIGTERM the slurmd of ``node`` its pid file names, wait for it, then SIGKILL. A pid that
    is not (or no longer) that slurmd is left alone."""
    try:
        pid = int(pid_file.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return
    if not _is_slurmd(pid, node):
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while _is_slurmd(pid, node):
            if time.monotonic() > deadline:
                os.kill(pid, signal.SIGKILL)
                break
            time.sleep(0.1)


def _is_slurmd(pid: int, node: str) -> bool:
    """Whether ``pid`` is a live (not zombie) ``slurmd ... -N node``."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z" and Path(os.fsdecode(argv[0])).name == "slurmd" and node.encode() in argv

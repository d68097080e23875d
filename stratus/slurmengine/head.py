"""Real Slurm as a cluster's engine (``Stratus.Engine: slurm``), run by the head node.

What ParallelCluster's head node does around Slurm, done by stratus's head node around a Slurm
of its own:

* At start: the configuration rendered into ``<cluster>/slurm/slurm.conf`` and ``gres.conf``
  (:mod:`stratus.slurmengine.render`), the resume and suspend programs written, and the
  cluster's munged and slurmctld started (:mod:`stratus.slurmengine.daemons`). Daemons left by a
  head node that was killed are stopped first, by the pids in their pid files (only when the
  process is still the daemon of this cluster's configuration); slurmctld then recovers its jobs
  from its state directory. When slurmctld does not start, the head node records
  ``CREATE_FAILED`` with the last lines of its log.
* Nodes: stratus's own fleet launches and retires them, through the same providers as with
  stratus's engine, but the engine never decides it (``EngineConfig.external_power``): Slurm's
  ResumeProgram and SuspendProgram (:mod:`stratus.slurmengine.power`) ask the head node, which
  powers the named nodes up or down. Static nodes are kept up (and replaced) as always. When a
  node's agent has joined, the head node has it start the node's slurmd (a fresh boot time, so
  slurmctld accepts it as powered up).
* What Slurm must know, it is told with ``scontrol update``, in order, one command at a time:
  a node stratus sets DOWN (a launch that failed, a capacity error, a lost or unreachable host,
  a missing mount) goes DOWN in Slurm with the same reason (its jobs are requeued by Slurm); a
  node stratus powers down on its own (fleet stop, protected mode) is ``POWER_DOWN_FORCE``; a
  node that comes back is ``RESUME``; partitions follow the fleet (``INACTIVE`` / ``UP``).
* A heartbeat (``<cluster>/slurm/heartbeat``: the time of the last check), written about every
  10 s while the head node's loop runs, as clustermgtd's is.
* At stop (head node stops or the cluster is deleted): slurmctld and munged stopped by pid.
  Nodes' slurmd are the agents' children and go with their nodes.

With ``Stratus.ExistingSlurm`` the cluster provides nodes to a site's own Slurm instead: no
slurm.conf is rendered and no munged, slurmctld or slurmdbd is started or stopped; scontrol and
the nodes' slurmd use the site's slurm.conf, and the lines the site adds to it (nodes,
partitions, power programs) are written to ``<cluster>/slurm/burst.conf``
(:func:`~stratus.slurmengine.render.render_burst_lines`).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import hashlib
import json
import logging
import math
import os
import shutil
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from stratus.agent.protocol import DAEMON_DIR, Daemon, DaemonFile
from stratus.config.layout import LOCAL, ClusterLayout
from stratus.config.schema import ClusterConfig
from stratus.engine.model import Transition
from stratus.engine.states import NodeState
from stratus.errors import UserError
from stratus.net import free_port_run, free_ports
from stratus.paths import ClusterPaths
from stratus.slurmengine.accounting import DEFAULT_DATABASE_NAME, SlurmAccounting
from stratus.slurmengine.daemons import MAX_SOCKET_PATH, DaemonError, SlurmDaemons
from stratus.slurmengine.render import (
    ConfigSlurmSettings,
    SlurmSite,
    node_ports,
    render_burst_lines,
    render_gres_conf,
    render_slurm_conf,
    slurm_cluster_name,
)
from stratus.slurmengine.siteconf import COMPANIONS, SiteConfError, flatten, has_setting, localize

if TYPE_CHECKING:
    from stratus.controller.core import Controller
    from stratus.controller.nodeplane import AgentConn

log = logging.getLogger("stratus.slurmengine")

#: The programs ``Engine: slurm`` needs on the head node, and the Debian packages that have them.
REQUIRED_PROGRAMS = ("slurmctld", "slurmd", "munged", "scontrol", "sbatch", "squeue", "sinfo", "unshare")
#: Those it needs when its nodes join a site's own Slurm (``Stratus.ExistingSlurm``).
EXISTING_SLURM_PROGRAMS = ("slurmd", "scontrol", "unshare")
PACKAGES = "slurm-wlm munge"

#: The longest spool directory kept in the cluster's directory (see :meth:`SlurmFiles.spool`).
SHORT_SPOOL_PATH = 40

#: munged's socket on a node of another machine, in its agent's daemon directory.
NODE_MUNGE_SOCKET = "munge.socket"

#: How often the heartbeat file is written (seconds).
HEARTBEAT_PERIOD_S = 10.0
#: How long one scontrol command may take before it is given up (and logged).
SCONTROL_TIMEOUT_S = 30.0
#: How often Slurm's view of the nodes is reconciled with stratus's (clustermgtd's loop: 60 s).
RECONCILE_PERIOD_S = 30.0
#: How long Slurm must have a node POWERING_UP that stratus has not launched before the head
#: node takes its resume request for lost (twice power_save_min_interval, and then some).
LOST_RESUME_S = 75.0
#: slurm.conf's SuspendTimeout as ParallelCluster sets it (CustomSlurmSettings may change it).
DEFAULT_SUSPEND_TIMEOUT_S = 120.0


class SlurmUnavailable(UserError):
    """Real Slurm cannot be the engine on this machine (not installed, not root)."""


def check_available(existing: bool = False) -> None:
    """Raise :class:`SlurmUnavailable` naming what is missing, when ``Engine: slurm`` cannot run
    here: Slurm's and MUNGE's programs on PATH (with ``existing``, a site's own Slurm: those the
    nodes and scontrol need), and root (slurmd starts jobs as their owners)."""
    missing = [
        p for p in (EXISTING_SLURM_PROGRAMS if existing else REQUIRED_PROGRAMS) if shutil.which(p) is None
    ]
    if missing:
        raise SlurmUnavailable(
            f"Stratus.Engine: slurm needs Slurm and MUNGE on this machine, and {', '.join(missing)} "
            f"{'is' if len(missing) == 1 else 'are'} not installed. Install Debian's packages "
            f"({PACKAGES}: apt-get install {PACKAGES}), or leave Stratus.Engine out to use "
            "stratus's own engine."
        )
    if os.geteuid() != 0:
        raise SlurmUnavailable(
            "Stratus.Engine: slurm runs Slurm's daemons, which start jobs as their owners: create the "
            "cluster as root, or leave Stratus.Engine out to use stratus's own engine."
        )


def remote_nodes(layout: ClusterLayout) -> list[str]:
    """The nodes of a cluster that run on other machines (every provider but the local one)."""
    return [n for cr in layout.compute_resources() if cr.provider_kind != LOCAL for n in cr.node_names]


def unsupported_nodes(layout: ClusterLayout) -> list[str]:
    """Compute resources ``Engine: slurm`` cannot run, as ``queue/compute resource``: nodes on
    other machines joining a site's own Slurm (``Stratus.ExistingSlurm``) without the site's
    munge key (``MungeKey``)."""
    if not layout.existing_slurm_conf or layout.existing_slurm_munge_key:
        return []
    return [
        f"{q.name}/{cr.name}"
        for q in layout.queues
        for cr in q.compute_resources
        if cr.provider_kind != LOCAL
    ]


def node_site(site: SlurmSite) -> SlurmSite:
    """The site as a node of another machine has it: its own munged, and slurmd's spool, log and
    pid files, in its agent's daemon directory (:data:`~stratus.agent.protocol.DAEMON_DIR`)."""
    return dataclasses.replace(
        site,
        spool_dir=DAEMON_DIR,
        log_dir=DAEMON_DIR,
        pid_dir=DAEMON_DIR,
        munge_socket=f"{DAEMON_DIR}/{NODE_MUNGE_SOCKET}",
    )


def _reachable_by_all(directory: Path) -> bool:
    """Whether every directory from ``directory`` up is searchable by all users (munged's rule)."""
    try:
        return all(p.stat().st_mode & 0o001 for p in (directory, *directory.parents))
    except OSError:
        return False


class SlurmFiles:
    """Where one cluster's Slurm lives: ``<cluster>/slurm/...`` (and munged's socket where
    munged accepts it)."""

    def __init__(self, paths: ClusterPaths) -> None:
        self.paths = paths
        self.root = paths.root / "slurm"

    @property
    def conf(self) -> Path:
        return self.root / "slurm.conf"

    @property
    def burst(self) -> Path:
        """The lines a site's own Slurm includes (``Stratus.ExistingSlurm``)."""
        return self.root / "burst.conf"

    @property
    def ports(self) -> Path:
        return self.root / "ports.json"

    @property
    def heartbeat(self) -> Path:
        return self.root / "heartbeat"

    @property
    def bin(self) -> Path:
        return self.root / "bin"

    @property
    def log_dir(self) -> Path:
        return self.root / "log"

    @property
    def pid_dir(self) -> Path:
        return self.root / "run"

    @property
    def runtime(self) -> Path:
        """A short directory of the cluster's own outside its directory, for the sockets that
        do not fit or may not live there: ``/run/stratus-<digest>`` (or under the temporary
        directory), named after the cluster's directory. Removed when the cluster is deleted."""
        digest = hashlib.sha256(os.fsencode(self.paths.root)).hexdigest()[:12]
        base = Path("/run") if os.access("/run", os.W_OK) else Path("/tmp")
        return base / f"stratus-{digest}"

    def munge_socket(self) -> Path:
        """munged's socket: in the cluster's directory when every directory above it is
        searchable by all and the path is short enough, else in :attr:`runtime`."""
        own = self.root / "munge" / "munge.socket"
        if _reachable_by_all(self.root.parent) and len(os.fsencode(own)) <= MAX_SOCKET_PATH:
            return own
        return self.runtime / "munge" / "munge.socket"

    def spool(self) -> Path:
        """slurmd's spool directory (one per node below it, ``%n``): slurmstepd makes a unix
        socket there named ``<node>/<node>_<job>.<step>``, which must fit in 108 bytes with node
        names of up to about 28 characters: in the cluster's directory when its path is that
        short, else in :attr:`runtime`."""
        own = self.root / "spool"
        return own if len(os.fsencode(own)) <= SHORT_SPOOL_PATH else self.runtime / "spool"


def _ports(files: SlurmFiles, count: int) -> tuple[int, int]:
    """slurmctld's port and the first of the nodes' slurmd ports: chosen once (free now) and kept
    in ``ports.json``, so nodes and clients find the same ports after a restart."""
    try:
        saved = json.loads(files.ports.read_text())
        if int(saved["count"]) >= count:
            return int(saved["slurmctld"]), int(saved["slurmd_base"])
    except (OSError, ValueError, KeyError, TypeError):
        pass
    (ctld,) = free_ports(1)
    try:
        base = free_port_run(max(count, 1), avoid=[ctld])
    except OSError as exc:
        raise DaemonError(f"no ports for the nodes' slurmd: {exc}") from exc
    files.root.mkdir(parents=True, exist_ok=True)
    tmp = files.ports.with_suffix(".tmp")
    tmp.write_text(json.dumps({"slurmctld": ctld, "slurmd_base": base, "count": max(count, 1)}) + "\n")
    tmp.replace(files.ports)
    return ctld, base


def build_site(paths: ClusterPaths, layout: ClusterLayout) -> SlurmSite:
    """The :class:`SlurmSite` of a cluster (choosing and keeping its ports the first time)."""
    files = SlurmFiles(paths)
    count = sum(len(cr.node_names) for cr in layout.compute_resources())
    ctld, base = _ports(files, count)
    user = os.environ.get("USER") or "root"
    with contextlib.suppress(KeyError):
        import pwd

        user = pwd.getpwuid(os.geteuid()).pw_name
    return SlurmSite(
        cluster_name=paths.name,
        slurm_cluster_name=slurm_cluster_name(paths.name),
        controller_host="localhost",
        # Where the nodes reach slurmctld: where agents reach the head node (slurmctld listens
        # on every address of this machine).
        controller_addr=layout.head_node_address,
        state_dir=str(files.root / "state"),
        spool_dir=str(files.spool()),
        log_dir=str(files.log_dir),
        pid_dir=str(files.pid_dir),
        resume_program=str(files.bin / "resume"),
        suspend_program=str(files.bin / "suspend"),
        controller_port=ctld,
        slurmd_port_base=base,
        munge_socket=str(files.munge_socket()),
        # slurmctld runs the power programs as SlurmUser: the head node's own user, whom the head
        # node's API knows as an administrator.
        slurm_user=user,
        gpu_device_files=Path("/dev/nvidia0").exists(),
        # Nodes of other machines run on a slurm.conf with their own paths (see SlurmEngine).
        compare_conf_hash=not remote_nodes(layout) or _site_compares_hashes(layout),
    )


def _site_compares_hashes(layout: ClusterLayout) -> bool:
    """With a site's own Slurm: whether its slurm.conf leaves DebugFlags to the site (it sets
    them; else burst.conf suggests ``NO_CONF_HASH``). False without one."""
    if not layout.existing_slurm_conf:
        return False
    try:
        return has_setting(flatten(Path(layout.existing_slurm_conf)), "DebugFlags")
    except SiteConfError:
        return True  # unreadable here: create-cluster says so


def program_text(module: str, cluster_dir: Path, action: str) -> str:
    """A power program: this Python, this stratus, this cluster."""
    package_root = str(Path(__file__).resolve().parents[2])
    return (
        f"#!{sys.executable} -I\n"
        "import sys\n"
        f"sys.path.insert(0, {package_root!r})\n"
        f"from {module} import main\n"
        f"sys.exit(main([{str(cluster_dir)!r}, {action!r}, *sys.argv[1:]]))\n"
    )


def _command_of(pid: int) -> list[str]:
    """Process ``pid``'s command line and environment (empty when it is gone)."""
    parts: list[str] = []
    for name in ("cmdline", "environ"):
        try:
            with open(f"/proc/{pid}/{name}", "rb") as f:
                parts += [part.decode(errors="replace") for part in f.read().split(b"\0") if part]
        except OSError:
            return []
    return parts


def stop_stale(pid_files: Sequence[Path], marker: str) -> list[int]:
    """Stop daemons a killed head node left (slurmctld, munged, slurmdbd, mariadbd): those named
    by ``pid_files`` whose command line still names ``marker`` (a path of this cluster's), by
    pid: SIGTERM, up to 30 s, then SIGKILL. Returns the pids stopped."""
    stopped: list[int] = []
    for pid_file in pid_files:
        try:
            pid = int(pid_file.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            continue
        if not any(marker in part for part in _command_of(pid)):
            continue
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 30
        while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        stopped.append(pid)
    return stopped


class SlurmEngine:
    """The Slurm side of one head node: its daemons, its power programs, and the mirror of
    stratus's node and partition changes into slurmctld."""

    def __init__(self, ctrl: Controller, config: ClusterConfig) -> None:
        self.ctrl = ctrl
        self.files = SlurmFiles(ctrl.paths)
        layout = ctrl.layout
        self.site = build_site(ctrl.paths, layout)
        self.ports = node_ports(layout, self.site)
        # A site's own Slurm (Stratus.ExistingSlurm): its slurm.conf, and nothing of it run here.
        self.existing = bool(layout.existing_slurm_conf)
        self.conf = Path(layout.existing_slurm_conf) if self.existing else self.files.conf
        slurm_settings = ConfigSlurmSettings.from_config(config)
        self.burst_lines = render_burst_lines(layout, self.site, slurm_settings) if self.existing else ""
        conf = "" if self.existing else render_slurm_conf(layout, self.site, slurm_settings)
        settings = config.scheduling.slurm_settings
        database = settings.database if settings is not None else None
        self.accounting: SlurmAccounting | None = None
        accounting = ""
        if database is not None and not self.existing:
            # Accounting asked for: a MariaDB and slurmdbd of the cluster's own, on the head node.
            self.accounting = SlurmAccounting(
                self.files.root,
                self.site,
                database_name=database.database_name or DEFAULT_DATABASE_NAME,
                # The head node's own user, as SlurmUser: the cluster's directory may be out of
                # other users' reach (a home directory), and the database listens on loopback only.
                db_user=self.site.slurm_user,
            )
            accounting = (
                "#\n# ACCOUNTING (SlurmSettings.Database)\n"
                + "\n".join(self.accounting.slurm_conf_lines())
                + "\n"
            )
            conf += accounting
        self.daemons = SlurmDaemons(self.files.root, self.site, conf, render_gres_conf(layout, self.site))
        # Nodes of other machines run a munged of their own (with the cluster's key) and slurmd
        # on a slurm.conf of their own: the cluster's, with their paths. slurmctld would log
        # each registration as a configuration mismatch unless told not to compare (the
        # differences are stratus's doing and only paths).
        self.remote = frozenset(remote_nodes(layout))
        self.munge_key = Path(layout.existing_slurm_munge_key) if self.existing else self.daemons.munge_key
        self.node_conf = ""
        self.node_gres = ""
        if self.remote and not self.existing:
            nsite = node_site(self.site)
            self.node_conf = render_slurm_conf(layout, nsite, slurm_settings) + accounting
            self.node_gres = render_gres_conf(layout, nsite)
        self._commands: asyncio.Queue[list[str]] | None = None
        self._down: set[str] = set()  # nodes this head node set DOWN in Slurm
        # Nodes Slurm has POWERING_UP and stratus powered down: since when (monotonic time).
        self._powering_up: dict[str, float] = {}
        self._last_heartbeat = 0.0
        self._env = {**self.daemons.client_env(), "SLURM_CONF": str(self.conf)}
        custom = dict(slurm_settings.cluster)
        timeout = next(
            (v for k, v in custom.items() if k.lower() == "suspendtimeout"), DEFAULT_SUSPEND_TIMEOUT_S
        )
        self.suspend_timeout_s = float(timeout) if str(timeout).isdigit() else DEFAULT_SUSPEND_TIMEOUT_S

    # -- daemons --------------------------------------------------------------------------------

    def write_programs(self) -> None:
        """The resume and suspend programs slurmctld runs (ResumeFailProgram is the suspend one)."""
        self.files.bin.mkdir(parents=True, exist_ok=True)
        self.files.bin.chmod(0o755)
        for action in ("resume", "suspend"):
            path = self.files.bin / action
            tmp = path.with_suffix(".tmp")
            tmp.write_text(program_text("stratus.slurmengine.power", self.ctrl.paths.root, action))
            tmp.chmod(0o755)
            tmp.replace(path)

    def write_burst_lines(self) -> None:
        """``burst.conf``: the lines a site's own Slurm includes (readable by its users' clients)."""
        self.files.root.mkdir(parents=True, exist_ok=True)
        tmp = self.files.burst.with_suffix(".tmp")
        tmp.write_text(self.burst_lines)
        tmp.chmod(0o644)
        tmp.replace(self.files.burst)

    def start(self) -> None:
        """Stop what a killed head node left, write the programs and start munged and slurmctld
        (blocking). :class:`DaemonError` with the daemon's last log lines when one fails. With
        a site's own Slurm: the programs and ``burst.conf`` only."""
        if self.existing:
            self.files.log_dir.mkdir(parents=True, exist_ok=True)  # the power programs' log
            self.write_programs()
            self.write_burst_lines()
            log.info(
                "nodes of %s join the Slurm of %s (lines in %s)", self.ctrl.name, self.conf, self.files.burst
            )
            return
        pid_files = [self.files.pid_dir / "slurmctld.pid", self.files.pid_dir / "munged.pid"]
        if self.accounting is not None:
            pid_files += [self.accounting.slurmdbd_pid_file, self.accounting.mariadb_pid_file]
        stopped = stop_stale(pid_files, str(self.files.root))
        if stopped:
            log.info("stopped Slurm daemons left by the previous head node: %s", stopped)
        self.write_programs()
        runtime = self.files.runtime
        if runtime in (*self.daemons.munge_socket.parents, *Path(self.site.spool_dir).parents):
            # munged accepts a socket only below directories every user can search.
            runtime.mkdir(parents=True, exist_ok=True)
            runtime.chmod(0o755)
        try:
            self.daemons.write_files()
            self.daemons.start_munged()
            if self.accounting is not None:
                self.accounting.start()  # before slurmctld, which registers the cluster with it
            self.daemons.start_slurmctld()
        except BaseException:
            self.stop()
            raise
        log.info(
            "slurmctld of %s up on port %d (slurm.conf %s)",
            self.ctrl.name,
            self.site.controller_port,
            self.files.conf,
        )

    def stop(self, deleting: bool = False) -> None:
        """Stop slurmctld and munged (blocking); when the cluster is being deleted, also remove
        its runtime directory (sockets and spool outside the cluster's directory). Nothing of a site's
        own Slurm is stopped."""
        if self.existing:
            return
        self.daemons.stop()
        if self.accounting is not None:
            self.accounting.stop()
        if deleting:
            shutil.rmtree(self.files.runtime, ignore_errors=True)

    def client_env(self) -> dict[str, str]:
        """The environment in which Slurm's own commands reach this cluster."""
        return dict(self._env)

    # -- following stratus's state ---------------------------------------------------------------

    def attach(self) -> None:
        """Follow the controller: transitions mirrored into Slurm, slurmd started on nodes that
        join, the heartbeat, and the worker that runs scontrol commands in order."""
        self._commands = asyncio.Queue()
        self.ctrl.transition_listeners.append(self.observe)
        self.ctrl.join_listeners.append(self.joined)
        self.ctrl.add_periodic(self.heartbeat)
        self.ctrl.spawn(self._run_commands())
        self.ctrl.spawn(self._reconcile_loop())

    def daemon_messages(self, node: str, address: str = "") -> list[Daemon]:
        """What a node's agent is told to keep running, in order. A node of this machine: its
        slurmd, on this slurm.conf (the site's with ``Stratus.ExistingSlurm``) and the head
        node's munged. A node of another machine: a munged with the cluster's key (the site's
        ``MungeKey``), then slurmd on the node's own slurm.conf (:meth:`_node_files`), all in
        the agent's daemon directory.
        ``address``: the node's, which munged records as the origin of its credentials (else it
        resolves the host's name, which can take long where names do not resolve)."""
        if node not in self.remote:
            conf = str(self.conf)
            return [
                Daemon(
                    name="slurmd",
                    argv=["slurmd", "-D", "-N", node, "-f", conf],
                    env={"SLURM_CONF": conf},
                    fresh_boot=True,
                )
            ]
        d = DAEMON_DIR
        files = self._node_files()
        munged = Daemon(
            name="munged",
            argv=[
                "munged",
                "--foreground",
                f"--socket={d}/{NODE_MUNGE_SOCKET}",
                f"--key-file={d}/munge.key",
                f"--pid-file={d}/munged.pid",
                f"--log-file={d}/munged.log",
                f"--seed-file={d}/munged.seed",
                *([f"--origin={address}"] if address else []),
            ],
            files=[DaemonFile("munge.key", _b64(self.munge_key.read_bytes()), 0o400)],
            ready=NODE_MUNGE_SOCKET,
        )
        slurmd = Daemon(
            name="slurmd",
            argv=["slurmd", "-D", "-N", node, "-f", f"{d}/slurm.conf"],
            env={"SLURM_CONF": f"{d}/slurm.conf"},
            fresh_boot=True,
            files=files,
        )
        return [munged, slurmd]

    def _node_files(self) -> list[DaemonFile]:
        """slurm.conf and its companions for a node of another machine: the cluster's as
        rendered, or the site's (``Stratus.ExistingSlurm``) read now, Include lines followed, with
        the node's own paths."""
        if not self.existing:
            files = [DaemonFile("slurm.conf", _b64(self.node_conf.encode()))]
            if self.node_gres:
                files.append(DaemonFile("gres.conf", _b64(self.node_gres.encode())))
            return files
        text = localize(flatten(self.conf), DAEMON_DIR, f"{DAEMON_DIR}/{NODE_MUNGE_SOCKET}")
        files = [DaemonFile("slurm.conf", _b64(text.encode()))]
        for name in COMPANIONS:
            companion = self.conf.parent / name
            if companion.is_file():
                files.append(DaemonFile(name, _b64(companion.read_bytes())))
        return files

    def joined(self, node: str, conn: AgentConn) -> None:
        """A node's agent joined: have it start the node's slurmd, once Slurm is ready for it."""
        self.ctrl.spawn(self._start_slurmd(node, conn))

    async def _start_slurmd(self, node: str, conn: AgentConn) -> None:
        # A node Slurm is about to power down or still powering down (SuspendTimeout after a
        # power-down) would be taken for one that "unexpectedly rebooted": its slurmd waits
        # until Slurm has it powered down, from where a resume brings it up.
        deadline = time.monotonic() + max(self.suspend_timeout_s, 0) + 60
        flags: frozenset[str] = frozenset()
        while time.monotonic() < deadline and self.ctrl.agents.get(node) is conn:
            flags = _flags(await self.node_info(node), node)
            if not flags & {"POWER_DOWN", "POWERING_DOWN"}:
                break
            await asyncio.sleep(2)
        if self.ctrl.agents.get(node) is not conn:
            return
        address = conn.peer_address()
        if node in self.remote and address:
            # slurmctld reaches the node where its agent connects from (node names do not
            # resolve): told before the node's slurmd registers.
            where = [f"NodeAddr={address}", f"NodeHostname={address}"]
            await self._run(["scontrol", "update", f"NodeName={node}", *where])
        asked = math.floor(time.time())
        try:
            messages = self.daemon_messages(node, address)
        except (OSError, SiteConfError) as exc:
            # The site's slurm.conf or munge key unreadable now: the node cannot join Slurm (it
            # reaches ResumeTimeout there, and is retired).
            log.error("node %s: cannot start its slurmd: %s", node, exc)
            return
        for msg in messages:
            conn.send(msg)
        if "DOWN" not in flags:
            return  # powered up by Slurm (POWERING_UP there), never started, or already running
        # A node stratus powered up on its own (a static node, a replacement) that Slurm has
        # DOWN (set so by stratus when it went; a new slurmd registering there is also taken for
        # an "unexpected reboot"): once the new slurmd has registered, it returns to service.
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and self.ctrl.agents.get(node) is conn:
            fields = (await self.node_info(node)).get(node, {})
            if _boot_time(fields) >= asked:
                if "DOWN" in _flags({node: fields}, node):
                    self._down.discard(node)
                    self.scontrol("update", f"NodeName={node}", "State=RESUME")
                return
            await asyncio.sleep(1)
        log.warning("node %s: its slurmd did not register with slurmctld within 120 s", node)

    async def node_info(self, names: str = "") -> dict[str, dict[str, str]]:
        """What ``scontrol -o show node [names]`` says of each node (``State``, ``Reason``,
        ``BootTime`` ...); empty when slurmctld does not answer."""
        out = await self._run(["scontrol", "-o", "show", "node", *([names] if names else [])])
        info: dict[str, dict[str, str]] = {}
        for line in (out or "").splitlines():
            fields = dict(f.split("=", 1) for f in line.split() if "=" in f)
            if "NodeName" in fields:
                info[fields["NodeName"]] = fields
        return info

    async def _run(self, argv: list[str]) -> str | None:
        """Run a Slurm client; its output, or None (logged) when it failed."""
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv,
                env=self._env,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
            )
            out, _ = await asyncio.wait_for(proc.communicate(), SCONTROL_TIMEOUT_S)
        except (OSError, TimeoutError) as exc:
            log.warning("%s failed: %s", " ".join(argv), exc)
            return None
        text = out.decode(errors="replace")
        if proc.returncode:
            log.warning("%s: exit %s: %s", " ".join(argv), proc.returncode, text.strip())
            return None
        return text

    async def reconcile(self) -> None:
        """What clustermgtd does about Slurm's view of the nodes, at start and once per
        :data:`RECONCILE_PERIOD_S`: partitions UP or INACTIVE as in stratus; a node Slurm left
        DOWN and powered down (a ResumeTimeout, a failed launch) that stratus has powered down
        and usable is powered down again in Slurm
        (``POWER_DOWN_FORCE``; with ``idle_on_node_suspend`` it is idle~ and usable after
        SuspendTimeout); a node Slurm is powering up that stratus has powered down (a resume
        request lost when the head node stopped) is powered up, once it has been so for
        :data:`LOST_RESUME_S` (slurmctld marks a node POWERING_UP up to
        ``power_save_min_interval`` before its resume program runs: until then the request may be
        on its way)."""
        await self._reconcile_partitions()
        info = await self.node_info()
        engine = self.ctrl.engine
        lost: list[str] = []
        for name in info:
            flags = _flags(info, name)
            node = engine.nodes.get(name)
            if node is None or node.state != NodeState.POWERED_DOWN:
                continue
            if "DOWN" in flags and "POWERED_DOWN" in flags and "POWERING_DOWN" not in flags:
                log.info("node %s is down and powered down in Slurm, usable in stratus: resetting it", name)
                self.scontrol("update", f"NodeName={name}", "State=POWER_DOWN_FORCE")
            elif "POWERING_UP" in flags and not node.defn.static:
                lost.append(name)
        now = time.monotonic()
        self._powering_up = {n: self._powering_up.get(n, now) for n in lost}
        lost = [n for n in lost if now - self._powering_up[n] >= LOST_RESUME_S]
        if lost:
            log.info("Slurm is powering up %s, which stratus has powered down: powering up", ",".join(lost))
            self.power("resume", lost)

    async def _reconcile_partitions(self) -> None:
        """Partitions UP or INACTIVE in Slurm as in stratus: slurmctld takes a partition's state
        from slurm.conf when it starts (a head node that restarts with the fleet stopped would
        otherwise leave Slurm scheduling on it)."""
        out = await self._run(["scontrol", "-o", "show", "partition"])
        for line in (out or "").splitlines():
            fields = dict(f.split("=", 1) for f in line.split() if "=" in f)
            partition = self.ctrl.engine.partitions.get(fields.get("PartitionName", ""))
            if partition is None:
                continue  # a site's own partition (Stratus.ExistingSlurm)
            want = "UP" if partition.up else "INACTIVE"
            if fields.get("State") != want:
                log.info(
                    "partition %s is %s in Slurm, %s in stratus", partition.name, fields.get("State"), want
                )
                self.scontrol("update", f"PartitionName={partition.name}", f"State={want}")

    async def _reconcile_loop(self) -> None:
        # Once at start (after a head node restart Slurm may differ), then periodically.
        delay = 1.0
        while True:
            await asyncio.sleep(delay)
            delay = RECONCILE_PERIOD_S
            try:
                await self.reconcile()
            except Exception:
                log.exception("reconciling with Slurm failed; retrying")

    def observe(self, transitions: Sequence[Transition]) -> None:
        """Tell Slurm what changed in stratus that it must know (see the module's docstring)."""
        for t in transitions:
            if t.entity == "partition":
                if t.new in ("INACTIVE", "UP"):
                    self.scontrol("update", f"PartitionName={t.key}", f"State={t.new}")
                continue
            if t.entity != "node":
                continue
            if t.new == NodeState.DOWN:
                self._down.add(t.key)
                self.scontrol("update", f"NodeName={t.key}", "State=DOWN", f"Reason={_reason(t.reason)}")
            elif t.new == NodeState.POWERED_DOWN and t.old == NodeState.DOWN:
                # Usable again (a held node released): powered down and idle in Slurm too.
                self._down.discard(t.key)
                self.scontrol("update", f"NodeName={t.key}", "State=POWER_DOWN_FORCE")
            elif t.new == NodeState.POWERING_DOWN and t.cause != "suspend":
                if self.ctrl.engine.nodes[t.key].defn.static:
                    # Slurm never powers static nodes (SuspendExcNodes): DOWN until they are back.
                    self._down.add(t.key)
                    reason = _reason(f"powered down by stratus: {t.reason or t.cause}")
                    self.scontrol("update", f"NodeName={t.key}", "State=DOWN", f"Reason={reason}")
                else:
                    self.scontrol("update", f"NodeName={t.key}", "State=POWER_DOWN_FORCE")

    def scontrol(self, *args: str) -> None:
        """Queue an scontrol command (run in order, off the head node's loop)."""
        if self._commands is not None:
            self._commands.put_nowait(["scontrol", *args])

    async def _run_commands(self) -> None:
        assert self._commands is not None
        while True:
            argv = await self._commands.get()
            text = await self._run(argv)
            if text is not None:
                log.info("%s%s", " ".join(argv), f": {text.strip()}" if text.strip() else "")

    async def drain(self, timeout: float = 10.0) -> None:
        """Wait until the queued scontrol commands have been run (or ``timeout`` passes)."""
        deadline = time.monotonic() + timeout
        while self._commands is not None and not self._commands.empty() and time.monotonic() < deadline:
            await asyncio.sleep(0.05)

    def heartbeat(self) -> None:
        now = time.time()
        if now - self._last_heartbeat < HEARTBEAT_PERIOD_S:
            return
        self._last_heartbeat = now
        tmp = self.files.heartbeat.with_suffix(".tmp")
        tmp.write_text(time.strftime("%Y-%m-%d %H:%M:%S%z", time.localtime(now)) + "\n")
        tmp.replace(self.files.heartbeat)

    # -- power requests from Slurm ----------------------------------------------------------------

    def power(self, action: str, names: Sequence[str]) -> list[str]:
        """Slurm's ResumeProgram (``resume``) or SuspendProgram (``suspend``) named ``names``:
        power them up or down. Returns the nodes acted on; unknown names are ignored (logged)."""
        ctrl = self.ctrl
        known = [n for n in names if n in ctrl.engine.nodes]
        unknown = sorted(set(names) - set(known))
        if unknown:
            log.warning("%s: unknown nodes ignored: %s", action, ", ".join(unknown))
        now = ctrl.clock()
        actions = ctrl.engine.resume(known, now) if action == "resume" else ctrl.engine.suspend(known, now)
        acted = [n for a in actions for n in getattr(a, "nodes", ())]
        log.info("%s requested by slurmctld for %s: acting on %s", action, ",".join(names), ",".join(acted))
        if action == "resume":
            # A node Slurm asks for that stratus holds down (a capacity error) or cannot power up
            # now: Slurm is told it is down, with the reason, rather than left waiting.
            for name in known:
                node = ctrl.engine.nodes[name]
                if name not in acted and node.state == NodeState.DOWN:
                    self._down.add(name)
                    self.scontrol(
                        "update", f"NodeName={name}", "State=DOWN", f"Reason={_reason(node.reason or '')}"
                    )
        ctrl.commit(actions)
        return acted


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _flags(info: dict[str, dict[str, str]], node: str) -> frozenset[str]:
    """A node's state flags (``IDLE``, ``CLOUD``, ``POWERED_DOWN`` ...) in ``node_info``."""
    return frozenset(info.get(node, {}).get("State", "").split("+")) - {""}


def _boot_time(fields: dict[str, str]) -> float:
    """``BootTime`` (local time, whole seconds) as seconds since the epoch; 0 when unknown."""
    try:
        return time.mktime(time.strptime(fields.get("BootTime", ""), "%Y-%m-%dT%H:%M:%S"))
    except ValueError:
        return 0.0


def _reason(text: str) -> str:
    """A node reason as one scontrol argument (Slurm keeps its first 1024 characters)."""
    flat = " ".join(text.split()) or "set down by stratus"
    return flat[:1024]

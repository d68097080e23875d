"""The head-node daemon process: ``python -m stratus.headnode --cluster-dir DIR``.

Started detached by ``stratus create-cluster`` and ``stratus start-head-node``. At most one runs
per cluster: it holds an exclusive ``flock`` on ``controller.lock`` for its whole life (the kernel
releases it if the process is killed). It publishes its ports in ``endpoint`` only once it is
ready to serve, and removes that file when it stops.
"""

from __future__ import annotations

import argparse
import asyncio
import fcntl
import logging
import os
import shutil
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stratus.net import HEAD_ADDRESS
from stratus.paths import ClusterPaths

if TYPE_CHECKING:
    from stratus.controller.core import Controller
    from stratus.slurmengine.head import SlurmEngine

log = logging.getLogger("stratus.headnode")

EXIT_ALREADY_RUNNING = 3


def acquire_lock(paths: ClusterPaths) -> int | None:
    """Take the cluster's controller lock; None if another controller holds it."""
    fd = os.open(paths.lock, os.O_CREAT | os.O_RDWR, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    return fd


def lock_holder(paths: ClusterPaths) -> int | None:
    """The pid of the running controller, or None if no controller holds the lock."""
    try:
        fd = os.open(paths.lock, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            data = os.read(fd, 64).decode().strip()
            return int(data) if data.isdigit() else -1
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def _previous_ports(paths: ClusterPaths) -> tuple[int, int]:
    try:
        _, api, agent = paths.endpoint.read_text().split()
        return int(api), int(agent)
    except (OSError, ValueError):
        return 0, 0


async def _serve(paths: ClusterPaths, ports: tuple[int, int]) -> str:
    """Run the controller until stopped: "deleted", "restart" (update-cluster) or "stopped"."""
    from stratus.config import load_cluster_config
    from stratus.controller.core import Controller
    from stratus.headnode.compose import assemble
    from stratus.providers.base import Bootstrap
    from stratus.providers.registry import build_providers
    from stratus.providers.ssh import probe_and_record
    from stratus.store.store import Store

    # The hosts of Stratus.Providers give their nodes' sizes: as recorded at create-cluster, and
    # hosts the configuration added since are probed now (over SSH: off the event loop).
    loaded = await asyncio.to_thread(
        load_cluster_config,
        paths.config.read_text(),
        filename=str(paths.config),
        hosts=lambda providers: probe_and_record(paths, providers),
    )
    layout = loaded.layout
    agent_tls = None
    ca_file = ""
    if layout.has_remote_nodes:
        from stratus.providers.tls import ca_cert_path, server_context

        # Agents on other machines: their traffic is encrypted and the head node proves itself
        # with a certificate from the cluster's CA, for the address they dial.
        agent_tls = server_context(paths, layout.head_node_address)
        ca_file = str(ca_cert_path(paths))
    store = Store.open(paths.db)
    kill_wait = float(os.environ.get("STRATUS_KILL_WAIT", "30"))
    providers = build_providers(paths, loaded.layout)
    actions = {
        queue.name: {event: [list(script) for script in scripts] for event, scripts in queue.custom_actions}
        for queue in loaded.layout.queues
        if queue.custom_actions
    }
    bootstrap = Bootstrap(kill_wait_s=kill_wait, actions=actions, ca_file=ca_file)
    ctrl = Controller(paths, loaded, store, providers, bootstrap=bootstrap)
    ctrl.host_facts = lambda providers: probe_and_record(paths, providers)  # for update-cluster
    ctrl.restore()
    slurm = None
    if layout.engine == "slurm":
        from stratus.slurmengine.head import SlurmEngine

        slurm = SlurmEngine(ctrl, loaded.config)
    head = assemble(ctrl, slurm)
    api_port, agent_port = ports
    with store.reading() as conn:
        # Agents were given the agent port when their node was launched: keep it across restarts.
        agent_port = agent_port or int(store.get_meta(conn, "agent_port", 0))
    await ctrl.start_servers(
        head.app,
        api_port,
        agent_port,
        http_protocol=head.http_protocol,
        agent_tls=agent_tls,
        agent_host=layout.head_node_address,
    )
    with store.transaction() as conn:
        store.set_meta(conn, "agent_port", ctrl.agent_port)
    if layout.batch_api_address:
        address, port = layout.batch_api_address, layout.batch_api_port
        head.batch.endpoint_url = await _serve_extra(ctrl, head.batch_app, "batch", address, port) or ""
    if head.metrics_app is not None:
        await _serve_extra(ctrl, head.metrics_app, "metrics", layout.metrics_address, layout.metrics_port)
    tmp = paths.endpoint.with_suffix(".tmp")
    tmp.write_text(f"{HEAD_ADDRESS} {ctrl.api_port} {ctrl.agent_port}\n")
    tmp.replace(paths.endpoint)
    log.info(
        "head node of %s serving on %s:%d (agents :%d)",
        paths.name,
        HEAD_ADDRESS,
        ctrl.api_port,
        ctrl.agent_port,
    )
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, ctrl.stop)
    loop.add_signal_handler(signal.SIGINT, ctrl.stop)
    if slurm is not None and not ctrl.deleting:
        await _start_slurm(ctrl, slurm)
    try:
        await ctrl.run()
    finally:
        paths.endpoint.unlink(missing_ok=True)
        if slurm is not None:
            await slurm.drain()
            await asyncio.to_thread(slurm.stop, ctrl.deleting)
        await ctrl.shutdown_servers()
        store.close()
    if ctrl.deleting:
        return "deleted"
    return "restart" if ctrl.restart_requested else "stopped"


async def _serve_extra(ctrl: Controller, app: Any, what: str, address: str, port: int) -> str | None:
    """Serve ``app`` (the ``what`` endpoint: ``batch``, ``metrics``) on ``address``: the
    configured port, else the one chosen the first time (kept, as clients were given it); its
    URL is written to ``<cluster>/<what>/endpoint``. A port that cannot be had leaves the
    cluster without the endpoint (logged, and said in describe-cluster): None."""
    store = ctrl.store
    directory = ctrl.paths.root / what
    with store.reading() as conn:
        kept = int(store.get_meta(conn, f"{what}_port", 0))
    try:
        bound = await ctrl.serve_app(app, address, port or kept, fixed=bool(port))
    except OSError as exc:
        log.error("the %s endpoint cannot listen on %s:%s: %s", what, address, port, exc)
        (directory / "endpoint").unlink(missing_ok=True)
        return None
    with store.transaction() as conn:
        store.set_meta(conn, f"{what}_port", bound)
    host = f"[{address}]" if ":" in address else address
    url = f"http://{host}:{bound}"
    directory.mkdir(exist_ok=True)
    directory.chmod(0o755)
    tmp = directory / "endpoint.tmp"
    tmp.write_text(url + "\n")
    tmp.chmod(0o644)
    tmp.replace(directory / "endpoint")
    log.info("%s endpoint of %s on %s", what, ctrl.paths.name, url)
    return url


async def _start_slurm(ctrl: Controller, slurm: SlurmEngine) -> None:
    """Start the cluster's slurmctld (Engine: slurm); when it cannot start, the cluster's
    creation fails with the daemon's last log lines and the head node goes on serving (so that
    describe-cluster shows why and delete-cluster works)."""
    from stratus.slurmengine.daemons import DaemonError

    try:
        await asyncio.to_thread(slurm.start)
    except (DaemonError, OSError) as exc:
        log.error("Slurm did not start: %s", exc)
        ctrl.fail_creation("HeadNodeBootstrapFailure", f"Slurm did not start: {exc}")
        return
    slurm.attach()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="stratus-headnode", description="stratus head-node daemon")
    parser.add_argument("--cluster-dir", required=True)
    args = parser.parse_args(argv)
    # The state store and logs hold job scripts and environments: owner-only (jobs set their own).
    os.umask(0o077)
    paths = ClusterPaths(Path(args.cluster_dir).resolve())
    paths.logs.mkdir(parents=True, exist_ok=True)
    logging.basicConfig(
        filename=paths.controller_log,
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    fd = acquire_lock(paths)
    if fd is None:
        print(f"stratus: the head node of cluster {paths.name!r} is already running", file=sys.stderr)
        return EXIT_ALREADY_RUNNING
    # An endpoint left by a head node that was killed is stale; clients must not use it, and
    # whoever waits for this head node to be ready waits for the new one.
    stale = _previous_ports(paths)  # reused if still free: agents come back sooner
    paths.endpoint.unlink(missing_ok=True)
    try:
        outcome = asyncio.run(_serve(paths, (stale[0], stale[1])))
    except Exception:
        log.exception("head node failed")
        raise
    if outcome == "deleted":
        log.info("cluster %s deleted", paths.name)
        shutil.rmtree(paths.root, ignore_errors=True)
    os.close(fd)
    if outcome == "restart":
        # update-cluster: the same daemon again, on the new configuration. Its lock is released
        # (closed above); the new process takes it, or finds another head node already running.
        log.info("restarting the head node of %s on its updated configuration", paths.name)
        logging.shutdown()
        os.execv(sys.executable, [sys.executable, "-m", "stratus.headnode", "--cluster-dir", str(paths.root)])
    return 0

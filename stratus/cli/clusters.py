"""Cluster lifecycle operations behind the ``stratus`` verbs.

Reads go straight to each cluster's store (read-only), so ``list-clusters`` and
``describe-cluster`` work whether or not a head node is running. Changes to a running cluster go
through its head node's API; the CLI itself writes only before a head node exists (creation)
and after none can run again (deleting a cluster whose head node is down).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stratus import __version__
from stratus.errors import BackendError, ConflictError, NotFoundError, UserError
from stratus.paths import ClusterPaths, clusters_root, read_endpoint, read_token
from stratus.pcluster import shapes
from stratus.process import package_root, spawn_detached

if TYPE_CHECKING:
    from stratus.config import ClusterLayout
    from stratus.providers.base import Instance

CLUSTER_NAME_RE = re.compile(r"[a-zA-Z][a-zA-Z0-9-]+")
READY_TIMEOUT_S = 60.0


class CliError(UserError):
    """An error the CLI prints as pcluster does: a JSON object with ``message`` (and extras)."""

    def __init__(self, message: str, extra: dict[str, Any] | None = None, exit_code: int = 1) -> None:
        super().__init__(message)
        self.body: dict[str, Any] = {"message": message, **(extra or {})}
        self.exit_code = exit_code


def check_name(name: str) -> None:
    """pcluster checks the name's pattern before anything else (its length is a config check)."""
    if not CLUSTER_NAME_RE.fullmatch(name):
        raise CliError(f"Bad Request: '{name}' does not match '^[a-zA-Z][a-zA-Z0-9-]+$' - 'cluster-name'")


def not_found(name: str, *, deleting: bool = False) -> NotFoundError:
    message = f"Cluster '{name}' does not exist or belongs to an incompatible ParallelCluster major version."
    if deleting:
        message += (
            " In case you have running instances belonging to a deleted cluster please use the "
            "DeleteClusterInstances API."
        )
    return NotFoundError(message)


def existing(name: str, *, deleting: bool = False) -> ClusterPaths:
    check_name(name)
    paths = ClusterPaths.of(name)
    if not paths.db.exists():
        raise not_found(name, deleting=deleting)
    return paths


def read_cluster(paths: ClusterPaths) -> dict[str, Any]:
    from stratus.store.store import Store

    if not os.access(paths.db, os.R_OK):
        raise forbidden(paths.name)
    store = Store.open_readonly(paths.db)
    try:
        with store.reading() as conn:
            cluster: dict[str, Any] = store.get_meta(conn, "cluster", {})
            return cluster
    finally:
        store.close()


def forbidden(name: str) -> CliError:
    """What a user who is not among a shared cluster's administrators hears from its verbs."""
    return CliError(
        f"Forbidden: cluster '{name}' is administered by its owner; its users reach it with "
        f"`stratus ssh -n {name}` (or its bin/ directory on their PATH)"
    )


def head_running(paths: ClusterPaths) -> bool:
    """Whether the cluster's head node serves. Users other than its owner cannot read its lock:
    for them, whether its socket answers."""
    from stratus.headnode.daemon import lock_holder

    try:
        return lock_holder(paths) is not None and paths.endpoint.exists()
    except PermissionError:
        from stratus.net import connect_unix

        try:
            connect_unix(str(paths.socket), timeout=5.0).close()
        except OSError as exc:
            return isinstance(exc, PermissionError)  # it serves, but its owner only
        return True


def shared_install() -> bool:
    """A cluster made by root is shared: every local user may reach it through its socket."""
    return os.geteuid() == 0


def write_shims(paths: ClusterPaths) -> None:
    from stratus.cli.thin import write_shims as _write

    _write(str(paths.bin), sys.executable, package_root(), str(paths.root))


def spawn_head_node(paths: ClusterPaths) -> subprocess.Popen[bytes]:
    """Start the head-node daemon detached from this process (its own session)."""
    paths.logs.mkdir(parents=True, exist_ok=True)
    return spawn_detached(
        "stratus.headnode", ["--cluster-dir", str(paths.root)], paths.logs / "controller.out"
    )


def wait_ready(paths: ClusterPaths, proc: subprocess.Popen[bytes], since_ns: int) -> None:
    """Wait until the head node serves, or fail if it died.

    It serves once it has published a new endpoint: one written after ``since_ns`` (an
    endpoint left by a head node that was killed is stale and does not count).
    """
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        try:
            # File times come from a coarse clock (a few ms behind time.time_ns): allow for it.
            fresh = paths.endpoint.stat().st_mtime_ns >= since_ns - 50_000_000
        except OSError:
            fresh = False
        if fresh and head_running(paths):
            return
        if proc.poll() is not None:
            tail = ""
            for log in (paths.logs / "controller.out", paths.controller_log):
                lines = log.read_text(errors="replace").strip().splitlines() if log.exists() else []
                tail = lines[-1] if lines else tail
            raise BackendError(f"the head node exited during start-up (code {proc.returncode}): {tail}")
        time.sleep(0.02)
    raise BackendError(f"the head node did not start within {READY_TIMEOUT_S:.0f} s")


# -- verbs --------------------------------------------------------------------------------------


def create_cluster(
    name: str,
    config_file: str,
    *,
    dryrun: bool = False,
    wait: bool = False,
    suppress_validators: list[str] | None = None,
    failure_level: str = "ERROR",
) -> tuple[dict[str, Any], int]:
    check_name(name)
    if ClusterPaths.of(name).root.exists():
        raise already_exists(name)
    text = _config_text(config_file)
    return create_cluster_from_text(
        name,
        text,
        filename=config_file,
        dryrun=dryrun,
        wait=wait,
        suppress_validators=suppress_validators,
        failure_level=failure_level,
    )


def _config_text(config_file: str) -> str:
    """A configuration file's text (bounded; bytes that are not text are an error)."""
    from stratus.config import BadYamlError, read_config_file

    try:
        return read_config_file(config_file)
    except FileNotFoundError as exc:
        raise CliError(f"Bad Request: File not found: '{config_file}'") from exc
    except OSError as exc:
        raise CliError(f"Bad Request: cannot read '{config_file}': {exc.strerror}") from exc
    except BadYamlError as exc:
        raise CliError(str(exc.to_json()["message"])) from exc


def create_cluster_from_text(
    name: str,
    text: str,
    *,
    filename: str = "cluster-config.yaml",
    dryrun: bool = False,
    wait: bool = False,
    suppress_validators: list[str] | None = None,
    failure_level: str = "ERROR",
) -> tuple[dict[str, Any], int]:
    """pcluster's create-cluster from a configuration's text (the CLI's and the API's one
    implementation): (the answer, the exit code)."""
    from stratus.config import BadYamlError, ConfigValidationError, load_cluster_config
    from stratus.providers.local import new_instance_id
    from stratus.store.store import Store

    check_name(name)
    paths = ClusterPaths.of(name)
    if paths.root.exists():
        raise already_exists(name)
    from stratus.providers.ssh import HostProbeError, host_facts_path, pinned_keys, probe_and_record

    # The hosts of Stratus.Providers are probed once the configuration is valid (their CPUs,
    # memory and GPUs size the nodes), into a scratch cluster directory that becomes part of the
    # new cluster: the probe results and the pinned host keys.
    probe_dir = tempfile.TemporaryDirectory(prefix="stratus-probe-")
    probed = ClusterPaths(Path(probe_dir.name))
    try:
        try:
            loaded = load_cluster_config(
                text,
                filename=filename,
                suppress_validators=suppress_validators or (),
                failure_level=failure_level,
                cluster_name=name,
                hosts=lambda providers: probe_and_record(probed, providers),
            )
        except (ConfigValidationError, BadYamlError) as exc:
            doc = exc.to_json()
            error = CliError(str(doc["message"]))
            error.body = dict(doc)  # pcluster's key order: configurationValidationErrors, then message
            raise error from exc
        except HostProbeError as exc:
            raise CliError(f"Bad Request: cannot use {exc}") from exc
        probe_files = {
            f.name: f.read_bytes() for f in (host_facts_path(probed), pinned_keys(probed)) if f.exists()
        }
    finally:
        probe_dir.cleanup()
    if loaded.layout.engine == "slurm":
        _check_slurm_engine(loaded.layout)
    _check_s3(loaded.layout)
    messages = loaded.messages_json()
    if dryrun:
        raise CliError(
            "Request would have succeeded, but DryRun flag is set.",
            {"validationMessages": messages} if messages else None,
        )
    layout = loaded.layout
    root = clusters_root()
    # Job scripts and environments live in each cluster's state store, readable by its owner
    # only. A shared install's users reach a cluster's commands and socket through here.
    root.mkdir(parents=True, exist_ok=True, mode=0o700)
    if shared_install():
        root.chmod(0o755)
    staging = ClusterPaths(root / f".{name}.{secrets.token_hex(4)}.creating")
    now = time.time()
    cluster = {
        "clusterName": name,
        "clusterStatus": "CREATE_IN_PROGRESS",
        "region": layout.region,
        "version": __version__,
        "creationTime": now,
        "lastUpdatedTime": now,
        "tags": [list(t) for t in layout.tags],
        "headNode": {
            "instanceId": new_instance_id(),
            "instanceType": layout.head_node_instance_type,
            "launchTime": now,
        },
    }
    try:
        staging.root.mkdir(mode=0o700)
        staging.logs.mkdir(mode=0o700)
        fd = os.open(staging.config, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(text)
        fd = os.open(staging.token, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(32) + "\n")
        for file_name, data in probe_files.items():
            fd = os.open(staging.root / file_name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as fb:
                fb.write(data)
        if layout.has_remote_nodes:
            from stratus.providers.tls import ensure_ca

            ensure_ca(staging)  # the cluster's own CA: remote agents trust it, and only it
        old_mask = os.umask(0o077)
        try:
            store = Store.open(staging.db, create=True)
        finally:
            os.umask(old_mask)
        try:
            from stratus.engine.model import Transition

            with store.transaction() as conn:
                store.set_meta(conn, "cluster", cluster)
                store.append_journal(
                    conn,
                    [Transition("cluster", name, "", "CREATE_IN_PROGRESS", now, "user", "create-cluster")],
                )
        finally:
            store.close()
        if shared_install():
            staging.root.chmod(0o755)  # its bin/ and socket; token, state and logs stay 0600/0700
        try:
            os.rename(staging.root, paths.root)
        except OSError as exc:
            raise already_exists(name) from exc
    except BaseException:
        shutil.rmtree(staging.root, ignore_errors=True)
        raise
    proc: subprocess.Popen[bytes] | None = None
    try:
        write_shims(paths)
        since = time.time_ns()
        proc = spawn_head_node(paths)
        wait_ready(paths, proc, since)
    except BaseException:
        # Nothing half-created stays behind: stop the head node if it started, remove it all.
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()
        shutil.rmtree(paths.root, ignore_errors=True)
        raise
    body: dict[str, Any] = {"cluster": shapes.cluster_summary(cluster)}
    if messages:
        body["validationMessages"] = messages
    if not wait:
        return body, 0
    # With --wait, pcluster prints only describe-cluster once the creation ends, so the
    # validation messages would be lost: they go to stderr now, as pcluster's JSON, and stdout
    # keeps exactly pcluster's document.
    if messages:
        sys.stderr.write(json.dumps({"validationMessages": messages}, indent=2) + "\n")
        sys.stderr.flush()
    final = wait_status(paths, lambda c: c.get("clusterStatus") != "CREATE_IN_PROGRESS")
    desc = shapes.describe_cluster(final, head_running=head_running(paths), config_path=str(paths.config))
    return desc, 0 if final.get("clusterStatus") == "CREATE_COMPLETE" else 1


def _check_s3(layout: ClusterLayout) -> None:
    """``Stratus.S3.CredentialsFile`` can be read and has its profile's key (else nothing is
    created: jobs would otherwise fail at launch)."""
    from stratus.staging.env import S3SettingsError, s3_env

    try:
        s3_env(layout).apply({})
    except S3SettingsError as exc:
        raise CliError(f"Bad Request: {exc}") from exc


def _check_slurm_engine(layout: ClusterLayout) -> None:
    """``Stratus.Engine: slurm`` can run here: Slurm installed, root; with
    ``Stratus.ExistingSlurm``, the site's slurm.conf readable (its daemons run elsewhere) and,
    for nodes on other machines, its munge key."""
    from stratus.slurmengine.head import SlurmUnavailable, check_available, unsupported_nodes

    try:
        check_available(existing=bool(layout.existing_slurm_conf))
    except SlurmUnavailable as exc:
        raise CliError(f"Bad Request: {exc}") from exc
    conf = layout.existing_slurm_conf
    if conf and not (os.path.isfile(conf) and os.access(conf, os.R_OK)):
        raise CliError(
            f"Bad Request: Stratus.ExistingSlurm.Conf: {conf} is not a readable file; give the "
            "slurm.conf of the Slurm cluster this cluster's nodes join."
        )
    remote = unsupported_nodes(layout)
    if remote:
        raise CliError(
            "Bad Request: Stratus.ExistingSlurm.MungeKey is missing: compute resources "
            f"{', '.join(remote)} run on other machines, which need the site's munge key to join "
            "its Slurm. Give the path of the site's munge key (e.g. /etc/munge/munge.key)."
        )
    key = layout.existing_slurm_munge_key
    if key and not (os.path.isfile(key) and os.access(key, os.R_OK)):
        raise CliError(
            f"Bad Request: Stratus.ExistingSlurm.MungeKey: {key} is not a readable file; give the "
            "site's munge key (readable by the user running stratus, root)."
        )


def already_exists(name: str) -> ConflictError:
    return ConflictError(f"Bad Request: Cluster {name} already exists.")


def wait_status(
    paths: ClusterPaths, done: Any, timeout_s: float = 3600.0, *, restarts: bool = False
) -> dict[str, Any]:
    """Wait until ``done(cluster record)``; the head node must stay up (with ``restarts``, it may
    be down for up to a minute: it is restarting onto an updated configuration)."""
    deadline = time.monotonic() + timeout_s
    down_since: float | None = None
    while True:
        cluster = read_cluster(paths)
        if done(cluster):
            return cluster
        if head_running(paths):
            down_since = None
        elif not restarts or (down_since is not None and time.monotonic() - down_since > 60.0):
            raise BackendError(head_down_message(paths.name))
        elif down_since is None:
            down_since = time.monotonic()
        if time.monotonic() > deadline:
            raise BackendError("timed out waiting for the cluster")
        time.sleep(0.1)


def list_clusters(statuses: list[str] | None = None) -> dict[str, Any]:
    out = []
    root = clusters_root()
    if root.exists():
        for d in sorted(root.iterdir()):
            if d.name.startswith(".") or not (d / "state.db").exists():
                continue
            try:
                cluster = read_cluster(ClusterPaths(d))
            except Exception:
                continue
            if not cluster:
                continue
            if statuses and cluster.get("clusterStatus") not in statuses:
                continue
            out.append(shapes.cluster_summary(cluster))
    return {"clusters": out}


def describe_cluster(name: str) -> dict[str, Any]:
    paths = existing(name)
    running = head_running(paths)
    out = shapes.describe_cluster(read_cluster(paths), head_running=running, config_path=str(paths.config))
    endpoint = paths.root / "batch" / "endpoint"
    if running and endpoint.is_file():
        out["batchEndpoint"] = endpoint.read_text().strip()  # a stratus addition (Stratus.BatchApi)
    endpoint = paths.root / "metrics" / "endpoint"
    if running and endpoint.is_file():
        # Stratus additions (Stratus.Metrics): where Prometheus scrapes, and the token it sends.
        out["metricsEndpoint"] = endpoint.read_text().strip() + "/metrics"
        token = paths.root / "metrics" / "token"
        if token.is_file():
            out["metricsTokenFile"] = str(token)
    return out


def _api(paths: ClusterPaths, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    """Call the running head node's API; failures to reach it are ``BackendError``s, its error
    answers ``CliError``s with every key it gave (pcluster prints them all)."""
    import httpx

    try:
        host, port, _ = read_endpoint(paths)
        r = httpx.request(
            method,
            f"http://{host}:{port}{path}",
            json=body,
            headers={"Authorization": f"Bearer {read_token(paths)}"},
            timeout=60.0,
        )
        data = r.json()
    except (OSError, ValueError, httpx.HTTPError) as exc:
        raise BackendError(f"the head node of cluster '{paths.name}' did not answer: {exc}") from exc
    if r.status_code >= 400:
        extra = {k: v for k, v in data.items() if k != "message"} if isinstance(data, dict) else None
        raise CliError(data.get("message", f"HTTP {r.status_code}"), extra or None)
    return data


def update_cluster(
    name: str,
    config_file: str,
    *,
    dryrun: bool = False,
    force: bool = False,
    suppress_validators: list[str] | None = None,
    failure_level: str = "ERROR",
    wait: bool = False,
) -> dict[str, Any]:
    """pcluster's update-cluster: the running head node checks and applies the new configuration."""
    existing(name)
    text = _config_text(config_file)
    return update_cluster_from_text(
        name,
        text,
        dryrun=dryrun,
        force=force,
        suppress_validators=suppress_validators,
        failure_level=failure_level,
        wait=wait,
    )


def update_cluster_from_text(
    name: str,
    text: str,
    *,
    dryrun: bool = False,
    force: bool = False,
    suppress_validators: list[str] | None = None,
    failure_level: str = "ERROR",
    wait: bool = False,
) -> dict[str, Any]:
    """update-cluster with a configuration's text (the CLI's and the API's one implementation)."""
    paths = existing(name)
    if not head_running(paths):
        raise BackendError(head_down_message(name))
    body = {
        "clusterConfiguration": text,
        "dryrun": dryrun,
        "forceUpdate": force,
        "suppressValidators": suppress_validators or [],
        "validationFailureLevel": failure_level,
    }
    answer: dict[str, Any] = _api(paths, "PUT", f"/v3/clusters/{name}", body)
    if not wait:
        return answer

    # UPDATE_COMPLETE is recorded by the head node that runs on the new configuration.
    def settled(cluster: dict[str, Any]) -> bool:
        return cluster.get("clusterStatus") in ("UPDATE_COMPLETE", "UPDATE_FAILED") and head_running(paths)

    final = wait_status(paths, settled, restarts=True)
    return shapes.describe_cluster(final, head_running=head_running(paths), config_path=str(paths.config))


def delete_cluster(name: str, *, wait: bool = False) -> dict[str, Any]:
    from stratus.headnode.daemon import lock_holder

    paths = existing(name, deleting=True)
    head_pid = lock_holder(paths)
    body: dict[str, Any] | None = None
    if head_running(paths):
        try:
            body = _api(paths, "DELETE", f"/v3/clusters/{name}")
        except BackendError:
            if head_running(paths):
                raise
    if body is None:
        body = {
            "cluster": shapes.cluster_summary({**read_cluster(paths), "clusterStatus": "DELETE_IN_PROGRESS"})
        }
        teardown_offline(paths)
    if wait:
        deadline = time.monotonic() + 600.0
        while paths.root.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        if paths.root.exists():
            raise BackendError("timed out waiting for the cluster to be deleted")
        _wait_exit(head_pid, deadline)
        return {"message": f"Successfully deleted cluster '{name}'."}
    return body


def _wait_exit(pid: int | None, deadline: float) -> None:
    """Wait for the head-node process to be gone too: nothing of the cluster keeps running."""
    import psutil

    if pid is None or pid <= 0:
        return
    try:
        psutil.Process(pid).wait(timeout=max(deadline - time.monotonic(), 1.0))
    except psutil.NoSuchProcess:
        pass
    except psutil.TimeoutExpired as exc:
        raise BackendError(f"the head node (pid {pid}) did not exit after deleting the cluster") from exc


def teardown_offline(paths: ClusterPaths) -> None:
    """Delete a cluster whose head node is not running: stop every node it recorded, then its files."""
    import asyncio

    from stratus.headnode.daemon import acquire_lock
    from stratus.providers.base import Instance
    from stratus.store.store import Store

    fd = acquire_lock(paths)
    if fd is None:
        raise BackendError("the head node started meanwhile; run delete-cluster again")
    try:
        store = Store.open_readonly(paths.db)
        try:
            with store.reading() as conn:
                instances = [Instance.from_json(inst) for _, _, inst in store.node_instances(conn)]
        finally:
            store.close()
        asyncio.run(_terminate_everything(paths, instances))
        shutil.rmtree(paths.root, ignore_errors=True)
    finally:
        os.close(fd)


async def _terminate_everything(paths: ClusterPaths, recorded: list[Instance]) -> None:
    """Terminate the recorded instances, then whatever else the providers list for the cluster
    (instances launched by a head node that stopped before recording them)."""
    from stratus.providers.registry import build_providers

    providers = build_providers(paths, _layout_or_none(paths))
    await providers.terminate([(inst, inst.group) for inst in recorded], 5.0)
    for provider in providers.distinct():
        left = await provider.describe(paths.name)
        if left:
            await provider.terminate(left, 5.0)


def _layout_or_none(paths: ClusterPaths) -> ClusterLayout | None:
    """The cluster's layout, or None when its configuration cannot be read any more."""
    from stratus.config import load_cluster_config
    from stratus.providers.ssh import read_host_facts

    try:
        # As recorded at create-cluster: a teardown never waits on probing hosts.
        return load_cluster_config(
            paths.config.read_text(), filename=str(paths.config), hosts=read_host_facts(paths)
        ).layout
    except Exception:
        return None


def describe_compute_fleet(name: str) -> dict[str, Any]:
    return shapes.fleet_status(read_cluster(existing(name)))


def update_compute_fleet(name: str, status: str) -> dict[str, Any]:
    paths = existing(name)
    if not head_running(paths):
        raise BackendError(head_down_message(name))
    result: dict[str, Any] = _api(paths, "PATCH", f"/v3/clusters/{name}/computefleet", {"status": status})
    return result


def head_down_message(name: str) -> str:
    return (
        f"The head node of cluster '{name}' is not running. "
        f"Start it with: stratus start-head-node --cluster-name {name}"
    )


def describe_cluster_instances(name: str, node_type: str | None, queue: str | None) -> dict[str, Any]:
    from stratus.store.store import Store

    paths = existing(name)
    cluster = read_cluster(paths)
    running = head_running(paths)
    out = []
    if node_type in (None, "HeadNode") and queue is None:
        head = cluster.get("headNode", {})
        out.append(
            shapes.cluster_instance(
                instance_id=head.get("instanceId", ""),
                instance_type=head.get("instanceType", ""),
                launch_time=head.get("launchTime"),
                state="running" if running else "stopped",
                node_type="HeadNode",
            )
        )
    if node_type in (None, "ComputeNode"):
        store = Store.open_readonly(paths.db)
        try:
            with store.reading() as conn:
                rows = store.node_instances(conn)
        finally:
            store.close()
        for _, state, inst in rows:
            qname = inst.get("queue", "")
            if queue is not None and qname != queue:
                continue
            ec2_state = {"UP": "running", "POWERING_UP": "pending", "POWERING_DOWN": "shutting-down"}.get(
                state, "running"
            )
            out.append(
                shapes.cluster_instance(
                    instance_id=inst["instance_id"],
                    instance_type=inst["instance_type"],
                    launch_time=inst["launch_time"],
                    state=ec2_state,
                    node_type="ComputeNode",
                    queue=qname,
                    private_ip=inst["private_ip"],
                )
            )
    return {"instances": out}


def start_head_node(name: str) -> dict[str, Any]:
    paths = existing(name)
    if not head_running(paths):
        write_shims(paths)
        since = time.time_ns()
        proc = spawn_head_node(paths)
        wait_ready(paths, proc, since)
    return describe_cluster(name)


def batch_credentials(name: str) -> dict[str, Any]:
    """The caller's access key for the cluster's Batch endpoint: asked of the head node over the
    cluster's unix socket, where the kernel tells it who the caller is."""
    import httpx

    paths = existing(name)
    if not head_running(paths):
        raise BackendError(
            f"the head node of cluster {name} is not running (stratus start-head-node -n {name})"
        )
    try:
        with httpx.Client(transport=httpx.HTTPTransport(uds=str(paths.socket)), timeout=60.0) as client:
            r = client.post("http://head/batch/v1/credentials")
        data = r.json()
    except (OSError, ValueError, httpx.HTTPError) as exc:
        raise BackendError(f"the head node of cluster '{name}' did not answer: {exc}") from exc
    if r.status_code >= 400:
        raise CliError(f"Bad Request: {data.get('message', r.status_code)}" if r.status_code == 404 else
                       str(data.get("message", f"HTTP {r.status_code}")))  # fmt: skip
    return dict(data)


def slurm_burst_lines(name: str, include: bool = False) -> str:
    """What a site adds to its slurm.conf so that its slurmctld powers up this cluster's nodes
    (``Stratus.ExistingSlurm``): the lines the head node wrote to ``slurm/burst.conf``, or, with
    ``include``, the one ``include`` line that reads them from there."""
    paths = existing(name)
    layout = _layout_or_none(paths)
    if layout is None or not layout.existing_slurm_conf:
        raise CliError(
            f"Bad Request: cluster {name} provides no nodes to an existing Slurm: that takes "
            "Stratus.Engine: slurm and Stratus.ExistingSlurm.Conf in its configuration."
        )
    from stratus.slurmengine.head import SlurmFiles

    burst = SlurmFiles(paths).burst
    if not burst.is_file():
        raise BackendError(
            f"{burst} is not written yet: the head node of cluster {name} writes it when it starts "
            f"(stratus start-head-node -n {name})."
        )
    return f"include {burst}\n" if include else burst.read_text()


def ssh(name: str, command: list[str], dryrun: bool = False) -> int:
    """Open a login shell (or run ``command``) where the Slurm commands talk to the cluster."""
    paths = existing(name)
    if not head_running(paths):
        raise BackendError(head_down_message(name))
    if os.access(paths.root, os.W_OK):
        write_shims(paths)  # the owner's: others use the commands the owner wrote
    env = dict(os.environ)
    layout = _layout_or_none(paths)
    if layout is not None and layout.engine == "slurm":
        # Real Slurm schedules this cluster: Slurm's own commands, pointed at its slurm.conf.
        from stratus.slurmengine.head import SlurmFiles

        env["SLURM_CONF"] = layout.existing_slurm_conf or str(SlurmFiles(paths).conf)
    else:
        env["PATH"] = str(paths.bin) + os.pathsep + env.get("PATH", "")
    env["STRATUS_CLUSTER"] = name
    env["STRATUS_CLUSTER_DIR"] = str(paths.root)
    shell = env.get("SHELL") or "/bin/sh"
    if command:
        # As ssh does: the words are joined and run by the login shell.
        argv = [shell, "-c", " ".join(command)]
    else:
        env["PS1"] = f"[{name}]$ "
        argv = [shell, "-i"]
    if dryrun:
        print(" ".join(argv))
        return 0
    sys.stdout.flush()
    os.execvpe(argv[0], argv, env)
    return 0  # not reached

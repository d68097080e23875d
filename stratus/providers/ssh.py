"""The SSH provider: each node of a compute resource is a node agent on one host, reached by SSH.

A compute resource that names a ``Stratus.Providers`` entry of type ``ssh`` has one static node
per host: its n-th node runs on the n-th host. To launch a node, the provider

1. copies the node agent (the ``stratus.agent`` package with the two standard-library-only
   modules it imports, ``stratus.net`` and ``stratus.paths``) and the cluster's CA certificate
   over SFTP into a folder of the instance's own, ``<AgentDirectory>/<cluster>/<instance-id>/``
   (``AgentDirectory`` defaults to ``~/.stratus-agent``), and
2. starts the agent there, detached in a session of its own (``setsid``), with ``python3`` of
   the host. Its join credential goes through the SSH channel's standard input into the agent's
   environment: it is never on a command line, in a file or in a tag.

Terminating an instance asks the agent to stop (SIGTERM), waits for it, then kills every
process still in its session that carries the instance's id in its environment (the agent's job
steps included), waits until they are gone, copies the agent's log back into the cluster's
``logs/``, and removes the instance's folder (and the cluster's and the base folder once empty):
after delete-cluster nothing of the cluster is left on a host.

Processes are recognised by pid, start time (in clock ticks since boot) and boot id, never by
name, so a reused pid never gets another process killed. What the provider launched is recorded
in the cluster's ``instances/`` folder (``ssh-<hex>.json``: host, pid, start time, folder, tags,
token), written before ``create`` returns, so that after a restart of the head node ``describe``
finds it again. Records of instances with nothing left running are removed.

Host keys are pinned per cluster: the first connection to a host (the probe at create-cluster)
records its key in the cluster's ``ssh_known_hosts``, and every later connection must present the
same key. Connections are kept open per host and reused; each operation runs on the caller's
event loop without blocking it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import secrets
import shlex
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import asyncssh

from stratus.agent.protocol import INSTANCE_ENV, JOIN_ENV
from stratus.config.layout import HostResources, ProviderLayout, SshHost
from stratus.errors import UserError
from stratus.paths import ClusterPaths
from stratus.providers.base import (
    HOST_UNREACHABLE,
    TAG_CLUSTER,
    TAG_GROUP,
    TAG_NODE,
    Bootstrap,
    CapacityError,
    ConfigurationError,
    CreateResult,
    Instance,
    NodeGroup,
    ProviderError,
)
from stratus.providers.records import InstanceRecords

#: The oldest Python a host may run the agent with (the agent's own requirement).
MIN_PYTHON = (3, 11)
CONNECT_TIMEOUT_S = 15.0
COMMAND_TIMEOUT_S = 60.0
# How long killed processes may take to be gone before terminate() reports a failure.
_KILL_WAIT_S = 5.0
_PACKAGE = Path(__file__).resolve().parents[1]  # the stratus package
# Stands for the instance's folder in the agent's arguments; a configuration cannot contain it
# (control characters are refused in YAML).
_HERE = "\x00here\x00"
# Its connection and command log lines would flood the head node's log at INFO.
logging.getLogger("asyncssh").setLevel(logging.WARNING)

# Run on a host as `python3 -c PROGRAM`, with JSON on stdin and JSON on stdout. They use only the
# standard library and stay parseable by old Pythons, so that the probe can say what is too old.
_PROBE = r"""
import json, os, re, sys
mem = 0
with open("/proc/meminfo") as f:
    for line in f:
        if line.startswith("MemTotal:"):
            mem = int(line.split()[1]) // 1024
gpus = len([n for n in os.listdir("/dev") if re.match(r"^nvidia[0-9]+$", n)])
print(json.dumps({"python": list(sys.version_info[:3]), "executable": sys.executable,
                  "cpus": os.cpu_count() or 1, "memory_mb": mem, "gpus": gpus}))
"""

# Identity of a process: (start time in ticks since boot, session id, state), or None if gone.
_PROC = (
    f"INSTANCE_ENV = {INSTANCE_ENV!r}\n"
    + r"""
import json, os, signal, sys, time, shutil
def stat(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            rest = f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return int(rest[19]), int(rest[3]), rest[0]
def boot():
    with open("/proc/sys/kernel/random/boot_id") as f:
        return f.read().strip()
def agent(item):
    s = stat(item["pid"])
    if s is None or s[2] == "Z" or s[0] != item["start"] or item["boot"] != boot():
        return False
    return True
def members(item):
    found = []
    if item["boot"] != boot():
        return found
    marker = ("%s=%s" % (INSTANCE_ENV, item["id"])).encode()
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        s = stat(int(name))
        if s is None or s[1] != item["pid"] or s[2] == "Z":
            continue
        try:
            with open("/proc/%s/environ" % name, "rb") as f:
                env = f.read().split(b"\0")
        except OSError:
            continue
        if marker in env:
            found.append(int(name))
    return found
"""
)

_LAUNCH = r"""
import subprocess
req = json.load(sys.stdin)
root = os.path.abspath(req["dir"])
env = dict(os.environ)
env.update(req["env"])
env["PYTHONPATH"] = os.path.join(root, "lib")
log = open(os.path.join(root, "agent.log"), "ab")
args = [a.replace(req["here"], root) for a in req["args"]]
p = subprocess.Popen([sys.executable, "-m", "stratus.agent"] + args, cwd=root, env=env,
                     stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
                     close_fds=True)
s = stat(p.pid)
print(json.dumps({"pid": p.pid, "start": s[0] if s else 0, "boot": boot()}))
"""

_STATUS = r"""
req = json.load(sys.stdin)
print(json.dumps({i["id"]: {"agent": agent(i), "members": len(members(i))} for i in req["items"]}))
"""

_STOP = r"""
req = json.load(sys.stdin)
items = req["items"]
for i in items:
    if agent(i):
        try:
            os.kill(i["pid"], signal.SIGTERM)
        except OSError:
            pass
deadline = time.time() + req["grace"]
while time.time() < deadline and any(agent(i) for i in items):
    time.sleep(0.05)
left = [p for i in items for p in members(i)]
for p in left:
    try:
        os.kill(p, signal.SIGKILL)
    except OSError:
        pass
deadline = time.time() + req["kill_wait"]
while time.time() < deadline and any(members(i) for i in items):
    time.sleep(0.02)
print(json.dumps({"left": {i["id"]: members(i) for i in items if members(i)}}))
"""

_REMOVE = r"""
req = json.load(sys.stdin)
for d in req["dirs"]:
    shutil.rmtree(d, ignore_errors=True)
for d in req["parents"]:
    try:
        os.rmdir(d)
    except OSError:
        pass
print(json.dumps({}))
"""


def new_instance_id() -> str:
    """An id of this provider's own: ``ssh-`` and 17 hex digits."""
    return "ssh-" + secrets.token_hex(9)[:17]


class HostProbeError(UserError):
    """A host cannot run a node: the message names the host, its provider and the cause."""

    def __init__(self, host: str, cause: str, provider: str = "", error: ProviderError | None = None) -> None:
        self.host = host
        self.cause = cause
        self.provider = provider
        self.error = error
        of = f" (provider {provider})" if provider else ""
        super().__init__(f"host {host}{of}: {cause}")


def agent_files() -> list[tuple[Path, str]]:
    """What a host needs to run the agent: (local file, path under the agent's ``lib/``)."""
    files = [(_PACKAGE / "__init__.py", "stratus/__init__.py")]
    files += [(_PACKAGE / name, f"stratus/{name}") for name in ("net.py", "paths.py")]
    files += [(p, f"stratus/agent/{p.name}") for p in sorted((_PACKAGE / "agent").glob("*.py"))]
    return files


def _classify(host: SshHost, exc: BaseException) -> ProviderError:
    """What a failure to reach or use ``host`` means, as a provider error naming the host."""
    where = host.spec
    if isinstance(exc, asyncssh.PermissionDenied):
        return ConfigurationError("InvalidParameterValue", f"host {where}: the SSH key was refused ({exc})")
    if isinstance(exc, asyncssh.HostKeyNotVerifiable):
        return ConfigurationError(
            "InvalidParameterValue",
            f"host {where}: its host key is not the one pinned for this cluster ({exc})",
        )
    if isinstance(exc, asyncssh.KeyImportError | FileNotFoundError | IsADirectoryError):
        return ConfigurationError(
            "InvalidParameterValue", f"host {where}: cannot use the identity file ({exc})"
        )
    if isinstance(exc, TimeoutError | asyncio.TimeoutError):
        return CapacityError(HOST_UNREACHABLE, f"host {where}: unreachable (timed out)")
    if isinstance(exc, OSError | asyncssh.DisconnectError | asyncssh.ChannelOpenError):
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        return CapacityError(HOST_UNREACHABLE, f"host {where}: unreachable ({reason})")
    if isinstance(exc, ProviderError):
        return exc
    return ProviderError("InternalError", f"host {where}: {exc.__class__.__name__}: {exc}")


class _Connections:
    """Open SSH connections by host, reused across calls made on the same event loop."""

    def __init__(self, provider: ProviderLayout, known_hosts: Path | None) -> None:
        self.provider = provider
        self.known_hosts = known_hosts
        self._open: dict[str, tuple[asyncio.AbstractEventLoop, asyncssh.SSHClientConnection]] = {}
        self._locks: dict[tuple[int, str], asyncio.Lock] = {}

    def options(self, host: SshHost, *, pinned: bool = True) -> dict[str, Any]:
        opts: dict[str, Any] = {"port": host.port, "connect_timeout": CONNECT_TIMEOUT_S}
        if self.provider.user:
            opts["username"] = self.provider.user
        if self.provider.identity_file:
            opts["client_keys"] = [str(Path(self.provider.identity_file).expanduser())]
            opts["agent_path"] = None  # the configured key, and only it
        # Pinned: only the key recorded for this cluster is accepted. Not pinned (the first
        # contact, at create-cluster): whatever key the host presents is recorded.
        opts["known_hosts"] = str(self.known_hosts) if pinned and self.known_hosts else None
        return opts

    async def get(self, host: SshHost) -> asyncssh.SSHClientConnection:
        loop = asyncio.get_running_loop()
        lock = self._locks.setdefault((id(loop), host.key), asyncio.Lock())
        async with lock:
            held = self._open.get(host.key)
            if held is not None:
                held_loop, conn = held
                if held_loop is loop and not conn.is_closed():
                    return conn
                self._open.pop(host.key, None)
                if held_loop is loop:
                    conn.close()
            conn = await asyncssh.connect(host.host, **self.options(host))
            self._open[host.key] = (loop, conn)
            return conn

    def drop(self, host: SshHost) -> None:
        held = self._open.pop(host.key, None)
        if held is not None and held[0] is asyncio.get_running_loop():
            held[1].close()


async def _python(conn: asyncssh.SSHClientConnection, program: str, request: Any) -> Any:
    """Run ``program`` with the host's python3, ``request`` as JSON on stdin; its JSON answer."""
    result = await conn.run(
        "python3 -c " + shlex.quote(program), input=json.dumps(request), timeout=COMMAND_TIMEOUT_S
    )
    if result.exit_status == 127:
        raise ConfigurationError("InvalidParameterValue", "python3 is not installed (or not on the PATH)")
    if result.exit_status != 0:
        err = str(result.stderr or "").strip().splitlines()
        raise ProviderError(
            "InternalError", f"remote command failed: {err[-1] if err else result.exit_status}"
        )
    return json.loads(str(result.stdout))


class SshProvider:
    """Runs the nodes of compute resources naming ``provider`` on its hosts, over SSH.

    ``known_hosts`` is the cluster's pinned host keys (see the module docstring); the cluster's
    records, logs and CA are under ``paths``.
    """

    name = "ssh"

    def __init__(
        self, paths: ClusterPaths, provider: ProviderLayout, *, known_hosts: Path | None = None
    ) -> None:
        self.paths = paths
        self.provider = provider
        self.state_dir = paths.root / "instances"
        self.records = InstanceRecords(self.state_dir, "ssh-")
        self.connections = _Connections(
            provider, known_hosts if known_hosts is not None else pinned_keys(paths)
        )
        self._create_lock: asyncio.Lock | None = None
        self._lock_loop: asyncio.AbstractEventLoop | None = None

    # -- hosts ----------------------------------------------------------------------------------

    def host_of(self, node: str) -> SshHost:
        """The host of ``node``: the n-th host for the node ``...-n``."""
        match = re.search(r"-(\d+)$", node)
        index = int(match.group(1)) if match else 0
        if not 1 <= index <= len(self.provider.hosts):
            raise ConfigurationError(
                "InvalidParameterValue",
                f"node {node} has no host in provider {self.provider.name} "
                f"({len(self.provider.hosts)} host(s))",
            )
        return self.provider.hosts[index - 1]

    def _instance_host(self, inst: Instance) -> SshHost:
        key = str(inst.data.get("host", ""))
        for host in self.provider.hosts:
            if host.key == key:
                return host
        # A host since removed from the configuration: still reached as it was recorded.
        return SshHost(key, str(inst.data.get("hostname", "")), int(inst.data.get("port", 22)))

    def _base(self) -> str:
        return self.provider.agent_directory.rstrip("/") or "."

    def _cluster_dir(self, cluster: str) -> str:
        return f"{self._base()}/{cluster}"

    # -- create ---------------------------------------------------------------------------------

    async def create(
        self, group: NodeGroup, names: Sequence[str], token: str, bootstrap: Bootstrap
    ) -> CreateResult:
        loop = asyncio.get_running_loop()
        if self._create_lock is None or self._lock_loop is not loop:
            self._create_lock, self._lock_loop = asyncio.Lock(), loop
        result = CreateResult()
        # create() of the same token from two callers must not both launch: one at a time.
        async with self._create_lock:
            recorded = self.records.read(group.cluster, self._mine)
            earlier = {inst.node: inst for inst, tok in recorded if tok == token}
            alive = await self._alive_map(list(earlier.values()))
            todo = []
            for name in names:
                inst = earlier.get(name)
                if inst is not None and alive.get(inst.instance_id):
                    result.instances.append(inst)
                else:
                    todo.append(name)
            outcomes = await asyncio.gather(
                *(self._launch(group, name, token, bootstrap) for name in todo), return_exceptions=True
            )
            for name, outcome in zip(todo, outcomes, strict=True):
                if isinstance(outcome, Instance):
                    result.instances.append(outcome)
                elif isinstance(outcome, ProviderError):
                    result.failures[name] = outcome
                elif isinstance(outcome, Exception):
                    result.failures[name] = ProviderError("InternalError", f"node {name}: {outcome}")
                else:
                    raise outcome
        return result

    async def _launch(self, group: NodeGroup, node: str, token: str, bootstrap: Bootstrap) -> Instance:
        host = self.host_of(node)
        instance_id = new_instance_id()
        folder = f"{self._cluster_dir(group.cluster)}/{instance_id}"
        try:
            conn = await self.connections.get(host)
            await self._upload(conn, folder, bootstrap)
            args = ["--head", bootstrap.head, "--node", node, "--instance-id", instance_id]
            # Paths on the host are absolute (jobs run in their own working directories): the
            # launcher puts the folder's absolute path where _HERE stands.
            args += ["--spool", f"{_HERE}/spool", "--kill-wait", str(bootstrap.kill_wait_s)]
            if bootstrap.ca_file:
                args += ["--ca-file", f"{_HERE}/ca.pem"]
            actions = bootstrap.actions.get(group.queue)
            if actions:
                args += ["--actions", json.dumps(actions)]
            env = {INSTANCE_ENV: instance_id, JOIN_ENV: bootstrap.join.get(node, "")}
            request = {"dir": folder, "args": args, "env": env, "here": _HERE}
            started = await _python(conn, _PROC + _LAUNCH, request)
        except (OSError, asyncssh.Error, TimeoutError, ProviderError) as exc:
            self.connections.drop(host)
            raise _classify(host, exc) from exc
        inst = Instance(
            instance_id=instance_id,
            node=node,
            instance_type=group.instance_type,
            launch_time=time.time(),
            private_ip=host.host,
            data={
                "provider": self.provider.name,
                "host": host.key,
                "hostname": host.host,
                "port": host.port,
                "pid": int(started["pid"]),
                "start": int(started["start"]),
                "boot": str(started["boot"]),
                "dir": folder,
            },
            queue=group.queue,
            tags={TAG_CLUSTER: group.cluster, TAG_NODE: node, TAG_GROUP: group.name},
        )
        try:
            self.records.write(inst, token)
        except OSError as exc:
            # Unrecorded, it could not be found again: it must not run.
            await self.terminate([inst], 0.0)
            raise ProviderError("InternalError", f"cannot record instance {instance_id}: {exc}") from exc
        return inst

    async def _upload(self, conn: asyncssh.SSHClientConnection, folder: str, bootstrap: Bootstrap) -> None:
        files = agent_files()
        async with conn.start_sftp_client() as sftp:
            for sub in ("lib/stratus/agent", "spool"):
                await sftp.makedirs(f"{folder}/{sub}", exist_ok=True)
            puts = [sftp.put(str(local), f"{folder}/lib/{remote}") for local, remote in files]
            if bootstrap.ca_file:
                puts.append(sftp.put(bootstrap.ca_file, f"{folder}/ca.pem"))
            await asyncio.gather(*puts)
            # The folder holds job scripts while they run: its owner's only.
            await sftp.chmod(folder, 0o700)

    def _mine(self, inst: Instance) -> bool:
        """A record of this provider (the cluster may have several ssh providers)."""
        return inst.data.get("provider") == self.provider.name

    # -- describe, liveness ---------------------------------------------------------------------

    @staticmethod
    def _item(inst: Instance) -> dict[str, Any]:
        d = inst.data
        return {"id": inst.instance_id, "pid": int(d.get("pid", 0)), "start": int(d.get("start", -1)),
                "boot": str(d.get("boot", ""))}  # fmt: skip

    def _by_host(self, instances: Iterable[Instance]) -> dict[str, tuple[SshHost, list[Instance]]]:
        out: dict[str, tuple[SshHost, list[Instance]]] = {}
        for inst in instances:
            host = self._instance_host(inst)
            out.setdefault(host.key, (host, []))[1].append(inst)
        return out

    async def _status(self, instances: Sequence[Instance]) -> dict[str, dict[str, Any] | None]:
        """By instance id: ``{"agent": bool, "members": n}``, or None where the host is unreachable."""
        out: dict[str, dict[str, Any] | None] = {}

        async def one(host: SshHost, insts: list[Instance]) -> None:
            try:
                conn = await self.connections.get(host)
                answer = await _python(conn, _PROC + _STATUS, {"items": [self._item(i) for i in insts]})
            except (OSError, asyncssh.Error, TimeoutError, ProviderError):
                self.connections.drop(host)
                for inst in insts:
                    out[inst.instance_id] = None
                return
            for inst in insts:
                out[inst.instance_id] = answer.get(inst.instance_id)

        await asyncio.gather(*(one(h, insts) for h, insts in self._by_host(instances).values()))
        return out

    async def _alive_map(self, instances: Sequence[Instance]) -> dict[str, bool]:
        status = await self._status(instances)
        return {iid: bool(s and s["agent"]) for iid, s in status.items()}

    async def describe(self, cluster: str) -> list[Instance]:
        records = [inst for inst, _ in self.records.read(cluster, self._mine)]
        status = await self._status(records)
        out = []
        for inst in records:
            s = status.get(inst.instance_id)
            if s is not None and not s["agent"] and not s["members"]:
                self.records.remove(inst.instance_id)  # nothing of it runs
                continue
            out.append(inst)  # running, or its host cannot be asked: it may still run
        return out

    def address(self, instance: Instance) -> str:
        return instance.private_ip

    async def is_alive(self, instance: Instance) -> bool:
        """Whether the agent runs (asked over SSH); False when its host cannot be reached."""
        return (await self._alive_map([instance])).get(instance.instance_id, False)

    # -- terminate ------------------------------------------------------------------------------

    async def terminate(self, instances: Sequence[Instance], grace_s: float) -> None:
        """Stop each agent and everything it started, then remove its files from the host.

        Raises a :class:`ProviderError` naming the hosts that could not be reached or whose
        processes would not die; those instances stay recorded. Others are done regardless.
        """
        if not instances:
            return
        errors: list[ProviderError] = []

        async def one(host: SshHost, insts: list[Instance]) -> None:
            try:
                conn = await self.connections.get(host)
                request = {
                    "items": [self._item(i) for i in insts],
                    "grace": grace_s,
                    "kill_wait": _KILL_WAIT_S,
                }
                answer = await _python(conn, _PROC + _STOP, request)
                left = answer.get("left") or {}
                done = [i for i in insts if i.instance_id not in left]
                await self._collect_logs(conn, done)
                clusters = {i.tags.get(TAG_CLUSTER, "") for i in done}
                await _python(
                    conn,
                    _PROC + _REMOVE,
                    {
                        "dirs": [str(i.data.get("dir", "")) for i in done if i.data.get("dir")],
                        "parents": [self._cluster_dir(c) for c in sorted(clusters) if c] + [self._base()],
                    },
                )
            except (OSError, asyncssh.Error, TimeoutError, ProviderError) as exc:
                self.connections.drop(host)
                errors.append(_classify(host, exc))
                return
            for inst in done:
                self.records.remove(inst.instance_id)
            if left:
                errors.append(
                    ProviderError(
                        "InternalError", f"host {host.spec}: processes {sorted(left)} would not die"
                    )
                )

        await asyncio.gather(*(one(h, insts) for h, insts in self._by_host(instances).values()))
        if errors:
            raise (
                errors[0]
                if len(errors) == 1
                else ProviderError(errors[0].code, "; ".join(str(e) for e in errors))
            )

    async def _collect_logs(self, conn: asyncssh.SSHClientConnection, instances: Sequence[Instance]) -> None:
        """Append each agent's log on the host to the node's log here, before its folder goes."""
        if not instances or not self.paths.logs.is_dir():
            return
        async with conn.start_sftp_client() as sftp:
            for inst in instances:
                with contextlib.suppress(asyncssh.SFTPError, OSError):
                    async with sftp.open(f"{inst.data.get('dir', '')}/agent.log", "rb") as f:
                        data = await f.read()
                    with self.paths.node_log(inst.node).open("ab") as out:
                        out.write(data if isinstance(data, bytes) else str(data).encode())

    def reap(self) -> None:
        """Nothing to collect: agents are not children of this process."""

    async def close(self) -> None:
        """Close the provider's SSH connections (those opened on this event loop)."""
        for host in self.provider.hosts:
            self.connections.drop(host)


# -- probing (create-cluster) -------------------------------------------------------------------


def pinned_keys(paths: ClusterPaths) -> Path:
    """The cluster's pinned SSH host keys (an OpenSSH known_hosts file)."""
    return paths.root / "ssh_known_hosts"


def host_facts_path(paths: ClusterPaths) -> Path:
    """What each host reported when probed (JSON: ``{host:port: {cpus, memory_mb, gpus}}``)."""
    return paths.root / "hosts.json"


def read_host_facts(paths: ClusterPaths) -> dict[str, HostResources]:
    """The probe results kept in the cluster directory (none if it has none)."""
    try:
        raw = json.loads(host_facts_path(paths).read_text())
        return {key: HostResources.from_json(value) for key, value in raw.items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return {}


def write_host_facts(paths: ClusterPaths, facts: Mapping[str, HostResources]) -> None:
    tmp = host_facts_path(paths).with_suffix(".tmp")
    tmp.write_text(json.dumps({key: value.to_json() for key, value in sorted(facts.items())}, indent=1))
    tmp.replace(host_facts_path(paths))


def _known_hosts_pattern(host: SshHost) -> str:
    return host.host if host.port == 22 else f"[{host.host}]:{host.port}"


async def probe_hosts(
    providers: Sequence[ProviderLayout], known_hosts: Path | None, *, pinned: Iterable[str] = ()
) -> tuple[dict[str, HostResources], list[str]]:
    """Probe every host of ``providers`` concurrently: its CPUs, memory and GPUs, as ``slurmd -C``
    reports them, and whether it can run the agent (python3 >= 3.11).

    Hosts whose key (``host.key``) is in ``pinned`` must present the key in ``known_hosts``; the
    others' keys are returned as known_hosts lines to pin. Raises :class:`HostProbeError` for the
    first host (in config order) that cannot run a node, naming it and the cause.
    """
    pinned_set = set(pinned)
    facts: dict[str, HostResources] = {}
    lines: dict[str, str] = {}
    failures: dict[str, HostProbeError] = {}

    async def one(provider: ProviderLayout, host: SshHost) -> None:
        conns = _Connections(provider, known_hosts)
        try:
            opts = conns.options(host, pinned=host.key in pinned_set)
            async with asyncssh.connect(host.host, **opts) as conn:
                key = conn.get_server_host_key()
                if key is not None and host.key not in pinned_set:
                    public = key.export_public_key("openssh").decode().split()
                    lines[host.key] = f"{_known_hosts_pattern(host)} {public[0]} {public[1]}"
                answer = await _python(conn, _PROBE, {})
        except (OSError, asyncssh.Error, TimeoutError, ProviderError) as exc:
            error = _classify(host, exc)
            cause = str(error).removeprefix(f"host {host.spec}: ")
            failures[host.key] = HostProbeError(host.spec, cause, provider.name, error)
            return
        version = tuple(int(v) for v in answer["python"][:2])
        if version < MIN_PYTHON:
            failures[host.key] = HostProbeError(
                host.spec,
                f"python3 is {'.'.join(map(str, answer['python']))} ({answer['executable']}); the node agent "
                f"needs {MIN_PYTHON[0]}.{MIN_PYTHON[1]} or newer",
                provider.name,
            )
            return
        facts[host.key] = HostResources(int(answer["cpus"]), int(answer["memory_mb"]), int(answer["gpus"]))

    await asyncio.gather(*(one(p, h) for p in providers for h in p.hosts))
    for provider in providers:
        for host in provider.hosts:
            if host.key in failures:
                raise failures[host.key]
    return facts, [lines[k] for k in sorted(lines)]


def probe_and_record(
    paths: ClusterPaths, providers: Sequence[ProviderLayout], *, refresh: bool = False
) -> dict[str, HostResources]:
    """The resources of every host of ``providers``: those recorded in the cluster directory,
    and the others probed now (all of them with ``refresh``) and recorded, with their host keys
    pinned. Blocking (runs its own event loop): call it from a thread when a loop is running.
    Raises :class:`HostProbeError` naming the first host that cannot run a node; nothing is
    recorded then.
    """
    known = read_host_facts(paths)
    keys = pinned_keys(paths)
    pinned = _pinned_hosts(keys)
    todo = []
    for provider in providers:
        hosts = tuple(h for h in provider.hosts if refresh or h.key not in known)
        if hosts:
            todo.append(
                ProviderLayout(provider.name, provider.kind, hosts, provider.user, provider.identity_file)
            )
    if todo:
        facts, lines = asyncio.run(probe_hosts(todo, keys if keys.exists() else None, pinned=pinned))
        known.update(facts)
        if lines:
            with keys.open("a") as f:
                f.write("".join(line + "\n" for line in lines))
            keys.chmod(0o600)
        write_host_facts(paths, known)
    return {h.key: known[h.key] for p in providers for h in p.hosts}


def _pinned_hosts(keys: Path) -> set[str]:
    """``host:port`` of every host with a pinned key."""
    out: set[str] = set()
    try:
        text = keys.read_text()
    except OSError:
        return out
    for line in text.splitlines():
        pattern = line.split(" ", 1)[0]
        if pattern.startswith("["):
            host, _, port = pattern[1:].partition("]:")
            out.add(SshHost(pattern, host, int(port)).key)
        elif pattern:
            out.add(SshHost(pattern, pattern, 22).key)
    return out

"""slurm.conf and gres.conf for a cluster, rendered from its layout as ParallelCluster renders them.

Pure functions: a :class:`~stratus.config.layout.ClusterLayout`, the :class:`SlurmSite` (where
this cluster's Slurm daemons live and listen) and the config's :class:`ConfigSlurmSettings` in,
text out. Nothing is read or written here.

What the text holds, and where each fact comes from:

* The cluster-wide settings of ParallelCluster's cookbook (aws-parallelcluster-cookbook,
  ``templates/default/slurm/slurm.conf.erb`` and ``head_node_slurm/slurm/templates/
  slurm_parallelcluster.conf``): ``ReconfigFlags=KeepPartState``; ``SlurmctldParameters=
  idle_on_node_suspend,power_save_min_interval=30`` (plus ``cloud_dns`` when node names resolve,
  otherwise ``TreeWidth=65533``); ``CommunicationParameters=NoAddrCache``; the suspend, resume and
  resume-fail programs (the resume-fail program is the suspend program unless given);
  ``SuspendTimeout=120``, ``PrivateData=cloud``, ``ResumeRate=0``, ``SuspendRate=0``;
  ``SuspendTime`` = ``ScaledownIdletime`` x 60 (for -1 see below), ``ResumeTimeout`` =
  ``ComputeNodeBootstrapTimeout``; the timers (``SlurmctldTimeout=300``, ``SlurmdTimeout=180``,
  ``UnkillableStepTimeout=180``, ``InactiveLimit=0``, ``MinJobAge=300``, ``KillWait=30``,
  ``Waittime=0``, ``MessageTimeout=60``, ``AuthInfo=cred_expire=70``); ``EnforcePartLimits=ALL``,
  ``SchedulerType=sched/backfill``, ``MpiDefault=none``, ``ReturnToService=1``,
  ``GresTypes=gpu``, ``SelectType=select/cons_tres`` with ``CR_CPU`` (``CR_CPU_Memory`` with
  ``EnableMemoryBasedScheduling``); ``SuspendExcNodes`` = every static node.
* Nodes and partitions (cookbook ``head_node_slurm/slurm/config_renderer.py``): per compute
  resource one ``NodeName`` line for its static nodes and one for its dynamic nodes, both
  ``State=CLOUD``, ``CPUs``, ``RealMemory``, ``Feature=static|dynamic,<instance type>,<name>
  [,efa][,gpu]``, ``Weight`` from ``StaticNodePriority`` / ``DynamicNodePriority``,
  ``Gres=gpu:<type>:<n>``, then the compute resource's ``CustomSlurmSettings``;
  ``NodeSet={queue}_nodes``; ``PartitionName={queue} Nodes={queue}_nodes MaxTime=INFINITE
  State=UP`` with ``Default=YES`` on the first queue, ``OverSubscribe=EXCLUSIVE`` with
  ``JobExclusiveAllocation``, then the queue's ``CustomSlurmSettings``. gres.conf lines are
  ``NodeName=... Name=gpu Type=<type> File=/dev/nvidia[0-<n-1>]``.
* ``CustomSlurmSettings`` of the cluster come after everything else: the cookbook includes them
  last, so they win over its defaults (a default they replace is left out rather than written
  twice). Entries that declare a ``PartitionName``, ``NodeSet`` or ``NodeName`` are written as
  lines of their own, as given. ParallelCluster's deny list is enforced by validation.

Where stratus differs from the cookbook, because of how stratus runs nodes (Slurm 22.05 facts
as seen running ``slurm-wlm`` 22.05.8 from Debian):

* Several slurmd run on one machine for the local provider's nodes (and an ssh host may hold
  nodes of several compute resources), so every node gets its own ``Port`` (a range on a ranged
  ``NodeName`` line, as many ports as names) and the daemons' spool, log and pid paths carry
  ``%n``.
* Node names do not resolve, and slurmctld blocks about 10 s per name it cannot resolve while
  holding its locks. Nodes whose address is known get ``NodeAddr`` (the local provider's nodes
  the site's local address, an ssh provider's static nodes their hosts); every node of another
  machine gets the address its agent connects from with ``scontrol update NodeName=...
  NodeAddr=... NodeHostname=...`` when it joins, before its slurmd starts, as ParallelCluster
  does for the instances it launches. ``cloud_dns`` is off unless the site says names resolve.
* ProctrackType and TaskPlugin are the site's (the cookbook's cgroup plugins need a cgroup
  hierarchy delegated to slurmd, which a machine without systemd does not have).
* ``ScaledownIdletime: -1`` (never power down) is not the cookbook's ``SuspendTime=-1``:
  slurmctld 22.05 turns its power-saving module off when SuspendTime is negative or infinite and
  no partition sets a finite one ("power_save module disabled, SuspendTime < 0" in its log, even
  with ``SuspendTime=INFINITE`` on every partition), and with the module off nothing runs the
  resume program, so powered-down CLOUD nodes would never come up. It is ten years
  (:data:`NEVER_SUSPEND_S`) instead.

Settings that only stratus understands never reach Slurm (Slurm refuses unknown keys and
values); each one left out is named in a comment: the per-user limits ``MaxJobsPerUser``,
``MaxNodesPerUser`` and ``MaxCpusPerUser`` (Slurm sets those on a QOS, not in slurm.conf),
``PriorityType=priority/expansion`` and the ``bf_policy`` and ``bf_order`` scheduler parameters.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from stratus.config.layout import LOCAL, ClusterLayout, ComputeResourceLayout, QueueLayout
from stratus.config.scheduling import ENTITY_KEYS
from stratus.config.schema import ClusterConfig
from stratus.slurm import hostlist

#: A line's settings in order: (key, value).
Settings = tuple[tuple[str, Any], ...]

#: Slurm's default slurmctld and slurmd ports (slurm.conf(5)).
DEFAULT_SLURMCTLD_PORT = 6817
DEFAULT_SLURMD_PORT = 6818
#: Where the ports of the local provider's nodes start, one per node.
DEFAULT_SLURMD_PORT_BASE = 6901

#: SuspendTime for ``ScaledownIdletime: -1``: ten years, finite so that power saving stays on.
NEVER_SUSPEND_S = 10 * 365 * 24 * 3600

#: Per-user caps stratus enforces itself; Slurm has them on a QOS, not in slurm.conf.
STRATUS_ONLY_LIMITS = ("maxjobsperuser", "maxnodesperuser", "maxcpusperuser")
#: SchedulerParameters options only stratus reads.
STRATUS_ONLY_SCHEDULER_OPTIONS = ("bf_policy", "bf_order")
#: PriorityType values only stratus has.
STRATUS_ONLY_PRIORITY_TYPES = ("priority/expansion",)

_CLUSTER_NAME = re.compile(r"^[a-z0-9_][a-z0-9_-]{0,39}$")
_KEY = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


class RenderError(ValueError):
    """The site or a setting cannot be written as Slurm configuration."""


@dataclass(frozen=True)
class SlurmSite:
    """Where a cluster's Slurm lives: names, ports, directories and programs.

    ``slurm_cluster_name`` is Slurm's ``ClusterName`` (lower case, at most 40 characters; see
    :func:`slurm_cluster_name`), ``cluster_name`` the stratus cluster it serves (named in the
    header only). slurmctld listens on ``controller_addr``:``controller_port`` and is known as
    ``controller_host``. Nodes listen on ``slurmd_port_base``,
    ``slurmd_port_base`` + 1, ... in cluster order (the local provider's at
    ``local_node_addr``); ``slurmd_port`` is slurm.conf's ``SlurmdPort``, which no node line
    leaves in force. ``spool_dir``, ``log_dir`` and ``pid_dir`` get ``%n`` names for slurmd.
    ``resume_fail_program`` defaults to the suspend program, as in ParallelCluster.
    ``munge_socket``: the munged socket when it is not munge's default. ``cloud_dns``: node names
    resolve (the cookbook's setting when the cluster has a DNS domain). ``gpu_device_files``:
    gres.conf names ``/dev/nvidia*`` devices (off for nodes that only claim GPUs: ``Count=``).
    ``compare_conf_hash`` off: ``DebugFlags=NO_CONF_HASH`` (nodes of other machines run on a
    slurm.conf whose paths are theirs, which slurmctld would log as a mismatch at every
    registration).
    """

    cluster_name: str
    slurm_cluster_name: str
    controller_host: str
    state_dir: str
    spool_dir: str
    log_dir: str
    pid_dir: str
    resume_program: str
    suspend_program: str
    resume_fail_program: str | None = None
    controller_addr: str = "127.0.0.1"
    controller_port: int = DEFAULT_SLURMCTLD_PORT
    slurmd_port: int = DEFAULT_SLURMD_PORT
    slurmd_port_base: int = DEFAULT_SLURMD_PORT_BASE
    local_node_addr: str = "127.0.0.1"
    munge_socket: str | None = None
    slurm_user: str = "slurm"
    cloud_dns: bool = False
    proctrack_type: str = "proctrack/linuxproc"
    task_plugin: str = "task/none"
    gpu_device_files: bool = True
    compare_conf_hash: bool = True

    def __post_init__(self) -> None:
        if not _CLUSTER_NAME.match(self.slurm_cluster_name):
            raise RenderError(
                f"Slurm's ClusterName must be 1 to 40 lower-case letters, digits, '_' or '-', "
                f"not {self.slurm_cluster_name!r} (see slurm_cluster_name())."
            )
        for name in ("controller_port", "slurmd_port", "slurmd_port_base"):
            port = getattr(self, name)
            if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
                raise RenderError(f"{name} must be a port from 1 to 65535, not {port!r}.")
        if self.controller_port == self.slurmd_port:
            raise RenderError("slurmctld and slurmd cannot share a port.")
        for name in (
            "cluster_name",
            "controller_host",
            "controller_addr",
            "state_dir",
            "spool_dir",
            "log_dir",
            "pid_dir",
            "resume_program",
            "suspend_program",
            "local_node_addr",
            "slurm_user",
            "proctrack_type",
            "task_plugin",
        ):
            _plain(name, getattr(self, name))
        for name in ("resume_fail_program", "munge_socket"):
            value = getattr(self, name)
            if value is not None:
                _plain(name, value)

    @property
    def fail_program(self) -> str:
        """The ResumeFailProgram: the suspend program unless one is given."""
        return self.resume_fail_program or self.suspend_program


def slurm_cluster_name(cluster_name: str) -> str:
    """A Slurm ``ClusterName`` for a stratus cluster: lower case, other characters as ``_``, at
    most 40 characters (slurmctld lower-cases the name and the accounting database limits it)."""
    name = re.sub(r"[^a-z0-9_-]", "_", cluster_name.lower())[:40]
    return name if name and name[0] != "-" else ("c" + name)[:40]


def _plain(name: str, value: object) -> None:
    if not isinstance(value, str) or not value or any(c.isspace() or c in '"#' for c in value):
        raise RenderError(f"{name} must be a non-empty value without spaces, quotes or '#', not {value!r}.")


@dataclass(frozen=True)
class ConfigSlurmSettings:
    """What the config says for slurm.conf besides the layout: the ``CustomSlurmSettings`` of
    the cluster (``cluster``: merged, in order; ``entities``: the entries that declare a
    partition, node set or node), of each queue and of each compute resource, and the queues
    with ``JobExclusiveAllocation``."""

    cluster: Settings = ()
    entities: tuple[Settings, ...] = ()
    queues: tuple[tuple[str, Settings], ...] = ()
    compute_resources: tuple[tuple[str, str, Settings], ...] = ()
    exclusive_queues: tuple[str, ...] = ()

    @classmethod
    def from_config(cls, config: ClusterConfig) -> ConfigSlurmSettings:
        """The settings of a validated config."""
        scheduling = config.scheduling
        slurm = scheduling.slurm_settings
        merged: dict[str, tuple[str, Any]] = {}
        entities: list[Settings] = []
        for item in (slurm.custom_slurm_settings or []) if slurm else []:
            if any(key in item for key in ENTITY_KEYS):
                entities.append(tuple(item.items()))
                continue
            for key, value in item.items():
                merged.pop(key.lower(), None)  # the later entry wins, and keeps its place
                merged[key.lower()] = (key, value)
        queues = scheduling.slurm_queues or []
        return cls(
            cluster=tuple(merged.values()),
            entities=tuple(entities),
            queues=tuple((q.name, tuple((q.custom_slurm_settings or {}).items())) for q in queues),
            compute_resources=tuple(
                (q.name, cr.name, tuple((cr.custom_slurm_settings or {}).items()))
                for q in queues
                for cr in q.compute_resources
            ),
            exclusive_queues=tuple(q.name for q in queues if q.job_exclusive_allocation),
        )

    def queue(self, name: str) -> Settings:
        """The ``CustomSlurmSettings`` of queue ``name``."""
        return next((s for q, s in self.queues if q == name), ())

    def compute_resource(self, queue: str, name: str) -> Settings:
        """The ``CustomSlurmSettings`` of compute resource ``name`` of ``queue``."""
        return next((s for q, c, s in self.compute_resources if (q, c) == (queue, name)), ())


# -- values -------------------------------------------------------------------------------------


def _value(key: str, value: Any) -> str:
    """A setting's value as slurm.conf writes it: YES/NO for booleans, numbers as numbers,
    strings with spaces in double quotes. Anything else is a :class:`RenderError`."""
    if isinstance(value, bool):
        return "YES" if value else "NO"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise RenderError(f"{key}: {value!r} is not a Slurm value.")
        return str(int(value)) if value.is_integer() else repr(value)
    if not isinstance(value, str):
        raise RenderError(f"{key}: a {type(value).__name__} is not a Slurm value; write it as text.")
    text = value.strip()
    if not text:
        raise RenderError(f"{key} has an empty value.")
    if any(c in text for c in '"\n\r#'):
        raise RenderError(f"{key}: {value!r} holds a quote, '#' or a line break.")
    return f'"{text}"' if any(c.isspace() for c in text) else text


def _pair(key: str, value: Any) -> str:
    if not _KEY.match(key):
        raise RenderError(f"{key!r} is not a Slurm parameter name.")
    return f"{key}={_value(key, value)}"


def _merge(defaults: Sequence[tuple[str, str]], custom: Iterable[tuple[str, Any]]) -> list[str]:
    """``Key=Value`` words: the defaults, each replaced in place by a custom setting of the same
    key (compared without case, as Slurm reads keys), then the other custom settings in order."""
    words = {key.lower(): f"{key}={value}" for key, value in defaults}
    for key, value in custom:
        words[key.lower()] = _pair(key, value)  # a dict keeps a replaced key in its place
    return list(words.values())


def _filter(settings: Iterable[tuple[str, Any]], level: str) -> tuple[list[tuple[str, Any]], list[str]]:
    """The settings Slurm understands, and ``Key=Value`` of each left out (stratus's own)."""
    kept: list[tuple[str, Any]] = []
    dropped: list[str] = []
    for key, value in settings:
        low = key.lower()
        if low in STRATUS_ONLY_LIMITS or (
            level == "cluster" and low == "prioritytype" and str(value).strip() in STRATUS_ONLY_PRIORITY_TYPES
        ):
            dropped.append(f"{key}={value}")
        elif level == "cluster" and low == "schedulerparameters" and isinstance(value, str):
            options = [o.strip() for o in str(value).split(",") if o.strip()]
            own = [o for o in options if o.partition("=")[0].strip() in STRATUS_ONLY_SCHEDULER_OPTIONS]
            rest = [o for o in options if o not in own]
            if own:
                dropped.append(f"{key}={','.join(own)}")
            if rest:
                kept.append((key, ",".join(rest)))
        else:
            kept.append((key, value))
    return kept, dropped


def _dropped_comment(dropped: Sequence[str], where: str) -> list[str]:
    if not dropped:
        return []
    return [f"# stratus-only, not passed to Slurm ({where}): {' '.join(dropped)}"]


# -- nodes --------------------------------------------------------------------------------------


def node_ports(layout: ClusterLayout, site: SlurmSite) -> dict[str, int]:
    """The slurmd port of each node: ``slurmd_port_base`` onward, in cluster order (queue by
    queue, static nodes then dynamic nodes of each compute resource). One port per node, on
    every provider: the local provider's nodes share this machine, an ssh host can hold nodes of
    several compute resources, and an instance costs nothing more for a port of its own."""
    names = [n for cr in layout.compute_resources() for n in cr.node_names]
    last = site.slurmd_port_base + len(names) - 1
    if last > 65535:
        raise RenderError(f"{len(names)} nodes need ports up to {last}; lower slurmd_port_base.")
    taken = {site.controller_port, site.slurmd_port}
    if names and any(site.slurmd_port_base <= p <= last for p in taken):
        raise RenderError(
            f"the nodes' ports {site.slurmd_port_base}-{last} overlap slurmctld's or slurmd's port."
        )
    return {name: site.slurmd_port_base + i for i, name in enumerate(names)}


def _ports(ports: Sequence[int]) -> str:
    if len(ports) == 1:
        return str(ports[0])
    if list(ports) == list(range(ports[0], ports[0] + len(ports))):
        return f"[{ports[0]}-{ports[-1]}]"
    return "[" + ",".join(map(str, ports)) + "]"


def _addresses(
    layout: ClusterLayout, cr: ComputeResourceLayout, names: Sequence[str], site: SlurmSite
) -> str:
    """``NodeAddr`` of these nodes, or "" where it is set when a node is launched."""
    if cr.provider_kind == LOCAL:
        return site.local_node_addr
    provider = layout.provider(cr.provider)
    if provider is None or not provider.hosts or cr.dynamic_nodes:
        return ""
    # The n-th static node of a compute resource on an ssh provider runs on its n-th host.
    hosts = [provider.hosts[cr.static_nodes.index(n)].host for n in names]
    return ",".join(hosts)


def _node_line(
    layout: ClusterLayout,
    cr: ComputeResourceLayout,
    names: Sequence[str],
    static: bool,
    site: SlurmSite,
    ports: Mapping[str, int],
    custom: Settings,
) -> str:
    words = [f"NodeName={hostlist.compress_in_order(names)}"]
    addr = _addresses(layout, cr, names, site)
    if addr:
        words.append(f"NodeAddr={addr}")
    words.append(f"Port={_ports([ports[n] for n in names])}")
    # A compute resource called "gpu" or "efa" would name that feature twice (the cookbook does).
    features = tuple(dict.fromkeys(cr.static_features if static else cr.dynamic_features))
    defaults = [
        ("CPUs", str(cr.vcpus)),
        ("RealMemory", str(cr.memory_mb)),
        ("State", "CLOUD"),
        ("Feature", ",".join(features)),
        ("Weight", str(cr.static_weight if static else cr.dynamic_weight)),
    ]
    if cr.gpus > 0:
        defaults.append(("Gres", f"gpu:{cr.gpu_type}:{cr.gpus}" if cr.gpu_type else f"gpu:{cr.gpus}"))
    return " ".join(words + _merge(defaults, custom))


def _queue_nodes(cr: ComputeResourceLayout) -> list[tuple[tuple[str, ...], bool]]:
    return [
        (names, static) for names, static in ((cr.static_nodes, True), (cr.dynamic_nodes, False)) if names
    ]


def _nodes_and_partition(
    layout: ClusterLayout,
    queue: QueueLayout,
    site: SlurmSite,
    settings: ConfigSlurmSettings,
    ports: Mapping[str, int],
    *,
    burst: bool,
) -> list[str]:
    lines: list[str] = []
    for cr in queue.compute_resources:
        custom, dropped = _filter(settings.compute_resource(queue.name, cr.name), "compute resource")
        lines += _dropped_comment(dropped, f"compute resource {queue.name}/{cr.name}")
        for names, static in _queue_nodes(cr):
            lines.append(_node_line(layout, cr, names, static, site, ports, tuple(custom)))
    groups = [
        hostlist.compress_in_order(names) for cr in queue.compute_resources for names, _ in _queue_nodes(cr)
    ]
    lines.append(f"NodeSet={queue.name}_nodes Nodes={','.join(groups)}")
    defaults = [("PartitionName", queue.name), ("Nodes", f"{queue.name}_nodes"), ("MaxTime", "INFINITE")]
    defaults.append(("State", "UP"))
    if queue.default and not burst:
        defaults.append(("Default", "YES"))
    if queue.name in settings.exclusive_queues:
        defaults.append(("OverSubscribe", "EXCLUSIVE"))
    if burst:
        defaults += _power_timeouts(layout)
    custom, dropped = _filter(settings.queue(queue.name), "queue")
    lines += _dropped_comment(dropped, f"queue {queue.name}")
    lines.append(" ".join(_merge(defaults, custom)))
    return lines


def _suspend_time(layout: ClusterLayout) -> str:
    idle = layout.scaledown_idletime_s
    return str(NEVER_SUSPEND_S if math.isinf(idle) else int(idle))


def _power_timeouts(layout: ClusterLayout) -> list[tuple[str, str]]:
    """The power-saving timers a partition can carry (Slurm 21.08+), for burst mode."""
    return [
        ("SuspendTime", _suspend_time(layout)),
        ("SuspendTimeout", "120"),
        ("ResumeTimeout", str(int(layout.resume_timeout_s))),
    ]


def _static_nodes(layout: ClusterLayout) -> str:
    return ",".join(
        hostlist.compress_in_order(cr.static_nodes) for cr in layout.compute_resources() if cr.static_nodes
    )


def _entity_line(entity: Settings) -> tuple[str, list[str]]:
    kept, dropped = _filter(entity, "entity")
    return " ".join(_pair(key, value) for key, value in kept), dropped


# -- the files ----------------------------------------------------------------------------------


def render_slurm_conf(
    layout: ClusterLayout, site: SlurmSite, settings: ConfigSlurmSettings | None = None
) -> str:
    """The whole slurm.conf of a cluster whose Slurm stratus runs."""
    settings = settings or ConfigSlurmSettings()
    ports = node_ports(layout, site)
    auth_info = "cred_expire=70" + (f",socket={site.munge_socket}" if site.munge_socket else "")
    ctld_params = "idle_on_node_suspend,power_save_min_interval=30" + (",cloud_dns" if site.cloud_dns else "")
    sections: list[tuple[str, list[tuple[str, str]]]] = [
        (
            "CLUSTER SETTINGS",
            [
                ("ClusterName", site.slurm_cluster_name),
                ("SlurmctldHost", f"{site.controller_host}({site.controller_addr})"),
                ("SlurmUser", site.slurm_user),
                ("SlurmctldPort", str(site.controller_port)),
                ("SlurmdPort", str(site.slurmd_port)),
                ("AuthType", "auth/munge"),
                ("CredType", "cred/munge"),
                ("AuthInfo", auth_info),
                ("StateSaveLocation", site.state_dir),
                ("SlurmdSpoolDir", f"{site.spool_dir.rstrip('/')}/%n"),
                ("SwitchType", "switch/none"),
                ("SlurmctldPidFile", f"{site.pid_dir.rstrip('/')}/slurmctld.pid"),
                ("SlurmdPidFile", f"{site.pid_dir.rstrip('/')}/slurmd-%n.pid"),
                ("ReconfigFlags", "KeepPartState"),
            ],
        ),
        (
            "CLOUD CONFIGS OPTIONS",
            [
                ("SlurmctldParameters", ctld_params),
                *([] if site.cloud_dns else [("TreeWidth", "65533")]),
                ("CommunicationParameters", "NoAddrCache"),
                ("SuspendProgram", site.suspend_program),
                ("ResumeProgram", site.resume_program),
                ("ResumeFailProgram", site.fail_program),
                ("SuspendTimeout", "120"),
                ("PrivateData", "cloud"),
                ("ResumeRate", "0"),
                ("SuspendRate", "0"),
                ("SuspendTime", _suspend_time(layout)),
                ("ResumeTimeout", str(int(layout.resume_timeout_s))),
            ],
        ),
        (
            "TIMERS",
            [
                ("SlurmctldTimeout", "300"),
                ("SlurmdTimeout", "180"),
                ("UnkillableStepTimeout", "180"),
                ("InactiveLimit", "0"),
                ("MinJobAge", "300"),
                ("KillWait", "30"),
                ("Waittime", "0"),
                ("MessageTimeout", "60"),
            ],
        ),
        (
            "SCHEDULING, JOB, AND NODE SETTINGS",
            [
                ("EnforcePartLimits", "ALL"),
                ("SchedulerType", "sched/backfill"),
                ("ProctrackType", site.proctrack_type),
                ("MpiDefault", "none"),
                ("ReturnToService", "1"),
                ("TaskPlugin", site.task_plugin),
            ],
        ),
        (
            "TRES AND GPU CONFIG OPTIONS",
            [
                ("GresTypes", "gpu"),
                ("SelectType", "select/cons_tres"),
                ("SelectTypeParameters", "CR_CPU_Memory" if layout.memory_based_scheduling else "CR_CPU"),
            ],
        ),
        (
            "LOGGING",
            [
                ("SlurmctldDebug", "info"),
                ("SlurmctldLogFile", f"{site.log_dir.rstrip('/')}/slurmctld.log"),
                ("SlurmdDebug", "info"),
                ("SlurmdLogFile", f"{site.log_dir.rstrip('/')}/slurmd-%n.log"),
                *([] if site.compare_conf_hash else [("DebugFlags", "NO_CONF_HASH")]),
                ("JobCompType", "jobcomp/none"),
            ],
        ),
    ]
    custom, dropped = _filter(settings.cluster, "cluster")
    replaced = {key.lower() for key, _ in custom}
    lines = [
        f"# slurm.conf of stratus cluster {site.cluster_name}, rendered from its configuration.",
        "# Rendered again on every change: edit the cluster configuration, not this file.",
    ]
    for title, pairs in sections:
        lines += ["#", f"# {title}"]
        lines += [f"{key}={value}" for key, value in pairs if key.lower() not in replaced]
    lines += ["#", "# NODES AND PARTITIONS"]
    for queue in layout.queues:
        lines += _nodes_and_partition(layout, queue, site, settings, ports, burst=False)
    static = _static_nodes(layout)
    if static and "suspendexcnodes" not in replaced:
        lines.append(f"SuspendExcNodes={static}")
    if custom or dropped or settings.entities:
        lines += ["#", "# CUSTOM SLURM SETTINGS (the cluster's CustomSlurmSettings)"]
        lines += _dropped_comment(dropped, "cluster")
        lines += [_pair(key, value) for key, value in custom]
        for entity in settings.entities:
            line, entity_dropped = _entity_line(entity)
            lines += _dropped_comment(entity_dropped, entity[0][0] + " " + str(entity[0][1]))
            lines.append(line)
    return "\n".join(lines) + "\n"


def render_gres_conf(layout: ClusterLayout, site: SlurmSite) -> str:
    """gres.conf: one line per static or dynamic group of nodes with GPUs (none: the header only)."""
    lines = [f"# gres.conf of stratus cluster {site.cluster_name}, rendered from its configuration."]
    for cr in layout.compute_resources():
        if cr.gpus <= 0:
            continue
        gpu_type = f" Type={cr.gpu_type}" if cr.gpu_type else ""
        where = (
            (f"File=/dev/nvidia[0-{cr.gpus - 1}]" if cr.gpus > 1 else "File=/dev/nvidia0")
            if site.gpu_device_files
            else f"Count={cr.gpus}"
        )
        for names, _static in _queue_nodes(cr):
            lines.append(f"NodeName={hostlist.compress_in_order(names)} Name=gpu{gpu_type} {where}")
    return "\n".join(lines) + "\n"


def render_burst_lines(
    layout: ClusterLayout, site: SlurmSite, settings: ConfigSlurmSettings | None = None
) -> str:
    """The lines that add this cluster's nodes and partitions to an existing Slurm cluster.

    For a site that runs its own Slurm and lets stratus provide nodes: the ``NodeName``,
    ``NodeSet`` and ``PartitionName`` lines (no ``Default=YES``: the site keeps its default
    partition), the power-saving timers on each partition rather than cluster-wide (so the
    site's own nodes are never powered down), and the programs that power nodes up and down.
    ``settings`` supplies the queues' and compute resources' ``CustomSlurmSettings``; the
    cluster-level ones are the site's business and are not written.
    """
    settings = settings or ConfigSlurmSettings()
    ports = node_ports(layout, site)
    queues = ", ".join(q.name for q in layout.queues)
    ctld_params = "idle_on_node_suspend,power_save_min_interval=30"
    lines = [
        f"# BEGIN stratus cluster {site.cluster_name}: nodes and partitions {queues}.",
        "# Add these lines to the end of slurm.conf (or 'include' this file from it) on every host of the",
        "# Slurm cluster, restart slurmctld, then run 'scontrol reconfigure' for the slurmd (Slurm 22.05",
        "# adds or removes nodes only when slurmctld starts: 'scontrol reconfigure' alone stops it).",
        "# Removing the lines down to END undoes it (with the same restart).",
        "# The power-saving programs below replace any the cluster already has. Also make sure that",
        f"# SlurmctldParameters holds {ctld_params}, that PrivateData holds",
        "# cloud (so powered-down nodes are listed) and that GresTypes holds gpu if a node below has GPUs.",
        f"SuspendProgram={site.suspend_program}",
        f"ResumeProgram={site.resume_program}",
        f"ResumeFailProgram={site.fail_program}",
        "ResumeRate=0",
        "SuspendRate=0",
    ]
    for queue in layout.queues:
        lines += _nodes_and_partition(layout, queue, site, settings, ports, burst=True)
    static = _static_nodes(layout)
    if static:
        lines.append(f"# Static nodes are never powered down: add them to SuspendExcNodes: {static}")
    if not site.compare_conf_hash:
        lines += [
            "# Nodes of other machines run slurmd on this configuration with paths of their own",
            "# (munged's socket, slurmd's spool, pid and log files): add DebugFlags=NO_CONF_HASH, or",
            "# slurmctld logs each of their registrations as a configuration mismatch.",
        ]
    lines.append(f"# END stratus cluster {site.cluster_name}")
    return "\n".join(lines) + "\n"

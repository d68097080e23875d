"""Semantic validation of a cluster config that passed the schema, in ParallelCluster's terms.

Each check carries the name of the ParallelCluster validator it mirrors (``NameValidator``,
``DuplicateNameValidator``, ``MaxCountValidator`` ...) and that validator's wording, so
``--suppress-validators type:<name>`` and scripts that grep pcluster's messages keep working. The
checks ParallelCluster makes against AWS (subnets, key pairs, AMIs, quotas) have no local meaning
and are not made; instead every key that has no effect on the local provider is reported once, as
an INFO from ``LocalProviderValidator``.

Some findings are *blocking*: the cluster cannot be laid out without them being fixed (an
unknown instance type has no size; duplicate or malformed names collide in node names; awsbatch
is not supported yet). Blocking findings are errors whatever the failure level and cannot be
suppressed.
"""

from __future__ import annotations

import difflib
import re
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher
from itertools import combinations
from typing import Any

from stratus.config.catalog import InstanceType, get_instance_type, suggest_instance_types
from stratus.config.errors import Level
from stratus.config.layout import DEFAULT_MAX_COUNT, DEFAULT_MIN_COUNT, split_host
from stratus.config.scheduling import (
    CLUSTER_PARAMETERS,
    PARTITION_KEYS,
    QUEUE_PARAMETERS,
    SettingError,
    custom_entities,
    is_entity,
    partition_settings,
    scheduling_settings,
)
from stratus.config.schema import (
    ClusterConfig,
    Section,
    SharedStorage,
    SlurmComputeResource,
    SlurmQueue,
    StratusProvider,
    StratusSettings,
)
from stratus.config.yamlsource import ConfigPath, SourceMap, format_path

CLUSTER_NAME_REGEX = r"^([a-zA-Z][a-zA-Z0-9-]{0,%d})$"
CLUSTER_NAME_MAX_LENGTH = 60
# Slurm accounting names database tables after the cluster; MySQL limits table names to 64 chars.
CLUSTER_NAME_MAX_LENGTH_SLURM_ACCOUNTING = 40
NAME_MAX_LENGTH = 25
SHARED_STORAGE_NAME_MAX_LENGTH = 30
NAME_REGEX = r"^[a-z][a-z0-9\-]*$"
TAG_VALUE_REGEX = r"^([\w\+\-\=\.\_\:\@/]{0,256})$"
MAX_NUMBER_OF_QUEUES = 50
MAX_COMPUTE_RESOURCES_PER_QUEUE = 50
MAX_COMPUTE_RESOURCES_PER_CLUSTER = 50
MAX_EBS_COUNT = 5
MAX_NEW_STORAGE_COUNT = {"efs": 1, "fsx": 1, "raid": 1}
MAX_EXISTING_STORAGE_COUNT = {"efs": 20, "fsx": 20, "raid": 0}
MIN_MEMORY_ABSOLUTE_DIFFERENCE = 4096
MIN_MEMORY_PERCENTAGE_DIFFERENCE = 0.20
RESERVED_MOUNT_DIRS = frozenset(
    {
        "/bin",
        "/boot",
        "/dev",
        "/etc",
        "/lib",
        "/lib64",
        "/media",
        "/mnt",
        "/opt",
        "/opt/parallelcluster",
        "/opt/parallelcluster/shared",
        "/opt/parallelcluster/shared_login_nodes",
        "/opt/slurm",
        "/opt/intel",
        "/proc",
        "/root",
        "/run",
        "/sbin",
        "/srv",
        "/sys",
        "/tmp",
        "/usr",
        "/var",
    }
)

#: Config keys that change what stratus builds. Every other key present in a config is accepted
#: and reported as an INFO that it has no effect on the local provider. ``[]`` stands for any
#: list index. ``Region`` is only reported back (``describe-cluster``), so it is reported too.
HONOURED_KEYS: tuple[str, ...] = (
    "Region",
    "HeadNode.InstanceType",
    "Scheduling.Scheduler",
    "Scheduling.SlurmSettings.ScaledownIdletime",
    "Scheduling.SlurmSettings.EnableMemoryBasedScheduling",
    "Scheduling.SlurmQueues[].Name",
    "Scheduling.SlurmQueues[].CapacityType",
    "Scheduling.SlurmQueues[].ComputeResources[].Name",
    "Scheduling.SlurmQueues[].ComputeResources[].InstanceType",
    "Scheduling.SlurmQueues[].ComputeResources[].Instances[].InstanceType",
    "Scheduling.SlurmQueues[].ComputeResources[].MinCount",
    "Scheduling.SlurmQueues[].ComputeResources[].MaxCount",
    "Scheduling.SlurmQueues[].ComputeResources[].SchedulableMemory",
    "Scheduling.SlurmQueues[].ComputeResources[].StaticNodePriority",
    "Scheduling.SlurmQueues[].ComputeResources[].DynamicNodePriority",
    "Scheduling.SlurmQueues[].ComputeResources[].DisableSimultaneousMultithreading",
    "Scheduling.SlurmQueues[].ComputeResources[].Efa.Enabled",
    *(
        f"Scheduling.SlurmQueues[].CustomActions.{event}.{key}"
        for event in ("OnNodeStart", "OnNodeConfigured")
        for key in ("Script", "Args", "Sequence[].Script", "Sequence[].Args")
    ),
    "SharedStorage[].Name",
    "SharedStorage[].StorageType",
    "SharedStorage[].MountDir",
    "Tags",
    "DevSettings.Timeouts.ComputeNodeBootstrapTimeout",
    "Stratus",
    "Scheduling.SlurmQueues[].ComputeResources[].Provider",
    "Scheduling.SlurmSettings.CustomSlurmSettings[].MaxArraySize",
    "Scheduling.SlurmSettings.CustomSlurmSettings[].MinJobAge",
    *(f"Scheduling.SlurmSettings.CustomSlurmSettings[].{key}" for key in CLUSTER_PARAMETERS),
    *(f"Scheduling.SlurmSettings.CustomSlurmSettings[].{key}" for key in (*PARTITION_KEYS, "NodeSet")),
    *(f"Scheduling.SlurmQueues[].CustomSlurmSettings.{key}" for key in QUEUE_PARAMETERS),
)

#: Slurm parameters ParallelCluster manages itself and refuses in ``CustomSlurmSettings``, by level
#: (ParallelCluster 3.12 ``SLURM_SETTINGS_DENY_LIST``). Compared case-insensitively, as Slurm reads
#: slurm.conf; the ``Accounting`` ones only when ``SlurmSettings.Database`` is set.
SLURM_SETTINGS_DENY_LIST: dict[str, frozenset[str]] = {
    "SlurmConf": frozenset(
        {
            "epilog",
            "grestypes",
            "launchparameters",
            "prolog",
            "reconfigflags",
            "resumefailprogram",
            "resumeprogram",
            "resumetimeout",
            "slurmctldhost",
            "slurmctldlogfile",
            "slurmctldparameters",
            "slurmdlogfile",
            "slurmuser",
            "suspendexcnodes",
            "suspendprogram",
            "suspendtime",
            "taskplugin",
            "treewidth",
        }
    ),
    "Accounting": frozenset(
        {
            "accountingstoragetype",
            "accountingstoragehost",
            "accountingstorageport",
            "accountingstorageuser",
            "jobacctgathertype",
        }
    ),
    "Queue": frozenset({"nodes", "partitionname", "resumetimeout", "state", "suspendtime", "oversubscribe"}),
    "ComputeResource": frozenset(
        {"cpus", "features", "gres", "nodeaddr", "nodehostname", "nodename", "state", "weight"}
    ),
}

# slurm.conf parameters that CustomSlurmSettings may set on stratus, with Slurm's bounds.
CUSTOM_SLURM_PARAMETERS: dict[str, tuple[int, int]] = {
    "MaxArraySize": (1, 4_000_001),
    "MinJobAge": (0, 2**31 - 1),
}

Pattern = tuple[str, ...]


def _parse_pattern(key: str) -> Pattern:
    parts: list[str] = []
    for piece in key.split("."):
        name, brackets, _ = piece.partition("[]")
        parts.append(name)
        if brackets:
            parts.append("[]")
    return tuple(parts)


_HONOURED: frozenset[Pattern] = frozenset(_parse_pattern(key) for key in HONOURED_KEYS)
_HONOURED_PREFIXES: frozenset[Pattern] = frozenset(p[:n] for p in _HONOURED for n in range(1, len(p)))


@dataclass(frozen=True)
class Finding:
    """A validation result before suppression and failure-level filtering."""

    level: Level
    type: str
    message: str
    line: int | None
    blocking: bool


class _Findings:
    def __init__(self, source: SourceMap) -> None:
        self.source = source
        self.items: list[Finding] = []

    def add(
        self,
        level: Level,
        validator: str,
        text: str,
        path: ConfigPath | None = None,
        *,
        blocking: bool = False,
    ) -> None:
        line = self.source.line(path) if path else None
        if path:
            where = format_path(path) + (f" (line {line})" if line is not None else "")
            text = f"{where}: {text}"
        self.items.append(Finding(level, validator, text, line, blocking))


def validate_config(
    config: ClusterConfig, raw: dict[str, Any], source: SourceMap, *, cluster_name: str | None = None
) -> list[Finding]:
    """All semantic findings for a schema-valid config, in the order of the file.

    ``cluster_name``, when given, is checked too: pcluster validates the name of the cluster
    being created together with its configuration.
    """
    findings = _Findings(source)
    if cluster_name is not None:
        _cluster_name(cluster_name, config, findings)
    _local_provider(raw, findings)
    if config.scheduling.scheduler != "slurm":
        findings.add(
            "ERROR",
            "SchedulerValidator",
            f"{config.scheduling.scheduler} scheduler is not supported by stratus yet. Supported schedulers "
            "are: slurm. Use Scheduler: slurm with SlurmQueues.",
            ("Scheduling", "Scheduler"),
            blocking=True,
        )
        return _ordered(findings.items)
    head = _head_node(config, findings)
    _custom_slurm_settings(config, findings)
    providers = _stratus(config, findings)
    _queues(config, head, findings, providers)
    _shared_storage(config, findings)
    _login_nodes(config, findings)
    return _ordered(findings.items)


def _custom_slurm_settings(config: ClusterConfig, findings: _Findings) -> None:
    """The slurm.conf parameters stratus honours must hold values it can use (Slurm's formats
    and bounds); see :mod:`stratus.config.scheduling`. Parameters on ParallelCluster's deny list
    are refused first, as pcluster refuses them."""
    _denied_slurm_settings(config, findings)
    settings = config.scheduling.slurm_settings
    entities: list[tuple[int, dict[str, Any]]] = []
    for index, item in enumerate((settings.custom_slurm_settings or []) if settings else []):
        if is_entity(item):
            entities.append((index, item))
            continue
        for key, value in item.items():
            path: ConfigPath = ("Scheduling", "SlurmSettings", "CustomSlurmSettings", index, key)
            bounds = CUSTOM_SLURM_PARAMETERS.get(key)
            if bounds is not None:
                if (
                    isinstance(value, bool)
                    or not isinstance(value, int)
                    or not bounds[0] <= value <= bounds[1]
                ):
                    findings.add(
                        "ERROR",
                        "CustomSlurmSettingsValidator",
                        f"{key} must be an integer from {bounds[0]} to {bounds[1]}, not {value!r}.",
                        path,
                        blocking=True,
                    )
            elif key in CLUSTER_PARAMETERS:
                try:
                    scheduling_settings(
                        {key: value},
                        foreign_options=config.stratus is not None and config.stratus.engine == "slurm",
                    )
                except SettingError as exc:
                    findings.add("ERROR", "CustomSlurmSettingsValidator", str(exc), path, blocking=True)
    if entities:
        _custom_entities(config, entities, findings)
    for q_index, queue in enumerate(config.scheduling.slurm_queues or []):
        for key, value in (queue.custom_slurm_settings or {}).items():
            if key not in QUEUE_PARAMETERS:
                continue
            try:
                partition_settings({key: value})
            except SettingError as exc:
                q_path: ConfigPath = ("Scheduling", "SlurmQueues", q_index, "CustomSlurmSettings", key)
                findings.add("ERROR", "CustomSlurmSettingsValidator", str(exc), q_path, blocking=True)


def _denied_slurm_settings(config: ClusterConfig, findings: _Findings) -> None:
    """ParallelCluster's ``CustomSlurmSettingsValidator``: one ERROR per level (and per deny list)
    naming every refused parameter, sorted and comma-separated, with pcluster's wording.

    At the cluster level, entries of more than one key (a partition, node set or node: one
    slurm.conf line) are not checked, as in ParallelCluster. The finding points at the first
    refused key in the file; it can be suppressed (``type:CustomSlurmSettingsValidator``) as in
    pcluster, and a suppressed parameter is then ignored, as every parameter stratus does not
    honour is.
    """
    base: ConfigPath = ("Scheduling", "SlurmSettings")
    settings = config.scheduling.slurm_settings
    if (
        settings is not None
        and settings.custom_slurm_settings
        and settings.custom_slurm_settings_include_file
    ):
        findings.add(
            "ERROR",
            "CustomSlurmSettingsIncludeFileOnlyValidator",
            "CustomSlurmsettings and CustomSlurmSettingsIncludeFile cannot be used together under "
            "SlurmSettings.",
            (*base, "CustomSlurmSettingsIncludeFile"),
        )
    cluster_keys: list[tuple[str, ConfigPath]] = []
    for index, item in enumerate((settings.custom_slurm_settings or []) if settings else []):
        if len(item) > 1:
            continue
        cluster_keys += [(key, (*base, "CustomSlurmSettings", index, key)) for key in item]
    _deny(cluster_keys, "SlurmConf", SLURM_SETTINGS_DENY_LIST["SlurmConf"], findings)
    if settings is not None and settings.database is not None:
        _deny(cluster_keys, "SlurmConf", SLURM_SETTINGS_DENY_LIST["Accounting"], findings)
    for qi, queue in enumerate(config.scheduling.slurm_queues or []):
        qpath: ConfigPath = ("Scheduling", "SlurmQueues", qi)
        queue_keys = [
            (key, (*qpath, "CustomSlurmSettings", key)) for key in queue.custom_slurm_settings or {}
        ]
        _deny(queue_keys, "Queue", SLURM_SETTINGS_DENY_LIST["Queue"], findings)
        for ci, cr in enumerate(queue.compute_resources):
            cr_keys = [
                (key, (*qpath, "ComputeResources", ci, "CustomSlurmSettings", key))
                for key in cr.custom_slurm_settings or {}
            ]
            _deny(cr_keys, "ComputeResource", SLURM_SETTINGS_DENY_LIST["ComputeResource"], findings)


def _deny(
    keys: list[tuple[str, ConfigPath]], level: str, deny_list: frozenset[str], findings: _Findings
) -> None:
    denied = [(key, path) for key, path in keys if key.lower() in deny_list]
    if not denied:
        return
    names = ",".join(sorted({key for key, _ in denied}))
    first = min(denied, key=lambda item: findings.source.line(item[1]) or 0)[1]
    findings.add(
        "ERROR",
        "CustomSlurmSettingsValidator",
        f"Using the following custom Slurm settings at {level} level is not allowed: {names}",
        first,
    )


def _custom_entities(
    config: ClusterConfig, entities: list[tuple[int, dict[str, Any]]], findings: _Findings
) -> None:
    """Partitions and node sets declared in CustomSlurmSettings: known keys, nodes that exist."""
    queue_nodes: dict[str, tuple[str, ...]] = {}
    for queue in config.scheduling.slurm_queues or []:
        names: list[str] = []
        for cr in queue.compute_resources:
            low = cr.min_count if cr.min_count is not None else DEFAULT_MIN_COUNT
            high = cr.max_count if cr.max_count is not None else DEFAULT_MAX_COUNT
            names += [f"{queue.name}-st-{cr.name}-{i}" for i in range(1, low + 1)]
            names += [f"{queue.name}-dy-{cr.name}-{i}" for i in range(1, high - low + 1)]
        queue_nodes[queue.name] = tuple(names)
    # Entries are checked in order, each with those before it (a partition may use a node set).
    for n in range(len(entities)):
        index, item = entities[n]
        try:
            custom_entities([e for _, e in entities[: n + 1]], queue_nodes)
        except SettingError as exc:
            key = exc.key if exc.key in item else next(iter(item))
            path: ConfigPath = ("Scheduling", "SlurmSettings", "CustomSlurmSettings", index, key)
            findings.add("ERROR", "CustomSlurmSettingsValidator", str(exc), path, blocking=True)
            return


def _ordered(items: list[Finding]) -> list[Finding]:
    # File order; stable, so findings on one line keep the order they were made in, and the few
    # findings not tied to a line (the cluster name) come first.
    return sorted(items, key=lambda f: f.line if f.line is not None else 0)


def _cluster_name(name: str, config: ClusterConfig, findings: _Findings) -> None:
    settings = config.scheduling.slurm_settings
    accounting = settings is not None and settings.database is not None
    limit = CLUSTER_NAME_MAX_LENGTH_SLURM_ACCOUNTING if accounting else CLUSTER_NAME_MAX_LENGTH
    if not re.match(CLUSTER_NAME_REGEX % (limit - 1), name):
        qualifier = "when using Slurm accounting it can't be longer" if accounting else "can't be longer"
        findings.add(
            "ERROR",
            "ClusterNameValidator",
            "Error: The cluster name can contain only alphanumeric characters (case-sensitive) and "
            f"hyphens. It must start with an alphabetic character and {qualifier} than {limit} characters.",
        )


# --------------------------------------------------------------------------------------------
# Keys without effect on the local provider


def _local_provider(raw: dict[str, Any], findings: _Findings) -> None:
    if "Region" in raw:
        findings.add(
            "INFO",
            "LocalProviderValidator",
            "is only reported back as the cluster's region; it has no other effect on the local provider.",
            ("Region",),
        )
    stratus = raw.get("Stratus")
    slurm_engine = isinstance(stratus, dict) and stratus.get("Engine") == "slurm"
    for path, value in _ignored(raw, ()):
        if slurm_engine and _honoured_by_slurm(path):
            continue
        detail = ""
        if isinstance(value, dict) or (isinstance(value, list) and any(isinstance(v, dict) for v in value)):
            keys = sorted(set(_leaf_keys(value, ())))
            shown = ", ".join(keys[:6]) + (", ..." if len(keys) > 6 else "")
            detail = f" (sets {shown})" if keys else ""
        findings.add("INFO", "LocalProviderValidator", f"has no effect on the local provider{detail}.", path)


def _honoured_by_slurm(path: ConfigPath) -> bool:
    """Keys real Slurm reads when it is the engine (``Stratus.Engine: slurm``): every
    ``CustomSlurmSettings`` (written into slurm.conf) and ``SlurmSettings.Database`` (accounting)."""
    return "CustomSlurmSettings" in path or tuple(path[:3]) == ("Scheduling", "SlurmSettings", "Database")


def _pattern(path: ConfigPath) -> Pattern:
    return tuple("[]" if isinstance(part, int) else str(part) for part in path)


def _ignored(value: Any, path: ConfigPath) -> Iterator[tuple[ConfigPath, Any]]:
    """Maximal subtrees of ``value`` containing no honoured key, each with its path."""
    children: Iterable[tuple[str | int, Any]]
    if isinstance(value, dict):
        children = value.items()
    elif isinstance(value, list):
        children = enumerate(value)
    else:
        return
    for key, child in children:
        child_path = (*path, key)
        pattern = _pattern(child_path)
        if pattern in _HONOURED:
            continue
        if pattern in _HONOURED_PREFIXES:
            yield from _ignored(child, child_path)
            continue
        # Name the key itself when the subtree is a chain of single keys (Image: {Os: x} is
        # reported as Image.Os), the subtree otherwise.
        while isinstance(child, dict) and len(child) == 1:
            ((only_key, child),) = child.items()
            child_path = (*child_path, only_key)
        yield child_path, child


def _leaf_keys(value: Any, prefix: tuple[str, ...]) -> Iterator[str]:
    if isinstance(value, dict):
        for key, child in value.items():
            if isinstance(child, dict | list) and child:
                yield from _leaf_keys(child, (*prefix, str(key)))
            else:
                yield ".".join((*prefix, str(key)))
    elif isinstance(value, list):
        for item in value:
            if isinstance(item, dict | list):
                yield from _leaf_keys(item, prefix)
            elif prefix:
                yield ".".join(prefix)


# --------------------------------------------------------------------------------------------
# Instance types


def _unknown_instance_type(name: str, path: ConfigPath, findings: _Findings) -> None:
    findings.add("ERROR", "InstanceTypeValidator", unknown_instance_type_text(name), path, blocking=True)


def unknown_instance_type_text(name: str) -> str:
    """Why ``name`` is refused as an instance type, with the catalog's closest names as a hint."""
    text = f"unknown instance type '{name}'."
    suggestions = suggest_instance_types(name, n=3)
    if suggestions:
        # Only suggestions about as close as the best one: 't2.micr' suggests t2.micro alone,
        # not every other family's micro size as well.
        wanted = name.strip().lower()
        best = SequenceMatcher(None, wanted, suggestions[0]).ratio()
        close = [s for s in suggestions if SequenceMatcher(None, wanted, s).ratio() >= best - 0.05]
        quoted = [f"'{s}'" for s in close]
        text += " Did you mean " + (
            quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " or " + quoted[-1]
        )
        text += "?"
    else:
        text += " stratus knows the EC2 families listed in its instance-type catalog."
    return text


def _head_node(config: ClusterConfig, findings: _Findings) -> InstanceType | None:
    head = get_instance_type(config.head_node.instance_type)
    if head is None:
        _unknown_instance_type(config.head_node.instance_type, ("HeadNode", "InstanceType"), findings)
    return head


# --------------------------------------------------------------------------------------------
# Queues and compute resources


def name_problems(name: str) -> list[str]:
    """ParallelCluster's ``NameValidator`` for a queue, compute resource or pool name: its
    messages, in its order, or an empty list when the name is valid."""
    problems: list[str] = []
    if not re.match(NAME_REGEX, name):
        problems.append(
            f"Invalid name '{name}'. Name must begin with a letter and only contain lowercase letters, "
            "digits and hyphens."
        )
    if len(name) > NAME_MAX_LENGTH:
        problems.append(f"Invalid name '{name}'. Name can be at most {NAME_MAX_LENGTH} chars long.")
    if name == "default":
        problems.append(f"It is forbidden to use '{name}' as a name.")
    return problems


def _name(name: str, path: ConfigPath, findings: _Findings, *, blocking: bool = True) -> None:
    for problem in name_problems(name):
        findings.add("ERROR", "NameValidator", problem, path, blocking=blocking)


def _duplicates(
    names: Sequence[str], paths: Sequence[ConfigPath], resource: str, findings: _Findings, *, blocking: bool
) -> None:
    first: dict[str, ConfigPath] = {}
    for name, path in zip(names, paths, strict=True):
        if name in first:
            earlier = findings.source.line(first[name])
            also = f" (also used at line {earlier})" if earlier is not None else ""
            findings.add(
                "ERROR",
                "DuplicateNameValidator",
                f"{resource} name {name} must be unique{also}.",
                path,
                blocking=blocking,
            )
        else:
            first[name] = path


def _max_count(count: int, limit: int, resource: str, path: ConfigPath, findings: _Findings) -> None:
    if count > limit:
        findings.add(
            "ERROR",
            "MaxCountValidator",
            f"Invalid number of {resource} ({count}) specified. Currently only supports up to {limit} "
            f"{resource}.",
            path,
        )


def _queues(
    config: ClusterConfig,
    head: InstanceType | None,
    findings: _Findings,
    providers: dict[str, StratusProvider],
) -> None:
    queues = config.scheduling.slurm_queues or []
    base: ConfigPath = ("Scheduling", "SlurmQueues")
    _max_count(len(queues), MAX_NUMBER_OF_QUEUES, "SlurmQueues", base, findings)
    _max_count(
        sum(len(q.compute_resources) for q in queues),
        MAX_COMPUTE_RESOURCES_PER_CLUSTER,
        "ComputeResources per Cluster",
        base,
        findings,
    )
    _duplicates(
        [q.name for q in queues],
        [(*base, i, "Name") for i in range(len(queues))],
        "Queue",
        findings,
        blocking=True,
    )
    settings = config.scheduling.slurm_settings
    memory_scheduling = bool(settings and settings.enable_memory_based_scheduling)
    for qi, queue in enumerate(queues):
        qpath: ConfigPath = (*base, qi)
        _name(queue.name, (*qpath, "Name"), findings)
        crs = queue.compute_resources
        _duplicates(
            [cr.name for cr in crs],
            [(*qpath, "ComputeResources", ci, "Name") for ci in range(len(crs))],
            "Compute resource",
            findings,
            blocking=True,
        )
        _max_count(
            len(crs),
            MAX_COMPUTE_RESOURCES_PER_QUEUE,
            "ComputeResources per Queue",
            (*qpath, "ComputeResources"),
            findings,
        )
        _node_priorities(queue, qpath, findings)
        multi_az = bool(queue.networking and len(queue.networking.subnet_ids) > 1)
        for ci, cr in enumerate(crs):
            crpath: ConfigPath = (*qpath, "ComputeResources", ci)
            _name(cr.name, (*crpath, "Name"), findings)
            if cr.provider is not None:
                declared = config.stratus.providers if config.stratus else None
                provider = _hosted(cr, crpath, providers, findings, declared)
                if provider is None or provider.kind != "ec2":
                    continue
            _size(queue, cr, crpath, findings)
            types = _compute_resource_types(cr, crpath, findings)
            if types is None:
                continue
            _efa(queue, cr, types, crpath, multi_az, findings)
            if cr.instances:
                _flexible(queue, cr, types, crpath, memory_scheduling, findings)
            _schedulable_memory(cr, types, crpath, findings)
            if head is not None:
                for t in types:
                    if t.architecture != head.architecture:
                        findings.add(
                            "ERROR",
                            "InstanceArchitectureCompatibilityValidator",
                            f"The specified compute instance type ({t.name}) supports the architectures "
                            f"['{t.architecture}'], none of which are compatible with the architecture "
                            f"supported by the head node instance type ({head.architecture}).",
                            _type_path(cr, crpath, t.name),
                        )


# --------------------------------------------------------------------------------------------
# Stratus: providers of machines beyond this one


def _stratus(config: ClusterConfig, findings: _Findings) -> dict[str, StratusProvider]:
    """Check ``Stratus``; the providers compute resources may name, by name (the usable ones)."""
    settings = config.stratus
    base: ConfigPath = ("Stratus",)
    if settings is None:
        return {}
    address = settings.head_node_address
    if address is not None:
        apath = (*base, "HeadNodeAddress")
        if address in ("0.0.0.0", "::", "*") or any(c.isspace() for c in address):
            findings.add(
                "ERROR",
                "ProviderValidator",
                f"'{address}' is not an address hosts can reach the head node at; give this machine's "
                "address or host name (not a wildcard).",
                apath,
                blocking=True,
            )
    providers = settings.providers or []
    ppath: ConfigPath = (*base, "Providers")
    _duplicates(
        [p.name for p in providers],
        [(*ppath, i, "Name") for i in range(len(providers))],
        "Provider",
        findings,
        blocking=True,
    )
    usable: dict[str, StratusProvider] = {}
    seen_hosts: dict[tuple[str, int], str] = {}
    for i, p in enumerate(providers):
        path: ConfigPath = (*ppath, i)
        _name(p.name, (*path, "Name"), findings)
        if not _provider_keys(config, p, path, findings):
            continue
        good = True
        for h, spec in enumerate(p.hosts or []):
            hpath: ConfigPath = (*path, "Hosts", h)
            try:
                target = split_host(spec, p.port or 22)
            except ValueError as exc:
                findings.add("ERROR", "ProviderValidator", f"{exc}.", hpath, blocking=True)
                good = False
                continue
            if target in seen_hosts:
                findings.add(
                    "ERROR",
                    "ProviderValidator",
                    f"host '{spec}' is listed twice (also in provider '{seen_hosts[target]}'): a host "
                    "runs one node.",
                    hpath,
                    blocking=True,
                )
                good = False
            seen_hosts[target] = p.name
        if good:
            usable.setdefault(p.name, p)
    _burst(config, settings, findings)
    _storage_providers(config, settings, findings)
    return usable


#: Keys of a provider entry that only one type of provider takes.
_SSH_KEYS = ("Hosts", "User", "Port", "IdentityFile", "AgentDirectory")
_EC2_KEYS = (
    "Region",
    "EndpointUrl",
    "ImageId",
    "SubnetId",
    "SecurityGroupIds",
    "KeyName",
    "InstanceProfile",
    "Profile",
    "InstallCommand",
)


def _provider_keys(config: ClusterConfig, p: StratusProvider, path: ConfigPath, findings: _Findings) -> bool:
    """Whether provider ``p`` has what its type needs and nothing another type takes."""
    good = True
    others = _EC2_KEYS if p.kind == "ssh" else _SSH_KEYS
    for key in others:
        if getattr(p, _field_of(StratusProvider, key)) is not None:
            findings.add(
                "ERROR",
                "ProviderValidator",
                f"{key} is not a setting of a provider of type '{p.kind}'; remove it.",
                (*path, key),
                blocking=True,
            )
            good = False
    if p.kind == "ssh" and not p.hosts:
        findings.add(
            "ERROR",
            "ProviderValidator",
            "a provider of type 'ssh' needs Hosts: the machines it runs nodes on.",
            (*path, "Hosts"),
            blocking=True,
        )
        good = False
    if p.kind == "ec2":
        if p.region is None and config.region is None:
            findings.add(
                "ERROR",
                "ProviderValidator",
                "a provider of type 'ec2' needs a Region (set Region here or at the top of the config).",
                (*path, "Region"),
                blocking=True,
            )
            good = False
        ami = config.image.custom_ami if config.image is not None else None
        if p.image_id is None and ami is None:
            findings.add(
                "ERROR",
                "ProviderValidator",
                "a provider of type 'ec2' needs the image its instances boot: set ImageId here or "
                "Image.CustomAmi.",
                (*path, "ImageId"),
                blocking=True,
            )
            good = False
    return good


def _field_of(model: type[Section], key: str) -> str:
    return next(name for name, f in model.model_fields.items() if (f.alias or name) == key)


def _burst(config: ClusterConfig, settings: StratusSettings, findings: _Findings) -> None:
    """``Stratus.Burst.Queues`` name queues of the config, each once."""
    burst = settings.burst
    if burst is None or not burst.queues:
        return
    base: ConfigPath = ("Stratus", "Burst", "Queues")
    names = [q.name for q in config.scheduling.slurm_queues or []]
    _duplicates(
        [q.name for q in burst.queues],
        [(*base, i, "Name") for i in range(len(burst.queues))],
        "Burst queue",
        findings,
        blocking=True,
    )
    for i, q in enumerate(burst.queues):
        if q.name not in names:
            _unknown_name("queue", q.name, names, (*base, i, "Name"), findings)


def _storage_providers(config: ClusterConfig, settings: StratusSettings, findings: _Findings) -> None:
    """``Stratus.SharedStorage`` entries name SharedStorage entries and providers of the config."""
    entries = settings.shared_storage or []
    base: ConfigPath = ("Stratus", "SharedStorage")
    storage = [s.name for s in config.shared_storage or []]
    providers = ["local", *(p.name for p in settings.providers or [])]
    _duplicates(
        [e.name for e in entries],
        [(*base, i, "Name") for i in range(len(entries))],
        "SharedStorage",
        findings,
        blocking=True,
    )
    for i, e in enumerate(entries):
        if e.name not in storage:
            _unknown_name("SharedStorage entry", e.name, storage, (*base, i, "Name"), findings)
        for j, name in enumerate(e.providers):
            if name not in providers:
                _unknown_name("provider", name, providers, (*base, i, "Providers", j), findings)


def _unknown_name(
    what: str, name: str, known: list[str], path: ConfigPath, findings: _Findings, where: str = "known"
) -> None:
    """``name`` is none of ``known`` (listed as ``where``): an error with "Did you mean"."""
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    hint = f" Did you mean '{close[0]}'?" if close else ""
    listed = ", ".join(known) if known else "none"
    findings.add(
        "ERROR",
        "ProviderValidator",
        f"unknown {what} '{name}' ({where}: {listed}).{hint}",
        path,
        blocking=True,
    )


def _hosted(
    cr: SlurmComputeResource,
    crpath: ConfigPath,
    providers: dict[str, StratusProvider],
    findings: _Findings,
    config_providers: list[StratusProvider] | None,
) -> StratusProvider | None:
    """A compute resource that names a provider: one that exists; an ssh provider's has one
    static node per host. Returns the provider (None if it is unknown or unusable)."""
    name = cr.provider or ""
    provider = providers.get(name)
    declared = {p.name for p in (config_providers or [])}
    if provider is None and name in declared:
        return None  # declared but unusable: its own error says why
    if provider is None:
        _unknown_name(
            "provider", name, sorted(declared), (*crpath, "Provider"), findings, "Stratus.Providers"
        )
        return None
    if provider.kind != "ssh":
        return provider
    hosts = len(provider.hosts or [])
    for key, count in (("MinCount", cr.min_count), ("MaxCount", cr.max_count)):
        if count is not None and count != hosts:
            findings.add(
                "ERROR",
                "ComputeResourceSizeValidator",
                f"provider '{name}' has {hosts} host(s), one static node each: {key} must be {hosts} "
                f"(or left out), not {count}.",
                (*crpath, key),
                blocking=True,
            )
    for t in cr.instance_type_names:
        if get_instance_type(t) is None:
            _unknown_instance_type(t, _type_path(cr, crpath, t), findings)
    return provider


def _type_path(cr: SlurmComputeResource, crpath: ConfigPath, name: str) -> ConfigPath:
    if cr.instances:
        index = next(i for i, item in enumerate(cr.instances) if item.instance_type == name)
        return (*crpath, "Instances", index, "InstanceType")
    return (*crpath, "InstanceType")


def _compute_resource_types(
    cr: SlurmComputeResource, crpath: ConfigPath, findings: _Findings
) -> list[InstanceType] | None:
    names = cr.instance_type_names
    if not names:
        findings.add(
            "ERROR",
            "InstanceTypeValidator",
            "the instance type of a compute resource given only by CapacityReservationTarget cannot be "
            "resolved on the local provider; set InstanceType or Instances.",
            crpath,
            blocking=True,
        )
        return None
    types: list[InstanceType] = []
    for name in names:
        found = get_instance_type(name)
        if found is None:
            _unknown_instance_type(name, _type_path(cr, crpath, name), findings)
        else:
            types.append(found)
    return types if len(types) == len(names) else None


def _size(queue: SlurmQueue, cr: SlurmComputeResource, crpath: ConfigPath, findings: _Findings) -> None:
    min_count = cr.min_count if cr.min_count is not None else 0
    max_count = cr.max_count if cr.max_count is not None else 10
    path = (*crpath, "MaxCount") if cr.max_count is not None else (*crpath, "MinCount")
    if max_count < min_count:
        findings.add(
            "ERROR",
            "ComputeResourceSizeValidator",
            f"Max count must be greater than or equal to min count (MinCount {min_count}, MaxCount "
            f"{max_count}).",
            path,
            blocking=True,
        )
    if queue.capacity_type == "CAPACITY_BLOCK":
        if max_count != min_count:
            findings.add(
                "ERROR",
                "ComputeResourceSizeValidator",
                "Max count must be set to the same value of min count when using Capacity Block reservation.",
                path,
            )
        if min_count == 0:
            findings.add(
                "ERROR",
                "ComputeResourceSizeValidator",
                "Min count must be a value > 0 when using Capacity Block reservation.",
                path,
            )


def _node_priorities(queue: SlurmQueue, qpath: ConfigPath, findings: _Findings) -> None:
    static: dict[str, int] = {}
    dynamic: dict[str, int] = {}
    for cr in queue.compute_resources:
        min_count = cr.min_count if cr.min_count is not None else 0
        max_count = cr.max_count if cr.max_count is not None else 10
        if min_count > 0:
            static[cr.name] = cr.static_node_priority if cr.static_node_priority is not None else 1
        if max_count > min_count:
            dynamic[cr.name] = cr.dynamic_node_priority if cr.dynamic_node_priority is not None else 1000
    max_static = max(static.values(), default=0)
    min_dynamic = min(dynamic.values(), default=2**32)
    bad_static = {name: value for name, value in static.items() if value >= min_dynamic}
    bad_dynamic = {name: value for name, value in dynamic.items() if value <= max_static}
    if bad_static or bad_dynamic:
        findings.add(
            "WARNING",
            "SlurmNodePrioritiesWarningValidator",
            f"Some compute resources in queue {queue.name} have static nodes with higher or equal priority "
            "than other dynamic nodes in the same queue. The following static node priorities are higher "
            f"than or equal to the minimum dynamic priority ({min_dynamic}): {bad_static}. The following "
            "dynamic node priorities are lower than or equal to the maximum static priority "
            f"({max_static}): {bad_dynamic}.",
            (*qpath, "ComputeResources"),
        )


def _efa(
    queue: SlurmQueue,
    cr: SlurmComputeResource,
    types: list[InstanceType],
    crpath: ConfigPath,
    multi_az: bool,
    findings: _Findings,
) -> None:
    enabled = bool(cr.efa and cr.efa.enabled)
    gdr = bool(cr.efa and cr.efa.gdr_support)
    efa_path = (*crpath, "Efa") if cr.efa is not None else crpath
    if multi_az and enabled:
        findings.add(
            "ERROR",
            "EfaMultiAzValidator",
            f"You have enabled the Elastic Fabric Adapter (EFA) for the '{cr.name}' Compute Resource on the "
            f"'{queue.name}' queue. EFA is not supported across Availability zones. Either disable EFA to "
            "use multiple subnets on the queue or specify only one subnet to enable EFA on the compute "
            "resources.",
            efa_path,
        )
    if cr.instances:
        without = sorted(t.name for t in types if not t.efa)
        with_efa = sorted(t.name for t in types if t.efa)
        if enabled and without:
            findings.add(
                "ERROR",
                "InstancesEFAValidator",
                f"Instance type(s) ({','.join(without)}) do not support EFA and cannot be launched when EFA "
                f"is enabled in Compute Resource: {cr.name}.",
                efa_path,
            )
        elif not enabled and with_efa and not multi_az:
            findings.add(
                "WARNING",
                "InstancesEFAValidator",
                f"The EC2 instance type(s) selected ({','.join(with_efa)}) for the Compute Resource "
                f"{cr.name} support enhanced networking capabilities using Elastic Fabric Adapter (EFA). "
                "EFA enables you to run applications requiring high levels of inter-node communications at "
                "scale on AWS at no additional charge. You can update the cluster's configuration to "
                "enable EFA (https://docs.aws.amazon.com/parallelcluster/latest/ug/efa-v3.html).",
                (*crpath, "Instances"),
            )
    else:
        only = types[0]
        if enabled and not only.efa:
            findings.add(
                "ERROR", "EfaValidator", f"Instance type '{only.name}' does not support EFA.", efa_path
            )
        if only.efa and not enabled and not multi_az:
            findings.add(
                "WARNING",
                "EfaValidator",
                f"The EC2 instance selected ({only.name}) supports enhanced networking capabilities using "
                "Elastic Fabric Adapter (EFA). EFA enables you to run applications requiring high levels "
                "of inter-node communications at scale on AWS at no additional charge. You can update the "
                "cluster's configuration to enable EFA "
                "(https://docs.aws.amazon.com/parallelcluster/latest/ug/efa-v3.html)",
                (*crpath, "InstanceType"),
            )
    if gdr and not enabled:
        findings.add(
            "ERROR", "EfaValidator", "The EFA GDR Support can be used only if EFA is enabled.", efa_path
        )


def _heterogeneous(values: dict[str, int]) -> dict[str, int] | None:
    # pcluster reports the first pair of instance types that differ, in config order.
    previous: tuple[str, int] | None = None
    for name, value in values.items():
        if previous is not None and previous[1] != value:
            return {previous[0]: previous[1], name: value}
        previous = (name, value)
    return None


def _flexible(
    queue: SlurmQueue,
    cr: SlurmComputeResource,
    types: list[InstanceType],
    crpath: ConfigPath,
    memory_scheduling: bool,
    findings: _Findings,
) -> None:
    path = (*crpath, "Instances")
    if cr.disable_simultaneous_multithreading:
        cores = _heterogeneous({t.name: t.cores for t in types})
        if cores:
            findings.add(
                "ERROR",
                "InstancesCPUValidator",
                f"Instance types listed under Compute Resource {cr.name} must have the same number of CPU "
                f"cores when Simultaneous Multithreading is disabled ({cores}).",
                path,
            )
    else:
        vcpus = _heterogeneous({t.name: t.vcpus for t in types})
        if vcpus:
            findings.add(
                "ERROR",
                "InstancesCPUValidator",
                f"Instance types listed under Compute Resource {cr.name} must have the same number of vCPUs "
                f"({vcpus}).",
                path,
            )
    gpus = _heterogeneous({t.name: t.gpus for t in types})
    if gpus:
        findings.add(
            "ERROR",
            "InstancesAcceleratorsValidator",
            f"Instance types listed under Compute Resource {cr.name} must have the same number of GPUs "
            f"({gpus}).",
            path,
        )
    strategy = queue.allocation_strategy
    capacity = queue.capacity_type or "ONDEMAND"
    if capacity == "ONDEMAND" and strategy is not None and strategy != "lowest-price":
        findings.add(
            "ERROR",
            "InstancesAllocationStrategyValidator",
            f"Compute Resource {cr.name} is using an OnDemand CapacityType but the Allocation Strategy "
            f"specified is {strategy}. OnDemand CapacityType can only use 'lowest-price' allocation "
            "strategy.",
            (*crpath[:-2], "AllocationStrategy"),
        )
    if capacity == "CAPACITY_BLOCK" and strategy is not None:
        findings.add(
            "ERROR",
            "InstancesAllocationStrategyValidator",
            f"Compute Resource {cr.name} is using a CAPACITY_BLOCK CapacityType but the Allocation Strategy "
            f"specified is {strategy}. When using CAPACITY_BLOCK CapacityType, allocation strategy should "
            "not be set.",
            (*crpath[:-2], "AllocationStrategy"),
        )
    if memory_scheduling and len(types) > 1:
        low = min(t.memory_mib for t in types)
        high = max(t.memory_mib for t in types)
        if (
            high - low > MIN_MEMORY_ABSOLUTE_DIFFERENCE
            and (high - low) / low > MIN_MEMORY_PERCENTAGE_DIFFERENCE
        ):
            findings.add(
                "WARNING",
                "InstancesMemorySchedulingWarningValidator",
                f'Enabling Memory-based scheduling when a Compute Resource ("{cr.name}") has more than one '
                "instance type specified may lead to unused resources since only the minimum available "
                "memory across all instance-types can be specified in the Slurm node definition.",
                path,
            )


def _schedulable_memory(
    cr: SlurmComputeResource, types: list[InstanceType], crpath: ConfigPath, findings: _Findings
) -> None:
    if cr.schedulable_memory is None:
        return
    smallest = min(types, key=lambda t: t.memory_mib)
    path = (*crpath, "SchedulableMemory")
    value = cr.schedulable_memory
    if value < 1:
        findings.add("ERROR", "SchedulableMemoryValidator", "SchedulableMemory must be at least 1 MiB.", path)
    if value > smallest.memory_mib:
        findings.add(
            "ERROR",
            "SchedulableMemoryValidator",
            f"SchedulableMemory cannot be larger than EC2 Memory for selected instance type {smallest.name} "
            f"({smallest.memory_mib} MiB).",
            path,
        )
    if value < int(0.95 * smallest.memory_mib):
        findings.add(
            "INFO",
            "SchedulableMemoryValidator",
            "SchedulableMemory was set lower than 95% of EC2 Memory for selected instance type "
            f"{smallest.name} ({smallest.memory_mib} MiB).",
            path,
        )


# --------------------------------------------------------------------------------------------
# Shared storage and login nodes


def _shared_storage(config: ClusterConfig, findings: _Findings) -> None:
    storages = config.shared_storage or []
    if not storages:
        return
    paths: list[ConfigPath] = [("SharedStorage", i) for i in range(len(storages))]
    _duplicates(
        [s.name for s in storages], [(*p, "Name") for p in paths], "Shared Storage", findings, blocking=True
    )
    ids = [(s.existing_id(), p) for s, p in zip(storages, paths, strict=True)]
    known = [(i, p) for i, p in ids if i is not None]
    _duplicates([i for i, _ in known], [p for _, p in known], "Shared Storage IDs", findings, blocking=False)
    mount_dirs: dict[str, list[tuple[str, ConfigPath]]] = defaultdict(list)
    counts: dict[str, int] = defaultdict(int)
    for storage, path in zip(storages, paths, strict=True):
        name = storage.name
        if not re.match(TAG_VALUE_REGEX, name):
            findings.add(
                "ERROR",
                "SharedStorageNameValidator",
                f"Error: The shared storage name {name} is not valid. Allowed characters are letters, "
                "numbers and white spaces that can be represented in UTF-8 and the following characters: "
                "'+' '-' '=' '.' '_' ':' '/', and it can't be longer than 256 characters.",
                (*path, "Name"),
            )
        if len(name) > SHARED_STORAGE_NAME_MAX_LENGTH:
            findings.add(
                "ERROR",
                "SharedStorageNameValidator",
                f"Invalid name '{name}'. Name can be at most {SHARED_STORAGE_NAME_MAX_LENGTH} chars long.",
                (*path, "Name"),
            )
        if name == "default":
            findings.add(
                "ERROR",
                "SharedStorageNameValidator",
                f"It is forbidden to use '{name}' as a name.",
                (*path, "Name"),
            )
        mount_dir = storage.mount_dir if storage.mount_dir.startswith("/") else "/" + storage.mount_dir
        if mount_dir in RESERVED_MOUNT_DIRS:
            findings.add(
                "ERROR",
                "SharedStorageMountDirValidator",
                f"Error: The shared storage mount directory {mount_dir} is reserved. Please use another "
                "directory",
                (*path, "MountDir"),
            )
        mount_dirs[mount_dir].append((name, (*path, "MountDir")))
        counts[_storage_kind(storage.storage_type, storage.existing_id(), storage)] += 1
    for mount_dir, users in mount_dirs.items():
        if len(users) > 1:
            findings.add(
                "ERROR",
                "DuplicateMountDirValidator",
                f"The mount directory `{mount_dir}` is used for multiple shared storage: "
                f"{[n for n, _ in users]}. Shared storage mount directories should be unique. Please change "
                "the mount directory configuration of the shared storage.",
                users[1][1],
                blocking=True,
            )
    overlapping: list[str] = []
    for first, second in combinations(mount_dirs, 2):
        if first.startswith(second + "/") or second.startswith(first + "/"):
            overlapping += [first, second]
    if overlapping:
        findings.add(
            "ERROR",
            "OverlappingMountDirValidator",
            f"Mount directories {', '.join(overlapping)} cannot overlap",
            mount_dirs[overlapping[0]][0][1],
        )
    for kind, limit, label in (
        ("new-efs", MAX_NEW_STORAGE_COUNT["efs"], "new EFS"),
        ("existing-efs", MAX_EXISTING_STORAGE_COUNT["efs"], "existing EFS"),
        ("new-fsx", MAX_NEW_STORAGE_COUNT["fsx"], "new FSx"),
        ("existing-fsx", MAX_EXISTING_STORAGE_COUNT["fsx"], "existing FSx"),
        ("new-raid", MAX_NEW_STORAGE_COUNT["raid"], "new RAID"),
        ("ebs", MAX_EBS_COUNT, "EBS"),
    ):
        if counts[kind] > limit:
            findings.add(
                "ERROR",
                "NumberOfStorageValidator",
                f"Too many {label} shared storage specified in the configuration. ParallelCluster supports "
                f"{limit} {label}.",
                ("SharedStorage",),
            )


def _storage_kind(storage_type: str, existing: str | None, storage: SharedStorage) -> str:
    if storage_type == "Ebs":
        settings = storage.ebs_settings
        return "new-raid" if settings is not None and settings.raid is not None else "ebs"
    if storage_type == "Efs":
        return "existing-efs" if existing else "new-efs"
    if storage_type == "FsxLustre":
        return "existing-fsx" if existing else "new-fsx"
    return "existing-fsx"


def _login_nodes(config: ClusterConfig, findings: _Findings) -> None:
    if config.login_nodes is None:
        return
    pools = config.login_nodes.pools
    paths: list[ConfigPath] = [("LoginNodes", "Pools", i) for i in range(len(pools))]
    _duplicates([p.name for p in pools], [(*p, "Name") for p in paths], "Pool", findings, blocking=False)
    for pool, path in zip(pools, paths, strict=True):
        _name(pool.name, (*path, "Name"), findings, blocking=False)
        if get_instance_type(pool.instance_type) is None:
            findings.add(
                "ERROR",
                "InstanceTypeValidator",
                unknown_instance_type_text(pool.instance_type),
                (*path, "InstanceType"),
            )

"""Scheduling settings: the slurm.conf parameters a cluster sets through ``CustomSlurmSettings``.

ParallelCluster passes ``Scheduling.SlurmSettings.CustomSlurmSettings`` (a list of one-key maps)
into slurm.conf and each queue's ``CustomSlurmSettings`` (a map) onto its ``PartitionName`` line.
stratus reads the scheduling parameters among them, with Slurm's names and value formats:

Cluster (``SlurmSettings.CustomSlurmSettings``):
  ``SchedulerType``            ``sched/backfill`` (default: EASY backfilling) or ``sched/builtin``
                               (first come, first served)
  ``SchedulerParameters``      ``bf_max_job_test=N``, ``bf_window=MINUTES``, ``bf_interval=SECONDS``,
                               ``bf_continue`` and ``default_queue_depth=N`` as in Slurm, and two
                               stratus options: ``bf_policy=easy|conservative`` and
                               ``bf_order=priority|shortest`` (try backfill candidates shortest
                               time limit first)
  ``PriorityType``             ``priority/basic`` (default), ``priority/multifactor``, or
                               ``priority/expansion`` (stratus: largest expansion factor first)
  ``PriorityWeightAge``, ``PriorityWeightFairshare``, ``PriorityWeightJobSize``,
  ``PriorityWeightPartition``  integers, 0 to 4294967295
  ``PriorityMaxAge``, ``PriorityDecayHalfLife``
                               Slurm durations (``7-0``, ``1-12:00``, ``10080`` minutes)
  ``PriorityCalcPeriod``       minutes (or a duration)
  ``PriorityFavorSmall``       ``YES`` / ``NO``
  ``OverTimeLimit``            minutes a job may run past its time limit before it is killed
                               (0 to 65533, or ``UNLIMITED``)
  ``MaxJobsPerUser``, ``MaxNodesPerUser``, ``MaxCpusPerUser``
                               per-user caps over the whole cluster (Slurm sets these on a QOS)

Queue (``SlurmQueues[].CustomSlurmSettings``):
  ``MaxTime``, ``DefaultTime`` Slurm durations or ``UNLIMITED``
  ``PriorityJobFactor``        integer, 0 to 65533
  ``PriorityTier``             integer, 0 to 65533: jobs of a higher tier are scheduled first,
                               whatever their priority
  ``MaxJobsPerUser``, ``MaxNodesPerUser``, ``MaxCpusPerUser``
                               per-user caps within the queue

A bad value is a :class:`SettingError` naming the parameter and what it accepts.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from stratus.engine.model import (
    BACKFILL_CONSERVATIVE,
    BACKFILL_EASY,
    BACKFILL_NONE,
    PriorityConfig,
    SchedulingPolicy,
    UserLimits,
)
from stratus.slurm import hostlist
from stratus.slurm.timefmt import TimeSpecError, duration_secs

UINT32_MAX = 4_294_967_295

PRIORITY_TYPES = {
    "priority/basic": "basic",
    "priority/multifactor": "multifactor",
    "priority/expansion": "expansion",
}
SCHEDULER_TYPES = ("sched/backfill", "sched/builtin")
_WEIGHTS = {
    "PriorityWeightAge": "weight_age",
    "PriorityWeightFairshare": "weight_fairshare",
    "PriorityWeightJobSize": "weight_jobsize",
    "PriorityWeightPartition": "weight_partition",
}
_LIMITS = {"MaxJobsPerUser": "max_jobs", "MaxNodesPerUser": "max_nodes", "MaxCpusPerUser": "max_cpus"}

#: Cluster-level parameters honoured (besides MaxArraySize and MinJobAge, read by the layout).
CLUSTER_PARAMETERS: tuple[str, ...] = (
    "SchedulerType",
    "SchedulerParameters",
    "PriorityType",
    *_WEIGHTS,
    "PriorityMaxAge",
    "PriorityDecayHalfLife",
    "PriorityCalcPeriod",
    "PriorityFavorSmall",
    "OverTimeLimit",
    *_LIMITS,
)
#: Queue-level parameters honoured.
QUEUE_PARAMETERS: tuple[str, ...] = ("MaxTime", "DefaultTime", "PriorityJobFactor", "PriorityTier", *_LIMITS)

_BF_OPTIONS = ("bf_max_job_test", "bf_window", "bf_interval", "bf_continue", "default_queue_depth")
_STRATUS_BF_OPTIONS = ("bf_policy", "bf_order")


class SettingError(ValueError):
    """A scheduling parameter with a value stratus cannot use. ``key`` names the parameter."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key


@dataclass(frozen=True)
class SchedulingSettings:
    """The cluster-wide scheduling configuration."""

    scheduler_type: str = "sched/backfill"
    policy: SchedulingPolicy = field(default_factory=lambda: SchedulingPolicy(max_job_test=500))
    priority: PriorityConfig = field(default_factory=PriorityConfig)
    user_limits: UserLimits = field(default_factory=UserLimits)
    over_time_limit_s: float | None = 0.0  # None: UNLIMITED


@dataclass(frozen=True)
class PartitionSettings:
    """A queue's partition parameters."""

    max_time_s: float | None = None
    default_time_s: float | None = None
    priority_job_factor: int = 1
    user_limits: UserLimits = field(default_factory=UserLimits)
    priority_tier: int = 1  # Slurm's default


def _int(key: str, value: Any, low: int, high: int) -> int:
    if isinstance(value, bool):
        raise SettingError(key, f"{key} must be an integer from {low} to {high}, not {value!r}.")
    if isinstance(value, str) and value.isascii() and value.strip().lstrip("-").isdigit():
        value = int(value.strip())
    if not isinstance(value, int) or not low <= value <= high:
        raise SettingError(key, f"{key} must be an integer from {low} to {high}, not {value!r}.")
    return value


def _duration(key: str, value: Any, *, unlimited: bool = False) -> float | None:
    """A Slurm duration in seconds (an integer is minutes, as in slurm.conf); None: unlimited."""
    if isinstance(value, bool):
        raise SettingError(key, f"{key} must be a Slurm duration such as 60, 1-12:00 or 7-0, not {value!r}.")
    if isinstance(value, int):
        if value < 0:
            raise SettingError(key, f"{key} must not be negative, not {value}.")
        return float(value * 60)
    text = str(value).strip()
    try:
        secs = duration_secs(text)
    except TimeSpecError:
        raise SettingError(
            key, f"{key} must be a Slurm duration such as 60, 1-12:00 or 7-0, not {value!r}."
        ) from None
    if secs is None:
        if not unlimited:
            raise SettingError(key, f"{key} cannot be unlimited.")
        return None
    if secs < 0:
        raise SettingError(key, f"{key} must not be negative, not {value!r}.")
    return float(secs)


def _yes_no(key: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().upper()
    if text in ("YES", "TRUE", "1"):
        return True
    if text in ("NO", "FALSE", "0"):
        return False
    raise SettingError(key, f"{key} must be YES or NO, not {value!r}.")


def _limits(settings: Mapping[str, Any], base: UserLimits) -> UserLimits:
    changes: dict[str, int] = {}
    for key, field_name in _LIMITS.items():
        if key in settings:
            changes[field_name] = _int(key, settings[key], 0, UINT32_MAX)
    return replace(base, **changes) if changes else base


def _scheduler_parameters(value: Any, policy: SchedulingPolicy, foreign: bool = False) -> SchedulingPolicy:
    key = "SchedulerParameters"
    text = str(value).strip()
    changes: dict[str, Any] = {}
    for item in (t.strip() for t in text.split(",")):
        if not item:
            continue
        name, eq, arg = item.partition("=")
        name = name.strip()
        if name == "bf_max_job_test":
            changes["max_job_test"] = _int(f"{key} bf_max_job_test", arg.strip() if eq else "", 1, 1_000_000)
        elif name == "bf_window":
            changes["window_s"] = float(_int(f"{key} bf_window", arg.strip() if eq else "", 1, 43_200) * 60)
        elif name == "bf_interval":
            changes["interval_s"] = float(_int(f"{key} bf_interval", arg.strip() if eq else "", 1, 10_800))
        elif name in ("bf_continue", "default_queue_depth"):
            continue  # accepted: a stratus pass is never interrupted, and looks at every job
        elif name == "bf_policy":
            choice = arg.strip()
            if choice not in (BACKFILL_EASY, BACKFILL_CONSERVATIVE):
                raise SettingError(key, f"{key} bf_policy must be easy or conservative, not {choice!r}.")
            changes["backfill"] = choice
        elif name == "bf_order":
            choice = arg.strip()
            if choice not in ("priority", "shortest"):
                raise SettingError(key, f"{key} bf_order must be priority or shortest, not {choice!r}.")
            changes["shortest_first"] = choice == "shortest"
        elif foreign:
            continue  # real Slurm schedules (Stratus.Engine: slurm): slurmctld reads it
        else:
            known = ", ".join((*_BF_OPTIONS, *_STRATUS_BF_OPTIONS))
            raise SettingError(key, f"{key}: stratus does not support {name!r}; it supports {known}.")
    return replace(policy, **changes) if changes else policy


def scheduling_settings(
    custom: Mapping[str, Any], base: SchedulingSettings | None = None, *, foreign_options: bool = False
) -> SchedulingSettings:
    """Apply the cluster-level scheduling parameters in ``custom`` (all keys merged) to ``base``.

    ``foreign_options``: ``SchedulerParameters`` options stratus does not know are left to real
    Slurm (``Stratus.Engine: slurm``) instead of refused."""
    base = base or SchedulingSettings()
    scheduler_type = base.scheduler_type
    policy = base.policy
    if "SchedulerType" in custom:
        scheduler_type = str(custom["SchedulerType"]).strip()
        if scheduler_type not in SCHEDULER_TYPES:
            raise SettingError(
                "SchedulerType",
                f"SchedulerType must be sched/backfill or sched/builtin, not {scheduler_type!r}.",
            )
    if "SchedulerParameters" in custom:
        policy = _scheduler_parameters(custom["SchedulerParameters"], policy, foreign_options)
    if scheduler_type == "sched/builtin":
        policy = replace(policy, backfill=BACKFILL_NONE)
    elif policy.backfill == BACKFILL_NONE:
        policy = replace(policy, backfill=BACKFILL_EASY)
    priority = base.priority
    changes: dict[str, Any] = {}
    if "PriorityType" in custom:
        text = str(custom["PriorityType"]).strip()
        if text not in PRIORITY_TYPES:
            raise SettingError(
                "PriorityType", f"PriorityType must be one of {', '.join(PRIORITY_TYPES)}, not {text!r}."
            )
        changes["kind"] = PRIORITY_TYPES[text]
    for key, field_name in _WEIGHTS.items():
        if key in custom:
            changes[field_name] = _int(key, custom[key], 0, UINT32_MAX)
    if "PriorityMaxAge" in custom:
        changes["max_age_s"] = _duration("PriorityMaxAge", custom["PriorityMaxAge"])
    if "PriorityDecayHalfLife" in custom:
        changes["decay_half_life_s"] = _duration("PriorityDecayHalfLife", custom["PriorityDecayHalfLife"])
    if "PriorityCalcPeriod" in custom:
        changes["calc_period_s"] = _duration("PriorityCalcPeriod", custom["PriorityCalcPeriod"])
    if "PriorityFavorSmall" in custom:
        changes["favor_small"] = _yes_no("PriorityFavorSmall", custom["PriorityFavorSmall"])
    if changes:
        priority = replace(priority, **changes)
    over = base.over_time_limit_s
    if "OverTimeLimit" in custom:
        value = custom["OverTimeLimit"]
        if str(value).strip().upper() == "UNLIMITED":
            over = None
        else:
            over = _int("OverTimeLimit", value, 0, 65_533) * 60.0
    return SchedulingSettings(scheduler_type, policy, priority, _limits(custom, base.user_limits), over)


def partition_settings(custom: Mapping[str, Any]) -> PartitionSettings:
    """A queue's partition parameters from its ``CustomSlurmSettings``."""
    max_time = default_time = None
    if "MaxTime" in custom:
        max_time = _duration("MaxTime", custom["MaxTime"], unlimited=True)
    if "DefaultTime" in custom:
        default_time = _duration("DefaultTime", custom["DefaultTime"], unlimited=True)
    factor = tier = 1
    if "PriorityJobFactor" in custom:
        factor = _int("PriorityJobFactor", custom["PriorityJobFactor"], 0, 65_533)
    if "PriorityTier" in custom:
        tier = _int("PriorityTier", custom["PriorityTier"], 0, 65_533)
    return PartitionSettings(max_time, default_time, factor, _limits(custom, UserLimits()), tier)


def parse_settings_text(text: str) -> dict[str, str]:
    """``Key=Value,Key=Value`` (a command line's scheduling parameters) as a mapping.

    A ``SchedulerParameters`` value keeps its own commas: everything after it up to the next
    capitalised ``Key=`` belongs to it.
    """
    out: dict[str, str] = {}
    current: str | None = None
    for piece in text.split(","):
        name, eq, value = piece.partition("=")
        if eq and name.strip()[:1].isupper():
            current = name.strip()
            out[current] = value.strip()
        elif current == "SchedulerParameters":
            out[current] += "," + piece.strip()
        else:
            raise SettingError(piece.strip(), f"expected Key=Value, not {piece.strip()!r}.")
    return out


# -- partitions and node sets declared in the cluster's CustomSlurmSettings ---------------------
#
# ParallelCluster passes a CustomSlurmSettings entry with several keys (``PartitionName: all`` with
# ``Nodes: ...``) into slurm.conf as its own line: that is how a cluster puts one node group in
# several partitions. Nodes are named as in Slurm: ``ALL``, the node set ParallelCluster defines
# for each queue (``{queue}_nodes``), node sets declared the same way (``NodeSet: name`` with
# ``Nodes: ...``), or host lists of node names (``q-st-c-[1-4]``).

ENTITY_KEYS = ("PartitionName", "NodeSet", "NodeName")
PARTITION_KEYS: tuple[str, ...] = ("PartitionName", "Nodes", "Default", *QUEUE_PARAMETERS)
NODESET_KEYS = ("NodeSet", "Nodes")
_PARTITION_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")


@dataclass(frozen=True)
class CustomPartition:
    """A partition a ``PartitionName`` entry declares, its ``Nodes`` resolved to node names."""

    name: str
    nodes: tuple[str, ...]
    default: bool
    settings: PartitionSettings


def is_entity(item: Mapping[str, Any]) -> bool:
    """Whether a CustomSlurmSettings entry declares a partition, node set or node (a slurm.conf line)."""
    return any(key in item for key in ENTITY_KEYS)


def resolve_nodes(
    key: str, text: Any, nodesets: Mapping[str, tuple[str, ...]], all_nodes: tuple[str, ...]
) -> tuple[str, ...]:
    """The node names a ``Nodes=`` value stands for, in cluster order, each once."""
    if not isinstance(text, str) or not text.strip():
        raise SettingError(key, f"{key} needs Nodes: ALL, a node set such as queue_nodes, or node names.")
    try:
        entries = hostlist.expand(text.strip())
    except hostlist.HostlistError:
        raise SettingError(key, f"{key}: Nodes {text!r} is not a valid host list.") from None
    wanted: set[str] = set()
    known = set(all_nodes)
    for entry in entries:
        entry = entry.strip()
        if entry.upper() == "ALL":
            wanted.update(all_nodes)
        elif entry in nodesets:
            wanted.update(nodesets[entry])
        elif entry in known:
            wanted.add(entry)
        else:
            sets = ", ".join(sorted(nodesets)) or "none"
            raise SettingError(
                key,
                f"{key}: Nodes names {entry!r}, which is neither a node of the cluster nor a node set "
                f"(node sets: {sets}; or ALL).",
            )
    return tuple(n for n in all_nodes if n in wanted)


def custom_entities(
    items: Sequence[Mapping[str, Any]], queue_nodes: Mapping[str, tuple[str, ...]]
) -> tuple[CustomPartition, ...]:
    """The partitions (and node sets) declared in the cluster's CustomSlurmSettings entries.

    ``queue_nodes`` maps each queue to its node names, in configuration order. Raises
    :class:`SettingError` naming the entry's key for anything stratus cannot honour.
    """
    all_nodes = tuple(n for names in queue_nodes.values() for n in names)
    nodesets: dict[str, tuple[str, ...]] = {f"{q}_nodes": names for q, names in queue_nodes.items()}
    partitions: list[CustomPartition] = []
    for item in items:
        if "NodeName" in item:
            raise SettingError(
                "NodeName",
                "NodeName: stratus does not support custom nodes; "
                "declare them as compute resources of a queue.",
            )
        if "NodeSet" in item:
            name = str(item["NodeSet"]).strip()
            extra = [k for k in item if k not in NODESET_KEYS]
            if extra:
                raise SettingError(extra[0], f"NodeSet {name}: {extra[0]} is not a node set parameter.")
            nodesets[name] = resolve_nodes(f"NodeSet {name}", item.get("Nodes"), nodesets, all_nodes)
            continue
        name = str(item["PartitionName"]).strip()
        where = f"PartitionName {name}"
        if not _PARTITION_NAME.match(name):
            raise SettingError("PartitionName", f"PartitionName {name!r} is not a valid partition name.")
        if name in queue_nodes or any(p.name == name for p in partitions):
            raise SettingError(
                "PartitionName", f"PartitionName {name}: a queue or partition has that name already."
            )
        extra = [k for k in item if k not in PARTITION_KEYS]
        if extra:
            raise SettingError(
                extra[0],
                f"{where}: stratus does not support {extra[0]} on a partition; it supports "
                f"{', '.join(PARTITION_KEYS[1:])}.",
            )
        nodes = resolve_nodes(where, item.get("Nodes"), nodesets, all_nodes)
        default = _yes_no(f"{where} Default", item["Default"]) if "Default" in item else False
        settings = partition_settings({k: v for k, v in item.items() if k in QUEUE_PARAMETERS})
        partitions.append(CustomPartition(name, nodes, default, settings))
    return tuple(partitions)

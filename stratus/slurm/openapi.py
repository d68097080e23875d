"""``squeue --json|--yaml`` and ``sinfo --json|--yaml``: Slurm 22.05's OpenAPI v0.0.38 dumps.

In Slurm 22.05 these options load the ``openapi/v0.0.38`` plugin and print the response of
``GET /slurm/v0.0.38/jobs/`` (squeue) or ``/slurm/v0.0.38/nodes/`` (sinfo), ignoring every
other formatting and filtering option. This module builds the same documents from the front
end's rows: the same keys in the same order, Slurm's conventions for unset values (``null``
for "no value", ``""`` for an unset string, ``NO_VAL`` numbers where Slurm prints them), and
the serializers' layouts byte for byte:

* JSON as json-c writes it with ``JSON_C_TO_STRING_SPACED | JSON_C_TO_STRING_PRETTY``: two-space
  indent, ``"key": value``, empty containers as ``[`` newline ``]``, ``/`` escaped as ``\\/``,
  and no newline at the end (squeue prints the buffer with ``printf("%s")``).
* YAML as libyaml emits Slurm's events: ``%YAML 1.1``, ``---``, every node explicitly tagged
  (``!!map``, ``!!str`` ...), ``...`` at the end. PyYAML hands the same events to libyaml
  itself when it was built with it (its wheels are); its pure-Python emitter, the fallback,
  quotes tagged scalars that libyaml leaves plain.

Known differences: jobs carry no per-core bitmap, so ``job_resources.allocated_nodes`` marks
the first CPUs of socket 0 as allocated; ``gres_detail`` is empty.
"""

from __future__ import annotations

import grp
import pwd
from collections.abc import Iterable, Sequence
from json.encoder import encode_basestring
from typing import Any

import yaml

from stratus.slurm import SLURM_VERSION, hostlist, jobstate, nodestate
from stratus.slurm.arrays import format_task_ids
from stratus.slurm.scontrol_records import job_tres, node_alloc_tres, node_cfg_tres
from stratus.slurm.views import JobRow, NodeRow

PLUGIN_TYPE = "openapi/v0.0.38"
PLUGIN_NAME = "Slurm OpenAPI v0.0.38"
SLURMD_PORT = 6818

NO_VAL = 0xFFFFFFFE
NO_VAL64_AS_INT64 = -2  # NO_VAL64 (0xfffffffffffffffe) through data_set_int's int64_t
YEAR_SECONDS = 365 * 24 * 3600  # slurmctld's end time of a running job without a time limit


class _UnsetString:
    """A string field Slurm left NULL: json-c writes ``""``, libyaml writes ``null``."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "UNSET"


UNSET = _UnsetString()


def _s(value: str | None) -> str | _UnsetString:
    return value if value else UNSET


# -- documents -----------------------------------------------------------------------------------


def response(key: str, records: list[dict[str, Any]]) -> dict[str, Any]:
    """``populate_response_format`` plus the payload list: ``meta``, ``errors``, then ``key``."""
    major, minor, micro = (int(x) for x in SLURM_VERSION.split("."))
    return {
        "meta": {
            "plugin": {"type": PLUGIN_TYPE, "name": PLUGIN_NAME},
            "Slurm": {"version": {"major": major, "micro": micro, "minor": minor}, "release": SLURM_VERSION},
        },
        "errors": [],
        key: records,
    }


def _group_name(row: JobRow) -> str | _UnsetString:
    if row.group:
        return row.group
    try:
        return grp.getgrgid(row.gid).gr_name
    except (KeyError, OverflowError):
        return UNSET


def _job_flags(row: JobRow) -> list[str]:
    flags: list[str] = []
    if row.restarts and jobstate.is_pending(row.state):
        flags.append("JOB_WAS_RUNNING")
    if row.min_memory_mb or row.min_memory_cpu_mb:
        flags.append("JOB_MEM_SET")
    return flags


def _end_time(row: JobRow) -> int:
    if row.end_time:
        return int(row.end_time)
    if jobstate.is_running(row.state) and row.start_time:
        limit = YEAR_SECONDS if row.time_limit_min is None else row.time_limit_min * 60
        return int(row.start_time) + limit
    return 0


def _shared(oversubscribe: str) -> str | None:
    return {"NO": "none", "YES": "shared", "USER": "user", "MCS": "mcs"}.get(oversubscribe)


def _job_resources(row: JobRow) -> dict[str, Any]:
    """``job_resources`` of a job holding nodes (select/cons_tres with CR_CPU: allocated_cpus)."""
    names = sorted(row.nodes, key=hostlist.sort_key)
    count = max(len(names), 1)
    per_node_cpus = [row.num_cpus // count + (1 if i < row.num_cpus % count else 0) for i in range(count)]
    # Memory is allocated only where it is a consumable resource (none under CR_CPU).
    mem = row.alloc_memory_mb // count if row.memory_consumable else 0
    allocated: list[dict[str, Any]] = []
    for name, cpus in zip(names, per_node_cpus, strict=False):
        cores = {str(c): "allocated" for c in range(cpus)}
        allocated.append({
            "sockets": {"0": {"cores": cores}} if cores else {},
            "nodename": name,
            "cpus_used": 0,
            "memory_used": 0,
            "memory_allocated": mem,
        })  # fmt: skip
    return {
        "nodes": hostlist.compress(names),
        "allocated_cpus": row.num_cpus,
        "allocated_hosts": len(names),
        "allocated_nodes": allocated,
    }


def job_record(row: JobRow, now: float, cluster: str) -> dict[str, Any]:
    """One ``jobs[]`` entry, as ``dump_job_info`` (openapi/v0.0.38 jobs.c) fills it."""
    started = not jobstate.is_pending(row.state) and bool(row.start_time) and bool(row.nodes)
    is_task = row.array_job_id is not None and row.array_pending is None
    task_string: str | _UnsetString = UNSET
    if row.array_pending is not None:
        task_string = format_task_ids(row.array_pending, None, 0)
    eligible = int(row.eligible_time) if row.eligible_time and row.eligible_time > 0 else 0
    d: dict[str, Any] = {
        "account": _s(row.account),
        "accrue_time": eligible if eligible and eligible <= now else 0,
        "admin_comment": UNSET,
        "array_job_id": row.array_job_id or 0,
        "array_task_id": row.array_task_id if is_task else None,
        "array_max_tasks": row.array_max_running or 0,
        "array_task_string": task_string,
        "association_id": 0,
        "batch_features": UNSET,
        "batch_flag": True,
        "batch_host": _s(row.batch_host or (min(row.nodes, key=hostlist.sort_key) if started else None)),
        "flags": _job_flags(row),
        "burst_buffer": UNSET,
        "burst_buffer_state": UNSET,
        "cluster": cluster,
        "cluster_features": UNSET,
        "command": _s(row.command),
        "comment": _s(row.comment),
        "container": UNSET,
        "contiguous": False,
        "core_spec": None,
        "thread_spec": None,
        "cores_per_socket": None,
        "billable_tres": float(row.num_cpus) if started else None,
        "cpus_per_task": row.cpus_per_task,
        "cpu_frequency_minimum": None,
        "cpu_frequency_maximum": None,
        "cpu_frequency_governor": None,
        "cpus_per_tres": UNSET,
        "deadline": 0,
        "delay_boot": 0,
        "dependency": _s(row.dependency),
        "derived_exit_code": 0,
        "eligible_time": eligible,
        "end_time": _end_time(row),
        "excluded_nodes": UNSET,
        "exit_code": (row.exit_code << 8) | row.exit_signal,
        "features": _s(row.features),
        "federation_origin": UNSET,
        "federation_siblings_active": UNSET,
        "federation_siblings_viable": UNSET,
        "gres_detail": [],
        "group_id": row.gid,
        "group_name": _group_name(row),
        "job_id": row.job_id,
    }
    if started:
        d["job_resources"] = _job_resources(row)
    d.update({
        "job_state": row.state,
        "last_sched_evaluation": _last_sched_eval(row, now),
        "licenses": UNSET,
        "max_cpus": 0,
        "max_nodes": 0,
        "mcs_label": UNSET,
        "memory_per_tres": UNSET,
        "name": row.name,
        "nodes": _s(hostlist.compress(row.nodes) if row.nodes else None),
        "nice": row.nice or None,  # nice 0 is NICE_OFFSET: null
        "tasks_per_core": None,
        "tasks_per_node": 0,
        "tasks_per_socket": None,
        "tasks_per_board": 0,
        "cpus": row.num_cpus,
        "node_count": row.num_nodes,
        "tasks": row.num_tasks,
        "het_job_id": 0,
        "het_job_id_set": UNSET,
        "het_job_offset": 0,
        "partition": row.partition,
        "prefer": UNSET,
        "memory_per_node": row.min_memory_mb or None,
        "memory_per_cpu": row.min_memory_cpu_mb or None,
        "minimum_cpus_per_node": row.cpus_per_task,
        "minimum_tmp_disk_per_node": 0,
        "preempt_time": 0,
        "pre_sus_time": 0,
        "priority": row.priority,
        "profile": None,
        "qos": _s(row.qos),
        "reboot": False,
        "required_nodes": UNSET,
        "requeue": row.requeue,
        "resize_time": 0,
        "restart_cnt": row.restarts,
        "resv_name": _s(row.reservation),
        "shared": _shared(row.oversubscribe),
        "show_flags": ["SHOW_ALL", "SHOW_DETAIL", "SHOW_LOCAL"],
        "sockets_per_board": 0,
        "sockets_per_node": None,
        "start_time": int(row.start_time) if row.start_time and row.start_time > 0 else 0,
        "state_description": _s(row.state_desc),
        "state_reason": row.reason or "None",
        "standard_error": _s(row.stderr),
        "standard_input": _s(row.stdin),
        "standard_output": _s(row.stdout),
        "submit_time": int(row.submit_time),
        "suspend_time": 0,
        "system_comment": UNSET,
        "time_limit": row.time_limit_min,
        "time_minimum": 0,
        "threads_per_core": None,
        "tres_bind": UNSET,
        "tres_freq": UNSET,
        "tres_per_job": UNSET,
        "tres_per_node": _s(_tres_per_node(row)),
        "tres_per_socket": UNSET,
        "tres_per_task": UNSET,
        "tres_req_str": job_tres(row, {}, request=True),
        "tres_alloc_str": job_tres(row, {}) if started else UNSET,
        "user_id": row.uid,
        "user_name": _s(row.user or _user_name(row.uid)),
        "wckey": UNSET,
        "current_working_directory": _s(row.workdir),
    })  # fmt: skip
    return d


def _last_sched_eval(row: JobRow, now: float) -> int:
    for t in (row.start_time if not jobstate.is_pending(row.state) else None, row.eligible_time):
        if t is not None and 0 < t <= now:
            return int(t)
    return int(row.submit_time)


def _tres_per_node(row: JobRow) -> str | None:
    if not row.gpus_per_node:
        return None
    return f"gres:gpu:{row.gpu_type}:{row.gpus_per_node}" if row.gpu_type else f"gres:gpu:{row.gpus_per_node}"


def _user_name(uid: int) -> str | None:
    if uid == 0:
        return "root"
    try:
        return pwd.getpwuid(uid).pw_name
    except (KeyError, OverflowError):
        return None


def jobs_document(rows: Iterable[JobRow], now: float, cluster: str) -> dict[str, Any]:
    """The ``/slurm/v0.0.38/jobs/`` response: every job slurmctld still holds, by job id."""
    records = [job_record(r, now, cluster) for r in sorted(rows, key=lambda r: r.job_id)]
    return response("jobs", records)


def _gres(n: NodeRow) -> str | _UnsetString:
    if not n.gpus:
        return UNSET
    return f"gpu:{n.gpu_type}:{n.gpus}" if n.gpu_type else f"gpu:{n.gpus}"


def _gres_used(n: NodeRow) -> str | _UnsetString:
    if not n.gpus:
        return UNSET
    idx = "N/A" if not n.alloc_gpus else ("0" if n.alloc_gpus == 1 else f"0-{n.alloc_gpus - 1}")
    kind = f"gpu:{n.gpu_type}" if n.gpu_type else "gpu"
    return f"{kind}:{n.alloc_gpus}(IDX:{idx})"


def node_record(n: NodeRow) -> dict[str, Any]:
    """One ``nodes[]`` entry, as ``_dump_node`` (openapi/v0.0.38 nodes.c) fills it."""
    state = nodestate.encode(n)
    base = state & nodestate.BASE_MASK
    registered = n.agent_start_time is not None
    features = ",".join(n.features) if n.features else None
    return {
        "architecture": _s(n.arch),
        "burstbuffer_network_address": UNSET,
        "boards": 1,
        "boot_time": int(n.boot_time) if n.boot_time else 0,
        "comment": UNSET,
        "cores": n.cores_per_socket,
        "cpu_binding": 0,
        "cpu_load": NO_VAL if n.cpu_load is None else round(n.cpu_load * 100),
        "extra": UNSET,
        "free_memory": NO_VAL64_AS_INT64 if n.free_memory_mb is None else n.free_memory_mb,
        "cpus": n.cpus,
        "last_busy": int(n.last_busy_time) if n.last_busy_time else 0,
        "features": _s(features),
        "active_features": _s(features),
        "gres": _gres(n),
        "gres_drained": "N/A",
        "gres_used": _gres_used(n),
        "mcs_label": UNSET,
        "name": n.name,
        # NO_VAL's base bits name no state: Slurm prints "invalid" and no flags.
        "next_state_after_reboot": "invalid",
        "address": n.addr or n.name,
        "hostname": n.hostname or n.name,
        "state": (nodestate.BASE_NAMES[base] if base < len(nodestate.BASE_NAMES) else "INVALID").lower(),
        "state_flags": nodestate.flag_names(state),
        "next_state_after_reboot_flags": [],
        "operating_system": _s(n.os),
        "owner": None,
        "partitions": list(n.partitions),
        "port": SLURMD_PORT,
        "real_memory": n.memory_mb,
        "reason": _s(n.reason),
        "reason_changed_at": int(n.reason_time) if n.reason and n.reason_time else 0,
        "reason_set_by_user": _s((n.reason_user or "root") if n.reason and n.reason_time else None),
        "slurmd_start_time": int(n.agent_start_time) if n.agent_start_time else 0,
        "sockets": n.sockets,
        "threads": n.threads_per_core,
        "temporary_disk": n.tmp_disk_mb,
        "weight": n.weight,
        "tres": node_cfg_tres(n),
        "slurmd_version": SLURM_VERSION if registered else UNSET,
        "alloc_memory": n.alloc_memory_mb,
        "alloc_cpus": n.alloc_cpus,
        "idle_cpus": n.cpus - n.alloc_cpus,
        "tres_used": node_alloc_tres(n) or None,
        "tres_weighted": float(n.alloc_cpus),
    }


def nodes_document(nodes: Iterable[NodeRow]) -> dict[str, Any]:
    """The ``/slurm/v0.0.38/nodes/`` response: every node in slurmctld's (config) order."""
    return response("nodes", [node_record(n) for n in nodes])


# -- serializers ---------------------------------------------------------------------------------


def _json_string(text: str) -> str:
    """json-c's json_escape_str: ``"`` ``\\`` ``/`` and control characters escaped, UTF-8 kept.

    Python's encoder escapes the same characters the same way, except ``/``.
    """
    return encode_basestring(text).replace("/", "\\/")


def _json_double(x: float) -> str:
    """json-c's default double format: ``%.17g``, with ``.0`` added to an integral value."""
    text = format(x, ".17g")
    if not any(c in text for c in ".eE") and text not in ("inf", "-inf", "nan"):
        text += ".0"
    return text


def _json(value: Any, level: int, out: list[str]) -> None:
    if value is None:
        out.append("null")
    elif value is UNSET:
        out.append('""')
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, int):
        out.append(str(value))
    elif isinstance(value, float):
        out.append(_json_double(value))
    elif isinstance(value, str):
        out.append(_json_string(value))
    elif isinstance(value, dict):
        _json_container("{", "}", [(k, v) for k, v in value.items()], level, out)
    elif isinstance(value, (list, tuple)):
        _json_container("[", "]", [(None, v) for v in value], level, out)
    else:
        raise TypeError(f"cannot serialize {type(value).__name__}")


def _json_container(
    open_: str, close: str, items: Sequence[tuple[str | None, Any]], level: int, out: list[str]
) -> None:
    out.append(open_ + "\n")
    for i, (key, val) in enumerate(items):
        if i:
            out.append(",\n")
        out.append("  " * (level + 1))
        if key is not None:
            out.append(_json_string(key) + ": ")
        _json(val, level + 1, out)
    if items:
        out.append("\n")
    out.append("  " * level + close)


def to_json(doc: Any) -> str:
    """``doc`` as Slurm's serializer/json prints it (json-c, spaced and pretty; no final newline)."""
    out: list[str] = []
    _json(doc, 0, out)
    return "".join(out)


_TAG = "tag:yaml.org,2002:"


def _utf8(text: str) -> str:
    """``text`` as libyaml can write it: it takes valid UTF-8 only, so a name of raw bytes that
    are not UTF-8 (held as lone surrogates) shows U+FFFD for each of them instead of failing."""
    if text.isascii():
        return text
    return "".join("\ufffd" if 0xD800 <= ord(c) <= 0xDFFF else c for c in text)


def _yaml_events(value: Any) -> Iterable[yaml.Event]:
    def scalar(tag: str, text: str) -> yaml.Event:
        return yaml.ScalarEvent(None, _TAG + tag, (False, False), _utf8(text))

    if value is None or value is UNSET:
        yield scalar("null", "null")
    elif value is True or value is False:
        yield scalar("bool", "true" if value else "false")
    elif isinstance(value, int):
        yield scalar("int", str(value))
    elif isinstance(value, float):
        yield scalar("float", f"{value:f}")
    elif isinstance(value, str):
        yield scalar("str", value)
    elif isinstance(value, dict):
        yield yaml.MappingStartEvent(None, _TAG + "map", False)
        for k, v in value.items():
            yield scalar("str", k)
            yield from _yaml_events(v)
        yield yaml.MappingEndEvent()
    elif isinstance(value, (list, tuple)):
        yield yaml.SequenceStartEvent(None, _TAG + "seq", False)
        for v in value:
            yield from _yaml_events(v)
        yield yaml.SequenceEndEvent()
    else:
        raise TypeError(f"cannot serialize {type(value).__name__}")


def to_yaml(doc: Any) -> str:
    """``doc`` as Slurm's serializer/yaml emits it through libyaml: YAML 1.1, every node tagged."""
    events: list[yaml.Event] = [
        yaml.StreamStartEvent(),
        yaml.DocumentStartEvent(explicit=True, version=(1, 1)),
        *_yaml_events(doc),
        yaml.DocumentEndEvent(explicit=True),
        yaml.StreamEndEvent(),
    ]
    dumper = getattr(yaml, "CDumper", yaml.Dumper)
    text = yaml.emit(events, Dumper=dumper)
    assert isinstance(text, str)
    return text


def serialize(doc: Any, mimetype: str) -> str:
    """``doc`` as ``json`` or ``yaml``."""
    return to_yaml(doc) if mimetype == "yaml" else to_json(doc)


__all__ = [
    "UNSET",
    "job_record",
    "jobs_document",
    "node_record",
    "nodes_document",
    "serialize",
    "to_json",
    "to_yaml",
]

"""The cluster's ``slurm.conf``: what a job's ``SLURM_CONF`` points at.

A Slurm job finds the cluster's configuration file through ``SLURM_CONF``. stratus is configured
by its cluster file, not by a slurm.conf, so the head node writes one when it starts that says
what the cluster is, in slurm.conf's syntax: the parameters ``scontrol show config`` shows, one
``NodeName`` line per group of identical nodes and one ``PartitionName`` line per partition.

Guarantees: the file describes the running head node's configuration (it is rewritten at every
start), is readable by every user (mode 0644, like ``/etc/slurm/slurm.conf``), and is replaced
atomically, so a job never reads half of it. Editing it changes nothing.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path

from stratus.slurm import hostlist
from stratus.slurm.views import NodeRow, PartitionRow

FILE_NAME = "slurm.conf"

# show config values carry units slurm.conf does not take ("300 sec" is MinJobAge=300).
_SECONDS_SUFFIX = " sec"


def _conf_value(value: str) -> str:
    return value.removesuffix(_SECONDS_SUFFIX)


def _node_key(n: NodeRow) -> tuple[object, ...]:
    return (n.cpus, n.memory_mb, n.gpus, n.gpu_type, n.features, n.weight)


def _node_lines(nodes: Iterable[NodeRow]) -> list[str]:
    """``NodeName`` lines: nodes with the same resources share one line (a hostlist)."""
    groups: dict[tuple[object, ...], list[NodeRow]] = {}
    for n in nodes:
        groups.setdefault(_node_key(n), []).append(n)
    lines: list[str] = []
    for members in groups.values():
        n = members[0]
        line = f"NodeName={hostlist.compress([m.name for m in members])} CPUs={n.cpus}"
        if n.memory_mb:
            line += f" RealMemory={n.memory_mb}"
        if n.gpus:
            line += f" Gres=gpu:{n.gpu_type}:{n.gpus}" if n.gpu_type else f" Gres=gpu:{n.gpus}"
        if n.features:
            line += f" Feature={','.join(n.features)}"
        if n.weight != 1:
            line += f" Weight={n.weight}"
        # Every node is powered up and down on demand or replaced when it fails, as
        # ParallelCluster declares its nodes.
        lines.append(line + " State=CLOUD")
    return lines


def _minutes(value: int | None) -> str:
    return "UNLIMITED" if value is None else str(value)


def _partition_line(p: PartitionRow) -> str:
    line = f"PartitionName={p.name} Nodes={hostlist.compress(p.nodes) or '(null)'}"
    if p.default:
        line += " Default=YES"
    line += f" MaxTime={_minutes(p.max_time_min)}"
    if p.default_time_min is not None:
        line += f" DefaultTime={p.default_time_min}"
    line += f" PriorityJobFactor={p.priority_job_factor} PriorityTier={p.priority_tier}"
    return line + f" State={p.state}"


def slurm_conf_text(
    cluster_name: str,
    host: str,
    parameters: Mapping[str, str],
    nodes: Iterable[NodeRow],
    partitions: Iterable[PartitionRow],
) -> str:
    """The slurm.conf of a cluster: ``parameters`` as ``show config`` prints them, then nodes
    and partitions."""
    lines = [
        f"# slurm.conf of cluster {cluster_name}, written by its head node when it started.",
        "# The cluster is configured by its cluster file: editing this file changes nothing.",
        f"ClusterName={cluster_name}",
        f"SlurmctldHost={host}",
        "SelectType=select/cons_tres",
    ]
    lines.extend(f"{key}={_conf_value(value)}" for key, value in parameters.items())
    lines.extend(_node_lines(nodes))
    lines.extend(_partition_line(p) for p in partitions)
    return "\n".join(lines) + "\n"


def write_slurm_conf(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` atomically, readable by everyone (raises ``OSError``)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):  # the write's own error is the one to report
            os.unlink(tmp)
        raise

"""Where a Slurm-engine cluster keeps its files and sockets (pure path rules, no daemons)."""

from __future__ import annotations

import os
from pathlib import Path

from stratus.paths import ClusterPaths
from stratus.slurmengine.head import SHORT_SPOOL_PATH, SlurmFiles


def test_slurmstepd_socket_path_too_long_spool_moves_to_the_runtime_directory(tmp_path: Path) -> None:
    # slurmstepd makes <spool>/<node>/<node>_<job>.<step> sockets: a cluster directory under a
    # long path put them over 108 bytes and every job launch failed ("launch failed requeued").
    long_root = tmp_path / ("x" * 40) / "clusters" / "bench-slurm"
    files = SlurmFiles(ClusterPaths(long_root))
    spool = files.spool()
    assert spool == files.runtime / "spool"
    node = "queue1-dy-c5xlarge-10"
    socket = f"{spool}/{node}/{node}_4294967294.4294967291"
    assert len(os.fsencode(socket)) <= 107


def test_short_cluster_directory_keeps_its_spool(tmp_path: Path) -> None:
    root = Path("/tmp/c/clusters/a")
    files = SlurmFiles(ClusterPaths(root))
    assert len(str(root / "slurm" / "spool")) <= SHORT_SPOOL_PATH
    assert files.spool() == root / "slurm" / "spool"


def test_runtime_directory_is_the_clusters_own(tmp_path: Path) -> None:
    one = SlurmFiles(ClusterPaths(tmp_path / "clusters" / "one")).runtime
    two = SlurmFiles(ClusterPaths(tmp_path / "clusters" / "two")).runtime
    assert one != two and one.name.startswith("stratus-")
    assert len(str(one)) <= 30

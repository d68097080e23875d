"""Where a cluster lives on disk.

``STRATUS_HOME`` (default ``~/.stratus``) holds one directory per cluster::

    clusters/<name>/
        cluster.yaml      the configuration as given to create-cluster
        state.db          the state store (SQLite, WAL); written only by the controller
        token             the API token (mode 0600): the owner's credential over TCP
        api.sock          the head node's unix socket: callers on this machine, known by uid
        endpoint          "<host> <api port> <agent port>" of the running controller
        controller.lock   held (flock) by the running controller; guarantees one per cluster
        bin/              sbatch, squeue, ... for `stratus ssh` sessions and jobs
        logs/             controller.log and one log per node agent
        spool/<node>/     job scripts while they run

Imported by the node agent and the thin Slurm clients, so it imports nothing heavy.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


def stratus_home() -> Path:
    """The root of all stratus state on this machine."""
    env = os.environ.get("STRATUS_HOME")
    return Path(env).expanduser() if env else Path.home() / ".stratus"


def clusters_root() -> Path:
    return stratus_home() / "clusters"


@dataclass(frozen=True)
class ClusterPaths:
    """The files of one cluster."""

    root: Path

    @classmethod
    def of(cls, name: str) -> ClusterPaths:
        return cls(clusters_root() / name)

    @property
    def name(self) -> str:
        return self.root.name

    @property
    def config(self) -> Path:
        return self.root / "cluster.yaml"

    @property
    def db(self) -> Path:
        return self.root / "state.db"

    @property
    def token(self) -> Path:
        return self.root / "token"

    @property
    def socket(self) -> Path:
        """The head node's unix socket, where the kernel tells it who each caller is."""
        return self.root / "api.sock"

    @property
    def endpoint(self) -> Path:
        return self.root / "endpoint"

    @property
    def lock(self) -> Path:
        return self.root / "controller.lock"

    @property
    def bin(self) -> Path:
        return self.root / "bin"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def controller_log(self) -> Path:
        return self.logs / "controller.log"

    def node_log(self, node: str) -> Path:
        return self.logs / f"{node}.log"

    def spool(self, node: str) -> Path:
        return self.root / "spool" / node


def read_endpoint(paths: ClusterPaths) -> tuple[str, int, int]:
    """The running controller's (host, api port, agent port); ``OSError``/``ValueError`` if none."""
    host, api, agent = paths.endpoint.read_text().split()
    return host, int(api), int(agent)


def read_token(paths: ClusterPaths) -> str:
    return paths.token.read_text().strip()

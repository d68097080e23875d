"""ParallelCluster's JSON shapes, built from a cluster's stored record.

Used by the controller's API and by the CLI, which reads the store directly (so
``describe-cluster`` works even while the head node is down): one source for both.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from stratus import __version__
from stratus.net import HEAD_ADDRESS


def iso(ts: float | None) -> str | None:
    """pcluster's timestamp format: ``2022-07-12T17:24:26.000Z`` (UTC, milliseconds)."""
    if ts is None:
        return None
    d = dt.datetime.fromtimestamp(ts, tz=dt.UTC)
    return d.strftime("%Y-%m-%dT%H:%M:%S.") + f"{d.microsecond // 1000:03d}Z"


def cluster_summary(cluster: dict[str, Any]) -> dict[str, Any]:
    """``ClusterInfoSummary``: what create/delete/list-clusters print for a cluster."""
    status = cluster.get("clusterStatus", "CREATE_IN_PROGRESS")
    return {
        "clusterName": cluster["clusterName"],
        "cloudformationStackStatus": status,
        "region": cluster.get("region") or "local",
        "version": cluster.get("version", __version__),
        "clusterStatus": status,
        "scheduler": {"type": "slurm"},
    }


def describe_cluster(cluster: dict[str, Any], *, head_running: bool, config_path: str) -> dict[str, Any]:
    """``DescribeClusterResponse``, keys in the order pcluster prints them (absent ones omitted)."""
    status = cluster.get("clusterStatus", "CREATE_IN_PROGRESS")
    head = cluster.get("headNode", {})
    out: dict[str, Any] = {"creationTime": iso(cluster.get("creationTime"))}
    if head and status not in ("DELETE_IN_PROGRESS", "DELETE_COMPLETE"):
        out["headNode"] = {
            "launchTime": iso(head.get("launchTime")),
            "instanceId": head.get("instanceId"),
            "instanceType": head.get("instanceType"),
            "state": "running" if head_running else "stopped",
            "privateIpAddress": HEAD_ADDRESS,
        }
    out.update(
        {
            "version": cluster.get("version", __version__),
            "clusterConfiguration": {"url": "file://" + config_path},
            "tags": [{"value": v, "key": k} for k, v in cluster.get("tags", [])],
            "cloudFormationStackStatus": status,
            "clusterName": cluster["clusterName"],
            "computeFleetStatus": cluster.get("computeFleetStatus", "UNKNOWN"),
            "lastUpdatedTime": iso(cluster.get("lastUpdatedTime") or cluster.get("creationTime")),
            "region": cluster.get("region") or "local",
            "clusterStatus": status,
            "scheduler": {"type": "slurm"},
        }
    )
    if cluster.get("failures"):
        out["failures"] = cluster["failures"]
    return out


def fleet_status(cluster: dict[str, Any]) -> dict[str, Any]:
    """``DescribeComputeFleetResponse``."""
    return {
        "status": cluster.get("computeFleetStatus", "UNKNOWN"),
        "lastStatusUpdatedTime": iso(cluster.get("computeFleetStatusTime") or cluster.get("creationTime")),
    }


def cluster_instance(
    *,
    instance_id: str,
    instance_type: str,
    launch_time: float | None,
    state: str,
    node_type: str,
    queue: str | None = None,
    private_ip: str = HEAD_ADDRESS,
) -> dict[str, Any]:
    """``ClusterInstance``, keys in pcluster's order (``private_ip``: the machine's address)."""
    out: dict[str, Any] = {"launchTime": iso(launch_time), "instanceId": instance_id}
    if queue is not None:
        out["queueName"] = queue
    out.update(
        {
            "instanceType": instance_type,
            "state": state,
            "nodeType": node_type,
            "privateIpAddress": private_ip,
        }
    )
    return out

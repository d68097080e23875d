"""The ParallelCluster front door's HTTP routes: pcluster's ``/v3/clusters/{name}`` operations.

What ``stratus describe-cluster``, ``delete-cluster``, ``describe-compute-fleet``,
``update-compute-fleet`` and ``describe-cluster-instances`` ask a running head node, answered in
ParallelCluster's JSON shapes (:mod:`stratus.pcluster.shapes`). Only the cluster's
administrators reach these routes (the API refuses everyone else); the caller is who the API
authenticated.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel

from stratus.api.callers import identity
from stratus.engine.states import NodeState
from stratus.pcluster import shapes
from stratus.service.interface import Service

# What a user may ask for with update-compute-fleet, and the statuses each one already covers.
_FLEET_REQUESTS = {
    "START_REQUESTED": ("START_REQUESTED", "STARTING", "RUNNING"),
    "STOP_REQUESTED": ("STOP_REQUESTED", "STOPPING", "STOPPED"),
}

# The EC2 instance state each node state shows in describe-cluster-instances.
_INSTANCE_STATES = {
    NodeState.UP: "running",
    NodeState.POWERING_UP: "pending",
    NodeState.POWERING_DOWN: "shutting-down",
}


class FleetRequest(BaseModel):
    status: str


def pcluster_router(service: Service) -> APIRouter:
    """The routes of the ParallelCluster front door, served by ``service``."""
    router = APIRouter(prefix="/v3/clusters")

    def check_name(name: str) -> None:
        if name != service.cluster_name:
            raise HTTPException(
                404,
                detail=(
                    f"Cluster '{name}' does not exist or belongs to an incompatible "
                    "ParallelCluster major version."
                ),
            )

    @router.get("/{name}")
    async def describe_cluster(name: str) -> dict[str, Any]:
        check_name(name)
        return shapes.describe_cluster(service.cluster, head_running=True, config_path=service.config_path)

    @router.delete("/{name}", status_code=202)
    async def delete_cluster(name: str, request: Request) -> dict[str, Any]:
        check_name(name)
        service.delete_cluster(identity(request))
        summary = shapes.cluster_summary({**service.cluster, "clusterStatus": "DELETE_IN_PROGRESS"})
        return {"cluster": summary}

    @router.get("/{name}/computefleet")
    async def describe_fleet(name: str) -> dict[str, Any]:
        check_name(name)
        return shapes.fleet_status(service.cluster)

    @router.patch("/{name}/computefleet")
    async def update_fleet(name: str, request: Request) -> dict[str, Any]:
        check_name(name)
        try:
            body = FleetRequest.model_validate_json(await request.body())
        except (ValueError, RecursionError) as exc:  # pydantic's ValidationError is a ValueError
            raise HTTPException(400, detail='Bad Request: the body must be {"status": STATUS}') from exc
        if body.status not in _FLEET_REQUESTS:
            raise HTTPException(
                400, detail=f"Bad Request: status must be one of {', '.join(_FLEET_REQUESTS)}"
            )
        cluster = service.cluster
        if cluster.get("clusterStatus") not in ("CREATE_COMPLETE", "UPDATE_COMPLETE"):
            raise HTTPException(
                400,
                detail=(
                    "Bad Request: cannot update the compute fleet while the cluster is "
                    f"{cluster.get('clusterStatus')}"
                ),
            )
        if cluster.get("computeFleetStatus") not in _FLEET_REQUESTS[body.status]:
            service.request_fleet(body.status == "START_REQUESTED", identity(request))
        return shapes.fleet_status(service.cluster)

    @router.get("/{name}/instances")
    async def instances(
        name: str, nodeType: str | None = None, queueName: str | None = None
    ) -> dict[str, Any]:
        check_name(name)
        out: list[dict[str, Any]] = []
        head = service.cluster.get("headNode", {})
        if nodeType in (None, "HeadNode") and queueName is None:
            out.append(
                shapes.cluster_instance(
                    instance_id=head.get("instanceId", ""),
                    instance_type=head.get("instanceType", ""),
                    launch_time=head.get("launchTime"),
                    state="running",
                    node_type="HeadNode",
                )
            )
        if nodeType in (None, "ComputeNode"):
            records = sorted(
                (r for r in service.nodes() if r.instance is not None), key=lambda r: r.node.name
            )
            for record in records:
                inst = record.instance
                assert inst is not None
                queue = record.node.defn.partitions[0]
                if queueName is not None and queue != queueName:
                    continue
                out.append(
                    shapes.cluster_instance(
                        instance_id=inst.instance_id,
                        instance_type=inst.instance_type,
                        launch_time=inst.launch_time,
                        state=_INSTANCE_STATES.get(record.node.state, "running"),
                        node_type="ComputeNode",
                        queue=queue,
                        private_ip=record.address,
                    )
                )
        return {"instances": out}

    return router

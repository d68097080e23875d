"""The ParallelCluster front door's HTTP routes: pcluster's ``/v3/clusters/{name}`` operations.

What ``stratus describe-cluster``, ``update-cluster``, ``delete-cluster``, ``describe-compute-fleet``,
``update-compute-fleet`` and ``describe-cluster-instances`` ask a running head node, answered in
ParallelCluster's JSON shapes (:mod:`stratus.pcluster.shapes`). Only the cluster's
administrators reach these routes (the API refuses everyone else); the caller is who the API
authenticated.
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ValidationError

from stratus.api.callers import identity
from stratus.config import BadYamlError, ConfigValidationError, load_cluster_config
from stratus.config.update import config_changes, update_errors
from stratus.engine.states import NodeState
from stratus.errors import UserError
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


class UpdateRequest(BaseModel):
    """pcluster's UpdateCluster request (its options travel in the body here)."""

    clusterConfiguration: str
    dryrun: bool = False
    forceUpdate: bool = False
    suppressValidators: list[str] = []
    validationFailureLevel: str = "ERROR"


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

    @router.put("/{name}", status_code=202, response_model=None)
    async def update_cluster(name: str, request: Request) -> dict[str, Any] | JSONResponse:
        """update-cluster: check the new configuration's changes against the cluster as it is
        now, then apply them (the head node restarts onto it; jobs keep running)."""
        check_name(name)
        try:
            body = UpdateRequest.model_validate_json(await request.body())
        except (ValidationError, ValueError, RecursionError) as exc:
            raise HTTPException(400, detail="Bad Request: the body must hold clusterConfiguration") from exc
        status = str(service.cluster.get("clusterStatus", ""))
        if status.endswith("_IN_PROGRESS") or status.startswith("DELETE"):
            raise HTTPException(409, detail=f"Cannot execute update while stack is in {status} status.")
        try:
            # Off the loop: new hosts of Stratus.Providers are probed over SSH meanwhile.
            loaded = await asyncio.to_thread(
                load_cluster_config,
                body.clusterConfiguration,
                suppress_validators=body.suppressValidators,
                failure_level=body.validationFailureLevel,
                cluster_name=name,
                hosts=service.host_facts,
            )
        except (ConfigValidationError, BadYamlError) as exc:
            return JSONResponse(exc.to_json(), status_code=400)
        except UserError as exc:  # a host that cannot run a node, a bad suppression expression
            raise HTTPException(400, detail=f"Bad Request: {exc}") from exc
        changes = config_changes(service.configuration, loaded.raw)
        if not changes:
            raise HTTPException(400, detail="Bad Request: No changes found in your cluster configuration.")
        change_set = [c.to_json() for c in changes]
        errors, forceable = update_errors(changes, service.check_update(loaded.layout))
        if errors and not (body.forceUpdate and forceable):
            answer = {"message": "Update failure", "updateValidationErrors": errors, "changeSet": change_set}
            return JSONResponse(answer, status_code=400)
        messages = loaded.messages_json()
        if body.dryrun:
            dry: dict[str, Any] = {"message": "Request would have succeeded, but DryRun flag is set."}
            dry["changeSet"] = change_set
            if messages:
                dry["validationMessages"] = messages
            return JSONResponse(dry, status_code=412)
        service.apply_update(body.clusterConfiguration, identity(request))
        out: dict[str, Any] = {"cluster": shapes.cluster_summary(service.cluster), "changeSet": change_set}
        if messages:
            out["validationMessages"] = messages
        return out

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

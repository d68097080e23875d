"""ParallelCluster's REST API (``/v3/clusters``) over the CLI's operations, for every cluster.

The routes, parameters and bodies of pcluster's OpenAPI document (CreateCluster,
ListClusters, DescribeCluster, UpdateCluster, DeleteCluster, DescribeComputeFleet,
UpdateComputeFleet, DescribeClusterInstances, ListClusterLogStreams, GetClusterLogEvents); each
calls the one implementation the CLI calls (:mod:`stratus.cli.clusters`,
:mod:`stratus.cli.cluster_logs`), so answers and messages are the CLI's. Errors are pcluster's:
a JSON object with ``message`` (and ``configurationValidationErrors``,
``updateValidationErrors``, ``changeSet``, ``validationMessages`` where pcluster has them) and
its status: 400 bad request, 401 no credential, 403 not allowed, 404 unknown cluster, 409
conflict (exists, in progress), 412 dry run, 500 failure on stratus's side.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from stratus.cli import cluster_logs
from stratus.cli import clusters as ops
from stratus.errors import BackendError, ConflictError, NotFoundError, StratusError, UserError

#: The most characters a configuration may have in a request (the CLI's file limit is similar).
MAX_CONFIG_CHARS = 1_000_000
_DRYRUN = "Request would have succeeded, but DryRun flag is set."
_STATUSES = ["START_REQUESTED", "STOP_REQUESTED", "ENABLED", "DISABLED"]


class CreateClusterRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    clusterName: Annotated[str, Field(min_length=1, max_length=60)]
    clusterConfiguration: Annotated[str, Field(min_length=1, max_length=MAX_CONFIG_CHARS)]


class UpdateClusterRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    clusterConfiguration: Annotated[str, Field(min_length=1, max_length=MAX_CONFIG_CHARS)]


class UpdateComputeFleetRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: str


def error_answer(exc: BaseException) -> JSONResponse:
    """pcluster's error answer for what an operation raised."""
    if isinstance(exc, ops.CliError):
        body = dict(exc.body)
        message = str(body.get("message", ""))
        if message.startswith(_DRYRUN):
            return JSONResponse(body, status_code=412)
        if message.startswith("Forbidden"):
            return JSONResponse(body, status_code=403)
        if message.startswith("Cannot execute"):
            return JSONResponse(body, status_code=409)
        return JSONResponse(body, status_code=400)
    if isinstance(exc, NotFoundError):
        return JSONResponse({"message": str(exc)}, status_code=404)
    if isinstance(exc, ConflictError):
        return JSONResponse({"message": str(exc)}, status_code=409)
    if isinstance(exc, UserError):
        return JSONResponse({"message": str(exc)}, status_code=400)
    if isinstance(exc, PermissionError):
        return JSONResponse({"message": f"Forbidden: {exc.strerror}: {exc.filename}"}, status_code=403)
    if isinstance(exc, BackendError | StratusError):
        return JSONResponse({"message": str(exc)}, status_code=500)
    raise exc


def _bool(value: str | None, name: str) -> bool:
    # pcluster's boolean query parameters: true/false in any of its spellings.
    if value is None:
        return False
    if value in ("true", "True", "TRUE"):
        return True
    if value in ("false", "False", "FALSE"):
        return False
    raise ops.CliError(f"Bad Request: Wrong type, expected 'boolean' for query parameter '{name}'")


def pcluster_api(gate: Any) -> APIRouter:
    """The ``/v3/clusters`` routes, each behind ``gate`` (a FastAPI dependency)."""
    router = APIRouter(prefix="/v3/clusters", dependencies=[Depends(gate)], tags=["clusters"])

    @router.get("", summary="ListClusters")
    def list_clusters(
        clusterStatus: Annotated[list[str] | None, Query()] = None,
        region: str | None = None,
        nextToken: str | None = None,
    ) -> Any:
        try:
            return ops.list_clusters(clusterStatus)
        except Exception as exc:  # each operation's errors become pcluster's answers
            return error_answer(exc)

    @router.post("", status_code=202, summary="CreateCluster")
    def create_cluster(
        body: Annotated[CreateClusterRequest, Body()],
        dryrun: str | None = None,
        suppressValidators: Annotated[list[str] | None, Query()] = None,
        validationFailureLevel: str = "ERROR",
        rollbackOnFailure: str | None = None,
        region: str | None = None,
    ) -> Any:
        try:
            if validationFailureLevel not in ("INFO", "WARNING", "ERROR"):
                raise ops.CliError(
                    f"Bad Request: '{validationFailureLevel}' is not one of ['INFO', 'WARNING', 'ERROR'] "
                    "- 'validationFailureLevel'"
                )
            _bool(rollbackOnFailure, "rollbackOnFailure")
            answer, _code = ops.create_cluster_from_text(
                body.clusterName,
                body.clusterConfiguration,
                dryrun=_bool(dryrun, "dryrun"),
                suppress_validators=suppressValidators or [],
                failure_level=validationFailureLevel,
            )
            return JSONResponse(answer, status_code=202)
        except Exception as exc:
            return error_answer(exc)

    @router.get("/{clusterName}", summary="DescribeCluster")
    def describe_cluster(clusterName: str, region: str | None = None) -> Any:
        try:
            return ops.describe_cluster(clusterName)
        except Exception as exc:
            return error_answer(exc)

    @router.put("/{clusterName}", status_code=202, summary="UpdateCluster")
    def update_cluster(
        clusterName: str,
        body: Annotated[UpdateClusterRequest, Body()],
        dryrun: str | None = None,
        forceUpdate: str | None = None,
        suppressValidators: Annotated[list[str] | None, Query()] = None,
        validationFailureLevel: str = "ERROR",
        region: str | None = None,
    ) -> Any:
        try:
            answer = ops.update_cluster_from_text(
                clusterName,
                body.clusterConfiguration,
                dryrun=_bool(dryrun, "dryrun"),
                force=_bool(forceUpdate, "forceUpdate"),
                suppress_validators=suppressValidators or [],
                failure_level=validationFailureLevel,
            )
            return JSONResponse(answer, status_code=202)
        except Exception as exc:
            return error_answer(exc)

    @router.delete("/{clusterName}", status_code=202, summary="DeleteCluster")
    def delete_cluster(clusterName: str, region: str | None = None) -> Any:
        try:
            return JSONResponse(ops.delete_cluster(clusterName), status_code=202)
        except Exception as exc:
            return error_answer(exc)

    @router.get("/{clusterName}/computefleet", summary="DescribeComputeFleet")
    def describe_fleet(clusterName: str, region: str | None = None) -> Any:
        try:
            return ops.describe_compute_fleet(clusterName)
        except Exception as exc:
            return error_answer(exc)

    @router.patch("/{clusterName}/computefleet", summary="UpdateComputeFleet")
    def update_fleet(
        clusterName: str, body: Annotated[UpdateComputeFleetRequest, Body()], region: str | None = None
    ) -> Any:
        try:
            if body.status not in _STATUSES:
                raise ops.CliError(f"Bad Request: '{body.status}' is not one of {_STATUSES} - 'status'")
            if body.status in ("ENABLED", "DISABLED"):
                raise ops.CliError(
                    "Bad Request: the update compute fleet status can only be set to `START_REQUESTED` or "
                    "`STOP_REQUESTED` for Slurm scheduler clusters."
                )
            return ops.update_compute_fleet(clusterName, body.status)
        except Exception as exc:
            return error_answer(exc)

    @router.get("/{clusterName}/instances", summary="DescribeClusterInstances")
    def describe_instances(
        clusterName: str,
        nodeType: str | None = None,
        queueName: str | None = None,
        nextToken: str | None = None,
        region: str | None = None,
    ) -> Any:
        try:
            if nodeType is not None and nodeType not in ("HeadNode", "ComputeNode"):
                raise ops.CliError(
                    f"Bad Request: '{nodeType}' is not one of ['HeadNode', 'ComputeNode'] - 'nodeType'"
                )
            return ops.describe_cluster_instances(clusterName, nodeType, queueName)
        except Exception as exc:
            return error_answer(exc)

    @router.get("/{clusterName}/logstreams", summary="ListClusterLogStreams")
    def list_log_streams(
        clusterName: str,
        filters: Annotated[list[str] | None, Query()] = None,
        nextToken: str | None = None,
        region: str | None = None,
    ) -> Any:
        try:
            return cluster_logs.list_cluster_log_streams(clusterName, filters or None, nextToken)
        except Exception as exc:
            return error_answer(exc)

    @router.get("/{clusterName}/logstreams/{logStreamName}", summary="GetClusterLogEvents")
    def get_log_events(
        clusterName: str,
        logStreamName: str,
        nextToken: str | None = None,
        startFromHead: str | None = None,
        limit: str | None = None,
        startTime: str | None = None,
        endTime: str | None = None,
        region: str | None = None,
    ) -> Any:
        try:
            count: int | None = None
            if limit is not None:
                try:
                    count = int(limit)
                except ValueError:
                    raise ops.CliError(
                        "Bad Request: Wrong type, expected 'number' for query parameter 'limit'"
                    ) from None
            return cluster_logs.get_cluster_log_events(
                clusterName,
                logStreamName,
                start_time=startTime,
                end_time=endTime,
                start_from_head=None if startFromHead is None else _bool(startFromHead, "startFromHead"),
                limit=count,
                next_token=nextToken,
            )
        except Exception as exc:
            return error_answer(exc)

    return router

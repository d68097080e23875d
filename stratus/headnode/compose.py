"""Assemble a head node: the controller, the cluster service, the front doors and the API.

The only module that imports every layer. Everything below it is wired here and nowhere else:
the controller learns how each front door launches its jobs (by the door a payload names), the
front doors get the service, and the API mounts their routes.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, FastAPI

from stratus.api.app import Timing, create_app
from stratus.api.callers import PeerCredProtocol
from stratus.batch.api import create_batch_app
from stratus.batch.door import DOOR as BATCH_DOOR
from stratus.batch.door import BatchDoor
from stratus.batch.keys import AccessKeys
from stratus.batch.launch import BatchLauncher
from stratus.batch.launch import log_path as batch_log_path
from stratus.batch.routes import batch_router
from stratus.console.routes import console_router
from stratus.controller.core import Controller
from stratus.engine.model import Job
from stratus.metrics.app import create_metrics_app, metrics_token
from stratus.metrics.collector import ClusterCollector
from stratus.metrics.requests import RequestTimes
from stratus.pcluster.routes import pcluster_router
from stratus.service.service import ClusterService
from stratus.slurm.server.backend import SlurmDoor
from stratus.slurm.server.launch import output_files
from stratus.slurm.server.routes import slurm_router
from stratus.slurm.server.submit import DOOR as SLURM_DOOR
from stratus.slurmengine.head import SlurmEngine
from stratus.slurmengine.routes import slurmengine_router


@dataclass(frozen=True, slots=True)
class HeadNode:
    """A restored controller with its service, front doors and API app, ready to serve."""

    controller: Controller
    service: ClusterService
    slurm: SlurmDoor
    app: FastAPI
    batch: BatchDoor
    # The Batch endpoint's app (served on a port of its own when Stratus.BatchApi is set).
    batch_app: Any
    # The Prometheus endpoint's app (Stratus.Metrics; None when the cluster serves none).
    metrics_app: Any = None
    # The API server's HTTP protocol: it tells the API who each unix-socket caller is.
    http_protocol: type[asyncio.Protocol] = PeerCredProtocol


def _console(service: ClusterService, batch: BatchDoor) -> APIRouter:
    """The web console's routes, told where each door's jobs write their output."""

    def slurm_output(job: Job, info: dict[str, Any]) -> str:
        return output_files(job, info, job.alloc.nodes[0] if job.alloc is not None else "")[0]

    def batch_output(job: Job, info: dict[str, Any]) -> str:
        return batch_log_path(batch, job, info)

    return console_router(
        service, history=service.history, outputs={SLURM_DOOR: slurm_output, BATCH_DOOR: batch_output}
    )


def assemble(ctrl: Controller, slurm_engine: SlurmEngine | None = None) -> HeadNode:
    """Wire the front doors to a controller whose state is restored (call before serving).

    ``slurm_engine``: real Slurm schedules the cluster's jobs; its power programs' route is
    mounted."""
    service = ClusterService(ctrl)
    slurm = SlurmDoor(service)
    ctrl.register_launcher(SLURM_DOOR, slurm.launcher)
    # Slurm's routes first: /slurm/v1/steps must win over the /slurm/v1/{command} route.
    batch = BatchDoor(service, ctrl.paths.root)
    ctrl.register_launcher(BATCH_DOOR, BatchLauncher(batch))
    keys = AccessKeys(service)
    routers = [
        slurm_router(slurm),
        pcluster_router(service),
        batch_router(batch, keys),
        _console(service, batch),
    ]
    if slurm_engine is not None:
        routers.append(slurmengine_router(slurm_engine))
    # How long each API takes to answer, for the metrics (kept whether or not they are served).
    times = RequestTimes()
    app = create_app(ctrl.token, routers, observe=times.observe)
    batch_app = Timing(
        create_batch_app(batch, keys.secret_for, keys.identity_for), times.observe, name="batch-endpoint"
    )
    metrics_app = None
    if ctrl.layout.metrics_address:
        token = None if ctrl.layout.metrics_open else metrics_token(ctrl.paths.root / "metrics")
        metrics_app = create_metrics_app(ClusterCollector(service, requests=times), token)
    return HeadNode(ctrl, service, slurm, app, batch, batch_app, metrics_app=metrics_app)

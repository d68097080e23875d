"""Assemble a head node: the controller, the cluster service, the front doors and the API.

The only module that imports every layer. Everything below it is wired here and nowhere else:
the controller learns how each front door launches its jobs (by the door a payload names), the
front doors get the service, and the API mounts their routes.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI

from stratus.api.app import create_app
from stratus.api.callers import PeerCredProtocol
from stratus.batch.api import create_batch_app
from stratus.batch.door import DOOR as BATCH_DOOR
from stratus.batch.door import BatchDoor
from stratus.batch.keys import AccessKeys
from stratus.batch.launch import BatchLauncher
from stratus.batch.routes import batch_router
from stratus.controller.core import Controller
from stratus.pcluster.routes import pcluster_router
from stratus.service.service import ClusterService
from stratus.slurm.server.backend import SlurmDoor
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
    # The API server's HTTP protocol: it tells the API who each unix-socket caller is.
    http_protocol: type[asyncio.Protocol] = PeerCredProtocol


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
    routers = [slurm_router(slurm), pcluster_router(service), batch_router(batch, keys)]
    if slurm_engine is not None:
        routers.append(slurmengine_router(slurm_engine))
    app = create_app(ctrl.token, routers)
    batch_app = create_batch_app(batch, keys.secret_for, keys.identity_for)
    return HeadNode(ctrl, service, slurm, app, batch, batch_app)

"""The Batch door's route on the head node's own API: ``POST /batch/v1/credentials``.

Any user of the head node reaches it over the cluster's unix socket (the kernel names them): it
answers their access key for the Batch endpoint (issued on first use) and where the endpoint is:
``{"AccessKeyId", "SecretAccessKey", "Region", "EndpointUrl"}``. 404 when the cluster serves no
Batch endpoint (no ``Stratus.BatchApi``).
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request

from stratus.api.callers import identity
from stratus.batch.door import BatchDoor
from stratus.batch.keys import AccessKeys


def batch_router(door: BatchDoor, keys: AccessKeys) -> APIRouter:
    router = APIRouter()

    @router.post("/batch/v1/credentials")
    async def credentials(request: Request) -> dict[str, str]:
        if not door.endpoint_url:
            raise HTTPException(404, "this cluster serves no Batch endpoint (Stratus.BatchApi is not set)")
        key_id, secret = keys.issue(identity(request))
        return {
            "AccessKeyId": key_id,
            "SecretAccessKey": secret,
            "Region": door.region,
            "EndpointUrl": door.endpoint_url,
        }

    return router

"""The head node's route for Slurm's power programs: ``POST /slurmengine/v1/power``.

Body ``{"action": "resume" | "suspend", "nodes": "<hostlist>"}``. Only the cluster's
administrators reach it (slurmctld runs the programs as SlurmUser, the head node's own user).
Answers ``{"nodes": [...]}``: the nodes acted on.
"""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, Field

from stratus.slurm import hostlist
from stratus.slurmengine.head import SlurmEngine

#: The most node names one request may expand to.
MAX_NODES = 100_000


class PowerRequest(BaseModel):
    action: Literal["resume", "suspend"]
    nodes: str = Field(min_length=1, max_length=1_000_000)


def slurmengine_router(engine: SlurmEngine) -> APIRouter:
    router = APIRouter()

    @router.post("/slurmengine/v1/power")
    async def power(body: PowerRequest) -> dict[str, list[str]]:
        try:
            names = hostlist.expand(body.nodes)
        except ValueError as exc:
            raise HTTPException(400, f"nodes: {exc}") from None
        if len(names) > MAX_NODES:
            raise HTTPException(400, f"nodes: more than {MAX_NODES} names")
        return {"nodes": engine.power(body.action, names)}

    return router

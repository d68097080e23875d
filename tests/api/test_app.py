"""The head node's HTTP API: the token check in front of every route, the front doors' routers
mounted behind it, and malformed bodies refused with 400 before anything changes.

Real HTTP against a real in-process head node.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx

from stratus.slurm.views import BatchRequest, ClientContext
from tests.controller.inprocess import RecordingProvider, head_node


def _body(**extra: Any) -> dict[str, Any]:
    return {"uid": 1000, "gid": 1000, "cwd": "/tmp", "env": {}, "argv": ["hostname"], **extra}


async def _scenario(tmp_path: Path) -> None:
    async with head_node(tmp_path, RecordingProvider()) as head:
        ctrl = head.controller
        base = f"http://127.0.0.1:{ctrl.api_port}"
        auth = {"Authorization": f"Bearer {ctrl.token}"}
        async with httpx.AsyncClient(base_url=base, timeout=10.0) as http:
            # Every route is behind the token, the routers' own and unknown ones alike.
            for method, url in (("GET", "/v3/clusters/c"), ("POST", "/slurm/v1/squeue"), ("GET", "/nope")):
                for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": ctrl.token}):
                    r = await http.request(method, url, headers=headers)
                    assert r.status_code == 401, (method, url, headers)
                    assert r.json() == {"message": "Unauthorized: a valid token is required"}

            # Both front doors are mounted; errors have pcluster's shape.
            r = await http.get("/v3/clusters/c", headers=auth)
            assert r.status_code == 200 and r.json()["clusterName"] == "c"
            r = await http.get("/v3/clusters/other", headers=auth)
            assert r.status_code == 404 and "does not exist" in r.json()["message"]
            r = await http.post("/slurm/v1/sinfo", headers=auth, json=_body(argv=["-h", "-o", "%P"]))
            assert r.status_code == 200 and r.headers["X-Exit-Code"] == "0" and r.text == "q*\n"

            # A running job whose step requests are malformed: 400, and no step is recorded.
            ctx = ClientContext(user="u", uid=1000, gid=1000, cwd=str(tmp_path), env={}, host="h")
            job = head.slurm.submit(BatchRequest(script="#!/bin/sh\nsleep 60\n"), ctx)
            good = _body(job_id=job, io_host="127.0.0.1", io_port=4242, io_token="t")
            for bad in (
                {**good, "job_id": "abc"},
                {**good, "job_id": None},
                {**good, "io_port": None},
                {**good, "io_port": 70000},
                {**good, "ntasks": 1e999},
                {**good, "ntasks": -1},
                {**good, "argv": []},
                {**good, "uid": "root"},
                {k: v for k, v in good.items() if k != "io_token"},
            ):
                r = await http.post("/slurm/v1/steps", headers=auth, content=json.dumps(bad).encode())
                assert r.status_code == 400, bad
                assert r.json()["message"].startswith("Bad Request: ")
            with ctrl.store.reading() as conn:
                assert ctrl.store.last_step_id(conn, job, 0) == -1  # no step was ever recorded
            r = await http.post("/slurm/v1/sbatch", headers=auth, content=b"{not json")
            assert r.status_code == 400


def test_api_checks_the_token_mounts_front_doors_and_refuses_bad_bodies(tmp_path: Path) -> None:
    asyncio.run(_scenario(tmp_path))

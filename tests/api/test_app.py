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
from fastapi import APIRouter, Request

from stratus.api.app import create_app
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
            # Found by the fuzzing campaign: a body nested too deeply for the JSON parser was a 500.
            for odd in (b'{"status": ' + b"[" * 50_000 + b"]" * 50_000 + b"}", b"\xff", b"[]"):
                r = await http.patch("/v3/clusters/c/computefleet", headers=auth, content=odd)
                assert r.status_code == 400 and r.json()["message"].startswith("Bad Request"), r.text
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
                {**good, "env": "HOME=/"},
                {k: v for k, v in good.items() if k != "io_token"},
            ):
                r = await http.post("/slurm/v1/steps", headers=auth, content=json.dumps(bad).encode())
                assert r.status_code == 400, bad
                assert r.json()["message"].startswith("Bad Request: ")
            with ctrl.store.reading() as conn:
                assert ctrl.store.last_step_id(conn, job, 0) == -1  # no step was ever recorded
            r = await http.post("/slurm/v1/sbatch", headers=auth, content=b"{not json")
            assert r.status_code == 400

            # Ids past what Slurm (and the store) can hold name no job: no internal error.
            r = await http.get("/slurm/v1/wait/18446744073709551616", headers=auth)
            assert r.status_code == 200 and r.headers["X-Done"] == "1"
            big = _body(argv=["--dependency=afterok:9223372036854775808", "--wrap", "true"])
            r = await http.post("/slurm/v1/sbatch", headers=auth, json=big)
            assert r.headers["X-Exit-Code"] != "0" and b"Job dependency problem" in r.content
            for bad_body in (
                json.dumps(_body(umask=1e999)).encode(),  # was a 500 (OverflowError)
                b'{"argv": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",  # was a 500 (RecursionError)
            ):
                r = await http.post("/slurm/v1/squeue", headers=auth, content=bad_body)
                assert r.status_code == 400, r.content
            # Found by the fuzzing campaign: a command of raw bytes could not be answered (500).
            alloc = _body(argv=["--hold", "\x1b\udcff"])
            r = await http.post("/slurm/v1/allocations", headers=auth, content=json.dumps(alloc).encode())
            assert r.status_code == 200 and json.loads(r.content)["command"] == ["\x1b\udcff"]
            sacct = _body(argv=["-j", "99999999999999999999", "-n", "-X"])
            r = await http.post("/slurm/v1/sacct", headers=auth, json=sacct)
            assert r.status_code == 200 and b"internal error" not in r.content, r.content


def test_api_checks_the_token_mounts_front_doors_and_refuses_bad_bodies(tmp_path: Path) -> None:
    asyncio.run(_scenario(tmp_path))


def test_bodies_past_the_limit_get_413_before_any_route_runs() -> None:
    seen: list[int] = []
    router = APIRouter()

    @router.post("/echo")
    async def echo(request: Request) -> dict[str, int]:
        seen.append(len(await request.body()))
        return {"size": seen[-1]}

    app = create_app("tok", [router], max_body_bytes=1000)
    auth = {"Authorization": "Bearer tok"}

    async def chunks(n: int) -> Any:
        for _ in range(n):
            yield b"x" * 300

    async def scenario() -> None:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://head") as http:
            r = await http.post("/echo", headers=auth, content=b"x" * 1000)
            assert (r.status_code, r.json()) == (200, {"size": 1000})
            r = await http.post("/echo", headers=auth, content=b"x" * 1001)  # announced length
            assert r.status_code == 413 and "at most 1000 bytes" in r.json()["message"]
            r = await http.post("/echo", headers=auth, content=chunks(4))  # streamed, no length
            assert r.status_code == 413
            r = await http.post("/echo", headers=auth, content=chunks(3))
            assert (r.status_code, r.json()) == (200, {"size": 900})
            r = await http.post("/echo", content=b"x" * 5000)  # the token is checked first
            assert r.status_code == 401
        assert seen == [1000, 900]

    asyncio.run(scenario())

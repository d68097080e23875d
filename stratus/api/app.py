"""The controller's HTTP API (FastAPI): pcluster-shaped cluster routes and the Slurm command route.

Listens on loopback only. Every route requires ``Authorization: Bearer <token>`` with the token
from the cluster's 0600 ``token`` file; anything else gets 401 before any work is done.

``POST /slurm/v1/{command}`` is what the thin ``sbatch``/``squeue``/... clients call: the client
sends argv, working directory, environment and identity; the controller parses and answers with
the command's stdout and stderr in the body (``X-Stdout-Length`` splits them) and its exit code in
``X-Exit-Code``. ``X-Need: stdin`` asks the client to send again with its standard input.
"""

from __future__ import annotations

import functools
import grp
import json
import logging
import pwd
import secrets
import urllib.parse
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel

from stratus import __version__
from stratus.api import shapes
from stratus.controller.lifecycle import FLEET_REQUESTS, FleetStatus
from stratus.engine.states import NodeState
from stratus.slurm.commands import run_command
from stratus.slurm.errors import SlurmError
from stratus.slurm.views import ClientContext, CommandResult

log = logging.getLogger("stratus.api")

if TYPE_CHECKING:
    from stratus.controller.core import Controller


class FleetRequest(BaseModel):
    status: str


@functools.lru_cache(maxsize=256)
def user_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


@functools.lru_cache(maxsize=256)
def group_name(gid: int) -> str:
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)


def client_context(body: Any, **extra: Any) -> ClientContext:
    """The caller a Slurm request body declares (``uid``, ``gid``, ``cwd``, ``env``, ...).

    Raises ValueError, KeyError, TypeError or AttributeError on a malformed body; the routes
    turn those into a 400. ``extra`` sets the fields only some routes carry (stdin, files).
    """
    uid, gid = int(body["uid"]), int(body["gid"])
    return ClientContext(
        user=user_name(uid),
        uid=uid,
        gid=gid,
        cwd=str(body["cwd"]),
        env={str(k): str(v) for k, v in body["env"].items()},
        host=str(body.get("host") or "localhost"),
        group=group_name(gid),
        umask=int(body.get("umask", 0o022)) & 0o777,
        **extra,
    )


_BAD_BODY = (ValueError, KeyError, TypeError, AttributeError)


class TokenAuth:
    """ASGI middleware: every HTTP request must carry ``Authorization: Bearer <token>``.

    A plain ASGI class, not Starlette's ``BaseHTTPMiddleware``, which costs about a millisecond
    per request on the path of every Slurm command.
    """

    def __init__(self, app: Any, token: str) -> None:
        self.app = app
        self.expected = f"Bearer {token}".encode()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            given = b""
            for key, value in scope["headers"]:
                if key == b"authorization":
                    given = value
                    break
            if not secrets.compare_digest(given, self.expected):
                response = JSONResponse(
                    {"message": "Unauthorized: a valid token is required"}, status_code=401
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def create_app(ctrl: Controller) -> FastAPI:
    app = FastAPI(title="stratus head node", version=__version__, docs_url=None, redoc_url=None)
    app.add_middleware(TokenAuth, token=ctrl.token)

    def check_name(name: str) -> None:
        if name != ctrl.name:
            raise HTTPException(
                404,
                detail=(
                    f"Cluster '{name}' does not exist or belongs to an incompatible "
                    "ParallelCluster major version."
                ),
            )

    @app.exception_handler(HTTPException)
    async def http_error(_request: Request, exc: HTTPException) -> JSONResponse:
        return JSONResponse({"message": exc.detail}, status_code=exc.status_code)

    @app.post("/slurm/v1/steps")
    async def create_step(request: Request) -> JSONResponse:
        """srun: start a job step on a running job's allocation (body: srun's request).

        Registered before the command route, which would otherwise take "steps" for a command.
        """
        try:
            body = json.loads(await request.body())
            ctx = client_context(body)
        except _BAD_BODY as exc:
            return JSONResponse({"message": f"Bad Request: {exc}"}, status_code=400)
        try:
            return JSONResponse(ctrl.slurm.create_step(body, ctx))
        except SlurmError as exc:
            return JSONResponse({"message": "\n".join(exc.lines)}, status_code=409)

    @app.post("/slurm/v1/allocations")
    async def allocate(request: Request) -> JSONResponse:
        """salloc / srun outside a job: queue an allocation. Body: {prog, argv, cwd, env, uid, gid}."""
        try:
            body = json.loads(await request.body())
            ctx = client_context(body)
            argv = [str(a) for a in body["argv"]]
        except _BAD_BODY as exc:
            return JSONResponse({"message": f"Bad Request: {exc}"}, status_code=400)
        try:
            job_id, command = ctrl.slurm.allocate(str(body.get("prog", "salloc")), argv, ctx)
        except SlurmError as exc:
            return JSONResponse(
                {"message": "\n".join(exc.lines), "exit_code": exc.exit_code}, status_code=409
            )
        return JSONResponse({"job_id": job_id, "command": command})

    @app.post("/slurm/v1/{command}")
    async def slurm_command(command: str, request: Request) -> Response:
        """Run a Slurm command. Body: ``{argv, cwd, env, uid, gid, host[, stdin]}`` (JSON).

        Parsed by hand rather than through a model: this route is on every ``sbatch``'s path.
        """
        try:
            body = json.loads(await request.body())
            argv = [str(a) for a in body["argv"]]
            raw_stdin = body.get("stdin")
            files = {
                str(k): (v.encode("utf-8", "surrogateescape") if isinstance(v, str) else None)
                for k, v in (body.get("files") or {}).items()
            }
            ctx = client_context(
                body,
                stdin=(raw_stdin.encode("utf-8", "surrogateescape") if isinstance(raw_stdin, str) else None),
                files=files,
            )
        except _BAD_BODY as exc:
            return JSONResponse({"message": f"Bad Request: {exc}"}, status_code=400)
        try:
            result = run_command(command, argv, ctx, ctrl.slurm)
        except Exception:
            # A bug must not look like a network failure to the user: say so, log the details.
            log.exception("%s %s failed", command, argv)
            result = CommandResult(
                stderr=f"{command}: error: internal error in the head node (see logs/controller.log)\n",
                exit_code=1,
            )
        out = result.stdout.encode("utf-8", "surrogateescape")
        err = result.stderr.encode("utf-8", "surrogateescape")
        headers = {"X-Exit-Code": str(result.exit_code), "X-Stdout-Length": str(len(out))}
        if result.wait_job is not None:
            headers["X-Wait-Job"] = str(result.wait_job)
        if result.need_stdin:
            headers["X-Need"] = "stdin"
        elif result.need_file is not None:
            headers["X-Need"] = "file:" + urllib.parse.quote(result.need_file)
        return Response(content=out + err, media_type="application/octet-stream", headers=headers)

    @app.get("/slurm/v1/allocations/{job_id}")
    async def allocation(job_id: int) -> JSONResponse:
        return JSONResponse(ctrl.slurm.allocation_status(job_id))

    @app.post("/slurm/v1/allocations/{job_id}/done")
    async def allocation_done(job_id: int, request: Request) -> JSONResponse:
        try:
            code = int(json.loads(await request.body() or b"{}").get("exit_code", 0))
        except _BAD_BODY as exc:
            return JSONResponse({"message": f"Bad Request: {exc}"}, status_code=400)
        ctrl.slurm.allocation_done(job_id, code)
        return JSONResponse({})

    @app.get("/slurm/v1/wait/{job_id}")
    async def wait_job(job_id: int) -> Response:
        """For ``sbatch --wait``: ``X-Done: 1`` and the job's exit code once it has ended."""
        code = ctrl.slurm.wait_status(job_id)
        headers = {
            "X-Done": "0" if code is None else "1",
            "X-Exit-Code": str(code or 0),
            "X-Stdout-Length": "0",
        }
        return Response(content=b"", headers=headers)

    @app.get("/v3/clusters/{name}")
    async def describe_cluster(name: str) -> dict[str, Any]:
        check_name(name)
        return shapes.describe_cluster(ctrl.cluster, head_running=True, config_path=str(ctrl.paths.config))

    @app.delete("/v3/clusters/{name}", status_code=202)
    async def delete_cluster(name: str) -> dict[str, Any]:
        check_name(name)
        ctrl.begin_delete()
        summary = shapes.cluster_summary({**ctrl.cluster, "clusterStatus": "DELETE_IN_PROGRESS"})
        return {"cluster": summary}

    @app.get("/v3/clusters/{name}/computefleet")
    async def describe_fleet(name: str) -> dict[str, Any]:
        check_name(name)
        return shapes.fleet_status(ctrl.cluster)

    @app.patch("/v3/clusters/{name}/computefleet")
    async def update_fleet(name: str, body: FleetRequest) -> dict[str, Any]:
        check_name(name)
        allowed = [s.value for s in FLEET_REQUESTS]
        if body.status not in allowed:
            raise HTTPException(400, detail=f"Bad Request: status must be one of {', '.join(allowed)}")
        current = ctrl.cluster.get("computeFleetStatus")
        if ctrl.cluster.get("clusterStatus") not in ("CREATE_COMPLETE", "UPDATE_COMPLETE"):
            raise HTTPException(
                400,
                detail=(
                    "Bad Request: cannot update the compute fleet while the cluster is "
                    f"{ctrl.cluster.get('clusterStatus')}"
                ),
            )
        wanted = FleetStatus(body.status)
        if not (
            (wanted == FleetStatus.STOP_REQUESTED and current in ("STOP_REQUESTED", "STOPPING", "STOPPED"))
            or (
                wanted == FleetStatus.START_REQUESTED
                and current in ("START_REQUESTED", "STARTING", "RUNNING")
            )
        ):
            ctrl.request_fleet(wanted)
        return shapes.fleet_status(ctrl.cluster)

    @app.get("/v3/clusters/{name}/instances")
    async def instances(
        name: str, nodeType: str | None = None, queueName: str | None = None
    ) -> dict[str, Any]:
        check_name(name)
        out: list[dict[str, Any]] = []
        head = ctrl.cluster.get("headNode", {})
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
            for node_name, inst in sorted(ctrl.instances.items()):
                node = ctrl.engine.nodes[node_name]
                queue = node.defn.partitions[0]
                if queueName is not None and queue != queueName:
                    continue
                state = {
                    NodeState.UP: "running",
                    NodeState.POWERING_UP: "pending",
                    NodeState.POWERING_DOWN: "shutting-down",
                }.get(node.state, "running")
                out.append(
                    shapes.cluster_instance(
                        instance_id=inst.instance_id,
                        instance_type=inst.instance_type,
                        launch_time=inst.launch_time,
                        state=state,
                        node_type="ComputeNode",
                        queue=queue,
                    )
                )
        return {"instances": out}

    return app

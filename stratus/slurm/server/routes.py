"""The Slurm front door's HTTP routes, under ``/slurm/v1``.

``POST /slurm/v1/{command}`` is what the thin ``sbatch``/``squeue``/... clients call: the client
sends argv, working directory and environment; who it is comes from the API's authentication
(the kernel, on the head node's unix socket), never from the body. The head node parses and answers with
the command's stdout and stderr in the body (``X-Stdout-Length`` splits them) and its exit code
in ``X-Exit-Code``. ``X-Need: stdin`` asks the client to send again with its standard input.
``/steps`` and ``/allocations`` serve srun and salloc; ``/wait`` serves ``sbatch --wait``.

Every body is checked before anything changes: a malformed one gets 400 with a message.
"""

from __future__ import annotations

import json
import logging
import urllib.parse
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from stratus.api.callers import identity
from stratus.service.model import Identity
from stratus.slurm.commands import run_command
from stratus.slurm.errors import SlurmError
from stratus.slurm.server import interactive
from stratus.slurm.server.backend import SlurmDoor
from stratus.slurm.views import ClientContext, CommandResult

log = logging.getLogger("stratus.slurm")

# What a malformed body raises while it is read: a 400 with the message, never a 500.
# (OverflowError: a number like 1e999 where an integer belongs; RecursionError: JSON nested too
# deeply for the parser.)
_BAD_BODY = (ValueError, KeyError, TypeError, AttributeError, OverflowError, RecursionError)


def client_context(body: Any, caller: Identity, **extra: Any) -> ClientContext:
    """The context of a Slurm request: ``caller`` as authenticated, where and how it runs from
    the body (``cwd``, ``env``, ``host``, ``umask``; a ``uid`` or ``gid`` there is ignored).

    Raises ValueError, KeyError, TypeError or AttributeError on a malformed body; the routes
    turn those into a 400. ``extra`` sets the fields only some routes carry (stdin, files).
    """
    return ClientContext(
        user=caller.user,
        uid=caller.uid,
        gid=caller.gid,
        cwd=str(body["cwd"]),
        env={str(k): str(v) for k, v in body["env"].items()},
        host=str(body.get("host") or "localhost"),
        group=caller.group,
        umask=int(body.get("umask", 0o022)) & 0o777,
        admin=caller.is_admin,
        **extra,
    )


class _JSON(JSONResponse):
    """JSON with every non-ASCII character escaped: text of raw bytes (lone surrogates, as the
    clients send them) then travels as ``\\udcff`` and comes back as the same bytes, where
    Starlette's UTF-8 rendering would fail on it."""

    def render(self, content: Any) -> bytes:
        return json.dumps(content, separators=(",", ":")).encode()


def _bad_request(exc: Exception) -> JSONResponse:
    return _JSON({"message": f"Bad Request: {exc}"}, status_code=400)


def slurm_router(door: SlurmDoor) -> APIRouter:
    """The routes of the Slurm front door, served by ``door``."""
    router = APIRouter(prefix="/slurm/v1")

    @router.post("/steps")
    async def create_step(request: Request) -> JSONResponse:
        """srun: start a job step on a running job's allocation (body: srun's request).

        Registered before the command route, which would otherwise take "steps" for a command.
        """
        try:
            body = json.loads(await request.body())
            ctx = client_context(body, identity(request))
            step = interactive.StepRequest.from_body(body, ctx)
        except _BAD_BODY as exc:
            return _bad_request(exc)
        try:
            return _JSON(interactive.create_step(door, step, ctx))
        except SlurmError as exc:
            return _JSON({"message": "\n".join(exc.lines)}, status_code=409)

    @router.post("/allocations")
    async def allocate(request: Request) -> JSONResponse:
        """salloc / srun outside a job: queue an allocation. Body: {prog, argv, cwd, env}."""
        try:
            body = json.loads(await request.body())
            ctx = client_context(body, identity(request))
            argv = [str(a) for a in body["argv"]]
        except _BAD_BODY as exc:
            return _bad_request(exc)
        try:
            job_id, command = interactive.allocate(door, str(body.get("prog", "salloc")), argv, ctx)
        except SlurmError as exc:
            return _JSON({"message": "\n".join(exc.lines), "exit_code": exc.exit_code}, status_code=409)
        return _JSON({"job_id": job_id, "command": command})

    @router.post("/{command}")
    async def slurm_command(command: str, request: Request) -> Response:
        """Run a Slurm command. Body: ``{argv, cwd, env, host, umask[, stdin, files]}`` (JSON).

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
                identity(request),
                stdin=(raw_stdin.encode("utf-8", "surrogateescape") if isinstance(raw_stdin, str) else None),
                files=files,
            )
        except _BAD_BODY as exc:
            return _bad_request(exc)
        try:
            result = run_command(command, argv, ctx, door)
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

    @router.get("/allocations/{job_id}")
    async def allocation(job_id: int) -> JSONResponse:
        return _JSON(interactive.allocation_status(door, job_id))

    @router.post("/allocations/{job_id}/done")
    async def allocation_done(job_id: int, request: Request) -> JSONResponse:
        try:
            body = json.loads(await request.body() or b"{}")
            code = int(body.get("exit_code", 0))
        except _BAD_BODY as exc:
            return _bad_request(exc)
        door.service.release_allocation(job_id, code, identity(request))
        return _JSON({})

    @router.get("/wait/{job_id}")
    async def wait_job(job_id: int) -> Response:
        """For ``sbatch --wait``: ``X-Done: 1`` and the job's exit code once it has ended."""
        code = door.wait_status(job_id)
        headers = {
            "X-Done": "0" if code is None else "1",
            "X-Exit-Code": str(code or 0),
            "X-Stdout-Length": "0",
        }
        return Response(content=b"", headers=headers)

    return router

"""The web console of ``stratus serve``: pages for the clusters of a STRATUS_HOME, their queues,
nodes and jobs, and the JSON routes those pages read.

Pages (plain HTML, CSS and small JavaScript modules shipped in :mod:`stratus.web` under
``static/``, no build step, nothing loaded from another site):

* ``/``: the clusters, with their status and compute fleet; create one from a pasted
  configuration (validation messages shown at their lines), start or stop its fleet, delete it;
* ``/clusters/{name}``: its queues and nodes, its jobs (filtered by state, user and queue, a
  page at a time), and a form that submits a batch script;
* ``/clusters/{name}/jobs/{id}``: one job, its timeline, the end of its output, and cancel, hold
  and release;
* ``/clusters/{name}/logs``: its log streams, and one stream's events a page at a time (newest
  first, older and newer pages, a time window, a search in the events shown);
* ``/clusters/{name}/config``: its configuration, edited and checked (the change set, the
  validation messages at their lines, the changes it cannot make now) and applied with
  ParallelCluster's UpdateCluster, then followed until the update completes or fails;
* ``/clusters/{name}/whatif``: its own history replayed on a changed configuration (pasted or
  edited from its own), side by side with its current one: waits, slowdown and cost per queue;
* ``/clusters/{name}/cost``: what its jobs have cost, the costliest first and summed by user,
  account and queue, and what its machines cost per hour now.

JSON routes, under ``/console/api``: ``clusters`` (every cluster as ``describe-cluster`` shows
it, and the default working directory of submitted scripts: the home directory of the user
``stratus serve`` runs as), and per cluster ``overview``, ``jobs``, ``jobs/{id}`` and
``jobs/{id}/{cancel|hold|release}`` (the head node's console routes,
:mod:`stratus.console.routes`, passed through with their status and message) and ``POST jobs``
(a script submitted as ``sbatch`` would submit it, through the Slurm front door's route);
``costs`` (the head node's costs route); ``logs/streams`` and ``logs/events``, which call the
log verbs' own functions (:mod:`stratus.cli.cluster_logs`: the same answers, paging tokens and
pcluster messages as ``list-cluster-log-streams`` and ``get-cluster-log-events``, and like them
they read the files and the store, so they answer while the head node is down).
``config`` gives the configuration page the cluster's configuration as its file holds it.
``whatif`` gives the what-if page its cluster's configuration and history, and ``POST whatif``
replays that history on the cluster's configuration and on a pasted one (``stratus simulate
--history --compare``, :func:`stratus.cli.simulate.what_if`, run in a worker thread, one at a
time), answering pcluster's validation document (400, with the lines) for a pasted
configuration that is not valid. Creating, updating, deleting and the fleet are ParallelCluster's
own ``/v3/clusters`` routes, which the pages call directly.

Guarantees: every page, asset and route is behind the serve token's gate (a browser without a
session is sent to the login page; a request that changes anything needs the console's header
besides the session cookie); an unknown cluster is a 404 with pcluster's message, an unknown job
a 404 naming it; a head node that is not running is a 503 saying how to start it.
"""

from __future__ import annotations

import html
import os
import posixpath
import socket
import threading
import urllib.parse
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

import httpx
from fastapi import APIRouter, Body, Depends, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from stratus.cli import cluster_logs
from stratus.cli import clusters as ops
from stratus.errors import BackendError, NotFoundError, UserError
from stratus.paths import ClusterPaths, read_endpoint, read_token
from stratus.web.pcluster import error_answer

STATIC = Path(__file__).parent / "static"
#: The assets a page may load, and their types (anything else under /console/static is a 404).
ASSETS = {
    "console.css": "text/css",
    "common.js": "text/javascript",
    "clusters.js": "text/javascript",
    "cluster.js": "text/javascript",
    "job.js": "text/javascript",
    "whatif.js": "text/javascript",
    "config.js": "text/javascript",
    "logs.js": "text/javascript",
    "cost.js": "text/javascript",
}
#: The largest batch script the console submits (sbatch's own limit is larger; a pasted script
#: beyond this is a mistake).
MAX_SCRIPT_CHARS = 1_000_000
#: What a submitted job's environment carries from the server's: a login's basics (``sbatch``
#: from a shell exports the whole shell environment; a web server's has nothing of the user's).
EXPORTED = ("HOME", "USER", "LOGNAME", "PATH", "SHELL", "LANG", "TZ")
#: The most events one page of the logs page asks for (the log verb takes up to 10,000).
MAX_LOG_PAGE = 1000
#: How long a call to a head node may take.
HEAD_TIMEOUT = 30.0
# Content-Security-Policy of every page: its own scripts and styles only.
_CSP = "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"


class SubmitRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    script: Annotated[str, Field(min_length=1, max_length=MAX_SCRIPT_CHARS)]
    workdir: Annotated[str, Field(min_length=1, max_length=4096)]


def _page(name: str, status: int = 200) -> HTMLResponse:
    text = (STATIC / name).read_text()
    return HTMLResponse(text, status_code=status, headers={"Content-Security-Policy": _CSP})


def _missing_page(message: str) -> HTMLResponse:
    """A page that says what was not found, with the way back to the clusters."""
    text = (STATIC / "missing.html").read_text().replace("{message}", html.escape(message))
    return HTMLResponse(text, status_code=404, headers={"Content-Security-Policy": _CSP})


def _cluster(name: str) -> ClusterPaths:
    """The cluster's paths; NotFoundError (pcluster's message) for a name that names none."""
    try:
        return ops.existing(name)
    except ops.CliError:
        # A malformed name names no cluster: the same answer as an unknown one.
        raise ops.not_found(name) from None


def _head(name: str, method: str, path: str, **request: Any) -> Response:
    """Call cluster ``name``'s head node and pass its answer (status and JSON) through.

    The head node's own errors keep their status (404 for an unknown job); a cluster whose
    head node does not answer is a 503 with the way to start it.
    """
    try:
        paths = _cluster(name)
    except NotFoundError as exc:
        return JSONResponse({"message": str(exc)}, status_code=404)
    if not ops.head_running(paths):
        return JSONResponse({"message": ops.head_down_message(name)}, status_code=503)
    try:
        host, port, _ = read_endpoint(paths)
        answer = httpx.request(
            method,
            f"http://{host}:{port}{path}",
            headers={"Authorization": f"Bearer {read_token(paths)}"},
            timeout=HEAD_TIMEOUT,
            **request,
        )
    except (OSError, ValueError, httpx.HTTPError) as exc:
        message = f"The head node of cluster '{name}' did not answer: {exc}"
        return JSONResponse({"message": message}, status_code=503)
    if answer.headers.get("content-type", "").startswith("application/json"):
        return Response(answer.content, status_code=answer.status_code, media_type="application/json")
    return JSONResponse({"message": f"HTTP {answer.status_code} from the head node"}, status_code=502)


def _submit(name: str, body: SubmitRequest) -> Response:
    """Submit a script as ``sbatch --parsable`` run in ``body.workdir`` would (the Slurm door's
    route: the script's ``#SBATCH`` lines are its options, its output ``slurm-<id>.out`` there)."""
    if not posixpath.isabs(body.workdir):
        return JSONResponse({"message": "The working directory must be an absolute path."}, status_code=400)
    try:
        paths = _cluster(name)
    except NotFoundError as exc:
        return JSONResponse({"message": str(exc)}, status_code=404)
    if not ops.head_running(paths):
        return JSONResponse({"message": ops.head_down_message(name)}, status_code=503)
    request = {
        "argv": ["--parsable"],
        "cwd": body.workdir,
        "env": {k: os.environ[k] for k in EXPORTED if k in os.environ},
        "host": socket.gethostname(),
        "umask": 0o022,
        "stdin": body.script,
    }
    try:
        host, port, _ = read_endpoint(paths)
        answer = httpx.post(
            f"http://{host}:{port}/slurm/v1/sbatch",
            json=request,
            headers={"Authorization": f"Bearer {read_token(paths)}"},
            timeout=HEAD_TIMEOUT,
        )
    except (OSError, ValueError, httpx.HTTPError) as exc:
        message = f"The head node of cluster '{name}' did not answer: {exc}"
        return JSONResponse({"message": message}, status_code=503)
    if answer.status_code != 200:
        try:
            message = str(answer.json().get("message"))
        except ValueError:
            message = f"HTTP {answer.status_code} from the head node"
        return JSONResponse({"message": message}, status_code=answer.status_code)
    split = int(answer.headers.get("x-stdout-length", "0"))
    out = answer.content[:split].decode("utf-8", "replace").strip()
    err = answer.content[split:].decode("utf-8", "replace").strip()
    if answer.headers.get("x-exit-code", "1") != "0" or not out.split(";")[0].isdigit():
        return JSONResponse({"message": err or out or "sbatch failed"}, status_code=400)
    return JSONResponse({"id": int(out.split(";")[0]), "warnings": err}, status_code=201)


def _clusters() -> dict[str, Any]:
    """Every cluster as describe-cluster shows it (its summary where that fails)."""
    out = []
    for summary in ops.list_clusters()["clusters"]:
        try:
            out.append(ops.describe_cluster(summary["clusterName"]))
        except (UserError, BackendError, OSError):
            out.append(summary)
    return {"clusters": out, "workdir": str(Path.home())}


def console(gate: Any) -> APIRouter:
    """The console's pages and JSON routes, each behind ``gate`` (a FastAPI dependency)."""
    router = APIRouter(dependencies=[Depends(gate)], include_in_schema=False)

    @router.get("/")
    def clusters_page() -> HTMLResponse:
        return _page("clusters.html")

    @router.get("/clusters/{name}")
    def cluster_page(name: str) -> HTMLResponse:
        return _cluster_page(name, "cluster.html")

    @router.get("/clusters/{name}/jobs/{job_id}")
    def job_page(name: str, job_id: str) -> HTMLResponse:
        return _cluster_page(name, "job.html")

    @router.get("/clusters/{name}/logs")
    def logs_page(name: str) -> HTMLResponse:
        return _cluster_page(name, "logs.html")

    @router.get("/clusters/{name}/cost")
    def cost_page(name: str) -> HTMLResponse:
        return _cluster_page(name, "cost.html")

    @router.get("/console/static/{asset}")
    def static(asset: str) -> Response:
        media = ASSETS.get(asset)
        if media is None:
            return JSONResponse({"message": f"No such asset: {asset}"}, status_code=404)
        return FileResponse(STATIC / asset, media_type=media, headers={"Cache-Control": "no-cache"})

    @router.get("/console/api/clusters")
    def clusters() -> Any:
        try:
            return _clusters()
        except Exception as exc:  # the operation's errors become pcluster's answers
            return error_answer(exc)

    @router.get("/console/api/clusters/{name}/overview")
    def overview(name: str) -> Response:
        return _head(name, "GET", "/console/v1/overview")

    @router.get("/console/api/clusters/{name}/jobs")
    def jobs(name: str, request: Request) -> Response:
        return _head(name, "GET", "/console/v1/jobs", params=dict(request.query_params))

    @router.get("/console/api/clusters/{name}/jobs/{job_id}")
    def job(name: str, job_id: str, request: Request) -> Response:
        return _head(name, "GET", f"/console/v1/jobs/{_segment(job_id)}", params=dict(request.query_params))

    @router.post("/console/api/clusters/{name}/jobs/{job_id}/{action}")
    def act(name: str, job_id: str, action: str) -> Response:
        return _head(name, "POST", f"/console/v1/jobs/{_segment(job_id)}/{_segment(action)}")

    @router.post("/console/api/clusters/{name}/jobs")
    def submit(name: str, body: Annotated[SubmitRequest, Body()]) -> Response:
        return _submit(name, body)

    @router.get("/console/api/clusters/{name}/costs")
    def costs(name: str, request: Request) -> Response:
        return _head(name, "GET", "/console/v1/costs", params=dict(request.query_params))

    @router.get("/console/api/clusters/{name}/logs/streams")
    def log_streams(name: str, request: Request) -> Any:
        return _log_streams(name, request.query_params.get("nextToken") or None)

    @router.get("/console/api/clusters/{name}/logs/events")
    def log_events(name: str, request: Request) -> Any:
        return _log_events(name, request.query_params)

    @router.get("/clusters/{name}/config")
    def config_page(name: str) -> HTMLResponse:
        return _cluster_page(name, "config.html")

    @router.get("/console/api/clusters/{name}/config")
    def config(name: str) -> Response:
        return _config(name)

    _whatif_routes(router)
    return router


def _config(name: str) -> Response:
    """The configuration page's starting point: the cluster's configuration as its file holds it
    now (the text the last create or update stored, byte for byte), and that file's path."""
    try:
        paths = _cluster(name)
        text = paths.config.read_text()
    except NotFoundError as exc:
        return JSONResponse({"message": str(exc)}, status_code=404)
    except OSError as exc:
        message = f"cannot read the configuration of cluster '{name}': {exc.strerror or exc}"
        return JSONResponse({"message": message}, status_code=500)
    return JSONResponse({"cluster": name, "configuration": text, "configurationFile": str(paths.config)})


def _cluster_page(name: str, page: str) -> HTMLResponse:
    """A page of cluster ``name``, or the missing page with pcluster's message when it is unknown."""
    try:
        _cluster(name)
    except NotFoundError as exc:
        return _missing_page(str(exc))
    return _page(page)


def _log_streams(name: str, next_token: str | None) -> Any:
    """``list-cluster-log-streams``'s answer for cluster ``name`` (one page; ``nextToken`` for
    the next), or its error as pcluster's answer."""
    try:
        _cluster(name)
        return cluster_logs.list_cluster_log_streams(name, next_token=next_token)
    except Exception as exc:  # the verb's errors become pcluster's answers
        return error_answer(exc)


def _log_events(name: str, query: Mapping[str, str]) -> Any:
    """``get-cluster-log-events``'s answer for cluster ``name``: ``stream`` (required),
    ``startTime``/``endTime`` (ISO 8601), ``startFromHead`` (``true``), ``limit`` (1 to
    :data:`MAX_LOG_PAGE`), ``nextToken`` (either of a page's tokens); errors are the verb's."""
    stream = query.get("stream") or ""
    if not stream:
        return JSONResponse({"message": "Bad Request: a log stream name is required."}, status_code=400)
    text = query.get("limit") or str(MAX_LOG_PAGE)
    if not text.lstrip("-").isdigit():
        return JSONResponse({"message": "Bad Request: 'limit' must be a positive integer."}, status_code=400)
    if int(text) > MAX_LOG_PAGE:
        message = f"Bad Request: the console shows at most {MAX_LOG_PAGE} events a page."
        return JSONResponse({"message": message}, status_code=400)
    try:
        _cluster(name)
        return cluster_logs.get_cluster_log_events(
            name,
            stream,
            start_time=query.get("startTime") or None,
            end_time=query.get("endTime") or None,
            start_from_head=query.get("startFromHead") == "true",
            limit=int(text),
            next_token=query.get("nextToken") or None,
        )
    except Exception as exc:  # the verb's errors become pcluster's answers
        return error_answer(exc)


def _segment(text: str) -> str:
    """``text`` as one path segment of a head-node URL (nothing in it can change the path)."""
    return urllib.parse.quote(text, safe="")


# -- the what-if page -----------------------------------------------------------------------------

#: The largest configuration the what-if page replays on (the REST API's own limit is a body of
#: 4 MiB; a configuration is a few kilobytes).
MAX_CONFIG_CHARS = 1_000_000
# Replays take a core for seconds each: one at a time, the others wait their turn.
_REPLAYS = threading.Lock()


class WhatIfRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    configuration: Annotated[str, Field(min_length=1, max_length=MAX_CONFIG_CHARS)]
    since: Annotated[str | None, Field(max_length=64)] = None
    until: Annotated[str | None, Field(max_length=64)] = None
    policy: Annotated[str | None, Field(max_length=32)] = None
    bootTime: Annotated[float | None, Field(ge=0)] = None


def _whatif_info(name: str) -> Response:
    """What the what-if page starts from: the cluster's configuration (text and file), its
    history (jobs, first and last submission, what is left out; null with a message when it has
    no finished job) and the policies a replay may use."""
    from stratus.cli import simulate

    try:
        paths = _cluster(name)
        configuration = paths.config.read_text()
    except NotFoundError as exc:
        return JSONResponse({"message": str(exc)}, status_code=404)
    except OSError as exc:
        message = f"cannot read the configuration of cluster '{name}': {exc.strerror or exc}"
        return JSONResponse({"message": message}, status_code=500)
    history: dict[str, Any] | None = None
    message = ""
    try:
        found, _path, boot_s = simulate.load_history(name)
        doc = found.to_json(name)
        history = {k: doc[k] for k in ("jobs", "firstSubmit", "lastSubmit", "leftOut", "recorded")}
        history["medianBootSeconds"] = boot_s
    except UserError as exc:
        message = str(exc)
    return JSONResponse(
        {
            "cluster": name,
            "configuration": configuration,
            "configurationFile": str(paths.config),
            "history": history,
            "message": message,
            "policies": list(simulate.POLICIES),
        }
    )


def _whatif_run(name: str, body: WhatIfRequest) -> Response:
    """Replay the cluster's history on its configuration and on ``body.configuration``: the
    comparison (200), pcluster's validation document for a pasted configuration that is not
    valid (400), a message for other bad input (400) or an unknown cluster (404)."""
    from stratus.cli import simulate

    try:
        _cluster(name)
    except NotFoundError as exc:
        return JSONResponse({"message": str(exc)}, status_code=404)
    try:
        with _REPLAYS:
            doc = simulate.what_if(
                name,
                body.configuration,
                since=body.since or None,
                until=body.until or None,
                policy=body.policy or None,
                boot_time=body.bootTime,
            )
    except simulate.ConfigurationError as exc:
        cause = exc.cause
        if getattr(cause, "filename", None) == simulate.WHAT_IF_FILE and hasattr(cause, "to_json"):
            return JSONResponse(cause.to_json(), status_code=400)
        return JSONResponse({"message": str(exc)}, status_code=500)
    except NotFoundError as exc:
        return JSONResponse({"message": str(exc)}, status_code=404)
    except UserError as exc:
        return JSONResponse({"message": str(exc)}, status_code=400)
    return JSONResponse(doc)


def _whatif_routes(router: APIRouter) -> None:
    """The what-if page and its JSON routes (see the module's docstring)."""

    @router.get("/clusters/{name}/whatif")
    def whatif_page(name: str) -> HTMLResponse:
        return _cluster_page(name, "whatif.html")

    @router.get("/console/api/clusters/{name}/whatif")
    def whatif_info(name: str) -> Response:
        return _whatif_info(name)

    @router.post("/console/api/clusters/{name}/whatif")
    def whatif_run(name: str, body: Annotated[WhatIfRequest, Body()]) -> Response:
        return _whatif_run(name, body)

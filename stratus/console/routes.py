"""The web console's routes on the head node, under ``/console/v1``: JSON for one cluster.

* ``GET /overview``: the queues (up, disabled, node and job counts) and every node (power
  state, activity, reason, what it runs);
* ``GET /jobs``: the jobs the engine holds (pending, running, recently finished), newest
  first, filtered by ``state`` (a state name, ``active`` or ``finished``), ``user`` and
  ``queue``, one page at a time (``offset``, ``limit`` up to :data:`MAX_PAGE`); ``scope=all``
  adds the stored jobs of the last ``days`` days (finished long ago);
* ``GET /jobs/{id}``: one job, its records (an array's tasks), its timeline (every transition
  of the journal: time, old and new state, cause, reason) and the tail of its output file;
* ``POST /jobs/{id}/cancel``, ``/hold``, ``/release``;
* ``GET /costs``: what jobs have cost (USD, :mod:`stratus.engine.cost`): the ``limit`` costliest
  jobs (up to :data:`MAX_COST_JOBS`) with their user, account, queue and elapsed time, every
  job's cost summed by user, by account and by queue (each grouping adds up to the total), and
  what the machines up now cost per hour, in all and in the parts no job holds.

Guarantees: every answer is computed from the cluster service (the journal through the
``history`` reader the head node's assembly hands in, output paths through each front door's
locator); every action goes through the service, which decides the caller's rights from the
identity the API established; an unknown job id is a 404 whose ``message`` names it; a page
costs one pass over the jobs in memory (10,000 jobs: a few milliseconds), never a store query
per job. Submitting a script is the Slurm front door's (``sbatch``), which the console calls.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from stratus.api.callers import identity
from stratus.engine.cost import holds_machine, idle_cost_per_hour
from stratus.engine.fairshare import FairShare
from stratus.engine.model import Job, Node, Transition, record_key
from stratus.engine.states import FINAL_JOB_STATES, JobState, NodeState
from stratus.service.interface import Service
from stratus.service.model import Problem, ServiceError, Target

#: Reads the journal of one entity: (entity, key) -> its transitions, oldest first.
History = Callable[[str, str], list[Transition]]
#: Where a job's output goes (absolute path; None: nowhere known), from its payload's info.
OutputLocator = Callable[[Job, dict[str, Any]], str | None]

PREFIX = "/console/v1"
#: The most jobs one page holds.
MAX_PAGE = 500
DEFAULT_PAGE = 50
#: How much of an output file's end a job's page shows by default, and at most.
TAIL_BYTES = 64 * 1024
MAX_TAIL_BYTES = 1024 * 1024
#: The most records of one job (an array's tasks) whose timelines are merged into its page.
MAX_TIMELINE_RECORDS = 200
#: How many of the costliest jobs the costs route lists by default, and at most.
DEFAULT_COST_JOBS = 20
MAX_COST_JOBS = 500

_ACTIVE = frozenset({JobState.PENDING, JobState.CONFIGURING, JobState.RUNNING, JobState.COMPLETING})
_JOB_ID = re.compile(r"[0-9]{1,18}")
_DONE = {"cancel": "cancelled", "hold": "held", "release": "released"}
_PROBLEM_STATUS = {Problem.NOT_FOUND: 404, Problem.DENIED: 403}


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"message": message}, status_code=status)


def job_label(job: Job) -> str:
    """How a job is named to people: ``12``, ``12_3`` (an array's task), ``12_[4-9]`` (an
    array's tasks not started yet)."""
    if job.pending_tasks is not None and job.task_id is None:
        return f"{job.id}_[{job.pending_tasks.to_slurm()}]"
    if job.array_id is not None and job.task_id is not None:
        return f"{job.array_id}_{job.task_id}"
    return str(job.id)


def job_summary(job: Job) -> dict[str, Any]:
    """A job's row: who, what, where, when and how it ended."""
    spec = job.spec
    alloc = job.alloc
    return {
        "id": job.id,
        "label": job_label(job),
        "arrayId": job.array_id,
        "taskId": job.task_id,
        "pendingTasks": len(job.pending_tasks) if job.pending_tasks is not None else None,
        "name": spec.name,
        "user": spec.user,
        "account": spec.account,
        "state": job.state.value,
        "reason": job.reason,
        "held": job.held,
        "queue": job.partition or ",".join(spec.partitions),
        "nodes": list(alloc.nodes) if alloc is not None else [],
        "cpus": alloc.total_cpus if alloc is not None else spec.ntasks * spec.cpus_per_task,
        "submitTime": job.submit_time,
        "startTime": job.start_time,
        "endTime": job.end_time,
        "timeLimit": job.time_limit_s,
        "exitCode": job.exit_code,
        "exitSignal": job.exit_signal,
        "run": job.run,
        "final": job.state in FINAL_JOB_STATES,
    }


def _activity(node: Node) -> str:
    """What an UP node is doing: idle, mixed (some CPUs held) or allocated (all of them)."""
    if not node.jobs:
        return "idle"
    return "allocated" if node.alloc_cpus >= node.defn.cpus else "mixed"


def _matches(job: Job, state: str, user: str, queue: str) -> bool:
    if state == "active" and job.state not in _ACTIVE:
        return False
    if state == "finished" and job.state not in FINAL_JOB_STATES:
        return False
    if state not in ("", "active", "finished") and job.state.value != state:
        return False
    if user and job.spec.user != user:
        return False
    return not queue or job.partition == queue or queue in job.spec.partitions


def _int(value: str | None, default: int, low: int, high: int) -> int:
    """A query parameter as an int kept within [low, high] (malformed: the default)."""
    try:
        number = int(value) if value is not None else default
    except ValueError:
        number = default
    return max(low, min(high, number))


def tail_of(path: str, max_bytes: int) -> dict[str, Any]:
    """The last ``max_bytes`` of the file at ``path`` as text (cut at a line start when cut)."""
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            start = max(0, size - max_bytes)
            f.seek(start)
            data = f.read(max_bytes)
    except FileNotFoundError:
        return {"path": path, "text": "", "size": 0, "truncated": False, "message": "not written yet"}
    except OSError as exc:
        return {"path": path, "text": "", "size": 0, "truncated": False, "message": exc.strerror or str(exc)}
    if start > 0 and b"\n" in data:
        data = data[data.index(b"\n") + 1 :]
    return {
        "path": path,
        "text": data.decode("utf-8", "replace"),
        "size": size,
        "truncated": start > 0,
        "message": "",
    }


def console_router(service: Service, *, history: History, outputs: Mapping[str, OutputLocator]) -> APIRouter:
    """The console's routes for ``service`` (see the module docstring).

    ``history`` reads the journal of one job record; ``outputs`` locates a job's output file by
    the front door that owns its payload (``"slurm"``, ``"batch"``).
    """
    router = APIRouter(prefix=PREFIX)

    def not_found(text: str) -> JSONResponse:
        return _error(404, f"Job {text} does not exist on cluster {service.cluster_name}.")

    def payload_of(job: Job) -> dict[str, Any]:
        return service.payload_info(job.array_id if job.array_id is not None else job.id)

    def stored(job_ids: Iterable[int] = (), start: float | None = None) -> list[Job]:
        return [job for job, _info, _runs in service.accounting(job_ids=job_ids, start=start)]

    @router.get("/overview")
    async def overview() -> dict[str, Any]:
        labels = {job.id: job_label(job) for job in service.jobs() if not job.state.final}
        queues: dict[str, dict[str, Any]] = {}
        for partition, default in service.partitions():
            queues[partition.name] = {
                "name": partition.name,
                "default": default,
                "up": partition.up,
                "disabled": partition.disabled,
                "nodes": len(partition.defn.nodes),
                "nodeStates": {},
                "pending": 0,
                "running": 0,
            }
        nodes = []
        for record in service.nodes():
            node = record.node
            state = node.state.value
            for name in node.defn.partitions:
                if name in queues:
                    counts = queues[name]["nodeStates"]
                    counts[state] = counts.get(state, 0) + 1
            nodes.append(
                {
                    "name": node.name,
                    "queues": list(node.defn.partitions),
                    "group": node.defn.group,
                    "instanceType": node.defn.instance_type,
                    "static": node.defn.static,
                    "state": state,
                    "activity": _activity(node) if node.state == NodeState.UP else "",
                    "reason": node.reason or "",
                    "since": node.state_time,
                    "cpus": node.defn.cpus,
                    "allocCpus": node.alloc_cpus,
                    "memoryMb": node.defn.memory_mb,
                    "gpus": node.defn.gpus,
                    "jobs": [{"id": j, "label": labels.get(j, str(j))} for j in sorted(node.jobs)],
                    "address": record.address if record.instance is not None else "",
                }
            )
        for job in service.jobs():
            queue = queues.get(job.partition or "")
            if queue is None:
                continue
            if job.state == JobState.PENDING:
                queue["pending"] += len(job.pending_tasks) if job.pending_tasks is not None else 1
            elif job.state in _ACTIVE:
                queue["running"] += 1
        return {
            "cluster": service.cluster_name,
            "now": service.now(),
            "fleet": service.cluster.get("computeFleetStatus", "UNKNOWN"),
            "queues": list(queues.values()),
            "nodes": nodes,
        }

    @router.get("/jobs")
    async def jobs(request: Request) -> dict[str, Any]:
        q = request.query_params
        state = (q.get("state") or "").strip()
        user = (q.get("user") or "").strip()
        queue = (q.get("queue") or "").strip()
        offset = _int(q.get("offset"), 0, 0, 10**9)
        limit = _int(q.get("limit"), DEFAULT_PAGE, 1, MAX_PAGE)
        records: dict[int, Job] = {job.id: job for job in service.jobs()}
        if q.get("scope") == "all":
            days = _int(q.get("days"), 1, 1, 366)
            for job in stored(start=service.now() - days * 86400.0):
                records.setdefault(job.id, job)  # the engine's record is the fresher one
        counts: dict[str, int] = {}
        users: set[str] = set()
        chosen: list[Job] = []
        for job in records.values():
            users.add(job.spec.user)
            if _matches(job, "", user, queue):
                counts[job.state.value] = counts.get(job.state.value, 0) + 1
                if _matches(job, state, "", ""):
                    chosen.append(job)
        chosen.sort(key=lambda j: j.id, reverse=True)
        page = chosen[offset : offset + limit]
        return {
            "cluster": service.cluster_name,
            "now": service.now(),
            "total": len(chosen),
            "offset": offset,
            "limit": limit,
            "jobs": [job_summary(job) for job in page],
            "counts": counts,
            "users": sorted(users),
            "queues": [p.name for p, _ in service.partitions()],
        }

    @router.get("/jobs/{job_id}")
    async def job(job_id: str, request: Request) -> Any:
        if not _JOB_ID.fullmatch(job_id):
            return not_found(repr(job_id))
        number = int(job_id)
        records = service.records_of(number) if service.knows(number) else []
        if not records:
            records = stored(job_ids=[number])
            records = [r for r in records if r.id == number or r.array_id == number]
        if not records:
            return not_found(job_id)
        main = next((r for r in records if r.id == number), records[0])
        keys = {str(number)}
        for record in records[:MAX_TIMELINE_RECORDS]:
            keys.add(record_key(record))
        timeline = sorted(
            (t for key in keys for t in history("job", key)),
            key=lambda t: t.time,
        )
        info = payload_of(main)
        door = str(info.get("door", ""))
        locate = outputs.get(door)
        output: dict[str, Any] | None = None
        if locate is not None and main.start_time is not None and identity(request).may_act_on(main):
            path = locate(main, info)
            if path:
                size = _int(request.query_params.get("tail"), TAIL_BYTES, 1, MAX_TAIL_BYTES)
                output = tail_of(path, size)
        return {
            "cluster": service.cluster_name,
            "now": service.now(),
            "job": {**job_summary(main), "door": door, "workdir": info.get("workdir")},
            "records": [job_summary(r) for r in sorted(records, key=lambda r: r.id)],
            "timeline": [
                {
                    "time": t.time,
                    "key": t.key,
                    "old": t.old,
                    "new": t.new,
                    "cause": t.cause,
                    "reason": t.reason,
                    "run": t.run,
                }
                for t in timeline
            ],
            "output": output,
        }

    @router.post("/jobs/{job_id}/{action}")
    async def act(job_id: str, action: str, request: Request) -> Any:
        if action not in _DONE:
            return _error(404, f"Unknown action '{action}': cancel, hold or release.")
        if not _JOB_ID.fullmatch(job_id):
            return not_found(repr(job_id))
        number = int(job_id)
        if not service.knows(number):
            if stored(job_ids=[number]):
                return _error(409, f"Job {number} has already finished.")
            return not_found(job_id)
        caller = identity(request)
        targets = [Target(number)]
        try:
            if action == "cancel":
                results = service.cancel(targets, caller)
            else:
                results = service.hold(targets, caller, held=action == "hold")
        except ServiceError as exc:
            return _error(409, f"Job {number}: {exc}")
        problem = results[0].problem
        if problem is None:
            return {"id": number, "action": action, "acted": results[0].acted}
        done = _DONE[action]
        messages = {
            Problem.NOT_FOUND: f"Job {number} does not exist on cluster {service.cluster_name}.",
            Problem.DENIED: f"{caller.user} may not {action} job {number}.",
            Problem.ALREADY_DONE: f"Job {number} has already finished.",
            Problem.NOT_PENDING: f"Job {number} is not pending: only a pending job can be {done}.",
        }
        message = messages.get(problem, f"Job {number} cannot be {done} now ({problem.value}).")
        return _error(_PROBLEM_STATUS.get(problem, 409), message)

    @router.get("/costs")
    async def costs(request: Request) -> dict[str, Any]:
        limit = _int(request.query_params.get("limit"), DEFAULT_COST_JOBS, 1, MAX_COST_JOBS)
        now = service.now()
        charged = service.job_costs()
        groups: dict[str, dict[str, list[float]]] = {"user": {}, "account": {}, "queue": {}}
        for c in charged:
            # The account as the metrics and sshare name it: a job without --account is root's.
            account = FairShare.account_of(c.account, c.user)
            for kind, key in (("user", c.user), ("account", account), ("queue", c.partition)):
                entry = groups[kind].setdefault(key, [0.0, 0.0])
                entry[0] += c.cost
                entry[1] += 1
        top = sorted(charged, key=lambda c: (-c.cost, -c.job_id))[:limit]
        records = {job.id: job for job in service.jobs()}
        missing = [c.job_id for c in top if c.job_id not in records]
        if missing:
            for job in stored(job_ids=missing):
                records.setdefault(job.id, job)
        rows = []
        for c in top:
            record = records.get(c.job_id)
            elapsed: float | None = None
            if record is not None and record.start_time is not None:
                # sacct's Elapsed: the last run's, from its start to its end (to now while it runs).
                end = record.end_time if record.end_time is not None else now
                elapsed = max(end - record.start_time, 0.0)
            rows.append(
                {
                    "id": c.job_id,
                    "label": job_label(record) if record is not None else str(c.job_id),
                    "name": record.spec.name if record is not None else "",
                    "user": c.user,
                    "account": FairShare.account_of(c.account, c.user),
                    "queue": c.partition,
                    "state": record.state.value if record is not None else "",
                    "elapsed": elapsed,
                    "cost": c.cost,
                }
            )
        machines = [record.node for record in service.nodes()]
        return {
            "cluster": service.cluster_name,
            "now": now,
            "currency": "USD",
            "total": sum(c.cost for c in charged),
            "jobCount": len(charged),
            "costPerHour": sum(n.defn.price_per_hour for n in machines if holds_machine(n)),
            "idleCostPerHour": idle_cost_per_hour(machines),
            "jobs": rows,
            **{
                key: [
                    {"name": name, "cost": cost, "jobs": int(count)}
                    for name, (cost, count) in sorted(groups[kind].items(), key=lambda kv: (-kv[1][0], kv[0]))
                ]
                for key, kind in (("byUser", "user"), ("byAccount", "account"), ("byQueue", "queue"))
            },
        }

    return router

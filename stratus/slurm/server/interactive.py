"""salloc, srun outside a job, and srun's job steps: Slurm's interactive side over the service.

An interactive allocation is a job without a batch script: its client (salloc or srun) waits for
it, runs its command with the allocation's environment, and gives it back with the command's
exit code. A job step runs tasks on a running job's nodes, laid out block-wise, with the
``SLURM_*`` variables of each task; the agents stream the tasks' output to srun directly.
"""

from __future__ import annotations

import os
import shlex
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from stratus.engine.states import JobState
from stratus.service.model import AccessDenied, NotFound, Problem, WrongState
from stratus.slurm import errors as serr
from stratus.slurm.env import compressed_counts
from stratus.slurm.errors import SlurmError
from stratus.slurm.hostlist import compress
from stratus.slurm.options import OptionError, getopt_long
from stratus.slurm.sbatch import parse_sbatch
from stratus.slurm.sbatch_options import LONGOPTS, SHORTOPTS
from stratus.slurm.views import ClientContext

if TYPE_CHECKING:
    from stratus.slurm.server.backend import SlurmDoor


def allocate(door: SlurmDoor, prog: str, argv: list[str], ctx: ClientContext) -> tuple[int, list[str]]:
    """Queue an allocation with salloc's (or srun's) options; (job id, the command to run).

    The options are sbatch's, so sbatch's parser reads them; the command after them is only
    recorded (it runs on the client's side, not as a batch script).
    """
    try:
        _, command = getopt_long(prog, argv, SHORTOPTS, LONGOPTS)
    except OptionError as exc:
        raise SlurmError([str(exc), f'Try "{prog} --help" for more information'], 1) from None
    options = list(argv[: len(argv) - len(command)])
    if options and options[-1] == "--":
        options.pop()
    wrap = shlex.join(command) if command else "true"
    parsed = parse_sbatch([*options, "--wrap", wrap], ctx, door.now(), door.max_array_size)
    request = parsed.request
    if request is None or request.array is not None:
        raise SlurmError(f"{prog}: error: job arrays are for sbatch", 1)
    named = any(o in ("-J", "--job-name") or o.startswith(("-J", "--job-name=")) for o in options)
    if not named and "SBATCH_JOB_NAME" not in ctx.env:
        # Like Slurm: the allocation is named after its command (or the client).
        request.name = os.path.basename(command[0]) if command else prog
    job_id = door.submit(request, ctx, interactive=True)
    door.service.allocation_seen(job_id)
    return job_id, command


def allocation_status(door: SlurmDoor, job_id: int) -> dict[str, Any]:
    """What a waiting salloc/srun needs: the job's state and, once granted, its environment.

    Every call counts as the client being alive.
    """
    service = door.service
    service.allocation_seen(job_id)
    job = service.job(job_id)
    if job is None:
        return {"state": "UNKNOWN"}
    out: dict[str, Any] = {"state": job.state.value, "reason": job.reason}
    if job.state == JobState.RUNNING and job.alloc is not None:
        out["env"] = door.launcher.allocation_env(job, service.payload_info(job.id))
        out["nodes"] = list(job.alloc.nodes)
    return out


@dataclass(frozen=True, slots=True)
class StepRequest:
    """srun's request for a job step, checked before anything is decided."""

    job_id: int
    argv: list[str]
    name: str
    cwd: str
    ntasks: int | None
    nodes: int | None
    ntasks_per_node: int | None
    cpus_per_task: int | None
    io_host: str
    io_port: int
    io_token: str
    pty: bool

    @classmethod
    def from_body(cls, body: dict[str, Any], ctx: ClientContext) -> StepRequest:
        """Raises ValueError, KeyError or TypeError on a malformed body (the route answers 400)."""

        def count(key: str) -> int | None:
            value = body.get(key)
            if value is None:
                return None
            if isinstance(value, bool) or not isinstance(value, int | str):
                raise TypeError(f"{key} must be an integer")
            n = int(value)
            if n < 0 or n > 1 << 31:
                raise ValueError(f"{key} out of range")
            return n

        argv = [str(a) for a in body["argv"]]
        if not argv:
            raise ValueError("argv is empty")
        port = count("io_port")
        if port is None or not 0 < port < 65536:
            raise ValueError("io_port must be a port number")
        job_id = count("job_id")
        if job_id is None:
            raise ValueError("job_id is required")
        return cls(
            job_id=job_id,
            argv=argv,
            name=str(body.get("name") or os.path.basename(argv[0])),
            cwd=str(body.get("cwd") or ctx.cwd),
            ntasks=count("ntasks"),
            nodes=count("nodes") or None,
            ntasks_per_node=count("ntasks_per_node") or None,
            cpus_per_task=count("cpus_per_task") or None,
            io_host=str(body["io_host"]),
            io_port=port,
            io_token=str(body["io_token"]),
            pty=bool(body.get("pty")),
        )


def create_step(door: SlurmDoor, req: StepRequest, ctx: ClientContext) -> dict[str, Any]:
    """Start a job step on a running job's allocation; raises ``SlurmError`` (srun's words).

    Tasks are laid out block-wise: each node takes as many tasks as its CPUs in the job allow
    (``cpus_per_task`` each) before the next one is used. Each involved agent is told to run
    its tasks and to stream their output to srun's ``io`` address.
    """
    service = door.service
    job_id = req.job_id

    def fail(reason: str) -> SlurmError:
        return SlurmError(f"srun: error: Unable to create step for job {job_id}: {reason}", 1)

    try:
        job = service.admit_step(job_id, door.identity(ctx))
    except NotFound:
        raise fail(serr.INVALID_JOB_ID) from None
    except WrongState as exc:
        raise fail(
            serr.ALREADY_DONE if exc.problem == Problem.ALREADY_DONE else serr.JOB_NOT_PENDING
        ) from None
    except AccessDenied:
        raise fail(serr.ACCESS_DENIED) from None
    alloc = job.alloc
    assert alloc is not None
    cpt = req.cpus_per_task or 1
    per_node = req.ntasks_per_node
    n_nodes = req.nodes
    ntasks = req.ntasks
    if ntasks is None:
        ntasks = (per_node * (n_nodes or len(alloc.nodes))) if per_node else (n_nodes or job.spec.ntasks)
    nodes = list(alloc.nodes[: n_nodes or min(len(alloc.nodes), ntasks)])
    if n_nodes is not None and n_nodes > len(alloc.nodes):
        raise fail(serr.REQUESTED_NODE_CONFIG_UNAVAILABLE)
    caps = [min(alloc.cpus[i] // cpt, per_node or ntasks) for i in range(len(nodes))]
    if sum(caps) < ntasks or ntasks < len(nodes) or ntasks < 1:
        raise fail(serr.TOO_MANY_PROCESSORS)
    counts = [1] * len(nodes)
    left = ntasks - len(nodes)
    for i, cap in enumerate(caps):
        extra = min(cap - 1, left)
        counts[i] += extra
        left -= extra
    missing = [n for n, c in zip(nodes, counts, strict=True) if c and not service.node_reachable(n)]
    if missing:
        raise fail(f"Node {missing[0]} not responding")
    grant = service.next_step(job)
    step_id = grant.step_id
    step_env = dict(ctx.env)
    step_env.update(
        {
            "SLURM_STEP_ID": str(step_id),
            "SLURM_STEPID": str(step_id),
            "SLURM_NTASKS": str(ntasks),
            "SLURM_NPROCS": str(ntasks),
            "SLURM_STEP_NUM_TASKS": str(ntasks),
            "SLURM_STEP_NUM_NODES": str(len(nodes)),
            "SLURM_STEP_NODELIST": compress(nodes),
            "SLURM_STEP_TASKS_PER_NODE": compressed_counts(counts),
            "SLURM_NNODES": str(len(nodes)),
            "SLURM_NODELIST": compress(nodes),
        }
    )
    if req.cpus_per_task:
        step_env["SLURM_CPUS_PER_TASK"] = str(cpt)
    procid = 0
    layout: dict[str, list[int]] = {}
    messages: dict[str, dict[str, Any]] = {}
    for nodeid, (node, count) in enumerate(zip(nodes, counts, strict=True)):
        tasks = []
        for localid in range(count):
            tasks.append(
                {
                    "procid": procid,
                    "env": {
                        "SLURM_PROCID": str(procid),
                        "SLURM_LOCALID": str(localid),
                        "SLURM_NODEID": str(nodeid),
                        "SLURMD_NODENAME": node,
                        "SLURM_TOPOLOGY_ADDR": node,
                    },
                }
            )
            layout.setdefault(node, []).append(procid)
            procid += 1
        messages[node] = {
            "argv": req.argv,
            "cwd": req.cwd,
            "env": step_env,
            "tasks": tasks,
            "io_host": req.io_host,
            "io_port": req.io_port,
            "io_token": req.io_token,
            "pty": req.pty,
        }
    service.start_step(grant, req.name, ntasks, ntasks * cpt, messages)
    return {"job_id": job_id, "step_id": step_id, "layout": layout, "ntasks": ntasks}

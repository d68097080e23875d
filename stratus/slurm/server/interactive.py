"""salloc, srun outside a job, and srun's job steps: Slurm's interactive side over the service.

An interactive allocation is a job without a batch script: its client (salloc or srun) waits for
it, runs its command with the allocation's environment, and gives it back with the command's
exit code. Its options reach the head node in sbatch's spelling and are read by sbatch's parser,
so salloc, srun and sbatch check every shared option alike. A job step runs tasks on some or all
of a running job's nodes (``-N``, ``-w``, ``-x``, ``-r``), laid out block-wise, with the
``SLURM_*`` variables of each task; the agents stream the tasks' output to srun directly.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from stratus.engine.model import Job
from stratus.engine.states import JobState
from stratus.service.interface import Service
from stratus.service.model import AccessDenied, NotFound, Problem, WrongState
from stratus.slurm import errors as serr
from stratus.slurm.env import compressed_counts
from stratus.slurm.errors import SlurmError
from stratus.slurm.hostlist import HostlistError, compress, expand
from stratus.slurm.options import OptionError, getopt_long
from stratus.slurm.sbatch import parse_sbatch
from stratus.slurm.sbatch_options import EXIT_USAGE, LONGOPTS, SHORTOPTS, as_command
from stratus.slurm.server.submit import export_env
from stratus.slurm.views import ClientContext

if TYPE_CHECKING:
    from stratus.slurm.server.backend import SlurmDoor


# How salloc and srun say that the controller refused an allocation (Slurm 22.05).
_ALLOCATION_FAILED = {"salloc": "Job submit/allocate failed", "srun": "Unable to allocate resources"}


def allocate(door: SlurmDoor, prog: str, argv: list[str], ctx: ClientContext) -> tuple[int, list[str]]:
    """Queue an allocation for salloc (or srun outside a job); (job id, the command to run).

    ``argv`` is the allocation's options in sbatch's spelling, then the command: salloc and srun
    read their own option tables and input variables, and send on the options that shape an
    allocation, which sbatch's parser checks here, so every value is checked by the same rules
    as sbatch's. ``SBATCH_*`` variables are sbatch's and are not read. The command is only
    recorded (it runs on the client's side, not as a batch script). A refusal is worded as
    ``prog`` words it (``salloc: error: Job submit/allocate failed: ...``).
    """
    prog = prog if prog in _ALLOCATION_FAILED else "salloc"
    failed = _ALLOCATION_FAILED[prog]
    try:
        _, command = getopt_long(prog, argv, SHORTOPTS, LONGOPTS)
    except OptionError as exc:
        raise SlurmError([str(exc), f'Try "{prog} --help" for more information'], EXIT_USAGE) from None
    options = list(argv[: len(argv) - len(command)])
    if options and options[-1] == "--":
        options.pop()
    wrap = shlex.join(command) if command else "true"
    env = {k: v for k, v in ctx.env.items() if not k.startswith("SBATCH_")}
    try:
        parsed = parse_sbatch(
            [*options, "--wrap", wrap], replace(ctx, env=env), door.now(), door.max_array_size
        )
    except SlurmError as exc:
        raise as_command(exc, prog, failed) from None
    request = parsed.request
    if request is None or request.array is not None:
        raise SlurmError(f"{prog}: error: job arrays are for sbatch", 1)
    named = any(o in ("-J", "--job-name") or o.startswith(("-J", "--job-name=")) for o in options)
    if not named:
        # Like Slurm: the allocation is named after its command (or the client).
        request.name = os.path.basename(command[0]) if command else prog
    try:
        job_id = door.submit(request, ctx, interactive=True)
    except SlurmError as exc:
        raise as_command(exc, prog, failed) from None
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


# Slurm 22.05's slurm_errno.c: a step naming a node that is not one of the cluster's.
INVALID_NODE_NAME = "Invalid node name specified"


@dataclass(frozen=True, slots=True)
class StepRequest:
    """srun's request for a job step, checked before anything is decided.

    ``nodes`` and ``ntasks`` are None when srun was not given ``-N``/``-n``; ``nodelist`` and
    ``exclude`` are hostlist expressions as given to ``-w``/``-x``; ``relative`` is ``-r``;
    ``export`` is ``--export`` as given (None: ALL).
    """

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
    nodelist: str | None = None
    exclude: str | None = None
    relative: int | None = None
    export: str | None = None
    mem_per_node_mb: int | None = None
    mem_per_cpu_mb: int | None = None

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

        def text(key: str) -> str | None:
            value = body.get(key)
            return None if value is None else str(value)

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
            nodelist=text("nodelist") or None,
            exclude=text("exclude") or None,
            relative=count("relative"),
            export=text("export"),
            mem_per_node_mb=count("mem_per_node_mb"),
            mem_per_cpu_mb=count("mem_per_cpu_mb"),
        )


def step_nodes(
    service: Service, job: Job, req: StepRequest, fail: Callable[[str], SlurmError]
) -> tuple[list[str], int]:
    """The step's nodes (in the job's order) and its task count, as Slurm's step layout picks them.

    ``-r`` skips the job's first nodes; ``-x`` takes nodes away; ``-w`` names nodes the step must
    run on (``-N`` may add more). Without ``-n``: one task per node when ``-N`` or ``-w`` was
    given (``--ntasks-per-node`` per node), else the job's task count. Raises ``fail(reason)``:
    a name that is no node of the cluster is ``Invalid node name specified``; a node outside the
    job, or more nodes than are left, ``Requested node configuration is not available``.
    """
    alloc = job.alloc
    assert alloc is not None
    order = {name: i for i, name in enumerate(alloc.nodes)}
    candidates = list(alloc.nodes)
    if req.relative is not None:
        # Without -N, srun's node count is the job's (SLURM_JOB_NUM_NODES), as in Slurm.
        wanted = req.nodes if req.nodes is not None else len(alloc.nodes)
        if req.relative + wanted > len(alloc.nodes):
            source = "--nodes" if req.nodes is not None else "SLURM_JOB_NUM_NODES"
            raise SlurmError(
                f"srun: error: --relative and {source} option incompatible with count of allocated "
                f"nodes ({req.relative}+{wanted}>{len(alloc.nodes)})",
                1,
            )
        candidates = candidates[req.relative :]
    try:
        excluded = set(expand(req.exclude)) if req.exclude else set()
        required = list(dict.fromkeys(expand(req.nodelist))) if req.nodelist else []
    except HostlistError:
        raise fail(INVALID_NODE_NAME) from None
    foreign = [n for n in (*required, *excluded) if n not in order]
    if foreign:
        known = {record.node.name for record in service.nodes()}
        if any(n not in known for n in foreign):
            raise fail(INVALID_NODE_NAME)
    if any(n not in order or n in excluded for n in required):
        raise fail(serr.REQUESTED_NODE_CONFIG_UNAVAILABLE)
    candidates = [n for n in candidates if n not in excluded]
    n_nodes = req.nodes
    if required:
        n_nodes = max(n_nodes or 0, len(required))
    if n_nodes is not None and n_nodes > len(candidates):
        raise fail(serr.REQUESTED_NODE_CONFIG_UNAVAILABLE)
    ntasks = req.ntasks
    if ntasks is None:
        if req.ntasks_per_node:
            ntasks = req.ntasks_per_node * (n_nodes or len(candidates))
        else:
            ntasks = n_nodes or job.spec.ntasks
    count = n_nodes or min(len(candidates), ntasks)
    others = [n for n in candidates if n not in required]
    chosen = set(required) | set(others[: max(0, count - len(required))])
    return [n for n in alloc.nodes if n in chosen], ntasks


def create_step(door: SlurmDoor, req: StepRequest, ctx: ClientContext) -> dict[str, Any]:
    """Start a job step on a running job's allocation; raises ``SlurmError`` (srun's words).

    The nodes are chosen by :func:`step_nodes`; tasks are laid out block-wise: each node takes
    as many tasks as its CPUs in the job allow (``cpus_per_task`` each) before the next one is
    used. A step asking more memory per node than the job holds is refused, as Slurm refuses it.
    The tasks' environment is srun's (per ``--export``: ALL, NONE, or a list; ``SLURM_*`` always
    passes) plus the step's ``SLURM_*`` variables. Each involved agent is told to run its tasks
    and to stream their output to srun's ``io`` address.
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
    nodes, ntasks = step_nodes(service, job, req, fail)
    cpt = req.cpus_per_task or 1
    per_node = req.ntasks_per_node
    cpus = [alloc.cpus[alloc.nodes.index(n)] for n in nodes]
    caps = [min(c // cpt, per_node or ntasks) for c in cpus]
    if sum(caps) < ntasks or ntasks < len(nodes) or ntasks < 1:
        raise fail(serr.TOO_MANY_PROCESSORS)
    counts = [1] * len(nodes)
    left = ntasks - len(nodes)
    for i, cap in enumerate(caps):
        extra = min(cap - 1, left)
        counts[i] += extra
        left -= extra
    if not memory_fits(job, req, cpus, counts, cpt):
        raise fail(serr.MEMORY_NOT_AVAILABLE)
    missing = [n for n, c in zip(nodes, counts, strict=True) if c and not service.node_reachable(n)]
    if missing:
        raise fail(f"Node {missing[0]} not responding")
    grant = service.next_step(job)
    step_id = grant.step_id
    step_env = export_env(req.export, dict(ctx.env))
    # srun's own SLURM_* variables pass whatever --export says, as in Slurm.
    step_env.update({k: v for k, v in ctx.env.items() if k.startswith("SLURM_")})
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


def memory_fits(job: Job, req: StepRequest, cpus: list[int], counts: list[int], cpt: int) -> bool:
    """Whether the step's ``--mem``/``--mem-per-cpu`` fits in what the job holds on each node.

    Only a job that asked for memory (``--mem`` other than 0, or ``--mem-per-cpu``) bounds its
    steps; a step that asks for none fits.
    """
    spec = job.spec
    for node_cpus, count in zip(cpus, counts, strict=True):
        if spec.mem_per_node_mb:
            held: int | None = spec.mem_per_node_mb
        elif spec.mem_per_cpu_mb:
            held = spec.mem_per_cpu_mb * node_cpus
        else:
            return True
        if req.mem_per_node_mb:
            need = req.mem_per_node_mb
        elif req.mem_per_cpu_mb:
            need = req.mem_per_cpu_mb * count * cpt
        else:
            return True
        if held is not None and need > held:
            return False
    return True

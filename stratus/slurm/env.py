"""The ``SLURM_*`` environment of a batch job, as Slurm 22.05 builds it.

A real batch job's environment is assembled in three places: sbatch adds variables for the
options it was given (``SLURM_CPUS_PER_TASK``, ``SLURM_NTASKS`` ...), slurmctld adds the array
summary (``SLURM_ARRAY_TASK_COUNT`` ...), and slurmstepd adds the allocation (node list, CPU
layout, ids). :func:`batch_job_env` does all three from one :class:`JobEnvInput`, so the agent
that starts the script only has to add ``SLURM_TASK_PID`` (known once the process exists) and
merge this over the environment exported from the submitter.

Which variables appear, and when, follows the reference captures: a plain job has no
``SLURM_NTASKS``/``SLURM_CPUS_PER_TASK``/``SLURM_MEM_PER_NODE``; ``-n`` adds ``SLURM_NTASKS``
and ``SLURM_NPROCS``; ``-c`` adds ``SLURM_CPUS_PER_TASK``; ``--mem`` adds ``SLURM_MEM_PER_NODE``;
a requeued job's later runs add ``SLURM_RESTART_COUNT``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from stratus.net import HEAD_ADDRESS
from stratus.slurm import hostlist
from stratus.slurm.arrays import array_step
from stratus.slurm.views import BatchRequest, ClientContext

# slurmctld's protocol version (22.05) and select/cons_tres plugin id, as SLURM_WORKING_CLUSTER
# shows them; clients that parse it only check the shape.
PROTOCOL_VERSION = 9728
SELECT_PLUGIN_ID = 109


@dataclass(frozen=True, slots=True)
class JobEnvInput:
    """Everything :func:`batch_job_env` needs about one started batch job (or array task)."""

    job_id: int  # this job's (or array task's) own id
    name: str
    partition: str
    nodes: Sequence[str]  # allocated nodes, in allocation order; the first is the batch host
    cpus_per_node: Sequence[int]  # CPUs allocated on each node, same order as ``nodes``
    user: str
    uid: int
    gid: int
    submit_dir: str
    submit_host: str
    cluster_name: str
    ntasks: int | None = None  # -n as given (None: not given)
    cpus_per_task: int | None = None  # -c as given
    ntasks_per_node: int | None = None
    mem_per_node_mb: int | None = None  # --mem
    mem_per_cpu_mb: int | None = None  # --mem-per-cpu
    array_job_id: int | None = None
    array_task_id: int | None = None
    array_task_count: int | None = None  # slurmctld's summary of the whole array
    array_task_min: int | None = None
    array_task_max: int | None = None
    array_task_step: int = 1
    account: str | None = None
    qos: str | None = None
    reservation: str | None = None
    dependency: str | None = None
    open_mode: str | None = None  # "append" | "truncate"
    export: str | None = None  # --export as given
    gpus: str | None = None  # -G as given
    gpus_per_node: str | None = None  # --gpus-per-node as given
    gpu_ids: Sequence[int] = ()  # GPU indices allocated on the batch host
    prio_process: int = 0  # the submitter's nice value
    node_aliases: str | None = None  # "(null)" when None
    slurm_conf: str | None = None  # SLURM_CONF is omitted when None
    restart_count: int = 0  # how many times the job was requeued (SLURM_RESTART_COUNT when > 0)
    controller_addr: str = HEAD_ADDRESS
    controller_port: int = 6817
    extra: dict[str, str] = field(default_factory=dict)  # added verbatim, last


def compressed_counts(values: Sequence[int]) -> str:
    """Slurm's run-length form of a per-node list: ``2(x3),1`` for ``[2, 2, 2, 1]``."""
    parts: list[str] = []
    i = 0
    while i < len(values):
        j = i
        while j + 1 < len(values) and values[j + 1] == values[i]:
            j += 1
        reps = j - i + 1
        parts.append(f"{values[i]}(x{reps})" if reps > 1 else f"{values[i]}")
        i = j + 1
    return ",".join(parts)


def tasks_per_node(cpus_per_node: Sequence[int], ntasks: int | None, cpus_per_task: int) -> list[int]:
    """Slurm's block layout of a batch job's tasks over its nodes (``_task_layout_block``).

    Without ``-n`` the job gets as many tasks as its CPUs hold (``cpus // cpus_per_task`` per
    node). With ``-n``, tasks are dealt one per node per round while a node has CPUs left, then
    round-robin over every node once all are full.
    """
    cpt = max(cpus_per_task, 1)
    capacity = [c // cpt for c in cpus_per_node]
    if ntasks is None:
        return capacity
    tasks = [0] * len(capacity)
    placed = 0
    oversubscribe = False
    rnd = 0
    while placed < ntasks and capacity:
        space_left = False
        for i, cap in enumerate(capacity):
            if placed >= ntasks:
                break
            if rnd < cap or oversubscribe:
                tasks[i] += 1
                placed += 1
                if rnd + 1 < cap:
                    space_left = True
        if not space_left:
            oversubscribe = True
        rnd += 1
    return tasks


def batch_job_env(job: JobEnvInput) -> dict[str, str]:
    """The ``SLURM_*`` (and ``ENVIRONMENT``/``HOSTNAME``) variables of the batch step.

    ``SLURM_TASK_PID`` is not included: whoever spawns the script sets it.
    """
    env: dict[str, str] = {}
    nodes = list(job.nodes)
    nodelist = hostlist.compress(nodes)
    batch_host = nodes[0] if nodes else ""
    cpt = job.cpus_per_task or 1

    # From sbatch (options given on the command line, in the script or the environment).
    env["SLURM_SUBMIT_DIR"] = job.submit_dir
    env["SLURM_SUBMIT_HOST"] = job.submit_host
    env["SLURM_PRIO_PROCESS"] = str(job.prio_process)
    env["SLURM_JOB_NAME"] = job.name
    if job.cpus_per_task is not None:
        env["SLURM_CPUS_PER_TASK"] = str(job.cpus_per_task)
    if job.ntasks is not None:
        env["SLURM_NTASKS"] = str(job.ntasks)
        env["SLURM_NPROCS"] = str(job.ntasks)
    if job.ntasks_per_node is not None:
        env["SLURM_NTASKS_PER_NODE"] = str(job.ntasks_per_node)
    if job.open_mode:
        env["SLURM_OPEN_MODE"] = "a" if job.open_mode.startswith("a") else "t"
    if job.dependency:
        env["SLURM_JOB_DEPENDENCY"] = job.dependency
    if job.export and job.export.upper() != "ALL":
        env["SLURM_EXPORT_ENV"] = job.export
    if job.gpus:
        env["SLURM_GPUS"] = job.gpus
    if job.gpus_per_node:
        env["SLURM_GPUS_PER_NODE"] = job.gpus_per_node

    # From slurmctld (array summary).
    if job.array_task_id is not None:
        env["SLURM_ARRAY_JOB_ID"] = str(job.array_job_id if job.array_job_id is not None else job.job_id)
        env["SLURM_ARRAY_TASK_ID"] = str(job.array_task_id)
        if job.array_task_count is not None:
            env["SLURM_ARRAY_TASK_COUNT"] = str(job.array_task_count)
        if job.array_task_min is not None:
            env["SLURM_ARRAY_TASK_MIN"] = str(job.array_task_min)
        if job.array_task_max is not None:
            env["SLURM_ARRAY_TASK_MAX"] = str(job.array_task_max)
        env["SLURM_ARRAY_TASK_STEP"] = str(job.array_task_step)

    # From slurmd/slurmstepd (the allocation and this process's place in it).
    env["SLURM_CLUSTER_NAME"] = job.cluster_name
    env["SLURM_JOB_ID"] = str(job.job_id)
    env["SLURM_JOBID"] = str(job.job_id)
    env["SLURM_JOB_NUM_NODES"] = str(len(nodes))
    env["SLURM_NNODES"] = str(len(nodes))
    env["SLURM_JOB_NODELIST"] = nodelist
    env["SLURM_NODELIST"] = nodelist
    env["SLURM_JOB_PARTITION"] = job.partition
    env["SLURM_NODE_ALIASES"] = job.node_aliases if job.node_aliases is not None else "(null)"
    env["SLURM_JOB_CPUS_PER_NODE"] = compressed_counts(list(job.cpus_per_node))
    env["SLURM_TASKS_PER_NODE"] = compressed_counts(tasks_per_node(job.cpus_per_node, job.ntasks, cpt))
    if job.mem_per_cpu_mb is not None:
        env["SLURM_MEM_PER_CPU"] = str(job.mem_per_cpu_mb)
    elif job.mem_per_node_mb:
        env["SLURM_MEM_PER_NODE"] = str(job.mem_per_node_mb)
    if job.account:
        env["SLURM_JOB_ACCOUNT"] = job.account
    if job.qos:
        env["SLURM_JOB_QOS"] = job.qos
    if job.reservation:
        env["SLURM_JOB_RESERVATION"] = job.reservation
    if job.slurm_conf is not None:
        env["SLURM_CONF"] = job.slurm_conf
    if job.restart_count > 0:
        # slurmstepd sets it for a batch job's later runs only (env.c: "if (env->restart_cnt)").
        env["SLURM_RESTART_COUNT"] = str(job.restart_count)
    env["SLURMD_NODENAME"] = batch_host
    env["SLURM_CPUS_ON_NODE"] = str(job.cpus_per_node[0] if job.cpus_per_node else 0)
    env["SLURM_GTIDS"] = "0"
    env["SLURM_LOCALID"] = "0"
    env["SLURM_NODEID"] = "0"
    env["SLURM_PROCID"] = "0"
    env["SLURM_JOB_UID"] = str(job.uid)
    env["SLURM_JOB_GID"] = str(job.gid)
    env["SLURM_JOB_USER"] = job.user
    env["SLURM_TOPOLOGY_ADDR"] = batch_host
    env["SLURM_TOPOLOGY_ADDR_PATTERN"] = "node"
    env["SLURM_WORKING_CLUSTER"] = (
        f"{job.cluster_name}:{job.controller_addr}:{job.controller_port}:"
        f"{PROTOCOL_VERSION}:{SELECT_PLUGIN_ID}"
    )
    if job.gpu_ids:
        ids = ",".join(str(i) for i in job.gpu_ids)
        env["SLURM_GPUS_ON_NODE"] = str(len(job.gpu_ids))
        env["SLURM_JOB_GPUS"] = ids
        env["CUDA_VISIBLE_DEVICES"] = ids
        env["GPU_DEVICE_ORDINAL"] = ids
    env["ENVIRONMENT"] = "BATCH"
    if batch_host:
        env["HOSTNAME"] = batch_host
    env.update(job.extra)
    return env


def env_input_for(
    request: BatchRequest,
    ctx: ClientContext,
    *,
    job_id: int,
    partition: str,
    nodes: Sequence[str],
    cpus_per_node: Sequence[int],
    cluster_name: str,
    array_job_id: int | None = None,
    array_task_id: int | None = None,
    gpu_ids: Sequence[int] = (),
    slurm_conf: str | None = None,
) -> JobEnvInput:
    """A :class:`JobEnvInput` for a job submitted with ``request`` by ``ctx`` and now started.

    The array summary (count, min, max, step) comes from the request's ``--array``, as
    slurmctld records it at submission.
    """
    arr = request.array
    count = lo = hi = None
    step = 1
    if arr is not None and arr.indices:
        count, lo, hi = len(arr.indices), arr.indices.min(), arr.indices.max()
        step = array_step(arr.text) if arr.text else 1
    return JobEnvInput(
        job_id=job_id,
        name=request.name or "sbatch",
        partition=partition,
        nodes=list(nodes),
        cpus_per_node=list(cpus_per_node),
        user=ctx.user,
        uid=ctx.uid,
        gid=ctx.gid,
        submit_dir=ctx.cwd,
        submit_host=ctx.host,
        cluster_name=cluster_name,
        ntasks=request.ntasks,
        cpus_per_task=request.cpus_per_task,
        ntasks_per_node=request.ntasks_per_node,
        mem_per_node_mb=request.mem_per_node_mb,
        mem_per_cpu_mb=request.mem_per_cpu_mb,
        array_job_id=array_job_id if arr is not None else None,
        array_task_id=array_task_id if arr is not None else None,
        array_task_count=count,
        array_task_min=lo,
        array_task_max=hi,
        array_task_step=step,
        account=request.account,
        dependency=request.dependency,
        open_mode=request.open_mode,
        export=request.export,
        gpus=_gpu_text(request.gpus, request.gpu_type),
        gpus_per_node=_gpu_text(request.gpus_per_node, request.gpu_type),
        gpu_ids=list(gpu_ids),
        slurm_conf=slurm_conf,
    )


def _gpu_text(count: int | None, gpu_type: str | None) -> str | None:
    """The GPU option as sbatch passes it on (``2`` or ``a100:2``)."""
    if not count:
        return None
    return f"{gpu_type}:{count}" if gpu_type else str(count)

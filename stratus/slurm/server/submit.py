"""From Slurm's requests to the service's: job specs, dependencies, updates and payloads.

What ``sbatch`` (and ``salloc``/``srun`` outside a job) asked for becomes the engine's neutral
:class:`~stratus.engine.model.JobSpec` plus a Slurm-owned :class:`~stratus.service.model.Payload`
(script, environment, output patterns), and the service's refusals become Slurm's messages.
"""

from __future__ import annotations

import math
import signal
from typing import Any

from stratus.engine.model import DepCondition, JobSpec
from stratus.engine.states import JobState
from stratus.service.interface import Service
from stratus.service.model import Payload, Rejected
from stratus.slurm import errors as serr
from stratus.slurm.cparse import isdigits
from stratus.slurm.depend import DependencyError, parse_dependency
from stratus.slurm.errors import SlurmError
from stratus.slurm.timefmt import TimeSpecError, duration_secs, parse_mem_mb
from stratus.slurm.views import BatchRequest, ClientContext

DOOR = "slurm"  # the payloads this front door owns


def payload(request: BatchRequest, ctx: ClientContext) -> Payload:
    """What the job carries for its launch and its listings (paths as given, the submitter's umask)."""
    info: dict[str, Any] = {
        "workdir": request.workdir or ctx.cwd,
        "stdout": request.stdout,
        "stderr": request.stderr,
        "stdin": request.stdin,
        "args": request.script_args,
        "script_path": request.script_path,
        "submit_dir": ctx.cwd,
        "submit_host": ctx.host,
        "group": ctx.group or str(ctx.gid),
        "umask": ctx.umask,
        "open_mode": request.open_mode,
        "export": request.export,
        "account": request.account,
        "comment": request.comment,
        "ntasks": request.ntasks,
        "cpus_per_task": request.cpus_per_task,
        "ntasks_per_node": request.ntasks_per_node,
        "mem_per_node_mb": request.mem_per_node_mb,
        "mem_per_cpu_mb": request.mem_per_cpu_mb,
        "features": request.constraint,
    }
    if request.stage_in or request.stage_out:
        info["stage_in"], info["stage_out"] = request.stage_in, request.stage_out
    if request.array is not None:
        ids = request.array.indices
        info["array"] = {"count": len(ids), "min": ids.min(), "max": ids.max(), "text": request.array.text}
    return Payload(DOOR, info, request.script, export_env(request.export, dict(ctx.env)))


def update_fields(fields: dict[str, str]) -> dict[str, object]:
    """``scontrol update`` keys (case-insensitive, Slurm's names) as engine spec changes."""
    out: dict[str, object] = {}
    for key, value in fields.items():
        k = key.lower()
        if k == "timelimit":
            if value.upper() in ("UNLIMITED", "INFINITE"):
                out["time_limit_s"] = None
                continue
            try:
                secs = duration_secs(value)
            except TimeSpecError:
                raise ValueError("Invalid TimeLimit value") from None
            out["time_limit_s"] = None if secs is None or secs <= 0 else float(secs)
        elif k == "partition":
            out["partitions"] = tuple(p for p in value.split(",") if p)
        elif k in ("numcpus", "mincpusnode"):
            # The job's CPUs in all (Slurm's minimum CPU count): spread over its tasks.
            out["total_cpus"] = _positive(key, value.split("-")[0])
        elif k in ("numtasks", "reqtasks"):
            out["ntasks"] = _positive(key, value)
        elif k in ("numnodes", "reqnodes"):
            lo, _, hi = value.partition("-")
            out["min_nodes"] = _positive(key, lo)
            out["max_nodes"] = _positive(key, hi) if hi else out["min_nodes"]
        elif k == "nice":
            try:
                out["nice"] = int(value)
            except ValueError:
                raise ValueError(f"Invalid {key} value") from None
        elif k in ("jobname", "name"):
            out["name"] = value
        elif k == "minmemorynode":
            try:
                out["mem_per_node_mb"] = parse_mem_mb(value)
            except ValueError:
                raise ValueError(f"Invalid {key} value") from None
        else:
            raise ValueError(f"Update of {key} is not supported by stratus")
    return out


def _positive(key: str, value: str) -> int:
    try:
        n = int(value)
    except ValueError:
        raise ValueError(f"Invalid {key} value") from None
    if n < 1:
        raise ValueError(f"Invalid {key} value")
    return n


def _warn_signal(text: str | None) -> tuple[str, float, bool] | None:
    """``--signal=[{R|B}:]<sig>[@<seconds>]``: (signal, seconds before the limit, batch only).

    Slurm's default is 60 seconds before the limit; ``B:`` signals the batch shell only.
    """
    if not text:
        return None
    batch_only = False
    flags, colon, rest = text.partition(":")
    if colon and flags.upper() in ("B", "R", "RB", "BR"):
        batch_only = "B" in flags.upper()
        text = rest
    sig, _, when = text.partition("@")
    name = sig.upper().removeprefix("SIG")
    valid = isdigits(name) or hasattr(signal, "SIG" + name)
    try:
        seconds = float(int(when)) if when else 60.0
    except ValueError:
        valid = False
        seconds = 0.0
    if not valid or seconds < 0:
        raise SlurmError("sbatch: error: Invalid --signal specification", 255)
    return name, seconds, batch_only


def _features(constraint: str | None) -> tuple[str, ...]:
    """``-C a&b`` (or a single feature) as the features every node must have.

    OR, counts and brackets (``a|b``, ``a*2``, ``[a&b]``) are refused with Slurm's wording.
    """
    if not constraint:
        return ()
    if any(c in constraint for c in "|*[]()"):
        raise serr.submit_failed(serr.INVALID_FEATURE + " (stratus supports features joined by '&')")
    return tuple(f.strip() for f in constraint.split("&") if f.strip())


def export_env(export: str | None, env: dict[str, str]) -> dict[str, str]:
    """The environment a job starts from, per ``--export``, as sbatch 22.05 builds it.

    ``ALL`` (the default): everything. ``NONE``: only the variables whose names start with
    ``SLURM``. Anything else is a list (env_merge_filter): ``ALL`` adds everything, ``NAME=value``
    sets a variable, ``NAME`` copies it if set; then every ``SLURM_*`` variable is added.
    """
    if export is None or export.upper() == "ALL":
        return dict(env)
    if export.upper() == "NONE":
        return {k: v for k, v in env.items() if k.startswith("SLURM")}
    base: dict[str, str] = {}
    for item in (x for x in export.split(",") if x):
        name, eq, value = item.partition("=")
        if item.upper() == "ALL":
            base.update(env)
        elif eq:
            base[name] = value
        elif name in env:
            base[name] = env[name]
    base.update((k, v) for k, v in env.items() if k.startswith("SLURM_"))
    return base


def job_spec(r: BatchRequest, ctx: ClientContext, service: Service, *, interactive: bool = False) -> JobSpec:
    """A parsed submission as the engine's neutral job request (raises ``SlurmError``)."""
    deps, any_of = dependencies(r.dependency, service)
    min_nodes = r.min_nodes or 1
    max_nodes = r.max_nodes  # -N 2 gives (2, 2); -N 2- gives (2, None): open-ended
    cpt = r.cpus_per_task or 1
    if r.ntasks is not None:
        ntasks = r.ntasks
    elif r.ntasks_per_node is not None:
        ntasks = min_nodes * r.ntasks_per_node
    else:
        ntasks = min_nodes
    if ntasks < min_nodes:
        # Slurm lowers the node count to the task count (one task per node at least).
        min_nodes = ntasks
        max_nodes = ntasks
    limit: float | None = None
    if not r.time_unlimited:
        if r.time_limit_s is not None and r.time_limit_s > 0:
            limit = float(r.time_limit_s)
        elif r.time_limit_min is not None and r.time_limit_min > 0:
            limit = r.time_limit_min * 60.0
    gpn = r.gpus_per_node or 0
    if not gpn and r.gpus:
        gpn = math.ceil(r.gpus / min_nodes)
    return JobSpec(
        name=r.name or "sbatch",
        user=ctx.user,
        account=(r.account or "").lower(),
        uid=ctx.uid,
        gid=ctx.gid,
        partitions=tuple(r.partitions),
        min_nodes=min_nodes,
        max_nodes=max_nodes,
        ntasks=ntasks,
        cpus_per_task=cpt,
        ntasks_per_node=r.ntasks_per_node,
        mem_per_node_mb=r.mem_per_node_mb,
        mem_per_cpu_mb=r.mem_per_cpu_mb,
        gpus_per_node=gpn,
        time_limit_s=limit,
        exclusive=r.exclusive,
        requeue=True if r.requeue is None else r.requeue,
        nice=r.nice,
        begin_time=r.begin_time,
        array_max_running=r.array.max_running if r.array is not None else None,
        features=_features(r.constraint),
        gpu_type=r.gpu_type,
        dependencies=deps,
        dependency_any=any_of,
        kill_on_invalid_dep=r.extra.get("kill-on-invalid-dep", "").lower() in ("yes", "y", "1"),
        interactive=interactive,
        warn_signal=_warn_signal(r.extra.get("signal")),
    )


def dependencies(text: str | None, service: Service) -> tuple[tuple[DepCondition, ...], bool]:
    """``--dependency`` as engine conditions; a job that never existed is refused.

    Slurm accepts a dependency on an unknown job and runs the job at once; stratus refuses
    it (``Job dependency problem``), since that is almost always a typo. A job that finished
    long ago (no longer in memory) is looked up in the store and its outcome decided now.
    """
    if not text:
        return (), False
    try:
        parsed = parse_dependency(text)
    except DependencyError:
        raise serr.dependency_problem() from None
    conds: list[DepCondition] = []
    for d in parsed.items:
        kind = "afterany" if d.type == "afterburstbuffer" else d.type
        if kind == "singleton":
            conds.append(DepCondition("singleton"))
            continue
        resolved: bool | None = None
        if not service.knows(d.job_id):
            states = service.stored_states(d.job_id, d.task_id)
            if not states:
                raise serr.dependency_problem()
            ok = all(s == JobState.COMPLETED.value for s in states)
            final = all(JobState(s).final for s in states)
            if kind in ("after", "afterany") or not final:
                resolved = True if final else None
            elif kind in ("afterok", "aftercorr"):
                resolved = ok
            else:  # afternotok
                resolved = not ok
        conds.append(DepCondition(kind, d.job_id, d.task_id, d.delay_min * 60.0, resolved))
    return tuple(conds), parsed.any_of


def rejected(exc: Rejected) -> SlurmError:
    """The engine's refusal of a submission, in sbatch's words."""
    code = exc.rejection_code
    if code == "INVALID_PARTITION":
        return serr.invalid_partition(exc.detail)
    if code == "CPUS_PER_NODE":
        return serr.cpus_unsatisfiable()
    if code == "MEMORY":
        return serr.memory_unsatisfiable()
    if code == "NODE_COUNT":
        return serr.node_count_invalid()
    if code == "PROCESSORS":
        return serr.too_many_processors()
    if code == "TIME_LIMIT":
        return serr.invalid_time_limit()
    if code == "FEATURES":
        return serr.invalid_feature()
    if code == "STORAGE":
        return serr.submit_failed(serr.REQUESTED_NODE_CONFIG_UNAVAILABLE, exc.detail)
    return serr.node_config_unavailable()

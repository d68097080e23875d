"""The controller's side of the Slurm seam: submissions, cancellations and the rows Slurm prints.

This is where Slurm's vocabulary meets the engine's: a parsed ``sbatch`` becomes an engine
``JobSpec`` plus a stored payload (script, environment, paths), engine records become ``JobRow``s
and ``NodeRow``s, and a job about to start becomes a launch message with the ``SLURM_*``
environment a real Slurm job sees.
"""

from __future__ import annotations

import math
import os
import pwd
import signal
from collections import OrderedDict
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from stratus.engine.engine import CancelOutcome
from stratus.engine.indexset import IndexSet
from stratus.engine.model import Action, DepCondition, Job, JobSpec, KillJob, Rejection
from stratus.engine.states import JobState, NodeState
from stratus.slurm import errors as serr
from stratus.slurm.depend import DependencyError, parse_dependency
from stratus.slurm.env import JobEnvInput, batch_job_env, compressed_counts
from stratus.slurm.errors import SlurmError
from stratus.slurm.hostlist import compress
from stratus.slurm.patterns import PatternContext, output_paths
from stratus.slurm.scontrol import DISABLED, JOB_NOT_PENDING, JOB_PENDING, TRANSITION_STATE_NO_UPDATE
from stratus.slurm.timefmt import TimeSpecError, duration_secs, parse_mem_mb
from stratus.slurm.views import (
    AcctQuery,
    AcctRow,
    BatchRequest,
    CancelRequest,
    CancelResult,
    ClientContext,
    ControlRequest,
    ControlResult,
    JobRow,
    NodeRow,
    PartitionRow,
    PriorityRow,
    PriorityWeights,
    ShareRow,
)

if TYPE_CHECKING:
    from stratus.controller.core import Controller

NO_VAL = 4294967294  # Slurm prints this task id in the paths of an array's pending remainder
_PAYLOAD_CACHE = 256


def _login_defaults(env: dict[str, str], user: str, slurm_bin: str) -> None:
    """What a job finds even with ``--export=NONE``: the user's basics, and Slurm's commands.

    Slurm then gives the job the user's login environment (``--get-user-env``); stratus gives
    HOME, USER, LOGNAME, SHELL and a default PATH where missing. The cluster's Slurm commands
    come first on PATH either way, as they are installed system-wide on a Slurm cluster, so a
    job can run ``scontrol show hostnames`` or submit more jobs.
    """
    try:
        pw = pwd.getpwnam(user)
        defaults = {"HOME": pw.pw_dir, "USER": user, "LOGNAME": user, "SHELL": pw.pw_shell or "/bin/sh"}
    except KeyError:
        defaults = {"USER": user, "LOGNAME": user, "SHELL": "/bin/sh"}
    for key, value in defaults.items():
        env.setdefault(key, value)
    path = env.get("PATH") or "/usr/local/bin:/usr/bin:/bin"
    if slurm_bin not in path.split(os.pathsep):
        path = slurm_bin + os.pathsep + path
    env["PATH"] = path


def _usage_fields(usage: dict[str, Any] | None) -> dict[str, Any]:
    """What the agent measured of a run, as AcctRow fields (nothing when unknown)."""
    if not usage:
        return {}
    return {
        "max_rss_kb": usage.get("maxrss_kb"),
        "user_cpu_s": usage.get("utime"),
        "system_cpu_s": usage.get("stime"),
    }


def _batch_step_state(job: Job) -> str:
    """The batch step's state: how the script itself ended (killed scripts show CANCELLED)."""
    if not job.state.final:
        return "RUNNING" if job.state in (JobState.RUNNING, JobState.COMPLETING) else job.state.value
    if job.state == JobState.OUT_OF_MEMORY:
        return "OUT_OF_MEMORY"
    if job.exit_signal:
        return "CANCELLED"
    return "COMPLETED" if job.exit_code == 0 else "FAILED"


# Set per task by srun's steps, not for the allocation itself.
_TASK_VARIABLES = (
    "SLURM_PROCID",
    "SLURM_LOCALID",
    "SLURM_NODEID",
    "SLURMD_NODENAME",
    "SLURM_GTIDS",
    "SLURM_TOPOLOGY_ADDR",
    "SLURM_TOPOLOGY_ADDR_PATTERN",
    "SLURM_PRIO_PROCESS",
)

_REQUEUE_ERRORS = {
    "PENDING": JOB_PENDING,
    "COMPLETING": TRANSITION_STATE_NO_UPDATE,
    "NO_REQUEUE": DISABLED,
}
_UPDATE_ERRORS = {
    "ALREADY_DONE": serr.ALREADY_DONE,
    "NOT_PENDING": JOB_NOT_PENDING,
    "IMPOSSIBLE": serr.REQUESTED_NODE_CONFIG_UNAVAILABLE,
}


def _update_fields(fields: dict[str, str]) -> dict[str, object]:
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
    valid = name.isdigit() or hasattr(signal, "SIG" + name)
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


def _version(job: Job) -> tuple[object, ...]:
    """Everything about a job that its squeue row shows: the row is rebuilt when this changes."""
    pending = job.pending_tasks
    return (
        job.state,
        job.reason,
        job.run,
        job.state_time,
        job.partition,
        job.priority,
        job.start_time,
        job.end_time,
        job.task_id,
        -1 if pending is None else len(pending),
        -1 if not pending else pending.min(),
        job.alloc is not None,
        job.exit_code,
        job.exit_signal,
        job.time_limit_s,
    )


def export_env(export: str | None, env: dict[str, str]) -> dict[str, str]:
    """The environment a job starts from, per ``--export`` (Slurm's default is ALL)."""
    if export is None or export.upper() == "ALL":
        return dict(env)
    items = [x for x in export.split(",") if x]
    base: dict[str, str] = {}
    if items and items[0].upper() == "ALL":
        base = dict(env)
        items = items[1:]
    elif items and items[0].upper() == "NONE":
        items = items[1:]
    else:
        # A plain list: those variables plus Slurm's own, as Slurm documents.
        base = {k: v for k, v in env.items() if k.startswith("SLURM_")}
    for item in items:
        name, eq, value = item.partition("=")
        if eq:
            base[name] = value
        elif name in env:
            base[name] = env[name]
    return base


class ControllerSlurmBackend:
    """Implements :class:`stratus.slurm.views.SlurmBackend` over a live controller."""

    def __init__(self, ctrl: Controller) -> None:
        self.ctrl = ctrl
        self.cluster_name = ctrl.name
        self.max_array_size = ctrl.layout.max_array_size
        self._infos: dict[int, dict[str, Any]] = {}
        # Rows only change when their job does: (version, row) per job id, see _version.
        self._rows: dict[int, tuple[tuple[object, ...], JobRow]] = {}
        self._step_ids: dict[tuple[int, int], int] = {}  # (job, run) -> last step id used
        self._interactive = False  # submit() is serving salloc/srun: no batch script
        self._alloc_seen: dict[int, float] = {}  # interactive job -> last time its client asked
        self._open_steps: dict[tuple[int, int, int], dict[str, Any]] = {}
        self._payloads: OrderedDict[int, tuple[dict[str, Any], str, dict[str, str]]] = OrderedDict()

    def now(self) -> float:
        return self.ctrl.clock()

    # -- submission -----------------------------------------------------------------------------

    def submit(self, request: BatchRequest, ctx: ClientContext) -> int:
        spec = self._spec(request, ctx)
        engine = self.ctrl.engine
        if self.ctrl.deleting:
            raise serr.submit_failed("Slurm controller is shutting down")
        rejection = engine.check(spec)
        if rejection is not None:
            raise self._rejected(rejection)
        workdir = request.workdir or ctx.cwd
        info: dict[str, Any] = {
            "workdir": workdir,
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
        if request.array is not None:
            ids = request.array.indices
            info["array"] = {
                "count": len(ids),
                "min": ids.min(),
                "max": ids.max(),
                "text": request.array.text,
            }
        env = export_env(request.export, dict(ctx.env))
        job = engine.submit(
            spec,
            self.ctrl.clock(),
            array=request.array.indices if request.array is not None else None,
            hold=request.hold,
        )
        self.ctrl.commit(extra=lambda c: self.ctrl.store.insert_payload(c, job.id, info, request.script, env))
        self._infos[job.id] = info
        return job.id

    def estimate(self, request: BatchRequest, ctx: ClientContext) -> tuple[int, float, str, int, str]:
        spec = self._spec(request, ctx)
        engine = self.ctrl.engine
        rejection = engine.check(spec)
        if rejection is not None:
            raise self._rejected(rejection)
        now = self.ctrl.clock()
        found = engine.estimate(spec, now)
        if found is None:
            raise serr.submit_failed(serr.REQUESTED_PART_CONFIG_UNAVAILABLE)
        start, nodes, partition = found
        return engine.next_job_id, start, compress(nodes), spec.ntasks * spec.cpus_per_task, partition

    def wait_status(self, job_id: int) -> int | None:
        engine = self.ctrl.engine
        records = engine.targets(job_id, None)
        if records:
            if not all(r.state.final for r in records):
                return None
            return max(r.exit_code if not r.exit_signal else 128 + r.exit_signal for r in records)
        states = self._stored_states(job_id, None)
        return 0 if all(s == JobState.COMPLETED.value for s in states) else 1

    def _spec(self, r: BatchRequest, ctx: ClientContext) -> JobSpec:
        deps, any_of = self._dependencies(r.dependency)
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
            interactive=self._interactive,
            warn_signal=_warn_signal(r.extra.get("signal")),
        )

    def _dependencies(self, text: str | None) -> tuple[tuple[DepCondition, ...], bool]:
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
        engine = self.ctrl.engine
        conds: list[DepCondition] = []
        for d in parsed.items:
            kind = "afterany" if d.type == "afterburstbuffer" else d.type
            if kind == "singleton":
                conds.append(DepCondition("singleton"))
                continue
            resolved: bool | None = None
            if not engine.knows(d.job_id):
                states = self._stored_states(d.job_id, d.task_id)
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

    def _stored_states(self, job_id: int, task_id: int | None) -> list[str]:
        """States of the stored records of a job (or one task of it), newest runs."""
        with self.ctrl.store.reading() as conn:
            return self.ctrl.store.job_states(conn, job_id, task_id)

    @staticmethod
    def _rejected(r: Rejection) -> SlurmError:
        if r.code == "INVALID_PARTITION":
            return serr.invalid_partition(r.detail)
        if r.code == "CPUS_PER_NODE":
            return serr.cpus_unsatisfiable()
        if r.code == "MEMORY":
            return serr.memory_unsatisfiable()
        if r.code == "NODE_COUNT":
            return serr.node_count_invalid()
        if r.code == "FEATURES":
            return serr.invalid_feature()
        return serr.node_config_unavailable()

    # -- cancellation ---------------------------------------------------------------------------

    def cancel(self, request: CancelRequest, ctx: ClientContext) -> CancelResult:
        engine = self.ctrl.engine
        now = self.ctrl.clock()
        errors: list[str] = []
        actions: list[Action] = []
        count = 0

        def allowed(records: list[Job]) -> bool:
            return ctx.uid == 0 or all(j.spec.uid == ctx.uid for j in records)

        def matches(job: Job) -> bool:
            if request.user is not None and job.spec.user != request.user:
                return False
            if request.states and job.state.value not in request.states:
                return False
            if request.partitions and job.partition not in request.partitions:
                return False
            return request.name is None or job.spec.name == request.name

        def signal(job: Job) -> None:
            if job.state == JobState.RUNNING and job.alloc is not None and request.signal is not None:
                actions.append(KillJob(job.id, job.run, job.alloc.nodes, "SIGNAL", request.signal))

        if request.targets:
            for target in request.targets:
                label = str(target.job_id)
                if target.task_ids is not None:
                    label += (
                        f"_{target.task_ids.to_slurm()}"
                        if len(target.task_ids) == 1
                        else (f"_[{target.task_ids.to_slurm()}]")
                    )
                if not allowed(self._records_of(target.job_id)):
                    errors.append(serr.kill_job_error(label, serr.ACCESS_DENIED))
                    continue
                if request.signal is not None:
                    found = [
                        j
                        for j in self._records_of(target.job_id)
                        if target.task_ids is None or j.task_id in target.task_ids
                    ]
                    for j in found:
                        signal(j)
                    if not found:
                        errors.append(serr.kill_job_error(label))
                    continue
                out: CancelOutcome = engine.cancel(target.job_id, target.task_ids, now)
                actions += out.actions
                count += out.cancelled
                if not out.found:
                    errors.append(serr.kill_job_error(label))
                elif out.already_done and out.cancelled == 0:
                    errors.append(serr.kill_job_error(label, serr.ALREADY_DONE))
        else:
            for job in list(engine.jobs.values()):
                if job.state.final or not matches(job) or not allowed([job]):
                    continue
                if request.signal is not None:
                    signal(job)
                    continue
                # One record at a time: an array's id also names all of its tasks.
                if job.is_array_remainder:
                    assert job.pending_tasks is not None
                    out = engine.cancel(job.id, job.pending_tasks.copy(), now)
                elif job.array_id is not None and job.task_id is not None:
                    out = engine.cancel(job.array_id, IndexSet.from_ids([job.task_id]), now)
                else:
                    out = engine.cancel(job.id, None, now)
                actions += out.actions
                count += out.cancelled
        self.ctrl.commit(actions)
        if request.quiet:
            errors = []
        return CancelResult(cancelled=count, errors=errors, exit_code=1 if errors else 0)

    # -- scontrol job actions -------------------------------------------------------------------

    def control(self, request: ControlRequest, ctx: ClientContext) -> ControlResult:
        """hold, uhold, release, requeue, requeuehold, update: every change stored before answering.

        Error lines are scontrol's: ``<Slurm error> for job <id>``.
        """
        engine = self.ctrl.engine
        now = self.ctrl.clock()
        errors: list[str] = []
        actions: list[Action] = []
        changes: dict[str, object] = {}
        if request.action == "update":
            try:
                changes = _update_fields(request.fields)
            except ValueError as exc:
                return ControlResult(errors=[str(exc)], exit_code=1)
        for target in request.targets:
            label = str(target.job_id)
            if target.task_ids is not None:
                label += "_" + (
                    target.task_ids.to_slurm()
                    if len(target.task_ids) == 1
                    else f"[{target.task_ids.to_slurm()}]"
                )
            records = engine.targets(target.job_id, target.task_ids)
            if not records:
                errors.append(f"{serr.INVALID_JOB_ID} for job {label}")
                continue
            if ctx.uid != 0 and any(r.spec.uid != ctx.uid for r in records):
                errors.append(f"{serr.ACCESS_DENIED} for job {label}")
                continue
            problem = None
            for job in records:
                problem = self._control_one(request.action, job, changes, now, actions) or problem
            if problem is not None:
                errors.append(f"{problem} for job {label}")
        self.ctrl.commit(actions)
        return ControlResult(errors=errors, exit_code=1 if errors else 0)

    def _control_one(
        self, action: str, job: Job, changes: dict[str, object], now: float, actions: list[Action]
    ) -> str | None:
        engine = self.ctrl.engine
        if action in ("hold", "uhold", "release"):
            if not engine.set_hold(job, action != "release", now):
                return serr.ALREADY_DONE if job.state.final else JOB_NOT_PENDING
            return None
        if action in ("requeue", "requeuehold"):
            err, acts = engine.requeue(job, now, hold=action == "requeuehold")
            actions.extend(acts)
            return None if err is None else _REQUEUE_ERRORS[err]
        if action == "update":
            mine = dict(changes)
            total = mine.pop("total_cpus", None)
            if isinstance(total, int):
                mine["cpus_per_task"] = max(1, math.ceil(total / max(job.spec.ntasks, 1)))
            err = engine.update(job, mine, now)
            return None if err is None else _UPDATE_ERRORS[err]
        return f"Unknown job action {action}"

    def slurm_config(self) -> dict[str, str]:
        """The slurm.conf parameters stratus has, for ``scontrol show config``."""
        layout = self.ctrl.layout
        idle = layout.scaledown_idletime_s
        return {
            "MinJobAge": f"{int(layout.min_job_age_s)} sec",
            "SuspendTime": "INFINITE" if idle == math.inf else f"{int(idle)} sec",
            "ResumeTimeout": f"{int(layout.resume_timeout_s)} sec",
            "EnforcePartLimits": "ALL",
            "PrivateData": "cloud",
            "SelectTypeParameters": "CR_CPU_MEMORY" if layout.memory_based_scheduling else "CR_CPU",
            "SchedulerType": "sched/backfill",
            "PriorityType": "priority/basic",
            "JobRequeue": "1",
        }

    # -- priorities (sprio, sshare) -------------------------------------------------------------

    def priorities(self) -> tuple[PriorityWeights, list[PriorityRow]]:
        engine = self.ctrl.engine
        cfg = engine.config.priority
        weights = PriorityWeights(
            f"priority/{cfg.kind}",
            cfg.weight_age,
            cfg.weight_fairshare,
            cfg.weight_jobsize,
            cfg.weight_partition,
        )
        if cfg.kind != "multifactor":
            return weights, []
        now = self.ctrl.clock()
        # The factors as of the last calculation, so that they add up to what squeue shows.
        when = engine.priority_calc_time if math.isfinite(engine.priority_calc_time) else now
        rows: list[PriorityRow] = []
        for job in engine.jobs.values():
            if job.state != JobState.PENDING or job.held:
                continue
            if job.eligible_time is not None and job.eligible_time > now:
                continue
            names = job.spec.partitions or ((engine.default_partition,) if engine.default_partition else ())
            for pname in names:
                f = engine.priority_factors(job, max(when, job.submit_time), partition=pname)
                rows.append(
                    PriorityRow(
                        job.id,
                        pname,
                        job.spec.user,
                        f.age,
                        f.fairshare,
                        f.jobsize,
                        f.partition,
                        f.nice,
                        f.priority(engine.config.priority),
                    )
                )
        return weights, rows

    def shares(self) -> tuple[str, list[ShareRow]]:
        engine = self.ctrl.engine
        rows = [
            ShareRow(
                r.account,
                r.user,
                r.depth,
                r.raw_shares,
                r.norm_shares,
                r.raw_usage,
                r.norm_usage,
                r.effective_usage,
                r.fairshare,
            )
            for r in engine.shares(self.ctrl.clock())
        ]
        return f"priority/{engine.config.priority.kind}", rows

    # -- accounting (sacct) -------------------------------------------------------------------

    def accounting(self, query: AcctQuery) -> list[AcctRow]:
        """Jobs from the store (finished long ago too), one row per run, plus batch steps."""
        with self.ctrl.store.reading() as conn:
            stored = self.ctrl.store.load_accounting(
                conn, job_ids=query.job_ids, users=query.users, start=query.start, end=query.end
            )
        out: list[AcctRow] = []
        for job, info, records in stored:
            runs = [r for r in records if r.get("kind") != "step"]
            steps = [r for r in records if r.get("kind") == "step" and r["run"] == job.run]
            spec = job.spec
            base = {
                "job_id": job.id,
                "name": spec.name,
                "user": spec.user,
                "uid": spec.uid,
                "gid": spec.gid,
                "partition": job.partition or ",".join(spec.partitions),
                "submit_time": job.submit_time,
                "array_job_id": job.array_id,
                "array_task_id": job.task_id,
                "account": info.get("account"),
                "group": info.get("group", str(spec.gid)),
                "eligible_time": job.eligible_time,
                "time_limit_min": None if job.time_limit_s is None else math.ceil(job.time_limit_s / 60),
                "num_tasks": spec.ntasks,
                "req_cpus": spec.ntasks * spec.cpus_per_task,
                "req_mem_mb": spec.mem_per_node_mb,
                "req_gpus": spec.gpus_per_node,
                "workdir": info.get("workdir", ""),
                "priority": job.priority,
                "cluster": self.cluster_name,
            }
            for run in runs:
                if run["run"] >= job.run:
                    continue  # the current run is the job's own row below
                out.append(
                    AcctRow(
                        **base,
                        state=run["state"],
                        restarts=run["run"],
                        start_time=run["start_time"],
                        end_time=run["end_time"],
                        nodes=run["nodes"],
                        num_nodes=len(run["nodes"]) or 1,
                        num_cpus=run["cpus"] or 1,
                        exit_code=run["exit_code"],
                        exit_signal=run["exit_signal"],
                        reason=run["reason"] or "None",
                        **_usage_fields(run["usage"]),
                    )
                )
            current = next((r for r in runs if r["run"] == job.run), None)
            usage = _usage_fields(current["usage"] if current else None)
            alloc = job.alloc
            started = job.start_time is not None and job.state not in (JobState.PENDING, JobState.CONFIGURING)
            out.append(
                AcctRow(
                    **base,
                    state=job.state.value,
                    state_by_uid=spec.uid if job.state == JobState.CANCELLED else None,
                    restarts=job.run,
                    array_pending=job.pending_tasks if job.is_array_remainder else None,
                    reason=job.reason,
                    start_time=job.start_time if started else None,
                    end_time=job.end_time,
                    nodes=alloc.nodes if alloc is not None and started else (),
                    num_nodes=len(alloc.nodes) if alloc is not None else spec.min_nodes,
                    num_cpus=alloc.total_cpus if alloc is not None else spec.ntasks * spec.cpus_per_task,
                    exit_code=job.exit_code,
                    exit_signal=job.exit_signal,
                    derived_exit_code=job.exit_code,
                    derived_exit_signal=job.exit_signal,
                    **usage,
                )
            )
            if started and alloc is not None:
                out.append(
                    AcctRow(
                        **{**base, "name": "batch", "partition": "", "num_tasks": 1},
                        step="batch",
                        state=_batch_step_state(job),
                        restarts=job.run,
                        start_time=job.start_time,
                        end_time=job.end_time,
                        nodes=alloc.nodes[:1],
                        num_nodes=1,
                        num_cpus=alloc.cpus[0],
                        exit_code=job.exit_code,
                        exit_signal=job.exit_signal,
                        **usage,
                    )
                )
            for step in steps:
                ended = step["end_time"] is not None
                # A step still open when its job ended (the head node restarted meanwhile)
                # ended with the job.
                state = step["state"] if ended or not job.state.final else job.state.value
                out.append(
                    AcctRow(
                        **{**base, "name": step["name"], "partition": "", "num_tasks": step["ntasks"]},
                        step=str(step["step_id"]),
                        state=state,
                        restarts=job.run,
                        start_time=step["start_time"],
                        end_time=step["end_time"] if ended else (job.end_time if job.state.final else None),
                        nodes=step["nodes"],
                        num_nodes=len(step["nodes"]),
                        num_cpus=step["cpus"],
                        exit_code=step["exit_code"],
                        exit_signal=step["exit_signal"],
                        **_usage_fields(step.get("usage")),
                    )
                )
        return out

    # -- interactive allocations (salloc, srun outside a job) ---------------------------------

    def allocate(self, prog: str, argv: list[str], ctx: ClientContext) -> tuple[int, list[str]]:
        """Queue an allocation with salloc's (or srun's) options; (job id, the command to run).

        The options are sbatch's, so sbatch's parser reads them; the command after them is only
        recorded (it runs on the client's side, not as a batch script).
        """
        import shlex

        from stratus.slurm.options import OptionError, getopt_long
        from stratus.slurm.sbatch import LONGOPTS, SHORTOPTS, parse_sbatch

        try:
            _, command = getopt_long(prog, argv, SHORTOPTS, LONGOPTS)
        except OptionError as exc:
            raise SlurmError([str(exc), f'Try "{prog} --help" for more information'], 1) from None
        options = list(argv[: len(argv) - len(command)])
        if options and options[-1] == "--":
            options.pop()
        wrap = shlex.join(command) if command else "true"
        parsed = parse_sbatch([*options, "--wrap", wrap], ctx, self.now(), self.max_array_size)
        request = parsed.request
        if request is None or request.array is not None:
            raise SlurmError(f"{prog}: error: job arrays are for sbatch", 1)
        named = any(o in ("-J", "--job-name") or o.startswith(("-J", "--job-name=")) for o in options)
        if not named and "SBATCH_JOB_NAME" not in ctx.env:
            # Like Slurm: the allocation is named after its command (or the client).
            request.name = os.path.basename(command[0]) if command else prog
        self._interactive = True
        try:
            job_id = self.submit(request, ctx)
        finally:
            self._interactive = False
        self._alloc_seen[job_id] = self.now()
        return job_id, command

    def allocation_status(self, job_id: int) -> dict[str, Any]:
        """What a waiting salloc/srun needs: the job's state and, once granted, its environment.

        Every call counts as the client being alive (see :meth:`expire_allocations`).
        """
        self._alloc_seen[job_id] = self.now()
        job = self.ctrl.engine.jobs.get(job_id)
        if job is None:
            return {"state": "UNKNOWN"}
        out: dict[str, Any] = {"state": job.state.value, "reason": job.reason}
        if job.state == JobState.RUNNING and job.alloc is not None:
            info = self.info(job.id)
            env = batch_job_env(self._env_input(job, info))
            for task_var in _TASK_VARIABLES:
                env.pop(task_var, None)
            out["env"] = env
            out["nodes"] = list(job.alloc.nodes)
        return out

    def allocation_done(self, job_id: int, exit_code: int) -> None:
        """The client relinquishes its allocation: the job ends with the command's exit code."""
        engine = self.ctrl.engine
        job = engine.jobs.get(job_id)
        self._alloc_seen.pop(job_id, None)
        if job is None or not job.spec.interactive:
            return
        now = self.now()
        if job.state in (JobState.PENDING, JobState.CONFIGURING):
            self.ctrl.commit(engine.cancel(job_id, None, now).actions)
        elif job.state == JobState.RUNNING:
            self.ctrl.commit(engine.job_ended(job_id, job.run, now, exit_code=exit_code))

    def expire_allocations(self, timeout_s: float) -> None:
        """Allocations whose client stopped asking for ``timeout_s`` are cancelled (gone client)."""
        now = self.now()
        for job_id, seen in list(self._alloc_seen.items()):
            if now - seen > timeout_s:
                job = self.ctrl.engine.jobs.get(job_id)
                self._alloc_seen.pop(job_id, None)
                if job is not None and not job.state.final:
                    self.ctrl.commit(self.ctrl.engine.cancel(job_id, None, now, cause="client gone").actions)

    # -- job steps (srun) -------------------------------------------------------------------

    def create_step(self, body: dict[str, Any], ctx: ClientContext) -> dict[str, Any]:
        """Start a job step on a running job's allocation; raises ``SlurmError`` (srun's words).

        Tasks are laid out block-wise: each node takes as many tasks as its CPUs in the job
        allow (``cpus_per_task`` each) before the next one is used. Each involved agent is told
        to run its tasks and to stream their output to srun's ``io`` address.
        """
        engine = self.ctrl.engine
        job_id = int(body["job_id"])
        job = engine.jobs.get(job_id)

        def fail(reason: str) -> SlurmError:
            return SlurmError(f"srun: error: Unable to create step for job {job_id}: {reason}", 1)

        if job is None:
            raise fail(serr.INVALID_JOB_ID)
        if job.state != JobState.RUNNING or job.alloc is None:
            raise fail(
                serr.ALREADY_DONE if job.state.final or job.state == JobState.COMPLETING else JOB_NOT_PENDING
            )
        if ctx.uid != 0 and ctx.uid != job.spec.uid:
            raise fail(serr.ACCESS_DENIED)
        alloc = job.alloc
        cpt = int(body.get("cpus_per_task") or 1)
        per_node = body.get("ntasks_per_node")
        n_nodes = int(body.get("nodes") or 0) or None
        ntasks = body.get("ntasks")
        if ntasks is None:
            ntasks = (per_node * (n_nodes or len(alloc.nodes))) if per_node else (n_nodes or job.spec.ntasks)
        ntasks = int(ntasks)
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
        missing = [n for n, c in zip(nodes, counts, strict=True) if c and n not in self.ctrl.agents]
        if missing:
            raise fail(f"Node {missing[0]} not responding")
        run = job.run
        key = (job_id, run)
        if key not in self._step_ids:
            with self.ctrl.store.reading() as conn:
                self._step_ids[key] = self.ctrl.store.last_step_id(conn, job_id, run)
        step_id = self._step_ids[key] + 1
        self._step_ids[key] = step_id
        argv = [str(a) for a in body["argv"]]
        name = str(body.get("name") or os.path.basename(argv[0]))
        now = self.ctrl.clock()
        self.ctrl.commit(
            extra=lambda c: self.ctrl.store.start_step(
                c, job_id, run, step_id, name, nodes, ntasks, ntasks * cpt, now
            )
        )
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
        if body.get("cpus_per_task"):
            step_env["SLURM_CPUS_PER_TASK"] = str(cpt)
        procid = 0
        layout: dict[str, list[int]] = {}
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
            self.ctrl.agents[node].send(
                {
                    "type": "step",
                    "job_id": job_id,
                    "run": run,
                    "step_id": step_id,
                    "argv": argv,
                    "cwd": str(body.get("cwd") or ctx.cwd),
                    "env": step_env,
                    "tasks": tasks,
                    "io_host": str(body["io_host"]),
                    "io_port": int(body["io_port"]),
                    "io_token": str(body["io_token"]),
                    "pty": bool(body.get("pty")),
                }
            )
        self._open_steps[(job_id, run, step_id)] = {"nodes": set(layout), "codes": [], "usage": {}}
        return {"job_id": job_id, "step_id": step_id, "layout": layout, "ntasks": ntasks}

    def step_finished(self, msg: dict[str, Any]) -> None:
        """An agent finished its tasks of a step; the step ends when every node has."""
        key = (int(msg["job_id"]), int(msg["run"]), int(msg["step_id"]))
        open_step = self._open_steps.get(key)
        if open_step is None:
            return  # reported after a restart: the step is closed with its job
        open_step["nodes"].discard(msg.get("node"))
        open_step["codes"].append((int(msg.get("exit_code", 0)), int(msg.get("signal", 0))))
        total: dict[str, float] = open_step["usage"]
        for name, value in dict(msg.get("usage") or {}).items():
            if name in ("utime", "stime"):
                total[name] = total.get(name, 0.0) + float(value)  # CPU time adds up over nodes
            elif name == "maxrss_kb":
                total[name] = max(total.get(name, 0), int(value))  # the largest task's peak
        if open_step["nodes"]:
            return
        del self._open_steps[key]
        code, sig = max(open_step["codes"], key=lambda c: (c[1] != 0, c[0] or c[1]))
        state = "CANCELLED" if sig else ("COMPLETED" if code == 0 else "FAILED")
        now = self.ctrl.clock()
        self.ctrl.commit(extra=lambda c: self.ctrl.store.end_step(c, *key, state, code, sig, now, total))

    def _records_of(self, job_id: int) -> list[Job]:
        engine = self.ctrl.engine
        out = list(engine.array_tasks(job_id))
        job = engine.jobs.get(job_id)
        if job is not None:
            out.append(job)
        return out

    # -- rows -----------------------------------------------------------------------------------

    def info(self, payload_id: int) -> dict[str, Any]:
        info = self._infos.get(payload_id)
        if info is None:
            with self.ctrl.store.reading() as conn:
                self._infos.update(self.ctrl.store.load_payload_infos(conn, [payload_id]))
            info = self._infos.get(payload_id, {})
        return info

    def preload_infos(self) -> None:
        """Load the small payload part of every live job in one query (after a restart)."""
        ids = {j.array_id if j.array_id is not None else j.id for j in self.ctrl.engine.jobs.values()}
        missing = [i for i in ids if i not in self._infos]
        if missing:
            with self.ctrl.store.reading() as conn:
                self._infos.update(self.ctrl.store.load_payload_infos(conn, missing))

    def jobs(self, finished: bool = True) -> list[JobRow]:
        self.preload_infos()
        rows = []
        cache = self._rows
        engine = self.ctrl.engine
        now = self.ctrl.clock()
        for job in engine.jobs.values():
            if not finished and job.state.final:
                continue
            version = _version(job)
            hit = cache.get(job.id)
            if hit is None or hit[0] != version:
                hit = (version, self._job_row(job))
                cache[job.id] = hit
            row = hit[1]
            if job.spec.dependencies and job.state == JobState.PENDING:
                # Which conditions still stand changes without the job changing: not cached.
                row = replace(row, dependency=engine.dependency_text(job, now))
            rows.append(row)
        self._prune()
        return rows

    def _prune(self) -> None:
        """Forget rows and payload summaries of jobs the engine no longer holds (bounded memory)."""
        engine = self.ctrl.engine
        if len(self._rows) > 2 * len(engine.jobs) + 100:
            self._rows = {k: v for k, v in self._rows.items() if k in engine.jobs}
        if len(self._infos) > 2 * len(engine.jobs) + 100:
            live = {j.array_id if j.array_id is not None else j.id for j in engine.jobs.values()}
            self._infos = {k: v for k, v in self._infos.items() if k in live}

    def _paths(self, job: Job, info: dict[str, Any], node: str) -> tuple[str, str]:
        task = job.task_id
        if job.is_array_remainder:
            task = NO_VAL
        pctx = PatternContext(
            job_id=job.id,
            job_name=job.spec.name,
            user=job.spec.user,
            workdir=info.get("workdir", "/"),
            node=node,
            array_job_id=job.array_id,
            array_task_id=task,
        )
        out, err = output_paths(info.get("stdout"), info.get("stderr"), pctx)
        workdir = info.get("workdir", "/")
        return os.path.join(workdir, out), os.path.join(workdir, err)

    def _job_row(self, job: Job) -> JobRow:
        spec = job.spec
        info = self.info(job.array_id if job.array_id is not None else job.id)
        alloc = job.alloc
        node = alloc.nodes[0] if alloc is not None else ""
        stdout, stderr = self._paths(job, info, node)
        stdin = info.get("stdin") or "/dev/null"
        return JobRow(
            job_id=job.id,
            name=spec.name,
            user=spec.user,
            uid=spec.uid,
            gid=spec.gid,
            partition=job.partition or ",".join(spec.partitions),
            state=job.state.value,
            reason=job.reason,
            submit_time=job.submit_time,
            priority=0 if job.held else job.priority,  # Slurm zeroes a held job's priority
            array_job_id=job.array_id,
            array_task_id=job.task_id,
            array_pending=job.pending_tasks if job.is_array_remainder else None,
            array_max_running=spec.array_max_running,
            group=info.get("group", str(spec.gid)),
            account=info.get("account"),
            nice=spec.nice,
            eligible_time=job.eligible_time,
            start_time=job.start_time,
            end_time=job.end_time,
            # Shown in whole minutes, rounded up, as Slurm stores limits; enforced to the second.
            time_limit_min=None if job.time_limit_s is None else math.ceil(job.time_limit_s / 60),
            nodes=alloc.nodes if alloc is not None else (),
            num_nodes=len(alloc.nodes) if alloc is not None else spec.min_nodes,
            num_cpus=alloc.total_cpus if alloc is not None else spec.ntasks * spec.cpus_per_task,
            num_tasks=spec.ntasks,
            cpus_per_task=spec.cpus_per_task,
            min_memory_mb=spec.mem_per_node_mb,
            gpus_per_node=spec.gpus_per_node,
            workdir=info.get("workdir", ""),
            command=info.get("script_path"),
            stdout=stdout,
            stderr=stderr,
            stdin=stdin if os.path.isabs(stdin) else os.path.join(info.get("workdir", "/"), stdin),
            exit_code=job.exit_code,
            exit_signal=job.exit_signal,
            restarts=job.run,
            requeue=spec.requeue,
            batch_host=node or None,
            features=info.get("features"),
            comment=info.get("comment"),
        )

    def nodes(self) -> list[NodeRow]:
        out = []
        for node in self.ctrl.engine.nodes.values():
            d = node.defn
            has_instance = node.name in self.ctrl.instances
            if node.state == NodeState.DOWN:
                base = "DOWN"
            elif node.alloc_cpus == 0 and not node.jobs:
                base = "IDLE"
            elif node.alloc_cpus >= d.cpus:
                base = "ALLOCATED"
            else:
                base = "MIXED"
            flags = {"CLOUD"}
            if node.state == NodeState.POWERED_DOWN or (node.state == NodeState.DOWN and not has_instance):
                flags.add("POWERED_DOWN")
            elif node.state == NodeState.POWERING_UP:
                flags.add("POWERING_UP")
            elif node.state == NodeState.POWERING_DOWN:
                flags.add("POWERING_DOWN")
            if (node.state == NodeState.UP and not node.responding) or (
                node.state == NodeState.DOWN and has_instance
            ):
                flags.add("NOT_RESPONDING")
            inst = self.ctrl.instances.get(node.name)
            out.append(
                NodeRow(
                    name=node.name,
                    partitions=d.partitions,
                    state=base,
                    flags=frozenset(flags),
                    cpus=d.cpus,
                    alloc_cpus=node.alloc_cpus,
                    memory_mb=d.memory_mb,
                    alloc_memory_mb=node.alloc_memory_mb,
                    gpus=d.gpus,
                    gpu_type=d.gpu_type,
                    alloc_gpus=node.alloc_gpus,
                    cores_per_socket=d.cpus,
                    weight=d.weight,
                    features=d.features,
                    reason=node.reason if node.state == NodeState.DOWN else None,
                    reason_user="root" if node.state == NodeState.DOWN else None,
                    reason_time=node.reason_time if node.state == NodeState.DOWN else None,
                    addr="127.0.0.1" if inst is not None else node.name,
                    hostname=node.name,
                    boot_time=node.boot_time,
                    agent_start_time=node.boot_time,
                    last_busy_time=node.last_busy_time,
                    instance_type=d.instance_type,
                    instance_id=inst.instance_id if inst is not None else None,
                )
            )
        return out

    def partitions(self) -> list[PartitionRow]:
        return [
            PartitionRow(
                name=p.name,
                nodes=p.defn.nodes,
                default=p.name == self.ctrl.engine.default_partition,
                state="UP" if p.up else "INACTIVE",
                max_time_min=None if p.defn.max_time_s is None else int(p.defn.max_time_s // 60),
                default_time_min=None if p.defn.default_time_s is None else int(p.defn.default_time_s // 60),
            )
            for p in self.ctrl.engine.partitions.values()
        ]

    # -- launching ------------------------------------------------------------------------------

    def _payload(self, payload_id: int) -> tuple[dict[str, Any], str, dict[str, str]]:
        cached = self._payloads.get(payload_id)
        if cached is not None:
            self._payloads.move_to_end(payload_id)
            return cached
        with self.ctrl.store.reading() as conn:
            loaded = self.ctrl.store.load_payload(conn, payload_id)
        self._payloads[payload_id] = loaded
        if len(self._payloads) > _PAYLOAD_CACHE:
            self._payloads.popitem(last=False)
        return loaded

    def _env_input(self, job: Job, info: dict[str, Any]) -> JobEnvInput:
        """What the ``SLURM_*`` environment of ``job`` is built from."""
        assert job.alloc is not None
        workdir = info.get("workdir", "/")
        arr = info.get("array")
        return JobEnvInput(
            job_id=job.id,
            name=job.spec.name,
            partition=job.partition or "",
            nodes=job.alloc.nodes,
            cpus_per_node=job.alloc.cpus,
            user=job.spec.user,
            uid=job.spec.uid,
            gid=job.spec.gid,
            submit_dir=info.get("submit_dir", workdir),
            submit_host=info.get("submit_host", "localhost"),
            cluster_name=self.cluster_name,
            ntasks=info.get("ntasks"),
            cpus_per_task=info.get("cpus_per_task"),
            ntasks_per_node=info.get("ntasks_per_node"),
            mem_per_node_mb=info.get("mem_per_node_mb"),
            mem_per_cpu_mb=info.get("mem_per_cpu_mb"),
            array_job_id=job.array_id,
            array_task_id=job.task_id,
            array_task_count=arr["count"] if arr else None,
            array_task_min=arr["min"] if arr else None,
            array_task_max=arr["max"] if arr else None,
            account=info.get("account"),
            open_mode=info.get("open_mode"),
            export=info.get("export"),
            prio_process=job.spec.nice,
            controller_port=self.ctrl.api_port,
        )

    def launch_message(self, job: Job) -> dict[str, Any]:
        """What the batch host's agent needs to start ``job``'s batch script."""
        assert job.alloc is not None
        info, script, env = self._payload(job.array_id if job.array_id is not None else job.id)
        node = job.alloc.nodes[0]
        stdout, stderr = self._paths(job, info, node)
        workdir = info.get("workdir", "/")
        env_input = self._env_input(job, info)
        full_env = dict(env)
        full_env.update(batch_job_env(env_input))
        _login_defaults(full_env, job.spec.user, str(self.ctrl.paths.bin))
        stdin = info.get("stdin") or "/dev/null"
        spec = job.spec
        mem_limit = spec.mem_per_node_mb
        if not mem_limit and spec.mem_per_cpu_mb:
            mem_limit = spec.mem_per_cpu_mb * job.alloc.cpus[0]
        return {
            "type": "launch",
            "mem_limit_mb": mem_limit or None,  # --mem, enforced by the agent (OUT_OF_MEMORY)
            "job_id": job.id,
            "run": job.run,
            "node": node,
            "script": script,
            "args": info.get("args") or [],
            "env": full_env,
            "cwd": workdir,
            "stdout": stdout,
            "stderr": stderr,
            "stdin": stdin if os.path.isabs(stdin) else os.path.join(workdir, stdin),
            "open_mode": info.get("open_mode"),
            "umask": info.get("umask", 0o022),
        }

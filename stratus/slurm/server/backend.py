"""The Slurm front door's backend: Slurm's requests and rows over the cluster service.

Implements :class:`stratus.slurm.views.SlurmBackend`, which the command implementations
(``sbatch``, ``squeue``, ``scontrol`` ...) call, by translating to and from the
front-door-neutral :class:`~stratus.service.interface.Service`: requests become specs,
payloads and targets (:mod:`~stratus.slurm.server.submit`), the service's results become
Slurm's error lines, and its records become Slurm's rows (:mod:`~stratus.slurm.server.rows`).
Nothing here changes cluster state except through the service.
"""

from __future__ import annotations

import logging
import posixpath
from dataclasses import replace
from pathlib import Path

from stratus.engine.indexset import IndexSet
from stratus.engine.model import Job
from stratus.engine.states import JobState
from stratus.service.interface import Service
from stratus.service.model import (
    AccessDenied,
    Identity,
    Problem,
    Rejected,
    Submission,
    Target,
    TargetResult,
    Unavailable,
)
from stratus.slurm import errors as serr
from stratus.slurm.depend_text import dependency_text
from stratus.slurm.hostlist import compress
from stratus.slurm.scontrol_records import short_host
from stratus.slurm.server import rows, slurmconf
from stratus.slurm.server.launch import SlurmLauncher
from stratus.slurm.server.submit import job_spec, payload, rejected, update_fields
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

log = logging.getLogger(__name__)

# The service's problems in scontrol's words (``<error> for job <id>``).
_CONTROL_ERRORS = {
    Problem.NOT_FOUND: serr.INVALID_JOB_ID,
    Problem.DENIED: serr.ACCESS_DENIED,
    Problem.ALREADY_DONE: serr.ALREADY_DONE,
    Problem.NOT_PENDING: serr.JOB_NOT_PENDING,
    Problem.PENDING: serr.JOB_PENDING,
    Problem.COMPLETING: serr.TRANSITION_STATE_NO_UPDATE,
    Problem.NO_REQUEUE: serr.DISABLED,
    Problem.IMPOSSIBLE: serr.REQUESTED_NODE_CONFIG_UNAVAILABLE,
}

_CANCEL_ERRORS = {Problem.DENIED: serr.ACCESS_DENIED, Problem.ALREADY_DONE: serr.ALREADY_DONE}


def _label(target: Target) -> str:
    """How Slurm names a target in its messages: ``12``, ``12_3`` or ``12_[1-3]``."""
    label = str(target.job_id)
    if target.task_ids is not None:
        ids = target.task_ids.to_slurm()
        label += f"_{ids}" if len(target.task_ids) == 1 else f"_[{ids}]"
    return label


class SlurmDoor:
    """Implements :class:`stratus.slurm.views.SlurmBackend` over the cluster :class:`Service`."""

    def __init__(self, service: Service) -> None:
        self.service = service
        self.cluster_name = service.cluster_name
        self.max_array_size = service.layout.max_array_size
        self._memory_consumable = service.layout.memory_based_scheduling
        # Rows only change when their job does: (version, row) per job id, see rows.version.
        self._rows: dict[int, tuple[tuple[object, ...], JobRow]] = {}
        self.slurm_conf: str | None = None
        self.slurm_conf = self._write_slurm_conf()
        self.launcher = SlurmLauncher(service, slurm_conf=self.slurm_conf)

    def _write_slurm_conf(self) -> str | None:
        """Write the cluster's slurm.conf into its directory (beside ``bin/``) as the door starts.

        Returns its path, or None if it cannot be written: jobs then get no ``SLURM_CONF``
        rather than one naming a missing file.
        """
        path = Path(self.service.bin_dir).parent / slurmconf.FILE_NAME
        parameters = {"MaxArraySize": str(self.max_array_size), **self.slurm_config()}
        text = slurmconf.slurm_conf_text(
            self.cluster_name, short_host(), parameters, self.nodes(), self.partitions()
        )
        try:
            slurmconf.write_slurm_conf(path, text)
        except OSError as exc:
            log.warning("cannot write %s: %s; jobs get no SLURM_CONF", path, exc)
            return None
        return str(path)

    def now(self) -> float:
        return self.service.now()

    @staticmethod
    def identity(ctx: ClientContext) -> Identity:
        """The caller a command's context names."""
        return Identity(user=ctx.user, uid=ctx.uid, gid=ctx.gid, group=ctx.group, admin=ctx.admin)

    # -- submission -----------------------------------------------------------------------------

    def submit(self, request: BatchRequest, ctx: ClientContext, *, interactive: bool = False) -> int:
        if self.service.deleting:
            raise serr.submit_failed("Slurm controller is shutting down")
        if self.service.layout.engine == "slurm":
            # Real Slurm schedules this cluster: its own commands submit (stratus ssh gives them).
            raise serr.submit_failed(
                "this cluster's engine is Slurm: use Slurm's own commands "
                f"(stratus ssh -n {self.service.cluster_name} gives a shell with them)"
            )
        spec = job_spec(request, ctx, self.service, interactive=interactive)
        array = request.array.indices if request.array is not None else None
        job_payload = payload(request, ctx)
        # Where the job runs: -D (relative to the submit directory, as sbatch takes it) or there.
        workdir = posixpath.join(ctx.cwd, request.workdir) if request.workdir else ctx.cwd
        submission = Submission(spec, job_payload, array=array, hold=request.hold, workdir=workdir)
        try:
            return self.service.submit(submission, self.identity(ctx))
        except Rejected as exc:
            raise rejected(exc) from None
        except Unavailable:
            raise serr.submit_failed("Slurm controller is shutting down") from None
        except AccessDenied:
            raise serr.submit_failed(serr.ACCESS_DENIED) from None

    def estimate(self, request: BatchRequest, ctx: ClientContext) -> tuple[int, float, str, int, str]:
        spec = job_spec(request, ctx, self.service)
        try:
            found = self.service.estimate(spec)
        except Rejected as exc:
            raise rejected(exc) from None
        if found is None:
            raise serr.submit_failed(serr.REQUESTED_PART_CONFIG_UNAVAILABLE)
        job_id, start, nodes, partition = found
        return job_id, start, compress(nodes), spec.ntasks * spec.cpus_per_task, partition

    def wait_status(self, job_id: int) -> int | None:
        return self.service.wait_status(job_id)

    # -- cancellation ---------------------------------------------------------------------------

    def cancel(self, request: CancelRequest, ctx: ClientContext) -> CancelResult:
        identity = self.identity(ctx)
        errors: list[str] = []
        if request.targets:
            targets = [Target(t.job_id, t.task_ids) for t in request.targets]
            if request.signal is not None:
                results = self.service.signal(targets, request.signal, identity)
            else:
                results = self.service.cancel(targets, identity)
            # Signalled jobs are not counted as cancelled.
            count = 0 if request.signal is not None else sum(r.acted for r in results)
            for result in results:
                if result.problem is not None:
                    reason = _CANCEL_ERRORS.get(result.problem, serr.INVALID_JOB_ID)
                    errors.append(serr.kill_job_error(_label(result.target), reason))
        else:
            # Filters (-u, -t, -p, -n) select the caller's own records; others are skipped.
            selected: list[Target] = []
            for job in list(self.service.jobs()):
                if job.state.final or not self._matches(request, job) or not identity.may_act_on(job):
                    continue
                # One record at a time: an array's id also names all of its tasks.
                if job.is_array_remainder:
                    assert job.pending_tasks is not None
                    selected.append(Target(job.id, job.pending_tasks.copy()))
                elif job.array_id is not None and job.task_id is not None:
                    selected.append(Target(job.array_id, IndexSet.from_ids([job.task_id])))
                else:
                    selected.append(Target(job.id))
            if request.signal is not None:
                results = self.service.signal(selected, request.signal, identity)
            else:
                results = self.service.cancel(selected, identity)
            count = 0 if request.signal is not None else sum(r.acted for r in results)
        if request.quiet:
            errors = []
        return CancelResult(cancelled=count, errors=errors, exit_code=1 if errors else 0)

    @staticmethod
    def _matches(request: CancelRequest, job: Job) -> bool:
        if request.user is not None and job.spec.user != request.user:
            return False
        if request.states and job.state.value not in request.states:
            return False
        if request.partitions and job.partition not in request.partitions:
            return False
        return request.name is None or job.spec.name == request.name

    # -- scontrol job actions -------------------------------------------------------------------

    def control(self, request: ControlRequest, ctx: ClientContext) -> ControlResult:
        """hold, uhold, release, requeue, requeuehold, update: every change stored before answering.

        ``hold`` by an administrator is an administrator's hold (JobHeldAdmin), ``uhold`` (and
        anyone else's ``hold``) the user's (JobHeldUser), as in Slurm 22.05. Error lines are
        scontrol's: ``<Slurm error> for job <id>``; a hold, release or update of a finished job
        says ``Job has already finished``.
        """
        identity = self.identity(ctx)
        targets = [Target(t.job_id, t.task_ids) for t in request.targets]
        results: list[TargetResult]
        errors = _CONTROL_ERRORS
        if request.action in ("hold", "uhold", "release", "update"):
            # slurmctld's job update refuses any change to a finished job with its own words.
            errors = {**_CONTROL_ERRORS, Problem.ALREADY_DONE: serr.JOB_FINISHED}
        if request.action in ("hold", "uhold", "release"):
            results = self.service.hold(
                targets, identity, held=request.action != "release", user_hold=request.action == "uhold"
            )
        elif request.action in ("requeue", "requeuehold"):
            results = self.service.requeue(targets, identity, hold=request.action == "requeuehold")
        elif request.action == "update":
            try:
                changes = update_fields(request.fields)
            except ValueError as exc:
                return ControlResult(errors=[str(exc)], exit_code=1)
            results = self.service.update(targets, identity, changes)
        else:
            return ControlResult(errors=[f"Unknown job action {request.action}"], exit_code=1)
        lines = [
            f"{errors.get(r.problem, serr.INVALID_JOB_ID)} for job {_label(r.target)}"
            for r in results
            if r.problem is not None
        ]
        return ControlResult(errors=lines, exit_code=1 if lines else 0)

    def slurm_config(self) -> dict[str, str]:
        """The slurm.conf parameters stratus has, for ``scontrol show config`` (and where the
        cluster's slurm.conf is, once written)."""
        values = rows.slurm_config(self.service.layout)
        if self.slurm_conf is not None:
            values["SLURM_CONF"] = self.slurm_conf
        return values

    # -- rows -----------------------------------------------------------------------------------

    def jobs(self, finished: bool = True) -> list[JobRow]:
        service = self.service
        service.preload_payload_infos()
        out = []
        cache = self._rows
        for job in service.jobs():
            if not finished and job.state.final:
                continue
            version = rows.version(job)
            hit = cache.get(job.id)
            if hit is None or hit[0] != version:
                info = service.payload_info(job.array_id if job.array_id is not None else job.id)
                hit = (version, rows.job_row(job, info, memory_consumable=self._memory_consumable))
                cache[job.id] = hit
            row = hit[1]
            if job.spec.dependencies and job.state == JobState.PENDING:
                # Which conditions still stand changes without the job changing: not cached.
                text = dependency_text(service.dependency_status(job), job.spec.dependency_any)
                row = replace(row, dependency=text)
            out.append(row)
        if len(cache) > 2 * service.job_count() + 100:
            self._rows = {k: v for k, v in cache.items() if service.job(k) is not None}
        service.forget_payload_infos()
        return out

    def nodes(self) -> list[NodeRow]:
        return [rows.node_row(record) for record in self.service.nodes()]

    def partitions(self) -> list[PartitionRow]:
        return rows.partition_rows(self.service.partitions())

    def accounting(self, query: AcctQuery) -> list[AcctRow]:
        """Jobs from the store (finished long ago too), one row per run, plus batch steps."""
        stored = self.service.accounting(
            job_ids=query.job_ids, users=query.users, start=query.start, end=query.end
        )
        defs = {record.node.name: record.node.defn for record in self.service.nodes()}
        return rows.accounting_rows(stored, self.cluster_name, defs, self.service.now())

    def priorities(self) -> tuple[PriorityWeights, list[PriorityRow]]:
        return rows.priority_rows(self.service.priority_config, self.service.pending_priorities())

    def shares(self) -> tuple[str, list[ShareRow]]:
        return rows.share_rows(self.service.priority_config, self.service.shares())

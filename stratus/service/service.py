"""The cluster service: the one front-door-neutral way to act on a cluster and to look at it.

Every front door (Slurm's commands, the ParallelCluster routes, later the Batch API and the web
UI) calls this and nothing below it to change anything. It guarantees, for every method that
changes state:

- authorization is decided here, from the caller's :class:`~stratus.service.model.Identity`
  (a user acts on their own jobs; root on all), and nowhere else;
- the request is checked before anything changes; a refused request changes nothing;
- what changed is written to the state store (one transaction per call) before the method
  returns, so whatever a front door tells its client survives a crash of the head node.

Queries return the engine's own records (:class:`~stratus.engine.model.Job`,
:class:`~stratus.engine.model.Node`) and store rows; callers read them and never change them.
"""

from __future__ import annotations

import math
import os
import posixpath
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from stratus.controller.lifecycle import FleetStatus
from stratus.engine.cost import JobCost, ended_run_use, open_run_use, run_cost
from stratus.engine.engine import CancelOutcome
from stratus.engine.fairshare import ShareRow
from stratus.engine.model import (
    Action,
    DepCondition,
    Job,
    JobSpec,
    KillJob,
    NodeDef,
    Partition,
    PriorityConfig,
    Transition,
)
from stratus.engine.priority import Factors as PriorityFactors
from stratus.engine.states import JobState
from stratus.service.model import (
    AccessDenied,
    DoorObject,
    Identity,
    NodeRecord,
    NotFound,
    Problem,
    Rejected,
    StepGrant,
    Submission,
    Target,
    TargetResult,
    Unavailable,
    UpdateCheck,
    WrongState,
    identity_of,
)

if TYPE_CHECKING:
    from stratus.config import ClusterLayout
    from stratus.config.layout import HostFacts
    from stratus.controller.core import Controller
    from stratus.engine.engine import Engine
    from stratus.store.store import RunCharge

# Engine refusals of hold/requeue/update, as the service's problems.
_ENGINE_PROBLEMS = {
    "ALREADY_DONE": Problem.ALREADY_DONE,
    "NOT_PENDING": Problem.NOT_PENDING,
    "PENDING": Problem.PENDING,
    "COMPLETING": Problem.COMPLETING,
    "NO_REQUEUE": Problem.NO_REQUEUE,
    "IMPOSSIBLE": Problem.IMPOSSIBLE,
    "DENIED": Problem.DENIED,
}


#: Where the fair-share weights are stored: (door, kind, key) of a door object of the service's.
SHARE_WEIGHTS = ("stratus", "fair-share", "weights")


def _storable(n: int) -> bool:
    """Whether ``n`` fits the store's integer columns (SQLite's signed 64 bits)."""
    return -(2**63) <= n < 2**63


def _charge_cost(c: RunCharge, defs: Mapping[str, NodeDef], now: float) -> float:
    """What a recorded run cost, priced with ``defs``."""
    use = ended_run_use(c.nodes, c.cpus, c.start_time, c.end_time, defs, exclusive=c.exclusive, alloc=c.alloc)
    return run_cost(use, defs, now)


class ClusterService:
    """Submit, cancel, hold, requeue, update, steps, allocations, and every query, for one cluster."""

    def __init__(self, ctrl: Controller) -> None:
        self._ctrl = ctrl
        self.cluster_name = ctrl.name
        self._step_ids: dict[tuple[int, int], int] = {}  # (job, run) -> last step id used
        # Interactive allocations: job -> last time its client asked about it.
        self._alloc_seen: dict[int, float] = {}
        now = ctrl.clock()
        for job in ctrl.engine.jobs.values():
            if job.spec.interactive and not job.state.final:
                self._alloc_seen[job.id] = now  # its client gets the usual time to come back
        ctrl.add_periodic(self._expire_allocations)
        # What recorded runs have cost, by (user, account, partition), up to the run whose seq
        # is _costs_seq (see cost_totals).
        self._recorded_costs: dict[tuple[str, str, str], float] = {}
        self._costs_seq = 0
        # The engine starts without fair-share weights: those stored are applied again.
        weights = self.get_object(*SHARE_WEIGHTS)
        if weights is not None:
            ctrl.engine.set_share_weights(dict(weights.body.get("weights") or {}))

    # -- facts ------------------------------------------------------------------------------

    @property
    def engine(self) -> Engine:
        """The engine, for reading only (the service is the only caller that changes it)."""
        return self._ctrl.engine

    @property
    def layout(self) -> ClusterLayout:
        return self._ctrl.layout

    @property
    def api_port(self) -> int:
        return self._ctrl.api_port

    @property
    def bin_dir(self) -> str:
        """Where the cluster's own commands are installed (jobs find them on PATH)."""
        return str(self._ctrl.paths.bin)

    def now(self) -> float:
        return self._ctrl.clock()

    @property
    def deleting(self) -> bool:
        return self._ctrl.deleting

    # -- submission -------------------------------------------------------------------------

    def check(self, spec: JobSpec) -> None:
        """Raise :class:`Rejected` if ``spec`` can never run on this cluster."""
        rejection = self.engine.check(spec)
        if rejection is not None:
            raise Rejected(rejection.code, rejection.detail)

    def submit(self, submission: Submission, identity: Identity) -> int:
        """Queue a job (or an array); its id, once the job and its payload are stored.

        The job is owned by ``identity``: a spec naming another user is refused unless the
        caller is an administrator, and so is a negative nice (a raised priority), as in Slurm.
        """
        spec = submission.spec
        if spec.uid != identity.uid and not identity.is_admin:
            raise AccessDenied(f"{identity.user} cannot submit as uid {spec.uid}")
        if spec.nice < 0 and not identity.is_admin:
            raise AccessDenied("only administrators may set a negative nice")
        if self._ctrl.deleting:
            raise Unavailable("the cluster is being deleted")
        spec = self.near_data(spec, submission.workdir)
        job = self.engine.submit(spec, self.now(), array=submission.array, hold=submission.hold)
        payload = submission.payload
        info = dict(payload.info)
        info["door"] = payload.door
        store = self._ctrl.store
        self._ctrl.commit(extra=lambda c: store.insert_payload(c, job.id, info, payload.script, payload.env))
        self._ctrl.payloads.remember(job.id, info)
        return job.id

    def near_data(self, spec: JobSpec, workdir: str | None) -> JobSpec:
        """``spec`` kept to the nodes that have ``workdir``'s shared storage mounted, checked.

        A working directory in a ``SharedStorage`` entry that only some providers have
        (``Stratus.SharedStorage``) adds the storage's name to the features every node of the
        job must have (their nodes carry it). Raises :class:`Rejected` (``STORAGE``, naming the
        directory, the storage and its providers) when the job could run but no node with that
        storage can, and as :meth:`check` does otherwise.
        """
        self.check(spec)
        # normpath keeps a leading "//" (POSIX leaves its meaning open): one "/" for the lookup.
        where = "/" + posixpath.normpath(workdir).lstrip("/") if workdir else ""
        storage = self._ctrl.layout.storage_at(where) if where else None
        if storage is None or not storage.providers or storage.name in spec.features:
            return spec
        kept = replace(spec, features=(*spec.features, storage.name))
        try:
            self.check(kept)
        except Rejected:
            raise Rejected(
                "STORAGE",
                f"the working directory {workdir} is on shared storage '{storage.name}' "
                f"({storage.mount_dir}), mounted only on the nodes of {', '.join(storage.providers)}; "
                "no such node can run this job in the partition(s) asked for. Submit from another "
                "directory (-D) or to a partition with such nodes (-p).",
            ) from None
        return kept

    def estimate(self, spec: JobSpec) -> tuple[int, float, tuple[str, ...], str] | None:
        """When and where ``spec`` would start if submitted now: (its id, start, nodes, partition)."""
        self.check(spec)
        found = self.engine.estimate(spec, self.now())
        if found is None:
            return None
        start, nodes, partition = found
        return self.engine.next_job_id, start, nodes, partition

    # -- queries ----------------------------------------------------------------------------

    def jobs(self) -> Iterable[Job]:
        """Every job record the engine holds (pending, running, recently finished)."""
        return self.engine.jobs.values()

    def job(self, job_id: int) -> Job | None:
        return self.engine.jobs.get(job_id)

    def knows(self, job_id: int) -> bool:
        """Whether ``job_id`` names a job (or array) the engine still holds."""
        return self.engine.knows(job_id)

    def records(self, target: Target) -> list[Job]:
        """The records ``target`` names: a job, an array's tasks, or some of them."""
        return self.engine.targets(target.job_id, target.task_ids)

    def records_of(self, job_id: int) -> list[Job]:
        """Every record of ``job_id``: an array's tasks and remainder, or the job itself."""
        out = list(self.engine.array_tasks(job_id))
        job = self.engine.jobs.get(job_id)
        if job is not None:
            out.append(job)
        return out

    def job_count(self) -> int:
        """How many job records the engine holds."""
        return len(self.engine.jobs)

    def dependency_status(self, job: Job) -> list[tuple[DepCondition, str]]:
        """The conditions of ``job``'s dependency still standing: ("unfulfilled" | "failed")."""
        return self.engine.dependency_status(job, self.now())

    def partitions(self) -> list[tuple[Partition, bool]]:
        """Every partition in configuration order, and whether it is the default one."""
        default = self.engine.default_partition
        return [(p, p.name == default) for p in self.engine.partitions.values()]

    @property
    def priority_config(self) -> PriorityConfig:
        return self.engine.config.priority

    def pending_priorities(self) -> list[tuple[Job, str, PriorityFactors]]:
        """(job, partition, factors) of every job that could be scheduled now, per partition.

        Pending, not held, past its begin time; the factors as of the engine's last priority
        calculation, so that they add up to the priority listings show.
        """
        engine = self.engine
        now = self.now()
        when = engine.priority_calc_time if math.isfinite(engine.priority_calc_time) else now
        out: list[tuple[Job, str, PriorityFactors]] = []
        for job in engine.jobs.values():
            if job.state != JobState.PENDING or job.held:
                continue
            if job.eligible_time is not None and job.eligible_time > now:
                continue
            default = engine.default_partition
            for pname in job.spec.partitions or ((default,) if default else ()):
                out.append(
                    (job, pname, engine.priority_factors(job, max(when, job.submit_time), partition=pname))
                )
        return out

    def shares(self) -> list[ShareRow]:
        """The fair-share tree, usage charged up to now."""
        return self.engine.shares(self.now())

    def set_share_weights(self, weights: Mapping[str, float]) -> None:
        """Make ``weights`` the fair-share weights (account or ``prefix*`` -> weight factor);
        stored with the engine's changes, and applied again when the head node starts."""
        clean = {str(name): float(w) for name, w in weights.items()}
        if any(not (w > 0 and math.isfinite(w)) for w in clean.values()):
            raise ValueError("fair-share weights must be positive numbers")
        self._ctrl.engine.set_share_weights(clean)
        self.put_object(*SHARE_WEIGHTS, {"weights": clean})

    def stored_states(self, job_id: int, task_id: int | None) -> list[str]:
        """States of the stored records of a job (or one task of it), newest runs."""
        if not _storable(job_id) or (task_id is not None and not _storable(task_id)):
            return []  # an id the store cannot hold names no job
        store = self._ctrl.store
        with store.reading() as conn:
            return store.job_states(conn, job_id, task_id)

    # -- front doors' objects ---------------------------------------------------------------------

    def objects(self, door: str, kind: str) -> list[DoorObject]:
        """The stored objects of ``kind`` of front door ``door``, by key."""
        with self._ctrl.store.reading() as conn:
            rows = self._ctrl.store.load_objects(conn, door, kind)
        return [DoorObject(door, kind, key, body, created, updated) for key, body, created, updated in rows]

    def get_object(self, door: str, kind: str, key: str) -> DoorObject | None:
        """One stored object, or None."""
        with self._ctrl.store.reading() as conn:
            rows = self._ctrl.store.load_objects(conn, door, kind, key)
        return DoorObject(door, kind, *rows[0]) if rows else None

    def put_object(self, door: str, kind: str, key: str, body: dict[str, Any]) -> DoorObject:
        """Create or replace an object; durable when this returns (written by the controller,
        in one transaction with whatever the engine changed meanwhile)."""
        now = self.now()
        created: list[float] = []
        store = self._ctrl.store
        self._ctrl.commit(extra=lambda c: created.append(store.put_object(c, door, kind, key, body, now)))
        return DoorObject(door, kind, key, dict(body), created[0], now)

    def delete_object(self, door: str, kind: str, key: str) -> bool:
        """Remove an object (durably); whether it existed."""
        gone: list[bool] = []
        store = self._ctrl.store
        self._ctrl.commit(extra=lambda c: gone.append(store.delete_object(c, door, kind, key)))
        return gone[0]

    def payload_info(self, payload_id: int) -> dict[str, Any]:
        """The small part of a job's payload (the array's id for array tasks)."""
        return self._ctrl.payloads.info(payload_id)

    def preload_payload_infos(self) -> None:
        """Load every live job's payload summary in one query (after a restart)."""
        self._ctrl.payloads.preload(
            {j.array_id if j.array_id is not None else j.id for j in self.engine.jobs.values()}
        )

    def forget_payload_infos(self) -> None:
        """Drop summaries of jobs the engine no longer holds (bounded memory)."""
        engine = self.engine
        self._ctrl.payloads.prune(
            len(engine.jobs),
            lambda: {j.array_id if j.array_id is not None else j.id for j in engine.jobs.values()},
        )

    def nodes(self) -> Iterator[NodeRecord]:
        """Every node, powered down ones included, with its machine when it has one."""
        instances = self._ctrl.instances
        for node in self.engine.nodes.values():
            yield NodeRecord(node, instances.get(node.name))

    def node_reachable(self, name: str) -> bool:
        """Whether the node's agent is connected now (a step can be started there)."""
        return name in self._ctrl.agents

    def accounting(
        self,
        *,
        job_ids: Iterable[int] = (),
        users: Iterable[str] = (),
        start: float | None = None,
        end: float | None = None,
    ) -> list[tuple[Job, dict[str, Any], list[dict[str, Any]]]]:
        """Stored jobs (finished long ago too) with their payload summary and run/step records."""
        store = self._ctrl.store
        wanted = list(job_ids)
        ids = [i for i in wanted if _storable(i)]
        if wanted and not ids:
            return []  # only ids the store cannot hold: no job has them
        with store.reading() as conn:
            return list(store.load_accounting(conn, job_ids=ids, users=users, start=start, end=end))

    def job_costs(self) -> list[JobCost]:
        """What every job that ever ran has cost up to now, by job id (see
        :mod:`stratus.engine.cost`): its recorded runs, every attempt, plus its current run while
        it is running. Jobs that never ran are left out. Reads every recorded run: for totals
        at every scrape, :meth:`cost_totals` reads only what was recorded since."""
        now = self.now()
        defs = self._node_defs()
        store = self._ctrl.store
        with store.reading() as conn:
            charges = store.load_run_charges(conn)
        totals: dict[int, list[Any]] = {}
        recorded: set[tuple[int, int]] = set()
        for c in charges:
            recorded.add((c.job_id, c.run))
            cost = _charge_cost(c, defs, now)
            entry = totals.get(c.job_id)
            if entry is None:
                totals[c.job_id] = [c.user, c.account, c.partition, cost]
            else:
                entry[3] += cost
        for job, cost in self._open_costs(recorded, now, defs):
            entry = totals.get(job.id)
            if entry is None:
                totals[job.id] = [job.spec.user, job.spec.account, job.partition or "", cost]
            else:
                entry[3] += cost
        return [JobCost(i, *totals[i]) for i in sorted(totals)]

    def cost_totals(self) -> dict[tuple[str, str, str], float]:
        """What jobs have cost up to now, by (user, account, partition): every recorded run
        since the cluster was created plus the current run of every running job.

        Each recorded run is read and priced once, when it is first asked for, and added to
        totals this service keeps (runs are only ever added to the store): a call reads the
        runs recorded since the previous one and the running jobs, whatever the number of
        jobs in the records. So a recorded run keeps the price its nodes had when it was first
        read, until the head node restarts.
        """
        now = self.now()
        defs = self._node_defs()
        store = self._ctrl.store
        with store.reading() as conn:
            charges = store.load_run_charges(conn, after=self._costs_seq)
        for c in charges:
            key = (c.user, c.account, c.partition)
            self._recorded_costs[key] = self._recorded_costs.get(key, 0.0) + _charge_cost(c, defs, now)
            self._costs_seq = max(self._costs_seq, c.seq)
        totals = dict(self._recorded_costs)
        for job, cost in self._open_costs(None, now, defs):
            key = (job.spec.user, job.spec.account, job.partition or "")
            totals[key] = totals.get(key, 0.0) + cost
        return totals

    def _node_defs(self) -> dict[str, NodeDef]:
        return {n.name: n.defn for n in self.engine.nodes.values()}

    def _open_costs(
        self, recorded: set[tuple[int, int]] | None, now: float, defs: Mapping[str, NodeDef]
    ) -> Iterator[tuple[Job, float]]:
        """(job, cost of its current run) for every job running now, its run not yet recorded
        (``recorded``: the runs known to be recorded; None: read them from the store)."""
        running = [(job, use) for job in self.engine.jobs.values() if (use := open_run_use(job)) is not None]
        if recorded is None and running:
            # A run is recorded as its job leaves RUNNING/COMPLETING, in the same transaction:
            # none should be, but a figure counted twice would never come down again.
            store = self._ctrl.store
            with store.reading() as conn:
                found = store.load_run_charges(conn, job_ids=[job.id for job, _ in running])
            recorded = {(c.job_id, c.run) for c in found}
        for job, use in running:
            if recorded is None or (job.id, job.run) not in recorded:
                yield job, run_cost(use, defs, now)

    def events(self, after_seq: int = 0, limit: int = 1000) -> list[tuple[int, Transition]]:
        """The journal from ``after_seq`` on: (sequence number, transition), oldest first.

        The sequence number is the feed's cursor: pass the last one seen to get what followed.
        """
        store = self._ctrl.store
        with store.reading() as conn:
            return store.journal_after(conn, after_seq, limit)

    def scheduler_stats(self) -> dict[str, float]:
        """The scheduler's cycle figures, as sdiag's: ``cycles``, ``last_cycle_s``,
        ``mean_cycle_s``, ``max_cycle_s``, ``cycles_per_minute``, and ``queue_size`` (pending
        jobs, each array task counted)."""
        stats = self._ctrl.cycles
        pending = 0
        for job in self.engine.jobs.values():
            if job.state == JobState.PENDING:
                pending += len(job.pending_tasks) if job.is_array_remainder and job.pending_tasks else 1
        return {
            "cycles": stats.count,
            "last_cycle_s": stats.last_s,
            "mean_cycle_s": stats.mean_s,
            "max_cycle_s": stats.max_s,
            "cycles_per_minute": stats.per_minute(self.now()),
            "queue_size": pending,
        }

    def history(self, entity: str, key: str) -> list[Transition]:
        """Every recorded transition of one entity (``job``, ``node`` ...; a job's key as the
        journal has it), oldest first (an indexed read)."""
        store = self._ctrl.store
        with store.reading() as conn:
            return store.journal_for(conn, entity, key)

    # -- cancel, signal ---------------------------------------------------------------------

    def cancel(
        self, targets: Sequence[Target], identity: Identity, cause: str = "user"
    ) -> list[TargetResult]:
        """Cancel each target; one result per target; everything stored in one transaction.

        A target the caller may not act on (any record of its job belongs to someone else) is
        left alone with :attr:`Problem.DENIED`.
        """
        now = self.now()

        def one(target: Target, result: TargetResult, actions: list[Action]) -> None:
            out: CancelOutcome = self.engine.cancel(target.job_id, target.task_ids, now, cause)
            actions += out.actions
            result.acted = out.cancelled
            if not out.found:
                result.problem = Problem.NOT_FOUND
            elif out.already_done and out.cancelled == 0:
                result.problem = Problem.ALREADY_DONE

        return self._each_job(targets, identity, one)

    def signal(self, targets: Sequence[Target], signal: str, identity: Identity) -> list[TargetResult]:
        """Send ``signal`` to the running records of each target (nothing is stored)."""

        def one(target: Target, result: TargetResult, actions: list[Action]) -> None:
            found = [
                j
                for j in self.records_of(target.job_id)
                if target.task_ids is None or j.task_id in target.task_ids
            ]
            if not found:
                result.problem = Problem.NOT_FOUND
            for job in found:
                if job.state == JobState.RUNNING and job.alloc is not None:
                    actions.append(KillJob(job.id, job.run, job.alloc.nodes, "SIGNAL", signal))
                    result.acted += 1

        return self._each_job(targets, identity, one)

    def _each_job(
        self,
        targets: Sequence[Target],
        identity: Identity,
        one: Callable[[Target, TargetResult, list[Action]], None],
    ) -> list[TargetResult]:
        """Apply ``one`` to each target whose job the caller may act on (every record of it);
        the others get :attr:`Problem.DENIED`. Everything is committed once, at the end."""
        results: list[TargetResult] = []
        actions: list[Action] = []
        for target in targets:
            result = TargetResult(target)
            results.append(result)
            if not all(identity.may_act_on(j) for j in self.records_of(target.job_id)):
                result.problem = Problem.DENIED
                continue
            one(target, result, actions)
        self._ctrl.commit(actions)
        return results

    # -- hold, release, requeue, update -----------------------------------------------------

    def hold(
        self, targets: Sequence[Target], identity: Identity, *, held: bool, user_hold: bool = False
    ) -> list[TargetResult]:
        """Hold (or release) jobs not finished; an administrator's hold is theirs to release."""

        def one(job: Job, now: float, _actions: list[Action]) -> Problem | None:
            err = self.engine.set_hold(job, held, now, admin=identity.is_admin, user_hold=user_hold)
            return None if err is None else _ENGINE_PROBLEMS[err]

        return self._each(targets, identity, one)

    def requeue(
        self, targets: Sequence[Target], identity: Identity, *, hold: bool = False
    ) -> list[TargetResult]:
        """Send started or finished jobs back to pending as a new run (held if ``hold``)."""

        def one(job: Job, now: float, actions: list[Action]) -> Problem | None:
            err, acts = self.engine.requeue(job, now, hold=hold)
            actions.extend(acts)
            return None if err is None else _ENGINE_PROBLEMS[err]

        return self._each(targets, identity, one)

    def update(
        self, targets: Sequence[Target], identity: Identity, changes: dict[str, object]
    ) -> list[TargetResult]:
        """Change jobs' requests (engine spec field names; ``total_cpus`` spreads over tasks).

        As in Slurm, only administrators may raise a job's time limit or set a negative nice
        (``DENIED`` for anyone else): users may only ask for less.
        """

        def one(job: Job, now: float, _actions: list[Action]) -> Problem | None:
            if not identity.is_admin and _raises_privilege(job, changes):
                return Problem.DENIED
            mine = dict(changes)
            total = mine.pop("total_cpus", None)
            if isinstance(total, int):
                mine["cpus_per_task"] = max(1, math.ceil(total / max(job.spec.ntasks, 1)))
            err = self.engine.update(job, mine, now)
            return None if err is None else _ENGINE_PROBLEMS.get(err, Problem.INVALID)

        return self._each(targets, identity, one)

    def _each(
        self,
        targets: Sequence[Target],
        identity: Identity,
        one: Callable[[Job, float, list[Action]], Problem | None],
    ) -> list[TargetResult]:
        """Apply ``one`` to every record of every target the caller may act on; commit once.

        A target's problem is the last one any of its records had.
        """
        now = self.now()
        actions: list[Action] = []
        results: list[TargetResult] = []
        for target in targets:
            result = TargetResult(target)
            results.append(result)
            records = self.records(target)
            if not records:
                result.problem = Problem.NOT_FOUND
                continue
            if not all(identity.may_act_on(r) for r in records):
                result.problem = Problem.DENIED
                continue
            for job in records:
                problem = one(job, now, actions)
                result.problem = problem or result.problem
                result.acted += problem is None
        self._ctrl.commit(actions)
        return results

    def wait_status(self, job_id: int) -> int | None:
        """None while the job (every task of an array) runs; then its worst exit code.

        A signal counts as 128 + its number, as shells report it.
        """
        records = self.engine.targets(job_id, None)
        if records:
            if not all(r.state.final for r in records):
                return None
            return max(r.exit_code if not r.exit_signal else 128 + r.exit_signal for r in records)
        states = self.stored_states(job_id, None)
        return 0 if all(s == JobState.COMPLETED.value for s in states) else 1

    # -- interactive allocations ------------------------------------------------------------

    def allocation_seen(self, job_id: int) -> None:
        """The client holding an interactive allocation is alive (see :meth:`_expire_allocations`)."""
        self._alloc_seen[job_id] = self.now()

    def release_allocation(self, job_id: int, exit_code: int, identity: Identity) -> None:
        """The client gives its allocation up: the job ends with the client command's exit code."""
        job = self.engine.jobs.get(job_id)
        self._alloc_seen.pop(job_id, None)
        if job is None or not job.spec.interactive or not identity.may_act_on(job):
            return
        now = self.now()
        if job.state in (JobState.PENDING, JobState.CONFIGURING):
            self._ctrl.commit(self.engine.cancel(job_id, None, now).actions)
        elif job.state == JobState.RUNNING:
            self._ctrl.commit(self.engine.job_ended(job_id, job.run, now, exit_code=exit_code))

    def _expire_allocations(self) -> None:
        """Allocations whose client stopped asking are cancelled (the client has gone)."""
        now = self.now()
        timeout = self._ctrl.interactive_silence_s
        for job_id, seen in list(self._alloc_seen.items()):
            if now - seen > timeout:
                job = self.engine.jobs.get(job_id)
                self._alloc_seen.pop(job_id, None)
                if job is not None and not job.state.final:
                    self._ctrl.commit(self.engine.cancel(job_id, None, now, cause="client gone").actions)

    # -- job steps --------------------------------------------------------------------------

    def admit_step(self, job_id: int, identity: Identity) -> Job:
        """The running job a new step of ``identity`` may use; raises NotFound, WrongState, AccessDenied."""
        job = self.engine.jobs.get(job_id)
        if job is None:
            raise NotFound(f"job {job_id}")
        if job.state != JobState.RUNNING or job.alloc is None:
            final = job.state.final or job.state == JobState.COMPLETING
            raise WrongState(Problem.ALREADY_DONE if final else Problem.NOT_PENDING)
        if not identity.may_act_on(job):
            raise AccessDenied(f"job {job_id}")
        return job

    def next_step(self, job: Job) -> StepGrant:
        """A new step id for the job's current run (ids continue across head-node restarts)."""
        key = (job.id, job.run)
        if key not in self._step_ids:
            store = self._ctrl.store
            with store.reading() as conn:
                self._step_ids[key] = store.last_step_id(conn, job.id, job.run)
        self._step_ids[key] += 1
        return StepGrant(job, self._step_ids[key])

    def start_step(
        self,
        grant: StepGrant,
        name: str,
        ntasks: int,
        cpus: int,
        messages: dict[str, dict[str, Any]],
    ) -> None:
        """Record the step as started, then hand each node its part (``messages`` by node).

        The tasks run as the job's owner, whoever asked for the step. The step ends when every
        node has reported its tasks' end.
        """
        job, step_id = grant.job, grant.step_id
        owner = {"user": job.spec.user, "uid": job.spec.uid, "gid": job.spec.gid}
        gpus = dict(zip(job.alloc.nodes, job.alloc.gpus, strict=True)) if job.alloc is not None else {}
        messages = {node: {**body, **owner, "gpus": gpus.get(node, 0)} for node, body in messages.items()}
        nodes = list(messages)
        now = self.now()
        store = self._ctrl.store
        self._ctrl.commit(
            extra=lambda c: store.start_step(c, job.id, job.run, step_id, name, nodes, ntasks, cpus, now)
        )
        self._ctrl.nodeplane.start_step(job.id, job.run, step_id, messages)

    # -- the cluster ------------------------------------------------------------------------

    @property
    def cluster(self) -> dict[str, Any]:
        """The cluster's record (status, fleet status, head node, failures), read only."""
        return self._ctrl.cluster

    @property
    def config_path(self) -> str:
        return str(self._ctrl.paths.config)

    def request_fleet(self, start: bool, identity: Identity) -> None:
        """Start (``start``) or stop the compute fleet; stored before this returns."""
        self._require_owner(identity)
        self._ctrl.request_fleet(FleetStatus.START_REQUESTED if start else FleetStatus.STOP_REQUESTED)

    @property
    def configuration(self) -> dict[str, Any]:
        """The running configuration, as loaded."""
        return self._ctrl.loaded.raw

    @property
    def host_facts(self) -> HostFacts | None:
        """The resources of the configuration's hosts (recorded; new ones probed when asked)."""
        return self._ctrl.host_facts

    def check_update(self, layout: ClusterLayout) -> UpdateCheck:
        """What a change to ``layout`` would find in the way: nodes and partitions it drops that
        are in use, and whether the compute fleet is stopped."""
        current = self._ctrl.layout
        dropped_nodes = set(current.node_names()) - set(layout.node_names())
        dropped_parts = {q.name for q in current.queues} - {q.name for q in layout.queues}
        fleet = self._ctrl.cluster.get("computeFleetStatus")
        return UpdateCheck(
            fleet_stopped=fleet == FleetStatus.STOPPED,
            nodes_in_use=tuple(self._ctrl.nodes_in_use(dropped_nodes)),
            partitions_in_use=tuple(self._ctrl.partitions_in_use(dropped_parts)),
        )

    def apply_update(self, text: str, identity: Identity) -> None:
        """Make ``text`` the configuration; stored before this returns, applied by a restart."""
        self._require_owner(identity)
        self._ctrl.apply_config(text)

    def set_queue_enabled(self, name: str, enabled: bool, identity: Identity) -> None:
        """Disable queue ``name`` (its partition INACTIVE: running jobs go on, nothing new starts
        there, and it stays so across compute-fleet starts and head-node restarts) or enable it
        again; stored before this returns. A queue an update of the configuration is adding
        takes the state when it exists. The owner's or root's."""
        self._require_owner(identity)
        self._ctrl.set_partition_enabled(name, enabled)

    def delete_cluster(self, identity: Identity) -> None:
        """Begin deleting the cluster (stored before this returns)."""
        self._require_owner(identity)
        self._ctrl.begin_delete()

    @staticmethod
    def owner() -> Identity:
        """The cluster's owner: the user its head node runs as."""
        return identity_of(os.getuid(), os.getgid())

    def _require_owner(self, identity: Identity) -> None:
        # The cluster belongs to whoever runs its head node.
        if not identity.is_admin and identity.uid != os.getuid():
            raise AccessDenied("only the cluster's owner or root can do this")


def _raises_privilege(job: Job, changes: dict[str, object]) -> bool:
    """Whether ``changes`` ask for more than a user may: a longer time limit, a negative nice."""
    if "time_limit_s" in changes:
        new, old = changes["time_limit_s"], job.time_limit_s  # the limit in force
        if old is not None and (not isinstance(new, (int, float)) or new > old):
            return True  # None (no limit) is the longest of all
    nice = changes.get("nice")
    return isinstance(nice, int) and nice < 0

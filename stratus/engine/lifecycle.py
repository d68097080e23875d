"""A job's life from submission to its end: submit, cancel, hold, requeue, update, job_ended.

What it guarantees:

- A submission is checked once (:meth:`JobLifecycle.check`): only impossibilities are refused.
  A request for more nodes than one of its partitions has is one, as with Slurm's
  ``EnforcePartLimits=ALL`` (what ParallelCluster configures).
- A running job is never ended behind its processes' back: a cancel or a requeue sends a kill and
  leaves the job COMPLETING until :meth:`JobLifecycle.job_ended` says its processes are gone, so
  a requeued job's new run can never overlap its old one.
- A requeue is recorded: the run ends (accounting gets a ``RunEnd``) and the job returns to
  PENDING as run ``n+1``, eligible again only after ``EngineConfig.requeue_delay_s`` (it shows
  BeginTime meanwhile, as in Slurm). A cancel while a requeued run is being torn down ends the
  job for good: it never runs again.
- A hold is its holder's: an administrator's hold (JobHeldAdmin) is released by an administrator
  only. Any job not finished may be held; a running one keeps running and waits, held, if it is
  requeued.
- An update is checked like a submission and never leaves a job that could not run; a running job
  may only change its time limit, and its deadline, ``--signal`` warning and plan hold follow it.
"""

from __future__ import annotations

from dataclasses import replace

from stratus.engine.base import OVERDUE_GRACE_S, CancelOutcome, EngineBase, _final_reason, _has_features
from stratus.engine.indexset import IndexSet
from stratus.engine.model import Action, Job, JobSpec, KillJob, Rejection, Transition, record_key
from stratus.engine.placement import Avail, node_limits, place, shape_of
from stratus.engine.priority import basic_priority
from stratus.engine.states import HOLD_REASONS, JobState
from stratus.engine.timeline import INF

#: The exit code of a process killed by SIGKILL (128 + 9), as shells and container runtimes report it.
_SIGKILLED = 137


class JobLifecycle(EngineBase):
    """Submission, cancellation, holds, requeues, updates and the end of a job's run."""

    def check(self, spec: JobSpec) -> Rejection | None:
        """Why ``spec`` can never run in this cluster, or None if it can (possibly later).

        Only impossibilities are rejections (a partition that does not exist, more CPUs, memory
        or GPUs per node than any node of the partition has, more nodes than its nodes with the
        requested features). A request for more nodes than any one of its partitions has is
        refused too (``NODE_COUNT``), as Slurm 22.05 does with ``EnforcePartLimits=ALL``: every
        partition named must allow the node count, not just one of them; so must it allow the
        job's CPUs in all (``PROCESSORS``: more than the partition's nodes have together) and its
        time limit (``TIME_LIMIT``: longer than the partition's MaxTime).
        """
        names = spec.partitions or ((self.default_partition,) if self.default_partition else ())
        if not names:
            return Rejection("INVALID_PARTITION", "")
        for name in names:
            if name not in self.partitions:
                return Rejection("INVALID_PARTITION", name)
        wanted = node_limits(spec)[0]
        for name in names:
            part = self.partitions[name].defn
            if wanted > len(part.nodes):
                return Rejection("NODE_COUNT", name)
            if spec.ntasks * spec.cpus_per_task > sum(self.nodes[n].defn.cpus for n in part.nodes):
                return Rejection("PROCESSORS", name)
            if (
                spec.time_limit_s is not None
                and part.max_time_s is not None
                and spec.time_limit_s > part.max_time_s
            ):
                return Rejection("TIME_LIMIT", name)
        rejection: Rejection | None = None
        for name in names:
            key = (name, spec.features, spec.gpu_type, *shape_of(spec))
            if key in self._check_cache:
                r = self._check_cache[key]
            else:
                r = self._check_cache[key] = self._check_partition(spec, name)
            if r is None:
                return None
            rejection = rejection or r
        return rejection

    def _check_partition(self, spec: JobSpec, partition: str) -> Rejection | None:
        defs = [self.nodes[n].defn for n in self.partitions[partition].defn.nodes]
        if not defs:
            return Rejection("NODE_COUNT", partition)
        if spec.features:
            defs = [d for d in defs if _has_features(d, spec.features)]
            if not defs:
                return Rejection("FEATURES", partition)
        if spec.gpu_type is not None:
            defs = [d for d in defs if d.gpu_type == spec.gpu_type]
            if not defs:
                return Rejection("GPUS", partition)
        if spec.cpus_per_task > max(d.cpus for d in defs):
            return Rejection("CPUS_PER_NODE", partition)
        mem = spec.mem_per_node_mb or 0
        if spec.mem_per_cpu_mb is not None:
            mem = max(mem, spec.mem_per_cpu_mb * spec.cpus_per_task)
        if mem > max(d.memory_mb for d in defs):
            return Rejection("MEMORY", partition)
        if spec.gpus_per_node > max(d.gpus for d in defs):
            return Rejection("GPUS", partition)
        pristine = [
            Avail(d.name, d.cpus, d.memory_mb, d.gpus, d.cpus, d.memory_mb, d.gpus, True) for d in defs
        ]
        if place(spec, pristine, self.config.memory_scheduling) is not None:
            return None
        lo, _ = node_limits(spec)
        if lo > len(defs):
            return Rejection("TASKS", partition)  # fewer nodes with those features than asked for
        if spec.ntasks_per_node is not None or spec.max_nodes is not None:
            return Rejection("CPUS_PER_NODE", partition)
        return Rejection("TASKS", partition)

    def submit(
        self,
        spec: JobSpec,
        now: float,
        *,
        array: IndexSet | None = None,
        hold: bool = False,
    ) -> Job:
        """Accept a job (call :meth:`check` first). Returns the new record with its id."""
        job_id = self.next_job_id
        self.next_job_id += 1
        partition = (spec.partitions[0] if spec.partitions else self.default_partition) or ""
        # A future --begin is its eligible time; otherwise it is eligible now, unless it is held
        # or waits on a dependency: then it becomes eligible when a pass finds it free to go.
        eligible: float | None = now
        if spec.begin_time and spec.begin_time > now:
            eligible = spec.begin_time
        elif hold or spec.dependencies:
            eligible = None
        job = Job(
            id=job_id,
            spec=spec,
            submit_time=now,
            priority=basic_priority(job_id, spec.nice),
            state=JobState.PENDING,
            reason="JobHeldUser" if hold else "None",  # sbatch --hold is the submitter's hold
            partition=partition,
            eligible_time=eligible,
            state_time=now,
            held=hold,
        )
        job.time_limit_s = self._effective_limit(spec, partition)
        if self.config.priority.kind != "basic":
            job.priority = self._priority_of(job, now, self._fairshare_factors())
        if array is not None:
            job.array_id = job_id
            job.pending_tasks = array.copy()
            self._array_tasks[job_id] = set()
            self._array_active[job_id] = 0
        self.jobs[job_id] = job
        self.journal.append(Transition("job", str(job_id), "", JobState.PENDING, now, "submit"))
        self.dirty_jobs.add(job_id)
        self._enqueue(job)
        return job

    def cancel(
        self, job_id: int, task_ids: IndexSet | None, now: float, cause: str = "user"
    ) -> CancelOutcome:
        """Cancel a job, an array (every task), or some tasks of an array."""
        job = self.jobs.get(job_id)
        if job_id in self._array_tasks or (job is not None and job.array_id == job_id):
            return self._cancel_array(job_id, task_ids, now, cause)
        out = CancelOutcome()
        if job is None or task_ids is not None:
            out.found = False
            return out
        self._cancel_one(job, now, cause, out)
        return out

    def _cancel_one(self, job: Job, now: float, cause: str, out: CancelOutcome) -> None:
        if job.state == JobState.COMPLETING and job.requeue_when_done:
            # Requeued, its old run still being torn down: in Slurm it is pending already, and a
            # cancel ends it for good. It ends CANCELLED when its processes are gone.
            out.cancelled += 1
            job.requeue_when_done = False
            job.final_state = JobState.CANCELLED
            self.dirty_jobs.add(job.id)
            self.journal.append(
                Transition("job", record_key(job), job.state, job.state, now, cause, "cancel", job.run)
            )
            return
        if job.state.final or job.state == JobState.COMPLETING:
            out.already_done = True
            return
        out.cancelled += 1
        if job.state in (JobState.PENDING, JobState.CONFIGURING):
            # Nothing runs yet; booting nodes keep booting and idle out if nobody needs them.
            self._job_to(job, JobState.CANCELLED, now, cause)
            job.end_time = now
            job.reason = "None"
            self._release(job, now)
            return
        assert job.alloc is not None
        job.final_state = JobState.CANCELLED
        self._job_to(job, JobState.COMPLETING, now, cause, "cancel")
        out.actions.append(KillJob(job.id, job.run, job.alloc.nodes, "CANCELLED"))

    def knows(self, job_id: int) -> bool:
        """Whether ``job_id`` names a job or an array this engine still holds."""
        return job_id in self.jobs or job_id in self._array_tasks

    def targets(self, job_id: int, task_ids: IndexSet | None) -> list[Job]:
        """The records ``job_id`` (and ``task_ids`` of it) names: a job, or an array's records."""
        records = self._dep_records(job_id, None)
        if task_ids is None:
            return records
        return [
            r
            for r in records
            if (r.task_id is not None and r.task_id in task_ids)
            or (
                r.is_array_remainder
                and r.pending_tasks is not None
                and any(t in task_ids for t in r.pending_tasks)
            )
        ]

    def set_hold(
        self, job: Job, held: bool, now: float, *, admin: bool = False, user_hold: bool = False
    ) -> str | None:
        """Hold or release a job (``scontrol hold``/``uhold``/``release``); an error code, or None.

        As Slurm 22.05 does: any job not finished may be held. A pending one (or array remainder)
        stops waiting for resources; a running one keeps running, and waits, held, if it is
        requeued. ``admin`` says the request is an administrator's: their hold is JobHeldAdmin
        (JobHeldUser with ``user_hold``: ``uhold``), and only an administrator may release it or
        change its kind; anyone else's hold is JobHeldUser. Holding clears an eligible time that
        has passed (it is set again when the released job is found free to go); releasing a job
        that is not held does nothing. Error codes: ``ALREADY_DONE`` (finished, or being torn
        down after a cancel or time limit), ``DENIED`` (a user releasing a hold that is not theirs).
        """
        if job.state.final or (job.state == JobState.COMPLETING and not job.requeue_when_done):
            return "ALREADY_DONE"
        if held:
            if job.held and not admin:
                return None  # only an administrator changes a hold's kind
            reason = "JobHeldUser" if user_hold or not admin else "JobHeldAdmin"
        else:
            if not job.held:
                return None
            if not admin and job.reason not in ("JobHeldUser", "JobHeldRequeue"):
                return "DENIED"
            reason = "None"
        changed = job.held != held or job.reason != reason
        job.held = held
        job.reason = reason
        if held and job.eligible_time is not None and job.eligible_time <= now:
            job.eligible_time = None
        if changed:
            if job.state == JobState.PENDING:
                self._drop_reservation(job.id)
                self._replan = True
            self.dirty_jobs.add(job.id)
            self.journal.append(
                Transition(
                    "job", record_key(job), job.state, job.state, now, "user", "hold" if held else "release"
                )
            )
        return None

    def requeue(self, job: Job, now: float, *, hold: bool = False) -> tuple[str | None, list[Action]]:
        """Send a started or finished job back to PENDING as a new run (``scontrol requeue``).

        A running job is stopped first: it stays COMPLETING until its processes are gone, so the
        new run can never overlap the old one; the new run may start ``requeue_delay_s`` after
        the old one ended. With ``hold`` (``requeuehold``) it waits held (JobHeldRequeue).
        Returns (error code, actions); error codes: ``PENDING`` (nothing to requeue: pending, or
        requeued already), ``COMPLETING`` (being torn down after a cancel or time limit),
        ``NO_REQUEUE`` (--no-requeue).
        """
        if not job.spec.requeue:
            return "NO_REQUEUE", []
        if job.state == JobState.PENDING or (job.state == JobState.COMPLETING and job.requeue_when_done):
            return "PENDING", []  # requeued already: Slurm counts it as pending from then on
        if job.state == JobState.COMPLETING:
            return "COMPLETING", []
        actions: list[Action] = []
        if job.state == JobState.RUNNING:
            assert job.alloc is not None
            job.requeue_when_done = True
            if hold:
                job.held, job.reason = True, "JobHeldRequeue"
            self._job_to(job, JobState.COMPLETING, now, "user", "requeue")
            actions.append(KillJob(job.id, job.run, job.alloc.nodes, "REQUEUE"))
            return None, actions
        if job.state == JobState.CONFIGURING:
            self._release(job, now)
        self._back_to_pending(job, now, "requeue", hold=hold)
        return None, actions

    def _back_to_pending(
        self,
        job: Job,
        now: float,
        cause: str,
        reason: str = "requeued",
        *,
        hold: bool = False,
        delay_s: float | None = None,
    ) -> None:
        """End the current run and make the job wait again as run ``n+1`` (recorded).

        It is eligible again ``delay_s`` later (default: ``EngineConfig.requeue_delay_s``). Held
        (``hold``: ``requeuehold``) it shows JobHeldRequeue; a job held while it ran keeps its
        hold's reason, or shows JobHeldAdmin if its run's end replaced it, as Slurm does.
        """
        delay = self.config.requeue_delay_s if delay_s is None else delay_s
        job.eligible_time = now + delay
        self._job_to(job, JobState.PENDING, now, cause, reason)
        job.run += 1
        job.start_time = job.end_time = None
        job.alloc = None
        job.final_state = None
        job.requeue_when_done = False
        job.exit_code = job.exit_signal = 0
        if hold:
            job.held, job.reason = True, "JobHeldRequeue"
        elif job.held:
            job.reason = job.reason if job.reason in HOLD_REASONS else "JobHeldAdmin"
        else:
            job.reason = "None"
        self._replan = True

    def update(self, job: Job, changes: dict[str, object], now: float) -> str | None:
        """Change a job's request (``scontrol update``); an error code, or None when done.

        A running job may only change its time limit. Any change is checked like a submission:
        ``IMPOSSIBLE`` if the job could then never run, ``NOT_PENDING``, ``ALREADY_DONE``.
        """
        if job.state.final or job.state == JobState.COMPLETING:
            return "ALREADY_DONE"
        if job.state != JobState.PENDING and set(changes) - {"time_limit_s"}:
            return "NOT_PENDING"
        spec = replace(job.spec, **changes)  # type: ignore[arg-type]
        if self.check(spec) is not None:
            return "IMPOSSIBLE"
        job.spec = spec
        if "partitions" in changes and spec.partitions:
            job.partition = spec.partitions[0]
        if "partitions" in changes and self._tiered:
            self._queue_unsorted = True  # its tier, the first key of pass order, may have changed
        if "nice" in changes:
            job.priority = self._priority_of(job, now, self._fairshare_factors())
            self._queue_unsorted = True  # its place in the queue follows its new priority
        job.time_limit_s = self._effective_limit(spec, job.partition)
        if job.state == JobState.RUNNING and job.start_time is not None:
            self._push_deadline(job, job.start_time)
            if job.id in self._warn_at:  # not sent yet: due before the new limit instead
                self._arm_warning(job, job.start_time)
            limit = job.time_limit_s if job.time_limit_s is not None else INF
            self._plan_set_end(job, max(job.start_time + limit, now + OVERDUE_GRACE_S))
        self._drop_reservation(job.id)
        self._replan = True
        self.dirty_jobs.add(job.id)
        self.journal.append(
            Transition(
                "job",
                record_key(job),
                job.state,
                job.state,
                now,
                "user",
                "update " + ",".join(sorted(changes)),
            )
        )
        return None

    def job_ended(
        self,
        job_id: int,
        run: int,
        now: float,
        *,
        exit_code: int = 0,
        signal: int = 0,
        out_of_memory: bool = False,
    ) -> list[Action]:
        """The batch script of ``job_id`` (run ``run``) exited. Stale runs are ignored.

        A run that failed by itself (non-zero exit, out of memory) while the job has runs left
        (``JobSpec.max_attempts``) is recorded as failed, and the job waits again as the next run.
        """
        job = self.jobs.get(job_id)
        if job is None or job.run != run or job.state not in (JobState.RUNNING, JobState.COMPLETING):
            return []
        if job.spec.oom_exit_code is not None and (exit_code, signal) == (job.spec.oom_exit_code, 0):
            out_of_memory, exit_code = True, _SIGKILLED  # the script's report (JobSpec.oom_exit_code)
        job.exit_code = exit_code
        job.exit_signal = signal
        if job.state == JobState.COMPLETING and job.requeue_when_done:
            self._run_ended(job, "REQUEUED", now, "requeue")
            self._release(job, now)
            self._back_to_pending(job, now, "requeue")
            return []
        retry = False
        if job.state == JobState.COMPLETING and job.final_state is not None:
            new = job.final_state  # killed (cancel, time limit): never retried
            reason = _final_reason(new)
        elif out_of_memory:
            new, reason = JobState.OUT_OF_MEMORY, "OutOfMemory"
            retry = job.run + 1 < job.spec.max_attempts and _retried(job.spec, exit_code, new)
        elif exit_code != 0 or signal != 0:
            new, reason = JobState.FAILED, "NonZeroExitCode"
            retry = job.run + 1 < job.spec.max_attempts and _retried(job.spec, exit_code, new)
        else:
            new, reason = JobState.COMPLETED, "None"
        actions: list[Action] = []
        if job.alloc is not None and len(job.alloc.nodes) > 1:
            # The batch script ended; the other nodes may still run its steps.
            actions.append(KillJob(job.id, job.run, job.alloc.nodes[1:], "END"))
        if retry:
            self._retry(job, new, reason, now)
            return actions
        self._job_to(job, new, now, "agent", reason)
        if not (job.held and reason == "None"):
            job.reason = reason  # a clean end leaves a hold's reason shown, as in Slurm
        job.end_time = now
        job.final_state = None
        self._run_ended(job, new, now, reason)
        self._release(job, now)
        return actions

    def _retry(self, job: Job, failed: JobState, reason: str, now: float) -> None:
        """End a failed run that has attempts left: accounting and the journal record the run as
        ``failed``, then the job waits again as the next run (as a node failure's requeue does)."""
        self._run_ended(job, failed, now, reason)
        self._release(job, now)
        key = record_key(job)
        self.journal.append(Transition("job", key, job.state, failed, now, "agent", reason, job.run))
        # A retry is the job's own policy, not a requeue: the next attempt may start at once.
        self._back_to_pending(
            job, now, "retry", f"attempt {job.run + 2} of {job.spec.max_attempts}", delay_s=0.0
        )


def _retried(spec: JobSpec, exit_code: int, end: JobState) -> bool:
    """Whether ``spec``'s retry rules let an attempt that ended so run again (the first rule that
    applies decides; none does: yes)."""
    for rule in spec.retry_rules:
        if rule.matches(exit_code, end.name):
            return rule.action == "RETRY"
    return True

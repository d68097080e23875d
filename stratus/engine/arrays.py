"""Job arrays: one pending record for many tasks, split off one task at a time as they start.

An array is submitted as one record whose ``pending_tasks`` holds the ids of the tasks that have
not started (its *remainder*). When a task starts it becomes a record of its own with a new job
id, except the last one, which keeps the array's id, so a 100,000-task array costs one record
until its tasks start.

What it guarantees: every task id is in exactly one place (the remainder's pending set, or one
task record); tasks start lowest id first unless a per-task dependency (``aftercorr``,
``corresponding``) chose another; a cancel of some pending tasks removes them from the remainder
and is recorded under one key for all of them (``tasks_record_key``); ``_array_tasks`` and
``_array_active`` (tasks holding nodes, for the ``array_max_running`` limit) stay in step with
the records.

A sequential array (``JobSpec.array_sequential``) never has two tasks holding nodes at once, and
starts its tasks in index order: a task waits while another task of the array holds nodes, and
the remainder also waits while a task of its own is pending again (requeued), so that one goes
first. With ``fail_on_parent_failure``, a task that ends in failure cancels every task still
pending, when it ends.
"""

from __future__ import annotations

from collections.abc import Sequence

from stratus.engine.base import CancelOutcome, EngineBase
from stratus.engine.indexset import IndexSet
from stratus.engine.model import Job, Transition, task_record_key, tasks_record_key
from stratus.engine.states import JOB_TRANSITIONS, JobState, check_transition


class Arrays(EngineBase):
    """Splitting array tasks off their pending remainder; cancelling tasks; listing them."""

    def _cancel_array(
        self, array_id: int, task_ids: IndexSet | None, now: float, cause: str
    ) -> CancelOutcome:
        out = CancelOutcome()
        meta = self.jobs.get(array_id)
        tasks = [self.jobs[i] for i in self._array_tasks.get(array_id, ()) if i in self.jobs]
        found_any = False
        if meta is not None and meta.is_array_remainder and meta.state == JobState.PENDING:
            pending = meta.pending_tasks
            assert pending is not None
            if task_ids is None or all(t in task_ids for t in pending):
                if pending:
                    found_any = True
                    self._job_to(meta, JobState.CANCELLED, now, cause)
                    meta.end_time = now
                    meta.reason = "None"
                    out.cancelled += len(pending)
            else:
                removed = self._cancel_pending_tasks(meta, task_ids, now, cause)
                if removed:
                    found_any = True
                    out.cancelled += removed
        elif meta is not None and meta.task_id is not None and (task_ids is None or meta.task_id in task_ids):
            tasks.append(meta)
        for t in tasks:
            if task_ids is None or t.task_id in task_ids:
                found_any = True
                self._cancel_one(t, now, cause, out)
        out.found = found_any
        return out

    def _cancel_pending_tasks(
        self, meta: Job, task_ids: Sequence[int] | IndexSet, now: float, cause: str, reason: str = ""
    ) -> int:
        """Cancel some (not all) of the pending tasks of remainder ``meta``; how many were pending.

        The remainder stays pending with its other tasks; the cancelled ones are recorded under
        one key (:func:`tasks_record_key`).
        """
        pending = meta.pending_tasks
        assert pending is not None
        removed = [t for t in task_ids if pending.discard(t)]
        if not removed:
            return 0
        check_transition(JOB_TRANSITIONS, f"job {meta.id}", JobState.PENDING, JobState.CANCELLED)
        self._replan = True  # the queue lost work some decision may rest on
        self.dirty_jobs.add(meta.id)
        self.journal.append(
            Transition(
                "job",
                tasks_record_key(meta.id, IndexSet.from_ids(removed)),
                JobState.PENDING,
                JobState.CANCELLED,
                now,
                cause,
                reason,
                meta.run,
            )
        )
        return len(removed)

    def _sequential_wait(self, job: Job) -> bool:
        """Whether a record of a sequential array must wait for another task of it to end first:
        one holds nodes, or (for the remainder) one of its tasks is pending again."""
        array_id = job.array_id
        assert array_id is not None
        if self._array_active.get(array_id, 0) > 0:
            return True
        if job.is_array_remainder:
            for i in self._array_tasks.get(array_id, ()):
                task = self.jobs.get(i)
                if task is not None and task.state == JobState.PENDING:
                    return True
        return False

    def _fail_sequential_rest(self, task: Job, now: float) -> None:
        """A task of a sequential array with ``fail_on_parent_failure`` ended in failure: every
        task of the array still pending is cancelled (cause ``dependency``)."""
        array_id = task.array_id
        assert array_id is not None
        waiting = [self.jobs[i] for i in sorted(self._array_tasks.get(array_id, ())) if i in self.jobs]
        meta = self.jobs.get(array_id)
        if meta is not None:
            waiting.append(meta)
        for job in waiting:
            if job.state == JobState.PENDING:
                self._cancel_never_satisfied(job, now)

    def _split_task(self, meta: Job, now: float) -> Job:
        """Take the lowest pending task (or the one its dependencies chose) as a record of its own."""
        pending = meta.pending_tasks
        assert pending is not None
        chosen = self._next_task.pop(meta.id, None)
        if chosen is not None and pending.discard(chosen):
            task_id = chosen
        else:
            task_id = pending.pop_min()
        self.dirty_jobs.add(meta.id)
        if not pending:
            # The last task keeps the array's own id, as in Slurm.
            meta.task_id = task_id
            meta.pending_tasks = None
            self.journal.append(
                Transition("job", task_record_key(meta.id, task_id), "", JobState.PENDING, now, "array_split")
            )
            return meta
        task = Job(
            id=self.next_job_id,
            spec=meta.spec,
            submit_time=meta.submit_time,
            priority=meta.priority,
            state=JobState.PENDING,
            array_id=meta.id,
            task_id=task_id,
            partition=meta.partition,
            eligible_time=meta.eligible_time,
            state_time=now,
            time_limit_s=meta.time_limit_s,
        )
        self.next_job_id += 1
        self.jobs[task.id] = task
        self._array_tasks.setdefault(meta.id, set()).add(task.id)
        self.dirty_jobs.add(task.id)
        self.journal.append(
            Transition("job", task_record_key(meta.id, task_id), "", JobState.PENDING, now, "array_split")
        )
        return task

    def array_tasks(self, array_id: int) -> list[Job]:
        """The materialised task records of an array (not its pending remainder)."""
        return [self.jobs[i] for i in sorted(self._array_tasks.get(array_id, ())) if i in self.jobs]

"""Dependencies between jobs: whether a pending job's conditions are met, can be, or never will.

A condition (:class:`DepCondition`) is in one of three states: met (``_OK``), not yet (``_WAIT``),
or never (``_NEVER``: the job it watches ended in a way that cannot meet it). ``after`` is met
``delay_s`` after every watched record started; ``afterany`` when they all ended; ``afterok`` when
they all completed; ``afternotok`` when one did not; ``aftercorr`` task by task (the task with the
same index completed); ``singleton`` when no earlier unfinished job has the same user and name.
A job waits for all of its conditions, or for any one with ``dependency_any``.

What it guarantees: a condition on a job the engine no longer holds is met (it was purged, or it
was a pending task since cancelled) unless the front end resolved it from the records
(``DepCondition.resolved``); an array's pending remainder stands for its tasks that have not
started; :meth:`Dependencies.dependency_status` reports the conditions still standing in the
engine's words, and front ends word them (``stratus.slurm.depend_text``).
"""

from __future__ import annotations

from stratus.engine.base import EngineBase
from stratus.engine.model import DepCondition, Job
from stratus.engine.states import JobState

# A dependency's state: may start, must wait, can never be met.
_OK, _WAIT, _NEVER = 0, 1, 2

# How dependency_status names a condition that still stands.
DEP_UNFULFILLED = "unfulfilled"  # not met yet; may still be
DEP_FAILED = "failed"  # can never be met


class Dependencies(EngineBase):
    """Condition states (after*, aftercorr, singleton), and cancelling what can never run."""

    def _dependency_state(self, job: Job, now: float) -> int:
        """Whether ``job`` may start as far as its dependencies go: _OK, _WAIT or _NEVER.

        For an array remainder with ``aftercorr`` conditions, each pending task has its own
        answer: the first task that may start is remembered for :meth:`_split_task`.
        """
        if job.is_array_remainder and any(c.kind == "aftercorr" for c in job.spec.dependencies):
            assert job.pending_tasks is not None
            seen_wait = False
            for n, task_id in enumerate(job.pending_tasks):
                state = self._conditions_state(job, now, task_id)
                if state == _OK:
                    self._next_task[job.id] = task_id
                    return _OK
                seen_wait = seen_wait or state == _WAIT
                if n >= 10_000:  # bound the search; later tasks are looked at as these start
                    return _WAIT
            return _WAIT if seen_wait else _NEVER
        return self._conditions_state(job, now, job.task_id)

    def _conditions_state(self, job: Job, now: float, task_id: int | None) -> int:
        spec = job.spec
        states = [self._condition_state(c, job, now, task_id) for c in spec.dependencies]
        if spec.dependency_any:
            return _OK if _OK in states else (_WAIT if _WAIT in states else _NEVER)
        return _NEVER if _NEVER in states else (_WAIT if _WAIT in states else _OK)

    def _condition_state(self, c: DepCondition, job: Job, now: float, task_id: int | None) -> int:
        if c.resolved is not None:
            return _OK if c.resolved else _NEVER
        if c.kind == "singleton":
            first = self._unfinished_singletons().get((job.spec.user, job.spec.name))
            mine = job.array_id if job.array_id is not None else job.id
            return _OK if first is None or first >= mine else _WAIT
        if c.kind == "aftercorr":
            if task_id is None:
                return _OK  # not an array task: nothing corresponds
            records = self._dep_records(c.job_id, task_id)
        else:
            records = self._dep_records(c.job_id, c.task_id)
        if not records:
            return _OK  # gone (purged, or a cancelled pending task): nothing left to wait for
        if c.kind == "after":
            if any(r.state == JobState.PENDING for r in records):
                return _WAIT
            started = [r.start_time or r.end_time or 0.0 for r in records]
            return _OK if now >= max(started) + c.delay_s else _WAIT
        if not all(r.state.final for r in records):
            return _WAIT
        if c.kind == "afterany":
            return _OK
        ok = all(r.state == JobState.COMPLETED for r in records)
        if c.kind in ("afterok", "aftercorr"):
            return _OK if ok else _NEVER
        # afternotok: met when something did not complete successfully
        return _NEVER if ok else _OK

    def _dep_records(self, job_id: int, task_id: int | None) -> list[Job]:
        """The records a condition on ``job_id`` (task ``task_id``, -1 or None: all) watches.

        An array's pending remainder stands for its tasks that have not started.
        """
        job = self.jobs.get(job_id)
        is_array = job_id in self._array_tasks or (job is not None and job.array_id == job_id)
        if not is_array:
            return [job] if job is not None else []
        records = self.array_tasks(job_id)
        if job is not None:
            records.append(job)
        if task_id is None or task_id < 0:
            return records
        for r in records:
            if r.task_id == task_id or (
                r.is_array_remainder and r.pending_tasks and task_id in r.pending_tasks
            ):
                return [r]
        return []

    def _unfinished_singletons(self) -> dict[tuple[str, str], int]:
        """(user, name) -> the lowest job (or array) id of that pair not yet finished, per pass."""
        if self._unfinished_by_name is None:
            out: dict[tuple[str, str], int] = {}
            for j in self.jobs.values():
                if j.state.final:
                    continue
                key = (j.spec.user, j.spec.name)
                jid = j.array_id if j.array_id is not None else j.id
                if key not in out or jid < out[key]:
                    out[key] = jid
            self._unfinished_by_name = out
        return self._unfinished_by_name

    def dependency_status(self, job: Job, now: float) -> list[tuple[DepCondition, str]]:
        """The conditions of ``job`` that still stand, in the order they were given, each with
        its state: ``DEP_UNFULFILLED`` (not met yet) or ``DEP_FAILED`` (can never be met).

        Met conditions are left out, so a job without dependencies, or whose dependencies are
        all met, gets an empty list. How they combine is ``job.spec.dependency_any``.
        """
        out: list[tuple[DepCondition, str]] = []
        for c in job.spec.dependencies:
            state = self._condition_state(c, job, now, job.task_id)
            if state != _OK:
                out.append((c, DEP_FAILED if state == _NEVER else DEP_UNFULFILLED))
        return out

    def _cancel_never_satisfied(self, job: Job, now: float) -> None:
        """--kill-on-invalid-dep: a job whose dependency can never be met is cancelled."""
        self._job_to(job, JobState.CANCELLED, now, "dependency", "DependencyNeverSatisfied")
        job.end_time = now
        job.reason = "DependencyNeverSatisfied"

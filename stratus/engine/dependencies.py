"""Dependencies between jobs: whether a pending job's conditions are met, can be, or never will.

A condition (:class:`DepCondition`) is in one of three states: met (``_OK``), not yet (``_WAIT``),
or never (``_NEVER``: the job it watches ended in a way that cannot meet it). ``after`` is met
``delay_s`` after every watched record started; ``afterany`` when they all ended; ``afterok`` when
they all completed; ``afternotok`` when one did not; ``aftercorr`` task by task (the task with the
same index completed); ``corresponding`` task by task (the task with the same index ended);
``singleton`` when no earlier unfinished job has the same user and name. A job waits for all of
its conditions, or for any one with ``dependency_any``.

With ``JobSpec.fail_on_parent_failure``, a watched record that ended in failure (any end but
COMPLETED) makes ``afterany``, ``afterok``, ``aftercorr`` and ``corresponding`` conditions
impossible at once (without waiting for the other records), and a job whose dependencies can
never be met is cancelled (cause ``dependency``, reason ``DependencyNeverSatisfied``), as with
``kill_on_invalid_dep``. For an array waiting task by task, only the tasks whose own conditions
can never be met are cancelled; the others keep waiting.

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

# Conditions that pair task i of an array with task i of the array it waits on.
PER_TASK_KINDS = frozenset({"aftercorr", "corresponding"})
# Conditions that fail_on_parent_failure makes impossible once a watched record failed
# (``after`` waits for a start, ``afternotok`` for a failure: a failure cannot make them impossible).
_FAILURE_SENSITIVE = frozenset({"afterany", "afterok", "aftercorr", "corresponding"})

# How dependency_status names a condition that still stands.
DEP_UNFULFILLED = "unfulfilled"  # not met yet; may still be
DEP_FAILED = "failed"  # can never be met


class Dependencies(EngineBase):
    """Condition states (after*, aftercorr, corresponding, singleton), and cancelling what can
    never run."""

    def _dependency_state(self, job: Job, now: float) -> int:
        """Whether ``job`` may start as far as its dependencies go: _OK, _WAIT or _NEVER.

        For an array remainder with per-task conditions (``aftercorr``, ``corresponding``), each
        pending task has its own answer: the first task that may start is remembered for
        :meth:`_split_task`. A sequential array (``JobSpec.array_sequential``) may only start its
        lowest pending task, so that task's answer is the array's.
        """
        if job.is_array_remainder and any(c.kind in PER_TASK_KINDS for c in job.spec.dependencies):
            assert job.pending_tasks is not None
            if job.spec.array_sequential:
                task_id = job.pending_tasks.min()
                state = self._conditions_state(job, now, task_id)
                if state == _OK:
                    self._next_task[job.id] = task_id
                return state
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
        if c.kind in PER_TASK_KINDS:
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
        if (
            job.spec.fail_on_parent_failure
            and c.kind in _FAILURE_SENSITIVE
            and any(r.state.final and r.state != JobState.COMPLETED for r in records)
        ):
            return _NEVER  # one failure decides: no need to wait for the other records to end
        if not all(r.state.final for r in records):
            return _WAIT
        if c.kind in ("afterany", "corresponding"):
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
        """``kill_on_invalid_dep`` or ``fail_on_parent_failure``: a job (or an array's pending
        remainder, every task of it) whose dependency can never be met is cancelled."""
        self._job_to(job, JobState.CANCELLED, now, "dependency", "DependencyNeverSatisfied")
        job.end_time = now
        job.reason = "DependencyNeverSatisfied"

    def _cancel_never_satisfied_tasks(self, meta: Job, now: float) -> None:
        """``fail_on_parent_failure`` on an array waiting task by task: cancel the pending tasks
        whose own conditions can never be met, and only those (the others keep waiting).

        Only tasks paired with a failed record of an array they wait on can have become
        impossible, so only those are examined: the cost follows the other array's ended
        records, not this array's size. If every pending task is cancelled, the remainder is.
        """
        pending = meta.pending_tasks
        assert pending is not None
        candidates: set[int] = set()
        for c in meta.spec.dependencies:
            if c.kind not in PER_TASK_KINDS or c.resolved is not None:
                continue
            # The other array's records, in no particular order (the order does not matter here).
            records = [self.jobs[i] for i in self._array_tasks.get(c.job_id, ()) if i in self.jobs]
            other = self.jobs.get(c.job_id)
            if other is not None:
                records.append(other)
            for r in records:
                if not r.state.final or r.state == JobState.COMPLETED:
                    continue
                if r.task_id is not None:
                    candidates.add(r.task_id)
                elif r.pending_tasks is not None:
                    # A remainder that ended before its tasks started: all of them failed.
                    small, large = sorted((r.pending_tasks, pending), key=len)
                    candidates.update(t for t in small if t in large)
        never = [
            t for t in sorted(candidates) if t in pending and self._conditions_state(meta, now, t) == _NEVER
        ]
        if not never:
            return
        if meta.spec.array_sequential:
            # A task that can never run fails every task after it (those before it may still run).
            first = never[0]
            never = [t for t in pending if t >= first]
        if len(never) == len(pending):
            self._cancel_never_satisfied(meta, now)
        else:
            self._cancel_pending_tasks(meta, never, now, "dependency", "DependencyNeverSatisfied")

"""Which accounting rows sacct lists, and in what order (the accounting plugin's conditions).

Guarantees: the store's rows are filtered by the time window and each state's own test,
``-u``/``-g``/``-A``/``-r``/``--name``/``-N``/``-j``; without ``-D`` only each job id's newest
run is kept; jobs come in Slurm's order (submit time, array job id, task id, job id), each
followed by its steps. Job CPU times are the sums of their finished steps.
"""

from __future__ import annotations

import grp
import pwd
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace

from stratus.slurm import jobstate
from stratus.slurm.cparse import isdigits
from stratus.slurm.errors import command_error
from stratus.slurm.sacct_args import SacctParams, StepSelector
from stratus.slurm.sacct_fields import PROG
from stratus.slurm.timefmt import NO_VAL
from stratus.slurm.views import AcctRow, ClientContext


@dataclass(slots=True)
class Record:
    """One output line: a job run or a step, with the times Slurm derives for it."""

    row: AcctRow
    is_step: bool
    start: float | None
    end: float | None
    elapsed: int
    start_none: bool = False  # a job that ended without ever starting: Start prints "None"
    user_cpu: float = 0.0
    sys_cpu: float = 0.0
    task_override: int | None = None  # --array: one pending task of a remainder
    job: AcctRow | None = None  # a step's job run (Slurm's step->job_ptr)


@dataclass(frozen=True, slots=True)
class _Who:
    """Resolved ``-u``/``-g`` entries: ids, and names the system does not know but jobs carry."""

    ids: frozenset[int]
    names: frozenset[str]

    def matches(self, id_: int, name: str) -> bool:
        return id_ in self.ids or name in self.names


def _resolve(
    tokens: Sequence[str], kind: str, own: tuple[str, int], lookup: Callable[[str], int], seen: set[str]
) -> _Who:
    """uid_from_string/gid_from_string over ``-u``/``-g`` entries.

    A number is an id; a name is looked up on this machine, else accepted when it is the
    caller's own or one the accounting records carry (clients may know users the head node
    does not); anything else is Slurm's ``Invalid user id: X`` / ``Invalid group id: X``.
    """
    ids: set[int] = set()
    names: set[str] = set()
    for name in tokens:
        if isdigits(name):
            ids.add(int(name))
        elif name == own[0] and name:
            ids.add(own[1])
        else:
            try:
                ids.add(lookup(name))
            except KeyError:
                if name not in seen:
                    raise command_error(PROG, f"Invalid {kind} id: {name}") from None
                names.add(name)
    return _Who(frozenset(ids), frozenset(names))


def _window_times(
    start: float | None, end: float | None, p: SacctParams, now: float
) -> tuple[float | None, float | None, int]:
    """(start, end, elapsed) as the accounting plugin derives them (``-T`` truncates)."""
    if end is not None and start is not None and start > end:
        start = end
    if p.truncate:
        win_end = min(float(p.end), now)
        if start and start < p.start:
            start = float(p.start)
        if not end or end > win_end:
            end = win_end
        if not start:
            start = end
        elapsed = int(end - start) if start is not None and end is not None else 0
    elif not start:
        elapsed = 0
    elif not end:
        elapsed = int(now) - int(start)
    else:
        elapsed = int(end) - int(start)
    return start, end, max(elapsed, 0)


def _job_in_window(r: AcctRow, p: SacctParams) -> bool:
    """The accounting database's time and state condition for one job record."""
    s, e = p.start, p.end
    eligible = r.eligible_time or 0
    start = r.start_time or 0
    end = r.end_time or 0
    if not p.states:
        if p.steps:
            return r.submit_time < e and (end >= s or not end)
        return bool(eligible) and eligible < e and (end >= s or not end)
    for state in p.states:
        if state == "PENDING":
            ok = bool(eligible) and (
                (start and s < start)
                or (not start and end and s < end)
                or (not start and not end and r.state == state)
            )
            if ok and e > eligible:
                return True
        elif state == "RUNNING":
            if start and (s < end or (not end and r.state == state)) and e > start:
                return True
        elif state == "SUSPENDED":
            if r.state == state:
                return True
        elif r.state == state and end and s <= end <= e:
            return True
    return False


def _selected(r: AcctRow, sel: StepSelector) -> bool:
    if sel.task_id is not None:
        return r.array_job_id == sel.job_id and r.array_task_id == sel.task_id
    return sel.job_id in (r.job_id, r.array_job_id)


def _job_filter(r: AcctRow, p: SacctParams, users: _Who | None, groups: _Who | None, cluster: str) -> bool:
    if p.clusters is not None and not p.all_clusters and (r.cluster or cluster) not in p.clusters:
        return False
    if p.steps and not any(_selected(r, sel) for sel in p.steps):
        return False
    if users is not None and not users.matches(r.uid, r.user):
        return False
    if groups is not None and not groups.matches(r.gid, r.group):
        return False
    if p.accounts is not None and (r.account or "").lower() not in {a.lower() for a in p.accounts}:
        return False
    if p.partitions is not None and r.partition not in p.partitions:
        return False
    if p.names is not None and r.name not in p.names:
        return False
    if p.nodes is not None and not set(p.nodes) & set(r.nodes):
        return False
    if not p.duplicates and r.state == "REVOKED":
        return False
    return _job_in_window(r, p)


def users_all(p: SacctParams, ctx_uid: int) -> bool:
    """Whose jobs: everyone's for root, -a, -j and -N (unless -u names users)."""
    if p.users:
        return p.all_users
    return p.all_users or bool(p.steps) or p.nodes is not None or ctx_uid == 0


def _newest_runs(rows: Iterable[AcctRow]) -> list[AcctRow]:
    """Without -D: each job id's newest run only (a resizing record is always kept)."""
    best: dict[int, AcctRow] = {}
    kept: list[AcctRow] = []
    for r in rows:
        if r.state == "RESIZING":
            kept.append(r)
            continue
        cur = best.get(r.job_id)
        if cur is None or (r.restarts, r.submit_time) > (cur.restarts, cur.submit_time):
            best[r.job_id] = r
    return kept + list(best.values())


def _sort_key(r: AcctRow) -> tuple[float, int, int, int, int]:
    task = NO_VAL if r.array_task_id is None else r.array_task_id
    return (r.submit_time, r.array_job_id or 0, task, r.job_id, r.restarts)


def build_records(
    rows: Sequence[AcctRow], p: SacctParams, now: float, ctx: ClientContext, cluster: str
) -> list[Record]:
    """Filter, deduplicate and order the store's rows into output lines (jobs, then their steps).

    Raises ``Invalid user id``/``Invalid group id`` for ``-u``/``-g`` names nobody has.
    """
    seen_users = {r.user for r in rows}
    seen_groups = {r.group for r in rows if r.group}
    users: _Who | None = None
    if not users_all(p, ctx.uid):
        users = (
            _resolve(p.users, "user", (ctx.user, ctx.uid), lambda n: pwd.getpwnam(n).pw_uid, seen_users)
            if p.users
            else _Who(frozenset({ctx.uid}), frozenset())
        )
    groups = (
        _resolve(p.groups, "group", (ctx.group, ctx.gid), lambda n: grp.getgrnam(n).gr_gid, seen_groups)
        if p.groups is not None
        else None
    )
    jobs = [r for r in rows if r.step is None and _job_filter(r, p, users, groups, cluster)]
    if not p.duplicates:
        jobs = _newest_runs(jobs)
    jobs.sort(key=_sort_key)
    steps_of: dict[tuple[int, int], list[AcctRow]] = {}
    for r in rows:
        if r.step is not None:
            steps_of.setdefault((r.job_id, r.restarts), []).append(r)
    out: list[Record] = []
    for j in jobs:
        show_job = True
        wanted_steps: set[str] | None = None
        for sel in p.steps or ():
            if not _selected(j, sel):
                continue
            if sel.step is None:
                show_job = True
                break
            wanted_steps = (wanted_steps or set()) | {sel.step}
            show_job = False
        steps: list[Record] = []
        if not p.no_steps:
            for st in steps_of.get((j.job_id, j.restarts), ()):
                if wanted_steps is not None and st.step not in wanted_steps:
                    continue
                st_start = st.start_time or 0
                if st_start > p.end or (st.end_time is not None and st.end_time < p.start):
                    continue
                if st.end_time is None and j.end_time is not None:
                    # A step still open when its job ended ended with it, in the job's state.
                    st = replace(st, end_time=j.end_time, state=j.state)
                s0, e0, el = _window_times(st.start_time, st.end_time, p, now)
                steps.append(
                    Record(
                        st,
                        True,
                        s0,
                        e0,
                        el,
                        user_cpu=st.user_cpu_s or 0.0,
                        sys_cpu=st.system_cpu_s or 0.0,
                        job=j,
                    )
                )
        if show_job:
            start, end, elapsed = _window_times(j.start_time, j.end_time, p, now)
            # A job that ended without starting prints Start=None (unless -T moved its start).
            rec = Record(j, False, start, end, elapsed, start_none=not start and j.end_time is not None)
            # get_data: a job's CPU times are the sums of its finished steps.
            for step_rec in steps:
                if jobstate.is_finished(step_rec.row.state):
                    rec.user_cpu += step_rec.user_cpu
                    rec.sys_cpu += step_rec.sys_cpu
            if p.array and j.array_pending is not None and len(j.array_pending) > 1:
                out.extend(replace(rec, task_override=t) for t in j.array_pending)
            else:
                out.append(rec)
        out.extend(steps)
    return out

"""squeue's records: which jobs are listed, one record per line before ``-r`` expansion.

Guarantees: filtering is Slurm's ``_filter_job`` (without ``-t`` only active states; ``-t``
names states exactly; ``-j 18_5`` narrows a pending array record to the named tasks); pending
tasks split off an array are folded back into its pending record with their reasons merged
(``_combine_pending_array_tasks``) unless ``-r`` is given; ``-P`` gives one record per partition.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from stratus.engine.indexset import IndexSet
from stratus.slurm import jobstate
from stratus.slurm.arrays import bitstr_len, format_task_ids
from stratus.slurm.cparse import isdigits
from stratus.slurm.squeue_args import SqueueParams, str_list
from stratus.slurm.timefmt import NO_VAL
from stratus.slurm.views import JobRow, PartitionRow, SlurmBackend


@dataclass(slots=True)
class Record:
    """One candidate output line (before ``-r`` expansion)."""

    row: JobRow
    part: str
    part_prio: int = 0
    pending_ids: IndexSet | None = None  # a pending array record: the task ids it stands for
    task_str: str | None = None  # what prints inside "N_[...]"
    task_id: int | None = None  # one array task
    reason: str = ""

    @property
    def state(self) -> str:
        return self.row.state

    def sort_id(self) -> tuple[int, int]:
        r = self.row
        if self.task_id is not None and r.array_job_id is not None:
            return r.array_job_id, self.task_id
        if self.pending_ids is not None and r.array_job_id is not None:
            return r.array_job_id, NO_VAL
        return r.job_id, NO_VAL


def _make_rec(row: JobRow, part: str, part_prio: int, env: Mapping[str, str]) -> Record:
    # squeue prints a job's state_desc, when it has one, in place of its reason code.
    rec = Record(row=row, part=part, part_prio=part_prio, reason=row.state_desc or row.reason)
    if row.array_pending is not None and len(row.array_pending) == 1:
        # Slurm turns an array's last pending task into a plain task record: "27_3".
        rec.task_id = row.array_pending.min()
    elif row.array_pending is not None:
        rec.pending_ids = row.array_pending.copy()
        rec.task_str = format_task_ids(row.array_pending, row.array_max_running, bitstr_len(env))
    elif row.array_task_id is not None:
        rec.task_id = row.array_task_id
    return rec


def job_known(rows: Iterable[JobRow], job_id: int) -> bool:
    return any(r.job_id == job_id or r.array_job_id == job_id for r in rows)


def _user_matches(row: JobRow, users: list[str]) -> bool:
    return any(u == row.user or (isdigits(u) and int(u) == row.uid) for u in users)


def _filter(rec: Record, p: SqueueParams) -> bool:
    """True if ``rec`` is to be printed; may narrow a pending array record (``-j 18_5``)."""
    row = rec.row
    if p.jobs:
        keep = False
        partial: set[int] = set()
        for sel in p.jobs:
            if sel.tasks is None:
                if sel.job_id in (row.job_id, row.array_job_id):
                    keep = True
                    break
                continue
            if row.array_job_id != sel.job_id:
                continue
            if rec.task_id is not None and rec.task_id in sel.tasks:
                keep = True
                break
            if rec.pending_ids is not None:
                hit = [t for t in sel.tasks if t in rec.pending_ids]
                if hit:
                    keep = True
                    partial.update(hit)
        if not keep:
            return False
        if partial and rec.pending_ids is not None:
            _narrow(rec, p, partial)
    if p.licenses is not None:
        return False  # stratus jobs hold no licenses
    if p.accounts is not None and (
        row.account is None or row.account.lower() not in {a.lower() for a in p.accounts}
    ):
        return False
    if p.qos is not None and (row.qos is None or row.qos.lower() not in {q.lower() for q in p.qos}):
        return False
    if p.all_states:
        pass
    elif p.states is not None:
        if row.state not in p.states:
            return False
    elif row.state not in jobstate.ACTIVE:
        return False
    if p.nodes is not None and not (set(p.nodes) & set(row.nodes)):
        return False
    if p.users is not None and not _user_matches(row, p.users):
        return False
    if p.reservation is not None and row.reservation != p.reservation:
        return False
    return not (p.names is not None and row.name.lower() not in {n.lower() for n in p.names})


def _narrow(rec: Record, p: SqueueParams, wanted: set[int]) -> None:
    """Keep only the requested tasks of a pending array record: those of every ``-j`` entry
    naming its job (as Slurm intersects its task bitmap with all of them)."""
    pending = rec.pending_ids
    assert pending is not None
    ids = set(wanted)
    for sel in p.jobs or ():
        if sel.tasks is not None and sel.job_id == rec.row.array_job_id:
            ids.update(t for t in sel.tasks if t in pending)
    narrowed = IndexSet.from_ids(ids)
    if len(narrowed) == 1:
        rec.task_id = narrowed.min()
        rec.pending_ids = None
        rec.task_str = None
    else:
        rec.pending_ids = narrowed
        rec.task_str = narrowed.to_slurm()


def _combine_pending(recs: list[Record], env: Mapping[str, str]) -> list[Record]:
    """Fold pending split-off tasks into their array's pending record (reasons merged).

    A task joins the record of its array when both are pending and have the same name and
    partition, as in Slurm; its reason is appended to the record's if new.
    """
    tasks_by_array: dict[int, list[int]] = {}
    for j, rec in enumerate(recs):
        if rec.task_id is not None and rec.row.array_job_id is not None and jobstate.is_pending(rec.state):
            tasks_by_array.setdefault(rec.row.array_job_id, []).append(j)
    absorbed: set[int] = set()
    for meta in recs:
        if meta.pending_ids is None or not jobstate.is_pending(meta.state):
            continue
        joined: list[int] = []
        for j in tasks_by_array.get(meta.row.array_job_id or -1, ()):
            task = recs[j]
            if j in absorbed or task.row.name != meta.row.name or task.part != meta.part:
                continue
            if task.reason != meta.row.reason and task.reason not in meta.reason.split(","):
                meta.reason = f"{meta.reason},{task.reason}"
            assert task.task_id is not None
            joined.append(task.task_id)
            absorbed.add(j)
        if joined:
            meta.pending_ids = meta.pending_ids.union(IndexSet.from_ids(joined))
            text = meta.pending_ids.to_slurm()
            n = bitstr_len(env)
            meta.task_str = text[: n - 1] if n > 0 else text
    return [rec for j, rec in enumerate(recs) if j not in absorbed]


def _partition_prio(parts: Iterable[PartitionRow]) -> dict[str, int]:
    return {p.name: p.priority_tier for p in parts}


def build_records(
    rows: Sequence[JobRow], p: SqueueParams, backend: SlurmBackend, env: Mapping[str, str]
) -> list[Record]:
    """Rows to filtered, combined records (one per partition with ``-P``)."""
    prio = _partition_prio(backend.partitions()) if p.priority else {}
    recs: list[Record] = []
    for row in rows:
        if p.priority:
            for part in str_list(row.partition):
                rec = _make_rec(row, part, prio.get(part, 1), env)
                if p.partitions is not None and part not in p.partitions:
                    continue
                if _filter(rec, p):
                    recs.append(rec)
            continue
        rec = _make_rec(row, row.partition, 0, env)
        if p.partitions is not None and not set(str_list(row.partition)) & set(p.partitions):
            continue
        if _filter(rec, p):
            recs.append(rec)
    if not p.array:
        recs = _combine_pending(recs, env)
    return recs

"""A cluster's own history as a workload: its accounting records turned into trace records.

:func:`from_accounting` takes what a cluster's state store keeps of its jobs (the engine's job
records with their runs, as ``Store.load_accounting`` returns them) and keeps the jobs that ran
and ended; :meth:`History.records` makes them the trace records (:class:`stratus.sim.swf.Record`)
that ``stratus simulate`` replays, and :meth:`History.swf` writes the same records as a Standard
Workload Format file. Both go through the one mapping, so replaying the history and replaying
its SWF file give the same figures.

The mapping, job by job (an array's tasks are jobs of their own):

- submit time: when the job was submitted (seconds after the period's first submission, rounded
  to whole seconds as SWF keeps them);
- run time: the elapsed time of its last run (a requeued job replays the run that finished it),
  rounded, at least one second;
- processors: the CPUs the last run held (allocated) and ``ntasks x cpus-per-task`` (requested);
- requested time: its time limit, rounded up; a job without one asks for its own run time (SWF
  has no "unlimited", and the classic job model replays an unknown request as a one-second job);
- queue: its partition, numbered in the order of ``queues`` (the configuration's), then in order
  of first appearance; user and group: its user and account, numbered in order of first
  appearance (a trace carries no names);
- status: 1 completed, 5 cancelled (after it started), 0 any other end.

Left out, and counted: jobs that never started (cancelled while pending, a dependency that can
never be met, an array's tasks that never ran) and jobs not finished when the records were read.
The period keeps the jobs *submitted* in ``[since, until)``.

What a replay does not reproduce: dependencies, begin times, holds, nice values, memory, GPUs,
features and exclusive use (each job is its processors, anywhere they fit).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from stratus.engine.model import Job
from stratus.engine.states import JobState
from stratus.sim.swf import Record

#: SWF's status field: 1 completed, 0 failed, 5 cancelled.
_STATUS = {JobState.COMPLETED.value: 1, JobState.CANCELLED.value: 5}


@dataclass(frozen=True, slots=True)
class HistoryJob:
    """One finished job of the history (POSIX times; the last run's start and end)."""

    key: str  # the job's id as Slurm writes it: ``12``, or ``10_3`` for an array task
    submit: float
    start: float
    end: float
    cpus: int  # held by the last run
    requested_cpus: int
    time_limit_s: float | None  # None: unlimited
    partition: str
    user: str
    account: str
    state: str

    @property
    def run_s(self) -> float:
        return max(self.end - self.start, 0.0)

    @property
    def wait_s(self) -> float:
        return max(self.start - self.submit, 0.0)


@dataclass
class History:
    """The finished jobs of a period, in submission order, and what was left out."""

    jobs: list[HistoryJob]
    never_started: int = 0
    unfinished: int = 0
    since: float | None = None
    until: float | None = None
    queue_numbers: dict[str, int] = field(default_factory=dict)  # partition -> SWF queue number

    @property
    def start(self) -> float:
        """The first submission (0 when there is no job)."""
        return self.jobs[0].submit if self.jobs else 0.0

    def records(self) -> list[Record]:
        """The jobs as trace records, numbered 1, 2, ... in submission order."""
        users: dict[str, int] = {}
        groups: dict[str, int] = {}
        t0 = self.start
        out = []
        for i, job in enumerate(self.jobs, start=1):
            run = max(1, round(job.run_s))
            limit_s = job.time_limit_s
            limit = math.ceil(limit_s) if limit_s is not None and math.isfinite(limit_s) else run
            out.append(
                Record(
                    line=i,
                    number=i,
                    submit=max(0, round(job.submit - t0)),
                    run=run,
                    allocated_procs=job.cpus,
                    requested_procs=job.requested_cpus,
                    requested_time=max(limit, 1),
                    requested_memory_kb=-1,
                    status=_STATUS.get(job.state, 0),
                    user=users.setdefault(job.user, len(users) + 1),
                    group=groups.setdefault(job.account or job.user, len(groups) + 1),
                    queue=self.queue_numbers.get(job.partition, -1),
                    partition=-1,
                )
            )
        return out

    def queue_map(self) -> str:
        """``--queue-map`` text that sends every queue number of :meth:`records` to its queue."""
        return ",".join(f"{n}={name}" for name, n in sorted(self.queue_numbers.items(), key=lambda kv: kv[1]))

    def recorded(self) -> dict[str, Any]:
        """What the jobs really waited: the figures a replay on the same cluster is measured
        against (seconds; nearest-rank percentiles, as the replay's report)."""
        from stratus.sim.report import figures

        waits = [j.wait_s for j in self.jobs]
        runs = [j.run_s for j in self.jobs]
        f = figures(waits, runs, [j.cpus for j in self.jobs], 0.0).to_json()
        keys = ("jobs", "meanWaitSeconds", "medianWaitSeconds", "p95WaitSeconds", "maxWaitSeconds")
        return {k: f[k] for k in (*keys, "meanBoundedSlowdown", "cpuHours")}

    def to_json(self, cluster: str) -> dict[str, Any]:
        """The report's description of the workload."""
        return {
            "cluster": cluster,
            "since": iso(self.since),
            "until": iso(self.until),
            "firstSubmit": iso(self.jobs[0].submit) if self.jobs else None,
            "lastSubmit": iso(self.jobs[-1].submit) if self.jobs else None,
            "jobs": len(self.jobs),
            "leftOut": {"neverStarted": self.never_started, "unfinished": self.unfinished},
            "queues": self.queue_map(),
            "recorded": self.recorded(),
        }

    def swf(self, *, cluster: str, max_procs: int, max_nodes: int) -> str:
        """The history as an SWF file's text (v2.2 header, one line per job).

        The header names the cluster, the period, the machine (``MaxProcs``, ``MaxNodes``: the
        configuration's) and the ``--queue-map`` that sends each queue number to its queue; the
        wait time field holds what each job really waited.
        """
        records = self.records()
        t0 = self.start
        end = max((j.end for j in self.jobs), default=t0)
        header = [
            "Version: 2.2",
            f"Computer: stratus cluster {cluster}",
            f"Conversion: stratus simulate --history {cluster} --export-swf",
            f"UnixStartTime: {math.floor(t0)}",
            "TimeZoneString: UTC",
            f"StartTime: {iso(t0)}",
            f"EndTime: {iso(end)}",
            f"MaxJobs: {len(records)}",
            f"MaxRecords: {len(records)}",
            f"MaxProcs: {max_procs}",
            f"MaxNodes: {max_nodes}",
            f"Queues: {self.queue_map() or 'none'} (replay with --queue-map {self.queue_map()})",
            f"Note: left out: {self.never_started} jobs that never started, {self.unfinished} not finished",
        ]
        lines = [f"; {h}" for h in header] + [";"]
        for r, job in zip(records, self.jobs, strict=True):
            values = (
                r.number,
                r.submit,
                round(job.wait_s),
                r.run,
                r.allocated_procs,
                -1,
                -1,
                r.requested_procs,
                r.requested_time,
                r.requested_memory_kb,
                r.status,
                r.user,
                r.group,
                -1,
                r.queue,
                r.partition,
                -1,
                -1,
            )
            lines.append(" ".join(str(v) for v in values))
        return "\n".join(lines) + "\n"


def iso(ts: float | None) -> str | None:
    """A POSIX time as ISO 8601 in UTC, to the second (None stays None)."""
    if ts is None:
        return None
    return dt.datetime.fromtimestamp(math.floor(ts), dt.UTC).isoformat().replace("+00:00", "Z")


def median_boot_s(transitions: Iterable[tuple[str, str, float]]) -> float | None:
    """The median time nodes took to boot (``POWERING_UP`` to ``UP``), from a node journal's
    ``(node, new state, time)`` in time order; None when no boot was recorded."""
    since: dict[str, float] = {}
    boots: list[float] = []
    for node, new, time in transitions:
        if new == "POWERING_UP":
            since[node] = time
        elif node in since:
            started = since.pop(node)
            if new == "UP":
                boots.append(max(time - started, 0.0))
    if not boots:
        return None
    boots.sort()
    mid = len(boots) // 2
    return boots[mid] if len(boots) % 2 else (boots[mid - 1] + boots[mid]) / 2


def _key(job: Job) -> str:
    if job.array_id is not None and job.task_id is not None:
        return f"{job.array_id}_{job.task_id}"
    return str(job.id)


def from_accounting(
    entries: Iterable[tuple[Job, Sequence[dict[str, Any]]]],
    *,
    since: float | None = None,
    until: float | None = None,
    queues: Sequence[str] = (),
) -> History:
    """The history of the jobs submitted in ``[since, until)`` (either end open when None).

    ``entries``: each job record with its recorded runs (dicts with ``run``, ``start_time``,
    ``end_time`` and ``cpus``; step records, ``kind == "step"``, are ignored). ``queues``
    numbers the partitions first (the configuration's queues, in order). Pure: reads nothing
    but its arguments.
    """
    jobs: list[HistoryJob] = []
    never = unfinished = 0
    for job, runs in entries:
        if (since is not None and job.submit_time < since) or (
            until is not None and job.submit_time >= until
        ):
            continue
        if job.pending_tasks is not None and job.task_id is None:
            # An array's remainder: its tasks never got a record of their own, so never started
            # (while it is pending they may still start: unfinished).
            if job.state.final:
                never += len(job.pending_tasks)
            else:
                unfinished += len(job.pending_tasks)
            continue
        if not job.state.final:
            unfinished += 1
            continue
        started = [r for r in runs if r.get("kind") != "step" and r.get("start_time") is not None]
        if not started:
            never += 1
            continue
        last = max(started, key=lambda r: int(r["run"]))
        spec = job.spec
        cpus = int(last.get("cpus") or 0)
        if cpus <= 0:
            cpus = job.alloc.total_cpus if job.alloc is not None else spec.ntasks * spec.cpus_per_task
        jobs.append(
            HistoryJob(
                key=_key(job),
                submit=float(job.submit_time),
                start=float(last["start_time"]),
                end=float(last["end_time"]),
                cpus=max(cpus, 1),
                requested_cpus=max(spec.ntasks * spec.cpus_per_task, 1),
                time_limit_s=job.time_limit_s if job.time_limit_s is not None else spec.time_limit_s,
                partition=job.partition or (spec.partitions[0] if spec.partitions else ""),
                user=spec.user,
                account=spec.account,
                state=job.state.value,
            )
        )
    jobs.sort(key=lambda j: j.submit)  # stable: equal times keep the store's (id) order
    numbers: dict[str, int] = {}
    for name in queues:
        numbers.setdefault(name, len(numbers) + 1)
    for j in jobs:
        if j.partition:
            numbers.setdefault(j.partition, len(numbers) + 1)
    used = {j.partition for j in jobs}
    numbers = {name: n for name, n in numbers.items() if name in used or name in queues}
    return History(jobs, never, unfinished, since, until, numbers)

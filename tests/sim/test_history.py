"""A cluster's accounting as a workload: which jobs are kept, and how each becomes a record."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from stratus.engine.indexset import IndexSet
from stratus.engine.model import Job, JobSpec
from stratus.engine.states import JobState
from stratus.sim.history import from_accounting, iso, median_boot_s
from stratus.sim.swf import read_trace
from stratus.sim.workload import JobModel, model_jobs

T0 = 1_700_000_000.0


def job(
    id: int,
    submit: float,
    state: JobState = JobState.COMPLETED,
    *,
    ntasks: int = 1,
    cpus_per_task: int = 1,
    limit: float | None = 600.0,
    partition: str = "q1",
    user: str = "alice",
    account: str = "",
    array: tuple[int, int] | None = None,
    pending: IndexSet | None = None,
) -> Job:
    spec = JobSpec(
        name="j", user=user, account=account, ntasks=ntasks, cpus_per_task=cpus_per_task, time_limit_s=limit
    )
    return Job(
        id=id,
        spec=spec,
        submit_time=T0 + submit,
        priority=1,
        state=state,
        partition=partition,
        time_limit_s=limit,
        array_id=array[0] if array else None,
        task_id=array[1] if array else None,
        pending_tasks=pending,
    )


def run(n: int, start: float | None, end: float, cpus: int) -> dict[str, Any]:
    return {"run": n, "start_time": None if start is None else T0 + start, "end_time": T0 + end, "cpus": cpus}


def test_finished_jobs_become_records_in_submission_order() -> None:
    history = from_accounting(
        [
            (job(2, 30, ntasks=4, partition="q2", user="bob"), [run(0, 40, 100.4, 4)]),
            (job(1, 10, cpus_per_task=2), [run(0, 10, 70, 2)]),
        ],
        queues=["q1", "q2"],
    )
    assert [j.key for j in history.jobs] == ["1", "2"]
    first, second = history.records()
    # Times are seconds after the first submission; the run is the last run's elapsed, rounded.
    assert (first.number, first.submit, first.run, first.requested_time) == (1, 0, 60, 600)
    assert (second.number, second.submit, second.run) == (2, 20, 60)
    assert (first.allocated_procs, first.requested_procs) == (2, 2)
    assert (second.allocated_procs, second.requested_procs) == (4, 4)
    assert (first.queue, second.queue) == (1, 2)  # the configuration's order
    assert (first.user, second.user) == (1, 2)  # numbered in order of first appearance
    assert first.status == 1
    assert history.queue_map() == "1=q1,2=q2"
    assert history.jobs[1].wait_s == 10


def test_left_out_never_started_and_unfinished_are_counted() -> None:
    history = from_accounting(
        [
            (job(1, 0), [run(0, 0, 10, 1)]),
            (job(2, 1, JobState.CANCELLED), []),  # cancelled while pending
            (job(3, 2, JobState.RUNNING), [run(0, 2, 3, 1)]),  # still running: not finished
            (job(4, 3, JobState.PENDING), []),
            # A run that never started (a boot failure), and the job then cancelled.
            (job(5, 4, JobState.CANCELLED), [run(0, None, 20, 1)]),
            # An array whose remainder of three tasks was cancelled: three that never started.
            (job(6, 5, JobState.CANCELLED, pending=IndexSet.from_spec("1-3")), []),
        ]
    )
    assert [j.key for j in history.jobs] == ["1"]
    assert (history.never_started, history.unfinished) == (1 + 1 + 3, 2)
    assert history.to_json("c")["leftOut"] == {"neverStarted": 5, "unfinished": 2}


def test_array_tasks_are_jobs_and_requeued_jobs_replay_their_last_run() -> None:
    history = from_accounting(
        [
            (job(7, 0, array=(7, 0)), [run(0, 1, 11, 1)]),
            (job(8, 0, array=(7, 1)), [run(0, 1, 21, 1)]),
            # Requeued after a node failure: the second run is the one that finished it.
            (job(9, 2, ntasks=2), [run(0, 2, 500, 2), run(1, 600, 630, 2)]),
        ]
    )
    assert [j.key for j in history.jobs] == ["7_0", "7_1", "9"]
    assert [r.run for r in history.records()] == [10, 20, 30]
    assert history.jobs[2].wait_s == 598


def test_cancelled_after_start_and_failures_keep_their_status() -> None:
    history = from_accounting(
        [
            (job(1, 0, JobState.CANCELLED), [run(0, 0, 5, 1)]),
            (job(2, 0, JobState.FAILED), [run(0, 0, 5, 1)]),
            (job(3, 0, JobState.TIMEOUT), [run(0, 0, 5, 1)]),
        ]
    )
    assert [r.status for r in history.records()] == [5, 0, 0]


def test_period_keeps_jobs_submitted_in_it() -> None:
    entries = [(job(i, i * 100.0), [run(0, i * 100.0, i * 100.0 + 5, 1)]) for i in range(1, 6)]
    history = from_accounting(entries, since=T0 + 200, until=T0 + 400)
    assert [j.key for j in history.jobs] == ["2", "3"]
    assert history.to_json("c")["since"] == iso(T0 + 200)
    assert from_accounting(entries, since=T0 + 10_000).jobs == []


def test_unlimited_jobs_ask_for_their_run_and_short_runs_last_a_second() -> None:
    history = from_accounting(
        [
            (job(1, 0, limit=None), [run(0, 0, 42.4, 1)]),
            (job(2, 0, limit=59.5), [run(0, 0, 0.2, 1)]),
        ]
    )
    unlimited, short = history.records()
    assert (unlimited.run, unlimited.requested_time) == (42, 42)
    assert (short.run, short.requested_time) == (1, 60)
    # Under the classic job model both replay as they ran (no one-second jobs for "unknown").
    jobs = model_jobs(history.records(), 100, JobModel())
    assert [(j.run, j.counted) for j in jobs] == [(42, True), (1, True)]


def test_partitions_not_in_the_configuration_get_later_numbers() -> None:
    history = from_accounting(
        [(job(1, 0, partition="gone"), [run(0, 0, 5, 1)]), (job(2, 0, partition="q1"), [run(0, 0, 5, 1)])],
        queues=["q1", "q2"],
    )
    assert history.queue_numbers == {"q1": 1, "q2": 2, "gone": 3}
    assert [r.queue for r in history.records()] == [3, 1]


def test_swf_text_reads_back_as_the_same_records(tmp_path: Path) -> None:
    history = from_accounting(
        [
            (job(1, 0, ntasks=3, user="bob", account="physics"), [run(0, 4, 64, 3)]),
            (job(2, 7, partition="q2", limit=None), [run(0, 8, 20, 1)]),
            (job(3, 9, JobState.CANCELLED), []),
        ],
        queues=["q1", "q2"],
    )
    path = tmp_path / "h.swf"
    path.write_text(history.swf(cluster="demo", max_procs=16, max_nodes=4))
    trace = read_trace(path)
    assert trace.max_procs == 16
    assert trace.header["unixstarttime"] == str(int(T0))
    assert "--queue-map 1=q1,2=q2" in trace.header["queues"]
    assert "1 jobs that never started" in trace.header["note"]
    # Field by field, what the replay reads is what --history replays (line numbers aside).
    assert [
        (r.number, r.submit, r.run, r.allocated_procs, r.requested_time, r.queue) for r in trace.records
    ] == [
        (r.number, r.submit, r.run, r.allocated_procs, r.requested_time, r.queue) for r in history.records()
    ]
    assert [r.status for r in trace.records] == [1, 1]
    first = path.read_text().splitlines()[-2].split()
    assert first[2] == "4"  # the wait field: what the job really waited


def test_recorded_waits() -> None:
    history = from_accounting([(job(i, 0), [run(0, i * 10.0, i * 10.0 + 50, 1)]) for i in range(1, 5)])
    rec = history.recorded()
    assert rec["jobs"] == 4
    assert rec["meanWaitSeconds"] == 25.0
    assert rec["maxWaitSeconds"] == 40.0


def test_median_boot_from_the_node_journal() -> None:
    journal = [
        ("a", "POWERING_UP", 0.0),
        ("b", "POWERING_UP", 1.0),
        ("a", "UP", 2.0),
        ("b", "UP", 5.0),
        ("c", "POWERING_UP", 6.0),
        ("c", "DOWN", 7.0),  # a failed boot is no boot time
        ("a", "POWERING_DOWN", 9.0),
        ("a", "POWERING_UP", 10.0),
        ("a", "UP", 13.0),
    ]
    assert median_boot_s(journal) == 3.0
    assert median_boot_s(journal[:3]) == 2.0
    assert median_boot_s([]) is None

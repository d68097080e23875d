"""The job model: pyss's conventions by default, each choice selectable."""

from __future__ import annotations

from stratus.sim.swf import Record
from stratus.sim.workload import JobModel, model_jobs


def rec(number: int, submit: int, run: int, alloc: int, req_time: int, req_procs: int = -1) -> Record:
    return Record(number, number, submit, run, alloc, req_procs, req_time, -1, 1, 3, 4, 1, -1)


def test_defaults_truncate_runs_at_the_request() -> None:
    (job,) = model_jobs([rec(1, 10, 500, 4, 300)], 100, JobModel())
    assert (job.submit, job.run, job.estimate, job.procs, job.counted) == (10, 300, 500, 4, True)


def test_unknown_request_makes_a_one_second_job_as_pyss() -> None:
    (job,) = model_jobs([rec(1, 10, 500, 4, -1)], 100, JobModel())
    assert (job.run, job.estimate) == (1, 500)


def test_overrun_keeps_the_logged_run() -> None:
    (job,) = model_jobs([rec(1, 10, 500, 4, 300)], 100, JobModel(runtime="overrun"))
    assert (job.run, job.estimate) == (500, 300)
    (job,) = model_jobs([rec(1, 10, 500, 4, -1)], 100, JobModel(runtime="overrun"))
    assert (job.run, job.estimate) == (500, 500)


def test_processors_capped_at_the_machine_and_selectable() -> None:
    (job,) = model_jobs([rec(1, 0, 50, 400, 60, req_procs=8)], 128, JobModel())
    assert job.procs == 128
    (job,) = model_jobs([rec(1, 0, 50, 400, 60, req_procs=8)], 128, JobModel(processors="requested"))
    assert job.procs == 8
    (job,) = model_jobs([rec(1, 0, 50, 4, 60)], 128, JobModel(processors="requested"))
    assert job.procs == 4  # no request logged: the allocation


def test_unusable_records_are_replayed_but_not_counted() -> None:
    records = [rec(1, 0, 0, 4, 60), rec(2, -5, 30, 2, 60), rec(3, 7, 30, 0, 60), rec(4, 9, 30, 2, 60)]
    jobs = model_jobs(records, 16, JobModel())
    assert [(j.number, j.run, j.procs, j.counted) for j in jobs] == [
        (1, 1, 4, False),  # submit 0 becomes 1, as pyss does
        (2, 1, 2, False),
        (3, 1, 1, False),
        (4, 30, 2, True),
    ]
    assert [j.submit for j in jobs] == [1, 1, 7, 9]
    assert [j.number for j in model_jobs(records, 16, JobModel(unusable="drop"))] == [4]


def test_order_is_by_submit_time_then_file_order() -> None:
    jobs = model_jobs([rec(1, 20, 5, 1, 5), rec(2, 10, 5, 1, 5), rec(3, 10, 5, 1, 5)], 4, JobModel())
    assert [j.number for j in jobs] == [2, 3, 1]

"""sacct's ``Cost`` field (a stratus addition): its printing, its selection, and the figures the
Slurm door's accounting rows carry (each run's cost added to the runs before it, steps blank).

The layout follows Slurm's numeric fields (``print_fields_uint32`` in
``src/common/print_fields.c``): right-justified in its width (10), never cut, blank when unset,
bare in the ``|`` forms.
"""

from __future__ import annotations

import pytest

from stratus.engine.model import Allocation, Job, JobSpec, NodeDef
from stratus.engine.states import JobState
from stratus.slurm.sacct_fields import parse_fields
from stratus.slurm.sacct_values import format_cost
from stratus.slurm.server import rows

from .helpers import at
from .test_sacct import acct, backend, sacct, step


def test_cost_lines_as_slurm_prints_its_numbers() -> None:
    b = backend(
        [
            acct(17, cost=0.0123),
            step(17, "batch"),
            step(17, "0"),
            acct(18, state="RUNNING", end_time=None, cost=12345.678912),
            acct(19, state="PENDING", start_time=None, end_time=None, nodes=(), cost=0.0),
        ]
    )
    assert sacct(b, "-a -o JobID,Elapsed,Cost") == (
        "JobID           Elapsed       Cost \n"
        "------------ ---------- ---------- \n"
        "17             00:00:06     0.0123 \n"
        "17.batch       00:00:06            \n"
        "17.0           00:00:06            \n"
        "18             00:38:48 12345.6789 \n"
        "19             00:00:00     0.0000 \n",
        "",
        0,
    )
    # Never cut, whatever the width; right-justified in a wider one; bare when parsable.
    assert sacct(b, "-a -X -n -o jobid,cost%4 -j 18")[0] == "18           12345.6789 \n"
    assert sacct(b, "-a -X -n -o jobid,cost%12 -j 17")[0] == "17                 0.0123 \n"
    assert sacct(b, "-a -P -o JobID,Cost -j 17") == (
        "JobID|Cost\n17|0.0123\n17.batch|\n17.0|\n",
        "",
        0,
    )


def test_cost_is_selected_by_name_or_prefix_and_only_on_request() -> None:
    assert [c.fdef.name for c in parse_fields("cos,COST,Cost%12")] == ["Cost"] * 3
    assert parse_fields("Cost%12")[0].width == 12
    # Slurm's own fields keep their prefixes: "co" is still Comment.
    assert parse_fields("co")[0].fdef.name == "Comment"
    b = backend([acct(17, cost=1.5)])
    assert "Cost" not in sacct(b, "-a")[0]
    assert "Cost" not in sacct(b, "-a -l")[0]
    assert "Cost" not in sacct(b, "-a -o ALL")[0]
    assert "Cost" not in sacct(b, "-e")[0]


def test_cost_text() -> None:
    assert format_cost(0.0) == "0.0000"
    assert format_cost(-1e-9) == "0.0000"
    assert format_cost(0.00005) == "0.0001"  # half a hundredth of a cent rounds up (binary: just)
    assert format_cost(3.14159) == "3.1416"


# -- the Slurm door's rows --------------------------------------------------------------------

SMALL = NodeDef("q-dy-small-1", ("q",), 4, 8000, price_per_hour=3.6)  # a tenth of a cent a second
DEFS = {SMALL.name: SMALL}


def _run(n: int, start: float, end: float, cpus: int = 2) -> dict[str, object]:
    return {
        "job_id": 5, "run": n, "state": "NODE_FAIL" if n == 0 else "COMPLETED", "start_time": start,
        "end_time": end, "nodes": (SMALL.name,), "cpus": cpus, "exit_code": 0, "exit_signal": 0,
        "reason": "", "usage": None,
    }  # fmt: skip


def test_each_run_carries_the_job_cost_up_to_its_end() -> None:
    alloc = Allocation((SMALL.name,), (2,), (0,), (0,), (2,))
    job = Job(5, JobSpec("j", "alice", ntasks=2), submit_time=at("09:00:00"), priority=1)
    job.state, job.run, job.alloc = JobState.COMPLETED, 1, alloc
    job.start_time, job.end_time = at("09:10:00"), at("09:11:40")
    runs = [_run(0, at("09:00:00"), at("09:01:40")), _run(1, at("09:10:00"), at("09:11:40"))]
    out = rows.accounting_rows([(job, {}, runs)], "c", DEFS, now=at("10:00:00"))
    jobs = [r for r in out if r.step is None]
    # 100 s on half the node each time: $0.05 a run.
    assert [(r.restarts, r.cost) for r in jobs] == [(0, pytest.approx(0.05)), (1, pytest.approx(0.1))]
    assert all(r.cost is None for r in out if r.step is not None)
    # -D shows both, the newest line is the job's cost; without -D only the newest.
    b = backend(out, clock="10:00:00")
    assert sacct(b, "-j 5 -X -n -D -o jobid,restarts,cost")[0] == (
        "5                   0     0.0500 \n5                   1     0.1000 \n"
    )
    assert sacct(b, "-j 5 -X -n -o jobid,cost")[0] == "5                0.1000 \n"


def test_a_running_job_is_charged_up_to_now_and_a_pending_one_nothing() -> None:
    alloc = Allocation((SMALL.name,), (4,), (0,), (0,), (4,))
    job = Job(6, JobSpec("j", "alice", ntasks=4), submit_time=at("09:00:00"), priority=1)
    job.state, job.alloc, job.start_time = JobState.RUNNING, alloc, at("09:00:00")
    (row,) = [
        r for r in rows.accounting_rows([(job, {}, [])], "c", DEFS, now=at("09:01:00")) if r.step is None
    ]
    assert row.cost == pytest.approx(0.06)  # the whole node for a minute
    waiting = Job(7, JobSpec("j", "alice"), submit_time=at("09:00:00"), priority=1)
    (row,) = rows.accounting_rows([(waiting, {}, [])], "c", DEFS, now=at("09:01:00"))
    assert row.cost == 0.0

"""The burst threshold through the Slurm front door of a real head node.

A queue with one static node (capacity that needs no power-up, standing for the site's own) and
two dynamic c5.large nodes ($0.085/h), with ``Stratus.Burst.MaxWait: 600``: a job the static
node starts within 10 minutes waits for it (squeue's reason ``BurstDeferred``, scontrol's
``StartTime`` and ``BurstCost``); one it would start later powers a dynamic node up at once.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from pathlib import Path

from stratus.slurm.commands import run_command
from stratus.slurm.scontrol_records import burst_cost
from stratus.slurm.timefmt import fmt_timestamp
from stratus.slurm.views import ClientContext, CommandResult, JobRow
from tests.controller.inprocess import RecordingProvider, head_node

CONFIG = """\
HeadNode:
  InstanceType: t3.micro
Scheduling:
  Scheduler: slurm
  SlurmQueues:
  - Name: q
    ComputeResources:
    - Name: lab
      InstanceType: t3.micro
      MinCount: 1
      MaxCount: 1
    - Name: cloud
      InstanceType: c5.large
      MinCount: 0
      MaxCount: 2
Stratus:
  Burst:
    MaxWait: 600
"""

ALICE = ClientContext(user="alice", uid=1000, gid=1000, cwd="/tmp", env={"PATH": "/bin"}, host="h")


async def _scenario(tmp_path: Path) -> None:
    async with head_node(tmp_path, RecordingProvider(), CONFIG) as head:
        door = head.slurm

        def cmd(line: str) -> CommandResult:
            words = line.split()
            return run_command(words[0], words[1:], ALICE, door)

        async def settled(job_id: int, expected: str) -> str:
            """The job's squeue line (``%t|%r|%N``) once it is ``expected``, or as it is after a
            while (the scheduler runs apart from the door)."""
            deadline = time.monotonic() + 20.0
            while True:
                line = cmd(f"squeue -h -j {job_id} -o %t|%r|%N").stdout.strip()
                if line == expected or time.monotonic() > deadline:
                    return line
                await asyncio.sleep(0.05)

        # The static node takes the first job until its 5-minute limit.
        first = int(cmd("sbatch --parsable -n 2 -t 5 --wrap true").stdout)
        assert (await settled(first, "CF|None|q-st-lab-1")) == "CF|None|q-st-lab-1"
        # The second is planned there in 5 minutes, within the threshold: it waits.
        second = int(cmd("sbatch --parsable -n 2 -t 120 --wrap true").stdout)
        assert (await settled(second, "PD|BurstDeferred|")) == "PD|BurstDeferred|"
        assert cmd(f"squeue -j {second}").stdout.split("\n")[1].endswith(" (BurstDeferred)")
        shown = cmd(f"scontrol show job {second}").stdout
        assert "JobState=PENDING Reason=BurstDeferred " in shown
        first_start = head.controller.engine.jobs[first].start_time
        assert first_start is not None
        planned = fmt_timestamp(first_start + 300)
        assert f"   StartTime={planned} EndTime={fmt_timestamp(first_start + 300 + 7200)} " in shown
        # Two hours of one c5.large at $0.085/h.
        assert "\n   BurstCost=$0.17\n" in shown
        # squeue's start time of a pending job is its expected start, as with backfill's estimate.
        assert cmd(f"squeue -h -o %S -j {second}").stdout.strip() == planned
        # The third would start there only after the second (in 2 h 5 min): it bursts at once.
        third = int(cmd("sbatch --parsable -n 2 -t 120 --wrap true").stdout)
        assert (await settled(third, "CF|None|q-dy-cloud-1")) == "CF|None|q-dy-cloud-1"
        assert "BurstCost" not in cmd(f"scontrol show job {third}").stdout
        assert "BurstCost" not in cmd(f"scontrol show job {first}").stdout


def test_a_job_waits_for_free_capacity_within_the_burst_threshold(tmp_path: Path) -> None:
    asyncio.run(_scenario(tmp_path))


def test_burst_cost_is_shown_in_dollars() -> None:
    row = JobRow(job_id=1, name="j", user="u", uid=1, gid=1, partition="q", state="PENDING",
                 reason="BurstDeferred", submit_time=0.0)  # fmt: skip
    assert burst_cost(row) is None
    assert burst_cost(_with(row, 0.34, 0.68)) == "$0.68"
    assert burst_cost(_with(row, 0.0104, 0.0017333)) == "$0.0017"  # never a misleading $0.00
    assert burst_cost(_with(row, 0.34, None)) == "$0.34/h"  # no time limit: the hourly price


def _with(row: JobRow, price: float, cost: float | None) -> JobRow:
    return replace(row, burst_price_per_hour=price, burst_cost=cost)

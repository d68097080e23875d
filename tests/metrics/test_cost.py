"""What jobs cost, as the service works it out from the records, as metrics and as sacct shows it.

* In-process head nodes whose records are written straight into their store (jobs finished long
  ago, which the engine no longer holds): ``Service.job_costs`` over shares, exclusive and
  requeued runs; ``stratus_cost_dollars_total`` by user, account and partition, which never
  decreases; and the time a scrape takes with 10,000 jobs in the records.
* A live cluster with a priced static node: two jobs run for a known time; ``sacct -o
  JobID,Elapsed,Cost`` and the metric by user agree with the model (price x Elapsed x share).
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from stratus.engine.cost import JobCost
from stratus.engine.model import Allocation, Job, JobSpec
from stratus.engine.states import JobState
from stratus.headnode.compose import HeadNode
from stratus.metrics.collector import ClusterCollector
from stratus.store import schema
from stratus.store.store import job_to_row
from tests.controller.inprocess import RecordingProvider, head_node
from tests.integration.harness import Cluster, Stratus, wait_for
from tests.metrics.test_endpoint import _samples, _scrape, _value

# x2iedn.32xlarge: 128 vCPUs at $26.676 an hour (the catalog's), so seconds show in four decimals.
PRICE = 26.676
CPUS = 128
NODE = "q-st-big-1"
IN_PROCESS_CONFIG = """\
HeadNode:
  InstanceType: t3.micro
Scheduling:
  Scheduler: slurm
  SlurmQueues:
  - Name: q
    ComputeResources:
    - Name: big
      InstanceType: x2iedn.32xlarge
      MinCount: 1
      MaxCount: 1
"""
HOUR = 3600.0
T0 = 1_700_000_000.0  # long before now: the engine does not hold these jobs


def _in_process(tmp_path: Path, scenario: Callable[[HeadNode], Awaitable[None]]) -> None:
    async def main() -> None:
        async with head_node(tmp_path, RecordingProvider(), IN_PROCESS_CONFIG) as head:
            await scenario(head)

    asyncio.run(main())


def _record(
    head: HeadNode,
    job_id: int,
    runs: list[tuple[float, float, int]],
    *,
    user: str = "alice",
    account: str = "",
    exclusive: bool = False,
    alloc_cpus: int | None = None,
) -> None:
    """Store a finished job with its runs ((start, end, CPUs) each, on NODE), the last one's
    allocation kept on the job as the engine keeps it."""
    spec = JobSpec(f"j{job_id}", user, uid=1000, account=account, exclusive=exclusive)
    last_start, last_end, last_cpus = runs[-1]
    cpus = last_cpus if alloc_cpus is None else alloc_cpus
    job = Job(job_id, spec, submit_time=T0, priority=1, state=JobState.COMPLETED, partition="q")
    job.run, job.start_time, job.end_time, job.state_time = len(runs) - 1, last_start, last_end, last_end
    job.alloc = Allocation((NODE,), (cpus,), (0,), (0,), (1,))
    store = head.controller.store
    with store.transaction() as conn:
        conn.execute(schema.jobs.insert(), [job_to_row(job)])
        conn.execute(
            schema.runs.insert(),
            [
                {"job_id": job_id, "run": n, "state": "COMPLETED", "start_time": start, "end_time": end,
                 "nodes": json.dumps([NODE]), "cpus": c, "exit_code": 0, "exit_signal": 0, "reason": "",
                 "usage": None}
                for n, (start, end, c) in enumerate(runs)
            ],
        )  # fmt: skip


def _scrape_once(collector: ClusterCollector) -> dict[Any, float]:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    return _samples(generate_latest(registry).decode())


def test_job_costs_from_the_records_and_a_counter_that_never_decreases(tmp_path: Path) -> None:
    async def scenario(head: HeadNode) -> None:
        # Half the node for an hour.
        _record(head, 101, [(T0, T0 + HOUR, 64)])
        # Exclusive, one CPU asked for: the whole node for half an hour.
        _record(head, 102, [(T0, T0 + HOUR / 2, 1)], exclusive=True)
        # Requeued: the whole node for half an hour, then a quarter of it for an hour.
        _record(head, 103, [(T0, T0 + HOUR / 2, 128), (T0 + HOUR, T0 + 2 * HOUR, 32)], account="physics")
        _record(head, 104, [(T0, T0 + HOUR, 128)], user="bob")
        costs = {c.job_id: c for c in head.service.job_costs()}
        assert costs[101] == JobCost(101, "alice", "", "q", pytest.approx(PRICE / 2))
        assert costs[102].cost == pytest.approx(PRICE / 2)
        assert costs[103] == JobCost(103, "alice", "physics", "q", pytest.approx(PRICE / 2 + PRICE / 4))
        assert costs[104].cost == pytest.approx(PRICE)

        collector = ClusterCollector(head.service)
        s = _scrape_once(collector)
        name = "stratus_cost_dollars_total"
        assert _value(s, name, user="alice", account="root", partition="q") == pytest.approx(PRICE)
        assert _value(s, name, user="alice", account="physics", partition="q") == pytest.approx(0.75 * PRICE)
        assert _value(s, name, user="bob", account="root", partition="q") == pytest.approx(PRICE)
        # No job holds a node now: whatever is up is idle cost.
        assert _value(s, "stratus_idle_cost_per_hour_dollars") == _value(s, "stratus_cost_per_hour_dollars")
        # The totals agree with the jobs' figures, and take in runs recorded since.
        by_owner: dict[tuple[str, str, str], float] = {}
        for c in costs.values():
            by_owner[(c.user, c.account, c.partition)] = (
                by_owner.get((c.user, c.account, c.partition), 0) + c.cost
            )
        assert head.service.cost_totals() == pytest.approx(by_owner)
        _record(head, 105, [(T0, T0 + HOUR, 64)], user="bob")
        s = _scrape_once(collector)
        assert _value(s, name, user="bob", account="root", partition="q") == pytest.approx(1.5 * PRICE)
        # A computed figure that drops (a node removed, a price lowered) leaves the counter as it was.
        cheaper = {key: cost / 2 for key, cost in head.service.cost_totals().items()}
        head.service.cost_totals = lambda: cheaper  # type: ignore[method-assign]
        again = _scrape_once(collector)
        assert _value(again, name, user="bob", account="root", partition="q") == pytest.approx(1.5 * PRICE)

    _in_process(tmp_path, scenario)


def test_a_scrape_with_10000_jobs_in_the_records_stays_well_under_a_second(tmp_path: Path) -> None:
    timings: list[float] = []

    async def scenario(head: HeadNode) -> None:
        store = head.controller.store
        users = [f"user{i}" for i in range(20)]
        accounts = ["", "physics", "chemistry", "biology"]
        jobs, runs = [], []
        for i in range(10_000):
            job_id = 1000 + i
            spec = JobSpec(
                "sweep", users[i % 20], uid=1000, account=accounts[(i // 20) % 4], exclusive=i % 7 == 0
            )
            start = T0 + i * 10.0
            job = Job(job_id, spec, submit_time=start, priority=1, state=JobState.COMPLETED, partition="q")
            job.start_time, job.end_time, job.state_time = start, start + 60.0, start + 60.0
            job.alloc = Allocation((NODE,), (1 + i % 8,), (0,), (0,), (1,))
            requeued = i % 10 == 0  # one in ten ran twice
            job.run = 1 if requeued else 0
            jobs.append(job_to_row(job))
            for n in range(job.run + 1):
                runs.append(
                    {"job_id": job_id, "run": n, "state": "COMPLETED", "start_time": start,
                     "end_time": start + 60.0, "nodes": json.dumps([NODE]), "cpus": 1 + i % 8,
                     "exit_code": 0, "exit_signal": 0, "reason": "", "usage": None}
                )  # fmt: skip
        with store.transaction() as conn:
            conn.execute(schema.jobs.insert(), jobs)
            conn.execute(schema.runs.insert(), runs)
        collector = ClusterCollector(head.service)
        registry = CollectorRegistry(auto_describe=False)
        registry.register(collector)
        for _ in range(6):
            began = time.perf_counter()
            text = generate_latest(registry).decode()
            timings.append(time.perf_counter() - began)
        s = _samples(text)
        total = sum(v for (name, _), v in s.items() if name == "stratus_cost_dollars_total")
        began = time.perf_counter()
        expected = sum(c.cost for c in head.service.job_costs())
        print(f"job_costs over 10,000 jobs: {(time.perf_counter() - began) * 1000:.0f} ms")
        assert total == pytest.approx(expected) and total > 0
        assert (
            len([1 for (name, _) in s if name == "stratus_cost_dollars_total"]) == 20 * 4
        )  # every user in every account

    _in_process(tmp_path, scenario)
    # The first scrape after the head node starts reads every run; later ones what was added.
    first, later = timings[0], statistics.median(timings[1:])
    print(f"scrape with 10,000 jobs: first {first * 1000:.0f} ms, then {later * 1000:.1f} ms")
    assert first < 0.5 and later < 0.1, timings


# -- a live cluster -------------------------------------------------------------------------

LIVE_CONFIG = """\
Region: us-east-1
HeadNode:
  InstanceType: t2.micro
Scheduling:
  Scheduler: slurm
  SlurmQueues:
  - Name: q
    ComputeResources:
    - Name: big
      InstanceType: x2iedn.32xlarge
      MinCount: 1
      MaxCount: 1
Stratus:
  Metrics: {}
"""


def test_sacct_and_the_metric_show_what_two_jobs_cost(
    stratus: Stratus, tmp_path: Path, workdir: Path
) -> None:
    c: Cluster = stratus.create("cost", LIVE_CONFIG, tmp_path)
    wait_for(lambda: "idle" in c.slurm("sinfo", "-h", "-o", "%T").out, 60, what="static node up")
    # Half the node for about 3 s, then (one CPU, but exclusive) the whole node for about 2 s.
    half = c.sbatch("-c", "64", "--wrap", "sleep 3", cwd=workdir)
    whole = c.sbatch("--exclusive", "--wrap", "sleep 2", cwd=workdir)
    jobs = {str(half): 0.5, str(whole): 1.0}
    wait_for(
        lambda: all(c.squeue_states("-t", "all").get(j) == "COMPLETED" for j in jobs),
        60,
        what="both jobs completed",
    )
    out = c.slurm("sacct", "-X", "-n", "-P", "-j", ",".join(jobs), "-o", "JobID,Elapsed,Cost").out
    lines = [line.split("|") for line in out.splitlines()]
    assert sorted(job for job, _, _ in lines) == sorted(jobs), out
    shown = 0.0
    for job, elapsed, cost in lines:
        h, m, s = (int(x) for x in elapsed.split(":"))
        seconds = h * 3600 + m * 60 + s
        expected = PRICE * seconds / HOUR * jobs[job]
        # Elapsed is whole seconds of a run timed to the microsecond; Cost has four decimals.
        assert abs(float(cost) - expected) <= PRICE / HOUR * jobs[job] + 0.00005, (job, elapsed, cost)
        assert seconds >= 2 and float(cost) > 0
        shown += float(cost)
    # The text form: right-justified, four decimals.
    table = c.slurm("sacct", "-X", "-j", str(half), "-o", "JobID,Elapsed,Cost").out.splitlines()
    assert table[0] == "JobID           Elapsed       Cost "
    assert table[2].endswith(" ") and len(table[2]) == 35 and "." in table[2][-6:]
    desc = stratus.run("describe-cluster", "-n", "cost").json
    url, token = desc["metricsEndpoint"], Path(desc["metricsTokenFile"]).read_text().strip()
    status, text = _scrape(url, token)
    assert status == 200
    user = os.environ.get("USER") or "root"
    metric = _value(_samples(text), "stratus_cost_dollars_total", user=user, account="root", partition="q")
    assert metric == pytest.approx(shown, abs=0.0001 * len(jobs))

"""What a replay measured: waits, slowdowns, utilization and cost, overall and per queue.

Definitions (those of the literature the reference figures come from):

- wait = start - submit; response = wait + run.
- bounded slowdown = ``max(1, (wait + run) / max(run, tau))`` with ``tau = 10`` s.
- utilization = the CPU-seconds the jobs used over the CPU-seconds the cluster offered from the
  first submission to the last end (the whole machine, powered or not).
- makespan = last end - first submission.
- percentiles are nearest-rank (the value at rank ``ceil(p * n)`` of the sorted values).

Only *counted* jobs (usable records, see :mod:`stratus.sim.workload`) enter the figures; the
others are reported as a count.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from typing import Any

from stratus.sim.runner import SimResult

TAU_S = 10.0


def percentile(sorted_values: list[float], p: float) -> float:
    """Nearest-rank percentile of already sorted values (0 for none)."""
    if not sorted_values:
        return 0.0
    rank = max(1, math.ceil(p * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


@dataclass(frozen=True)
class Figures:
    """The figures of one set of jobs."""

    jobs: int
    mean_wait_s: float
    median_wait_s: float
    p95_wait_s: float
    max_wait_s: float
    mean_bounded_slowdown: float
    max_bounded_slowdown: float
    mean_response_s: float
    utilization: float
    cpu_hours: float

    def to_json(self) -> dict[str, Any]:
        return {
            "jobs": self.jobs,
            "meanWaitSeconds": round(self.mean_wait_s, 3),
            "medianWaitSeconds": round(self.median_wait_s, 3),
            "p95WaitSeconds": round(self.p95_wait_s, 3),
            "maxWaitSeconds": round(self.max_wait_s, 3),
            "meanBoundedSlowdown": round(self.mean_bounded_slowdown, 4),
            "maxBoundedSlowdown": round(self.max_bounded_slowdown, 4),
            "meanResponseSeconds": round(self.mean_response_s, 3),
            "utilization": round(self.utilization, 4),
            "cpuHours": round(self.cpu_hours, 3),
        }


def figures(waits: list[float], runs: list[float], procs: list[int], capacity_cpu_s: float) -> Figures:
    """Figures over jobs given as parallel lists (waits, run times, processors)."""
    n = len(waits)
    if n == 0:
        return Figures(0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
    bsld = [max(1.0, (w + r) / max(r, TAU_S)) for w, r in zip(waits, runs, strict=True)]
    ordered = sorted(waits)
    work = sum(r * p for r, p in zip(runs, procs, strict=True))
    return Figures(
        jobs=n,
        mean_wait_s=sum(waits) / n,
        median_wait_s=statistics.median(ordered),
        p95_wait_s=percentile(ordered, 0.95),
        max_wait_s=ordered[-1],
        mean_bounded_slowdown=sum(bsld) / n,
        max_bounded_slowdown=max(bsld),
        mean_response_s=(sum(waits) + sum(runs)) / n,
        utilization=work / capacity_cpu_s if capacity_cpu_s > 0 else 0.0,
        cpu_hours=work / 3600.0,
    )


@dataclass(frozen=True)
class QueueCost:
    """Node-hours and what they cost, for one queue (partition)."""

    node_hours: float
    static_node_hours: float
    dynamic_node_hours: float
    cost: float

    def to_json(self) -> dict[str, Any]:
        return {
            "nodeHours": round(self.node_hours, 3),
            "staticNodeHours": round(self.static_node_hours, 3),
            "dynamicNodeHours": round(self.dynamic_node_hours, 3),
            "cost": round(self.cost, 2),
        }


@dataclass(frozen=True)
class Report:
    """A replay's figures: overall, per queue, and (with prices) cost."""

    overall: Figures
    queues: dict[str, Figures]
    cost: dict[str, QueueCost]
    makespan_s: float
    simulated: int
    counted: int
    not_counted: int
    rejected: dict[str, int]
    never_started: int
    killed: int
    passes: int

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "jobs": {
                "simulated": self.simulated,
                "counted": self.counted,
                "notCounted": self.not_counted,
                "rejected": self.rejected,
                "neverStarted": self.never_started,
                "killedAtTimeLimit": self.killed,
            },
            "makespanSeconds": round(self.makespan_s, 3),
            "schedulingPasses": self.passes,
            "overall": self.overall.to_json(),
            "queues": {name: f.to_json() for name, f in self.queues.items()},
        }
        if self.cost:
            out["cost"] = {name: c.to_json() for name, c in self.cost.items()}
            out["totalCost"] = round(sum(c.cost for c in self.cost.values()), 2)
        return out


def build_report(result: SimResult, prices: dict[str, float] | None = None) -> Report:
    """Compute the figures of a replay. ``prices``: per node, its price per hour (for cost)."""
    engine = result.engine
    span = max(result.end - result.start, 0.0)
    total_cpus = sum(node.defn.cpus for node in engine.nodes.values())
    part_cpus = {
        name: sum(engine.nodes[n].defn.cpus for n in p.defn.nodes) for name, p in engine.partitions.items()
    }
    waits: list[float] = []
    runs: list[float] = []
    procs: list[int] = []
    by_queue: dict[str, tuple[list[float], list[float], list[int]]] = {}
    counted = not_counted = never_started = killed = 0
    for job, outcome in zip(result.jobs, result.outcomes, strict=True):
        if outcome.start is None:
            if job.counted:
                never_started += 1
            continue
        if outcome.killed:
            killed += 1
        if not job.counted:
            not_counted += 1
            continue
        counted += 1
        run = (outcome.end - outcome.start) if outcome.end is not None else job.run
        wait = outcome.start - job.submit
        waits.append(wait)
        runs.append(run)
        procs.append(job.procs)
        q = by_queue.setdefault(outcome.partition, ([], [], []))
        q[0].append(wait)
        q[1].append(run)
        q[2].append(job.procs)
    rejected: dict[str, int] = {}
    for _job, code in result.rejected:
        rejected[code] = rejected.get(code, 0) + 1
    queues = {
        name: figures(w, r, p, part_cpus.get(name, total_cpus) * span)
        for name, (w, r, p) in sorted(by_queue.items())
    }
    cost: dict[str, QueueCost] = {}
    if prices is not None:
        for name, part in engine.partitions.items():
            static_h = dynamic_h = money = 0.0
            for n in part.defn.nodes:
                hours = sum(b - a for a, b in result.power[n].intervals) / 3600.0
                if engine.nodes[n].defn.static:
                    static_h += hours
                else:
                    dynamic_h += hours
                money += hours * prices.get(n, 0.0)
            cost[name] = QueueCost(static_h + dynamic_h, static_h, dynamic_h, money)
    return Report(
        overall=figures(waits, runs, procs, total_cpus * span),
        queues=queues,
        cost=cost,
        makespan_s=span,
        simulated=len(result.jobs) - len(result.rejected),
        counted=counted,
        not_counted=not_counted,
        rejected=rejected,
        never_started=never_started,
        killed=killed,
        passes=result.passes,
    )

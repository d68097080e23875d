"""``stratus simulate``: replay a workload trace through the scheduler, before paying for a cluster.

The trace (Standard Workload Format) is turned into jobs by the job model
(:mod:`stratus.sim.workload`), replayed through the engine the head node runs
(:mod:`stratus.sim.runner`) on either a plain machine of ``--procs`` processors or the cluster a
ParallelCluster config describes (its queues, node types, MinCount/MaxCount, ScaledownIdletime
and scheduling settings), and summed up (:mod:`stratus.sim.report`): waits, bounded slowdown,
utilization, makespan, per queue, and with a config, node-hours and cost from the instance
catalog's prices.

A job that asks for more processors than the queue it is sent to has (the whole machine with
``--procs``) cannot run as logged. ``--oversized`` says what happens to it: ``shrink`` (the
default, the classic simulator's convention) replays it on all the queue's processors, ``drop``
leaves it out, ``fail`` stops before replaying. Whatever the choice, how many jobs it touched is
in the report (``oversizedJobs``) and, when there were any, on stderr.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from stratus.config.scheduling import (
    SchedulingSettings,
    SettingError,
    parse_settings_text,
    scheduling_settings,
)
from stratus.engine.model import (
    BACKFILL_CONSERVATIVE,
    BACKFILL_EASY,
    BACKFILL_NONE,
    EngineConfig,
    NodeDef,
    PartitionDef,
)
from stratus.errors import UserError
from stratus.sim.report import Report, build_report
from stratus.sim.runner import SimResult, Simulation
from stratus.sim.swf import SwfError, read_trace
from stratus.sim.workload import JobModel, SimJob, model_jobs

#: ``--policy`` names: (backfilling, priority type, shortest-first backfill order).
POLICIES: dict[str, tuple[str, str | None, bool]] = {
    "fcfs": (BACKFILL_NONE, None, False),
    "easy": (BACKFILL_EASY, None, False),
    "conservative": (BACKFILL_CONSERVATIVE, None, False),
    "lxf": (BACKFILL_EASY, "expansion", False),
    "sjbf": (BACKFILL_EASY, None, True),
}
POLICY_HELP = (
    "fcfs: first come, first served, no backfilling; easy: EASY backfilling (the default); "
    "conservative: conservative backfilling (every waiting job holds a reservation); "
    "lxf: EASY backfilling with the queue ordered by expansion factor, (wait + limit) / limit; "
    "sjbf: EASY backfilling, candidates tried shortest time limit first."
)
DEFAULT_BOOT_TIME_WITH_CONFIG_S = 120.0
#: ``--oversized`` choices; the first is the default.
OVERSIZED_ACTIONS = ("shrink", "drop", "fail")
OVERSIZED_HELP = (
    "What to do with jobs that ask for more processors than their queue has (the machine with --procs): "
    "shrink them to the queue's size (the default, as the classic simulator), drop them, or fail."
)


def _policy_name(backfill: str, priority_kind: str, shortest: bool) -> str:
    for name, (b, p, s) in POLICIES.items():
        if b == backfill and (p or "basic") == priority_kind and s == shortest:
            return name
    return f"{backfill}+{priority_kind}"


class SimulateError(UserError):
    """Bad input to ``stratus simulate`` (a message naming the option or file, exit code 1)."""


@dataclass
class SimulateOptions:
    trace: str
    cluster_configuration: str | None = None
    procs: int | None = None
    policy: str | None = None  # None: the configuration's (EASY by default)
    priority: list[str] | None = None
    boot_time: float | None = None
    output: str | None = None
    plot: str | None = None
    skip_bad_lines: bool = False
    runtime: str = "truncate"
    processors: str = "allocated"
    unusable: str = "simulate"
    queue_map: str | None = None
    json: bool = False
    progress: bool = True
    oversized: str = "shrink"


@dataclass(frozen=True)
class Oversized:
    """The jobs wider than their queue, and what was done with them.

    ``jobs`` counts every such job of the replay (``counted`` of them are usable records, the
    rest unusable ones replayed as 1-second jobs); ``widest`` is the most processors one asked
    for (0 when there were none). With ``drop`` they are not in the replay; with ``shrink`` each
    runs on exactly as many processors as its queue has.
    """

    action: str
    jobs: int = 0
    counted: int = 0
    widest: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "jobs": self.jobs,
            "counted": self.counted,
            "widestProcessors": self.widest,
        }

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> Oversized:
        """The record back from ``to_json``'s document (the report's ``oversizedJobs``)."""
        return cls(doc["action"], doc["jobs"], doc["counted"], doc["widestProcessors"])

    def summary(self) -> str:
        """One sentence for the terminal; empty when no job was too wide."""
        if not self.jobs:
            return ""
        done = {
            "shrink": "shrunk to fit their queue",
            "drop": "left out of the replay",
            "fail": "the replay was refused",
        }[self.action]
        return (
            f"{self.jobs} job{'s' if self.jobs != 1 else ''} asked for more processors than their queue has "
            f"(up to {self.widest}): {done} (--oversized {self.action}; the choices are "
            f"{', '.join(OVERSIZED_ACTIONS)})"
        )


@dataclass
class Prepared:
    """What a replay needs, and what describes it in the report."""

    config: EngineConfig
    jobs: list[SimJob]
    partition_of: dict[int, str]  # SWF queue number -> partition
    prices: dict[str, float] | None
    boot_time_s: float
    machine: dict[str, Any]
    skipped_lines: list[str]
    oversized: Oversized


def _plain_machine(procs: int) -> EngineConfig:
    node = NodeDef("node1", ("batch",), procs, procs * 1024, static=True)
    return EngineConfig(
        partitions=(PartitionDef("batch", ("node1",), default=True),),
        nodes=(node,),
        scaledown_idle_s=float("inf"),
    )


def _settings(opts: SimulateOptions, base: SchedulingSettings) -> SchedulingSettings:
    """The configuration's scheduling settings, then ``--policy``, then ``--priority``."""
    # A replay looks at every waiting job at every event, as the classic simulators do.
    settings = replace(base, policy=replace(base.policy, max_job_test=None, interval_s=None))
    if opts.policy is not None:
        backfill, priority_kind, shortest = POLICIES[opts.policy]
        settings = replace(
            settings,
            scheduler_type="sched/builtin" if backfill == BACKFILL_NONE else "sched/backfill",
            policy=replace(settings.policy, backfill=backfill, shortest_first=shortest),
        )
        if priority_kind is not None:
            priority = replace(settings.priority, kind=priority_kind, calc_period_s=0.0)
            settings = replace(settings, priority=priority)
    for text in opts.priority or ():
        try:
            settings = scheduling_settings(parse_settings_text(text), settings)
        except SettingError as exc:
            raise SimulateError(f"--priority: {exc}") from None
    if settings.scheduler_type == "sched/builtin":
        settings = replace(settings, policy=replace(settings.policy, backfill=BACKFILL_NONE))
    return settings


def _queue_map(text: str | None, queues: list[str]) -> dict[int, str]:
    out: dict[int, str] = {}
    for item in (t.strip() for t in (text or "").split(",")):
        if not item:
            continue
        number, eq, name = item.partition("=")
        if not eq or not (number.isascii() and number.strip().lstrip("-").isdigit()):
            raise SimulateError(f"--queue-map: expected NUMBER=QUEUE, not {item!r}.")
        if name.strip() not in queues:
            raise SimulateError(
                f"--queue-map: {name.strip()!r} is not a queue of the cluster; it has {', '.join(queues)}."
            )
        out[int(number)] = name.strip()
    return out


def prepare(opts: SimulateOptions) -> Prepared:
    """Read the trace (and config), build the engine's configuration and the jobs to replay."""
    if opts.oversized not in OVERSIZED_ACTIONS:
        raise SimulateError(
            f"--oversized: unknown choice {opts.oversized!r}; valid choices: {', '.join(OVERSIZED_ACTIONS)}."
        )
    if opts.policy is not None and opts.policy not in POLICIES:
        raise SimulateError(
            f"--policy: unknown policy {opts.policy!r}; valid policies: {', '.join(POLICIES)}."
        )
    if opts.cluster_configuration is not None and opts.procs is not None:
        raise SimulateError("give either --cluster-configuration or --procs, not both.")
    if opts.procs is not None and opts.procs < 1:
        raise SimulateError(f"--procs must be at least 1, not {opts.procs}.")
    if opts.boot_time is not None and opts.boot_time < 0:
        raise SimulateError(f"--boot-time must not be negative, not {opts.boot_time}.")
    if opts.plot is not None:
        from stratus.sim.plot import FORMATS

        if Path(opts.plot).suffix.lower() not in FORMATS:
            raise SimulateError(f"--plot: {opts.plot} must end in .png or .svg.")
    try:
        trace = read_trace(opts.trace, skip_bad_lines=opts.skip_bad_lines)
    except SwfError as exc:
        raise SimulateError(str(exc)) from None
    except OSError as exc:
        raise SimulateError(f"cannot read the trace {opts.trace}: {exc.strerror or exc}") from None
    model = JobModel(runtime=opts.runtime, processors=opts.processors, unusable=opts.unusable)
    prices: dict[str, float] | None = None
    partition_of: dict[int, str] = {}
    if opts.cluster_configuration is not None:
        config, prices, machine = _cluster(opts)
        queues = [p.name for p in config.partitions]
        partition_of = _queue_map(opts.queue_map, queues)
        sizes = {
            p.name: sum(d.cpus for d in config.nodes if p.name in d.partitions) for p in config.partitions
        }
        default = next((p.name for p in config.partitions if p.default), None)
        largest = max(sizes.values())

        def capacity_of(job: SimJob) -> tuple[int, str]:
            # The queue the replay sends the job to (as ``run`` routes it), and its size.
            queue = partition_of.get(job.queue, default)
            return (sizes[queue], queue) if queue is not None else (largest, "the cluster")

        boot = opts.boot_time if opts.boot_time is not None else DEFAULT_BOOT_TIME_WITH_CONFIG_S
    else:
        if opts.queue_map:
            raise SimulateError("--queue-map needs --cluster-configuration (a plain machine has one queue).")
        procs = opts.procs if opts.procs is not None else trace.max_procs
        if procs is None or procs < 1:
            raise SimulateError(
                f"{opts.trace}: the header gives no MaxProcs or MaxNodes; "
                "say how big the machine is with --procs."
            )
        machine_procs = procs

        def capacity_of(job: SimJob) -> tuple[int, str]:
            return machine_procs, "the machine"

        base = _plain_machine(procs)
        settings = _settings(opts, SchedulingSettings())
        config = replace(
            base,
            policy=settings.policy,
            priority=settings.priority,
            user_limits=settings.user_limits,
            over_time_limit_s=settings.over_time_limit_s,
        )
        machine = {"processors": procs}
        boot = opts.boot_time if opts.boot_time is not None else 0.0
    # A replay forgets finished jobs at once: the report keeps what it needs. Under the
    # "overrun" job model jobs run as logged, past their estimates, and are never killed.
    config = replace(config, min_job_age_s=0.0)
    if opts.runtime == "overrun":
        config = replace(config, over_time_limit_s=None)
    # The job model is asked for every job as logged (no cap), so that the jobs too wide for
    # their queue can be counted and handled as --oversized says.
    jobs, oversized = _fit(model_jobs(trace.records, sys.maxsize, model), capacity_of, opts.oversized)
    return Prepared(config, jobs, partition_of, prices, boot, machine, trace.skipped, oversized)


def _fit(
    jobs: list[SimJob], capacity_of: Callable[[SimJob], tuple[int, str]], action: str
) -> tuple[list[SimJob], Oversized]:
    """Apply ``--oversized`` to the jobs wider than their queue; the others are kept as they are.

    ``capacity_of`` gives a job's queue size and a name for the queue (for the error message).
    Raises ``SimulateError`` with ``fail`` if any job is too wide, naming the first one and the
    other choices.
    """
    kept: list[SimJob] = []
    count = counted = widest = 0
    first: tuple[SimJob, int, str] | None = None
    for job in jobs:
        size, queue = capacity_of(job)
        if job.procs <= size:
            kept.append(job)
            continue
        count += 1
        counted += job.counted
        widest = max(widest, job.procs)
        if first is None:
            first = (job, size, queue)
        if action == "shrink":
            kept.append(replace(job, procs=max(size, 1)))
    if action == "fail" and first is not None:
        job, size, queue = first
        where = queue if queue.startswith("the ") else f"queue {queue}"
        raise SimulateError(
            f"--oversized fail: {count} job{'s' if count != 1 else ''} of the trace ask for more processors "
            f"than their queue has (the first: job {job.number} asks for {job.procs}, {where} has {size}). "
            "Replay them on the whole queue with --oversized shrink, or leave them out with --oversized drop."
        )
    return kept, Oversized(action, count, counted, widest)


def _cluster(opts: SimulateOptions) -> tuple[EngineConfig, dict[str, float], dict[str, Any]]:
    from stratus.config import (
        BadYamlError,
        ConfigValidationError,
        get_instance_type,
        load_cluster_config,
        read_config_file,
    )
    from stratus.controller.build import engine_config

    path = Path(opts.cluster_configuration or "")
    try:
        text = read_config_file(path)
        loaded = load_cluster_config(text, filename=str(path))
    except OSError as exc:
        raise SimulateError(f"cannot read the cluster configuration {path}: {exc.strerror or exc}") from None
    except (BadYamlError, ConfigValidationError) as exc:
        raise SimulateError(str(exc)) from None
    layout = loaded.layout
    base = engine_config(layout)
    settings = _settings(opts, layout.scheduling)
    config = replace(
        base,
        policy=settings.policy,
        priority=settings.priority,
        user_limits=settings.user_limits,
        over_time_limit_s=settings.over_time_limit_s,
    )
    prices: dict[str, float] = {}
    for node in config.nodes:
        itype = get_instance_type(node.instance_type)
        prices[node.name] = itype.price_per_hour if itype is not None else 0.0
    machine = {
        "clusterConfiguration": str(path),
        "queues": {
            q.name: {
                "nodes": len(q.node_names),
                "staticNodes": sum(cr.min_count for cr in q.compute_resources),
                "cpus": sum(cr.vcpus * cr.max_count for cr in q.compute_resources),
            }
            for q in layout.queues
        },
        "scaledownIdletimeSeconds": layout.scaledown_idletime_s,
    }
    return config, prices, machine


def run(opts: SimulateOptions) -> tuple[Report, SimResult, dict[str, Any]]:
    """Prepare, replay and report; returns the report, the raw result and the JSON document."""
    prepared = prepare(opts)
    policy = prepared.config.policy
    name = opts.policy or _policy_name(policy.backfill, prepared.config.priority.kind, policy.shortest_first)
    started = time.perf_counter()
    progress_cb, finish = _progress(opts)
    partition_of = prepared.partition_of
    default = next((p.name for p in prepared.config.partitions if p.default), None)

    def route(job: SimJob) -> str | None:
        return partition_of.get(job.queue, default)

    sim = Simulation(
        prepared.config,
        prepared.jobs,
        boot_time_s=prepared.boot_time_s,
        partition_of=route,
        progress=progress_cb,
    )
    try:
        result = sim.run()
    finally:
        finish()
    elapsed = time.perf_counter() - started
    report = build_report(result, prepared.prices)
    doc: dict[str, Any] = {
        "trace": opts.trace,
        "policy": name,
        "machine": prepared.machine,
        "jobModel": {"runtime": opts.runtime, "processors": opts.processors, "unusable": opts.unusable},
        "bootTimeSeconds": prepared.boot_time_s,
        "priorityType": prepared.config.priority.kind,
        **report.to_json(),
        "oversizedJobs": prepared.oversized.to_json(),
        "skippedLines": len(prepared.skipped_lines),
        "firstSkippedLine": prepared.skipped_lines[0] if prepared.skipped_lines else None,
        "elapsedSeconds": round(elapsed, 3),
    }
    return report, result, doc


def _progress(opts: SimulateOptions) -> tuple[Any, Any]:
    if not opts.progress or not sys.stderr.isatty():
        return None, lambda: None
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    bar = Progress(
        TextColumn("[bold]replaying[/bold]"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("jobs submitted"),
        TimeElapsedColumn(),
        transient=True,
    )
    task = bar.add_task("replay", total=None)
    bar.start()

    def update(done: int, total: int) -> None:
        bar.update(task, completed=done, total=total)

    return update, bar.stop


def summary_table(doc: dict[str, Any]) -> str:
    """A human-readable summary of the JSON document (what ``stratus simulate`` prints)."""
    from io import StringIO

    from rich.console import Console
    from rich.table import Table

    out = StringIO()
    console = Console(file=out, width=110, color_system=None)
    jobs = doc["jobs"]
    console.print(
        f"{doc['trace']}: {jobs['counted']} jobs counted ({jobs['notCounted']} not counted, "
        f"{sum(jobs['rejected'].values())} rejected), policy {doc['policy']}, makespan "
        f"{doc['makespanSeconds'] / 86400:.1f} days, replayed in {doc['elapsedSeconds']:.2f} s"
    )
    table = Table(
        "queue", "jobs", "mean wait (s)", "median", "p95", "max wait (s)", "mean bsld", "utilization"
    )
    rows = [("all", doc["overall"])]
    if len(doc["queues"]) > 1:
        rows += list(doc["queues"].items())
    for name, f in rows:
        table.add_row(
            name,
            str(f["jobs"]),
            f"{f['meanWaitSeconds']:,.0f}",
            f"{f['medianWaitSeconds']:,.0f}",
            f"{f['p95WaitSeconds']:,.0f}",
            f"{f['maxWaitSeconds']:,.0f}",
            f"{f['meanBoundedSlowdown']:.2f}",
            f"{f['utilization']:.4f}",
        )
    console.print(table)
    oversized = Oversized.from_json(doc["oversizedJobs"]) if "oversizedJobs" in doc else None
    if oversized is not None and oversized.jobs:
        console.print(oversized.summary())
    if "cost" in doc:
        cost = Table("queue", "node-hours", "static", "dynamic", "cost (USD)")
        for name, c in doc["cost"].items():
            cost.add_row(
                name,
                f"{c['nodeHours']:,.1f}",
                f"{c['staticNodeHours']:,.1f}",
                f"{c['dynamicNodeHours']:,.1f}",
                f"{c['cost']:,.2f}",
            )
        console.print(cost)
        console.print(f"total cost: {doc['totalCost']:,.2f} USD (on-demand prices of the instance catalog)")
    return out.getvalue()


def main(opts: SimulateOptions) -> int:
    """Run ``stratus simulate``: print the summary (or JSON), write the report and plot if asked."""
    report, result, doc = run(opts)
    del report
    oversized = Oversized.from_json(doc["oversizedJobs"])
    if oversized.jobs:
        sys.stderr.write(f"warning: {oversized.summary()}\n")
    skipped = doc["skippedLines"]
    if skipped:
        first = doc["firstSkippedLine"]
        sys.stderr.write(
            f"warning: skipped {skipped} malformed line{'s' if skipped != 1 else ''} of the trace "
            f"(the first: {first})\n"
        )
    if opts.output:
        try:
            Path(opts.output).write_text(json.dumps(doc, indent=2) + "\n")
        except OSError as exc:
            raise SimulateError(f"--output: cannot write {opts.output}: {exc.strerror or exc}") from None
    if opts.plot:
        from stratus.sim.plot import plot

        plot(result, opts.plot, title=f"{Path(opts.trace).name}, {doc['policy']}")
    if opts.json:
        sys.stdout.write(json.dumps(doc, indent=2) + "\n")
    else:
        sys.stdout.write(summary_table(doc))
    return 0

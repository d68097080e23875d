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

``--history CLUSTER`` replays a cluster's own accounting instead of a trace (the jobs submitted
in ``--since``/``--until``, mapped by :mod:`stratus.sim.history`), on the cluster's own
configuration unless ``-c`` names another: what the same jobs would have waited and cost there.
``--compare`` replays it on both and reports them side by side with their differences;
``--export-swf FILE`` writes the history as an SWF trace instead of replaying it. The store is
read read-only, so the head node may be running or not.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
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
from stratus.sim.history import History, from_accounting, median_boot_s
from stratus.sim.report import Report, build_report
from stratus.sim.runner import SimResult, Simulation
from stratus.sim.swf import Record, SwfError, read_trace
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


class ConfigurationError(SimulateError):
    """A cluster configuration that cannot be replayed on: ``cause`` is the loader's error
    (``ConfigValidationError`` or ``BadYamlError``, whose ``to_json()`` is pcluster's document)."""

    def __init__(self, cause: UserError) -> None:
        super().__init__(str(cause))
        self.cause = cause


@dataclass
class SimulateOptions:
    trace: str = ""  # the SWF file (empty with ``history``)
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
    history: str | None = None  # a cluster whose accounting is the workload
    since: str | None = None  # ISO 8601: the history's first submission time kept
    until: str | None = None  # ISO 8601: submissions from then on are left out
    compare: bool = False  # replay the history on the cluster's configuration and on ``-c`` both
    export_swf: str | None = None  # write the history as SWF to this file instead of replaying it


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
class Workload:
    """The records to replay and where they come from.

    ``max_procs`` is the machine size the source declares (a trace's header; None for a
    history); ``queues`` maps queue numbers to queue names where the source knows them (a
    history's partitions), used where ``--queue-map`` does not say.
    """

    label: str
    records: list[Record]
    max_procs: int | None = None
    skipped: list[str] = field(default_factory=list)
    queues: dict[int, str] = field(default_factory=dict)
    history: History | None = None
    cluster: str | None = None  # the history's cluster
    config_path: str | None = None  # the history's cluster's configuration file
    boot_time_s: float | None = None  # how long the history's nodes took to boot (median)

    def describe(self) -> dict[str, Any]:
        """The report's keys for the workload: ``trace`` or ``history``."""
        if self.history is not None:
            return {
                "history": {**self.history.to_json(self.cluster or ""), "medianBootSeconds": self.boot_time_s}
            }
        return {"trace": self.label}


def _trace_workload(opts: SimulateOptions) -> Workload:
    try:
        trace = read_trace(opts.trace, skip_bad_lines=opts.skip_bad_lines)
    except SwfError as exc:
        raise SimulateError(str(exc)) from None
    except OSError as exc:
        raise SimulateError(f"cannot read the trace {opts.trace}: {exc.strerror or exc}") from None
    return Workload(opts.trace, trace.records, trace.max_procs, trace.skipped)


def _time_option(text: str | None, option: str) -> float | None:
    if text is None:
        return None
    from stratus.cli.cluster_logs import parse_time

    try:
        return parse_time(text).timestamp()
    except ValueError:
        raise SimulateError(
            f"{option}: {text!r} is not an ISO 8601 date or time (e.g. 2024-05-01 or 2024-05-01T08:00:00Z)."
        ) from None


def load_history(
    name: str, since: str | None = None, until: str | None = None
) -> tuple[History, str, float | None]:
    """The history of cluster ``name`` over the period, its configuration file's path, and the
    median time its nodes took to boot (None: no boot recorded).

    Reads the cluster's state store read-only (its head node may be running or not). Raises
    ``NotFoundError`` for an unknown cluster, ``CliError`` (Forbidden) for one the caller may
    not read, and ``SimulateError`` for a bad time or a period without any finished job.
    """
    from sqlalchemy import select

    from stratus.cli import clusters as ops
    from stratus.store import schema
    from stratus.store.store import Store

    start = _time_option(since, "--since")
    end = _time_option(until, "--until")
    if start is not None and end is not None and end <= start:
        raise SimulateError(f"--until ({until}) must be later than --since ({since}).")
    paths = ops.existing(name)
    if not os.access(paths.db, os.R_OK):
        raise ops.forbidden(name)
    j = schema.journal.c
    boots = select(j.key, j.new, j.time).where(j.entity == "node").order_by(j.seq)
    store = Store.open_readonly(paths.db)
    try:
        with store.reading() as conn:
            queues = list(store.load_partitions(conn))
            # The store's window (not ended before ``start``) holds every job submitted in
            # the period; the history keeps those submitted in it.
            entries = store.load_accounting(conn, start=start, end=end)
            boot_s = median_boot_s((str(r[0]), str(r[1]), float(r[2])) for r in conn.execute(boots))
    finally:
        store.close()
    history = from_accounting(
        ((job, runs) for job, _info, runs in entries), since=start, until=end, queues=queues
    )
    if not history.jobs:
        period = " ".join(
            p for p in (f"from {since}" if since else "", f"before {until}" if until else "") if p
        )
        where = f" submitted {period}" if period else ""
        raise SimulateError(
            f"cluster {name} has no finished job{where} to replay ({history.never_started} never started, "
            f"{history.unfinished} not finished yet)."
        )
    return history, str(paths.config), boot_s


def _history_workload(opts: SimulateOptions) -> Workload:
    name = opts.history or ""
    history, config_path, boot_s = load_history(name, opts.since, opts.until)
    queues = {n: q for q, n in history.queue_numbers.items()}
    return Workload(
        f"cluster {name}",
        history.records(),
        None,
        [],
        queues,
        history=history,
        cluster=name,
        config_path=config_path,
        boot_time_s=None if boot_s is None else round(boot_s, 1),
    )


def load_workload(opts: SimulateOptions) -> Workload:
    """The workload the options name: ``--trace`` or ``--history`` (exactly one)."""
    if bool(opts.trace) == bool(opts.history):
        raise SimulateError("give either --trace or --history.")
    if not opts.history:
        for given, option in (
            (opts.since, "--since"),
            (opts.until, "--until"),
            (opts.compare, "--compare"),
            (opts.export_swf, "--export-swf"),
        ):
            if given:
                raise SimulateError(f"{option} needs --history CLUSTER.")
        return _trace_workload(opts)
    return _history_workload(opts)


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


def _queue_map(text: str | None, queues: list[str], known: dict[int, str] | None = None) -> dict[int, str]:
    """``--queue-map``'s NUMBER=QUEUE items; with a history (``known``: its queue numbers and
    names) an item may also name the history's queue: OLD=NEW."""
    out: dict[int, str] = {}
    numbers = {name: n for n, name in (known or {}).items()}
    for item in (t.strip() for t in (text or "").split(",")):
        if not item:
            continue
        number, eq, name = item.partition("=")
        if eq and number.strip() in numbers:
            number = str(numbers[number.strip()])
        if not eq or not (number.isascii() and number.strip().lstrip("-").isdigit()):
            if known:
                raise SimulateError(
                    f"--queue-map: expected QUEUE=QUEUE (the history has {', '.join(numbers)}), not {item!r}."
                )
            raise SimulateError(f"--queue-map: expected NUMBER=QUEUE, not {item!r}.")
        if name.strip() not in queues:
            raise SimulateError(
                f"--queue-map: {name.strip()!r} is not a queue of the cluster; it has {', '.join(queues)}."
            )
        out[int(number)] = name.strip()
    return out


def check_options(opts: SimulateOptions) -> None:
    """Check the options that need no file (before any is read); ``SimulateError`` if one is bad."""
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
    if opts.trace and opts.history:
        raise SimulateError("give either --trace or --history, not both.")
    if opts.compare and opts.cluster_configuration is None:
        raise SimulateError(
            "--compare needs -c NEW.yaml: the configuration to compare with the cluster's own."
        )
    if opts.compare and opts.procs is not None:
        raise SimulateError("--compare replays on configurations: give -c, not --procs.")
    if opts.export_swf is not None and opts.compare:
        raise SimulateError("--export-swf writes the history without replaying it: leave out --compare.")


def prepare(
    opts: SimulateOptions, workload: Workload | None = None, config: tuple[str, str] | None = None
) -> Prepared:
    """Read the workload (and config), build the engine's configuration and the jobs to replay.

    ``workload``: the records, already read (default: as the options say); ``config``: a
    configuration's (text, file name) to replay on instead of reading ``-c`` (with a history
    and neither, the history's cluster's own configuration).
    """
    check_options(opts)
    trace = workload if workload is not None else load_workload(opts)
    if config is None and opts.cluster_configuration is not None:
        config = (_read_config(opts.cluster_configuration), opts.cluster_configuration)
    elif config is None and trace.config_path is not None and opts.procs is None:
        config = (_read_config(trace.config_path), trace.config_path)
    model = JobModel(runtime=opts.runtime, processors=opts.processors, unusable=opts.unusable)
    prices: dict[str, float] | None = None
    partition_of: dict[int, str] = {}
    if config is not None:
        machine_config, prices, machine = _cluster(opts, *config)
        queues = [p.name for p in machine_config.partitions]
        # A history's queues go to the queues of the same name (those the configuration lacks:
        # to its default queue); --queue-map says otherwise.
        partition_of = {n: q for n, q in trace.queues.items() if q in queues}
        partition_of.update(_queue_map(opts.queue_map, queues, trace.queues))
        sizes = {
            p.name: sum(d.cpus for d in machine_config.nodes if p.name in d.partitions)
            for p in machine_config.partitions
        }
        default = next((p.name for p in machine_config.partitions if p.default), None)
        largest = max(sizes.values())

        def capacity_of(job: SimJob) -> tuple[int, str]:
            # The queue the replay sends the job to (as ``run`` routes it), and its size.
            queue = partition_of.get(job.queue, default)
            return (sizes[queue], queue) if queue is not None else (largest, "the cluster")

        # A history's nodes boot as long as the cluster's own took, unless --boot-time says.
        boot = next(
            b for b in (opts.boot_time, trace.boot_time_s, DEFAULT_BOOT_TIME_WITH_CONFIG_S) if b is not None
        )
    else:
        if opts.queue_map:
            raise SimulateError("--queue-map needs --cluster-configuration (a plain machine has one queue).")
        if trace.history is not None and opts.procs is None:
            raise SimulateError("--procs: say how big the plain machine is to replay a history on.")
        procs = opts.procs if opts.procs is not None else trace.max_procs
        if procs is None or procs < 1:
            raise SimulateError(
                f"{trace.label}: the header gives no MaxProcs or MaxNodes; "
                "say how big the machine is with --procs."
            )
        machine_procs = procs

        def capacity_of(job: SimJob) -> tuple[int, str]:
            return machine_procs, "the machine"

        base = _plain_machine(procs)
        settings = _settings(opts, SchedulingSettings())
        machine_config = replace(
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
    machine_config = replace(machine_config, min_job_age_s=0.0)
    if opts.runtime == "overrun":
        machine_config = replace(machine_config, over_time_limit_s=None)
    # The job model is asked for every job as logged (no cap), so that the jobs too wide for
    # their queue can be counted and handled as --oversized says.
    jobs, oversized = _fit(model_jobs(trace.records, sys.maxsize, model), capacity_of, opts.oversized)
    return Prepared(machine_config, jobs, partition_of, prices, boot, machine, trace.skipped, oversized)


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


def _read_config(path: str) -> str:
    """A configuration file's text; ``SimulateError`` naming it when it cannot be read."""
    from stratus.config import BadYamlError, read_config_file

    try:
        return read_config_file(Path(path))
    except OSError as exc:
        raise SimulateError(f"cannot read the cluster configuration {path}: {exc.strerror or exc}") from None
    except BadYamlError as exc:
        raise ConfigurationError(exc) from None


def _cluster(
    opts: SimulateOptions, text: str, filename: str
) -> tuple[EngineConfig, dict[str, float], dict[str, Any]]:
    """The engine's configuration, node prices and the report's description of a cluster
    configuration's text; ``ConfigurationError`` when it is not a valid configuration."""
    from stratus.config import BadYamlError, ConfigValidationError, get_instance_type, load_cluster_config
    from stratus.controller.build import engine_config

    path = filename
    try:
        loaded = load_cluster_config(text, filename=filename)
    except (BadYamlError, ConfigValidationError) as exc:
        raise ConfigurationError(exc) from None
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


def run(
    opts: SimulateOptions, workload: Workload | None = None, config: tuple[str, str] | None = None
) -> tuple[Report, SimResult, dict[str, Any]]:
    """Prepare, replay and report; returns the report, the raw result and the JSON document.

    ``workload`` and ``config`` as :func:`prepare` takes them (default: as the options say).
    """
    check_options(opts)
    if workload is None:
        workload = load_workload(opts)
    prepared = prepare(opts, workload, config)
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
        **workload.describe(),
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
    if "history" in doc:
        console.print(_history_line(doc["history"]))
    jobs = doc["jobs"]
    console.print(
        f"{_source(doc)}: {jobs['counted']} jobs counted ({jobs['notCounted']} not counted, "
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


def _source(doc: dict[str, Any]) -> str:
    """What was replayed, in a few words: the trace's file or the history's cluster."""
    if "history" in doc:
        return f"cluster {doc['history']['cluster']}"
    return str(doc.get("trace", ""))


def _history_line(h: dict[str, Any]) -> str:
    left = h["leftOut"]
    rec = h["recorded"]
    return (
        f"history of cluster {h['cluster']}: {h['jobs']} finished jobs submitted {h['firstSubmit']} "
        f"to {h['lastSubmit']} (left out: {left['neverStarted']} never started, {left['unfinished']} "
        f"not finished); they really waited {rec['meanWaitSeconds']:,.0f} s on average "
        f"(p95 {rec['p95WaitSeconds']:,.0f} s)"
    )


#: The figures ``--compare`` sets side by side, per queue and overall: (key, label, format).
COMPARED: tuple[tuple[str, str, str], ...] = (
    ("jobs", "jobs", "{:,.0f}"),
    ("meanWaitSeconds", "mean wait (s)", "{:,.1f}"),
    ("medianWaitSeconds", "median wait (s)", "{:,.1f}"),
    ("p95WaitSeconds", "p95 wait (s)", "{:,.1f}"),
    ("maxWaitSeconds", "max wait (s)", "{:,.1f}"),
    ("meanBoundedSlowdown", "mean bsld", "{:,.2f}"),
    ("utilization", "utilization", "{:.4f}"),
)
#: The cost figures ``--compare`` sets side by side, per queue.
COMPARED_COST: tuple[tuple[str, str, str], ...] = (
    ("nodeHours", "node-hours", "{:,.3f}"),
    ("cost", "cost (USD)", "{:,.2f}"),
)


def _minus(
    new: dict[str, Any], old: dict[str, Any], keys: tuple[tuple[str, str, str], ...]
) -> dict[str, Any]:
    return {k: round(float(new.get(k, 0)) - float(old.get(k, 0)), 4) for k, _label, _fmt in keys}


def difference(current: dict[str, Any], what_if: dict[str, Any]) -> dict[str, Any]:
    """What-if minus current, figure by figure: overall, per queue both have, cost per queue
    (a queue one side lacks counts as no node-hours and no cost there) and in all."""
    queues = [q for q in current["queues"] if q in what_if["queues"]]
    cost_queues = sorted(set(current.get("cost", {})) | set(what_if.get("cost", {})))
    return {
        "overall": _minus(what_if["overall"], current["overall"], COMPARED),
        "queues": {q: _minus(what_if["queues"][q], current["queues"][q], COMPARED) for q in queues},
        "cost": {
            q: _minus(what_if.get("cost", {}).get(q, {}), current.get("cost", {}).get(q, {}), COMPARED_COST)
            for q in cost_queues
        },
        "totalCost": round(what_if.get("totalCost", 0.0) - current.get("totalCost", 0.0), 2),
    }


def compare(
    opts: SimulateOptions,
    new_config: tuple[str, str] | None = None,
    workload: Workload | None = None,
) -> tuple[dict[str, Any], SimResult, SimResult]:
    """Replay a history on its cluster's own configuration and on ``new_config`` (text, file
    name; default: ``-c``), with the same options: the JSON document (``current``, ``whatIf``,
    ``difference``) and both raw results.

    Raises ``ConfigurationError`` when either configuration is not valid.
    """
    if workload is None:
        workload = load_workload(replace(opts, compare=False))
    if workload.history is None or workload.config_path is None:
        raise SimulateError("--compare needs --history CLUSTER.")
    if new_config is None:
        if opts.cluster_configuration is None:
            raise SimulateError(
                "--compare needs -c NEW.yaml: the configuration to compare with the cluster's own."
            )
        new_config = (_read_config(opts.cluster_configuration), opts.cluster_configuration)
    current_config = (_read_config(workload.config_path), workload.config_path)
    single = replace(opts, compare=False, cluster_configuration=None, procs=None, plot=None)
    # The what-if first: its configuration is the one most likely to be wrong.
    _, new_result, new = run(single, workload, new_config)
    _, current_result, current = run(single, workload, current_config)
    for d in (current, new):
        d.pop("history", None)
    doc = {
        **workload.describe(),
        "policy": new["policy"],
        "current": current,
        "whatIf": new,
        "difference": difference(current, new),
    }
    return doc, current_result, new_result


#: The name a configuration given as text (the console's what-if) is reported under.
WHAT_IF_FILE = "what-if.yaml"


def what_if(
    cluster: str,
    configuration: str,
    *,
    since: str | None = None,
    until: str | None = None,
    policy: str | None = None,
    boot_time: float | None = None,
) -> dict[str, Any]:
    """``--history CLUSTER --compare`` with the what-if configuration given as text (the web
    console's what-if page): the comparison's JSON document.

    Raises ``ConfigurationError`` whose ``cause`` names :data:`WHAT_IF_FILE` when that text is not
    a valid configuration (``cause.to_json()``: pcluster's document, with the lines), and
    ``SimulateError``/``NotFoundError`` as the command does for the other options.
    """
    opts = SimulateOptions(
        history=cluster,
        since=since,
        until=until,
        policy=policy,
        boot_time=boot_time,
        compare=True,
        cluster_configuration=WHAT_IF_FILE,
        progress=False,
    )
    check_options(opts)
    doc, _current, _new = compare(opts, (configuration, WHAT_IF_FILE))
    return doc


def compare_table(doc: dict[str, Any]) -> str:
    """A human-readable side-by-side summary of a ``--compare`` document."""
    from io import StringIO

    from rich.console import Console
    from rich.table import Table

    out = StringIO()
    console = Console(file=out, width=110, color_system=None)
    current, new = doc["current"], doc["whatIf"]
    console.print(_history_line(doc["history"]))
    console.print(
        f"current: {current['machine'].get('clusterConfiguration')}; what if: "
        f"{new['machine'].get('clusterConfiguration')}; policy {doc['policy']}"
    )

    def change(a: float, b: float, fmt: str) -> str:
        d = b - a
        text = ("+" if d > 0 else "") + fmt.format(d)
        if a:
            text += f" ({d / a * 100:+.0f}%)"
        return text

    table = Table("queue", "figure", "current", "what if", "change")
    queues = sorted(set(current["queues"]) | set(new["queues"]))
    names = ["all", *queues] if len(queues) > 1 else ["all"]
    for name in names:
        a = current["overall"] if name == "all" else current["queues"].get(name)
        b = new["overall"] if name == "all" else new["queues"].get(name)
        for key, label, fmt in COMPARED:
            va = a.get(key) if a else None
            vb = b.get(key) if b else None
            table.add_row(
                name if key == "jobs" else "",
                label,
                fmt.format(va) if va is not None else "-",
                fmt.format(vb) if vb is not None else "-",
                change(va, vb, fmt) if va is not None and vb is not None else "",
            )
    console.print(table)
    cost = Table("queue", "figure", "current", "what if", "change")
    for name in sorted(set(current.get("cost", {})) | set(new.get("cost", {}))):
        a, b = current.get("cost", {}).get(name, {}), new.get("cost", {}).get(name, {})
        for key, label, fmt in COMPARED_COST:
            va, vb = float(a.get(key, 0.0)), float(b.get(key, 0.0))
            cost.add_row(
                name if key == "nodeHours" else "", label, fmt.format(va), fmt.format(vb), change(va, vb, fmt)
            )
    console.print(cost)
    ta, tb = float(current.get("totalCost", 0.0)), float(new.get("totalCost", 0.0))
    console.print(
        f"total cost: {ta:,.2f} USD now, {tb:,.2f} USD what if ({change(ta, tb, '{:,.2f}')}; "
        "on-demand prices of the instance catalog)"
    )
    return out.getvalue()


def export_swf(opts: SimulateOptions) -> dict[str, Any]:
    """Write the history as an SWF trace (``--export-swf``): what was written, and the command
    that replays it with the same figures as ``--history``."""
    workload = load_workload(opts)
    history = workload.history
    assert history is not None and workload.config_path is not None
    path = opts.cluster_configuration or workload.config_path
    config, _prices, _machine = _cluster(opts, _read_config(path), path)
    text = history.swf(
        cluster=workload.cluster or "",
        max_procs=sum(n.cpus for n in config.nodes),
        max_nodes=len(config.nodes),
    )
    target = opts.export_swf or ""
    try:
        Path(target).write_text(text)
    except OSError as exc:
        raise SimulateError(f"--export-swf: cannot write {target}: {exc.strerror or exc}") from None
    replay = f"stratus simulate --trace {target} -c {path}"
    if history.queue_numbers:
        replay += f" --queue-map {history.queue_map()}"
    if workload.boot_time_s is not None:
        replay += f" --boot-time {workload.boot_time_s:g}"
    return {
        "swf": target,
        **workload.describe(),
        "replay": replay,
    }


def _warn(doc: dict[str, Any], prefix: str = "") -> None:
    oversized = Oversized.from_json(doc["oversizedJobs"])
    if oversized.jobs:
        sys.stderr.write(f"warning: {prefix}{oversized.summary()}\n")
    skipped = doc["skippedLines"]
    if skipped:
        first = doc["firstSkippedLine"]
        sys.stderr.write(
            f"warning: skipped {skipped} malformed line{'s' if skipped != 1 else ''} of the trace "
            f"(the first: {first})\n"
        )


def _write_output(opts: SimulateOptions, doc: dict[str, Any]) -> None:
    if opts.output:
        try:
            Path(opts.output).write_text(json.dumps(doc, indent=2) + "\n")
        except OSError as exc:
            raise SimulateError(f"--output: cannot write {opts.output}: {exc.strerror or exc}") from None


def main(opts: SimulateOptions) -> int:
    """Run ``stratus simulate``: print the summary (or JSON), write the report and plot if asked."""
    check_options(opts)
    if opts.export_swf is not None:
        doc = export_swf(opts)
        if opts.json:
            sys.stdout.write(json.dumps(doc, indent=2) + "\n")
        else:
            h = doc["history"]
            sys.stdout.write(
                f"wrote {h['jobs']} jobs of cluster {h['cluster']} to {doc['swf']} (left out: "
                f"{h['leftOut']['neverStarted']} never started, {h['leftOut']['unfinished']} not finished)\n"
                f"replay it with: {doc['replay']}\n"
            )
        return 0
    if opts.compare:
        doc, current_result, new_result = compare(opts)
        _warn(doc["current"], "current configuration: ")
        _warn(doc["whatIf"], "what-if configuration: ")
        _write_output(opts, doc)
        if opts.plot:
            from stratus.sim.plot import plot

            target = Path(opts.plot)
            for result, which in ((current_result, "current"), (new_result, "whatif")):
                plot(
                    result,
                    str(target.with_name(f"{target.stem}-{which}{target.suffix}")),
                    title=f"{_source(doc)}, {which}, {doc['policy']}",
                )
        sys.stdout.write(json.dumps(doc, indent=2) + "\n" if opts.json else compare_table(doc))
        return 0
    report, result, doc = run(opts)
    del report
    _warn(doc)
    _write_output(opts, doc)
    if opts.plot:
        from stratus.sim.plot import plot

        name = Path(opts.trace).name if opts.trace else _source(doc)
        plot(result, opts.plot, title=f"{name}, {doc['policy']}")
    if opts.json:
        sys.stdout.write(json.dumps(doc, indent=2) + "\n")
    else:
        sys.stdout.write(summary_table(doc))
    return 0

"""Replaying a workload through the scheduling engine, in simulated time.

The simulator drives the same :class:`Engine` the head node runs: it submits each job at its
submit time, carries out the engine's decisions (a launched job ends after its run time, a
powered-up node registers after the boot time, a powered-down one is gone at once) and calls
:meth:`Engine.tick` after every event, as the head node does. Nothing is sampled or shortcut:
what the engine decides is what the report measures.

Events at the same time are handled in a fixed order: submissions, then job ends, then node
boots, then the engine's own timers; each is followed by a scheduling pass (the classic
simulators' order, which the reference figures were computed with).
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from stratus.engine.engine import Engine
from stratus.engine.model import Action, EngineConfig, JobSpec, KillJob, LaunchJob, PowerDown, PowerUp
from stratus.sim.workload import SimJob

# Event kinds (see Simulation.run for their order at one instant).
_END, _BOOT = 1, 2


@dataclass
class Outcome:
    """What happened to one job: when it started (None: never) and when it ended."""

    start: float | None = None
    end: float | None = None
    partition: str = ""
    killed: bool = False  # ended by the engine (time limit) rather than by itself


@dataclass
class NodePower:
    """When a node had an instance (for node-hours and cost)."""

    intervals: list[tuple[float, float]] = field(default_factory=list)
    since: float | None = None


@dataclass
class SimResult:
    """Everything a report needs: per-job outcomes, node power, samples over time."""

    jobs: list[SimJob]
    outcomes: list[Outcome]
    rejected: list[tuple[SimJob, str]]
    power: dict[str, NodePower]
    start: float
    end: float
    samples: list[tuple[float, int, int, int]]  # (time, pending jobs, busy CPUs, powered nodes)
    passes: int
    engine: Engine


class Simulation:
    """One replay of ``jobs`` on a cluster described by ``config``."""

    def __init__(
        self,
        config: EngineConfig,
        jobs: list[SimJob],
        *,
        boot_time_s: float = 0.0,
        partition_of: Callable[[SimJob], str | None] | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> None:
        self.config = config
        self.jobs = jobs
        self.boot_time_s = boot_time_s
        self.partition_of = partition_of or (lambda _job: None)
        self.progress = progress
        self._capacity = {
            p.name: sum(d.cpus for d in config.nodes if p.name in d.partitions) for p in config.partitions
        }

    def run(self) -> SimResult:
        jobs = self.jobs
        t0 = jobs[0].submit if jobs else 0.0
        engine = Engine(self.config, now=t0)
        outcomes = [Outcome() for _ in jobs]
        power: dict[str, NodePower] = {name: NodePower() for name in engine.nodes}
        rejected: list[tuple[SimJob, str]] = []
        index_of: dict[int, int] = {}  # engine job id -> index in jobs
        events: list[tuple[float, int, int, tuple[int, int] | str]] = []
        seq = 0
        pending = busy = powered = 0
        samples: list[tuple[float, int, int, int]] = []
        passes = 0
        specs: dict[tuple[object, ...], JobSpec] = {}
        static = [name for name, node in engine.nodes.items() if node.defn.static]

        def act(actions: Iterable[Action], now: float) -> None:
            nonlocal seq, pending, busy, powered
            for a in actions:
                if isinstance(a, LaunchJob):
                    i = index_of[a.job_id]
                    outcomes[i].start = now
                    job = engine.jobs[a.job_id]
                    outcomes[i].partition = job.partition or ""
                    pending -= 1
                    busy += job.alloc.total_cpus if job.alloc is not None else 0
                    seq += 1
                    heapq.heappush(events, (now + jobs[i].run, _END, seq, (a.job_id, a.run)))
                elif isinstance(a, KillJob):
                    if a.why in ("SIGNAL", "SIGNAL_BATCH", "END"):
                        continue
                    i = index_of[a.job_id]
                    start = outcomes[i].start
                    if start is not None and start + jobs[i].run <= now:
                        # Its own end is due at this very instant (a run truncated at its
                        # limit): it ends by itself, it is not killed.
                        end_job(a.job_id, a.run, now)
                        continue
                    outcomes[i].killed = True
                    end_job(a.job_id, a.run, now, signal=9)
                elif isinstance(a, PowerUp):
                    for name in a.nodes:
                        power[name].since = now
                        powered += 1
                        seq += 1
                        heapq.heappush(events, (now + self.boot_time_s, _BOOT, seq, name))
                elif isinstance(a, PowerDown):
                    for name in a.nodes:
                        p = power[name]
                        if p.since is not None:
                            p.intervals.append((p.since, now))
                            p.since = None
                            powered -= 1
                        engine.node_terminated(name, now)

        def end_job(job_id: int, run: int, now: float, signal: int = 0) -> None:
            nonlocal busy
            job = engine.jobs.get(job_id)
            if job is None or job.run != run or job.alloc is None:
                return
            cpus = job.alloc.total_cpus
            before = job.state
            act(engine.job_ended(job_id, run, now, signal=signal), now)
            if job.state != before:
                busy -= cpus
                outcomes[index_of[job_id]].end = now

        def tick(now: float) -> None:
            nonlocal passes
            act(engine.tick(now), now)
            engine.drain_changes()
            passes += 1
            if not samples or samples[-1][1:] != (pending, busy, powered):
                samples.append((now, pending, busy, powered))

        # Static nodes are up when the workload starts, as a running cluster's are.
        act(engine.tick(t0), t0)
        for name in static:
            act(engine.node_up(name, t0), t0)
        events.clear()  # their boots: they are up already
        engine.drain_changes()
        nxt = 0
        total = len(jobs)
        done_report = 0
        cur = t0
        while nxt < total or events:
            t_sub = jobs[nxt].submit if nxt < total else float("inf")
            t_ev = events[0][0] if events else float("inf")
            now = min(t_sub, t_ev)
            wake = engine.next_wakeup(cur)
            if cur < wake < now:
                cur = wake
                tick(wake)
                continue
            cur = now
            # At one instant, jobs arrive first (in file order) and are scheduled, then jobs
            # end and nodes boot one by one, each followed by a pass: the classic simulators'
            # order. A job at its time limit counts as gone already (its end is due).
            arrived = False
            while nxt < total and jobs[nxt].submit == now:
                arrived = True
                job = jobs[nxt]
                i = nxt
                nxt += 1
                spec = self._spec(job, specs)
                reason = engine.check(spec)
                if reason is not None:
                    rejected.append((job, reason.code))
                    continue
                rec = engine.submit(spec, now)
                index_of[rec.id] = i
                pending += 1
            if arrived:
                tick(now)
            while events and events[0][0] == now:
                _, _, _, payload = heapq.heappop(events)
                if isinstance(payload, tuple):
                    end_job(payload[0], payload[1], now)
                else:
                    act(engine.node_up(payload, now), now)
                tick(now)
            if self.progress is not None and nxt - done_report >= 1000:
                done_report = nxt
                self.progress(nxt, total)
        if self.progress is not None:
            self.progress(total, total)
        end = max((o.end for o in outcomes if o.end is not None), default=t0)
        for p in power.values():
            if p.since is not None:
                p.intervals.append((p.since, end))
                p.since = None
        return SimResult(jobs, outcomes, rejected, power, t0, end, samples, passes, engine)

    def _spec(self, job: SimJob, cache: dict[tuple[object, ...], JobSpec]) -> JobSpec:
        partition = self.partition_of(job)
        procs = job.procs
        if partition is not None:
            procs = min(procs, self._capacity.get(partition, procs)) or 1
        key = (procs, job.estimate, job.user, partition)
        spec = cache.get(key)
        if spec is None:
            spec = cache[key] = JobSpec(
                name="job",
                user=f"user{job.user}",
                uid=job.user,
                gid=job.group,
                partitions=(partition,) if partition else (),
                ntasks=procs,
                time_limit_s=job.estimate,
                requeue=False,
            )
        return spec

"""From trace records to the jobs a simulation replays: the job model, explicit and selectable.

Published results depend on how a log's records become simulated jobs, so each choice is an
option (:class:`JobModel`). The defaults are the conventions of the classic Hebrew University
simulator (pyss), under which the reference figures of the literature were computed:

- ``runtime="truncate"``: a job runs ``max(min(run, requested time), 1)`` seconds and asks for
  ``max(requested time, run, 1)`` (so it never runs past its limit). With an unknown requested
  time (``-1``) this makes the job last one second, as pyss does. ``"overrun"`` instead runs
  the recorded time, with the request (or the run, if unknown) as the estimate, and does not
  kill jobs that run past it.
- ``processors="allocated"``: the allocated processors (field 5), capped at the machine size;
  ``"requested"`` uses field 8 (falling back to field 5 when unknown).
- ``unusable="simulate"``: a record with run time <= 0, no processors or a negative submit time
  is replayed as a one-second, one-slot job (it occupies the machine as in pyss) but left out of
  every statistic; ``"drop"`` leaves it out of the simulation too.
"""

from __future__ import annotations

from dataclasses import dataclass

from stratus.sim.swf import Record

RUNTIMES = ("truncate", "overrun")
PROCESSORS = ("allocated", "requested")
UNUSABLE = ("simulate", "drop")


@dataclass(frozen=True, slots=True)
class JobModel:
    """How records become jobs (see the module docstring)."""

    runtime: str = "truncate"
    processors: str = "allocated"
    unusable: str = "simulate"


@dataclass(frozen=True, slots=True)
class SimJob:
    """One job to replay. ``counted`` is False for unusable records (kept out of statistics)."""

    number: int
    submit: float
    run: float
    estimate: float
    procs: int
    user: int
    group: int
    queue: int
    partition: int
    counted: bool


def usable(r: Record) -> bool:
    """Whether a record describes a job that really ran (run time and processors known)."""
    return r.run > 0 and r.allocated_procs > 0 and r.submit >= 0


def model_jobs(records: list[Record], machine_procs: int, model: JobModel) -> list[SimJob]:
    """The jobs to replay, in submission order (ties keep file order)."""
    out: list[SimJob] = []
    for r in records:
        if not usable(r):
            if model.unusable == "drop":
                continue
            procs = max(1, min(r.allocated_procs, machine_procs))
            out.append(
                SimJob(
                    r.number,
                    float(max(r.submit, 1)),
                    1.0,
                    1.0,
                    procs,
                    r.user,
                    r.group,
                    r.queue,
                    r.partition,
                    False,
                )
            )
            continue
        if model.processors == "requested" and r.requested_procs > 0:
            procs = r.requested_procs
        else:
            procs = r.allocated_procs
        procs = max(min(procs, machine_procs), 1)
        if model.runtime == "truncate":
            estimate = max(r.requested_time, r.run, 1)
            run = max(min(r.requested_time, r.run), 1)
        else:
            estimate = r.requested_time if r.requested_time > 0 else r.run
            run = r.run
        out.append(
            SimJob(
                r.number,
                float(r.submit),
                float(run),
                float(estimate),
                procs,
                r.user,
                r.group,
                r.queue,
                r.partition,
                True,
            )
        )
    out.sort(key=lambda j: j.submit)  # stable: equal submit times keep file order
    return out

"""What jobs cost: each node's price, shared among the runs that held it.

The model, in the engine's vocabulary (times are POSIX seconds passed in by the caller, prices
are :attr:`NodeDef.price_per_hour` in USD):

* A node's price accrues while it holds a machine (powering up, up, powering down). A powered-
  down node costs nothing; a node on the site's own hosts is priced 0 unless its provider gives
  it a price (``Stratus.Providers[].PricePerHour``).
* A run of a job is charged, for each node it held, that node's price per hour times the run's
  elapsed hours times the run's share of the node: the CPUs it held there over the node's CPUs,
  or the whole node when the job is exclusive (:attr:`JobSpec.exclusive`). A share is never more than the
  whole node.
* The elapsed time is the run's, as ``sacct`` shows it: from its start (when it began running)
  to its end, or to ``now`` for a run still running. A run that never started costs nothing.
* A job's cost is the sum over its runs: every attempt counts, a requeued run or a failed
  attempt that was retried as much as the last one.

Limits, by design:

* Time a node is up but not used by a running job (booting, even for a job waiting on it; idle
  until it powers down; the moments a job spends completing after its end) is charged to no
  job. It is the cluster's own cost; :func:`idle_cost_per_hour` gives the part of it on
  nodes no job holds, as a rate.
* Memory and GPUs do not weigh in a share: a job holding all of a node's GPUs with one CPU
  pays for one CPU's share (jobs that need a whole node's GPUs are usually exclusive).
* Prices are those the caller passes (the nodes' configured ones): a run on a node no longer
  configured costs nothing, and a changed ``PricePerHour`` reprices past runs too.
* A run recorded only by its nodes and CPUs in all (an earlier run of a requeued job) is taken
  to hold the same share of each of its nodes (:meth:`RunUse.of_total`).

Pure: no I/O, no clock.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from stratus.engine.model import Allocation, Job, Node, NodeDef
from stratus.engine.states import JobState, NodeState

SECONDS_PER_HOUR = 3600.0
# The node states in which a node holds a machine, and its price accrues.
_WITH_MACHINE = frozenset((NodeState.POWERING_UP, NodeState.UP, NodeState.POWERING_DOWN))
# The job states of a run that is charged and not recorded yet (its end is when it completes).
_OPEN = frozenset((JobState.RUNNING, JobState.COMPLETING))


@dataclass(frozen=True, slots=True)
class RunUse:
    """What one run of a job held, and for how long.

    ``cpus`` holds the CPUs the run held on each node of ``nodes``, in the same order; ``end``
    is None while the run is still running. ``start`` None: the run never started.
    """

    nodes: tuple[str, ...]
    cpus: tuple[float, ...]
    start: float | None
    end: float | None
    exclusive: bool = False

    @classmethod
    def of_allocation(
        cls, alloc: Allocation, start: float | None, end: float | None, exclusive: bool = False
    ) -> RunUse:
        """The use of a run whose allocation is known node by node."""
        return cls(alloc.nodes, tuple(float(c) for c in alloc.cpus), start, end, exclusive)

    @classmethod
    def of_total(
        cls,
        nodes: Sequence[str],
        total_cpus: float,
        defs: Mapping[str, NodeDef],
        start: float | None,
        end: float | None,
        exclusive: bool = False,
    ) -> RunUse:
        """The use of a run known only by its nodes and its CPUs in all (an earlier run of a
        requeued job, whose allocation node by node was not kept).

        The CPUs are spread over the nodes in proportion to their sizes, so the run holds the
        same share of each: exact for a run on one node, for an exclusive run, and for the
        usual spread of tasks over nodes of one size.
        """
        sizes = [float(defs[n].cpus) if n in defs else 0.0 for n in nodes]
        whole = sum(sizes)
        if whole > 0:
            cpus = tuple(total_cpus * s / whole for s in sizes)
        else:
            cpus = tuple(total_cpus / len(nodes) for _ in nodes) if nodes else ()
        return cls(tuple(nodes), cpus, start, end, exclusive)


def ended_run_use(
    nodes: Sequence[str],
    total_cpus: float,
    start: float | None,
    end: float,
    defs: Mapping[str, NodeDef],
    *,
    exclusive: bool = False,
    alloc: Allocation | tuple[Sequence[str], Sequence[int]] | None = None,
) -> RunUse:
    """The use of a run as accounting recorded it when it ended (its nodes and its CPUs in
    all): node by node from ``alloc`` (an Allocation, or its nodes and CPUs on each) when that
    is this run's allocation (a job keeps its last run's), else spread over its nodes
    (:meth:`RunUse.of_total`)."""
    if alloc is not None:
        alloc_nodes, alloc_cpus = (alloc.nodes, alloc.cpus) if isinstance(alloc, Allocation) else alloc
        if tuple(alloc_nodes) == tuple(nodes):
            return RunUse(tuple(nodes), tuple(float(c) for c in alloc_cpus), start, end, exclusive)
    return RunUse.of_total(nodes, total_cpus, defs, start, end, exclusive)


def open_run_use(job: Job) -> RunUse | None:
    """The use of ``job``'s current run while it is running (or completing, up to its end),
    before accounting records it; None when it is not running (pending, its nodes still
    booting, ended)."""
    if job.state not in _OPEN or job.alloc is None or job.start_time is None:
        return None
    return RunUse.of_allocation(job.alloc, job.start_time, job.end_time, job.spec.exclusive)


@dataclass(frozen=True, slots=True)
class JobCost:
    """What one job (or array task) has cost so far, in USD, with whom it is charged to."""

    job_id: int
    user: str
    account: str  # the account charged (its ``--account``; empty: none given)
    partition: str  # where it ran (empty: it never ran)
    cost: float


def node_share(cpus_held: float, node_cpus: int, exclusive: bool = False) -> float:
    """The part of a node a run is charged for: its CPUs there over the node's (at most 1);
    1 when the run is exclusive, or holds CPUs of a node declared without any."""
    if exclusive:
        return 1.0
    if cpus_held <= 0:
        return 0.0
    if node_cpus <= 0:
        return 1.0
    return min(cpus_held / node_cpus, 1.0)


def elapsed_s(use: RunUse, now: float) -> float:
    """How long the run has been charged for: start to end (to ``now`` while it runs); never
    negative."""
    if use.start is None:
        return 0.0
    end = now if use.end is None else use.end
    return max(end - use.start, 0.0)


def run_cost(use: RunUse, defs: Mapping[str, NodeDef], now: float) -> float:
    """What one run costs in USD (see the module docstring); nodes not in ``defs`` cost 0."""
    hours = elapsed_s(use, now) / SECONDS_PER_HOUR
    if hours <= 0:
        return 0.0
    total = 0.0
    for name, cpus in zip(use.nodes, use.cpus, strict=True):
        d = defs.get(name)
        if d is None or d.price_per_hour <= 0:
            continue
        total += d.price_per_hour * hours * node_share(cpus, d.cpus, use.exclusive)
    return total


def job_cost(runs: Iterable[RunUse], defs: Mapping[str, NodeDef], now: float) -> float:
    """What a job costs in USD: the sum over its runs, every attempt included, up to ``now``."""
    return sum((run_cost(use, defs, now) for use in runs), 0.0)


def holds_machine(node: Node) -> bool:
    """Whether ``node`` holds a machine now, and so accrues its price (powering up, up or
    powering down)."""
    return node.state in _WITH_MACHINE


def idle_cost_per_hour(nodes: Iterable[Node]) -> float:
    """What the machines up now cost per hour in the parts of them no job holds: for each node
    holding a machine, its price times the share of its CPUs not allocated (none while an
    exclusive job holds it). A node booting for a job counts as held, though the job is only
    charged once it runs."""
    total = 0.0
    for node in nodes:
        d = node.defn
        if d.price_per_hour <= 0 or not holds_machine(node):
            continue
        held = node_share(node.alloc_cpus, d.cpus, exclusive=node.exclusive_job is not None)
        total += d.price_per_hour * (1.0 - held)
    return total

"""The backfill plan: which resources of which node are held, from now on, and until when.

Running jobs hold their allocation until their time limit (the only end the scheduler may count
on); reservations hold a pending job's future allocation from its planned start to its planned
end. The plan answers the two questions every backfilling policy asks:

- :meth:`Plan.fit`: can a job start at ``t`` and keep its resources until ``t + limit`` without
  touching anything already held or reserved? (Backfilling a job *now* is ``fit`` at now.)
- :meth:`Plan.earliest`: what is the first such ``t``? (A reservation.)

Each node has one :class:`Line` per resource the scheduler counts (CPUs always; memory when it
is a consumable; GPUs on nodes that have them), and each partition a line of its total free
CPUs, a necessary condition checked before any node is looked at.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from stratus.engine.model import Allocation, JobSpec, NodeDef
from stratus.engine.placement import Avail, place
from stratus.engine.timeline import INF, Line

# How many candidate start times one reservation search may try before giving up (Slurm bounds
# its backfill the same way). Only multi-node searches can need more than one.
MAX_START_CANDIDATES = 200


@dataclass(slots=True)
class NodeLines:
    """The free resources of one node over time."""

    name: str
    cpus: Line
    memory: Line | None  # None: memory is not a consumable (or the node has none to count)
    gpus: Line | None  # None: the node has no GPUs
    total_cpus: int
    total_memory_mb: int
    total_gpus: int
    totals: list[Line]  # the partition totals this node counts in (not its own line)


def cpus_needed(spec: JobSpec) -> int:
    """The fewest CPUs a job can run on: a lower bound for quick checks on totals."""
    if spec.exclusive:
        return 1
    return max(1, spec.ntasks * spec.cpus_per_task)


class Plan:
    """Every node's free resources over time. Mutated only by the engine, in step with its jobs."""

    def __init__(self, nodes: Iterable[NodeDef], now: float, memory_scheduling: bool) -> None:
        self.now = now
        # Per candidate list: how many of its first nodes are full at the present. Capacity at
        # the present only comes back through give() (bumping the epoch) or as time moves, so
        # a pass placing thousands of jobs does not walk the same full nodes again and again.
        self._epoch = 0
        self._full: dict[int, tuple[Sequence[str], float, int, int]] = {}
        self.memory_scheduling = memory_scheduling
        self.nodes: dict[str, NodeLines] = {}
        self.totals: dict[str, Line] = {}
        members: dict[str, list[NodeLines]] = {}
        for d in nodes:
            nl = self.nodes[d.name] = NodeLines(
                name=d.name,
                cpus=Line(now, d.cpus),
                memory=Line(now, d.memory_mb) if memory_scheduling else None,
                gpus=Line(now, d.gpus) if d.gpus else None,
                total_cpus=d.cpus,
                total_memory_mb=d.memory_mb,
                total_gpus=d.gpus,
                totals=[],
            )
            for p in d.partitions:
                members.setdefault(p, []).append(nl)
        for p, nls in members.items():
            if len(nls) == 1:
                self.totals[p] = nls[0].cpus  # a one-node partition's total is its node
                continue
            total = self.totals[p] = Line(now, sum(nl.total_cpus for nl in nls))
            for nl in nls:
                nl.totals.append(total)

    def advance(self, now: float) -> None:
        """Move the plan's origin to ``now``; lines forget their past as they are next touched."""
        if now > self.now:
            self.now = now
            for total in self.totals.values():
                total.advance(now)

    # -- holding ------------------------------------------------------------------------------

    def take(self, alloc: Allocation, start: float, end: float) -> None:
        """``alloc`` is held on ``[start, end)`` (a running job, or a reservation)."""
        self._apply(alloc, start, end, -1)

    def give(self, alloc: Allocation, start: float, end: float) -> None:
        """Undo :meth:`take` on ``[start, end)`` (a job ended early, a reservation dropped)."""
        self._apply(alloc, start, end, +1)

    def _apply(self, alloc: Allocation, start: float, end: float, sign: int) -> None:
        now = self.now
        if sign > 0 and start <= now:
            self._epoch += 1
        if start < now:
            start = now
        if end <= start:
            return
        nodes = self.nodes
        for name, c, m, g in zip(alloc.nodes, alloc.cpus, alloc.memory_mb, alloc.gpus, strict=True):
            nl = nodes.get(name)
            if nl is None:
                continue  # a node removed from the configuration
            nl.cpus.advance(now)
            nl.cpus.add(start, end, sign * c)
            if nl.memory is not None and m:
                nl.memory.advance(now)
                nl.memory.add(start, end, sign * m)
            if nl.gpus is not None and g:
                nl.gpus.advance(now)
                nl.gpus.add(start, end, sign * g)
            for total in nl.totals:
                total.add(start, end, sign * c)

    # -- questions ----------------------------------------------------------------------------

    def window(self, name: str, start: float, end: float) -> Avail:
        """The least of each resource node ``name`` has free at any time in ``[start, end)``."""
        nl = self.nodes[name]
        cpus = nl.cpus.min_over(start, end)
        memory = nl.memory.min_over(start, end) if nl.memory is not None else nl.total_memory_mb
        gpus = nl.gpus.min_over(start, end) if nl.gpus is not None else 0
        empty = cpus == nl.total_cpus and memory == nl.total_memory_mb and gpus == nl.total_gpus
        return Avail(name, cpus, memory, gpus, nl.total_cpus, nl.total_memory_mb, nl.total_gpus, empty)

    def _windows(self, names: Sequence[str], start: float, end: float, first: int = 0) -> Iterator[Avail]:
        for k in range(first, len(names)):
            a = self.window(names[k], start, end)
            if a.cpus > 0:
                yield a

    def _full_prefix(self, names: Sequence[str]) -> int:
        """How many nodes at the front of ``names`` have no CPU free at the present."""
        now = self.now
        entry = self._full.get(id(names))
        k = 0
        if entry is not None and entry[0] is names and entry[1] == now and entry[2] == self._epoch:
            k = entry[3]
        nodes = self.nodes
        while k < len(names) and nodes[names[k]].cpus.at(now) <= 0:
            k += 1
        if len(self._full) > 1000:
            self._full.clear()
        self._full[id(names)] = (names, now, self._epoch, k)
        return k

    def fit(
        self, spec: JobSpec, names: Sequence[str], partition: str, start: float, duration: float
    ) -> Allocation | None:
        """Where ``spec`` could run on ``[start, start+duration)``, among ``names`` (in order).

        ``names`` are the nodes the job may use, in the order they are preferred; the first
        that can take it are chosen (see :func:`placement.place`). None if it does not fit.
        """
        end = start + duration
        total = self.totals.get(partition)
        if total is not None and total.min_over(start, end) < cpus_needed(spec):
            return None
        first = self._full_prefix(names) if start == self.now else 0
        return place(spec, self._windows(names, start, end, first), self.memory_scheduling)

    def earliest(
        self,
        spec: JobSpec,
        names: Sequence[str],
        partition: str,
        after: float,
        duration: float,
        horizon: float = INF,
    ) -> tuple[float, Allocation] | None:
        """The first start ``t >= after`` (and ``<= horizon``) at which ``spec`` fits, and where.

        Candidate times are those at which the partition's total of free CPUs allows it; each
        is then checked node by node. None if no start is found (within the bounds).
        """
        total = self.totals.get(partition)
        if total is None or not names:
            return None
        need = cpus_needed(spec)
        t: float | None = max(after, self.now)
        for _ in range(MAX_START_CANDIDATES):
            assert t is not None
            t = total.earliest(need, duration, t)
            if t is None or t > horizon:
                return None
            alloc = place(spec, self._windows(names, t, t + duration), self.memory_scheduling)
            if alloc is not None:
                return t, alloc
            t = total.next_change(t)
            if t is None:
                return None
        return None

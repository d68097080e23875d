"""Resource fit: can a job's request be placed on a set of nodes, and where.

Pure functions over :class:`Avail` records (a node's free resources at some moment), so the same
code answers "can it start now", "when could it start" (backfill reservations, on a copy with
future releases applied) and "could it ever run here" (on pristine nodes, at submit time).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from stratus.engine.model import Allocation, JobSpec


@dataclass(slots=True)
class Avail:
    """Free resources of one node at some moment; mutated as allocations are applied."""

    name: str
    cpus: int
    memory_mb: int
    gpus: int
    total_cpus: int
    total_memory_mb: int
    total_gpus: int
    empty: bool  # no job on it (required by exclusive jobs)
    rank: tuple[int, int, int] = (0, 0, 0)  # preference: lower first

    def copy(self) -> Avail:
        return Avail(
            self.name,
            self.cpus,
            self.memory_mb,
            self.gpus,
            self.total_cpus,
            self.total_memory_mb,
            self.total_gpus,
            self.empty,
            self.rank,
        )


def shape_of(spec: JobSpec) -> tuple[int | bool | None, ...]:
    """The fields that decide whether a request fits: equal shapes fit or fail together."""
    return (
        spec.min_nodes,
        spec.max_nodes,
        spec.ntasks,
        spec.cpus_per_task,
        spec.ntasks_per_node,
        spec.mem_per_node_mb,
        spec.mem_per_cpu_mb,
        spec.gpus_per_node,
        spec.exclusive,
    )


def _task_capacity(spec: JobSpec, a: Avail, memory_scheduling: bool) -> int:
    """How many of the job's tasks node ``a`` can host now (0: unusable)."""
    if spec.exclusive and not a.empty:
        return 0
    cpt = spec.cpus_per_task
    cap = a.cpus // cpt
    if spec.ntasks_per_node is not None:
        cap = min(cap, spec.ntasks_per_node)
    if cap <= 0:
        return 0
    if spec.gpus_per_node > a.gpus:
        return 0
    mem_pn = spec.mem_per_node_mb
    if mem_pn is not None and mem_pn > a.total_memory_mb:
        return 0
    if spec.mem_per_cpu_mb is not None:
        per_task = spec.mem_per_cpu_mb * cpt
        if per_task > a.total_memory_mb:
            return 0
        if memory_scheduling:
            cap = min(cap, a.memory_mb // per_task)
    if memory_scheduling and mem_pn is not None:
        need = a.total_memory_mb if mem_pn == 0 else mem_pn
        if need > a.memory_mb:
            return 0
    return max(cap, 0)


def node_limits(spec: JobSpec) -> tuple[int, int]:
    """The (min, max) node count a request allows."""
    lo = max(1, spec.min_nodes)
    if spec.max_nodes is not None:
        hi = max(lo, spec.max_nodes)
    else:
        # Without an explicit maximum a job spreads over at most one node per task.
        hi = max(lo, spec.ntasks)
    return lo, hi


def place(spec: JobSpec, candidates: Iterable[Avail], memory_scheduling: bool) -> Allocation | None:
    """Choose nodes for ``spec`` among ``candidates`` (already in preference order).

    Greedy in preference order: take usable nodes until the node minimum is met and every task
    has a slot, never more than the node maximum. Once at the maximum without a slot for every
    task, a later node with room for more tasks replaces the chosen node with the least (so
    ``-N 1 -n 8`` finds the first node with 8 CPUs free, past smaller or busier ones). Tasks are
    spread block-wise: every chosen node gets one, then each node is filled up to its capacity
    in order. Returns None if it does not fit.
    """
    lo, hi = node_limits(spec)
    chosen: list[tuple[Avail, int]] = []
    slots = 0
    for a in candidates:
        cap = _task_capacity(spec, a, memory_scheduling)
        if cap <= 0:
            continue
        if len(chosen) >= hi:
            k = min(range(len(chosen)), key=lambda i: chosen[i][1])
            if cap <= chosen[k][1]:
                continue
            slots -= chosen[k][1]
            del chosen[k]
        chosen.append((a, cap))
        slots += cap
        if len(chosen) >= lo and slots >= spec.ntasks:
            break
    if len(chosen) < lo or slots < spec.ntasks or len(chosen) < 1:
        return None
    # Each chosen node needs at least one task; a node beyond the task count would sit idle.
    if len(chosen) > spec.ntasks:
        return None
    tasks = [1] * len(chosen)
    left = spec.ntasks - len(chosen)
    for i, (_, cap) in enumerate(chosen):
        if left <= 0:
            break
        extra = min(cap - 1, left)
        tasks[i] += extra
        left -= extra
    cpus: list[int] = []
    mems: list[int] = []
    gpus: list[int] = []
    for (a, _), t in zip(chosen, tasks, strict=True):
        c = a.total_cpus if spec.exclusive else t * spec.cpus_per_task
        cpus.append(c)
        gpus.append(a.total_gpus if spec.exclusive else spec.gpus_per_node)
        mems.append(_memory_for(spec, a, c) if memory_scheduling else 0)
    return Allocation(
        nodes=tuple(a.name for a, _ in chosen),
        cpus=tuple(cpus),
        memory_mb=tuple(mems),
        gpus=tuple(gpus),
        tasks=tuple(tasks),
    )


def _memory_for(spec: JobSpec, a: Avail, cpus: int) -> int:
    """Memory a job holds on a node when memory is a consumable resource."""
    if spec.exclusive or spec.mem_per_node_mb == 0:
        return a.total_memory_mb
    if spec.mem_per_node_mb is not None:
        return spec.mem_per_node_mb
    if spec.mem_per_cpu_mb is not None:
        return spec.mem_per_cpu_mb * cpus
    # No request: a share of the node proportional to the CPUs held (Slurm's DefMemPerCPU idea),
    # so memory-based scheduling never lets unrequested memory block other jobs entirely.
    return a.total_memory_mb * cpus // max(a.total_cpus, 1)


def apply(alloc: Allocation, avail: dict[str, Avail], sign: int = -1) -> None:
    """Take (sign=-1) or give back (sign=+1) an allocation's resources on ``avail`` records."""
    for name, c, m, g in zip(alloc.nodes, alloc.cpus, alloc.memory_mb, alloc.gpus, strict=True):
        a = avail.get(name)
        if a is None:
            continue
        a.cpus += sign * c
        a.memory_mb += sign * m
        a.gpus += sign * g
        if sign < 0:
            a.empty = False
        elif a.cpus >= a.total_cpus:
            a.empty = True

"""The scheduling engine: a deterministic state machine over jobs, nodes and partitions.

Pure by contract: no I/O, no threads, no clock. Every method takes ``now`` and returns the
actions the caller must carry out (launch, kill, power up, power down). State changes are
recorded in :attr:`Engine.journal` (one :class:`Transition` each) and the changed entities are
listed in ``dirty_jobs``/``dirty_nodes`` so the caller can persist exactly what changed, in one
transaction, before acting or acknowledging anything. The live controller and the simulator run
this same code.

:class:`Engine` is one object made of one mixin per concern, each in its own module with the
guarantees it keeps (all share the state and primitives of :mod:`stratus.engine.base`):

- :mod:`~stratus.engine.lifecycle`: submit, cancel, hold, requeue, update, the end of a run;
- :mod:`~stratus.engine.arrays`: array tasks split off their pending remainder;
- :mod:`~stratus.engine.dependencies`: dependency conditions, singletons, never-satisfied;
- :mod:`~stratus.engine.ranking`: priorities and fair share;
- :mod:`~stratus.engine.scheduling`: the scheduling pass and its backfilling policies;
- :mod:`~stratus.engine.allocations`: what jobs hold and reserve (nodes, plan, user usage);
- :mod:`~stratus.engine.nodes`: node events, fleet stop/start, power-up and power-down;
- :mod:`~stratus.engine.timers`: ticks (time limits, warnings, timeouts) and the next wake-up.

This module combines them and rebuilds the engine from the store (:meth:`Engine.restore`).
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable

from stratus.engine.allocations import Allocations
from stratus.engine.arrays import Arrays
from stratus.engine.base import _HOLDING, CancelOutcome, Reservation
from stratus.engine.dependencies import Dependencies
from stratus.engine.lifecycle import JobLifecycle
from stratus.engine.model import Job, Node
from stratus.engine.nodes import NodePower
from stratus.engine.ranking import Ranking
from stratus.engine.scheduling import SchedulingPass
from stratus.engine.states import JobState, NodeState
from stratus.engine.timers import Timers

__all__ = ["CancelOutcome", "Engine", "Reservation"]


class Engine(SchedulingPass, JobLifecycle, Arrays, Dependencies, Allocations, NodePower, Timers, Ranking):
    """All live scheduling state of one cluster, and the rules that change it.

    ``groups`` maps each compute-resource group (``NodeDef.group``) to its nodes, in node order.
    """

    def restore(self, jobs: Iterable[Job], node_states: Iterable[Node], next_job_id: int) -> None:
        """Rebuild live state from the store: node records first, then the jobs they hold.

        Allocation counters on nodes are recomputed from the jobs (never trusted from storage),
        so a crash between writes cannot leave a node holding resources for a finished job.
        Derived state (the plan, reservations, priorities) is rebuilt by the next full pass.
        """
        now = self.plan.now
        for saved in node_states:
            node = self.nodes.get(saved.name)
            if node is None:
                continue  # a node removed from the config
            self._nodes_in[node.state].discard(node.name)
            node.state = saved.state
            self._nodes_in[node.state].add(node.name)
            node.state_time = saved.state_time
            node.reason = saved.reason
            node.reason_time = saved.reason_time
            node.instance_id = saved.instance_id
            node.boot_time = saved.boot_time
            node.idle_since = saved.idle_since
            node.last_busy_time = saved.last_busy_time
            node.responding = False  # until its agent reconnects
            node.jobs = set()
            node.alloc_cpus = node.alloc_memory_mb = node.alloc_gpus = 0
        for job in jobs:
            self.jobs[job.id] = job
            if job.array_id is not None:
                self._array_tasks.setdefault(job.array_id, set())
                self._array_active.setdefault(job.array_id, 0)
                if job.task_id is not None and job.id != job.array_id:
                    self._array_tasks[job.array_id].add(job.id)
                if job.task_id is not None and job.state in _HOLDING:
                    self._array_active[job.array_id] += 1
            if job.state in _HOLDING and job.alloc is not None:
                self._hold(job, now)
                if job.state != JobState.CONFIGURING and job.start_time is not None:
                    self._running_since[job.id] = now
                    self.fairshare.charge_past(
                        job.spec.share, job.spec.user, job.alloc.total_cpus, job.start_time, now, now
                    )
            if job.state == JobState.PENDING:
                self._enqueue(job)
            elif job.state.final:
                heapq.heappush(
                    self._finished_heap, (job.end_time if job.end_time is not None else now, job.id)
                )
            if job.state == JobState.RUNNING and job.time_limit_s is not None and job.start_time:
                self._push_deadline(job, job.start_time)
                self._arm_warning(job, job.start_time)
        for name in self._nodes_in[NodeState.UP]:
            node = self.nodes[name]
            if not node.jobs:
                self._idle(node, node.idle_since)
        self._charged_at = now
        self.next_job_id = max(next_job_id, max(self.jobs, default=0) + 1)
        self._nodes_changed()
        # Nodes UP without an agent are not trusted until they reconnect (see node_responding).

    def set_partition_state(self, name: str, up: bool, disabled: bool = False) -> None:
        """Restore a partition's UP/INACTIVE state and whether an administrator disabled it (used
        when reloading from the store; a disabled partition is never UP)."""
        self.partitions[name].up = up and not disabled
        self.partitions[name].disabled = disabled

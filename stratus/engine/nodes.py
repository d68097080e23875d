"""Nodes and power: registration, failure, power-up of static nodes, power-down of idle ones.

What it guarantees:

- Every job on a node that fails loses that run: the run is recorded as NODE_FAIL and the job is
  requeued as run ``n+1`` (or ends in NODE_FAIL when it may not be requeued); its processes on
  the surviving nodes are killed, so the next run never overlaps them.
- Static nodes are kept up while the fleet runs: one without an instance is powered up again,
  after a backoff that doubles with each failure in a row (at most 60 s).
- A powering-up node that has not registered within ``resume_timeout_s`` is failed.
- Idle dynamic nodes power down after ``scaledown_idle_s`` without a job; static ones never do.
- Every PowerUp names the compute-resource group (``NodeDef.group``) of each node it launches
  (``PowerUp.by_group``), and ``groups`` / :meth:`NodePower.group_of` map groups to nodes and
  back, so a fleet can batch its launches per group.
- Powered-down dynamic nodes can be held down (:meth:`NodePower.hold_down`: DOWN, no instance,
  with a reason) so that no pass picks them, and released again (:meth:`NodePower.release_down`);
  the fleet does so for a compute resource without capacity.
- A dynamic node that failed while powering up (its agent never registered) can be kept DOWN
  once its instance is gone (:meth:`NodePower.node_terminated` with ``hold``), its reason kept,
  until :meth:`NodePower.release_down`; otherwise a failed dynamic node is POWERED_DOWN again
  as soon as its instance is gone. Failed static nodes stay DOWN and are replaced.
- With ``EngineConfig.external_power`` another scheduler decides: dynamic nodes power up only
  when :meth:`NodePower.resume` names them and down only when :meth:`NodePower.suspend` does;
  static nodes are still kept up.
- Partitions can be deactivated one by one (:meth:`NodePower.deactivate_partitions`, the fleet's
  protected mode): nothing starts there any more, and nodes left in no active partition power
  down; static nodes are kept up only while one of their partitions is active.
- An administrator can disable a partition (:meth:`NodePower.set_partition_enabled`): it is
  INACTIVE as a deactivated one is (running jobs go on, nothing new starts) and stays INACTIVE
  when the compute fleet starts, until it is enabled again; enabling it makes it UP if the fleet
  runs. The flag is part of the partition's stored state (``Partition.disabled``).
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable

from stratus.engine.base import _HOLDING, EngineBase, _final_reason
from stratus.engine.model import Action, Job, KillJob, PowerDown, Transition, record_key
from stratus.engine.states import JobState, NodeState


class NodePower(EngineBase):
    """Node events (registered, lost, terminated, silent), fleet stop/start and power decisions."""

    def node_up(self, name: str, now: float, instance_id: str | None = None) -> list[Action]:
        """A node's agent registered. Jobs waiting on it start if all their nodes are up."""
        node = self.nodes[name]
        if node.state == NodeState.UP:
            self.node_responding(name, True, now)
            return []
        if node.state != NodeState.POWERING_UP:
            return []
        self._node_to(node, NodeState.UP, now, "agent", "registered")
        node.reason = None
        node.responding = True
        node.boot_time = now
        if instance_id is not None:
            node.instance_id = instance_id
        self._node_failures.pop(name, None)
        actions: list[Action] = []
        for job_id in sorted(node.jobs):
            job = self.jobs.get(job_id)
            if job is None or job.state != JobState.CONFIGURING or job.alloc is None:
                continue
            if all(self.nodes[n].state == NodeState.UP for n in job.alloc.nodes):
                self._start_running(job, now, actions)
        return actions

    def node_lost(self, name: str, now: float, reason: str) -> list[Action]:
        """A node failed (agent gone, boot timed out, launch failed). Its jobs are requeued.

        A requeue is explicit and recorded: the run ends with a NODE_FAIL transition and the job
        returns to PENDING as run ``n+1``. Jobs that may not be requeued end in NODE_FAIL.
        """
        node = self.nodes[name]
        if node.state in (NodeState.DOWN, NodeState.POWERED_DOWN):
            return []
        actions: list[Action] = []
        for job_id in sorted(node.jobs):
            job = self.jobs.get(job_id)
            if job is None:
                continue
            self._fail_job_on_node(job, now, reason, actions, lost={name})
        self._node_to(node, NodeState.DOWN, now, "node_fail", reason)
        node.reason = reason
        node.reason_time = now
        node.responding = False
        self._node_failures[name] = self._node_failures.get(name, 0) + 1
        backoff = min(60.0, 2.0 ** (self._node_failures[name] - 1))
        self._node_retry_at[name] = now + backoff
        actions.append(PowerDown((name,)))
        return actions

    def _fail_job_on_node(
        self, job: Job, now: float, reason: str, actions: list[Action], lost: set[str]
    ) -> None:
        """End the current run of ``job`` because nodes in ``lost`` are gone."""
        assert job.alloc is not None
        # Its processes on surviving nodes must stop too, or the requeued run would overlap them.
        others = tuple(n for n in job.alloc.nodes if n not in lost and self.nodes[n].state == NodeState.UP)
        if job.state == JobState.COMPLETING and job.final_state is not None:
            # It was being cancelled or timed out anyway: that is how it ends.
            final = job.final_state
            self._job_to(job, final, now, "node_fail", reason)
            job.end_time = now
            job.final_state = None
            job.reason = _final_reason(final)
            self._run_ended(job, final, now, reason)
            if others:
                actions.append(KillJob(job.id, job.run, others, "NODE_FAIL"))
            self._release(job, now)
            return
        if job.state == JobState.RUNNING and others:
            actions.append(KillJob(job.id, job.run, others, "NODE_FAIL"))
        if job.state in (JobState.RUNNING, JobState.COMPLETING):  # a booting job never ran
            self._run_ended(job, JobState.NODE_FAIL, now, reason)
        self._release(job, now)
        if job.spec.requeue:
            self.journal.append(
                Transition(
                    "job", record_key(job), job.state, JobState.NODE_FAIL, now, "node_fail", reason, job.run
                )
            )
            self._back_to_pending(job, now, "requeue", f"NodeFail: {reason}")
        else:
            self._job_to(job, JobState.NODE_FAIL, now, "node_fail", reason)
            job.end_time = now
            job.reason = "NodeDown"

    def node_terminated(self, name: str, now: float, hold: bool = False) -> None:
        """The provider confirmed the node's instance is gone.

        A POWERING_DOWN node is POWERED_DOWN. A DOWN dynamic node is POWERED_DOWN too, unless
        ``hold`` and it failed to boot (:meth:`failed_to_boot`): it then stays DOWN without an
        instance, its reason kept, until :meth:`release_down`. A DOWN static node stays DOWN
        (it is replaced).
        """
        node = self.nodes[name]
        held = hold and self.failed_to_boot(name)
        node.instance_id = None
        node.boot_time = None
        if node.state == NodeState.POWERING_DOWN:
            self._node_to(node, NodeState.POWERED_DOWN, now, "provider", "terminated")
            node.reason = None
        elif node.state == NodeState.DOWN and not node.defn.static and not held:
            self._node_to(node, NodeState.POWERED_DOWN, now, "provider", "terminated")
        self.dirty_nodes.add(name)

    def failed_to_boot(self, name: str) -> bool:
        """Whether node ``name`` is DOWN after failing while it powered up: its launch failed,
        it did not register within the resume timeout, or its bootstrap failed (its agent never
        registered, so it has no boot time). A node that failed once up has one."""
        node = self.nodes[name]
        return node.state == NodeState.DOWN and node.boot_time is None

    def node_responding(self, name: str, responding: bool, now: float) -> None:
        """Mark an UP node's agent as (not) connected; Slurm shows ``*`` while it is not."""
        node = self.nodes[name]
        if node.responding != responding:
            node.responding = responding
            self.dirty_nodes.add(name)
            self._nodes_changed()

    def stop_fleet(self, now: float) -> list[Action]:
        """Stop the compute fleet: partitions INACTIVE, every node powered down.

        Running jobs lose their nodes and are requeued (recorded), like ParallelCluster's stop.
        """
        self.fleet_running = False
        self._nodes_changed()
        for p in self.partitions.values():
            if p.up:
                p.up = False
                self.dirty_partitions.add(p.name)
                self.journal.append(Transition("partition", p.name, "UP", "INACTIVE", now, "user"))
        actions: list[Action] = []
        to_stop = [n.name for n in self.nodes.values() if n.state in (NodeState.UP, NodeState.POWERING_UP)]
        for node in self.nodes.values():
            if node.state in (NodeState.UP, NodeState.POWERING_UP):
                for job_id in sorted(node.jobs):
                    job = self.jobs.get(job_id)
                    if job is not None and job.state in _HOLDING:
                        self._fail_job_on_node(job, now, "compute fleet stopped", actions, set(to_stop))
                self._node_to(node, NodeState.POWERING_DOWN, now, "user", "fleet stop")
        if to_stop:
            actions.append(PowerDown(tuple(to_stop)))
        return actions

    def start_fleet(self, now: float) -> list[Action]:
        """Start the compute fleet: partitions UP (but those an administrator disabled), static
        nodes power up on the next tick."""
        self.fleet_running = True
        self._nodes_changed()
        for p in self.partitions.values():
            if not p.up and not p.disabled:
                p.up = True
                self.dirty_partitions.add(p.name)
                self.journal.append(Transition("partition", p.name, "INACTIVE", "UP", now, "user"))
        return self.tick(now)

    def deactivate_partitions(
        self, names: Iterable[str], now: float, cause: str, reason: str = ""
    ) -> list[Action]:
        """Make partitions ``names`` INACTIVE (recorded with ``cause`` and ``reason``).

        No job starts there any more. Nodes left in no active partition power down unless a job
        runs on them: a job waiting for such a node to boot is requeued, as by a fleet stop.
        """
        changed = False
        for name in names:
            p = self.partitions.get(name)
            if p is not None and p.up:
                p.up = False
                changed = True
                self.dirty_partitions.add(p.name)
                self.journal.append(Transition("partition", p.name, "UP", "INACTIVE", now, cause, reason))
        if not changed:
            return []
        self._nodes_changed()
        actions: list[Action] = []
        to_stop: list[str] = []
        for node in self.nodes.values():
            if node.state not in (NodeState.UP, NodeState.POWERING_UP) or self._in_active_partition(
                node.name
            ):
                continue
            if any(
                self.jobs[j].state in (JobState.RUNNING, JobState.COMPLETING)
                for j in node.jobs
                if j in self.jobs
            ):
                continue
            to_stop.append(node.name)
        for name in to_stop:
            node = self.nodes[name]
            for job_id in sorted(node.jobs):
                job = self.jobs.get(job_id)
                if job is not None and job.state in _HOLDING:
                    self._fail_job_on_node(job, now, reason or "partition inactive", actions, set(to_stop))
            self._node_to(node, NodeState.POWERING_DOWN, now, cause, reason)
        if to_stop:
            to_stop.sort(key=self._order.__getitem__)
            actions.append(PowerDown(tuple(to_stop)))
        return actions

    def set_partition_enabled(
        self, name: str, enabled: bool, now: float, cause: str = "admin"
    ) -> list[Action]:
        """Disable partition ``name`` (INACTIVE until enabled, fleet starts included) or enable it
        (UP again if the compute fleet runs, else when it starts).

        Disabling is :meth:`deactivate_partitions`: running jobs go on, nothing new starts there,
        nodes left in no active partition power down once idle (a job still waiting for its node
        to boot is requeued). Recorded (journal, stored state) with ``cause``.
        """
        p = self.partitions[name]
        if p.disabled == (not enabled):
            return []
        p.disabled = not enabled
        self.dirty_partitions.add(name)
        if not enabled:
            return self.deactivate_partitions([name], now, cause, "disabled")
        if self.fleet_running and not p.up:
            p.up = True
            self._nodes_changed()
            self.journal.append(Transition("partition", name, "INACTIVE", "UP", now, cause, "enabled"))
        return []

    def _in_active_partition(self, name: str) -> bool:
        """Whether node ``name`` is in a partition that is UP (work can start there)."""
        parts = self.partitions
        return any(p in parts and parts[p].up for p in self.nodes[name].defn.partitions)

    def hold_down(
        self, names: Iterable[str], now: float, cause: str, reason: str, since: float | None = None
    ) -> list[str]:
        """Set the powered-down dynamic nodes among ``names`` DOWN with ``reason``; no pass picks
        them until :meth:`release_down`. The others are left as they are. Returns those set.

        ``since`` is the reason's time when it was given before now (to nodes held together)."""
        held: list[str] = []
        for name in names:
            node = self.nodes[name]
            if node.state != NodeState.POWERED_DOWN or node.defn.static or node.instance_id is not None:
                continue
            self._node_to(node, NodeState.DOWN, now, cause, reason)
            node.reason = reason
            node.reason_time = now if since is None else since
            held.append(name)
        return held

    def release_down(self, names: Iterable[str], now: float, cause: str, reason: str = "") -> list[str]:
        """Return the DOWN dynamic nodes among ``names`` that have no instance to POWERED_DOWN
        (usable again, reason cleared). The others are left as they are. Returns those released.

        Held after a capacity error (:meth:`hold_down`) or after failing to boot
        (:meth:`node_terminated` with ``hold``), they are released the same way."""
        released: list[str] = []
        for name in names:
            node = self.nodes[name]
            if node.state != NodeState.DOWN or node.defn.static or node.instance_id is not None:
                continue
            self._node_to(node, NodeState.POWERED_DOWN, now, cause, reason)
            node.reason = None
            node.reason_time = None
            node.boot_time = None
            released.append(name)
        return released

    def _check_boot_timeouts(self, now: float, actions: list[Action]) -> None:
        limit = self.config.resume_timeout_s
        for name in sorted(self._nodes_in[NodeState.POWERING_UP], key=self._order.__getitem__):
            node = self.nodes[name]
            if node.state == NodeState.POWERING_UP and now - node.state_time >= limit:
                actions.extend(self.node_lost(node.name, now, "ResumeTimeout reached"))

    def _static_down(self) -> list[str]:
        """Static nodes without an instance (powered down, or failed and gone) that are in an
        active partition, in node order."""
        if not self._static_names:
            return []
        down = self._nodes_in[NodeState.POWERED_DOWN], self._nodes_in[NodeState.DOWN]
        if not (down[0] or down[1]):
            return []
        names = [
            n
            for nodes in down
            for n in (self._static_names & nodes)
            if self.nodes[n].instance_id is None and self._in_active_partition(n)
        ]
        if len(names) > 1:
            names.sort(key=self._order.__getitem__)
        return names

    def _keep_static_nodes_up(self, now: float, actions: list[Action]) -> None:
        if not self.fleet_running:
            return
        names: list[str] = []
        for name in self._static_down():
            node = self.nodes[name]
            if self._node_retry_at.get(node.name, 0.0) > now:
                continue
            cause = "replace" if node.state == NodeState.DOWN else "static"
            self._node_to(node, NodeState.POWERING_UP, now, cause)
            names.append(node.name)
        if names:
            actions.append(self._power_up(names))

    def _idle_entry_valid(self, since: float, name: str) -> bool:
        node = self.nodes.get(name)
        return (
            node is not None
            and node.state == NodeState.UP
            and not node.jobs
            and not node.defn.static
            and node.idle_since == since
        )

    def resume(self, names: Iterable[str], now: float) -> list[Action]:
        """Power up the powered-down dynamic nodes among ``names`` (another scheduler asked, with
        ``external_power``); the others, and all of them while the fleet is stopped, are left as
        they are. One PowerUp for those moved, or no action."""
        if not self.fleet_running:
            return []
        up: list[str] = []
        for name in names:
            node = self.nodes.get(name)
            if node is None or node.defn.static or node.state != NodeState.POWERED_DOWN:
                continue
            if not self._in_active_partition(name):
                continue
            self._node_to(node, NodeState.POWERING_UP, now, "resume", "power up requested")
            up.append(name)
        if not up:
            return []
        up.sort(key=self._order.__getitem__)
        return [self._power_up(up)]

    def suspend(self, names: Iterable[str], now: float) -> list[Action]:
        """Power down the dynamic nodes among ``names`` that are up or powering up (another
        scheduler asked, with ``external_power``). Static nodes are never powered down here.
        One PowerDown for those moved, or no action."""
        down: list[str] = []
        for name in names:
            node = self.nodes.get(name)
            if node is None or node.defn.static:
                continue
            if node.state not in (NodeState.UP, NodeState.POWERING_UP):
                continue
            self._node_to(node, NodeState.POWERING_DOWN, now, "suspend", "power down requested")
            down.append(name)
        if not down:
            return []
        down.sort(key=self._order.__getitem__)
        return [PowerDown(tuple(down))]

    def _power_down_idle(self, now: float, actions: list[Action]) -> None:
        if self.config.external_power:
            self._idle_heap.clear()  # the other scheduler powers nodes down
            return
        idle = self.config.scaledown_idle_s
        names: list[str] = []
        heap = self._idle_heap
        while heap and heap[0][0] + idle <= now:
            since, name = heapq.heappop(heap)
            if not self._idle_entry_valid(since, name):
                continue
            node = self.nodes[name]
            self._node_to(node, NodeState.POWERING_DOWN, now, "timer", "idle")
            names.append(name)
        if names:
            names.sort(key=self._order.__getitem__)
            actions.append(PowerDown(tuple(names)))

    def group_of(self, name: str) -> str:
        """The compute-resource group of node ``name`` (``""`` if it was declared without one).

        The inverse of ``groups``; ``KeyError`` for a node the cluster does not have.
        """
        return self._group_of[name]

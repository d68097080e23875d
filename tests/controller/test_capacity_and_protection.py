"""Through a running head node: the insufficient capacity fail-over and protected mode.

A real head node (in-process, on loopback) with a provider that hands out records, or refuses,
per compute resource: a compute resource without capacity is disabled (its nodes ``down~`` in the
Slurm views) and its queue's jobs go to the other one; a queue whose launches keep failing is put
in protected mode (partition INACTIVE, compute fleet PROTECTED) until the fleet is started again.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from stratus.controller.core import Controller
from stratus.controller.lifecycle import FleetStatus
from stratus.headnode.compose import HeadNode
from stratus.pcluster import shapes
from stratus.providers.base import (
    Bootstrap,
    CapacityError,
    ConfigurationError,
    CreateResult,
    NodeGroup,
)
from stratus.slurm.commands import run_command
from stratus.slurm.views import BatchRequest, ClientContext
from tests.controller.inprocess import RecordingProvider, ScriptedAgent, head_node

CONFIG = """\
HeadNode:
  InstanceType: t3.micro
Scheduling:
  Scheduler: slurm
  SlurmQueues:
  - Name: q
    ComputeResources:
    - Name: a
      InstanceType: t3.micro
      MinCount: 0
      MaxCount: 2
    - Name: b
      InstanceType: t3.micro
      MinCount: 0
      MaxCount: 2
Stratus:
  InsufficientCapacityTimeout: 2
  ProtectedFailureCount: 3
"""

HELD = "(Code:InsufficientInstanceCapacity)Temporarily disabling node due to insufficient capacity"


class ScriptedProvider(RecordingProvider):
    """Records launches; compute resources in ``short`` have no capacity, those in ``refused``
    refuse every request (as EC2 does with wrong credentials)."""

    def __init__(self, short: set[str] = frozenset(), refused: set[str] = frozenset()) -> None:  # type: ignore[assignment]
        super().__init__()
        self.short = set(short)
        self.refused = set(refused)
        self.calls: list[tuple[str, tuple[str, ...]]] = []

    async def create(
        self, group: NodeGroup, names: Sequence[str], token: str, bootstrap: Bootstrap
    ) -> CreateResult:
        self.calls.append((group.name, tuple(names)))
        if group.name in self.short:
            return CreateResult(
                [], dict.fromkeys(names, CapacityError("InsufficientInstanceCapacity", "none"))
            )
        if group.name in self.refused:
            err = ConfigurationError(
                "AuthFailure", "AWS was not able to validate the provided access credentials"
            )
            return CreateResult([], dict.fromkeys(names, err))
        return await super().create(group, names, token, bootstrap)


def _ctx(tmp_path: Path) -> ClientContext:
    return ClientContext(user="alice", uid=1000, gid=1000, cwd=str(tmp_path), env={}, host="h")


async def _until(check: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


def _slurm(head: HeadNode, ctx: ClientContext, name: str, *argv: str) -> str:
    result = run_command(name, list(argv), ctx, head.slurm)
    assert result.exit_code == 0, result.stderr
    return result.stdout


def _no_requeue_wait(ctrl: Controller) -> None:
    # A requeued job may start again at once (the default makes it wait 5 s, BeginTime).
    ctrl.engine.config = dataclasses.replace(ctrl.engine.config, requeue_delay_s=0.0)


async def _capacity(tmp_path: Path) -> None:
    provider = ScriptedProvider(short={"q/a"})
    async with head_node(tmp_path, provider, CONFIG) as head:
        ctrl = head.controller
        _no_requeue_wait(ctrl)
        ctx = _ctx(tmp_path)
        await _until(lambda: ctrl.cluster.get("computeFleetStatus") == "RUNNING")
        job = head.slurm.submit(BatchRequest(script="#!/bin/sh\ntrue\n", name="one"), ctx)
        # The first compute resource has no capacity: the job goes to the other one at once.
        await _until(lambda: (a := ctrl.engine.jobs[job].alloc) is not None and a.nodes == ("q-dy-b-1",))
        assert provider.calls == [("q/a", ("q-dy-a-1",)), ("q/b", ("q-dy-b-1",))]
        await _until(lambda: all(ctrl.engine.nodes[n].reason == HELD for n in ("q-dy-a-1", "q-dy-a-2")))

        # The Slurm views show the compute resource's nodes down~, with the reason.
        reasons = _slurm(head, ctx, "sinfo", "-R")
        assert HELD[:20] in reasons and "q-dy-a-[1-2]" in reasons, reasons
        summary = _slurm(head, ctx, "sinfo")
        assert any(line.split()[4:] == ["down~", "q-dy-a-[1-2]"] for line in summary.splitlines()), summary
        show = _slurm(head, ctx, "scontrol", "show", "node", "q-dy-a-2")
        assert "State=DOWN+CLOUD+POWERED_DOWN" in show and f"Reason={HELD}" in show, show
        with ctrl.store.reading() as conn:
            moves = [
                (t.old, t.new, t.cause, t.reason) for t in ctrl.store.journal_for(conn, "node", "q-dy-a-2")
            ]
        assert moves[0] == ("POWERED_DOWN", "DOWN", "capacity", HELD)

        # After the insufficient capacity timeout (2 s here) they are powered down (idle~) again.
        await _until(
            lambda: all(ctrl.engine.nodes[n].state == "POWERED_DOWN" for n in ("q-dy-a-1", "q-dy-a-2"))
        )
        summary = _slurm(head, ctx, "sinfo")
        assert "down~" not in summary and "idle~ q-dy-a-[1-2]" in summary, summary
        assert _slurm(head, ctx, "sinfo", "-R").splitlines()[1:] == []


def test_a_compute_resource_without_capacity_sends_jobs_to_the_other_one(tmp_path: Path) -> None:
    asyncio.run(_capacity(tmp_path))


async def _protected(tmp_path: Path) -> None:
    provider = ScriptedProvider(refused={"q/a", "q/b"})
    async with head_node(tmp_path, provider, CONFIG) as head:
        ctrl = head.controller
        _no_requeue_wait(ctrl)
        ctx = _ctx(tmp_path)
        await _until(lambda: ctrl.cluster.get("computeFleetStatus") == "RUNNING")
        job = head.slurm.submit(BatchRequest(script="#!/bin/sh\ntrue\n", name="one"), ctx)
        # Every launch is refused: after 3 failures the queue is protected, and nothing more is
        # launched.
        await _until(lambda: ctrl.cluster.get("computeFleetStatus") == "PROTECTED")
        assert len(provider.calls) == 3
        assert not ctrl.engine.partitions["q"].up
        await asyncio.sleep(1.5)
        assert len(provider.calls) == 3
        assert ctrl.engine.jobs[job].state == "PENDING"
        assert "inact" in _slurm(head, ctx, "sinfo")
        # What describe-cluster and describe-compute-fleet print (from the stored record).
        with ctrl.store.reading() as conn:
            stored = ctrl.store.get_meta(conn, "cluster", {})
            fleet_moves = ctrl.store.journal_for(conn, "fleet", "c")
            part_moves = ctrl.store.journal_for(conn, "partition", "q")
        described = shapes.describe_cluster(stored, head_running=True, config_path="c.yaml")
        assert described["computeFleetStatus"] == "PROTECTED"
        assert shapes.fleet_status(stored)["status"] == "PROTECTED"
        (protect,) = [t for t in fleet_moves if t.new == "PROTECTED"]
        assert (protect.old, protect.reason) == ("RUNNING", "3 node bootstrap failures in queue q")
        assert [(t.old, t.new, t.cause) for t in part_moves] == [("UP", "INACTIVE", "protected")]

        # The cause fixed, the fleet started again: the partition is up, the job launches.
        provider.refused.clear()
        head.service.request_fleet(True, head.service.owner())
        assert ctrl.engine.partitions["q"].up
        await _until(lambda: len(provider.calls) == 4)
        assert ctrl.engine.jobs[job].state == "CONFIGURING"
        await _until(lambda: ctrl.cluster.get("computeFleetStatus") == "RUNNING")
        assert ctrl.fleet.bootstrap_failures("q") == 0
        assert FleetStatus(ctrl.cluster["computeFleetStatus"]) == FleetStatus.RUNNING


def test_launches_that_keep_failing_put_the_fleet_in_protected_mode(tmp_path: Path) -> None:
    asyncio.run(_protected(tmp_path))


async def _bootstrap_error(tmp_path: Path) -> None:
    provider = ScriptedProvider()
    async with head_node(tmp_path, provider, CONFIG) as head:
        ctrl = head.controller
        _no_requeue_wait(ctrl)
        ctx = _ctx(tmp_path)
        await _until(lambda: ctrl.cluster.get("computeFleetStatus") == "RUNNING")
        head.slurm.submit(BatchRequest(script="#!/bin/sh\ntrue\n", name="one"), ctx)
        await _until(lambda: "q-dy-a-1" in ctrl.instances and "q-dy-a-1" in provider.joins)
        agent = ScriptedAgent(
            ctrl, "q-dy-a-1", ctrl.instances["q-dy-a-1"].instance_id, provider.joins["q-dy-a-1"]
        )
        # Its custom action failed: the node is failed, and that counts as a bootstrap failure.
        await agent.hello([], [], bootstrap_error="OnNodeStart script exited with 1")
        await _until(lambda: ctrl.fleet.bootstrap_failures("q") == 1)
        await agent.close()

        # The next launch of the compute resource registers: its count starts again.
        def relaunched() -> str | None:
            return next(
                (
                    n
                    for n in ("q-dy-a-1", "q-dy-a-2")
                    if n in ctrl.instances
                    and n in provider.joins
                    and ctrl.engine.nodes[n].state == "POWERING_UP"
                ),
                None,
            )

        await _until(lambda: relaunched() is not None)
        name = relaunched()
        assert name is not None
        agent = ScriptedAgent(ctrl, name, ctrl.instances[name].instance_id, provider.joins[name])
        await agent.connect([], [])
        await _until(lambda: ctrl.fleet.bootstrap_failures("q") == 0)
        await agent.close()


def test_a_failed_bootstrap_counts_and_a_registered_agent_resets_the_count(tmp_path: Path) -> None:
    asyncio.run(_bootstrap_error(tmp_path))

"""The head node and an agent agree on what ran, whatever was lost in between.

A scripted agent speaks the real protocol to a real head node over a real socket (the head node
runs in-process, with a provider that records launches instead of starting processes), so the
cases a crash produces can be played exactly: a report whose ack was lost, a launch that was
decided but never delivered, a run the head node no longer wants.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

from stratus.controller.core import Controller
from stratus.providers.base import Bootstrap, CapacityError, CreateResult, NodeGroup
from stratus.slurm.views import BatchRequest, ClientContext
from tests.controller.inprocess import (
    CONFIG,
    RecordingProvider,
    ScriptedAgent,
    finished,
    head_node,
)


async def _scenario(tmp_path: Path) -> None:
    provider = RecordingProvider()
    async with head_node(tmp_path, provider) as head:
        ctrl = head.controller
        store = ctrl.store
        for _ in range(200):
            if "q-st-c-1" in ctrl.instances:
                break
            await asyncio.sleep(0.01)
        agent = ScriptedAgent(
            ctrl, "q-st-c-1", ctrl.instances["q-st-c-1"].instance_id, provider.joins["q-st-c-1"]
        )
        await agent.connect([], [])
        ctx = ClientContext(user="alice", uid=1000, gid=1000, cwd=str(tmp_path), env={}, host="h")

        # 1. A report whose ack was lost is repeated on reconnection and recorded once.
        job = head.slurm.submit(BatchRequest(script="#!/bin/sh\ntrue\n", name="one"), ctx)
        launch = await agent.expect("launch")
        assert (launch["job_id"], launch["run"]) == (job, 0)
        agent.send({"type": "started", "job_id": job, "run": 0, "pid": 42})
        agent.send(finished(job))
        assert (await agent.expect("ack"))["job_id"] == job
        await agent.close()
        await agent.connect([], [finished(job)])
        assert (await agent.expect("ack"))["job_id"] == job
        with store.reading() as conn:
            ends = [t for t in store.journal_for(conn, "job", str(job)) if t.new == "COMPLETED"]
        assert len(ends) == 1
        assert ctrl.engine.jobs[job].state == "COMPLETED"

        # 2. A launch decided but never delivered is sent again when the agent reconnects.
        job2 = head.slurm.submit(BatchRequest(script="#!/bin/sh\ntrue\n", name="two"), ctx)
        first = await agent.expect("launch")
        assert first["job_id"] == job2
        await agent.close()  # as if the message was lost with the old head node
        await agent.connect([], [])
        again = await agent.expect("launch")
        assert (again["job_id"], again["run"]) == (job2, 0)
        assert ctrl.engine.jobs[job2].run == 0  # the same run: it never started anywhere

        # 3. A run the head node does not know is killed, not adopted.
        await agent.close()
        await agent.connect([{"job_id": job2, "run": 0, "pid": 7}, {"job_id": 999, "run": 0, "pid": 8}], [])
        kill = await agent.expect("kill")
        assert (kill["job_id"], kill["run"]) == (999, 0)
        await agent.close()


def test_reconciliation_after_lost_messages(tmp_path: Path) -> None:
    asyncio.run(_scenario(tmp_path))


class FailingProvider(RecordingProvider):
    async def create(
        self, group: NodeGroup, names: Sequence[str], token: str, bootstrap: Bootstrap
    ) -> CreateResult:
        no_capacity = CapacityError("InsufficientInstanceCapacity", "no capacity")
        return CreateResult([], {n: no_capacity for n in names})


async def _failed_creation(tmp_path: Path) -> None:
    async with head_node(tmp_path, FailingProvider()) as head:
        ctrl = head.controller
        for _ in range(300):
            if ctrl.cluster.get("clusterStatus") == "CREATE_FAILED":
                break
            await asyncio.sleep(0.01)
        assert ctrl.cluster["clusterStatus"] == "CREATE_FAILED"
        (failure,) = ctrl.cluster["failures"]
        assert failure["failureCode"] == "StaticNodeBootstrapFailure"
        assert "InsufficientInstanceCapacity" in failure["failureReason"]
        # The fleet is stopped: the failed static node is not relaunched in a loop.
        for _ in range(300):
            if ctrl.cluster.get("computeFleetStatus") == "STOPPED":
                break
            await asyncio.sleep(0.01)
        assert ctrl.cluster["computeFleetStatus"] == "STOPPED"
        assert not ctrl.engine.fleet_running


def test_static_node_that_cannot_launch_fails_creation(tmp_path: Path) -> None:
    asyncio.run(_failed_creation(tmp_path))


TWO_NODES = CONFIG.replace("MinCount: 1\n      MaxCount: 1", "MinCount: 2\n      MaxCount: 2")


async def _launched(ctrl: Controller, provider: RecordingProvider, node: str) -> ScriptedAgent:
    for _ in range(300):
        if node in ctrl.instances and node in provider.joins:
            break
        await asyncio.sleep(0.01)
    return ScriptedAgent(ctrl, node, ctrl.instances[node].instance_id, provider.joins[node])


async def _credentials(tmp_path: Path) -> None:
    provider = RecordingProvider()
    async with head_node(tmp_path, provider) as head:
        ctrl = head.controller
        agent = await _launched(ctrl, provider, "q-st-c-1")
        # The users' API token is no agent credential, and a wrong join credential admits nobody.
        for bad in (ctrl.token, "0" * 64, ""):
            reply = await agent.hello([], [], join=bad)
            assert reply == {"type": "reject", "reason": "wrong join credential"}
            await agent.close()
        # Another node's credential does not work for this one.
        reply = await agent.hello([], [], node="q-st-c-2")
        assert reply["type"] == "reject"
        await agent.close()
        await agent.connect([], [])  # the right one: joined, its secret recorded
        await agent.close()
        with ctrl.store.reading() as conn:
            (row,) = [r for r in ctrl.store.node_instances(conn) if r[0] == "q-st-c-1"]
        assert "secret" in row[2]["credentials"]  # durable, for after a restart
        # Once joined, the join credential alone is worthless: only the agent's secret admits.
        thief = ScriptedAgent(ctrl, "q-st-c-1", agent.instance_id, agent.join)
        assert (await thief.hello([], []))["reason"] == "wrong node secret"
        await thief.close()
        await agent.connect([], [])  # the agent itself comes back with its secret
        await agent.close()


def test_agents_join_with_their_own_credentials_not_the_api_token(tmp_path: Path) -> None:
    asyncio.run(_credentials(tmp_path))


async def _forged_report(tmp_path: Path) -> None:
    provider = RecordingProvider()
    async with head_node(tmp_path, provider, TWO_NODES) as head:
        ctrl = head.controller
        agents = [await _launched(ctrl, provider, f"q-st-c-{i}") for i in (1, 2)]
        for agent in agents:
            await agent.connect([], [])
        ctx = ClientContext(user="alice", uid=1000, gid=1000, cwd=str(tmp_path), env={}, host="h")
        job = head.slurm.submit(BatchRequest(script="#!/bin/sh\nsleep 100\n", name="one"), ctx)
        for _ in range(300):
            if ctrl.engine.jobs[job].state == "RUNNING":
                break
            await asyncio.sleep(0.01)
        assert ctrl.engine.jobs[job].alloc is not None
        host = ctrl.engine.jobs[job].alloc.nodes[0]
        other = next(a for a in agents if a.node != host)
        # The node the job does not run on says it ended: acknowledged, and nothing changes.
        other.send(finished(job))
        assert (await other.expect("ack"))["job_id"] == job
        await asyncio.sleep(0.1)
        assert ctrl.engine.jobs[job].state == "RUNNING"
        # Its batch host's report ends it.
        owner = next(a for a in agents if a.node == host)
        owner.send(finished(job))
        assert (await owner.expect("ack"))["job_id"] == job
        assert ctrl.engine.jobs[job].state == "COMPLETED"
        for agent in agents:
            await agent.close()


def test_regression_any_agent_could_report_any_job_as_finished(tmp_path: Path) -> None:
    asyncio.run(_forged_report(tmp_path))

"""Slurm's Dependency= text, worded from the engine's neutral dependency status."""

from __future__ import annotations

from stratus.engine.engine import Engine
from stratus.engine.model import DepCondition, EngineConfig, JobSpec, NodeDef, PartitionDef, PowerUp
from stratus.slurm.depend_text import dependency_text


def test_nothing_standing_is_none() -> None:
    assert dependency_text([], False) is None
    assert dependency_text([], True) is None


def test_conditions_with_their_state_joined_by_comma_or_question_mark() -> None:
    status = [
        (DepCondition("afterok", 12), "unfulfilled"),
        (DepCondition("afternotok", 13), "failed"),
        (DepCondition("singleton"), "unfulfilled"),
    ]
    assert (
        dependency_text(status, False)
        == "afterok:12(unfulfilled),afternotok:13(failed),singleton(unfulfilled)"
    )
    assert (
        dependency_text(status, True)
        == "afterok:12(unfulfilled)?afternotok:13(failed)?singleton(unfulfilled)"
    )


def test_tasks_every_task_and_delays() -> None:
    status = [
        (DepCondition("afterany", 7, task_id=3), "unfulfilled"),
        (DepCondition("afterok", 7, task_id=-1), "unfulfilled"),
        (DepCondition("after", 8, delay_s=300.0), "unfulfilled"),
        (DepCondition("after", 9, delay_s=90.0), "unfulfilled"),  # whole minutes, rounded down
        (DepCondition("aftercorr", 10), "failed"),
    ]
    assert dependency_text(status, False) == (
        "afterany:7_3(unfulfilled),afterok:7_*(unfulfilled),after:8+5(unfulfilled),"
        "after:9+1(unfulfilled),aftercorr:10(failed)"
    )


def test_a_singleton_always_reads_unfulfilled() -> None:
    assert dependency_text([(DepCondition("singleton"), "failed")], False) == "singleton(unfulfilled)"


def test_from_a_live_engine() -> None:
    """The text a pending job shows as its parent runs, then fails."""
    node = NodeDef("n1", ("q",), 1, 100, static=True)
    e = Engine(EngineConfig(partitions=(PartitionDef("q", ("n1",), default=True),), nodes=(node,)))
    for a in e.tick(0.0):
        if isinstance(a, PowerUp):
            e.node_up("n1", 0.0)
    parent = e.submit(JobSpec("p", "alice"), 0.0)
    deps = (DepCondition("afterok", parent.id), DepCondition("singleton"))
    child = e.submit(JobSpec("p", "alice", dependencies=deps), 0.0)
    e.schedule(0.0)
    text = dependency_text(e.dependency_status(child, 0.0), child.spec.dependency_any)
    assert text == f"afterok:{parent.id}(unfulfilled),singleton(unfulfilled)"
    e.job_ended(parent.id, 0, 1.0, exit_code=1)
    e.schedule(1.0)
    text = dependency_text(e.dependency_status(child, 1.0), child.spec.dependency_any)
    assert text == f"afterok:{parent.id}(failed)"

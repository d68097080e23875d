"""Partitions an administrator disabled (a Batch compute environment's DISABLED state): running
jobs go on, nothing new starts, and the state holds across fleet stop/start and a restore."""

from __future__ import annotations

from pathlib import Path

from stratus.engine.engine import Engine
from stratus.engine.model import EngineConfig, JobSpec, NodeDef, PartitionDef, PowerUp
from stratus.engine.states import JobState
from stratus.store.store import Store


def _engine(now: float = 0.0) -> Engine:
    nodes = (
        NodeDef("a-dy-x-1", ("a",), 1, 100, weight=1000, group="a/x"),
        NodeDef("a-dy-x-2", ("a",), 1, 100, weight=1000, group="a/x"),
        NodeDef("b-dy-z-1", ("b",), 1, 100, weight=1000, group="b/z"),
    )
    parts = (PartitionDef("a", ("a-dy-x-1", "a-dy-x-2"), default=True), PartitionDef("b", ("b-dy-z-1",)))
    return Engine(EngineConfig(partitions=parts, nodes=nodes), now=now)


def _boot(e: Engine, actions: list, now: float) -> list[str]:
    names = [n for a in actions if isinstance(a, PowerUp) for n in a.nodes]
    for name in names:
        e.node_up(name, now)
    return names


def test_a_disabled_partition_lets_running_jobs_finish_and_starts_nothing_new() -> None:
    e = _engine()
    running = e.submit(JobSpec("r", "alice", partitions=("a",), exclusive=True), 1.0)
    assert _boot(e, e.tick(1.0), 2.0) == ["a-dy-x-1"]
    e.tick(2.0)
    assert running.state == JobState.RUNNING
    e.drain_changes()

    e.set_partition_enabled("a", False, 3.0)
    part = e.partitions["a"]
    assert (part.up, part.disabled) == (False, True)
    assert e.set_partition_enabled("a", False, 3.5) == []  # already disabled: nothing to do
    changes = e.drain_changes()
    assert changes.partitions == {"a"}
    (t,) = [t for t in changes.transitions if t.entity == "partition"]
    assert (t.old, t.new, t.cause, t.reason) == ("UP", "INACTIVE", "admin", "disabled")
    # The running job goes on; a new one waits, and no node powers up for it.
    waiting = e.submit(JobSpec("w", "alice", partitions=("a",)), 4.0)
    assert not _boot(e, e.tick(4.0), 4.0)
    assert running.state == JobState.RUNNING and waiting.state == JobState.PENDING
    e.job_ended(running.id, running.run, 5.0)
    assert running.state == JobState.COMPLETED
    assert not _boot(e, e.tick(6.0), 6.0) and waiting.state == JobState.PENDING
    # Another partition is not affected.
    other = e.submit(JobSpec("o", "alice", partitions=("b",)), 6.0)
    assert _boot(e, e.tick(6.0), 6.5) == ["b-dy-z-1"]
    e.tick(6.5)
    assert other.state == JobState.RUNNING

    # Enabled: UP again, and the waiting job runs.
    e.set_partition_enabled("a", True, 7.0)
    assert (part.up, part.disabled) == (True, False)
    e.tick(7.0)
    assert waiting.state in (JobState.CONFIGURING, JobState.RUNNING)


def test_a_disabled_partition_stays_inactive_when_the_fleet_starts() -> None:
    e = _engine()
    e.set_partition_enabled("a", False, 1.0)
    e.stop_fleet(2.0)
    e.start_fleet(3.0)
    assert not e.partitions["a"].up and e.partitions["b"].up
    # Enabled while the fleet is stopped: UP once it starts, not before.
    e.stop_fleet(4.0)
    e.set_partition_enabled("a", True, 5.0)
    assert not e.partitions["a"].up and not e.partitions["a"].disabled
    e.start_fleet(6.0)
    assert e.partitions["a"].up


def test_the_disabled_state_is_stored_and_restored(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "state.db", create=True)
    e = _engine()
    e.set_partition_enabled("a", False, 1.0)
    with store.transaction() as conn:
        store.save_engine_changes(conn, e, e.drain_changes())
        # A queue an update is adding can be disabled before it exists.
        store.set_partition_disabled(conn, "c")
    store.close()

    store = Store.open(tmp_path / "state.db")
    with store.reading() as conn:
        parts = store.load_partitions(conn)
        disabled = store.load_disabled_partitions(conn)
    assert parts == {"a": False, "c": False} and disabled == {"a", "c"}
    fresh = _engine(10.0)
    for name in fresh.partitions:
        fresh.set_partition_state(name, parts.get(name, True), disabled=name in disabled)
    assert (fresh.partitions["a"].up, fresh.partitions["a"].disabled) == (False, True)
    assert fresh.partitions["b"].up
    fresh.start_fleet(11.0)
    assert not fresh.partitions["a"].up
    # A queue no longer configured is forgotten: added again later, it starts as a new one.
    with store.transaction() as conn:
        store.forget_partitions(conn, ["c"])
    with store.reading() as conn:
        assert store.load_disabled_partitions(conn) == {"a"}
    store.close()

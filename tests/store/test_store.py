"""The state store round-trips engine state and survives reopening."""

from __future__ import annotations

from pathlib import Path

from stratus.engine.engine import Engine
from stratus.engine.indexset import IndexSet
from stratus.engine.model import EngineConfig, JobSpec, NodeDef, PartitionDef, PowerUp
from stratus.engine.states import JobState, NodeState
from stratus.store import schema
from stratus.store.store import Store


def _engine() -> Engine:
    nodes = (
        NodeDef("q-st-c-1", ("q",), 2, 1000, static=True),
        NodeDef("q-dy-c-1", ("q",), 2, 1000, weight=1000),
    )
    return Engine(EngineConfig((PartitionDef("q", ("q-st-c-1", "q-dy-c-1"), default=True),), nodes), 0.0)


def _persist(store: Store, e: Engine) -> None:
    with store.transaction() as conn:
        store.save_engine_changes(conn, e, e.drain_changes())


def test_round_trip_and_restore(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    store = Store.open(db, create=True)
    e = _engine()
    for a in e.tick(0.0):
        if isinstance(a, PowerUp):
            for n in a.nodes:
                e.node_up(n, 0.1, "i-1")
    j = e.submit(JobSpec("one", "alice", time_limit_s=60.0), 1.0)
    arr = e.submit(JobSpec("arr", "alice"), 1.0, array=IndexSet.from_spec("0-99999"))
    with store.transaction() as conn:
        store.insert_payload(conn, j.id, {"workdir": "/tmp"}, "#!/bin/sh\ntrue\n", {"A": "1"})
    e.schedule(1.0)
    _persist(store, e)
    store.close()

    store = Store.open(db)
    with store.reading() as conn:
        loaded = store.load_live_jobs(conn, finished_since=0.0)
        nodes = store.load_nodes(conn, {n.name: n.defn for n in e.nodes.values()})
        info, script, env = store.load_payload(conn, j.id)
        assert script.startswith("#!") and info == {"workdir": "/tmp"} and env == {"A": "1"}
        assert store.load_payload_infos(conn, [j.id, 999]) == {j.id: {"workdir": "/tmp"}}
        assert store.get_meta(conn, "next_job_id") == e.next_job_id
        journal = store.journal_for(conn, "job", str(j.id))
    assert [t.new for t in journal] == ["PENDING", "RUNNING"]
    # the 100,000-task array is a handful of rows: remainder + started tasks
    assert len(loaded) == 1 + 1 + 3
    by_id = {job.id: job for job, _ in loaded}
    assert by_id[arr.id].pending_tasks is not None and len(by_id[arr.id].pending_tasks) == 99_997
    assert by_id[j.id].state == JobState.RUNNING and by_id[j.id].alloc is not None
    fresh = Engine(e.config, 5.0)
    fresh.restore([job for job, _ in loaded], [n for n, _ in nodes], 1)
    assert fresh.next_job_id == e.next_job_id
    assert fresh.nodes["q-st-c-1"].state == NodeState.UP
    assert fresh.nodes["q-st-c-1"].alloc_cpus == e.nodes["q-st-c-1"].alloc_cpus


def test_readonly_open_sees_committed_writes(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    store = Store.open(db, create=True)
    with store.transaction() as conn:
        store.set_meta(conn, "cluster", {"status": "CREATE_IN_PROGRESS"})
    ro = Store.open_readonly(db)
    with ro.reading() as conn:
        assert ro.get_meta(conn, "cluster") == {"status": "CREATE_IN_PROGRESS"}
    ro.close()
    store.close()


def test_store_of_an_older_version_is_upgraded_on_open(tmp_path: Path) -> None:
    """A version-1 store (no steps.usage, no door_objects) gains the column and the table, keeps
    its rows and records step usage and objects."""
    import json
    import sqlite3

    path = tmp_path / "state.db"
    Store.open(path, create=True).close()
    con = sqlite3.connect(path)
    con.execute("ALTER TABLE steps DROP COLUMN usage")
    con.execute("DROP TABLE door_objects")
    con.execute(
        "INSERT INTO steps (job_id, run, step_id, name, nodes, ntasks, cpus, start_time, state, "
        "exit_code, exit_signal) VALUES (7, 0, 0, 'true', '[\"n1\"]', 1, 1, 1.0, 'RUNNING', 0, 0)"
    )
    con.execute("UPDATE meta SET value = '1' WHERE key = 'schema_version'")
    con.commit()
    con.close()
    store = Store.open(path)
    try:
        with store.transaction() as conn:
            assert store.get_meta(conn, "schema_version") == schema.SCHEMA_VERSION
            store.end_step(conn, 7, 0, 0, "COMPLETED", 0, 0, 2.0, {"utime": 0.5, "maxrss_kb": 900})
            store.put_object(conn, "batch", "job-queue", "q", {"state": "ENABLED"}, 5.0)
        with store.reading() as conn:
            assert store.load_objects(conn, "batch", "job-queue") == [("q", {"state": "ENABLED"}, 5.0, 5.0)]
    finally:
        store.close()
    con = sqlite3.connect(path)
    try:
        row = con.execute("SELECT state, end_time, usage FROM steps").fetchone()
    finally:
        con.close()
    assert (row[0], row[1], json.loads(row[2])) == ("COMPLETED", 2.0, {"utime": 0.5, "maxrss_kb": 900})
    Store.open(path).close()  # opening an up-to-date store changes nothing


def test_regression_a_job_name_of_raw_bytes_made_the_store_refuse_the_write(tmp_path: Path) -> None:
    """``sbatch -J $'\\xff'`` reaches the head node as a lone surrogate; the write must not fail.

    The failed write stopped the head node for everyone. The name is kept exactly in the job's
    spec (what squeue and scontrol print) and escaped in the searchable columns.
    """
    store = Store.open(tmp_path / "state.db", create=True)
    e = _engine()
    odd = "j\udcff\ud800x"  # surrogate-escaped byte, and a lone surrogate from a JSON request
    j = e.submit(JobSpec(odd, "alice"), 1.0)
    _persist(store, e)
    with store.transaction() as conn:
        store.start_step(conn, j.id, 0, 0, odd, ["q-st-c-1"], 1, 1, 2.0)
    store.close()
    store = Store.open(tmp_path / "state.db")
    with store.reading() as conn:
        ((job, _),) = store.load_live_jobs(conn, finished_since=0.0)
        steps = store.load_accounting(conn, job_ids=[j.id])[0][2]
    assert job.spec.name == odd
    assert [s["name"] for s in steps if s.get("kind") == "step"] == ["j\\udcff\\ud800x"]
    store.close()


def test_a_version_3_store_gains_the_disabled_column_of_partitions(tmp_path: Path) -> None:
    """Partitions stored before administrators could disable them read as enabled; the new
    column records the disabled state from then on."""
    import sqlite3

    path = tmp_path / "state.db"
    Store.open(path, create=True).close()
    con = sqlite3.connect(path)
    con.execute("ALTER TABLE partitions DROP COLUMN disabled")
    con.execute("INSERT INTO partitions (name, up) VALUES ('a', 0), ('b', 1)")
    con.execute("UPDATE meta SET value = '3' WHERE key = 'schema_version'")
    con.commit()
    con.close()
    store = Store.open(path)
    try:
        with store.reading() as conn:
            assert store.get_meta(conn, "schema_version") == schema.SCHEMA_VERSION
            assert store.load_partitions(conn) == {"a": False, "b": True}
            assert store.load_disabled_partitions(conn) == set()
        e = _engine()
        e.set_partition_enabled("q", False, 1.0)
        _persist(store, e)
        with store.reading() as conn:
            assert store.load_disabled_partitions(conn) == {"q"}
            assert store.load_partitions(conn)["q"] is False
    finally:
        store.close()

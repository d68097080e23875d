"""Tables of a cluster's state store (SQLAlchemy Core; SQLite by default).

One row per job record (an array's pending remainder is one row whatever its size), one per node,
one per submission payload (script, environment, paths: shared by every task of an array), and
the journal: one row per recorded state transition of any entity.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Column, Dialect, Float, Index, Integer, LargeBinary, MetaData, Table, Text
from sqlalchemy import String as _String
from sqlalchemy.types import TypeDecorator


class String(TypeDecorator[str]):
    """A text column that takes any Python string, so no user input can make a write fail.

    Text from users is kept as the client sent it, and a name of raw bytes that are not UTF-8
    reaches the head node with lone surrogates in it (``surrogateescape``), which SQLite's UTF-8
    cannot hold: such characters are stored backslash-escaped (``\\udcff``) instead of failing the
    transaction (which would stop the head node). Job names and the like are also kept exactly
    in the JSON of the job's spec; these columns are for queries and listings.
    """

    impl = _String
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if isinstance(value, str) and not value.isascii():
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                return value.encode("utf-8", "backslashreplace").decode("utf-8")
        return value


SCHEMA_VERSION = 4

# Columns added after a schema version, as (version, table, column, SQL type): a store of an
# older version gets them on open (``ALTER TABLE ... ADD COLUMN``; existing rows read NULL).
# Tables added after one (door_objects: version 3) are created on open.
ADDED_COLUMNS: tuple[tuple[int, str, str, str], ...] = (
    (2, "steps", "usage", "TEXT"),
    (4, "partitions", "disabled", "INTEGER"),
)

metadata = MetaData()

meta = Table(
    "meta",
    metadata,
    Column("key", String, primary_key=True),
    Column("value", Text, nullable=False),
)

jobs = Table(
    "jobs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("array_id", Integer),
    Column("task_id", Integer),
    Column("pending_tasks", Text),  # IndexSet.to_spec() of an array remainder
    Column("payload_id", Integer, nullable=False),
    Column("state", String, nullable=False),
    Column("reason", String, nullable=False),
    Column("final_state", String),
    Column("held", Integer, nullable=False, default=0),
    Column("partition", String),
    Column("priority", Integer, nullable=False),
    Column("submit_time", Float, nullable=False),
    Column("eligible_time", Float),
    Column("start_time", Float),
    Column("end_time", Float),
    Column("state_time", Float, nullable=False),
    Column("time_limit_s", Float),
    Column("run", Integer, nullable=False, default=0),
    Column("exit_code", Integer, nullable=False, default=0),
    Column("exit_signal", Integer, nullable=False, default=0),
    Column("spec", Text, nullable=False),  # JSON of engine JobSpec
    Column("alloc", Text),  # JSON of engine Allocation
    Column("user", String, nullable=False),
    Column("name", String, nullable=False),
)
Index("jobs_state", jobs.c.state)
Index("jobs_array", jobs.c.array_id)

payloads = Table(
    "payloads",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),  # the submission's job id
    Column("info", Text, nullable=False),  # small JSON: workdir, output patterns, options as given
    Column("script", LargeBinary, nullable=False),  # bytes: scripts need not be UTF-8
    Column("env", Text, nullable=False),  # JSON: the environment the job will get
)

nodes = Table(
    "nodes",
    metadata,
    Column("name", String, primary_key=True),
    Column("state", String, nullable=False),
    Column("state_time", Float, nullable=False),
    Column("reason", String),
    Column("reason_time", Float),
    Column("instance_id", String),
    Column("boot_time", Float),
    Column("idle_since", Float, nullable=False),
    Column("last_busy_time", Float),
    Column("instance", Text),  # JSON: what the provider needs to find the instance again
)

partitions = Table(
    "partitions",
    metadata,
    Column("name", String, primary_key=True),
    Column("up", Integer, nullable=False),
    # 1: disabled by an administrator (INACTIVE until enabled); NULL (rows of version 3) reads 0.
    Column("disabled", Integer),
)

runs = Table(
    "runs",
    metadata,
    Column("job_id", Integer, primary_key=True, autoincrement=False),
    Column("run", Integer, primary_key=True, autoincrement=False),
    Column("state", String, nullable=False),  # how the run ended (REQUEUED / NODE_FAIL for requeues)
    Column("start_time", Float),
    Column("end_time", Float, nullable=False),
    Column("nodes", Text, nullable=False),  # JSON list
    Column("cpus", Integer, nullable=False),
    Column("exit_code", Integer, nullable=False),
    Column("exit_signal", Integer, nullable=False),
    Column("reason", String, nullable=False),
    Column("usage", Text),  # JSON: maxrss_kb, utime, stime as the node agent measured them
)

steps = Table(
    "steps",
    metadata,
    Column("job_id", Integer, primary_key=True, autoincrement=False),
    Column("run", Integer, primary_key=True, autoincrement=False),
    Column("step_id", Integer, primary_key=True, autoincrement=False),
    Column("name", String, nullable=False),
    Column("nodes", Text, nullable=False),  # JSON list
    Column("ntasks", Integer, nullable=False),
    Column("cpus", Integer, nullable=False),
    Column("start_time", Float, nullable=False),
    Column("end_time", Float),
    Column("state", String, nullable=False),
    Column("exit_code", Integer, nullable=False, default=0),
    Column("exit_signal", Integer, nullable=False, default=0),
    Column("usage", Text),  # JSON: maxrss_kb (largest task), utime, stime (all tasks, all nodes)
)

journal = Table(
    "journal",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("time", Float, nullable=False),
    Column("entity", String, nullable=False),
    Column("key", String, nullable=False),
    Column("old", String, nullable=False),
    Column("new", String, nullable=False),
    Column("cause", String, nullable=False),
    Column("reason", String, nullable=False),
    Column("run", Integer, nullable=False),
)
Index("journal_key", journal.c.entity, journal.c.key)

# Objects a front door keeps besides jobs (the Batch door's job definitions, job queues, compute
# environments, access keys ...): one JSON document per (door, kind, key), written by the
# controller like everything else.
door_objects = Table(
    "door_objects",
    metadata,
    Column("door", String, primary_key=True),
    Column("kind", String, primary_key=True),
    Column("key", String, primary_key=True),
    Column("body", Text, nullable=False),
    Column("created", Float, nullable=False),
    Column("updated", Float, nullable=False),
)

"""The journal of record for one cluster.

Guarantees:

* Every write happens inside :meth:`Store.transaction`; a transaction is on disk (SQLite WAL,
  ``synchronous=FULL``) when the ``with`` block exits, so a caller that acknowledges a request
  after the block has made it durable first, even against a power loss.
* Only the controller writes. Other processes (the CLI's ``list-clusters``/``describe-cluster``)
  open the same file read-only; WAL lets them read while the controller writes.
* What is stored is enough to rebuild the engine after a crash: job records, node records,
  partition states and the next job id. Derived data (reasons of pending jobs, node allocation
  counters) is recomputed, never trusted from disk.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, Integer, case, create_engine, event, func, literal_column, select
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.pool import NullPool

from stratus.engine.engine import Engine as SchedEngine
from stratus.engine.indexset import IndexSet
from stratus.engine.model import (
    Allocation,
    Changes,
    DepCondition,
    Job,
    JobSpec,
    Node,
    NodeDef,
    RetryRule,
    Transition,
)
from stratus.engine.states import JobState, NodeState
from stratus.store import schema


@dataclass(frozen=True, slots=True)
class RunCharge:
    """One recorded run of a job, with what its cost is charged to (:meth:`Store.load_run_charges`)."""

    seq: int  # the order in which runs were recorded (increasing; never reused)
    job_id: int
    run: int
    start_time: float | None
    end_time: float
    nodes: tuple[str, ...]
    cpus: int  # in all, over its nodes
    user: str
    account: str  # the job's ``--account`` (empty: none given)
    partition: str
    exclusive: bool
    # The run's (nodes, CPUs on each) when still known (the job's last run), else None.
    alloc: tuple[tuple[str, ...], tuple[int, ...]] | None


def _upsert(table: Any, key: str, skip: tuple[str, ...] = ()) -> Any:
    """``INSERT ... ON CONFLICT(key) DO UPDATE`` of every other column, built once.

    Statements are built at import and executed with parameters: building them per call cost
    more than the SQL itself on the path of every submission.
    """
    stmt = sqlite_insert(table)
    cols = {c.name: stmt.excluded[c.name] for c in table.c if c.name != key and c.name not in skip}
    return stmt.on_conflict_do_update(index_elements=[key], set_=cols)


_META_UPSERT = _upsert(schema.meta, "key")
_JOB_UPSERT = _upsert(schema.jobs, "id", skip=("payload_id",))
_NODE_UPSERT = _upsert(schema.nodes, "name", skip=("instance",))
_PARTITION_UPSERT = _upsert(schema.partitions, "name")
_RUN_UPSERT = sqlite_insert(schema.runs).on_conflict_do_nothing(index_elements=["job_id", "run"])
_JOURNAL_INSERT = schema.journal.insert()


def _on_connect(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    # FULL: a committed transaction survives an OS crash or power loss, not only a process kill.
    cur.execute("PRAGMA synchronous=FULL")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.close()


def _on_connect_readonly(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA busy_timeout=10000")
    cur.execute("PRAGMA query_only=ON")
    cur.close()


class Store:
    """A cluster's state store. Open with :meth:`open` (controller) or :meth:`open_readonly`."""

    def __init__(self, engine: Engine, path: Path) -> None:
        self._engine = engine
        self.path = path
        self._conn: Connection | None = None
        self._saved_next_id = -1

    @classmethod
    def open(cls, path: Path, *, create: bool = False) -> Store:
        """Open for writing (the controller; ``create`` also for the CLI before it starts one)."""
        if not create and not path.exists():
            raise FileNotFoundError(path)
        eng = create_engine(f"sqlite:///{path}", poolclass=NullPool)
        event.listen(eng, "connect", _on_connect)
        store = cls(eng, path)
        if create:
            schema.metadata.create_all(eng)
            with store.transaction() as conn:
                store.set_meta(conn, "schema_version", schema.SCHEMA_VERSION)
        else:
            store._upgrade()
        return store

    def _upgrade(self) -> None:
        """Bring a store written by an older stratus to this schema version, in one transaction."""
        with self.transaction() as conn:
            version = int(self.get_meta(conn, "schema_version") or 1)
            if version >= schema.SCHEMA_VERSION:
                return
            schema.metadata.create_all(conn)  # tables added since (existing ones untouched)
            for since, table, column, sql_type in schema.ADDED_COLUMNS:
                present = {r[1] for r in conn.exec_driver_sql(f"PRAGMA table_info({table})")}
                if since > version and column not in present:
                    conn.exec_driver_sql(f"ALTER TABLE {table} ADD COLUMN {column} {sql_type}")
            self.set_meta(conn, "schema_version", schema.SCHEMA_VERSION)

    @classmethod
    def open_readonly(cls, path: Path) -> Store:
        """Open for reading while a controller may be writing."""
        if not path.exists():
            raise FileNotFoundError(path)
        eng = create_engine(f"sqlite:///file:{path}?mode=ro&uri=true", poolclass=NullPool)
        event.listen(eng, "connect", _on_connect_readonly)
        return cls(eng, path)

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        self._engine.dispose()

    def _connection(self) -> Connection:
        # One long-lived connection: the controller is the only writer and runs one loop.
        if self._conn is None:
            self._conn = self._engine.connect()
        return self._conn

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """A write transaction, committed (durably) when the block exits without error."""
        conn = self._connection()
        with conn.begin():
            yield conn

    @contextmanager
    def reading(self) -> Iterator[Connection]:
        """A consistent read snapshot."""
        conn = self._connection()
        with conn.begin():
            yield conn

    # -- meta -----------------------------------------------------------------------------------

    def set_meta(self, conn: Connection, key: str, value: Any) -> None:
        conn.execute(_META_UPSERT, {"key": key, "value": json.dumps(value)})

    def get_meta(self, conn: Connection, key: str, default: Any = None) -> Any:
        row = conn.execute(select(schema.meta.c.value).where(schema.meta.c.key == key)).first()
        return default if row is None else json.loads(row[0])

    def save_engine_changes(
        self,
        conn: Connection,
        engine: SchedEngine,
        changes: Changes,
        usage: dict[tuple[int, int], dict[str, Any]] | None = None,
    ) -> None:
        """Write what the engine changed: journal, job, node, partition and run rows, id counter.

        ``usage`` adds what agents measured to the runs that ended, by (job id, run).
        """
        self.append_journal(conn, changes.transitions)
        dirty_jobs, dirty_nodes, dirty_partitions = changes.jobs, changes.nodes, changes.partitions
        if changes.runs:
            conn.execute(
                _RUN_UPSERT,
                [
                    {
                        "job_id": r.job_id,
                        "run": r.run,
                        "state": r.state,
                        "start_time": r.start_time,
                        "end_time": r.end_time,
                        "nodes": json.dumps(list(r.nodes)),
                        "cpus": r.cpus,
                        "exit_code": r.exit_code,
                        "exit_signal": r.exit_signal,
                        "reason": r.reason,
                        "usage": json.dumps((usage or {}).get((r.job_id, r.run))) if usage else None,
                    }
                    for r in changes.runs
                ],
            )
        rows = [job_to_row(engine.jobs[i]) for i in sorted(dirty_jobs) if i in engine.jobs]
        if rows:
            conn.execute(_JOB_UPSERT, rows)
        nrows = []
        for name in sorted(dirty_nodes):
            node = engine.nodes.get(name)
            if node is None:
                continue
            nrows.append(node_to_row(node))
        if nrows:
            conn.execute(_NODE_UPSERT, nrows)
        prows = [
            {"name": p, "up": int(engine.partitions[p].up), "disabled": int(engine.partitions[p].disabled)}
            for p in sorted(dirty_partitions)
            if p in engine.partitions
        ]
        if prows:
            conn.execute(_PARTITION_UPSERT, prows)
        if engine.next_job_id != self._saved_next_id:
            self.set_meta(conn, "next_job_id", engine.next_job_id)
            self._saved_next_id = engine.next_job_id

    def set_node_instance(self, conn: Connection, name: str, instance: dict[str, Any] | None) -> None:
        """Record (or clear) what the provider needs to find a node's instance again."""
        conn.execute(
            schema.nodes.update()
            .where(schema.nodes.c.name == name)
            .values(instance=None if instance is None else json.dumps(instance))
        )

    def insert_payload(
        self, conn: Connection, payload_id: int, info: dict[str, Any], script: str, env: dict[str, str]
    ) -> None:
        """Store what a submission needs to run: shared by every task and run of the job."""
        conn.execute(
            schema.payloads.insert().values(
                id=payload_id,
                info=json.dumps(info),
                script=script.encode("utf-8", "surrogateescape"),
                env=json.dumps(env),
            )
        )

    # -- front doors' objects ---------------------------------------------------------------------

    def put_object(
        self, conn: Connection, door: str, kind: str, key: str, body: dict[str, Any], now: float
    ) -> float:
        """Create or replace one object; its creation time (kept when it is replaced)."""
        t = schema.door_objects
        where = (t.c.door == door) & (t.c.kind == kind) & (t.c.key == key)
        row = conn.execute(select(t.c.created).where(where)).first()
        text = json.dumps(body, sort_keys=True)
        if row is None:
            values = {"door": door, "kind": kind, "key": key, "body": text, "created": now, "updated": now}
            conn.execute(t.insert().values(**values))
            return now
        conn.execute(t.update().where(where).values(body=text, updated=now))
        return float(row[0])

    def delete_object(self, conn: Connection, door: str, kind: str, key: str) -> bool:
        """Remove one object; whether it was there."""
        t = schema.door_objects
        done = conn.execute(t.delete().where((t.c.door == door) & (t.c.kind == kind) & (t.c.key == key)))
        return bool(done.rowcount)

    def load_objects(
        self, conn: Connection, door: str, kind: str, key: str | None = None
    ) -> list[tuple[str, dict[str, Any], float, float]]:
        """(key, body, created, updated) of a door's objects of ``kind`` (one ``key``), by key."""
        t = schema.door_objects
        q = select(t.c.key, t.c.body, t.c.created, t.c.updated).where((t.c.door == door) & (t.c.kind == kind))
        if key is not None:
            q = q.where(t.c.key == key)
        rows = conn.execute(q.order_by(t.c.key)).all()
        return [(r[0], json.loads(r[1]), float(r[2]), float(r[3])) for r in rows]

    def append_journal(self, conn: Connection, transitions: Iterable[Transition]) -> None:
        rows = [
            {
                "time": t.time,
                "entity": t.entity,
                "key": t.key,
                "old": str(t.old),
                "new": str(t.new),
                "cause": t.cause,
                "reason": t.reason,
                "run": t.run,
            }
            for t in transitions
        ]
        if rows:
            conn.execute(_JOURNAL_INSERT, rows)

    # -- reads ----------------------------------------------------------------------------------

    def load_payload(self, conn: Connection, payload_id: int) -> tuple[dict[str, Any], str, dict[str, str]]:
        """(info, script, env) of a submission."""
        p = schema.payloads.c
        row = conn.execute(select(p.info, p.script, p.env).where(p.id == payload_id)).first()
        if row is None:
            raise KeyError(payload_id)
        return json.loads(row[0]), bytes(row[1]).decode("utf-8", "surrogateescape"), json.loads(row[2])

    def load_payload_infos(self, conn: Connection, payload_ids: Iterable[int]) -> dict[int, dict[str, Any]]:
        """The small ``info`` part of many submissions, by id."""
        ids = sorted(set(payload_ids))
        out: dict[int, dict[str, Any]] = {}
        p = schema.payloads.c
        for i in range(0, len(ids), 500):
            chunk = ids[i : i + 500]
            for row in conn.execute(select(p.id, p.info).where(p.id.in_(chunk))):
                out[int(row[0])] = _info(row[1])
        return out

    def load_live_jobs(self, conn: Connection, finished_since: float) -> list[tuple[Job, int]]:
        """Jobs not yet final, and final ones that ended at or after ``finished_since``."""
        final = [s.value for s in JobState if s.final]
        q = select(schema.jobs).where(
            (schema.jobs.c.state.not_in(final)) | (schema.jobs.c.end_time >= finished_since)
        )
        return [(row_to_job(r._mapping), int(r.payload_id)) for r in conn.execute(q)]

    def load_usage(self, conn: Connection, since: float) -> Iterator[tuple[str, str, int, float, float]]:
        """(account, user, CPUs, start, end) of every run that ended at ``since`` or later.

        What fair share is rebuilt from after a restart: older runs have decayed to nothing.
        """
        r = schema.runs.c
        j = schema.jobs.c
        q = (
            select(j.spec, r.cpus, r.start_time, r.end_time)
            .select_from(schema.runs.join(schema.jobs, r.job_id == j.id))
            .where(r.end_time >= since, r.start_time.is_not(None))
        )
        for row in conn.execute(q):
            spec = _spec(row.spec)
            yield spec.share, spec.user, int(row.cpus), float(row.start_time), float(row.end_time)

    def node_instances(self, conn: Connection) -> list[tuple[str, str, dict[str, Any]]]:
        """(node name, node state, instance record) of every node with a recorded instance, by name.

        The instance record is what ``set_node_instance`` stored (``Instance.to_json()``).
        """
        n = schema.nodes.c
        q = select(n.name, n.state, n.instance).where(n.instance.is_not(None)).order_by(n.name)
        rows = conn.execute(q)
        return [(str(r.name), str(r.state), json.loads(r.instance)) for r in rows]

    def load_nodes(
        self, conn: Connection, defs: dict[str, NodeDef]
    ) -> list[tuple[Node, dict[str, Any] | None]]:
        out: list[tuple[Node, dict[str, Any] | None]] = []
        for r in conn.execute(select(schema.nodes)):
            d = defs.get(r.name)
            if d is None:
                continue
            node = Node(
                defn=d,
                state=NodeState(r.state),
                state_time=r.state_time,
                reason=r.reason,
                reason_time=r.reason_time,
                instance_id=r.instance_id,
                boot_time=r.boot_time,
                idle_since=r.idle_since,
                last_busy_time=r.last_busy_time,
            )
            out.append((node, json.loads(r.instance) if r.instance else None))
        return out

    def start_step(
        self,
        conn: Connection,
        job_id: int,
        run: int,
        step_id: int,
        name: str,
        nodes: list[str],
        ntasks: int,
        cpus: int,
        now: float,
    ) -> None:
        """Record a job step (srun) that starts now."""
        conn.execute(
            schema.steps.insert().values(
                job_id=job_id,
                run=run,
                step_id=step_id,
                name=name,
                nodes=json.dumps(nodes),
                ntasks=ntasks,
                cpus=cpus,
                start_time=now,
                state="RUNNING",
                exit_code=0,
                exit_signal=0,
            )
        )

    def end_step(
        self,
        conn: Connection,
        job_id: int,
        run: int,
        step_id: int,
        state: str,
        exit_code: int,
        signal: int,
        now: float,
        usage: dict[str, float] | None = None,
    ) -> None:
        """Record how a job step ended, and what its tasks used (as the agents measured it)."""
        s = schema.steps.c
        conn.execute(
            schema.steps.update()
            .where(s.job_id == job_id, s.run == run, s.step_id == step_id)
            .values(
                state=state,
                exit_code=exit_code,
                exit_signal=signal,
                end_time=now,
                usage=json.dumps(usage) if usage else None,
            )
        )

    def last_step_id(self, conn: Connection, job_id: int, run: int) -> int:
        """The highest step id a run of a job has used (-1 when none)."""
        s = schema.steps.c
        row = conn.execute(
            select(s.step_id).where(s.job_id == job_id, s.run == run).order_by(s.step_id.desc())
        ).first()
        return -1 if row is None else int(row[0])

    def job_states(self, conn: Connection, job_id: int, task_id: int | None) -> list[str]:
        """The stored states of job ``job_id``, or of its array's tasks (``task_id``: one of them)."""
        j = schema.jobs.c
        q = select(j.state).where((j.id == job_id) | (j.array_id == job_id))
        if task_id is not None and task_id >= 0:
            q = q.where(j.task_id == task_id)
        return [r[0] for r in conn.execute(q)]

    def load_accounting(
        self,
        conn: Connection,
        *,
        job_ids: Iterable[int] = (),
        users: Iterable[str] = (),
        start: float | None = None,
        end: float | None = None,
    ) -> list[tuple[Job, dict[str, Any], list[dict[str, Any]]]]:
        """Every stored job matching the filters, with its payload summary and its ended runs.

        ``job_ids`` match a job's own id or its array's id. The time window keeps jobs that
        were submitted before ``end`` and had not ended before ``start``.
        """
        j = schema.jobs.c
        q = select(schema.jobs)
        ids = list(job_ids)
        if ids:
            q = q.where(j.id.in_(ids) | j.array_id.in_(ids))
        names = list(users)
        if names:
            q = q.where(j.user.in_(names))
        if start is not None:
            q = q.where(j.end_time.is_(None) | (j.end_time >= start))
        if end is not None:
            q = q.where(j.submit_time <= end)
        jobs = [row_to_job(r._mapping) for r in conn.execute(q.order_by(j.id))]
        infos = self.load_payload_infos(
            conn, {job.array_id if job.array_id is not None else job.id for job in jobs}
        )
        runs: dict[int, list[dict[str, Any]]] = {}
        r = schema.runs.c
        all_ids = [job.id for job in jobs]
        for i in range(0, len(all_ids), 500):
            chunk = all_ids[i : i + 500]
            for row in conn.execute(select(schema.runs).where(r.job_id.in_(chunk)).order_by(r.job_id, r.run)):
                d = dict(row._mapping)
                d["nodes"] = tuple(json.loads(d["nodes"]))
                d["usage"] = json.loads(d["usage"]) if d["usage"] else None
                runs.setdefault(d["job_id"], []).append(d)
        st = schema.steps.c
        for i in range(0, len(all_ids), 500):
            chunk = all_ids[i : i + 500]
            for row in conn.execute(
                select(schema.steps).where(st.job_id.in_(chunk)).order_by(st.job_id, st.step_id)
            ):
                d = dict(row._mapping)
                d["nodes"] = tuple(json.loads(d["nodes"]))
                d["usage"] = json.loads(d["usage"]) if d.get("usage") else None
                d["kind"] = "step"
                runs.setdefault(d["job_id"], []).append(d)
        return [
            (job, infos.get(job.array_id if job.array_id is not None else job.id, {}), runs.get(job.id, []))
            for job in jobs
        ]

    def load_run_charges(
        self, conn: Connection, *, after: int = 0, job_ids: Iterable[int] | None = None
    ) -> list[RunCharge]:
        """The recorded runs of stored jobs, with what their cost is charged to, in the order
        they were recorded: those recorded after the run whose ``seq`` is ``after`` (runs are
        only ever added, never changed, so a reader can carry on from where it stopped), of
        jobs ``job_ids`` only when given.

        One query over ``runs`` joined to ``jobs``, reading only the spec's ``account`` and
        ``exclusive`` (SQLite's JSON functions) rather than decoding whole jobs. ``alloc`` is
        the run's allocation node by node where the job still has it (its last run), else None.
        """
        r = schema.runs.c
        j = schema.jobs.c
        seq = literal_column("runs.rowid", Integer)  # SQLite's: increasing, as runs are never deleted
        q = (
            select(
                seq,
                r.job_id,
                r.run,
                r.start_time,
                r.end_time,
                r.nodes,
                r.cpus,
                j.user,
                func.json_extract(j.spec, "$.account"),
                j.partition,
                func.json_extract(j.spec, "$.exclusive"),
                case((r.run == j.run, j.alloc), else_=None),
            )
            .select_from(schema.runs.join(schema.jobs, r.job_id == j.id))
            .where(seq > after)
            .order_by(seq)
        )
        queries = [q]
        if job_ids is not None:
            ids = sorted(set(job_ids))
            queries = [q.where(r.job_id.in_(ids[i : i + 500])) for i in range(0, len(ids), 500)]
        return [
            RunCharge(
                int(row[0]),
                int(row[1]),
                int(row[2]),
                row[3],
                float(row[4]),
                _json_tuple(row[5]),
                int(row[6]),
                str(row[7]),
                str(row[8] or ""),
                str(row[9] or ""),
                bool(row[10]),
                _alloc_cpus(row[11]) if row[11] else None,
            )
            for query in queries
            for row in conn.execute(query)
        ]

    def load_partitions(self, conn: Connection) -> dict[str, bool]:
        """Partition name -> whether it is UP, for every stored partition."""
        return {r.name: bool(r.up) for r in conn.execute(select(schema.partitions))}

    def load_disabled_partitions(self, conn: Connection) -> set[str]:
        """The stored partitions an administrator disabled."""
        rows = conn.execute(select(schema.partitions.c.name).where(schema.partitions.c.disabled == 1))
        return {r.name for r in rows}

    def set_partition_disabled(self, conn: Connection, name: str) -> None:
        """Record partition ``name`` as disabled before the engine has it (a queue an update of
        the configuration is adding): it starts INACTIVE and disabled once it exists."""
        conn.execute(_PARTITION_UPSERT, [{"name": name, "up": 0, "disabled": 1}])

    def forget_partitions(self, conn: Connection, names: Iterable[str]) -> None:
        """Drop the stored state of partitions ``names`` (queues no longer configured), so that a
        queue added again later under the same name starts as a new one."""
        wanted = sorted(names)
        if wanted:
            conn.execute(schema.partitions.delete().where(schema.partitions.c.name.in_(wanted)))

    def journal_for(self, conn: Connection, entity: str, key: str) -> list[Transition]:
        q = (
            select(schema.journal)
            .where(schema.journal.c.entity == entity, schema.journal.c.key == key)
            .order_by(schema.journal.c.seq)
        )
        return [
            Transition(r.entity, r.key, r.old, r.new, r.time, r.cause, r.reason, r.run)
            for r in conn.execute(q)
        ]

    def journal_after(self, conn: Connection, after_seq: int, limit: int) -> list[tuple[int, Transition]]:
        """Up to ``limit`` journal entries past ``after_seq``, oldest first, with their seq."""
        q = (
            select(schema.journal)
            .where(schema.journal.c.seq > after_seq)
            .order_by(schema.journal.c.seq)
            .limit(limit)
        )
        return [
            (r.seq, Transition(r.entity, r.key, r.old, r.new, r.time, r.cause, r.reason, r.run))
            for r in conn.execute(q)
        ]


# -- codecs ---------------------------------------------------------------------------------------


def job_to_row(job: Job) -> dict[str, Any]:
    return {
        "id": job.id,
        "array_id": job.array_id,
        "task_id": job.task_id,
        "pending_tasks": job.pending_tasks.to_spec() if job.pending_tasks is not None else None,
        "payload_id": job.array_id if job.array_id is not None else job.id,
        "state": job.state.value,
        "reason": job.reason,
        "final_state": job.final_state.value if job.final_state else None,
        "held": int(job.held),
        "partition": job.partition,
        "priority": job.priority,
        "submit_time": job.submit_time,
        "eligible_time": job.eligible_time,
        "start_time": job.start_time,
        "end_time": job.end_time,
        "state_time": job.state_time,
        "time_limit_s": job.time_limit_s,
        "run": job.run,
        "exit_code": job.exit_code,
        "exit_signal": job.exit_signal,
        "spec": json.dumps(asdict(job.spec)),
        "alloc": json.dumps(asdict(job.alloc)) if job.alloc is not None else None,
        "user": job.spec.user,
        "name": job.spec.name,
    }


@functools.lru_cache(maxsize=4096)
def _json_tuple(text: str) -> tuple[Any, ...]:
    """A stored JSON list as a tuple, cached by its text: runs of a cluster share few node lists."""
    return tuple(json.loads(text))


@functools.lru_cache(maxsize=4096)
def _alloc_cpus(text: str) -> tuple[tuple[str, ...], tuple[int, ...]]:
    """(nodes, CPUs on each) of a stored Allocation, cached by its text like node lists."""
    a = json.loads(text)
    return tuple(a["nodes"]), tuple(a["cpus"])


@functools.lru_cache(maxsize=4096)
def _info(text: str) -> dict[str, Any]:
    """A stored payload summary, cached by its text like specs (callers never modify it)."""
    info: dict[str, Any] = json.loads(text)
    return info


@functools.lru_cache(maxsize=4096)
def _spec(text: str) -> JobSpec:
    """A stored JobSpec. Cached by its text: jobs of one workload mostly share their spec, and
    JobSpecs are immutable, so loading 10,000 jobs decodes a handful of them."""
    spec_d = json.loads(text)
    for key in ("partitions", "features"):
        spec_d[key] = tuple(spec_d.get(key) or ())
    spec_d["dependencies"] = tuple(DepCondition(**d) for d in spec_d.get("dependencies") or ())
    rules = spec_d.get("retry_rules") or ()
    spec_d["retry_rules"] = tuple(
        RetryRule(
            r["action"], r.get("exit_code"), None if r.get("end_states") is None else tuple(r["end_states"])
        )
        for r in rules
    )
    if spec_d.get("warn_signal") is not None:
        spec_d["warn_signal"] = tuple(spec_d["warn_signal"])
    return JobSpec(**spec_d)


def row_to_job(r: Any) -> Job:
    spec = _spec(r["spec"])
    alloc = None
    if r["alloc"]:
        a = json.loads(r["alloc"])
        alloc = Allocation(**{k: tuple(v) for k, v in a.items()})
    return Job(
        id=r["id"],
        spec=spec,
        submit_time=r["submit_time"],
        priority=r["priority"],
        state=JobState(r["state"]),
        reason=r["reason"],
        array_id=r["array_id"],
        task_id=r["task_id"],
        pending_tasks=IndexSet.from_spec(r["pending_tasks"]) if r["pending_tasks"] is not None else None,
        partition=r["partition"],
        eligible_time=r["eligible_time"],
        start_time=r["start_time"],
        end_time=r["end_time"],
        state_time=r["state_time"],
        alloc=alloc,
        run=r["run"],
        exit_code=r["exit_code"],
        exit_signal=r["exit_signal"],
        final_state=JobState(r["final_state"]) if r["final_state"] else None,
        held=bool(r["held"]),
        time_limit_s=r["time_limit_s"],
    )


def node_to_row(node: Node) -> dict[str, Any]:
    return {
        "name": node.name,
        "state": node.state.value,
        "state_time": node.state_time,
        "reason": node.reason,
        "reason_time": node.reason_time,
        "instance_id": node.instance_id,
        "boot_time": node.boot_time,
        "idle_since": node.idle_since,
        "last_busy_time": node.last_busy_time,
        "instance": None,
    }

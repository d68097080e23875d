"""Test support: the reference captures of real Slurm 22.05, and an in-memory backend."""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from stratus.engine.indexset import IndexSet
from stratus.slurm import errors, jobstate
from stratus.slurm.commands import run_command
from stratus.slurm.errors import JOB_NOT_PENDING, JOB_PENDING
from stratus.slurm.timefmt import duration_mins
from stratus.slurm.views import (
    AcctQuery,
    AcctRow,
    BatchRequest,
    CancelRequest,
    CancelResult,
    ClientContext,
    CommandResult,
    ControlRequest,
    ControlResult,
    JobRow,
    JobTarget,
    NodeRow,
    PartitionRow,
    PriorityRow,
    PriorityWeights,
    ShareRow,
)

REFERENCE = Path(__file__).resolve().parents[1] / "golden/slurm"
CAPTURE_DAY = (2026, 11, 22)


def ref_path(name: str) -> Path:
    """A reference capture of real Slurm (kept in ``tests/golden/slurm``)."""
    path = REFERENCE / name
    assert path.is_file(), f"reference capture {name} is missing"
    return path


def at(hms: str) -> float:
    """POSIX time of ``HH:MM:SS`` on the capture day, in the local time zone (as Slurm prints)."""
    h, m, s = (int(x) for x in hms.split(":"))
    y, mo, d = CAPTURE_DAY
    return time.mktime((y, mo, d, h, m, s, 0, 0, -1))


@dataclass
class Capture:
    """One ``$ command`` of a capture file with what it printed."""

    cmd: str
    stdout: str
    stderr: str = ""
    exit_code: int | None = None


def parse_capture(path: Path) -> list[Capture]:
    """The ``$ cmd`` blocks of a capture file (``--- stderr:`` / ``--- exit code:`` markers)."""
    out: list[Capture] = []
    cur: Capture | None = None
    section = "none"
    buf: list[str] = []
    for line in path.read_text().split("\n"):
        if section == "none":
            if line.startswith("$ "):
                cur = Capture(line[2:], "")
                section = "stdout"
                buf = []
            continue
        assert cur is not None
        if line == "--- stderr:":
            cur.stdout = "".join(x + "\n" for x in buf)
            buf = []
            section = "stderr"
            continue
        m = re.match(r"--- exit code: (\d+)$", line)
        if m:
            text = "".join(x + "\n" for x in buf)
            if section == "stdout":
                cur.stdout = text
            else:
                cur.stderr = text
            cur.exit_code = int(m.group(1))
            out.append(cur)
            section = "none"
            continue
        buf.append(line)
    return out


def find(captures: Sequence[Capture], cmd: str, nth: int = 0) -> Capture:
    """The ``nth`` capture of exactly ``cmd``."""
    hits = [c for c in captures if c.cmd == cmd]
    assert len(hits) > nth, f"{cmd!r} not in capture ({[c.cmd for c in captures]})"
    return hits[nth]


@dataclass
class Snapshot:
    """One ``=== t+Ns HH:MM:SS`` block of the cloud captures: sinfo then squeue output."""

    label: str
    clock: str
    sinfo: str
    squeue: str


def parse_snapshots(path: Path) -> list[Snapshot]:
    """The timed snapshots of 40_cloud_03/04."""
    snaps: list[Snapshot] = []
    lines = path.read_text().split("\n")
    i = 0
    while i < len(lines):
        m = re.match(r"=== (t\+\d+s)\s+(\d\d:\d\d:\d\d)$", lines[i])
        if not m:
            i += 1
            continue
        i += 1
        blocks: list[list[str]] = [[]]
        while i < len(lines) and not lines[i].startswith(("===", "$ ")):
            if lines[i] == "":
                if blocks[-1]:
                    blocks.append([])
            else:
                blocks[-1].append(lines[i])
            i += 1
        blocks = [b for b in blocks if b]
        sinfo = "".join(x + "\n" for x in blocks[0])
        squeue = "".join(x + "\n" for x in blocks[1]) if len(blocks) > 1 else ""
        snaps.append(Snapshot(m.group(1), m.group(2), sinfo, squeue))
    return snaps


# -- an in-memory backend ---------------------------------------------------------------------


@dataclass
class FakeBackend:
    """A SlurmBackend over plain lists; submit assigns ids and applies a few cluster checks."""

    cluster_name: str = "oracle"
    max_array_size: int = 1001
    clock: float = 0.0
    job_rows: list[JobRow] = field(default_factory=list)
    node_rows: list[NodeRow] = field(default_factory=list)
    part_rows: list[PartitionRow] = field(default_factory=list)
    next_id: int = 1
    submitted: list[BatchRequest] = field(default_factory=list)
    cancels: list[CancelRequest] = field(default_factory=list)
    enforce_part_limits: bool = False
    controls: list[ControlRequest] = field(default_factory=list)
    acct_rows: list[AcctRow] = field(default_factory=list)
    acct_queries: list[AcctQuery] = field(default_factory=list)
    config: dict[str, str] = field(default_factory=dict)  # what slurm_config() adds to show config
    held_priority: dict[int, int] = field(default_factory=dict)
    weights: PriorityWeights = field(default_factory=PriorityWeights)
    priority_rows: list[PriorityRow] = field(default_factory=list)
    share_rows: list[ShareRow] = field(default_factory=list)

    def priorities(self) -> tuple[PriorityWeights, list[PriorityRow]]:
        return self.weights, list(self.priority_rows)

    def shares(self) -> tuple[str, list[ShareRow]]:
        return self.weights.priority_type, list(self.share_rows)

    def submit(self, request: BatchRequest, ctx: ClientContext) -> int:
        names = request.partitions or [p.name for p in self.part_rows if p.default][:1]
        for name in names:
            if name not in {p.name for p in self.part_rows}:
                raise errors.invalid_partition(name)
        part = next(p for p in self.part_rows if p.name == names[0])
        nodes = [n for n in self.node_rows if n.name in part.nodes]
        if request.mem_per_node_mb and request.mem_per_node_mb > max(n.memory_mb for n in nodes):
            raise errors.memory_unsatisfiable()
        if request.constraint and not any(request.constraint in n.features for n in nodes):
            raise errors.invalid_feature()
        max_cpus = max(n.cpus for n in nodes)
        cloud = any("CLOUD" in n.flags for n in nodes)
        if (request.cpus_per_task or 1) > max_cpus and cloud and not self.enforce_part_limits:
            raise errors.cpus_unsatisfiable()
        if self.enforce_part_limits:
            if (request.cpus_per_task or 1) > max_cpus or (request.ntasks or 1) > max_cpus * len(nodes):
                raise errors.too_many_processors()
            if (request.min_nodes or 1) > len(nodes):
                raise errors.node_count_invalid()
        self.submitted.append(request)
        job_id = self.next_id
        self.next_id += 1
        return job_id

    def cancel(self, request: CancelRequest, ctx: ClientContext) -> CancelResult:
        self.cancels.append(request)
        errs: list[str] = []
        done = 0
        for t in request.targets:
            hits = [
                r
                for r in self.job_rows
                if t.job_id in (r.job_id, r.array_job_id)
                and (
                    t.task_ids is None
                    or (r.array_task_id is not None and r.array_task_id in t.task_ids)
                    or (r.array_pending is not None and any(i in r.array_pending for i in t.task_ids))
                )
            ]
            if hits:
                done += 1
            else:
                errs.append(errors.kill_job_error(_target_text(t.job_id, t.task_ids)))
        return CancelResult(cancelled=done, errors=errs, exit_code=1 if errs else 0)

    def jobs(self, finished: bool = True) -> Iterable[JobRow]:
        return list(self.job_rows)

    def nodes(self) -> Iterable[NodeRow]:
        return list(self.node_rows)

    def partitions(self) -> Iterable[PartitionRow]:
        return list(self.part_rows)

    def now(self) -> float:
        return self.clock

    def slurm_config(self) -> Mapping[str, str]:
        return dict(self.config)

    # -- scontrol job actions, applied to the rows in memory --------------------------------

    def _targets(self, t: JobTarget) -> list[int]:
        """Indexes of the rows a target names (a job, its array, or some tasks of it)."""
        out = []
        for i, r in enumerate(self.job_rows):
            if t.task_ids is None:
                if t.job_id in (r.job_id, r.array_job_id):
                    out.append(i)
            elif r.array_job_id == t.job_id and (
                (r.array_task_id is not None and r.array_task_id in t.task_ids)
                or (r.array_pending is not None and any(x in r.array_pending for x in t.task_ids))
            ):
                out.append(i)
        return out

    def control(self, request: ControlRequest, ctx: ClientContext) -> ControlResult:
        self.controls.append(request)
        failures: list[tuple[str, str]] = []
        for t in request.targets:
            label = _target_text(t.job_id, t.task_ids)
            hits = self._targets(t)
            if not hits:
                failures.append((label, errors.INVALID_JOB_ID))
                continue
            problem = None
            for i in hits:
                problem = self._apply(i, request) or problem
            if problem:
                failures.append((label, problem))
        return ControlResult(failures=failures, exit_code=1 if failures else 0)

    def _apply(self, i: int, request: ControlRequest) -> str | None:
        r = self.job_rows[i]
        action = request.action
        if action in ("hold", "uhold"):
            if not jobstate.is_pending(r.state):
                return JOB_NOT_PENDING
            self.held_priority.setdefault(r.job_id, r.priority)
            self.job_rows[i] = replace(r, priority=0, reason="JobHeldUser")
        elif action == "release":
            if r.job_id in self.held_priority:
                prio = self.held_priority.pop(r.job_id)
                self.job_rows[i] = replace(r, priority=prio, reason="None")
        elif action in ("requeue", "requeuehold"):
            if jobstate.is_pending(r.state):
                return JOB_PENDING
            self.job_rows[i] = replace(
                r,
                state="PENDING",
                reason="JobHeldUser" if action == "requeuehold" else "BeginTime",
                restarts=r.restarts + 1,
                start_time=None,
                end_time=None,
                nodes=(),
            )
        elif action == "update":
            f = request.fields
            changes: dict[str, object] = {}
            if "JobName" in f:
                changes["name"] = f["JobName"]
            if "TimeLimit" in f:
                changes["time_limit_min"] = duration_mins(f["TimeLimit"])
            if "Partition" in f:
                changes["partition"] = f["Partition"]
            if "NumCPUs" in f:
                changes["num_cpus"] = int(f["NumCPUs"].split("-")[0])
            if "Nice" in f:
                changes["nice"] = int(f["Nice"])
            if "MinMemoryNode" in f:
                changes["min_memory_mb"] = int(f["MinMemoryNode"])
            if "Comment" in f:
                changes["comment"] = f["Comment"]
            self.job_rows[i] = replace(r, **changes)  # type: ignore[arg-type]
        return None

    # -- sacct: the accounting rows in memory --------------------------------------------------

    def accounting(self, query: AcctQuery) -> Iterable[AcctRow]:
        """Rows of the jobs matching the query (a superset of sacct's window, as a store keeps)."""
        self.acct_queries.append(query)
        out = []
        for r in self.acct_rows:
            if query.job_ids and not ({r.job_id, r.array_job_id} & set(query.job_ids)):
                continue
            if query.users and r.user not in query.users:
                continue
            if query.end is not None and r.submit_time > query.end:
                continue
            if query.start is not None and r.end_time is not None and r.end_time < query.start:
                continue
            out.append(r)
        return out


def _target_text(job_id: int, tasks: IndexSet | None) -> str:
    if tasks is None:
        return str(job_id)
    ids = list(tasks)
    return f"{job_id}_{ids[0]}" if len(ids) == 1 else f"{job_id}_[{tasks.to_slurm()}]"


def make_ctx(cwd: str = "/home/user/work", stdin: bytes | None = None, **env: str) -> ClientContext:
    """The submitting user of the captures: root in /home/user/work on host vm."""
    base = {"PATH": "/usr/bin:/bin"}
    base.update(env)
    return ClientContext(user="root", uid=0, gid=0, cwd=cwd, env=base, host="vm", stdin=stdin, group="root")


def run(backend: FakeBackend, cmdline: str, ctx: ClientContext | None = None) -> CommandResult:
    """Run a captured command line (``squeue -t all``) against ``backend``."""
    import shlex

    words = shlex.split(cmdline)
    return run_command(words[0], words[1:], ctx or make_ctx(), backend)


# -- the reference cluster ----------------------------------------------------------------------

STATIC = "queue1-st-local-1"


def static_node(state: str = "IDLE", alloc_cpus: int = 0, **kw: object) -> NodeRow:
    """queue1-st-local-1: 2 CPUs (1 socket, 2 cores), 24105 MB, weight 1."""
    base: dict[str, object] = {
        "name": STATIC,
        "partitions": ("queue1",),
        "state": state,
        "cpus": 2,
        "alloc_cpus": alloc_cpus,
        "memory_mb": 24105,
        "sockets": 1,
        "cores_per_socket": 2,
        "threads_per_core": 1,
        "weight": 1,
    }
    base.update(kw)
    return NodeRow(**base)  # type: ignore[arg-type]


def cloud_node(
    i: int, state: str = "IDLE", flags: Iterable[str] = ("POWERED_DOWN",), **kw: object
) -> NodeRow:
    """queue1-dy-t2micro-<i>: a CLOUD node of 1 CPU, 900 MB, weight 1000, three features."""
    base: dict[str, object] = {
        "name": f"queue1-dy-t2micro-{i}",
        "partitions": ("queue1",),
        "state": state,
        "flags": frozenset({"CLOUD", *flags}),
        "cpus": 1,
        "alloc_cpus": 1 if state in ("ALLOCATED", "MIXED") else 0,
        "memory_mb": 900,
        "weight": 1000,
        "features": ("dynamic", "t2.micro", "t2micro"),
    }
    base.update(kw)
    return NodeRow(**base)  # type: ignore[arg-type]


def queue1(nodes: Sequence[NodeRow]) -> PartitionRow:
    return PartitionRow("queue1", tuple(n.name for n in nodes), default=True)


PRIO_BASE = 4294901767  # job N of the captures has priority PRIO_BASE - N (Slurm's priority/basic)


def job(
    job_id: int,
    name: str,
    state: str,
    *,
    start: str | None = None,
    end: str | None = None,
    submit: str = "09:21:00",
    reason: str = "None",
    nodes: tuple[str, ...] = (STATIC,),
    array: tuple[int, int] | None = None,
    pending_ids: object = None,
    prio_of: int | None = None,
    **kw: object,
) -> JobRow:
    """A job row of the reference cluster (user root, partition queue1)."""
    fields: dict[str, object] = {
        "job_id": job_id,
        "name": name,
        "user": "root",
        "uid": 0,
        "gid": 0,
        "partition": "queue1",
        "state": state,
        "reason": reason,
        "submit_time": at(submit),
        "priority": PRIO_BASE - (prio_of if prio_of is not None else job_id),
        "start_time": at(start) if start else None,
        "end_time": at(end) if end else None,
        "nodes": () if state == "PENDING" else nodes,
        "workdir": "/home/user/work",
    }
    if array is not None:
        fields["array_job_id"], task = array
        if task >= 0:
            fields["array_task_id"] = task
    if pending_ids is not None:
        fields["array_pending"] = pending_ids
    fields.update(kw)
    return JobRow(**fields)  # type: ignore[arg-type]

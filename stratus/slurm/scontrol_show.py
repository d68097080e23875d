"""``scontrol show``: which records an entity and id select, and what is said when none match.

Guarantees: ``show job ID`` loads what ``slurm_load_job`` returns (the job, or every record of
its array), ``ID_TASK`` picks one task; unknown ids and names are reported with Slurm's words on
the stream Slurm uses (``Job 18_20 not found`` on stdout, ``slurm_load_jobs error`` on stderr);
``show hostnames``/``hostlist``/``hostlistsorted`` expand and compress host lists, reading a
file on the client's machine when given a path.
"""

from __future__ import annotations

from collections.abc import Sequence

from stratus.slurm import hostlist
from stratus.slurm.arrays import bitstr_len
from stratus.slurm.cparse import isdigits
from stratus.slurm.errors import INVALID_JOB_ID

# Name splitting and zero-padding compatibility are Slurm's hostrange rules, kept in hostlist.
from stratus.slurm.hostlist import compress_in_order
from stratus.slurm.scontrol_records import (
    JobFormatContext,
    format_config,
    format_job,
    format_node,
    format_partition,
    short_host,
)
from stratus.slurm.scontrol_session import PROG, USAGE, Session, kw
from stratus.slurm.timefmt import fmt_timestamp
from stratus.slurm.views import JobRow, SlurmBackend


def job_records(rows: Sequence[JobRow], job_id: int) -> list[JobRow]:
    """What slurm_load_job returns for ``job_id``: the job, or every record of its array.

    The record whose own id is ``job_id`` comes first; other tasks of the array follow newest
    first, the order of slurmctld's array hash chain.
    """
    head = [r for r in rows if r.job_id == job_id]
    if head and head[0].array_job_id is None:
        return head[:1]
    if head and head[0].array_job_id != job_id:
        return head[:1]  # a task's own job id: that task only
    others = [r for r in rows if r.array_job_id == job_id and r.job_id != job_id]
    others.sort(key=lambda r: r.job_id, reverse=True)
    return head[:1] + others


def _parse_show_job_id(text: str) -> tuple[int, int | None, int | None] | None:
    """scontrol_print_job's check: digits, ``_`` and ``+`` only.

    Returns (job id, task id or None, heterogeneous offset or None); None for anything else.
    """
    if any(not (isdigits(ch) or ch in "_+") for ch in text):
        return None

    def number(at: int) -> tuple[int, int]:
        end = at
        while end < len(text) and isdigits(text[end]):
            end += 1
        return (int(text[at:end]) if end > at else 0), end

    job_id, i = number(0)
    task: int | None = None
    offset: int | None = None
    if text[i : i + 1] == "_":
        task, i = number(i + 1)
    if text[i : i + 1] == "+":
        offset, i = number(i + 1)
    return job_id, task, offset


def _part_first_mem(backend: SlurmBackend) -> dict[str, int]:
    nodes = {n.name: n for n in backend.nodes()}
    out: dict[str, int] = {}
    for p in backend.partitions():
        first = next((nodes[name] for name in p.nodes if name in nodes), None)
        out[p.name] = first.memory_mb if first is not None else 0
    return out


def _show_jobs(s: Session, val: str | None) -> None:
    job_id = 0
    task_id: int | None = None
    het_offset: int | None = None
    if val is not None:
        parsed = _parse_show_job_id(val)
        if parsed is None:
            s.error(f"scontrol_print_job error: {INVALID_JOB_ID}")
            return
        job_id, task_id, het_offset = parsed
    rows = list(s.backend.jobs())
    now = s.backend.now()
    if job_id:
        records = job_records(rows, job_id)
        if not records:
            s.error(f"slurm_load_jobs error: {INVALID_JOB_ID}")
            return
    else:
        records = sorted(rows, key=lambda r: r.job_id)
    if s.quiet == -1:
        s.out.append(f"last_update_time={fmt_timestamp(now)}, records={len(records)}\n")
    jc = JobFormatContext(now, short_host(), _part_first_mem(s.backend), bitstr_len(s.ctx.env))
    printed = 0
    for row in records:
        override: int | None = None
        if het_offset is not None:
            continue  # stratus has no heterogeneous jobs: no component matches
        if task_id is not None:
            if row.array_task_id == task_id and row.array_pending is None:
                pass
            elif row.array_pending is not None and task_id in row.array_pending:
                override = task_id
            else:
                continue
        s.out.append(format_job(row, jc, one_liner=s.one_liner, details=s.details, task_id=override))
        printed += 1
    if printed == 0:
        if val is not None:
            s.exit_code = 1
            if s.quiet != 1:
                if task_id is not None:
                    shown = f"{job_id}_{task_id}"
                elif het_offset is not None:
                    shown = f"{job_id}+{het_offset}"
                else:
                    shown = str(job_id)
                s.out.append(f"Job {shown} not found\n")
        elif s.quiet != 1:
            s.out.append("No jobs in the system\n")


def _show_nodes(s: Session, val: str | None) -> None:
    nodes = list(s.backend.nodes())
    if s.quiet == -1:
        s.out.append(f"last_update_time={fmt_timestamp(s.backend.now())}, records={len(nodes)}\n")
    if val is None:
        if not nodes and s.quiet != 1:
            s.out.append("No nodes in the system\n")
        for n in nodes:
            s.out.append(format_node(n, one_liner=s.one_liner))
        return
    try:
        names = hostlist.expand(val)
    except hostlist.HostlistError:
        s.error(f"unable to parse node list {val}")
        return
    by_name = {n.name: n for n in nodes}
    for name in names:
        node = by_name.get(name)
        if node is None:
            s.exit_code = 1
            if s.quiet != 1:
                s.out.append(f"Node {name} not found\n")
            continue
        s.out.append(format_node(node, one_liner=s.one_liner))


def _show_partitions(s: Session, val: str | None) -> None:
    parts = list(s.backend.partitions())
    if s.quiet == -1:
        s.out.append(f"last_update_time={fmt_timestamp(s.backend.now())}, records={len(parts)}\n")
    nodes = {n.name: n for n in s.backend.nodes()}
    printed = 0
    for p in parts:
        if val is not None and p.name != val:
            continue
        s.out.append(format_partition(p, nodes, one_liner=s.one_liner))
        printed += 1
        if val is not None:
            break
    if printed == 0:
        if val is not None:
            s.exit_code = 1
            if s.quiet != 1:
                s.out.append(f"Partition {val} not found\n")
        elif s.quiet != 1:
            s.out.append("No partitions in the system\n")


# -- hostlists --------------------------------------------------------------------------------


def _show_hostnames(s: Session, val: str | None) -> None:
    text = val if val is not None else s.ctx.env.get("SLURM_NODELIST")
    if text is None:
        # error() without setting the exit code, as scontrol_print_hosts does.
        if s.quiet != 1:
            s.err.append(f"{PROG}: error: host list is empty\n")
        return
    try:
        names = hostlist.expand(text)
    except hostlist.HostlistError:
        s.err.append(f"Invalid hostlist: {text}\n")
        return
    s.out.extend(name + "\n" for name in names)


def _show_hostlist(s: Session, val: str | None, sorted_: bool) -> None:
    if val is None:
        s.error("invalid encode argument", always=True)
        s.out.append(USAGE)
        return
    text = val
    if val.startswith("/"):
        # A file of host names on the client's machine: ask the client for it.
        if val not in s.ctx.files:
            s.need_file = val
            return
        data = s.ctx.files[val]
        if data is None:
            s.error(f"Can not open {val}", always=True)
            return
        if len(data) >= 1024 * 1024:
            s.error(f"File {val} is too large", always=True)
            return
        text = data.decode(errors="replace").replace("\n", ",")
        while ",," in text:
            text = text.replace(",,", ",")
    try:
        names = hostlist.expand(text)
    except hostlist.HostlistError:
        s.error(f"Invalid hostlist: {text}", always=True)
        return
    if sorted_:
        names.sort(key=hostlist.sort_key)
    s.out.append(compress_in_order(names) + "\n")


# -- show ----------------------------------------------------------------------------------------


def run_show(s: Session, words: Sequence[str]) -> None:
    if len(words) < 2:
        s.error(f"too few arguments for keyword:{words[0]}")
        return
    if len(words) > 3:
        s.error(f"too many arguments for keyword:{words[0]}")
        return
    entity = words[1]
    tag, eq, after = entity.partition("=")
    val: str | None = after if eq else (words[2] if len(words) == 3 else None)
    if kw(tag, "aliases", 1):
        return  # stratus nodes have no aliases: Slurm prints nothing either
    if kw(tag, "bbstat", 2) or kw(tag, "dwstat", 2) or kw(tag, "burstbuffer", 2):
        s.error(f"{PROG}: error: burst buffers are not supported by stratus")
    elif kw(tag, "assoc_mgr", 2) or kw(tag, "cache", 2):
        s.error(f"{PROG}: error: the association manager is not supported by stratus")
    elif kw(tag, "config", 1):
        s.out.append(format_config(s.backend, s.backend.now()))
    elif kw(tag, "daemons", 1):
        if val is not None:
            s.error(f"too many arguments for keyword:{words[0]}")
        else:
            s.error(f"{PROG}: error: show daemons is not supported by stratus")
    elif kw(tag, "Federations", 1) or kw(tag, "FrontendName", 1):
        s.error(f"{PROG}: error: show {tag} is not supported by stratus")
    elif kw(tag, "hostnames", 5):
        _show_hostnames(s, val)
    elif kw(tag, "hostlist", 5):
        _show_hostlist(s, val, False)
    elif kw(tag, "hostlistsorted", 9):
        _show_hostlist(s, val, True)
    elif kw(tag, "jobs", 1) or kw(tag, "jobid", 1):
        _show_jobs(s, val)
    elif kw(tag, "licenses", 2):
        s.out.append("No licenses configured in Slurm.\n")
    elif kw(tag, "nodes", 1):
        _show_nodes(s, val)
    elif kw(tag, "partitions", 2) or kw(tag, "partitionname", 2):
        _show_partitions(s, val)
    elif kw(tag, "reservations", 1) or kw(tag, "reservationname", 1):
        if val is not None:
            s.exit_code = 1
            if s.quiet != 1:
                s.out.append(f"Reservation {val} not found\n")
        elif s.quiet != 1:
            s.out.append("No reservations in the system\n")
    elif kw(tag, "slurmd", 2) or kw(tag, "steps", 2) or kw(tag, "topology", 1):
        s.error(f"{PROG}: error: show {tag} is not supported by stratus")
    else:
        s.error(f"invalid entity:{tag} for keyword:{words[0]} ")

"""``squeue``: filter, combine, sort and print the job rows of a backend like Slurm 22.05.

What decides the output, and where it comes from (src/squeue):

* Filtering (print.c ``_filter_job``): without ``-t`` only pending, running, suspended,
  completing and staging-out jobs show; ``-t`` matches state names exactly (so ``-t R`` does
  not list ``CF`` jobs); ``-j 18_5`` narrows a pending array record to the named tasks.
* Pending tasks of an array that were split off (requeued, held) are folded back into the
  array's pending record, merging their reasons (``_combine_pending_array_tasks``), unless
  ``-r`` asks for one line per task.
* Order (sort.c): first by start time, latest first (``sort_jobs_by_start_time``; records
  without a start time go last), then by the ``-S`` keys applied from last to first with a
  stable sort. The default keys are ``P,t,-p``: partition name, compact state *as a string*
  (so ``CA < CD < CF < F < PD < R < TO``), then priority descending. Rows tied on all of
  these and on start time come out by job id and task id; Slurm's order there comes from
  its internal job table (it differs between runs of the same workload).
* Printing (print.c): ``%[.][width]X`` fields padded and cut by :func:`columns.print_str`;
  a pending array prints as ``18_[1-9]`` (``%N`` limit appended, long lists cut to
  ``...``), the JOBID text itself being capped at 31 characters as in Slurm.
* ``--json``/``--yaml`` (squeue.c): every job as :mod:`stratus.slurm.openapi` dumps it, all
  other formatting and filtering options ignored.

This module sorts and prints. The parts: :mod:`~stratus.slurm.squeue_args` (the command line),
:mod:`~stratus.slurm.squeue_records` (filtering, combining) and :mod:`~stratus.slurm.squeue_fields`
(the output fields).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace

from stratus.slurm import hostlist, jobstate, openapi
from stratus.slurm.columns import parse_percent_format, print_str
from stratus.slurm.errors import INVALID_JOB_ID, check_clusters, command_error
from stratus.slurm.squeue_args import PROG, SqueueParams, parse_squeue_args
from stratus.slurm.squeue_fields import INFINITE32, ValueContext, build_columns, render, time_used
from stratus.slurm.squeue_records import Record, build_records, job_known
from stratus.slurm.timefmt import fmt_date_header
from stratus.slurm.views import ClientContext, CommandResult, SlurmBackend

STEP_FORMAT = "%.15i %.8j %.9P %.8u %.9M %N"
DEFAULT_SORT = "P,t,-p"


# -- sorting ----------------------------------------------------------------------------------


def _start_key(rec: Record, now: float) -> float:
    st = rec.row.start_time or 0.0
    if jobstate.is_pending(rec.state) and 0 < st < now:
        return now
    return st


def _first_node_key(rec: Record) -> tuple[object, ...]:
    nodes = sorted(rec.row.nodes, key=hostlist.sort_key)
    return hostlist.sort_key(nodes[0]) if nodes else ((), -1, -1, -1)


def _limit_key(rec: Record) -> int:
    lim = rec.row.time_limit_min
    return INFINITE32 if lim is None else lim


_SORT_KEYS: dict[str, Callable[[Record, ValueContext], object]] = {
    "B": lambda r, c: r.row.batch_host or "",
    "C": lambda r, c: r.row.num_cpus,
    "d": lambda r, c: 0,
    "D": lambda r, c: r.row.num_nodes,
    "e": lambda r, c: r.row.end_time or 0,
    "g": lambda r, c: r.row.group or "",
    "G": lambda r, c: r.row.gid,
    "H": lambda r, c: 0,
    "i": lambda r, c: r.sort_id(),
    "I": lambda r, c: 0,
    "j": lambda r, c: r.row.name,
    "J": lambda r, c: 0,
    "l": lambda r, c: _limit_key(r),
    "L": lambda r, c: (
        INFINITE32 if r.row.time_limit_min is None else r.row.time_limit_min * 60 - time_used(r.row, c.now)
    ),
    "m": lambda r, c: r.row.min_memory_mb or 0,
    "M": lambda r, c: time_used(r.row, c.now),
    "N": lambda r, c: _first_node_key(r),
    "p": lambda r, c: (r.part_prio, r.row.priority),
    "P": lambda r, c: r.part,
    "Q": lambda r, c: (r.part_prio, r.row.priority),
    "t": lambda r, c: jobstate.compact(r.state),
    "T": lambda r, c: jobstate.long_name(r.state),
    "u": lambda r, c: r.row.user,
    "U": lambda r, c: r.row.uid,
    "v": lambda r, c: r.row.reservation or "",
    "V": lambda r, c: r.row.submit_time,
    "z": lambda r, c: 0,
}
_SORT_NOOP = set("cfhnO")


def sort_records(recs: list[Record], spec: str, c: ValueContext) -> tuple[list[Record], list[str]]:
    """Apply squeue's sort keys (last key first, stable); returns records and info lines."""
    info: list[str] = []
    # Start time, latest first; records without a start time after every other.
    recs = sorted(recs, key=lambda r: r.sort_id())
    started = [r for r in recs if _start_key(r, c.now) > 0]
    unstarted = [r for r in recs if _start_key(r, c.now) <= 0]
    started.sort(key=lambda r: _start_key(r, c.now), reverse=True)
    recs = started + unstarted
    i = len(spec) - 1
    while i >= 0:
        ch = spec[i]
        if ch in ",+-":
            i -= 1
            continue
        reverse = i > 0 and spec[i - 1] == "-"
        if i + 1 >= 7 and spec[i - 6 : i + 1].lower() == "cluster":
            reverse = i >= 7 and spec[i - 7] == "-"
            i -= 7
            continue  # one cluster: every record has the same name
        if ch == "b":
            info.append(f"{PROG}: Invalid sort specification: b")
        elif ch == "S":
            with_start = [r for r in recs if r.row.start_time]
            without = [r for r in recs if not r.row.start_time]
            with_start.sort(key=lambda r: _start_key(r, c.now), reverse=reverse)
            recs = with_start + without
        elif ch in _SORT_KEYS:
            keyfn = _SORT_KEYS[ch]
            recs.sort(key=lambda r, k=keyfn: k(r, c), reverse=reverse)  # type: ignore[misc]
        elif ch not in _SORT_NOOP:
            raise command_error(PROG, f"Invalid sort specification: {ch}")
        i -= 1
    return recs, info


def _expand(rec: Record) -> list[Record]:
    if rec.pending_ids is None:
        return [rec]
    return [replace(rec, pending_ids=None, task_str=None, task_id=t) for t in rec.pending_ids]


def run_squeue(argv: Sequence[str], ctx: ClientContext, backend: SlurmBackend) -> CommandResult:
    """Run squeue against ``backend`` and print as Slurm does."""
    parsed = parse_squeue_args(argv, ctx)
    if isinstance(parsed, CommandResult):
        return parsed
    p = parsed
    if p.mimetype is not None:
        doc = openapi.jobs_document(backend.jobs(True), backend.now(), backend.cluster_name)
        return CommandResult(stdout=openapi.serialize(doc, p.mimetype))
    if p.clusters is not None:
        check_clusters(PROG, p.clusters, backend.cluster_name, p.clusters_from_env)
    now = backend.now()
    out: list[str] = []
    err: list[str] = []
    if not p.no_header and (p.iterate or p.verbose or p.long):
        out.append(fmt_date_header(now) + "\n")
    if p.clusters is not None and not p.no_header:
        out.append(f"CLUSTER: {backend.cluster_name}\n")
    if p.steps:
        # stratus keeps no job steps yet: the header only.
        return CommandResult(stdout="".join(out) + _step_header(p))
    # Finished jobs only matter for -t with a finished state, -t all, or explicit job ids.
    finished = p.all_states or bool(p.jobs) or any(s not in jobstate.ACTIVE for s in p.states or ())
    rows = list(backend.jobs(finished))
    if p.jobs and len(p.jobs) == 1 and not job_known(rows, p.jobs[0].job_id):
        return CommandResult(
            stdout="".join(out), stderr=f"slurm_load_jobs error: {INVALID_JOB_ID}\n", exit_code=1
        )
    if p.verbose:
        out.append(f"last_update_time={int(now)} records={len(rows)}\n")
    c = ValueContext(now, p.noconvert, backend.cluster_name, "SLURM_BITSTR_LEN" in ctx.env and not p.array)
    cols, col_errs = build_columns(p)
    err.extend(line + "\n" for line in col_errs)
    recs = build_records(rows, p, backend, ctx.env)
    recs, info = sort_records(recs, p.sort or DEFAULT_SORT, c)
    err.extend(line + "\n" for line in info)
    if not p.no_header:
        out.append(render(cols, None, c))
    for rec in recs:
        for one in _expand(rec) if p.array else [rec]:
            out.append(render(cols, one, c))
    return CommandResult(stdout="".join(out), stderr="".join(err))


def _step_header(p: SqueueParams) -> str:
    if p.no_header:
        return ""
    headers = {"i": "STEPID", "j": "NAME", "P": "PARTITION", "u": "USER", "M": "TIME", "N": "NODELIST",
               "l": "TIME_LIMIT", "S": "START_TIME", "U": "UID", "A": "TASKS"}  # fmt: skip
    parts: list[str] = []
    for spec in parse_percent_format(p.fmt or STEP_FORMAT):
        if spec.code == "":
            parts.append(spec.suffix or "")
            continue
        parts.append(print_str(headers.get(spec.code, ""), spec.width, spec.right, spec.code != "N"))
        parts.append(spec.suffix or "")
    return "".join(parts) + "\n"

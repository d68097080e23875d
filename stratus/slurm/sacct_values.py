"""The value of each sacct field for one output line, and how it is printed (print_fields.c).

Guarantees: step lines leave job-only fields blank and job lines leave step-only usage fields
blank; sizes are in Slurm's units (``--units``, ``--noconvert``); text wider than its column
is cut with a ``+`` while numbers and durations never are; ``-p``/``-P`` print
delimiter-separated values with or without a trailing delimiter.
"""

from __future__ import annotations

import grp
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from stratus.slurm import hostlist
from stratus.slurm.arrays import format_task_ids
from stratus.slurm.cparse import isdigits
from stratus.slurm.sacct_fields import COST_DECIMALS, Column
from stratus.slurm.sacct_records import Record
from stratus.slurm.timefmt import (
    UNIT_MEGA,
    UNIT_NONE,
    convert_num_unit,
    fmt_mins_long,
    fmt_secs_long,
    fmt_timestamp,
)
from stratus.slurm.views import AcctRow


@dataclass(frozen=True, slots=True)
class ValueContext:
    noconvert: bool
    units: int | None
    cluster: str


# -- values ---------------------------------------------------------------------------------


def job_id_text(r: AcctRow, task_override: int | None) -> str:
    """slurmdb_get_job_id_str: ``18``, ``18_5``, ``18_[6-64]``."""
    if r.array_job_id is not None:
        if task_override is not None:
            return f"{r.array_job_id}_{task_override}"
        if r.array_pending is not None:
            return f"{r.array_job_id}_[{format_task_ids(r.array_pending)}]"
        if r.array_task_id is not None:
            return f"{r.array_job_id}_{r.array_task_id}"
    return str(r.job_id)


def _cpu_time(secs: float) -> str:
    """sacct's _elapsed_time: ``00:05.123`` below an hour with milliseconds, else ``[D-]HH:MM:SS``."""
    whole = int(secs)
    usecs = round((secs - whole) * 1e6)
    if usecs >= 1000000:
        whole += usecs // 1000000
        usecs %= 1000000
    subsec = usecs // 1000 if usecs > 0 else 0
    s, m, h, d = whole % 60, (whole // 60) % 60, (whole // 3600) % 24, whole // 86400
    if d:
        return f"{d}-{h:02d}:{m:02d}:{s:02d}"
    if h:
        return f"{h:02d}:{m:02d}:{s:02d}"
    if subsec:
        return f"{m:02d}:{s:02d}.{subsec:03d}"
    return f"00:{m:02d}:{s:02d}"


def _size(value: float, unit: int, c: ValueContext) -> str:
    """A size as sacct prints it: converted while exact, or to --units, or kept (--noconvert)."""
    if c.units is not None:
        num = value
        u = unit
        while u < c.units:
            num /= 1024
            u += 1
        while u > c.units:
            num *= 1024
            u -= 1
        if int(num) == 0:
            return "0"
        suffix = "\0KMGTP"[u] if 0 <= u <= 5 else "?"
        suffix = suffix.replace("\0", "")
        return f"{int(num)}{suffix}" if float(int(num)) == num else f"{num:.2f}{suffix}"
    return convert_num_unit(value, unit, noconvert=c.noconvert)


def _exit_text(code: int, signal: int) -> str:
    if signal:
        return f"0:{signal}"
    return f"{code - 128 if code >= 128 else code}:0"


def _tres(pairs: Mapping[str, str]) -> str | None:
    """A TRES string as sacct prints it: ``name=value`` sorted by text."""
    if not pairs:
        return None
    return ",".join(sorted(f"{k}={v}" for k, v in pairs.items()))


def _mem_total(r: AcctRow) -> int | None:
    """The memory a job asked for in all (the ``mem`` of its requested TRES): ``--mem`` times
    its nodes, or ``--mem-per-cpu`` times its CPUs."""
    if r.req_mem_mb:
        return r.req_mem_mb * max(r.num_nodes, 1)
    if r.req_mem_cpu_mb:
        return r.req_mem_cpu_mb * max(r.req_cpus, 1)
    return None


def _alloc_tres(rec: Record, c: ValueContext) -> str | None:
    r = rec.row
    if not rec.is_step and not r.nodes:
        return None
    pairs = {"cpu": str(r.num_cpus), "node": str(r.num_nodes)}
    if not rec.is_step:
        pairs["billing"] = str(r.num_cpus)
        mem = _mem_total(r)
        if mem:
            pairs["mem"] = _size(float(mem), UNIT_MEGA, c)
        if r.req_gpus:
            pairs["gres/gpu"] = str(r.req_gpus * max(r.num_nodes, 1))
    return _tres(pairs)


def _req_tres(rec: Record, c: ValueContext) -> str | None:
    r = rec.row
    if rec.is_step:
        return None
    pairs = {"billing": str(r.req_cpus), "cpu": str(r.req_cpus), "node": str(r.num_nodes)}
    mem = _mem_total(r)
    if mem:
        pairs["mem"] = _size(float(mem), UNIT_MEGA, c)
    if r.req_gpus:
        pairs["gres/gpu"] = str(r.req_gpus * max(r.num_nodes, 1))
    return _tres(pairs)


Value = str | int | float | None


def _date(t: float | None, none: bool = False) -> str:
    if none:
        return "None"
    return fmt_timestamp(t)


def field_value(name: str, rec: Record, c: ValueContext) -> Value:
    """The value of field ``name`` for one line (None: blank, as Slurm prints missing data)."""
    r = rec.row
    job = not rec.is_step
    jr = rec.job if rec.job is not None else r  # job-level values of a step come from its job
    if name == "Account":
        return jr.account
    if name in ("AllocCPUS", "NCPUS"):
        return r.num_cpus
    if name == "AllocNodes":
        return str(r.num_nodes if (rec.is_step or r.nodes) else 0)
    if name == "AllocTRES":
        return _alloc_tres(rec, c)
    if name == "Cluster":
        return jr.cluster or c.cluster
    if name == "Cost":
        return r.cost if job else None
    if name == "CPUTime":
        return rec.elapsed * r.num_cpus
    if name == "CPUTimeRAW":
        return rec.elapsed * r.num_cpus
    if name == "DerivedExitCode":
        return _exit_text(r.derived_exit_code, r.derived_exit_signal) if job else ""
    if name == "Elapsed" or name == "ElapsedRaw":
        return rec.elapsed
    if name == "Eligible":
        return _date(r.eligible_time if job else rec.start)
    if name == "End":
        return _date(rec.end)
    if name == "ExitCode":
        return _exit_text(r.exit_code, r.exit_signal)
    if name == "GID":
        return r.gid if job else None
    if name == "Group":
        if not job:
            return None
        if r.group and not isdigits(r.group):
            return r.group
        try:
            return grp.getgrgid(r.gid).gr_name
        except (KeyError, OverflowError):
            return None
    if name == "JobID":
        text = job_id_text(jr, rec.task_override)
        return f"{text}.{r.step}" if rec.is_step else text
    if name == "JobIDRaw":
        return f"{jr.job_id}.{r.step}" if rec.is_step else str(r.job_id)
    if name == "JobName":
        return r.name
    if name == "MaxRSS":
        return (
            _size(float(r.max_rss_kb) * 1024, UNIT_NONE, c)
            if rec.is_step and r.max_rss_kb is not None
            else ""
        )
    if name == "MaxVMSize":
        return (
            _size(float(r.max_vmem_kb) * 1024, UNIT_NONE, c)
            if rec.is_step and r.max_vmem_kb is not None
            else ""
        )
    if name == "NNodes":
        return r.num_nodes
    if name == "NodeList":
        text = hostlist.compress(r.nodes)
        return text if text else ("None assigned" if job else None)
    if name == "NTasks":
        return r.num_tasks if rec.is_step else None
    if name == "Partition":
        return r.partition if job else None
    if name == "Priority":
        return r.priority if job else None
    if name == "Reason":
        return r.reason if job else None
    if name == "ReqCPUS":
        return r.req_cpus if job else r.num_cpus
    if name == "ReqMem":
        mem = _mem_total(r) if job else None
        return _size(float(mem), UNIT_MEGA, c) if mem else ""
    if name == "ReqNodes":
        return _size(float(r.num_nodes), UNIT_NONE, c)
    if name == "ReqTRES":
        return _req_tres(rec, c)
    if name == "Restarts":
        return r.restarts if job else None
    if name == "Start":
        return _date(rec.start, none=job and rec.start_none)
    if name == "State":
        if r.state == "CANCELLED" and r.state_by_uid is not None:
            return f"CANCELLED by {r.state_by_uid}"
        return r.state
    if name == "Submit":
        return _date(r.submit_time if job else rec.start)
    if name == "Suspended":
        return 0
    if name == "SystemCPU":
        return _cpu_time(rec.sys_cpu)
    if name == "Timelimit":
        if not job:
            return None
        return (
            "UNLIMITED"
            if r.time_limit_min is None
            else (fmt_mins_long(r.time_limit_min) if r.time_limit_min else None)
        )
    if name == "TimelimitRaw":
        if not job:
            return None
        return (
            "UNLIMITED" if r.time_limit_min is None else (str(r.time_limit_min) if r.time_limit_min else None)
        )
    if name == "TotalCPU":
        return _cpu_time(rec.user_cpu + rec.sys_cpu)
    if name == "UID":
        return r.uid if job else None
    if name == "User":
        return r.user if job else None
    if name == "UserCPU":
        return _cpu_time(rec.user_cpu)
    if name == "WorkDir":
        return r.workdir if job else None
    return None


def format_cost(dollars: float) -> str:
    """A cost as ``Cost`` prints it: USD with :data:`COST_DECIMALS` decimals, no sign or unit
    (``0.0123``); a cost too small to show reads ``0.0000``, never ``-0.0000``."""
    text = f"{dollars:.{COST_DECIMALS}f}"
    return text[1:] if text.startswith("-") and float(text) == 0 else text


# -- printing (src/common/print_fields.c) ---------------------------------------------------


@dataclass(frozen=True, slots=True)
class Printer:
    parsable: int
    delimiter: str | None

    def sep(self, last: bool) -> str:
        if self.parsable == 2 and last:
            return ""
        return self.delimiter if self.delimiter is not None else "|"

    def header(self, cols: Sequence[Column]) -> str:
        if self.parsable:
            parts = [col.fdef.name + self.sep(i == len(cols) - 1) for i, col in enumerate(cols)]
            return "".join(parts) + "\n"
        names = "".join(_justify(col.fdef.name[: abs(col.width)], col.width) + " " for col in cols)
        dashes = "".join("-" * abs(col.width) + " " for col in cols)
        return names + "\n" + dashes + "\n"

    def cell(self, col: Column, value: Value, last: bool) -> str:
        kind = col.fdef.kind
        width = col.width
        n = abs(width)
        if kind == "date":
            text = "" if value is None else str(value)[:n]
            return text + self.sep(last) if self.parsable else _justify(text, width) + " "
        if kind in ("uint", "secs", "usd"):
            if value is None:
                return self.sep(last) if self.parsable else " " * max(n, 1) + " "
            if kind == "usd":
                text = format_cost(float(value))
            else:
                text = fmt_secs_long(int(value)) if kind == "secs" else str(value)
            return text + self.sep(last) if self.parsable else _justify(text, width) + " "
        if self.parsable:
            return ("" if value is None else str(value)) + self.sep(last)
        if value is None:
            return _justify(" "[:n], width) + " "
        text = str(value)
        if len(text) > n:
            text = text[: n - 1] + "+" if n > 0 else ""
        return _justify(text, width) + " "


def _justify(text: str, width: int) -> str:
    """printf ``%*s``: right-justified for a positive width, left for a negative one."""
    return text.rjust(width) if width >= 0 else text.ljust(-width)

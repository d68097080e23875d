"""Output and error file names of batch jobs: ``slurm-%j.out``, ``slurm-%A_%a.out``, ``-o run-%x-%3a.log``.

Follows slurmstepd's expansion for batch steps (``fname_create`` in src/slurmd/common/fname.c):

* ``%j`` job id, ``%J`` job id (``.step`` only for non-batch steps), ``%A`` array job id (the
  job id for a non-array job), ``%a`` array task id, ``%x`` job name, ``%u`` user name,
  ``%N`` node name, ``%n`` node index (0), ``%t`` task id (0), ``%s`` step (``batch``), ``%%``
  a literal ``%``;
* a width between ``%`` and the letter zero-pads numbers (``%3a`` -> ``007``), capped at 10;
* a backslash anywhere turns expansion off: backslashes are removed and ``%`` is kept as is;
* an unknown letter is left in place;
* a name that is not absolute is relative to the job's working directory.

Quirk kept on purpose: ``%a`` of a job that is not an array task prints 4294967294 (Slurm's
NO_VAL), which is what real Slurm writes.
"""

from __future__ import annotations

from dataclasses import dataclass

from stratus.slurm.cparse import isdigits
from stratus.slurm.timefmt import NO_VAL

MAX_WIDTH = 10
DEFAULT_JOB_PATTERN = "slurm-%j.out"
DEFAULT_ARRAY_PATTERN = "slurm-%A_%a.out"


@dataclass(frozen=True, slots=True)
class PatternContext:
    """What a file name pattern may refer to, for one batch job (or one array task)."""

    job_id: int  # this job's (or task's) own id
    job_name: str
    user: str
    workdir: str  # absolute
    node: str = ""  # the batch host
    array_job_id: int | None = None
    array_task_id: int | None = None


def default_pattern(is_array_task: bool) -> str:
    """The pattern used when ``-o`` is not given."""
    return DEFAULT_ARRAY_PATTERN if is_array_task else DEFAULT_JOB_PATTERN


def _strip_backslashes(p: str) -> str | None:
    """Remove escaping backslashes (``\\\\`` -> ``\\``); ``None`` when there were none."""
    if "\\" not in p:
        return None
    out: list[str] = []
    i = 0
    while i < len(p):
        if p[i] == "\\":
            if i + 1 < len(p) and p[i + 1] == "\\":
                out.append("\\")
                i += 2
            else:
                i += 1
            continue
        out.append(p[i])
        i += 1
    return "".join(out)


def _single_task_io(pattern: str) -> int | None:
    """A pattern that is only a number names one task's I/O (fname_single_task_io)."""
    return int(pattern) if isdigits(pattern) else None


def expand_pattern(pattern: str, ctx: PatternContext) -> str:
    """The absolute file name that ``pattern`` denotes for the job described by ``ctx``."""
    task = _single_task_io(pattern)
    if task is not None and task != 0:
        return "/dev/null"  # the batch step is task 0; other tasks' streams are discarded
    escaped = _strip_backslashes(pattern)
    base = ""
    if not pattern.startswith("/"):
        base = ctx.workdir
        if escaped is not None:
            return base + escaped  # Slurm appends without a separator here; kept as is
        if not base.endswith("/"):
            base += "/"
    if escaped is not None:
        return escaped
    return base + _expand(pattern, ctx)


def _num(value: int, width: int) -> str:
    return f"{value:0{width}d}"


def _expand(p: str, ctx: PatternContext) -> str:
    out: list[str] = []
    i = 0
    n = len(p)
    while i < n:
        ch = p[i]
        if ch != "%":
            out.append(ch)
            i += 1
            continue
        if i + 1 < n and p[i + 1] == "%":
            out.append("%")
            i += 2
            continue
        j = i + 1
        width = 0
        while j < n and isdigits(p[j]):
            j += 1
        resume = i  # where literal copying resumes for an unknown letter
        if j > i + 1:
            width = min(int(p[i + 1 : j]), MAX_WIDTH)
            # Slurm restarts copying at the last width digit for unknown letters.
            resume = j - 1
        if j >= n:
            out.append(p[resume:])
            break
        code = p[j]
        value = _code(code, width, ctx)
        if value is None:
            out.append(p[resume : j + 1])
        else:
            out.append(value)
        i = j + 1
    return "".join(out)


def _code(code: str, width: int, ctx: PatternContext) -> str | None:
    in_array = ctx.array_task_id is not None
    if code == "a":
        return _num(ctx.array_task_id if ctx.array_task_id is not None else NO_VAL, width)
    if code == "A":
        if in_array and ctx.array_job_id is not None:
            return _num(ctx.array_job_id, width)
        return _num(ctx.job_id, width)
    if code in "jJ":
        return _num(ctx.job_id, width)
    if code in "nt":
        return _num(0, width)
    if code == "N":
        return ctx.node
    if code == "s":
        return "batch"
    if code == "u":
        return ctx.user
    if code == "x":
        return ctx.job_name
    return None


def output_paths(stdout: str | None, stderr: str | None, ctx: PatternContext) -> tuple[str, str]:
    """(stdout file, stderr file) of a batch job; stderr defaults to the stdout file.

    An array's own record (``array_job_id`` set, no task yet) uses the array default too and
    prints ``%a`` as 4294967294, which is what ``scontrol show job <array>`` shows.
    """
    is_array = ctx.array_job_id is not None or ctx.array_task_id is not None
    out_pattern = stdout if stdout else default_pattern(is_array)
    out = expand_pattern(out_pattern, ctx)
    err = expand_pattern(stderr, ctx) if stderr else out
    return out, err

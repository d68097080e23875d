"""Job arrays in Slurm's notation: ``--array`` specs in, ``20_[40-64]`` out.

Parsing follows slurmctld's rules (``_valid_array_inx`` in job_mgr.c), which is why a bad spec
is reported as ``Batch job submission failed: Invalid job array specification`` (exit 1) rather
than as a command-line error. Formatting follows the client side (``xlate_array_task_str``):
a constant step prints as ``first-last:step``, long lists are cut to 60 characters plus ``...``,
and a ``%N`` limit is appended.
"""

from __future__ import annotations

from collections.abc import Mapping

from stratus.engine.indexset import IndexSet
from stratus.slurm.cparse import isdigits, strtol
from stratus.slurm.views import ArraySpec

DEFAULT_MAX_ARRAY_SIZE = 1001  # Slurm's MaxArraySize default: task ids 0..1000
BITSTR_LEN = 64  # squeue prints at most this many bytes of a pending array's task list


class ArraySpecError(ValueError):
    """A ``--array`` value slurmctld would reject."""


def _parse_token(tok: str, max_size: int) -> range:
    """One comma-separated piece: ``N``, ``A-B`` or ``A-B:S``, optionally bracketed or ``%``-ended."""
    s = tok[1:] if tok.startswith("[") else tok
    first, end = strtol(s, 0)
    if s[end : end + 1] == "]":
        end += 1
    if first < 0:
        raise ArraySpecError(tok)
    step = 1
    if s[end : end + 1] == "-":
        last, end = strtol(s, end + 1)
        if s[end : end + 1] == "]":
            end += 1
        if s[end : end + 1] == ":":
            step, end = strtol(s, end + 1)
            if s[end : end + 1] == "]":
                end += 1
            if end < len(s) and s[end] != "%":
                raise ArraySpecError(tok)
            if step <= 0 or step >= max_size:
                raise ArraySpecError(tok)
        elif end < len(s) and s[end] != "%":
            raise ArraySpecError(tok)
        if last < first:
            raise ArraySpecError(tok)
    elif end < len(s) and s[end] != "%":
        raise ArraySpecError(tok)
    else:
        last = first
    if last >= max_size:
        raise ArraySpecError(tok)
    return range(first, last + 1, step)


def parse_array(text: str, max_array_size: int = DEFAULT_MAX_ARRAY_SIZE) -> ArraySpec:
    """Parse a ``--array`` value: ``0-64``, ``1,5,7-11:2``, ``1-3%2``.

    Task ids must lie in ``0 .. max_array_size-1``. A ``%N`` limit of 0 is accepted and means
    no limit, as in Slurm. Raises :class:`ArraySpecError` for anything slurmctld rejects:
    ``abc``, ``5-1``, ``-1``, ``1-3:0``, ids past the maximum, an empty spec.
    """
    if max_array_size <= 0:
        raise ArraySpecError(text)
    ids: set[int] = set()
    runs: list[range] = []
    for tok in text.split(","):
        if not tok:
            continue  # strtok skips empty tokens
        runs.append(_parse_token(tok, max_array_size))
    if not runs:
        raise ArraySpecError(text)
    for r in runs:
        ids.update(r)
    limit: int | None = None
    if "%" in text:
        _, _, after = text.partition("%")
        n, _ = strtol(after, 0)
        limit = n if n > 0 else None
    if len(runs) == 1:
        r = runs[0]
        indices = IndexSet.from_range(r.start, r.stop - 1, r.step)
    else:
        indices = IndexSet.from_ids(ids)
    return ArraySpec(indices=indices, max_running=limit, text=text)


def array_step(text: str) -> int:
    """SLURM_ARRAY_TASK_STEP as slurmctld derives it: the number after the first ``:``, else 1."""
    _, colon, after = text.partition(":")
    if not colon:
        return 1
    n, _ = strtol(after, 0)
    return n


def bitstr_len(env: Mapping[str, str]) -> int:
    """How many characters of a pending array's task list to show: ``SLURM_BITSTR_LEN``.

    Unset or not a number: the default; negative: the default; capped at 4096, as Slurm does.
    """
    raw = env.get("SLURM_BITSTR_LEN")
    if raw is None:
        return BITSTR_LEN
    try:
        n = int(raw)
    except ValueError:
        return BITSTR_LEN
    return BITSTR_LEN if n < 0 else min(n, 4096)


def format_task_ids(ids: IndexSet, max_running: int | None = None, bitstr_len: int = BITSTR_LEN) -> str:
    """A pending array's task list as squeue shows it inside ``N_[...]``.

    ``0-64``; ``1-3%2`` with a limit; ``1-1001:2`` for a constant step over more than ten ids
    and five tasks; lists longer than ``bitstr_len - 3`` characters are cut to
    ``bitstr_len - 4`` characters followed by ``...`` (``bitstr_len <= 0`` disables the cut,
    as ``SLURM_BITSTR_LEN=0`` does).
    """
    out = ""
    if ids:
        first, last = ids.min(), ids.max()
        step = _constant_step(ids, first, last)
        if step:
            out = f"{first}-{last}:{step}"
        else:
            out = ids.to_slurm()
            if bitstr_len > 0:
                cut = out[: bitstr_len - 1]
                if len(cut) > bitstr_len - 3:
                    cut = cut[: bitstr_len - 4] + "..."
                out = cut
    if max_running:
        out += f"%{max_running}"
    return out


def _constant_step(ids: IndexSet, first: int, last: int) -> int:
    """The step of a strided set, under the conditions Slurm abbreviates it; 0 otherwise."""
    if last - first <= 10 or len(ids) <= 5 or (first + 1) in ids:
        return 0
    step = 0
    prev = first
    for i in ids:
        if i == first:
            continue
        if step == 0:
            step = i - prev
        elif i - prev != step:
            return 0
        prev = i
    return step


def format_array_job(array_job_id: int, task_str: str) -> str:
    """``20_[40-64]``: a pending array's record in squeue's JOBID column."""
    return f"{array_job_id}_[{task_str}]"


def parse_task_list(text: str) -> IndexSet:
    """The task ids inside ``[...]`` of ``18_[10-64]`` / ``18_[1,3,5-7]`` (scancel, squeue -j).

    Raises ``ValueError`` for anything but non-negative ids and ranges (steps included).
    """
    ids: set[int] = set()
    if not text:
        raise ValueError(text)
    for part in text.split(","):
        rng, colon, step_s = part.partition(":")
        a, dash, b = rng.partition("-")
        if not isdigits(a) or (dash and not isdigits(b)) or (colon and not isdigits(step_s)):
            raise ValueError(text)
        lo = int(a)
        hi = int(b) if dash else lo
        step = int(step_s) if colon else 1
        if hi < lo or step < 1:
            raise ValueError(text)
        ids.update(range(lo, hi + 1, step))
    return IndexSet.from_ids(ids)

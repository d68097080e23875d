"""``--dependency`` specifications, checked the way slurmctld checks them.

``afterok:12:13,afterany:14_2``, ``afternotok:40+5``, ``singleton``, ``after:7?afterok:8``, and
the old bare form ``12,13`` (meaning ``afterany``). A spec Slurm would refuse raises
:class:`DependencyError`; the front end reports it as ``Job dependency problem`` (exit 1). The
backend decides what to do with ids that do not exist (Slurm accepts them).
"""

from __future__ import annotations

from dataclasses import dataclass

from stratus.slurm.cparse import isdigits, strtol

# Job and task ids are 32-bit in Slurm, below NO_VAL (0xfffffffe): a larger one names no job.
MAX_ID = 0xFFFFFFFE

TYPES = ("afternotok", "aftercorr", "afterany", "afterok", "afterburstbuffer", "after", "singleton")


class DependencyError(ValueError):
    """A dependency specification slurmctld would reject."""


@dataclass(frozen=True, slots=True)
class Dependency:
    """One condition: ``type`` on ``job_id`` (``task_id``: None = whole job, -1 = ``_*``)."""

    type: str  # one of TYPES
    job_id: int = 0  # 0 for singleton
    task_id: int | None = None
    delay_min: int = 0  # "+N": minutes to wait after the condition is met (after only)


@dataclass(frozen=True, slots=True)
class DependencySpec:
    """A parsed ``--dependency``: all conditions must hold, or any one when ``any_of``."""

    items: tuple[Dependency, ...]
    any_of: bool = False


def _skip_state(s: str, i: int) -> int:
    """An optional ``(state)`` suffix, as scontrol shows them (``afterok:40(failed)``)."""
    if s[i : i + 1] == "(":
        close = s.find(")", i)
        if close < 0:
            raise DependencyError(s)
        return close + 1
    return i


def parse_dependency(text: str) -> DependencySpec:
    """Parse ``text``; raise :class:`DependencyError` where slurmctld answers ESLURM_DEPENDENCY."""
    s = text
    if s in ("", "0"):
        return DependencySpec(())
    items: list[Dependency] = []
    any_of = False
    i = 0
    while True:
        if s[i:].lower().startswith("singleton"):
            i = _skip_state(s, i + 9)
            items.append(Dependency("singleton"))
        elif ":" not in s[i:].split(",", 1)[0].split("?", 1)[0] and isdigits(s[i : i + 1]):
            # Old form: a bare job id means afterany.
            job_id, j = strtol(s, i)
            if not 0 < job_id < MAX_ID or (j < len(s) and s[j] != ","):
                raise DependencyError(text)
            items.append(Dependency("afterany", job_id))
            i = j
        else:
            colon = s.find(":", i)
            if colon < 0:
                raise DependencyError(text)
            dtype = s[i:colon].lower()
            if dtype not in TYPES or dtype == "singleton":
                raise DependencyError(text)
            i = colon + 1
            while True:
                job_id, j = strtol(s, i)
                task: int | None = None
                if s[j : j + 1] == "_":
                    if s[j + 1 : j + 2] == "*":
                        task, j = -1, j + 2
                    else:
                        task, j = strtol(s, j + 1)
                if not 0 < job_id < MAX_ID or (j < len(s) and s[j] not in ",?:+("):
                    raise DependencyError(text)
                if task is not None and not -1 <= task < MAX_ID:
                    raise DependencyError(text)
                delay = 0
                if s[j : j + 1] == "+":
                    delay, j = strtol(s, j + 1)
                    if not 0 < delay < MAX_ID:
                        raise DependencyError(text)
                j = _skip_state(s, j)
                items.append(Dependency(dtype, job_id, task, delay))
                if s[j : j + 1] == ":":
                    i = j + 1
                    continue
                i = j
                break
        if i >= len(s):
            break
        sep = s[i]
        if sep == "?":
            any_of = True
        elif sep != ",":
            raise DependencyError(text)
        i += 1
        if i >= len(s):
            break
    return DependencySpec(tuple(items), any_of)

"""Slurm's time, duration and size notations: parsing what users type, printing what tools read.

Every function here reproduces one routine of Slurm 22.05 (named in its docstring) so that a
value prints the same in stratus as on a real cluster. Timestamps are POSIX seconds shown in the
local time zone of the process, as Slurm's clients do.
"""

from __future__ import annotations

import time as _time

from stratus.slurm.cparse import isdigits

YEAR_SECONDS = 365 * 24 * 60 * 60
NO_VAL = 0xFFFFFFFE  # Slurm's "not set" for 32-bit values; shows up in %a of a non-array job


class TimeSpecError(ValueError):
    """A duration or date that Slurm would reject."""


# -- durations (time_str2secs in src/common/parse_time.c) ---------------------------------------


def _valid_timespec(s: str) -> bool:
    """Slurm's shape check: digits separated by at most one ``-`` then at most two ``:``."""
    digit = dash = colon = 0
    in_digit = False
    for ch in s:
        if "0" <= ch <= "9":
            if not in_digit:
                digit += 1
                in_digit = True
        elif ch == "-":
            in_digit = False
            dash += 1
            if colon:
                return False
        elif ch == ":":
            in_digit = False
            colon += 1
        else:
            return False
    if not digit or dash > 1 or colon > 2:
        return False
    if dash:
        if colon == 1 and digit < 3:
            return False
        if colon == 2 and digit < 4:
            return False
    else:
        if colon == 1 and digit < 2:
            return False
        if colon == 2 and digit < 3:
            return False
    return True


def _scan_ints(s: str, seps: str) -> list[int]:
    """Like ``sscanf("%d<sep>%d...")``: read signed ints separated by ``seps`` in order, stop early."""
    vals: list[int] = []
    pos = 0
    for k in range(len(seps) + 1):
        start = pos
        if pos < len(s) and s[pos] in "+-":
            pos += 1
        digits_from = pos
        while pos < len(s) and isdigits(s[pos]):
            pos += 1
        if pos == digits_from:
            break
        vals.append(int(s[start:pos]))
        if k == len(seps) or pos >= len(s) or s[pos] != seps[k]:
            break
        pos += 1
    return vals


def duration_secs(text: str) -> int | None:
    """Seconds in a Slurm duration; ``None`` for ``-1``/``INFINITE``/``UNLIMITED`` (time_str2secs).

    Forms: ``M``, ``M:S``, ``H:M:S``, ``D-H``, ``D-H:M``, ``D-H:M:S``. Like Slurm, a leading
    minus sign is accepted where the shape allows it (``-5`` reads as minus five days).
    Raises :class:`TimeSpecError` for anything else.
    """
    if not text:
        raise TimeSpecError(text)
    if text.lower() in ("-1", "infinite", "unlimited"):
        return None
    if not _valid_timespec(text):
        raise TimeSpecError(text)
    if "-" in text:
        d, h, m, s = ([*_scan_ints(text, "-::"), 0, 0, 0, 0])[:4]
        return d * 86400 + h * 3600 + m * 60 + s
    parts = _scan_ints(text, "::")
    if len(parts) == 3:
        return parts[0] * 3600 + parts[1] * 60 + parts[2]
    mins, secs = ([*parts, 0, 0])[:2]
    return mins * 60 + secs


def duration_mins(text: str) -> int | None:
    """Minutes in a Slurm duration, seconds rounded up; ``None`` for unlimited (time_str2mins)."""
    secs = duration_secs(text)
    if secs is None:
        return None
    # C integer division truncates toward zero; Python's floors. Keep C's rounding.
    total = secs + 59
    return int(total / 60) if total < 0 else total // 60


# -- printing durations -------------------------------------------------------------------------


def _dhms(secs: int) -> tuple[int, int, int, int]:
    return secs // 86400, (secs // 3600) % 24, (secs // 60) % 60, secs % 60


def fmt_elapsed(secs: int) -> str:
    """squeue's TIME / TIME_LIMIT / TIME_LEFT value: ``0:08``, ``1:02:03``, ``1-02:03:04``.

    ``INVALID`` for a negative value or more than 365 days (``_print_secs`` in squeue/print.c).
    """
    if secs < 0 or secs > YEAR_SECONDS:
        return "INVALID"
    return fmt_elapsed_unbounded(secs)


def fmt_elapsed_unbounded(secs: int) -> str:
    """sinfo's duration form (``_print_secs`` in sinfo/print.c): like squeue's, without a bound."""
    d, h, m, s = _dhms(max(secs, 0))
    if d:
        return f"{d}-{h:02d}:{m:02d}:{s:02d}"
    if h:
        return f"{h}:{m:02d}:{s:02d}"
    return f"{m}:{s:02d}"


def fmt_squeue_limit(minutes: int | None) -> str:
    """squeue's TIME_LIMIT: ``UNLIMITED`` or the elapsed form of the limit."""
    if minutes is None:
        return "UNLIMITED"
    return fmt_elapsed(minutes * 60)


def fmt_sinfo_limit(minutes: int | None) -> str:
    """sinfo's TIMELIMIT: ``infinite`` or ``1:00:00``, ``1-00:00:00``."""
    if minutes is None:
        return "infinite"
    return fmt_elapsed_unbounded(minutes * 60)


def fmt_secs_long(secs: int | None) -> str:
    """scontrol's RunTime form (secs2time_str): ``00:01:23``, ``365-00:00:00``, ``UNLIMITED``."""
    if secs is None:
        return "UNLIMITED"
    if secs < 0:
        return "INVALID"
    d, h, m, s = _dhms(secs)
    if d:
        return f"{d}-{h:02d}:{m:02d}:{s:02d}"
    return f"{h:02d}:{m:02d}:{s:02d}"


def fmt_mins_long(minutes: int | None) -> str:
    """scontrol's TimeLimit form (mins2time_str): ``00:01:00``, ``365-00:00:00``, ``UNLIMITED``."""
    if minutes is None:
        return "UNLIMITED"
    return fmt_secs_long(minutes * 60)


# -- timestamps ----------------------------------------------------------------------------------


def fmt_timestamp(ts: float | None) -> str:
    """ISO local time as Slurm prints it (``2026-11-22T09:21:07``); ``Unknown`` when unset."""
    if ts is None or ts <= 0:
        return "Unknown"
    return _time.strftime("%Y-%m-%dT%H:%M:%S", _time.localtime(ts))


def fmt_date_header(ts: float) -> str:
    """The date line of ``squeue -l``/``sinfo -l``: ``Sun Nov 22 09:20:40 2026``."""
    return _time.strftime("%a %b %d %H:%M:%S %Y", _time.localtime(ts))


# -- sizes (str_to_mbytes in src/common/proc_args.c; convert_num_unit) ------------------------


def parse_mem_mb(text: str) -> int:
    """Megabytes in a Slurm memory size: ``500`` (MB), ``100M``, ``2G``, ``1T``, ``512K``, ``2GB``.

    Kilobytes round up to whole megabytes. Raises ``ValueError`` for anything else, negative
    values included.
    """
    s = text.strip()
    i = 0
    if i < len(s) and s[i] in "+-":
        i += 1
    j = i
    while j < len(s) and isdigits(s[j]):
        j += 1
    if j == i:
        raise ValueError(text)
    value = int(s[:j])
    if value < 0:
        raise ValueError(text)
    unit = s[j:]
    if unit == "":
        return value
    if len(unit) > 2 or (len(unit) == 2 and unit[1] not in "bB"):
        raise ValueError(text)
    u = unit[0].upper()
    if u == "K":
        return (value + 1023) // 1024
    if u == "M":
        return value
    if u == "G":
        return value * 1024
    if u == "T":
        return value * 1024 * 1024
    raise ValueError(text)


UNIT_NONE = 0
UNIT_KILO = 1
UNIT_MEGA = 2
_UNIT_CHARS = ("", "K", "M", "G", "T", "P")


def convert_num_unit(num: float, orig_unit: int = UNIT_NONE, *, noconvert: bool = False) -> str:
    """A size the way squeue/sinfo print it (Slurm's convert_num_unit with CONVERT_NUM_UNIT_EXACT).

    Scales by 1024 while no precision is lost (``2048`` MB -> ``2G``, ``1536`` MB -> ``1.50G``);
    with ``noconvert`` (``--noconvert``) keeps the original unit.
    """
    if int(num) == 0:
        return "0"
    unit = orig_unit
    if not noconvert:
        while num >= 1024 and int(num) % 512 == 0:
            num /= 1024
            unit += 1
    suffix = _UNIT_CHARS[unit] if 0 <= unit < len(_UNIT_CHARS) else "?"
    if float(int(num)) == num:
        return f"{int(num)}{suffix}"
    return f"{num:.2f}{suffix}"

"""Slurm's ``parse_time`` (src/common/parse_time.c) as sacct's ``-S``/``-E`` and sbatch's
``--begin`` read it.

Guarantees: a time Slurm accepts gives the same POSIX seconds, and one it rejects raises
:class:`TimeParseError` carrying the position Slurm prints in ``Invalid time specification
(pos=N)``, as Slurm's own arithmetic places it (after ``now+`` too). sacct looks back
(``past``), sbatch ahead.
"""

from __future__ import annotations

import time as _time

from stratus.slurm.cparse import strtol


class TimeParseError(ValueError):
    """A time sacct rejects; ``pos`` is where Slurm's parser stopped (printed in the message)."""

    def __init__(self, pos: int) -> None:
        super().__init__(pos)
        self.pos = pos


_UNIT_NAMES = (
    ("seconds", 1), ("second", 1), ("minutes", 60), ("minute", 60), ("hours", 3600),
    ("hour", 3600), ("days", 86400), ("day", 86400), ("weeks", 604800), ("week", 604800),
)  # fmt: skip


class _Scanner:
    """C-string access: characters past the end read as NUL."""

    def __init__(self, s: str) -> None:
        self.s = s

    def __getitem__(self, i: int) -> str:
        return self.s[i] if 0 <= i < len(self.s) else "\0"

    def starts(self, i: int, word: str) -> bool:
        return self.s[i : i + len(word)].lower() == word


def _digit(ch: str) -> bool:
    return "0" <= ch <= "9"


def _get_delta(s: _Scanner, pos: int) -> tuple[int, int]:
    """``+N[unit]`` after ``now``: (seconds, new position); raises with Slurm's position."""
    cnt = 0
    digits = 0
    offset = pos + 1
    while s[offset] not in ("\0", "\n"):
        if s[offset].isspace():
            offset += 1
            continue
        unit = next(((name, mult) for name, mult in _UNIT_NAMES if s.starts(offset, name)), None)
        if unit is not None:
            offset += len(unit[0])
            cnt *= unit[1]
            break
        if _digit(s[offset]):
            cnt = cnt * 10 + int(s[offset])
            digits += 1
            offset += 1
            continue
        raise TimeParseError(offset - 1)
    if not digits:
        raise TimeParseError(pos)
    return cnt, offset - 1


def _minutes_or_seconds(s: _Scanner, off: int) -> tuple[int, int]:
    """Exactly two digits, 00 to 59: (value, new position); errors point where Slurm's do."""
    value = 0
    for at in (off, off + 1):
        if not _digit(s[at]):
            raise TimeParseError(at)
        value = value * 10 + int(s[at])
    if value > 59:
        raise TimeParseError(off)
    return value, off + 2


def _get_time(s: _Scanner, pos: int) -> tuple[int, int, int, int]:
    """``HH:MM[:SS] [AM|PM]``: (hour, minute, second, new position)."""
    off = pos
    if not _digit(s[off]):
        raise TimeParseError(off)
    hr = int(s[off])
    off += 1
    if s[off] != ":":
        if not _digit(s[off]):
            raise TimeParseError(off)
        hr = hr * 10 + int(s[off])
        off += 1
    if hr > 23:
        raise TimeParseError(off - 2)
    if s[off] != ":":
        raise TimeParseError(off)
    mi, off = _minutes_or_seconds(s, off + 1)
    sec = 0
    if s[off] == ":":
        sec, off = _minutes_or_seconds(s, off + 1)
    while s[off] != "\0" and s[off].isspace():
        off += 1
    if s.starts(off, "pm"):
        hr += 12
        if hr > 23:
            if hr != 24:
                raise TimeParseError(off)
            hr = 12
        off += 2
    elif s.starts(off, "am"):
        if hr > 11:
            if hr != 12:
                raise TimeParseError(off)
            hr = 0
        off += 2
    return hr, mi, sec, off - 1


def _two_digits(s: _Scanner, off: int) -> tuple[int, int]:
    """One digit, or two: (value, new offset); the first character is taken as a digit."""
    v = ord(s[off]) - ord("0")
    off += 1
    if _digit(s[off]):
        v = v * 10 + int(s[off])
        off += 1
    return v, off


def _get_date(s: _Scanner, pos: int) -> tuple[int, int, int | None, int]:
    """``YYYY-MM-DD``, ``MMDD[YY]``, ``MM/DD[/YY]``, ``MM.DD[.YY]``: (month 0-11, day, year, pos)."""
    off = pos
    if len(s.s) >= off + 7 and s[off + 4] == "-" and s[off + 7] == "-":
        yr = 0
        for _ in range(4):
            if not _digit(s[off]):
                raise TimeParseError(off)
            yr = yr * 10 + int(s[off])
            off += 1
        off += 1
        mon, off = _two_digits(s, off)
        if not 1 <= mon <= 12:
            raise TimeParseError(off - 2)
        off += 1
        if not _digit(s[off]):
            raise TimeParseError(off)
        day, off = _two_digits(s, off)
        if not 1 <= day <= 31:
            raise TimeParseError(off - 2)
        return mon - 1, day, yr, off - 1
    mon, off = _two_digits(s, off)
    if not 1 <= mon <= 12:
        raise TimeParseError(off - 2)
    if s[off] in (".", "/"):
        off += 1
    if not _digit(s[off]):
        raise TimeParseError(off)
    day, off = _two_digits(s, off)
    if not 1 <= day <= 31:
        raise TimeParseError(off - 2)
    if s[off] in (".", "/"):
        off += 1
    year: int | None = None
    if _digit(s[off]):
        yr = int(s[off])
        off += 1
        if not _digit(s[off]):
            raise TimeParseError(off)
        yr = yr * 10 + int(s[off])
        off += 1
        year = 2000 + yr if yr else None
    return mon - 1, day, year, off - 1


def parse_time(text: str, now: float, past: bool = True) -> int:
    """Slurm's parse_time: a time as POSIX seconds; 0 when the text names no time at all.

    ``past`` resolves a time or date without a day or year to the most recent one (sacct's
    ``-S``/``-E``); otherwise to the next. Accepts ``now[+-N[unit]]``, ``today``,
    ``tomorrow``, ``midnight``, ``noon``, ``fika``, ``teatime``, ``HH:MM[:SS] [AM|PM]``,
    ``YYYY-MM-DD[THH:MM[:SS]]``, ``MMDD[YY]``, ``MM/DD[/YY]``, ``MM.DD[.YY]`` and
    ``uts<seconds>``. Raises :class:`TimeParseError` with the position Slurm reports.
    """
    s = _Scanner(text)
    if text[:3].lower() == "uts":
        # strtol over the rest, which must be all digits and at least 1000000.
        rest = text[3:]
        try:
            value, end = strtol(rest, 0)
        except ValueError:
            # Characters that count as digits but are no decimal digits (superscripts) end
            # the number in C: what follows is then not all digits.
            raise TimeParseError(0) from None
        if end != len(rest) or value < 1000000:
            raise TimeParseError(0)
        return value
    nowt = _time.localtime(now)
    hour = minute = -1
    second = 0
    month = mday = year = -1
    pos = 0
    while s[pos] not in ("\0", "\n"):
        ch = s[pos]
        if ch in " \t-T":
            pos += 1
            continue
        if s.starts(pos, "today"):
            month, mday, year = nowt.tm_mon - 1, nowt.tm_mday, nowt.tm_year
            pos += 5
            continue
        if s.starts(pos, "tomorrow"):
            t = _time.localtime(now + 86400)
            month, mday, year = t.tm_mon - 1, t.tm_mday, t.tm_year
            pos += 8
            continue
        named = next(
            (
                (w, h)
                for w, h in (("midnight", 0), ("noon", 12), ("fika", 15), ("teatime", 16))
                if s.starts(pos, w)
            ),
            None,
        )
        if named is not None:
            hour, minute, second = named[1], 0, 0
            pos += len(named[0])
            continue
        if s.starts(pos, "now"):
            delta = 0
            i = pos + 3
            while True:
                if s[i] in ("+", "-"):
                    sign = s[i]
                    pos += i  # Slurm adds the absolute index to the position here
                    delta, pos = _get_delta(s, pos)
                    if sign == "-":
                        delta = -delta
                    break
                if s[i] in (" ", "\t"):
                    i += 1
                    continue
                if s[i] in ("\0", "\n"):
                    pos += i - 1
                    break
                raise TimeParseError(pos + i)
            t = _time.localtime(now + delta)
            month, mday, year = t.tm_mon - 1, t.tm_mday, t.tm_year
            hour, minute, second = t.tm_hour, t.tm_min, t.tm_sec
            pos += 1
            continue
        if not _digit(ch):
            raise TimeParseError(pos)
        if s[pos + 1] == ":" or s[pos + 2] == ":":
            hour, minute, second, pos = _get_time(s, pos)
        else:
            month, mday, yr, pos = _get_date(s, pos)
            if yr is not None:
                year = yr
        pos += 1
    if hour == -1 and month == -1:
        return 0
    if hour == -1:
        hour, minute = 0, 0
    elif month == -1:
        if past or (hour, minute) > (nowt.tm_hour, nowt.tm_min):
            month, mday, year = nowt.tm_mon - 1, nowt.tm_mday, nowt.tm_year
        else:
            t = _time.localtime(now + 86400)
            month, mday, year = t.tm_mon - 1, t.tm_mday, t.tm_year
    if year == -1:
        if past:
            year = nowt.tm_year - 1 if month > nowt.tm_mon - 1 else nowt.tm_year
        elif (month, mday, hour, minute) > (nowt.tm_mon - 1, nowt.tm_mday, nowt.tm_hour, nowt.tm_min):
            year = nowt.tm_year
        else:
            year = nowt.tm_year + 1
    try:
        return int(_time.mktime((year, month + 1, mday, hour, minute, second, 0, 0, -1)))
    except (OverflowError, ValueError):
        raise TimeParseError(pos) from None

"""Slurm hostlist expressions: ``queue1-dy-t2micro-[1-3],queue1-st-local-1``.

Expansion uses the python-hostlist library, which reads every form Slurm writes. Compression
follows Slurm's own rules (src/common/hostlist.c) rather than python-hostlist's, because the two
differ where a name holds several numbers: Slurm only ranges over the trailing digits, so
``queue1-dy-a-1,queue2-dy-a-1`` stays two names where python-hostlist would print
``queue[1-2]-dy-a-1``. Output that users and tools parse must be Slurm's.

Guarantees: :func:`compress` is sorted the way Slurm sorts hostlists (natural order of the
prefix, then the number), removes duplicates, and ``expand(compress(names))`` returns the
sorted unique names.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

import hostlist as _hostlist

_TRAILING_DIGITS = re.compile(r"^(.*?)(\d+)$", re.S)
_NAT_CHUNK = re.compile(r"(\d+)")


class HostlistError(ValueError):
    """An expression Slurm could not parse (unbalanced brackets, bad range ...)."""


def expand(expr: str) -> list[str]:
    """The host names of a hostlist expression, in the order written (duplicates kept)."""
    if not expr:
        return []
    try:
        return list(_hostlist.expand_hostlist(expr, allow_duplicates=True, sort=False))
    except _hostlist.BadHostlist as exc:
        raise HostlistError(f"invalid hostlist {expr!r}: {exc}") from None


@dataclass(frozen=True, slots=True)
class _Host:
    prefix: str
    num: int
    width: int  # digits as written (zero padding); -1 for a name without trailing digits


def _split(name: str) -> _Host:
    m = _TRAILING_DIGITS.match(name)
    if not m:
        return _Host(name, 0, -1)
    return _Host(m.group(1), int(m.group(2)), len(m.group(2)))


def _natkey(s: str) -> tuple[tuple[int, int | str], ...]:
    """strnatcmp order: digit runs compare as numbers, the rest as text."""
    out: list[tuple[int, int | str]] = []
    for i, chunk in enumerate(_NAT_CHUNK.split(s)):
        if not chunk:
            continue
        out.append((0, int(chunk)) if i % 2 else (1, chunk))
    return tuple(out)


def sort_key(name: str) -> tuple[object, ...]:
    """Slurm's hostlist order for one name: natural order of the prefix, then its number."""
    h = _split(name)
    # A name without a number sorts before numbered names of the same prefix (hostrange_cmp).
    return (_natkey(h.prefix), 0 if h.width < 0 else 1, h.num, h.width)


def _zero_padded(num: int, width: int) -> int:
    return max(width - len(str(num)), 0)


def _width_equiv(n: int, wn: int, m: int, wm: int) -> tuple[bool, int, int]:
    """Slurm's _width_equiv: may ``n`` (written with ``wn`` digits) and ``m`` share one range?

    Returns whether they may, and the (possibly adjusted) widths.
    """
    if wn == wm:
        return True, wn, wm
    npad, nmpad = _zero_padded(n, wn), _zero_padded(n, wm)
    mpad, mnpad = _zero_padded(m, wm), _zero_padded(m, wn)
    if npad != nmpad and mpad != mnpad:
        return False, wn, wm
    if npad != nmpad:
        return True, wn, wn
    return True, wm, wm


@dataclass(slots=True)
class _Range:
    prefix: str
    lo: int
    hi: int
    width: int  # -1: a single name without a number

    def numstr(self) -> str:
        lo = f"{self.lo:0{self.width}d}"
        if self.hi == self.lo:
            return lo
        return f"{lo}-{self.hi:0{self.width}d}"


def _ranges(names: Iterable[str]) -> list[_Range]:
    """Ranges of ``names`` in the order given: a name joins the last range only if it continues it."""
    out: list[_Range] = []
    for name in names:
        h = _split(name)
        if h.width < 0:
            out.append(_Range(h.prefix, 0, 0, -1))
            continue
        if out:
            cur = out[-1]
            if cur.width >= 0 and cur.prefix == h.prefix and h.num == cur.hi + 1:
                ok, w_cur, _w_new = _width_equiv(cur.lo, cur.width, h.num, h.width)
                if ok:
                    cur.width = w_cur
                    cur.hi = h.num
                    continue
        out.append(_Range(h.prefix, h.num, h.num, h.width))
    return out


def _join(ranges: list[_Range]) -> str:
    """``n[1-3,5],other``: consecutive ranges of one prefix share a bracket."""
    parts: list[str] = []
    i = 0
    while i < len(ranges):
        r = ranges[i]
        if r.width < 0:
            parts.append(r.prefix)
            i += 1
            continue
        j = i + 1
        while j < len(ranges) and ranges[j].width >= 0 and ranges[j].prefix == r.prefix:
            j += 1
        group = ranges[i:j]
        if len(group) == 1 and r.lo == r.hi:
            parts.append(r.prefix + r.numstr())
        else:
            parts.append(r.prefix + "[" + ",".join(g.numstr() for g in group) + "]")
        i = j
    return ",".join(parts)


def compress(names: Iterable[str]) -> str:
    """Slurm's ranged hostlist string of ``names``, sorted and deduplicated; ``""`` for none."""
    return _join(_ranges(sorted({n for n in names if n}, key=sort_key)))


def compress_in_order(names: Iterable[str]) -> str:
    """Slurm's ranged string of names pushed in the order given (``scontrol show hostlist``).

    Unlike :func:`compress`, nothing is sorted or deduplicated: a name joins the last range
    only when it continues it (``n3,n1,n2`` gives ``n[3,1-2]``), as hostlist_push does.
    """
    return _join(_ranges(n for n in names if n))


def count(expr: str) -> int:
    """Number of names in an expression (duplicates counted)."""
    return len(expand(expr))

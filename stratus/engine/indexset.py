"""A compact, ordered set of non-negative integers, used for array task ids.

A 100,000-task array must not cost 100,000 records while it waits, so pending array tasks are
kept as runs ``(start, count, step)``: ``0-99999`` is one run, ``1,5,7-11:2`` is three. The common
operations (take the lowest id, remove one id, test membership) touch one run.

Guarantees: runs are sorted by value, never overlap, and ``count >= 1``; iteration yields ids in
ascending order; two sets with the same members compare equal whatever their run layout.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Iterator


class IndexSet:
    """An ordered set of non-negative ints stored as arithmetic runs."""

    __slots__ = ("_len", "_runs", "_starts")

    def __init__(self, runs: Iterable[tuple[int, int, int]] = ()) -> None:
        self._runs: list[tuple[int, int, int]] = []
        self._starts: list[int] = []
        self._len = 0
        for start, count, step in runs:
            self._append_run(start, count, step)

    # -- construction -------------------------------------------------------------------------

    @classmethod
    def from_range(cls, start: int, stop_inclusive: int, step: int = 1) -> IndexSet:
        """The ids ``start, start+step, ... <= stop_inclusive``."""
        if step < 1:
            raise ValueError("step must be >= 1")
        if stop_inclusive < start:
            return cls()
        return cls([(start, (stop_inclusive - start) // step + 1, step)])

    @classmethod
    def from_ids(cls, ids: Iterable[int]) -> IndexSet:
        """Build from arbitrary ids (duplicates ignored), merging consecutive ids into runs."""
        out = cls()
        for i in sorted(set(ids)):
            out._append_id(i)
        return out

    def union(self, other: IndexSet) -> IndexSet:
        """A new set with the members of both."""
        return IndexSet.from_ids([*self, *other])

    def _append_run(self, start: int, count: int, step: int) -> None:
        if count < 1:
            return
        if start < 0:
            raise ValueError("ids must be >= 0")
        if count == 1:
            step = 1  # a single id has no step; normalising keeps merging simple
        if self._runs:
            last_start, last_count, last_step = self._runs[-1]
            last = last_start + (last_count - 1) * last_step
            if start <= last:
                raise ValueError("runs must be appended in ascending, non-overlapping order")
            gap = start - last
            # Extend the last run when the new ids continue its progression, so that 0-9 and
            # 10-19 stay one run and a set built id by id stays as compact as its spec.
            if last_count > 1 and gap == last_step and (count == 1 or step == last_step):
                self._runs[-1] = (last_start, last_count + count, last_step)
                self._len += count
                return
            if last_count == 1 and gap == 1 and step == 1:
                self._runs[-1] = (last_start, 1 + count, 1)
                self._len += count
                return
        self._runs.append((start, count, step))
        self._starts.append(start)
        self._len += count

    def _append_id(self, i: int) -> None:
        self._append_run(i, 1, 1)

    # -- queries ------------------------------------------------------------------------------

    def __len__(self) -> int:
        return self._len

    def __bool__(self) -> bool:
        return self._len > 0

    def __iter__(self) -> Iterator[int]:
        for start, count, step in self._runs:
            yield from range(start, start + count * step, step)

    def __contains__(self, i: object) -> bool:
        if not isinstance(i, int):
            return False
        k = bisect_right(self._starts, i) - 1
        if k < 0:
            return False
        start, count, step = self._runs[k]
        off = i - start
        return off % step == 0 and off // step < count

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, IndexSet):
            return NotImplemented
        return len(self) == len(other) and list(self.consecutive_ranges()) == list(other.consecutive_ranges())

    def __hash__(self) -> int:  # pragma: no cover - sets are mutable, like built-in sets
        raise TypeError("IndexSet is unhashable")

    def __repr__(self) -> str:
        return f"IndexSet({self.to_slurm()!r})"

    def min(self) -> int:
        """The smallest member; ``ValueError`` if empty."""
        if not self._runs:
            raise ValueError("empty IndexSet")
        return self._runs[0][0]

    def max(self) -> int:
        """The largest member; ``ValueError`` if empty."""
        if not self._runs:
            raise ValueError("empty IndexSet")
        start, count, step = self._runs[-1]
        return start + (count - 1) * step

    def runs(self) -> list[tuple[int, int, int]]:
        """The ``(start, count, step)`` runs, in order (a copy)."""
        return list(self._runs)

    def consecutive_ranges(self) -> Iterator[tuple[int, int]]:
        """Maximal ranges of consecutive ids as inclusive ``(first, last)`` pairs."""
        cur: tuple[int, int] | None = None
        for start, count, step in self._runs:
            if step == 1:
                pieces: Iterable[tuple[int, int]] = ((start, start + count - 1),)
            else:
                pieces = ((v, v) for v in range(start, start + count * step, step))
            for a, b in pieces:
                if cur is not None and a == cur[1] + 1:
                    cur = (cur[0], b)
                else:
                    if cur is not None:
                        yield cur
                    cur = (a, b)
        if cur is not None:
            yield cur

    def to_slurm(self) -> str:
        """Slurm's bitmap notation: ``0-3,7,9-12`` (consecutive ids as ranges, no steps)."""
        return ",".join(f"{a}" if a == b else f"{a}-{b}" for a, b in self.consecutive_ranges())

    def to_spec(self) -> str:
        """A compact, lossless text form with steps (``1,5,7-11:2``), for storage."""
        parts = []
        for start, count, step in self._runs:
            if count == 1:
                parts.append(str(start))
            else:
                last = start + (count - 1) * step
                parts.append(f"{start}-{last}" if step == 1 else f"{start}-{last}:{step}")
        return ",".join(parts)

    @classmethod
    def from_spec(cls, text: str) -> IndexSet:
        """Inverse of :meth:`to_spec` (also accepts :meth:`to_slurm` output)."""
        out = cls()
        if not text:
            return out
        for part in text.split(","):
            rng, _, step_s = part.partition(":")
            a, _, b = rng.partition("-")
            start = int(a)
            last = int(b) if b else start
            step = int(step_s) if step_s else 1
            out._append_run(start, (last - start) // step + 1, step)
        return out

    def copy(self) -> IndexSet:
        """A shallow copy."""
        new = IndexSet()
        new._runs = list(self._runs)
        new._starts = list(self._starts)
        new._len = self._len
        return new

    # -- mutation -----------------------------------------------------------------------------

    def pop_min(self) -> int:
        """Remove and return the smallest member; ``ValueError`` if empty."""
        if not self._runs:
            raise ValueError("empty IndexSet")
        start, count, step = self._runs[0]
        if count == 1:
            del self._runs[0]
            del self._starts[0]
        else:
            self._runs[0] = (start + step, count - 1, step)
            self._starts[0] = start + step
        self._len -= 1
        return start

    def discard(self, i: int) -> bool:
        """Remove ``i`` if present; return whether it was."""
        k = bisect_right(self._starts, i) - 1
        if k < 0:
            return False
        start, count, step = self._runs[k]
        off = i - start
        if off % step != 0 or off // step >= count:
            return False
        pos = off // step
        new: list[tuple[int, int, int]] = []
        if pos > 0:
            new.append((start, pos, step))
        if pos < count - 1:
            new.append((i + step, count - pos - 1, step))
        self._runs[k : k + 1] = new
        self._starts[k : k + 1] = [r[0] for r in new]
        self._len -= 1
        return True

"""A step function of time: how much of one resource is free from now on.

The backfill planner keeps one :class:`Line` per resource of each node (and one per partition for
a quick total): running jobs hold their share until their time limit, reservations from their
planned start to their planned end. The operations are the ones backfilling needs: take or give
an amount over an interval, the least amount free over a window, and the earliest start of a
window in which enough is free throughout.

Times are floats (POSIX seconds in the live cluster, trace seconds in the simulator); ``math.inf``
is a valid end: a job without a time limit holds its share forever.
"""

from __future__ import annotations

import math
from bisect import bisect_right

INF = math.inf


class Line:
    """Free amount over time: ``vals[i]`` holds on ``[times[i], times[i+1])``, the last forever.

    ``times[0]`` is the origin: the line says nothing about earlier times, and a query before it
    is answered as at the origin. Adjacent segments with equal values are merged as they appear,
    so a line has one segment per distinct change, not per operation.
    """

    __slots__ = ("times", "vals")

    def __init__(self, origin: float, value: int) -> None:
        self.times: list[float] = [origin]
        self.vals: list[int] = [value]

    def __repr__(self) -> str:
        return f"Line({list(zip(self.times, self.vals, strict=True))})"

    def at(self, t: float) -> int:
        """The amount free at time ``t``."""
        i = bisect_right(self.times, t) - 1
        return self.vals[i if i > 0 else 0]

    @property
    def last(self) -> int:
        """The amount free once everything planned has ended."""
        return self.vals[-1]

    def advance(self, now: float) -> None:
        """Forget what lies before ``now``: the line starts there."""
        times = self.times
        if now <= times[0]:
            return
        i = bisect_right(times, now) - 1
        if i > 0:
            del times[:i]
            del self.vals[:i]
        times[0] = now

    def _split(self, t: float) -> int:
        """The index of the segment that starts at ``t`` (splitting the one containing it)."""
        times = self.times
        i = bisect_right(times, t) - 1
        if i < 0:
            return 0
        if times[i] == t:
            return i
        times.insert(i + 1, t)
        self.vals.insert(i + 1, self.vals[i])
        return i + 1

    def add(self, start: float, end: float, delta: int) -> None:
        """Add ``delta`` (negative: take) to the amount free on ``[start, end)``."""
        times = self.times
        if start < times[0]:
            start = times[0]
        if end <= start or delta == 0:
            return
        i = self._split(start)
        j = len(times) if end == INF else self._split(end)
        vals = self.vals
        for k in range(i, j):
            vals[k] += delta
        # Merge at the two edges: a give that exactly undoes a take leaves no trace.
        if j < len(times) and vals[j] == vals[j - 1]:
            del times[j]
            del vals[j]
        if i > 0 and vals[i] == vals[i - 1]:
            del times[i]
            del vals[i]

    def min_over(self, start: float, end: float) -> int:
        """The least amount free at any time in ``[start, end)``."""
        times = self.times
        vals = self.vals
        i = bisect_right(times, start) - 1
        if i < 0:
            i = 0
        low = vals[i]
        n = len(times)
        i += 1
        while i < n and times[i] < end:
            v = vals[i]
            if v < low:
                low = v
            i += 1
        return low

    def earliest(self, need: int, duration: float, after: float) -> float | None:
        """The first time ``t >= after`` with at least ``need`` free throughout ``[t, t+duration)``.

        None if there is none (the amount left once everything has ended is below ``need``).
        """
        times = self.times
        vals = self.vals
        n = len(times)
        i = bisect_right(times, after) - 1
        if i < 0:
            i = 0
        start: float | None = None
        while i < n:
            if vals[i] >= need:
                if start is None:
                    start = after if times[i] < after else times[i]
                end = times[i + 1] if i + 1 < n else INF
                if end - start >= duration:
                    return start
            else:
                start = None
            i += 1
        return None

    def next_change(self, after: float) -> float | None:
        """The first time after ``after`` at which the amount changes, or None."""
        times = self.times
        i = bisect_right(times, after)
        return times[i] if i < len(times) else None

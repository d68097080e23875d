"""The step function under the backfill plan."""

from __future__ import annotations

import math
import random

from stratus.engine.timeline import Line


def values(line: Line) -> list[tuple[float, int]]:
    return list(zip(line.times, line.vals, strict=True))


def test_take_and_give_back_leaves_no_trace() -> None:
    line = Line(0.0, 10)
    line.add(5.0, 15.0, -4)
    assert values(line) == [(0.0, 10), (5.0, 6), (15.0, 10)]
    line.add(10.0, math.inf, -6)
    assert values(line) == [(0.0, 10), (5.0, 6), (10.0, 0), (15.0, 4)]
    line.add(10.0, math.inf, 6)
    line.add(5.0, 15.0, 4)
    assert values(line) == [(0.0, 10)]


def test_min_over_and_at() -> None:
    line = Line(0.0, 8)
    line.add(2.0, 4.0, -5)
    assert line.at(1.0) == 8 and line.at(2.0) == 3 and line.at(4.0) == 8
    assert line.min_over(0.0, 2.0) == 8
    assert line.min_over(0.0, 2.5) == 3
    assert line.min_over(4.0, 100.0) == 8


def test_earliest_needs_the_whole_window() -> None:
    line = Line(0.0, 4)
    line.add(0.0, 10.0, -3)  # 1 free until 10
    line.add(20.0, 30.0, -2)  # 2 free on [20, 30)
    assert line.earliest(1, 100.0, 0.0) == 0.0
    assert line.earliest(2, 5.0, 0.0) == 10.0  # fits before the dip at 20
    assert line.earliest(3, 15.0, 0.0) == 30.0  # [10, 20) is too short for 15 s
    assert line.earliest(3, 10.0, 0.0) == 10.0
    assert line.earliest(5, 1.0, 0.0) is None
    assert line.earliest(2, math.inf, 0.0) == 10.0  # the dip at 20 leaves 2


def test_advance_forgets_the_past() -> None:
    line = Line(0.0, 4)
    line.add(1.0, 3.0, -1)
    line.add(5.0, 6.0, -2)
    line.advance(4.0)
    assert values(line) == [(4.0, 4), (5.0, 2), (6.0, 4)]
    assert line.next_change(4.0) == 5.0 and line.next_change(6.0) is None


def test_random_operations_match_a_brute_force_model() -> None:
    rng = random.Random(7)
    line = Line(0.0, 50)
    model = [50] * 200  # free amount at each integer time
    held: list[tuple[int, int, int]] = []
    for _ in range(400):
        if held and rng.random() < 0.4:
            a, b, d = held.pop(rng.randrange(len(held)))
            line.add(a, b, d)
            for t in range(a, b):
                model[t] += d
        else:
            a = rng.randrange(0, 190)
            b = rng.randrange(a + 1, 200)
            d = rng.randrange(1, 6)
            line.add(a, b, -d)
            held.append((a, b, d))
            for t in range(a, b):
                model[t] -= d
        t = rng.randrange(0, 200)
        assert line.at(t) == model[t]
        a = rng.randrange(0, 199)
        b = rng.randrange(a + 1, 200)
        assert line.min_over(a, b) == min(model[a:b])
        need, dur = rng.randrange(0, 60), rng.randrange(1, 30)
        start = line.earliest(need, dur, a)
        brute = next((s for s in range(a, 200 - dur + 1) if min(model[s : s + dur]) >= need), None)
        if brute is not None:
            assert start == brute
        else:
            # Beyond the modelled range the line is back to its last value.
            assert start is None or start > 200 - dur

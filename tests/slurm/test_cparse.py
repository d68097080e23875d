"""The one strtol of the Slurm front end: C's parse, end position and "nothing parsed"."""

from __future__ import annotations

import pytest

from stratus.slurm.cparse import strtol, strtol_rest


@pytest.mark.parametrize(
    ("text", "pos", "expected"),
    [
        ("18_5", 0, (18, 2)),
        ("  +7x", 0, (7, 4)),
        ("-12", 0, (-12, 3)),
        ("a12", 1, (12, 3)),
        ("x", 0, (0, 0)),  # nothing parsed: the end stays where parsing began
        ("  -", 0, (0, 0)),
        ("5_ x", 2, (0, 2)),
        ("", 0, (0, 0)),
    ],
)
def test_strtol(text: str, pos: int, expected: tuple[int, int]) -> None:
    assert strtol(text, pos) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [("18_5", (18, "_5")), (" 3", (3, "")), ("+0,1", (0, ",1")), ("_5", (None, "_5")), ("", (None, ""))],
)
def test_strtol_rest_tells_no_number_from_zero(text: str, expected: tuple[int | None, str]) -> None:
    assert strtol_rest(text) == expected

"""``--dependency`` parsing: ids Slurm cannot hold are invalid, never an internal error."""

from __future__ import annotations

import pytest

from stratus.slurm.depend import DependencyError, parse_dependency


@pytest.mark.parametrize(
    "text",
    [
        "afterok:9223372036854775808",  # past SQLite's integers: was "internal error in the head node"
        "afterok:4294967294",  # NO_VAL
        "afterany:12_99999999999999999999",
        "after:12+99999999999999999999",
        "99999999999999999999",
    ],
)
def test_regression_out_of_range_ids_gave_an_internal_error(text: str) -> None:
    with pytest.raises(DependencyError):
        parse_dependency(text)


def test_ids_in_range_are_kept() -> None:
    parsed = parse_dependency("afterok:4294967293_7+5,singleton")
    assert [(d.type, d.job_id, d.task_id, d.delay_min) for d in parsed.items] == [
        ("afterok", 4294967293, 7, 5),
        ("singleton", 0, None, 0),
    ]

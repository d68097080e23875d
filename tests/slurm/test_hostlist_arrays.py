"""Hostlists and array specs: parsing, Slurm's printing, and their agreement with IndexSet."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stratus.engine.indexset import IndexSet
from stratus.slurm import hostlist
from stratus.slurm.arrays import (
    ArraySpecError,
    array_step,
    format_array_job,
    format_task_ids,
    parse_array,
    parse_task_list,
)


@pytest.mark.parametrize(
    ("names", "expected"),
    [
        (["queue1-st-local-1", "queue1-dy-t2micro-2", "queue1-dy-t2micro-1", "queue1-dy-t2micro-3"],
         "queue1-dy-t2micro-[1-3],queue1-st-local-1"),
        ([f"queue1-dy-t2micro-{i}" for i in range(1, 11)], "queue1-dy-t2micro-[1-10]"),
        (["queue1-dy-t2micro-1"], "queue1-dy-t2micro-1"),
        (["n1", "n2", "n4", "n9", "n10"], "n[1-2,4,9-10]"),
        ([f"node{i:03d}" for i in (1, 2, 3, 5, 99, 100, 101)], "node[001-003,005,099-101]"),
        # Only the trailing number is a range (python-hostlist would print queue[1-2]-dy-a-1).
        (["queue1-dy-a-1", "queue2-dy-a-1"], "queue1-dy-a-1,queue2-dy-a-1"),
        (["login", "n1", "n1"], "login,n1"),
        ([], ""),
    ],
)  # fmt: skip
def test_compress(names: list[str], expected: str) -> None:
    assert hostlist.compress(names) == expected


def test_expand() -> None:
    assert hostlist.expand("queue1-dy-t2micro-[1-3],queue1-st-local-1") == [
        "queue1-dy-t2micro-1",
        "queue1-dy-t2micro-2",
        "queue1-dy-t2micro-3",
        "queue1-st-local-1",
    ]
    assert hostlist.expand("n[01-02,7]") == ["n01", "n02", "n7"]
    assert hostlist.expand("") == []
    with pytest.raises(hostlist.HostlistError):
        hostlist.expand("n[1-")


names = st.lists(
    st.tuples(st.sampled_from(["a", "queue1-dy-c-", "queue1-st-c-", "x2y"]), st.integers(0, 300)).map(
        lambda t: f"{t[0]}{t[1]}"
    ),
    max_size=40,
)


@given(names)
@settings(max_examples=150)
def test_compress_expand_round_trip(hosts: list[str]) -> None:
    assert hostlist.expand(hostlist.compress(hosts)) == sorted(set(hosts), key=hostlist.sort_key)


@given(st.sets(st.integers(0, 2000), min_size=2, max_size=60))
@settings(max_examples=150)
def test_hostlist_ranges_agree_with_indexset(ids: set[int]) -> None:
    assert hostlist.compress(f"n{i}" for i in ids) == f"n[{IndexSet.from_ids(ids).to_slurm()}]"


@pytest.mark.parametrize(
    ("text", "ids", "limit"),
    [
        ("0-64", list(range(65)), None),
        ("1,5,7-11:2", [1, 5, 7, 9, 11], None),
        ("1-3%2", [1, 2, 3], 2),
        ("1-3%0", [1, 2, 3], None),  # accepted: %0 means no limit
        ("0-1000", list(range(1001)), None),
        ("[1-3]", [1, 2, 3], None),
        ("7", [7], None),
        ("1-10:3", [1, 4, 7, 10], None),
    ],
)
def test_parse_array(text: str, ids: list[int], limit: int | None) -> None:
    spec = parse_array(text)
    assert (list(spec.indices), spec.max_running, spec.text) == (ids, limit, text)


@pytest.mark.parametrize("text", ["abc", "5-1", "0-5000", "1-3:0", "-1", "", ",", "5:2", "1-2x", "0-1001"])
def test_bad_arrays(text: str) -> None:
    with pytest.raises(ArraySpecError):
        parse_array(text)


def test_array_size_is_configurable() -> None:
    assert parse_array("0-4", max_array_size=5).indices.max() == 4
    with pytest.raises(ArraySpecError):
        parse_array("0-5", max_array_size=5)


runs = st.lists(
    st.tuples(st.integers(0, 800), st.integers(0, 40), st.integers(1, 5)), min_size=1, max_size=6
)  # ids stay within 0..1000: 800 + 40 * 5


@given(runs)
@settings(max_examples=150)
def test_array_specs_round_trip(parts: list[tuple[int, int, int]]) -> None:
    text = ",".join(f"{a}-{a + n * s}:{s}" if n else f"{a}" for a, n, s in parts)
    expected = sorted({a + k * s for a, n, s in parts for k in range(n + 1)})
    assert list(parse_array(text).indices) == expected
    assert list(parse_array(IndexSet.from_ids(expected).to_slurm()).indices) == expected


def test_task_strings_like_squeue() -> None:
    assert format_task_ids(IndexSet.from_range(40, 64)) == "40-64"
    assert format_task_ids(IndexSet.from_range(1, 3), 2) == "1-3%2"
    assert format_task_ids(IndexSet.from_range(1, 999, 2)) == "1-999:2"
    assert format_task_ids(IndexSet.from_ids([1, 5, 7, 9, 11])) == "1,5,7,9,11"  # too few for a step
    long = IndexSet.from_ids(range(0, 300, 2))
    text = format_task_ids(long.union(IndexSet.from_ids([1])))
    assert len(text) == 63 and text.endswith("...")
    assert format_task_ids(
        IndexSet.from_ids(range(0, 300, 2)).union(IndexSet.from_ids([1])), bitstr_len=0
    ).endswith("298")
    assert format_array_job(20, "40-64") == "20_[40-64]"


def test_array_step_and_task_lists() -> None:
    assert array_step("1,5,7-11:2") == 2
    assert array_step("0-64") == 1
    assert list(parse_task_list("10-64")) == list(range(10, 65))
    assert list(parse_task_list("1,3,5-7")) == [1, 3, 5, 6, 7]
    for bad in ("", "a", "3-1", "1-", "-1"):
        with pytest.raises(ValueError):
            parse_task_list(bad)

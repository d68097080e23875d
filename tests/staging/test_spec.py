"""Staging entries: what the front doors accept, and the errors that name what is wrong."""

from __future__ import annotations

import pytest

from stratus.agent import staging as node
from stratus.staging import spec
from stratus.staging.spec import StagingSpecError, Transfer, parse, parse_entry


def test_path_then_url_splits_at_the_url_so_keys_may_hold_equals() -> None:
    t = parse_entry("in/part.csv=s3://data-lake/year=2024/part.csv", stage_in=True)
    assert t == Transfer("in/part.csv", "data-lake", "year=2024/part.csv")
    assert t.url == "s3://data-lake/year=2024/part.csv" and not t.is_prefix


def test_a_stage_in_url_alone_lands_under_its_last_part() -> None:
    assert parse_entry("s3://bkt/a/b/input.txt", stage_in=True).path == "input.txt"
    prefix = parse_entry("s3://bkt/refs/genome/", stage_in=True)
    assert prefix.path == "genome/" and prefix.is_prefix


def test_several_entries_split_at_commas_and_newlines() -> None:
    got = parse(["a=s3://bkt/a, b=s3://bkt/b", "c=s3://bkt/c\nd=s3://bkt/d\n"], stage_in=False)
    assert [t.path for t in got] == ["a", "b", "c", "d"]


@pytest.mark.parametrize(
    ("entry", "stage_in", "words"),
    [
        ("s3://bkt/out.txt", False, "needs the local path first"),
        ("out.txt", True, "not PATH=s3://BUCKET/KEY"),
        ("x=s3://Bad_Bucket/k", True, "not an S3 bucket name"),
        ("x=s3://ab/k", True, "not an S3 bucket name"),
        ("=s3://bkt/k", True, "no local path"),
        ("s3://bkt/", True, "give the local path"),
        ("x=s3://bkt/" + "k" * 1025, True, "longer than 1024 bytes"),
        ("x\0y=s3://bkt/k", True, "NUL"),
    ],
)
def test_bad_entries_are_refused_with_the_entry_named(entry: str, stage_in: bool, words: str) -> None:
    with pytest.raises(StagingSpecError) as exc:
        parse_entry(entry, stage_in=stage_in)
    assert words in str(exc.value)


def test_at_most_max_transfers() -> None:
    many = ",".join(f"f{i}=s3://bkt/k{i}" for i in range(spec.MAX_TRANSFERS + 1))
    with pytest.raises(StagingSpecError, match="at most"):
        parse(many, stage_in=True)


def test_a_transfer_survives_the_launch_message() -> None:
    t = parse_entry("d/=s3://bkt/p/", stage_in=True)
    assert Transfer.from_list(t.to_list()) == t


def test_the_node_reports_the_exit_statuses_the_doors_read() -> None:
    # The node's program is standard-library only and cannot import the doors' module.
    assert (node.STAGE_IN_FAILED, node.STAGE_OUT_FAILED) == (spec.STAGE_IN_FAILED, spec.STAGE_OUT_FAILED)

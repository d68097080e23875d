"""Durations, timestamps and sizes in Slurm's notations."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stratus.slurm.sacct_time import TimeParseError, parse_time
from stratus.slurm.timefmt import (
    UNIT_MEGA,
    YEAR_SECONDS,
    TimeSpecError,
    convert_num_unit,
    duration_mins,
    duration_secs,
    fmt_date_header,
    fmt_elapsed,
    fmt_mins_long,
    fmt_secs_long,
    fmt_sinfo_limit,
    fmt_squeue_limit,
    fmt_timestamp,
    parse_mem_mb,
)

from .helpers import at


@pytest.mark.parametrize(
    ("text", "secs"),
    [
        ("5", 300),
        ("0", 0),
        ("1:30", 90),
        ("1:02:03", 3723),
        ("2-3", 2 * 86400 + 3 * 3600),
        ("2-3:04", 2 * 86400 + 3 * 3600 + 4 * 60),
        ("2-3:04:05", 2 * 86400 + 3 * 3600 + 4 * 60 + 5),
        ("00:05:00", 300),
        ("-5", -5 * 86400),  # accepted by Slurm: "minus five days"
        ("UNLIMITED", None),
        ("infinite", None),
        ("-1", None),
    ],
)
def test_durations(text: str, secs: int | None) -> None:
    assert duration_secs(text) == secs


@pytest.mark.parametrize("text", ["garbage", "", "1:2:3:4", "1-2-3", "5:", ":5", "1:2-3", "1.5", "1h", " 5"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(TimeSpecError):
        duration_secs(text)


def test_minutes_round_up_like_slurm() -> None:
    assert duration_mins("0:30") == 1
    assert duration_mins("1:30") == 2
    assert duration_mins("0:0") == 0
    assert duration_mins("-5") == -7199  # C division truncates toward zero
    assert duration_mins("unlimited") is None


@given(st.integers(min_value=0, max_value=400 * 86400))
def test_long_form_round_trips(secs: int) -> None:
    assert duration_secs(fmt_secs_long(secs)) == secs


def test_elapsed_forms() -> None:
    assert fmt_elapsed(8) == "0:08"
    assert fmt_elapsed(3723) == "1:02:03"
    assert fmt_elapsed(93784) == "1-02:03:04"
    assert fmt_elapsed(YEAR_SECONDS) == "365-00:00:00"
    assert fmt_elapsed(YEAR_SECONDS + 1) == "INVALID"
    assert fmt_elapsed(-1) == "INVALID"


def test_limit_forms() -> None:
    assert fmt_squeue_limit(None) == "UNLIMITED"
    assert fmt_squeue_limit(60) == "1:00:00"
    assert fmt_squeue_limit(365 * 1440) == "365-00:00:00"
    assert fmt_sinfo_limit(None) == "infinite"
    assert fmt_sinfo_limit(60) == "1:00:00"
    assert fmt_sinfo_limit(30) == "30:00"
    assert fmt_mins_long(1) == "00:01:00"
    assert fmt_mins_long(365 * 1440) == "365-00:00:00"
    assert fmt_mins_long(None) == "UNLIMITED"
    assert fmt_secs_long(83) == "00:01:23"


def test_timestamps() -> None:
    assert fmt_timestamp(at("09:21:07")) == "2026-11-22T09:21:07"
    assert fmt_timestamp(None) == "Unknown"
    assert fmt_timestamp(0) == "Unknown"
    assert fmt_date_header(at("09:20:40")) == "Sun Nov 22 09:20:40 2026"


@pytest.mark.parametrize(
    ("text", "mb"),
    [("100M", 100), ("2G", 2048), ("500", 500), ("1T", 1048576), ("512K", 1), ("1025K", 2), ("2GB", 2048)],
)
def test_memory(text: str, mb: int) -> None:
    assert parse_mem_mb(text) == mb


@pytest.mark.parametrize("text", ["abc", "-5", "10X", "", "5MBB", "G"])
def test_bad_memory(text: str) -> None:
    with pytest.raises(ValueError):
        parse_mem_mb(text)


def test_sizes_print_like_convert_num_unit() -> None:
    assert convert_num_unit(2048, UNIT_MEGA) == "2G"
    assert convert_num_unit(1536, UNIT_MEGA) == "1.50G"
    assert convert_num_unit(100, UNIT_MEGA) == "100M"
    assert convert_num_unit(0, UNIT_MEGA) == "0"
    assert convert_num_unit(2048, UNIT_MEGA, noconvert=True) == "2048M"
    assert convert_num_unit(2) == "2"


def test_begin_times() -> None:
    """sbatch --begin is read by Slurm 22.05's parse_time looking ahead; bad text reports where
    parse_time stopped (the position sbatch prints)."""
    now = at("09:21:00")

    def parse_begin(text: str, now: float) -> int:
        return parse_time(text, now, past=False)

    assert parse_begin("now", now) == now
    assert parse_begin("now+1hour", now) == now + 3600
    assert parse_begin("now+30", now) == now + 30
    assert parse_begin("now+2days", now) == now + 2 * 86400
    assert parse_begin("16:00", now) == at("16:00:00")
    assert parse_begin("09:00", now) == at("09:00:00") + 86400  # already past: tomorrow
    assert parse_begin("4:00 PM", now) == at("16:00:00")
    assert parse_begin("noon", now) == at("12:00:00")
    assert parse_begin("tomorrow", now) == at("00:00:00") + 86400
    assert parse_begin("2026-11-23T10:30", now) == at("10:30:00") + 86400
    assert parse_begin("11/23", now) == at("00:00:00") + 86400
    assert parse_begin("uts1800000000", now) == 1800000000
    assert parse_begin("", now) == 0  # names no time: refused without a position
    for bad, pos in (("garbage", 0), ("now+", 3), ("25:00", 0), ("now+3parsecs", 4), ("13/40", 0)):
        with pytest.raises(TimeParseError) as info:
            parse_begin(bad, now)
        assert info.value.pos == pos, bad

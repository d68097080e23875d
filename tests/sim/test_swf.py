"""The SWF reader: records, the lenient header, gzip, and errors that name file, line and field."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from stratus.sim.swf import SwfError, read_trace

HEADER = """; Version: 2.2
; Computer: IBM SP2
; MaxNodes: 100 (batch partition; 128 total)
; MaxProcs: 100
;
"""
LINES = [
    "1 0 10 100 4 -1 -1 4 200 -1 1 7 1 -1 1 -1 -1 -1",
    "2 5 0 50 2 -1 -1 -1 -1 -1 1 8 2 -1 2 -1 -1 -1",
]


def write(tmp_path: Path, text: str, name: str = "t.swf") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def test_records_and_lenient_header(tmp_path: Path) -> None:
    trace = read_trace(write(tmp_path, HEADER + "\n".join(LINES) + "\n"))
    assert trace.max_procs == 100
    assert trace.header_int("MaxNodes") == 100  # free text after the number is ignored
    first, second = trace.records
    assert (first.number, first.submit, first.run, first.allocated_procs) == (1, 0, 100, 4)
    assert (first.requested_procs, first.requested_time, first.user, first.queue) == (4, 200, 7, 1)
    assert (second.requested_time, second.queue, second.line) == (-1, 2, 7)


def test_max_procs_falls_back_to_max_nodes(tmp_path: Path) -> None:
    trace = read_trace(write(tmp_path, "; MaxNodes: 64\n" + LINES[0] + "\n"))
    assert trace.max_procs == 64


def test_gzipped_trace(tmp_path: Path) -> None:
    p = tmp_path / "t.swf.gz"
    with gzip.open(p, "wt") as f:
        f.write(HEADER + "\n".join(LINES) + "\n")
    assert len(read_trace(p).records) == 2


def test_float_fields_are_accepted(tmp_path: Path) -> None:
    trace = read_trace(write(tmp_path, "1 0 10 100.0 4 3.5 -1 4 200 -1 1 7 1 -1 1 -1 -1 -1\n"))
    assert trace.records[0].run == 100


def test_wrong_field_count_names_file_and_line(tmp_path: Path) -> None:
    p = write(tmp_path, HEADER + LINES[0] + "\n1 2 3\n")
    with pytest.raises(SwfError) as err:
        read_trace(p)
    assert str(err.value) == f"{p}:7: expected 18 fields (the SWF job format), found 3"


def test_non_numeric_field_names_the_field(tmp_path: Path) -> None:
    p = write(tmp_path, LINES[0] + "\n" + LINES[1].replace(" 50 ", " fifty ") + "\n")
    with pytest.raises(SwfError) as err:
        read_trace(p)
    assert str(err.value) == f"{p}:2: field 4 (run time) is not a number: 'fifty'"


def test_skip_bad_lines_counts_them(tmp_path: Path) -> None:
    p = write(
        tmp_path,
        LINES[0] + "\nnot a record\n" + LINES[1] + "\n1 2 nan 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18\n",
    )
    trace = read_trace(p, skip_bad_lines=True)
    assert [r.number for r in trace.records] == [1, 2]
    assert len(trace.skipped) == 2
    assert trace.skipped[0].startswith(f"{p}:2: expected 18 fields")
    assert "field 3 (wait time)" in trace.skipped[1]


def test_empty_or_binary_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(SwfError, match="no job records"):
        read_trace(write(tmp_path, HEADER))
    bad = tmp_path / "broken.swf.gz"
    bad.write_bytes(b"\x1f\x8b" + b"\x00" * 20)
    with pytest.raises(SwfError, match="not a readable gzip file"):
        read_trace(bad)

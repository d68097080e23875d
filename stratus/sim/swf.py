"""Reading workload traces in the Standard Workload Format (SWF, Parallel Workloads Archive).

One job per line, 18 whitespace-separated numeric fields, ``-1`` for unknown; lines starting with
``;`` are the header (``; MaxProcs: 128``), read leniently: a value may carry free text after its
number (``; MaxNodes: 338 (batch partition; 512 total)``). Files may be gzipped.

A malformed record is an error naming the file, the line and the field (:class:`SwfError`),
unless the caller asks to skip bad lines, in which case they are counted and skipped.
"""

from __future__ import annotations

import gzip
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

# The 18 fields of SWF v2.2, in order.
FIELDS = (
    "job number",
    "submit time",
    "wait time",
    "run time",
    "allocated processors",
    "average CPU time used",
    "used memory",
    "requested processors",
    "requested time",
    "requested memory",
    "status",
    "user id",
    "group id",
    "executable number",
    "queue number",
    "partition number",
    "preceding job number",
    "think time from preceding job",
)

_HEADER = re.compile(r"^;\s*([A-Za-z][\w ]*?)\s*:\s*(.*?)\s*$")
_LEADING_NUMBER = re.compile(r"^[-+]?\d+(\.\d*)?")


class SwfError(ValueError):
    """A trace that cannot be read: names the file, the line and what is wrong with it."""


@dataclass(frozen=True, slots=True)
class Record:
    """The fields of one job that replaying it needs (times in seconds, ``-1`` unknown)."""

    line: int
    number: int
    submit: int
    run: int
    allocated_procs: int
    requested_procs: int
    requested_time: int
    requested_memory_kb: int
    status: int
    user: int
    group: int
    queue: int
    partition: int


@dataclass
class Trace:
    """A parsed trace: its header values and its records, in file order."""

    path: str
    header: dict[str, str] = field(default_factory=dict)
    records: list[Record] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # messages for lines skipped as bad

    def header_int(self, key: str) -> int | None:
        """A header value's leading integer (``MaxProcs``, ``UnixStartTime`` ...), if any."""
        value = self.header.get(key.lower())
        if value is None:
            return None
        m = _LEADING_NUMBER.match(value)
        return int(float(m.group(0))) if m else None

    @property
    def max_procs(self) -> int | None:
        """The machine size the header declares: ``MaxProcs``, else ``MaxNodes``."""
        procs = self.header_int("MaxProcs")
        return procs if procs is not None and procs > 0 else self.header_int("MaxNodes")


def _open(path: Path) -> IO[str]:
    with path.open("rb") as raw:
        magic = raw.read(2)
    if magic == b"\x1f\x8b":
        return gzip.open(path, "rt", encoding="utf-8", errors="replace")
    return path.open(encoding="utf-8", errors="replace")


def _number(text: str, where: str, index: int) -> int:
    try:
        return int(text)
    except ValueError:
        pass
    try:
        value = float(text)
    except ValueError:
        raise SwfError(f"{where}: field {index + 1} ({FIELDS[index]}) is not a number: {text!r}") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise SwfError(f"{where}: field {index + 1} ({FIELDS[index]}) is not a number: {text!r}")
    return int(value)


def parse_line(text: str, where: str, line: int) -> Record:
    """One record from a non-comment line; ``where`` (``file:line``) prefixes any error."""
    parts = text.split()
    if len(parts) != len(FIELDS):
        raise SwfError(f"{where}: expected {len(FIELDS)} fields (the SWF job format), found {len(parts)}")
    try:
        v = [int(p) for p in parts]
    except ValueError:
        v = [_number(p, where, i) for i, p in enumerate(parts)]
    return Record(
        line=line,
        number=v[0],
        submit=v[1],
        run=v[3],
        allocated_procs=v[4],
        requested_procs=v[7],
        requested_time=v[8],
        requested_memory_kb=v[9],
        status=v[10],
        user=v[11],
        group=v[12],
        queue=v[14],
        partition=v[15],
    )


def iter_lines(path: Path) -> Iterator[tuple[int, str]]:
    """(line number, text) of every line of a trace, gunzipping if needed."""
    with _open(path) as f:
        yield from enumerate(f, start=1)


def read_trace(path: str | Path, *, skip_bad_lines: bool = False) -> Trace:
    """Read a whole trace. Raises :class:`SwfError` on the first bad line unless skipping them.

    Raises ``OSError`` for a file that cannot be read, and :class:`SwfError` for one that is
    not gzip or text, or holds no record at all.
    """
    p = Path(path)
    trace = Trace(str(path))
    try:
        for n, text in iter_lines(p):
            stripped = text.strip()
            if not stripped:
                continue
            if stripped.startswith(";"):
                m = _HEADER.match(stripped)
                if m:
                    trace.header.setdefault(m.group(1).lower(), m.group(2))
                continue
            try:
                trace.records.append(parse_line(stripped, f"{path}:{n}", n))
            except SwfError as exc:
                if not skip_bad_lines:
                    raise
                trace.skipped.append(str(exc))
    except (gzip.BadGzipFile, EOFError) as exc:
        raise SwfError(f"{path}: not a readable gzip file ({exc})") from None
    if not trace.records:
        raise SwfError(f"{path}: no job records (is it a Standard Workload Format file?)")
    return trace

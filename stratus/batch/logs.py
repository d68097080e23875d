"""Batch jobs' output as CloudWatch Logs shows it: log group ``/aws/batch/job``, one log stream
per job attempt, read with ``GetLogEvents``, ``DescribeLogStreams`` and ``FilterLogEvents``
(``boto3.client("logs")``, ``aws logs get-log-events``), on the Batch endpoint.

The stream of an attempt is ``<job definition name>/default/<jobId>.<attempt>`` (an array child's
jobId with ``-`` for ``:``), as ``DescribeJobs`` names it in ``container.logStreamName``; its
events are the lines of the attempt's output file (``<cluster>/batch/logs/<jobId>.<attempt>.log``).
What stratus does not have it says: a line's ``timestamp`` and ``ingestionTime`` are the time
the file was last written (no per-line times are kept), and ``filterPattern`` is the plain form
of CloudWatch's syntax (every term must appear in the line; ``"quoted phrases"`` count as one
term; ``?term`` alternatives, JSON and space-delimited patterns are refused with an error).

A user reads the streams of their own jobs (the files their jobs wrote); the cluster's
administrators read every stream. Errors are CloudWatch's: ``ResourceNotFoundException`` for an
unknown group or stream, ``InvalidParameterException`` for a bad value or token.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import shlex
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from stratus.service.model import Identity

GROUP = "/aws/batch/job"
#: How long a stream's unfinished last line must be left as it is before it counts as an event.
PARTIAL_LINE_S = 2.0
#: The most events one answer holds (CloudWatch: 10,000 or 1 MB).
MAX_EVENTS = 10_000


class LogsError(Exception):
    """A request CloudWatch Logs would refuse: ``code`` its error type."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _int(body: dict[str, Any], key: str, default: int | None = None) -> int | None:
    value = body.get(key, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise LogsError("InvalidParameterException", f"{key}: expected a non-negative integer, got {value!r}")
    return value


def _str(body: dict[str, Any], key: str) -> str | None:
    value = body.get(key)
    if value is not None and not isinstance(value, str):
        raise LogsError("InvalidParameterException", f"{key}: expected a string, got {type(value).__name__}")
    return value


def _token(kind: str, offset: int) -> str:
    return kind + "/" + base64.urlsafe_b64encode(json.dumps(offset).encode()).decode()


def _offset(token: str, kinds: tuple[str, ...]) -> tuple[str, int]:
    kind, _, data = token.partition("/")
    try:
        offset = json.loads(base64.urlsafe_b64decode(data.encode()))
    except (ValueError, binascii.Error):
        offset = None
    if kind not in kinds or not isinstance(offset, int) or offset < 0:
        raise LogsError("InvalidParameterException", "nextToken: not a token this endpoint gave")
    return kind, offset


def _terms(pattern: str) -> list[str]:
    try:
        terms = shlex.split(pattern)
    except ValueError as exc:
        raise LogsError("InvalidParameterException", f"filterPattern: {exc}") from None
    if any(t.startswith(("?", "{", "[")) for t in terms):
        raise LogsError(
            "InvalidParameterException",
            "filterPattern: only plain terms and quoted phrases are supported (every term must appear)",
        )
    return terms


class BatchLogs:
    """The log streams of a cluster's Batch jobs (see the module docstring)."""

    def __init__(self, log_dir: Path, definition_of: Callable[[str], str | None]) -> None:
        """``definition_of`` gives the job definition name of a Batch job id (None: no such
        job of this door)."""
        self.log_dir = log_dir
        self.definition_of = definition_of

    def operations(self) -> dict[str, Callable[[dict[str, Any], Identity], dict[str, Any]]]:
        return {
            "GetLogEvents": self.get_log_events,
            "DescribeLogStreams": self.describe_log_streams,
            "FilterLogEvents": self.filter_log_events,
        }

    # -- streams ----------------------------------------------------------------------------------

    def _streams(self, who: Identity) -> dict[str, Path]:
        """Stream name → output file, of the streams ``who`` may read."""
        out: dict[str, Path] = {}
        try:
            entries = list(os.scandir(self.log_dir))
        except OSError:
            return out
        for entry in entries:
            if not entry.name.endswith(".log"):
                continue
            try:
                owner = entry.stat().st_uid
            except OSError:
                continue
            if not who.is_admin and owner != who.uid:
                continue
            stem = entry.name[: -len(".log")]
            job_id = stem.rsplit(".", 1)[0]
            # A Batch id has four dashes; an array child's file adds one before its index.
            parent = job_id.rsplit("-", 1)[0] if job_id.count("-") > 4 else job_id
            definition = self.definition_of(parent)
            if definition is None:
                continue
            out[f"{definition}/default/{stem}"] = Path(entry.path)
        return out

    def _group(self, body: dict[str, Any]) -> None:
        group = _str(body, "logGroupName") or _str(body, "logGroupIdentifier")
        if group is None:
            raise LogsError("InvalidParameterException", "logGroupName is required")
        if group.rsplit(":log-group:", 1)[-1].removesuffix(":*") != GROUP:
            raise LogsError("ResourceNotFoundException", f"The specified log group does not exist: {group}")

    def _stream(self, name: str, who: Identity) -> Path:
        path = self._streams(who).get(name)
        if path is None:
            raise LogsError("ResourceNotFoundException", f"The specified log stream does not exist: {name}")
        return path

    @staticmethod
    def _events(path: Path) -> tuple[list[str], int]:
        """The lines of a stream and their time (ms).

        A last line without its newline is an event only once the file has been still for
        :data:`PARTIAL_LINE_S`: while the job may still be writing it, a reader following the
        stream (by line) would otherwise take the first part for the whole line and never see
        the rest."""
        try:
            data = path.read_bytes()
            mtime = path.stat().st_mtime
        except OSError:
            return [], 0
        lines = data.decode(errors="replace").splitlines()
        if lines and not data.endswith(b"\n") and time.time() - mtime < PARTIAL_LINE_S:
            lines.pop()
        return lines, int(mtime * 1000)

    # -- operations -------------------------------------------------------------------------------

    def describe_log_streams(self, body: dict[str, Any], who: Identity) -> dict[str, Any]:
        self._group(body)
        prefix = _str(body, "logStreamNamePrefix") or ""
        limit = _int(body, "limit", 50) or 50
        if not 1 <= limit <= 50:
            raise LogsError("InvalidParameterException", f"limit: must be 1 to 50, got {limit}")
        descending = bool(body.get("descending", False))
        by_time = body.get("orderBy") == "LastEventTime"
        rows: list[dict[str, Any]] = []
        for name, path in self._streams(who).items():
            if not name.startswith(prefix):
                continue
            try:
                st = path.stat()
            except OSError:
                continue
            first_ms = int(st.st_ctime * 1000)
            last_ms = int(st.st_mtime * 1000)
            rows.append({
                "logStreamName": name,
                "creationTime": first_ms,
                "firstEventTimestamp": first_ms,
                "lastEventTimestamp": last_ms,
                "lastIngestionTime": last_ms,
                "uploadSequenceToken": "0",
                "storedBytes": st.st_size,
            })  # fmt: skip
        rows.sort(key=(lambda r: r["lastEventTimestamp"]) if by_time else (lambda r: r["logStreamName"]))
        if descending:
            rows.reverse()
        token = _str(body, "nextToken")
        start = _offset(token, ("s",))[1] if token else 0
        page = rows[start : start + limit]
        more = start + limit < len(rows)
        return {"logStreams": page, **({"nextToken": _token("s", start + limit)} if more else {})}

    def get_log_events(self, body: dict[str, Any], who: Identity) -> dict[str, Any]:
        self._group(body)
        name = _str(body, "logStreamName")
        if not name:
            raise LogsError("InvalidParameterException", "logStreamName is required")
        lines, ms = self._events(self._stream(name, who))
        start_ms, end_ms = _int(body, "startTime"), _int(body, "endTime")
        if (start_ms is not None and ms < start_ms) or (end_ms is not None and ms >= end_ms):
            lines = []
        limit = _int(body, "limit", MAX_EVENTS) or MAX_EVENTS
        if not 1 <= limit <= MAX_EVENTS:
            raise LogsError("InvalidParameterException", f"limit: must be 1 to {MAX_EVENTS}, got {limit}")
        token = _str(body, "nextToken")
        if token:
            kind, offset = _offset(token, ("f", "b"))
            if kind == "f":
                lo, hi = offset, min(offset + limit, len(lines))
            else:
                lo, hi = max(offset - limit, 0), offset
        elif body.get("startFromHead"):
            lo, hi = 0, min(limit, len(lines))
        else:  # CloudWatch's default: the newest events
            lo, hi = max(len(lines) - limit, 0), len(lines)
        events = [{"timestamp": ms, "message": line, "ingestionTime": ms} for line in lines[lo:hi]]
        # As CloudWatch does, a forward token at the end points at the end (the caller stops when
        # the token comes back unchanged).
        return {"events": events, "nextForwardToken": _token("f", hi), "nextBackwardToken": _token("b", lo)}

    def filter_log_events(self, body: dict[str, Any], who: Identity) -> dict[str, Any]:
        self._group(body)
        streams = self._streams(who)
        names = body.get("logStreamNames")
        if names is not None:
            if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
                raise LogsError("InvalidParameterException", "logStreamNames: expected a list of strings")
            chosen = {n: streams[n] for n in names if n in streams}
        else:
            prefix = _str(body, "logStreamNamePrefix") or ""
            chosen = {n: p for n, p in streams.items() if n.startswith(prefix)}
        terms = _terms(_str(body, "filterPattern") or "")
        start_ms, end_ms = _int(body, "startTime"), _int(body, "endTime")
        limit = _int(body, "limit", MAX_EVENTS) or MAX_EVENTS
        if not 1 <= limit <= MAX_EVENTS:
            raise LogsError("InvalidParameterException", f"limit: must be 1 to {MAX_EVENTS}, got {limit}")
        matched = []
        for name in sorted(chosen):
            lines, ms = self._events(chosen[name])
            if (start_ms is not None and ms < start_ms) or (end_ms is not None and ms > end_ms):
                continue
            for i, line in enumerate(lines):
                if all(t in line for t in terms):
                    matched.append({
                        "logStreamName": name,
                        "timestamp": ms,
                        "message": line,
                        "ingestionTime": ms,
                        "eventId": f"{name}:{i}",
                    })  # fmt: skip
        token = _str(body, "nextToken")
        start = _offset(token, ("e",))[1] if token else 0
        page = matched[start : start + limit]
        more = start + limit < len(matched)
        searched = [{"logStreamName": n, "searchedCompletely": True} for n in sorted(chosen)]
        return {
            "events": page,
            "searchedLogStreams": searched,
            **({"nextToken": _token("e", start + limit)} if more else {}),
        }

"""ParallelCluster's log verbs over a stratus cluster's logs: ``list-cluster-log-streams``,
``get-cluster-log-events`` and ``export-cluster-logs``.

pcluster reads a cluster's CloudWatch log group; a stratus cluster keeps its logs on disk and in
its state store, and these verbs present them as the same log streams, named as pcluster names
them, ``<hostname>.<instance id>.<log name>``:

* ``ip-127-0-0-1.<head id>.controller``: the head-node daemon's log (``logs/controller.log``);
* ``ip-127-0-0-1.<head id>.controller-out``: the daemon's standard output and error
  (``logs/controller.out``: what it printed outside its log, e.g. a crash), when not empty;
* ``ip-127-0-0-1.<head id>.clustermgtd``: the journal's node, partition, compute-fleet and
  cluster transitions: every power-up and power-down decision, node failure and status change,
  with its cause and reason;
* ``ip-127-0-0-1.<head id>.jobs``: the journal's job transitions (submit, start, requeue, end),
  with cause, reason and run;
* ``<node>.<instance id>.agent``: a node agent's log (``logs/<node>.log``), one stream for each
  instance the node ran as.

The head node's host name is the short private DNS name of its address (``ip-127-0-0-1``); a
compute node's is its node name (the host name its jobs see), so pcluster's filters
``Name=private-dns-name,Values=<prefix>`` and ``Name=node-type,Values=HeadNode`` (stratus also
takes ``ComputeNode``) select streams as they do on AWS.

Guarantees:

* Everything is read, nothing written: the log files and the state store (opened read-only), so
  the verbs answer whether or not the head node runs. Only the cluster's owner (or root) can
  read them; others get the same ``Forbidden`` answer as ``describe-cluster``.
* Events carry the time their line starts with (the daemon's and the agents' lines start with
  their local time) or the journal's time of the transition; a line without a time (a
  traceback, output of a program the agent ran) belongs to the event before it, as the
  CloudWatch agent groups them. Events come in time order (file order among equal times).
* Paging is CloudWatch's: without a token the newest page (or, with ``--start-from-head true``,
  the oldest); ``nextToken`` continues forward, ``prevToken`` backward, and a page at the end
  hands back the token it was given. Tokens mark a place between events, so they stay valid while
  the logs grow. They are signed with the cluster's API token: one that was altered, or that
  belongs to another stream, is refused.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import io
import json
import os
import re
import tarfile
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stratus.cli.clusters import CliError, existing, read_cluster
from stratus.errors import NotFoundError
from stratus.net import HEAD_ADDRESS
from stratus.paths import ClusterPaths, read_token
from stratus.pcluster.shapes import iso

if TYPE_CHECKING:
    from stratus.config import ClusterLayout

HEAD_HOST = "ip-" + HEAD_ADDRESS.replace(".", "-")
MAX_EVENTS = 10_000  # CloudWatch's most events a page, and the default limit
MAX_PAGE_BYTES = 1_048_576  # ... and its most bytes a page (messages plus 26 bytes each)
STREAMS_PAGE = 50  # DescribeLogStreams' default page of streams
FILTERS = ("private-dns-name", "node-type")
_FILTER_RE = rf"Name=({'|'.join(FILTERS)}),Values=[\w\-_.,]+"
FILTERS_PATTERN = rf"^({_FILTER_RE})(\s+{_FILTER_RE})*$"
_JOURNAL_JOBS = "jobs"
_JOURNAL_FLEET = "clustermgtd"
# Lines the head-node daemon logs start with "2026-12-05 12:51:58,945 ", the agents' with
# "2026-12-05T12:51:59 "; both are the machine's local time.
_LINE_TIME = re.compile(rb"(\d{4}-\d\d-\d\d)[ T](\d\d:\d\d:\d\d)(?:,(\d{3}))? ")
_AGENT_START = re.compile(r"agent for (\S+) \(([^)\s]+)\) pid \d+ starting$")
# An agent's last words: what follows them is not its own (see _split_instances).
_AGENT_END = ("stopping jobs and exiting", "shutdown requested (power down)", "; stopping")


# -- events and streams -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Event:
    """One log event. ``key`` orders the events of a stream: (time, place in its source)."""

    key: tuple[float, int]
    message: str

    @property
    def time_ms(self) -> int:
        return int(self.key[0] * 1000)


@dataclass
class Stream:
    """A log stream: its name, whose it is, and its events in order."""

    name: str
    node_type: str  # HeadNode | ComputeNode
    events: list[Event] = field(default_factory=list)


def _local_epoch(day: bytes, clock: bytes, cache: dict[bytes, float | None]) -> float | None:
    """The epoch time of a local date and time, None if there is no such time (2026-13-45)."""
    stamp = day + b" " + clock
    if stamp not in cache:
        try:
            cache[stamp] = dt.datetime.strptime(stamp.decode(), "%Y-%m-%d %H:%M:%S").timestamp()
        except ValueError:
            cache[stamp] = None
    return cache[stamp]


def parse_lines(data: bytes, mtime: float) -> list[Event]:
    """The events of a log file's bytes, in file order, keyed by (time, line number).

    A line that starts with a time begins an event; the lines after it that do not (a
    traceback) are part of it. Lines before the first time take that time; a file with no time
    at all gives one event a line, at the file's modification time.
    """
    cache: dict[bytes, float | None] = {}
    stamped: list[tuple[float, int, list[bytes]]] = []
    leading: list[bytes] = []
    for number, line in enumerate(data.splitlines()):
        m = _LINE_TIME.match(line)
        epoch = None if m is None else _local_epoch(m.group(1), m.group(2), cache)
        if m is None or epoch is None:
            if stamped:
                stamped[-1][2].append(line)
            else:
                leading.append(line)
            continue
        ts = epoch + int(m.group(3) or 0) / 1000
        stamped.append((ts, number, [line]))
    if not stamped:
        return [Event((mtime, n), line.decode(errors="replace")) for n, line in enumerate(leading)]
    if leading:
        first = stamped[0]
        stamped[0] = (first[0], first[1], [*leading, *first[2]])
    return [Event((ts, n), b"\n".join(lines).decode(errors="replace")) for ts, n, lines in stamped]


def _split_instances(events: list[Event]) -> list[tuple[str, list[Event]]]:
    """A node's log, cut into the runs of the instances it ran as: (instance id, events).

    Each agent logs ``agent for NODE (ID) pid N starting`` once it has set itself up. What it
    logged before that (a bootstrap failure) is written right before it, after the previous
    agent's lines: the events up to a second before a start line, after the previous agent's
    last words (its shutdown line), go with the new instance. Events before any start line
    belong to the first instance.
    """
    starts = [i for i, e in enumerate(events) if _AGENT_START.search(e.message.split("\n", 1)[0])]
    if not starts:
        return [("unknown", events)] if events else []
    bounds = []
    for k, i in enumerate(starts):
        floor = starts[k - 1] + 1 if k else 0
        j = i
        while (
            j > floor
            and events[j - 1].key[0] >= events[i].key[0] - 1.0
            and not events[j - 1].message.split("\n", 1)[0].endswith(_AGENT_END)
        ):
            j -= 1
        bounds.append(0 if k == 0 else j)
    runs = []
    for k, i in enumerate(starts):
        m = _AGENT_START.search(events[i].message.split("\n", 1)[0])
        assert m is not None
        end = bounds[k + 1] if k + 1 < len(starts) else len(events)
        runs.append((m.group(2), events[bounds[k] : end]))
    return runs


def _transition_line(entity: str, key: str, old: str, new: str, cause: str, reason: str, run: int) -> str:
    """A journal entry as a log line: ``job 2: PENDING -> RUNNING; cause=schedule``."""
    text = f"{entity} {key}: {old or '-'} -> {new}; cause={cause}"
    if reason:
        text += f"; reason={reason}"
    if entity == "job" and run:
        text += f"; run={run}"
    return text


@dataclass
class Window:
    """Event times kept: ``start_ms <= t < end_ms`` (CloudWatch's bounds, in milliseconds)."""

    start_ms: int | None = None
    end_ms: int | None = None

    def keeps(self, event: Event) -> bool:
        t = event.time_ms
        return (self.start_ms is None or t >= self.start_ms) and (self.end_ms is None or t < self.end_ms)


class ClusterLogs:
    """The log streams of one cluster, read from its files and its store (read-only)."""

    def __init__(self, paths: ClusterPaths, cluster: dict[str, Any]) -> None:
        self.paths = paths
        self.cluster = cluster
        self.head_id = str(cluster.get("headNode", {}).get("instanceId") or "i-00000000000000000")
        created = dt.datetime.fromtimestamp(float(cluster.get("creationTime") or 0.0), tz=dt.UTC)
        self.group = f"/aws/parallelcluster/{paths.name}-{created:%Y%m%d%H%M}"
        region = cluster.get("region") or "local"
        # The cluster's own 12-digit account, as its Batch endpoint's ARNs have it.
        digest = hashlib.sha256(str(paths.root.resolve()).encode()).hexdigest()
        account = str(int(digest[:12], 16) % 10**12).rjust(12, "0")
        self._arn = f"arn:aws:logs:{region}:{account}:log-group:{self.group}:log-stream:"

    def arn(self, stream: str) -> str:
        return self._arn + stream

    def head_stream(self, log: str) -> str:
        return f"{HEAD_HOST}.{self.head_id}.{log}"

    # -- reading ----------------------------------------------------------------------------------

    def streams(self, window: Window | None = None) -> list[Stream]:
        """Every stream with an event (in ``window``), sorted by name."""
        window = window or Window()
        out = self._file_streams()
        for log, jobs in ((_JOURNAL_FLEET, False), (_JOURNAL_JOBS, True)):
            out.append(Stream(self.head_stream(log), "HeadNode", self._journal(jobs, window)))
        for stream in out:
            stream.events = [e for e in stream.events if window.keeps(e)]
        return sorted((s for s in out if s.events), key=lambda s: s.name)

    def stream(self, name: str, window: Window | None = None) -> Stream | None:
        """The stream called ``name`` with its events (in ``window``), or None if it has none."""
        window = window or Window()
        found: Stream | None = None
        for log, jobs in ((_JOURNAL_FLEET, False), (_JOURNAL_JOBS, True)):
            if name == self.head_stream(log):
                # The stream exists once it has an event, whatever the window keeps of it.
                if not self._journal(jobs, Window(), limit=1):
                    return None
                found = Stream(name, "HeadNode", self._journal(jobs, window))
        if found is None:
            found = next((s for s in self._file_streams() if s.name == name), None)
        if found is not None:
            found.events = [e for e in found.events if window.keeps(e)]
        return found

    def _file_streams(self) -> list[Stream]:
        """The streams of the log files: the head node's, and each node agent's instances."""
        out = [
            Stream(self.head_stream(log), "HeadNode", self._file_events(path))
            for log, path in (
                ("controller", self.paths.controller_log),
                ("controller-out", self.paths.logs / "controller.out"),
            )
        ]
        for path in sorted(self.paths.logs.glob("*.log")) if self.paths.logs.is_dir() else ():
            if path != self.paths.controller_log:
                for instance, events in _split_instances(self._file_events(path)):
                    out.append(Stream(f"{path.stem}.{instance}.agent", "ComputeNode", events))
        return [s for s in out if s.events]

    @staticmethod
    def _file_events(path: Path) -> list[Event]:
        try:
            with path.open("rb") as f:
                mtime = os.fstat(f.fileno()).st_mtime
                data = f.read()
        except FileNotFoundError:
            return []
        events = parse_lines(data, mtime)
        events.sort(key=lambda e: e.key)  # a clock set back leaves file order; times come in order
        return events

    def _journal(self, jobs: bool, window: Window, limit: int | None = None) -> list[Event]:
        """The journal's job transitions (``jobs``) or all others, keyed by (time, seq)."""
        from sqlalchemy import select

        from stratus.store import schema
        from stratus.store.store import Store

        j = schema.journal.c
        query = select(j.seq, j.time, j.entity, j.key, j.old, j.new, j.cause, j.reason, j.run).where(
            (j.entity == "job") if jobs else (j.entity != "job")
        )
        # A loose bound here (the store keeps seconds as floats), the exact one in Window.keeps.
        if window.start_ms is not None:
            query = query.where(j.time >= window.start_ms / 1000 - 0.001)
        if window.end_ms is not None:
            query = query.where(j.time < window.end_ms / 1000 + 0.001)
        store = Store.open_readonly(self.paths.db)
        try:
            with store.reading() as conn:
                rows = conn.execute(query.order_by(j.time, j.seq).limit(limit)).all()
        finally:
            store.close()
        return [
            Event(
                (float(r.time), int(r.seq)),
                _transition_line(r.entity, r.key, r.old, r.new, r.cause, r.reason, r.run),
            )
            for r in rows
        ]


# -- tokens -------------------------------------------------------------------------------------


class BadToken(Exception):
    """A token that was not made for this stream of this cluster, or was altered."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


_TOKEN = re.compile(r"([fbs])/([A-Za-z0-9_-]{1,4096})\.([A-Za-z0-9_-]{22})")


class Tokens:
    """Paging tokens of one cluster, signed (HMAC-SHA256) with its API token."""

    def __init__(self, paths: ClusterPaths) -> None:
        try:
            secret = read_token(paths).encode()
        except OSError:
            secret = str(paths.root).encode()  # an owner's cluster without one: still well-formed
        self._key = hashlib.sha256(b"stratus log tokens\0" + secret).digest()

    def _mac(self, scope: str, kind: str, payload: bytes) -> str:
        msg = scope.encode(errors="surrogateescape") + b"\0" + kind.encode() + b"\0" + payload
        return _b64(hmac.new(self._key, msg, hashlib.sha256).digest()[:16])

    def make(self, scope: str, kind: str, value: Any) -> str:
        payload = json.dumps(value, separators=(",", ":")).encode()
        return f"{kind}/{_b64(payload)}.{self._mac(scope, kind, payload)}"

    def read(self, scope: str, token: str, kinds: str) -> tuple[str, Any]:
        """(kind, value) of ``token``, made for ``scope`` with one of ``kinds``; else BadToken."""
        m = _TOKEN.fullmatch(token)
        if m is None or m.group(1) not in kinds:
            raise BadToken(token)
        try:
            payload = _unb64(m.group(2))
        except ValueError as exc:
            raise BadToken(token) from exc
        if not hmac.compare_digest(m.group(3), self._mac(scope, m.group(1), payload)):
            raise BadToken(token)
        try:
            return m.group(1), json.loads(payload)
        except ValueError as exc:
            raise BadToken(token) from exc


def _boundary(value: Any) -> tuple[float, int]:
    if (
        isinstance(value, list)
        and len(value) == 2
        and isinstance(value[0], int | float)
        and isinstance(value[1], int)
        and not isinstance(value[1], bool)
    ):
        return float(value[0]), value[1]
    raise BadToken(str(value))


# -- paging ---------------------------------------------------------------------------------------


def page(
    events: list[Event], *, forward: bool, boundary: tuple[float, int] | None, limit: int
) -> tuple[list[Event], tuple[float, int], tuple[float, int]]:
    """One page of ``events`` (sorted by key): (events, next boundary, previous boundary).

    A boundary is a place between events: those with a key at or past it come after it.
    Forward, the page is the first events after ``boundary`` (the first events if None);
    backward, the last events before it (the last events if None). At most ``limit`` events
    and ``MAX_PAGE_BYTES`` bytes (CloudWatch counts 26 bytes an event beside its message). An
    empty page hands back its boundary both ways.
    """
    from bisect import bisect_left

    keys = [e.key for e in events]
    if boundary is None:
        at = 0 if forward else len(events)
    else:
        at = bisect_left(keys, boundary)
    budget = MAX_PAGE_BYTES
    if forward:
        end = at
        while end < len(events) and end - at < limit:
            budget -= len(events[end].message.encode(errors="surrogateescape")) + 26
            if budget < 0 and end > at:
                break
            end += 1
        chosen = events[at:end]
    else:
        begin = at
        while begin > 0 and at - begin < limit:
            budget -= len(events[begin - 1].message.encode(errors="surrogateescape")) + 26
            if budget < 0 and begin < at:
                break
            begin -= 1
        chosen = events[begin:at]
    if not chosen:
        here = boundary
        if here is None:
            here = keys[at] if at < len(keys) else ((keys[-1][0], keys[-1][1] + 1) if keys else (0.0, 0))
        return [], here, here
    last = chosen[-1].key
    return chosen, (last[0], last[1] + 1), chosen[0].key


# -- input ----------------------------------------------------------------------------------------


def parse_time(text: str) -> dt.datetime:
    """An ISO 8601 date or time (``1984-09-15``, ``1984-09-15T19:20:30Z``, ``...+01:00``), in
    UTC; one without a zone is UTC, as pcluster reads it. ``ValueError`` if it is none."""
    value = dt.datetime.fromisoformat(text.strip())
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC)


def _time_arg(text: str | None, name: str) -> dt.datetime | None:
    if text is None:
        return None
    try:
        return parse_time(text)
    except ValueError:
        raise CliError(
            f"Bad Request: {name} filter must be in the ISO 8601 format: YYYY-MM-DDThh:mm:ssZ. "
            "(e.g. 1984-09-15T19:20:30Z or 1984-09-15)."
        ) from None


def _ms(value: dt.datetime | None) -> int | None:
    return None if value is None else int(value.timestamp() * 1000)


class FilterError(Exception):
    """Filters that are well-formed but cannot be applied together (pcluster's wording)."""


@dataclass(frozen=True)
class Filters:
    """pcluster's log-stream filters: a host name prefix, or a node type."""

    private_dns_name: str | None = None
    node_type: str | None = None

    @classmethod
    def parse(cls, filters: Iterable[str]) -> Filters:
        """Read ``Name=...,Values=...`` filters already checked against ``FILTERS_PATTERN``."""
        found: dict[str, str] = {}
        for text in filters:
            for item in text.split():
                m = re.fullmatch(r"Name=([^=,]+),Values=([^= ]+)", item)
                if m is None:
                    raise FilterError(
                        f"Invalid filters {list(filters)}. They must be in the form Name=...,Values=..."
                    )
                name, values = m.groups()
                if "," in values:
                    raise FilterError(f"Filter {name} doesn't accept comma separated strings as value.")
                found[name] = values
        node_type = found.get("node-type")
        if node_type is not None and node_type not in ("HeadNode", "ComputeNode"):
            raise FilterError(
                "The only accepted values for Node Type filter are 'HeadNode' and 'ComputeNode'."
            )
        if node_type is not None and "private-dns-name" in found:
            raise FilterError("Private DNS Name and Node Type filters cannot be set at the same time.")
        return cls(found.get("private-dns-name"), node_type)

    def keeps(self, stream: Stream) -> bool:
        if self.private_dns_name is not None and not stream.name.startswith(self.private_dns_name):
            return False
        return self.node_type is None or stream.node_type == self.node_type

    def prefix(self) -> str | None:
        """The stream name prefix these filters amount to, if they amount to one."""
        return self.private_dns_name or (HEAD_HOST if self.node_type == "HeadNode" else None)


def check_filters(filters: Iterable[str]) -> None:
    """pcluster's check of each ``--filters`` word (as its API checks it)."""
    for text in filters:
        if not re.match(FILTERS_PATTERN, text):
            raise CliError(f"Bad Request: filters parameter must be in the form {FILTERS_PATTERN}.")


def _open(name: str) -> tuple[ClusterPaths, ClusterLogs]:
    paths = existing(name)
    cluster = read_cluster(paths)  # the owner's (or root's) only: Forbidden for others
    if not os.access(paths.logs, os.R_OK | os.X_OK) and paths.logs.exists():
        raise PermissionError(13, "Permission denied", str(paths.logs))
    return paths, ClusterLogs(paths, cluster)


# -- verbs ----------------------------------------------------------------------------------------


def list_cluster_log_streams(
    name: str, filters: list[str] | None = None, next_token: str | None = None
) -> dict[str, Any]:
    """pcluster's ``ListClusterLogStreamsResponseContent``: streams sorted by name, 50 a page."""
    if filters:
        check_filters(filters)
    paths, logs = _open(name)
    try:
        chosen = Filters.parse(filters or [])
    except FilterError as exc:
        raise CliError(f"Bad Request: {exc}") from None
    tokens = Tokens(paths)
    after = ""
    if next_token:
        try:
            _, after = tokens.read("streams", next_token, "s")
        except BadToken:
            raise CliError(
                "Unexpected error when retrieving cluster's logs: The specified nextToken is invalid."
            ) from None
        if not isinstance(after, str):
            raise CliError(
                "Unexpected error when retrieving cluster's logs: The specified nextToken is invalid."
            )
    streams = [s for s in logs.streams() if chosen.keeps(s) and s.name > after]
    out: dict[str, Any] = {"logStreams": [_stream_json(logs, s) for s in streams[:STREAMS_PAGE]]}
    if len(streams) > STREAMS_PAGE:
        out["nextToken"] = tokens.make("streams", "s", streams[STREAMS_PAGE - 1].name)
    return out


def _stream_json(logs: ClusterLogs, stream: Stream) -> dict[str, Any]:
    """pcluster's ``LogStream``, its keys in pcluster's order. pcluster drops CloudWatch's
    ``storedBytes``; ``uploadSequenceToken`` only exists for streams written by PutLogEvents."""
    first, last = stream.events[0].key[0], stream.events[-1].key[0]
    return {
        "logStreamArn": logs.arn(stream.name),
        "creationTime": iso(first),
        "logStreamName": stream.name,
        "firstEventTimestamp": iso(first),
        "lastEventTimestamp": iso(last),
        "lastIngestionTime": iso(last),
    }


def get_cluster_log_events(
    name: str,
    stream_name: str,
    *,
    start_time: str | None = None,
    end_time: str | None = None,
    start_from_head: bool | None = None,
    limit: int | None = None,
    next_token: str | None = None,
) -> dict[str, Any]:
    """pcluster's ``GetClusterLogEventsResponseContent``: a page of events, oldest first.

    Checks come in pcluster's order: the times, the limit, the cluster, then the stream and
    the token; each failure is a ``CliError`` with pcluster's message.
    """
    start = _time_arg(start_time, "start_time")
    end = _time_arg(end_time, "end_time")
    if start is not None and end is not None and start >= end:
        raise CliError("Bad Request: start_time filter must be earlier than end_time filter.")
    if limit is not None and limit <= 0:
        raise CliError("Bad Request: 'limit' must be a positive integer.")
    paths, logs = _open(name)
    if limit is not None and limit > MAX_EVENTS:
        raise CliError(
            "Unexpected error when retrieving log events: 1 validation error detected: Value "
            f"'{limit}' at 'limit' failed to satisfy constraint: Member must have value less than or "
            f"equal to {MAX_EVENTS}."
        )
    stream = logs.stream(stream_name, Window(_ms(start), _ms(end)))
    if stream is None:
        raise NotFoundError(f"The specified log stream {stream_name} does not exist.")
    tokens = Tokens(paths)
    forward = bool(start_from_head)
    boundary: tuple[float, int] | None = None
    if next_token:
        try:
            kind, value = tokens.read("events\0" + stream_name, next_token, "fb")
            boundary = _boundary(value)
        except BadToken:
            raise CliError(
                "Unexpected error when retrieving log events: The specified nextToken is invalid."
            ) from None
        forward = kind == "f"
    events, after, before = page(stream.events, forward=forward, boundary=boundary, limit=limit or MAX_EVENTS)
    scope = "events\0" + stream_name
    return {
        "nextToken": tokens.make(scope, "f", list(after)),
        "prevToken": tokens.make(scope, "b", list(before)),
        "events": [{"message": e.message, "timestamp": iso(e.key[0])} for e in events],
    }


def check_output_file(path: str) -> None:
    """The archive can be written at ``path``: its folder exists (made if need be) and is
    writable (pcluster's check, with its messages)."""
    folder = os.path.dirname(path)
    if not os.path.isdir(folder):
        try:
            os.makedirs(folder)
        except OSError as exc:
            raise CliError(
                f"Failed to create parent directory {folder} for file {path}. Reason: {exc}"
            ) from None
    if not os.access(folder, os.W_OK):
        raise CliError(f"Cannot write file: {path}. {folder} is not writeable.")


def export_cluster_logs(
    name: str,
    *,
    output_file: str | None = None,
    bucket: str | None = None,
    bucket_prefix: str | None = None,
    start_time: dt.datetime | None = None,
    end_time: dt.datetime | None = None,
    filters: list[str] | None = None,
) -> dict[str, Any]:
    """pcluster's ``export-cluster-logs``: the streams' events from ``start_time`` (default: the
    cluster's creation) to ``end_time`` (default: now) as a tar.gz archive, written to
    ``output_file`` (``{"path": ...}``) or uploaded to ``bucket`` of the cluster's object store
    (``{"url": ...}``, a presigned URL valid for an hour).

    The archive holds ``NAME-logs-YYYYmmddHHMM/cloudwatch-logs/<stream>``, one file per stream
    with events in the interval, one line an event as a CloudWatch export writes them (its
    ISO 8601 time, a space, the message). The archive is readable by its owner only; an upload
    is one object, ``[PREFIX/]NAME-logs-YYYYmmddHHMM.tar.gz``.
    """
    paths, logs = _open(name)
    if output_file:
        check_output_file(output_file)
    layout = None
    if not output_file:
        if not bucket:
            raise CliError(
                "Bad Request: give --output-file PATH to write the archive here, or --bucket BUCKET to "
                "upload it to the cluster's object store (Stratus.S3)."
            )
        layout = _s3_layout(paths)
    try:
        chosen = Filters.parse(filters or [])
    except FilterError as exc:
        raise _export_error(str(exc)) from None
    created = float(logs.cluster.get("creationTime") or 0.0)
    start = start_time or dt.datetime.fromtimestamp(created, tz=dt.UTC)
    end = end_time or dt.datetime.now(tz=dt.UTC)
    if start >= end:
        raise _export_error("Start time must be earlier than end time.")
    streams = [s for s in logs.streams(Window(_ms(start), _ms(end))) if chosen.keeps(s)]
    if not streams:
        prefix = chosen.prefix()
        raise _export_error(
            f"No log events in the log group {logs.group} in interval starting at {start} and ending at {end}"
            + (f", with log stream name prefix '{prefix}'" if prefix else "")
        )
    root = f"{name}-logs-{dt.datetime.now():%Y%m%d%H%M}"
    if output_file:
        _write_archive(Path(output_file), root, streams)
        return {"path": output_file}
    assert layout is not None and bucket
    import tempfile

    with tempfile.TemporaryDirectory(prefix="stratus-logs-") as tmp:
        archive = Path(tmp) / f"{root}.tar.gz"
        _write_archive(archive, root, streams)
        key = (
            f"{bucket_prefix.strip('/')}/{archive.name}"
            if bucket_prefix and bucket_prefix.strip("/")
            else archive.name
        )
        return {"url": _upload(layout, bucket, key, archive)}


def _export_error(reason: str) -> CliError:
    return CliError(f"Unable to export cluster's logs: {reason}")


def _write_archive(target: Path, root: str, streams: list[Stream]) -> None:
    """Write the archive next to ``target`` (owner-only) and move it into place once whole."""
    partial = target.with_name(f".{target.name}.{os.getpid()}.partial")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "wb") as raw, tarfile.open(fileobj=raw, mode="w:gz") as tar:
            for folder in (root, f"{root}/cloudwatch-logs"):
                info = tarfile.TarInfo(folder)
                info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o700, int(time.time())
                tar.addfile(info)
            for stream in streams:
                data = "".join(f"{iso(e.key[0])} {e.message}\n" for e in stream.events).encode(
                    errors="surrogateescape"
                )
                info = tarfile.TarInfo(f"{root}/cloudwatch-logs/{stream.name}")
                info.size, info.mode, info.mtime = len(data), 0o600, int(stream.events[-1].key[0])
                tar.addfile(info, io.BytesIO(data))
        os.replace(partial, target)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


def _s3_layout(paths: ClusterPaths) -> ClusterLayout:
    """The cluster's layout, which must name an object store (``Stratus.S3``)."""
    from stratus.cli.clusters import _layout_or_none

    layout = _layout_or_none(paths)
    if layout is None or not layout.s3_endpoint_url:
        raise _export_error(
            f"cluster {paths.name} has no object store to upload to: --bucket needs Stratus.S3 "
            "(EndpointUrl, CredentialsFile) in its configuration; or give --output-file PATH."
        )
    return layout


def _upload(layout: ClusterLayout, bucket: str, key: str, archive: Path) -> str:
    """Put ``archive`` at ``bucket``/``key`` with the cluster's S3 settings; its presigned URL."""
    import boto3
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError, ClientError

    from stratus.staging.env import S3SettingsError, s3_env

    env: dict[str, str] = {}
    try:
        s3_env(layout).apply(env)  # the endpoint, region and the credentials file's key
    except S3SettingsError as exc:
        raise _export_error(str(exc)) from None
    client = boto3.client(
        "s3",
        endpoint_url=env["AWS_ENDPOINT_URL_S3"],
        region_name=env.get("AWS_DEFAULT_REGION") or "us-east-1",
        aws_access_key_id=env.get("AWS_ACCESS_KEY_ID"),
        aws_secret_access_key=env.get("AWS_SECRET_ACCESS_KEY"),
        aws_session_token=env.get("AWS_SESSION_TOKEN"),
        # Path-style requests and Signature Version 4 (presigned URLs included): what every
        # S3-compatible server takes (SigV2 query signatures are refused by many).
        config=Config(s3={"addressing_style": "path"}, signature_version="s3v4", retries={"max_attempts": 2}),
    )
    try:
        with archive.open("rb") as f:
            client.put_object(Bucket=bucket, Key=key, Body=f)
        url: str = client.generate_presigned_url(
            "get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=3600
        )
    except (BotoCoreError, ClientError) as exc:
        raise _export_error(f"cannot upload to s3://{bucket}/{key}: {exc}") from None
    return url

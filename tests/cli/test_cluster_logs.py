"""pcluster's log verbs, end to end: ``list-cluster-log-streams``, ``get-cluster-log-events`` and
``export-cluster-logs`` through the ``stratus`` command against a live cluster that ran jobs.

One cluster serves the module: a static node and two dynamic ones, an object store
(``Stratus.S3``, rclone's S3 server) for the uploads. A second cluster, with no object store and
no nodes, checks what a cluster without them answers. The last test stops the head node (the
verbs read files and the store, so they answer all the same) and starts it again.
"""

from __future__ import annotations

import datetime as dt
import io
import os
import signal
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.cli.test_awsb import teardown
from tests.integration.harness import Cluster, Result, Stratus, wait_for
from tests.s3_server import S3Server, s3_server

NAME = "logs"
BARE = "bare"
CONFIG = """\
Region: us-east-1
HeadNode:
  InstanceType: t2.micro
Scheduling:
  Scheduler: slurm
  SlurmQueues:
  - Name: q1
    ComputeResources:
    - Name: st
      InstanceType: c5.large
      MinCount: 1
      MaxCount: 3
"""
S3_CONFIG = """\
Stratus:
  S3:
    EndpointUrl: {url}
    CredentialsFile: {credentials}
"""
BARE_CONFIG = CONFIG.replace("MinCount: 1", "MinCount: 0").replace("MaxCount: 3", "MaxCount: 1")
TIME_MESSAGE = (
    "filter must be in the ISO 8601 format: YYYY-MM-DDThh:mm:ssZ. (e.g. 1984-09-15T19:20:30Z or 1984-09-15)."
)
BAD_TOKEN = "Unexpected error when retrieving log events: The specified nextToken is invalid."
FILTERS_FORM = (
    r"^(Name=(private-dns-name|node-type),Values=[\w\-_.,]+)"
    r"(\s+Name=(private-dns-name|node-type),Values=[\w\-_.,]+)*$"
)


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Stratus, S3Server, str]]:
    """The module's clusters (their jobs run) and S3 server; the head node's instance id."""
    tmp = tmp_path_factory.mktemp("logs")
    with s3_server(tmp / "s3") as s3:
        (s3.root / "exports").mkdir()  # a bucket
        s = Stratus(tmp / "home")
        try:
            credentials = s3.credentials_file(tmp / "s3-credentials")
            c = s.create(NAME, CONFIG + S3_CONFIG.format(url=s3.url, credentials=credentials), tmp)
            s.create(BARE, BARE_CONFIG, tmp)
            work = tmp / "work"
            work.mkdir()
            c.sbatch("--wrap", "echo one", cwd=work)
            c.sbatch("-N", "3", "--wrap", "hostname", cwd=work)  # powers up both dynamic nodes
            wait_for(lambda: _ended(c, "1") and _ended(c, "2"), 30, what="both jobs to end")
            head = ok(s.run("describe-cluster", "-n", NAME)).json["headNode"]["instanceId"]
            yield s, s3, head
        finally:
            teardown(s)


def _ended(c: Cluster, job: str) -> bool:
    return any(new == "COMPLETED" for _, new, _, _ in c.journal("job", job))


def ok(r: Result) -> Result:
    assert r.code == 0, f"exit {r.code}\n{r.out}\n{r.err}"
    return r


def refused(r: Result, message: str) -> None:
    """pcluster's error: exit code 1 and exactly ``{"message": ...}`` on stdout."""
    assert r.code == 1, f"exit {r.code}\n{r.out}\n{r.err}"
    assert r.json == {"message": message}, r.out


def events(s: Stratus, stream: str, *args: str) -> dict[str, Any]:
    out: dict[str, Any] = ok(
        s.run("get-cluster-log-events", "-n", NAME, "--log-stream-name", stream, *args)
    ).json
    return out


def names(s: Stratus, *args: str, cluster: str = NAME) -> list[str]:
    r = ok(s.run("list-cluster-log-streams", "-n", cluster, *args))
    return [stream["logStreamName"] for stream in r.json["logStreams"]]


def test_streams_are_listed_in_pclusters_shape_and_filtered(env: tuple[Stratus, S3Server, str]) -> None:
    s, _, head = env
    streams = ok(s.run("list-cluster-log-streams", "-n", NAME)).json["logStreams"]
    by_name = {stream["logStreamName"]: stream for stream in streams}
    head_streams = {f"ip-127-0-0-1.{head}.{log}" for log in ("controller", "clustermgtd", "jobs")}
    assert head_streams <= set(by_name)
    agents = sorted(n for n in by_name if n.endswith(".agent"))
    assert [n.split(".")[0] for n in agents] == ["q1-dy-st-1", "q1-dy-st-2", "q1-st-st-1"]
    assert all(n.split(".")[1].startswith("i-") for n in agents)
    assert list(by_name) == sorted(by_name)  # CloudWatch's order: by name
    for stream in streams:
        assert list(stream) == [
            "logStreamArn",
            "creationTime",
            "logStreamName",
            "firstEventTimestamp",
            "lastEventTimestamp",
            "lastIngestionTime",
        ]
        assert stream["logStreamArn"].startswith("arn:aws:logs:us-east-1:")
        assert stream["logStreamArn"].endswith(":log-stream:" + stream["logStreamName"])
        assert stream["firstEventTimestamp"] <= stream["lastEventTimestamp"]
        dt.datetime.strptime(stream["creationTime"], "%Y-%m-%dT%H:%M:%S.%fZ")

    assert set(names(s, "--filters", "Name=node-type,Values=HeadNode")) == head_streams
    assert names(s, "--filters", "Name=node-type,Values=ComputeNode") == agents
    assert names(s, "--filters", "Name=private-dns-name,Values=q1-dy") == agents[:2]
    assert names(s, "--filters", "Name=private-dns-name,Values=ip-127-0-0-1") == sorted(head_streams)
    query = ok(s.run("list-cluster-log-streams", "-n", NAME, "--query", "logStreams[].logStreamName")).json
    assert query == list(by_name)
    # A cluster that ran no job has no job stream yet, and no agent streams without nodes.
    bare = names(s, cluster=BARE)
    assert bare and all(".jobs" not in n and not n.endswith(".agent") for n in bare)


def test_events_come_in_time_order_and_page_both_ways(env: tuple[Stratus, S3Server, str]) -> None:
    s, _, head = env
    jobs = f"ip-127-0-0-1.{head}.jobs"
    full = events(s, jobs, "--start-from-head", "true")["events"]
    assert [list(e) for e in full] == [["message", "timestamp"]] * len(full)
    assert [e["timestamp"] for e in full] == sorted(e["timestamp"] for e in full)
    messages = [e["message"] for e in full]
    assert messages[0] == "job 1: - -> PENDING; cause=submit"
    assert "job 2: PENDING -> CONFIGURING; cause=schedule" in messages
    assert sum(m.endswith("-> COMPLETED; cause=agent; reason=None") for m in messages) == 2

    # Forward from the head, two at a time; the page past the end hands its token back.
    pages: list[dict[str, Any]] = []
    token: str | None = None
    while True:
        r = events(
            s, jobs, "--start-from-head", "true", "--limit", "2", *(["--next-token", token] if token else [])
        )
        if not r["events"]:
            assert r["nextToken"] == token
            break
        assert len(r["events"]) <= 2
        pages.append(r)
        token = r["nextToken"]
    assert [e for p in pages for e in p["events"]] == full

    # Backward from the newest page, with prevToken, down to the first event.
    r = events(s, jobs, "--limit", "2")
    assert r["events"] == full[-2:]
    back = [r["events"]]
    while True:
        prev = r["prevToken"]
        r = events(s, jobs, "--limit", "2", "--next-token", prev)
        if not r["events"]:
            assert r["prevToken"] == prev
            break
        back.append(r["events"])
    assert [e for p in reversed(back) for e in p] == full
    # A page's tokens lead to its neighbours: back from the second page is the first.
    assert events(s, jobs, "--next-token", pages[1]["prevToken"])["events"] == pages[0]["events"]

    # Agents' lines carry their own times; the static node ran job 1.
    agent = next(n for n in names(s) if n.startswith("q1-st-st-1."))
    lines = [e["message"] for e in events(s, agent, "--start-from-head", "true")["events"]]
    assert "starting" in lines[0] and any("job 1 run 0: started" in line for line in lines)


def test_time_bounds_and_query(env: tuple[Stratus, S3Server, str]) -> None:
    s, _, head = env
    fleet = f"ip-127-0-0-1.{head}.clustermgtd"
    full = events(s, fleet, "--start-from-head", "true")["events"]
    assert any("node q1-dy-st-1: POWERED_DOWN -> POWERING_UP; cause=schedule" in e["message"] for e in full)
    times = sorted({e["timestamp"] for e in full})
    mid = times[len(times) // 2]
    after = events(s, fleet, "--start-time", mid, "--start-from-head", "true")["events"]
    assert after == [e for e in full if e["timestamp"] >= mid]  # the start is included
    before = events(s, fleet, "--end-time", mid, "--start-from-head", "true")["events"]
    assert before == [e for e in full if e["timestamp"] < mid]  # the end is not
    both = events(s, fleet, "--start-time", times[1], "--end-time", times[-1], "--start-from-head", "true")
    assert both["events"] == [e for e in full if times[1] <= e["timestamp"] < times[-1]]
    assert events(s, fleet, "--start-time", "2000-01-01", "--end-time", "2000-01-02")["events"] == []
    query = s.run(
        "get-cluster-log-events", "-n", NAME, "--log-stream-name", fleet, "--start-from-head", "true",
        "--query", "events[].message",
    )  # fmt: skip
    assert ok(query).json == [e["message"] for e in full]


def test_bad_input_gets_pclusters_messages(env: tuple[Stratus, S3Server, str]) -> None:
    s, _, head = env
    jobs = f"ip-127-0-0-1.{head}.jobs"

    def get(*args: str, cluster: str = NAME, stream: str = jobs) -> Result:
        return s.run("get-cluster-log-events", "-n", cluster, "--log-stream-name", stream, *args)

    refused(get("--start-time", "yesterday"), "Bad Request: start_time " + TIME_MESSAGE)
    refused(get("--end-time", "2024-13-01"), "Bad Request: end_time " + TIME_MESSAGE)
    refused(
        get("--start-time", "2024-01-02", "--end-time", "2024-01-01T23:59:59Z"),
        "Bad Request: start_time filter must be earlier than end_time filter.",
    )
    refused(get("--limit", "0"), "Bad Request: 'limit' must be a positive integer.")
    refused(get("--limit", "-3"), "Bad Request: 'limit' must be a positive integer.")
    refused(
        get("--limit", "10001"),
        "Unexpected error when retrieving log events: 1 validation error detected: Value '10001' at "
        "'limit' failed to satisfy constraint: Member must have value less than or equal to 10000.",
    )
    refused(get("--limit", "ten"), "Bad Request: Wrong type, expected 'number' for parameter 'limit'")
    refused(
        get("--start-from-head", "yes"),
        "Bad Request: Wrong type, expected 'boolean' for parameter 'start-from-head'",
    )
    refused(
        get(stream="ip-127-0-0-1.nope.jobs"),
        "The specified log stream ip-127-0-0-1.nope.jobs does not exist.",
    )
    refused(
        get(cluster="missing"),
        "Cluster 'missing' does not exist or belongs to an incompatible ParallelCluster major version.",
    )
    # Tokens: garbage, an altered one, and one of another stream.
    token = events(s, jobs, "--limit", "1")["prevToken"]
    forged = token[:-1] + ("A" if token[-1] != "A" else "B")
    moved = token[:3] + ("x" if token[3] != "x" else "y") + token[4:]
    other = f"ip-127-0-0-1.{head}.clustermgtd"
    for bad in ("garbage", forged, moved, "f/" + token[2:]):
        refused(get("--next-token", bad), BAD_TOKEN)
    refused(get("--next-token", token, stream=other), BAD_TOKEN)

    def streams(*args: str) -> Result:
        return s.run("list-cluster-log-streams", "-n", NAME, *args)

    refused(
        streams("--filters", "Name=zone,Values=a"),
        f"Bad Request: filters parameter must be in the form {FILTERS_FORM}.",
    )
    refused(
        streams("--filters", "Name=private-dns-name,Values=a,b"),
        "Bad Request: Filter private-dns-name doesn't accept comma separated strings as value.",
    )
    refused(
        streams("--filters", "Name=node-type,Values=LoginNode"),
        "Bad Request: The only accepted values for Node Type filter are 'HeadNode' and 'ComputeNode'.",
    )
    refused(
        streams("--filters", "Name=node-type,Values=HeadNode", "Name=private-dns-name,Values=ip-127"),
        "Bad Request: Private DNS Name and Node Type filters cannot be set at the same time.",
    )
    refused(
        streams("--next-token", "s/abc.0123456789012345678901"),
        "Unexpected error when retrieving cluster's logs: The specified nextToken is invalid.",
    )
    refused(
        s.run("list-cluster-log-streams", "-n", "missing"),
        "Cluster 'missing' does not exist or belongs to an incompatible ParallelCluster major version.",
    )


def _members(data: bytes) -> dict[str, bytes | None]:
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        return {
            m.name: (None if m.isdir() else tar.extractfile(m).read())  # type: ignore[union-attr]
            for m in tar.getmembers()
        }


def test_export_to_a_file(env: tuple[Stratus, S3Server, str], tmp_path: Path) -> None:
    s, _, head = env
    target = tmp_path / "new" / "logs.tar.gz"  # its folder is made
    assert ok(s.run("export-cluster-logs", "-n", NAME, "--output-file", str(target))).json == {
        "path": str(target)
    }
    assert target.stat().st_mode & 0o777 == 0o600
    members = _members(target.read_bytes())
    root = next(iter(members)).split("/")[0]
    assert root.startswith(f"{NAME}-logs-") and len(root) == len(NAME) + len("-logs-YYYYmmddHHMM")
    files = {name.split("/")[-1]: data for name, data in members.items() if data is not None}
    assert set(files) == set(names(s))
    folders = {name for name, data in members.items() if data is None}
    assert folders == {root, f"{root}/cloudwatch-logs"}
    assert all(name.startswith(f"{root}/cloudwatch-logs/") for name in set(members) - folders)
    jobs = f"ip-127-0-0-1.{head}.jobs"
    lines = files[jobs].decode().splitlines()
    full = events(s, jobs, "--start-from-head", "true")["events"]
    assert lines == [f"{e['timestamp']} {e['message']}" for e in full]

    # Bounded in time and filtered: the events from the middle on, compute nodes only.
    mid = full[len(full) // 2]["timestamp"]
    bounded = tmp_path / "bounded.tar.gz"
    ok(s.run("export-cluster-logs", "-n", NAME, "--output-file", str(bounded), "--start-time", mid))
    kept = {n.split("/")[-1]: d for n, d in _members(bounded.read_bytes()).items() if d is not None}
    assert kept[jobs].decode().splitlines() == [
        f"{e['timestamp']} {e['message']}" for e in full if e["timestamp"] >= mid
    ]
    computes = tmp_path / "computes.tar.gz"
    ok(
        s.run(
            "export-cluster-logs",
            "-n",
            NAME,
            "--output-file",
            str(computes),
            "--filters",
            "Name=node-type,Values=ComputeNode",
        )
    )
    kept = {n.split("/")[-1] for n, d in _members(computes.read_bytes()).items() if d is not None}
    assert kept == set(names(s, "--filters", "Name=node-type,Values=ComputeNode"))

    # Nothing in the interval, an interval backwards, no destination, a malformed time.
    refused(
        s.run("export-cluster-logs", "-n", NAME, "--output-file", str(bounded), "--end-time", "2000-01-01"),
        "Unable to export cluster's logs: Start time must be earlier than end time.",
    )
    r = s.run("export-cluster-logs", "-n", NAME, "--output-file", str(bounded),
              "--start-time", "2000-01-01", "--end-time", "2000-01-02")  # fmt: skip
    assert r.code == 1 and r.json["message"].startswith(
        "Unable to export cluster's logs: No log events in the log group"
    )
    refused(
        s.run("export-cluster-logs", "-n", NAME),
        "Bad Request: give --output-file PATH to write the archive here, or --bucket BUCKET to upload it "
        "to the cluster's object store (Stratus.S3).",
    )
    r = s.run("export-cluster-logs", "-n", NAME, "--output-file", str(bounded), "--start-time", "soon")
    assert r.code == 2 and "must be in the ISO 8601 UTC format" in r.err


def test_export_to_the_clusters_object_store(env: tuple[Stratus, S3Server, str]) -> None:
    s, s3, _ = env
    r = ok(s.run("export-cluster-logs", "-n", NAME, "--bucket", "exports", "--bucket-prefix", "runs/1"))
    url = r.json["url"]
    assert list(r.json) == ["url"] and url.startswith(s3.url + "/exports/runs/1/")
    stored = list((s3.root / "exports" / "runs" / "1").iterdir())
    assert (
        len(stored) == 1 and stored[0].name.startswith(f"{NAME}-logs-") and stored[0].name.endswith(".tar.gz")
    )
    members = _members(stored[0].read_bytes())
    assert {n.split("/")[-1] for n, d in members.items() if d is not None} == set(names(s))
    # The presigned URL serves the same archive to anyone who has it, for an hour.
    got = httpx.get(url, timeout=30)
    assert got.status_code == 200 and got.content == stored[0].read_bytes()
    refused(
        s.run("export-cluster-logs", "-n", BARE, "--bucket", "exports"),
        f"Unable to export cluster's logs: cluster {BARE} has no object store to upload to: --bucket needs "
        "Stratus.S3 (EndpointUrl, CredentialsFile) in its configuration; or give --output-file PATH.",
    )


def test_the_verbs_answer_while_the_head_node_is_down(
    env: tuple[Stratus, S3Server, str], tmp_path: Path
) -> None:
    s, _, head = env
    c = Cluster(s, NAME, s.cluster_dir(NAME))
    before = names(s)
    pid = c.controller_pid()
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: c.controller_pid() is None, 15, what="the head node to be gone")
    assert ok(s.run("describe-cluster", "-n", NAME)).json["headNode"]["state"] == "stopped"
    assert names(s) == before
    jobs = events(s, f"ip-127-0-0-1.{head}.jobs", "--start-from-head", "true")["events"]
    assert jobs and jobs[0]["message"] == "job 1: - -> PENDING; cause=submit"
    target = tmp_path / "down.tar.gz"
    ok(s.run("export-cluster-logs", "-n", NAME, "--output-file", str(target)))
    assert {n.split("/")[-1] for n, d in _members(target.read_bytes()).items() if d is not None} == set(
        before
    )
    ok(s.run("start-head-node", "-n", NAME))  # as the module found it: the teardown deletes it


def test_lines_become_events_and_a_nodes_log_splits_by_instance() -> None:
    """No cluster needed: how log lines become events, and a node's log its instances' streams."""
    from stratus.cli.cluster_logs import _split_instances, page, parse_lines

    text = (
        b"2026-12-05 12:00:00,250 ERROR stratus.controller: failed\n"
        b"Traceback (most recent call last):\n  File x\n"
        b"2026-13-45 12:00:00 not a time, so part of the event before\n"
        b"2026-12-05 12:00:01,000 INFO stratus.headnode: next\n"
    )
    head = parse_lines(text, mtime=0.0)
    assert [e.message.count("\n") for e in head] == [3, 0]
    assert head[1].key[0] - head[0].key[0] == pytest.approx(0.75)
    assert [e.key[0] for e in parse_lines(b"no time\nat all\n", mtime=5.0)] == [5.0, 5.0]

    node = parse_lines(
        b"2026-12-05T12:00:00 agent for n-1 (i-aaa) pid 1 starting\n"
        b"2026-12-05T12:00:01 job 1 run 0: started pid 9\n"
        b"2026-12-05T12:00:05 shutdown requested (power down)\n"
        b"2026-12-05T12:00:05 SIGTERM: stopping jobs and exiting\n"
        b"2026-12-05T12:09:00 bootstrap failed: OnNodeStart exited with 1\n"
        b"2026-12-05T12:09:00 agent for n-1 (i-bbb) pid 2 starting\n",
        mtime=0.0,
    )
    runs = {instance: [e.message[20:] for e in events] for instance, events in _split_instances(node)}
    assert runs == {
        "i-aaa": [
            "agent for n-1 (i-aaa) pid 1 starting",
            "job 1 run 0: started pid 9",
            "shutdown requested (power down)",
            "SIGTERM: stopping jobs and exiting",
        ],
        "i-bbb": ["bootstrap failed: OnNodeStart exited with 1", "agent for n-1 (i-bbb) pid 2 starting"],
    }

    # A page never breaks CloudWatch's 1 MB, and always makes progress.
    big = parse_lines(b"".join(b"2026-12-05T12:00:00 " + b"x" * 400_000 + b"\n" for _ in range(4)), 0.0)
    first, after, _ = page(big, forward=True, boundary=None, limit=10_000)
    assert len(first) == 2
    assert len(page(big, forward=True, boundary=after, limit=10_000)[0]) == 2

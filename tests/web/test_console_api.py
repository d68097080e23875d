"""The web console's JSON routes, over HTTP against ``stratus serve`` and a real cluster.

The gate (no credential: 401; a session cookie without the console's header cannot act),
unknown clusters and jobs (404 naming them), the overview, a submitted script run to COMPLETED
with its timeline and output, hold, release and cancel, the job list's filters and pages; the
logs routes (the log verbs' own answers, pages and pcluster's messages for bad input); the costs
of two jobs on a priced node, as sacct's ``Cost`` shows them; and the head node's job list over
10,000 jobs staying fast.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from stratus.console.routes import console_router
from stratus.engine.model import Job, JobSpec, PartitionDef
from stratus.engine.states import JobState
from tests.integration.harness import WALKTHROUGH_CONFIG, Cluster, wait_for
from tests.web.conftest import Served

CONFIG = WALKTHROUGH_CONFIG.format(idle=30, min_count=0, max_count=3)
API = "/console/api/clusters"


def _create(api: httpx.Client, name: str = "web", config: str = CONFIG) -> None:
    r = api.post("/v3/clusters", json={"clusterName": name, "clusterConfiguration": config})
    assert r.status_code == 202, r.text
    wait_for(
        lambda: api.get(f"/v3/clusters/{name}").json()["clusterStatus"] == "CREATE_COMPLETE",
        60,
        what="created",
    )


def _job(api: httpx.Client, job_id: int) -> dict[str, Any]:
    r = api.get(f"{API}/web/jobs/{job_id}")
    assert r.status_code == 200, r.text
    data: dict[str, Any] = r.json()
    return data


def test_the_gate_guards_every_page_asset_and_route(served: Served) -> None:
    bare = served.client(token=None)
    for path in ("/console/api/clusters", f"{API}/web/jobs", "/console/static/common.js"):
        r = bare.get(path)
        assert r.status_code == 401, path
        assert "Unauthorized" in r.json()["message"]
    # A browser without a session is sent to log in.
    r = bare.get("/clusters/web", headers={"Accept": "text/html"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login"
    assert served.client(token="wrong").get("/console/api/clusters").status_code == 401

    api = served.client()
    page = api.get("/")
    assert page.status_code == 200 and "/console/static/clusters.js" in page.text
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert api.get("/console/static/common.js").headers["content-type"].startswith("text/javascript")
    assert api.get("/console/static/missing.html").status_code == 404
    assert api.get("/console/static/..%2Fconsole.py").status_code == 404


def test_unknown_clusters_and_jobs_are_404_with_a_message(served: Served) -> None:
    api = served.client()
    r = api.get(f"{API}/nope/jobs")
    assert r.status_code == 404
    assert r.json()["message"].startswith("Cluster 'nope' does not exist")
    assert api.get(f"{API}/no%20such/overview").status_code == 404
    page = api.get("/clusters/nope")
    assert page.status_code == 404 and "Cluster &#x27;nope&#x27; does not exist" in page.text
    _create(api)
    for job_id, shown in (("999", "999"), ("abc", "'abc'")):
        r = api.get(f"{API}/web/jobs/{job_id}")
        assert r.status_code == 404, r.text
        assert r.json() == {"message": f"Job {shown} does not exist on cluster web."}
    r = api.post(f"{API}/web/jobs/999/cancel")
    assert r.status_code == 404 and r.json()["message"] == "Job 999 does not exist on cluster web."
    assert api.post(f"{API}/web/jobs/1/explode").status_code == 404


def test_submit_watch_hold_release_cancel_through_the_console_routes(served: Served, workdir: Path) -> None:
    api = served.client()
    _create(api)
    overview = api.get(f"{API}/web/overview").json()
    assert [q["name"] for q in overview["queues"]] == ["queue1"]
    assert {n["state"] for n in overview["nodes"]} == {"POWERED_DOWN"}
    assert overview["fleet"] == "RUNNING"

    # A relative working directory is refused before anything is sent; a bad script as sbatch says.
    r = api.post(f"{API}/web/jobs", json={"script": "#!/bin/sh\necho hi\n", "workdir": "rel"})
    assert r.status_code == 400 and "absolute" in r.json()["message"]
    r = api.post(f"{API}/web/jobs", json={"script": "echo no shebang\n", "workdir": str(workdir)})
    assert r.status_code == 400 and "sbatch: error" in r.json()["message"]

    script = "#!/bin/bash\n#SBATCH --job-name=hello\necho hello from the console\n"
    r = api.post(f"{API}/web/jobs", json={"script": script, "workdir": str(workdir)})
    assert r.status_code == 201, r.text
    first = r.json()["id"]
    wait_for(lambda: _job(api, first)["job"]["state"] == "COMPLETED", 60, what="COMPLETED")
    detail = _job(api, first)
    assert detail["job"]["name"] == "hello" and detail["job"]["door"] == "slurm"
    assert detail["output"]["path"] == str(workdir / f"slurm-{first}.out")
    assert detail["output"]["text"] == "hello from the console\n"
    moves = [(t["old"], t["new"]) for t in detail["timeline"]]
    assert moves[-1] == ("RUNNING", "COMPLETED")
    assert ("PENDING", "CONFIGURING") in moves and all(t["cause"] for t in detail["timeline"])

    # Held at submission: release, hold again, then cancel it.
    r = api.post(
        f"{API}/web/jobs", json={"script": "#!/bin/sh\n#SBATCH -H\nsleep 60\n", "workdir": str(workdir)}
    )
    held = r.json()["id"]
    assert _job(api, held)["job"]["held"] is True
    r = api.post(f"{API}/web/jobs/{held}/release")
    assert r.status_code == 200 and r.json() == {"id": held, "action": "release", "acted": 1}
    r = api.post(f"{API}/web/jobs/{held}/hold")
    assert r.status_code in (200, 409), r.text  # 409 once it has started: only a pending job is held
    r = api.post(f"{API}/web/jobs/{held}/cancel")
    assert r.status_code == 200, r.text
    wait_for(lambda: _job(api, held)["job"]["state"] == "CANCELLED", 30, what="CANCELLED")
    r = api.post(f"{API}/web/jobs/{held}/cancel")
    assert r.status_code == 409 and r.json()["message"] == f"Job {held} has already finished."
    timeline = _job(api, held)["timeline"]
    assert timeline[-1]["new"] == "CANCELLED", timeline
    assert any(t["cause"] == "user" for t in timeline), timeline

    # The list: newest first, filtered, a page at a time.
    page = api.get(f"{API}/web/jobs", params={"limit": 1}).json()
    assert page["total"] == 2 and [j["id"] for j in page["jobs"]] == [held]
    assert page["counts"] == {"COMPLETED": 1, "CANCELLED": 1}
    older = api.get(f"{API}/web/jobs", params={"limit": 1, "offset": 1}).json()
    assert [j["id"] for j in older["jobs"]] == [first]
    assert [j["id"] for j in api.get(f"{API}/web/jobs", params={"state": "COMPLETED"}).json()["jobs"]] == [
        first
    ]
    assert api.get(f"{API}/web/jobs", params={"state": "active"}).json()["total"] == 0
    assert api.get(f"{API}/web/jobs", params={"user": "nobody-here"}).json()["total"] == 0
    assert api.get(f"{API}/web/jobs", params={"queue": "queue1", "scope": "all"}).json()["total"] == 2


def test_a_session_cookie_acts_only_with_the_console_header(served: Served, workdir: Path) -> None:
    api = served.client()
    _create(api)
    r = api.post(
        f"{API}/web/jobs", json={"script": "#!/bin/sh\n#SBATCH -H\nsleep 60\n", "workdir": str(workdir)}
    )
    job_id = r.json()["id"]

    browser = httpx.Client(base_url=served.url, timeout=60)
    r = browser.post("/login", data={"token": served.token}, follow_redirects=False)
    assert r.status_code == 303 and "stratus_session" in browser.cookies
    assert browser.get(f"{API}/web/jobs/{job_id}").status_code == 200  # reading needs no header
    r = browser.post(f"{API}/web/jobs/{job_id}/cancel")
    assert r.status_code == 401
    r = browser.post(f"{API}/web/jobs", json={"script": "#!/bin/sh\ntrue\n", "workdir": str(workdir)})
    assert r.status_code == 401
    assert _job(api, job_id)["job"]["state"] == "PENDING"  # nothing changed
    r = browser.post(f"{API}/web/jobs/{job_id}/cancel", headers={"X-Stratus-Console": "1"})
    assert r.status_code == 200, r.text
    assert _job(api, job_id)["job"]["state"] == "CANCELLED"


def _submit(api: httpx.Client, workdir: Path, script: str, name: str = "web") -> int:
    r = api.post(f"{API}/{name}/jobs", json={"script": script, "workdir": str(workdir)})
    assert r.status_code == 201, r.text
    job_id: int = r.json()["id"]
    return job_id


def test_logs_routes_answer_as_the_log_verbs_page_and_refuse_bad_input(served: Served, workdir: Path) -> None:
    api = served.client()
    _create(api)
    first = _submit(api, workdir, "#!/bin/sh\necho one\n")
    second = _submit(api, workdir, "#!/bin/sh\necho two\n")
    finished = (first, second)
    wait_for(lambda: all(_job(api, j)["job"]["state"] == "COMPLETED" for j in finished), 60, what="done")
    logs = f"{API}/web/logs"
    streams = api.get(f"{logs}/streams").json()["logStreams"]
    names = [s["logStreamName"] for s in streams]
    jobs_stream = next(n for n in names if n.endswith(".jobs"))
    assert names == sorted(names) and any(n.endswith(".controller") for n in names), names
    cli = served.stratus.run("list-cluster-log-streams", "-n", "web")
    assert cli.code == 0 and [s["logStreamName"] for s in cli.json["logStreams"]] == names
    entry = next(s for s in streams if s["logStreamName"] == jobs_stream)
    assert entry == next(s for s in cli.json["logStreams"] if s["logStreamName"] == jobs_stream)

    # The newest page first, then older and newer with its tokens: get-cluster-log-events' answers.
    newest = api.get(f"{logs}/events", params={"stream": jobs_stream, "limit": 2}).json()
    cli = served.stratus.run(
        "get-cluster-log-events", "-n", "web", "--log-stream-name", jobs_stream, "--limit", "2"
    )
    assert cli.code == 0 and newest == cli.json
    assert len(newest["events"]) == 2
    assert re.match(rf"job ({first}|{second}): \w+ -> COMPLETED; cause=", newest["events"][-1]["message"])
    everything = api.get(f"{logs}/events", params={"stream": jobs_stream, "startFromHead": "true"}).json()
    messages = [e["message"] for e in everything["events"]]
    assert messages[0].startswith(f"job {first}: - -> PENDING") and len(messages) > 4
    assert [e["message"] for e in newest["events"]] == messages[-2:]
    older = api.get(
        f"{logs}/events", params={"stream": jobs_stream, "limit": 2, "nextToken": newest["prevToken"]}
    ).json()
    assert [e["message"] for e in older["events"]] == messages[-4:-2]
    again = api.get(
        f"{logs}/events", params={"stream": jobs_stream, "limit": 2, "nextToken": older["nextToken"]}
    ).json()
    assert again["events"] == newest["events"]
    # A time window: start included, end not (the newest event's own time leaves it out).
    last = everything["events"][-1]["timestamp"]
    windowed = api.get(f"{logs}/events", params={"stream": jobs_stream, "endTime": last}).json()
    assert windowed["events"] and all(e["timestamp"] < last for e in windowed["events"])

    # Bad input: pcluster's messages, as the CLI gives them.
    def refused(status: int, **params: Any) -> str:
        r = api.get(f"{logs}/events", params={"stream": jobs_stream, **params})
        assert r.status_code == status, r.text
        message: str = r.json()["message"]
        return message

    assert refused(400, startTime="yesterday").startswith(
        "Bad Request: start_time filter must be in the ISO 8601 format"
    )
    assert (
        refused(400, startTime="2030-01-02T00:00:00Z", endTime="2030-01-01T00:00:00Z")
        == "Bad Request: start_time filter must be earlier than end_time filter."
    )
    forged = newest["prevToken"][:-3] + ("AAA" if not newest["prevToken"].endswith("AAA") else "BBB")
    invalid = "Unexpected error when retrieving log events: The specified nextToken is invalid."
    assert refused(400, nextToken=forged) == invalid
    other = next(n for n in names if n != jobs_stream)
    assert refused(400, stream=other, nextToken=newest["prevToken"]) == invalid  # another stream's
    assert refused(400, limit=0) == "Bad Request: 'limit' must be a positive integer."
    assert refused(400, limit=5000) == "Bad Request: the console shows at most 1000 events a page."
    unknown = "ip-127-0-0-1.i-nope.jobs"
    assert refused(404, stream=unknown) == f"The specified log stream {unknown} does not exist."
    assert refused(400, stream="") == "Bad Request: a log stream name is required."
    r = api.get(f"{API}/nope/logs/streams")
    assert r.status_code == 404 and r.json()["message"].startswith("Cluster 'nope' does not exist")
    r = api.get(f"{logs}/streams", params={"nextToken": "s/forged.AAAAAAAAAAAAAAAAAAAAAA"})
    assert r.status_code == 400 and "nextToken is invalid" in r.json()["message"]
    page = api.get("/clusters/web/logs")
    assert page.status_code == 200 and "/console/static/logs.js" in page.text
    assert api.get("/clusters/nope/logs").status_code == 404

    # With the head node down, the logs still answer (files and store); the costs say how to start it.
    cluster = Cluster(served.stratus, "web", served.stratus.cluster_dir("web"))
    pid = cluster.controller_pid()
    assert pid is not None
    os.kill(pid, signal.SIGKILL)

    def stopped() -> bool:
        described = served.stratus.run("describe-cluster", "-n", "web")
        return described.code == 0 and described.json["headNode"]["state"] == "stopped"

    # Its state as describe-cluster reads it (the lock), not its pid: a killed process lingers until reaped.
    wait_for(stopped, 15, what="the head node to be gone")
    assert [s["logStreamName"] for s in api.get(f"{logs}/streams").json()["logStreams"]] == names
    down = api.get(f"{logs}/events", params={"stream": jobs_stream, "startFromHead": "true"})
    assert down.status_code == 200 and down.json()["events"] == everything["events"]
    r = api.get(f"{API}/web/costs")
    assert r.status_code == 503 and "start-head-node" in r.json()["message"], r.text
    assert served.stratus.run("start-head-node", "-n", "web").code == 0  # the teardown deletes it


# x2iedn.32xlarge: 128 vCPUs at $26.676 an hour (the catalog's), so seconds show in four decimals.
PRICE = 26.676
PRICED_CONFIG = """\
Region: us-east-1
HeadNode:
  InstanceType: t2.micro
Scheduling:
  Scheduler: slurm
  SlurmQueues:
  - Name: q
    ComputeResources:
    - Name: big
      InstanceType: x2iedn.32xlarge
      MinCount: 1
      MaxCount: 1
"""


def test_costs_of_two_jobs_on_a_priced_node_are_sacct_s(served: Served, workdir: Path) -> None:
    api = served.client()
    _create(api, "priced", PRICED_CONFIG)
    wait_for(
        lambda: [n["state"] for n in api.get(f"{API}/priced/overview").json()["nodes"]] == ["UP"],
        60,
        what="the static node up",
    )
    # Half the node for about 3 s, then (one CPU, but exclusive) the whole node for about 2 s.
    half = _submit(api, workdir, "#!/bin/sh\n#SBATCH -c 64\nsleep 3\n", "priced")
    whole = _submit(api, workdir, "#!/bin/sh\n#SBATCH --exclusive\nsleep 2\n", "priced")
    def states() -> dict[int, str]:
        return {j["id"]: j["state"] for j in api.get(f"{API}/priced/jobs").json()["jobs"]}

    wait_for(lambda: states() == {half: "COMPLETED", whole: "COMPLETED"}, 60, what="both jobs completed")

    r = api.get(f"{API}/priced/costs")
    assert r.status_code == 200, r.text
    costs = r.json()
    cluster = Cluster(served.stratus, "priced", served.stratus.cluster_dir("priced"))
    out = cluster.slurm("sacct", "-X", "-n", "-P", "-j", f"{half},{whole}", "-o", "JobID,Elapsed,Cost").out
    lines = [line.split("|") for line in out.splitlines()]
    sacct = {int(job): (elapsed, float(cost)) for job, elapsed, cost in lines}
    assert sorted(sacct) == sorted((half, whole)), out
    rows = {j["id"]: j for j in costs["jobs"]}
    assert sorted(rows) == sorted((half, whole))
    user = rows[half]["user"]
    for job, share in ((half, 0.5), (whole, 1.0)):
        row, (elapsed, cost) = rows[job], sacct[job]
        h, m, s = (int(x) for x in elapsed.split(":"))
        assert row["cost"] == pytest.approx(cost, abs=0.00005), (row, cost)  # sacct: four decimals
        # sacct shows whole seconds (its end's second less its start's), the route the exact time.
        assert abs(row["elapsed"] - (h * 3600 + m * 60 + s)) < 1, (row, elapsed)
        assert row["cost"] == pytest.approx(PRICE * row["elapsed"] / 3600 * share, rel=1e-6)
        assert (row["queue"], row["account"], row["state"], row["user"]) == ("q", "root", "COMPLETED", user)
    assert [j["cost"] for j in costs["jobs"]] == sorted((j["cost"] for j in costs["jobs"]), reverse=True)
    total = rows[half]["cost"] + rows[whole]["cost"]
    assert costs["total"] == pytest.approx(total) and costs["jobCount"] == 2
    for grouping, name in (("byUser", user), ("byAccount", "root"), ("byQueue", "q")):
        assert len(costs[grouping]) == 1, costs[grouping]
        assert costs[grouping][0]["name"] == name and costs[grouping][0]["jobs"] == 2
        assert costs[grouping][0]["cost"] == pytest.approx(total)
    # The static node is up and idle: it costs its price per hour, all of it idle.
    assert costs["costPerHour"] == pytest.approx(PRICE) and costs["idleCostPerHour"] == pytest.approx(PRICE)
    top = api.get(f"{API}/priced/costs", params={"limit": 1}).json()["jobs"]
    assert [j["id"] for j in top] == [costs["jobs"][0]["id"]]
    page = api.get("/clusters/priced/cost")
    assert page.status_code == 200 and "/console/static/cost.js" in page.text
    r = api.get(f"{API}/nope/costs")
    assert r.status_code == 404 and r.json()["message"].startswith("Cluster 'nope' does not exist")


class _Service:
    """Just what the job list reads of a cluster service, over ``count`` jobs."""

    cluster_name = "big"

    def __init__(self, count: int) -> None:
        states = [JobState.PENDING, JobState.RUNNING, JobState.COMPLETED, JobState.FAILED]
        self._jobs = [
            Job(
                id=i,
                spec=JobSpec(name=f"job{i}", user=f"user{i % 7}", partitions=("q",)),
                submit_time=float(i),
                priority=1,
                state=states[i % 4],
                partition="q",
            )
            for i in range(1, count + 1)
        ]
        self._partitions = [(SimpleNamespace(name="q", defn=PartitionDef("q", ())), True)]

    def jobs(self) -> list[Job]:
        return self._jobs

    def partitions(self) -> list[Any]:
        return self._partitions

    def now(self) -> float:
        return 1e9


def test_the_job_list_of_ten_thousand_jobs_is_paged_and_fast() -> None:
    app = FastAPI()
    app.include_router(console_router(_Service(10_000), history=lambda e, k: [], outputs={}))  # type: ignore[arg-type]

    async def pages() -> tuple[dict[str, Any], dict[str, Any], float]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://head") as client:
            await client.get("/console/v1/jobs")  # warm up
            started = time.perf_counter()
            params = {"state": "active", "user": "user3", "limit": "50"}
            page = (await client.get("/console/v1/jobs", params=params)).json()
            took = time.perf_counter() - started
            capped = (await client.get("/console/v1/jobs", params={"limit": "100000"})).json()
        return page, capped, took

    page, capped, took = asyncio.run(pages())
    assert len(page["jobs"]) == 50 and page["total"] == sum(
        1 for i in range(1, 10_001) if i % 7 == 3 and i % 4 in (1, 2)
    )
    assert page["jobs"][0]["id"] > page["jobs"][-1]["id"]
    assert page["counts"]["COMPLETED"] + page["counts"]["PENDING"] > 0
    assert capped["limit"] == 500 and len(capped["jobs"]) == 500
    assert took < 0.5, f"a page of 10,000 jobs took {took:.3f} s"

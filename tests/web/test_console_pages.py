"""A cluster's logs and cost pages in a real browser (Playwright and Debian's chromium, as in
:mod:`tests.web.test_console_browser`, whose fixtures and screenshot rules these tests share).

One cluster with two priced queues runs four jobs charged to two accounts; then its logs page
(streams, the newest page of the jobs' stream, older pages, the search, a time window and
pcluster's message for a bad one) and its cost page (the figures, a chart per grouping, the
costliest jobs first) are read, reached from the cluster's page. Screenshots ``logs.png`` and
``cost.png``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tests.integration.harness import wait_for
from tests.web.conftest import Served
from tests.web.test_console_browser import CHROMIUM, browser, jobdir, log_in, page, playwright_api, shot

__all__ = ["browser", "jobdir", "page"]  # fixtures used by the test below

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason=f"no chromium at {CHROMIUM}")

API = "/console/api/clusters"
# Two queues of priced machines (the catalog's: x2iedn.32xlarge $26.676 an hour, c5.24xlarge
# $4.08), each with a static node, so jobs start at once and seconds show in four decimals.
CONFIG = """\
Region: us-east-1
HeadNode:
  InstanceType: t2.micro
Scheduling:
  Scheduler: slurm
  SlurmQueues:
  - Name: big
    ComputeResources:
    - Name: x2
      InstanceType: x2iedn.32xlarge
      MinCount: 1
      MaxCount: 1
  - Name: general
    ComputeResources:
    - Name: c5
      InstanceType: c5.24xlarge
      MinCount: 1
      MaxCount: 1
"""
# (queue, options, seconds): charged to two accounts, and to none (root).
JOBS = [
    ("big", "-c 64 --account=physics", 3),
    ("big", "--exclusive --account=chemistry", 2),
    ("general", "-c 48 --account=physics", 2),
    ("general", "-c 8", 1),
]


def test_the_logs_and_cost_pages_of_a_cluster(page: Any, served: Served, jobdir: Path) -> None:
    expect = playwright_api.expect
    api = served.client()
    r = api.post("/v3/clusters", json={"clusterName": "lab", "clusterConfiguration": CONFIG})
    assert r.status_code == 202, r.text

    def nodes_up() -> bool:
        answer = api.get(f"{API}/lab/overview")
        return answer.status_code == 200 and [n["state"] for n in answer.json()["nodes"]] == ["UP", "UP"]

    wait_for(nodes_up, 90, what="both static nodes up")
    ids = []
    for queue, options, seconds in JOBS:
        script = f"#!/bin/sh\n#SBATCH -p {queue} {options} --job-name={queue}-{seconds}s\nsleep {seconds}\n"
        r = api.post(f"{API}/lab/jobs", json={"script": script, "workdir": str(jobdir)})
        assert r.status_code == 201, r.text
        ids.append(r.json()["id"])

    def finished() -> bool:
        states = {j["id"]: j["state"] for j in api.get(f"{API}/lab/jobs").json()["jobs"]}
        return all(states.get(i) == "COMPLETED" for i in ids)

    wait_for(finished, 90, what="every job COMPLETED")

    # From the cluster's page to its logs: the jobs' stream is shown, newest events last.
    log_in(page, served, served.token)
    page.goto(f"{served.url}/clusters/lab")
    expect(page.locator("#logs-link")).to_have_attribute("href", "/clusters/lab/logs")
    page.click("#logs-link")
    expect(page.locator("h1")).to_have_text("Logs of cluster lab")
    expect(page.locator('#streams tbody tr[data-stream$=".jobs"]')).to_have_class(re.compile("selected"))
    controller = page.locator('#streams tbody tr[data-stream$=".controller"]')
    expect(controller).to_have_count(1)
    events = page.locator("#events tbody tr")
    expect(events.last).to_contain_text(re.compile(r"job \d+: \w+ -> COMPLETED"))
    shown = events.count()
    assert 3 * len(ids) <= shown < 200  # every job's transitions fit one page: no older page
    expect(page.locator("#older")).to_be_disabled()
    expect(page.locator("#events-info")).to_contain_text(f"{shown} events")

    # The search keeps the events that match, marked; a time window with nothing in it; a bad one.
    page.fill("#f-search", "-> COMPLETED")
    expect(events).to_have_count(len(ids))
    expect(page.locator("#events mark").first).to_have_text("-> COMPLETED")
    expect(page.locator("#events-info")).to_have_text(f"{len(ids)} of {shown} events on this page match")
    shot(page, "logs", docs=True)
    page.fill("#f-start", "2099-01-01T00:00:00")
    page.click("#apply")
    expect(page.locator("#events-info")).to_have_text("No events")
    page.fill("#f-end", "2098-01-01T00:00:00")
    page.click("#apply")
    expect(page.locator("#events-notice")).to_have_text(
        "Bad Request: start_time filter must be earlier than end_time filter."
    )
    page.click("#clear")
    expect(events).to_have_count(shown)
    expect(page.locator("#events-notice")).to_be_empty()

    # Another stream, chosen from the list: the controller's log.
    controller.locator("a").click()
    expect(page.locator("#stream-title")).to_contain_text(".controller")
    expect(events.first).to_be_visible()
    assert "stream=" in page.url and page.url.endswith(".controller")

    # The cost page: the figures, a chart per grouping, the costliest jobs first.
    page.goto(f"{served.url}/clusters/lab")
    expect(page.locator("#cost-link")).to_have_attribute("href", "/clusters/lab/cost")
    page.click("#cost-link")
    expect(page.locator("h1")).to_have_text("Cost of cluster lab")
    expect(page.locator("#cost-jobs tbody tr")).to_have_count(len(ids))
    costs = api.get(f"{API}/lab/costs").json()
    expect(page.locator("#c-total")).to_have_text(f"${costs['total']:.4f}")
    expect(page.locator("#c-hour")).to_have_text(f"${26.676 + 4.08:.4f}/h")
    expect(page.locator("#c-jobs")).to_have_text(str(len(ids)))
    shown_costs = [float(c) for c in page.locator("#cost-jobs tbody td.cost").all_inner_texts()]
    assert shown_costs == sorted(shown_costs, reverse=True) and shown_costs[0] > 0
    assert [j["cost"] for j in costs["jobs"]] == sorted((j["cost"] for j in costs["jobs"]), reverse=True)
    accounts = page.locator("#by-account svg g")
    expect(accounts).to_have_count(3)
    names = accounts.evaluate_all("gs => gs.map((g) => g.getAttribute('data-name'))")
    assert sorted(names) == ["chemistry", "physics", "root"]
    expect(page.locator("#by-queue svg g")).to_have_count(2)
    expect(page.locator("#by-user svg g")).to_have_count(1)
    big = page.locator('#by-queue svg g[data-name="big"] rect')
    general = page.locator('#by-queue svg g[data-name="general"] rect')
    assert float(big.get_attribute("width") or 0) > float(general.get_attribute("width") or 0) > 0
    shot(page, "cost", docs=True)

    page.goto(f"{served.url}/clusters/nope/cost")
    expect(page.locator("#page-notice")).to_contain_text("Cluster 'nope' does not exist")

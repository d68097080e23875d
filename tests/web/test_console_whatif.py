"""The console's what-if page and routes, over HTTP against ``stratus serve`` and a real cluster:
what the page starts from, the comparison of a cluster's own jobs replayed on a bigger
configuration, the validation messages of a pasted configuration at their lines, and bad input.
With Playwright and chromium, the page in a browser too (``whatif.png``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.integration.harness import WALKTHROUGH_CONFIG, wait_for
from tests.web.conftest import Served

CONFIG = WALKTHROUGH_CONFIG.format(idle=30, min_count=1, max_count=1)
BIGGER = WALKTHROUGH_CONFIG.format(idle=30, min_count=4, max_count=4)
API = "/console/api/clusters"


def _cluster_with_history(api: httpx.Client, workdir: Path, name: str = "wi") -> None:
    """A one-CPU cluster that ran three one-second jobs, submitted together."""
    r = api.post("/v3/clusters", json={"clusterName": name, "clusterConfiguration": CONFIG})
    assert r.status_code == 202, r.text
    wait_for(
        lambda: api.get(f"/v3/clusters/{name}").json()["clusterStatus"] == "CREATE_COMPLETE",
        60,
        what="created",
    )
    # No finished job yet: the page says so, and still offers the configuration.
    info = api.get(f"{API}/{name}/whatif").json()
    assert info["history"] is None and "no finished job" in info["message"]
    ids = []
    for _ in range(3):
        r = api.post(f"{API}/{name}/jobs", json={"script": "#!/bin/bash\nsleep 1\n", "workdir": str(workdir)})
        assert r.status_code == 201, r.text
        ids.append(r.json()["id"])

    def done() -> bool:
        return all(api.get(f"{API}/{name}/jobs/{i}").json()["job"]["state"] == "COMPLETED" for i in ids)

    wait_for(done, 60, what="three jobs COMPLETED")


def _run(api: httpx.Client, name: str, **body: Any) -> httpx.Response:
    return api.post(f"{API}/{name}/whatif", json=body, timeout=120)


def test_whatif_compares_the_history_on_a_changed_configuration(served: Served, workdir: Path) -> None:
    api = served.client()
    _cluster_with_history(api, workdir)

    page = api.get("/clusters/wi/whatif", headers={"Accept": "text/html"})
    assert page.status_code == 200 and "/console/static/whatif.js" in page.text
    assert api.get("/console/static/whatif.js").status_code == 200
    assert api.get("/clusters/nope/whatif", headers={"Accept": "text/html"}).status_code == 404
    assert 'id="whatif-link"' in api.get("/clusters/wi", headers={"Accept": "text/html"}).text

    info = api.get(f"{API}/wi/whatif").json()
    assert info["configuration"] == CONFIG
    assert info["configurationFile"].endswith("/clusters/wi/cluster.yaml")
    assert info["history"]["jobs"] == 3
    assert info["history"]["leftOut"] == {"neverStarted": 0, "unfinished": 0}
    assert "easy" in info["policies"]

    r = _run(api, "wi", configuration=BIGGER, policy="easy")
    assert r.status_code == 200, r.text
    doc = r.json()
    assert doc["history"]["jobs"] == 3 and doc["policy"] == "easy"
    current, what_if = doc["current"], doc["whatIf"]
    assert current["machine"]["clusterConfiguration"].endswith("/clusters/wi/cluster.yaml")
    assert what_if["machine"]["clusterConfiguration"] == "what-if.yaml"
    assert current["overall"]["jobs"] == what_if["overall"]["jobs"] == 3
    # Four nodes instead of one: nobody waits; the figures' difference says by how much.
    assert current["overall"]["meanWaitSeconds"] > 0
    assert what_if["overall"]["meanWaitSeconds"] == 0
    assert doc["difference"]["overall"]["meanWaitSeconds"] < 0
    assert set(doc["difference"]["cost"]) == {"queue1"}
    # The same replay as the command line's.
    cli = served.stratus.run("simulate", "--history", "wi", "--policy", "easy", "--json", "--no-progress")
    assert cli.code == 0, cli.out + cli.err
    assert cli.json["overall"] == current["overall"]

    # A period without jobs, a bad time, an unknown policy, an unknown cluster.
    r = _run(api, "wi", configuration=BIGGER, since="2099-01-01")
    assert r.status_code == 400 and "no finished job submitted from 2099-01-01" in r.json()["message"]
    r = _run(api, "wi", configuration=BIGGER, until="soon")
    assert r.status_code == 400 and "ISO 8601" in r.json()["message"]
    r = _run(api, "wi", configuration=BIGGER, policy="greedy")
    assert r.status_code == 400 and "valid policies" in r.json()["message"]
    assert _run(api, "nope", configuration=BIGGER).status_code == 404
    assert _run(api, "wi", configuration="").status_code == 400  # the request model refuses it


def test_whatif_shows_a_pasted_configuration_s_errors_at_their_lines(served: Served, workdir: Path) -> None:
    api = served.client()
    _cluster_with_history(api, workdir)
    wrong = CONFIG.replace("  Scheduler: slurm", "  Schedular: slurm")
    r = _run(api, "wi", configuration=wrong)
    assert r.status_code == 400, r.text
    body = r.json()
    assert body["message"] == "Invalid cluster configuration."
    line = wrong.splitlines().index("  Schedular: slurm") + 1
    assert any(f"(line {line}" in m["message"] for m in body["configurationValidationErrors"])
    r = _run(api, "wi", configuration="Region: [unclosed\n")
    assert r.status_code == 400 and "(line 2, column 1)" in r.json()["message"]


def test_whatif_page_in_the_browser(served: Served, workdir: Path) -> None:
    pytest.importorskip("playwright.sync_api", reason="Playwright is not installed")
    from tests.web import test_console_browser as browser_tests

    if not browser_tests.CHROMIUM.exists():
        pytest.skip(f"no chromium at {browser_tests.CHROMIUM}")
    api = served.client()
    _cluster_with_history(api, workdir)
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(
            executable_path=str(browser_tests.CHROMIUM), headless=True, args=["--no-sandbox"]
        )
        try:
            context = chromium.new_context(viewport=browser_tests.VIEWPORT)
            context.set_default_timeout(browser_tests.TIMEOUT_MS)
            page = context.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            browser_tests.log_in(page, served, served.token)
            expect(page.locator("h1")).to_have_text("Clusters")
            page.goto(served.url + "/clusters/wi")
            page.click("#whatif-link")
            expect(page.locator("h1")).to_have_text("What if: cluster wi")
            expect(page.locator("#history")).to_contain_text("3 finished jobs")
            expect(page.locator("#config")).to_have_value(CONFIG)

            # A mistake first: shown at its line, no figures.
            wrong = BIGGER.replace("  Scheduler: slurm", "  Schedular: slurm")
            line = wrong.splitlines().index("  Schedular: slurm") + 1
            page.fill("#config", wrong)
            page.click("#compare")
            flagged = page.locator(f'#annotated li[data-line="{line}"]')
            expect(flagged.locator(".msg.error")).to_contain_text("Unknown field")
            expect(page.locator("#results")).to_be_hidden()

            page.fill("#config", BIGGER)
            page.select_option("#policy", "easy")
            page.click("#compare")
            expect(page.locator("#whatif-notice")).to_contain_text("Replayed")
            expect(page.locator("#annotated")).to_be_hidden()
            expect(page.locator("#charts svg")).to_have_count(2)
            expect(page.locator('#charts svg rect[data-series="whatIf"]').first).to_be_visible()
            mean = page.locator('#figures tr[data-queue="all"][data-figure="meanWaitSeconds"] td')
            expect(mean.nth(3)).to_have_text("0.0 s")
            expect(page.locator('#costs tr[data-queue="queue1"][data-figure="cost"]')).to_have_count(1)
            page.locator("#results").scroll_into_view_if_needed()
            browser_tests.shot(page, "whatif", docs=True)
            context.close()
        finally:
            chromium.close()
    assert not errors, f"errors in the page's script: {errors}"

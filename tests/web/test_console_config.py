"""A cluster's configuration page: its configuration edited, checked and applied with
ParallelCluster's UpdateCluster, against ``stratus serve`` and a real cluster.

Over HTTP, the page, its asset and its JSON route, and the answers of ``PUT /v3/clusters/{name}``
the page shows (no change, an error at its line, a change the cluster refuses, the same forced).
With Playwright and chromium (as in :mod:`tests.web.test_console_browser`), the page in a
browser: a mistake shown at its line and nothing changed, pcluster's "No changes found", a change
the cluster refuses with its reason (and the same forced), then a queue's MaxCount raised,
checked (the change set), applied and followed to UPDATE_COMPLETE, and the new nodes on the
cluster's page (``config.png``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest

from tests.integration.harness import WALKTHROUGH_CONFIG, wait_for
from tests.web.conftest import Served

CONFIG = WALKTHROUGH_CONFIG.format(idle=30, min_count=1, max_count=2)
BIGGER = CONFIG.replace("MaxCount: 2", "MaxCount: 4")
WRONG = CONFIG.replace("  Scheduler: slurm", "  Schedular: slurm")
WRONG_LINE = WRONG.splitlines().index("  Schedular: slurm") + 1
MAX_COUNT = "Scheduling.SlurmQueues[queue1].ComputeResources[t2micro].MaxCount"
NO_CHANGES = "Bad Request: No changes found in your cluster configuration."
API = "/console/api/clusters"


def _cluster(api: httpx.Client, name: str) -> None:
    r = api.post("/v3/clusters", json={"clusterName": name, "clusterConfiguration": CONFIG})
    assert r.status_code == 202, r.text
    wait_for(
        lambda: api.get(f"/v3/clusters/{name}").json()["clusterStatus"] == "CREATE_COMPLETE",
        60,
        what=f"{name} created",
    )


def test_the_configuration_page_and_the_answers_it_shows(served: Served) -> None:
    api = served.client()
    _cluster(api, "cf")

    page = api.get("/clusters/cf/config", headers={"Accept": "text/html"})
    assert page.status_code == 200 and "/console/static/config.js" in page.text
    assert "default-src 'self'" in page.headers["content-security-policy"]
    asset = api.get("/console/static/config.js")
    assert asset.status_code == 200 and asset.headers["content-type"].startswith("text/javascript")
    assert api.get("/clusters/nope/config", headers={"Accept": "text/html"}).status_code == 404
    assert 'id="config-link"' in api.get("/clusters/cf", headers={"Accept": "text/html"}).text

    info = api.get(f"{API}/cf/config").json()
    assert info == {
        "cluster": "cf",
        "configuration": CONFIG,
        "configurationFile": info["configurationFile"],
    }
    assert info["configurationFile"].endswith("/clusters/cf/cluster.yaml")
    r = api.get(f"{API}/nope/config")
    assert r.status_code == 404 and "'nope' does not exist" in r.json()["message"]

    # The cluster's own configuration: pcluster's "No changes found".
    r = api.put("/v3/clusters/cf", json={"clusterConfiguration": CONFIG})
    assert r.status_code == 400 and r.json() == {"message": NO_CHANGES}
    # A mistake: pcluster's validation document, the error at its line.
    r = api.put("/v3/clusters/cf", json={"clusterConfiguration": WRONG})
    assert r.status_code == 400 and r.json()["message"] == "Invalid cluster configuration."
    errors = r.json()["configurationValidationErrors"]
    assert any(f"(line {WRONG_LINE}" in e["message"] for e in errors)
    # A change this cluster cannot make: refused with its reason, unless forced (a dry run here).
    moved = CONFIG.replace("Region: eu-west-1", "Region: us-east-1")
    r = api.put("/v3/clusters/cf", params={"dryrun": "true"}, json={"clusterConfiguration": moved})
    assert r.status_code == 400 and r.json()["message"] == "Update failure", r.text
    refused = r.json()["updateValidationErrors"]
    assert [(e["parameter"], e["currentValue"], e["requestedValue"]) for e in refused] == [
        ("Region", "eu-west-1", "us-east-1")
    ]
    assert "Update actions are not currently supported for the 'Region' parameter" in refused[0]["message"]
    assert r.json()["changeSet"] == [
        {"parameter": "Region", "currentValue": "eu-west-1", "requestedValue": "us-east-1"}
    ]
    r = api.put(
        "/v3/clusters/cf",
        params={"dryrun": "true", "forceUpdate": "true"},
        json={"clusterConfiguration": moved},
    )
    assert r.status_code == 412 and r.json()["changeSet"][0]["parameter"] == "Region", r.text

    # Nothing of that changed the cluster.
    assert api.get(f"{API}/cf/config").json()["configuration"] == CONFIG
    assert api.get("/v3/clusters/cf").json()["clusterStatus"] == "CREATE_COMPLETE"


@contextmanager
def _browser_page(served: Served) -> Iterator[Any]:
    """A logged-in tab of Debian's chromium (the browser tests' rules); fails the test on any
    error in the pages' scripts."""
    pytest.importorskip("playwright.sync_api", reason="Playwright is not installed")
    from playwright.sync_api import sync_playwright

    from tests.web import test_console_browser as browser_tests

    if not browser_tests.CHROMIUM.exists():
        pytest.skip(f"no chromium at {browser_tests.CHROMIUM}")
    errors: list[str] = []
    with sync_playwright() as p:
        chromium = p.chromium.launch(
            executable_path=str(browser_tests.CHROMIUM), headless=True, args=["--no-sandbox"]
        )
        try:
            context = chromium.new_context(viewport=browser_tests.VIEWPORT)
            context.set_default_timeout(browser_tests.TIMEOUT_MS)
            page = context.new_page()
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            browser_tests.log_in(page, served, served.token)
            yield page
            context.close()
        finally:
            chromium.close()
    assert not errors, f"errors in the pages' scripts: {errors}"


def test_update_a_cluster_from_its_configuration_page(served: Served) -> None:
    api = served.client()
    _cluster(api, "up")
    from tests.web.test_console_browser import shot

    with _browser_page(served) as page:
        from playwright.sync_api import expect

        expect(page.locator("h1")).to_have_text("Clusters")
        page.goto(served.url + "/clusters/up")
        expect(page.locator('#queues tr[data-queue="queue1"] td').nth(2)).to_have_text("2")
        page.click("#config-link")
        expect(page.locator("#title")).to_have_text("Configuration of cluster up")
        expect(page.locator("#cluster-status .badge")).to_have_text("CREATE_COMPLETE")
        expect(page.locator("#config")).to_have_value(CONFIG)
        expect(page.locator("#config-file")).to_contain_text("/clusters/up/cluster.yaml")

        # A mistake, sent as an update: shown at its line, and nothing changed.
        page.fill("#config", WRONG)
        page.click("#update")
        flagged = page.locator(f'#annotated li[data-line="{WRONG_LINE}"]')
        expect(flagged.locator(".msg.error")).to_contain_text("Unknown field. Did you mean 'Scheduler'?")
        expect(page.locator("#config-notice")).to_have_text("Invalid cluster configuration.")
        expect(page.locator("#changes-box")).to_be_hidden()
        assert api.get(f"{API}/up/config").json()["configuration"] == CONFIG
        assert api.get("/v3/clusters/up").json()["clusterStatus"] == "CREATE_COMPLETE"

        # The cluster's own configuration again: pcluster's message.
        page.click("#reset")
        expect(page.locator("#annotated")).to_be_hidden()
        page.click("#check")
        expect(page.locator("#config-notice")).to_have_text(NO_CHANGES)
        expect(page.locator("#config-notice")).to_have_class("notice info")

        # A change this cluster cannot make: refused, with pcluster's reason under it; forced,
        # the check passes (and nothing is changed either way).
        page.fill("#config", CONFIG.replace("Region: eu-west-1", "Region: us-east-1"))
        page.click("#check")
        expect(page.locator("#config-notice")).to_have_text(
            "Update failure: 1 change cannot be made now, for the reasons under it."
        )
        refused = page.locator('#changes tr.refused[data-parameter="Region"]')
        expect(refused.locator(".requested")).to_have_text("us-east-1")
        expect(page.locator('#changes tr.reasons[data-parameter="Region"] .msg.error')).to_contain_text(
            "Update actions are not currently supported for the 'Region' parameter"
        )
        shot(page, "config-refused")
        page.check("#force")
        page.click("#check")
        expect(page.locator("#config-notice")).to_have_text(
            "The update would succeed (1 change): nothing was changed."
        )
        expect(page.locator("#changes tr.refused")).to_have_count(0)
        page.uncheck("#force")

        # A bigger queue: checked (the change set, nothing changed), then applied and followed.
        page.fill("#config", BIGGER)
        page.click("#check")
        expect(page.locator("#config-notice")).to_have_text(
            "The update would succeed (1 change): nothing was changed."
        )
        change = page.locator(f'#changes tr[data-parameter="{MAX_COUNT}"]')
        expect(change.locator(".current")).to_have_text("2")
        expect(change.locator(".requested")).to_have_text("4")
        expect(page.locator("#changes tbody tr")).to_have_count(1)
        assert api.get(f"{API}/up/config").json()["configuration"] == CONFIG
        page.click("#update")
        expect(page.locator("#config-notice")).to_contain_text("is updated (UPDATE_COMPLETE)")
        expect(page.locator("#cluster-status .badge")).to_have_text("UPDATE_COMPLETE")
        expect(page.locator("#changes-title")).to_have_text("Changes applied")
        expect(change.locator(".requested")).to_have_text("4")
        assert api.get(f"{API}/up/config").json()["configuration"] == BIGGER
        page.evaluate("window.scrollTo(0, 0)")
        shot(page, "config", docs=True)

        # The cluster's page: queue1 has four nodes now.
        page.locator("#config-notice a").click()
        expect(page.locator('#queues tr[data-queue="queue1"] td').nth(2)).to_have_text("4")
        expect(page.locator("#nodes tbody tr")).to_have_count(4)

"""The web console in a real browser: ``stratus serve`` driven through its pages by Playwright.

The browser is Debian's chromium at ``/usr/bin/chromium`` (the ``chromium`` package, which
``.ci/run`` installs), launched headless by Playwright's Python package (the ``dev`` extra);
Playwright's own browser downloads are not used. Without that executable, or without
Playwright, the tests are skipped. One browser at a time, closed by its fixture.

Screenshots (1280x800) go to ``$STRATUS_TEST_ARTEFACTS/console`` (default
``build/test-artefacts/console``); with ``STRATUS_UPDATE_SCREENSHOTS=1`` the ones the README
shows are also written to ``docs/screenshots/``.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.harness import REPO, WALKTHROUGH_CONFIG, wait_for
from tests.web.conftest import Served

CHROMIUM = Path("/usr/bin/chromium")
playwright_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed")
pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason=f"no chromium at {CHROMIUM}")

ARTEFACTS = Path(os.environ.get("STRATUS_TEST_ARTEFACTS", REPO / "build" / "test-artefacts")) / "console"
DOCS = REPO / "docs" / "screenshots"
VIEWPORT = {"width": 1280, "height": 800}
CONFIG = WALKTHROUGH_CONFIG.format(idle=30, min_count=1, max_count=4)
BAD_CONFIG = CONFIG.replace("  Scheduler: slurm", "  Schedular: slurm")
TIMEOUT_MS = 60_000


@pytest.fixture
def browser() -> Iterator[Any]:
    with playwright_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"])
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport=VIEWPORT)
    context.set_default_timeout(TIMEOUT_MS)
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        yield tab
    finally:
        context.close()
    assert not errors, f"errors in the pages' scripts: {errors}"


@pytest.fixture
def jobdir() -> Iterator[Path]:
    """Where the browser's jobs run: a short path, as it shows on the pages."""
    path = Path(tempfile.mkdtemp(prefix="console-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def shot(page: Any, name: str, *, docs: bool = False) -> None:
    """Save a screenshot of the viewport (for the README too when ``docs`` and asked for)."""
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTEFACTS / f"{name}.png"))
    if docs and os.environ.get("STRATUS_UPDATE_SCREENSHOTS") == "1":
        DOCS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(DOCS / f"{name}.png"))


def log_in(page: Any, served: Served, token: str) -> None:
    page.goto(served.url + "/")
    assert page.url.endswith("/login")  # no session: the login page first
    page.fill("#token", token)
    page.click("button[type=submit]")


def test_a_wrong_token_shows_an_error_and_nothing_else(page: Any, served: Served) -> None:
    log_in(page, served, "not-the-token")
    expect = playwright_api.expect
    expect(page.locator(".error")).to_have_text("That is not the serve token.")
    assert page.url.endswith("/login")
    assert page.locator("#clusters").count() == 0
    shot(page, "login-error")
    # The console's routes still refuse this browser.
    answer = page.request.get(served.url + "/console/api/clusters")
    assert answer.status == 401


def test_create_submit_watch_cancel_and_read_output_in_the_browser(
    page: Any, served: Served, jobdir: Path
) -> None:
    workdir = jobdir
    expect = playwright_api.expect
    api = served.client()
    page.on("dialog", lambda dialog: dialog.accept())
    log_in(page, served, served.token)
    expect(page.locator("h1")).to_have_text("Clusters")
    expect(page.locator("#no-clusters")).to_be_visible()

    # A configuration with an error: the error at its line, and nothing created.
    bad_line = BAD_CONFIG.splitlines().index("  Schedular: slurm") + 1
    page.fill("#cluster-name", "demo")
    page.fill("#config", BAD_CONFIG)
    page.click("#create-button")
    page.locator("#create").scroll_into_view_if_needed()
    flagged = page.locator(f'#annotated li[data-line="{bad_line}"]')
    expect(flagged.locator(".msg.error")).to_contain_text("Unknown field. Did you mean 'Scheduler'?")
    expect(page.locator("#create-notice")).to_have_text("Invalid cluster configuration.")
    # pcluster's schema check also misses the required key, at the section's line.
    section = page.locator(f'#annotated li[data-line="{BAD_CONFIG.splitlines().index("Scheduling:") + 1}"]')
    expect(section.locator(".msg.error")).to_contain_text("Scheduling.Scheduler")
    assert page.locator("#annotated .msg.error").count() == 2
    assert api.get("/v3/clusters").json() == {"clusters": []}
    shot(page, "create-validation", docs=True)

    # Fixed: checked (a dry run creates nothing), then created.
    page.fill("#config", CONFIG)
    page.click("#check")
    expect(page.locator("#create-notice")).to_have_text("The configuration is valid: nothing was created.")
    expect(page.locator('#annotated li[data-line="1"] .msg.info')).to_contain_text("Region (line 1)")
    assert page.locator("#annotated .msg.error").count() == 0
    assert api.get("/v3/clusters").json() == {"clusters": []}
    page.click("#create-button")
    expect(page.locator("#create-notice")).to_have_text("Cluster demo is being created.")
    row = page.locator('#clusters tr[data-cluster="demo"]')
    expect(row.locator(".status .badge")).to_have_text("CREATE_COMPLETE")
    expect(row.locator(".fleet .badge")).to_have_text("RUNNING")
    page.evaluate("window.scrollTo(0, 0)")
    shot(page, "clusters", docs=True)

    # The cluster's page: queues and nodes, then two jobs submitted from the form.
    row.locator("a").click()
    expect(page.locator("h1")).to_contain_text("Cluster demo")
    expect(page.locator('#queues tr[data-queue="queue1"]')).to_contain_text("queue1")
    expect(page.locator("#nodes tbody tr")).to_have_count(4)
    expect(page.locator('#nodes tr[data-node="queue1-st-t2micro-1"] .state')).to_contain_text("UP")
    page.fill("#workdir", str(workdir))
    page.fill("#script", "#!/bin/bash\n#SBATCH --job-name=hello\necho hello from the browser\nsleep 2\n")
    page.click("#submit-button")
    expect(page.locator("#submit-notice")).to_contain_text("Submitted batch job")
    first = int(page.locator("#submit-notice a").inner_text())
    page.fill("#script", "#!/bin/bash\n#SBATCH --job-name=long\n#SBATCH -N 2\necho started\nsleep 300\n")
    page.click("#submit-button")
    expect(page.locator("#submit-notice a")).not_to_have_text(str(first))
    second = int(page.locator("#submit-notice a").inner_text())

    expect(page.locator(f'#jobs tr[data-job="{second}"] .state')).to_contain_text("RUNNING")
    expect(page.locator(f'#jobs tr[data-job="{first}"] .state')).to_have_text("COMPLETED")
    node_with_long = page.locator("#nodes tr", has=page.locator(f'a[href$="/jobs/{second}"]'))
    expect(node_with_long).to_have_count(2)  # what each node runs
    expect(node_with_long.first.locator(".state")).to_contain_text("allocated")
    # The filters: only the finished job, then both again.
    page.select_option("#f-state", "COMPLETED")
    expect(page.locator("#jobs tbody tr")).to_have_count(1)
    expect(page.locator(f'#jobs tr[data-job="{first}"]')).to_be_visible()
    page.select_option("#f-state", "")
    expect(page.locator("#jobs tbody tr")).to_have_count(2)
    shot(page, "cluster", docs=True)

    # The running job's page: cancel it, its timeline ends CANCELLED.
    page.click(f'#jobs tr[data-job="{second}"] a')
    expect(page.locator("#job-state")).to_contain_text("RUNNING")
    expect(page.locator("#output")).to_contain_text("started")
    expect(page.locator("#hold")).to_be_disabled()
    page.click("#cancel")
    expect(page.locator("#action-notice")).to_have_text("Cancel requested.")
    expect(page.locator("#job-state")).to_contain_text("CANCELLED")
    expect(page.locator("#timeline tbody tr").last).to_contain_text("CANCELLED")
    expect(page.locator("#cancel")).to_be_disabled()

    # The finished job's page: its output and its timeline from submission to COMPLETED.
    page.goto(f"{served.url}/clusters/demo/jobs/{first}")
    expect(page.locator("#job-state")).to_contain_text("COMPLETED")
    expect(page.locator("#output")).to_have_text("hello from the browser\n")
    expect(page.locator("#output-path")).to_have_text(str(workdir / f"slurm-{first}.out"))
    timeline = page.locator("#timeline tbody tr")
    expect(timeline.last).to_contain_text("COMPLETED")
    assert re.search(r"∅\s*→\s*PENDING", timeline.first.inner_text())
    expect(page.locator('[data-fact="Exit code"]')).to_have_text("0:0")
    shot(page, "job", docs=True)

    # Unknown ids: a clear message.
    page.goto(f"{served.url}/clusters/demo/jobs/99999")
    expect(page.locator("#page-notice")).to_have_text("Job 99999 does not exist on cluster demo.")
    page.goto(f"{served.url}/clusters/nope")
    expect(page.locator("#page-notice")).to_contain_text("Cluster 'nope' does not exist")

    # Back to the list: the fleet stopped, then the cluster deleted.
    page.goto(served.url + "/")
    row = page.locator('#clusters tr[data-cluster="demo"]')
    row.locator('[data-action="stop"]').click()
    expect(page.locator("#list-notice")).to_have_text("Compute fleet of demo: STOP_REQUESTED.")
    expect(row.locator(".fleet .badge")).to_have_text(re.compile("STOP"))
    row.locator('[data-action="delete"]').click()
    expect(page.locator("#list-notice")).to_have_text("Cluster demo is being deleted.")
    wait_for(lambda: api.get("/v3/clusters").json() == {"clusters": []}, 60, what="demo deleted")
    expect(page.locator("#no-clusters")).to_be_visible()

"""The speed of what watches and steers a busy cluster: metrics scrapes and the REST API.

On one local cluster of 1,000 nodes (a queue of 1,000 dynamic nodes, all powered down) with
10,000 pending jobs (submitted one ``sbatch`` request at a time through the head node's API,
the compute fleet stopped so that nothing starts), measures:

  a. a Prometheus scrape of ``Stratus.Metrics`` (the full exposition, with the token), n=20
  b. ``describe-cluster`` and ``list-clusters`` through ``stratus serve``'s REST API, n=50
  c. the same two through the CLI (``stratus describe-cluster``: a new process each time), n=10,
     the baseline the API is compared with in this run
  d. ``squeue`` of every job through the head node's API (what an exporter built on the Slurm
     commands pays per scrape), n=10, the baseline of (a)
  e. the console's job list (the newest 50 of 10,000, with the state/user/queue counts) through
     ``stratus serve``, n=20
  f. in Chromium (Debian's, driven by Playwright, when both are there): the cluster page's first
     contentful paint, and the time until its jobs table shows its first 50 rows, n=5

Each line prints the median and the 95th percentile in milliseconds; (a) and (b) also print how
many times faster than their baseline they are.

    python benchmarks/bench_web.py [--jobs N] [--nodes N] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from stratus.cli import thin  # noqa: E402  (after the repository is on the path)

CLUSTER = """\
Region: us-east-1
HeadNode:
  InstanceType: t2.micro
Scheduling:
  Scheduler: slurm
  SlurmQueues:
  - Name: q1
    ComputeResources:
    - Name: dy
      InstanceType: t2.micro
      MinCount: 0
      MaxCount: {nodes}
Stratus:
  Metrics: {{}}
"""


def _times(fn: Callable[[], Any], n: int) -> list[float]:
    out = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t) * 1000)
    return out


def _summary(ms: list[float]) -> dict[str, float]:
    ordered = sorted(ms)
    return {"p50_ms": statistics.median(ordered), "p95_ms": ordered[int(0.95 * (len(ordered) - 1))]}


def _browser(base: str, token: str) -> dict[str, float] | None:
    """(f): the cluster page in headless Chromium, logged in; None without Playwright or Chromium."""
    chromium = "/usr/bin/chromium"
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return None
    if not Path(chromium).exists():
        return None
    fcp: list[float] = []
    table: list[float] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=["--no-sandbox"], headless=True)
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 800})
            page = context.new_page()
            page.goto(f"{base}/login")
            page.fill("#token", token)
            page.click("button[type=submit]")
            page.wait_for_url(f"{base}/")
            for _ in range(5):
                started = time.perf_counter()
                page.goto(f"{base}/clusters/bench")
                page.wait_for_selector("#jobs tbody tr:nth-child(50)", timeout=60_000)
                table.append((time.perf_counter() - started) * 1000)
                fcp.append(
                    float(
                        page.evaluate(
                            "performance.getEntriesByName('first-contentful-paint')[0]?.startTime ?? -1"
                        )
                    )
                )
        finally:
            browser.close()
    return {"fcp_p50_ms": statistics.median(fcp), "table_p50_ms": statistics.median(table)}


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--nodes", type=int, default=1000)
    parser.add_argument("--json", help="Write the figures to this file.")
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="bench-web-"))
    env = {**os.environ, "STRATUS_HOME": str(home)}

    def cli(*argv: str) -> Any:
        done = subprocess.run([sys.executable, "-m", "stratus.cli.main", *argv], env=env, capture_output=True,
                              text=True, timeout=600, cwd=REPO)  # fmt: skip
        if done.returncode:
            raise RuntimeError(f"stratus {' '.join(argv)}: {done.stdout}{done.stderr}")
        return json.loads(done.stdout) if done.stdout.strip().startswith("{") else done.stdout

    cfg = home / "bench.yaml"
    cfg.write_text(CLUSTER.format(nodes=args.nodes))
    results: dict[str, Any] = {
        "machine": f"{platform.node()} ({os.cpu_count()} CPUs)",
        "date": time.strftime("%Y-%m-%d"),
        "jobs": args.jobs,
        "nodes": args.nodes,
    }
    serve: subprocess.Popen[bytes] | None = None
    try:
        cli("create-cluster", "-n", "bench", "-c", str(cfg))
        deadline = time.monotonic() + 300
        while cli("describe-cluster", "-n", "bench").get("clusterStatus") != "CREATE_COMPLETE":
            if time.monotonic() > deadline:
                raise RuntimeError("the cluster did not come up")
            time.sleep(0.5)
        cli("update-compute-fleet", "-n", "bench", "--status", "STOP_REQUESTED")
        while cli("describe-compute-fleet", "-n", "bench")["status"] != "STOPPED":
            time.sleep(0.5)
        sock = str(home / "clusters" / "bench" / "api.sock")
        started = time.perf_counter()
        for i in range(args.jobs):
            status, headers, payload = thin._post(
                sock, "/slurm/v1/sbatch", thin._body(["-J", f"j{i}", "--wrap", "true"], None, {})
            )
            if status != 200 or headers.get("x-exit-code", "0") != "0" or b"Submitted" not in payload:
                raise RuntimeError(f"sbatch: {status} {payload[:200]!r}")
        results["submit_s"] = time.perf_counter() - started
        print(
            f"{args.jobs} jobs submitted in {results['submit_s']:.1f} s; {args.nodes} nodes, all powered down"
        )

        desc = cli("describe-cluster", "-n", "bench")
        url = desc["metricsEndpoint"]
        token = Path(desc["metricsTokenFile"]).read_text().strip()
        scrape_client = httpx.Client(headers={"Authorization": f"Bearer {token}"}, timeout=60)
        size = len(scrape_client.get(url).content)
        scrape = _summary(_times(lambda: scrape_client.get(url).raise_for_status(), 20))
        listed = thin._post(sock, "/slurm/v1/squeue", thin._body(["-h"], None, {}))[2]
        lines = listed.count(b"\n")
        if lines < args.jobs:
            raise RuntimeError(f"squeue lists {lines} jobs, not {args.jobs}")
        squeue = _summary(
            _times(lambda: thin._post(sock, "/slurm/v1/squeue", thin._body(["-h"], None, {})), 10)
        )
        results["scrape"] = {**scrape, "bytes": size}
        results["squeue_baseline"] = squeue
        kib, p50, p95 = size // 1024, scrape["p50_ms"], scrape["p95_ms"]
        print(f"a. metrics scrape ({kib} KiB): p50 {p50:.0f} ms, p95 {p95:.0f} ms")
        print(f"d. squeue of every job: p50 {squeue['p50_ms']:.0f} ms "
              f"(the scrape is {squeue['p50_ms'] / scrape['p50_ms']:.1f} times as fast)")  # fmt: skip

        port_file = home / "serve.port"
        serve = subprocess.Popen([sys.executable, "-m", "stratus.cli.main", "serve", "--port", "0"], env=env,
                                 cwd=REPO, stdout=subprocess.DEVNULL, stderr=port_file.open("w"))  # fmt: skip
        base = ""
        deadline = time.monotonic() + 60
        while not base:
            text = port_file.read_text()
            if "http://" in text:
                base = text.split("http://", 1)[1].split("/", 1)[0]
            elif time.monotonic() > deadline or serve.poll() is not None:
                raise RuntimeError(f"stratus serve did not start: {text}")
            else:
                time.sleep(0.1)
        serve_token = (home / "serve" / "token").read_text().strip()
        api = httpx.Client(
            base_url=f"http://{base}", headers={"Authorization": f"Bearer {serve_token}"}, timeout=60
        )
        api.get("/v3/clusters/bench").raise_for_status()
        describe = _summary(_times(lambda: api.get("/v3/clusters/bench").raise_for_status(), 50))
        listing = _summary(_times(lambda: api.get("/v3/clusters").raise_for_status(), 50))
        cli_describe = _summary(_times(lambda: cli("describe-cluster", "-n", "bench"), 10))
        results["api_describe"] = describe
        results["api_list"] = listing
        results["cli_describe_baseline"] = cli_describe
        print(f"b. API describe-cluster: p50 {describe['p50_ms']:.1f} ms, p95 {describe['p95_ms']:.1f} ms; "
              f"list-clusters: p50 {listing['p50_ms']:.1f} ms")  # fmt: skip
        jobs = _summary(
            _times(
                lambda: api.get("/console/api/clusters/bench/jobs", params={"limit": 50}).raise_for_status(),
                20,
            )
        )
        results["console_jobs"] = jobs
        p50, p95 = jobs["p50_ms"], jobs["p95_ms"]
        print(f"e. console job list (50 of {args.jobs}): p50 {p50:.1f} ms, p95 {p95:.1f} ms")
        page = _browser(f"http://{base}", serve_token)
        if page:
            results["browser"] = page
            print(f"f. cluster page in Chromium: first contentful paint p50 {page['fcp_p50_ms']:.0f} ms, "
                  f"jobs table shown p50 {page['table_p50_ms']:.0f} ms")  # fmt: skip
        print(f"c. CLI describe-cluster: p50 {cli_describe['p50_ms']:.0f} ms "
              f"(the API is {cli_describe['p50_ms'] / describe['p50_ms']:.1f} times as fast)")  # fmt: skip
    finally:
        if serve is not None:
            serve.terminate()
            serve.wait(timeout=30)
        subprocess.run([sys.executable, "-m", "stratus.cli.main", "delete-cluster", "-n", "bench", "--wait"],
                       env=env, capture_output=True, timeout=600, cwd=REPO)  # fmt: skip
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The Prometheus endpoint of a live cluster (``Stratus.Metrics``), scraped as Prometheus does.

The Slurm exporters' names with the values the cluster has (nodes, CPUs, jobs by state, per
partition, account and user), stratus's own, the bearer token (401 without it, nothing of the
cluster shown), ``promtool check metrics`` on the exposition, a real Prometheus (Debian's)
scraping the head node and answering a query, and a scrape while the head node is down.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.ec2_endpoint import free_port
from tests.integration.harness import Cluster, Stratus, wait_for

CONFIG = """\
Region: us-east-1
HeadNode:
  InstanceType: t2.micro
Scheduling:
  Scheduler: slurm
  SlurmSettings:
    ScaledownIdletime: 10
  SlurmQueues:
  - Name: q1
    ComputeResources:
    - Name: st
      InstanceType: c5.large
      MinCount: 1
      MaxCount: 1
  - Name: cloud
    ComputeResources:
    - Name: dy
      InstanceType: t2.micro
      MaxCount: 2
Stratus:
  Metrics: {metrics}
"""


def _scrape(url: str, token: str | None) -> tuple[int, str]:
    request = urllib.request.Request(url)
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def _value(samples: dict[Any, float], name: str, **labels: str) -> float:
    return samples[(name, tuple(sorted(labels.items())))]


@pytest.fixture
def cluster(stratus: Stratus, tmp_path: Path) -> Cluster:
    return stratus.create("mx", CONFIG.format(metrics="{}"), tmp_path)


def _endpoint(stratus: Stratus) -> tuple[str, str]:
    desc = stratus.run("describe-cluster", "-n", "mx").json
    return desc["metricsEndpoint"], Path(desc["metricsTokenFile"]).read_text().strip()


def test_the_slurm_exporters_metrics_with_the_clusters_values(
    stratus: Stratus, cluster: Cluster, workdir: Path
) -> None:
    c = cluster
    url, token = _endpoint(stratus)
    assert (
        oct(Path(stratus.run("describe-cluster", "-n", "mx").json["metricsTokenFile"]).stat().st_mode)[-3:]
        == "600"
    )
    wait_for(lambda: "idle" in c.slurm("sinfo", "-h", "-p", "q1", "-o", "%T").out, 60, what="static node up")
    running = c.sbatch("-p", "q1", "-c", "2", "--wrap", "sleep 60", cwd=workdir)
    c.sbatch("-p", "q1", "--array=0-4", "--wrap", "true", cwd=workdir)
    c.sbatch("-p", "q1", "-A", "physics", f"--dependency=afterok:{running}", "--wrap", "true", cwd=workdir)
    wait_for(lambda: c.squeue_states().get(str(running)) == "RUNNING", 60, what="job running")
    status, text = _scrape(url, token)
    assert status == 200
    s = _samples(text)
    # The static c5.large (2 CPUs) runs the 2-CPU job: allocated; the cloud nodes are powered down (idle~).
    assert _value(s, "slurm_nodes_alloc") == 1 and _value(s, "slurm_nodes_idle") == 2
    assert _value(s, "slurm_cpus_total") == 4 and _value(s, "slurm_cpus_alloc") == 2
    assert _value(s, "slurm_cpus_idle") == 2 and _value(s, "slurm_cpus_other") == 0
    assert _value(s, "slurm_queue_running") == 1
    assert _value(s, "slurm_queue_pending") == 5  # the array's tasks, each counted
    assert _value(s, "slurm_queue_pending_dependency") == 1
    assert _value(s, "slurm_partition_cpus_allocated", partition="q1") == 2
    assert _value(s, "slurm_partition_cpus_total", partition="cloud") == 2
    assert _value(s, "slurm_partition_jobs_pending", partition="q1") == 6
    user = os.environ.get("USER") or "root"
    assert _value(s, "slurm_user_jobs_running", user=user) == 1
    assert _value(s, "slurm_user_cpus_running", user=user) == 2
    assert _value(s, "slurm_account_jobs_pending", account="physics") == 1
    assert _value(s, "slurm_node_cpu_alloc", node="q1-st-st-1", status="alloc") == 2
    assert _value(s, "stratus_nodes", state="POWERED_DOWN", partition="cloud") == 2
    assert _value(s, "stratus_instances") == 1
    assert _value(s, "stratus_jobs_submitted_total") == 3
    assert _value(s, "stratus_compute_fleet_status", status="RUNNING") == 1
    assert _value(s, "stratus_cost_per_hour_dollars") > 0  # a c5.large at its catalog price
    assert _value(s, "slurm_scheduler_threads") == 1 and _value(s, "slurm_scheduler_queue_size") == 6
    assert _value(s, "slurm_scheduler_last_cycle") > 0 and _value(s, "slurm_scheduler_cycle_per_minute") >= 1
    # From the journal: the static node's power-up and boot, the running job's wait.
    assert _value(s, "stratus_node_power_ups_total", queue="q1", kind="paid") == 1
    assert _value(s, "stratus_node_boot_seconds_count", queue="q1") == 1
    assert _value(s, "stratus_job_queue_wait_seconds_count") >= 1
    assert _value(s, "stratus_job_queue_wait_seconds_bucket", le="60.0") >= 1
    # The head node's own API: at least the three sbatch calls, each timed.
    assert _value(s, "stratus_api_request_duration_seconds_count", api="slurm") >= 3
    assert _value(s, "stratus_api_request_duration_seconds_bucket", api="slurm", le="+Inf") >= 3
    # The exposition parses with Prometheus's own tool; its linter's only complaint is the
    # exporters' own naming (gauges called *_total), which dashboards rely on.
    if shutil.which("promtool"):
        checked = subprocess.run(
            ["promtool", "check", "metrics"], input=text, capture_output=True, text=True, timeout=60
        )
        complaints = [line for line in (checked.stdout + checked.stderr).splitlines() if line]
        assert checked.returncode in (0, 3), complaints
        assert all('non-counter metrics should not have "_total" suffix' in line for line in complaints)


def test_scrapes_need_the_token_unless_the_endpoint_is_open(
    stratus: Stratus, cluster: Cluster, tmp_path: Path
) -> None:
    url, token = _endpoint(stratus)
    for bad in (None, "", "wrong", token + "x"):
        status, text = _scrape(url, bad)
        assert status == 401 and "slurm_" not in text and "Unauthorized" in text
    assert _scrape(url.replace("/metrics", "/other"), token)[0] == 404
    # Opened by the administrator (update-cluster restarts the head node onto it): no token.
    cfg = tmp_path / "open.yaml"
    cfg.write_text(CONFIG.format(metrics="{Open: true}"))
    r = stratus.run("update-cluster", "-n", "mx", "-c", str(cfg), "--wait")
    assert r.code == 0, r.out + r.err
    url2 = stratus.run("describe-cluster", "-n", "mx").json["metricsEndpoint"]
    assert url2 == url  # the port is kept across restarts
    status, text = wait_for(lambda: (a := _scrape(url, None))[0] == 200 and a, 30, what="open scrape")
    assert "slurm_cpus_total" in text


def test_a_real_prometheus_scrapes_the_head_node_through_a_restart(
    stratus: Stratus, cluster: Cluster, tmp_path: Path
) -> None:
    prometheus = shutil.which("prometheus")
    if prometheus is None:
        pytest.skip("Debian's prometheus is not installed")
    url, _token = _endpoint(stratus)
    parts = urllib.parse.urlsplit(url)
    token_file = stratus.run("describe-cluster", "-n", "mx").json["metricsTokenFile"]
    conf = tmp_path / "prometheus.yml"
    conf.write_text(
        "global:\n  scrape_interval: 1s\n"
        "scrape_configs:\n- job_name: stratus\n"
        f"  authorization:\n    credentials_file: {token_file}\n"
        f"  static_configs:\n  - targets: ['{parts.netloc}']\n"
    )
    port = free_port()
    proc = subprocess.Popen(
        [prometheus, f"--config.file={conf}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
         f"--web.listen-address=127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:

        def query(q: str) -> list[Any]:
            api = f"http://127.0.0.1:{port}/api/v1/query?" + urllib.parse.urlencode({"query": q})
            try:
                with urllib.request.urlopen(api, timeout=5) as answer:
                    import json

                    return list(json.loads(answer.read())["data"]["result"])
            except OSError:
                return []

        got = wait_for(lambda: query("slurm_cpus_total"), 60, interval=0.5, what="Prometheus has the metric")
        assert got[0]["value"][1] == "4"
        # The head node killed: scrapes fail (up == 0), nothing hangs; restarted, they succeed again.
        pid = cluster.controller_pid()
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        wait_for(lambda: (r := query('up{job="stratus"}')) and r[0]["value"][1] == "0", 60, interval=0.5,
                 what="scrape failing")  # fmt: skip
        assert stratus.run("start-head-node", "-n", "mx").code == 0
        since = time.time()
        wait_for(
            lambda: (
                (r := query('up{job="stratus"}'))
                and r[0]["value"][1] == "1"
                and float(r[0]["value"][0]) > since
            ),
            60,
            interval=0.5,
            what="scrapes back",
        )
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_no_metrics_block_no_endpoint(stratus: Stratus, tmp_path: Path) -> None:
    stratus.create("nomx", CONFIG.replace("  Metrics: {metrics}\n", "  Burst: {MaxWait: 0}\n"), tmp_path)
    desc = stratus.run("describe-cluster", "-n", "nomx").json
    assert "metricsEndpoint" not in desc and "metricsTokenFile" not in desc


@pytest.fixture(autouse=True)
def _no_proxy() -> Iterator[None]:
    # urllib would send loopback scrapes through a proxy named in the environment.
    old = {k: os.environ.pop(k) for k in ("http_proxy", "HTTP_PROXY") if k in os.environ}
    yield
    os.environ.update(old)

"""The Batch front door's speed: stratus's endpoint against moto's Batch, in the same run.

Measures, through boto3 (the client users have), on a local cluster with one static node:

  a. SubmitJob: N submissions one call at a time (the node busy with a long job, so nothing
     starts): throughput and latency percentiles
  b. one SubmitJob of a 10,000-child array (``arrayProperties.size=10000``)
  c. DescribeJobs of 100 jobs (one call, the most it takes) and ListJobs paging through N jobs
  d. submit to RUNNING for a job on the idle node: a command on the node (``STRATUS_HOST``), and
     a container (podman) when the cluster's runtime is there (n=10 each)

The baseline is moto's server (``moto[server]``), run in the same run on the same machine, with
the same calls: moto answers the API from memory and runs no job (``use_docker`` off: jobs are
marked done), so only (a) to (c) compare; (d) has no moto column. AWS Batch's own submit to
RUNNING is typically tens of seconds. Each line prints stratus's figure, moto's, and how many
times faster stratus is (moto's time over stratus's).

    python benchmarks/bench_batch.py [--jobs N] [--quick] [--json out.json]

``--quick``: N=100 and a 1,000-child array, for development.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import boto3
import httpx
from botocore.config import Config

REPO = Path(__file__).resolve().parents[1]
REGION = "us-east-1"

CLUSTER = """\
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
      MaxCount: 1
Stratus:
  BatchApi:
    ContainerRuntime: {runtime}
"""

CONTAINERS_CONF = """\
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=4096:4096"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _client(url: str, key: str, secret: str) -> Any:
    return boto3.client(
        "batch",
        endpoint_url=url,
        region_name=REGION,
        aws_access_key_id=key,
        aws_secret_access_key=secret,
        config=Config(retries={"max_attempts": 1}, max_pool_connections=4),
    )


@contextmanager
def stratus_cluster(home: Path, runtime: str) -> Iterator[dict[str, str]]:
    """A stratus cluster serving Batch; its credentials. Deleted at the end (every process)."""
    env = {**os.environ, "STRATUS_HOME": str(home)}

    def cli(*argv: str) -> Any:
        done = subprocess.run(
            [sys.executable, "-m", "stratus.cli.main", *argv],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            cwd=REPO,
        )
        if done.returncode:
            raise RuntimeError(f"stratus {' '.join(argv)}: {done.stdout}{done.stderr}")
        return json.loads(done.stdout) if done.stdout.strip().startswith("{") else done.stdout

    cfg = home / "bench.yaml"
    home.mkdir(parents=True, exist_ok=True)
    cfg.write_text(CLUSTER.format(runtime=runtime))
    cli("create-cluster", "-n", "bench", "-c", str(cfg))
    try:
        deadline = time.monotonic() + 120
        while cli("describe-cluster", "-n", "bench").get("clusterStatus") != "CREATE_COMPLETE":
            if time.monotonic() > deadline:
                raise RuntimeError("the cluster did not come up")
            time.sleep(0.2)
        while True:
            try:
                yield cli("batch-credentials", "-n", "bench")
                break
            except RuntimeError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
    finally:
        cli("delete-cluster", "-n", "bench", "--wait")


@contextmanager
def moto_batch() -> Iterator[str]:
    """moto's server, its Batch answering from memory (no Docker); its URL."""
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("moto's server did not start") from None
                time.sleep(0.05)
        httpx.post(f"{url}/moto-api/config", json={"batch": {"use_docker": False}}).raise_for_status()
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def setup_moto(url: str) -> tuple[Any, str, str]:
    """A compute environment, job queue and job definition in moto; (client, queue, definition)."""
    iam = boto3.client(
        "iam", endpoint_url=url, region_name=REGION, aws_access_key_id="a", aws_secret_access_key="b"
    )
    role = iam.create_role(RoleName="batch", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    batch = _client(url, "a", "b")
    ce = batch.create_compute_environment(
        computeEnvironmentName="bench-ce", type="UNMANAGED", state="ENABLED", serviceRole=role
    )
    batch.create_job_queue(
        jobQueueName="bench-queue",
        state="ENABLED",
        priority=1,
        computeEnvironmentOrder=[{"order": 1, "computeEnvironment": ce["computeEnvironmentArn"]}],
    )
    batch.register_job_definition(
        jobDefinitionName="bench-def",
        type="container",
        containerProperties={"image": "busybox", "command": ["true"], "vcpus": 1, "memory": 128},
    )
    return batch, "bench-queue", "bench-def"


def setup_stratus(creds: dict[str, str]) -> tuple[Any, str, str]:
    batch = _client(creds["EndpointUrl"], creds["AccessKeyId"], creds["SecretAccessKey"])
    batch.create_job_queue(
        jobQueueName="bench-queue",
        priority=1,
        computeEnvironmentOrder=[{"order": 1, "computeEnvironment": "q1"}],
    )
    batch.register_job_definition(
        jobDefinitionName="bench-def",
        type="container",
        platformCapabilities=["STRATUS_HOST"],
        containerProperties={
            "command": ["true"],
            "resourceRequirements": [{"type": "VCPU", "value": "1"}, {"type": "MEMORY", "value": "128"}],
        },
    )
    # The node busy (both CPUs), so that submitted jobs wait rather than start.
    for i in range(2):
        batch.submit_job(
            jobName=f"hold{i}",
            jobQueue="bench-queue",
            jobDefinition="bench-def",
            containerOverrides={"command": ["sleep", "3600"]},
        )
    return batch, "bench-queue", "bench-def"


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def submit_load(batch: Any, queue: str, definition: str, n: int) -> tuple[dict[str, float], list[str]]:
    """N SubmitJob calls one after another: the figures, and the job ids."""
    latencies = []
    ids = []
    start = time.perf_counter()
    for i in range(n):
        t = time.perf_counter()
        ids.append(batch.submit_job(jobName=f"j{i}", jobQueue=queue, jobDefinition=definition)["jobId"])
        latencies.append(time.perf_counter() - t)
    total = time.perf_counter() - start
    figures = {
        "jobs_per_s": n / total,
        "p50_ms": percentile(latencies, 50) * 1000,
        "p95_ms": percentile(latencies, 95) * 1000,
        "p99_ms": percentile(latencies, 99) * 1000,
    }
    return figures, ids


def timed(fn: Callable[[], Any]) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def describe_and_list(batch: Any, queue: str, ids: list[str], status: str) -> dict[str, float]:
    describe = statistics.median(timed(lambda: batch.describe_jobs(jobs=ids[:100])) for _ in range(5))
    pages = batch.get_paginator("list_jobs")

    def list_all() -> None:
        for _page in pages.paginate(jobQueue=queue, jobStatus=status, PaginationConfig={"PageSize": 100}):
            pass

    return {"describe_100_s": describe, "list_all_s": timed(list_all)}


def to_running(batch: Any, queue: str, definition: str, n: int) -> float:
    """Median seconds from SubmitJob to RUNNING (or beyond) on an idle node."""
    samples = []
    for i in range(n):
        t = time.perf_counter()
        job = batch.submit_job(jobName=f"r{i}", jobQueue=queue, jobDefinition=definition)["jobId"]
        while batch.describe_jobs(jobs=[job])["jobs"][0]["status"] not in ("RUNNING", "SUCCEEDED", "FAILED"):
            time.sleep(0.01)
        samples.append(time.perf_counter() - t)
        deadline = time.monotonic() + 60
        while batch.describe_jobs(jobs=[job])["jobs"][0]["status"] not in ("SUCCEEDED", "FAILED"):
            if time.monotonic() > deadline:
                break
            time.sleep(0.05)
    return statistics.median(samples)


def container_runtime(d: Path) -> tuple[str, bool]:
    """podman with private storage in ``d`` and a busybox image, when podman is here."""
    podman = shutil.which("podman")
    busybox = next((p for p in ("/bin/busybox", "/usr/bin/busybox") if Path(p).exists()), None)
    if podman is None or busybox is None or os.geteuid() != 0:
        return "podman", False
    (d / "containers.conf").write_text(CONTAINERS_CONF)
    runtime = [
        "env",
        f"CONTAINERS_CONF={d / 'containers.conf'}",
        podman,
        "--storage-driver",
        "vfs",
        "--root",
        str(d / "root"),
        "--runroot",
        str(d / "rr"),
    ]
    rootfs = d / "rootfs"
    (rootfs / "bin").mkdir(parents=True)
    shutil.copy2(busybox, rootfs / "bin" / "busybox")
    (rootfs / "bin" / "true").symlink_to("busybox")
    tar = subprocess.run(["tar", "-C", str(rootfs), "-c", "."], capture_output=True, check=True)
    subprocess.run(
        [*runtime, "import", "-", "localhost/bench:1"], input=tar.stdout, capture_output=True, check=True
    )
    return " ".join(runtime), True


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json")
    args = parser.parse_args()
    n = 100 if args.quick else args.jobs
    array = 1000 if args.quick else 10_000
    results: dict[str, dict[str, float]] = {}
    # A short directory: podman refuses a runroot path of more than 50 characters.
    with tempfile.TemporaryDirectory(prefix="sbb-", dir="/tmp") as tmp:
        runtime, have_containers = container_runtime(Path(tmp))
        with stratus_cluster(Path(tmp) / "home", runtime) as creds:
            batch, queue, definition = setup_stratus(creds)
            s, ids = submit_load(batch, queue, definition, n)
            s["array_s"] = timed(
                lambda: batch.submit_job(
                    jobName="arr", jobQueue=queue, jobDefinition=definition, arrayProperties={"size": array}
                )
            )
            s.update(describe_and_list(batch, queue, ids, "RUNNABLE"))
            # The node idle again: its hold jobs and everything queued ended.
            for status in ("RUNNABLE", "RUNNING"):
                for page in batch.get_paginator("list_jobs").paginate(jobQueue=queue, jobStatus=status):
                    for j in page["jobSummaryList"]:
                        batch.terminate_job(jobId=j["jobId"], reason="benchmark")
            time.sleep(1)
            s["to_running_host_s"] = to_running(batch, queue, definition, 10)
            if have_containers:
                batch.register_job_definition(
                    jobDefinitionName="ctr",
                    type="container",
                    containerProperties={"image": "localhost/bench:1", "command": ["true"]},
                )
                s["to_running_container_s"] = to_running(batch, queue, "ctr", 10)
            results["stratus"] = s
        with moto_batch() as url:
            batch, queue, definition = setup_moto(url)
            m, ids = submit_load(batch, queue, definition, n)
            m["array_s"] = timed(
                lambda: batch.submit_job(
                    jobName="arr", jobQueue=queue, jobDefinition=definition, arrayProperties={"size": array}
                )
            )
            m.update(describe_and_list(batch, queue, ids, "SUCCEEDED"))
            results["moto"] = m
    s, m = results["stratus"], results["moto"]
    print(
        f"# bench_batch: {platform.node()}, {os.cpu_count()} CPUs, {time.strftime('%Y-%m-%d')}, N={n}, "
        f"array {array}"
    )
    print(f"{'figure':44} {'stratus':>12} {'moto':>12} {'ratio':>8}")

    def row(name: str, key: str, unit: str, higher_better: bool = False) -> None:
        a, b = s.get(key), m.get(key)
        ratio = "" if a is None or b is None else f"{(a / b if higher_better else b / a):.2f}x"
        fa = "n/a" if a is None else f"{a:.3f}{unit}"
        fb = "n/a" if b is None else f"{b:.3f}{unit}"
        print(f"{name:44} {fa:>12} {fb:>12} {ratio:>8}")

    row("a. SubmitJob throughput (jobs/s)", "jobs_per_s", "", higher_better=True)
    row("a. SubmitJob latency p50 (ms)", "p50_ms", "")
    row("a. SubmitJob latency p95 (ms)", "p95_ms", "")
    row("a. SubmitJob latency p99 (ms)", "p99_ms", "")
    row(f"b. SubmitJob of a {array}-child array (s)", "array_s", "")
    row("c. DescribeJobs, 100 jobs (s)", "describe_100_s", "")
    row(f"c. ListJobs through {n} jobs, 100 a page (s)", "list_all_s", "")
    row("d. submit to RUNNING, command on the node (s)", "to_running_host_s", "")
    row("d. submit to RUNNING, container job (s)", "to_running_container_s", "")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Local-cluster benchmark: stratus against real Slurm 22.05's figures on the same kind of machine.

Measures, on a local cluster (one static node of 2 vCPUs, like Slurm's baseline, plus a queue of
powered-down dynamic nodes):

  a. sbatch client latency (wall time of one ``sbatch --wrap=true``, n=20)
  b. 1000 jobs submitted one ``sbatch`` at a time (node busy, so nothing starts)
  c. one 1000-task array (``sbatch --array=1-1000 --wrap=true``)
  d. end to end, 1000 trivial jobs on 2 CPUs (first submit until every job is finished)
  d'. end to end, one 1000-task array of trivial tasks
  e. submit to RUNNING on an idle static node (n=10)
  f. a powered-down dynamic node: submit until the job runs (n=3)
  g. squeue latency with 10,000 jobs in the system (n=10); g'. the same with --json (n=5)
  h. sacct latency with 10,000 jobs in the accounting store (n=10)
  i. a dependency chain of 1,000 jobs (each afterok the previous), first submit to last end

Slurm's figures come from its BASELINE (default and throughput-tuned settings); each line says
how many times faster or slower stratus was. Also printed, measured in this run: the floor of
any Python command on this machine (``python -I -S -c pass``).

    python benchmarks/bench_local.py [--quick] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# Real Slurm 22.05.8 on a 2-core machine of this kind (reference/slurm/BASELINE.md).
SLURM = {
    "a_sbatch_ms": 9.5,
    "b_1000_submits_s": 5.0,  # 4.6-5.4 s (about 200 jobs/s)
    "c_array_1000_ms": 7.0,  # 6-8 ms
    "d_e2e_1000_s": 1332.0,  # default settings; 474 s tuned (batch_sched_delay=0)
    "d_e2e_1000_tuned_s": 474.0,
    "d2_e2e_array_tuned_s": 480.0,
    "e_submit_to_run_s": 1.96,  # default settings; 0.94 s tuned
    "e_submit_to_run_tuned_s": 0.94,
    "f_cloud_node_s": 20.0,  # CLOUD node with a 5 s simulated boot: R about 20 s after submit
}

CONFIG = """\
Region: local
Image:
  Os: alinux2
HeadNode:
  InstanceType: c5.large
Scheduling:
  Scheduler: slurm
  SlurmSettings:
    ScaledownIdletime: 0.05
  SlurmQueues:
  - Name: queue1
    ComputeResources:
    - Name: local
      InstanceType: c5.large
      MinCount: 1
      MaxCount: 1
  - Name: cloud
    ComputeResources:
    - Name: t2micro
      InstanceType: t2.micro
      MinCount: 0
      MaxCount: 4
"""


class Bench:
    def __init__(self, home: Path, work: Path) -> None:
        self.home = home
        self.work = work
        self.env = dict(os.environ, STRATUS_HOME=str(home), STRATUS_KILL_WAIT="2")
        self.bin = home / "clusters" / "bench" / "bin"
        self.env["PATH"] = str(self.bin) + os.pathsep + self.env["PATH"]

    def stratus(self, *args: str) -> str:
        p = subprocess.run(
            [sys.executable, "-m", "stratus.cli.main", *args], env=self.env, capture_output=True, text=True
        )
        if p.returncode != 0:
            raise SystemExit(f"stratus {' '.join(args)} failed: {p.stdout}{p.stderr}")
        return p.stdout

    def slurm(self, *args: str) -> str:
        p = subprocess.run(
            [str(self.bin / args[0]), *args[1:]], env=self.env, cwd=self.work, capture_output=True, text=True
        )
        if p.returncode != 0:
            raise SystemExit(f"{' '.join(args)} failed: {p.stderr}")
        return p.stdout

    def wait(self, cond, timeout: float = 3600.0, every: float = 0.02) -> None:  # type: ignore[no-untyped-def]
        deadline = time.monotonic() + timeout
        while not cond():
            if time.monotonic() > deadline:
                raise SystemExit("benchmark timed out")
            time.sleep(every)

    def queue_empty(self) -> bool:
        return self.slurm("squeue", "-h", "-o", "%i").strip() == ""


def submit_held(b: Bench, count: int) -> None:
    """Submit ``count`` held jobs straight through the head node's API (4 at a time)."""
    import http.client
    from concurrent.futures import ThreadPoolExecutor

    cluster = b.home / "clusters" / "bench"
    host, port, _ = (cluster / "endpoint").read_text().split()
    token = (cluster / "token").read_text().strip()
    body = json.dumps(
        {
            "argv": ["--hold", "-p", "queue1", "--wrap=true"],
            "cwd": str(b.work),
            "env": {"PATH": "/usr/bin"},
            "uid": os.getuid(),
            "gid": os.getgid(),
            "host": "bench",
        }
    )

    def one(_: int) -> None:
        conn = http.client.HTTPConnection(host, int(port), timeout=60)
        conn.request("POST", "/slurm/v1/sbatch", body, {"Authorization": f"Bearer {token}"})
        r = conn.getresponse()
        r.read()
        if r.status != 200 or r.headers.get("X-Exit-Code") != "0":
            raise SystemExit(f"submission failed: HTTP {r.status}")
        conn.close()

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(one, range(count)))


def timed(fn) -> float:  # type: ignore[no-untyped-def]
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="100 instead of 1000 jobs (a smoke run)")
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()
    n = 100 if args.quick else 1000

    tmp = Path(tempfile.mkdtemp(prefix="stratus-bench-"))
    b = Bench(tmp / "home", tmp / "work")
    b.work.mkdir(parents=True)
    (tmp / "cluster.yaml").write_text(CONFIG)
    results: dict[str, float] = {}
    py = os.path.realpath(sys.executable)
    results["python_floor_ms"] = 1000 * statistics.median(
        timed(lambda: subprocess.run([py, "-I", "-S", "-c", "pass"])) for _ in range(20)
    )
    try:
        b.stratus("create-cluster", "-n", "bench", "-c", str(tmp / "cluster.yaml"), "--wait")
        sb = str(b.bin / "sbatch")

        # e. submit to running on the idle static node: the job records when it started.
        lat = []
        for i in range(10):
            stamp = b.work / f"start-{i}"
            t0 = time.time()
            b.slurm("sbatch", "-p", "queue1", "--wrap", f"date +%s.%N > {stamp}")
            b.wait(lambda stamp=stamp: stamp.exists() and stamp.read_text().strip() != "")
            lat.append(float(stamp.read_text()) - t0)
            b.wait(b.queue_empty)
        results["e_submit_to_run_s"] = statistics.median(lat)

        # f. a powered-down dynamic node (the cloud queue powers down after 3 s idle).
        lat = []
        for i in range(3):
            b.wait(lambda: b.slurm("sinfo", "-h", "-p", "cloud", "-o", "%t").split() == ["idle~"], 120, 0.2)
            stamp = b.work / f"cloud-{i}"
            t0 = time.time()
            b.slurm("sbatch", "-p", "cloud", "--wrap", f"date +%s.%N > {stamp}")
            b.wait(lambda stamp=stamp: stamp.exists() and stamp.read_text().strip() != "", 60)
            lat.append(float(stamp.read_text()) - t0)
            b.wait(b.queue_empty)
        results["f_cloud_node_s"] = statistics.median(lat)

        # a. sbatch latency (jobs run; the figure is the client's wall time).
        lat = [
            timed(
                lambda: subprocess.run(
                    [sb, "-p", "queue1", "--wrap=true"], env=b.env, cwd=b.work, stdout=subprocess.DEVNULL
                )
            )
            for _ in range(20)
        ]
        results["a_sbatch_ms"] = 1000 * statistics.median(lat)
        b.wait(b.queue_empty)

        # b and c with the node busy, so nothing starts.
        blocker = b.slurm("sbatch", "--parsable", "-p", "queue1", "-c", "2", "--wrap", "sleep 3600").strip()
        b.wait(lambda: b.slurm("squeue", "-h", "-j", blocker, "-o", "%T").strip() == "RUNNING")
        t = timed(
            lambda: [
                subprocess.run(
                    [sb, "-p", "queue1", "--wrap=true"], env=b.env, cwd=b.work, stdout=subprocess.DEVNULL
                )
                for _ in range(n)
            ]
        )
        results["b_1000_submits_s"] = t * 1000 / n
        results["b_jobs_per_s"] = n / t
        results["c_array_1000_ms"] = 1000 * timed(
            lambda: b.slurm("sbatch", "-p", "queue1", "--array=1-1000", "--wrap=true")
        )
        b.slurm("scancel", "-p", "queue1")
        b.wait(b.queue_empty)

        # d. end to end: 1000 trivial jobs, one sbatch each, on 2 CPUs.
        def e2e_jobs() -> None:
            for _ in range(n):
                subprocess.run(
                    [sb, "-p", "queue1", "--wrap=true"], env=b.env, cwd=b.work, stdout=subprocess.DEVNULL
                )
            b.wait(b.queue_empty, every=0.25)

        results["d_e2e_1000_s"] = timed(e2e_jobs) * 1000 / n

        def e2e_array() -> None:
            b.slurm("sbatch", "-p", "queue1", f"--array=1-{n}", "--wrap=true")
            b.wait(b.queue_empty, every=0.25)

        results["d2_e2e_array_s"] = timed(e2e_array) * 1000 / n

        # i. a dependency chain: each job waits for the previous one to complete.
        def chain() -> None:
            prev = ""
            for _ in range(n):
                dep = [f"--dependency=afterok:{prev}"] if prev else []
                prev = b.slurm("sbatch", "--parsable", "-p", "queue1", *dep, "--wrap=true").strip()
            b.wait(b.queue_empty, every=0.25)

        results["i_chain_1000_s"] = timed(chain) * 1000 / n

        # g, h: 10,000 held jobs in the queue (submitted through the API to save time).
        many = 10 * n
        submit_held(b, many)
        lat = [timed(lambda: b.slurm("squeue")) for _ in range(10)]
        results["g_squeue_10k_ms"] = 1000 * statistics.median(lat)
        results["g_squeue_lines"] = float(b.slurm("squeue").count("\n") - 1)
        lat = [timed(lambda: b.slurm("squeue", "--json")) for _ in range(5)]
        results["g2_squeue_json_10k_ms"] = 1000 * statistics.median(lat)
        lat = [timed(lambda: b.slurm("sacct", "-X", "-S", "2000-01-01")) for _ in range(10)]
        results["h_sacct_10k_ms"] = 1000 * statistics.median(lat)
        b.slurm("scancel", "-p", "queue1")
    finally:
        subprocess.run(
            [sys.executable, "-m", "stratus.cli.main", "delete-cluster", "-n", "bench", "--wait"],
            env=b.env,
            capture_output=True,
        )
        shutil.rmtree(tmp, ignore_errors=True)

    rows = [
        ("a. sbatch latency", results["a_sbatch_ms"], "ms", SLURM["a_sbatch_ms"]),
        ("b. 1000 sbatch, one at a time", results["b_1000_submits_s"], "s", SLURM["b_1000_submits_s"]),
        ("c. 1000-task array submit", results["c_array_1000_ms"], "ms", SLURM["c_array_1000_ms"]),
        ("d. 1000 trivial jobs end to end", results["d_e2e_1000_s"], "s", SLURM["d_e2e_1000_s"]),
        ("d. same, vs Slurm tuned", results["d_e2e_1000_s"], "s", SLURM["d_e2e_1000_tuned_s"]),
        ("d'. 1000-task array end to end", results["d2_e2e_array_s"], "s", SLURM["d2_e2e_array_tuned_s"]),
        ("e. submit to RUNNING (static)", results["e_submit_to_run_s"], "s", SLURM["e_submit_to_run_s"]),
        ("e. same, vs Slurm tuned", results["e_submit_to_run_s"], "s", SLURM["e_submit_to_run_tuned_s"]),
        ("f. powered-down node to running", results["f_cloud_node_s"], "s", SLURM["f_cloud_node_s"]),
    ]
    alone = [
        ("g. squeue, 10,000 jobs queued", results["g_squeue_10k_ms"], "ms"),
        ("g'. squeue --json, same queue", results["g2_squeue_json_10k_ms"], "ms"),
        ("h. sacct -X, 10,000 jobs stored", results["h_sacct_10k_ms"], "ms"),
        ("i. 1000-job dependency chain", results["i_chain_1000_s"], "s"),
    ]
    print(
        f"\nstratus local benchmark, {time.strftime('%Y-%m-%d')}, {platform.node()}, "
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}"
        + (" (quick: 100 jobs)" if args.quick else "")
    )
    print(f"Python start-up floor (python -I -S -c pass), this run: {results['python_floor_ms']:.1f} ms")
    print(f"{'figure':36} {'stratus':>12} {'Slurm 22.05':>12}  ratio")
    for label, ours, unit, theirs in rows:
        ratio = theirs / ours
        verdict = f"{ratio:.1f}x faster" if ratio >= 1 else f"{1 / ratio:.1f}x slower"
        print(f"{label:36} {ours:>9.3f} {unit:2} {theirs:>9.3f} {unit:2}  {verdict}")
    print(f"   (b: {results['b_jobs_per_s']:.0f} jobs/s; Slurm about 200 jobs/s)")
    print("No Slurm baseline for these:")
    for label, ours, unit in alone:
        print(f"{label:36} {ours:>9.3f} {unit:2}")
    print(f"   (g: squeue printed {results['g_squeue_lines']:.0f} lines)")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Local-cluster benchmark: stratus against real Slurm 22.05, both measured in the same run.

Measures, on a local cluster (one static node of 2 vCPUs plus a queue of powered-down dynamic
nodes):

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

How the comparison is made. The same measurements, with the same n and the same client
commands, run twice in one run: first against a stratus cluster, then against a real Slurm
cluster of the same shape (``real_slurm.py``): its slurm.conf is rendered by stratus's own
renderer from the same cluster configuration, tuned as Slurm's baseline was tuned
(``SchedulerParameters=batch_sched_delay=0``), and it runs Slurm's own daemons and clients
(munged, slurmctld, slurmd, sbatch, squeue, ... from PATH) on free ports in a temporary
directory. Its powered-down nodes come up through a ResumeProgram that starts their slurmd.
Every daemon started is stopped by pid at the end, also on failure or Ctrl-C. Each line prints
the stratus figure, the Slurm figure and how many times faster or slower stratus was (Slurm's
time divided by stratus's). (h) needs Slurm's accounting store (slurmdbd and a database), which
this benchmark does not set up: its Slurm column says n/a.

Real Slurm needs slurmctld, slurmd, munged and the clients on PATH, and root. Without them (or
with ``--no-slurm``) the ratios are against the figures of Slurm's BASELINE, recorded earlier on
the same kind of machine, and labelled as recorded. Also printed, measured in this run: the floor
of any Python command on this machine (``python -I -S -c pass``).

    python benchmarks/bench_local.py [--quick] [--no-slurm] [--json out.json]

``--quick`` runs 100 instead of 1000 jobs (the 1000-job figures are scaled from them) and one
sample of (f): for development, not for figures.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import real_slurm

REPO = Path(__file__).resolve().parents[1]

#: When the recorded figures were taken, and where they are described.
SLURM_RECORDED = "a date before 2026-12-04 (Slurm 22.05.8; reference/slurm/BASELINE.md)"

# Real Slurm 22.05.8 on a 2-core machine of this kind, recorded (reference/slurm/BASELINE.md).
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

#: The static node of ``queue1`` in CONFIG.
STATIC_NODE = "queue1-st-local-1"


class Target(Protocol):
    """A cluster the measurements run against: its clients' directory, environment and
    working directory, a way to run a client, and a fast way to fill its queue."""

    bin: Path
    env: dict[str, str]
    work: Path

    def run(self, *args: str) -> str: ...

    def submit_held(self, count: int) -> None: ...


class Bench:
    """The stratus cluster under test."""

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

    def run(self, *args: str) -> str:
        p = subprocess.run(
            [str(self.bin / args[0]), *args[1:]], env=self.env, cwd=self.work, capture_output=True, text=True
        )
        if p.returncode != 0:
            raise SystemExit(f"{' '.join(args)} failed: {p.stderr}")
        return p.stdout

    def submit_held(self, count: int) -> None:
        """Submit ``count`` held jobs straight through the head node's API (4 at a time)."""
        import http.client
        from concurrent.futures import ThreadPoolExecutor

        cluster = self.home / "clusters" / "bench"
        host, port, _ = (cluster / "endpoint").read_text().split()
        token = (cluster / "token").read_text().strip()
        body = json.dumps(
            {
                "argv": ["--hold", "-p", "queue1", "--wrap=true"],
                "cwd": str(self.work),
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


def wait(cond: Callable[[], bool], timeout: float = 3600.0, every: float = 0.02) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise SystemExit("benchmark timed out")
        time.sleep(every)


def timed(fn: Callable[[], object]) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def written(path: Path) -> Callable[[], bool]:
    """Whether a job has written its start time to ``path``."""
    return lambda: path.exists() and path.read_text().strip() != ""


def measure(b: Target, n: int, cloud_samples: int, accounting: bool = True) -> dict[str, float]:
    """Figures (a) to (i) on ``b``; (h) only with ``accounting``."""
    results: dict[str, float] = {}
    sb = str(b.bin / "sbatch")

    def queue_empty() -> bool:
        return b.run("squeue", "-h", "-o", "%i").strip() == ""

    def sbatch_quiet() -> None:
        subprocess.run([sb, "-p", "queue1", "--wrap=true"], env=b.env, cwd=b.work, stdout=subprocess.DEVNULL)

    # e. submit to running on the idle static node: the job records when it started.
    lat = []
    for i in range(10):
        stamp = b.work / f"start-{i}"
        t0 = time.time()
        b.run("sbatch", "-p", "queue1", "--wrap", f"date +%s.%N > {stamp}")
        wait(written(stamp))
        lat.append(float(stamp.read_text()) - t0)
        wait(queue_empty)
    results["e_submit_to_run_s"] = statistics.median(lat)

    # f. a powered-down dynamic node (the cloud queue powers down after 3 s idle).
    lat = []
    for i in range(cloud_samples):
        wait(lambda: b.run("sinfo", "-h", "-p", "cloud", "-o", "%t").split() == ["idle~"], 300, 0.2)
        stamp = b.work / f"cloud-{i}"
        t0 = time.time()
        b.run("sbatch", "-p", "cloud", "--wrap", f"date +%s.%N > {stamp}")
        wait(written(stamp), 300)
        lat.append(float(stamp.read_text()) - t0)
        wait(queue_empty)
    results["f_cloud_node_s"] = statistics.median(lat)

    # a. sbatch latency (jobs run; the figure is the client's wall time).
    results["a_sbatch_ms"] = 1000 * statistics.median(timed(sbatch_quiet) for _ in range(20))
    wait(queue_empty)

    # b and c with the node busy, so nothing starts.
    blocker = b.run("sbatch", "--parsable", "-p", "queue1", "-c", "2", "--wrap", "sleep 3600").strip()
    wait(lambda: b.run("squeue", "-h", "-j", blocker, "-o", "%T").strip() == "RUNNING")

    def submits() -> None:
        for _ in range(n):
            sbatch_quiet()

    t = timed(submits)
    results["b_1000_submits_s"] = t * 1000 / n
    results["b_jobs_per_s"] = n / t
    results["c_array_1000_ms"] = 1000 * timed(
        lambda: b.run("sbatch", "-p", "queue1", "--array=1-1000", "--wrap=true")
    )
    b.run("scancel", "-p", "queue1")
    wait(queue_empty)

    # d. end to end: 1000 trivial jobs, one sbatch each, on 2 CPUs.
    def e2e_jobs() -> None:
        submits()
        wait(queue_empty, every=0.25)

    results["d_e2e_1000_s"] = timed(e2e_jobs) * 1000 / n

    def e2e_array() -> None:
        b.run("sbatch", "-p", "queue1", f"--array=1-{n}", "--wrap=true")
        wait(queue_empty, every=0.25)

    results["d2_e2e_array_s"] = timed(e2e_array) * 1000 / n

    # i. a dependency chain: each job waits for the previous one to complete.
    def chain() -> None:
        prev = ""
        for _ in range(n):
            dep = [f"--dependency=afterok:{prev}"] if prev else []
            prev = b.run("sbatch", "--parsable", "-p", "queue1", *dep, "--wrap=true").strip()
        wait(queue_empty, every=0.25)

    results["i_chain_1000_s"] = timed(chain) * 1000 / n

    # g, h: 10,000 held jobs in the queue.
    b.submit_held(10 * n)
    results["g_squeue_10k_ms"] = 1000 * statistics.median(timed(lambda: b.run("squeue")) for _ in range(10))
    results["g_squeue_lines"] = float(b.run("squeue").count("\n") - 1)
    results["g2_squeue_json_10k_ms"] = 1000 * statistics.median(
        timed(lambda: b.run("squeue", "--json")) for _ in range(5)
    )
    if accounting:
        results["h_sacct_10k_ms"] = 1000 * statistics.median(
            timed(lambda: b.run("sacct", "-X", "-S", "2000-01-01")) for _ in range(10)
        )
    b.run("scancel", "-p", "queue1")
    return results


def measure_stratus(n: int, cloud_samples: int) -> dict[str, float]:
    tmp = Path(tempfile.mkdtemp(prefix="stratus-bench-"))
    b = Bench(tmp / "home", tmp / "work")
    b.work.mkdir(parents=True)
    (tmp / "cluster.yaml").write_text(CONFIG)
    try:
        b.stratus("create-cluster", "-n", "bench", "-c", str(tmp / "cluster.yaml"), "--wait")
        return measure(b, n, cloud_samples)
    finally:
        subprocess.run(
            [sys.executable, "-m", "stratus.cli.main", "delete-cluster", "-n", "bench", "--wait"],
            env=b.env,
            capture_output=True,
        )
        shutil.rmtree(tmp, ignore_errors=True)


def measure_slurm(n: int, cloud_samples: int) -> tuple[dict[str, float], str]:
    """The figures on a real Slurm cluster of the same shape, and Slurm's version."""
    cluster = real_slurm.RealSlurm(CONFIG, STATIC_NODE)
    try:
        version = cluster.run("sbatch", "--version").strip()
        return measure(cluster, n, cloud_samples, accounting=False), version
    finally:
        cluster.stop()


def verdict(ours: float, theirs: float) -> str:
    ratio = theirs / ours
    return f"{ratio:.1f}x faster" if ratio >= 1 else f"{1 / ratio:.1f}x slower"


LABELS = {
    "a_sbatch_ms": ("a. sbatch latency", "ms"),
    "b_1000_submits_s": ("b. 1000 sbatch, one at a time", "s"),
    "c_array_1000_ms": ("c. 1000-task array submit", "ms"),
    "d_e2e_1000_s": ("d. 1000 trivial jobs end to end", "s"),
    "d2_e2e_array_s": ("d'. 1000-task array end to end", "s"),
    "e_submit_to_run_s": ("e. submit to RUNNING (static)", "s"),
    "f_cloud_node_s": ("f. powered-down node to running", "s"),
    "g_squeue_10k_ms": ("g. squeue, 10,000 jobs queued", "ms"),
    "g2_squeue_json_10k_ms": ("g'. squeue --json, same queue", "ms"),
    "h_sacct_10k_ms": ("h. sacct -X, 10,000 jobs stored", "ms"),
    "i_chain_1000_s": ("i. 1000-job dependency chain", "s"),
}


def line(label: str, ours: float, unit: str, theirs: float | None, note: str = "") -> None:
    """One row: the stratus figure, Slurm's (or n/a) and the verdict (or ``note``)."""
    slurm = f"{theirs:>9.3f} {unit:2}" if theirs is not None else f"{'n/a':>12}"
    print(f"{label:36} {ours:>9.3f} {unit:2} {slurm}  {note or verdict(ours, theirs or 0.0)}")


def print_measured(ours: dict[str, float], theirs: dict[str, float], version: str) -> None:
    print(
        f"Slurm: {version}, measured in this run on this machine (slurm.conf rendered by stratus, "
        "SchedulerParameters=batch_sched_delay=0)"
    )
    print(f"{'figure':36} {'stratus':>12} {'Slurm':>12}  ratio")
    for key, (label, unit) in LABELS.items():
        if key not in theirs:
            line(label, ours[key], unit, None, "(no Slurm accounting store: needs slurmdbd)")
            continue
        line(label, ours[key], unit, theirs[key])
    print(f"   (b: stratus {ours['b_jobs_per_s']:.0f} jobs/s, Slurm {theirs['b_jobs_per_s']:.0f} jobs/s)")
    print(
        f"   (g: squeue printed {ours['g_squeue_lines']:.0f} lines on stratus, "
        f"{theirs['g_squeue_lines']:.0f} on Slurm)"
    )


def print_recorded(ours: dict[str, float]) -> None:
    rows = [
        ("a_sbatch_ms", "a_sbatch_ms", ""),
        ("b_1000_submits_s", "b_1000_submits_s", ""),
        ("c_array_1000_ms", "c_array_1000_ms", ""),
        ("d_e2e_1000_s", "d_e2e_1000_s", ""),
        ("d_e2e_1000_s", "d_e2e_1000_tuned_s", "d. same, vs Slurm tuned"),
        ("d2_e2e_array_s", "d2_e2e_array_tuned_s", ""),
        ("e_submit_to_run_s", "e_submit_to_run_s", ""),
        ("e_submit_to_run_s", "e_submit_to_run_tuned_s", "e. same, vs Slurm tuned"),
        ("f_cloud_node_s", "f_cloud_node_s", ""),
    ]
    print(f"{'figure':36} {'stratus':>12} {'Slurm (rec.)':>12}  ratio")
    for key, slurm_key, label in rows:
        name, unit = LABELS[key]
        line(label or name, ours[key], unit, SLURM[slurm_key])
    print(f"   (b: {ours['b_jobs_per_s']:.0f} jobs/s; Slurm about 200 jobs/s, recorded)")
    print("No recorded Slurm figure for these:")
    for key in ("g_squeue_10k_ms", "g2_squeue_json_10k_ms", "h_sacct_10k_ms", "i_chain_1000_s"):
        name, unit = LABELS[key]
        print(f"{name:36} {ours[key]:>9.3f} {unit:2}")
    print(f"   (g: squeue printed {ours['g_squeue_lines']:.0f} lines)")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="100 instead of 1000 jobs (a smoke run)")
    parser.add_argument(
        "--no-slurm", action="store_true", help="do not measure real Slurm, even if installed"
    )
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()
    n = 100 if args.quick else 1000
    cloud_samples = 1 if args.quick else 3

    # SIGTERM unwinds like Ctrl-C, so every daemon started is stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    why_not = "skipped (--no-slurm)" if args.no_slurm else real_slurm.unavailable()

    py = os.path.realpath(sys.executable)
    floor_ms = 1000 * statistics.median(
        timed(lambda: subprocess.run([py, "-I", "-S", "-c", "pass"])) for _ in range(20)
    )
    results: dict[str, Any] = {"python_floor_ms": floor_ms}
    ours = measure_stratus(n, cloud_samples)
    results.update(ours)
    theirs: dict[str, float] = {}
    version = ""
    if why_not is None:
        theirs, version = measure_slurm(n, cloud_samples)
        results["slurm"] = {"source": "measured", "version": version, **theirs}
    else:
        results["slurm"] = {"source": "recorded", "recorded": SLURM_RECORDED, **SLURM}

    print(
        f"\nstratus local benchmark, {time.strftime('%Y-%m-%d')}, {platform.node()}, "
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}"
        + (" (quick: 100 jobs, scaled to 1000; 1 sample of f)" if args.quick else "")
    )
    print(f"Python start-up floor (python -I -S -c pass), this run: {floor_ms:.1f} ms")
    if why_not is None:
        print_measured(ours, theirs, version)
    else:
        print(
            f"real Slurm {why_not}: ratios are against BASELINE figures recorded on {SLURM_RECORDED}, "
            "not measured in this run"
        )
        print_recorded(ours)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

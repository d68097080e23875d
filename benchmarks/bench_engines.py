"""The two engines side by side: one cluster config, created once with stratus's engine and once
with ``Stratus.Engine: slurm``, measured in the same run on the same machine.

  1. power-up: a job submitted to a powered-down dynamic node, until it runs (the node is
     launched through the same provider either way; with Slurm, its ResumeProgram asks the head
     node). ParallelCluster's published median node start on EC2 (294 s) is printed as the
     outside anchor: it is what the same step costs with real instances.
  2. N trivial jobs end to end on the static 2-CPU node: the first ``sbatch`` until the queue is
     empty (one ``sbatch --wrap=true`` at a time, then wait).

Both clusters are driven through their users' commands: stratus's own ``sbatch``/``squeue`` for
``Engine: stratus`` and Debian's Slurm binaries (``SLURM_CONF`` of the cluster, as
``stratus ssh`` sets it) for ``Engine: slurm``. Slurm runs with ``batch_sched_delay=0``, the
tuning of Slurm's own baseline (its default waits up to 3 s between scheduling passes).
ParallelCluster's power-saving settings stay as it renders them (``power_save_min_interval=30``:
slurmctld calls its ResumeProgram at most every 30 s).

Needs Slurm, MUNGE and root for the Slurm side (it is skipped otherwise, and said so).

    python benchmarks/bench_engines.py [--quick] [--jobs N] [--json out.json]
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
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

#: ParallelCluster's published median time for a compute node to start (EC2), seconds.
PCLUSTER_NODE_START_S = 294.0

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
{custom}\
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
{stratus}\
"""

SLURM_CUSTOM = (
    "    CustomSlurmSettings:\n    - SchedulerParameters: batch_sched_delay=0\n    - MaxJobCount: 100000\n"
)


class Engine:
    """One cluster, created through the CLI, and its users' commands."""

    def __init__(self, kind: str, home: Path, work: Path) -> None:
        self.kind = kind
        self.name = f"bench-{kind}"
        self.work = work
        self.env = dict(os.environ, STRATUS_HOME=str(home), STRATUS_KILL_WAIT="2")
        self.root = home / "clusters" / self.name
        if kind == "slurm":
            self.env["SLURM_CONF"] = str(self.root / "slurm" / "slurm.conf")
        else:
            self.env["PATH"] = str(self.root / "bin") + os.pathsep + self.env["PATH"]

    def stratus(self, *args: str) -> str:
        p = subprocess.run(
            [sys.executable, "-m", "stratus.cli.main", *args], env=self.env, capture_output=True, text=True
        )
        if p.returncode != 0:
            raise SystemExit(f"stratus {' '.join(args)} failed: {p.stdout}{p.stderr}")
        return p.stdout

    def create(self, tmp: Path) -> None:
        slurm = self.kind == "slurm"
        text = CONFIG.format(
            custom=SLURM_CUSTOM if slurm else "", stratus="Stratus:\n  Engine: slurm\n" if slurm else ""
        )
        cfg = tmp / f"{self.name}.yaml"
        cfg.write_text(text)
        self.stratus("create-cluster", "-n", self.name, "-c", str(cfg))
        wait(lambda: '"CREATE_COMPLETE"' in self.stratus("describe-cluster", "-n", self.name), 120, 0.2)
        wait(lambda: "idle" in self.cmd("sinfo", "-h", "-p", "queue1", "-o", "%t"), 120, 0.2)

    def delete(self) -> None:
        subprocess.run(
            [sys.executable, "-m", "stratus.cli.main", "delete-cluster", "-n", self.name, "--wait"],
            env=self.env,
            capture_output=True,
            timeout=600,
        )

    def cmd(self, *argv: str) -> str:
        p = subprocess.run(list(argv), env=self.env, cwd=self.work, capture_output=True, text=True)
        if p.returncode != 0:
            raise SystemExit(f"{' '.join(argv)} failed ({self.kind}): {p.stderr}")
        return p.stdout

    def sbatch(self, *args: str) -> int:
        return int(self.cmd("sbatch", "--parsable", *args).strip().split(";")[0])

    def state(self, job: int) -> str:
        return self.cmd("squeue", "-h", "-j", str(job), "-o", "%T").strip()

    def queue_empty(self) -> bool:
        return self.cmd("squeue", "-h", "-o", "%i").strip() == ""


def wait(cond: Callable[[], bool], timeout: float, every: float) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise SystemExit("benchmark timed out")
        time.sleep(every)


def power_up(e: Engine) -> float:
    """Submit to the cloud queue while none of its nodes is up; seconds until the job runs.
    Then wait for the job to end and for its node to leave service again (ScaledownIdletime is
    3 s here; Slurm then powers it down over SuspendTimeout, and uses another of the queue's
    powered-down nodes meanwhile)."""
    start = time.monotonic()
    job = e.sbatch("-p", "cloud", "--wrap=sleep 1")
    # squeue -j shows a job that ended while it is in memory (MinJobAge): ended counts too.
    wait(lambda: e.state(job) not in ("PENDING", "CONFIGURING"), 600, 0.05)
    took = time.monotonic() - start
    wait(e.queue_empty, 600, 0.2)
    up = ("idle", "alloc", "mix", "comp")  # a suffix (~ % # !) means powered down or on its way
    wait(lambda: not set(e.cmd("sinfo", "-h", "-p", "cloud", "-o", "%t").split()) & set(up), 600, 0.5)
    return took


def jobs_end_to_end(e: Engine, count: int) -> float:
    start = time.monotonic()
    for _ in range(count):
        e.sbatch("-p", "queue1", "--wrap=true")
    wait(e.queue_empty, 7200, 0.1)
    return time.monotonic() - start


def slurm_unavailable() -> str | None:
    from stratus.slurmengine.head import PACKAGES, REQUIRED_PROGRAMS

    missing = [p for p in REQUIRED_PROGRAMS if shutil.which(p) is None]
    if missing:
        return f"not installed here ({', '.join(missing)} missing: apt-get install {PACKAGES})"
    if os.geteuid() != 0:
        return "needs root (slurmd starts jobs as their owners)"
    return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="100 jobs, one power-up sample")
    parser.add_argument("--jobs", type=int, default=None, help="jobs end to end (default 1000)")
    parser.add_argument("--json", help="also write the figures here")
    parser.add_argument("--engines", default="stratus,slurm", help="which engines (default stratus,slurm)")
    args = parser.parse_args()
    count = args.jobs or (100 if args.quick else 1000)
    samples = 1 if args.quick else 3
    print(
        f"stratus engines benchmark, {time.strftime('%Y-%m-%d')}, {platform.node() or 'host'}, "
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}"
    )
    wanted = {k.strip() for k in args.engines.split(",")}
    kinds = ["stratus"] if "stratus" in wanted else []
    missing = slurm_unavailable()
    if "slurm" in wanted and missing:
        print(f"Engine: slurm skipped: Slurm {missing}")
    elif "slurm" in wanted:
        kinds.append("slurm")
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-engines-", dir="/tmp") as tmp_name:
        tmp = Path(tmp_name)
        tmp.chmod(0o755)
        work = tmp / "work"
        work.mkdir(mode=0o755)
        for kind in kinds:
            e = Engine(kind, tmp / "home", work)
            try:
                e.create(tmp)
                ups = [power_up(e) for _ in range(samples)]
                e2e = jobs_end_to_end(e, count)
                results[kind] = {"power_up_s": statistics.median(ups), "jobs_e2e_s": e2e}
                print(f"{kind}: power-up samples {', '.join(f'{u:.2f} s' for u in ups)}")
            finally:
                e.delete()
    print(f"{'figure':44} {'Engine: stratus':>16} {'Engine: slurm':>14}")

    def row(label: str, key: str) -> None:
        if "stratus" not in results:
            print(f"{label:44} {'n/a':>16} {results.get('slurm', {}).get(key, float('nan')):12.2f} s")
            return
        ours = results["stratus"][key]
        theirs = results.get("slurm", {}).get(key)
        other = f"{theirs:12.2f} s" if theirs is not None else f"{'n/a':>14}"
        ratio = f"  slurm/stratus {theirs / ours:.1f}x" if theirs is not None and ours > 0 else ""
        print(f"{label:44} {ours:14.2f} s {other}{ratio}")

    row(f"powered-down node to running (median of {samples})", "power_up_s")
    row(f"{count} trivial jobs end to end", "jobs_e2e_s")
    print(f"ParallelCluster's published median node start on EC2: {PCLUSTER_NODE_START_S:.0f} s")
    if args.json:
        figures = {"jobs": count, "samples": samples, **results}
        Path(args.json).write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

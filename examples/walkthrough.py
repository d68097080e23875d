"""The walkthrough ("run your first HPC application"), on the local provider, printing each step.

Runs the commands of the ParallelCluster tutorial with ``stratus`` in place of ``pcluster``:
create the cluster from a ParallelCluster config, log in with ``stratus ssh``, submit a job and a
65-task array, watch ``squeue``/``sinfo`` while dynamic nodes power up, read the outputs, watch
idle nodes power down, and delete the cluster. Every command is a real process; every node is a
real agent process on this machine.

    python examples/walkthrough.py [--sleep SECONDS] [--keep] [--engine stratus|slurm]

``--sleep`` sets the ``sleep`` of ``hellojob.sh`` (the tutorial uses 30; the default here is 5 so
the demo takes about a minute). Work files go to ``.demo/work``; clusters live under
``STRATUS_HOME`` (default ``~/.stratus``). ``--engine slurm`` runs the same steps on real Slurm
(``Stratus.Engine: slurm``: Debian's slurm-wlm and munge, as root); Slurm's power saving is
slower (its resume program runs at most every 30 s, a node it powers down is usable again after
SuspendTimeout), so that run takes a few minutes.
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parents[1]
CLUSTER = "steyn"

CONFIG = """\
Region: eu-west-1
Image:
  Os: alinux2
HeadNode:
  InstanceType: t2.micro
  Networking:
    SubnetId: subnet-08c245b78a82c3924
  Ssh:
    KeyName: steyn-mbp
Scheduling:
  Scheduler: slurm
  SlurmSettings:
    ScaledownIdletime: {idle}
  SlurmQueues:
  - Name: queue1
    ComputeResources:
    - Name: t2micro
      Instances:
      - InstanceType: t2.micro
      MinCount: 0
      MaxCount: 10
    Networking:
      SubnetIds:
      - subnet-0b864625631add41e
      - subnet-0053337e5ceeea8f3
      - subnet-035761b17a12851ac
"""

BOLD = "\033[1m" if sys.stdout.isatty() else ""
DIM = "\033[2m" if sys.stdout.isatty() else ""
RESET = "\033[0m" if sys.stdout.isatty() else ""


def say(text: str) -> None:
    print(f"\n{BOLD}# {text}{RESET}", flush=True)


def run(
    cmd: list[str], cwd: Path, check: bool = True, quiet: bool = False
) -> subprocess.CompletedProcess[str]:
    shown = " ".join(shlex.quote(c) for c in cmd)
    if not quiet:
        print(f"{DIM}${RESET} {shown}", flush=True)
    p = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    if not quiet:
        sys.stdout.write(p.stdout)
        sys.stdout.write(p.stderr)
        sys.stdout.flush()
    if check and p.returncode != 0:
        raise SystemExit(f"command failed ({p.returncode}): {shown}")
    return p


def stratus(
    *args: str, cwd: Path, quiet: bool = False, check: bool = True
) -> subprocess.CompletedProcess[str]:
    return run([str(Path(sys.executable).parent / "stratus"), *args], cwd, check=check, quiet=quiet)


def ssh(cmd: str, cwd: Path, quiet: bool = False) -> subprocess.CompletedProcess[str]:
    """A command typed on the head node, as after ``stratus ssh``."""
    if not quiet:
        print(f"{DIM}[{CLUSTER}]${RESET} {cmd}", flush=True)
    p = stratus("ssh", "--cluster-name", CLUSTER, "--", cmd, cwd=cwd, quiet=True)
    if not quiet:
        sys.stdout.write(p.stdout)
        sys.stdout.write(p.stderr)
        sys.stdout.flush()
    return p


def wait(cond, timeout: float, every: float = 0.2) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise SystemExit("timed out")
        time.sleep(every)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sleep", type=int, default=int(os.environ.get("SLEEP", "5")))
    parser.add_argument(
        "--idle", type=float, default=0.25, help="ScaledownIdletime in minutes (default 0.25)"
    )
    parser.add_argument("--keep", action="store_true", help="do not delete the cluster at the end")
    parser.add_argument(
        "--engine",
        choices=("stratus", "slurm"),
        default=os.environ.get("ENGINE") or "stratus",
        help="the cluster's engine (Stratus.Engine; default stratus)",
    )
    args = parser.parse_args()
    slurm = args.engine == "slurm"
    # Real Slurm powers nodes up and down on its own timers (see the docstring).
    power_wait = 240.0 if slurm else 30.0
    power_down_wait = 420.0 if slurm else 120.0

    work = REPO / ".demo" / "work"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    existing = stratus("list-clusters", cwd=work, quiet=True)
    if any(c["clusterName"] == CLUSTER for c in json.loads(existing.stdout)["clusters"]):
        say(f"A cluster named {CLUSTER} exists from an earlier run; deleting it first")
        stratus("delete-cluster", "--cluster-name", CLUSTER, "--wait", cwd=work)

    say("1. The cluster configuration, as ParallelCluster users write it")
    config = CONFIG.format(idle=args.idle) + ("Stratus:\n  Engine: slurm\n" if slurm else "")
    (work / "cluster-config.yaml").write_text(config)
    run(["cat", "cluster-config.yaml"], work)

    # A run that fails (a wait that times out, Ctrl-C) deletes the cluster it made, head node and
    # nodes with it, unless asked to keep it.
    finished = [False]

    def clean_up() -> None:
        if not finished[0] and not args.keep:
            print(f"\nThe walkthrough stopped early; deleting cluster {CLUSTER}", file=sys.stderr)
            stratus("delete-cluster", "--cluster-name", CLUSTER, "--wait", cwd=work, quiet=True, check=False)

    atexit.register(clean_up)

    say("2. Create the cluster and watch it")
    stratus(
        "create-cluster",
        "--cluster-name",
        CLUSTER,
        "--cluster-configuration",
        "cluster-config.yaml",
        cwd=work,
    )
    stratus("list-clusters", cwd=work)

    def status() -> str:
        clusters = json.loads(stratus("list-clusters", cwd=work, quiet=True).stdout)["clusters"]
        return next((c["clusterStatus"] for c in clusters if c["clusterName"] == CLUSTER), "")

    wait(lambda: status() != "CREATE_IN_PROGRESS", 60)
    stratus("list-clusters", cwd=work)
    if status() != "CREATE_COMPLETE":
        stratus("describe-cluster", "--cluster-name", CLUSTER, cwd=work)
        return 1
    say(f"Log in to the head node (stratus ssh --cluster-name {CLUSTER}) and look at the nodes")
    ssh("sinfo", work)

    say("3. Submit a first job")
    (work / "hellojob.sh").write_text(
        f'#!/bin/bash\nsleep {args.sleep}\necho "Hello World from $(hostname)"\n'
    )
    run(["cat", "hellojob.sh"], work)
    ssh("sbatch hellojob.sh", work)
    time.sleep(0.3)
    ssh("squeue", work)
    ssh("sinfo", work)
    # Running, or already done (a node powers up in a fraction of a second on stratus's engine).
    wait(
        lambda: (work / "slurm-1.out").exists() or " R " in ssh("squeue", work, quiet=True).stdout,
        power_wait,
        0.1,
    )
    ssh("squeue", work)

    say("4. A job array: 65 tasks on at most 10 one-vCPU nodes")
    ssh("sbatch --array=0-64 hellojob.sh", work)
    time.sleep(1.0)
    ssh("squeue", work)
    ssh("sinfo", work)
    last = 0.0
    while ssh("squeue -h", work, quiet=True).stdout.strip():
        if time.monotonic() - last > max(args.sleep, 3):
            ssh("squeue", work)
            last = time.monotonic()
        time.sleep(0.5)
    ssh("squeue", work)
    ssh("ls slurm-*.out | wc -l", work)
    ssh("cat slurm-1.out", work)
    ssh("cat slurm-2_64.out", work)

    say(f"5. Idle dynamic nodes power down after ScaledownIdletime ({args.idle} min)")
    ssh("sinfo", work)
    wait(lambda: ssh("sinfo -h -o %t", work, quiet=True).stdout.split() == ["idle~"], power_down_wait, 1.0)
    ssh("sinfo", work)
    if args.keep:
        say(f"Keeping the cluster; delete it with: stratus delete-cluster --cluster-name {CLUSTER}")
        finished[0] = True
        return 0
    home = Path(os.environ.get("STRATUS_HOME") or Path.home() / ".stratus")
    head_pid = int((home / "clusters" / CLUSTER / "controller.lock").read_text().split()[0])
    stratus("delete-cluster", "--cluster-name", CLUSTER, cwd=work)
    stratus("list-clusters", cwd=work)
    wait(lambda: status() == "", 60)
    stratus("list-clusters", cwd=work)
    # The head node stops its nodes before it exits: once it is gone, nothing of the cluster runs.
    wait(lambda: not psutil.pid_exists(head_pid) or psutil.Process(head_pid).status() == "zombie", 60)
    finished[0] = True
    say("Done: the cluster is gone and none of its processes is left running.")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Scheduling policy in a live cluster: multifactor priority (sprio), fair share (sshare, kept
across a head-node crash), per-user limits and partition time limits, through the real clients."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import psutil

from tests.integration.harness import Cluster, Stratus, wait_for

CONFIG = """\
Region: us-east-1
Image:
  Os: alinux2
HeadNode:
  InstanceType: t2.micro
  Networking:
    SubnetId: subnet-12345678
Scheduling:
  Scheduler: slurm
  SlurmSettings:
    ScaledownIdletime: 10
    CustomSlurmSettings:
      - PriorityType: priority/multifactor
      - PriorityWeightAge: 1000
      - PriorityWeightFairshare: 10000
      - PriorityWeightJobSize: 100
      - PriorityCalcPeriod: 0
      - MaxJobsPerUser: 1
      - PartitionName: all
        Nodes: ALL
  SlurmQueues:
    - Name: q
      CustomSlurmSettings:
        MaxTime: 10
        DefaultTime: 5
      ComputeResources:
        - Name: c
          InstanceType: t2.micro
          MinCount: 2
          MaxCount: 2
      Networking:
        SubnetIds: [subnet-12345678]
"""


def _state(c: Cluster, job: int) -> tuple[str, str]:
    out = c.slurm("squeue", "-h", "-t", "all", "-j", str(job), "-o", "%T %r").out.split()
    return (out[0], out[1]) if out else ("", "")


def _user_row(c: Cluster) -> list[str]:
    r = c.slurm("sshare", "-P", "-n", "-o", "Account,User,RawUsage,FairShare")
    assert r.code == 0, r.err
    rows = [line.split("|") for line in r.out.splitlines()]
    return next(row for row in rows if row[1])


def test_priority_fair_share_and_limits(stratus: Stratus, tmp_path: Path, workdir: Path) -> None:
    c = stratus.create("sched", CONFIG, tmp_path)
    r = c.slurm("sprio")
    assert (r.code, r.out) == (
        0,
        "          JOBID PARTITION   PRIORITY       SITE        AGE  FAIRSHARE    JOBSIZE\n",
    )

    # MaxJobsPerUser=1: the second job waits although a node is free, with Slurm's reason.
    first = c.sbatch("-A", "Physics", "--wrap", "sleep 4", cwd=workdir)
    second = c.sbatch("-A", "physics", "--wrap", "sleep 1", cwd=workdir)
    wait_for(lambda: _state(c, first)[0] == "RUNNING", 30, what="the first job to run")
    wait_for(lambda: _state(c, second) == ("PENDING", "QOSMaxJobsPerUserLimit"), 30, what="the limit reason")

    # sprio lists the waiting job; its PRIORITY is what squeue shows (%Q).
    r = c.slurm("sprio", "-h", "-o", "%i %r %Y %F %J")
    assert r.code == 0, r.err
    job_id, partition, prio, fairshare, jobsize = r.out.split()
    assert (int(job_id), partition) == (second, "q")
    q = c.slurm("squeue", "-h", "-j", str(second), "-o", "%Q").out.strip()
    assert int(q) == int(prio) > 0
    assert int(fairshare) > 0 and int(jobsize) == 50  # 1 of 2 nodes and 1 of 2 CPUs: (0.5 + 0.5) / 2
    assert c.slurm("sprio", "-w").out.splitlines()[1].split() == ["Weights", "1", "1000", "10000", "100"]

    # The default time limit of the queue applies; a longer request than MaxTime is refused
    # (Slurm 22.05 with EnforcePartLimits=ALL, as ParallelCluster configures it).
    assert c.slurm("squeue", "-h", "-j", str(second), "-o", "%l").out.strip() == "5:00"
    wait_for(lambda: _state(c, second)[0] == "COMPLETED", 60, what="the second job to finish")
    r = c.slurm("sbatch", "-t", "20", "--wrap", "true", cwd=workdir)
    assert (r.code, r.err) == (
        1,
        "sbatch: error: Batch job submission failed: "
        "Requested time limit is invalid (missing or exceeds some limit)\n",
    )

    # Fair share: the account (lower-cased, as Slurm does) has charged usage.
    account, user, usage, factor = _user_row(c)
    assert account == "  physics" and user == os.environ.get("USER", user)
    assert int(usage) >= 4 and 0 < float(factor) < 1

    # Usage survives a SIGKILL of the head node: it is rebuilt from the accounting records.
    ctrl = c.controller_pid()
    assert ctrl is not None
    os.kill(ctrl, signal.SIGKILL)
    wait_for(lambda: not psutil.pid_exists(ctrl) or psutil.Process(ctrl).status() == psutil.STATUS_ZOMBIE, 10)
    assert stratus.run("start-head-node", "-n", "sched").code == 0
    restored = _user_row(c)
    assert restored[:2] == [account, user]
    assert abs(int(restored[2]) - int(usage)) <= 1

    # The nodes of q are also in the partition "all"; -p all,q runs in the first that can.
    assert c.slurm("sinfo", "-h", "-o", "%P %D").out.split("\n")[:2] == ["q* 2", "all 2"]
    both = c.sbatch("-p", "all,q", "--wrap", "true", cwd=workdir)
    wait_for(lambda: _state(c, both)[0] == "COMPLETED", 30, what="the job in two partitions")
    assert c.slurm("squeue", "-h", "-t", "all", "-j", str(both), "-o", "%P").out.strip() == "all"

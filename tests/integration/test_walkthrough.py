"""The walkthrough scenario, step by step, as a user types it (hellojob sleeps 2 s, not 30)."""

from __future__ import annotations

import re
from pathlib import Path

from tests.integration.harness import WALKTHROUGH_CONFIG, Cluster, Stratus, processes_of, wait_for


def test_walkthrough(stratus: Stratus, tmp_path: Path, workdir: Path) -> None:
    cfg = workdir / "cluster-config.yaml"
    cfg.write_text(WALKTHROUGH_CONFIG.format(idle=0.05, min_count=0, max_count=10))
    r = stratus.run("create-cluster", "--cluster-name", "steyn", "--cluster-configuration", str(cfg))
    assert r.code == 0 and r.json["cluster"]["clusterStatus"] == "CREATE_IN_PROGRESS"
    wait_for(lambda: stratus.run("list-clusters").json["clusters"][0]["clusterStatus"] == "CREATE_COMPLETE")
    c = Cluster(stratus, "steyn", stratus.cluster_dir("steyn"))

    # stratus ssh --cluster-name steyn -- CMD runs CMD on the head node with the Slurm commands.
    def ssh(cmd: str) -> str:
        r = stratus.run("ssh", "--cluster-name", "steyn", "--", f"cd {workdir} && {cmd}")
        assert r.code == 0, r.err
        return r.out

    assert ssh("sinfo") == (
        "PARTITION AVAIL  TIMELIMIT  NODES  STATE NODELIST\n"
        "queue1*      up   infinite     10  idle~ queue1-dy-t2micro-[1-10]\n"
    )
    (workdir / "hellojob.sh").write_text('#!/bin/bash\nsleep 2\necho "Hello World from $(hostname)"\n')
    assert ssh("sbatch hellojob.sh") == "Submitted batch job 1\n"
    out = ssh("squeue")
    assert re.search(
        r"^\s+1\s+queue1 hellojob\s+\S+\s+(CF|R)\s+\d:\d\d\s+1 queue1-dy-t2micro-1$", out, re.M
    ), out
    wait_for(lambda: (workdir / "slurm-1.out").exists() and (workdir / "slurm-1.out").read_text(), 30)
    assert (workdir / "slurm-1.out").read_text().startswith("Hello World from ")

    assert ssh("sbatch --array=0-64 hellojob.sh") == "Submitted batch job 2\n"

    # At most 10 tasks run at once (10 one-vCPU nodes); the rest wait as one line with (Resources).
    def busy() -> str | None:
        out = ssh("squeue")
        running = re.findall(r"^\s+2_\d+\s+queue1.* R ", out, re.M)
        return (
            out
            if len(running) == 10 and re.search(r"2_\[\d+-64\]\s+queue1.* PD .*\(Resources\)", out)
            else None
        )

    out = wait_for(busy, 30, what="10 running tasks and the rest pending")
    assert len(out.splitlines()) == 1 + 1 + 10 + (1 if re.search(r"^\s+1\s", out, re.M) else 0)
    sinfo = ssh("sinfo")
    assert re.search(r"queue1\*\s+up\s+infinite\s+10\s+(alloc|mix)\S* queue1-dy-t2micro-\[1-10\]", sinfo), (
        sinfo
    )

    wait_for(lambda: ssh("squeue -h") == "", 120, interval=0.5, what="the array to finish")
    outputs = sorted(p.name for p in workdir.glob("slurm-2_*.out"))
    assert outputs == sorted(f"slurm-2_{i}.out" for i in range(65))
    assert all((workdir / n).read_text().startswith("Hello World from ") for n in outputs)

    # Idle dynamic nodes power down after ScaledownIdletime (3 s here) and show idle~ again.
    wait_for(lambda: ssh("sinfo -h -o '%t %D'").split() == ["idle~", "10"], 60, interval=0.5)
    agents = list(c.agent_pids().values())
    head = c.controller_pid()
    r = stratus.run("delete-cluster", "--cluster-name", "steyn")
    assert r.code == 0 and r.json["cluster"]["clusterStatus"] == "DELETE_IN_PROGRESS"
    wait_for(lambda: stratus.run("list-clusters").json == {"clusters": []}, 60)
    wait_for(lambda: not processes_of([p for p in [head, *agents] if p]), 30, what="no process left")

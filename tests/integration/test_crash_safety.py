"""Crash safety: SIGKILL the head node or an agent mid-run; no job is lost or run twice unseen."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import psutil

from tests.integration.harness import WALKTHROUGH_CONFIG, Cluster, Stratus, wait_for

CONFIG = WALKTHROUGH_CONFIG.format(idle=0.05, min_count=2, max_count=4)


def _all_done(c: Cluster, ids: list[str]) -> bool:
    states = c.squeue_states("-t", "all")
    return all(states.get(i) in ("COMPLETED", "FAILED", "CANCELLED", "TIMEOUT") for i in ids)


def test_head_node_sigkill_loses_nothing_and_runs_nothing_twice(
    stratus: Stratus, tmp_path: Path, workdir: Path
) -> None:
    c = stratus.create("crash", CONFIG, tmp_path)
    runs = workdir / "runs.log"
    long_job = c.sbatch(
        "--wrap",
        f"echo start $$ >> {workdir}/long.log; sleep 6; echo end $$ >> {workdir}/long.log",
        cwd=workdir,
    )
    arr = c.sbatch("--array=1-8", "--wrap", f"echo $SLURM_ARRAY_TASK_ID >> {runs}; sleep 1", cwd=workdir)
    wait_for(lambda: (workdir / "long.log").exists(), 30, what="the long job to start")
    ctrl = c.controller_pid()
    assert ctrl is not None
    agents = c.agent_pids()
    os.kill(ctrl, signal.SIGKILL)
    wait_for(lambda: not psutil.pid_exists(ctrl) or psutil.Process(ctrl).status() == psutil.STATUS_ZOMBIE, 10)

    # While the head node is down, Slurm commands fail clearly, and agents keep their jobs running.
    r = c.slurm("sbatch", "--wrap", "true", cwd=workdir)
    assert r.code == 1
    assert "Unable to contact slurm controller" in r.err and "start-head-node" in r.err
    assert all(psutil.pid_exists(p) for p in agents.values())
    time.sleep(1.5)

    r = stratus.run("start-head-node", "-n", "crash")
    assert r.code == 0, r.out + r.err
    assert r.json["headNode"]["state"] == "running"
    ids = [str(long_job)] + [f"{arr}_{i}" for i in range(1, 9)]
    wait_for(lambda: _all_done(c, ids), 90, interval=0.2, what="every job to finish")
    states = c.squeue_states("-t", "all")
    assert all(states[i] == "COMPLETED" for i in ids), states
    # Every array task ran exactly once; the long job ran once, in one process, across the crash.
    assert sorted(int(x) for x in runs.read_text().split()) == list(range(1, 9))
    lines = (workdir / "long.log").read_text().split("\n")
    starts = [ln for ln in lines if ln.startswith("start")]
    ends = [ln for ln in lines if ln.startswith("end")]
    assert len(starts) == 1 and len(ends) == 1 and starts[0].split()[1] == ends[0].split()[1]
    assert [t for t in c.journal("job", str(long_job)) if t[1] == "RUNNING"] == [
        ("PENDING", "RUNNING", "schedule", 0)
    ]


def test_job_id_is_durable_once_printed(stratus: Stratus, tmp_path: Path, workdir: Path) -> None:
    c = stratus.create("durable", CONFIG, tmp_path)
    ids = [str(c.sbatch("--hold", "--wrap", "true", cwd=workdir)) for _ in range(20)]
    ctrl = c.controller_pid()
    assert ctrl is not None
    os.kill(ctrl, signal.SIGKILL)
    wait_for(lambda: not psutil.pid_exists(ctrl) or psutil.Process(ctrl).status() == psutil.STATUS_ZOMBIE, 10)
    assert stratus.run("start-head-node", "-n", "durable").code == 0
    states = c.squeue_states()
    assert sorted(states) == sorted(ids) and set(states.values()) == {"PENDING"}


def test_agent_sigkill_requeues_explicitly(stratus: Stratus, tmp_path: Path, workdir: Path) -> None:
    c = stratus.create("agentkill", WALKTHROUGH_CONFIG.format(idle=0.05, min_count=0, max_count=2), tmp_path)
    marker = workdir / "marker"
    job = c.sbatch("--wrap", f"echo run $$ >> {marker}; sleep 4; echo done >> {marker}", cwd=workdir)
    wait_for(lambda: marker.exists(), 30, what="the job to start")
    node = c.slurm("squeue", "-h", "-o", "%N", "-j", str(job)).out.strip()
    agent = c.agent_pids()[node]
    first_pid = int(marker.read_text().split()[1])
    os.kill(agent, signal.SIGKILL)
    # The orphaned run is killed with its node, so it can never overlap the requeued run.
    wait_for(lambda: not psutil.pid_exists(first_pid), 15, what="the first run to be killed")
    wait_for(lambda: "done" in marker.read_text(), 60, interval=0.2, what="the requeued run to finish")
    lines = marker.read_text().splitlines()
    assert [ln.split()[0] for ln in lines] == ["run", "run", "done"]
    transitions = c.journal("job", str(job))
    assert ("RUNNING", "NODE_FAIL", "node_fail", 0) in transitions
    assert ("RUNNING", "PENDING", "requeue", 0) in transitions
    assert c.squeue_states("-t", "all")[str(job)] == "COMPLETED"
    # The failed node was replaced: it shows down or powered down, never stuck allocated.
    state = c.slurm("sinfo", "-h", "-N", "-n", node, "-o", "%t").out.strip()
    assert state in ("idle~", "down~", "idle%", "idle", "down*", "idle#", "alloc#"), state

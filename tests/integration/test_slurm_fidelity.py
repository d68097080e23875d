"""Slurm 22.05's behaviour end to end through the real commands: a requeued job's wait and its
restart count, the batch environment (SLURM_CONF, MAIL, TMPDIR, the array step), holds as
scontrol words them, memory per CPU in every listing, and sbatch's refusals."""

from __future__ import annotations

import os
import pwd
from pathlib import Path

from tests.integration.harness import WALKTHROUGH_CONFIG, Cluster, Stratus, wait_for


def _cluster(stratus: Stratus, tmp_path: Path, name: str) -> Cluster:
    return stratus.create(name, WALKTHROUGH_CONFIG.format(idle=0.05, min_count=2, max_count=3), tmp_path)


def _state(c: Cluster, job: int) -> str:
    """``%T|%r`` of a job (its reason may hold blanks)."""
    return c.slurm("squeue", "-h", "-t", "all", "-j", str(job), "-o", "%T|%r").out.strip()


def test_a_requeued_job_waits_then_runs_again_knowing_its_restarts(
    stratus: Stratus, tmp_path: Path, workdir: Path
) -> None:
    """Slurm 22.05: a requeued job waits (PENDING, reason BeginTime) before it runs again, and
    its later runs see SLURM_RESTART_COUNT; every batch job sees SLURM_CONF (a readable
    slurm.conf); ``--export=NONE`` gives the login environment's MAIL and slurmstepd's TMPDIR;
    SLURM_ARRAY_TASK_STEP is the step of ``--array``."""
    c = _cluster(stratus, tmp_path, "requeue")
    log = workdir / "runs"
    script = (
        'echo "restart=${SLURM_RESTART_COUNT:-none} mail=${MAIL:-none} tmp=${TMPDIR:-none} '
        f'conf=$SLURM_CONF" >> {log}; sleep 60'
    )
    job = c.sbatch("--export=NONE", "--wrap", script, cwd=workdir)
    wait_for(lambda: log.exists() and log.read_text().count("\n") == 1, 30, what="the first run")
    first = log.read_text().split()
    user = pwd.getpwuid(os.getuid()).pw_name
    assert first[0] == "restart=none" and first[1] == f"mail=/var/mail/{user}" and first[2] == "tmp=/tmp"
    conf = Path(first[3].removeprefix("conf="))
    assert conf == c.root / "slurm.conf" and "ClusterName=requeue\n" in conf.read_text()
    assert f"SLURM_CONF              = {conf}" in c.slurm("scontrol", "show", "config").out
    assert c.slurm("scontrol", "requeue", str(job)).code == 0
    wait_for(lambda: _state(c, job) == "PENDING|BeginTime", 30, what="the requeued job to wait")
    show = c.slurm("scontrol", "show", "job", str(job)).out
    assert "JobState=PENDING Reason=BeginTime " in show and "Restarts=1 " in show
    assert "AccrueTime=Unknown" in show
    wait_for(lambda: log.read_text().count("\n") == 2, 60, what="the second run")
    assert log.read_text().splitlines()[1].startswith("restart=1 ")
    assert c.slurm("scancel", str(job)).code == 0
    # The step of an array spec.
    arr = c.sbatch(
        "--array=1-5:2",
        "--wrap",
        f"echo $SLURM_ARRAY_TASK_STEP > {workdir}/step-$SLURM_ARRAY_TASK_ID",
        cwd=workdir,
    )
    wait_for(lambda: all((workdir / f"step-{i}").exists() for i in (1, 3, 5)), 60, what=f"array {arr}")
    assert {(workdir / f"step-{i}").read_text() for i in (1, 3, 5)} == {"2\n"}


def test_holds_requeues_and_refusals_are_worded_as_slurm(
    stratus: Stratus, tmp_path: Path, workdir: Path
) -> None:
    """Slurm 22.05: an administrator's ``hold`` is JobHeldAdmin (the cluster's owner is one),
    ``uhold`` JobHeldUser; a running job may be held and keeps running; ``requeuehold`` shows
    "job requeued in held state"; releasing a finished job says "Job has already finished";
    a job cancelled while its requeue completes never runs again; --mem-per-cpu shows in
    squeue (%m), scontrol (MinMemoryCPU) and sacct (ReqMem); and sbatch's refusals."""
    c = _cluster(stratus, tmp_path, "holds")
    held = c.sbatch("--hold", "--wrap", "true", cwd=workdir)
    assert _state(c, held) == "PENDING|JobHeldUser"
    show = c.slurm("scontrol", "show", "job", str(held)).out
    assert "EligibleTime=Unknown" in show and "AccrueTime=Unknown" in show
    assert c.slurm("scontrol", "hold", str(held)).code == 0
    assert _state(c, held) == "PENDING|JobHeldAdmin"
    assert c.slurm("scontrol", "uhold", str(held)).code == 0
    assert _state(c, held) == "PENDING|JobHeldUser"
    assert c.slurm("scancel", str(held)).code == 0
    r = c.slurm("scontrol", "release", str(held))
    assert (r.code, r.err) == (
        1,
        f"Job has already finished for job {held}\nslurm_suspend error: Job has already finished\n",
    )

    # A running job: held, it keeps running; requeued and held, it waits for a release.
    marker = workdir / "held-runs"
    busy = c.sbatch("--mem-per-cpu=100M", "--wrap", f"echo run >> {marker}; sleep 60", cwd=workdir)
    wait_for(lambda: marker.exists(), 30, what="the job to start")
    assert c.slurm("scontrol", "hold", str(busy)).code == 0
    assert _state(c, busy) == "RUNNING|JobHeldAdmin"
    assert c.slurm("squeue", "-h", "-j", str(busy), "-o", "%m").out == "100M\n"
    show = c.slurm("scontrol", "show", "job", str(busy)).out
    assert "MinMemoryCPU=100M" in show and "TRES=cpu=1,node=1,billing=1\n" in show  # CR_CPU: no mem
    r = c.slurm("sacct", "-n", "-X", "-P", "-j", str(busy), "--format=ReqMem")
    assert r.out == "100M\n", r
    assert c.slurm("scontrol", "requeuehold", str(busy)).code == 0
    wait_for(lambda: _state(c, busy) == "PENDING|job requeued in held state", 30, what="requeuehold")
    assert "Reason=job_requeued_in_held_state " in c.slurm("scontrol", "show", "job", str(busy)).out
    assert c.slurm("scontrol", "release", str(busy)).code == 0
    wait_for(lambda: marker.read_text().count("run") == 2, 60, what="the released job to run again")

    # Cancelled while its requeue completes: it ends CANCELLED and never runs again.
    trap = workdir / "trap-runs"
    slow = c.sbatch(
        "--wrap", f"trap 'sleep 5; exit 0' TERM; echo run >> {trap}; sleep 60 & wait", cwd=workdir
    )
    wait_for(lambda: trap.exists(), 30, what="the trapping job to start")
    assert c.slurm("scontrol", "requeue", str(slow)).code == 0
    wait_for(lambda: _state(c, slow).startswith("COMPLETING|"), 10, what="the requeue to stop the run")
    assert c.slurm("scancel", str(slow)).code == 0
    wait_for(lambda: _state(c, slow).startswith("CANCELLED|"), 30, what="the cancel to end the job")
    assert trap.read_text() == "run\n"
    assert c.slurm("scancel", str(busy)).code == 0

    # sbatch's refusals.
    r = c.slurm("sbatch", "-N", "5", "--wrap", "true", cwd=workdir)
    assert (r.code, r.err) == (
        1,
        "sbatch: error: Batch job submission failed: Node count specification invalid\n",
    )
    r = c.slurm("sbatch", "--mem=10", "--mem-per-cpu=10", "--wrap", "true", cwd=workdir)
    assert (r.code, r.err) == (
        1,
        "sbatch: fatal: --mem, --mem-per-cpu, and --mem-per-gpu are mutually exclusive.\n",
    )
    r = c.slurm("sbatch", "--begin=garbage", "--wrap", "true", cwd=workdir)
    assert (r.code, r.err) == (
        255,
        "Invalid time specification (pos=0): garbage\nsbatch: error: Invalid --begin specification\n",
    )
    r = c.slurm("sbatch", "--test-only", "-c", "99", "--wrap", "true", cwd=workdir)
    # More CPUs than the partition has in all: with EnforcePartLimits=ALL (ParallelCluster's),
    # Slurm 22.05's "More processors requested than permitted" (capture 33 shows it for sbatch).
    assert (r.code, r.err) == (1, "allocation failure: More processors requested than permitted\n")

"""Slurm in depth through the real clients: dependencies, holds, requeue, OOM, --wait, --test-only."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from tests.integration.harness import WALKTHROUGH_CONFIG, Cluster, Stratus, wait_for


def _cluster(stratus: Stratus, tmp_path: Path, name: str = "depth", min_count: int = 2) -> Cluster:
    return stratus.create(
        name, WALKTHROUGH_CONFIG.format(idle=0.05, min_count=min_count, max_count=3), tmp_path
    )


def _state(c: Cluster, job: int | str) -> tuple[str, str]:
    out = c.slurm("squeue", "-h", "-t", "all", "-j", str(job), "-o", "%T %r").out.split()
    return (out[0], out[1]) if out else ("", "")


def test_dependencies_end_to_end(stratus: Stratus, tmp_path: Path, workdir: Path) -> None:
    c = _cluster(stratus, tmp_path)
    parent = c.sbatch("--wrap", "sleep 2; exit 1", cwd=workdir)
    ok = c.sbatch(f"--dependency=afterok:{parent}", "--wrap", "echo ok", cwd=workdir)
    notok = c.sbatch(f"--dependency=afternotok:{parent}", "--wrap", "echo afternotok child ran", cwd=workdir)
    anyc = c.sbatch(f"--dependency=afterany:{parent}", "--wrap", "echo afterany child ran", cwd=workdir)
    killed = c.sbatch(f"--dependency=afterok:{parent}", "--kill-on-invalid-dep=yes", "--wrap", "true", cwd=workdir)
    assert _state(c, ok) == ("PENDING", "Dependency")
    wait_for(lambda: _state(c, ok) == ("PENDING", "DependencyNeverSatisfied"), 30)
    wait_for(lambda: _state(c, anyc)[0] == "COMPLETED" and _state(c, notok)[0] == "COMPLETED", 30)
    assert (workdir / f"slurm-{notok}.out").read_text() == "afternotok child ran\n"
    wait_for(lambda: _state(c, killed)[0] == "CANCELLED", 30)
    # A dependency on a job that never existed is refused; chains and singletons run in order.
    r = c.slurm("sbatch", "--dependency=afterok:999999", "--wrap=true", cwd=workdir)
    assert (r.code, r.err.strip()) == (
        1,
        "sbatch: error: Batch job submission failed: Job dependency problem",
    )
    log = workdir / "chain.log"
    first = c.sbatch("--wrap", f"sleep 1; echo 1 >> {log}", cwd=workdir)
    second = c.sbatch(f"--dependency=afterok:{first}", "--wrap", f"echo 2 >> {log}", cwd=workdir)
    c.sbatch("-J", "one", "-d", "singleton", "--wrap", f"sleep 1; echo s1 >> {log}", cwd=workdir)
    last = c.sbatch("-J", "one", "-d", "singleton", "--wrap", f"echo s2 >> {log}", cwd=workdir)
    wait_for(lambda: _state(c, second)[0] == "COMPLETED" and _state(c, last)[0] == "COMPLETED", 60)
    lines = log.read_text().split()
    assert lines.index("1") < lines.index("2") and lines.index("s1") < lines.index("s2")
    assert c.slurm("scancel", str(ok)).code == 0


def test_out_of_memory_wait_and_test_only(stratus: Stratus, tmp_path: Path, workdir: Path) -> None:
    c = _cluster(stratus, tmp_path, "oom")
    hog = f"{sys.executable} -c 'b = bytearray(300 * 1024 * 1024); import time; time.sleep(30)'"
    job = c.sbatch("--mem=50M", "--wrap", hog, cwd=workdir)
    wait_for(lambda: _state(c, job)[0] == "OUT_OF_MEMORY", 60, what="the job to be killed for memory")
    assert "oom-kill event" in (workdir / f"slurm-{job}.out").read_text()
    # sbatch --wait returns when the job ends, with its exit code.
    env = dict(c.stratus.env)
    t = time.monotonic()
    p = subprocess.run(
        [str(c.root / "bin" / "sbatch"), "--wait", "--wrap", "sleep 1; exit 3"],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert p.returncode == 3 and p.stdout.startswith("Submitted batch job ")
    assert time.monotonic() - t >= 1.0
    # --test-only says when and where, and submits nothing.
    before = set(c.squeue_states("-t", "all"))
    r = c.slurm("sbatch", "--test-only", "--wrap=true", cwd=workdir)
    assert r.code == 0 and r.out == ""
    assert r.err.startswith("sbatch: Job ") and " to start at " in r.err and "in partition queue1" in r.err
    assert set(c.squeue_states("-t", "all")) == before

"""Real Slurm client libraries, unchanged, against a stratus cluster: PSI/J and Parsl.

They find sbatch, squeue, sacct, scontrol, scancel and srun on PATH and parse their output the
way they do on a real Slurm cluster.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from tests.integration.harness import REPO, WALKTHROUGH_CONFIG, Cluster, Stratus


@pytest.fixture
def slurm_on_path(stratus: Stratus, tmp_path: Path) -> Iterator[Cluster]:
    c = stratus.create("clients", WALKTHROUGH_CONFIG.format(idle=0.05, min_count=1, max_count=3), tmp_path)
    saved = dict(os.environ)
    # The cluster's Slurm commands, and this Python's scripts (Parsl starts interchange.py).
    venv_bin = str(Path(sys.executable).parent)
    os.environ["PATH"] = os.pathsep.join([str(c.root / "bin"), venv_bin, os.environ.get("PATH", "")])
    os.environ["STRATUS_HOME"] = str(stratus.home)
    try:
        yield c
    finally:
        os.environ.clear()
        os.environ.update(saved)


def test_psij(slurm_on_path: Cluster, workdir: Path) -> None:
    psij = pytest.importorskip("psij")
    from psij.executors.batch.slurm import SlurmExecutorConfig

    config = SlurmExecutorConfig(work_directory=workdir / "psij", queue_polling_interval=1)
    ex = psij.JobExecutor.get_instance("slurm", config=config)

    out = workdir / "hello.out"
    hello = ["-c", "echo hello from $SLURM_JOB_ID"]
    ok = psij.Job(psij.JobSpec(executable="/bin/bash", arguments=hello, stdout_path=out, directory=workdir))
    bad = psij.Job(psij.JobSpec(executable="/bin/bash", arguments=["-c", "exit 3"], directory=workdir))
    long_ = psij.Job(psij.JobSpec(executable="/bin/sleep", arguments=["60"], directory=workdir))
    for job in (ok, bad, long_):
        ex.submit(job)
    assert ok.wait(timedelta(seconds=90)).state == psij.JobState.COMPLETED  # type: ignore[union-attr]
    assert out.read_text().startswith("hello from ")
    status = bad.wait(timedelta(seconds=90))
    assert status is not None and status.state == psij.JobState.FAILED and status.exit_code == 3
    long_.wait(timedelta(seconds=60), target_states=[psij.JobState.ACTIVE])
    long_.cancel()
    status = long_.wait(timedelta(seconds=60))
    assert status is not None and status.state == psij.JobState.CANCELED


def test_parsl_with_srun_launcher(slurm_on_path: Cluster, workdir: Path) -> None:
    parsl = pytest.importorskip("parsl")
    from parsl.config import Config
    from parsl.executors import HighThroughputExecutor
    from parsl.launchers import SrunLauncher
    from parsl.providers import SlurmProvider

    venv_bin = str(Path(sys.executable).parent)
    config = Config(
        executors=[
            HighThroughputExecutor(
                label="stratus",
                address="127.0.0.1",
                max_workers_per_node=1,
                provider=SlurmProvider(
                    partition="queue1",
                    nodes_per_block=1,
                    init_blocks=1,
                    max_blocks=1,
                    walltime="00:10:00",
                    launcher=SrunLauncher(),
                    # Workers import this test module to run its app, as they would a user's.
                    worker_init=f"export PATH={venv_bin}:$PATH PYTHONPATH={REPO}",
                    exclusive=False,
                    cmd_timeout=60,
                ),
            )
        ],
        run_dir=str(workdir / "parsl"),
        strategy="none",
    )

    @parsl.python_app
    def add(a: int, b: int) -> int:
        return a + b

    parsl.load(config)
    try:
        assert add(2, 3).result(timeout=180) == 5
    finally:
        parsl.dfk().cleanup()
        parsl.clear()


def test_open_ondemand_calls(slurm_on_path: Cluster, workdir: Path) -> None:
    """The command lines Open OnDemand's Slurm adapter sends, parsed the way it parses them."""
    import subprocess

    env = dict(os.environ, SBATCH_EXPORT="NONE")
    p = subprocess.run(
        ["sbatch", "--parsable", "-J", "ood", "-t", "5"],
        input="#!/bin/bash\nsleep 30\n", capture_output=True, text=True, env=env, cwd=workdir, timeout=60,
    )  # fmt: skip
    assert p.returncode == 0, p.stderr
    job = p.stdout.strip().split(";")[0]
    fields = ["%A", "%i", "%j", "%u", "%T", "%P", "%M", "%l", "%D", "%C", "%R", "%V", "%S", "%e"]
    out = subprocess.run(
        ["squeue", "--all", "--states=all", "--noconvert", "-o", "\x1f".join(fields), "-j", job],
        capture_output=True, text=True, timeout=60,
    ).stdout  # fmt: skip
    lines = out.splitlines()[1:]  # OnDemand drops the header line
    assert len(lines) == 1
    row = lines[0].split("\x1f")
    assert row[1] == job and row[2] == "ood" and row[4] in ("PENDING", "CONFIGURING", "RUNNING")
    assert subprocess.run(["scontrol", "hold", job], capture_output=True).returncode in (0, 1)
    assert subprocess.run(["scontrol", "release", job], capture_output=True).returncode in (0, 1)
    assert subprocess.run(["scancel", job], capture_output=True).returncode == 0

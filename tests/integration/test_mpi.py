"""MPI across a job's nodes, as under Slurm: Open MPI's mpirun finds the allocation in the job's
environment and starts its daemons on the other nodes through srun (``srun --ntasks-per-node=1
--kill-on-bad-exit --mpi=none --nodes=1 --nodelist=NODE --ntasks=1 orted ...``).

Needs Debian's Open MPI (``mpirun``) and mpi4py (CI installs both); and root, so that each local
node has its own host name, as MPI expects of distinct nodes. Skipped otherwise.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
from pathlib import Path

import pytest

from tests.integration.harness import WALKTHROUGH_CONFIG, Stratus, wait_for

pytestmark = pytest.mark.skipif(
    shutil.which("mpirun") is None or importlib.util.find_spec("mpi4py") is None or os.geteuid() != 0,
    reason="needs Open MPI's mpirun, mpi4py and root",
)


def test_mpirun_runs_ranks_on_every_node_of_a_job(stratus: Stratus, tmp_path: Path, workdir: Path) -> None:
    config = WALKTHROUGH_CONFIG.format(idle=60, min_count=2, max_count=2).replace(
        "- InstanceType: t2.micro", "- InstanceType: c5.large"
    )
    c = stratus.create("mpi", config, tmp_path)
    script = workdir / "hello.sh"
    script.write_text(
        "#!/bin/bash\n#SBATCH -N 2 -n 4\n"
        "export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1\n"  # the test runs as root
        f"mpirun -n 4 {sys.executable} -m mpi4py.bench helloworld\n"
    )
    job = c.sbatch("-o", "hello.out", "hello.sh", cwd=workdir)
    wait_for(
        lambda: c.squeue_states("-t", "all").get(str(job)) in ("COMPLETED", "FAILED"), 120, what="the MPI job"
    )
    out = (workdir / "hello.out").read_text()
    assert c.squeue_states("-t", "all")[str(job)] == "COMPLETED", out
    ranks = sorted(line for line in out.splitlines() if line.startswith("Hello, World!"))
    assert ranks == [
        "Hello, World! I am process 0 of 4 on queue1-st-t2micro-1.",
        "Hello, World! I am process 1 of 4 on queue1-st-t2micro-1.",
        "Hello, World! I am process 2 of 4 on queue1-st-t2micro-2.",
        "Hello, World! I am process 3 of 4 on queue1-st-t2micro-2.",
    ], out

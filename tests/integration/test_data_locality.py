"""Data locality: shared storage that only some providers have mounted keeps jobs whose working
directory lies there on those providers' nodes, and a node missing a mount it should have is
refused when its agent joins."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

from tests.integration.harness import Stratus, wait_for

CONFIG = """\
HeadNode:
  InstanceType: t2.micro
Scheduling:
  Scheduler: slurm
  SlurmSettings:
    ScaledownIdletime: 0.05
  SlurmQueues:
  - Name: q
    ComputeResources:
    - Name: c
      InstanceType: t3.micro
      MaxCount: 2
SharedStorage:
- Name: shm
  StorageType: Ebs
  MountDir: /dev/shm
- Name: labdata
  StorageType: Ebs
  MountDir: /labdata
- Name: gone
  StorageType: Ebs
  MountDir: {gone}
Stratus:
  Providers:
  - Name: lab
    Type: ssh
    Hosts: [lab-01]
  SharedStorage:
  - Name: shm
    Providers: [local]
  - Name: labdata
    Providers: [lab]
{more}"""

GONE = """\
  - Name: gone
    Providers: [local]
"""


@pytest.fixture
def shm_dir() -> object:
    if not os.path.ismount("/dev/shm"):
        pytest.skip("/dev/shm is not a mount point here")
    with tempfile.TemporaryDirectory(dir="/dev/shm") as d:
        yield Path(d)


def test_jobs_run_where_their_data_is_mounted(stratus: Stratus, tmp_path: Path, shm_dir: Path) -> None:
    c = stratus.create("near", CONFIG.format(gone="/stratus-not-mounted", more=""), tmp_path)
    # Nodes carry the storage their provider has mounted as a feature.
    features = c.slurm("sinfo", "-h", "-N", "-o", "%N %f").out.split()
    assert "dynamic,t3.micro,c,shm" in features, features
    job = c.sbatch("-o", str(shm_dir / "out"), "--wrap", "pwd", cwd=shm_dir)
    wait_for(lambda: c.squeue_states("-t", "all").get(str(job)) == "COMPLETED", 60, what="the job")
    assert (shm_dir / "out").read_text().strip() == str(shm_dir)

    # Data only the lab hosts have: no node of this queue can run the job, and sbatch says why.
    r = c.slurm("sbatch", "-D", "/labdata/run1", "--wrap", "true", cwd=tmp_path)
    assert r.code == 1
    assert "Batch job submission failed: Requested node configuration is not available" in r.err
    assert (
        "/labdata/run1 is on shared storage 'labdata' (/labdata), mounted only on the nodes of lab" in r.err
    )
    assert "sbatch: error: Traceback" not in r.err
    # -D relative to the submit directory, as sbatch takes it.
    r = c.slurm("sbatch", "-D", "labdata/run2", "--wrap", "true", cwd=Path("/"))
    assert r.code == 1 and "labdata/run2 is on shared storage 'labdata'" in r.err, r.err


def test_a_node_missing_a_mount_it_should_have_is_refused(
    stratus: Stratus, tmp_path: Path, shm_dir: Path
) -> None:
    gone = "/stratus-not-mounted"
    assert not os.path.ismount(gone)
    c = stratus.create("gone", CONFIG.format(gone=gone, more=GONE), tmp_path)
    job = c.sbatch("--wrap", "true", cwd=shm_dir)

    def refused() -> bool:
        out = c.slurm("sinfo", "-h", "-R", "-o", "%E").out
        return f"Mount missing: {gone} (SharedStorage gone)" in out

    wait_for(refused, 60, what="the node to be refused for its missing mount")
    assert c.squeue_states().get(str(job)) in ("PENDING", "CONFIGURING")
    r = stratus.run("delete-cluster", "-n", "gone", "--wait")
    assert r.code == 0, r.out + r.err

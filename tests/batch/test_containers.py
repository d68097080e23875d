"""Batch container jobs in a real container runtime: Debian's podman (rootful, runc), an image
built here from a static busybox (no registry is reached), driven by boto3.

The job runs in the container (not on the host), with its memory as the container's limit and
the ``AWS_BATCH_*`` environment; an image that cannot be had fails the job with
``CannotPullContainerError`` at once; a terminated job's container is stopped and removed; a
container killed for memory ends the job as AWS reports it (``OutOfMemoryError``), which
``evaluateOnExit`` rules match.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.batch.test_endpoint import _client, _finished, _job, _log
from tests.integration.harness import Cluster, Stratus, wait_for

PODMAN = shutil.which("podman")


def _static(path: str) -> bool:
    """Whether an executable needs no dynamic loader (it runs alone in an empty image)."""
    with open(path, "rb") as f:
        return b"ld-linux" not in f.read(65536)


BUSYBOX = next((p for p in ("/bin/busybox", "/usr/bin/busybox") if Path(p).exists() and _static(p)), None)

pytestmark = pytest.mark.skipif(
    PODMAN is None or shutil.which("runc") is None or BUSYBOX is None or os.geteuid() != 0,
    reason="needs root, podman, runc and a static busybox (apt-get install podman runc busybox-static)",
)

# What podman needs on these machines (cgroups v1, no CAP_SYS_RESOURCE): runc, cgroupfs, file
# events, explicit ulimits.
CONTAINERS_CONF = """\
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=4096:4096"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
"""

CONFIG = """\
Region: us-east-1
HeadNode:
  InstanceType: t2.micro
Scheduling:
  Scheduler: slurm
  SlurmQueues:
  - Name: q1
    ComputeResources:
    - Name: st
      InstanceType: c5.large
      MinCount: 1
      MaxCount: 1
Stratus:
  BatchApi:
    ContainerRuntime: {runtime}
"""

IMAGE = "localhost/stratus-bb:1"


@pytest.fixture
def runtime() -> Iterator[list[str]]:
    """podman with private storage (vfs: no mounts left behind) and an image of busybox. A short
    directory: podman refuses a runroot path of more than 50 characters."""
    d = Path(tempfile.mkdtemp(prefix="sbp-", dir="/tmp"))
    conf = d / "containers.conf"
    conf.write_text(CONTAINERS_CONF)
    argv = ["env", f"CONTAINERS_CONF={conf}", str(PODMAN), "--storage-driver", "vfs",
            "--root", str(d / "root"), "--runroot", str(d / "runroot")]  # fmt: skip
    rootfs = d / "rootfs"
    (rootfs / "bin").mkdir(parents=True)
    (rootfs / "tmp").mkdir()
    assert BUSYBOX is not None
    shutil.copy2(BUSYBOX, rootfs / "bin" / "busybox")
    for applet in ("sh", "echo", "cat", "sleep", "test", "id", "true", "tail"):
        (rootfs / "bin" / applet).symlink_to("busybox")
    archive = d / "rootfs.tar"
    with tarfile.open(archive, "w") as tar:
        tar.add(rootfs, arcname=".")
    made = subprocess.run([*argv, "import", str(archive), IMAGE], capture_output=True, text=True, timeout=120)
    assert made.returncode == 0, made.stderr
    yield argv
    left = subprocess.run([*argv, "ps", "-aq"], capture_output=True, text=True, timeout=60).stdout.split()
    if left:
        subprocess.run([*argv, "rm", "-f", *left], capture_output=True, timeout=120)
    shutil.rmtree(d, ignore_errors=True)
    assert not left, f"containers left behind: {left}"


@pytest.fixture
def batch(stratus: Stratus, runtime: list[str], tmp_path: Path) -> Iterator[tuple[Any, Cluster]]:
    c = stratus.create("ct", CONFIG.format(runtime=shlex.join(runtime)), tmp_path)
    r = stratus.run("batch-credentials", "-n", "ct")
    assert r.code == 0, r.out + r.err
    client = _client(r.json)
    client.create_job_queue(
        jobQueueName="cq", priority=1, computeEnvironmentOrder=[{"order": 1, "computeEnvironment": "q1"}]
    )
    yield client, c


def test_container_jobs_run_in_the_container_with_their_limits(
    batch: tuple[Any, Cluster], runtime: list[str]
) -> None:
    client, c = batch
    probe = (
        "test -e /usr/bin/python3 && echo host || echo container; "
        "cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || echo unknown; "
        "echo $AWS_BATCH_JOB_ID $GREETING"
    )
    client.register_job_definition(
        jobDefinitionName="bb",
        type="container",
        containerProperties={
            "image": IMAGE,
            "command": ["sh", "-c", probe],
            "environment": [{"name": "GREETING", "value": "hello from a container"}],
            "resourceRequirements": [{"type": "VCPU", "value": "1"}, {"type": "MEMORY", "value": "128"}],
        },
    )
    job = client.submit_job(jobName="inside", jobQueue="cq", jobDefinition="bb")
    done = _finished(client, job["jobId"], timeout=120)
    assert done["status"] == "SUCCEEDED", (done, _log(c, job["jobId"]))
    assert done["container"]["image"] == IMAGE
    where, limit, *rest = _log(c, job["jobId"]).splitlines()[0:3]
    assert where == "container"
    if limit != "unknown":  # cgroup v1 memory controller visible in the container
        assert int(limit) == 128 * 1024 * 1024
    assert rest == [f"{job['jobId']} hello from a container"]

    # An image that cannot be had fails the job at once, with the reason.
    client.register_job_definition(
        jobDefinitionName="missing",
        type="container",
        containerProperties={"image": "localhost/nosuch:1", "command": ["true"]},
    )
    missing = client.submit_job(jobName="nopull", jobQueue="cq", jobDefinition="missing")
    failed = _finished(client, missing["jobId"], timeout=120)
    assert failed["status"] == "FAILED"
    assert failed["statusReason"].startswith("CannotPullContainerError: localhost/nosuch:1"), failed

    # A terminated job's container is stopped and removed.
    client.register_job_definition(
        jobDefinitionName="long",
        type="container",
        containerProperties={"image": IMAGE, "command": ["sleep", "300"]},
    )
    long = client.submit_job(jobName="long", jobQueue="cq", jobDefinition="long")

    def containers() -> list[str]:
        out = subprocess.run([*runtime, "ps", "-aq"], capture_output=True, text=True, timeout=60).stdout
        return out.split()

    wait_for(lambda: _job(client, long["jobId"])["status"] == "RUNNING" and containers(), 120, interval=0.5)
    client.terminate_job(jobId=long["jobId"], reason="stop it")
    ended = _finished(client, long["jobId"], timeout=120)
    assert (ended["status"], ended["statusReason"]) == ("FAILED", "stop it")
    wait_for(lambda: not containers(), 60, interval=0.5, what="the container to be removed")


def test_a_container_killed_for_memory_fails_with_out_of_memory_error(batch: tuple[Any, Cluster]) -> None:
    client, c = batch
    oom = "OutOfMemoryError: Container killed due to memory usage"
    client.register_job_definition(
        jobDefinitionName="hog",
        type="container",
        containerProperties={
            "image": IMAGE,
            "command": ["tail", "/dev/zero"],  # one endless line: tail's buffer grows until killed
            "resourceRequirements": [{"type": "VCPU", "value": "1"}, {"type": "MEMORY", "value": "128"}],
        },
        # Two attempts, but an out-of-memory end is not retried: the rule matches its reason.
        retryStrategy={
            "attempts": 2,
            "evaluateOnExit": [{"onReason": "OutOfMemoryError*", "action": "EXIT"}],
        },
    )
    job = client.submit_job(jobName="hog", jobQueue="cq", jobDefinition="hog")
    done = _finished(client, job["jobId"], timeout=120)
    assert (done["status"], done["statusReason"]) == ("FAILED", oom), (done, _log(c, job["jobId"]))
    assert done["container"]["reason"] == oom and done["container"]["exitCode"] == 137
    assert oom in _log(c, job["jobId"])
    assert not (c.root / "batch" / "logs" / f"{job['jobId']}.2.log").exists()  # not retried

    # A container that exits by itself with the same memory limit is a plain failure.
    client.register_job_definition(
        jobDefinitionName="fails",
        type="container",
        containerProperties={
            "image": IMAGE,
            "command": ["sh", "-c", "exit 3"],
            "resourceRequirements": [{"type": "MEMORY", "value": "128"}],
        },
    )
    plain = _finished(client, client.submit_job(jobName="f", jobQueue="cq", jobDefinition="fails")["jobId"])
    assert plain["statusReason"] == "Essential container in task exited"
    assert plain["container"]["exitCode"] == 3
    assert "reason" not in plain["container"]


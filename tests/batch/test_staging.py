"""Batch jobs' data staging (``STRATUS_STAGE_IN``/``STRATUS_STAGE_OUT``) with a real S3 server.

The cluster names the object store (``Stratus.S3``: rclone's S3 server and a credentials file);
a job definition declares its inputs and outputs in its environment, with ``Ref::`` parameters;
boto3 submits; the node copies the data in before the command and out after it, in a working
directory of the job's own (mounted into a container job's container), and failures become the
job's ``statusReason``.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.batch import test_containers
from tests.batch.test_containers import IMAGE, runtime
from tests.batch.test_endpoint import _client, _finished, _log
from tests.integration.harness import Cluster, Stratus
from tests.s3_server import S3Server, s3_server

__all__ = ["runtime"]  # podman with an image of busybox (a fixture of the container tests)

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
  S3:
    EndpointUrl: {url}
    CredentialsFile: {creds}
"""


@pytest.fixture
def s3(tmp_path: Path) -> Iterator[S3Server]:
    with s3_server(tmp_path / "s3") as server:
        (server.root / "data" / "samples").mkdir(parents=True)
        (server.root / "data" / "samples" / "s1.txt").write_text("first sample\n")
        yield server


def _setup(stratus: Stratus, tmp_path: Path, s3: S3Server, runtime: str = "podman") -> tuple[Any, Cluster]:
    creds = s3.credentials_file(tmp_path / "s3-credentials")
    text = CONFIG.format(runtime=runtime, url=s3.url, creds=creds)
    c = stratus.create("stb", text, tmp_path)
    r = stratus.run("batch-credentials", "-n", "stb")
    assert r.code == 0, r.out + r.err
    batch = _client(r.json)
    batch.create_job_queue(
        jobQueueName="jq", priority=1, computeEnvironmentOrder=[{"order": 1, "computeEnvironment": "q1"}]
    )
    return batch, c


def _submit(batch: Any, definition: str, sample: str) -> str:
    return str(
        batch.submit_job(jobName="j", jobQueue="jq", jobDefinition=definition, parameters={"sample": sample})[
            "jobId"
        ]
    )


STAGING_ENV = [
    {"name": "STRATUS_STAGE_IN", "value": "in.txt=s3://data/samples/Ref::sample.txt"},
    {"name": "STRATUS_STAGE_OUT", "value": "out.txt=s3://data/results/Ref::sample.txt"},
]


def test_a_host_job_stages_its_parameters_input_in_and_its_output_out(
    stratus: Stratus, tmp_path: Path, s3: S3Server
) -> None:
    batch, c = _setup(stratus, tmp_path, s3)
    batch.register_job_definition(
        jobDefinitionName="upper",
        type="container",
        platformCapabilities=["STRATUS_HOST"],
        containerProperties={
            "command": ["sh", "-c", 'tr a-z A-Z < in.txt > out.txt; echo "pwd=$PWD s3=$AWS_ENDPOINT_URL_S3"'],
            "environment": STAGING_ENV,
            "resourceRequirements": [{"type": "VCPU", "value": "1"}, {"type": "MEMORY", "value": "256"}],
        },
    )
    job_id = _submit(batch, "upper", "s1")
    job = _finished(batch, job_id)
    assert job["status"] == "SUCCEEDED", job
    assert (s3.root / "data" / "results" / "s1.txt").read_text() == "FIRST SAMPLE\n"
    log = _log(c, job_id)
    assert f"s3={s3.url}" in log
    assert "stratus: staged in s3://data/samples/s1.txt -> in.txt (13 bytes)" in log
    # It worked in a directory of its own, gone once the job ended.
    workdir = Path(log.split("pwd=", 1)[1].split()[0])
    assert workdir.name == "work" and not workdir.exists()

    # A missing input: the command never runs, and the reason says staging failed.
    job_id = _submit(batch, "upper", "s9")
    job = _finished(batch, job_id)
    assert job["status"] == "FAILED" and job["statusReason"].startswith("DataStagingError: stage-in failed")
    assert job["container"]["exitCode"] == 121
    log = _log(c, job_id)
    assert "DataStagingError: stage-in of s3://data/samples/s9.txt: NoSuchKey" in log and "pwd=" not in log

    # An output the command did not write.
    job_id = batch.submit_job(
        jobName="o",
        jobQueue="jq",
        jobDefinition="upper",
        parameters={"sample": "s1"},
        containerOverrides={"command": ["true"]},
    )["jobId"]
    job = _finished(batch, job_id)
    assert job["status"] == "FAILED" and job["statusReason"].startswith("DataStagingError: stage-out failed")


def test_bad_staging_entries_are_refused_at_submit(stratus: Stratus, tmp_path: Path, s3: S3Server) -> None:
    batch, c = _setup(stratus, tmp_path, s3)
    batch.register_job_definition(
        jobDefinitionName="plain",
        type="container",
        platformCapabilities=["STRATUS_HOST"],
        containerProperties={"command": ["true"], "resourceRequirements": [
            {"type": "VCPU", "value": "1"}, {"type": "MEMORY", "value": "64"}]},
    )  # fmt: skip
    for name, value, words in (
        ("STRATUS_STAGE_IN", "in.txt", "STRATUS_STAGE_IN: 'in.txt': not PATH=s3://BUCKET/KEY"),
        ("STRATUS_STAGE_OUT", "s3://data/x", "a stage-out entry needs the local path first"),
        ("STRATUS_STAGE_IN", "x=s3://UPPER/x", "not an S3 bucket name"),
    ):
        with pytest.raises(ClientError) as exc:
            batch.submit_job(
                jobName="b",
                jobQueue="jq",
                jobDefinition="plain",
                containerOverrides={"environment": [{"name": name, "value": value}]},
            )
        assert exc.value.response["Error"]["Code"] == "ClientException"
        assert words in exc.value.response["Error"]["Message"]
    assert c.slurm("squeue", "-h").out == ""


_NO_CONTAINERS = test_containers.pytestmark.mark.args[0]


@pytest.mark.skipif(_NO_CONTAINERS, reason="needs root, podman, runc and a static busybox")
def test_a_container_job_sees_its_staged_data_in_its_working_directory(
    stratus: Stratus, tmp_path: Path, s3: S3Server, runtime: list[str]
) -> None:
    batch, c = _setup(stratus, tmp_path, s3, runtime=shlex.join(runtime))
    batch.register_job_definition(
        jobDefinitionName="boxed",
        type="container",
        containerProperties={
            "image": IMAGE,
            "command": ["sh", "-c", "busybox tr a-z A-Z < in.txt > out.txt; cat out.txt"],
            "environment": STAGING_ENV,
            "resourceRequirements": [{"type": "VCPU", "value": "1"}, {"type": "MEMORY", "value": "64"}],
        },
    )
    job_id = _submit(batch, "boxed", "s1")
    job = _finished(batch, job_id, timeout=120)
    assert job["status"] == "SUCCEEDED", (job, _log(c, job_id))
    assert (s3.root / "data" / "results" / "s1.txt").read_text() == "FIRST SAMPLE\n"
    assert "FIRST SAMPLE" in _log(c, job_id)
    # Paths outside the working directory would not be visible in the container: refused.
    with pytest.raises(ClientError, match="relative to its working directory"):
        batch.submit_job(
            jobName="abs",
            jobQueue="jq",
            jobDefinition="boxed",
            containerOverrides={
                "environment": [{"name": "STRATUS_STAGE_IN", "value": "/in.txt=s3://data/x"}]
            },
        )

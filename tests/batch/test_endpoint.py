"""The Batch endpoint of a live cluster, driven by boto3 as AWS users drive AWS Batch.

A cluster with ``Stratus.BatchApi`` serves the endpoint; ``stratus batch-credentials`` gives
the caller a key; boto3 signs with it. Job queues over the cluster's queues, job definitions
with revisions, jobs that run their command on the nodes (``STRATUS_HOST``) with the
``AWS_BATCH_*`` environment, arrays, dependencies, retries, termination, paging, and what is
refused (bad signatures, unknown queues, container images this cluster does not run).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.integration.harness import Cluster, Stratus, wait_for

CONFIG = """\
Region: us-east-1
HeadNode:
  InstanceType: t2.micro
Scheduling:
  Scheduler: slurm
  SlurmSettings:
    ScaledownIdletime: 10
  SlurmQueues:
  - Name: q1
    ComputeResources:
    - Name: st
      InstanceType: c5.large
      MinCount: 2
      MaxCount: 2
  - Name: cloud
    ComputeResources:
    - Name: dy
      InstanceType: t2.micro
      MaxCount: 2
Stratus:
  BatchApi: {}
"""

FINAL = ("SUCCEEDED", "FAILED")
GROUP = "/aws/batch/job"


def _client(creds: dict[str, str], secret: str | None = None, service: str = "batch") -> Any:
    return boto3.client(
        service,
        endpoint_url=creds["EndpointUrl"],
        region_name=creds["Region"],
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=secret or creds["SecretAccessKey"],
        config=Config(retries={"max_attempts": 1}),
    )


def _aws(creds: dict[str, str], *argv: str) -> Any:
    """The AWS CLI (``aws``, awscli from PyPI), with the key in its environment; its JSON."""
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", "/"),
        "AWS_ACCESS_KEY_ID": creds["AccessKeyId"],
        "AWS_SECRET_ACCESS_KEY": creds["SecretAccessKey"],
        "AWS_DEFAULT_REGION": creds["Region"],
        "AWS_CONFIG_FILE": "/dev/null",
        "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
    }
    aws = Path(sys.executable).parent / "aws"
    done = subprocess.run(
        [str(aws), *argv, "--endpoint-url", creds["EndpointUrl"], "--output", "json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(done.stdout)


def _job(batch: Any, job_id: str) -> dict[str, Any]:
    (job,) = batch.describe_jobs(jobs=[job_id])["jobs"]
    return dict(job)


def _finished(batch: Any, job_id: str, timeout: float = 60) -> dict[str, Any]:
    wait_for(lambda: _job(batch, job_id)["status"] in FINAL, timeout, interval=0.2, what=f"job {job_id}")
    return _job(batch, job_id)


def _log(c: Cluster, job_id: str, attempt: int = 1) -> str:
    return (c.root / "batch" / "logs" / f"{job_id.replace(':', '-')}.{attempt}.log").read_text()


@pytest.fixture
def cluster(stratus: Stratus, tmp_path: Path) -> Cluster:
    return stratus.create("bt", CONFIG, tmp_path)


@pytest.fixture
def creds(stratus: Stratus, cluster: Cluster) -> dict[str, str]:
    r = stratus.run("batch-credentials", "-n", "bt")
    assert r.code == 0, r.out + r.err
    return dict(r.json)


def test_boto3_runs_jobs_through_the_batch_endpoint(
    stratus: Stratus, cluster: Cluster, creds: dict[str, str]
) -> None:
    c = cluster
    assert creds["AccessKeyId"].startswith("AKIA") and creds["Region"] == "us-east-1"
    # The same key each time; describe-cluster shows the endpoint.
    assert stratus.run("batch-credentials", "-n", "bt").json == creds
    assert stratus.run("describe-cluster", "-n", "bt").json["batchEndpoint"] == creds["EndpointUrl"]
    batch = _client(creds)

    # The cluster's queues are its compute environments.
    envs = {
        e["computeEnvironmentName"]: e for e in batch.describe_compute_environments()["computeEnvironments"]
    }
    assert set(envs) == {"q1", "cloud"}
    assert envs["q1"]["status"] == "VALID" and envs["q1"]["computeResources"]["maxvCpus"] == 4
    with pytest.raises(ClientError) as refused:
        batch.create_compute_environment(computeEnvironmentName="x", type="UNMANAGED")
    assert refused.value.response["Error"]["Code"] == "ClientException"
    assert "stratus:provider" in refused.value.response["Error"]["Message"]

    # A job queue over the static queue; a job definition, twice (revision 2).
    made = batch.create_job_queue(
        jobQueueName="hq", priority=10, computeEnvironmentOrder=[{"order": 1, "computeEnvironment": "q1"}]
    )
    assert made["jobQueueArn"].endswith(":job-queue/hq")
    (queue,) = batch.describe_job_queues(jobQueues=["hq"])["jobQueues"]
    assert (queue["state"], queue["status"], queue["priority"]) == ("ENABLED", "VALID", 10)
    command = [
        "sh",
        "-c",
        "echo $AWS_BATCH_JOB_ID $AWS_BATCH_JOB_ATTEMPT $AWS_BATCH_JQ_NAME Ref::who $GREETING",
    ]
    definition = {
        "jobDefinitionName": "hello",
        "type": "container",
        "platformCapabilities": ["STRATUS_HOST"],
        "parameters": {"who": "world"},
        "containerProperties": {
            "command": command,
            "environment": [{"name": "GREETING", "value": "hi"}],
            "resourceRequirements": [{"type": "VCPU", "value": "1"}, {"type": "MEMORY", "value": "128"}],
        },
    }
    assert batch.register_job_definition(**definition)["revision"] == 1
    assert batch.register_job_definition(**definition)["revision"] == 2

    # A job: SUCCEEDED, its output with the AWS_BATCH_* environment and parameters substituted.
    job = batch.submit_job(jobName="first", jobQueue="hq", jobDefinition="hello", parameters={"who": "you"})
    detail = _finished(batch, job["jobId"])
    assert detail["status"] == "SUCCEEDED", detail
    assert detail["container"]["exitCode"] == 0 and detail["jobDefinition"].endswith(
        ":job-definition/hello:2"
    )
    assert detail["createdAt"] <= detail["startedAt"] <= detail["stoppedAt"]
    assert _log(c, job["jobId"]).split() == [job["jobId"], "1", "hq", "you", "hi"]
    # Its output as CloudWatch Logs shows it: boto3's logs client and the AWS CLI.
    logs = _client(creds, service="logs")
    stream = detail["container"]["logStreamName"]
    assert stream == f"hello/default/{job['jobId']}.1"
    events = logs.get_log_events(logGroupName=GROUP, logStreamName=stream, startFromHead=True)["events"]
    assert [e["message"] for e in events] == [f"{job['jobId']} 1 hq you hi"]
    streams = logs.describe_log_streams(logGroupName=GROUP, logStreamNamePrefix="hello/")["logStreams"]
    assert [st["logStreamName"] for st in streams] == [stream]
    found = logs.filter_log_events(logGroupName=GROUP, filterPattern='"hq you"')["events"]
    assert [(e["logStreamName"], e["message"]) for e in found] == [(stream, events[0]["message"])]
    with pytest.raises(logs.exceptions.ResourceNotFoundException):
        logs.get_log_events(logGroupName=GROUP, logStreamName="hello/default/nosuch.1")
    cli = _aws(creds, "batch", "describe-jobs", "--jobs", job["jobId"])
    assert cli["jobs"][0]["status"] == "SUCCEEDED"
    cli = _aws(creds, "logs", "get-log-events", "--log-group-name", GROUP, "--log-stream-name", stream)
    assert [e["message"] for e in cli["events"]] == [events[0]["message"]]

    # Slurm's view of the same cluster lists it too.
    assert "first" in c.slurm("sacct", "-n", "-o", "JobName%20").out
    shown = c.slurm("scontrol", "show", "job")
    assert shown.code == 0 and "JobName=first" in shown.out, shown.out + shown.err

    # An array of 3: every child SUCCEEDED, each with its index.
    array = batch.submit_job(
        jobName="arr",
        jobQueue="hq",
        jobDefinition="hello:1",
        arrayProperties={"size": 3},
        containerOverrides={"command": ["sh", "-c", "echo $AWS_BATCH_JOB_ARRAY_INDEX"]},
    )
    parent = _finished(batch, array["jobId"])
    assert parent["arrayProperties"]["size"] == 3
    assert parent["arrayProperties"]["statusSummary"]["SUCCEEDED"] == 3, parent
    children = batch.list_jobs(arrayJobId=array["jobId"], jobStatus="SUCCEEDED")["jobSummaryList"]
    assert sorted(ch["jobId"] for ch in children) == [f"{array['jobId']}:{i}" for i in range(3)]
    assert [_log(c, f"{array['jobId']}:{i}").strip() for i in range(3)] == ["0", "1", "2"]

    # A failing job fails its dependant; retries make two attempts.
    failing = batch.submit_job(
        jobName="fails",
        jobQueue="hq",
        jobDefinition="hello",
        containerOverrides={"command": ["sh", "-c", "echo try $AWS_BATCH_JOB_ATTEMPT; exit 3"]},
        retryStrategy={"attempts": 2},
    )
    child = batch.submit_job(
        jobName="after", jobQueue="hq", jobDefinition="hello", dependsOn=[{"jobId": failing["jobId"]}]
    )
    failed = _finished(batch, failing["jobId"])
    assert failed["status"] == "FAILED" and failed["container"]["exitCode"] == 3
    assert failed["statusReason"] == "Essential container in task exited"
    assert _log(c, failing["jobId"], 2).strip() == "try 2"
    dependant = _finished(batch, child["jobId"])
    assert (dependant["status"], dependant["statusReason"]) == ("FAILED", "Dependent Job failed")
    # evaluateOnExit: exit code 3 is final, whatever attempts are left.
    stops = batch.submit_job(
        jobName="stops",
        jobQueue="hq",
        jobDefinition="hello",
        containerOverrides={"command": ["sh", "-c", "exit 3"]},
        retryStrategy={"attempts": 3, "evaluateOnExit": [{"onExitCode": "3", "action": "exit"}]},
    )
    assert _finished(batch, stops["jobId"])["container"]["exitCode"] == 3
    assert (
        "Restarts=0" in c.slurm("scontrol", "show", "job", "-o").out.split("JobName=stops")[1].split("\n")[0]
    )

    # TerminateJob ends a running job with the reason given.
    long = batch.submit_job(
        jobName="long", jobQueue="hq", jobDefinition="hello", containerOverrides={"command": ["sleep", "300"]}
    )
    wait_for(lambda: _job(batch, long["jobId"])["status"] == "RUNNING", 60, interval=0.2, what="long running")
    running = batch.list_jobs(jobQueue="hq")["jobSummaryList"]  # RUNNING by default
    assert [j["jobId"] for j in running] == [long["jobId"]]
    batch.terminate_job(jobId=long["jobId"], reason="no longer needed")
    ended = _finished(batch, long["jobId"])
    assert (ended["status"], ended["statusReason"]) == ("FAILED", "no longer needed")

    # Paging with boto3's paginator: every finished job of the queue, two per page.
    pages = batch.get_paginator("list_jobs").paginate(
        jobQueue="hq", filters=[{"name": "JOB_NAME", "values": ["*"]}], PaginationConfig={"PageSize": 2}
    )
    names = [j["jobName"] for page in pages for j in page["jobSummaryList"]]
    assert sorted(names) == sorted(["first", "arr", "fails", "after", "stops", "long"])

    # Deleting a queue takes disabling it first.
    with pytest.raises(ClientError, match="disable it first"):
        batch.delete_job_queue(jobQueue="hq")
    batch.update_job_queue(jobQueue="hq", state="DISABLED")
    with pytest.raises(ClientError, match="DISABLED"):
        batch.submit_job(jobName="late", jobQueue="hq", jobDefinition="hello")
    batch.delete_job_queue(jobQueue="hq")
    assert batch.describe_job_queues()["jobQueues"] == []


def test_the_endpoint_refuses_what_aws_refuses(
    stratus: Stratus, cluster: Cluster, creds: dict[str, str]
) -> None:
    batch = _client(creds)
    # Signatures: a wrong secret, an unknown key.
    with pytest.raises(ClientError) as wrong:
        _client(creds, secret="not-the-secret").describe_job_queues()
    assert wrong.value.response["Error"]["Code"] == "SignatureDoesNotMatch"
    assert wrong.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    stranger = dict(creds, AccessKeyId="AKIAUNKNOWNKEY000000")
    with pytest.raises(ClientError) as unknown:
        _client(stranger).describe_job_queues()
    assert unknown.value.response["Error"]["Code"] == "UnrecognizedClientException"

    # Validation: the field is named; nothing is created.
    with pytest.raises(ClientError) as bad:
        batch.register_job_definition(
            jobDefinitionName="bad name", type="container", containerProperties={"image": "busybox"}
        )
    assert bad.value.response["Error"]["Code"] == "ClientException"
    assert "jobDefinitionName" in bad.value.response["Error"]["Message"]
    assert batch.describe_job_definitions()["jobDefinitions"] == []
    with pytest.raises(ClientError, match="job queue nowhere does not exist"):
        batch.submit_job(jobName="j", jobQueue="nowhere", jobDefinition="d")
    with pytest.raises(ClientError, match="compute environment nosuch does not exist"):
        batch.create_job_queue(
            jobQueueName="q",
            priority=1,
            computeEnvironmentOrder=[{"order": 1, "computeEnvironment": "nosuch"}],
        )
    assert batch.describe_job_queues()["jobQueues"] == []

    # A multi-node definition: its jobs cannot be arrays (tests/batch/test_multinode.py runs them).
    batch.create_job_queue(
        jobQueueName="q", priority=1, computeEnvironmentOrder=[{"order": 1, "computeEnvironment": "q1"}]
    )
    batch.register_job_definition(
        jobDefinitionName="img",
        type="multinode",
        nodeProperties={
            "numNodes": 2,
            "mainNode": 0,
            "nodeRangeProperties": [
                {"targetNodes": "0:1", "container": {"image": "busybox", "command": ["true"]}}
            ],
        },
    )
    with pytest.raises(ClientError, match="a multi-node parallel job cannot be an array job"):
        batch.submit_job(jobName="j", jobQueue="q", jobDefinition="img", arrayProperties={"size": 2})
    batch.register_job_definition(
        jobDefinitionName="host",
        type="container",
        platformCapabilities=["STRATUS_HOST"],
        containerProperties={"command": ["true"]},
    )
    with pytest.raises(ClientError, match=r"dependsOn\[0\]\.jobId: job nope does not exist"):
        batch.submit_job(jobName="j", jobQueue="q", jobDefinition="host", dependsOn=[{"jobId": "nope"}])
    with pytest.raises(ClientError, match=r"nextToken"):
        batch.list_jobs(jobQueue="q", nextToken="garbage")

    # Malformed bodies and unknown operations, sent by hand (signed).
    import botocore.auth
    import botocore.awsrequest
    import botocore.credentials
    import httpx

    def signed(path: str, body: bytes) -> httpx.Response:
        req = botocore.awsrequest.AWSRequest(method="POST", url=creds["EndpointUrl"] + path, data=body)
        req.headers["Content-Type"] = "application/json"
        keys = botocore.credentials.Credentials(creds["AccessKeyId"], creds["SecretAccessKey"])
        botocore.auth.SigV4Auth(keys, "batch", creds["Region"]).add_auth(req)
        return httpx.post(creds["EndpointUrl"] + path, content=body, headers=dict(req.headers.items()))

    r = signed("/v1/describejobqueues", b"{not json")
    assert r.status_code == 400 and r.headers["x-amzn-ErrorType"] == "ClientException"
    r = signed("/v1/nosuchoperation", b"{}")
    assert r.status_code == 404 and json.loads(r.content)["__type"] == "UnknownOperationException"
    r = httpx.post(creds["EndpointUrl"] + "/v1/describejobqueues", content=b"{}")
    assert r.status_code == 403 and r.headers["x-amzn-ErrorType"] == "MissingAuthenticationToken"
    # The endpoint still serves.
    assert batch.describe_job_queues()["jobQueues"][0]["jobQueueName"] == "q"

    # A head node killed and started again: the same endpoint, key, queues and definitions.
    head = cluster.controller_pid()
    assert head is not None
    os.kill(head, signal.SIGKILL)
    wait_for(lambda: cluster.controller_pid() is None, 20, what="the head node to die")
    assert stratus.run("start-head-node", "-n", "bt").code == 0
    wait_for(lambda: stratus.run("describe-cluster", "-n", "bt").json.get("batchEndpoint"), 30, interval=0.2)
    assert stratus.run("describe-cluster", "-n", "bt").json["batchEndpoint"] == creds["EndpointUrl"]
    assert [q["jobQueueName"] for q in batch.describe_job_queues()["jobQueues"]] == ["q"]
    assert {d["jobDefinitionName"] for d in batch.describe_job_definitions()["jobDefinitions"]} == {
        "img",
        "host",
    }

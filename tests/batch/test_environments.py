"""Compute environments through the Batch API: elastic node groups of a live cluster.

CreateComputeEnvironment adds a queue to the cluster's configuration (the head node restarts
onto it, CREATING then VALID), a job queue over it runs jobs on its dynamic nodes,
UpdateComputeEnvironment resizes it and disables it (new jobs wait, running ones finish, across
a head-node restart), DeleteComputeEnvironment takes it away again under AWS's rules; bad
requests change nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from stratus.batch.environments import OPTIMAL, node_counts, queue_entry, resolve_instance_types
from stratus.batch.shapes import BatchClientError
from tests.batch.test_endpoint import FINAL
from tests.integration.harness import Cluster, Stratus, wait_for

CONFIG = """\
Region: us-east-1
HeadNode:
  InstanceType: t2.micro
Scheduling:
  Scheduler: slurm
  SlurmSettings:
    ScaledownIdletime: 0.05
  SlurmQueues:
  - Name: q1
    ComputeResources:
    - Name: dy
      InstanceType: t2.micro
      MaxCount: 1
Stratus:
  BatchApi: {}
"""

CE = {
    "type": "MANAGED",
    "computeResources": {
        "type": "EC2",
        "minvCpus": 0,
        "maxvCpus": 1,
        "instanceTypes": ["t2.micro"],
        "subnets": ["subnet-0b864625631add41e"],
    },
}


def _batch(stratus: Stratus) -> Any:
    r = stratus.run("batch-credentials", "-n", "ce")
    assert r.code == 0, r.out + r.err
    creds = r.json
    # The head node restarts onto each change: a request meanwhile may find no one listening.
    return boto3.client(
        "batch",
        endpoint_url=creds["EndpointUrl"],
        region_name=creds["Region"],
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        config=Config(retries={"max_attempts": 10, "mode": "standard"}, connect_timeout=2, read_timeout=30),
    )


def _env(batch: Any, name: str) -> dict[str, Any] | None:
    try:
        found = batch.describe_compute_environments(computeEnvironments=[name])["computeEnvironments"]
    except BotoCoreError:  # the head node is restarting
        return None
    return dict(found[0]) if found else None


def _status(batch: Any, name: str, status: str, timeout: float = 90) -> dict[str, Any]:
    env: dict[str, Any] = wait_for(
        lambda: (e := _env(batch, name)) is not None and e["status"] == status and e,
        timeout,
        interval=0.3,
        what=f"{name} {status}",
    )
    return env


def _job_status(batch: Any, job_id: str) -> str:
    try:
        return str(batch.describe_jobs(jobs=[job_id])["jobs"][0]["status"])
    except BotoCoreError:
        return ""


def _refused(call: Any, **kwargs: Any) -> str:
    with pytest.raises(ClientError) as refused:
        call(**kwargs)
    assert refused.value.response["Error"]["Code"] == "ClientException"
    return str(refused.value.response["Error"]["Message"])


@pytest.fixture
def cluster(stratus: Stratus, tmp_path: Path) -> Cluster:
    return stratus.create("ce", CONFIG, tmp_path)


def test_instance_types_and_vcpus_map_to_compute_resources() -> None:
    assert resolve_instance_types(["optimal"]) == list(OPTIMAL)
    assert resolve_instance_types(["c5", "c5.large", "t2.micro"]) == ["c5.large", "t2.micro"]
    with pytest.raises(BatchClientError, match=r"instanceTypes\[1\]: x9.huge"):
        resolve_instance_types(["t2.micro", "x9.huge"])
    # maxvCpus bounds each type (at least one node); minvCpus is kept by the first types.
    assert node_counts(["c5.large", "t2.micro"], 3, 8) == [(2, 4), (0, 8)]
    assert node_counts(["c5.xlarge"], 0, 1) == [(0, 1)]
    entry = queue_entry("ce1", "SPOT", ["t2.micro"], 0, 2, {"SubnetIds": ["subnet-1"]})
    assert entry == {
        "Name": "ce1",
        "CapacityType": "SPOT",
        "ComputeResources": [{"Name": "t2-micro", "InstanceType": "t2.micro", "MinCount": 0, "MaxCount": 2}],
        "Networking": {"SubnetIds": ["subnet-1"]},
    }


def test_bad_compute_environments_are_refused_and_nothing_changes(stratus: Stratus, cluster: Cluster) -> None:
    batch = _batch(stratus)
    create = batch.create_compute_environment
    assert "computeEnvironmentName" in _refused(create, computeEnvironmentName="Bad_Name", **CE)
    fargate = {**CE, "computeResources": {"type": "FARGATE", "maxvCpus": 4, "subnets": ["s"]}}
    assert "computeResources.type: FARGATE" in _refused(create, computeEnvironmentName="f", **fargate)
    unknown = {**CE, "computeResources": {**CE["computeResources"], "instanceTypes": ["x9.huge"]}}
    assert "instanceTypes[0]: x9.huge" in _refused(create, computeEnvironmentName="u", **unknown)
    low = {**CE, "computeResources": {**CE["computeResources"], "minvCpus": 4, "maxvCpus": 2}}
    assert "maxvCpus" in _refused(create, computeEnvironmentName="m", **low)
    assert "Stratus.Providers" in _refused(create, computeEnvironmentName="um", type="UNMANAGED")
    assert "q1" in _refused(create, computeEnvironmentName="q1", **CE)  # exists already
    assert "does not exist" in _refused(
        batch.update_compute_environment, computeEnvironment="nope", state="DISABLED"
    )
    assert "does not exist" in _refused(batch.delete_compute_environment, computeEnvironment="nope")
    # The configuration's own queues: their state changes here, nothing else.
    resize = {"computeEnvironment": "q1", "computeResources": {"maxvCpus": 8}}
    assert "update-cluster" in _refused(batch.update_compute_environment, **resize)
    assert "update-cluster" in _refused(batch.delete_compute_environment, computeEnvironment="q1")
    batch.update_compute_environment(computeEnvironment="q1", state="DISABLED")
    assert ((_env(batch, "q1") or {})["state"], (_env(batch, "q1") or {})["status"]) == ("DISABLED", "VALID")
    batch.update_compute_environment(computeEnvironment="q1", state="ENABLED")
    envs = batch.describe_compute_environments()["computeEnvironments"]
    assert [(e["computeEnvironmentName"], e["state"]) for e in envs] == [("q1", "ENABLED")]
    assert cluster.status() == "CREATE_COMPLETE"  # no update was applied


def test_a_compute_environment_is_created_used_disabled_resized_and_deleted(
    stratus: Stratus, cluster: Cluster
) -> None:
    c = cluster
    batch = _batch(stratus)
    made = batch.create_compute_environment(computeEnvironmentName="ce1", tags={"team": "hpc"}, **CE)
    arn = made["computeEnvironmentArn"]
    assert arn.endswith(":compute-environment/ce1")
    assert (_env(batch, "ce1") or {}).get("status") == "CREATING"
    env = _status(batch, "ce1", "VALID")
    assert env["state"] == "ENABLED" and env["computeResources"]["maxvCpus"] == 1
    assert env["computeResources"]["instanceTypes"] == ["t2.micro"] and env["tags"] == {"team": "hpc"}
    assert batch.list_tags_for_resource(resourceArn=arn)["tags"] == {"team": "hpc"}
    assert "ce1 1" in c.slurm("sinfo", "-h", "-o", "%P %D").out.splitlines()

    # A job queue over it; a job runs on one of its nodes (powered up for it).
    batch.create_job_queue(
        jobQueueName="jq", priority=1, computeEnvironmentOrder=[{"order": 1, "computeEnvironment": arn}]
    )
    batch.register_job_definition(
        jobDefinitionName="nap",
        type="container",
        platformCapabilities=["STRATUS_HOST"],
        containerProperties={
            "command": ["sh", "-c", "sleep 4; echo $SLURM_JOB_NODELIST"],
            "resourceRequirements": [{"type": "VCPU", "value": "1"}, {"type": "MEMORY", "value": "128"}],
        },
    )
    first = batch.submit_job(jobName="first", jobQueue="jq", jobDefinition="nap")["jobId"]
    wait_for(lambda: _job_status(batch, first) == "RUNNING", 60, interval=0.2, what="first RUNNING")
    assert "ce1 ce1-dy-t2-micro-1" in c.slurm("squeue", "-h", "-o", "%P %N").out

    # Disabled: the running job finishes, a new one waits (RUNNABLE).
    batch.update_compute_environment(computeEnvironment="ce1", state="DISABLED")
    second = batch.submit_job(jobName="second", jobQueue="jq", jobDefinition="nap")["jobId"]
    wait_for(lambda: _job_status(batch, first) in FINAL, 60, interval=0.2, what="first finished")
    assert _job_status(batch, first) == "SUCCEEDED"
    assert _job_status(batch, second) == "RUNNABLE"

    # Resized while disabled: the head node restarts onto two nodes, and it stays disabled.
    batch.update_compute_environment(computeEnvironment="ce1", computeResources={"maxvCpus": 2})
    env = _status(batch, "ce1", "VALID")
    assert (env["state"], env["computeResources"]["maxvCpus"]) == ("DISABLED", 2)
    assert "ce1 2 inactive" in c.slurm("sinfo", "-h", "-o", "%P %D %a").out.splitlines()
    assert _job_status(batch, second) == "RUNNABLE"

    # Deleting takes DISABLED and no job queue naming it.
    batch.update_compute_environment(computeEnvironment="ce1", state="ENABLED")
    assert "disable it first" in _refused(batch.delete_compute_environment, computeEnvironment="ce1")
    wait_for(lambda: _job_status(batch, second) == "SUCCEEDED", 60, interval=0.2, what="second SUCCEEDED")
    batch.update_compute_environment(computeEnvironment="ce1", state="DISABLED")
    assert "computeEnvironmentOrder" in _refused(batch.delete_compute_environment, computeEnvironment="ce1")
    batch.update_job_queue(jobQueue="jq", computeEnvironmentOrder=[{"order": 1, "computeEnvironment": "q1"}])

    def deleted() -> bool:
        try:
            batch.delete_compute_environment(computeEnvironment="ce1")
        except ClientError as exc:  # its node still powering down after the job
            assert "in use" in exc.response["Error"]["Message"], exc
            return False
        return True

    wait_for(deleted, 30, interval=0.5, what="the compute environment's node to power down")
    assert (_env(batch, "ce1") or {}).get("status") in ("DELETING", None)
    wait_for(lambda: _env(batch, "ce1") is None and cluster.status() == "UPDATE_COMPLETE", 90, interval=0.3)
    assert [
        e["computeEnvironmentName"] for e in batch.describe_compute_environments()["computeEnvironments"]
    ] == ["q1"]
    assert "ce1" not in c.slurm("sinfo", "-h", "-o", "%P").out


UNMANAGED_CONFIG = """\
Region: us-east-1
HeadNode:
  InstanceType: t2.micro
Scheduling:
  Scheduler: slurm
  SlurmQueues:
  - Name: q1
    ComputeResources:
    - Name: dy
      InstanceType: t2.micro
      MaxCount: 1
Stratus:
  BatchApi: {{}}
  HeadNodeAddress: 127.0.0.1
  Providers:
  - Name: lab
    Type: ssh
    Hosts: [{hosts}]
    User: root
    IdentityFile: {identity}
    AgentDirectory: {agent_dir}
"""


def test_an_unmanaged_compute_environment_adopts_the_hosts_of_an_ssh_provider(
    stratus: Stratus, tmp_path: Path
) -> None:
    from tests.sshd_hosts import ssh_hosts

    with ssh_hosts(tmp_path / "sshd", 1) as hosts:
        text = UNMANAGED_CONFIG.format(
            hosts=", ".join(hosts.specs), identity=hosts.identity, agent_dir=tmp_path / "remote"
        )
        c = stratus.create("ce", text, tmp_path)
        batch = _batch(stratus)
        create = batch.create_compute_environment
        assert "'stratus:provider'" in _refused(create, computeEnvironmentName="onprem", type="UNMANAGED")
        assert "'nope' is not one of them" in _refused(
            create, computeEnvironmentName="onprem", type="UNMANAGED", tags={"stratus:provider": "nope"}
        )
        create(computeEnvironmentName="onprem", type="UNMANAGED", unmanagedvCpus=2,
               tags={"stratus:provider": "lab"})  # fmt: skip
        env = _status(batch, "onprem", "VALID")
        assert (env["type"], env["unmanagedvCpus"]) == ("UNMANAGED", 2) and "computeResources" not in env
        # Its queue has a static node on the provider's host; a job runs there.
        nodes = c.slurm("sinfo", "-h", "-N", "-p", "onprem", "-o", "%N").out.split()
        assert nodes == ["onprem-st-hosts-1"]
        order = [{"order": 1, "computeEnvironment": "onprem"}]
        batch.create_job_queue(jobQueueName="lab", priority=1, computeEnvironmentOrder=order)
        batch.register_job_definition(
            jobDefinitionName="h",
            type="container",
            platformCapabilities=["STRATUS_HOST"],
            containerProperties={"command": ["true"], "resourceRequirements": [
                {"type": "VCPU", "value": "1"}, {"type": "MEMORY", "value": "64"}]},
        )  # fmt: skip
        job = batch.submit_job(jobName="j", jobQueue="lab", jobDefinition="h")["jobId"]
        wait_for(lambda: _job_status(batch, job) in FINAL, 120, interval=0.3, what="job done")
        (done,) = batch.describe_jobs(jobs=[job])["jobs"]
        assert done["status"] == "SUCCEEDED"
        assert done["container"]["containerInstanceArn"] == "onprem-st-hosts-1"
        assert "computeResources" in _refused(
            batch.update_compute_environment, computeEnvironment="onprem", computeResources={"maxvCpus": 4}
        )
        stratus.run("delete-cluster", "-n", "ce", "--wait")

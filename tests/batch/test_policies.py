"""Scheduling policies and job queue priorities on a live cluster's Batch endpoint, driven by boto3.

Fair-share policies are created, described, listed (boto3's paginator), updated and deleted with
AWS's rules; a queue's policy must exist and cannot be deleted while used, a FIFO queue cannot
gain one, and SubmitJob asks for a share identifier exactly on fair-share queues. The weights of
the policies in use reach the engine's fair share (``sshare`` shows them) and are applied again
after the head node is killed and restarted. Jobs of a higher-priority queue start before those
of a lower-priority queue waiting for the same compute environment.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import psutil
import pytest
from botocore.exceptions import ClientError

from tests.batch.test_endpoint import _client, _finished
from tests.integration.harness import Cluster, Stratus, wait_for

CONFIG = """\
Region: us-east-1
HeadNode:
  InstanceType: t2.micro
Scheduling:
  Scheduler: slurm
  SlurmSettings:
    CustomSlurmSettings:
      - PriorityType: priority/multifactor
      - PriorityWeightFairshare: 10000
      - PriorityCalcPeriod: 0
  SlurmQueues:
  - Name: q1
    ComputeResources:
    - Name: st
      InstanceType: c5.large
      MinCount: 1
      MaxCount: 1
Stratus:
  BatchApi: {}
"""


@pytest.fixture
def cluster(stratus: Stratus, tmp_path: Path) -> Cluster:
    return stratus.create("bp", CONFIG, tmp_path)


def _refused(call: Any, **kwargs: Any) -> str:
    with pytest.raises(ClientError) as caught:
        call(**kwargs)
    assert caught.value.response["Error"]["Code"] == "ClientException"
    return str(caught.value.response["Error"]["Message"])


def _norm_shares(c: Cluster) -> dict[str, float]:
    """sshare's NormShares of the accounts under root."""
    r = c.slurm("sshare", "-P", "-n", "-o", "Account,User,NormShares")
    assert r.code == 0, r.err
    rows = [line.split("|") for line in r.out.splitlines()]
    return {a.strip(): float(n) for a, u, n in rows if not u and a.strip() != "root"}


def _definition(batch: Any, name: str, command: list[str], vcpus: int = 1) -> None:
    batch.register_job_definition(
        jobDefinitionName=name, type="container", platformCapabilities=["STRATUS_HOST"],
        containerProperties={"command": command,
                             "resourceRequirements": [{"type": "VCPU", "value": str(vcpus)}]},
    )  # fmt: skip


def test_scheduling_policies_weigh_fair_share(stratus: Stratus, cluster: Cluster) -> None:
    c = cluster
    creds = stratus.run("batch-credentials", "-n", "bp").json
    batch = _client(creds)

    made = batch.create_scheduling_policy(
        name="fair",
        fairsharePolicy={"shareDecaySeconds": 3600,
                         "shareDistribution": [{"shareIdentifier": "teamA", "weightFactor": 0.5},
                                               {"shareIdentifier": "team-b*"}]},
    )  # fmt: skip
    arn = made["arn"]
    assert arn.endswith(":scheduling-policy/fair") and made["name"] == "fair"
    other = batch.create_scheduling_policy(name="other")["arn"]
    described = batch.describe_scheduling_policies(arns=[arn, arn.replace("fair", "nosuch")])
    (fair,) = described["schedulingPolicies"]
    assert fair["fairsharePolicy"] == {
        "shareDecaySeconds": 3600, "computeReservation": 0,
        "shareDistribution": [{"shareIdentifier": "teamA", "weightFactor": 0.5},
                              {"shareIdentifier": "team-b*"}],
    }  # fmt: skip
    pages = batch.get_paginator("list_scheduling_policies").paginate(PaginationConfig={"PageSize": 1})
    assert sorted(p["arn"] for page in pages for p in page["schedulingPolicies"]) == sorted([arn, other])
    assert "already exists" in _refused(batch.create_scheduling_policy, name="fair")
    assert "does not exist" in _refused(batch.update_scheduling_policy, arn=arn + "x")
    assert "overlaps" in _refused(
        batch.create_scheduling_policy, name="dup",
        fairsharePolicy={"shareDistribution": [{"shareIdentifier": "a*"}, {"shareIdentifier": "ab"}]},
    )  # fmt: skip

    # Queues: the policy must exist; a FIFO queue cannot gain one; a used policy stays.
    env = [{"order": 1, "computeEnvironment": "q1"}]
    bad = arn.replace("fair", "nosuch")
    assert "schedulingPolicyArn" in _refused(
        batch.create_job_queue, jobQueueName="x", priority=1, computeEnvironmentOrder=env,
        schedulingPolicyArn=bad,
    )  # fmt: skip
    batch.create_job_queue(
        jobQueueName="fsq", priority=1, computeEnvironmentOrder=env, schedulingPolicyArn=other
    )
    batch.create_job_queue(jobQueueName="fifo", priority=1, computeEnvironmentOrder=env)
    assert "cannot be given one" in _refused(batch.update_job_queue, jobQueue="fifo", schedulingPolicyArn=arn)
    batch.update_job_queue(jobQueue="fsq", schedulingPolicyArn=arn)  # replaced
    assert batch.describe_job_queues(jobQueues=["fsq"])["jobQueues"][0]["schedulingPolicyArn"] == arn
    assert "used by job queue(s) fsq" in _refused(batch.delete_scheduling_policy, arn=arn)
    batch.delete_scheduling_policy(arn=other)
    assert batch.describe_scheduling_policies(arns=[other])["schedulingPolicies"] == []

    # SubmitJob: a share identifier exactly on fair-share queues.
    _definition(batch, "quick", ["true"])
    assert "shareIdentifier" in _refused(batch.submit_job, jobName="j", jobQueue="fsq", jobDefinition="quick")
    assert "shareIdentifier" in _refused(
        batch.submit_job, jobName="j", jobQueue="fifo", jobDefinition="quick", shareIdentifier="teamA"
    )
    jobs = [
        batch.submit_job(jobName=f"j{share}", jobQueue="fsq", jobDefinition="quick", shareIdentifier=share)
        for share in ("teamA", "team-b1")
    ]
    for job in jobs:
        assert _finished(batch, job["jobId"])["shareIdentifier"] in ("teamA", "team-b1")

    # The weights are the engine's: teamA (0.5) is entitled to twice team-b1's share (1.0).
    expected = {"teama": pytest.approx(2 / 3, abs=0.01), "team-b1": pytest.approx(1 / 3, abs=0.01)}
    shares = {k.lower(): v for k, v in _norm_shares(c).items()}
    assert shares == expected, shares

    # ... stored, and applied again when the head node starts after a crash.
    ctrl = c.controller_pid()
    assert ctrl is not None
    os.kill(ctrl, signal.SIGKILL)
    wait_for(lambda: not psutil.pid_exists(ctrl) or psutil.Process(ctrl).status() == psutil.STATUS_ZOMBIE, 10)
    assert stratus.run("start-head-node", "-n", "bp").code == 0
    assert {k.lower(): v for k, v in _norm_shares(c).items()} == expected

    # An updated policy's weights apply at once.
    batch.update_scheduling_policy(
        arn=arn, fairsharePolicy={"shareDistribution": [{"shareIdentifier": "teamA", "weightFactor": 2.0}]}
    )
    shares = {k.lower(): v for k, v in _norm_shares(c).items()}
    assert shares == {"teama": pytest.approx(1 / 3, abs=0.01), "team-b1": pytest.approx(2 / 3, abs=0.01)}


def test_a_higher_priority_queue_starts_first_on_a_shared_environment(
    stratus: Stratus, cluster: Cluster
) -> None:
    batch = _client(stratus.run("batch-credentials", "-n", "bp").json)
    env = [{"order": 1, "computeEnvironment": "q1"}]
    batch.create_job_queue(jobQueueName="low", priority=1, computeEnvironmentOrder=env)
    batch.create_job_queue(jobQueueName="high", priority=100, computeEnvironmentOrder=env)
    _definition(batch, "whole", ["sleep", "2"], vcpus=2)  # the environment's only node, whole
    busy = batch.submit_job(jobName="busy", jobQueue="low", jobDefinition="whole")
    wait_for(lambda: batch.describe_jobs(jobs=[busy["jobId"]])["jobs"][0]["status"] == "RUNNING", 60)
    low = batch.submit_job(jobName="low", jobQueue="low", jobDefinition="whole")
    high = batch.submit_job(jobName="high", jobQueue="high", jobDefinition="whole")
    done = {name: _finished(batch, job["jobId"]) for name, job in (("low", low), ("high", high))}
    assert {d["status"] for d in done.values()} == {"SUCCEEDED"}
    assert done["high"]["startedAt"] < done["low"]["startedAt"]

"""Tags on a live cluster's Batch endpoint: TagResource, UntagResource and ListTagsForResource on
job queues, job definitions, scheduling policies and jobs, through boto3 and the AWS CLI (the
ARN percent-encoded in the path, the keys to remove in the query string)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.batch.test_endpoint import _client, _finished, _job, cluster, creds
from tests.integration.harness import Cluster

__all__ = ["cluster", "creds"]


def _aws(creds: dict[str, str], *argv: str) -> Any:
    """The AWS CLI with the key in its environment: its JSON (None when it prints nothing, as
    for operations that answer an empty body)."""
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
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(done.stdout) if done.stdout.strip() else None


def _refused(call: Any, **kwargs: Any) -> str:
    with pytest.raises(ClientError) as caught:
        call(**kwargs)
    assert caught.value.response["Error"]["Code"] == "ClientException"
    return str(caught.value.response["Error"]["Message"])


def test_tags_of_queues_definitions_policies_and_jobs(cluster: Cluster, creds: dict[str, str]) -> None:
    batch = _client(creds)
    queue = batch.create_job_queue(
        jobQueueName="tq", priority=1, tags={"team": "hpc"},
        computeEnvironmentOrder=[{"order": 1, "computeEnvironment": "q1"}],
    )["jobQueueArn"]  # fmt: skip
    definition = batch.register_job_definition(
        jobDefinitionName="td", type="container", platformCapabilities=["STRATUS_HOST"],
        containerProperties={"command": ["true"]}, tags={"kind": "probe"},
    )["jobDefinitionArn"]  # fmt: skip
    policy = batch.create_scheduling_policy(name="tp", tags={"p": "1"})["arn"]
    job = batch.submit_job(jobName="tagged", jobQueue="tq", jobDefinition="td", tags={"run": "a"})

    # Tags given at creation are the resource's tags.
    assert batch.list_tags_for_resource(resourceArn=queue)["tags"] == {"team": "hpc"}
    assert batch.list_tags_for_resource(resourceArn=definition)["tags"] == {"kind": "probe"}
    assert batch.list_tags_for_resource(resourceArn=policy)["tags"] == {"p": "1"}
    assert batch.list_tags_for_resource(resourceArn=job["jobArn"])["tags"] == {"run": "a"}

    # Tagging adds or replaces, untagging removes; describe calls show the result.
    batch.tag_resource(resourceArn=queue, tags={"team": "ml", "cost": "42"})
    batch.untag_resource(resourceArn=queue, tagKeys=["cost", "absent"])
    assert batch.list_tags_for_resource(resourceArn=queue)["tags"] == {"team": "ml"}
    assert batch.describe_job_queues(jobQueues=["tq"])["jobQueues"][0]["tags"] == {"team": "ml"}
    batch.tag_resource(resourceArn=policy, tags={"q": "2"})
    assert batch.describe_scheduling_policies(arns=[policy])["schedulingPolicies"][0]["tags"] == {
        "p": "1", "q": "2",
    }  # fmt: skip
    batch.tag_resource(resourceArn=job["jobArn"], tags={"stage": "b"})
    batch.untag_resource(resourceArn=job["jobArn"], tagKeys=["run"])
    assert batch.list_tags_for_resource(resourceArn=job["jobArn"])["tags"] == {"stage": "b"}
    assert _finished(batch, job["jobId"])["tags"] == {"stage": "b"}

    # The AWS CLI sends the same requests.
    _aws(creds, "batch", "tag-resource", "--resource-arn", definition, "--tags", "owner=me")
    _aws(creds, "batch", "untag-resource", "--resource-arn", definition, "--tag-keys", "kind")
    listed = _aws(creds, "batch", "list-tags-for-resource", "--resource-arn", definition)
    assert listed["tags"] == {"owner": "me"}

    # What AWS refuses.
    region, account = queue.split(":")[3:5]
    unknown = f"arn:aws:batch:{region}:{account}:job-queue/nosuch"
    assert "resourceArn" in _refused(batch.list_tags_for_resource, resourceArn=unknown)
    assert "resourceArn" in _refused(batch.tag_resource, resourceArn="not-an-arn", tags={"a": "b"})
    other_account = queue.replace(account, "000000000001")
    assert "resourceArn" in _refused(batch.list_tags_for_resource, resourceArn=other_account)
    array = batch.submit_job(jobName="arr", jobQueue="tq", jobDefinition="td", arrayProperties={"size": 2})
    child = f"{array['jobArn']}:0"
    assert "child job" in _refused(batch.tag_resource, resourceArn=child, tags={"a": "b"})
    too_many = {f"k{i}": "v" for i in range(50)}
    assert "at most 50 tags" in _refused(batch.tag_resource, resourceArn=queue, tags=too_many)
    assert batch.list_tags_for_resource(resourceArn=queue)["tags"] == {"team": "ml"}
    assert "aws:" in _refused(batch.tag_resource, resourceArn=queue, tags={"aws:x": "y"})
    _finished(batch, array["jobId"])
    assert _job(batch, array["jobId"])["tags"] == {}

"""AWS Batch request shapes: valid requests parse, each rule refuses with a message naming the field."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import BaseModel

from stratus.batch import shapes
from stratus.batch.shapes import (
    BatchClientError,
    CancelJobRequest,
    CreateComputeEnvironmentRequest,
    CreateJobQueueRequest,
    CreateSchedulingPolicyRequest,
    DeleteComputeEnvironmentRequest,
    DeleteJobQueueRequest,
    DeleteSchedulingPolicyRequest,
    DeregisterJobDefinitionRequest,
    DescribeComputeEnvironmentsRequest,
    DescribeJobDefinitionsRequest,
    DescribeJobQueuesRequest,
    DescribeJobsRequest,
    DescribeSchedulingPoliciesRequest,
    ListJobsRequest,
    ListSchedulingPoliciesRequest,
    ListTagsForResourceRequest,
    RegisterJobDefinitionRequest,
    SubmitJobRequest,
    TagResourceRequest,
    TerminateJobRequest,
    UntagResourceRequest,
    UpdateComputeEnvironmentRequest,
    UpdateJobQueueRequest,
    UpdateSchedulingPolicyRequest,
    parse,
    target_node_range,
)

# Every request model and the botocore operation it answers.
OPERATIONS: dict[str, type[BaseModel]] = {
    "RegisterJobDefinition": RegisterJobDefinitionRequest,
    "DescribeJobDefinitions": DescribeJobDefinitionsRequest,
    "DeregisterJobDefinition": DeregisterJobDefinitionRequest,
    "SubmitJob": SubmitJobRequest,
    "DescribeJobs": DescribeJobsRequest,
    "ListJobs": ListJobsRequest,
    "CancelJob": CancelJobRequest,
    "TerminateJob": TerminateJobRequest,
    "CreateJobQueue": CreateJobQueueRequest,
    "UpdateJobQueue": UpdateJobQueueRequest,
    "DeleteJobQueue": DeleteJobQueueRequest,
    "DescribeJobQueues": DescribeJobQueuesRequest,
    "CreateComputeEnvironment": CreateComputeEnvironmentRequest,
    "UpdateComputeEnvironment": UpdateComputeEnvironmentRequest,
    "DeleteComputeEnvironment": DeleteComputeEnvironmentRequest,
    "DescribeComputeEnvironments": DescribeComputeEnvironmentsRequest,
    "CreateSchedulingPolicy": CreateSchedulingPolicyRequest,
    "UpdateSchedulingPolicy": UpdateSchedulingPolicyRequest,
    "DeleteSchedulingPolicy": DeleteSchedulingPolicyRequest,
    "DescribeSchedulingPolicies": DescribeSchedulingPoliciesRequest,
    "ListSchedulingPolicies": ListSchedulingPoliciesRequest,
    "TagResource": TagResourceRequest,
    "UntagResource": UntagResourceRequest,
    "ListTagsForResource": ListTagsForResourceRequest,
}

CONTAINER = {"image": "busybox", "command": ["echo", "Ref::greeting"]}
JOB_DEFINITION: dict[str, Any] = {
    "jobDefinitionName": "jd",
    "type": "container",
    "containerProperties": CONTAINER,
}
JOB: dict[str, Any] = {"jobName": "job-1", "jobQueue": "q", "jobDefinition": "jd"}
MNP: dict[str, Any] = {
    "numNodes": 4,
    "mainNode": 0,
    "nodeRangeProperties": [{"targetNodes": "0:", "container": CONTAINER}],
}
QUEUE: dict[str, Any] = {
    "jobQueueName": "q",
    "priority": 1,
    "computeEnvironmentOrder": [{"order": 1, "computeEnvironment": "ce"}],
}
MANAGED: dict[str, Any] = {
    "computeEnvironmentName": "ce",
    "type": "MANAGED",
    "computeResources": {"type": "EC2", "minvCpus": 0, "maxvCpus": 16, "subnets": ["s"]},
}


def with_(base: dict[str, Any], **members: Any) -> dict[str, Any]:
    """``base`` with ``members`` replaced (a value of None removes the member)."""
    out = {**base, **members}
    return {k: v for k, v in out.items() if v is not None}


def container(**members: Any) -> dict[str, Any]:
    return with_(JOB_DEFINITION, containerProperties=with_(CONTAINER, **members))


def refused(model: type[BaseModel], body: Any) -> str:
    with pytest.raises(BatchClientError) as caught:
        parse(model, body)
    assert caught.value.message == str(caught.value)
    return caught.value.message


# --------------------------------------------------------------------------------------------
# Valid requests

VALID: list[tuple[type[BaseModel], dict[str, Any]]] = [
    (RegisterJobDefinitionRequest, JOB_DEFINITION),
    (
        RegisterJobDefinitionRequest,
        {
            "jobDefinitionName": "full_definition-2",
            "type": "container",
            "parameters": {"greeting": "hello"},
            "schedulingPriority": 9999,
            "containerProperties": {
                "image": "public.ecr.aws/amazonlinux/amazonlinux:2023",
                "command": ["sleep", "60"],
                "environment": [{"name": "MODE", "value": "fast"}],
                "resourceRequirements": [
                    {"type": "VCPU", "value": "0.25"},
                    {"type": "MEMORY", "value": "512"},
                    {"type": "GPU", "value": "1"},
                ],
                "vcpus": 1,
                "memory": 4,
                "jobRoleArn": "arn:aws:iam::123456789012:role/job",
                "executionRoleArn": "arn:aws:iam::123456789012:role/exec",
                "volumes": [{"name": "scratch", "host": {"sourcePath": "/scratch"}}],
                "mountPoints": [{"sourceVolume": "scratch", "containerPath": "/scratch", "readOnly": False}],
                "ulimits": [{"name": "nofile", "softLimit": 1024, "hardLimit": 4096}],
                "user": "nobody",
                "instanceType": "c5.large",
                "privileged": False,
                "readonlyRootFilesystem": True,
                "linuxParameters": {"initProcessEnabled": True, "sharedMemorySize": 64},
                "logConfiguration": {"logDriver": "awslogs", "options": {"awslogs-group": "g"}},
                "secrets": [{"name": "TOKEN", "valueFrom": "arn:aws:ssm:::parameter/t"}],
            },
            "retryStrategy": {
                "attempts": 3,
                "evaluateOnExit": [
                    {"onStatusReason": "Host EC2*", "action": "retry"},
                    {"onExitCode": "137", "action": "EXIT"},
                    {"onReason": "*", "action": "Exit"},
                ],
            },
            "timeout": {"attemptDurationSeconds": 60},
            "propagateTags": True,
            "tags": {"team": "hpc"},
            "platformCapabilities": ["EC2"],
        },
    ),
    (
        RegisterJobDefinitionRequest,
        {
            "jobDefinitionName": "host",
            "type": "container",
            "platformCapabilities": ["STRATUS_HOST"],
            "containerProperties": {"command": ["hostname"]},
        },
    ),
    (RegisterJobDefinitionRequest, {"jobDefinitionName": "mnp", "type": "multinode", "nodeProperties": MNP}),
    (
        RegisterJobDefinitionRequest,
        {
            "jobDefinitionName": "mnp",
            "type": "multinode",
            "nodeProperties": {
                "numNodes": 8,
                "mainNode": 7,
                "nodeRangeProperties": [
                    {"targetNodes": ":3", "container": CONTAINER},
                    {"targetNodes": "4:7", "container": CONTAINER, "instanceTypes": ["p3.2xlarge"]},
                    {"targetNodes": "5", "container": CONTAINER},
                ],
            },
        },
    ),
    (DescribeJobDefinitionsRequest, {}),
    (DescribeJobDefinitionsRequest, {"jobDefinitionName": "jd", "status": "ACTIVE", "maxResults": 100}),
    (
        DescribeJobDefinitionsRequest,
        {"jobDefinitions": ["jd:1", "arn:aws:batch:us-east-1:1:job-definition/jd:2"]},
    ),
    (DeregisterJobDefinitionRequest, {"jobDefinition": "jd:1"}),
    (SubmitJobRequest, JOB),
    (
        SubmitJobRequest,
        {
            "jobName": "9lives",
            "jobQueue": "arn:aws:batch:us-east-1:123456789012:job-queue/q",
            "jobDefinition": "jd:3",
            "arrayProperties": {"size": 10_000},
            "dependsOn": [{"jobId": "a"}, {"type": "SEQUENTIAL"}, {"jobId": "b", "type": "N_TO_N"}],
            "parameters": {"greeting": "hi"},
            "containerOverrides": {
                "command": ["echo", "hi"],
                "environment": [{"name": "X", "value": "1"}],
                "resourceRequirements": [{"type": "VCPU", "value": "2"}],
                "instanceType": "c5.large",
                "vcpus": 2,
                "memory": 2048,
            },
            "retryStrategy": {"attempts": 10},
            "timeout": {"attemptDurationSeconds": 3600},
            "shareIdentifier": "teamA",
            "schedulingPriorityOverride": 0,
            "propagateTags": False,
            "tags": {"k": "v"},
        },
    ),
    (
        SubmitJobRequest,
        with_(
            JOB,
            nodeOverrides={
                "numNodes": 6,
                "nodePropertyOverrides": [{"targetNodes": "0:", "containerOverrides": {"command": ["x"]}}],
            },
        ),
    ),
    (SubmitJobRequest, with_(JOB, dependsOn=[{"jobId": f"j{i}"} for i in range(20)])),
    (DescribeJobsRequest, {"jobs": ["a", "b:3", "c#0"]}),
    (DescribeJobsRequest, {"jobs": [f"j{i}" for i in range(100)]}),
    (ListJobsRequest, {"jobQueue": "q"}),
    (ListJobsRequest, {"jobQueue": "q", "jobStatus": "SUCCEEDED", "maxResults": 1000, "nextToken": "t"}),
    (ListJobsRequest, {"arrayJobId": "a"}),
    (ListJobsRequest, {"multiNodeJobId": "m"}),
    (
        ListJobsRequest,
        {
            "jobQueue": "q",
            "maxResults": 100,
            "filters": [
                {"name": "JOB_NAME", "values": ["train*"]},
                {"name": "AFTER_CREATED_AT", "values": ["1700000000000"]},
            ],
        },
    ),
    (CancelJobRequest, {"jobId": "a", "reason": "not needed"}),
    (TerminateJobRequest, {"jobId": "a", "reason": "stuck"}),
    (CreateJobQueueRequest, QUEUE),
    (
        CreateJobQueueRequest,
        {
            "jobQueueName": "HighPriority_2",
            "state": "ENABLED",
            "priority": 1000,
            "schedulingPolicyArn": "arn:aws:batch:us-east-1:1:scheduling-policy/p",
            "computeEnvironmentOrder": [
                {"order": 0, "computeEnvironment": "a"},
                {"order": 1, "computeEnvironment": "b"},
                {"order": 2, "computeEnvironment": "c"},
            ],
            "jobStateTimeLimitActions": [
                {
                    "reason": "CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY",
                    "state": "RUNNABLE",
                    "maxTimeSeconds": 600,
                    "action": "CANCEL",
                },
            ],
            "tags": {"a": "b"},
        },
    ),
    (UpdateJobQueueRequest, {"jobQueue": "q", "state": "DISABLED"}),
    (UpdateJobQueueRequest, {"jobQueue": "q", "priority": 0, "computeEnvironmentOrder": []}),
    (DeleteJobQueueRequest, {"jobQueue": "q"}),
    (DescribeJobQueuesRequest, {}),
    (DescribeJobQueuesRequest, {"jobQueues": ["q"], "maxResults": 1, "nextToken": "t"}),
    (CreateComputeEnvironmentRequest, MANAGED),
    (
        CreateComputeEnvironmentRequest,
        {
            "computeEnvironmentName": "spot_ce",
            "type": "MANAGED",
            "state": "ENABLED",
            "serviceRole": "arn:aws:iam::1:role/batch",
            "computeResources": {
                "type": "SPOT",
                "allocationStrategy": "SPOT_PRICE_CAPACITY_OPTIMIZED",
                "minvCpus": 2,
                "desiredvCpus": 4,
                "maxvCpus": 256,
                "instanceTypes": ["optimal", "c5"],
                "subnets": ["subnet-1"],
                "securityGroupIds": ["sg-1"],
                "bidPercentage": 60,
                "tags": {"Name": "batch"},
                "launchTemplate": {"launchTemplateName": "lt", "version": "$Latest"},
                "ec2Configuration": [{"imageType": "ECS_AL2023"}],
            },
            "tags": {"a": "b"},
        },
    ),
    (
        CreateComputeEnvironmentRequest,
        {"computeEnvironmentName": "u", "type": "UNMANAGED", "unmanagedvCpus": 64},
    ),
    (
        CreateComputeEnvironmentRequest,
        with_(MANAGED, computeResources={"type": "FARGATE", "maxvCpus": 8, "subnets": ["s"]}),
    ),
    (UpdateComputeEnvironmentRequest, {"computeEnvironment": "ce", "state": "DISABLED"}),
    (
        UpdateComputeEnvironmentRequest,
        {
            "computeEnvironment": "ce",
            "computeResources": {"minvCpus": 0, "desiredvCpus": 8, "maxvCpus": 64},
            "updatePolicy": {"terminateJobsOnUpdate": False, "jobExecutionTimeoutMinutes": 30},
        },
    ),
    (DeleteComputeEnvironmentRequest, {"computeEnvironment": "ce"}),
    (DescribeComputeEnvironmentsRequest, {}),
    (DescribeComputeEnvironmentsRequest, {"computeEnvironments": ["ce"], "maxResults": 100}),
    (CreateSchedulingPolicyRequest, {"name": "p"}),
    (
        CreateSchedulingPolicyRequest,
        {
            "name": "fair",
            "fairsharePolicy": {
                "shareDecaySeconds": 604_800,
                "computeReservation": 99,
                "shareDistribution": [
                    {"shareIdentifier": "teamA", "weightFactor": 0.0001},
                    {"shareIdentifier": "teamB*", "weightFactor": 999.9999},
                    {"shareIdentifier": "other", "weightFactor": 1},
                ],
            },
            "tags": {"a": "b"},
        },
    ),
    (UpdateSchedulingPolicyRequest, {"arn": "arn:p", "fairsharePolicy": {"shareDecaySeconds": 0}}),
    (DeleteSchedulingPolicyRequest, {"arn": "arn:p"}),
    (DescribeSchedulingPoliciesRequest, {"arns": ["arn:p"]}),
    (ListSchedulingPoliciesRequest, {}),
    (ListSchedulingPoliciesRequest, {"maxResults": 10, "nextToken": "t"}),
    (TagResourceRequest, {"resourceArn": "arn:q", "tags": {"team": "hpc", "empty": ""}}),
    (UntagResourceRequest, {"resourceArn": "arn:q", "tagKeys": ["team"]}),
    (ListTagsForResourceRequest, {"resourceArn": "arn:q"}),
]


@pytest.mark.parametrize(("model", "body"), VALID, ids=lambda v: v.__name__ if isinstance(v, type) else "")
def test_valid_requests_parse(model: type[BaseModel], body: dict[str, Any]) -> None:
    parsed = parse(model, body)
    assert isinstance(parsed, model)
    # What was sent comes back under the same camelCase names (retry actions in upper case).
    assert parsed.model_dump(by_alias=True, exclude_none=True) == _actions_upper(json.loads(json.dumps(body)))


def _actions_upper(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: v.upper() if k == "action" else _actions_upper(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_actions_upper(v) for v in value]
    return value


def test_parsed_values_are_typed_and_frozen() -> None:
    job = parse(SubmitJobRequest, with_(JOB, arrayProperties={"size": 3}, dependsOn=[{"type": "SEQUENTIAL"}]))
    assert job.job_name == "job-1"
    assert job.array_size == 3
    assert job.depends_on is not None and job.depends_on[0].type == "SEQUENTIAL"
    with pytest.raises(ValueError):
        job.job_name = "other"
    ce = parse(CreateComputeEnvironmentRequest, MANAGED)
    assert ce.compute_resources is not None
    assert (ce.compute_resources.min_vcpus, ce.compute_resources.max_vcpus) == (0, 16)
    definition = parse(
        RegisterJobDefinitionRequest,
        with_(JOB_DEFINITION, retryStrategy={"attempts": 2, "evaluateOnExit": [{"action": "exit"}]}),
    )
    assert definition.retry_strategy is not None and definition.retry_strategy.evaluate_on_exit is not None
    assert definition.retry_strategy.evaluate_on_exit[0].action == "EXIT"
    assert not definition.runs_on_host


def test_snake_case_names_are_not_accepted() -> None:
    message = refused(SubmitJobRequest, {"job_name": "j", "jobQueue": "q", "jobDefinition": "d"})
    assert message.startswith('Unknown parameter in input: "job_name", must be one of: jobName, jobQueue')


def test_stratus_host_job_definitions() -> None:
    body = {
        "jobDefinitionName": "host",
        "type": "container",
        "platformCapabilities": ["STRATUS_HOST"],
        "containerProperties": {"command": ["nproc"]},
    }
    assert parse(RegisterJobDefinitionRequest, body).runs_on_host
    assert "STRATUS_HOST" in (shapes.__doc__ or "")
    message = refused(RegisterJobDefinitionRequest, with_(body, containerProperties={"image": "x"}))
    assert message.startswith("containerProperties.command: is required")
    message = refused(RegisterJobDefinitionRequest, with_(body, platformCapabilities=["EC2"]))
    assert message.startswith("containerProperties.image: is required")


# --------------------------------------------------------------------------------------------
# Rules: each case is (model, body, the start of the message)

REFUSED: dict[str, list[tuple[type[BaseModel], Any, str]]] = {
    "body": [
        (SubmitJobRequest, [], "The request body must be a JSON object, got list"),
        (SubmitJobRequest, {"jobQueue": "q", "jobDefinition": "d"}, "jobName: is required"),
    ],
    "unknown members": [
        (
            SubmitJobRequest,
            with_(JOB, priority=1),
            'Unknown parameter in input: "priority", must be one of: jobName',
        ),
        (
            RegisterJobDefinitionRequest,
            container(imagee="x"),
            'Unknown parameter in containerProperties: "imagee", must be one of: image, vcpus',
        ),
        (
            RegisterJobDefinitionRequest,
            container(resourceRequirements=[{"type": "VCPU", "value": "1", "unit": "x"}]),
            'Unknown parameter in containerProperties.resourceRequirements[0]: "unit", must be one of: type',
        ),
        (
            SubmitJobRequest,
            with_(JOB, dependsOn=[{"jobId": "a", "kind": "x"}]),
            'Unknown parameter in dependsOn[0]: "kind"',
        ),
    ],
    "JSON types": [
        (SubmitJobRequest, with_(JOB, jobName=5), "jobName: must be a string, got integer"),
        (
            SubmitJobRequest,
            with_(JOB, arrayProperties={"size": "3"}),
            "arrayProperties.size: must be an integer",
        ),
        (
            SubmitJobRequest,
            with_(JOB, arrayProperties={"size": 3.0}),
            "arrayProperties.size: must be an integer",
        ),
        (SubmitJobRequest, with_(JOB, propagateTags="true"), "propagateTags: must be a boolean, got string"),
        (
            SubmitJobRequest,
            with_(JOB, schedulingPriorityOverride=True),
            "schedulingPriorityOverride: must be an int",
        ),
        (SubmitJobRequest, with_(JOB, parameters={"a": 1}), "parameters.a: must be a string, got integer"),
        (SubmitJobRequest, with_(JOB, dependsOn={"jobId": "a"}), "dependsOn: must be a list, got object"),
        (SubmitJobRequest, with_(JOB, timeout=60), "timeout: must be an object, got integer"),
        (
            RegisterJobDefinitionRequest,
            container(command="echo hi"),
            "containerProperties.command: must be a list",
        ),
        (
            RegisterJobDefinitionRequest,
            container(volumes=[1]),
            "containerProperties.volumes[0]: must be an object",
        ),
        (
            CreateSchedulingPolicyRequest,
            {
                "name": "p",
                "fairsharePolicy": {"shareDistribution": [{"shareIdentifier": "a", "weightFactor": "1"}]},
            },
            "fairsharePolicy.shareDistribution[0].weightFactor: must be a number, got string",
        ),
    ],
    "names": [
        (
            RegisterJobDefinitionRequest,
            with_(JOB_DEFINITION, jobDefinitionName=""),
            "jobDefinitionName: must be 1-128",
        ),
        (
            RegisterJobDefinitionRequest,
            with_(JOB_DEFINITION, jobDefinitionName="a.b"),
            "jobDefinitionName: must be",
        ),
        (
            RegisterJobDefinitionRequest,
            with_(JOB_DEFINITION, jobDefinitionName="a" * 129),
            "jobDefinitionName:",
        ),
        (
            SubmitJobRequest,
            with_(JOB, jobName="-job"),
            "jobName: must be 1-128 characters long, start with a letter",
        ),
        (SubmitJobRequest, with_(JOB, jobName="_job"), "jobName: must be 1-128 characters long, start with"),
        (SubmitJobRequest, with_(JOB, jobName="j" * 129), "jobName: must be 1-128"),
        (SubmitJobRequest, with_(JOB, jobName="a b"), "jobName: must be 1-128"),
        (SubmitJobRequest, with_(JOB, jobQueue=""), "jobQueue: must not be empty"),
        (SubmitJobRequest, with_(JOB, jobDefinition=""), "jobDefinition: must not be empty"),
        (CreateJobQueueRequest, with_(QUEUE, jobQueueName="q/1"), "jobQueueName: must be 1-128"),
        (
            CreateComputeEnvironmentRequest,
            with_(MANAGED, computeEnvironmentName="c e"),
            "computeEnvironmentName:",
        ),
        (CreateSchedulingPolicyRequest, {"name": "p:1"}, "name: must be 1-128"),
    ],
    "enumerations": [
        (
            RegisterJobDefinitionRequest,
            with_(JOB_DEFINITION, type="Container"),
            "type: must be one of: container, mu",
        ),
        (
            RegisterJobDefinitionRequest,
            with_(JOB_DEFINITION, platformCapabilities=["EC2", "GPU"]),
            "platformCapabilities[1]: must be one of: EC2, FARGATE, STRATUS_HOST",
        ),
        (
            RegisterJobDefinitionRequest,
            container(resourceRequirements=[{"type": "CPU", "value": "1"}]),
            "containerProperties.resourceRequirements[0].type: must be one of: GPU, VCPU, MEMORY",
        ),
        (
            SubmitJobRequest,
            with_(JOB, dependsOn=[{"jobId": "a", "type": "N_TO_1"}]),
            "dependsOn[0].type: must be one",
        ),
        (
            ListJobsRequest,
            {"jobQueue": "q", "jobStatus": "DONE"},
            "jobStatus: must be one of: SUBMITTED, PENDING",
        ),
        (
            ListJobsRequest,
            {"jobQueue": "q", "filters": [{"name": "job_name", "values": ["a"]}]},
            "filters[0].name: must be one of: JOB_NAME",
        ),
        (CreateJobQueueRequest, with_(QUEUE, state="ON"), "state: must be one of: ENABLED, DISABLED"),
        (DescribeJobDefinitionsRequest, {"status": "active"}, "status: must be one of: ACTIVE, INACTIVE"),
        (
            CreateComputeEnvironmentRequest,
            with_(MANAGED, type="managed"),
            "type: must be one of: MANAGED, UNMANAGED",
        ),
        (
            CreateComputeEnvironmentRequest,
            with_(MANAGED, computeResources={"type": "GPU", "maxvCpus": 1}),
            "computeResources.type: must be one of: EC2, SPOT, FARGATE, FARGATE_SPOT",
        ),
        (
            CreateComputeEnvironmentRequest,
            with_(MANAGED, computeResources={"type": "EC2", "maxvCpus": 1, "allocationStrategy": "CHEAPEST"}),
            "computeResources.allocationStrategy: must be one of: BEST_FIT",
        ),
        (
            CreateJobQueueRequest,
            with_(
                QUEUE,
                jobStateTimeLimitActions=[
                    {"reason": "r", "state": "RUNNING", "maxTimeSeconds": 600, "action": "CANCEL"}
                ],
            ),
            "jobStateTimeLimitActions[0].state: must be one of: RUNNABLE",
        ),
    ],
    "scheduling priority": [
        (
            RegisterJobDefinitionRequest,
            with_(JOB_DEFINITION, schedulingPriority=-1),
            "schedulingPriority: must be at",
        ),
        (
            RegisterJobDefinitionRequest,
            with_(JOB_DEFINITION, schedulingPriority=10_000),
            "schedulingPriority: must be",
        ),
        (
            SubmitJobRequest,
            with_(JOB, schedulingPriorityOverride=10_000),
            "schedulingPriorityOverride: must be at most",
        ),
    ],
    "resource requirements": [
        (
            RegisterJobDefinitionRequest,
            container(resourceRequirements=[{"type": "MEMORY", "value": "3"}]),
            "containerProperties.resourceRequirements[0].value: MEMORY must be a whole number of MiB",
        ),
        (
            RegisterJobDefinitionRequest,
            container(resourceRequirements=[{"type": "MEMORY", "value": "1.5"}]),
            "containerProperties.resourceRequirements[0].value: MEMORY",
        ),
        (
            RegisterJobDefinitionRequest,
            container(resourceRequirements=[{"type": "VCPU", "value": "0"}]),
            "containerProperties.resourceRequirements[0].value: VCPU must be a positive number",
        ),
        (
            RegisterJobDefinitionRequest,
            container(resourceRequirements=[{"type": "VCPU", "value": "-1"}]),
            "containerProperties.resourceRequirements[0].value: VCPU",
        ),
        (
            RegisterJobDefinitionRequest,
            container(resourceRequirements=[{"type": "VCPU", "value": "nan"}]),
            "containerProperties.resourceRequirements[0].value: VCPU",
        ),
        (
            RegisterJobDefinitionRequest,
            container(resourceRequirements=[{"type": "GPU", "value": "0"}]),
            "containerProperties.resourceRequirements[0].value: GPU must be a positive whole number",
        ),
        (
            RegisterJobDefinitionRequest,
            container(resourceRequirements=[{"type": "GPU", "value": "0.5"}]),
            "containerProperties.resourceRequirements[0].value: GPU",
        ),
        (
            RegisterJobDefinitionRequest,
            container(resourceRequirements=[{"type": "VCPU", "value": "1"}, {"type": "VCPU", "value": "2"}]),
            "containerProperties.resourceRequirements[1].type: VCPU is given more than once",
        ),
        (
            RegisterJobDefinitionRequest,
            container(resourceRequirements=[{"type": "VCPU"}]),
            "containerProperties.resourceRequirements[0].value: is required",
        ),
        (
            RegisterJobDefinitionRequest,
            container(resourceRequirements=[{"type": "VCPU", "value": 1}]),
            "containerProperties.resourceRequirements[0].value: must be a string, got integer",
        ),
        (RegisterJobDefinitionRequest, container(vcpus=0), "containerProperties.vcpus: must be at least 1"),
        (RegisterJobDefinitionRequest, container(memory=3), "containerProperties.memory: must be at least 4"),
        (
            SubmitJobRequest,
            with_(JOB, containerOverrides={"resourceRequirements": [{"type": "MEMORY", "value": "x"}]}),
            "containerOverrides.resourceRequirements[0].value: MEMORY",
        ),
        (
            SubmitJobRequest,
            with_(JOB, containerOverrides={"memory": 2}),
            "containerOverrides.memory: must be at least",
        ),
    ],
    "environment": [
        (
            RegisterJobDefinitionRequest,
            container(environment=[{"name": "AWS_BATCH_JOB_ID", "value": "x"}]),
            "containerProperties.environment[0].name: Environment variable names starting with AWS_BATCH",
        ),
        (
            SubmitJobRequest,
            with_(JOB, containerOverrides={"environment": [{"name": "OK"}, {"name": "AWS_BATCHX"}]}),
            "containerOverrides.environment[1].name: Environment variable names starting with AWS_BATCH",
        ),
        (
            RegisterJobDefinitionRequest,
            container(environment=[{"value": "x"}]),
            "containerProperties.environment[0].",
        ),
    ],
    "job definition type": [
        (
            RegisterJobDefinitionRequest,
            {"jobDefinitionName": "jd", "type": "container"},
            "containerProperties: is required for a container job definition",
        ),
        (
            RegisterJobDefinitionRequest,
            with_(JOB_DEFINITION, nodeProperties=MNP),
            "nodeProperties: is only valid for multinode job definitions",
        ),
        (
            RegisterJobDefinitionRequest,
            {"jobDefinitionName": "jd", "type": "multinode"},
            "nodeProperties: is required for a multinode job definition",
        ),
        (
            RegisterJobDefinitionRequest,
            {
                "jobDefinitionName": "jd",
                "type": "multinode",
                "nodeProperties": MNP,
                "containerProperties": CONTAINER,
            },
            "containerProperties: is not valid for a multinode job definition",
        ),
        (
            RegisterJobDefinitionRequest,
            {
                "jobDefinitionName": "jd",
                "type": "multinode",
                "nodeProperties": MNP,
                "platformCapabilities": ["FARGATE"],
            },
            "platformCapabilities: multinode job definitions are not supported on FARGATE",
        ),
        (
            RegisterJobDefinitionRequest,
            {"jobDefinitionName": "jd", "type": "container", "ecsProperties": {"taskProperties": []}},
            "ecsProperties: stratus does not support Amazon ECS",
        ),
        (
            RegisterJobDefinitionRequest,
            {"jobDefinitionName": "jd", "type": "container", "eksProperties": {"podProperties": {}}},
            "eksProperties: stratus does not support Amazon EKS",
        ),
        (
            RegisterJobDefinitionRequest,
            with_(JOB_DEFINITION, consumableResourceProperties={"consumableResourceList": []}),
            "consumableResourceProperties: stratus does not support consumable resources",
        ),
        (
            SubmitJobRequest,
            with_(JOB, eksPropertiesOverride={}),
            "eksPropertiesOverride: stratus does not support Amazon EKS",
        ),
        (
            SubmitJobRequest,
            with_(
                JOB,
                nodeOverrides={"nodePropertyOverrides": [{"targetNodes": "0:", "ecsPropertiesOverride": {}}]},
            ),
            "nodeOverrides.nodePropertyOverrides[0].ecsPropertiesOverride: stratus does not support",
        ),
        (
            RegisterJobDefinitionRequest,
            container(image=None),
            "containerProperties.image: is required (unless platformCapabilities includes STRATUS_HOST",
        ),
        (RegisterJobDefinitionRequest, container(image=""), "containerProperties.image: must not be empty"),
        (
            RegisterJobDefinitionRequest,
            {
                "jobDefinitionName": "jd",
                "type": "multinode",
                "nodeProperties": with_(MNP, nodeRangeProperties=[{"targetNodes": "0:", "container": {}}]),
            },
            "nodeProperties.nodeRangeProperties[0].container.image: is required",
        ),
    ],
    "node properties": [
        (
            RegisterJobDefinitionRequest,
            {"jobDefinitionName": "m", "type": "multinode", "nodeProperties": with_(MNP, numNodes=0)},
            "nodeProperties.numNodes: must be at least 1",
        ),
        (
            RegisterJobDefinitionRequest,
            {"jobDefinitionName": "m", "type": "multinode", "nodeProperties": with_(MNP, mainNode=4)},
            "nodeProperties.mainNode: must be a node index between 0 and 3",
        ),
        (
            RegisterJobDefinitionRequest,
            {
                "jobDefinitionName": "m",
                "type": "multinode",
                "nodeProperties": with_(MNP, nodeRangeProperties=[]),
            },
            "nodeProperties.nodeRangeProperties: must have at least 1 entry",
        ),
        (
            RegisterJobDefinitionRequest,
            {
                "jobDefinitionName": "m",
                "type": "multinode",
                "nodeProperties": with_(
                    MNP, nodeRangeProperties=[{"targetNodes": "0-3", "container": CONTAINER}]
                ),
            },
            "nodeProperties.nodeRangeProperties[0].targetNodes: must be a node range",
        ),
        (
            RegisterJobDefinitionRequest,
            {
                "jobDefinitionName": "m",
                "type": "multinode",
                "nodeProperties": with_(
                    MNP, nodeRangeProperties=[{"targetNodes": "0:4", "container": CONTAINER}]
                ),
            },
            "nodeProperties.nodeRangeProperties[0].targetNodes: must name node indexes between 0 and 3",
        ),
        (
            RegisterJobDefinitionRequest,
            {
                "jobDefinitionName": "m",
                "type": "multinode",
                "nodeProperties": with_(
                    MNP, nodeRangeProperties=[{"targetNodes": "3:1", "container": CONTAINER}]
                ),
            },
            "nodeProperties.nodeRangeProperties[0].targetNodes: must name node indexes",
        ),
        (
            RegisterJobDefinitionRequest,
            {
                "jobDefinitionName": "m",
                "type": "multinode",
                "nodeProperties": with_(
                    MNP,
                    nodeRangeProperties=[
                        {"targetNodes": ":1", "container": CONTAINER},
                        {"targetNodes": "3:", "container": CONTAINER},
                    ],
                ),
            },
            "nodeProperties.nodeRangeProperties: the node ranges must cover every node from 0 to 3; node 2",
        ),
        (
            SubmitJobRequest,
            with_(JOB, nodeOverrides={"nodePropertyOverrides": [{"targetNodes": "all"}]}),
            "nodeOverrides.nodePropertyOverrides[0].targetNodes: must be a node range",
        ),
        (
            SubmitJobRequest,
            with_(JOB, nodeOverrides={"numNodes": 0}),
            "nodeOverrides.numNodes: must be at least 1",
        ),
    ],
    "retry strategy": [
        (
            SubmitJobRequest,
            with_(JOB, retryStrategy={"attempts": 0}),
            "retryStrategy.attempts: must be at least 1",
        ),
        (
            SubmitJobRequest,
            with_(JOB, retryStrategy={"attempts": 11}),
            "retryStrategy.attempts: must be at most 10",
        ),
        (
            SubmitJobRequest,
            with_(JOB, retryStrategy={"attempts": 2, "evaluateOnExit": [{"action": "EXIT"}] * 6}),
            "retryStrategy.evaluateOnExit: must have at most 5 entries, got 6",
        ),
        (
            SubmitJobRequest,
            with_(JOB, retryStrategy={"evaluateOnExit": [{"action": "EXIT", "onReason": "*"}]}),
            "retryStrategy.attempts: is required when evaluateOnExit is given",
        ),
        (
            SubmitJobRequest,
            with_(JOB, retryStrategy={"attempts": 2, "evaluateOnExit": [{"action": "STOP"}]}),
            "retryStrategy.evaluateOnExit[0].action: must be one of: RETRY, EXIT",
        ),
        (
            SubmitJobRequest,
            with_(JOB, retryStrategy={"attempts": 2, "evaluateOnExit": [{"onReason": "x"}]}),
            "retryStrategy.evaluateOnExit[0].action: is required",
        ),
        (
            RegisterJobDefinitionRequest,
            with_(
                JOB_DEFINITION,
                retryStrategy={"attempts": 2, "evaluateOnExit": [{"action": "RETRY", "onExitCode": "1x"}]},
            ),
            "retryStrategy.evaluateOnExit[0].onExitCode: must be digits, optionally ending with an asterisk",
        ),
        (
            RegisterJobDefinitionRequest,
            with_(
                JOB_DEFINITION,
                retryStrategy={"attempts": 2, "evaluateOnExit": [{"action": "RETRY", "onExitCode": "1*2"}]},
            ),
            "retryStrategy.evaluateOnExit[0].onExitCode: must be digits",
        ),
        (
            RegisterJobDefinitionRequest,
            with_(
                JOB_DEFINITION,
                retryStrategy={"attempts": 2, "evaluateOnExit": [{"action": "RETRY", "onReason": "a*b"}]},
            ),
            "retryStrategy.evaluateOnExit[0].onReason: must be a pattern of 1-512 characters",
        ),
        (
            RegisterJobDefinitionRequest,
            with_(
                JOB_DEFINITION,
                retryStrategy={
                    "attempts": 2,
                    "evaluateOnExit": [{"action": "RETRY", "onStatusReason": "x" * 513}],
                },
            ),
            "retryStrategy.evaluateOnExit[0].onStatusReason: must be a pattern of 1-512 characters",
        ),
    ],
    "timeout": [
        (
            SubmitJobRequest,
            with_(JOB, timeout={"attemptDurationSeconds": 59}),
            "timeout.attemptDurationSeconds: must be at least 60, got 59",
        ),
        (
            RegisterJobDefinitionRequest,
            with_(JOB_DEFINITION, timeout={"attemptDurationSeconds": 0}),
            "timeout.attemptDurationSeconds: must be at least 60",
        ),
    ],
    "tags": [
        (
            SubmitJobRequest,
            with_(JOB, tags={f"k{i}": "v" for i in range(51)}),
            "tags: A resource can have at most 50",
        ),
        (
            SubmitJobRequest,
            with_(JOB, tags={"aws:owner": "me"}),
            "tags.aws:owner: tag keys starting with 'aws:'",
        ),
        (SubmitJobRequest, with_(JOB, tags={"": "v"}), "tags: tag keys must be 1-128 characters long"),
        (
            SubmitJobRequest,
            with_(JOB, tags={"k": "v" * 257}),
            "tags.k: tag values must be at most 256 characters",
        ),
        (
            CreateJobQueueRequest,
            with_(QUEUE, tags={"aws:x": "y"}),
            "tags.aws:x: tag keys starting with 'aws:'",
        ),
        (
            TagResourceRequest,
            {"resourceArn": "arn:q", "tags": {"aws:x": "y"}},
            "tags.aws:x: tag keys starting with 'aws:'",
        ),
        (
            TagResourceRequest,
            {"resourceArn": "arn:q", "tags": {f"k{i}": "v" for i in range(51)}},
            "tags: A resource can have at most 50",
        ),
        (TagResourceRequest, {"resourceArn": "arn:q"}, "tags: is required"),
        (
            UntagResourceRequest,
            {"resourceArn": "arn:q", "tagKeys": []},
            "tagKeys: must have at least 1 entry",
        ),
        (
            UntagResourceRequest,
            {"resourceArn": "arn:q", "tagKeys": [f"k{i}" for i in range(51)]},
            "tagKeys: must have at most 50 entries",
        ),
        (
            UntagResourceRequest,
            {"resourceArn": "arn:q", "tagKeys": ["k" * 129]},
            "tagKeys[0]: tag keys must be 1-128 characters long",
        ),
        (ListTagsForResourceRequest, {"resourceArn": ""}, "resourceArn: must not be empty"),
    ],
    "quota share policies": [
        (
            CreateSchedulingPolicyRequest,
            {"name": "p", "quotaSharePolicy": {"idleResourceAssignmentStrategy": "FIFO"}},
            "quotaSharePolicy: stratus does not support quota share policies",
        ),
        (
            UpdateSchedulingPolicyRequest,
            {"arn": "arn:p", "quotaSharePolicy": {}},
            "quotaSharePolicy: stratus does not support quota share policies",
        ),
    ],
    "array jobs and dependencies": [
        (
            SubmitJobRequest,
            with_(JOB, arrayProperties={"size": 1}),
            "arrayProperties.size: must be at least 2, got 1",
        ),
        (
            SubmitJobRequest,
            with_(JOB, arrayProperties={"size": 10_001}),
            "arrayProperties.size: must be at most 10000",
        ),
        (
            SubmitJobRequest,
            with_(JOB, dependsOn=[{"jobId": f"j{i}"} for i in range(21)]),
            "dependsOn: Job cannot have more than 20 dependencies, got 21",
        ),
        (SubmitJobRequest, with_(JOB, dependsOn=[{}]), "dependsOn[0].jobId: is required"),
        (SubmitJobRequest, with_(JOB, dependsOn=[{"jobId": ""}]), "dependsOn[0].jobId: must not be empty"),
        (
            SubmitJobRequest,
            with_(JOB, dependsOn=[{"type": "SEQUENTIAL"}]),
            "dependsOn[0].type: SEQUENTIAL dependencies are only valid for array jobs",
        ),
        (
            SubmitJobRequest,
            with_(JOB, dependsOn=[{"jobId": "a", "type": "N_TO_N"}]),
            "dependsOn[0].type: N_TO_N dependencies are only valid for array jobs",
        ),
        (
            SubmitJobRequest,
            with_(JOB, arrayProperties={"size": 2}, dependsOn=[{"type": "N_TO_N"}]),
            "dependsOn[0].jobId: is required",
        ),
        (
            SubmitJobRequest,
            with_(JOB, arrayProperties={"size": 2}, dependsOn=[{"jobId": "a", "type": "SEQUENTIAL"}]),
            "dependsOn[0].jobId: must not be given for a SEQUENTIAL dependency",
        ),
        (
            SubmitJobRequest,
            with_(JOB, shareIdentifier="s" * 256),
            "shareIdentifier: must be at most 255 characters",
        ),
    ],
    "job operations": [
        (DescribeJobsRequest, {}, "jobs: is required"),
        (DescribeJobsRequest, {"jobs": []}, "jobs: must have at least 1 entry, got 0"),
        (
            DescribeJobsRequest,
            {"jobs": [str(i) for i in range(101)]},
            "jobs: must have at most 100 entries, got 101",
        ),
        (DescribeJobsRequest, {"jobs": ["a", ""]}, "jobs[1]: must not be empty"),
        (CancelJobRequest, {"jobId": "a"}, "reason: is required"),
        (CancelJobRequest, {"jobId": "", "reason": "r"}, "jobId: must not be empty"),
        (TerminateJobRequest, {"jobId": "a", "reason": ""}, "reason: must not be empty"),
        (DeregisterJobDefinitionRequest, {}, "jobDefinition: is required"),
        (DescribeJobDefinitionsRequest, {"maxResults": 101}, "maxResults: must be at most 100"),
        (
            DescribeJobDefinitionsRequest,
            {"jobDefinitions": ["j"] * 101},
            "jobDefinitions: must have at most 100",
        ),
    ],
    "list jobs": [
        (
            ListJobsRequest,
            {},
            "jobQueue: exactly one of jobQueue, arrayJobId or multiNodeJobId must be given, got 0",
        ),
        (
            ListJobsRequest,
            {"jobQueue": "q", "arrayJobId": "a"},
            "arrayJobId: exactly one of jobQueue, arrayJobId",
        ),
        (ListJobsRequest, {"arrayJobId": "a", "multiNodeJobId": "m"}, "multiNodeJobId: exactly one of"),
        (ListJobsRequest, {"jobQueue": "q", "maxResults": 0}, "maxResults: must be at least 1"),
        (ListJobsRequest, {"jobQueue": "q", "maxResults": 1001}, "maxResults: must be at most 1000"),
        (
            ListJobsRequest,
            {"jobQueue": "q", "maxResults": 101, "filters": [{"name": "JOB_NAME", "values": ["a"]}]},
            "maxResults: must be at most 100 when filters are given, got 101",
        ),
        (
            ListJobsRequest,
            {"jobQueue": "q", "filters": [{"name": "JOB_NAME", "values": ["a", "b"]}]},
            "filters[0].values: must have at most 1 entries, got 2",
        ),
        (
            ListJobsRequest,
            {"jobQueue": "q", "filters": [{"name": "JOB_NAME", "values": []}]},
            "filters[0].values: must have at least 1 entry",
        ),
        (
            ListJobsRequest,
            {"jobQueue": "q", "filters": [{"name": "JOB_NAME"}]},
            "filters[0].values: is required",
        ),
        (
            ListJobsRequest,
            {"jobQueue": "q", "filters": [{"name": "BEFORE_CREATED_AT", "values": ["yesterday"]}]},
            "filters[0].values[0]: BEFORE_CREATED_AT takes a time in milliseconds since the epoch",
        ),
    ],
    "job queues": [
        (CreateJobQueueRequest, with_(QUEUE, priority=None), "priority: is required"),
        (CreateJobQueueRequest, with_(QUEUE, priority=-1), "priority: must be at least 0"),
        (CreateJobQueueRequest, with_(QUEUE, priority=1001), "priority: must be at most 1000"),
        (CreateJobQueueRequest, with_(QUEUE, priority=1.5), "priority: must be an integer, got number"),
        (
            CreateJobQueueRequest,
            with_(QUEUE, computeEnvironmentOrder=None),
            "computeEnvironmentOrder: a job queue needs 1 to 3 compute environments",
        ),
        (
            CreateJobQueueRequest,
            with_(QUEUE, computeEnvironmentOrder=[]),
            "computeEnvironmentOrder: a job queue needs 1 to 3 compute environments",
        ),
        (
            CreateJobQueueRequest,
            with_(QUEUE, computeEnvironmentOrder=[{"order": i, "computeEnvironment": "c"} for i in range(4)]),
            "computeEnvironmentOrder: must have at most 3 entries, got 4",
        ),
        (
            CreateJobQueueRequest,
            with_(QUEUE, computeEnvironmentOrder=[{"order": 1, "computeEnvironment": c} for c in "ab"]),
            "computeEnvironmentOrder[1].order: each compute environment needs a distinct order",
        ),
        (
            CreateJobQueueRequest,
            with_(QUEUE, computeEnvironmentOrder=[{"order": -1, "computeEnvironment": "c"}]),
            "computeEnvironmentOrder[0].order: must be at least 0",
        ),
        (
            CreateJobQueueRequest,
            with_(QUEUE, computeEnvironmentOrder=[{"order": 1}]),
            "computeEnvironmentOrder[0].computeEnvironment: is required",
        ),
        (
            CreateJobQueueRequest,
            with_(
                QUEUE,
                jobStateTimeLimitActions=[
                    {"reason": "r", "state": "RUNNABLE", "maxTimeSeconds": 599, "action": "CANCEL"}
                ],
            ),
            "jobStateTimeLimitActions[0].maxTimeSeconds: must be at least 600",
        ),
        (
            CreateJobQueueRequest,
            with_(
                QUEUE,
                jobStateTimeLimitActions=[
                    {"reason": "r", "state": "RUNNABLE", "maxTimeSeconds": 86_401, "action": "KILL"}
                ],
            ),
            "jobStateTimeLimitActions[0].maxTimeSeconds: must be at most 86400",
        ),
        (
            CreateJobQueueRequest,
            with_(QUEUE, serviceEnvironmentOrder=[{"order": 1, "serviceEnvironment": "s"}]),
            "serviceEnvironmentOrder: stratus does not support service environments",
        ),
        (
            UpdateJobQueueRequest,
            {
                "jobQueue": "q",
                "computeEnvironmentOrder": [{"order": 1, "computeEnvironment": c} for c in "ab"],
            },
            "computeEnvironmentOrder[1].order: each compute environment needs a distinct order",
        ),
        (UpdateJobQueueRequest, {"priority": 1}, "jobQueue: is required"),
        (DeleteJobQueueRequest, {"jobQueue": ""}, "jobQueue: must not be empty"),
        (DescribeJobQueuesRequest, {"maxResults": 0}, "maxResults: must be at least 1"),
        (DescribeJobQueuesRequest, {"jobQueues": ["q"] * 101}, "jobQueues: must have at most 100 entries"),
    ],
    "compute environments": [
        (
            CreateComputeEnvironmentRequest,
            with_(MANAGED, computeResources=None),
            "computeResources: is required for a MANAGED compute environment",
        ),
        (
            CreateComputeEnvironmentRequest,
            with_(MANAGED, type="UNMANAGED"),
            "computeResources: must not be given for an UNMANAGED compute environment",
        ),
        (
            CreateComputeEnvironmentRequest,
            with_(MANAGED, unmanagedvCpus=4),
            "unmanagedvCpus: is only valid for an UNMANAGED compute environment",
        ),
        (
            CreateComputeEnvironmentRequest,
            {"computeEnvironmentName": "u", "type": "UNMANAGED", "unmanagedvCpus": -1},
            "unmanagedvCpus: must be at least 0",
        ),
        (
            CreateComputeEnvironmentRequest,
            with_(MANAGED, computeResources={"type": "EC2"}),
            "computeResources.maxvCpus: is required",
        ),
        (
            CreateComputeEnvironmentRequest,
            with_(MANAGED, computeResources={"type": "EC2", "minvCpus": -1, "maxvCpus": 4}),
            "computeResources.minvCpus: must be at least 0",
        ),
        (
            CreateComputeEnvironmentRequest,
            with_(MANAGED, computeResources={"type": "EC2", "minvCpus": 8, "maxvCpus": 4}),
            "computeResources.maxvCpus: must be at least minvCpus (8), got 4",
        ),
        (
            CreateComputeEnvironmentRequest,
            with_(MANAGED, computeResources={"type": "EC2", "minvCpus": 2, "desiredvCpus": 1, "maxvCpus": 4}),
            "computeResources.desiredvCpus: must be at least minvCpus (2), got 1",
        ),
        (
            CreateComputeEnvironmentRequest,
            with_(MANAGED, computeResources={"type": "EC2", "desiredvCpus": 5, "maxvCpus": 4}),
            "computeResources.desiredvCpus: must be at most maxvCpus (4), got 5",
        ),
        (
            CreateComputeEnvironmentRequest,
            with_(MANAGED, computeResources={"type": "EC2", "maxvCpus": 4, "minVcpus": 1}),
            'Unknown parameter in computeResources: "minVcpus", must be one of: type, allocationStrategy',
        ),
        (
            CreateComputeEnvironmentRequest,
            with_(MANAGED, eksConfiguration={"eksClusterArn": "a", "kubernetesNamespace": "n"}),
            "eksConfiguration: stratus does not support Amazon EKS compute environments",
        ),
        (
            UpdateComputeEnvironmentRequest,
            {"computeEnvironment": "ce", "computeResources": {"minvCpus": 4, "maxvCpus": 2}},
            "computeResources.maxvCpus: must be at least minvCpus (4), got 2",
        ),
        (UpdateComputeEnvironmentRequest, {"state": "ENABLED"}, "computeEnvironment: is required"),
        (DeleteComputeEnvironmentRequest, {}, "computeEnvironment: is required"),
        (DescribeComputeEnvironmentsRequest, {"maxResults": 101}, "maxResults: must be at most 100"),
    ],
    "scheduling policies": [
        (CreateSchedulingPolicyRequest, {}, "name: is required"),
        (
            CreateSchedulingPolicyRequest,
            {"name": "p", "fairsharePolicy": {"shareDecaySeconds": 604_801}},
            "fairsharePolicy.shareDecaySeconds: must be at most 604800",
        ),
        (
            CreateSchedulingPolicyRequest,
            {"name": "p", "fairsharePolicy": {"shareDecaySeconds": -1}},
            "fairsharePolicy.shareDecaySeconds: must be at least 0",
        ),
        (
            CreateSchedulingPolicyRequest,
            {"name": "p", "fairsharePolicy": {"computeReservation": 100}},
            "fairsharePolicy.computeReservation: must be at most 99",
        ),
        (
            CreateSchedulingPolicyRequest,
            {
                "name": "p",
                "fairsharePolicy": {"shareDistribution": [{"shareIdentifier": f"s{i}"} for i in range(501)]},
            },
            "fairsharePolicy.shareDistribution: must have at most 500 entries, got 501",
        ),
        (
            CreateSchedulingPolicyRequest,
            {"name": "p", "fairsharePolicy": {"shareDistribution": [{"shareIdentifier": "s" * 256}]}},
            "fairsharePolicy.shareDistribution[0].shareIdentifier: must be 1-255 characters",
        ),
        (
            CreateSchedulingPolicyRequest,
            {"name": "p", "fairsharePolicy": {"shareDistribution": [{"shareIdentifier": "a*b"}]}},
            "fairsharePolicy.shareDistribution[0].shareIdentifier: must be 1-255 characters, optionally",
        ),
        (
            CreateSchedulingPolicyRequest,
            {"name": "p", "fairsharePolicy": {"shareDistribution": [{"shareIdentifier": "*"}]}},
            "fairsharePolicy.shareDistribution[0].shareIdentifier: must be 1-255",
        ),
        (
            CreateSchedulingPolicyRequest,
            {"name": "p", "fairsharePolicy": {"shareDistribution": [{"weightFactor": 1.0}]}},
            "fairsharePolicy.shareDistribution[0].shareIdentifier: is required",
        ),
        (
            CreateSchedulingPolicyRequest,
            {
                "name": "p",
                "fairsharePolicy": {"shareDistribution": [{"shareIdentifier": "a", "weightFactor": 0}]},
            },
            "fairsharePolicy.shareDistribution[0].weightFactor: must be at least 0.0001",
        ),
        (
            CreateSchedulingPolicyRequest,
            {
                "name": "p",
                "fairsharePolicy": {"shareDistribution": [{"shareIdentifier": "a", "weightFactor": 1000}]},
            },
            "fairsharePolicy.shareDistribution[0].weightFactor: must be at most 999.9999",
        ),
        (
            CreateSchedulingPolicyRequest,
            {
                "name": "p",
                "fairsharePolicy": {
                    "shareDistribution": [{"shareIdentifier": "a"}, {"shareIdentifier": "a"}]
                },
            },
            "fairsharePolicy.shareDistribution[1].shareIdentifier: 'a' overlaps 'a'",
        ),
        (
            CreateSchedulingPolicyRequest,
            {
                "name": "p",
                "fairsharePolicy": {
                    "shareDistribution": [{"shareIdentifier": "team"}, {"shareIdentifier": "te*"}]
                },
            },
            "fairsharePolicy.shareDistribution[1].shareIdentifier: 'te*' overlaps 'team'",
        ),
        (UpdateSchedulingPolicyRequest, {"fairsharePolicy": {}}, "arn: is required"),
        (DeleteSchedulingPolicyRequest, {"arn": ""}, "arn: must not be empty"),
        (DescribeSchedulingPoliciesRequest, {"arns": []}, "arns: must have at least 1 entry"),
        (DescribeSchedulingPoliciesRequest, {"arns": ["a"] * 101}, "arns: must have at most 100 entries"),
        (ListSchedulingPoliciesRequest, {"maxResults": 0}, "maxResults: must be at least 1"),
    ],
}


@pytest.mark.parametrize(
    ("model", "body", "expected"),
    [
        pytest.param(*case, id=f"{family}-{i}")
        for family, cases in REFUSED.items()
        for i, case in enumerate(cases)
    ],
)
def test_rules_refuse_with_the_field_named(model: type[BaseModel], body: Any, expected: str) -> None:
    assert refused(model, body).startswith(expected)


def test_the_first_bad_field_is_named() -> None:
    message = refused(SubmitJobRequest, {"jobName": "-", "jobQueue": "", "jobDefinition": ""})
    assert message.startswith("jobName:")


def test_long_values_are_shortened_in_messages() -> None:
    message = refused(SubmitJobRequest, with_(JOB, jobName="x y" * 1000))
    assert len(message) < 300


@pytest.mark.parametrize(
    ("text", "num_nodes", "nodes"),
    [
        ("0:3", 8, range(4)),
        (":2", 8, range(3)),
        ("5:", 8, range(5, 8)),
        ("4", 8, range(4, 5)),
        (":", 3, range(3)),
    ],
)
def test_target_node_range(text: str, num_nodes: int, nodes: range) -> None:
    assert target_node_range(text, num_nodes) == nodes


def test_target_node_range_refuses_other_text() -> None:
    with pytest.raises(ValueError):
        target_node_range("0-3", 4)


# --------------------------------------------------------------------------------------------
# Agreement with botocore's own model and serializer


def _inner_model(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _inner_model(arg)
        if found is not None:
            return found
    return None


def _same_members(model: type[BaseModel], shape: Any, path: str) -> None:
    aliases = {str(field.alias) for field in model.model_fields.values()}
    assert aliases == set(shape.members), f"{path}: {sorted(aliases ^ set(shape.members))}"
    for field in model.model_fields.values():
        inner = _inner_model(field.annotation)
        if inner is None:
            continue
        member = shape.members[field.alias]
        while member.type_name == "list":
            member = member.member
        _same_members(inner, member, f"{path}.{field.alias}")


@pytest.mark.parametrize("operation", sorted(OPERATIONS))
def test_every_member_botocore_sends_is_known(operation: str) -> None:
    """Each model has exactly the members of botocore's input shape, at every depth it models."""
    session = pytest.importorskip("botocore.session")
    service = session.get_session().get_service_model("batch")
    _same_members(OPERATIONS[operation], service.operation_model(operation).input_shape, operation)


def test_bodies_serialized_by_botocore_parse() -> None:
    session = pytest.importorskip("botocore.session")
    client = session.get_session().create_client(
        "batch",
        region_name="us-east-1",
        endpoint_url="http://127.0.0.1:9",
        aws_access_key_id="a",
        aws_secret_access_key="b",
    )
    calls: list[tuple[str, type[BaseModel], dict[str, Any]]] = [
        (
            "SubmitJob",
            SubmitJobRequest,
            {
                "jobName": "example",
                "jobQueue": "HighPriority",
                "jobDefinition": "sleep60",
                "arrayProperties": {"size": 3},
                "dependsOn": [{"jobId": "876da822-4198-45f2-a252-6cea32512ea8", "type": "N_TO_N"}],
                "containerOverrides": {
                    "command": ["sleep", "30"],
                    "resourceRequirements": [{"type": "MEMORY", "value": "2048"}],
                },
                "retryStrategy": {"attempts": 2, "evaluateOnExit": [{"onExitCode": "1", "action": "RETRY"}]},
                "timeout": {"attemptDurationSeconds": 120},
                "tags": {"Department": "Engineering"},
            },
        ),
        (
            "RegisterJobDefinition",
            RegisterJobDefinitionRequest,
            {
                "jobDefinitionName": "sleep10",
                "type": "container",
                "containerProperties": {
                    "image": "busybox",
                    "command": ["sleep", "10"],
                    "resourceRequirements": [
                        {"type": "VCPU", "value": "1"},
                        {"type": "MEMORY", "value": "128"},
                    ],
                },
            },
        ),
        ("ListJobs", ListJobsRequest, {"jobQueue": "HighPriority", "jobStatus": "RUNNING"}),
        (
            "CreateComputeEnvironment",
            CreateComputeEnvironmentRequest,
            {
                "computeEnvironmentName": "C4OnDemand",
                "type": "MANAGED",
                "state": "ENABLED",
                "computeResources": {
                    "type": "EC2",
                    "minvCpus": 0,
                    "desiredvCpus": 48,
                    "maxvCpus": 128,
                    "instanceTypes": ["c4.large", "c4.xlarge"],
                    "subnets": ["subnet-220c0e0a"],
                    "securityGroupIds": ["sg-cf5093b2"],
                },
                "serviceRole": "arn:aws:iam::012345678910:role/AWSBatchServiceRole",
            },
        ),
        (
            "CreateSchedulingPolicy",
            CreateSchedulingPolicyRequest,
            {
                "name": "fair",
                "fairsharePolicy": {"shareDistribution": [{"shareIdentifier": "A", "weightFactor": 0.5}]},
            },
        ),
    ]
    for operation, model, params in calls:
        request = client._serializer.serialize_to_request(
            params, client.meta.service_model.operation_model(operation)
        )
        assert request["url_path"] == f"/v1/{operation.lower()}"
        body = json.loads(request["body"])
        parsed = parse(model, body)
        assert parsed.model_dump(by_alias=True, exclude_none=True) == body

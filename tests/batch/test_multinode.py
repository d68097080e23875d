"""Multi-node parallel Batch jobs on a live cluster, driven by boto3.

Each node runs its part on its own node with its ``AWS_BATCH_JOB_NODE_INDEX``; the job follows
its main node (its exit is the job's, and its end stops the others); DescribeJobs and ListJobs
show the job's ``nodeProperties`` and its nodes (``<jobId>#<index>``); definitions and
submissions AWS refuses are refused.
"""

from __future__ import annotations

import os
import shlex
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.batch.test_containers import IMAGE, runtime
from tests.batch.test_containers import pytestmark as _containers_mark
from tests.batch.test_endpoint import CONFIG, _client, _finished, _job, _log
from tests.integration.harness import Cluster, Stratus, wait_for

__all__ = ["runtime"]  # the container runtime fixture, shared with the container tests


@pytest.fixture
def batch(stratus: Stratus, tmp_path: Path) -> tuple[Any, Cluster]:
    """A cluster whose queue q1 has two static nodes, and a job queue over it."""
    c = stratus.create("mn", CONFIG, tmp_path)
    r = stratus.run("batch-credentials", "-n", "mn")
    assert r.code == 0, r.out + r.err
    client = _client(r.json)
    client.create_job_queue(
        jobQueueName="mq", priority=1, computeEnvironmentOrder=[{"order": 1, "computeEnvironment": "q1"}]
    )
    return client, c


def _host_definition(client: Any, name: str, command: str, *, main: int = 0, **extra: Any) -> None:
    client.register_job_definition(
        jobDefinitionName=name,
        type="multinode",
        platformCapabilities=["STRATUS_HOST"],
        nodeProperties={
            "numNodes": 2,
            "mainNode": main,
            "nodeRangeProperties": [
                {
                    "targetNodes": "0:",
                    "container": {
                        "command": ["sh", "-c", command],
                        "environment": [{"name": "WHO", "value": "every node"}],
                    },
                }
            ],
        },
        **extra,
    )


def _read_env(path: Path) -> dict[str, str]:
    out = {}
    for line in path.read_text().splitlines():
        name, _, value = line.partition("=")
        out[name] = value
    return out


def test_each_node_runs_its_part_and_the_job_follows_the_main_node(
    batch: tuple[Any, Cluster], tmp_path: Path
) -> None:
    client, c = batch
    out = tmp_path / "nodes"
    out.mkdir()
    out.chmod(0o777)
    # Each node writes its variables; the main node waits (at most 20 s) for the other's file.
    probe = (
        f"cd {shlex.quote(str(out))}; "
        "n=n$AWS_BATCH_JOB_NODE_INDEX; "
        "env | grep -E '^(AWS_BATCH_|WHO=|STRATUS_INSTANCE_ID=|SLURM)' | sort > $n.tmp; mv $n.tmp $n.env; "
        "echo output of node $AWS_BATCH_JOB_NODE_INDEX; "
        "if [ $AWS_BATCH_JOB_NODE_INDEX = $AWS_BATCH_JOB_MAIN_NODE_INDEX ]; then "
        "i=0; while [ ! -f n1.env ] && [ $i -lt 200 ]; do sleep 0.1; i=$((i+1)); done; fi"
    )
    _host_definition(client, "pair", probe)
    job = client.submit_job(jobName="pair", jobQueue="mq", jobDefinition="pair")
    job_id = job["jobId"]
    done = _finished(client, job_id, timeout=60)
    assert done["status"] == "SUCCEEDED", (done, _log(c, job_id))

    main, other = _read_env(out / "n0.env"), _read_env(out / "n1.env")
    assert main["AWS_BATCH_JOB_NODE_INDEX"] == "0" and other["AWS_BATCH_JOB_NODE_INDEX"] == "1"
    for env, index in ((main, 0), (other, 1)):
        assert env["AWS_BATCH_JOB_ID"] == f"{job_id}#{index}"
        assert env["AWS_BATCH_JOB_NUM_NODES"] == "2"
        assert env["AWS_BATCH_JOB_MAIN_NODE_INDEX"] == "0"
        assert env["AWS_BATCH_JOB_ATTEMPT"] == "1"
        assert env["AWS_BATCH_JQ_NAME"] == "mq" and env["AWS_BATCH_CE_NAME"] == "q1"
        assert env["WHO"] == "every node"
        assert not [k for k in env if k.startswith("SLURM")], env
    # The main node's address only on the other nodes; each part on a node of its own.
    assert "AWS_BATCH_JOB_MAIN_NODE_PRIVATE_IPV4_ADDRESS" not in main
    address = other["AWS_BATCH_JOB_MAIN_NODE_PRIVATE_IPV4_ADDRESS"]
    assert address.count(".") == 3 and all(x.isdigit() for x in address.split("."))
    assert main["STRATUS_INSTANCE_ID"] and other["STRATUS_INSTANCE_ID"]
    assert main["STRATUS_INSTANCE_ID"] != other["STRATUS_INSTANCE_ID"]
    # Each node's output in its own stream: the main node's is the job's.
    assert "output of node 0" in _log(c, job_id)
    node_log = c.root / "batch" / "logs" / f"{job_id}-1.1.log"
    assert "output of node 1" in node_log.read_text()

    # DescribeJobs: the job's nodeProperties, and each node.
    assert done["nodeProperties"]["numNodes"] == 2 and done["nodeProperties"]["mainNode"] == 0
    (group,) = done["nodeProperties"]["nodeRangeProperties"]
    assert group["targetNodes"] == "0:1" and group["container"]["command"] == ["sh", "-c", probe]
    n0, n1 = client.describe_jobs(jobs=[f"{job_id}#0", f"{job_id}#1"])["jobs"]
    assert n0["jobId"] == f"{job_id}#0" and n0["nodeDetails"] == {"nodeIndex": 0, "isMainNode": True}
    assert n1["jobId"] == f"{job_id}#1" and n1["nodeDetails"] == {"nodeIndex": 1, "isMainNode": False}
    assert n0["status"] == n1["status"] == "SUCCEEDED"
    assert n1["container"]["exitCode"] == 0 and n1["startedAt"] and n1["stoppedAt"]
    assert n1["container"]["logStreamName"] == f"pair/default/{job_id}-1.1"
    assert client.describe_jobs(jobs=[f"{job_id}#2", f"{job_id}#x"])["jobs"] == []

    # ListJobs: the nodes with multiNodeJobId, the job itself in its queue.
    nodes = client.list_jobs(multiNodeJobId=job_id, jobStatus="SUCCEEDED")["jobSummaryList"]
    assert [(n["jobId"], n["nodeProperties"]) for n in nodes] == [
        (f"{job_id}#0", {"isMainNode": True, "numNodes": 2, "nodeIndex": 0}),
        (f"{job_id}#1", {"isMainNode": False, "numNodes": 2, "nodeIndex": 1}),
    ]
    (listed,) = client.list_jobs(jobQueue="mq", jobStatus="SUCCEEDED")["jobSummaryList"]
    assert listed["jobId"] == job_id and listed["nodeProperties"] == {"numNodes": 2}


def test_the_main_nodes_failure_fails_the_job_and_stops_the_others(
    batch: tuple[Any, Cluster], tmp_path: Path
) -> None:
    client, c = batch
    pid_file = tmp_path / "child.pid"
    tmp_path.chmod(0o777)
    # Node 1 is the main node: it waits for node 0 to run, then fails; node 0 would sleep on.
    command = (
        f"if [ $AWS_BATCH_JOB_NODE_INDEX = 0 ]; then echo $$ > {pid_file}.tmp; mv {pid_file}.tmp {pid_file}; "
        "exec sleep 300; fi; "
        f"i=0; while [ ! -f {pid_file} ] && [ $i -lt 200 ]; do sleep 0.1; i=$((i+1)); done; exit 3"
    )
    _host_definition(client, "failing", command, main=1)
    job = client.submit_job(jobName="failing", jobQueue="mq", jobDefinition="failing")
    job_id = job["jobId"]
    done = _finished(client, job_id, timeout=60)
    assert done["status"] == "FAILED", (done, _log(c, job_id))
    assert done["container"]["exitCode"] == 3
    assert done["statusReason"] == "Essential container in task exited"
    pid = int(pid_file.read_text())

    def gone() -> bool:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        return False

    wait_for(gone, 30, interval=0.2, what="node 0's part to be stopped")
    n0, n1 = client.describe_jobs(jobs=[f"{job_id}#0", f"{job_id}#1"])["jobs"]
    assert n1["nodeDetails"]["isMainNode"] and n1["status"] == "FAILED" and n1["container"]["exitCode"] == 3
    wait_for(lambda: _job(client, f"{job_id}#0")["status"] == "FAILED", 20, interval=0.2)
    assert not n0["nodeDetails"]["isMainNode"]


def test_bad_multinode_definitions_and_submissions_are_refused(batch: tuple[Any, Cluster]) -> None:
    client, _ = batch

    def refused(call: Any, *words: str, **kwargs: Any) -> None:
        with pytest.raises(ClientError) as err:
            call(**kwargs)
        assert err.value.response["Error"]["Code"] == "ClientException"
        message = err.value.response["Error"]["Message"]
        assert all(w in message for w in words), message

    def props(num: int, main: int, *targets: str) -> dict[str, Any]:
        ranges = [{"targetNodes": t, "container": {"command": ["true"]}} for t in targets]
        return {"numNodes": num, "mainNode": main, "nodeRangeProperties": ranges}

    def register(nodes: dict[str, Any]) -> Any:
        return client.register_job_definition(
            jobDefinitionName="bad", type="multinode", platformCapabilities=["STRATUS_HOST"],
            nodeProperties=nodes,
        )  # fmt: skip

    refused(register, "numNodes", nodes={"numNodes": 0, "mainNode": 0, "nodeRangeProperties": []})
    refused(register, "mainNode", nodes=props(2, 2, "0:"))
    refused(register, "node 1 is not covered", nodes=props(2, 0, "0:0"))
    refused(register, "nodeRangeProperties[1].targetNodes", "nest", nodes=props(3, 0, "0:1", "1:2"))
    refused(register, "nodeRangeProperties[1].targetNodes", nodes=props(2, 0, "0:1", "0:1"))
    refused(register, "targetNodes", nodes=props(2, 0, "0:5"))
    # Nested ranges are AWS's: the narrower one wins.
    register(props(2, 0, "0:1", "1:1"))
    _host_definition(client, "mnp", "true")
    client.register_job_definition(
        jobDefinitionName="single", type="container", platformCapabilities=["STRATUS_HOST"],
        containerProperties={"command": ["true"]},
    )  # fmt: skip

    submit = client.submit_job
    refused(submit, "arrayProperties", "array", jobName="a", jobQueue="mq", jobDefinition="mnp",
            arrayProperties={"size": 2})  # fmt: skip
    refused(submit, "containerOverrides", "nodeOverrides", jobName="a", jobQueue="mq", jobDefinition="mnp",
            containerOverrides={"command": ["false"]})  # fmt: skip
    refused(submit, "nodeOverrides", jobName="a", jobQueue="mq", jobDefinition="single",
            nodeOverrides={"numNodes": 2})  # fmt: skip
    refused(submit, "nodeOverrides.numNodes", "open end", jobName="a", jobQueue="mq", jobDefinition="bad",
            nodeOverrides={"numNodes": 3})  # fmt: skip
    refused(submit, "nodeOverrides.nodePropertyOverrides[0].targetNodes", jobName="a", jobQueue="mq",
            jobDefinition="mnp",
            nodeOverrides={"nodePropertyOverrides": [{"targetNodes": "2:3"}]})  # fmt: skip
    # More nodes than the queue's compute environments have (q1: 2 nodes).
    refused(submit, "cannot run", jobName="a", jobQueue="mq", jobDefinition="mnp",
            nodeOverrides={"numNodes": 3})  # fmt: skip
    # An override reaches the nodes it names: numNodes 1 runs the main node alone.
    one = submit(jobName="one", jobQueue="mq", jobDefinition="mnp", nodeOverrides={"numNodes": 1})
    assert _finished(client, one["jobId"])["status"] == "SUCCEEDED"


# -- in containers --------------------------------------------------------------------------------

CONTAINER_CONFIG = CONFIG.replace("  BatchApi: {}\n", "  BatchApi:\n    ContainerRuntime: {runtime}\n")


@pytest.fixture
def container_batch(stratus: Stratus, runtime: list[str], tmp_path: Path) -> Iterator[tuple[Any, Cluster]]:
    text = CONTAINER_CONFIG.replace("{runtime}", shlex.join(runtime))
    c = stratus.create("mc", text, tmp_path)
    r = stratus.run("batch-credentials", "-n", "mc")
    assert r.code == 0, r.out + r.err
    client = _client(r.json)
    client.create_job_queue(
        jobQueueName="cq", priority=1, computeEnvironmentOrder=[{"order": 1, "computeEnvironment": "q1"}]
    )
    yield client, c


@_containers_mark
def test_container_nodes_run_in_containers(
    container_batch: tuple[Any, Cluster], runtime: list[str]
) -> None:
    client, c = container_batch
    probe = (
        "test -e /usr/bin/python3 && echo host || echo container; "
        "echo node $AWS_BATCH_JOB_NODE_INDEX of $AWS_BATCH_JOB_NUM_NODES main $AWS_BATCH_JOB_MAIN_NODE_INDEX "
        "at ${AWS_BATCH_JOB_MAIN_NODE_PRIVATE_IPV4_ADDRESS:-none} $GREETING; "
        "if [ $AWS_BATCH_JOB_NODE_INDEX = 0 ]; then sleep 3; fi"
    )
    client.register_job_definition(
        jobDefinitionName="cmnp",
        type="multinode",
        nodeProperties={
            "numNodes": 2,
            "mainNode": 0,
            "nodeRangeProperties": [
                {"targetNodes": "0:1", "container": {
                    "image": IMAGE, "command": ["sh", "-c", probe],
                    "environment": [{"name": "GREETING", "value": "hi"}],
                    "resourceRequirements": [{"type": "VCPU", "value": "1"},
                                             {"type": "MEMORY", "value": "64"}],
                }},
            ],
        },
    )  # fmt: skip
    job = client.submit_job(jobName="cmnp", jobQueue="cq", jobDefinition="cmnp")
    job_id = job["jobId"]
    done = _finished(client, job_id, timeout=120)
    assert done["status"] == "SUCCEEDED", (done, _log(c, job_id))
    assert _log(c, job_id).splitlines()[:2] == ["container", "node 0 of 2 main 0 at none hi"]
    lines = (c.root / "batch" / "logs" / f"{job_id}-1.1.log").read_text().splitlines()
    assert lines[0] == "container" and lines[1].startswith("node 1 of 2 main 0 at ")
    assert lines[1].endswith(" hi")

    def containers() -> list[str]:
        done = subprocess.run([*runtime, "ps", "-aq"], capture_output=True, text=True, timeout=60)
        return done.stdout.split()

    wait_for(lambda: not containers(), 60, interval=0.5, what="the containers to be removed")

    # A terminated job's containers are stopped and removed, on every node.
    client.register_job_definition(
        jobDefinitionName="clong",
        type="multinode",
        nodeProperties={"numNodes": 2, "mainNode": 0, "nodeRangeProperties": [
            {"targetNodes": "0:", "container": {"image": IMAGE, "command": ["sleep", "300"]}},
        ]},
    )  # fmt: skip
    long = client.submit_job(jobName="clong", jobQueue="cq", jobDefinition="clong")
    wait_for(lambda: len(containers()) == 2, 120, interval=0.5, what="both nodes' containers")
    client.terminate_job(jobId=long["jobId"], reason="stop it")
    ended = _finished(client, long["jobId"], timeout=120)
    assert (ended["status"], ended["statusReason"]) == ("FAILED", "stop it")
    wait_for(lambda: not containers(), 60, interval=0.5, what="the containers to be removed")

"""pcluster's awsbatch-cli verbs (``stratus awsbsub`` ... ``awsbhosts``) and ``stratus logs``,
end to end: the ``stratus`` console script against a live cluster's Batch endpoint.

One cluster with ``Stratus.BatchApi`` and a job queue serves the whole module (its jobs run in
the test's directories, never in the home directory but for the one test of the default working
directory, which removes what it made); the tests of clusters without an endpoint make their
own, under the integration tests' ``stratus`` fixture.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

from tests.integration.conftest import stratus
from tests.integration.harness import Cluster, Result, Stratus, kill_all, processes_of, wait_for

__all__ = ["stratus"]

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
      MinCount: 2
      MaxCount: 2
Stratus:
  BatchApi: {}
"""

PLAIN = CONFIG.replace("Stratus:\n  BatchApi: {}\n", "")
NAME = "aw"
STRATUS_BIN = Path(sys.executable).parent / "stratus"
SUBMITTED = re.compile(r"Job (\S+) \((\S+)\) has been submitted\.\n")
DATE = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d"


def cli(s: Stratus, *args: str, stdin: str | None = None, env: dict[str, str] | None = None) -> Result:
    """The ``stratus`` console script, as a user runs it (standard input empty unless given)."""
    environ = {k: v for k, v in s.env.items() if k != "STRATUS_CLUSTER"}  # as outside stratus ssh
    p = subprocess.run(
        [str(STRATUS_BIN), *args],
        input=stdin if stdin is not None else "",
        capture_output=True,
        text=True,
        env={**environ, **(env or {})},
        timeout=60,
    )
    return Result(p.returncode, p.stdout, p.stderr)


def ok(r: Result) -> str:
    assert r.code == 0, f"exit {r.code}\n{r.out}\n{r.err}"
    assert "Traceback" not in r.err, r.err
    return r.out


def refused(r: Result, *fragments: str) -> str:
    """A plain-text error: exit code 1, the message on stderr, no JSON, no traceback."""
    assert r.code == 1, f"exit {r.code}\n{r.out}\n{r.err}"
    assert r.err.strip() and "Traceback" not in r.err, r.err
    assert not r.out.lstrip().startswith("{") and not r.err.lstrip().startswith("{"), r.out + r.err
    for fragment in fragments:
        assert fragment in r.err, r.err
    return r.err


def teardown(s: Stratus) -> None:
    """Delete every cluster of ``s`` and make sure none of its processes survive."""
    pids: list[int] = []
    root = s.home / "clusters"
    for d in root.iterdir() if root.exists() else ():
        if d.name.startswith("."):
            continue
        c = Cluster(s, d.name, d)
        pid = c.controller_pid()
        pids += [pid] if pid else []
        pids += list(c.agent_pids().values())
        s.run("delete-cluster", "-n", d.name, "--wait")
    try:
        wait_for(lambda: not processes_of(pids), 15, what="every process of the cluster to exit")
    finally:
        leftovers = processes_of(pids)
        kill_all(pids)
    assert not leftovers, f"processes left running: {[p.pid for p in leftovers]}"


@pytest.fixture(scope="module")
def aw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stratus]:
    """A private STRATUS_HOME whose one cluster serves a Batch endpoint with job queue ``hq``."""
    tmp = tmp_path_factory.mktemp("awsb")
    s = Stratus(tmp / "home")
    try:
        s.create(NAME, CONFIG, tmp)
        _batch(s).create_job_queue(
            jobQueueName="hq", priority=1, computeEnvironmentOrder=[{"order": 1, "computeEnvironment": "q1"}]
        )
        yield s
    finally:
        teardown(s)


def _batch(s: Stratus) -> Any:
    creds = s.run("batch-credentials", "-n", NAME).json
    return boto3.client(
        "batch",
        endpoint_url=creds["EndpointUrl"],
        region_name=creds["Region"],
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        config=Config(retries={"max_attempts": 1}),
    )


@pytest.fixture(scope="module")
def batch(aw: Stratus) -> Any:
    return _batch(aw)


def submit(s: Stratus, *args: str, stdin: str | None = None, env: dict[str, str] | None = None) -> str:
    out = ok(cli(s, "awsbsub", "-c", NAME, *args, stdin=stdin, env=env))
    m = SUBMITTED.fullmatch(out)
    assert m, out
    return m.group(1)


def status(batch: Any, job_id: str) -> str:
    return str(batch.describe_jobs(jobs=[job_id])["jobs"][0]["status"])


def wait_status(batch: Any, job_id: str, *wanted: str, timeout: float = 30) -> None:
    wait_for(lambda: status(batch, job_id) in wanted, timeout, interval=0.2, what=f"{job_id} {wanted}")


def test_submit_stat_out_and_logs(aw: Stratus, batch: Any, tmp_path: Path) -> None:
    command = ["sh", "-c", 'echo "$GREETING"; echo two; pwd']
    job = submit(
        aw, "-jn", "hello", "-pw", str(tmp_path), "-e", "GREETING", *command, env={"GREETING": "hello world"}
    )
    wait_status(batch, job, "SUCCEEDED")
    workdir = tmp_path / f"job-{job}"
    assert workdir.is_dir()

    # One job asked for: the detailed view, pcluster's keys in pcluster's order.
    detail = ok(cli(aw, "awsbstat", "-c", NAME, job))
    keys = [line.split(":", 1)[0].strip() for line in detail.splitlines() if ":" in line]
    assert keys[:6] == ["jobId", "jobName", "createdAt", "startedAt", "stoppedAt", "status"]
    fields = {k.strip(): v.strip() for k, _, v in (line.partition(": ") for line in detail.splitlines())}
    assert fields["jobId"] == job and fields["jobName"] == "hello" and fields["status"] == "SUCCEEDED"
    assert fields["jobQueue"] == "hq" and fields["jobDefinition"] == "awsbsub:1"
    assert fields["command"] == "sh -c 'echo \"$GREETING\"; echo two; pwd'"
    assert (fields["exitCode"], fields["vcpus"], fields["memory[MB]"]) == ("0", "1", "128")
    assert fields["logStream"] == f"awsbsub/default/{job}.1"
    assert re.fullmatch(DATE, fields["startedAt"]), fields
    assert detail.endswith("-" * 25 + "\n")

    # The finished job in the table of every status; the default (active jobs) leaves it out.
    table = ok(cli(aw, "awsbstat", "-c", NAME, "-s", "ALL")).splitlines()
    assert table[0].split() == ["jobId", "jobName", "status", "startedAt", "stoppedAt", "exitCode"]
    assert set(table[1]) == {"-", " "}
    assert any(line.split()[:3] == [job, "hello", "SUCCEEDED"] for line in table[2:])
    assert job not in ok(cli(aw, "awsbstat", "-c", NAME))

    # Its output: awsbout with pcluster's time prefix, head and tail; logs as written.
    out = ok(cli(aw, "awsbout", "-c", NAME, job)).splitlines()
    assert [line.split(": ", 1)[1] for line in out] == ["hello world", "two", str(workdir)]
    assert all(re.match(DATE + ": ", line) for line in out)
    assert ok(cli(aw, "awsbout", "-c", NAME, "-hd", "1", job)).endswith(": hello world\n")
    assert ok(cli(aw, "awsbout", "-c", NAME, "--tail", "2", job)).count("\n") == 2
    assert ok(cli(aw, "logs", "-n", NAME, job)) == f"hello world\ntwo\n{workdir}\n"
    assert ok(cli(aw, "logs", "-n", NAME, "--attempt", "1", job)) == f"hello world\ntwo\n{workdir}\n"

    # A job that writes as it goes: followed until it ends.
    slow = submit(aw, "-pw", str(tmp_path), "sh", "-c", "for i in 1 2 3; do echo line $i; sleep 0.5; done")
    assert ok(cli(aw, "logs", "-n", NAME, "--follow", slow)) == "line 1\nline 2\nline 3\n"
    streamed = ok(cli(aw, "awsbout", "-c", NAME, "-s", "-sp", "1", slow)).splitlines()
    assert [line.split(": ", 1)[1] for line in streamed] == ["line 1", "line 2", "line 3"]


def test_a_multi_node_job_runs_the_command_on_every_node(aw: Stratus, batch: Any, tmp_path: Path) -> None:
    # The job ends with its main node (node 0), so node 0 waits for node 1's mark.
    script = (
        'i=$AWS_BATCH_JOB_NODE_INDEX; echo "node $i"; touch ../mark$i; '
        "if [ $i = 0 ]; then n=0; "
        "while [ ! -e ../mark1 ] && [ $n -lt 300 ]; do sleep 0.1; n=$((n+1)); done; fi"
    )
    job = submit(aw, "-n", "2", "-pw", str(tmp_path), "sh", "-c", script)
    wait_status(batch, job, "SUCCEEDED", timeout=60)
    detail = ok(cli(aw, "awsbstat", "-c", NAME, job)).splitlines()
    fields = {k.strip(): v.strip() for k, _, v in (line.partition(": ") for line in detail)}
    assert fields["nodes"] == "2" and fields["jobDefinition"] == "awsbsub-mnp:1"
    # Each node worked in its own directory (its job id carries its index) and logged its index.
    assert (tmp_path / f"job-{job}#0").is_dir() and (tmp_path / f"job-{job}#1").is_dir()
    assert ok(cli(aw, "logs", "-n", NAME, job)) == "node 0\n"


def test_default_working_directory_is_under_home(aw: Stratus, batch: Any) -> None:
    job = submit(aw, "pwd")
    made = Path.home() / f"job-{job}"
    try:
        wait_status(batch, job, "SUCCEEDED")
        assert ok(cli(aw, "logs", "-n", NAME, job)) == f"{made}\n"
        assert made.is_dir()
    finally:
        shutil.rmtree(made, ignore_errors=True)


def test_command_file_input_files_and_stdin(aw: Stratus, batch: Any, tmp_path: Path) -> None:
    script = tmp_path / "count.sh"
    script.write_text('#!/bin/sh\necho "args: $*"\nwc -l < data.txt\n')
    data = tmp_path / "data.txt"
    data.write_text("a\nb\nc\n")
    workdir = tmp_path / "wd"
    job = submit(aw, "-w", str(workdir), "-if", str(data), "-cf", str(script), "x", "-y")
    wait_status(batch, job, "SUCCEEDED")
    assert ok(cli(aw, "logs", "-n", NAME, job)) == "args: x -y\n3\n"
    assert (workdir / "count_sh.sh").read_text() == script.read_text()
    assert (workdir / "data.txt").read_text() == "a\nb\nc\n"

    # A script on standard input, named STDIN as pcluster names it.
    piped = submit(aw, "-pw", str(tmp_path), stdin="echo from stdin\n")
    wait_status(batch, piped, "SUCCEEDED")
    assert ok(cli(aw, "logs", "-n", NAME, piped)) == "from stdin\n"
    assert batch.describe_jobs(jobs=[piped])["jobs"][0]["jobName"] == "STDIN"


def test_arrays_dependencies_and_environment(aw: Stratus, batch: Any, tmp_path: Path) -> None:
    env = {"AWSB_KEPT": "kept", "AWSB_DENIED": "denied", "AWS_SECRET_THING": "never"}
    array = submit(
        aw, "-a", "3", "-pw", str(tmp_path), "-e", "all", "-eb", "AWSB_DENIED,PATH,HOME",
        "sh", "-c", 'echo "$AWS_BATCH_JOB_ARRAY_INDEX ${AWSB_KEPT:-} ${AWSB_DENIED:-} ${AWS_SECRET_THING:-}"',
        env=env,
    )  # fmt: skip
    after = submit(aw, "-pw", str(tmp_path), "-d", f"jobId={array}", "true")
    wait_status(batch, after, "SUCCEEDED")

    # The parent alone (with its size); its children with -e; all of them when it is asked for.
    table = ok(cli(aw, "awsbstat", "-c", NAME, "-s", "SUCCEEDED"))
    assert f"{array} [3]" in table and f"{array}:0" not in table
    expanded = ok(cli(aw, "awsbstat", "-c", NAME, "-s", "SUCCEEDED", "-e"))
    assert f"{array} [3]" not in expanded
    assert all(f"{array}:{i}" in expanded for i in range(3))
    asked = ok(cli(aw, "awsbstat", "-c", NAME, array)).splitlines()
    assert [line.split()[0] for line in asked[2:]] == [array, f"{array}:0", f"{array}:1", f"{array}:2"]

    # Output is the children's; the parent has none (pcluster's message).
    for i in range(3):
        assert ok(cli(aw, "logs", "-n", NAME, f"{array}:{i}")) == f"{i} kept  \n"
    refused(cli(aw, "awsbout", "-c", NAME, array), "No output available", "Please ask for its children")


def test_kill_queues_and_hosts(aw: Stratus, batch: Any, tmp_path: Path) -> None:
    sleeper = submit(aw, "-pw", str(tmp_path), "-p", "2", "-m", "256", "sleep", "60")
    waiting = submit(aw, "-pw", str(tmp_path), "-d", f"jobId={sleeper}", "true")
    wait_status(batch, sleeper, "RUNNING")

    # The host running it shows it and what it holds.
    hosts = ok(cli(aw, "awsbhosts", "-c", NAME)).splitlines()
    assert hosts[0].split() == [
        "ec2InstanceId",
        "instanceType",
        "privateIpAddress",
        "publicIpAddress",
        "runningJobs",
    ]
    rows = [line.split() for line in hosts[2:]]
    assert len(rows) == 2 and {r[1] for r in rows} == {"c5.large"}
    assert sorted(r[4] for r in rows) == ["0", "1"]
    busy = next(r[0] for r in rows if r[4] == "1")
    detail = ok(cli(aw, "awsbhosts", "-c", NAME, busy))
    fields = {k.strip(): v.strip() for k, _, v in (line.partition(": ") for line in detail.splitlines())}
    assert fields["ec2InstanceId"] == busy and fields["status"] == "ACTIVE"
    assert (fields["registeredCPUs"], fields["availableCPUs"], fields["runningJobs"]) == ("2", "0", "1")
    assert int(fields["availableMemory[MB]"]) == int(fields["registeredMemory[MB]"]) - 256
    refused(cli(aw, "awsbhosts", "-c", NAME, "i-0000000000000000"), "Instance (i-0000000000000000) not found")

    # Killing: the waiting one is cancelled, the running one terminated, finished ones left.
    out = ok(cli(aw, "awsbkill", "-c", NAME, "-r", "no longer needed", waiting, sleeper))
    assert out == (
        f"Your job cancellation request for job ({waiting}) in status (PENDING) has been submitted.\n"
        f"Your job termination request for job ({sleeper}) in status (RUNNING) has been submitted.\n"
    )
    wait_status(batch, sleeper, "FAILED")
    wait_status(batch, waiting, "FAILED")
    (job,) = batch.describe_jobs(jobs=[sleeper])["jobs"]
    assert job["statusReason"] == "no longer needed"
    again = ok(cli(aw, "awsbkill", "-c", NAME, sleeper))
    assert again == f"Job ({sleeper}) is already in (FAILED) status.\n"

    # Queues: the table, and the detail of one asked for.
    assert ok(cli(aw, "awsbqueues", "-c", NAME)).splitlines() == [
        "jobQueueName    status",
        "--------------  --------",
        "hq              VALID",
    ]
    detail = ok(cli(aw, "awsbqueues", "-c", NAME, "hq"))
    assert "jobQueueArn              : arn:aws:batch:us-east-1:" in detail
    assert "state                    : ENABLED" in detail
    refused(cli(aw, "awsbqueues", "-c", NAME, "nope"), "Job queue (nope) not found.")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["awsbsub", "-p", "two", "true"], "argument -p/--vcpus: invalid int value: 'two'"),
        (["awsbsub", "-a", "1", "true"], "-a/--array-size must be between 2 and 10,000, got 1"),
        (["awsbsub", "-t", "30", "true"], "-t/--timeout must be at least 60, got 30"),
        (["awsbsub", "-r", "11", "true"], "-r/--retry-attempts must be between 1 and 10, got 11"),
        (["awsbsub", "-n", "2", "-a", "3", "true"], "--nodes and --array-size cannot be used together"),
        (
            ["awsbsub", "-eb", "PATH", "true"],
            '--env-denylist parameter can be used only associated with --env "all"',
        ),
        (["awsbsub", "-w", "a", "-pw", "b", "true"], "cannot be used at the same time"),
        (["awsbsub", "-d", "after:1", "true"], "please double check --depends-on parameter syntax"),
        (["awsbsub", "-cf", "/nonexistent/script.sh"], "must be an existing file"),
        (["awsbsub"], "no command given and nothing on standard input"),
        (["awsbstat", "-s", "DONE"], "invalid status DONE"),
        (["awsbout", "-hd", "1", "-t", "1", "x"], "--tail and --head option cannot be set at the same time"),
        (["awsbout", "-sp", "1", "x"], "--stream-period can be used only with --stream option"),
        (["awsbkill"], "the following arguments are required: job_ids"),
    ],
)
def test_bad_option_values(aw: Stratus, args: list[str], message: str) -> None:
    refused(cli(aw, *args), message)


def test_unknown_jobs_queues_and_clusters(aw: Stratus, batch: Any, tmp_path: Path) -> None:
    unknown = "00000000-0000-0000-0000-000000000000"
    refused(cli(aw, "awsbstat", "-c", NAME, unknown), f"Job ({unknown}) not found.")
    refused(cli(aw, "awsbout", "-c", NAME, unknown), f"Job ({unknown}) not found.")
    refused(cli(aw, "awsbkill", "-c", NAME, unknown), f"Job ({unknown}) not found.")
    refused(cli(aw, "logs", "-n", NAME, unknown), f"Job ({unknown}) not found.")
    refused(cli(aw, "awsbsub", "-c", NAME, "-d", f"jobId={unknown}", "true"), f"job {unknown} does not exist")
    refused(cli(aw, "awsbsub", "-c", NAME, "--job-queue", "nope", "true"), "job queue nope does not exist")
    refused(cli(aw, "awsbstat", "-c", "nosuch"), "Cluster 'nosuch' does not exist")
    refused(cli(aw, "logs", "-n", "nosuch", unknown), "Cluster 'nosuch' does not exist")
    job = submit(aw, "-pw", str(tmp_path), "true")
    refused(cli(aw, "logs", "-n", NAME, "--attempt", "2", job), "has no attempt 2")
    refused(cli(aw, "logs", "-n", NAME, "--attempt", "0", job), "--attempt must be at least 1")

    # Without -c: the only cluster there is. With two enabled job queues, awsbsub asks for one.
    batch.create_job_queue(
        jobQueueName="second", priority=1, computeEnvironmentOrder=[{"order": 1, "computeEnvironment": "q1"}]
    )
    try:
        refused(
            cli(aw, "awsbsub", "true"),
            "Choose a job queue with --job-queue",
            "hq (ENABLED)",
            "second (ENABLED)",
        )
        job = submit(aw, "--job-queue", "second", "-pw", str(tmp_path), "true")
        assert batch.describe_jobs(jobs=[job])["jobs"][0]["jobQueue"].endswith("job-queue/second")
    finally:
        batch.update_job_queue(jobQueue="second", state="DISABLED")


def test_clusters_without_a_batch_endpoint(stratus: Stratus, tmp_path: Path) -> None:
    refused(cli(stratus, "awsbqueues"), "cluster parameter is required", "there is no cluster")
    stratus.create("plain", PLAIN, tmp_path)
    # The only cluster, named or not: it serves no endpoint, and the message says which setting.
    for args in (["awsbqueues"], ["awsbstat", "-c", "plain"], ["logs", "-n", "plain", "x"]):
        refused(cli(stratus, *args), "Cluster 'plain' serves no AWS Batch endpoint", "Stratus.BatchApi")
    stratus.create("other", PLAIN, tmp_path)
    refused(cli(stratus, "awsbhosts"), "cluster parameter is required", "plain", "other")
    # $STRATUS_CLUSTER (set in stratus ssh sessions) names the cluster too.
    refused(cli(stratus, "awsbhosts", env={"STRATUS_CLUSTER": "other"}), "Cluster 'other' serves no")

"""Compute nodes as EC2 instances: moto's server as the endpoint (through a fault-injecting proxy),
each launched instance booted on this machine by running its user data, from sbatch to
TerminateInstances."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("moto.server", reason="moto[server] is not installed")


from tests.ec2_boot import Booter, booting
from tests.ec2_endpoint import (
    CREDENTIALS,
    REGION,
    FaultProxy,
    client,
    fresh_account,
    moto_server,
    stock_image,
)
from tests.integration.harness import Cluster, Stratus, wait_for

CONFIG = """\
Region: {region}
HeadNode:
  InstanceType: t2.micro
Scheduling:
  Scheduler: slurm
  SlurmSettings:
    ScaledownIdletime: 0.05
  SlurmQueues:
  - Name: cloud
    CapacityType: {capacity}
    ComputeResources:
    - Name: small
      Provider: aws
      InstanceType: t3.micro
      MaxCount: 2
{more}DevSettings:
  Timeouts:
    ComputeNodeBootstrapTimeout: {bootstrap}
Stratus:
  Providers:
  - Name: aws
    Type: ec2
    EndpointUrl: {url}
    ImageId: {image}
    InstallCommand: ""
{extra}"""

OTHER_CR = """\
    - Name: other
      Provider: aws
      Instances: [{InstanceType: c5.large}, {InstanceType: c5a.large}]
      MaxCount: 1
"""


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    with moto_server() as url:
        yield url


@pytest.fixture(scope="module")
def image_id(moto_url: str) -> str:
    return stock_image(moto_url)


@pytest.fixture
def proxy(moto_url: str) -> Iterator[FaultProxy]:
    with fresh_account(moto_url) as p:  # every test starts from an empty account
        yield p


@pytest.fixture
def booter(proxy: FaultProxy, tmp_path: Path) -> Iterator[Booter]:
    with booting(proxy.url, tmp_path / "instances") as b:
        yield b


@pytest.fixture
def aws(stratus: Stratus) -> Stratus:
    stratus.env.update(
        AWS_ACCESS_KEY_ID=CREDENTIALS["aws_access_key_id"],
        AWS_SECRET_ACCESS_KEY=CREDENTIALS["aws_secret_access_key"],
    )
    for key in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN"):
        stratus.env.pop(key, None)
    return stratus


def _config(
    url: str,
    image: str,
    *,
    capacity: str = "ONDEMAND",
    region: str = REGION,
    bootstrap: int = 120,
    more: str = "",
    extra: str = "",
) -> str:
    return CONFIG.format(
        url=url, image=image, capacity=capacity, region=region, bootstrap=bootstrap, more=more, extra=extra
    )


def _live(url: str) -> dict[str, dict[str, str]]:
    """Instance id -> tags of every pending or running instance at ``url``."""
    out = {}
    for reservation in client(url).describe_instances()["Reservations"]:
        for raw in reservation["Instances"]:
            if raw["State"]["Name"] in ("pending", "running"):
                out[raw["InstanceId"]] = {t["Key"]: t["Value"] for t in raw.get("Tags", [])}
    return out


def _diagnose(c: Cluster, booter: Booter) -> str:
    logs = "".join(p.read_text()[-3000:] for p in sorted((c.root / "logs").glob("*.log")))
    agents = "".join(booter.agent_log(i)[-2000:] for i in booter.booted)
    views = c.slurm("squeue", "-t", "all").out + c.slurm("sinfo", "-R").out
    return views + logs + agents + str(booter.errors)


def _reasons(c: Cluster) -> dict[str, str]:
    r = c.slurm("sinfo", "-h", "-R", "-N", "-o", "%N|%E")
    return dict(line.split("|", 1) for line in r.out.splitlines() if "|" in line)


def test_a_job_powers_up_an_instance_that_joins_runs_it_and_is_terminated(
    aws: Stratus, proxy: FaultProxy, booter: Booter, image_id: str, tmp_path: Path, workdir: Path
) -> None:
    c = aws.create("ec2", _config(proxy.url, image_id), tmp_path)
    wrap = "echo ran on $(hostname) $SLURMD_NODENAME"
    job = c.sbatch("-o", str(workdir / "out.txt"), "--wrap", wrap, cwd=workdir)
    try:
        wait_for(lambda: c.squeue_states("-t", "all").get(str(job)) == "COMPLETED", 90, what="the job")
    except AssertionError:
        raise AssertionError(_diagnose(c, booter)) from None
    assert (workdir / "out.txt").read_text().split() == ["ran", "on", "cloud-dy-small-1", "cloud-dy-small-1"]
    # One RunInstances for the node, with ParallelCluster's tags; the instance is the node's.
    (launch,) = proxy.seen["RunInstances"]
    assert launch["InstanceType"] == "t3.micro" and launch["ImageId"] == image_id
    live = _live(proxy.url)
    (iid,) = live
    assert live[iid]["parallelcluster:cluster-name"] == "ec2"
    assert live[iid]["parallelcluster:queue-name"] == "cloud"
    assert live[iid]["parallelcluster:compute-resource-name"] == "small"
    assert live[iid]["parallelcluster:node-type"] == "Compute"
    instances = aws.run("describe-cluster-instances", "-n", "ec2").json["instances"]
    (row,) = [i for i in instances if i.get("nodeType") == "ComputeNode"]
    assert row["instanceId"] == iid and row["instanceType"] == "t3.micro"
    # Idle for ScaledownIdletime (3 s): the node powers down and its instance is terminated.
    wait_for(lambda: not _live(proxy.url), 60, what="the idle node's instance to be terminated")
    wait_for(lambda: iid in booter.ended, 30, what="the instance's agent to be switched off")
    r = aws.run("delete-cluster", "-n", "ec2", "--wait")
    assert r.code == 0, r.out + r.err
    assert not _live(proxy.url) and not booter.errors


def test_an_instance_that_disappears_fails_its_node_and_requeues_its_job(
    aws: Stratus, proxy: FaultProxy, booter: Booter, image_id: str, tmp_path: Path, workdir: Path
) -> None:
    c = aws.create("spot", _config(proxy.url, image_id, capacity="SPOT"), tmp_path)
    marker = workdir / "started"
    job = c.sbatch("--wrap", f"echo run$SLURM_RESTART_COUNT >> {marker}; sleep 600", cwd=workdir)
    try:
        wait_for(lambda: marker.exists(), 90, what="the job to start")
    except AssertionError:
        raise AssertionError(_diagnose(c, booter)) from None
    (launch,) = proxy.seen["RunInstances"]
    assert launch.get("InstanceMarketOptions.MarketType") == "spot", launch
    (iid,) = _live(proxy.url)
    # EC2 reclaims the spot instance (terminated behind stratus's back).
    client(proxy.url).terminate_instances(InstanceIds=[iid])
    try:
        wait_for(lambda: marker.read_text().split() == ["run", "run1"], 120, what="the job to run again")
    except AssertionError:
        raise AssertionError(_diagnose(c, booter)) from None
    assert "NODE_FAIL" in c.slurm("sacct", "-j", str(job), "-n", "-o", "State", "-D").out
    r = aws.run("delete-cluster", "-n", "spot", "--wait")
    assert r.code == 0, r.out + r.err
    assert not _live(proxy.url)


@pytest.mark.parametrize(
    ("setup", "expect"),
    [
        ("auth", "(Code:AuthFailure)"),
        ("subnet", "(Code:InvalidSubnetID.NotFound)"),
        ("endpoint", "(Code:InvalidParameterValue)"),
        ("credentials", "(Code:AuthFailure)"),
    ],
)
def test_launch_errors_name_the_cause_in_sinfo_and_leave_nothing(
    aws: Stratus,
    proxy: FaultProxy,
    booter: Booter,
    image_id: str,
    tmp_path: Path,
    workdir: Path,
    setup: str,
    expect: str,
) -> None:
    url = proxy.url
    extra = ""
    if setup == "auth":
        proxy.fail("RunInstances", "AuthFailure")
    elif setup == "subnet":
        extra = "    SubnetId: subnet-0123456789abcdef0\n"
    elif setup == "credentials":
        for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
            aws.env.pop(key, None)
        aws.env.update(
            AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "none"),
            AWS_CONFIG_FILE=str(tmp_path / "none"),
            AWS_EC2_METADATA_DISABLED="true",
        )
    else:
        url = "http://127.0.0.1:9"  # nothing listens there
    text = _config(url, image_id).replace('    InstallCommand: ""\n', f'    InstallCommand: ""\n{extra}')
    c = aws.create("bad", text, tmp_path)
    job = c.sbatch("--wrap", "true", cwd=workdir)
    try:
        wait_for(lambda: any(expect in r for r in _reasons(c).values()), 90, what=expect)
    except AssertionError:
        raise AssertionError(_diagnose(c, booter)) from None
    reason = next(r for r in _reasons(c).values() if expect in r)
    assert "Failure when resuming nodes" in reason
    assert str(job) in c.squeue_states()  # the job waits (requeued), it is not lost
    r = aws.run("delete-cluster", "-n", "bad", "--wait")
    assert r.code == 0, r.out + r.err
    assert not _live(proxy.url)


def test_an_instance_that_never_joins_fails_at_the_bootstrap_timeout(
    aws: Stratus, proxy: FaultProxy, booter: Booter, image_id: str, tmp_path: Path, workdir: Path
) -> None:
    booter.hold.add("cloud-dy-small-1")
    c = aws.create("mute", _config(proxy.url, image_id, bootstrap=5), tmp_path)
    c.sbatch("--wrap", "true", cwd=workdir)
    try:
        wait_for(lambda: "cloud-dy-small-1" in _reasons(c), 90, what="the node to fail")
    except AssertionError:
        raise AssertionError(_diagnose(c, booter)) from None
    # The instance that never joined is terminated, not left running.
    wait_for(
        lambda: not any(t.get("stratus:node") == "cloud-dy-small-1" for t in _live(proxy.url).values()),
        60,
        what="the silent instance to be terminated",
    )
    r = aws.run("delete-cluster", "-n", "mute", "--wait")
    assert r.code == 0, r.out + r.err
    assert not _live(proxy.url)


def test_no_capacity_for_one_type_sends_jobs_to_the_queues_other_compute_resource(
    aws: Stratus, proxy: FaultProxy, booter: Booter, image_id: str, tmp_path: Path, workdir: Path
) -> None:
    proxy.fail_type("t3.micro", "InsufficientInstanceCapacity")
    c = aws.create("ice", _config(proxy.url, image_id, more=OTHER_CR), tmp_path)
    job = c.sbatch("-o", str(workdir / "out"), "--wrap", "echo $SLURMD_NODENAME", cwd=workdir)
    try:
        wait_for(lambda: c.squeue_states("-t", "all").get(str(job)) == "COMPLETED", 90, what="the job")
    except AssertionError:
        raise AssertionError(_diagnose(c, booter)) from None
    # It ran on the other compute resource; the one without capacity is disabled, shown down~.
    assert (workdir / "out").read_text().strip() == "cloud-dy-other-1"
    # Several instance types: an instant EC2 Fleet over the node's own launch template.
    (fleet,) = proxy.seen["CreateFleet"]
    assert fleet["Type"] == "instant" and fleet["TargetCapacitySpecification.TotalTargetCapacity"] == "1"
    types = {v for k, v in fleet.items() if k.endswith("InstanceType")}
    assert types == {"c5.large", "c5a.large"}, fleet
    assert proxy.seen["DeleteLaunchTemplate"]
    reasons = _reasons(c)
    for node in ("cloud-dy-small-1", "cloud-dy-small-2"):
        assert reasons.get(node) == (
            "(Code:InsufficientInstanceCapacity)Temporarily disabling node due to insufficient capacity"
        ), reasons
    states = c.slurm("sinfo", "-h", "-N", "-o", "%N %t").out
    assert "cloud-dy-small-2 down~" in states, states
    r = aws.run("delete-cluster", "-n", "ice", "--wait")
    assert r.code == 0, r.out + r.err
    assert not _live(proxy.url)


def test_instances_of_the_cluster_that_no_record_knows_are_terminated_and_running_ones_kept(
    aws: Stratus, proxy: FaultProxy, booter: Booter, image_id: str, tmp_path: Path, workdir: Path
) -> None:
    c = aws.create("orph", _config(proxy.url, image_id), tmp_path)
    marker = workdir / "started"
    job = c.sbatch("--wrap", f"touch {marker}; sleep 600", cwd=workdir)
    wait_for(marker.exists, 90, what="the job to start")
    (kept,) = _live(proxy.url)
    # An instance tagged with the cluster that stratus never recorded (e.g. launched by a head
    # node killed before it could record it), and one of another cluster.
    tags = {
        "parallelcluster:cluster-name": "orph",
        "parallelcluster:node-type": "Compute",
        "parallelcluster:queue-name": "cloud",
        "parallelcluster:compute-resource-name": "small",
        "stratus:node": "cloud-dy-small-2",
    }
    ec2 = client(proxy.url)
    booter.hold.add("cloud-dy-small-2")

    def launch(cluster: str) -> str:
        spec = [{"ResourceType": "instance", "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}]
        spec[0]["Tags"][0]["Value"] = cluster
        answer = ec2.run_instances(ImageId=image_id, MinCount=1, MaxCount=1, TagSpecifications=spec)
        return str(answer["Instances"][0]["InstanceId"])

    orphan, foreign = launch("orph"), launch("someone-else")
    ctrl = c.controller_pid()
    assert ctrl is not None
    os.kill(ctrl, signal.SIGKILL)
    wait_for(lambda: c.controller_pid() is None, 20, what="the head node to die")
    r = aws.run("start-head-node", "-n", "orph")
    assert r.code == 0, r.out + r.err
    # Reconciled at start-up: the orphan is terminated; the node's instance and its job live on.
    wait_for(lambda: orphan not in _live(proxy.url), 60, what="the orphan to be terminated")
    assert kept in _live(proxy.url) and foreign in _live(proxy.url)
    assert c.squeue_states().get(str(job)) == "RUNNING"
    r = aws.run("delete-cluster", "-n", "orph", "--wait")
    assert r.code == 0, r.out + r.err
    assert set(_live(proxy.url)) == {foreign}

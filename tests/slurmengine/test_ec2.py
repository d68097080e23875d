"""``Engine: slurm`` with EC2 instances as nodes: moto's server as the endpoint, through a
fault-injecting proxy, each launched instance booted on this machine by running its user data
(:mod:`tests.ec2_boot`).

Slurm's resume program asks the head node, which launches an instance; its agent runs munged
(with the cluster's key) and slurmd on a slurm.conf of its own; the job runs; idle, the node is
powered down by Slurm's suspend program and its instance terminated. A compute resource without
capacity: the node is marked down in Slurm with the reason (InsufficientInstanceCapacity), once,
not relaunched again and again.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

pytest.importorskip("moto.server", reason="moto[server] is not installed")

from stratus.slurmengine.daemons import SlurmDaemons
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
from tests.integration.harness import Stratus, wait_for
from tests.slurmengine.test_burst import (  # noqa: F401 (the site fixture)
    _job_state,
    _partitions,
    _restart_slurmctld,
    _run_job,
    _sbatch,
    site,
)
from tests.slurmengine.test_engine import (  # noqa: F401 (fixtures)
    home,
    job_state,
    real_slurm,
    sbatch,
    shell,
    stratus,
)

# A cluster of EC2 instances on real Slurm: ``{resources}`` (its compute resources) and
# ``{existing}`` (an ExistingSlurm block, or nothing) filled in by the tests.
TEMPLATE = """\
Region: {region}
HeadNode:
  InstanceType: t2.micro
Scheduling:
  Scheduler: slurm
  SlurmSettings:
    ScaledownIdletime: 0.05
  SlurmQueues:
  - Name: cloud
    ComputeResources:
{resources}\
Stratus:
  Engine: slurm
{existing}\
  Providers:
  - Name: aws
    Type: ec2
    EndpointUrl: {url}
    ImageId: {image}
    InstallCommand: ""
"""

RESOURCES = """\
    - Name: small
      Provider: aws
      InstanceType: t3.micro
      MaxCount: 1
    - Name: big
      Provider: aws
      InstanceType: c5.large
      MaxCount: 1
"""


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    with moto_server() as url:
        yield url


@pytest.fixture
def proxy(moto_url: str) -> Iterator[FaultProxy]:
    with fresh_account(moto_url) as p:
        yield p


@pytest.fixture
def booter(proxy: FaultProxy, home: Path) -> Iterator[Booter]:  # noqa: F811
    with booting(proxy.url, home / "instances") as b:
        yield b


def _aws(stratus: Stratus) -> None:  # noqa: F811
    """The endpoint's credentials, and none of the machine's."""
    stratus.env.update(
        AWS_ACCESS_KEY_ID=CREDENTIALS["aws_access_key_id"],
        AWS_SECRET_ACCESS_KEY=CREDENTIALS["aws_secret_access_key"],
    )
    for key in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN"):
        stratus.env.pop(key, None)


def _live(url: str) -> list[str]:
    """The ids of the pending or running instances at ``url``."""
    return [
        raw["InstanceId"]
        for reservation in client(url).describe_instances()["Reservations"]
        for raw in reservation["Instances"]
        if raw["State"]["Name"] in ("pending", "running")
    ]


def _launches(proxy: FaultProxy, instance_type: str) -> int:
    """How many RunInstances requests for ``instance_type`` reached the endpoint."""
    return sum(1 for r in proxy.seen.get("RunInstances", []) if r.get("InstanceType") == instance_type)


def _diagnostics(root: Path, booter: Booter) -> str:
    logs = [root / "slurm" / "log" / "slurmctld.log", root / "slurm" / "log" / "power.log"]
    logs += sorted((root / "logs").glob("*.log"))
    text = "\n".join(f"== {p}\n{p.read_text()[-3000:]}" for p in logs if p.exists())
    return text + "".join(booter.agent_log(i)[-2000:] for i in booter.booted) + str(booter.errors)


@real_slurm
def test_engine_slurm_powers_ec2_instances_up_and_down_and_marks_a_node_without_capacity_down(
    stratus: Stratus,  # noqa: F811
    home: Path,  # noqa: F811
    proxy: FaultProxy,
    booter: Booter,
    moto_url: str,
) -> None:
    _aws(stratus)
    work = home / "work"
    work.mkdir()
    work.chmod(0o755)
    proxy.fail_type("t3.micro", "InsufficientInstanceCapacity")
    config = TEMPLATE.format(
        region=REGION, resources=RESOURCES, existing="", url=proxy.url, image=stock_image(moto_url)
    )
    c = stratus.create("ec", config, home)

    # No capacity for the small node: Slurm's resume program asks for it, the launch fails, and
    # Slurm is told the node is down and why; the job waits rather than looping on launches.
    stuck = sbatch(stratus, "ec", "-C small -o stuck.out --wrap=true", work)

    def reason() -> str:
        return shell(stratus, "ec", "sinfo -h -R -N -o '%N|%E'").out

    try:
        wait_for(lambda: "cloud-dy-small-1|" in reason(), 90, interval=1, what="the node down")
    except AssertionError:
        raise AssertionError(reason() + _diagnostics(c.root, booter)) from None
    assert "InsufficientInstanceCapacity" in reason(), reason()
    tries = _launches(proxy, "t3.micro")
    assert tries >= 1
    # A window in which a loop of launches would show (slurmctld's power-save cycle is 10 s,
    # stratus's reconcile 30 s): nothing to wait for but time.
    time.sleep(20)
    assert _launches(proxy, "t3.micro") == tries
    assert job_state(stratus, "ec", stuck) == "PENDING"
    assert shell(stratus, "ec", f"scancel {stuck}").code == 0

    # A node with capacity: launched for its job, which runs on it; idle, it is powered down and
    # its instance terminated.
    job = sbatch(stratus, "ec", "-C big -o big.out --wrap='echo on $SLURMD_NODENAME'", work)
    try:
        wait_for(lambda: job_state(stratus, "ec", job) == "COMPLETED", 180, interval=1, what="the job")
    except AssertionError:
        raise AssertionError(shell(stratus, "ec", "sinfo").out + _diagnostics(c.root, booter)) from None
    assert (work / "big.out").read_text() == "on cloud-dy-big-1\n"
    (iid,) = _live(proxy.url)
    wait_for(lambda: not _live(proxy.url), 150, interval=1, what="the idle node's instance to be terminated")
    wait_for(lambda: iid in booter.ended, 30, what="the instance to be switched off")
    assert "suspend cloud-dy-big-1: HTTP 200" in (c.root / "slurm" / "log" / "power.log").read_text()
    assert not booter.errors


BURST_RESOURCES = """\
    - Name: dy
      Provider: aws
      InstanceType: t3.micro
      MaxCount: 1
"""


def burst_config(conf: Path, key: str, url: str, image: str) -> str:
    existing = f"  ExistingSlurm:\n    Conf: {conf}\n    MungeKey: {key}\n"
    return TEMPLATE.format(region=REGION, resources=BURST_RESOURCES, existing=existing, url=url, image=image)


@real_slurm
def test_an_existing_slurm_bursts_into_ec2_instances(
    site: SlurmDaemons,  # noqa: F811
    stratus: Stratus,  # noqa: F811
    home: Path,  # noqa: F811
    proxy: FaultProxy,
    booter: Booter,
    moto_url: str,
) -> None:
    _aws(stratus)
    work = home / "work"
    work.mkdir()
    work.chmod(0o755)
    conf = site.slurm_conf
    # Without the site's munge key, nodes on EC2 could not join: refused, nothing created.
    missing = "/nonexistent/munge.key"
    image = stock_image(moto_url)
    no_key = burst_config(conf, missing, proxy.url, image)
    cfg = home / "nokey.yaml"
    cfg.write_text(no_key.replace(f"    MungeKey: {missing}\n", ""))
    r = stratus.run("create-cluster", "-n", "nokey", "-c", str(cfg))
    assert r.code == 1 and "Stratus.ExistingSlurm.MungeKey is missing" in r.out, r.out
    cfg.write_text(no_key)
    r = stratus.run("create-cluster", "-n", "nokey", "-c", str(cfg))
    assert r.code == 1 and "/nonexistent/munge.key is not a readable file" in r.out, r.out
    assert not stratus.cluster_dir("nokey").exists()

    config = burst_config(conf, str(site.munge_key), proxy.url, image)
    c = stratus.create("bec", config, home)
    burst = c.root / "slurm" / "burst.conf"
    assert "add DebugFlags=NO_CONF_HASH" in burst.read_text()
    original = conf.read_text()
    conf.write_text(original + f"include {burst}\n")
    _restart_slurmctld(site)
    wait_for(lambda: "cloud" in _partitions(site), 30, interval=0.5, what="the stratus partition at the site")

    # The site's job on the stratus partition: an EC2 instance is launched, its agent runs a
    # munged with the site's key and slurmd on the site's configuration (with the node's paths).
    job = _sbatch(site, "cloud", work / "cloud.out")
    try:
        wait_for(lambda: _job_state(site, job) == "COMPLETED", 180, interval=1, what="the burst job")
    except AssertionError:
        raise AssertionError(str(_partitions(site)) + _diagnostics(c.root, booter)) from None
    assert (work / "cloud.out").read_text() == "on cloud-dy-dy-1\n"
    (iid,) = _live(proxy.url)
    agent = int((booter.booted[iid] / "agent.pid").read_text())
    children = {p.name(): p for p in psutil.Process(agent).children(recursive=True)}
    key_arg = next(a for a in children["munged"].cmdline() if a.startswith("--key-file="))
    node_dir = Path(key_arg.split("=", 1)[1]).parent
    assert (node_dir / "munge.key").read_bytes() == site.munge_key.read_bytes()
    node_conf = (node_dir / "slurm.conf").read_text()
    assert "NodeName=cloud-dy-dy-1" in node_conf and f"AuthInfo=socket={node_dir}/munge.socket" in node_conf

    # Idle: the site's slurmctld suspends it through stratus; the instance is terminated.
    wait_for(lambda: not _live(proxy.url), 150, interval=1, what="the idle instance to be terminated")
    wait_for(lambda: iid in booter.ended, 30, what="the instance to be switched off")
    assert not node_dir.exists()

    # Undone: the include removed, slurmctld restarted, the cluster deleted; the site works.
    conf.write_text(original)
    _restart_slurmctld(site)
    assert stratus.run("delete-cluster", "-n", "bec", "--wait", timeout=300).code == 0
    assert _run_job(site, "local", work / "after.out", 60) == "on site-1"

"""The ec2 provider against moto's EC2-compatible server, through a fault-injecting proxy.

What the contract tests do not cover: the tags ParallelCluster's tools look for, the EC2
idempotency token, spot launches, what the user data carries (and what it keeps off command
lines and tags), how EC2's errors are mapped, and terminating many or unknown instances.
"""

from __future__ import annotations

import asyncio
import base64
import subprocess
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("moto.server", reason="moto[server] is not installed")

import boto3

from stratus.agent.protocol import JOIN_ENV
from stratus.paths import ClusterPaths
from stratus.providers.base import (
    Bootstrap,
    CapacityError,
    ConfigurationError,
    NodeGroup,
    QuotaError,
    ThrottlingError,
)
from stratus.providers.ec2 import Ec2Provider, client_token
from tests.ec2_endpoint import (
    CREDENTIALS,
    REGION,
    FaultProxy,
    client,
    free_port,
    fresh_account,
    moto_server,
    stock_image,
)

CLUSTER = "ec2c"
GROUP = NodeGroup(CLUSTER, "q", "c", "t3.micro", cpus=2, memory_mb=900)
SPOT = NodeGroup(CLUSTER, "spotq", "s", "c5.large", cpus=2, memory_mb=3800, capacity_type="SPOT")
BOOT = Bootstrap(head="10.0.0.5:6818", join={"q-st-c-1": "join-secret-1", "q-st-c-2": "join-secret-2"})


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
def ec2(proxy: FaultProxy) -> Any:
    return client(proxy.url)


def _provider(tmp_path: Path, url: str, image: str, **kw: Any) -> Ec2Provider:
    kw.setdefault("session", boto3.session.Session(**CREDENTIALS))
    kw.setdefault("max_attempts", 1)  # errors are asserted, not retried
    return Ec2Provider(ClusterPaths(tmp_path / CLUSTER), REGION, url, image_id=image, **kw)


def _raw(ec2: Any, instance_id: str) -> dict[str, Any]:
    (reservation,) = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"]
    return dict(reservation["Instances"][0])


def _tags(raw: dict[str, Any]) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in raw.get("Tags", [])}


def test_instances_carry_parallelcluster_tags_and_real_fields(
    tmp_path: Path, proxy: FaultProxy, ec2: Any, image_id: str
) -> None:
    provider = _provider(tmp_path, proxy.url, image_id)
    result = asyncio.run(provider.create(GROUP, ["q-st-c-1", "q-st-c-2"], "tok", BOOT))
    assert result.failures == {}
    for inst in result.instances:
        raw = _raw(ec2, inst.instance_id)
        assert _tags(raw) == {
            "parallelcluster:cluster-name": CLUSTER,
            "parallelcluster:node-type": "Compute",
            "parallelcluster:queue-name": "q",
            "parallelcluster:compute-resource-name": "c",
            "stratus:node": inst.node,
            "stratus:launch-token": "tok",
            "Name": inst.node,
        }
        assert inst.instance_id.startswith("i-") and inst.instance_type == raw["InstanceType"] == "t3.micro"
        assert inst.private_ip == raw["PrivateIpAddress"] and provider.address(inst) == inst.private_ip
        assert inst.launch_time == raw["LaunchTime"].timestamp()
        assert (
            inst.data["market"] == "on-demand"
            and "InstanceMarketOptions" not in proxy.seen["RunInstances"][0]
        )
        # No credential in any tag.
        assert not any("join-secret" in v for v in _tags(raw).values())
    # One RunInstances per node (each with its own user data), each asking for one instance.
    assert [p["MinCount"] for p in proxy.seen["RunInstances"]] == ["1", "1"]
    # The head node (same cluster tag, another node type) and other clusters are not listed.
    ec2.run_instances(
        ImageId=image_id,
        MinCount=1,
        MaxCount=1,
        TagSpecifications=[
            {
                "ResourceType": "instance",
                "Tags": [
                    {"Key": "parallelcluster:cluster-name", "Value": CLUSTER},
                    {"Key": "parallelcluster:node-type", "Value": "HeadNode"},
                ],
            }
        ],
    )
    listed = asyncio.run(provider.describe(CLUSTER))
    assert sorted(i.instance_id for i in listed) == sorted(i.instance_id for i in result.instances)


def test_user_data_starts_the_agent_with_its_own_credential_off_the_command_line(
    tmp_path: Path, proxy: FaultProxy, ec2: Any, image_id: str
) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
    boot = Bootstrap(
        head="10.0.0.5:6818",
        join=BOOT.join,
        ca_file=str(ca),
        actions={"q": {"OnNodeStart": [["/opt/start.sh", "a b"]]}},
    )
    provider = _provider(tmp_path, proxy.url, image_id, install_command="")
    result = asyncio.run(provider.create(GROUP, ["q-st-c-1", "q-st-c-2"], "tok", boot))
    assert result.failures == {}
    for inst in result.instances:
        answer = ec2.describe_instance_attribute(InstanceId=inst.instance_id, Attribute="userData")
        script = base64.b64decode(answer["UserData"]["Value"]).decode()
        own, other = (
            ("join-secret-1", "join-secret-2")
            if inst.node == "q-st-c-1"
            else ("join-secret-2", "join-secret-1")
        )
        assert f"{JOIN_ENV}={own}" in script and other not in script
        (start,) = [line for line in script.splitlines() if "-m stratus.agent" in line]
        assert own not in start
        assert f"--node {inst.node}" in start and "--head 10.0.0.5:6818" in start
        assert '--ca-file "$d/ca.pem"' in start and "MIIB" in script
        assert "/opt/start.sh" in start
        # moto runs nothing: the shell at least parses the script as written.
        subprocess.run(["sh", "-n"], input=script, text=True, check=True)
    # IMDSv2 only: the credential in the user data is read by the instance itself, one hop away.
    assert proxy.seen["RunInstances"][0]["MetadataOptions.HttpTokens"] == "required"


def test_a_token_is_an_ec2_client_token_and_a_reused_one_launches_nothing(
    tmp_path: Path, proxy: FaultProxy, ec2: Any, image_id: str
) -> None:
    provider = _provider(tmp_path, proxy.url, image_id)
    (first,) = asyncio.run(provider.create(GROUP, ["q-st-c-1"], "same", BOOT)).instances
    assert _raw(ec2, first.instance_id)["ClientToken"] == client_token(GROUP, "same", "q-st-c-1", 0)
    # Asked again (a retry of the same request), partly: the node launched is returned as it
    # is, only the new one is launched.
    again = asyncio.run(provider.create(GROUP, ["q-st-c-1", "q-st-c-2"], "same", BOOT))
    assert again.failures == {}
    by_node = {i.node: i for i in again.instances}
    assert by_node["q-st-c-1"].instance_id == first.instance_id
    assert len(proxy.seen["RunInstances"]) == 2
    tokens = {p["ClientToken"] for p in proxy.seen["RunInstances"]}
    assert tokens == {client_token(GROUP, "same", n, 0) for n in ("q-st-c-1", "q-st-c-2")}
    # A node whose instance ended is launched again under the same request.
    ec2.terminate_instances(InstanceIds=[first.instance_id])
    (relaunched,) = asyncio.run(provider.create(GROUP, ["q-st-c-1"], "same", BOOT)).instances
    assert relaunched.instance_id != first.instance_id


def test_spot_capacity_launches_spot_instances(
    tmp_path: Path, proxy: FaultProxy, ec2: Any, image_id: str
) -> None:
    provider = _provider(tmp_path, proxy.url, image_id)
    result = asyncio.run(provider.create(SPOT, ["spotq-dy-s-1"], "tok", BOOT))
    (inst,) = result.instances
    assert _raw(ec2, inst.instance_id)["InstanceLifecycle"] == "spot" and inst.data["market"] == "spot"
    params = proxy.seen["RunInstances"][0]
    assert params["InstanceMarketOptions.MarketType"] == "spot"
    assert inst.group == "spotq/s" and inst.instance_type == "c5.large"


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        ("InsufficientInstanceCapacity", CapacityError),
        ("RequestLimitExceeded", ThrottlingError),
        ("VcpuLimitExceeded", QuotaError),
        ("InstanceLimitExceeded", QuotaError),
        ("UnauthorizedOperation", ConfigurationError),
        ("AuthFailure", ConfigurationError),
        ("InvalidParameterValue", ConfigurationError),
    ],
)
def test_ec2_errors_are_reported_per_node_by_kind(
    tmp_path: Path, proxy: FaultProxy, ec2: Any, image_id: str, code: str, kind: type[Exception]
) -> None:
    provider = _provider(tmp_path, proxy.url, image_id)
    proxy.fail("RunInstances", code)
    result = asyncio.run(provider.create(GROUP, ["q-st-c-1", "q-st-c-2"], "tok", BOOT))
    assert result.instances == [] and sorted(result.failures) == ["q-st-c-1", "q-st-c-2"]
    for node, err in result.failures.items():
        assert type(err) is kind and err.code == code
        assert f"compute resource q/c (node {node})" in str(err) and code in str(err)
    proxy.clear()
    assert asyncio.run(provider.describe(CLUSTER)) == []
    # Once EC2 has capacity again, the same request launches.
    assert asyncio.run(provider.create(GROUP, ["q-st-c-1"], "tok", BOOT)).failures == {}


def test_a_subnet_that_does_not_exist_is_a_configuration_error(
    tmp_path: Path, proxy: FaultProxy, ec2: Any, image_id: str
) -> None:
    provider = _provider(tmp_path, proxy.url, image_id, subnet_id="subnet-0000000000000dead")
    err = asyncio.run(provider.create(GROUP, ["q-st-c-1"], "tok", BOOT)).failures["q-st-c-1"]
    assert isinstance(err, ConfigurationError) and err.code == "InvalidSubnetID.NotFound"
    assert "subnet-0000000000000dead" in str(err)


def test_no_credentials_and_an_unreachable_endpoint_are_configuration_errors(
    tmp_path: Path, proxy: FaultProxy, ec2: Any, image_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # no credentials from an instance role
    anonymous = _provider(tmp_path, proxy.url, image_id, session=boto3.session.Session())
    err = asyncio.run(anonymous.create(GROUP, ["q-st-c-1"], "tok", BOOT)).failures["q-st-c-1"]
    assert isinstance(err, ConfigurationError) and err.code == "AuthFailure"
    assert "no usable AWS credentials" in str(err) and "compute resource q/c" in str(err)
    with pytest.raises(ConfigurationError, match="no usable AWS credentials"):
        asyncio.run(anonymous.describe(CLUSTER))

    nowhere = f"http://127.0.0.1:{free_port()}"
    unreachable = _provider(tmp_path, nowhere, image_id)
    err = asyncio.run(unreachable.create(GROUP, ["q-st-c-1"], "tok", BOOT)).failures["q-st-c-1"]
    assert isinstance(err, ConfigurationError) and f"cannot reach {nowhere}" in str(err)
    with pytest.raises(ConfigurationError, match="cannot reach"):
        asyncio.run(unreachable.describe(CLUSTER))


def test_terminate_is_batched_and_idempotent(
    tmp_path: Path, proxy: FaultProxy, ec2: Any, image_id: str
) -> None:
    provider = _provider(tmp_path, proxy.url, image_id)
    names = [f"q-dy-c-{n}" for n in range(1, 6)]
    launched = asyncio.run(provider.create(GROUP, names, "tok", BOOT)).instances
    assert len(launched) == 5
    ec2.terminate_instances(InstanceIds=[launched[0].instance_id])  # one already gone
    asyncio.run(provider.terminate(launched, 1.0))
    # One call for the four still running; the one already terminated is not asked for again.
    (call,) = proxy.seen["TerminateInstances"][1:]
    assert sorted(v for k, v in call.items() if k.startswith("InstanceId.")) == sorted(
        i.instance_id for i in launched[1:]
    )
    for inst in launched:
        assert _raw(ec2, inst.instance_id)["State"]["Name"] in ("shutting-down", "terminated")
        assert not asyncio.run(provider.is_alive(inst))
    assert asyncio.run(provider.describe(CLUSTER)) == []
    # Again, and with an id EC2 never knew: nothing to do, no error.
    unknown = replace(launched[0], instance_id="i-0123456789abcdef0")
    asyncio.run(provider.terminate([*launched, unknown], 1.0))
    assert len(proxy.seen["TerminateInstances"]) == 2


def test_is_alive_says_alive_when_ec2_cannot_be_asked(
    tmp_path: Path, proxy: FaultProxy, ec2: Any, image_id: str
) -> None:
    provider = _provider(tmp_path, proxy.url, image_id)
    (inst,) = asyncio.run(provider.create(GROUP, ["q-st-c-1"], "tok", BOOT)).instances
    proxy.fail("DescribeInstances", "RequestLimitExceeded")
    assert asyncio.run(provider.is_alive(inst))
    with pytest.raises(ThrottlingError, match=f"cluster {CLUSTER}: RequestLimitExceeded"):
        asyncio.run(provider.describe(CLUSTER))


FLEXIBLE = NodeGroup(
    CLUSTER, "q", "flex", "c5.large", cpus=2, memory_mb=3800, instance_types=("c5.large", "c5a.large")
)


def test_several_instance_types_launch_through_an_instant_fleet(
    tmp_path: Path, proxy: FaultProxy, ec2: Any, image_id: str
) -> None:
    provider = _provider(tmp_path, proxy.url, image_id)
    result = asyncio.run(provider.create(FLEXIBLE, ["q-st-c-1"], "tok", BOOT))
    assert result.failures == {}
    (inst,) = result.instances
    raw = _raw(ec2, inst.instance_id)
    assert raw["InstanceType"] in ("c5.large", "c5a.large") and inst.node == "q-st-c-1"
    assert _tags(raw)["parallelcluster:compute-resource-name"] == "flex"
    # The node's credential is in its instance's user data, and its launch template is gone.
    data = ec2.describe_instance_attribute(InstanceId=inst.instance_id, Attribute="userData")
    assert "join-secret-1" in base64.b64decode(data["UserData"]["Value"]).decode()
    assert not ec2.describe_launch_templates()["LaunchTemplates"]
    assert "RunInstances" not in proxy.seen
    # The same token again launches nothing new.
    again = asyncio.run(provider.create(FLEXIBLE, ["q-st-c-1"], "tok", BOOT))
    assert [i.instance_id for i in again.instances] == [inst.instance_id]
    assert len(proxy.seen["CreateFleet"]) == 1


def test_a_fleet_without_capacity_is_a_capacity_error(
    tmp_path: Path, proxy: FaultProxy, image_id: str
) -> None:
    proxy.fail("CreateFleet", "InsufficientInstanceCapacity")
    provider = _provider(tmp_path, proxy.url, image_id)
    result = asyncio.run(provider.create(FLEXIBLE, ["q-st-c-1"], "tok", BOOT))
    err = result.failures["q-st-c-1"]
    assert isinstance(err, CapacityError) and err.code == "InsufficientInstanceCapacity"
    assert "compute resource q/flex" in str(err)

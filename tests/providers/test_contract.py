"""What every provider must do, whatever its infrastructure.

Each case builds a provider for a throwaway cluster (and one deliberately misconfigured, so that
launches fail); the same tests run against each: the local provider (agent processes here) and
the ssh provider (agents started over SSH on real sshd hosts on loopback addresses, its failing
twin with a key the hosts refuse) and the ec2 provider (instances of moto's EC2-compatible server,
its failing twin launching into a subnet that does not exist). moto's instances run nothing: for
ec2, "alive" is the instance's state as the API reports it, which is what the provider answers
on AWS too. Every process started here is killed by pid afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import pytest

from stratus.agent.protocol import INSTANCE_ENV
from stratus.paths import ClusterPaths
from stratus.providers.base import (
    TAG_CLUSTER,
    TAG_GROUP,
    TAG_NODE,
    Bootstrap,
    ConfigurationError,
    Instance,
    NodeGroup,
    Provider,
    ProviderError,
    error_for_code,
)
from stratus.providers.local import LocalProvider
from tests.sshd_hosts import ssh_hosts

CLUSTER = "contract"
GROUP = NodeGroup(CLUSTER, "q", "c", "t3.micro", cpus=2, memory_mb=900)


@dataclass
class Case:
    """A provider under test: a working one, a failing one, and how to clean up after both."""

    provider: Provider
    failing: Provider
    bootstrap: Bootstrap
    cleanup: Callable[[], None]
    started: list[Instance] = field(default_factory=list)


def _local(tmp_path: Path) -> Case:
    cluster_dir = tmp_path / CLUSTER
    (cluster_dir / "logs").mkdir(parents=True)
    # An agent runs as long as its cluster's state exists (it retries its head node meanwhile).
    (cluster_dir / "state.db").touch()
    provider = LocalProvider(ClusterPaths(cluster_dir))
    failing = LocalProvider(ClusterPaths(cluster_dir), python=str(tmp_path / "no-such-python"))
    with socket.socket() as s:  # a head node address nothing listens on: agents keep dialling
        s.bind(("127.0.0.1", 0))
        head = f"127.0.0.1:{s.getsockname()[1]}"
    case = Case(provider, failing, Bootstrap(head=head, kill_wait_s=1.0), lambda: None)

    def cleanup() -> None:
        (cluster_dir / "state.db").unlink(missing_ok=True)
        for inst in case.started:
            pid = int(inst.data.get("pid", 0))
            with contextlib.suppress(psutil.Error):
                proc = psutil.Process(pid)
                if abs(proc.create_time() - float(inst.data["create_time"])) <= 1.0:
                    # The agent leads its own session: the group holds whatever it started.
                    with contextlib.suppress(ProcessLookupError, PermissionError):
                        os.killpg(pid, signal.SIGKILL)
                    proc.wait(timeout=5)

    case.cleanup = cleanup
    return case


def _kill_agents(started: list[Instance]) -> None:
    """Kill the session of every agent started (the ssh test hosts are this machine too)."""
    for inst in started:
        pid = int(inst.data.get("pid", 0))
        with contextlib.suppress(psutil.Error, ProcessLookupError, PermissionError):
            proc = psutil.Process(pid)
            # Only the agent this test started: it leads its session and carries its instance id.
            if os.getsid(pid) == pid and proc.environ().get(INSTANCE_ENV) == inst.instance_id:
                os.killpg(pid, signal.SIGKILL)
                proc.wait(timeout=5)


def _ssh(tmp_path: Path) -> Case:
    from stratus.config.layout import ProviderLayout, SshHost, split_host
    from stratus.providers.ssh import SshProvider, probe_and_record

    stack = contextlib.ExitStack()
    hosts = stack.enter_context(ssh_hosts(tmp_path / "sshd", 2))
    cluster_dir = tmp_path / CLUSTER
    (cluster_dir / "logs").mkdir(parents=True)
    paths = ClusterPaths(cluster_dir)
    layout = ProviderLayout(
        "lab",
        "ssh",
        tuple(SshHost(spec, *split_host(spec)) for spec in hosts.specs),
        user="root",
        identity_file=str(hosts.identity),
        agent_directory=str(tmp_path / "remote"),
    )
    try:
        probe_and_record(paths, [layout])  # pins the hosts' keys, as create-cluster does
    except BaseException:
        stack.close()
        raise
    refused = ProviderLayout(
        "lab", "ssh", layout.hosts, "root", str(hosts.refused_identity), layout.agent_directory
    )
    with socket.socket() as s:  # a head node address nothing listens on: agents keep dialling
        s.bind(("127.0.0.1", 0))
        head = f"127.0.0.1:{s.getsockname()[1]}"
    bootstrap = Bootstrap(head=head, kill_wait_s=1.0)
    case = Case(SshProvider(paths, layout), SshProvider(paths, refused), bootstrap, lambda: None)

    def cleanup() -> None:
        try:
            _kill_agents(case.started)
        finally:
            stack.close()

    case.cleanup = cleanup
    return case


def _ec2(tmp_path: Path) -> Case:
    pytest.importorskip("moto.server", reason="moto[server] is not installed")
    import boto3

    from stratus.providers.ec2 import Ec2Provider
    from tests.ec2_endpoint import CREDENTIALS, REGION, moto_server

    stack = contextlib.ExitStack()
    url = stack.enter_context(moto_server())
    session = boto3.session.Session(**CREDENTIALS)
    try:
        image = session.client("ec2", region_name=REGION, endpoint_url=url).describe_images(
            Owners=["amazon"]
        )["Images"][0]
    except BaseException:
        stack.close()
        raise
    paths = ClusterPaths(tmp_path / CLUSTER)

    def provider(**kw: str) -> Ec2Provider:
        return Ec2Provider(paths, REGION, url, image_id=image["ImageId"], session=session, **kw)

    bootstrap = Bootstrap(head="10.0.0.5:6818", kill_wait_s=1.0)
    # The server goes with everything it launched; nothing runs on this machine.
    return Case(provider(), provider(subnet_id="subnet-0000000000000dead"), bootstrap, stack.close)


CASES: dict[str, Callable[[Path], Case]] = {"local": _local, "ssh": _ssh, "ec2": _ec2}


@pytest.fixture(params=sorted(CASES))
def case(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Case]:
    c = CASES[request.param](tmp_path)
    try:
        yield c
    finally:
        c.cleanup()


async def _create(case: Case, names: list[str], token: str) -> list[Instance]:
    result = await case.provider.create(GROUP, names, token, case.bootstrap)
    case.started += result.instances
    assert result.failures == {}
    return result.instances


def test_a_batch_is_launched_and_described_with_tags(case: Case) -> None:
    async def scenario() -> None:
        launched = await _create(case, ["q-st-c-1", "q-st-c-2"], "batch-1")
        assert sorted(i.node for i in launched) == ["q-st-c-1", "q-st-c-2"]
        assert len({i.instance_id for i in launched}) == 2
        described = {i.instance_id: i for i in await case.provider.describe(CLUSTER)}
        for inst in launched:
            seen = described[inst.instance_id]
            assert seen.tags == {TAG_CLUSTER: CLUSTER, TAG_NODE: inst.node, TAG_GROUP: "q/c"}
            assert seen.group == "q/c" and seen.queue == "q" and seen.instance_type == "t3.micro"
            assert await case.provider.is_alive(inst)
            assert case.provider.address(inst)
        assert await case.provider.describe("another-cluster") == []

    asyncio.run(scenario())


def test_terminated_instances_are_gone_and_terminating_twice_is_fine(case: Case) -> None:
    async def scenario() -> None:
        launched = await _create(case, ["q-st-c-1", "q-st-c-2"], "batch-2")
        await case.provider.terminate(launched, 1.0)
        assert await case.provider.describe(CLUSTER) == []
        for inst in launched:
            assert not await case.provider.is_alive(inst)
        await case.provider.terminate(launched, 1.0)  # idempotent
        await case.provider.terminate([], 1.0)
        assert await case.provider.describe(CLUSTER) == []

    asyncio.run(scenario())


def test_a_reused_token_does_not_launch_twice(case: Case) -> None:
    async def scenario() -> None:
        (first,) = await _create(case, ["q-st-c-1"], "same-token")
        (again,) = await _create(case, ["q-st-c-1"], "same-token")
        assert again.instance_id == first.instance_id
        assert [i.instance_id for i in await case.provider.describe(CLUSTER)] == [first.instance_id]
        # A new token is a new request.
        (other,) = await _create(case, ["q-st-c-1"], "another-token")
        assert other.instance_id != first.instance_id
        assert len(await case.provider.describe(CLUSTER)) == 2
        await case.provider.terminate([first, other], 1.0)

    asyncio.run(scenario())


def test_failures_are_reported_per_node(case: Case) -> None:
    async def scenario() -> None:
        result = await case.failing.create(GROUP, ["q-st-c-1", "q-st-c-2"], "fails", case.bootstrap)
        case.started += result.instances
        assert result.instances == []
        assert sorted(result.failures) == ["q-st-c-1", "q-st-c-2"]
        for err in result.failures.values():
            assert isinstance(err, ProviderError) and type(err) is not ProviderError
            # The code is the infrastructure's own (EC2's where one fits), of the kind it means.
            assert (
                isinstance(err, ConfigurationError)
                and type(error_for_code(err.code, "")) is ConfigurationError
            )
        assert await case.failing.describe(CLUSTER) == []

    asyncio.run(scenario())

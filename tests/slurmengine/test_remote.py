"""``Engine: slurm`` with nodes on other machines: hosts that are network namespaces reached over
SSH (see :mod:`tests.sshd_hosts`), each with a hostname and an address of its own.

The head node's slurmctld listens on the cluster's ``HeadNodeAddress``; each node's agent runs a
munged of its own with the cluster's key and slurmd on a slurm.conf of its own, in a daemon
directory on its host; slurmctld reaches the node at the address its agent connects from. Jobs
go through Debian's sbatch and scontrol, and run in their node's host. At the end nothing of the
cluster is left on the hosts.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from tests.integration.harness import Stratus, wait_for
from tests.slurmengine.test_engine import (  # noqa: F401 (fixtures)
    home,
    job_state,
    real_slurm,
    sbatch,
    shell,
    stratus,
)
from tests.sshd_hosts import NetnsHost, NetnsHosts, netns_hosts

CONFIG = """\
Region: local
Image:
  Os: alinux2
HeadNode:
  InstanceType: c5.large
Scheduling:
  Scheduler: slurm
  SlurmSettings:
    ScaledownIdletime: 0.05
  SlurmQueues:
  - Name: lab
    ComputeResources:
    - Name: st
      Provider: lab
Stratus:
  Engine: slurm
  HeadNodeAddress: {head}
  Providers:
  - Name: lab
    Type: ssh
    Hosts: [{hosts}]
    User: root
    IdentityFile: {identity}
    AgentDirectory: {agent_dir}
"""


@pytest.fixture
def netns(home: Path) -> Iterator[NetnsHosts]:  # noqa: F811 (the fixture imported above)
    with netns_hosts(home / "netns", 2) as h:
        yield h


def _processes(host_pids: set[int], name: str) -> list[psutil.Process]:
    out = []
    for pid in host_pids:
        try:
            p = psutil.Process(pid)
            if p.name() == name:
                out.append(p)
        except psutil.Error:
            pass
    return out


def _left_on(host: NetnsHost) -> list[str]:
    """What runs on ``host`` besides sshd and its sessions (the head node keeps one open)."""
    left = []
    for pid in host.pids():
        with contextlib.suppress(psutil.Error):
            p = psutil.Process(pid)
            if p.name() != "sshd":
                left.append(f"{pid} {' '.join(p.cmdline())}")
    return left


def _emptied(host: NetnsHost) -> None:
    """Wait until nothing of the cluster runs on ``host``; fail naming what does."""
    try:
        wait_for(lambda: not _left_on(host), 60, what=f"{host.netns} to hold sshd only")
    except AssertionError:
        raise AssertionError(f"still running on {host.netns}: {_left_on(host)}") from None


def _diagnostics(root: Path, agent_dir: Path) -> str:
    logs = [root / "slurm" / "log" / "slurmctld.log", root / "slurm" / "log" / "power.log"]
    logs += sorted((root / "logs").glob("*.log")) + sorted(agent_dir.rglob("*.out"))
    logs += sorted(agent_dir.rglob("agent.log"))
    return "\n".join(f"== {p}\n{p.read_text()[-3000:]}" for p in logs if p.exists())


@real_slurm
def test_engine_slurm_runs_jobs_on_nodes_of_other_machines(
    netns: NetnsHosts,
    stratus: Stratus,  # noqa: F811
    home: Path,  # noqa: F811
) -> None:
    work = home / "work"
    work.mkdir()
    work.chmod(0o755)
    agent_dir = home / "remote"
    config = CONFIG.format(
        head=netns.head_address, hosts=", ".join(netns.specs), identity=netns.identity, agent_dir=agent_dir
    )
    c = stratus.create("rm", config, home)
    root = c.root
    first = netns.hosts[0]

    def sinfo() -> str:
        return shell(stratus, "rm", "sinfo -h -N -o '%N %t'").out

    # The static node: its host runs its munged and slurmd, and slurmctld has it idle.
    try:
        wait_for(lambda: "lab-st-st-1 idle\n" in sinfo(), 90, interval=0.5, what="the static node's slurmd")
    except AssertionError:
        raise AssertionError(sinfo() + _diagnostics(root, agent_dir)) from None
    on_first = first.pids()
    assert _processes(on_first, "munged") and _processes(on_first, "slurmd")
    node = shell(stratus, "rm", "scontrol -o show node lab-st-st-1").out
    assert f"NodeAddr={first.address} " in node, node
    # The node's munged has the cluster's key, in a daemon directory of its own on the host.
    (munged,) = _processes(on_first, "munged")
    key_arg = next(a for a in munged.cmdline() if a.startswith("--key-file="))
    node_key = Path(key_arg.split("=", 1)[1])
    assert node_key.read_bytes() == (root / "slurm" / "munge.key").read_bytes()
    daemon_dir = node_key.parent
    assert (daemon_dir / "slurm.conf").read_text().count(str(daemon_dir)) >= 3

    # A job on each node runs in its host.
    for i, host in enumerate(netns.hosts, 1):
        out = f"st{i}.out"
        wrap = "--wrap='hostname; echo $SLURMD_NODENAME'"
        job = sbatch(stratus, "rm", f"-w lab-st-st-{i} -o {out} {wrap}", work)
        try:
            wait_for(lambda job=job: job_state(stratus, "rm", job) == "COMPLETED", 90, interval=0.5)
        except AssertionError:
            raise AssertionError(sinfo() + _diagnostics(root, agent_dir)) from None
        assert (work / out).read_text().split() == [host.hostname, f"lab-st-st-{i}"]
        assert f"NodeAddr={host.address} " in shell(stratus, "rm", f"scontrol -o show node lab-st-st-{i}").out
    # slurmctld compares no configuration hashes (the nodes' differ in paths only).
    assert "different slurm.conf" not in (root / "slurm" / "log" / "slurmctld.log").read_text()

    # The fleet stopped: nothing of the nodes is left on the hosts; started: back in Slurm.
    assert stratus.run("update-compute-fleet", "-n", "rm", "--status", "STOP_REQUESTED").code == 0
    for host in netns.hosts:
        _emptied(host)
    assert stratus.run("update-compute-fleet", "-n", "rm", "--status", "START_REQUESTED").code == 0
    try:
        wait_for(
            lambda: sinfo().split() == ["lab-st-st-1", "idle", "lab-st-st-2", "idle"],
            120,
            interval=1,
            what="both nodes back in Slurm",
        )
    except AssertionError:
        raise AssertionError(sinfo() + _diagnostics(root, agent_dir)) from None
    job = sbatch(stratus, "rm", "-N 2 -o both.out --wrap='srun hostname'", work)
    wait_for(lambda: job_state(stratus, "rm", job) == "COMPLETED", 90, interval=0.5, what="a job on both")
    assert sorted((work / "both.out").read_text().split()) == sorted(h.hostname for h in netns.hosts)

    r = stratus.run("delete-cluster", "-n", "rm", "--wait", timeout=300)
    assert r.code == 0, r.out + r.err
    for host in netns.hosts:
        _emptied(host)
    assert not daemon_dir.exists(), "a node's daemon directory outlived it"

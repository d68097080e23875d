"""Compute nodes on other machines: a queue of ssh hosts (real sshd processes on 127.0.10.x),
from create-cluster to delete-cluster, over TLS to the head node."""

from __future__ import annotations

import os
import signal
import stat
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from tests.integration.harness import Stratus, wait_for
from tests.sshd_hosts import SshHosts, ssh_hosts

CONFIG = """\
HeadNode:
  InstanceType: t2.micro
Scheduling:
  Scheduler: slurm
  SlurmQueues:
  - Name: lab
    ComputeResources:
    - Name: lab
      Provider: lab
Stratus:
  HeadNodeAddress: 127.0.0.1
  Providers:
  - Name: lab
    Type: ssh
    Hosts: [{hosts}]
    User: root
    IdentityFile: {identity}
    AgentDirectory: {agent_dir}
"""


@pytest.fixture
def hosts(tmp_path: Path) -> Iterator[SshHosts]:
    with ssh_hosts(tmp_path / "sshd", 2) as h:
        yield h


def _config(
    hosts: SshHosts, agent_dir: Path, specs: list[str] | None = None, identity: Path | None = None
) -> str:
    return CONFIG.format(
        hosts=", ".join(specs or hosts.specs), identity=identity or hosts.identity, agent_dir=agent_dir
    )


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_jobs_run_on_ssh_hosts_and_delete_leaves_nothing(
    stratus: Stratus, hosts: SshHosts, tmp_path: Path, workdir: Path
) -> None:
    agent_dir = tmp_path / "remote"
    c = stratus.create("lab", _config(hosts, agent_dir), tmp_path)
    # Sizes come from the hosts (slurmd -C's CPUs and memory), the CA key is the owner's only.
    assert stat.S_IMODE((c.root / "ca.key").stat().st_mode) == 0o600
    sinfo = c.slurm("sinfo", "-h", "-N", "-o", "%N %c %m %t").out.split("\n")
    nodes = {line.split()[0]: line.split()[1:] for line in sinfo if line.strip()}
    assert sorted(nodes) == ["lab-st-lab-1", "lab-st-lab-2"]
    assert nodes["lab-st-lab-1"][0] == str(os.cpu_count())
    agents = c.agent_pids()
    for pid in agents.values():
        agent = psutil.Process(pid)
        # The agent runs from the copy on its host, over TLS, without its credential in argv.
        assert str(agent_dir) in agent.cwd() and "--ca-file" in agent.cmdline()
        assert not any(len(arg) == 64 for arg in agent.cmdline())

    marker = workdir / "marker"
    job = c.sbatch("--wrap", f"echo $$ > {marker}; sleep 300", cwd=workdir)
    try:
        wait_for(lambda: marker.exists() and marker.read_text().strip(), 30, what="the job to start")
    except AssertionError:
        logs = "".join(p.read_text()[-3000:] for p in sorted((c.root / "logs").glob("*.log")))
        remote = "".join(p.read_text()[-2000:] for p in agent_dir.rglob("agent.log"))
        raise AssertionError(c.slurm("squeue", "-t", "all").out + logs + remote) from None
    node = c.slurm("squeue", "-h", "-o", "%N", "-j", str(job)).out.strip()
    job_pid = int(marker.read_text())
    assert os.getsid(job_pid) == agents[node]  # the job runs under that host's agent

    r = c.slurm("scancel", str(job))
    assert r.code == 0, r.err
    wait_for(lambda: _gone(job_pid), 30, what="the cancelled job's process to end")
    wait_for(lambda: c.squeue_states("-t", "all").get(str(job)) == "CANCELLED", 30, what="CANCELLED")

    r = stratus.run("delete-cluster", "-n", "lab", "--wait")
    assert r.code == 0, r.out + r.err
    assert all(_gone(pid) for pid in agents.values())
    assert not agent_dir.exists() or not any(agent_dir.iterdir()), list(agent_dir.rglob("*"))


def test_unreachable_host_or_refused_key_fails_create_naming_the_host(
    stratus: Stratus, hosts: SshHosts, tmp_path: Path
) -> None:
    agent_dir = tmp_path / "remote"
    cases = [
        (_config(hosts, agent_dir, [hosts.specs[0], hosts.unreachable]), hosts.unreachable, "unreachable"),
        (_config(hosts, agent_dir, identity=hosts.refused_identity), hosts.specs[0], "key was refused"),
    ]
    for i, (text, host, cause) in enumerate(cases):
        cfg = tmp_path / f"bad{i}.yaml"
        cfg.write_text(text)
        r = stratus.run("create-cluster", "-n", f"bad{i}", "-c", str(cfg))
        assert r.code == 1, r.out + r.err
        message = r.json["message"]
        assert host in message and cause in message, message
        assert not (stratus.home / "clusters" / f"bad{i}").exists()
        assert not agent_dir.exists()


def test_a_killed_agent_fails_its_node_and_requeues_its_job(
    stratus: Stratus, hosts: SshHosts, tmp_path: Path, workdir: Path
) -> None:
    c = stratus.create("labkill", _config(hosts, tmp_path / "remote"), tmp_path)
    marker = workdir / "marker"
    job = c.sbatch("--wrap", f"echo run $$ >> {marker}; sleep 4; echo done >> {marker}", cwd=workdir)
    wait_for(lambda: marker.exists(), 30, what="the job to start")
    node = c.slurm("squeue", "-h", "-o", "%N", "-j", str(job)).out.strip()
    first_pid = int(marker.read_text().split()[1])
    os.kill(c.agent_pids()[node], signal.SIGKILL)
    # The orphaned run is killed over SSH with its node before the job runs again.
    wait_for(lambda: _gone(first_pid), 30, what="the first run to be killed")
    wait_for(lambda: "done" in marker.read_text(), 60, interval=0.2, what="the requeued run to finish")
    assert [ln.split()[0] for ln in marker.read_text().splitlines()] == ["run", "run", "done"]
    transitions = c.journal("job", str(job))
    assert ("RUNNING", "NODE_FAIL", "node_fail", 0) in transitions
    assert ("RUNNING", "PENDING", "requeue", 0) in transitions

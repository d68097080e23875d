"""Compute nodes on hosts that are network namespaces (sshd in each, reached through a veth pair):
agents dial the head node's ``HeadNodeAddress`` over a real interface, not the loopback, and
``delete-cluster`` leaves nothing of stratus running on the hosts."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from stratus.paths import ClusterPaths, read_endpoint
from tests.integration.harness import Cluster, Stratus, wait_for
from tests.sshd_hosts import IP, NetnsHosts, netns_hosts

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
  HeadNodeAddress: {head}
  Providers:
  - Name: lab
    Type: ssh
    Hosts: [{hosts}]
    User: root
    IdentityFile: {identity}
    AgentDirectory: {agent_dir}
"""

# What a job runs (argv: the head node's address, the ip command): prints its host's name, the
# IPv4 addresses it has, and the one it would send from to reach the head node.
PROBE = """\
import socket, subprocess, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.connect((sys.argv[1], 9))
addrs = subprocess.run([sys.argv[2], "-4", "-o", "addr", "show"], capture_output=True, text=True)
print(socket.gethostname())
print(" ".join(sorted(line.split()[3].split("/")[0] for line in addrs.stdout.splitlines())))
print(s.getsockname()[0])
"""


@pytest.fixture
def netns(tmp_path: Path) -> Iterator[NetnsHosts]:
    with netns_hosts(tmp_path / "netns", 2) as h:
        yield h


def _tcp_connections(pid: int) -> list[tuple[str, int, str, int]]:
    """The established IPv4 TCP connections of ``pid``, as (local, port, remote, port), read from
    the tables of its own network namespace (``/proc/PID/net/tcp``)."""
    inodes = set()
    with contextlib.suppress(OSError):
        for fd in os.listdir(f"/proc/{pid}/fd"):
            with contextlib.suppress(OSError):
                link = os.readlink(f"/proc/{pid}/fd/{fd}")
                if link.startswith("socket:["):
                    inodes.add(link[8:-1])
    out = []
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/net/tcp").read_text().splitlines()[1:]:
            words = line.split()
            if words[3] != "01" or words[9] not in inodes:  # 01: ESTABLISHED
                continue
            (local, lport), (remote, rport) = (w.split(":") for w in words[1:3])
            out.append((_ipv4(local), int(lport, 16), _ipv4(remote), int(rport, 16)))
    return out


def _ipv4(hex_address: str) -> str:
    return socket.inet_ntoa(int(hex_address, 16).to_bytes(4, "little"))


def _diagnostics(c: Cluster, agent_dir: Path) -> str:
    logs = "".join(p.read_text()[-3000:] for p in sorted((c.root / "logs").glob("*.log")))
    remote = "".join(p.read_text()[-2000:] for p in agent_dir.rglob("agent.log"))
    return c.slurm("squeue", "-t", "all").out + logs + remote


def test_agents_in_network_namespaces_reach_the_head_node_over_veth(
    netns: NetnsHosts, stratus: Stratus, tmp_path: Path, workdir: Path
) -> None:
    agent_dir = tmp_path / "remote"
    config = CONFIG.format(
        head=netns.head_address,
        hosts=", ".join(netns.specs),
        identity=netns.identity,
        agent_dir=agent_dir,
    )
    c = stratus.create("lab", config, tmp_path)
    _, _, agent_port = read_endpoint(ClusterPaths(c.root))
    head_pid = c.controller_pid()
    assert head_pid is not None
    nodes = {f"lab-st-lab-{i}": h for i, h in enumerate(netns.hosts, 1)}
    agents = wait_for(lambda: len(c.agent_pids()) == 2 and c.agent_pids(), 60, what="both agents")
    assert sorted(agents) == sorted(nodes)

    for node, host in nodes.items():
        pid = agents[node]
        # The agent runs in its host's namespace, started through that host's sshd.
        assert pid in host.pids(), (node, pid, host.pids())
        assert str(agent_dir) in psutil.Process(pid).cwd()
        # Its connection to the head node leaves from the namespace's address, through the veth,
        # and the head node sees it arrive from there.
        link = (host.address, netns.head_address, agent_port)
        try:
            wait_for(
                lambda pid=pid, link=link: any(
                    (local, remote, rport) == link for local, _, remote, rport in _tcp_connections(pid)
                ),
                60,
                what=f"{node}'s agent to connect from {host.address}",
            )
        except AssertionError:
            raise AssertionError(f"{_tcp_connections(pid)}\n{_diagnostics(c, agent_dir)}") from None
        assert any(
            (local, lport, remote) == (netns.head_address, agent_port, host.address)
            for local, lport, remote, _ in _tcp_connections(head_pid)
        ), _tcp_connections(head_pid)

    probe = workdir / "probe.py"
    probe.write_text(PROBE)
    # Two exclusive jobs, one per node; each prints its pid and what the probe sees, then stays
    # until released, so that the second cannot run on the first one's node after it ended.
    release = workdir / "release"
    wrap = (
        f"echo $$; python3 {probe} {netns.head_address} {IP}; "
        f"for i in $(seq 3000); do [ -e {release} ] && break; sleep 0.1; done"
    )
    jobs = [
        c.sbatch("--exclusive", "-o", str(workdir / "probe-%N.out"), "--wrap", wrap, cwd=workdir)
        for _ in nodes
    ]
    outputs = {node: workdir / f"probe-{node}.out" for node in nodes}
    try:
        wait_for(
            lambda: all(out.exists() and len(out.read_text().splitlines()) >= 4 for out in outputs.values()),
            120,
            interval=0.2,
            what="a job on each node to print what it sees",
        )
    except AssertionError:
        raise AssertionError(_diagnostics(c, agent_dir)) from None
    placed = c.slurm("squeue", "-h", "-o", "%N", "-j", ",".join(map(str, jobs))).out.split()
    assert sorted(placed) == sorted(nodes)
    for node, host in nodes.items():
        job_pid, hostname, addresses, source = outputs[node].read_text().splitlines()[:4]
        # The job runs in its host's namespace, named as that host, and sees only its addresses.
        assert int(job_pid) in host.pids()
        assert hostname == host.hostname
        assert addresses.split() == sorted(["127.0.0.1", host.address])
        assert source == host.address
    release.touch()
    wait_for(
        lambda: all(c.squeue_states("-t", "all").get(str(j)) == "COMPLETED" for j in jobs),
        120,
        interval=0.2,
        what="both jobs to complete",
    )
    # A step over both hosts: srun, on the first host, is reached by the second host's agent at
    # the address the first host reaches the head node from (not the loopback address).
    step_out = workdir / "step.out"
    step = c.sbatch("-N", "2", "-o", str(step_out), "--wrap", "srun -N 2 hostname", cwd=workdir)
    try:
        wait_for(lambda: c.squeue_states("-t", "all").get(str(step)) == "COMPLETED", 120, what="the step")
    except AssertionError:
        raise AssertionError(_diagnostics(c, agent_dir)) from None
    assert sorted(step_out.read_text().split()) == sorted(h.hostname for h in netns.hosts)

    r = stratus.run("delete-cluster", "-n", "lab", "--wait")
    assert r.code == 0, r.out + r.err
    # Nothing of the cluster is left on the hosts: their namespaces hold their sshd only.
    for host in netns.hosts:
        wait_for(lambda host=host: host.pids() == {host.sshd_pid}, 60, what=f"{host.netns} to hold sshd only")
    assert not agent_dir.exists() or not any(agent_dir.iterdir()), list(agent_dir.rglob("*"))


def test_a_host_that_dies_mid_job_fails_its_node_and_its_job_runs_elsewhere(
    netns: NetnsHosts, stratus: Stratus, tmp_path: Path, workdir: Path
) -> None:
    # How long a failed node's host may stay unreachable before its jobs are requeued anyway
    # (180 s by default, as SlurmdTimeout): short here.
    stratus.env["STRATUS_UNREACHABLE_TIMEOUT"] = "3"
    agent_dir = tmp_path / "remote"
    config = CONFIG.format(
        head=netns.head_address, hosts=", ".join(netns.specs), identity=netns.identity, agent_dir=agent_dir
    )
    c = stratus.create("die", config, tmp_path)
    marker = workdir / "marker"
    job = c.sbatch("--wrap", f"hostname >> {marker}; sleep 600", cwd=workdir)
    wait_for(marker.exists, 60, what="the job to start")
    node = c.slurm("squeue", "-h", "-o", "%N", "-j", str(job)).out.strip()
    dead = next(h for h in netns.hosts if h.hostname == marker.read_text().strip())

    # The machine dies: everything in it, its sshd and the agent's SSH session included.
    # (Regression: a short-lived process listed there may be gone before it is killed.)
    def killed() -> bool:
        for pid in dead.pids():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        return not dead.pids()

    wait_for(killed, 30, interval=0.1, what=f"every process of {dead.netns} to die")
    try:
        wait_for(lambda: len(marker.read_text().split()) == 2, 120, interval=0.2, what="the job to run again")
    except AssertionError:
        raise AssertionError(_diagnostics(c, agent_dir)) from None
    first, second = marker.read_text().split()
    assert first == dead.hostname and second != dead.hostname
    assert "NODE_FAIL" in c.slurm("sacct", "-j", str(job), "-n", "-o", "State", "-D").out
    # The node is down: not responding, then (replaced, as a static node is) its host unreachable.
    reasons = c.slurm("sinfo", "-h", "-R", "-N", "-o", "%N|%E").out
    assert f"{node}|Not responding: host {dead.address}:22" in reasons or (
        f"{node}|(Code:HostUnreachable)Failure when resuming nodes" in reasons
    ), reasons
    r = stratus.run("delete-cluster", "-n", "die", "--wait")
    assert r.code == 0, r.out + r.err

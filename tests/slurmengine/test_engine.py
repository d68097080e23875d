"""Clusters whose engine is real Slurm (``Stratus.Engine: slurm``), end to end.

stratus's CLI creates the cluster; its head node starts munged, slurmctld (and slurmdbd with a
MariaDB of its own when the config asks for accounting), nodes are agents on this machine that
run slurmd; jobs go through Debian's own sbatch, squeue, sinfo, scontrol and sacct in the shell
``stratus ssh`` gives. Every process is gone at the end, checked by pid.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from stratus.paths import ClusterPaths
from stratus.slurmengine.head import SlurmFiles
from tests.integration.harness import Cluster, Result, Stratus, kill_all, processes_of, wait_for

REPO = Path(__file__).resolve().parents[2]

real_slurm = pytest.mark.skipif(
    any(
        shutil.which(p) is None
        for p in ("slurmctld", "slurmd", "munged", "scontrol", "sbatch", "sinfo", "squeue", "unshare")
    )
    or os.geteuid() != 0,
    reason="needs real Slurm (slurmctld, slurmd, munged and clients), unshare and root",
)
with_accounting = pytest.mark.skipif(
    shutil.which("slurmdbd") is None
    or shutil.which("sacct") is None
    or (shutil.which("mariadbd") is None and shutil.which("mysqld") is None),
    reason="needs slurmdbd and MariaDB",
)

CONFIG = """\
Region: local
Image:
  Os: alinux2
HeadNode:
  InstanceType: c5.large
Scheduling:
  Scheduler: slurm
  SlurmSettings:
    ScaledownIdletime: {idle}
{custom}{database}\
  SlurmQueues:
  - Name: q1
    ComputeResources:
    - Name: st
      InstanceType: t2.micro
      MinCount: 1
      MaxCount: 1
  - Name: cloud
    ComputeResources:
    - Name: dy
      InstanceType: t2.micro
      MinCount: 0
      MaxCount: 2
{extra}\
Stratus:
  Engine: slurm
"""

DATABASE = """\
    Database:
      Uri: 127.0.0.1:3306
      UserName: slurm
      PasswordSecretArn: arn:aws:secretsmanager:us-east-1:123456789012:secret:slurmdb
"""


def config(idle: str = "0.05", custom: str = "", database: str = "", extra: str = "") -> str:
    """The test cluster's configuration; ``custom``: CustomSlurmSettings entries, ``KEY: VALUE``
    separated by ``;``."""
    entries = "".join(f"    - {entry.strip()}\n" for entry in custom.split(";") if entry.strip())
    custom_block = f"    CustomSlurmSettings:\n{entries}" if entries else ""
    return CONFIG.format(idle=idle, custom=custom_block, database=database, extra=extra)


@pytest.fixture
def home() -> Iterator[Path]:
    # A short path: MariaDB's socket lives under the cluster's directory (108 bytes at most).
    d = Path(tempfile.mkdtemp(prefix="se-", dir="/tmp"))
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


def slurm_pids(root: Path) -> list[int]:
    """The pids in the cluster's Slurm pid files (slurmctld, munged, slurmd, slurmdbd, mariadbd)."""
    pids: list[int] = []
    for pid_file in [*(root / "slurm" / "run").glob("*.pid"), *(root / "slurm").glob("mariadb/*.pid")]:
        with contextlib.suppress(OSError, ValueError, IndexError):
            pids.append(int(pid_file.read_text().split()[0]))
    return pids


@pytest.fixture
def stratus(home: Path) -> Iterator[Stratus]:
    s = Stratus(home / "h")
    yield s
    root = s.home / "clusters"
    pids: list[int] = []
    runtimes: list[Path] = []
    if root.exists():
        for d in root.iterdir():
            if d.name.startswith("."):
                continue
            c = Cluster(s, d.name, d)
            pid = c.controller_pid()
            pids += [pid] if pid else []
            pids += list(c.agent_pids().values()) + slurm_pids(d)
            # slurmd of nodes: children of the agents
            for agent in c.agent_pids().values():
                with contextlib.suppress(psutil.Error):
                    pids += [p.pid for p in psutil.Process(agent).children(recursive=True)]
            s.run("delete-cluster", "-n", d.name, "--wait", timeout=300)
            runtimes.append(SlurmFiles(ClusterPaths(d)).runtime)
    try:
        wait_for(lambda: not processes_of(pids), 60, what="every process of the cluster to exit")
    finally:
        leftovers = processes_of(pids)
        kill_all(pids)
    assert not leftovers, f"processes left running: {[(p.pid, p.name()) for p in leftovers]}"
    assert not [r for r in runtimes if r.exists()], "a runtime directory outlived its cluster"


def shell(s: Stratus, name: str, command: str, cwd: Path | None = None, timeout: float = 60) -> Result:
    """``command`` run by the shell of ``stratus ssh -n name`` (Slurm's own binaries)."""
    p = subprocess.run(
        [sys.executable, "-m", "stratus.cli.main", "ssh", "-n", name, command],
        capture_output=True,
        text=True,
        env=s.env,
        cwd=cwd or REPO,
        timeout=timeout,
    )
    return Result(p.returncode, p.stdout, p.stderr)


def sbatch(s: Stratus, name: str, args: str, cwd: Path) -> int:
    r = shell(s, name, f"sbatch --parsable {args}", cwd=cwd)
    assert r.code == 0, r.out + r.err
    return int(r.out.strip().split(";")[0])


def job_state(s: Stratus, name: str, job: int) -> str:
    r = shell(s, name, f"scontrol show job {job}")
    for word in r.out.split():
        if word.startswith("JobState="):
            return word.split("=", 1)[1]
    return ""


def node_instances(root: Path) -> dict[str, int]:
    return Cluster(Stratus(root.parent.parent), root.name, root).agent_pids()


@real_slurm
@with_accounting
def test_engine_slurm_cluster_runs_jobs_on_powered_up_nodes(stratus: Stratus, home: Path) -> None:
    work = home / "work"
    work.mkdir()
    work.chmod(0o755)
    # A short SuspendTimeout: a node Slurm powers down is usable again sooner (120 s by default).
    text = config(custom="SuspendTimeout: 10", database=DATABASE)
    c = stratus.create("sc", text, home)
    root = c.root

    # Slurm's own sinfo, through stratus ssh: the static node idle once its slurmd has registered
    # (create-cluster completes when the node has joined stratus; as with ParallelCluster, slurmd's
    # registration follows), the dynamic ones powered down.
    def sinfo() -> str:
        r = shell(stratus, "sc", "sinfo -h -o '%P %t %N'")
        assert r.code == 0, r.err
        return r.out

    wait_for(lambda: "q1* idle q1-st-st-1" in sinfo(), 60, interval=0.5, what="the static node's slurmd")
    assert "cloud idle~ cloud-dy-dy-[1-2]" in sinfo()
    # stratus's own sbatch does not submit to a Slurm-engine cluster.
    refused = c.slurm("sbatch", "--wrap=true", cwd=work)
    assert refused.code == 1 and "this cluster's engine is Slurm" in refused.err

    # A job on the static node.
    first = sbatch(stratus, "sc", "-p q1 -o first.out --wrap='echo on $SLURMD_NODENAME'", work)
    wait_for(lambda: (work / "first.out").exists() and job_state(stratus, "sc", first) == "COMPLETED", 60)
    assert (work / "first.out").read_text() == "on q1-st-st-1\n"

    # A job on a powered-down node: Slurm's resume program asks the head node, which launches it.
    before = set(node_instances(root))
    second = sbatch(stratus, "sc", "-p cloud -o second.out --wrap='echo on $SLURMD_NODENAME'", work)
    wait_for(lambda: job_state(stratus, "sc", second) == "COMPLETED", 180, interval=1, what="the cloud job")
    assert (work / "second.out").read_text() == "on cloud-dy-dy-1\n"
    power_log = (root / "slurm" / "log" / "power.log").read_text()
    assert 'resume cloud-dy-dy-1: HTTP 200 {"nodes":["cloud-dy-dy-1"]}' in power_log

    # Accounting: sacct (slurmdbd, MariaDB) has both jobs.
    def accounted() -> bool:
        out = shell(stratus, "sc", f"sacct -n -P -X -j {first},{second} -o JobID,State,ExitCode").out
        return out.split() == [f"{first}|COMPLETED|0:0", f"{second}|COMPLETED|0:0"]

    wait_for(accounted, 60, interval=1, what="sacct to list both jobs")

    # Idle past ScaledownIdletime: Slurm's suspend program powers the node down through stratus.
    wait_for(
        lambda: "cloud-dy-dy-1" not in node_instances(root) and set(node_instances(root)) == before,
        150,
        interval=1,
        what="the idle dynamic node to be powered down",
    )
    assert "suspend cloud-dy-dy-1: HTTP 200" in (root / "slurm" / "log" / "power.log").read_text()

    # update-compute-fleet STOP: partitions INACTIVE in Slurm, every node powered down; START.
    assert stratus.run("update-compute-fleet", "-n", "sc", "--status", "STOP_REQUESTED").code == 0
    wait_for(lambda: not node_instances(root), 60, interval=0.5, what="the static node to power down")
    wait_for(
        lambda: set(shell(stratus, "sc", "sinfo -h -o %a").out.split()) == {"inactive"},
        30,
        interval=0.5,
        what="partitions INACTIVE in Slurm",
    )
    # update-cluster with the fleet stopped (a queue added): the head node restarts onto the new
    # configuration, slurmctld with it, and the partitions stay INACTIVE in Slurm.
    more = "  - Name: more\n    ComputeResources:\n    - Name: dy\n      InstanceType: t2.micro\n"
    grown = home / "grown.yaml"
    grown.write_text(text.replace("      MaxCount: 2\n", "      MaxCount: 2\n" + more, 1))
    r = stratus.run("update-cluster", "-n", "sc", "-c", str(grown), "--wait", timeout=300)
    assert r.code == 0 and r.json["clusterStatus"] == "UPDATE_COMPLETE", r.out + r.err
    assert "PartitionName=more " in (root / "slurm" / "slurm.conf").read_text()
    wait_for(
        lambda: (
            shell(stratus, "sc", "sinfo -h -o '%P %a'").out.split("\n")[:3]
            == ["q1* inactive", "cloud inactive", "more inactive"]
        ),
        30,
        interval=0.5,
        what="every partition INACTIVE in the restarted slurmctld",
    )
    assert stratus.run("update-compute-fleet", "-n", "sc", "--status", "START_REQUESTED").code == 0
    wait_for(
        lambda: "q1* up idle q1-st-st-1" in shell(stratus, "sc", "sinfo -h -o '%P %a %t %N'").out,
        90,
        interval=1,
        what="the static node back in Slurm",
    )
    assert "more up idle~ more-dy-dy-[1-10]" in shell(stratus, "sc", "sinfo -h -o '%P %a %t %N'").out


def test_engine_slurm_without_slurm_installed_names_the_packages(tmp_path: Path) -> None:
    s = Stratus(tmp_path / "home")
    empty = tmp_path / "bin"
    empty.mkdir()
    s.env["PATH"] = str(empty)
    cfg = tmp_path / "c.yaml"
    cfg.write_text(config())
    r = s.run("create-cluster", "-n", "nosl", "-c", str(cfg))
    assert r.code == 1
    message = json.loads(r.out)["message"]
    assert "Stratus.Engine: slurm needs Slurm and MUNGE" in message
    assert "slurmctld" in message and "apt-get install slurm-wlm munge" in message
    assert not (tmp_path / "home" / "clusters" / "nosl").exists()


def test_engine_slurm_refuses_a_custom_setting_on_the_deny_list(tmp_path: Path) -> None:
    s = Stratus(tmp_path / "home")
    cfg = tmp_path / "c.yaml"
    cfg.write_text(config(custom="ResumeProgram: /bin/x"))
    r = s.run("create-cluster", "-n", "deny", "-c", str(cfg))
    assert r.code == 1, r.out
    assert "ResumeProgram" in r.out and "not allowed" in r.out.lower()
    assert not (tmp_path / "home" / "clusters" / "deny").exists()


@real_slurm
def test_slurmctld_that_fails_to_start_fails_the_creation_with_its_log(stratus: Stratus, home: Path) -> None:
    cfg = home / "bad.yaml"
    cfg.write_text(config(custom="StateSaveLocation: /proc/nonexistent"))
    r = stratus.run("create-cluster", "-n", "bad", "-c", str(cfg))
    assert r.code == 0, r.out + r.err
    c = Cluster(stratus, "bad", stratus.cluster_dir("bad"))
    wait_for(lambda: c.status() == "CREATE_FAILED", 60, what="CREATE_FAILED")
    failures = stratus.run("describe-cluster", "-n", "bad").json["failures"]
    assert failures[0]["failureCode"] == "HeadNodeBootstrapFailure"
    reason = failures[0]["failureReason"]
    assert reason.startswith("Slurm did not start: slurmctld did not start")
    assert "fatal: mkdir(/proc/nonexistent)" in reason  # slurmctld's own log line
    assert not processes_of(slurm_pids(c.root))


# A name long enough that the cluster's slurmd spool lies in its runtime directory (slurmstepd's
# sockets there must fit in 108 bytes).
RT = "resume-timeout-cluster"


def _port_of(root: Path, node_index: int) -> int:
    return int(json.loads((root / "slurm" / "ports.json").read_text())["slurmd_base"]) + node_index


@real_slurm
def test_slurmd_that_never_registers_reaches_resume_timeout_and_the_job_is_requeued(
    stratus: Stratus, home: Path
) -> None:
    work = home / "work"
    work.mkdir()
    work.chmod(0o755)
    extra = "DevSettings:\n  Timeouts:\n    ComputeNodeBootstrapTimeout: 20\n"
    c = stratus.create(RT, config(extra=extra), home)
    # cloud-dy-dy-1 is the second node of the cluster (after q1-st-st-1): its slurmd cannot bind.
    blocker = socket.socket()
    blocker.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    blocker.bind(("127.0.0.1", _port_of(c.root, 1)))
    blocker.listen()
    try:
        job = sbatch(stratus, RT, "-p cloud -o rt.out --wrap='echo on $SLURMD_NODENAME'", work)

        def timed_out() -> bool:
            return "ResumeTimeout reached" in shell(stratus, RT, "sinfo -R -h -o '%E|%N'").out

        wait_for(timed_out, 150, interval=1, what="ResumeTimeout for the node whose slurmd never registered")
        show = shell(stratus, RT, f"scontrol show job {job}").out
        assert "Restarts=1" in show, show
        reasons = shell(stratus, RT, "sinfo -R -h -o '%E|%N'").out
        assert "ResumeTimeout reached|cloud-dy-dy-1" in reasons
        # The resume-fail program powered the node down in stratus (no instance left).
        wait_for(lambda: "cloud-dy-dy-1" not in node_instances(c.root), 60, interval=1, what="node gone")
    finally:
        blocker.close()
    # The requeued job runs on the next node.
    wait_for(lambda: job_state(stratus, RT, job) == "COMPLETED", 240, interval=1, what="the requeued job")
    assert (work / "rt.out").read_text().strip().startswith("on cloud-dy-dy-")

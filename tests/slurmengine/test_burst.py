"""A stratus cluster providing nodes to a Slurm it did not create (``Stratus.ExistingSlurm``).

The "site" is a Slurm cluster of its own, started here with :class:`SlurmDaemons` from a
hand-written slurm.conf: munged, slurmctld and the slurmd of its static node ``site-1``, in its
partition ``local``. The stratus cluster runs no Slurm daemon: its head node writes
``burst.conf``, the site includes it and restarts its slurmctld, and the site's slurmctld then
powers stratus's dynamic nodes up for a job and down when they are idle. Undone, the site works
as before. Every process is gone at the end, checked by pid.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from stratus.net import free_ports
from stratus.slurmengine.daemons import SlurmDaemons
from stratus.slurmengine.render import SlurmSite
from tests.integration.harness import Stratus, kill_all, processes_of, wait_for
from tests.slurmengine.test_engine import home, real_slurm, stratus

__all__ = ["home", "stratus"]  # fixtures used by the tests below

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
  - Name: burst
    ComputeResources:
    - Name: dy
      InstanceType: t2.micro
      MinCount: 0
      MaxCount: 2
Stratus:
  Engine: slurm
  ExistingSlurm:
    Conf: {conf}
"""

FINISHED = ("COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY", "BOOT_FAIL")


def _site_conf(d: Path, site: SlurmSite, node_port: int) -> str:
    """An on-prem slurm.conf: the settings an administrator writes, with the two that bursting
    needs (``idle_on_node_suspend`` and ``PrivateData=cloud``) already there."""
    return f"""\
ClusterName=site
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort={site.controller_port}
SlurmdPort={site.slurmd_port}
SlurmUser={site.slurm_user}
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={site.munge_socket}
StateSaveLocation={site.state_dir}
SlurmdSpoolDir={site.spool_dir}/%n
SlurmctldPidFile={site.pid_dir}/slurmctld.pid
SlurmdPidFile={site.pid_dir}/slurmd-%n.pid
SlurmctldLogFile={site.log_dir}/slurmctld.log
SlurmdLogFile={site.log_dir}/slurmd-%n.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/backfill
SwitchType=switch/none
MpiDefault=none
ReturnToService=2
TreeWidth=65533
CommunicationParameters=NoAddrCache
SlurmctldParameters=idle_on_node_suspend
PrivateData=cloud
NodeName=site-1 NodeAddr=127.0.0.1 Port={node_port} CPUs=1 State=UNKNOWN
PartitionName=local Nodes=site-1 Default=YES MaxTime=INFINITE State=UP
"""


@pytest.fixture
def site() -> Iterator[SlurmDaemons]:
    """The site's own Slurm: munged, slurmctld, and the slurmd of ``site-1``."""
    d = Path(tempfile.mkdtemp(prefix="sb"))  # short: munged's socket path must fit
    d.chmod(0o755)
    controller, slurmd, node_port = free_ports(3)
    config = SlurmSite(
        cluster_name="site",
        slurm_cluster_name="site",
        controller_host="localhost",
        state_dir=str(d / "state"),
        spool_dir=str(d / "spool"),
        log_dir=str(d / "log"),
        pid_dir=str(d / "run"),
        resume_program="/bin/true",
        suspend_program="/bin/true",
        munge_socket=str(d / "etc" / "munge.sock"),
        controller_port=controller,
        slurmd_port=slurmd,
        # The user stratus runs as: slurmctld runs the power programs, which read the cluster's
        # token, as SlurmUser.
        slurm_user="root",
    )
    daemons = SlurmDaemons(d / "etc", config, _site_conf(d, config, node_port))
    try:
        daemons.start()
        daemons.start_slurmd("site-1")
        yield daemons
    finally:
        daemons.stop()  # by pid, even when the test failed
        shutil.rmtree(d, ignore_errors=True)


def _site_run(site: SlurmDaemons, *argv: str) -> str:
    done = subprocess.run(
        argv, env=site.client_env(), capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, f"{' '.join(argv)}: {done.stdout}{done.stderr}"
    return done.stdout


def _restart_slurmctld(site: SlurmDaemons) -> list[int]:
    """What Slurm 22.05 needs to add or remove nodes: a slurmctld restart (``scontrol
    reconfigure`` alone makes it exit: "MaxNodeCount has changed ... slurmctld must be
    restarted"), then ``scontrol reconfigure`` so that every slurmd reads the new slurm.conf.
    The pids of the slurmctld stopped and started."""
    old = next(h for h in site.handles if h.name == "slurmctld")
    site._stop_one(old)
    new = site.start_slurmctld()
    _site_run(site, "scontrol", "reconfigure")
    return [old.pid, new.pid]


def _partitions(site: SlurmDaemons) -> dict[str, str]:
    """Partition -> ``availability state nodes`` lines of the site's sinfo."""
    out = _site_run(site, "sinfo", "-h", "-o", "%P %a %t %N")
    return {line.split()[0]: " ".join(line.split()[1:]) for line in out.splitlines() if line.strip()}


def _sbatch(site: SlurmDaemons, partition: str, out: Path) -> str:
    submitted = _site_run(
        site, "sbatch", "--parsable", "-p", partition, "-o", str(out), "--wrap", "echo on $SLURMD_NODENAME"
    )
    job = submitted.strip().split(";")[0]
    assert job.isdigit(), submitted
    return job


def _job_state(site: SlurmDaemons, job: str) -> str:
    found = re.search(r"JobState=(\S+)", _site_run(site, "scontrol", "show", "job", job))
    return found.group(1) if found else ""


def _run_job(site: SlurmDaemons, partition: str, out: Path, timeout: float) -> str:
    """Submit to ``partition``, wait for the job to finish; the node it says it ran on."""
    job = _sbatch(site, partition, out)
    wait_for(lambda: _job_state(site, job) in FINISHED, timeout, interval=1, what=f"job {job} on {partition}")
    assert _job_state(site, job) == "COMPLETED", _site_run(site, "scontrol", "show", "job", job)
    return out.read_text().strip()


def _with_children(pids: list[int]) -> list[int]:
    out = list(pids)
    for pid in pids:
        with contextlib.suppress(psutil.Error):
            out += [p.pid for p in psutil.Process(pid).children(recursive=True)]
    return out


@real_slurm
@pytest.mark.timeout(600)
def test_an_existing_slurm_powers_stratus_nodes_up_and_down(
    site: SlurmDaemons, stratus: Stratus, home: Path
) -> None:
    pids = [h.pid for h in site.handles]
    assert _partitions(site) == {"local*": "up idle site-1"}
    work = home / "work"
    work.mkdir()

    # The stratus cluster: no slurm.conf, no daemon of its own; its lines in burst.conf.
    c = stratus.create("bx", CONFIG.format(conf=site.slurm_conf), home)
    slurm_dir = c.root / "slurm"
    burst = slurm_dir / "burst.conf"
    assert burst.is_file() and not (slurm_dir / "slurm.conf").exists()
    assert not list(slurm_dir.glob("run/*.pid")) and not (slurm_dir / "munge.key").exists()
    head = c.controller_pid()
    assert head is not None
    pids.append(head)
    r = stratus.run("slurm-burst-lines", "-n", "bx")
    assert r.code == 0, r.out + r.err
    lines = r.out.splitlines()
    assert r.out == burst.read_text()
    assert f"ResumeProgram={slurm_dir / 'bin' / 'resume'}" in lines
    assert any(line.startswith("PartitionName=burst Nodes=burst_nodes") for line in lines)
    include = stratus.run("slurm-burst-lines", "-n", "bx", "--include")
    assert include.code == 0 and include.out == f"include {burst}\n"
    # stratus ssh gives the site's Slurm.
    ssh = stratus.run("ssh", "-n", "bx", "sinfo -h -o %P")
    assert ssh.code == 0 and ssh.out.split() == ["local*"], ssh.out + ssh.err

    # The site takes the lines: include, restart, reconfigure.
    original = site.slurm_conf.read_text()
    site.slurm_conf.write_text(original + include.out)
    pids += _restart_slurmctld(site)
    wait_for(
        lambda: _partitions(site) == {"local*": "up idle site-1", "burst": "up idle~ burst-dy-dy-[1-2]"},
        30,
        interval=0.5,
        what="the stratus partition in the site's Slurm",
    )

    # A job on the stratus partition: the site's slurmctld resumes a node through stratus.
    on = _run_job(site, "burst", work / "burst.out", 240)
    assert on == "on burst-dy-dy-1"
    power_log = slurm_dir / "log" / "power.log"
    assert 'resume burst-dy-dy-1: HTTP 200 {"nodes":["burst-dy-dy-1"]}' in power_log.read_text()
    agents = c.agent_pids()
    assert set(agents) == {"burst-dy-dy-1"}
    node_pids = _with_children(list(agents.values()))  # the node's agent and its slurmd
    commands = [" ".join(psutil.Process(pid).cmdline()) for pid in node_pids if psutil.pid_exists(pid)]
    assert f"slurmd -D -N burst-dy-dy-1 -f {site.slurm_conf}" in commands, commands
    pids += node_pids

    # The site's own partition still runs on its own node.
    assert _run_job(site, "local", work / "local.out", 60) == "on site-1"

    # Idle past ScaledownIdletime: the site's slurmctld suspends the node through stratus.
    wait_for(
        lambda: not c.agent_pids() and "suspend burst-dy-dy-1: HTTP 200" in power_log.read_text(),
        150,
        interval=1,
        what="the idle stratus node to be powered down",
    )

    # Undo: the lines removed and slurmctld restarted first (clients read the included file),
    # then the cluster deleted; the site's daemons keep running.
    site.slurm_conf.write_text(original)
    pids += _restart_slurmctld(site)
    assert _partitions(site) == {"local*": "up idle site-1"}
    assert stratus.run("delete-cluster", "-n", "bx", "--wait", timeout=300).code == 0
    assert not c.root.exists()
    assert all(h.running() for h in site.handles)
    assert _run_job(site, "local", work / "after.out", 60) == "on site-1"

    # Every process started is gone once the site's daemons stop.
    site.stop()
    try:
        wait_for(lambda: not processes_of(pids), 60, what="every process to exit")
    finally:
        leftovers = processes_of(pids)
        kill_all(pids)
    assert not leftovers, [(p.pid, p.name()) for p in leftovers]


def test_burst_lines_of_a_cluster_without_existing_slurm_are_refused(tmp_path: Path) -> None:
    s = Stratus(tmp_path / "home")
    r = s.run("slurm-burst-lines", "-n", "nosuch")
    assert r.code == 1 and "nosuch" in r.out


def test_create_cluster_checks_the_site_conf(tmp_path: Path) -> None:
    s = Stratus(tmp_path / "home")
    cfg = tmp_path / "c.yaml"
    cfg.write_text(CONFIG.format(conf=tmp_path / "missing" / "slurm.conf"))
    r = s.run("create-cluster", "-n", "nosite", "-c", str(cfg), "--dryrun")
    assert r.code == 1
    if "Stratus.Engine: slurm needs" not in r.out and "runs Slurm's daemons" not in r.out:
        # Slurm's programs and root are here: the site's slurm.conf is what is missing.
        assert "Stratus.ExistingSlurm.Conf" in r.out and "is not a readable file" in r.out, r.out
    assert not (tmp_path / "home" / "clusters" / "nosite").exists()


def test_without_slurmctld_and_munged_an_existing_slurm_is_enough(tmp_path: Path) -> None:
    """slurmctld and munged run on the site's machines: only slurmd, scontrol (and unshare) are
    needed here."""
    s = Stratus(tmp_path / "home")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for program in ("slurmd", "scontrol", "unshare"):
        tool = bin_dir / program
        tool.write_text("#!/bin/sh\nexit 0\n")
        tool.chmod(0o755)
    s.env["PATH"] = str(bin_dir)
    conf = tmp_path / "slurm.conf"
    conf.write_text("ClusterName=site\n")
    cfg = tmp_path / "c.yaml"
    cfg.write_text(CONFIG.format(conf=conf))
    r = s.run("create-cluster", "-n", "nodaemons", "-c", str(cfg), "--dryrun")
    assert r.code == 1
    message = r.out
    assert "slurmctld" not in message and "munged" not in message, message
    if os.geteuid() == 0:
        assert "DryRun flag is set" in message, message
    else:
        assert "runs Slurm's daemons" in message, message

"""One cluster's real Slurm daemons started, used with real clients and stopped, by pid."""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from stratus.config import load_cluster_config
from stratus.net import free_port_run, free_ports
from stratus.slurmengine.daemons import DaemonError, SlurmDaemons
from stratus.slurmengine.render import (
    ConfigSlurmSettings,
    SlurmSite,
    node_ports,
    render_gres_conf,
    render_slurm_conf,
)

CONFIG = """\
HeadNode:
  InstanceType: t3.medium
Scheduling:
  Scheduler: slurm
  SlurmQueues:
  - Name: q
    ComputeResources:
    - Name: c
      InstanceType: t2.micro
      MinCount: 2
      MaxCount: 2
"""

NODES = ("q-st-c-1", "q-st-c-2")

real_slurm = pytest.mark.skipif(
    any(shutil.which(p) is None for p in ("slurmctld", "slurmd", "munged", "scontrol", "sbatch", "sinfo"))
    or os.geteuid() != 0,
    reason="needs real Slurm (slurmctld, slurmd, munged and clients) and root",
)


def _site(d: Path) -> SlurmSite:
    controller, slurmd = free_ports(2)
    base = free_port_run(len(NODES))
    while {controller, slurmd} & set(range(base, base + len(NODES))):
        base = free_port_run(len(NODES))
    return SlurmSite(
        cluster_name="demo",
        slurm_cluster_name="demo",
        controller_host="localhost",
        state_dir=str(d / "state"),
        spool_dir=str(d / "spool"),
        log_dir=str(d / "log"),
        pid_dir=str(d / "run"),
        resume_program="/bin/true",
        suspend_program="/bin/true",
        munge_socket=str(d / "cluster" / "munge.sock"),
        controller_port=controller,
        slurmd_port=slurmd,
        slurmd_port_base=base,
    )


@pytest.fixture
def short_dir() -> Iterator[Path]:
    # A short path: munged's socket path must fit a sockaddr_un.
    path = Path(tempfile.mkdtemp(prefix="srt"))
    path.chmod(0o755)  # munged wants its socket reachable by every user
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def daemons(short_dir: Path) -> Iterator[SlurmDaemons]:
    loaded = load_cluster_config(CONFIG)
    site = _site(short_dir)
    assert sorted(node_ports(loaded.layout, site)) == list(NODES)
    conf = render_slurm_conf(loaded.layout, site, ConfigSlurmSettings.from_config(loaded.config))
    started = SlurmDaemons(short_dir / "cluster", site, conf, render_gres_conf(loaded.layout, site))
    try:
        yield started
    finally:
        started.stop()  # by pid, even when the test failed


def _run(daemons: SlurmDaemons, *argv: str) -> str:
    done = subprocess.run(
        argv, env=daemons.client_env(), capture_output=True, text=True, timeout=30, check=False
    )
    assert done.returncode == 0, f"{' '.join(argv)}: {done.stdout}{done.stderr}"
    return done.stdout


def _until(what: str, condition: Callable[[], bool], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.25)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@real_slurm
@pytest.mark.timeout(120)
def test_a_cluster_runs_a_job_and_stops(daemons: SlurmDaemons) -> None:
    daemons.start()
    key = daemons.munge_key.stat()
    assert stat.S_IMODE(key.st_mode) == 0o400 and key.st_size == 1024 and key.st_uid == os.geteuid()
    assert [h.name for h in daemons.handles] == ["munged", "slurmctld"]

    def states() -> dict[str, str]:
        out = _run(daemons, "sinfo", "-h", "-N", "-o", "%N %t")
        return dict(line.split() for line in out.splitlines() if line.strip())

    # Static CLOUD nodes start out IDLE+CLOUD+POWERED_DOWN ("idle~").
    assert states() == {node: "idle~" for node in NODES}
    # Slurm 22.05.8: a node's slurmd registering is enough to bring a powered-down CLOUD node up
    # (slurmctld logs "Node ... now responding" and clears POWERED_DOWN: IDLE+CLOUD); no
    # `scontrol update state=power_up` or `state=resume` is needed, so the resume side only has
    # to start slurmd (and set NodeAddr where it is not in slurm.conf).
    for node in NODES:
        daemons.start_slurmd(node)
    _until("both nodes idle", lambda: states() == {node: "idle" for node in NODES})

    out_dir = daemons.directory / "jobs"
    out_dir.mkdir()
    submitted = _run(
        daemons,
        "sbatch",
        "--parsable",
        "-o",
        str(out_dir / "job-%j.out"),
        "--wrap",
        "hostname; echo $SLURMD_NODENAME",
    )
    job = submitted.strip().split(";")[0]
    assert job.isdigit(), submitted

    def job_state() -> str:
        found = re.search(r"JobState=(\S+)", _run(daemons, "scontrol", "show", "job", job))
        return found.group(1) if found else ""

    finished = ("COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY")
    _until(f"job {job} to finish", lambda: job_state() in finished)
    assert job_state() == "COMPLETED"
    assert _run(daemons, "squeue", "-h", "-j", job).strip() == ""
    lines = (out_dir / f"job-{job}.out").read_text().split()
    assert len(lines) == 2 and lines[1] in NODES, lines

    pids = [h.pid for h in daemons.handles]
    assert len(pids) == 4
    daemons.stop()
    assert daemons.handles == ()
    assert not [pid for pid in pids if _alive(pid)]


@real_slurm
@pytest.mark.timeout(60)
def test_a_munged_that_cannot_start_is_named_with_its_log(daemons: SlurmDaemons) -> None:
    daemons.write_files()
    first = daemons.start_munged()
    with pytest.raises(DaemonError, match="munged is already running"):
        daemons.start_munged()
    # Another munged on the same socket refuses to start; the error quotes what it wrote.
    other = SlurmDaemons(daemons.directory, daemons.site, daemons.slurm_conf_text)
    try:
        with pytest.raises(DaemonError, match=r"munged did not start \(exited with status") as caught:
            other.start_munged(timeout=15)
        assert "munged.out]\n" in str(caught.value) and "bound to socket" in str(caught.value)
        assert other.handles == ()
    finally:
        other.stop()
    assert first.running() and [h.name for h in daemons.handles] == ["munged"]


def test_a_site_without_its_own_munge_socket_is_refused(tmp_path: Path) -> None:
    site = SlurmSite(
        cluster_name="demo",
        slurm_cluster_name="demo",
        controller_host="localhost",
        state_dir=str(tmp_path / "state"),
        spool_dir=str(tmp_path / "spool"),
        log_dir=str(tmp_path / "log"),
        pid_dir=str(tmp_path / "run"),
        resume_program="/bin/true",
        suspend_program="/bin/true",
    )
    with pytest.raises(DaemonError, match="munge_socket"):
        SlurmDaemons(tmp_path, site, "")
    long = SlurmSite(**{**site.__dict__, "munge_socket": "/" + "x" * 120})
    with pytest.raises(DaemonError, match="longer than"):
        SlurmDaemons(tmp_path, long, "")


def test_client_env_names_the_conf(tmp_path: Path) -> None:
    site = _site(tmp_path)
    env = SlurmDaemons(tmp_path / "c", site, "").client_env({"PATH": "/usr/bin"})
    assert env == {"PATH": "/usr/bin", "SLURM_CONF": str(tmp_path / "c" / "slurm.conf")}


@real_slurm
@pytest.mark.timeout(90)
def test_a_slurmd_that_cannot_start_is_named_with_its_log(daemons: SlurmDaemons) -> None:
    daemons.start()
    with pytest.raises(DaemonError, match=r"slurmd nosuch-node did not start \(exited") as caught:
        daemons.start_slurmd("nosuch-node", timeout=30)
    assert 'lookup failure for node "nosuch-node"' in str(caught.value)
    assert [h.name for h in daemons.handles] == ["munged", "slurmctld"]

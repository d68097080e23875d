"""One cluster's accounting (MariaDB and slurmdbd) started with its Slurm, a job read back with
sacct, and everything stopped, by pid."""

from __future__ import annotations

import os
import pwd
import shutil
import stat
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from stratus.config import load_cluster_config
from stratus.net import free_ports
from stratus.slurmengine.accounting import SlurmAccounting
from stratus.slurmengine.daemons import DaemonError, SlurmDaemons
from stratus.slurmengine.render import (
    ConfigSlurmSettings,
    SlurmSite,
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
      MinCount: 1
      MaxCount: 1
"""

NODE = "q-st-c-1"

PROGRAMS = (
    "slurmctld",
    "slurmd",
    "slurmdbd",
    "munged",
    "mariadb-install-db",
    "sbatch",
    "sacct",
    "scontrol",
)

real_accounting = pytest.mark.skipif(
    os.geteuid() != 0
    or any(shutil.which(p) is None for p in PROGRAMS)
    or (shutil.which("mariadbd") is None and shutil.which("mysqld") is None),
    reason="needs root, real Slurm with slurmdbd and munged, and MariaDB (mariadbd, mariadb-install-db)",
)


def _site(d: Path) -> SlurmSite:
    # One node: its slurmd's port is slurmd_port_base itself.
    controller, slurmd, base = free_ports(3)
    return SlurmSite(
        cluster_name="acct",
        slurm_cluster_name="acct",
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
    # A short path (sockets' paths must fit a sockaddr_un), reachable by munge's clients and
    # by the users MariaDB and slurmdbd run as.
    path = Path(tempfile.mkdtemp(prefix="sra"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _until(what: str, condition: Callable[[], bool], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.5)


def _run(env: dict[str, str], *argv: str) -> str:
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, f"{' '.join(argv)}: {done.stdout}{done.stderr}"
    return done.stdout


@real_accounting
@pytest.mark.timeout(240)
def test_sacct_reads_back_a_job(short_dir: Path) -> None:
    loaded = load_cluster_config(CONFIG)
    site = _site(short_dir)
    accounting = SlurmAccounting(short_dir / "acct", site)
    conf = render_slurm_conf(loaded.layout, site, ConfigSlurmSettings.from_config(loaded.config))
    conf += "\n".join(["# ACCOUNTING", *accounting.slurm_conf_lines()]) + "\n"
    daemons = SlurmDaemons(short_dir / "cluster", site, conf, render_gres_conf(loaded.layout, site))
    pids: list[int] = []
    try:
        accounting.start()
        assert [h.name for h in accounting.handles] == ["mariadbd", "slurmdbd"]
        dbd_conf = accounting.slurmdbd_conf.stat()
        assert stat.S_IMODE(dbd_conf.st_mode) == 0o600
        assert dbd_conf.st_uid == pwd.getpwnam(site.slurm_user).pw_uid
        assert not accounting.init_file.exists()
        daemons.start()
        daemons.start_slurmd(NODE)
        pids = [h.pid for h in (*accounting.handles, *daemons.handles)]
        assert len(pids) == 5
        env = daemons.client_env()

        # slurmctld registers its cluster with slurmdbd itself.
        _until(
            "the cluster to be registered",
            lambda: "acct" in _run(env, "sacctmgr", "-n", "-P", "show", "cluster", "format=Cluster").split(),
        )
        _until(
            "the node to be idle",
            lambda: _run(env, "sinfo", "-h", "-N", "-o", "%t").split() == ["idle"],
        )
        job = _run(env, "sbatch", "--parsable", "-o", "/dev/null", "--wrap", "true").strip().split(";")[0]
        assert job.isdigit()

        def rows() -> list[str]:
            return _run(env, "sacct", "-j", job, "-n", "-P", "-o", "JobID,State,ExitCode").split()

        _until(f"job {job} to be accounted as completed", lambda: f"{job}|COMPLETED|0:0" in rows())
        assert rows()[0] == f"{job}|COMPLETED|0:0"
    finally:
        daemons.stop()
        accounting.stop()
    assert accounting.handles == () and daemons.handles == ()
    assert not [pid for pid in pids if _alive(pid)]


@real_accounting
@pytest.mark.timeout(120)
def test_a_mariadbd_that_cannot_start_is_named_with_its_log(short_dir: Path) -> None:
    site = _site(short_dir)
    accounting = SlurmAccounting(short_dir / "acct", site)
    accounting.write_files()
    assert (accounting.data_dir / "mysql").is_dir()
    # A data directory mariadbd's user cannot enter.
    os.chown(accounting.data_dir, 0, 0)
    accounting.data_dir.chmod(0o700)
    try:
        with pytest.raises(DaemonError, match=r"mariadbd did not start \(exited with status") as caught:
            accounting.start_mariadb(timeout=60)
        message = str(caught.value)
        assert "mariadbd.out]\n" in message and "Permission denied" in message, message
        assert accounting.handles == ()
        assert not accounting.init_file.exists()
        with pytest.raises(DaemonError, match="start_mariadb"):
            accounting.start_slurmdbd()
    finally:
        accounting.stop()


@real_accounting
@pytest.mark.timeout(180)
def test_accounting_starts_again_on_its_data(short_dir: Path) -> None:
    site = _site(short_dir)
    pids: list[int] = []
    for _ in range(2):
        # The second start keeps the data directory and sets a new password.
        accounting = SlurmAccounting(short_dir / "acct", site)
        try:
            accounting.start()
            pids += [h.pid for h in accounting.handles]
            log = accounting.slurmdbd_log.read_text()
            assert log.count("slurmdbd version") == len(pids) // 2 and "Access denied" not in log
        finally:
            accounting.stop()
    assert len(pids) == 4 and not [pid for pid in pids if _alive(pid)]
    assert (short_dir / "log" / "mariadb-install-db.out").read_text().count("Installing MariaDB") == 1


def test_names_and_sockets_are_checked(tmp_path: Path) -> None:
    site = _site(tmp_path)
    with pytest.raises(DaemonError, match="database name"):
        SlurmAccounting(tmp_path, site, database_name="Bad-Name")
    with pytest.raises(DaemonError, match="database user"):
        SlurmAccounting(tmp_path, site, storage_user="x'y")
    with pytest.raises(DaemonError, match="longer than"):
        SlurmAccounting(tmp_path / ("x" * 120), site)
    no_munge = SlurmSite(**{**site.__dict__, "munge_socket": None})
    with pytest.raises(DaemonError, match="munge_socket"):
        SlurmAccounting(tmp_path, no_munge)


def test_slurm_conf_lines_name_slurmdbd(tmp_path: Path) -> None:
    site = _site(tmp_path)
    accounting = SlurmAccounting(tmp_path, site, dbd_port=6819, mariadb_port=3307)
    assert accounting.slurm_conf_lines() == [
        "AccountingStorageType=accounting_storage/slurmdbd",
        "AccountingStorageHost=127.0.0.1",
        "AccountingStoragePort=6819",
        f"AccountingStoragePass={site.munge_socket}",
        "JobAcctGatherType=jobacct_gather/linux",
        "JobAcctGatherFrequency=30",
    ]
    text = accounting.slurmdbd_conf_text("secret")
    assert "StoragePort=3307\n" in text and "StoragePass=secret\n" in text and "DbdPort=6819\n" in text
    assert f"AuthInfo=socket={site.munge_socket}\n" in text

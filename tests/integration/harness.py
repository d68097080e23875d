"""Drive real stratus clusters from tests: real processes, sockets and files, cleaned up by pid."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

REPO = Path(__file__).resolve().parents[2]

WALKTHROUGH_CONFIG = """\
Region: eu-west-1
Image:
  Os: alinux2
HeadNode:
  InstanceType: t2.micro
  Networking:
    SubnetId: subnet-08c245b78a82c3924
  Ssh:
    KeyName: steyn-mbp
Scheduling:
  Scheduler: slurm
  SlurmSettings:
    ScaledownIdletime: {idle}
  SlurmQueues:
  - Name: queue1
    ComputeResources:
    - Name: t2micro
      Instances:
      - InstanceType: t2.micro
      MinCount: {min_count}
      MaxCount: {max_count}
    Networking:
      SubnetIds:
      - subnet-0b864625631add41e
      - subnet-0053337e5ceeea8f3
      - subnet-035761b17a12851ac
"""


def wait_for(cond: Callable[[], Any], timeout: float = 60.0, interval: float = 0.05, what: str = "") -> Any:
    """Poll ``cond`` until it returns something truthy; fail the test after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what or cond}")
        time.sleep(interval)


@dataclass
class Result:
    code: int
    out: str
    err: str

    @property
    def json(self) -> Any:
        return json.loads(self.out)


@dataclass
class Stratus:
    """The ``stratus`` CLI under a private STRATUS_HOME."""

    home: Path
    env: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.env = dict(os.environ)
        self.env["STRATUS_HOME"] = str(self.home)
        self.env["STRATUS_KILL_WAIT"] = "2"
        self.env["STRATUS_DEBUG"] = "1"

    def run(self, *args: str, timeout: float = 120.0) -> Result:
        p = subprocess.run(
            [sys.executable, "-m", "stratus.cli.main", *args],
            capture_output=True,
            text=True,
            env=self.env,
            timeout=timeout,
            cwd=REPO,
        )
        return Result(p.returncode, p.stdout, p.stderr)

    def cluster_dir(self, name: str) -> Path:
        return self.home / "clusters" / name

    def create(self, name: str, config_text: str, tmp: Path) -> Cluster:
        cfg = tmp / f"{name}.yaml"
        cfg.write_text(config_text)
        r = self.run("create-cluster", "-n", name, "-c", str(cfg))
        assert r.code == 0, r.out + r.err
        c = Cluster(self, name, self.cluster_dir(name))
        wait_for(lambda: c.status() == "CREATE_COMPLETE", 60, what="CREATE_COMPLETE")
        return c


@dataclass
class Cluster:
    stratus: Stratus
    name: str
    root: Path

    def status(self) -> str:
        r = self.stratus.run("describe-cluster", "-n", self.name)
        return str(r.json.get("clusterStatus")) if r.code == 0 else ""

    def slurm(
        self,
        cmd: str,
        *args: str,
        cwd: Path | None = None,
        stdin: str | None = None,
        env: dict[str, str] | None = None,
    ) -> Result:
        """Run one of the cluster's Slurm commands (``env``: variables to add to the test's)."""
        env = {**self.stratus.env, **(env or {})}
        env["PATH"] = str(self.root / "bin") + os.pathsep + env.get("PATH", "")
        p = subprocess.run(
            [str(self.root / "bin" / cmd), *args],
            capture_output=True,
            text=True,
            env=env,
            cwd=cwd,
            input=stdin,
            stdin=subprocess.DEVNULL if stdin is None else None,  # srun forwards its stdin
            timeout=60,
        )
        return Result(p.returncode, p.stdout, p.stderr)

    def sbatch(self, *args: str, cwd: Path, stdin: str | None = None) -> int:
        r = self.slurm("sbatch", "--parsable", *args, cwd=cwd, stdin=stdin)
        assert r.code == 0, r.err
        return int(r.out.strip().split(";")[0])

    def controller_pid(self) -> int | None:
        try:
            text = (self.root / "controller.lock").read_text().strip()
        except OSError:
            return None
        pid = int(text) if text.isdigit() else None
        return pid if pid is not None and psutil.pid_exists(pid) else None

    def agent_pids(self) -> dict[str, int]:
        """Node name -> agent pid, from the store (what the head node recorded)."""
        import sqlite3

        db = self.root / "state.db"
        if not db.exists():
            return {}
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        try:
            rows = con.execute("select name, instance from nodes where instance is not null").fetchall()
        finally:
            con.close()
        # Nodes on this machine and ssh hosts record their agent's pid; EC2 instances do not.
        data = {name: json.loads(inst).get("data", {}) for name, inst in rows}
        return {name: int(d["pid"]) for name, d in data.items() if "pid" in d}

    def journal(self, entity: str, key: str) -> list[tuple[str, str, str, int]]:
        import sqlite3

        con = sqlite3.connect(f"file:{self.root / 'state.db'}?mode=ro", uri=True)
        try:
            return con.execute(
                "select old, new, cause, run from journal where entity=? and key=? order by seq",
                (entity, key),
            ).fetchall()
        finally:
            con.close()

    def squeue_states(self, *args: str) -> dict[str, str]:
        r = self.slurm("squeue", "-h", "-o", "%i %T", *args)
        assert r.code == 0, r.err
        return dict(line.split() for line in r.out.splitlines() if line.strip())


def processes_of(pids: list[int]) -> list[psutil.Process]:
    """Live processes among ``pids`` and the members of their sessions (an agent's jobs)."""
    out: dict[int, psutil.Process] = {}
    sids = set()
    for pid in pids:
        try:
            p = psutil.Process(pid)
            if p.status() != psutil.STATUS_ZOMBIE:
                out[pid] = p
            sids.add(pid)
        except psutil.Error:
            sids.add(pid)
    for p in psutil.process_iter(["pid"]):
        try:
            if os.getsid(p.pid) in sids and p.status() != psutil.STATUS_ZOMBIE:
                out[p.pid] = p
        except (ProcessLookupError, PermissionError, psutil.Error):
            continue
    return list(out.values())


def kill_all(pids: list[int]) -> None:
    for p in processes_of(pids):
        with contextlib.suppress(psutil.Error):
            p.send_signal(signal.SIGKILL)

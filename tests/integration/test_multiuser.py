"""A cluster shared by several users: each is who the operating system says.

Real unix users, made by the test (and removed after it), reach a cluster that root runs the way
they would reach a Slurm login node: ``stratus ssh -n NAME`` against the shared ``STRATUS_HOME``.
Their jobs run as them; what they may do to other users' jobs follows Slurm's rules; nothing in
a request can make the head node take them for someone else. A head node run by an ordinary user
serves that user alone.

Needs root (to create users and run the shared head node) and ``useradd``; skipped otherwise.
"""

from __future__ import annotations

import json
import os
import pwd
import secrets
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest

from tests.integration.harness import (
    REPO,
    WALKTHROUGH_CONFIG,
    Cluster,
    Result,
    Stratus,
    kill_all,
    processes_of,
    wait_for,
)

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("useradd") is None,
    reason="needs root and useradd to create the users it tests with",
)

CONFIG = WALKTHROUGH_CONFIG.format(idle=60, min_count=0, max_count=2)


@dataclass(frozen=True)
class User:
    """A unix user made for the test, with a private working directory."""

    name: str
    uid: int
    gid: int
    home: Path

    def run(
        self, argv: list[str], env: dict[str, str], cwd: Path | None = None, stdin: str | None = None
    ) -> Result:
        p = subprocess.run(
            argv,
            capture_output=True,
            text=True,
            env={**env, "HOME": str(self.home), "USER": self.name, "LOGNAME": self.name},
            cwd=cwd or self.home,
            user=self.uid,
            group=self.gid,
            extra_groups=[],
            input=stdin,
            stdin=subprocess.DEVNULL if stdin is None else None,
            timeout=120,
        )
        return Result(p.returncode, p.stdout, p.stderr)


def _make_user(prefix: str, base: Path) -> User:
    name = f"{prefix}{secrets.token_hex(3)}"
    subprocess.run(["useradd", "-M", "-U", "-s", "/bin/sh", "-d", str(base / name), name], check=True)
    entry = pwd.getpwnam(name)
    home = base / name
    home.mkdir(mode=0o700)
    os.chown(home, entry.pw_uid, entry.pw_gid)
    return User(name, entry.pw_uid, entry.pw_gid, home)


def _python_for_everyone(base: Path, user: User) -> str:
    """A Python that runs stratus for every user, as a shared install's must.

    This one if the user can run it. Otherwise (it often lives in root's home) a venv in
    ``base`` made from the system's Python of the same version, which finds stratus and its
    libraries where this one does.
    """
    try:
        if user.run([sys.executable, "-c", "import stratus"], dict(os.environ), cwd=base).code == 0:
            return sys.executable
    except PermissionError:
        pass  # not even executable by them
    system = "/usr/bin/python3"
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    check = subprocess.run(
        [system, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
        capture_output=True,
        text=True,
        check=False,
    )
    if check.stdout.strip() != version:
        pytest.skip(f"no Python {version} that the test users may run")
    venv = base / "venv"
    subprocess.run([system, "-m", "venv", "--without-pip", str(venv)], check=True)
    site = venv / "lib" / f"python{version}" / "site-packages"
    import stratus

    paths = [p for p in sys.path if p.endswith("site-packages")]
    paths.append(str(Path(stratus.__file__).parents[1]))
    (site / "stratus-under-test.pth").write_text("\n".join(paths) + "\n")
    python = str(venv / "bin" / "python")
    probe = user.run([python, "-c", "import stratus, fastapi"], dict(os.environ), cwd=base)
    if probe.code != 0:
        pytest.skip(f"the test users cannot run stratus: {probe.err.strip()}")
    return python


@pytest.fixture
def shared() -> Iterator[tuple[Path, User, User, str]]:
    """A world-traversable base directory (pytest's own is root's alone), alice, bob, and the
    Python they all run stratus with."""
    base = Path(tempfile.mkdtemp(prefix="stratus-shared-"))
    base.chmod(0o755)
    made: list[User] = []
    try:
        made.append(_make_user("alice", base))
        made.append(_make_user("bob", base))
        yield base, made[0], made[1], _python_for_everyone(base, made[0])
    finally:
        for user in made:
            pids = [p.pid for p in _processes_of_user(user.uid)]
            kill_all(pids)
            subprocess.run(["userdel", user.name], check=False, capture_output=True)
        shutil.rmtree(base, ignore_errors=True)


def _processes_of_user(uid: int) -> list[psutil.Process]:
    out = []
    for p in psutil.process_iter(["uids"]):
        uids = p.info.get("uids")
        if uids is not None and uids.real == uid:
            out.append(p)
    return out


def _user_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STRATUS_")}
    env["STRATUS_HOME"] = str(home)
    env["STRATUS_KILL_WAIT"] = "2"
    return env


@dataclass(frozen=True)
class Site:
    """An install every user may run: its Python and its ``STRATUS_HOME``."""

    python: str
    home: Path

    def stratus(self, user: User | None, *args: str) -> Result:
        """The ``stratus`` command, as ``user`` (root when None)."""
        argv = [self.python, "-m", "stratus.cli.main", *args]
        if user is not None:
            return user.run(argv, _user_env(self.home))
        env = _user_env(self.home)
        p = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=REPO, timeout=120)
        return Result(p.returncode, p.stdout, p.stderr)

    def login(self, user: User, name: str, command: str) -> Result:
        """``stratus ssh -n NAME -- COMMAND`` as ``user``: how a user reaches a cluster."""
        return self.stratus(user, "ssh", "-n", name, "--", command)

    def create(self, user: User | None, name: str, config: Path) -> Path:
        r = self.stratus(user, "create-cluster", "-n", name, "-c", str(config))
        assert r.code == 0, r
        croot = self.home / "clusters" / name

        def complete() -> bool:
            r = self.stratus(user, "describe-cluster", "-n", name)
            return r.code == 0 and json.loads(r.out)["clusterStatus"] == "CREATE_COMPLETE"

        wait_for(complete, 60, what=f"cluster {name} to be created")
        return croot


def _owner(path: Path) -> int:
    return path.stat().st_uid


def test_users_of_a_shared_cluster_are_who_the_kernel_says(shared: tuple[Path, User, User, str]) -> None:
    base, alice, bob, python = shared
    site = Site(python, base / "stratus")
    config = base / "cluster.yaml"
    config.write_text(CONFIG)
    croot = site.create(None, "shared", config)
    cluster = Cluster(Stratus(site.home), "shared", croot)
    pids = [cluster.controller_pid() or 0]
    try:
        _shared_scenario(site, cluster, alice, bob)
    finally:
        pids += list(cluster.agent_pids().values())
        site.stratus(None, "delete-cluster", "-n", "shared", "--wait")
        wait_for(lambda: not processes_of(pids), 20, what="the cluster's processes to exit")


def _state(cluster: Cluster, job: str) -> str:
    return cluster.squeue_states("-t", "all", "-j", job).get(job, "")


def _shared_scenario(site: Site, cluster: Cluster, alice: User, bob: User) -> None:
    croot = cluster.root
    # Users need neither the token nor the state, and cannot read them.
    for secret in ("token", "state.db", "cluster.yaml"):
        assert stat.S_IMODE((croot / secret).stat().st_mode) == 0o600, secret
        assert alice.run(["cat", str(croot / secret)], _user_env(site.home)).code != 0, secret

    # The cluster's verbs are its administrators': a clear refusal, no traceback.
    for verb in (["describe-cluster", "-n", "shared"], ["delete-cluster", "-n", "shared"]):
        r = site.stratus(bob, *verb)
        assert r.code == 1 and json.loads(r.out)["message"].startswith("Forbidden: "), (verb, r)
    assert site.stratus(None, "describe-cluster", "-n", "shared").code == 0

    # alice's job runs as alice; its outputs, its steps and what it makes are hers.
    (alice.home / "job.sh").write_text("#!/bin/sh\nid -u; id -g; srun id -u > step.txt; touch made.txt\n")
    os.chown(alice.home / "job.sh", alice.uid, alice.gid)
    r = site.login(alice, "shared", "sbatch --parsable -o out.txt job.sh")
    assert r.code == 0, r
    job = r.out.strip()
    wait_for(lambda: _state(cluster, job) == "COMPLETED", 90, what="alice's job to complete")
    out = alice.home / "out.txt"
    assert out.read_text().split() == [str(alice.uid), str(alice.gid)]
    assert (alice.home / "step.txt").read_text().strip() == str(alice.uid)
    for made in (out, alice.home / "made.txt", alice.home / "step.txt"):
        assert _owner(made) == alice.uid, made
    r = cluster.slurm("squeue", "-h", "-t", "all", "-j", job, "-o", "%u %U")
    assert r.out.split() == [alice.name, str(alice.uid)]

    # A user cannot make a job write where they could not: bob's directory is bob's.
    r = site.login(alice, "shared", f"sbatch --parsable -o {bob.home}/stolen.txt --wrap 'echo hi'")
    assert r.code == 0, r
    stolen = r.out.strip()
    wait_for(lambda: _state(cluster, stolen) == "FAILED", 90, what="the job writing to bob's files to fail")
    assert not (bob.home / "stolen.txt").exists()

    # Slurm's rules: everyone sees every job; only its owner (or root) acts on it.
    r = site.login(alice, "shared", "sbatch --parsable --hold --wrap 'sleep 300'")
    assert r.code == 0, r
    held = r.out.strip()
    r = site.login(bob, "shared", "squeue -h -o '%i %u'")
    assert f"{held} {alice.name}" in r.out.splitlines(), r
    for command in (f"scancel {held}", f"scontrol release {held}", f"scontrol update JobId={held} JobName=x"):
        r = site.login(bob, "shared", command)
        assert r.code == 1 and "Access/permission denied" in r.err, (command, r)
    assert cluster.squeue_states("-j", held) == {held: "PENDING"}
    r = site.login(alice, "shared", f"scontrol update JobId={held} JobName=mine TimeLimit=10")
    assert r.code == 0, r
    # Users may ask for less, never more: a longer limit or a raised priority is root's to give.
    r = site.login(alice, "shared", f"scontrol update JobId={held} TimeLimit=20")
    assert r.code == 1 and "Access/permission denied" in r.err, r
    r = site.login(alice, "shared", "sbatch --nice=-5 --wrap true")
    denied = "sbatch: error: Batch job submission failed: Access/permission denied"
    assert (r.code, r.err.strip()) == (1, denied), r

    # What a request says about its sender counts for nothing: the kernel names the caller.
    forged = (
        "import http.client, json, socket, sys\n"
        "class C(http.client.HTTPConnection):\n"
        "    def connect(self):\n"
        "        self.sock = socket.socket(socket.AF_UNIX); self.sock.connect(sys.argv[1])\n"
        "c = C('localhost')\n"
        "body = {'argv': ['--parsable', '--wrap', 'id -u'], 'cwd': sys.argv[2], 'env': {},"
        " 'uid': 0, 'gid': 0, 'user': 'root'}\n"
        "c.request('POST', '/slurm/v1/sbatch', json.dumps(body))\n"
        "r = c.getresponse(); print(r.status, r.read().decode().strip())\n"
        "c = C('localhost'); c.request('GET', '/v3/clusters/shared'); r = c.getresponse()\n"
        "print(r.status, json.loads(r.read())['message'])\n"
    )
    r = bob.run([site.python, "-c", forged, str(croot / "api.sock"), str(bob.home)], _user_env(site.home))
    lines = r.out.splitlines()
    assert len(lines) == 2 and lines[0].startswith("200 "), r
    forged_job = lines[0].split()[1]
    r = cluster.slurm("squeue", "-h", "-t", "all", "-j", forged_job, "-o", "%U")
    assert r.out.strip() == str(bob.uid)
    # The cluster's own API is its administrators' alone.
    assert lines[1].startswith("403 Forbidden"), lines

    # Root acts on every job.
    r = cluster.slurm("scancel", held)
    assert r.code == 0, r.err
    wait_for(lambda: _state(cluster, held) == "CANCELLED", 30, what="root's scancel of alice's job")


def test_a_head_node_run_by_a_user_serves_that_user_alone(shared: tuple[Path, User, User, str]) -> None:
    _, alice, bob, python = shared
    site = Site(python, alice.home / "stratus")
    config = alice.home / "cluster.yaml"
    config.write_text(CONFIG)
    os.chown(config, alice.uid, alice.gid)
    alice.home.chmod(0o755)  # even where bob may look in, he gets no service
    try:
        croot = site.create(alice, "mine", config)
        assert stat.S_IMODE(croot.parent.stat().st_mode) == 0o700
        assert stat.S_IMODE((croot / "api.sock").stat().st_mode) == 0o600
        r = site.login(alice, "mine", "sinfo -h -o %P")
        assert (r.code, r.out) == (0, "queue1*\n"), r
        # bob cannot run alice's commands (her clusters are hers); he runs the same client.
        client = (
            "import sys; sys.path.insert(0, sys.argv[1]); sys.argv = sys.argv[2:]; "
            "from thin import main; main(sys.argv.pop(0))"
        )
        thin_dir = str(Path(stratus_file()).parent / "cli")
        r = bob.run([python, "-IS", "-c", client, thin_dir, str(croot), "sinfo", "-h"], _user_env(site.home))
        assert r.code == 1 and "served to its owner only" in r.err, r
    finally:
        lock = site.home / "clusters" / "mine" / "controller.lock"
        pid_text = lock.read_text().strip() if lock.exists() else ""
        site.stratus(alice, "delete-cluster", "-n", "mine", "--wait")
        pids = [int(pid_text)] if pid_text.isdigit() else []
        wait_for(lambda: not processes_of(pids), 20, what="alice's head node to exit")


def stratus_file() -> str:
    import stratus

    return stratus.__file__

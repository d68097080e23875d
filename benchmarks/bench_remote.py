"""Nodes on other machines: ssh hosts and EC2 instances, against local nodes and ParallelCluster.

Measures, in one run:

  1a. ssh provider: ``create-cluster`` until both ssh nodes are idle (probe of each host, agent
      copied over SFTP and started over SSH, agent joins over TLS);
  1b. ssh provider: after ``update-compute-fleet --status STOP_REQUESTED`` (which powers the
      nodes down: agents stopped, their files removed from the hosts), the time from
      ``START_REQUESTED`` to a job (submitted while the fleet was stopped) running on an ssh node
      (median of 3), next to ParallelCluster's published dynamic-node start (294 s median);
  2.  ec2 provider (moto's server; each instance "boots" by running its user data here): from
      ``sbatch`` on a powered-down (idle~) dynamic node to the node's agent registered and to the
      job running (median of 5), with where the time went: the node resumed, RunInstances
      received (timestamped by a proxy in front of moto), the instance booting (its user data
      written; the booter polls every 0.2 s), the agent registered (the node's journal);
  3.  1000 trivial jobs (``sbatch --wrap true``, one ``sbatch`` process per job, so the client,
      the head node, dispatch to the agent and the exit report are all on the path) on a queue of
      2 ssh hosts, and the same on a queue of 2 local nodes of the same CPUs in the same cluster:
      first submit to every job COMPLETED, jobs/s and the ratio ssh/local; the same with one
      1000-task array (dispatch without the client's cost);
  4.  head-node restart with 20 remote nodes (20 ssh hosts; and 20 EC2 instances): SIGKILL the
      head node, ``stratus start-head-node``, and time until every agent has reconnected and every
      node is idle again in sinfo (no ``*``) (median of 3).

ssh hosts are real sshd processes on loopback addresses 127.0.10.x (tests/sshd_hosts.py), which
needs root and openssh-server; EC2 needs moto[server]. A part that cannot run says so and is
skipped. Every process, cluster and temporary directory the run starts is stopped or removed.

    python benchmarks/bench_remote.py [--quick] [--hosts 20] [--parts ssh,ec2,restart]

--quick: 200 jobs and one sample of each figure; --hosts: the remote nodes of part 4.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

PCLUSTER_DYNAMIC_START_S = 294.0  # ParallelCluster's published median, dynamic node to job running

SSH_PROVIDER = """\
  - Name: {name}
    Type: ssh
    Hosts: [{hosts}]
    User: root
    IdentityFile: {identity}
    AgentDirectory: {agent_dir}
"""

SSH_CONFIG = """\
HeadNode:
  InstanceType: t2.micro
Scheduling:
  Scheduler: slurm
  SlurmQueues:
  - Name: lab
    ComputeResources:
    - Name: lab
      Provider: lab
{local}Stratus:
  HeadNodeAddress: 127.0.0.1
  Providers:
{provider}"""

LOCAL_QUEUE = """\
  - Name: local
    ComputeResources:
    - Name: local
      InstanceType: c5.large
      MinCount: 2
      MaxCount: 2
"""

EC2_CONFIG = """\
Region: {region}
HeadNode:
  InstanceType: t2.micro
Scheduling:
  Scheduler: slurm
  SlurmSettings:
    ScaledownIdletime: 0.05
  SlurmQueues:
  - Name: cloud
    ComputeResources:
    - Name: small
      Provider: aws
      InstanceType: t3.micro
      MinCount: {min_count}
      MaxCount: {max_count}
Stratus:
  Providers:
  - Name: aws
    Type: ec2
    EndpointUrl: {url}
    ImageId: {image}
    InstallCommand: ""
"""


class Skip(Exception):
    """A part that cannot run on this machine."""


def wait(cond: Callable[[], Any], timeout: float, what: str, every: float = 0.02) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(every)


class Cluster:
    """One cluster under a private STRATUS_HOME, driven through the CLI and its Slurm commands."""

    def __init__(self, home: Path, work: Path, name: str, env: dict[str, str] | None = None) -> None:
        self.home, self.work, self.name = home, work, name
        self.root = home / "clusters" / name
        self.env = dict(os.environ, STRATUS_HOME=str(home), STRATUS_KILL_WAIT="2", **(env or {}))
        self.env["PATH"] = str(self.root / "bin") + os.pathsep + self.env["PATH"]
        for key in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN"):
            self.env.pop(key, None)
        self.pids: set[int] = set()  # head node and agents seen, for the clean-up

    def stratus(self, *args: str, check: bool = True, timeout: float = 600) -> str:
        p = subprocess.run(
            [sys.executable, "-m", "stratus.cli.main", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check and p.returncode != 0:
            raise RuntimeError(f"stratus {' '.join(args)} failed: {p.stdout}{p.stderr}")
        return p.stdout

    def slurm(self, cmd: str, *args: str, check: bool = True) -> str:
        p = subprocess.run(
            [str(self.root / "bin" / cmd), *args],
            env=self.env,
            cwd=self.work,
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            timeout=120,
        )
        if check and p.returncode != 0:
            raise RuntimeError(f"{cmd} {' '.join(args)} failed: {p.stderr}")
        return p.stdout

    def create(self, config: str) -> None:
        cfg = self.work / f"{self.name}.yaml"
        cfg.write_text(config)
        self.stratus("create-cluster", "-n", self.name, "-c", str(cfg))
        self.remember()

    def states(self, partition: str) -> list[str]:
        return self.slurm("sinfo", "-h", "-N", "-p", partition, "-o", "%t", check=False).split()

    def all_idle(self, partition: str, count: int) -> bool:
        s = self.states(partition)
        return len(s) == count and all(x == "idle" for x in s)

    def queue_empty(self, partition: str) -> bool:
        return self.slurm("squeue", "-h", "-p", partition, "-o", "%i").strip() == ""

    def controller_pid(self) -> int | None:
        from tests.integration.harness import Cluster as HarnessCluster
        from tests.integration.harness import Stratus

        return HarnessCluster(Stratus(self.home), self.name, self.root).controller_pid()

    def agent_pids(self) -> dict[str, int]:
        from tests.integration.harness import Cluster as HarnessCluster
        from tests.integration.harness import Stratus

        return HarnessCluster(Stratus(self.home), self.name, self.root).agent_pids()

    def remember(self) -> None:
        pid = self.controller_pid()
        self.pids |= {pid} if pid else set()
        self.pids |= set(self.agent_pids().values())

    def journal(self, entity: str, key: str, since: float) -> list[tuple[float, str, str]]:
        import sqlite3

        con = sqlite3.connect(f"file:{self.root / 'state.db'}?mode=ro", uri=True)
        try:
            rows = con.execute(
                "select time, old, new from journal where entity=? and key=? and time>=? order by seq",
                (entity, key, since),
            ).fetchall()
        finally:
            con.close()
        return [(float(t), str(o), str(n)) for t, o, n in rows]

    def diagnose(self) -> str:
        """What a failed wait leaves to look at: queue, nodes, fleet and the head node's log."""
        log = self.root / "logs" / "controller.log"
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-40:]) if log.exists() else ""
        return (
            self.slurm("squeue", "-t", "all", check=False)
            + self.slurm("sinfo", "-N", "-o", "%N %t %E", check=False)
            + self.stratus("describe-cluster", "-n", self.name, check=False)[:600]
            + "\n--- controller.log (last 40 lines)\n"
            + tail
        )

    def delete(self) -> None:
        """Delete the cluster; then kill (by pid) any of its processes still running."""
        from tests.integration.harness import kill_all, processes_of

        with contextlib.suppress(Exception):
            self.remember()
        if self.root.exists():
            with contextlib.suppress(Exception):
                self.stratus("delete-cluster", "-n", self.name, "--wait", check=False, timeout=180)
        pids = sorted(self.pids)
        with contextlib.suppress(RuntimeError):
            wait(lambda: not processes_of(pids), 15, "the cluster's processes to exit", 0.1)
        kill_all(pids)


def stamp_job(c: Cluster, partition: str, stamp: Path) -> str:
    return c.slurm("sbatch", "--parsable", "-p", partition, "--wrap", f"date +%s.%N > {stamp}").strip()


def stamp_time(stamp: Path, timeout: float, what: str) -> float:
    text = wait(lambda: stamp.exists() and stamp.read_text().strip(), timeout, what, 0.01)
    return float(text)


# ---------------------------------------------------------------------------------------------
# the parts
# ---------------------------------------------------------------------------------------------


@contextlib.contextmanager
def sshd(root: Path, count: int) -> Iterator[Any]:
    """``count`` sshd hosts (tests/sshd_hosts.py), or Skip with the reason."""
    import pytest

    from tests.sshd_hosts import SSHD, ssh_hosts

    if SSHD is None:
        raise Skip("sshd (openssh-server) is not installed")
    if os.geteuid() != 0:
        raise Skip("sshd hosts need root")
    try:
        with ssh_hosts(root, count) as hosts:
            yield hosts
    except pytest.skip.Exception as exc:
        raise Skip(str(exc)) from None


def ssh_config(hosts: Any, agent_dir: Path, local: bool) -> str:
    provider = SSH_PROVIDER.format(
        name="lab", hosts=", ".join(hosts.specs), identity=hosts.identity, agent_dir=agent_dir
    )
    return SSH_CONFIG.format(local=LOCAL_QUEUE if local else "", provider=provider)


def run_jobs(c: Cluster, partition: str, n: int, array: bool) -> tuple[float, int]:
    """Submit ``n`` trivial jobs (one sbatch each, or one array); seconds until all ended, and
    how many ended COMPLETED."""
    sbatch = str(c.root / "bin" / "sbatch")
    ids: list[str] = []
    t0 = time.perf_counter()
    if array:
        ids.append(
            c.slurm("sbatch", "--parsable", "-p", partition, f"--array=1-{n}", "--wrap", "true").strip()
        )
    else:
        for _ in range(n):
            p = subprocess.run(
                [sbatch, "--parsable", "-p", partition, "--wrap", "true"],
                env=c.env,
                cwd=c.work,
                capture_output=True,
                text=True,
            )
            ids.append(p.stdout.strip())
    wait(lambda: c.queue_empty(partition), 3600, f"{n} jobs to end on {partition}", 0.25)
    elapsed = time.perf_counter() - t0
    rows = c.slurm("sacct", "-X", "-n", "-P", "-o", "JobID,State", "-S", "2000-01-01").splitlines()
    wanted = set(ids)
    completed = 0
    for row in rows:
        job, _, state = row.partition("|")
        if (job.split("_")[0] if array else job) in wanted and state == "COMPLETED":
            completed += 1
    return elapsed, completed


def part_ssh(tmp: Path, n: int, reps: int, out: dict[str, Any]) -> None:
    """Parts 1 and 3: two ssh hosts and two local nodes in one cluster."""
    with sshd(tmp / "sshd", 2) as hosts:
        c = Cluster(tmp / "home", tmp / "work", "remote")
        try:
            t0 = time.perf_counter()
            c.create(ssh_config(hosts, tmp / "remote", local=True))
            wait(lambda: c.all_idle("lab", 2), 120, "the ssh nodes to be idle")
            out["1a"] = time.perf_counter() - t0
            wait(lambda: c.all_idle("local", 2), 120, "the local nodes to be idle")
            c.remember()

            lat = []
            for i in range(reps):
                c.stratus("update-compute-fleet", "-n", c.name, "--status", "STOP_REQUESTED")
                wait(
                    lambda: all(s.endswith("~") for s in c.states("lab")) and not c.agent_pids(),
                    120,
                    "the ssh nodes to power down",
                    0.1,
                )
                stamp = c.work / f"fleet-{i}"
                stamp_job(c, "lab", stamp)
                t = time.time()
                c.stratus("update-compute-fleet", "-n", c.name, "--status", "START_REQUESTED")
                try:
                    lat.append(stamp_time(stamp, 120, "the job after START_REQUESTED") - t)
                except RuntimeError as exc:
                    raise RuntimeError(f"{exc} (cycle {i + 1})\n{c.diagnose()}") from None
                c.remember()
                wait(lambda: c.queue_empty("lab"), 60, "the job to end")
            out["1b"] = lat
            wait(lambda: c.all_idle("lab", 2) and c.all_idle("local", 2), 120, "every node idle")

            for key, part, array in (
                ("3_ssh", "lab", False),
                ("3_local", "local", False),
                ("3_ssh_array", "lab", True),
                ("3_local_array", "local", True),
            ):
                out[key] = run_jobs(c, part, n, array)
        finally:
            c.delete()
        left = list((tmp / "remote").rglob("*")) if (tmp / "remote").exists() else []
        if left:
            out["notes"].append(f"ssh: files left on the hosts after delete-cluster: {left[:5]}")


def restart_once(c: Cluster, partition: str, count: int) -> tuple[float, float]:
    """SIGKILL the head node, start it again; seconds until start-head-node returned and until
    every node of ``partition`` is idle (agents reconnected), both from the start."""
    pid = c.controller_pid()
    if pid is None:
        raise RuntimeError("no head node running")
    os.kill(pid, signal.SIGKILL)
    wait(lambda: c.controller_pid() != pid, 10, "the head node to die")
    time.sleep(1.0)  # the agents notice and start dialling again
    t0 = time.perf_counter()
    c.stratus("start-head-node", "-n", c.name)
    started = time.perf_counter() - t0
    c.remember()
    wait(lambda: c.all_idle(partition, count), 180, f"all {count} nodes idle again", 0.02)
    return started, time.perf_counter() - t0


def part_restart_ssh(tmp: Path, hosts_n: int, reps: int, out: dict[str, Any]) -> None:
    """Part 4 with ssh hosts."""
    with sshd(tmp / "sshd20", hosts_n) as hosts:
        c = Cluster(tmp / "home20", tmp / "work", "many")
        try:
            t0 = time.perf_counter()
            c.create(ssh_config(hosts, tmp / "remote20", local=False))
            wait(lambda: c.all_idle("lab", hosts_n), 300, f"the {hosts_n} ssh nodes to be idle")
            out["4_ssh_create"] = time.perf_counter() - t0
            c.remember()
            out["4_ssh"] = [restart_once(c, "lab", hosts_n) for _ in range(reps)]
        finally:
            c.delete()


@contextlib.contextmanager
def ec2_endpoint(tmp: Path) -> Iterator[tuple[str, str, Any]]:
    """moto's server, its first image and a booter of its instances; or Skip."""
    try:
        import boto3
        import moto.server  # noqa: F401
    except ImportError as exc:
        raise Skip(f"moto[server] and boto3 are needed ({exc})") from None
    from http.server import ThreadingHTTPServer

    from tests.ec2_boot import booting
    from tests.ec2_endpoint import CREDENTIALS, REGION, fault_proxy, moto_server

    # A head node killed mid-request (part 4) resets its connections to the proxy: quietly.
    quiet = contextlib.ExitStack()
    quiet.callback(setattr, ThreadingHTTPServer, "handle_error", ThreadingHTTPServer.handle_error)
    ThreadingHTTPServer.handle_error = lambda self, request, client_address: None  # type: ignore[method-assign]
    with quiet, moto_server() as moto_url, fault_proxy(moto_url) as proxy:
        proxy.seen = _Stamped()
        url = proxy.url
        ec2 = boto3.session.Session(**CREDENTIALS).client("ec2", region_name=REGION, endpoint_url=url)
        image = str(ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"])
        with booting(url, tmp / "instances") as booter:
            booter.seen = proxy.seen  # type: ignore[attr-defined]
            yield url, image, booter


class _StampedList(list):  # type: ignore[type-arg]
    def append(self, params: Any) -> None:
        params["_time"] = time.time()
        super().append(params)


class _Stamped(dict):  # type: ignore[type-arg]
    """The proxy's record of requests by action, each with the time it arrived (``_time``)."""

    def setdefault(self, key: Any, default: Any = None) -> Any:
        return super().setdefault(key, _StampedList())


def ec2_cluster(tmp: Path, home: str, name: str) -> Cluster:
    from tests.ec2_endpoint import CREDENTIALS

    keys = {
        "AWS_ACCESS_KEY_ID": CREDENTIALS["aws_access_key_id"],
        "AWS_SECRET_ACCESS_KEY": CREDENTIALS["aws_secret_access_key"],
    }
    return Cluster(tmp / home, tmp / "work", name, keys)


def ec2_config(url: str, image: str, min_count: int, max_count: int) -> str:
    from tests.ec2_endpoint import REGION

    return EC2_CONFIG.format(region=REGION, url=url, image=image, min_count=min_count, max_count=max_count)


def part_ec2(tmp: Path, reps: int, restart_n: int, restart_reps: int, out: dict[str, Any]) -> None:
    """Part 2 (a powered-down ec2 node to a job running) and part 4 with 20 EC2 instances."""
    with ec2_endpoint(tmp) as (url, image, booter):
        c = ec2_cluster(tmp, "home-ec2", "cloud")
        try:
            c.create(ec2_config(url, image, 0, 1))
            node = "cloud-dy-small-1"
            joined: list[float] = []
            ran: list[float] = []
            phases: list[tuple[float, float, float]] = []
            seen: set[str] = set()
            for i in range(reps):
                wait(lambda: c.states("cloud") == ["idle~"], 120, "the ec2 node to power down", 0.2)
                wait(lambda: not booter.booted or booter.ended >= set(booter.booted), 60, "the instance off")
                # The booter switches an instance off (kills its agent, waits for it) in the thread
                # that boots the next one: let it finish, or its wait is counted as boot time.
                time.sleep(3)
                stamp = c.work / f"ec2-{i}"
                t = time.time()
                stamp_job(c, "cloud", stamp)
                ran.append(stamp_time(stamp, 120, "the job on the ec2 node") - t)
                rows = c.journal("node", node, t)
                ups = [r[0] for r in rows if r[2] == "UP"]
                resumed = [r[0] for r in rows if r[2] == "POWERING_UP"]
                booted = [
                    (home / "user-data").stat().st_mtime
                    for iid, home in list(booter.booted.items())
                    if iid not in seen and (home / "user-data").exists()
                ]
                seen |= set(booter.booted)
                if ups:
                    joined.append(ups[0] - t)
                runs = [float(r["_time"]) for r in booter.seen.get("RunInstances", []) if r["_time"] >= t]
                if resumed and booted and runs:
                    phases.append((resumed[0] - t, runs[0] - t, booted[0] - t))
                c.remember()
                wait(lambda: c.queue_empty("cloud"), 60, "the job to end")
            out["2_ran"], out["2_joined"], out["2_phases"] = ran, joined, phases
            if booter.errors:
                out["notes"].append(f"ec2 boot errors: {booter.errors[:3]}")
        finally:
            c.delete()

        if restart_n:
            c = ec2_cluster(tmp, "home-ec2-20", "fleet")
            try:
                t0 = time.perf_counter()
                c.create(ec2_config(url, image, restart_n, restart_n))
                wait(lambda: c.all_idle("cloud", restart_n), 300, f"all {restart_n} ec2 nodes idle", 0.1)
                out["4_ec2_create"] = time.perf_counter() - t0
                out["4_ec2"] = [restart_once(c, "cloud", restart_n) for _ in range(restart_reps)]
            finally:
                c.delete()


# ---------------------------------------------------------------------------------------------
# report
# ---------------------------------------------------------------------------------------------


def cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def med(xs: list[float]) -> str:
    if not xs:
        return "n/a"
    if len(xs) == 1:
        return f"{xs[0]:.2f} s"
    return f"{statistics.median(xs):.2f} s (median of {len(xs)}, {min(xs):.2f}-{max(xs):.2f})"


def report(out: dict[str, Any], n: int) -> None:
    print()
    print(f"{'figure':58} {'stratus':>40}  comparison")
    if "1a" in out:
        print(f"{'1a. ssh: create-cluster to both ssh nodes idle':58} {out['1a']:>38.2f} s")
    if out.get("1b"):
        m = statistics.median(out["1b"])
        print(
            f"{'1b. ssh: fleet START_REQUESTED to job running':58} {med(out['1b']):>40}  "
            f"ParallelCluster {PCLUSTER_DYNAMIC_START_S:.0f} s: {PCLUSTER_DYNAMIC_START_S / m:.0f}x faster"
        )
    if out.get("2_ran"):
        if out["2_phases"]:
            resumed = [a for a, _, _ in out["2_phases"]]
            launched = [b for _, b, _ in out["2_phases"]]
            booted = [c for _, _, c in out["2_phases"]]
            print(f"{'2.  ec2: sbatch on idle~ node to node resumed':58} {med(resumed):>40}")
            print(f"{'2.  ec2: sbatch on idle~ node to RunInstances received':58} {med(launched):>40}")
            print(f"{'2.  ec2: sbatch on idle~ node to instance booting':58} {med(booted):>40}")
        print(f"{'2.  ec2: sbatch on idle~ node to agent registered':58} {med(out['2_joined']):>40}")
        m = statistics.median(out["2_ran"])
        print(
            f"{'2.  ec2: sbatch on idle~ node to job running':58} {med(out['2_ran']):>40}  "
            f"ParallelCluster {PCLUSTER_DYNAMIC_START_S:.0f} s (a real boot): "
            f"{PCLUSTER_DYNAMIC_START_S / m:.0f}x"
        )
    for kind, label in (("", f"{n} jobs, one sbatch each"), ("_array", f"one {n}-task array")):
        ssh, local = out.get(f"3_ssh{kind}"), out.get(f"3_local{kind}")
        if ssh and local:
            for name, (secs, ok) in (("2 ssh hosts", ssh), ("2 local nodes", local)):
                text = f"{secs:.2f} s, {n / secs:.0f} jobs/s" + ("" if ok == n else f" ({ok}/{n} COMPLETED)")
                print(f"{'3.  ' + label + ', ' + name:58} {text:>40}")
            print(f"{'3.  ' + label + ': ratio ssh/local (time)':58} {ssh[0] / local[0]:>39.2f}x")
    for key, what in (("4_ssh", "ssh hosts"), ("4_ec2", "ec2 instances")):
        if out.get(key):
            count = out[f"{key}_n"]
            create = out[f"{key}_create"]
            started = [s for s, _ in out[key]]
            idle = [t for _, t in out[key]]
            print(f"{f'4.  {count} {what}: create-cluster to all idle':58} {create:>38.2f} s")
            print(f"{f'4.  {count} {what}: start-head-node returned':58} {med(started):>40}")
            print(f"{f'4.  {count} {what}: start-head-node to all {count} idle':58} {med(idle):>40}")
    for line in out["skipped"] + out["notes"]:
        print(line)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="200 jobs and one sample of each (a smoke run)")
    parser.add_argument("--hosts", type=int, default=20, help="remote nodes for the restart (default 20)")
    parser.add_argument(
        "--parts",
        default="ssh,ec2,restart",
        help="which groups to run: ssh (parts 1 and 3), ec2 (part 2 and 4 on ec2), restart (4 on ssh)",
    )
    args = parser.parse_args()
    parts = set(args.parts.split(","))
    n = 200 if args.quick else 1000
    reps, ec2_reps = (1, 1) if args.quick else (3, 5)

    print(
        f"stratus remote-nodes benchmark, {time.strftime('%Y-%m-%d %H:%M')}, {platform.node()}, "
        f"{os.cpu_count()} CPUs ({cpu_model()}), Python {platform.python_version()}, "
        f"load average {os.getloadavg()[0]:.2f}" + (f" (quick: {n} jobs)" if args.quick else ""),
        flush=True,
    )
    out: dict[str, Any] = {"skipped": [], "notes": [], "4_ssh_n": args.hosts, "4_ec2_n": args.hosts}
    tmp = Path(tempfile.mkdtemp(prefix="stratus-bench-remote-"))
    (tmp / "work").mkdir()
    try:
        for group, label, fn in (
            ("ssh", "1, 3 (2 ssh hosts)", lambda: part_ssh(tmp, n, reps, out)),
            ("ec2", "2 and 4 (ec2)", lambda: part_ec2(tmp, ec2_reps, args.hosts, reps, out)),
            ("restart", f"4 ({args.hosts} ssh hosts)", lambda: part_restart_ssh(tmp, args.hosts, reps, out)),
        ):
            if group not in parts:
                continue
            t = time.perf_counter()
            try:
                fn()
            except Skip as exc:
                out["skipped"].append(f"skipped part {label}: {exc}")
            except Exception as exc:  # report the failure, go on with the other parts
                out["skipped"].append(f"part {label} failed: {exc.__class__.__name__}: {exc}"[:2000])
            print(f"  part {label}: {time.perf_counter() - t:.0f} s", flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    report(out, n)
    return 0


if __name__ == "__main__":
    sys.exit(main())

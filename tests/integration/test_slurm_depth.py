"""Slurm in depth through the real clients: dependencies, holds, requeue, OOM, --wait, --test-only."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from tests.integration.harness import WALKTHROUGH_CONFIG, Cluster, Stratus, wait_for


def _cluster(stratus: Stratus, tmp_path: Path, name: str = "depth", min_count: int = 2) -> Cluster:
    return stratus.create(
        name, WALKTHROUGH_CONFIG.format(idle=0.05, min_count=min_count, max_count=3), tmp_path
    )


def _state(c: Cluster, job: int | str) -> tuple[str, str]:
    out = c.slurm("squeue", "-h", "-t", "all", "-j", str(job), "-o", "%T %r").out.split()
    return (out[0], out[1]) if out else ("", "")


def test_dependencies_end_to_end(stratus: Stratus, tmp_path: Path, workdir: Path) -> None:
    c = _cluster(stratus, tmp_path)
    parent = c.sbatch("--wrap", "sleep 2; exit 1", cwd=workdir)
    ok = c.sbatch(f"--dependency=afterok:{parent}", "--wrap", "echo ok", cwd=workdir)
    notok = c.sbatch(f"--dependency=afternotok:{parent}", "--wrap", "echo afternotok child ran", cwd=workdir)
    anyc = c.sbatch(f"--dependency=afterany:{parent}", "--wrap", "echo afterany child ran", cwd=workdir)
    killed = c.sbatch(
        f"--dependency=afterok:{parent}", "--kill-on-invalid-dep=yes", "--wrap", "true", cwd=workdir
    )
    assert _state(c, ok) == ("PENDING", "Dependency")
    wait_for(lambda: _state(c, ok) == ("PENDING", "DependencyNeverSatisfied"), 30)
    wait_for(lambda: _state(c, anyc)[0] == "COMPLETED" and _state(c, notok)[0] == "COMPLETED", 30)
    assert (workdir / f"slurm-{notok}.out").read_text() == "afternotok child ran\n"
    wait_for(lambda: _state(c, killed)[0] == "CANCELLED", 30)
    # A dependency on a job that never existed is refused; chains and singletons run in order.
    r = c.slurm("sbatch", "--dependency=afterok:999999", "--wrap=true", cwd=workdir)
    assert (r.code, r.err.strip()) == (
        1,
        "sbatch: error: Batch job submission failed: Job dependency problem",
    )
    log = workdir / "chain.log"
    first = c.sbatch("--wrap", f"sleep 1; echo 1 >> {log}", cwd=workdir)
    second = c.sbatch(f"--dependency=afterok:{first}", "--wrap", f"echo 2 >> {log}", cwd=workdir)
    c.sbatch("-J", "one", "-d", "singleton", "--wrap", f"sleep 1; echo s1 >> {log}", cwd=workdir)
    last = c.sbatch("-J", "one", "-d", "singleton", "--wrap", f"echo s2 >> {log}", cwd=workdir)
    wait_for(lambda: _state(c, second)[0] == "COMPLETED" and _state(c, last)[0] == "COMPLETED", 60)
    lines = log.read_text().split()
    assert lines.index("1") < lines.index("2") and lines.index("s1") < lines.index("s2")
    assert c.slurm("scancel", str(ok)).code == 0


def test_out_of_memory_wait_and_test_only(stratus: Stratus, tmp_path: Path, workdir: Path) -> None:
    c = _cluster(stratus, tmp_path, "oom")
    hog = f"{sys.executable} -c 'b = bytearray(300 * 1024 * 1024); import time; time.sleep(30)'"
    job = c.sbatch("--mem=50M", "--wrap", hog, cwd=workdir)
    wait_for(lambda: _state(c, job)[0] == "OUT_OF_MEMORY", 60, what="the job to be killed for memory")
    assert "oom-kill event" in (workdir / f"slurm-{job}.out").read_text()
    # sbatch --wait returns when the job ends, with its exit code.
    env = dict(c.stratus.env)
    t = time.monotonic()
    p = subprocess.run(
        [str(c.root / "bin" / "sbatch"), "--wait", "--wrap", "sleep 1; exit 3"],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert p.returncode == 3 and p.stdout.startswith("Submitted batch job ")
    assert time.monotonic() - t >= 1.0
    # --test-only says when and where, and submits nothing.
    before = set(c.squeue_states("-t", "all"))
    r = c.slurm("sbatch", "--test-only", "--wrap=true", cwd=workdir)
    assert r.code == 0 and r.out == ""
    assert r.err.startswith("sbatch: Job ") and " to start at " in r.err and "in partition queue1" in r.err
    assert set(c.squeue_states("-t", "all")) == before


def test_srun_steps_in_a_batch_job(stratus: Stratus, tmp_path: Path, workdir: Path) -> None:
    import sqlite3

    c = _cluster(stratus, tmp_path, "steps")
    script = workdir / "steps.sh"
    script.write_text(
        "#!/bin/bash\n#SBATCH -N 2 -n 2\n"
        "srun -l bash -c 'echo task $SLURM_PROCID/$SLURM_NTASKS node $SLURM_NODEID $SLURMD_NODENAME"
        " step $SLURM_STEP_ID'\n"
        "srun -n 1 bash -c 'echo to-stderr >&2; exit 3'\n"
        'echo "srun said $?"\n'
        "srun -n 3 true\n"
        'echo "third: $?"\n'
    )
    job = c.sbatch("steps.sh", cwd=workdir)
    wait_for(lambda: _state(c, job)[0] == "COMPLETED", 60)
    out = (workdir / f"slurm-{job}.out").read_text().splitlines()
    assert sorted(line for line in out if line[:3] in ("0: ", "1: ")) == [
        "0: task 0/2 node 0 queue1-st-t2micro-1 step 0",
        "1: task 1/2 node 1 queue1-st-t2micro-2 step 0",
    ]
    assert "to-stderr" in out
    assert "srun: error: queue1-st-t2micro-1: task 0: Exited with exit code 3" in out
    assert "srun said 3" in out
    assert "srun: error: Unable to create step for job " in "\n".join(out)  # 3 tasks on 2 CPUs
    assert "third: 1" in out
    con = sqlite3.connect(f"file:{c.root / 'state.db'}?mode=ro", uri=True)
    try:
        steps = con.execute("select step_id, state, exit_code, ntasks from steps order by step_id").fetchall()
    finally:
        con.close()
    assert steps == [(0, "COMPLETED", 0, 2), (1, "FAILED", 3, 1)]


def _cpu_seconds(text: str) -> float:
    """sacct's TotalCPU/UserCPU (``MM:SS.mmm`` or ``HH:MM:SS``) in seconds."""
    return sum(float(part) * 60**i for i, part in enumerate(reversed(text.split(":"))))


def test_sacct_cpu_time_and_memory_of_steps(stratus: Stratus, tmp_path: Path, workdir: Path) -> None:
    """TotalCPU and MaxRSS as the agents measured them: the batch script, each step's tasks on
    every node, and the job line adding them up."""
    c = _cluster(stratus, tmp_path, "usage")
    burn = workdir / "burn.py"
    burn.write_text(
        "import time\nheld = bytearray(48 * 1024 * 1024)\nt = time.process_time()\n"
        "while time.process_time() - t < 0.5:\n    pass\n"
    )
    py = sys.executable
    job = c.sbatch("-N", "2", "-n", "2", "--wrap", f"{py} {burn}; srun {py} {burn}", cwd=workdir)
    wait_for(lambda: _state(c, job)[0] == "COMPLETED", 60)
    r = c.slurm("sacct", "-j", str(job), "-P", "-n", "--format=JobID,State,TotalCPU,UserCPU,MaxRSS")
    lines = {f[0]: f[1:] for f in (line.split("|") for line in r.out.splitlines())}
    assert set(lines) == {str(job), f"{job}.batch", f"{job}.0"}, r.out
    batch, step, whole = lines[f"{job}.batch"], lines[f"{job}.0"], lines[str(job)]
    assert _cpu_seconds(batch[1]) >= 0.5 and _cpu_seconds(batch[2]) > 0, r.out
    assert _cpu_seconds(step[1]) >= 1.0, r.out  # two tasks of 0.5 s, one on each node
    assert abs(_cpu_seconds(whole[1]) - _cpu_seconds(batch[1]) - _cpu_seconds(step[1])) < 0.01, r.out
    for maxrss in (batch[3], step[3]):
        assert maxrss.endswith("K") and int(maxrss[:-1]) > 48 * 1024, r.out
    assert whole[3] == ""  # usage fields belong to steps


def test_srun_forwards_stdin_to_its_tasks(stratus: Stratus, tmp_path: Path, workdir: Path) -> None:
    """-i all (the default), -i N and -i none, as Slurm's srun; each srun outside a job."""
    c = _cluster(stratus, tmp_path, "stdin")
    r = c.slurm("srun", "-n", "2", "-l", "cat", cwd=workdir, stdin="x\ny\n")
    assert r.code == 0 and sorted(r.out.splitlines()) == ["0: x", "0: y", "1: x", "1: y"], r
    r = c.slurm("srun", "-n", "2", "-l", "-i", "1", "cat", cwd=workdir, stdin="only one\n")
    assert (r.code, r.out) == (0, "1: only one\n"), r
    r = c.slurm("srun", "-n", "2", "-i", "none", "cat", cwd=workdir, stdin="nobody\n")
    assert (r.code, r.out) == (0, ""), r
    # Tasks that never read their stdin, and exit before srun has sent it, lose no exit code.
    big = "z" * 300_000
    for _ in range(3):
        r = c.slurm("srun", "-n", "2", "bash", "-c", "exit $SLURM_PROCID", cwd=workdir, stdin=big)
        assert r.code == 1 and "task 1: Exited with exit code 1" in r.err, r
    # Regression: srun whose reader went away printed a BrokenPipeError traceback.
    pipeline = f"{c.root}/bin/srun -n 1 seq 1000000 | head -1"
    env = {**c.stratus.env, "PATH": f"{c.root}/bin:{c.stratus.env.get('PATH', '')}"}
    p = subprocess.run(["bash", "-c", pipeline], capture_output=True, text=True, env=env, timeout=60)
    assert (p.stdout, p.stderr) == ("1\n", ""), p


def test_srun_pty_runs_an_interactive_shell(stratus: Stratus, tmp_path: Path, workdir: Path) -> None:
    """``srun --pty bash``: a terminal of its own, the window size, keys in, exit code out."""
    import fcntl
    import os
    import pty
    import select
    import struct
    import termios

    c = _cluster(stratus, tmp_path, "pty")
    env = dict(c.stratus.env)
    env["PATH"] = str(c.root / "bin") + os.pathsep + env.get("PATH", "")
    pid, fd = pty.fork()
    if pid == 0:  # the child: srun on the terminal pty.fork gave it
        try:
            fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", 33, 101, 0, 0))
            os.chdir(workdir)
            os.execve(
                str(c.root / "bin" / "srun"), ["srun", "--pty", "bash", "--norc", "--noprofile", "-i"], env
            )
        finally:
            os._exit(127)
    seen = b""

    def read_until(marker: bytes, timeout: float = 30.0) -> None:
        nonlocal seen
        end = time.monotonic() + timeout
        while marker not in seen and time.monotonic() < end:
            ready, _, _ = select.select([fd], [], [], 0.2)
            if ready:
                try:
                    data = os.read(fd, 4096)
                except OSError:
                    return
                if not data:
                    return
                seen += data
        assert marker in seen, seen

    try:
        read_until(b"# ") if os.getuid() == 0 else read_until(b"$ ")
        os.write(fd, b"echo on=$(tty) size=$(stty size) job=$SLURM_JOB_ID.$SLURM_STEP_ID; exit 7\r")
        read_until(b"Exited with exit code 7")
    finally:
        _, status = os.waitpid(pid, 0)
        os.close(fd)
    text = seen.decode(errors="replace")
    assert "on=/dev/pts/" in text and "size=33 101" in text and ".0\r\n" in text, text
    assert os.waitstatus_to_exitcode(status) == 7


def test_cancelling_a_job_kills_its_steps(stratus: Stratus, tmp_path: Path, workdir: Path) -> None:
    c = _cluster(stratus, tmp_path, "stepkill")
    marker = workdir / "pids"
    job = c.sbatch("--wrap", f"srun bash -c 'echo $$ >> {marker}; sleep 60'", cwd=workdir)
    wait_for(lambda: marker.exists() and marker.read_text().strip(), 30)
    pid = int(marker.read_text().split()[0])
    import psutil

    assert psutil.pid_exists(pid)
    assert c.slurm("scancel", str(job)).code == 0
    wait_for(lambda: not psutil.pid_exists(pid), 30, what="the step's task to be killed")
    wait_for(lambda: _state(c, job)[0] == "CANCELLED", 30)


def test_salloc_and_srun_outside_a_job(stratus: Stratus, tmp_path: Path, workdir: Path) -> None:
    c = _cluster(stratus, tmp_path, "alloc", min_count=0)  # the allocation powers a node up
    env = dict(c.stratus.env, PATH=str(c.root / "bin") + ":" + c.stratus.env["PATH"])

    def run(*cmd: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(list(cmd), cwd=workdir, env=env, capture_output=True, text=True, timeout=120)

    p = run("srun", "-N", "2", "-l", "bash", "-c", "echo $SLURM_PROCID on $SLURMD_NODENAME")
    assert p.returncode == 0, p.stderr
    assert sorted(p.stdout.splitlines()) == ["0: 0 on queue1-dy-t2micro-1", "1: 1 on queue1-dy-t2micro-2"]
    p = run("srun", "bash", "-c", "exit 4")
    assert p.returncode == 4 and "Exited with exit code 4" in p.stderr
    p = run("salloc", "-N", "1", "bash", "-c", "echo granted $SLURM_JOB_NODELIST; srun hostname; exit 7")
    assert p.returncode == 7, p.stderr
    assert p.stdout.startswith("granted queue1-dy-t2micro-")
    assert "salloc: Granted job allocation" in p.stderr and "salloc: Relinquishing job allocation" in p.stderr
    states = c.slurm("squeue", "-h", "-t", "all", "-o", "%j %T").out.split("\n")
    assert "hostname COMPLETED" not in states  # a step, not a job
    assert {"bash FAILED"} <= set(states) and "bash COMPLETED" in states


def test_scontrol_and_sacct_through_the_head_node(stratus: Stratus, tmp_path: Path, workdir: Path) -> None:
    c = _cluster(stratus, tmp_path, "sc")
    held = c.sbatch("--hold", "--wrap", "true", cwd=workdir)
    show = c.slurm("scontrol", "show", "job", str(held)).out
    assert f"JobId={held} JobName=wrap" in show and "JobState=PENDING Reason=JobHeldUser" in show
    assert "Priority=0 " in show  # Slurm zeroes a held job's priority
    dumped = json.loads(c.slurm("squeue", "--json").out)
    record = next(j for j in dumped["jobs"] if j["job_id"] == held)
    assert (record["job_state"], record["state_reason"], record["priority"]) == ("PENDING", "JobHeldUser", 0)
    assert record["current_working_directory"] == str(workdir) and record["cluster"] == "sc"
    nodes = json.loads(c.slurm("sinfo", "--json").out)["nodes"]
    assert {n["name"] for n in nodes} >= {"queue1-st-t2micro-1"}
    assert c.slurm("scontrol", "release", str(held)).code == 0
    released = json.loads(c.slurm("squeue", "--json").out)["jobs"]
    assert next(j for j in released if j["job_id"] == held)["priority"] > 0
    wait_for(lambda: _state(c, held)[0] == "COMPLETED", 30)
    # update a running job's time limit: it times out
    slow = c.sbatch("--wrap", "sleep 60", cwd=workdir)
    wait_for(lambda: _state(c, slow)[0] == "RUNNING", 30)
    assert c.slurm("scontrol", "update", f"JobId={slow}", "TimeLimit=0:02").code == 0
    wait_for(lambda: _state(c, slow)[0] == "TIMEOUT", 30)
    # requeue a running job: it runs again as a new run, and sacct -D shows both
    marker = workdir / "runs"
    again = c.sbatch("--wrap", f"echo run >> {marker}; sleep 2", cwd=workdir)
    wait_for(lambda: marker.exists(), 30)
    assert c.slurm("scontrol", "requeue", str(again)).code == 0
    wait_for(lambda: _state(c, again)[0] == "COMPLETED", 60)
    assert marker.read_text().split() == ["run", "run"]
    assert "Restarts=1" in c.slurm("scontrol", "show", "job", str(again)).out
    r = c.slurm("sacct", "-D", "-X", "-j", str(again), "--format=JobID,State,Restarts", "-P", "-n")
    assert r.out.split() == [f"{again}|REQUEUED|0", f"{again}|COMPLETED|1"], r.out
    # errors
    r = c.slurm("scontrol", "hold", "999999")
    assert r.code == 1 and "Invalid job id specified for job 999999" in r.err
    r = c.slurm("scontrol", "show", "partition", "nosuch")
    assert (r.code, r.out.strip()) == (1, "Partition nosuch not found")
    assert "State=IDLE" in c.slurm("scontrol", "show", "node", "queue1-st-t2micro-1").out
    # the calls Parsl makes
    r = c.slurm("sacct", "-X", "--noheader", "--format=jobid,state%20", "--job", f"{held},{slow}")
    assert r.out.split() == [str(held), "COMPLETED", str(slow), "TIMEOUT"], r.out
    r = c.slurm("squeue", "--noheader", "--format=%i %t", "--job", str(held))
    assert r.code == 0
    # A finished job may be requeued (Slurm 22.05): it waits (BeginTime) before it runs again.
    r = c.slurm("scontrol", "requeue", str(held))
    assert r.code == 0, r.err
    assert _state(c, held)[0] == "PENDING"


def test_signal_before_the_time_limit(stratus: Stratus, tmp_path: Path, workdir: Path) -> None:
    c = _cluster(stratus, tmp_path, "sig")
    script = workdir / "trap.sh"
    script.write_text(
        "#!/bin/bash\n#SBATCH -t 0:04 --signal=B:USR1@2\n"
        "trap 'echo warned at $SECONDS; exit 0' USR1\n"
        "sleep 30 & wait\n"
    )
    job = c.sbatch("trap.sh", cwd=workdir)
    wait_for(lambda: _state(c, job)[0] == "COMPLETED", 30)
    out = (workdir / f"slurm-{job}.out").read_text()
    assert out.startswith("warned at ") and 1 <= int(out.split()[-1]) <= 3, out

"""srun's and salloc's options on a real cluster, as Slurm 22.05's behave: output files and their
patterns (submitit's ``srun --output F --error F``), steps on part of a job (``-w -x -r -N``),
``-K``, ``-W``, a step's ``-t``, ``--mpi``, allocations asked with ``-p -N ...`` outside a job, and
keys typed before ``srun --pty``'s shell exists."""

from __future__ import annotations

import fcntl
import os
import pty
import select
import signal
import struct
import subprocess
import termios
import time
from pathlib import Path

from tests.integration.harness import WALKTHROUGH_CONFIG, Cluster, Stratus, wait_for


def _cluster(stratus: Stratus, tmp_path: Path, name: str, min_count: int) -> Cluster:
    return stratus.create(
        name, WALKTHROUGH_CONFIG.format(idle=0.05, min_count=min_count, max_count=3), tmp_path
    )


def _state(c: Cluster, job: int) -> str:
    return c.slurm("squeue", "-h", "-t", "all", "-j", str(job), "-o", "%T").out.strip()


def test_step_options_inside_a_batch_job(stratus: Stratus, tmp_path: Path, workdir: Path) -> None:
    c = _cluster(stratus, tmp_path, "stepopts", min_count=2)
    one, two = "queue1-st-t2micro-1", "queue1-st-t2micro-2"
    py = "import os, sys; print('out', os.environ['SLURM_PROCID']); print('err', file=sys.stderr)"
    (workdir / "logs").mkdir()
    script = workdir / "job.sh"
    script.write_text(
        "#!/bin/bash\n#SBATCH -N 2 -n 2\n"
        # submitit's default: each task's stdout and stderr to one file, named by job and task.
        f'srun --unbuffered --output logs/%j_%t_log.out --error logs/%j_%t_log.out python3 -c "{py}"\n'
        'echo "submitit: $?"\n'
        "srun -l -o step-%J.out bash -c 'echo hi $SLURM_PROCID'\n"
        "srun -o 1 -l bash -c 'echo only $SLURM_PROCID'\n"
        f"srun -w {two} bash -c 'echo w-on $SLURMD_NODENAME'\n"
        f"srun -x {one} -n 1 bash -c 'echo x-on $SLURMD_NODENAME'\n"
        "srun -N1 -r1 bash -c 'echo r-on $SLURMD_NODENAME'\n"
        'srun -w queue1-dy-t2micro-1 true; echo "not in job: $?"\n'
        # Options that only shape an allocation are accepted in a job.
        "srun -p queue1 -A acct -q normal --gres=gpu:1 -G 1 --gpus-per-node=1 -C any --exclusive "
        "--mem-per-cpu=10 -n 1 bash -c 'echo accepted'\n"
        "srun --mpi=pmix -n 1 printenv SLURM_MPI_TYPE\n"
        "srun -n 2 -K bash -c 'if [ $SLURM_PROCID = 1 ]; then exit 3; fi; sleep 60'; echo \"K: $?\"\n"
        "srun -n 2 -W 1 bash -c '[ $SLURM_PROCID = 0 ] || sleep 60'; echo \"W: $?\"\n"
        'srun -n 1 -t 0:01 sleep 60; echo "t: $?"\n'
    )
    job = c.sbatch("job.sh", cwd=workdir)
    wait_for(lambda: _state(c, job) == "COMPLETED", 120, what="the job to complete")
    out = (workdir / f"slurm-{job}.out").read_text()
    lines = out.splitlines()
    assert "submitit: 0" in lines, out
    assert (workdir / "logs" / f"{job}_0_log.out").read_text() == "out 0\nerr\n"
    assert (workdir / "logs" / f"{job}_1_log.out").read_text() == "out 1\nerr\n"
    assert sorted((workdir / f"step-{job}.1.out").read_text().splitlines()) == ["0: hi 0", "1: hi 1"]
    assert "1: only 1" in lines and "0: only 0" not in lines
    assert f"w-on {two}" in lines and f"x-on {two}" in lines and f"r-on {two}" in lines
    assert (
        f"srun: error: Unable to create step for job {job}: Requested node configuration is not available"
    ) in lines
    assert "not in job: 1" in lines
    assert "accepted" in lines and "pmix" in lines
    # -K: the first failure ends the step (SIGTERM to the others), in Slurm's words.
    k = lines.index(f"srun: error: {two}: task 1: Exited with exit code 3")
    assert lines[k + 1].startswith(f"srun: Terminating StepId={job}.")
    assert f"srun: error: {one}: task 0: Terminated" in lines and "K: 143" in lines
    # -W 1: a second after the first task ended, the rest are killed.
    w = lines.index("srun: First task exited 1s ago")
    assert lines[w + 1].endswith(" task 1: running") and lines[w + 2].endswith(" task 0: exited")
    assert f"srun: error: {two}: task 1: Killed" in lines and "W: 137" in lines
    # A step's -t inside a job: slurmstepd's line, then srun's.
    assert any(
        line.startswith(f"slurmstepd-{one}: error: *** STEP {job}.")
        and line.endswith(" DUE TO TIME LIMIT ***")
        for line in lines
    ), out
    assert "srun: Job step aborted: Waiting up to 4 seconds for job step to finish." in lines  # KillWait 2
    assert "t: 143" in lines


def test_allocation_options_outside_a_job(stratus: Stratus, tmp_path: Path, workdir: Path) -> None:
    c = _cluster(stratus, tmp_path, "allocopts", min_count=0)

    def run(*cmd: str, **env: str) -> subprocess.CompletedProcess[str]:
        full = dict(c.stratus.env, PATH=f"{c.root / 'bin'}:{c.stratus.env['PATH']}", **env)
        return subprocess.run(
            list(cmd),
            cwd=workdir,
            env=full,
            capture_output=True,
            text=True,
            timeout=120,
            stdin=subprocess.DEVNULL,
        )

    p = run("srun", "-p", "queue1", "-N", "2", "-l", "hostname")
    assert p.returncode == 0, p.stderr
    assert sorted(p.stdout.splitlines()) == ["0: queue1-dy-t2micro-1", "1: queue1-dy-t2micro-2"]
    p = run("srun", "-p", "nope", "hostname")
    assert (p.returncode, p.stderr) == (
        1,
        "srun: error: invalid partition specified: nope\n"
        "srun: error: Unable to allocate resources: Invalid partition name specified\n",
    )
    p = run("salloc", "-p", "nope", "true")
    assert (p.returncode, p.stderr.splitlines()[-1]) == (
        1,
        "salloc: error: Job submit/allocate failed: Invalid partition name specified",
    )
    # salloc reads SALLOC_* variables, not sbatch's.
    assert run("salloc", "true", SALLOC_PARTITION="nope").returncode == 1
    p = run("salloc", "-Q", "-J", "named", "bash", "-c", "echo $SLURM_JOB_NAME", SBATCH_PARTITION="nope")
    assert (p.returncode, p.stdout, p.stderr) == (0, "named\n", "")  # -Q: no informational lines
    for cmd, err, code in (
        (("srun", "-t", "abc", "true"), "srun: error: Invalid --time specification\n", 255),
        (("salloc", "-t", "abc", "true"), "salloc: error: Invalid --time specification\n", 255),
        (
            ("salloc", "-o", "x"),
            "salloc: invalid option -- 'o'\nTry \"salloc --help\" for more information\n",
            255,
        ),
    ):
        p = run(*cmd)
        assert (p.returncode, p.stderr) == (code, err), cmd
    p = run("srun", "--mpi=list")
    assert (p.returncode, p.stdout.splitlines()[0]) == (0, "MPI plugin types are..."), p.stderr
    # A step of a salloc allocation writes its output where -o says, with its job and step ids.
    p = run("salloc", "-N", "1", "bash", "-c", "srun -o out-%j.%s.txt hostname && echo $SLURM_JOB_ID")
    assert p.returncode == 0, p.stderr
    alloc = p.stdout.strip()
    assert (workdir / f"out-{alloc}.0.txt").read_text().startswith("queue1-dy-t2micro-")
    states = c.slurm("squeue", "-h", "-t", "all", "-o", "%j %T").out.split("\n")
    assert "hostname COMPLETED" in states and "named COMPLETED" in states


def _reap(pid: int, timeout: float) -> int:
    """The wait status of child ``pid`` once it exits; SIGKILLed first if it has not within ``timeout``."""
    statuses: list[int] = []

    def exited() -> bool:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            statuses.append(status)
        return bool(done)

    try:
        wait_for(exited, timeout, what="srun to exit")
    except AssertionError:
        os.kill(pid, signal.SIGKILL)
        statuses.append(os.waitpid(pid, 0)[1])
    return statuses[-1]


def test_srun_pty_keeps_keys_typed_before_the_shell_exists(
    stratus: Stratus, tmp_path: Path, workdir: Path
) -> None:
    """``srun -p queue1 --pty bash`` outside a job, with the command typed at once: while the
    allocation waits for a node to power up and the step starts, the keys are held, not lost."""
    c = _cluster(stratus, tmp_path, "typeahead", min_count=0)
    env = dict(c.stratus.env, PATH=f"{c.root / 'bin'}:{c.stratus.env['PATH']}")
    pid, fd = pty.fork()
    if pid == 0:  # the child: srun on the terminal pty.fork gave it
        try:
            fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 90, 0, 0))
            os.chdir(workdir)
            argv = ["srun", "-p", "queue1", "--pty", "bash", "--norc", "--noprofile", "-i"]
            os.execve(str(c.root / "bin" / "srun"), argv, env)
        finally:
            os._exit(127)
    seen = b""
    try:
        os.write(fd, b"echo typed-$((40 + 2)); exit 5\r")
        end = time.monotonic() + 90
        while b"Exited with exit code 5" not in seen and time.monotonic() < end:
            ready, _, _ = select.select([fd], [], [], 0.2)
            if ready:
                try:
                    data = os.read(fd, 4096)
                except OSError:
                    break
                if not data:
                    break
                seen += data
    finally:
        # srun exits once it has given the allocation back; one that never got its input is
        # ended (by pid), and the test fails below.
        status = _reap(pid, 30.0 if b"Exited with exit code 5" in seen else 0.0)
        os.close(fd)
    text = seen.decode(errors="replace")
    assert "typed-42" in text, text  # the shell ran what was typed before it existed
    assert os.waitstatus_to_exitcode(status) == 5, text

"""Jobs end to end through the thin Slurm clients: environment, outputs, limits, cancel, errors."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

from stratus.cli.salloc import Head
from tests.integration.harness import WALKTHROUGH_CONFIG, Cluster, Stratus, wait_for


def _cluster(stratus: Stratus, tmp_path: Path, name: str = "jobs", min_count: int = 1) -> Cluster:
    return stratus.create(
        name, WALKTHROUGH_CONFIG.format(idle=0.05, min_count=min_count, max_count=3), tmp_path
    )


def _wait_state(c: Cluster, job: str, states: tuple[str, ...], timeout: float = 60.0) -> str:
    return str(
        wait_for(
            lambda: c.squeue_states("-t", "all").get(job) in states and c.squeue_states("-t", "all")[job],
            timeout,
            what=f"job {job} in {states}",
        )
    )


def test_job_environment_and_output(stratus: Stratus, tmp_path: Path, workdir: Path) -> None:
    c = _cluster(stratus, tmp_path)
    script = workdir / "envjob.sh"
    script.write_text(
        "#!/bin/bash\n#SBATCH -J named\nenv | grep ^SLURM | sort\necho to-stderr >&2\nhostname > host.txt\n"
    )
    r = c.slurm("sbatch", "envjob.sh", cwd=workdir)
    assert r.code == 0, r.err
    m = re.fullmatch(r"Submitted batch job (\d+)\n", r.out)
    assert m, r.out
    job = m.group(1)
    _wait_state(c, job, ("COMPLETED",))
    out = (workdir / f"slurm-{job}.out").read_text()
    env = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
    assert env["SLURM_JOB_ID"] == job and env["SLURM_JOB_NAME"] == "named"
    assert env["SLURM_JOB_PARTITION"] == "queue1"
    assert env["SLURM_SUBMIT_DIR"] == str(workdir)
    assert env["SLURM_CLUSTER_NAME"] == "jobs"
    assert env["SLURMD_NODENAME"] == env["SLURM_JOB_NODELIST"] == "queue1-st-t2micro-1"
    assert int(env["SLURM_TASK_PID"]) > 1
    assert "to-stderr" in out
    # A node is its own host to its jobs (where the head node may give it a UTS namespace: root).
    own = "queue1-st-t2micro-1" if os.geteuid() == 0 else os.uname().nodename
    assert (workdir / "host.txt").read_text().strip() == own


def test_array_outputs_and_patterns(stratus: Stratus, tmp_path: Path, workdir: Path) -> None:
    c = _cluster(stratus, tmp_path)
    arr = c.sbatch(
        "--array=0-4",
        "-o",
        "out-%A_%a-%x.txt",
        "-J",
        "pat",
        "--wrap",
        "echo $SLURM_ARRAY_TASK_ID",
        cwd=workdir,
    )
    wait_for(
        lambda: (
            len(list(workdir.glob("out-*.txt"))) == 5
            and all(p.read_text() for p in workdir.glob("out-*.txt"))
        ),
        60,
        what="5 outputs",
    )
    for i in range(5):
        assert (workdir / f"out-{arr}_{i}-pat.txt").read_text() == f"{i}\n"


def test_time_limit_and_cancel(stratus: Stratus, tmp_path: Path, workdir: Path) -> None:
    c = _cluster(stratus, tmp_path, min_count=2)
    slow = c.sbatch("-t", "0:02", "--wrap", "sleep 60", cwd=workdir)
    victim = c.sbatch("--wrap", "sleep 60", cwd=workdir)
    _wait_state(c, str(victim), ("RUNNING",))
    assert c.slurm("scancel", str(victim)).code == 0
    assert _wait_state(c, str(victim), ("CANCELLED",)) == "CANCELLED"
    assert _wait_state(c, str(slow), ("TIMEOUT",), 30) == "TIMEOUT"
    assert "DUE TO TIME LIMIT" in (workdir / f"slurm-{slow}.out").read_text()
    assert re.search(
        rf"\*\*\* JOB {victim} ON \S+ CANCELLED AT \S+ \*\*\*", (workdir / f"slurm-{victim}.out").read_text()
    )


def test_failed_job_exit_code(stratus: Stratus, tmp_path: Path, workdir: Path) -> None:
    c = _cluster(stratus, tmp_path)
    job = c.sbatch("--wrap", "exit 3", cwd=workdir)
    assert _wait_state(c, str(job), ("FAILED",)) == "FAILED"
    r = c.slurm("squeue", "-h", "-t", "all", "-j", str(job), "-o", "%T %r")
    assert r.out.split() == ["FAILED", "NonZeroExitCode"]


def test_sbatch_and_scancel_bad_input(stratus: Stratus, tmp_path: Path, workdir: Path) -> None:
    c = _cluster(stratus, tmp_path)
    cases = [
        (
            ["--array=5-1", "--wrap=true"],
            1,
            "sbatch: error: Batch job submission failed: Invalid job array specification",
        ),
        (["--time=abc", "--wrap=true"], 255, "sbatch: error: Invalid --time specification"),
        (["-p", "nosuch", "--wrap=true"], 1, "sbatch: error: invalid partition specified: nosuch"),
        (["-c", "3", "--wrap=true"], 1, "sbatch: error: CPU count per node can not be satisfied"),
        (["--mem=999999", "--wrap=true"], 1, "sbatch: error: Memory specification can not be satisfied"),
        (["--bogus-option", "--wrap=true"], 255, "sbatch: unrecognized option '--bogus-option'"),
        (["nonexistent.sh"], 1, "sbatch: error: Unable to open file nonexistent.sh"),
    ]
    for args, code, first in cases:
        r = c.slurm("sbatch", *args, cwd=workdir)
        assert (r.code, r.err.splitlines()[0]) == (code, first), (args, r.code, r.err)
        assert r.out == ""
    # An unreadable script (root reads any file, so a directory stands in for it there).
    unreadable = workdir / "secret.sh"
    if os.geteuid() == 0:
        unreadable.mkdir()
    else:
        unreadable.write_text("#!/bin/sh\ntrue\n")
        unreadable.chmod(0)
    r = c.slurm("sbatch", "secret.sh", cwd=workdir)
    assert r.code == 1 and "sbatch: error: Unable to open file secret.sh" in r.err, r.err
    r = c.slurm("sbatch", cwd=workdir, stdin="")
    assert (r.code, r.err.strip()) == (1, "sbatch: error: Batch script is empty!")
    r = c.slurm("scancel", "999999")
    assert r.code == 1 and "Invalid job id specified" in r.err
    r = c.slurm("scancel", "abc")
    assert (r.code, r.err.strip()) == (1, "scancel: error: Invalid job id abc")
    assert c.slurm("scancel", "-Q", "999999").code == 0
    # Malformed request bodies (a broken or foreign client) get a 400 naming the problem.
    head = Head(str(stratus.cluster_dir("jobs")))
    for path in ("/slurm/v1/sbatch", "/slurm/v1/steps", "/slurm/v1/allocations"):
        status, body = head.call("POST", path, {"argv": [], "umask": "x", "cwd": "/", "env": {}})
        assert status == 400 and body["message"].startswith("Bad Request: invalid literal"), (path, body)
        status, body = head.call("POST", path, {"argv": [], "env": {}})
        assert (status, body) == (400, {"message": "Bad Request: 'cwd'"}), path
    status, body = head.call("POST", "/slurm/v1/allocations/1/done", {"exit_code": "x"})
    assert status == 400, body
    # none of the rejected submissions left a job behind
    assert c.squeue_states("-t", "all") == {}


def test_script_from_stdin(stratus: Stratus, tmp_path: Path, workdir: Path) -> None:
    c = _cluster(stratus, tmp_path)
    r = c.slurm("sbatch", cwd=workdir, stdin="#!/bin/bash\necho from-stdin\n")
    assert r.code == 0, r.err
    job = r.out.split()[-1]
    _wait_state(c, job, ("COMPLETED",))
    assert (workdir / f"slurm-{job}.out").read_text() == "from-stdin\n"
    assert c.slurm("squeue", "-h", "-t", "all", "-j", job, "-o", "%j").out.strip() == "sbatch"


def test_huge_array_stays_compact(stratus: Stratus, tmp_path: Path, workdir: Path) -> None:
    import sqlite3

    config = WALKTHROUGH_CONFIG.format(idle=0.05, min_count=1, max_count=1).replace(
        "    ScaledownIdletime: 0.05\n",
        "    ScaledownIdletime: 0.05\n    CustomSlurmSettings:\n      - MaxArraySize: 100001\n",
    )
    c = stratus.create("huge", config, tmp_path)
    arr = c.sbatch("--array=0-99999", "--wrap", "sleep 30", cwd=workdir)
    wait_for(lambda: c.squeue_states().get(f"{arr}_0") == "RUNNING", 30, what="the first task to run")
    r = c.slurm("squeue", cwd=workdir)
    assert f"{arr}_[1-99999]" in r.out and "(Resources)" in r.out
    con = sqlite3.connect(f"file:{c.root / 'state.db'}?mode=ro", uri=True)
    try:
        rows = con.execute("select count(*) from jobs").fetchone()[0]
    finally:
        con.close()
    assert rows == 2  # the pending remainder and the one running task
    r = c.slurm("sbatch", "--array=0-100001", "--wrap=true", cwd=workdir)
    assert r.code == 1 and "Invalid job array specification" in r.err
    assert c.slurm("scancel", str(arr)).code == 0


def test_scripts_from_pipes_bytes_umask_and_missing_workdir(
    stratus: Stratus, tmp_path: Path, workdir: Path
) -> None:
    c = _cluster(stratus, tmp_path)
    # A script that is not UTF-8 (a Latin-1 comment) runs, and the head node survives it.
    (workdir / "latin1.sh").write_bytes(b"#!/bin/sh\n# caf\xe9\necho ok\n")
    r = c.slurm("sbatch", "latin1.sh", cwd=workdir)
    assert r.code == 0, r.err
    latin = r.out.split()[-1]
    # sbatch <(...): the script is a pipe only the client can read.
    env = dict(c.stratus.env, PATH=str(c.root / "bin") + os.pathsep + c.stratus.env["PATH"])
    p = subprocess.run(
        ["bash", "-c", "sbatch --parsable <(printf '#!/bin/sh\\necho piped\\n')"],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert p.returncode == 0, p.stderr
    piped = p.stdout.strip()
    # Files are created with the submitter's umask; a missing working directory falls back to /tmp.
    p = subprocess.run(
        [
            "bash",
            "-c",
            "umask 027; sbatch --parsable -D /nonexistent -o " + str(workdir / "u.out") + " --wrap pwd",
        ],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert p.returncode == 0, p.stderr
    masked = p.stdout.strip()
    for job in (latin, piped, masked):
        _wait_state(c, job, ("COMPLETED",))
    assert (workdir / f"slurm-{latin}.out").read_text() == "ok\n"
    assert (workdir / f"slurm-{piped}.out").read_text() == "piped\n"
    out = (workdir / "u.out").read_text()
    assert "couldn't chdir to `/nonexistent': No such file or directory: going to /tmp instead" in out
    assert out.endswith("/tmp\n")
    assert oct((workdir / "u.out").stat().st_mode & 0o777) == "0o640"


def test_regression_a_job_name_of_raw_bytes_stopped_the_head_node(
    stratus: Stratus, tmp_path: Path, workdir: Path
) -> None:
    """``sbatch -J $'\\xff'``: the write of the job failed and the head node stopped for everyone.

    Slurm takes names as bytes and prints them back as given; so does stratus.
    """
    c = _cluster(stratus, tmp_path, "oddname")
    env = dict(stratus.env)
    env["PATH"] = str(c.root / "bin") + os.pathsep + env.get("PATH", "")

    def run(*argv: bytes) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(
            [str(c.root / "bin" / argv[0].decode()).encode(), *argv[1:]],
            capture_output=True,
            env=env,
            cwd=workdir,
            stdin=subprocess.DEVNULL,
            timeout=60,
        )

    r = run(b"sbatch", b"--parsable", b"-J", b"n\xff", b"--hold", b"--wrap", b"true")
    assert r.returncode == 0, r.stderr
    job = r.stdout.strip().decode()
    assert run(b"squeue", b"-h", b"-j", job.encode(), b"-o", b"%j").stdout == b"n\xff\n"
    assert run(b"scontrol", b"update", f"JobId={job}".encode(), b"JobName=m\xfe").returncode == 0
    assert run(b"squeue", b"-h", b"-j", job.encode(), b"-o", b"%j").stdout == b"m\xfe\n"
    dump = run(b"squeue", b"--json")
    assert dump.returncode == 0, dump.stderr
    assert run(b"scancel", job.encode()).returncode == 0
    # The head node is alive and still writes: a new job is accepted and runs.
    done = c.sbatch("--wrap", "true", cwd=workdir)
    _wait_state(c, str(done), ("COMPLETED",))
    assert c.controller_pid() is not None


GPU_CONFIG = WALKTHROUGH_CONFIG.format(idle=60, min_count=1, max_count=1).replace(
    "- InstanceType: t2.micro", "- InstanceType: p3.8xlarge"
)


def test_gpu_jobs_hold_distinct_devices(stratus: Stratus, tmp_path: Path, workdir: Path) -> None:
    """Slurm's gres/gpu binding: two jobs of 2 GPUs on a 4-GPU node see distinct indices, and
    a step sees its job's."""
    c = stratus.create("gpus", GPU_CONFIG, tmp_path)
    show = (
        'echo "$CUDA_VISIBLE_DEVICES $SLURM_JOB_GPUS $SLURM_GPUS_ON_NODE"; srun -n 1 printenv SLURM_STEP_GPUS'
    )
    jobs = [
        c.sbatch("--gres=gpu:2", "-o", f"gpu{i}.out", "--wrap", f"{show}; sleep 2", cwd=workdir)
        for i in (1, 2)
    ]
    for job in jobs:
        _wait_state(c, str(job), ("COMPLETED",))
    seen = [(workdir / f"gpu{i}.out").read_text().split() for i in (1, 2)]
    for ids, job_gpus, count, step_gpus in seen:
        assert ids == job_gpus == step_gpus and count == "2", seen
    assert {seen[0][0], seen[1][0]} == {"0,1", "2,3"}  # they ran at once, on different GPUs

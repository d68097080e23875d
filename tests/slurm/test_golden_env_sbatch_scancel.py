"""The batch environment, sbatch and scancel against the real Slurm 22.05 captures."""

from __future__ import annotations

from pathlib import Path

import pytest

from stratus.slurm.env import batch_job_env, env_input_for
from stratus.slurm.patterns import PatternContext, output_paths
from stratus.slurm.sbatch import parse_sbatch
from stratus.slurm.views import BatchRequest

from .helpers import (
    STATIC,
    FakeBackend,
    at,
    cloud_node,
    find,
    job,
    make_ctx,
    parse_capture,
    queue1,
    ref_path,
    run,
    static_node,
)

ENVJOB = "#!/bin/bash\nenv | grep ^SLURM | sort\n"


def captured_env(text: str) -> dict[str, str]:
    env = dict(line.split("=", 1) for line in text.splitlines() if "=" in line)
    env.pop("SLURM_TASK_PID")  # set by whoever spawns the script
    return env


def submit_request(argv: list[str], tmp_path: Path) -> BatchRequest:
    (tmp_path / "envjob.sh").write_text(ENVJOB)
    parsed = parse_sbatch(argv, make_ctx(cwd=str(tmp_path)), at("09:20:41"))
    assert parsed.request is not None
    return parsed.request


def job_env(request: BatchRequest, job_id: int, cpus: int, **kw: object) -> dict[str, str]:
    ctx = make_ctx()
    inp = env_input_for(
        request,
        ctx,
        job_id=job_id,
        partition="queue1",
        nodes=[STATIC],
        cpus_per_node=[cpus],
        cluster_name="oracle",
        slurm_conf="/etc/slurm/slurm.conf",
        **kw,  # type: ignore[arg-type]
    )
    env = batch_job_env(inp)
    return {k: v for k, v in env.items() if k.startswith("SLURM")}


def test_capture_11_plain_job_env(tmp_path: Path) -> None:
    cap = find(parse_capture(ref_path("11_env_plain_job.txt")), "cat slurm-1.out")
    req = submit_request(["envjob.sh"], tmp_path)
    assert job_env(req, 1, 1) == captured_env(cap.stdout)


def test_capture_12_array_task_env(tmp_path: Path) -> None:
    caps = parse_capture(ref_path("12_env_array_task.txt"))
    req = submit_request(["--parsable", "--array=0-1", "envjob.sh"], tmp_path)
    for task, own_id in ((0, 3), (1, 2)):
        cap = find(caps, f"cat slurm-2_{task}.out")
        got = job_env(req, own_id, 1, array_job_id=2, array_task_id=task)
        assert got == captured_env(cap.stdout)
    assert find(caps, "ls slurm-2_*.out").stdout.split() == [
        Path(output_paths(None, None, PatternContext(own, "envjob.sh", "root", "/w", "", 2, t))[0]).name
        for own, t in ((3, 0), (2, 1))
    ]


def test_capture_13_options_env(tmp_path: Path) -> None:
    cap = find(parse_capture(ref_path("13_env_job_with_options.txt")), "cat opt-*.out")
    cmd = "--parsable -J optjob -n 2 -c 1 --mem=100M -t 00:05:00 -o opt-%j.out envjob.sh"
    argv = cmd.split(" ")
    req = submit_request(argv, tmp_path)
    assert (req.name, req.ntasks, req.cpus_per_task, req.mem_per_node_mb, req.time_limit_min) == (
        "optjob",
        2,
        1,
        100,
        5,
    )
    assert job_env(req, 15, 2) == captured_env(cap.stdout)
    ctx = PatternContext(15, "optjob", "root", "/home/user/work", STATIC)
    assert output_paths(req.stdout, req.stderr, ctx) == ("/home/user/work/opt-15.out",) * 2


def reference_backend(tmp_path: Path, first_id: int = 1, **kw: object) -> FakeBackend:
    nodes = [static_node()]
    b = FakeBackend(clock=at("09:20:41"), node_rows=nodes, part_rows=[queue1(nodes)], next_id=first_id)
    for k, v in kw.items():
        setattr(b, k, v)
    (tmp_path / "envjob.sh").write_text(ENVJOB)
    (tmp_path / "noshebang.sh").write_text("echo hello\n")
    return b


def test_capture_10_sbatch_outputs(tmp_path: Path) -> None:
    caps = parse_capture(ref_path("10_sbatch_plain.txt"))
    ids = {
        "sbatch envjob.sh": 1,
        "sbatch --parsable --array=0-1 envjob.sh": 2,
        "sbatch --parsable --wrap=true": 4,
        "sbatch --parsable -J named --wrap=true": 5,
        "sbatch --wrap=true --array=1-3%2": 7,
        "sbatch --wrap=true --array=1,5,7-11:2": 8,
    }
    for cap in caps:
        if cap.cmd.startswith("echo"):
            b = reference_backend(tmp_path, 6)
            res = run(b, "sbatch", make_ctx(cwd=str(tmp_path), stdin=b"#!/bin/bash\ntrue\n"))
            assert b.submitted[0].name == "sbatch"
        else:
            b = reference_backend(tmp_path, ids[cap.cmd])
            res = run(b, cap.cmd, make_ctx(cwd=str(tmp_path)))
        assert (res.stdout, res.stderr, res.exit_code) == (cap.stdout, cap.stderr, cap.exit_code), cap.cmd
    b = reference_backend(tmp_path)
    run(b, "sbatch --wrap=true --array=1-3%2", make_ctx(cwd=str(tmp_path)))
    run(b, "sbatch -J named --wrap=true", make_ctx(cwd=str(tmp_path)))
    arr, named = b.submitted
    assert arr.name == "wrap" and arr.array is not None and arr.array.max_running == 2
    assert arr.script == "#!/bin/sh\n# This script was created by sbatch --wrap.\n\ntrue\n"
    assert named.name == "named"


SBATCH_ERRORS = [
    "sbatch --array=abc --wrap=true",
    "sbatch --array=5-1 --wrap=true",
    "sbatch --array=0-5000 --wrap=true",
    "sbatch --array=1-3:0 --wrap=true",
    "sbatch --array=-1 --wrap=true",
    "sbatch -p nosuchpartition --wrap=true",
    "sbatch --time=garbage --wrap=true",
    "sbatch --mem=999999 --wrap=true",
    "sbatch --dependency=garbage --wrap=true",
    "sbatch --dependency=afterok: --wrap=true",
    "sbatch nonexistent.sh",
    "sbatch noshebang.sh",
    "sbatch --wrap=true extra_arg_script.sh",
    "sbatch --bogus-option --wrap=true",
]
SBATCH_ACCEPTED = [
    "sbatch --array=0-1000 --wrap=true",
    "sbatch --array=1-3%0 --wrap=true",
    "sbatch --time=-5 --wrap=true",
    "sbatch --time=0 --wrap=true",
    "sbatch -c 3 --wrap=true",
    "sbatch -n 3 --wrap=true",
    "sbatch -N 2 --wrap=true",
    "sbatch --dependency=afterok:999999 --wrap=true",
    "sbatch --dependency=afterok:1 --wrap=true",
]


@pytest.mark.parametrize("cmd", SBATCH_ERRORS + SBATCH_ACCEPTED)
def test_capture_30_sbatch(cmd: str, tmp_path: Path) -> None:
    cap = find(parse_capture(ref_path("30_errors.txt")), cmd)
    expected_id = cap.stdout.split()[-1] if cap.exit_code == 0 else None
    b = reference_backend(tmp_path, int(expected_id) if expected_id else 90)
    res = run(b, cmd, make_ctx(cwd=str(tmp_path)))
    assert (res.stdout, res.stderr, res.exit_code) == (cap.stdout, cap.stderr, cap.exit_code)


@pytest.mark.parametrize("stdin", [b"", None])
def test_capture_30_empty_script(stdin: bytes | None, tmp_path: Path) -> None:
    caps = parse_capture(ref_path("30_errors.txt"))
    cap = find(caps, "sbatch </dev/null")
    b = reference_backend(tmp_path)
    res = run(b, "sbatch", make_ctx(cwd=str(tmp_path), stdin=stdin))
    if stdin is None:
        assert res.need_stdin and not res.stderr  # the client resends with its stdin
        return
    assert (res.stdout, res.stderr, res.exit_code) == (cap.stdout, cap.stderr, cap.exit_code)
    assert find(caps, "sbatch ").stderr == cap.stderr


def test_capture_33_enforce_part_limits(tmp_path: Path) -> None:
    caps = parse_capture(ref_path("33_enforce_part_limits_all.txt"))
    for cmd in ("sbatch -c 3 --wrap=true", "sbatch -n 3 --wrap=true", "sbatch -N 2 --wrap=true",
                "sbatch --mem=999999 --wrap=true", "sbatch --time=-5 --wrap=true"):  # fmt: skip
        cap = find(caps, cmd)
        b = reference_backend(tmp_path, 48, enforce_part_limits=True)
        res = run(b, cmd, make_ctx(cwd=str(tmp_path)))
        assert (res.stdout, res.stderr, res.exit_code) == (cap.stdout, cap.stderr, cap.exit_code), cmd


def test_capture_40_02_cloud_rejections(tmp_path: Path) -> None:
    caps = parse_capture(ref_path("40_cloud_02_errors.txt"))
    nodes = [cloud_node(i) for i in range(1, 11)] + [static_node()]
    for cmd in ("sbatch -c 3 --wrap=true", "sbatch -C nosuchfeature --wrap=true"):
        cap = find(caps, cmd)
        b = FakeBackend(clock=at("09:24:40"), node_rows=nodes, part_rows=[queue1(nodes)])
        res = run(b, cmd, make_ctx(cwd=str(tmp_path)))
        assert (res.stdout, res.stderr, res.exit_code) == (cap.stdout, cap.stderr, cap.exit_code), cmd


def test_scancel_captures() -> None:
    rows = [
        job(17, "hellojob.sh", "RUNNING", start="09:21:12"),
        job(19, "hellojob.sh", "RUNNING", start="09:21:16", array=(18, 0), prio_of=18),
    ]
    from stratus.engine.indexset import IndexSet

    rows.append(job(18, "hellojob.sh", "PENDING", array=(18, -1), pending_ids=IndexSet.from_range(1, 64)))
    b = FakeBackend(clock=at("09:21:16"), job_rows=rows, node_rows=[static_node()])
    caps23 = parse_capture(ref_path("23_scancel_array_range.txt"))
    for cmd in ("scancel 18_[10-64]", "scancel -v 18_[5-6]"):
        cap = find(caps23, cmd)
        res = run(b, cmd)
        assert (res.stdout, res.stderr, res.exit_code) == (cap.stdout, cap.stderr, cap.exit_code), cmd
    caps30 = parse_capture(ref_path("30_errors.txt"))
    for cmd in ("scancel abc", "scancel 1_["):
        cap = find(caps30, cmd)
        res = run(b, cmd)
        assert (res.stdout, res.stderr, res.exit_code) == (cap.stdout, cap.stderr, cap.exit_code), cmd
    # Deliberate difference: an unknown id is an error in stratus (Slurm prints nothing) ...
    res = run(b, "scancel 999999")
    assert (res.stderr, res.exit_code) == (
        "scancel: error: Kill job error on job id 999999: Invalid job id specified\n",
        1,
    )
    # ... except with -Q, which stays quiet and exits 0 whatever happens.
    res = run(b, "scancel -Q 999999")
    assert (res.stdout, res.stderr, res.exit_code) == ("", "", 0)
    targets = b.cancels[0].targets
    assert [(t.job_id, list(t.task_ids or [])) for t in targets] == [(18, list(range(10, 65)))]

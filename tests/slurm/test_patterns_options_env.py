"""Output file patterns, GNU getopt emulation, and the batch environment beyond the captures."""

from __future__ import annotations

import pytest

from stratus.slurm.env import JobEnvInput, batch_job_env, compressed_counts, tasks_per_node
from stratus.slurm.options import Arg, LongOpt, OptionError, getopt_long
from stratus.slurm.patterns import PatternContext, expand_pattern, output_paths

JOB = PatternContext(job_id=42, job_name="sim", user="alice", workdir="/home/alice/run", node="q-dy-c-3")
TASK = PatternContext(
    job_id=57,
    job_name="sim",
    user="alice",
    workdir="/home/alice/run",
    node="q-dy-c-3",
    array_job_id=50,
    array_task_id=7,
)


@pytest.mark.parametrize(
    ("ctx", "pattern", "expected"),
    [
        (JOB, "slurm-%j.out", "/home/alice/run/slurm-42.out"),
        (TASK, "slurm-%A_%a.out", "/home/alice/run/slurm-50_7.out"),
        (TASK, "%x-%u-%N.log", "/home/alice/run/sim-alice-q-dy-c-3.log"),
        (TASK, "out-%3a.txt", "/home/alice/run/out-007.txt"),
        (TASK, "%j.%s.%t.%n", "/home/alice/run/57.batch.0.0"),
        (TASK, "100%%.log", "/home/alice/run/100%.log"),
        (TASK, "odd-%z.log", "/home/alice/run/odd-%z.log"),
        (TASK, "odd-%5z.log", "/home/alice/run/odd-5z.log"),
        (TASK, "trail-%", "/home/alice/run/trail-%"),
        (TASK, "w%12j", "/home/alice/run/w0000000057"),
        (JOB, "/abs/%j.out", "/abs/42.out"),
        (JOB, "x-%a.out", "/home/alice/run/x-4294967294.out"),
        (JOB, "%A.out", "/home/alice/run/42.out"),
        (JOB, "/abs/\\%j.out", "/abs/%j.out"),
        (JOB, "a\\\\b", "/home/alice/runa\\b"),
        (JOB, "1", "/dev/null"),
        (JOB, "0", "/home/alice/run/0"),
    ],
)
def test_patterns(ctx: PatternContext, pattern: str, expected: str) -> None:
    assert expand_pattern(pattern, ctx) == expected


def test_default_paths() -> None:
    assert output_paths(None, None, JOB) == ("/home/alice/run/slurm-42.out",) * 2
    assert output_paths(None, "err-%j", TASK) == ("/home/alice/run/slurm-50_7.out", "/home/alice/run/err-57")
    meta = PatternContext(18, "h", "root", "/home/user/work", array_job_id=18)
    assert output_paths(None, None, meta)[0] == "/home/user/work/slurm-18_4294967294.out"


LONG = (
    LongOpt("job-name", Arg.REQUIRED, "J"),
    LongOpt("hold", Arg.NONE, "H"),
    LongOpt("parsable", Arg.NONE, "parsable"),
    LongOpt("partition", Arg.REQUIRED, "p"),
    LongOpt("nice", Arg.OPTIONAL, "nice"),
    LongOpt("tasks-per-node", Arg.REQUIRED, "tpn"),
    LongOpt("ntasks-per-node", Arg.REQUIRED, "tpn"),
)


def test_getopt_forms() -> None:
    opts, rest = getopt_long(
        "x", ["-HJname", "-p", "q1", "--job-name=a", "--job-name", "b", "s.sh", "-H"], "+HJ:p:", LONG
    )
    assert opts == [("H", None), ("J", "name"), ("p", "q1"), ("J", "a"), ("J", "b")]
    assert rest == ["s.sh", "-H"]  # "+": options stop at the script
    opts, rest = getopt_long("x", ["18", "-H", "--", "-p"], "HJ:p:", LONG)
    assert (opts, rest) == ([("H", None)], ["18", "-p"])  # permuted
    assert getopt_long("x", ["--part=q", "--parsa", "--nice", "--nice=5"], "", LONG)[0] == [
        ("p", "q"), ("parsable", None), ("nice", None), ("nice", "5"),
    ]  # fmt: skip
    assert getopt_long("x", ["--ntasks-per=2", "--tasks=3"], "", LONG)[0] == [("tpn", "2"), ("tpn", "3")]
    # Two names of one option are not ambiguous.
    same = (LongOpt("users", Arg.REQUIRED, "u"), LongOpt("user", Arg.REQUIRED, "u"))
    assert getopt_long("x", ["--use=bob"], "", same)[0] == [("u", "bob")]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--bogus-option"], "x: unrecognized option '--bogus-option'"),
        (["--bogus=3"], "x: unrecognized option '--bogus=3'"),
        (["--par"], "x: option '--par' is ambiguous; possibilities: '--parsable' '--partition'"),
        (["--job-name"], "x: option '--job-name' requires an argument"),
        (["--hold=1"], "x: option '--hold' doesn't allow an argument"),
        (["-Z"], "x: invalid option -- 'Z'"),
        (["-J"], "x: option requires an argument -- 'J'"),
    ],
)
def test_getopt_errors(argv: list[str], message: str) -> None:
    with pytest.raises(OptionError) as info:
        getopt_long("x", ["-H", *argv], "HJ:p:", LONG)
    assert str(info.value) == message
    assert info.value.parsed == [("H", None)]


def test_run_length_forms() -> None:
    assert compressed_counts([2, 2, 2, 1]) == "2(x3),1"
    assert compressed_counts([1]) == "1"
    assert compressed_counts([]) == ""


@pytest.mark.parametrize(
    ("cpus", "ntasks", "cpt", "expected"),
    [
        ([1], None, 1, [1]),
        ([2], 2, 1, [2]),
        ([2, 2, 1], None, 1, [2, 2, 1]),
        ([2, 2, 1], 3, 1, [1, 1, 1]),
        ([2, 2, 1], 4, 1, [2, 1, 1]),
        ([2, 2, 1], 7, 1, [3, 3, 1]),  # all full: round-robin over every node
        ([4, 4], None, 2, [2, 2]),
    ],
)
def test_block_layout(cpus: list[int], ntasks: int | None, cpt: int, expected: list[int]) -> None:
    assert tasks_per_node(cpus, ntasks, cpt) == expected


def test_env_of_a_multi_node_gpu_array_task() -> None:
    inp = JobEnvInput(
        job_id=61,
        name="train",
        partition="gpu",
        nodes=["g-dy-p3-2", "g-dy-p3-1", "g-dy-p3-3"],
        cpus_per_node=[4, 4, 4],
        user="alice",
        uid=1000,
        gid=1000,
        submit_dir="/home/alice",
        submit_host="login",
        cluster_name="demo",
        ntasks_per_node=2,
        ntasks=6,
        mem_per_cpu_mb=512,
        array_job_id=60,
        array_task_id=3,
        array_task_count=5,
        array_task_min=1,
        array_task_max=9,
        array_task_step=2,
        account="proj",
        open_mode="append",
        export="NONE",
        gpus_per_node="2",
        gpu_ids=[0, 1],
    )
    env = batch_job_env(inp)
    assert env["SLURM_JOB_NODELIST"] == "g-dy-p3-[1-3]"
    assert env["SLURMD_NODENAME"] == "g-dy-p3-2"  # the first allocated node runs the script
    assert env["SLURM_JOB_CPUS_PER_NODE"] == "4(x3)"
    assert env["SLURM_TASKS_PER_NODE"] == "2(x3)"
    assert env["SLURM_NTASKS_PER_NODE"] == "2"
    assert env["SLURM_MEM_PER_CPU"] == "512" and "SLURM_MEM_PER_NODE" not in env
    assert (env["SLURM_ARRAY_JOB_ID"], env["SLURM_ARRAY_TASK_ID"], env["SLURM_ARRAY_TASK_STEP"]) == (
        "60",
        "3",
        "2",
    )
    assert env["SLURM_JOB_ACCOUNT"] == "proj"
    assert env["SLURM_OPEN_MODE"] == "a"
    assert env["SLURM_EXPORT_ENV"] == "NONE"
    assert env["CUDA_VISIBLE_DEVICES"] == "0,1" and env["SLURM_GPUS_ON_NODE"] == "2"
    assert "SLURM_CONF" not in env and "SLURM_TASK_PID" not in env
    assert env["SLURM_WORKING_CLUSTER"] == "demo:127.0.0.1:6817:9728:109"

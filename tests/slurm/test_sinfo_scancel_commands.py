"""sinfo and scancel beyond the captures, and the command dispatcher."""

from __future__ import annotations

import pytest

from stratus.engine.indexset import IndexSet
from stratus.slurm import nodestate
from stratus.slurm.commands import run_command
from stratus.slurm.scancel import parse_job_ids, parse_scancel, signal_number
from stratus.slurm.views import CommandResult, NodeRow, PartitionRow

from .helpers import FakeBackend, at, cloud_node, job, make_ctx, run, static_node

NOW = at("10:00:00")
VALID_STATES = "Valid job states are PENDING, RUNNING, and SUSPENDED\n"
TRY = 'Try "scancel --help" for more information\n'


def two_partitions() -> FakeBackend:
    nodes = [
        static_node(),
        cloud_node(1, "ALLOCATED", ()),
        cloud_node(
            2, "IDLE", ("DRAIN",), reason="maintenance", reason_user="admin", reason_time=at("09:00:00")
        ),
        cloud_node(3),
        NodeRow("gpu-1", ("gpu",), "MIXED", cpus=8, alloc_cpus=4, memory_mb=64000, gpus=4, gpu_type="a100"),
    ]
    parts = [
        PartitionRow("queue1", tuple(n.name for n in nodes[:4]), default=True, max_time_min=60),
        PartitionRow("gpu", ("gpu-1", "queue1-st-local-1"), state="DOWN", max_time_min=None),
        PartitionRow("empty", (), state="INACTIVE"),
    ]
    return FakeBackend(clock=NOW, node_rows=nodes, part_rows=parts)


def out(b: FakeBackend, cmd: str) -> str:
    res = run(b, cmd)
    assert res.exit_code == 0, res.stderr
    return res.stdout


def test_partitions_states_and_order() -> None:
    # Within a partition, by numeric state descending: POWERED_DOWN (0x1000) outranks DRAIN
    # (0x200), and the CLOUD bit puts a cloud "alloc" before a static "idle".
    assert out(two_partitions(), "sinfo") == (
        "PARTITION AVAIL  TIMELIMIT  NODES  STATE NODELIST\n"
        "queue1*      up    1:00:00      1  idle~ queue1-dy-t2micro-3\n"
        "queue1*      up    1:00:00      1  drain queue1-dy-t2micro-2\n"
        "queue1*      up    1:00:00      1  alloc queue1-dy-t2micro-1\n"
        "queue1*      up    1:00:00      1   idle queue1-st-local-1\n"
        "gpu        down   infinite      1    mix gpu-1\n"
        "gpu        down   infinite      1   idle queue1-st-local-1\n"
        "empty     inact   infinite      0    n/a \n"
    )


def test_filters_and_summaries() -> None:
    b = two_partitions()
    assert out(b, "sinfo -h -p gpu -o '%P %t %N'") == "gpu mix gpu-1\ngpu idle queue1-st-local-1\n"
    # "alloc" matches nodes with CPUs allocated (mixed too); without %P or a state column,
    # nodes of both partitions share one line.
    assert out(b, "sinfo -h -t alloc -o '%N'") == "gpu-1,queue1-dy-t2micro-1\n"
    # With %P every partition keeps its line, even when all its nodes are filtered out.
    assert out(b, "sinfo -h -t alloc -o '%P %t %N'") == (
        "queue1* alloc queue1-dy-t2micro-1\ngpu mix gpu-1\nempty n/a \n"
    )
    assert out(b, "sinfo -h -t drain -o %N") == "queue1-dy-t2micro-2\n"
    assert out(b, "sinfo -h -t idle,drain -p queue1 -o '%t %D'") == "idle~ 1\ndrain 1\nidle 1\n"
    assert out(b, "sinfo -h -t powered_down -p queue1 -o %N") == "queue1-dy-t2micro-3\n"
    assert out(b, "sinfo -h -n gpu-1,queue1-dy-t2micro-1 -o '%R %N'") == (
        "queue1 queue1-dy-t2micro-1\ngpu gpu-1\nempty \n"
    )
    assert out(b, "sinfo -s -p queue1") == (
        "PARTITION AVAIL  TIMELIMIT   NODES(A/I/O/T) NODELIST\n"
        "queue1*      up    1:00:00          1/2/1/4 queue1-dy-t2micro-[1-3],queue1-st-local-1\n"
    )
    assert out(b, "sinfo -R") == (
        "REASON               USER      TIMESTAMP           NODELIST\n"
        "maintenance          admin     2026-11-22T09:00:00 queue1-dy-t2micro-2\n"
    )
    assert out(b, "sinfo -h -p gpu -o '%G|%c|%C|%m|%e'").splitlines()[0] == "gpu:a100:4|8|4/4/0/8|64000|N/A"


def test_grouping_follows_printed_fields() -> None:
    b = two_partitions()
    # Without %f the static and dynamic idle nodes share a line; with it they do not.
    assert out(b, "sinfo -h -p queue1 -o '%D %c %N' -t idle").splitlines() == [
        "3 1+ queue1-dy-t2micro-[2-3],queue1-st-local-1"
    ]
    assert out(b, "sinfo -h -p queue1 -e -o '%D %c' -t idle").splitlines() == ["2 1", "1 2"]
    assert out(b, "sinfo -h -p queue1 -o '%D %f' -t idle").splitlines() == [
        "2 dynamic,t2.micro,t2micro",
        "1 (null)",
    ]
    assert out(b, "sinfo -h -o %N").splitlines() == ["gpu-1,queue1-dy-t2micro-[1-3],queue1-st-local-1"]


def test_node_oriented_and_long() -> None:
    b = two_partitions()
    lines = out(b, "sinfo -N").splitlines()
    assert lines[0] == "NODELIST             NODES PARTITION STATE "
    assert lines[1:] == [
        "gpu-1                    1       gpu mix   ",
        "queue1-dy-t2micro-1      1   queue1* alloc ",
        "queue1-dy-t2micro-2      1   queue1* drain ",
        "queue1-dy-t2micro-3      1   queue1* idle~ ",
        "queue1-st-local-1        1   queue1* idle  ",
        "queue1-st-local-1        1       gpu idle  ",
    ]
    long = out(b, "sinfo -l -p queue1").splitlines()
    assert (
        long[1]
        == "PARTITION AVAIL  TIMELIMIT   JOB_SIZE ROOT OVERSUBS     GROUPS  NODES       STATE NODELIST"
    )
    assert long[3].split() == ["queue1*", "up", "1:00:00", "1-infinite", "no", "NO", "all", "1", "drained",
                               "queue1-dy-t2micro-2"]  # fmt: skip
    assert len(long[3]) == len(long[1]) - len("NODELIST") + len("queue1-dy-t2micro-2")


def test_long_names_and_errors() -> None:
    b = two_partitions()
    assert out(b, "sinfo -h -p queue1 -O partition:8,statecomplete:25,nodelist").splitlines()[:2] == [
        "queue1* idle+cloud+powered_down  queue1-dy-t2micro-3 ",
        "queue1* idle+cloud+drain         queue1-dy-t2micro-2 ",
    ]
    res = run(b, "sinfo -t nonsense")
    assert res.exit_code == 1 and res.stderr.startswith('sinfo: error: Bad state string: "nonsense"\n')
    res = run(b, "sinfo -a -p gpu")
    assert (
        res.stderr
        == "sinfo: error: Conflicting options, -a and -p, specified. Please choose one or the other.\n"
    )
    res = run(b, "sinfo --nope")
    assert res.stderr == "sinfo: unrecognized option '--nope'\nTry \"sinfo --help\" for more information\n"
    assert run(b, "sinfo -V").stdout.startswith("slurm 22.05.8 (stratus ")


def test_node_state_encoding() -> None:
    n = cloud_node(1, "IDLE", ("POWERED_DOWN",))
    assert nodestate.encode(n) == nodestate.IDLE | nodestate.CLOUD | nodestate.POWERED_DOWN
    assert nodestate.state_complete(nodestate.encode(n)) == "IDLE+CLOUD+POWERED_DOWN"
    down = cloud_node(1, "DOWN", ("POWERED_DOWN", "NOT_RESPONDING"))
    assert nodestate.state_complete(nodestate.encode(down)) == "DOWN+CLOUD+POWERED_DOWN+NOT_RESPONDING"
    assert nodestate.encode(static_node("ALLOCATED", alloc_cpus=1)) & nodestate.BASE_MASK == nodestate.MIXED


def scancel_backend() -> FakeBackend:
    rows = [
        job(17, "hellojob.sh", "RUNNING", start="09:21:12"),
        job(18, "hellojob.sh", "PENDING", array=(18, -1), pending_ids=IndexSet.from_range(1, 9)),
        job(41, "wrap", "PENDING"),
        job(44, "wrap", "PENDING"),
    ]
    return FakeBackend(clock=NOW, job_rows=rows, node_rows=[static_node()])


def test_scancel_ids() -> None:
    ids = parse_job_ids(["18", "18_5", "18_*", "18_[1-3,7]", "41,44"])
    assert [
        (p.target.job_id, None if p.target.task_ids is None else list(p.target.task_ids), p.text) for p in ids
    ] == [
        (18, None, "18"),
        (18, [5], "18_5"),
        (18, None, "18_*"),
        (18, [1, 2, 3, 7], "18_[1-3,7]"),
        (41, None, "41"),
        (44, None, "44"),
    ]


@pytest.mark.parametrize(
    ("cmd", "stderr"),
    [
        ("scancel abc", "scancel: error: Invalid job id abc\n"),
        ("scancel 0", "scancel: error: Invalid job id 0\n"),
        ("scancel 18_[1-3],19", "scancel: error: Invalid job id 18_[1-3],19\n"),
        ("scancel 18x", "scancel: error: Invalid job id 18x\n"),
        ("scancel", "scancel: error: No job identification provided\n"),
        ("scancel -t bogus 18", "Invalid job state specified: bogus\n" + VALID_STATES),
        ("scancel -s NOPE 18", "Unknown job signal: NOPE\n"),
        ("scancel --nope 18", "scancel: unrecognized option '--nope'\n" + TRY),
    ],
)  # fmt: skip
def test_scancel_errors(cmd: str, stderr: str) -> None:
    b = scancel_backend()
    res = run(b, cmd)
    assert (res.stderr, res.exit_code) == (stderr, 1)
    assert b.cancels == []


def test_scancel_requests_and_verbose() -> None:
    b = scancel_backend()
    res = run(b, "scancel -v 41,44 -s usr1")
    assert res.stderr == "scancel: Signal 10 to job 41\nscancel: Signal 10 to job 44\n"
    assert b.cancels[-1].signal == "10"
    res = run(b, "scancel -u bob -t PD -p queue1 -n wrap")
    req = b.cancels[-1]
    assert (req.user, req.states, req.partitions, req.name, req.targets) == (
        "bob",
        ["PENDING"],
        ["queue1"],
        "wrap",
        [],
    )
    assert res == CommandResult()
    req, _ = parse_scancel(["--me", "-A", "PROJ", "-w", "n[1-2]"], make_ctx())  # type: ignore[misc]
    assert (req.user, req.account, req.nodes) == ("root", "proj", ["n1", "n2"])
    assert signal_number("SIGKILL") == 9 and signal_number("15") == 15 and signal_number("bogus") == 0
    res = run(b, "scancel 17 999999")
    assert res.stderr == "scancel: error: Kill job error on job id 999999: Invalid job id specified\n"
    assert res.exit_code == 1


def test_commands_dispatch() -> None:
    b = scancel_backend()
    assert run_command("sfoo", [], make_ctx(), b) == CommandResult(
        stderr="sfoo: command not found\n", exit_code=127
    )
    for name in ("sbatch", "squeue", "sinfo", "scancel"):
        res = run_command(name, ["--version"], make_ctx(), b)
        assert res.stdout.startswith("slurm 22.05.8 (stratus ") and res.exit_code == 0
        assert run_command(name, ["--help"], make_ctx(), b).stdout.startswith("Usage:")

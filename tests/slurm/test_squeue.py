"""squeue behaviour beyond the captures: formats, filters, sorting, arrays."""

from __future__ import annotations

from dataclasses import replace

import pytest

from stratus.engine.indexset import IndexSet
from stratus.slurm.views import JobRow, PartitionRow

from .helpers import FakeBackend, at, job, make_ctx, run, static_node

NOW = at("10:00:00")


def backend(rows: list[JobRow], parts: list[PartitionRow] | None = None) -> FakeBackend:
    node = static_node()
    return FakeBackend(
        clock=NOW,
        job_rows=rows,
        node_rows=[node],
        part_rows=parts or [PartitionRow("queue1", (node.name,), default=True)],
    )


def rows() -> list[JobRow]:
    return [
        job(10, "alpha", "RUNNING", start="09:59:00", user="alice", uid=1000, account="proj"),
        job(11, "beta", "PENDING", reason="Priority", user="bob", uid=1001),
        job(12, "gamma", "CONFIGURING", start="09:59:30", user="alice", uid=1000),
        job(13, "delta", "COMPLETED", start="09:50:00", end="09:55:00"),
        job(
            20,
            "arr",
            "PENDING",
            reason="Resources",
            array=(20, -1),
            pending_ids=IndexSet.from_range(40, 64),
            array_max_running=5,
        ),
        job(21, "arr", "RUNNING", start="09:59:57", array=(20, 30), prio_of=20),
    ]


def lines(b: FakeBackend, cmd: str) -> list[str]:
    res = run(b, cmd)
    assert res.exit_code == 0, res.stderr
    return res.stdout.splitlines()


def test_long_format_fields_for_clients() -> None:
    b = backend(rows())
    # PSI/J and Open OnDemand style: -O with default widths, concatenated columns.
    out = lines(b, "squeue -h -O JobArrayID,StateCompact,Reason -j 11")
    assert out == [f"{'11':<20}{'PD':<20}{'Priority':<20}"]
    out = lines(b, "squeue -h -O jobid:6,state:.10,username:.6 -j 10")
    assert out == ["10       RUNNING alice"]
    out = lines(b, "squeue -h -o '|%i|%A|%F|%K|%t|%T|%a|%u|%U|%j|%P|%D|%C|%m|%l|%M|%r|%R|%q|%y' -j 21")
    assert out == [
        "|20_30|21|20|30|R|RUNNING|(null)|root|0|arr|queue1|1|1|0|UNLIMITED|0:03|None|queue1-st-local-1|(null)|0"
    ]
    head = lines(b, "squeue -o 'x %.5i|%3j|%10P' -j 10")[0]
    assert head == "x JOBID|NAM|PARTITION "
    # Slurm has no "-" flag: "%-3j" is not a field and prints as written.
    assert lines(b, "squeue -h -o '%i|%-3j' -j 10") == ["10|%-3j"]


def test_array_display() -> None:
    b = backend(rows())
    assert lines(b, "squeue -h -o %i -j 20") == ["20_[40-64%5]", "20_30"]
    assert lines(b, "squeue -h -o %i -j 20 -r")[:2] == ["20_40", "20_41"]
    assert len(lines(b, "squeue -h -o %i -r -j 20")) == 26
    assert lines(b, "squeue -h -o %i -j 20_45") == ["20_45"]
    assert lines(b, "squeue -h -o %i -j 20_45,20_47") == ["20_[45,47]"]
    assert lines(b, "squeue -h -o %i -j 20_[41-43]") == ["20_[41-43]"]
    assert lines(b, "squeue -h -o %i -j 20_30") == ["20_30"]
    step = backend([job(5, "s", "PENDING", array=(5, -1), pending_ids=IndexSet.from_range(1, 999, 2))])
    assert lines(step, "squeue -h -o %i") == ["5_[1-999:2]"]
    many = IndexSet.from_ids(range(0, 400, 3)).union(IndexSet.from_ids([1]))
    long = backend([job(6, "s", "PENDING", array=(6, -1), pending_ids=many)])
    assert lines(long, "squeue -h -o %i") == ["6_[0-1,3,6,9,12,15,18,21,24,27,"]  # 31 characters
    env = make_ctx(SLURM_BITSTR_LEN="0")
    full = run(long, "squeue -h -o %i", env).stdout.strip()
    assert full.startswith("6_[0-1,3,6,") and full.endswith(",399]")


def test_split_pending_tasks_fold_back_with_merged_reasons() -> None:
    b = backend(
        [
            job(
                20,
                "arr",
                "PENDING",
                reason="Resources",
                array=(20, -1),
                pending_ids=IndexSet.from_range(5, 9),
            ),
            job(25, "arr", "PENDING", reason="BeginTime", array=(20, 2), prio_of=20),
            job(26, "arr", "PENDING", reason="Resources", array=(20, 3), prio_of=20),
        ]
    )
    assert lines(b, "squeue -h -o '%i %r'") == ["20_[2-3,5-9] Resources,BeginTime"]
    assert lines(b, "squeue -h -r -o '%i %r'")[:2] == ["20_2 BeginTime", "20_3 Resources"]


def test_filters() -> None:
    b = backend(rows())
    assert lines(b, "squeue -h -o %i -u alice") == ["12", "10"]
    assert lines(b, "squeue -h -o %i -u 1001") == ["11"]
    assert lines(b, "squeue -h -o %i -t R") == ["10", "20_30"]  # CONFIGURING is not R, as in Slurm
    assert lines(b, "squeue -h -o %i -t CF,cd") == ["13", "12"]
    assert lines(b, "squeue -h -o %i -n BETA") == ["11"]
    assert lines(b, "squeue -h -o %i -A PROJ") == ["10"]
    assert lines(b, "squeue -h -o %i -w queue1-st-local-1 -t all") == ["13", "12", "10", "20_30"]
    assert lines(b, "squeue -h -o %i -p other") == []
    assert lines(b, "squeue -h -o %i -j 10,11") == ["11", "10"]
    assert lines(b, "squeue -h -o %i -L lic") == []
    alice = replace(make_ctx(), user="alice", uid=1000)
    assert run(b, "squeue -h -o %i --me", alice).stdout.split() == ["12", "10"]


def test_sorting() -> None:
    b = backend(rows())
    # Compact states compare as strings: CF < PD < R; then priority, highest first.
    assert lines(b, "squeue -h -o %i") == ["12", "11", "20_[40-64%5]", "10", "20_30"]
    assert lines(b, "squeue -h -o %i -S i") == ["10", "11", "12", "20_30", "20_[40-64%5]"]
    assert lines(b, "squeue -h -o %i -S -i") == ["20_[40-64%5]", "20_30", "12", "11", "10"]
    # Ties keep the start-time order: the running task before the pending rest.
    assert lines(b, "squeue -h -o %i -S j") == ["10", "20_30", "20_[40-64%5]", "11", "12"]
    assert lines(b, "squeue -h -o %i -S -M,i")[0] == "10"
    res = run(b, "squeue -S q")
    assert (res.stderr, res.exit_code) == ("squeue: error: Invalid sort specification: q\n", 1)


def test_priority_per_partition() -> None:
    parts = [
        PartitionRow("a", ("queue1-st-local-1",), priority_tier=1),
        PartitionRow("b", (), priority_tier=9),
    ]
    b = backend([job(30, "x", "PENDING", partition="a,b"), job(31, "y", "PENDING", partition="a")], parts)
    assert lines(b, "squeue -h -o '%i %P'") == ["31 a", "30 a,b"]  # "a" < "a,b"
    assert lines(b, "squeue -h -P -o '%i %P'") == ["30 a", "31 a", "30 b"]


def test_misc_forms() -> None:
    b = backend(rows())
    assert run(b, "squeue -v -h -o %i -j 10").stdout.splitlines() == [
        f"last_update_time={int(NOW)} records=6",
        "10",
    ]
    assert run(b, "squeue -v -o %i -j 10").stdout.splitlines()[0] == "Sun Nov 22 10:00:00 2026"
    assert lines(b, "squeue --start")[0].split() == [
        "JOBID", "PARTITION", "NAME", "USER", "ST", "START_TIME", "NODES", "SCHEDNODES", "NODELIST(REASON)",
    ]  # fmt: skip
    assert lines(b, "squeue -s") == ["         STEPID     NAME PARTITION     USER      TIME NODELIST"]
    assert lines(b, "squeue -V")[0].startswith("slurm 22.05.8")
    assert lines(b, "squeue --usage")[0].startswith("Usage: squeue")


@pytest.mark.parametrize(
    ("cmd", "stderr"),
    [
        ("squeue -j abc", "squeue: error: Invalid job id: abc\n"),
        ("squeue -j 0", "squeue: error: Invalid job id: 0\n"),
        ("squeue -t bogus", "squeue: error: Invalid job state specified: bogus\n"),
        ("squeue --bogus", "squeue: unrecognized option '--bogus'\n" + 'Try "squeue --help" for'),
        ("squeue -o %i -l", "squeue: fatal: Options -o(--format) and -l(--long) are mutually exclusive. "
         "Please remove one and retry.\n"),
        ("squeue -o %i -O jobid", "squeue: error: -O (--Format) is incompatible with -o (--format)\n"),
        ("squeue stray", "squeue: error: Unrecognized option: stray\n"),
        ("squeue -M elsewhere", "squeue: error: 'elsewhere' can't be reached now, or it is an invalid entry"),
    ],
)  # fmt: skip
def test_errors(cmd: str, stderr: str) -> None:
    res = run(backend(rows()), cmd)
    assert res.exit_code == 1
    assert res.stderr.startswith(stderr)


def test_clusters() -> None:
    b = backend(rows())
    assert lines(b, "squeue -M oracle -o %i -j 10") == ["CLUSTER: oracle", "JOBID", "10"]
    assert lines(b, "squeue -M all -h -o %i -j 10") == ["10"]
    res = run(b, "squeue -h -o %i -j 10", make_ctx(SLURM_CLUSTERS="nope"))
    assert res.stderr.endswith(
        "invalid entry for SLURM_CLUSTERS.  Use 'sacctmgr list clusters' to see available clusters.\n"
    )


def test_invalid_format_letters_are_reported_not_fatal() -> None:
    res = run(backend(rows()), "squeue -h -o '%i %!' -j 10")
    assert res.stdout == "10 %!\n"
    assert res.stderr == "squeue: error: Invalid job format specification: !\n"
    res = run(backend(rows()), "squeue -h -O jobid:4,nosuch -j 10")
    assert res.stdout == "10  \n"
    assert res.stderr == "squeue: error: Invalid job format specification: nosuch\n"


def test_single_unknown_job_with_long_prints_the_date_first() -> None:
    res = run(backend(rows()), "squeue -l -j 999")
    assert res.stdout.endswith(" 2026\n") and res.exit_code == 1
    assert res.stderr == "slurm_load_jobs error: Invalid job id specified\n"
    assert run(backend(rows()), "squeue -j 998,999").exit_code == 0  # several ids: no error, as in Slurm


def test_client_invocations() -> None:
    b = backend(rows())
    # PSI/J's status query.
    out = run(b, "squeue -O JobArrayID,StateCompact,Reason -t all -j 10,11,13").stdout.splitlines()
    assert out[0] == f"{'JOBID':<20}{'ST':<20}{'REASON':<20}"
    assert [line.split() for line in out[1:]] == [
        ["13", "CD", "None"],
        ["11", "PD", "Priority"],
        ["10", "R", "None"],
    ]
    # Parsl's.
    assert run(b, "squeue --noheader --format='%i %t' --job '10,11'").stdout == "11 PD\n10 R\n"
    # Open OnDemand's: every letter, record and unit separators.
    letters = "aABcCdDeEfFgGhHiIjJkKlLmMnNoOqPQrRStTuUvVwWxXyYzZb"
    fmt = "\x1e" + "\x1f".join(f"%{c}" for c in letters)
    res = run(b, f"squeue --all --states=all --noconvert -o '{fmt}' -j 20")
    records = res.stdout.split("\x1e")[1:]
    assert res.stderr == "" and len(records) == 3  # header, the pending rest (PD sorts before R), 20_30
    assert all(len(r.rstrip("\n").split("\x1f")) == len(letters) for r in records)
    pending = dict(zip(letters, records[1].rstrip("\n").split("\x1f"), strict=True))
    assert (pending["i"], pending["K"], pending["t"], pending["r"], pending["R"]) == (
        "20_[40-64%5]",
        "40-64%5",
        "PD",
        "Resources",
        "(Resources)",
    )

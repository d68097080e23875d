"""squeue against the real Slurm 22.05 captures, byte for byte.

Each test rebuilds the cluster state of a capture as job rows and compares stratus's output
with the captured text. Where Slurm's order among rows tied on every sort key comes from its
internal job table (completed tasks of arrays 7, 8 and 27 that started in the same second),
only those rows are compared without regard to order; everything else is exact.
"""

from __future__ import annotations

import re

from stratus.engine.indexset import IndexSet

from .helpers import (
    STATIC,
    FakeBackend,
    at,
    find,
    job,
    parse_capture,
    queue1,
    ref_path,
    run,
    static_node,
)

YEAR_MIN = 365 * 24 * 60
HASH_ORDERED = {"7", "8", "27"}  # arrays whose same-second tasks Slurm lists in hash order


def normalise_ties(text: str) -> str:
    """Sort runs of consecutive lines belonging to one hash-ordered array (7_x, 8_x, 27_x)."""
    lines = text.split("\n")
    out: list[str] = []
    run_key: str | None = None
    run_lines: list[str] = []

    def flush() -> None:
        out.extend(sorted(run_lines))
        run_lines.clear()

    for line in lines:
        m = re.match(r"\s*(\d+)_\d+\s", line)
        key = m.group(1) if m and m.group(1) in HASH_ORDERED else None
        if key != run_key:
            flush()
            run_key = key
        if key:
            run_lines.append(line)
        else:
            out.append(line)
    flush()
    return "\n".join(out)


def finished_early_jobs() -> list:
    """Jobs 1-15 of the captures, all COMPLETED before the array experiments."""
    rows = [job(1, "envjob.sh", "COMPLETED", start="09:20:41", end="09:20:41")]
    rows += [
        job(2 + t, "envjob.sh", "COMPLETED", start="09:20:43", end="09:20:43", array=(2, t), prio_of=2)
        for t in (0, 1)
    ]
    rows += [
        job(4, "wrap", "COMPLETED", start="09:20:45", end="09:20:45"),
        job(5, "named", "COMPLETED", start="09:20:45", end="09:20:45"),
        job(6, "sbatch", "COMPLETED", start="09:20:47", end="09:20:47"),
    ]
    rows += [
        job(70 + t, "wrap", "COMPLETED", start="09:20:49", end="09:20:49", array=(7, t), prio_of=7)
        for t in (1, 2, 3)
    ]
    rows += [
        job(80 + t, "wrap", "COMPLETED", start="09:20:51", end="09:20:51", array=(8, t), prio_of=8)
        for t in (1, 5, 7, 9, 11)
    ]
    rows.append(job(15, "optjob", "COMPLETED", start="09:21:00", end="09:21:01"))
    return rows


def state_21(clock: str, reason: str) -> FakeBackend:
    """After submitting 16 (long job), 17 (hello) and the 65-task array 18."""
    rows = [
        *finished_early_jobs(),
        job(16, "longjob.sh", "RUNNING", start="09:21:09", time_limit_min=YEAR_MIN),
        job(17, "hellojob.sh", "RUNNING", start="09:21:12"),
        job(
            18,
            "hellojob.sh",
            "PENDING",
            reason=reason,
            array=(18, -1),
            pending_ids=IndexSet.from_range(0, 64),
        ),
    ]
    nodes = [static_node("ALLOCATED", alloc_cpus=2)]
    return FakeBackend(clock=at(clock), job_rows=rows, node_rows=nodes, part_rows=[queue1(nodes)])


def test_capture_21_squeue_forms() -> None:
    caps = parse_capture(ref_path("21_squeue_running_and_pending_array.txt"))
    b = state_21("09:21:14", "None")
    for cmd in (
        "squeue",
        "squeue -r",
        "squeue -l",
        "squeue -o '%.18i %.9P %.8j %.8u %.8T %.10M %.9l %.6D %R'",
    ):
        cap = find(caps, cmd)
        res = run(b, cmd)
        assert (res.stdout, res.stderr, res.exit_code) == (cap.stdout, cap.stderr, cap.exit_code), cmd
    later = state_21("09:21:16", "Resources")
    assert run(later, "squeue").stdout == find(caps, "squeue", 1).stdout


def state_22(remaining: IndexSet) -> FakeBackend:
    """16 cancelled, 18_0 running as job 19, the rest of array 18 pending."""
    rows = [
        *finished_early_jobs(),
        job(16, "longjob.sh", "CANCELLED", start="09:21:09", end="09:21:16", time_limit_min=YEAR_MIN),
        job(17, "hellojob.sh", "RUNNING", start="09:21:12"),
        job(19, "hellojob.sh", "RUNNING", start="09:21:16", array=(18, 0), prio_of=18),
        job(18, "hellojob.sh", "PENDING", reason="Resources", array=(18, -1), pending_ids=remaining),
    ]
    nodes = [static_node("ALLOCATED", alloc_cpus=2)]
    return FakeBackend(clock=at("09:21:16"), job_rows=rows, node_rows=nodes, part_rows=[queue1(nodes)])


def test_capture_22_task_started() -> None:
    caps = parse_capture(ref_path("22_scontrol_show_job_array.txt"))
    res = run(state_22(IndexSet.from_range(1, 64)), "squeue")
    assert res.stdout == find(caps, "squeue").stdout


def test_capture_23_after_cancelling_a_range() -> None:
    caps = parse_capture(ref_path("23_scancel_array_range.txt"))
    b = state_22(IndexSet.from_range(1, 9))
    assert run(b, "squeue").stdout == find(caps, "squeue").stdout
    expected = find(caps, "squeue -t all").stdout
    assert normalise_ties(run(b, "squeue -t all").stdout) == normalise_ties(expected)


def state_25() -> FakeBackend:
    """Everything finished; 18_5 and 18_6 were cancelled while pending and are gone."""
    rows = [
        *finished_early_jobs(),
        job(16, "longjob.sh", "CANCELLED", start="09:21:09", end="09:21:16", time_limit_min=YEAR_MIN),
        job(17, "hellojob.sh", "COMPLETED", start="09:21:12", end="09:21:18"),
    ]
    start = at("09:21:16")
    for k, task in enumerate((0, 1, 2, 3, 4, 7, 8, 9)):
        begin = start + 5 * k
        rows.append(
            job(
                19 + k,
                "hellojob.sh",
                "COMPLETED",
                array=(18, task),
                prio_of=18,
                start_time=begin,
                end_time=begin + 5,
            )
        )
    nodes = [static_node()]
    return FakeBackend(clock=at("09:22:00"), job_rows=rows, node_rows=nodes, part_rows=[queue1(nodes)])


def test_capture_25_completed_jobs() -> None:
    caps = parse_capture(ref_path("25_completed_jobs.txt"))
    b = state_25()
    assert run(b, "squeue").stdout == find(caps, "squeue").stdout
    expected = find(caps, "squeue -t all").stdout
    assert normalise_ties(run(b, "squeue -t all").stdout) == normalise_ties(expected)


def state_32(final: bool) -> FakeBackend:
    """The job-state experiment: cancelled, completed, failed and a running/timed-out job."""
    rows = [*finished_early_jobs(), *state_25().job_rows[len(finished_early_jobs()) :]]
    cancelled = [
        job(26, "wrap", "CANCELLED", array=(26, -1), pending_ids=IndexSet.from_range(0, 1000)),
        job(29, "wrap", "CANCELLED", reason="Resources", array=(27, 3), prio_of=27),
        job(31, "wrap", "CANCELLED"),
        job(32, "wrap", "CANCELLED", reason="PartitionConfig"),
        job(33, "wrap", "CANCELLED", reason="PartitionConfig", num_nodes=2),
        job(34, "wrap", "CANCELLED", reason="PartitionConfig", num_nodes=2),
        job(41, "wrap", "CANCELLED", reason="Dependency"),
        job(44, "wrap", "CANCELLED", reason="Dependency"),
    ]
    completed = [
        job(27, "wrap", "COMPLETED", start="09:21:40", end="09:21:40", array=(27, 1), prio_of=27),
        job(28, "wrap", "COMPLETED", start="09:21:40", end="09:21:40", array=(27, 2), prio_of=27),
        job(30, "wrap", "COMPLETED", start="09:21:42", end="09:21:42"),
        job(36, "wrap", "COMPLETED", start="09:21:50", end="09:21:50"),
        job(37, "wrap", "COMPLETED", start="09:21:52", end="09:21:52"),
        job(42, "wrap", "COMPLETED", start="09:22:06", end="09:22:06"),
        job(43, "wrap", "COMPLETED", start="09:22:06", end="09:22:06"),
    ]
    failed = [
        job(35, "wrap", "FAILED", reason="BadConstraints"),
        job(40, "wrap", "FAILED", reason="NonZeroExitCode", start="09:22:03", end="09:22:06"),
        job(45, "wrap", "FAILED", reason="NonZeroExitCode", start="09:22:16", end="09:22:16"),
    ]
    if final:
        last = job(
            46, "wrap", "TIMEOUT", reason="TimeLimit", start="09:22:16", end="09:23:39", time_limit_min=1
        )
    else:
        last = job(46, "wrap", "RUNNING", start="09:22:16", time_limit_min=1)
    rows = rows + cancelled + completed + failed + [last]
    nodes = [static_node()]
    return FakeBackend(clock=at("09:23:40"), job_rows=rows, node_rows=nodes, part_rows=[queue1(nodes)])


def test_capture_32_job_states() -> None:
    caps = parse_capture(ref_path("32_job_states.txt"))
    cmd = "squeue -t all -o '%.10i %.12T %.10r %.6D'"
    for nth, final in ((0, False), (1, True)):
        expected = find(caps, cmd, nth).stdout
        got = run(state_32(final), cmd).stdout
        assert normalise_ties(got) == normalise_ties(expected)


def test_capture_31_dependencies() -> None:
    caps = parse_capture(ref_path("31_dependency.txt"))
    pending = [
        job(40, "wrap", "PENDING"),
        job(41, "wrap", "PENDING", reason="Dependency"),
        job(42, "wrap", "PENDING", reason="Dependency"),
        job(43, "wrap", "PENDING", reason="Dependency"),
    ]
    b = FakeBackend(clock=at("09:22:01"), job_rows=pending, node_rows=[static_node()])
    b.part_rows = [queue1(b.node_rows)]
    squeues = [c for c in caps if c.cmd == "squeue"]
    assert run(b, "squeue").stdout == squeues[0].stdout
    b.job_rows = [job(41, "wrap", "PENDING", reason="DependencyNeverSatisfied")]
    assert run(b, "squeue").stdout == squeues[1].stdout
    b.job_rows.append(job(44, "wrap", "PENDING", reason="DependencyNeverSatisfied"))
    assert run(b, "squeue").stdout == squeues[3].stdout
    b.job_rows = []
    assert run(b, "squeue").stdout == squeues[4].stdout


def test_capture_20_and_02() -> None:
    caps = parse_capture(ref_path("20_running_one_job.txt"))
    b = FakeBackend(
        clock=at("09:21:10"),
        job_rows=[job(16, "longjob.sh", "RUNNING", start="09:21:09", time_limit_min=YEAR_MIN)],
        node_rows=[static_node("MIXED", alloc_cpus=1)],
    )
    b.part_rows = [queue1(b.node_rows)]
    assert run(b, "squeue").stdout == find(caps, "squeue").stdout
    empty = parse_capture(ref_path("02_squeue_empty.txt"))
    b = FakeBackend(clock=at("09:20:40"), node_rows=[static_node()])
    b.part_rows = [queue1(b.node_rows)]
    for cap in empty:
        res = run(b, cap.cmd)
        assert (res.stdout, res.exit_code) == (cap.stdout, cap.exit_code), cap.cmd


def test_capture_30_squeue_errors_and_single_jobs() -> None:
    caps = parse_capture(ref_path("30_errors.txt"))
    b = state_32(False)
    for cmd in ("squeue -j 999999", "squeue -j abc", "squeue -p nosuchpartition"):
        cap = find(caps, cmd)
        res = run(b, cmd)
        assert (res.stdout, res.stderr, res.exit_code) == (cap.stdout, cap.stderr, cap.exit_code), cmd
    # The "accepted; squeue -j N -t all -o '%i %T %r'" notes of the capture.
    b.job_rows = [
        job(26, "wrap", "PENDING", array=(26, -1), pending_ids=IndexSet.from_range(0, 1000)),
        job(27, "wrap", "COMPLETED", start="09:21:40", end="09:21:40", array=(27, 1), prio_of=27),
        job(28, "wrap", "COMPLETED", start="09:21:40", end="09:21:40", array=(27, 2), prio_of=27),
        job(29, "wrap", "PENDING", reason="Resources", array=(27, 3), prio_of=27),
        job(32, "wrap", "PENDING", reason="PartitionConfig"),
    ]
    fmt = "-t all -o '%i %T %r' -h"
    assert run(b, f"squeue -j 26 {fmt}").stdout == "26_[0-1000] PENDING None\n"
    got = run(b, f"squeue -j 27 {fmt}").stdout.splitlines()
    assert sorted(got[:2]) == ["27_1 COMPLETED None", "27_2 COMPLETED None"]
    assert got[2:] == ["27_3 PENDING Resources"]
    assert run(b, f"squeue -j 32 {fmt}").stdout == "32 PENDING PartitionConfig\n"


def test_capture_40_02_partition_node_limit() -> None:
    caps = parse_capture(ref_path("40_cloud_02_errors.txt"))
    cap = caps[-1]
    expected = cap.stdout.split("\n", 1)[1]  # the first line is the echoed comment
    b = FakeBackend(
        clock=at("09:24:40"),
        job_rows=[job(3, "wrap", "PENDING", reason="PartitionNodeLimit", num_nodes=12)],
        node_rows=[static_node()],
    )
    b.part_rows = [queue1(b.node_rows)]
    assert run(b, "squeue -j 3").stdout == expected


def test_nodelist_of_a_running_job_is_the_static_node() -> None:
    b = state_21("09:21:14", "None")
    assert run(b, "squeue -h -o %N -j 16").stdout == f"{STATIC}\n"

"""scontrol against the real Slurm 22.05 captures, byte for byte.

Each test rebuilds the cluster of a capture as rows of the in-memory backend and compares
scontrol's output with the captured text. Values stratus does not keep are printed plausibly
(documented in ``stratus.slurm.scontrol``) and are the only ones masked before comparing:
``AllocNode:Sid`` (the submitting host and session) and ``Scheduler`` (main or backfill pass)
everywhere, ``Port`` of the CLOUD nodes (one slurmd port each in the capture), and
``LastSchedEval`` of the one job (9 of the resume-timeout capture) whose last scheduling pass
predates its requeue.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from stratus.engine.indexset import IndexSet
from stratus.slurm.views import JobRow, NodeRow

from .helpers import (
    STATIC,
    FakeBackend,
    at,
    cloud_node,
    find,
    job,
    parse_capture,
    queue1,
    ref_path,
    run,
    static_node,
)

YEAR_MIN = 365 * 24 * 60
WORK = "/home/user/work"
OS_LINE = "Linux 6.18.44-fc-v669 #1 SMP PREEMPT_DYNAMIC @0"


def mask(text: str, *, last_sched: bool = False) -> str:
    """Hide the values stratus does not keep (see the module docstring)."""
    text = re.sub(r"AllocNode:Sid=\S+", "AllocNode:Sid=*", text)
    text = re.sub(r"Scheduler=\S+", "Scheduler=*", text)
    text = re.sub(r" Port=\d+", "", text)
    if last_sched:
        text = re.sub(r"LastSchedEval=\S+", "LastSchedEval=*", text)
    return text


def grep(text: str, pattern: str) -> str:
    """``| grep -E pattern`` over a command's output."""
    return "".join(line + "\n" for line in text.splitlines() if re.search(pattern, line))


def cluster(clock: str, jobs: Sequence[JobRow] = (), nodes: Sequence[NodeRow] | None = None) -> FakeBackend:
    b = FakeBackend(clock=at(clock), job_rows=list(jobs))
    b.node_rows = list(nodes) if nodes is not None else [registered_static()]
    b.part_rows = [queue1(b.node_rows)]
    return b


def registered_static(**kw: object) -> NodeRow:
    """The static node as scontrol saw it in capture 03: agent up, measured load and memory."""
    base: dict[str, object] = {
        "arch": "x86_64",
        "os": OS_LINE,
        "cpu_load": 0.06,
        "free_memory_mb": 23895,
        "addr": "127.0.0.1",
        "hostname": "vm",
        "boot_time": at("07:10:28"),
        "agent_start_time": at("09:20:40"),
        "last_busy_time": at("09:20:40"),
    }
    base.update(kw)
    return static_node(**base)


def batch_job(job_id: int, name: str, state: str, **kw: object) -> JobRow:
    """A job of the captures as the backend reports it (group and eligible time known)."""
    kw.setdefault("group", "root")
    submit = str(kw.get("submit", "09:21:00"))
    kw.setdefault("eligible_time", at(submit))
    return job(job_id, name, state, **kw)  # type: ignore[arg-type]


def check(b: FakeBackend, cmd: str, capture: str, *, nth: int = 0, last_sched: bool = False) -> None:
    cap = find(parse_capture(ref_path(capture)), cmd, nth)
    res = run(b, cmd)
    got = (mask(res.stdout, last_sched=last_sched), res.stderr, res.exit_code)
    assert got == (mask(cap.stdout, last_sched=last_sched), cap.stderr, cap.exit_code), cmd


# -- jobs ----------------------------------------------------------------------------------------


def longjob(state: str = "RUNNING", **kw: object) -> JobRow:
    return batch_job(
        16,
        "longjob.sh",
        state,
        start="09:21:09",
        submit="09:21:07",
        time_limit_min=YEAR_MIN,
        command=f"{WORK}/longjob.sh",
        batch_host=STATIC,
        **kw,
    )


def test_capture_20_running_job() -> None:
    check(cluster("09:21:10", [longjob()]), "scontrol show job 16", "20_running_one_job.txt")


def array18(pending: IndexSet, reason: str = "Resources") -> JobRow:
    """The pending remainder of array 18 (hellojob.sh, 65 tasks)."""
    return batch_job(
        18,
        "hellojob.sh",
        "PENDING",
        submit="09:21:13",
        eligible_time=at("09:21:15"),
        reason=reason,
        array=(18, -1),
        pending_ids=pending,
        command=f"{WORK}/hellojob.sh",
    )


def task18_0(state: str = "RUNNING", **kw: object) -> JobRow:
    return batch_job(
        19,
        "hellojob.sh",
        state,
        start="09:21:16",
        submit="09:21:13",
        eligible_time=at("09:21:15"),
        array=(18, 0),
        prio_of=18,
        command=f"{WORK}/hellojob.sh",
        batch_host=STATIC,
        **kw,
    )


def test_capture_22_pending_array_remainder_and_one_task_of_it() -> None:
    b = cluster("09:21:15", [longjob(), array18(IndexSet.from_range(0, 64))])
    check(b, "scontrol show job 18_5", "22_scontrol_show_job_array.txt")
    check(b, "scontrol show job 18", "22_scontrol_show_job_array.txt")


def test_capture_22_running_task_and_oneliner() -> None:
    b = cluster("09:21:16", [array18(IndexSet.from_range(1, 64)), task18_0()])
    check(b, "scontrol show job 18_0", "22_scontrol_show_job_array.txt")
    check(b, "scontrol -o show job 18_0", "22_scontrol_show_job_array.txt")


def test_capture_23_cancelled_pending_task_not_found() -> None:
    b = cluster("09:21:16", [array18(IndexSet.from_range(1, 9)), task18_0()])
    check(b, "scontrol show job 18_20", "23_scancel_array_range.txt")


def test_capture_25_completed_and_cancelled() -> None:
    hello = batch_job(
        17,
        "hellojob.sh",
        "COMPLETED",
        start="09:21:12",
        end="09:21:18",
        submit="09:21:10",
        command=f"{WORK}/hellojob.sh",
        batch_host=STATIC,
    )
    cancelled = longjob("CANCELLED", end="09:21:16", exit_signal=15)
    b = cluster("09:21:30", [cancelled, hello])
    check(b, "scontrol show job 17", "25_completed_jobs.txt")
    check(b, "scontrol show job 16", "25_completed_jobs.txt")


def test_capture_30_unknown_job_and_partition() -> None:
    b = cluster("09:22:00", [longjob()])
    check(b, "scontrol show job 999999", "30_errors.txt")
    check(b, "scontrol show partition nosuchpartition", "30_errors.txt")


def wrap(job_id: int, state: str, **kw: object) -> JobRow:
    """A ``--wrap`` job. The dependency, state and cloud captures numbered their jobs apart from
    the rest, so their priorities are given as captured."""
    return batch_job(job_id, "wrap", state, **kw)


def test_capture_31_dependencies() -> None:
    pending41 = wrap(
        41, "PENDING", submit="09:22:01", eligible_time=None, reason="Dependency",
        dependency="afterok:40(unfulfilled)", priority=4294901737,
    )  # fmt: skip
    check(cluster("09:22:02", [pending41]), "scontrol show job 41", "31_dependency.txt")
    failed40 = wrap(
        40, "FAILED", submit="09:22:01", start="09:22:03", end="09:22:06", reason="NonZeroExitCode",
        exit_code=1, batch_host=STATIC, priority=4294901738,
    )  # fmt: skip
    never41 = wrap(
        41, "PENDING", submit="09:22:01", eligible_time=None, reason="DependencyNeverSatisfied",
        dependency="afterok:40(failed)", priority=4294901737,
    )  # fmt: skip
    b = cluster("09:22:07", [failed40, never41])
    check(b, "scontrol show job 40", "31_dependency.txt")
    check(b, "scontrol show job 41", "31_dependency.txt", nth=1)


def test_capture_32_failed_and_timeout() -> None:
    failed = wrap(
        45, "FAILED", submit="09:22:13", start="09:22:16", end="09:22:16", reason="NonZeroExitCode",
        exit_code=3, batch_host=STATIC, priority=4294901733,
    )  # fmt: skip
    running = wrap(
        46, "RUNNING", submit="09:22:13", start="09:22:16", time_limit_min=1, batch_host=STATIC,
        priority=4294901732,
    )  # fmt: skip
    check(cluster("09:22:17", [failed, running]), "scontrol show job 45", "32_job_states.txt")
    timeout = wrap(
        46, "TIMEOUT", submit="09:22:13", start="09:22:16", end="09:23:39", reason="TimeLimit",
        time_limit_min=1, exit_signal=15, batch_host=STATIC, priority=4294901732,
    )  # fmt: skip
    check(cluster("09:23:45", [failed, timeout]), "scontrol show job 46", "32_job_states.txt")


def test_captures_30_33_state_lines() -> None:
    """The ``scontrol show job N | grep JobState:`` lines noted after accepted submissions."""
    held_back = wrap(32, "PENDING", reason="PartitionConfig", cpus_per_task=3)
    res = run(cluster("09:22:00", [held_back]), "scontrol show job 32")
    notes = ref_path("30_errors.txt").read_text()
    assert "32 PENDING PartitionConfig\n" + grep(res.stdout, "JobState|Requeue=") in notes
    done = wrap(48, "COMPLETED", start="09:22:20", end="09:22:20")
    res = run(cluster("09:22:22", [done]), "scontrol show job 48")
    notes = ref_path("33_enforce_part_limits_all.txt").read_text()
    assert "48 COMPLETED None\n" + grep(res.stdout, "JobState|Requeue=") in notes


# -- nodes and partitions ------------------------------------------------------------------------


def test_capture_03_show_node_and_partition() -> None:
    b = cluster("09:20:40")
    check(b, "scontrol show node", "03_scontrol_show_node_partition.txt")
    check(b, "scontrol show partition", "03_scontrol_show_node_partition.txt")


def cloud_cluster(clock: str, first: NodeRow | None = None, jobs: Sequence[JobRow] = ()) -> FakeBackend:
    """Ten CLOUD nodes then the static one, in the node table order of the cloud captures."""
    addr = {"addr": "127.0.0.1", "hostname": "vm"}
    nodes = [first or cloud_node(1, **addr)] + [cloud_node(i, **addr) for i in range(2, 11)]  # type: ignore[arg-type]
    return cluster(clock, jobs, [*nodes, registered_static()])


def test_capture_40_01_powered_down_cloud_node_and_partition() -> None:
    b = cloud_cluster("09:24:34")
    check(b, "scontrol show node queue1-dy-t2micro-1", "40_cloud_01_idle.txt")
    check(b, "scontrol show partition queue1", "40_cloud_01_idle.txt")
    cap = find(parse_capture(ref_path("40_cloud_01_idle.txt")),
               "scontrol show node queue1-st-local-1 | grep -E 'State|Weight'")  # fmt: skip
    assert grep(run(b, "scontrol show node queue1-st-local-1").stdout, "State|Weight") == cap.stdout


def test_capture_40_03_grep_lines() -> None:
    pending5 = wrap(
        5, "PENDING", submit="09:24:43", array=(5, -1), pending_ids=IndexSet.from_range(1, 3), reason="None"
    )
    b = cloud_cluster("09:24:44", jobs=[pending5])
    caps = parse_capture(ref_path("40_cloud_03_cycle.txt"))
    node = find(caps, "scontrol show node queue1-dy-t2micro-1 | grep -E 'State|Reason'")
    assert grep(run(b, "scontrol show node queue1-dy-t2micro-1").stdout, "State|Reason") == node.stdout
    task = find(caps, "scontrol show job 5_1 | grep -E 'JobState|NodeList|Reason'")
    assert grep(run(b, "scontrol show job 5_1").stdout, "JobState|NodeList|Reason") == task.stdout


def test_capture_40_04_requeued_job_and_down_node() -> None:
    down = cloud_node(
        1,
        "DOWN",
        flags=("POWERED_DOWN", "NOT_RESPONDING"),
        addr="127.0.0.1",
        hostname="vm",
        arch="x86_64",
        os=OS_LINE,
        cpu_load=0.08,
        free_memory_mb=23879,
        boot_time=at("09:24:50"),
        agent_start_time=at("09:24:52"),
        reason="ResumeTimeout reached",
        reason_user="root",
        reason_time=at("09:28:37"),
    )
    requeued = wrap(
        9, "PENDING", submit="09:28:37", eligible_time=at("09:30:38"), start="09:30:38", restarts=1,
        workdir="/home/user/tmp", priority=4294901754,
    )  # fmt: skip
    b = cloud_cluster("09:28:43", first=down, jobs=[requeued])
    check(b, "scontrol show job 9", "40_cloud_04_resume_timeout.txt", last_sched=True)
    cap = find(parse_capture(ref_path("40_cloud_04_resume_timeout.txt")),
               "scontrol show node $(sinfo -h -t down -N -o %N | head -1)")  # fmt: skip
    res = run(b, "scontrol show node queue1-dy-t2micro-1")
    assert (mask(res.stdout), res.exit_code) == (mask(cap.stdout), 0)


# -- config -----------------------------------------------------------------------------------


def test_capture_04_config_lines_stratus_has() -> None:
    cap = find(parse_capture(ref_path("04_scontrol_show_config.txt")), "scontrol show config")
    b = cluster("09:20:40")
    b.config = {"MinJobAge": "300 sec", "SuspendTime": "INFINITE", "PrivateData": "cloud"}
    out = run(b, "scontrol show config").stdout
    lines = out.splitlines()
    assert lines[0] == cap.stdout.splitlines()[0]
    body = lines[1 : lines.index("")]
    keys = {"ClusterName", "MaxArraySize", "MinJobAge", "PrivateData", "SLURM_VERSION", "SuspendTime"}
    assert body == [line for line in cap.stdout.splitlines()[1:] if line.split(" = ")[0].rstrip() in keys]
    assert re.fullmatch(r"Slurmctld\(primary\) at \S+ is UP", lines[-1])


def test_capture_33_enforce_part_limits_line() -> None:
    cap = find(parse_capture(ref_path("33_enforce_part_limits_all.txt")),
               "scontrol show config | grep EnforcePartLimits")  # fmt: skip
    b = cluster("09:22:20")
    b.config = {"EnforcePartLimits": "ALL"}
    assert grep(run(b, "scontrol show config").stdout, "EnforcePartLimits") == cap.stdout

"""sinfo against the real Slurm 22.05 captures, byte for byte, power-saving states included."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from stratus.engine.indexset import IndexSet
from stratus.slurm.views import NodeRow

from .helpers import (
    FakeBackend,
    at,
    cloud_node,
    find,
    job,
    parse_capture,
    parse_snapshots,
    queue1,
    ref_path,
    run,
    static_node,
)


def cluster(nodes: Sequence[NodeRow], clock: str, jobs: Sequence[object] = ()) -> FakeBackend:
    """The cloud test cluster: dynamic nodes first in the node table, then the static node."""
    b = FakeBackend(clock=at(clock), node_rows=list(nodes), job_rows=list(jobs))  # type: ignore[arg-type]
    b.part_rows = [queue1(b.node_rows)]
    return b


def test_capture_01_idle_static_node() -> None:
    caps = parse_capture(ref_path("01_sinfo_idle.txt"))
    b = cluster([static_node()], "09:20:40")
    assert len(caps) == 5
    for cap in caps:
        res = run(b, cap.cmd)
        assert (res.stdout, res.stderr, res.exit_code) == (cap.stdout, cap.stderr, cap.exit_code), cap.cmd


def test_captures_20_21_mix_and_alloc() -> None:
    mix = find(parse_capture(ref_path("20_running_one_job.txt")), "sinfo")
    assert run(cluster([static_node("ALLOCATED", alloc_cpus=1)], "09:21:10"), "sinfo").stdout == mix.stdout
    alloc = find(parse_capture(ref_path("21_squeue_running_and_pending_array.txt")), "sinfo")
    assert run(cluster([static_node("ALLOCATED", alloc_cpus=2)], "09:21:14"), "sinfo").stdout == alloc.stdout


def test_capture_30_unknown_partition() -> None:
    cap = find(parse_capture(ref_path("30_errors.txt")), "sinfo -p nosuchpartition")
    res = run(cluster([static_node()], "09:22:00"), "sinfo -p nosuchpartition")
    assert (res.stdout, res.exit_code) == (cap.stdout, cap.exit_code)


def powered_down(n: int = 10) -> list[NodeRow]:
    return [cloud_node(i) for i in range(1, n + 1)]


def test_capture_40_01_cloud_nodes_powered_down() -> None:
    caps = parse_capture(ref_path("40_cloud_01_idle.txt"))
    b = cluster([*powered_down(), static_node()], "09:24:34")
    for cmd in ("sinfo", "sinfo -N -l", "sinfo -o '%P %a %l %D %t %N %f'"):
        cap = find(caps, cmd)
        res = run(b, cmd)
        assert (res.stdout, res.exit_code) == (cap.stdout, cap.exit_code), cmd
    # Last block: PrivateData=cloud restored (ParallelCluster's setting, stratus's behaviour).
    assert run(b, "sinfo").stdout == find(caps, "sinfo", 2).stdout


def cycle_nodes(label: str) -> list[NodeRow]:
    """Node states of 40_cloud_03 at each snapshot (array 5 on dynamic nodes 1-3)."""
    rest = [cloud_node(i) for i in range(4, 11)]
    st_busy = static_node("ALLOCATED", alloc_cpus=2)
    st_idle = static_node()
    three = {
        "t+0s": [cloud_node(i) for i in (1, 2, 3)],
        "t+2s": [cloud_node(i, "ALLOCATED", ("POWERED_DOWN",)) for i in (1, 2, 3)],
        "t+3s": [cloud_node(i, "ALLOCATED", ("POWERING_UP",)) for i in (1, 2, 3)],
        "t+8s": [cloud_node(i, "ALLOCATED", ()) for i in (1, 2, 3)],
        "t+19s": [cloud_node(i, "ALLOCATED", ()) for i in (1, 2, 3)],
        "t+35s": [cloud_node(i, "IDLE", ()) for i in (1, 2, 3)],
        "t+39s": [cloud_node(i, "IDLE", ()) for i in (1, 2, 3)],
        "t+100s": [cloud_node(i, "IDLE", ("POWERING_DOWN",)) for i in (1, 2, 3)],
        "t+136s": [cloud_node(i) for i in (1, 2, 3)],
    }[label]
    static = st_busy if label in ("t+0s", "t+2s", "t+3s", "t+8s", "t+19s", "t+35s") else st_idle
    return [*three, *rest, static]


def cycle_jobs(label: str) -> list[object]:
    """Jobs of 40_cloud_03: job 4 on the static node, array 5 on three CLOUD nodes."""
    four = job(4, "wrap", "RUNNING", start="09:24:43", nodes=("queue1-st-local-1",), num_cpus=2)
    dyn = [f"queue1-dy-t2micro-{i}" for i in (1, 2, 3)]

    def tasks(state: str, start: str) -> list[object]:
        ids = {1: 6, 2: 7, 3: 5}
        return [
            job(ids[t], "wrap", state, start=start, nodes=(dyn[t - 1],), array=(5, t), prio_of=5)
            for t in (1, 2, 3)
        ]

    pending = job(5, "wrap", "PENDING", array=(5, -1), pending_ids=IndexSet.from_range(1, 3))
    return {
        "t+0s": [four, pending],
        "t+2s": [four, *tasks("CONFIGURING", "09:24:46")],
        "t+3s": [four, *tasks("CONFIGURING", "09:24:46")],
        "t+8s": [four, *tasks("CONFIGURING", "09:24:46")],
        "t+19s": [four, *tasks("RUNNING", "09:25:04")],
        "t+35s": [four],
        "t+39s": [],
        "t+100s": [],
        "t+136s": [],
    }[label]


def test_capture_40_03_power_cycle_every_snapshot() -> None:
    snaps = parse_snapshots(ref_path("40_cloud_03_cycle.txt"))
    assert [s.label for s in snaps] == [
        "t+0s",
        "t+2s",
        "t+3s",
        "t+8s",
        "t+19s",
        "t+35s",
        "t+39s",
        "t+100s",
        "t+136s",
    ]
    for snap in snaps:
        b = cluster(cycle_nodes(snap.label), snap.clock, cycle_jobs(snap.label))
        assert run(b, "sinfo").stdout == snap.sinfo, snap.label
        assert run(b, "squeue").stdout == snap.squeue, snap.label
    # The loop's exit condition, evaluated on the last snapshot.
    b = cluster(cycle_nodes("t+136s"), "09:27:01")
    assert run(b, "squeue -h -o %i").stdout == ""
    states = run(b, "sinfo -h -n queue1-dy-t2micro-[1-10] -o %t").stdout
    assert sorted(set(states.split())) == ["idle~"]


def timeout_nodes(label: str) -> list[NodeRow]:
    """Node states of 40_cloud_04: node 1 never boots and goes down after ResumeTimeout."""
    one = {
        "t+0s": cloud_node(1),
        "t+2s": cloud_node(1, "ALLOCATED", ("POWERED_DOWN",)),
        "t+3s": cloud_node(1, "ALLOCATED", ("POWERING_UP",)),
        "t+95s": cloud_node(
            1,
            "DOWN",
            ("POWERED_DOWN", "NOT_RESPONDING"),
            reason="ResumeTimeout reached",
            reason_user="root",
            reason_time=at("09:28:37"),
        ),
        "after": cloud_node(1, "IDLE", ("POWERING_DOWN",)),
    }[label]
    static = static_node() if label == "after" else static_node("ALLOCATED", alloc_cpus=2)
    return [one, *(cloud_node(i) for i in range(2, 11)), static]


def timeout_jobs(label: str) -> list[object]:
    eight = job(8, "wrap", "RUNNING", start="09:27:01", num_cpus=2)
    nine_cf = job(9, "wrap", "CONFIGURING", start="09:27:04", nodes=("queue1-dy-t2micro-1",))
    return {
        "t+0s": [eight, job(9, "wrap", "PENDING")],
        "t+2s": [eight, nine_cf],
        "t+3s": [eight, nine_cf],
        "t+95s": [eight, job(9, "wrap", "PENDING", restarts=1)],
    }[label]


def test_capture_40_04_resume_timeout() -> None:
    path = ref_path("40_cloud_04_resume_timeout.txt")
    snaps = parse_snapshots(path)
    assert [s.label for s in snaps] == ["t+0s", "t+2s", "t+3s", "t+95s"]
    for snap in snaps:
        b = cluster(timeout_nodes(snap.label), snap.clock, timeout_jobs(snap.label))
        assert run(b, "sinfo").stdout == snap.sinfo, snap.label
        assert run(b, "squeue").stdout == snap.squeue, snap.label
    caps = parse_capture(path)
    down = cluster(timeout_nodes("t+95s"), "09:28:43")
    assert run(down, "sinfo -R").stdout == find(caps, "sinfo -R").stdout
    assert run(down, "sinfo -h -t down -o %N").stdout == "queue1-dy-t2micro-1\n"
    assert run(down, "sinfo -h -t down -N -o %N").stdout == "queue1-dy-t2micro-1\n"
    after = cluster(timeout_nodes("after"), "09:29:00")
    assert run(after, "sinfo").stdout == find(caps, "sinfo").stdout


@pytest.mark.parametrize(
    ("flags", "state", "compact", "long"),
    [
        (("POWERED_DOWN",), "IDLE", "idle~", "idle~"),
        (("POWERING_UP",), "ALLOCATED", "alloc#", "allocated#"),
        (("POWERING_UP",), "IDLE", "idle#", "idle#"),
        (("POWERING_UP",), "DOWN", "down#", "down#"),
        (("POWERED_DOWN",), "ALLOCATED", "alloc~", "allocated~"),
        (("POWERED_DOWN",), "MIXED", "mix~", "mixed~"),
        (("DRAIN", "NOT_RESPONDING"), "IDLE", "drain*", "drained*"),
        (("REBOOT_REQUESTED",), "IDLE", "boot", "reboot"),
        (("POWERING_DOWN",), "IDLE", "idle%", "idle%"),
        (("POWER_DOWN",), "IDLE", "idle!", "idle!"),
        (("POWERED_DOWN",), "DOWN", "down~", "down~"),
        (("NOT_RESPONDING",), "DOWN", "down*", "down*"),
        (("DRAIN",), "IDLE", "drain", "drained"),
        (("DRAIN",), "ALLOCATED", "drng", "draining"),
        (("DRAIN", "POWERED_DOWN"), "IDLE", "drain~", "drained~"),
        ((), "COMPLETING", "comp", "completing"),
        (("COMPLETING",), "ALLOCATED", "alloc+", "allocated+"),
        (("POWERING_UP",), "MIXED", "mix#", "mixed#"),
        (("MAINTENANCE",), "IDLE", "maint", "maint"),
        (("RESERVED",), "IDLE", "resv", "reserved"),
        (("FAIL",), "IDLE", "fail", "fail"),
        (("FAIL",), "ALLOCATED", "failg", "failing"),
        ((), "FUTURE", "futr", "future"),
    ],
)
def test_state_names_for_every_flag_combination(
    flags: tuple[str, ...], state: str, compact: str, long: str
) -> None:
    node = cloud_node(1, state, flags, alloc_cpus=1 if state in ("ALLOCATED", "MIXED") else 0, cpus=1)
    b = cluster([node], "09:30:00")
    assert run(b, "sinfo -h -o %t").stdout == compact + "\n"
    assert run(b, "sinfo -h -o %T").stdout == long + "\n"

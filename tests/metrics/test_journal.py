"""The journal's figures: power-ups, boots, capacity errors, failures and queue waits, from
transitions as the engine journals them (a pure reading of entries, one at a time)."""

from __future__ import annotations

from typing import Any

from stratus.metrics.journal import JournalFigures


def _figures() -> JournalFigures:
    return JournalFigures(service=None)  # type: ignore[arg-type]  # only the entries are read here


def _samples(figures: JournalFigures) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for family in figures.families():
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def test_power_ups_boots_and_failures_per_queue() -> None:
    f = _figures()
    f._node("q-dy-1", "POWERED_DOWN", "POWERING_UP", 100.0, "job 1", "q")
    f._node("q-dy-1", "POWERING_UP", "UP", 103.5, "", "q")
    f._node("q-dy-2", "POWERED_DOWN", "POWERING_UP", 100.0, "", "q")
    f._node(
        "q-dy-2",
        "POWERING_UP",
        "DOWN",
        110.0,
        "(Code:InsufficientInstanceCapacity) Failure when resuming",
        "q",
    )
    f._node("q-dy-1", "UP", "DOWN", 200.0, "Not responding", "q")
    s = _samples(f)
    assert s[("stratus_node_power_ups_total", (("kind", "paid"), ("queue", "q")))] == 2
    assert s[("stratus_node_capacity_errors_total", (("queue", "q"),))] == 1
    assert s[("stratus_node_failures_total", (("queue", "q"),))] == 1
    assert s[("stratus_node_boot_seconds_count", (("queue", "q"),))] == 1
    assert s[("stratus_node_boot_seconds_sum", (("queue", "q"),))] == 3.5
    assert s[("stratus_node_boot_seconds_bucket", (("le", "5.0"), ("queue", "q")))] == 1
    assert s[("stratus_node_boot_seconds_bucket", (("le", "1.0"), ("queue", "q")))] == 0


def test_waits_from_submission_requeue_and_an_arrays_submission() -> None:
    f = _figures()
    entries: list[tuple[Any, ...]] = [
        ("1", "", "PENDING", 10.0, "submit"),
        ("1", "PENDING", "CONFIGURING", 12.0, "schedule"),  # waited 2 s
        ("1", "RUNNING", "PENDING", 50.0, "requeue"),
        ("1", "PENDING", "RUNNING", 80.0, "schedule"),  # waited 30 s after its requeue
        ("7", "", "PENDING", 100.0, "submit"),  # an array
        ("7_0", "", "PENDING", 400.0, "array_split"),  # its task 0, split off as it starts
        ("7_0", "PENDING", "RUNNING", 400.0, "schedule"),  # waited 300 s since the array's submission
    ]
    for key, old, new, when, cause in entries:
        f._job(key, old, new, when, cause)
    s = _samples(f)
    assert s[("stratus_job_queue_wait_seconds_count", ())] == 3
    assert s[("stratus_job_queue_wait_seconds_sum", ())] == 332.0
    assert s[("stratus_job_queue_wait_seconds_bucket", (("le", "5.0"),))] == 1
    assert s[("stratus_job_queue_wait_seconds_bucket", (("le", "300.0"),))] == 3

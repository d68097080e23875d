"""Counters and histograms read from the cluster's journal: power-ups, boots, failures, waits.

Every change of a node's or a job's state is journaled with its time, cause and reason (the
service's ``events``). :class:`JournalFigures` reads the entries recorded since the last scrape
(a cursor, so each entry is read once; after a head-node restart it reads the journal again from
its start, which Prometheus takes as a counter reset) and keeps, per queue:

* ``stratus_node_power_ups_total``: nodes asked to power up (POWERED_DOWN or DOWN → POWERING_UP),
  by queue and kind: ``on-prem`` (the site's own hosts) or ``paid`` (cloud and local instances:
  with on-prem hosts in the queue, a paid power-up is a burst decision);
* ``stratus_node_boot_seconds``: a histogram of power-up to UP (the agent registered);
* ``stratus_node_capacity_errors_total``: launches refused for capacity (a node going DOWN with
  one of ParallelCluster's insufficient-capacity codes in its reason);
* ``stratus_node_failures_total``: nodes going DOWN for any other reason;
* ``stratus_job_queue_wait_seconds``: a histogram of how long jobs waited, from submission (or
  requeue) to start; an array's tasks from the array's submission.

Memory is bounded: the times of pending submissions and boots are all it keeps, at most
:data:`MAX_PENDING` of them (the oldest dropped first).
"""

from __future__ import annotations

import bisect
from collections import OrderedDict
from collections.abc import Iterator, Mapping

from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric

from stratus.engine.states import JobState, NodeState
from stratus.service.interface import Service

#: Bounds of the boot-time histogram (seconds: local nodes boot in a fraction of one, clouds in minutes).
BOOT_BUCKETS = (0.5, 1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0)
#: Bounds of the queue-wait histogram (seconds).
WAIT_BUCKETS = (1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 3600.0, 4 * 3600.0, 12 * 3600.0, 86400.0)
#: How many pending submissions and boots are remembered at most.
MAX_PENDING = 200_000
#: Journal entries read per query.
PAGE = 5000
# ParallelCluster's insufficient-capacity error codes (what a launch refused for capacity says).
_CAPACITY_WORDS = (
    "InsufficientInstanceCapacity",
    "InsufficientHostCapacity",
    "InsufficientReservedInstanceCapacity",
    "InsufficientCapacity",
    "MaxSpotInstanceCountExceeded",
    "SpotMaxPriceTooLow",
)
_STARTED = frozenset({JobState.CONFIGURING.value, JobState.RUNNING.value})


class _Histogram:
    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts: dict[str, list[int]] = {}
        self.sums: dict[str, float] = {}

    def observe(self, label: str, value: float) -> None:
        counts = self.counts.setdefault(label, [0] * (len(self.bounds) + 1))
        counts[bisect.bisect_left(self.bounds, value)] += 1
        self.sums[label] = self.sums.get(label, 0.0) + value

    def family(self, name: str, text: str, label: str | None) -> HistogramMetricFamily:
        """The histogram, one series per label value (``label`` None: one series, no label)."""
        family = HistogramMetricFamily(name, text, labels=[label] if label else [])
        for key in sorted(self.counts):
            cumulative, buckets = 0, []
            for bound, count in zip((*self.bounds, float("inf")), self.counts[key], strict=True):
                cumulative += count
                buckets.append(("+Inf" if bound == float("inf") else repr(bound), float(cumulative)))
            family.add_metric([key] if label else [], buckets, self.sums[key])
        return family


class JournalFigures:
    """The journal's figures of one cluster (see the module docstring)."""

    def __init__(self, service: Service) -> None:
        self.service = service
        self._cursor = 0
        self._submitted: OrderedDict[str, float] = OrderedDict()  # job key -> submission time
        self._booting: OrderedDict[str, float] = OrderedDict()  # node -> power-up time
        self.power_ups: dict[tuple[str, str], int] = {}
        self.capacity_errors: dict[str, int] = {}
        self.failures: dict[str, int] = {}
        self.boots = _Histogram(BOOT_BUCKETS)
        self.waits = _Histogram(WAIT_BUCKETS)

    def _remember(self, table: OrderedDict[str, float], key: str, when: float) -> None:
        table[key] = when
        table.move_to_end(key)
        while len(table) > MAX_PENDING:
            table.popitem(last=False)

    def update(self, queues: Mapping[str, str], on_prem: frozenset[str] = frozenset()) -> None:
        """Read what the journal recorded since the last call (``queues``: node → its queue;
        ``on_prem``: the nodes on the site's own hosts)."""
        while True:
            page = self.service.events(self._cursor, PAGE)
            for seq, t in page:
                self._cursor = seq
                if t.entity == "node":
                    kind = "on-prem" if t.key in on_prem else "paid"
                    self._node(t.key, t.old, t.new, t.time, t.reason or "", queues.get(t.key, ""), kind)
                elif t.entity == "job":
                    self._job(t.key, t.old, t.new, t.time, t.cause)
            if len(page) < PAGE:
                return

    def _node(
        self, node: str, old: str, new: str, when: float, reason: str, queue: str, kind: str = "paid"
    ) -> None:
        if new == NodeState.POWERING_UP.value and old != new:
            self.power_ups[(queue, kind)] = self.power_ups.get((queue, kind), 0) + 1
            self._remember(self._booting, node, when)
        elif new == NodeState.UP.value and old == NodeState.POWERING_UP.value:
            began = self._booting.pop(node, None)
            if began is not None:
                self.boots.observe(queue, max(0.0, when - began))
        elif new == NodeState.DOWN.value and old != new:
            self._booting.pop(node, None)
            table = self.capacity_errors if any(w in reason for w in _CAPACITY_WORDS) else self.failures
            table[queue] = table.get(queue, 0) + 1

    def _job(self, key: str, old: str, new: str, when: float, cause: str) -> None:
        if new == JobState.PENDING.value and old != new and cause != "array_split":
            # A submission or a requeue. An array's tasks get records of their own only as they
            # start (split off the array): they waited from the array's submission.
            self._remember(self._submitted, key, when)
        elif new in _STARTED and old == JobState.PENDING.value:
            began = self._submitted.pop(key, None)
            if began is None and "_" in key:
                began = self._submitted.get(key.split("_", 1)[0])
            if began is not None:
                self.waits.observe("", max(0.0, when - began))

    def families(self) -> Iterator[Metric]:
        ups = CounterMetricFamily(
            "stratus_node_power_ups",
            "Nodes asked to power up, per queue and kind (on-prem, paid)",
            labels=["queue", "kind"],
        )
        for (queue, kind), count in sorted(self.power_ups.items()):
            ups.add_metric([queue, kind], count)
        yield ups
        for name, text, table in (
            ("stratus_node_capacity_errors", "Launches refused for lack of capacity", self.capacity_errors),
            ("stratus_node_failures", "Nodes that went down for other reasons, per queue", self.failures),
        ):
            family = CounterMetricFamily(name, text, labels=["queue"])
            for queue in sorted(table):
                family.add_metric([queue], table[queue])
            yield family
        yield self.boots.family(
            "stratus_node_boot_seconds", "Time from power-up to the node's agent registering", "queue"
        )
        yield self.waits.family(
            "stratus_job_queue_wait_seconds", "Time jobs waited, from submission (or requeue) to start", None
        )

"""The cluster as Prometheus metrics: Slurm exporters' names, and stratus's own.

Sites running Slurm scrape it with prometheus-slurm-exporter (vpenso's, and its forks that keep
its names) and key dashboards and alerts on those names. :class:`ClusterCollector` publishes
them from the cluster's service, computed at each scrape from the live state (no cache, no
background thread), with the same meanings:

* ``slurm_nodes_{alloc,comp,down,drain,err,fail,idle,maint,mix,resv}``: nodes by Slurm state.
  A powered-down node is ``idle`` (Slurm shows ``idle~``), a node powering up counts as what it
  will be (``alloc#``, ``mix#``, ``idle#``), a failed node ``down``; ``comp`` a node whose only
  jobs are completing.
* ``slurm_cpus_{alloc,idle,other,total}`` and ``slurm_gpus_{alloc,idle,total}`` (``other``:
  CPUs of down nodes), ``slurm_node_cpu_*``/``slurm_node_mem_*`` per node (labels ``node``,
  ``status``), ``slurm_partition_cpus_*`` and ``slurm_partition_jobs_pending`` per partition.
* ``slurm_queue_{pending,pending_dependency,running,...}``: jobs by state, an array's pending
  tasks counted one by one (as ``squeue -r`` lists them), recently finished jobs while the
  cluster still shows them.
* ``slurm_account_*``/``slurm_user_*``: jobs and running CPUs per account and user;
  ``slurm_account_fairshare`` the account's fair-share factor.

``slurm_scheduler_*`` are sdiag's cycle figures, ``stratus_api_request_duration_seconds`` how
long the head node's APIs take (:mod:`stratus.metrics.requests`).

stratus's own are under ``stratus_``: ``stratus_info`` (version, engine), nodes by power state,
instances up and their price per hour, jobs submitted since the cluster was created, the
compute fleet's status, and whether the head node could read each part (``stratus_up``).

Cost (:mod:`stratus.engine.cost` says how a job's is worked out):

* ``stratus_cost_dollars_total{user,account,partition}``: a counter, what the jobs charged to
  each (user, account, partition) have cost since the cluster was created, finished jobs and
  running ones (up to the scrape). It comes from the durable accounting records, not from the
  jobs the cluster still shows, so jobs long finished keep counting; each scrape reads only
  the runs recorded since the previous one (``Service.cost_totals``), so after the first
  scrape since the head node started (which reads them all) its time does not grow with the
  records. ``account`` is the job's ``--account``, ``root`` without one (as in
  ``slurm_account_*``); ``partition`` where it ran. A counter never decreases: each series is
  kept at the highest value it has had since the head node started (a running job's figure,
  once its run is recorded, can come out a hair lower), and is worked out again from the
  records when the head node restarts, with the prices configured then, which Prometheus's
  ``rate``/``increase`` treat as a counter reset where it matters.
* ``stratus_cost_per_hour_dollars``: what the machines up now cost per hour, and
  ``stratus_idle_cost_per_hour_dollars`` the part of it on CPUs no job holds (nodes, or parts
  of nodes, up with no job on them), which no job is charged for.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from stratus import __version__
from stratus.engine.cost import idle_cost_per_hour
from stratus.engine.fairshare import FairShare
from stratus.engine.model import Job, Node
from stratus.engine.states import JobState, NodeState
from stratus.metrics.journal import JournalFigures
from stratus.metrics.requests import RequestTimes
from stratus.service.interface import Service

#: The node states of ``slurm_nodes_*``, in vpenso's order.
NODE_STATES = ("alloc", "comp", "down", "drain", "err", "fail", "idle", "maint", "mix", "resv")
#: The job states of ``slurm_queue_*``.
QUEUE_STATES = (
    "pending",
    "pending_dependency",
    "running",
    "suspended",
    "cancelled",
    "completing",
    "completed",
    "configuring",
    "failed",
    "timeout",
    "preempted",
    "node_fail",
)
_QUEUE_OF = {
    JobState.PENDING: "pending",
    JobState.CONFIGURING: "configuring",
    JobState.RUNNING: "running",
    JobState.COMPLETING: "completing",
    JobState.COMPLETED: "completed",
    JobState.CANCELLED: "cancelled",
    JobState.FAILED: "failed",
    JobState.OUT_OF_MEMORY: "failed",
    JobState.TIMEOUT: "timeout",
    JobState.NODE_FAIL: "node_fail",
    JobState.BOOT_FAIL: "node_fail",
    JobState.PREEMPTED: "preempted",
}
# Nodes that hold a machine (and cost money) in these states.
_WITH_INSTANCE = (NodeState.POWERING_UP, NodeState.UP, NodeState.POWERING_DOWN)


def node_status(node: Node, jobs: dict[int, Job]) -> str:
    """The Slurm base state of ``node`` as sinfo's long state, without its suffix."""
    if node.state == NodeState.DOWN:
        return "down"
    if not node.jobs:
        return "idle"
    held = [jobs[j] for j in node.jobs if j in jobs]
    if held and all(j.state == JobState.COMPLETING for j in held):
        return "comp"
    return "alloc" if node.alloc_cpus >= node.defn.cpus else "mix"


def cpu_split(nodes: Iterable[Node]) -> tuple[int, int, int, int]:
    """(allocated, idle, other, total) CPUs of ``nodes``, as sinfo's ``%C``: other is down nodes'."""
    total = alloc = other = 0
    for n in nodes:
        total += n.defn.cpus
        alloc += n.alloc_cpus
        other += n.defn.cpus if n.state == NodeState.DOWN else 0
    return alloc, total - alloc - other, other, total


def _tasks(job: Job) -> int:
    """How many jobs ``squeue -r`` shows for this record (an array's pending remainder: each task)."""
    if job.is_array_remainder and job.pending_tasks is not None:
        return len(job.pending_tasks)
    return 1


class ClusterCollector(Collector):
    """Every metric family of one cluster, from its service (see the module docstring).

    ``collect`` must run on the head node's event loop (as the metrics app calls it): it reads
    the engine's state, which only that loop changes.
    """

    def __init__(self, service: Service, requests: RequestTimes | None = None) -> None:
        self.service = service
        self.requests = requests
        self.journal = JournalFigures(service)
        # The highest value each cost series has had: what keeps the counter from decreasing.
        self._cost_seen: dict[tuple[str, str, str], float] = {}

    def collect(self) -> Iterator[Metric]:
        service = self.service
        nodes = [r.node for r in service.nodes()]
        jobs = {j.id: j for j in service.jobs()}
        yield from self._nodes(nodes, jobs)
        yield from self._queue(jobs.values())
        yield from self._partitions(nodes, jobs.values())
        yield from self._associations(jobs.values())
        yield from self._stratus(nodes)
        yield from self._cost(nodes)
        yield from self._scheduler()
        self.journal.update(
            {n.name: n.defn.partitions[0] if n.defn.partitions else "" for n in nodes},
            frozenset(n.name for n in nodes if n.defn.on_prem),
        )
        yield from self.journal.families()
        if self.requests is not None:
            yield from self.requests.families()

    # -- the scheduler (sdiag's figures) ---------------------------------------------------------

    def _scheduler(self) -> Iterator[Metric]:
        """The exporters' ``slurm_scheduler_*`` that stratus has: one scheduling thread (the head
        node's loop), the queue, and its cycles in microseconds as sdiag prints them. Backfilling
        is part of every pass here, so the ``backfill_*`` figures are not published."""
        stats = self.service.scheduler_stats()
        for name, text, value in (
            ("threads", "Scheduler threads", 1),
            ("queue_size", "Pending jobs the scheduler considers (array tasks counted)", stats["queue_size"]),
            ("dbd_queue_size", "Accounting records waiting to be written (written at once here)", 0),
            ("last_cycle", "The last scheduling cycle (microseconds)", stats["last_cycle_s"] * 1e6),
            ("mean_cycle", "The mean scheduling cycle (microseconds)", stats["mean_cycle_s"] * 1e6),
            ("cycle_per_minute", "Scheduling cycles in the last minute", stats["cycles_per_minute"]),
        ):
            yield GaugeMetricFamily(f"slurm_scheduler_{name}", text, value)

    # -- nodes and CPUs -------------------------------------------------------------------------

    def _nodes(self, nodes: list[Node], jobs: dict[int, Job]) -> Iterator[Metric]:
        states = Counter(node_status(n, jobs) for n in nodes)
        for state in NODE_STATES:
            yield GaugeMetricFamily(f"slurm_nodes_{state}", f"Nodes in Slurm state {state}", states[state])
        for name, value in zip(("alloc", "idle", "other", "total"), cpu_split(nodes), strict=True):
            yield GaugeMetricFamily(f"slurm_cpus_{name}", f"CPUs {name}", value)
        gpus = sum(n.defn.gpus for n in nodes)
        gpus_alloc = sum(n.alloc_gpus for n in nodes)
        for name, value in (("alloc", gpus_alloc), ("idle", gpus - gpus_alloc), ("total", gpus)):
            yield GaugeMetricFamily(f"slurm_gpus_{name}", f"GPUs {name}", value)
        per_node = {
            key: GaugeMetricFamily(f"slurm_node_{key}", text, labels=["node", "status"])
            for key, text in (
                ("cpu_alloc", "Allocated CPUs per node"),
                ("cpu_idle", "Idle CPUs per node"),
                ("cpu_other", "Other (down) CPUs per node"),
                ("cpu_total", "Total CPUs per node"),
                ("mem_alloc", "Allocated memory per node (MB)"),
                ("mem_total", "Total memory per node (MB)"),
            )
        }
        for n in nodes:
            labels = [n.name, node_status(n, jobs)]
            down = n.state == NodeState.DOWN
            per_node["cpu_alloc"].add_metric(labels, n.alloc_cpus)
            per_node["cpu_idle"].add_metric(labels, 0 if down else n.defn.cpus - n.alloc_cpus)
            per_node["cpu_other"].add_metric(labels, n.defn.cpus if down else 0)
            per_node["cpu_total"].add_metric(labels, n.defn.cpus)
            per_node["mem_alloc"].add_metric(labels, n.alloc_memory_mb)
            per_node["mem_total"].add_metric(labels, n.defn.memory_mb)
        yield from per_node.values()

    # -- jobs -----------------------------------------------------------------------------------

    def _queue(self, jobs: Iterable[Job]) -> Iterator[Metric]:
        counts: Counter[str] = Counter()
        for job in jobs:
            state = _QUEUE_OF.get(job.state, "failed")
            if state == "pending" and job.reason == "Dependency":
                state = "pending_dependency"
            counts[state] += _tasks(job)
        for state in QUEUE_STATES:
            yield GaugeMetricFamily(f"slurm_queue_{state}", f"Jobs in state {state}", counts[state])

    def _partitions(self, nodes: list[Node], jobs: Iterable[Job]) -> Iterator[Metric]:
        families = {
            key: GaugeMetricFamily(
                f"slurm_partition_cpus_{key}", f"{key.capitalize()} CPUs", labels=["partition"]
            )
            for key in ("allocated", "idle", "other", "total")
        }
        pending_family = GaugeMetricFamily(
            "slurm_partition_jobs_pending", "Pending jobs per partition", labels=["partition"]
        )
        running_family = GaugeMetricFamily(
            "slurm_partition_jobs_running", "Running jobs per partition", labels=["partition"]
        )
        pending: Counter[str] = Counter()
        running: Counter[str] = Counter()
        for job in jobs:
            if job.state == JobState.PENDING:
                # A job asking for several partitions waits in each (squeue lists it per partition).
                for p in job.spec.partitions or (self.service.layout.queues[0].name,):
                    pending[p] += _tasks(job)
            elif job.state in (JobState.RUNNING, JobState.CONFIGURING, JobState.COMPLETING) and job.partition:
                running[job.partition] += 1
        for partition, _default in self.service.partitions():
            members = [n for n in nodes if partition.name in n.defn.partitions]
            split = cpu_split(members)
            for key, value in zip(("allocated", "idle", "other", "total"), split, strict=True):
                families[key].add_metric([partition.name], value)
            pending_family.add_metric([partition.name], pending[partition.name])
            running_family.add_metric([partition.name], running[partition.name])
        yield from families.values()
        yield pending_family
        yield running_family

    def _associations(self, jobs: Iterable[Job]) -> Iterator[Metric]:
        stats: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
        for job in jobs:
            account = FairShare.account_of(job.spec.account, job.spec.user)
            for assoc in (("account", account), ("user", job.spec.user)):
                c = stats[assoc]
                if job.state == JobState.PENDING:
                    c["jobs_pending"] += _tasks(job)
                elif job.state in (JobState.RUNNING, JobState.CONFIGURING, JobState.COMPLETING):
                    c["jobs_running"] += 1
                    c["cpus_running"] += job.alloc.total_cpus if job.alloc is not None else 0
        # stratus never suspends jobs: jobs_suspended is always 0, kept for the dashboards.
        for kind in ("account", "user"):
            for key in ("jobs_pending", "jobs_running", "cpus_running", "jobs_suspended"):
                family = GaugeMetricFamily(
                    f"slurm_{kind}_{key}", f"{key.replace('_', ' ').capitalize()} per {kind}", labels=[kind]
                )
                for (k, name), c in sorted(stats.items()):
                    if k == kind:
                        family.add_metric([name], c[key])
                yield family
        fairshare = GaugeMetricFamily(
            "slurm_account_fairshare", "Fair-share factor per account", labels=["account"]
        )
        for row in self.service.shares():
            if row.user is None and row.depth > 0:
                fairshare.add_metric([row.account], row.fairshare)
        yield fairshare

    # -- stratus's own --------------------------------------------------------------------------

    def _stratus(self, nodes: list[Node]) -> Iterator[Metric]:
        service = self.service
        info = GaugeMetricFamily("stratus_info", "stratus's version and engine", labels=["version", "engine"])
        info.add_metric([__version__, service.layout.engine], 1)
        yield info
        power = GaugeMetricFamily("stratus_nodes", "Nodes by power state", labels=["state", "partition"])
        by_state: Counter[tuple[str, str]] = Counter()
        for n in nodes:
            for p in n.defn.partitions:
                by_state[(n.state.value, p)] += 1
        for partition, _default in service.partitions():
            for state in NodeState:
                power.add_metric([state.value, partition.name], by_state[(state.value, partition.name)])
        yield power
        up = [n for n in nodes if n.state in _WITH_INSTANCE]
        yield GaugeMetricFamily(
            "stratus_instances", "Nodes that hold a machine (powering up, up, powering down)", len(up)
        )
        yield GaugeMetricFamily(
            "stratus_cost_per_hour_dollars",
            "What the machines up now cost per hour (instance catalog prices; 0 for on-prem hosts)",
            sum(n.defn.price_per_hour for n in up),
        )
        yield CounterMetricFamily(
            "stratus_jobs_submitted", "Jobs submitted since the cluster was created", service.job_count()
        )
        fleet = str(service.cluster.get("computeFleetStatus", "UNKNOWN"))
        status = GaugeMetricFamily(
            "stratus_compute_fleet_status", "The compute fleet's status", labels=["status"]
        )
        status.add_metric([fleet], 1)
        yield status

    # -- cost -----------------------------------------------------------------------------------

    def _cost(self, nodes: list[Node]) -> Iterator[Metric]:
        yield GaugeMetricFamily(
            "stratus_idle_cost_per_hour_dollars",
            "What the machines up now cost per hour in the parts no job holds (charged to no job)",
            idle_cost_per_hour(nodes),
        )
        totals: dict[tuple[str, str, str], float] = defaultdict(float)
        for (user, account, partition), cost in self.service.cost_totals().items():
            totals[(user, FairShare.account_of(account, user), partition)] += cost
        seen = self._cost_seen
        for key, value in totals.items():
            if value > seen.get(key, 0.0):
                seen[key] = value
        family = CounterMetricFamily(
            "stratus_cost_dollars",
            "What jobs have cost (USD) since the cluster was created, finished and running, "
            "by user, account and partition",
            labels=["user", "account", "partition"],
        )
        for key in sorted(seen):
            family.add_metric(list(key), seen[key])
        yield family

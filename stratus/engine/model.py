"""The engine's neutral vocabulary: what a job asks for, what a node offers, what was decided.

Nothing here knows about Slurm's option syntax or ParallelCluster's YAML: the front ends map their
inputs onto these types, so a later AWS Batch-style front door can map onto them too.
Durations are float seconds, times are POSIX seconds passed in by the caller.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from stratus.engine.indexset import IndexSet
from stratus.engine.states import JobState, NodeState

# -- configuration -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NodeDef:
    """One node the cluster may ever have (ParallelCluster pre-declares every node)."""

    name: str
    partitions: tuple[str, ...]
    cpus: int
    memory_mb: int
    gpus: int = 0
    gpu_type: str | None = None
    weight: int = 1
    static: bool = False  # static nodes are kept up; dynamic ones power up on demand
    features: tuple[str, ...] = ()
    instance_type: str = ""
    group: str = ""  # the (queue, compute resource) it belongs to, e.g. "queue1/t2micro"
    price_per_hour: float = 0.0  # what the node costs while it is up (0: nothing, on-prem hosts)
    # On the site's own hosts (an ssh provider): used before paid cloud nodes, and never a burst.
    on_prem: bool = False


@dataclass(frozen=True, slots=True)
class UserLimits:
    """Caps on what one user may hold at once (Slurm's QOS MaxJobsPerUser / MaxTRESPerUser).

    None means no cap. A job that would go past a cap waits, with Slurm's reason code
    (``QOSMaxJobsPerUserLimit``, ``QOSMaxNodePerUserLimit``, ``QOSMaxCpuPerUserLimit``).
    """

    max_jobs: int | None = None  # running jobs
    max_nodes: int | None = None  # nodes held (a node shared by two of the user's jobs counts twice)
    max_cpus: int | None = None  # CPUs held

    def __bool__(self) -> bool:
        return self.max_jobs is not None or self.max_nodes is not None or self.max_cpus is not None


@dataclass(frozen=True, slots=True)
class PartitionDef:
    """A partition (ParallelCluster queue): an ordered set of nodes and its limits."""

    name: str
    nodes: tuple[str, ...]
    default: bool = False
    max_time_s: float | None = None  # None = unlimited
    default_time_s: float | None = None  # applied to jobs without a time limit
    priority_job_factor: int = 1  # Slurm's PriorityJobFactor (the multifactor partition factor)
    user_limits: UserLimits = UserLimits()  # per user, within this partition
    # Pending jobs of a higher tier are considered before any job of a lower tier, whatever their
    # priority (a job submitted to several partitions ranks in the highest tier among them).
    priority_tier: int = 0
    # The burst threshold (Stratus.Burst.MaxWait): a job powers up paid nodes (powered-down
    # dynamic nodes off the site's hosts) only if the plan cannot start it on capacity that needs
    # no power-up within this many seconds of its becoming eligible; meanwhile it waits with the
    # reason ``BurstDeferred``. 0: paid nodes power up at once (ParallelCluster's behaviour).
    burst_max_wait_s: float = 0.0


# Backfilling policies (``SchedulingPolicy.backfill``).
BACKFILL_NONE = "none"  # first come, first served: a job that cannot start blocks its partition
BACKFILL_EASY = "easy"  # the first blocked job of a partition gets a reservation, nothing delays it
BACKFILL_CONSERVATIVE = "conservative"  # every blocked job gets one, and keeps it (never later)
BACKFILLS = (BACKFILL_NONE, BACKFILL_EASY, BACKFILL_CONSERVATIVE)


@dataclass(frozen=True, slots=True)
class SchedulingPolicy:
    """How a scheduling pass orders and backfills jobs.

    ``shortest_first`` tries backfill candidates shortest time limit first (SJBF) instead of in
    priority order. ``max_job_test`` bounds the jobs a pass examines beyond those it starts
    (Slurm's ``bf_max_job_test``); ``window_s`` bounds how far ahead reservations are made
    (``bf_window``); ``interval_s`` is how often a pass re-plans everything even when nothing
    happened (time-based conditions such as ``after:job+10``); None: only when something changed.
    """

    backfill: str = BACKFILL_EASY
    shortest_first: bool = False
    max_job_test: int | None = None
    window_s: float | None = None
    interval_s: float | None = 30.0


@dataclass(frozen=True, slots=True)
class PriorityConfig:
    """How job priorities are computed (see :mod:`stratus.engine.priority`).

    ``kind`` is ``basic`` (Slurm's priority/basic: submission order, lowered by ``--nice``),
    ``multifactor`` (Slurm's priority/multifactor: weighted age, fair-share, job size and
    partition factors) or ``expansion`` (largest expansion factor first: (wait + limit) / limit).
    Weights, ages and the half-life follow Slurm's parameters of the same names.
    """

    kind: str = "basic"
    weight_age: int = 0
    weight_fairshare: int = 0
    weight_jobsize: int = 0
    weight_partition: int = 0
    max_age_s: float = 7 * 86400.0  # PriorityMaxAge
    decay_half_life_s: float = 7 * 86400.0  # PriorityDecayHalfLife (0: no decay)
    favor_small: bool = False  # PriorityFavorSmall
    calc_period_s: float = 300.0  # PriorityCalcPeriod (0: at every pass)


@dataclass(frozen=True, slots=True)
class EngineConfig:
    """Everything the engine needs to know about the cluster's shape and policies."""

    partitions: tuple[PartitionDef, ...]
    nodes: tuple[NodeDef, ...]
    scaledown_idle_s: float = 600.0  # ParallelCluster ScaledownIdletime (Slurm SuspendTime)
    resume_timeout_s: float = 1800.0  # a powering-up node that has not registered by then failed
    memory_scheduling: bool = False  # count memory as a consumable (Slurm CR_CPU_Memory)
    min_job_age_s: float = 300.0  # finished jobs stay visible (squeue -t all) this long
    # Slurm's OverTimeLimit: how long a job may run past its time limit before it is killed
    # (None: never killed, UNLIMITED). The plan still expects it to end at its limit.
    over_time_limit_s: float | None = 0.0
    # How long a requeued job waits before it may start again (it shows BeginTime meanwhile).
    # Slurm 22.05 makes a requeued job's begin time now + its credential lifetime + 1 s (121 s
    # by default, 71 s with ParallelCluster's AuthInfo=cred_expire=70), so that a new launch
    # credential is newer than the revoked one. stratus needs no such window (a run never
    # overlaps the next: the job stays COMPLETING until its processes are gone), so it keeps the
    # visible wait but shortens it.
    requeue_delay_s: float = 5.0
    # Another scheduler (real Slurm) decides which dynamic nodes power up and down, through
    # NodePower.resume and NodePower.suspend; idle nodes are then never powered down here.
    external_power: bool = False
    policy: SchedulingPolicy = SchedulingPolicy()
    priority: PriorityConfig = PriorityConfig()
    user_limits: UserLimits = UserLimits()  # per user, over the whole cluster


# -- jobs ------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DepCondition:
    """One dependency condition.

    ``kind`` is ``after`` (the other job started), ``afterany`` (it ended), ``afterok`` (it
    completed successfully), ``afternotok`` (it ended otherwise), ``aftercorr`` (the task with the
    same index completed successfully), ``corresponding`` (the task with the same index ended,
    however it ended) or ``singleton`` (no earlier job of the same name and user is unfinished).
    ``aftercorr`` and ``corresponding`` pair task *i* of this array with task *i* of the other;
    a job that is not an array task has nothing to pair and does not wait on them.
    ``task_id`` None means every task of an array job. ``resolved`` is set when the other job is
    no longer in the engine's memory and the front end decided the outcome from the records:
    True met, False can never be met.
    """

    kind: str
    job_id: int = 0
    task_id: int | None = None
    delay_s: float = 0.0
    resolved: bool | None = None


@dataclass(frozen=True, slots=True)
class RetryRule:
    """Whether a failed attempt is retried (AWS Batch's ``evaluateOnExit``, in engine terms).

    ``action`` is ``RETRY`` or ``EXIT``. ``exit_code``: the attempt's exit code as text, or a
    prefix of it when it ends with ``*``; None matches any. ``end_states``: the names of the end
    states it applies to (``FAILED``, ``OUT_OF_MEMORY``); None matches any. A rule applies when
    every condition it has matches."""

    action: str
    exit_code: str | None = None
    end_states: tuple[str, ...] | None = None

    def matches(self, exit_code: int, end_state: str) -> bool:
        if self.end_states is not None and end_state not in self.end_states:
            return False
        if self.exit_code is None:
            return True
        code = str(exit_code)
        if self.exit_code.endswith("*"):
            return code.startswith(self.exit_code[:-1])
        return code == self.exit_code


@dataclass(frozen=True, slots=True)
class JobSpec:
    """What a job asks for. Shared, unchanged, by every task of an array and every run."""

    name: str
    user: str
    uid: int = 0
    gid: int = 0
    account: str = ""  # the account (``--account``), charged for fair share; empty: the user's own
    partitions: tuple[str, ...] = ()  # empty: the default partition
    min_nodes: int = 1
    max_nodes: int | None = None  # None: as many as the tasks need
    ntasks: int = 1
    cpus_per_task: int = 1
    ntasks_per_node: int | None = None
    mem_per_node_mb: int | None = None  # 0 means "all the memory of each node"
    mem_per_cpu_mb: int | None = None
    gpus_per_node: int = 0
    time_limit_s: float | None = None  # None: the partition's default (unlimited if none)
    exclusive: bool = False
    requeue: bool = True  # may be requeued after a node failure
    nice: int = 0
    begin_time: float | None = None
    array_max_running: int | None = None  # the %N of --array
    features: tuple[str, ...] = ()  # every one of these must be a feature of each node used
    gpu_type: str | None = None  # GPUs of this type only (None: any type)
    dependencies: tuple[DepCondition, ...] = ()
    dependency_any: bool = False  # True: any one condition suffices (Slurm's "?")
    kill_on_invalid_dep: bool = False  # cancel the job when its dependency can never be met
    # A job (or array task) this one waits on ending in failure (any end but COMPLETED) makes the
    # waiting condition impossible, and the job (or its matching task) is cancelled rather than
    # left waiting. ``afternotok`` and ``after`` are unaffected: a failure is what the first waits
    # for, and the second waits for a start. Implies ``kill_on_invalid_dep``.
    fail_on_parent_failure: bool = False
    # The array's tasks run one at a time, in index order: a task starts only once every task
    # before it has ended (with ``fail_on_parent_failure``, a task's failure cancels the rest).
    array_sequential: bool = False
    interactive: bool = False  # salloc/srun: no batch script; the client uses the allocation
    # --signal: (signal, seconds before the time limit, batch shell only)
    warn_signal: tuple[str, float, bool] | None = None
    # How many runs the job may have: a run that fails by itself (non-zero exit, out of memory)
    # while runs are left goes back to PENDING as the next run. Every run counts, including
    # runs lost to a node failure or requeued by a user. 1: a failure is final.
    max_attempts: int = 1
    # Which failed attempts are retried while attempts are left: the first rule that applies
    # decides; none applies (or none given): retried.
    retry_rules: tuple[RetryRule, ...] = ()
    share_id: str = ""  # the fair-share identifier its usage is charged to; empty: the account
    # Within its partitions' priority tier, pending jobs of a higher ``tier`` are considered
    # before any job of a lower one, whatever their priorities (AWS Batch's job queue priority:
    # queues sharing compute environments are served highest priority first).
    tier: int = 0
    # An exit status by which the batch script reports that its work was killed for running out
    # of memory where the node's agent cannot see it (a container job: the container's
    # processes are the runtime's, not the script's). Such a run ends OUT_OF_MEMORY, with the
    # exit code of a process killed by SIGKILL (137), as the agent's own detection would.
    oom_exit_code: int | None = None

    @property
    def share(self) -> str:
        """The fair-share account this job's usage is charged to (``share_id``, else ``account``)."""
        return self.share_id or self.account


@dataclass(slots=True)
class Allocation:
    """Where a job runs: nodes in order (the first is the batch host) and what it holds on each."""

    nodes: tuple[str, ...]
    cpus: tuple[int, ...]
    memory_mb: tuple[int, ...]
    gpus: tuple[int, ...]
    tasks: tuple[int, ...]

    @property
    def total_cpus(self) -> int:
        return sum(self.cpus)


@dataclass(frozen=True, slots=True)
class BurstDeferral:
    """Why a pending job waits rather than powering up paid nodes (its reason: ``BurstDeferred``).

    ``start`` is when the plan starts it on capacity that needs no power-up (its reservation
    there); ``deadline`` is when its wait reaches its partition's burst threshold, the latest it
    bursts. ``price_per_hour`` is what the paid nodes it would power up now cost per hour
    together, ``cost`` that price times its time limit in hours (None: it has no time limit).
    """

    start: float
    deadline: float
    price_per_hour: float
    cost: float | None
    nodes: tuple[str, ...]  # the paid nodes it would power up


@dataclass(slots=True, eq=False)
class Job:
    """A job, an array task, or an array's pending remainder (``pending_tasks`` is set).

    Array semantics follow Slurm: the array job id is the id of the remainder record. When a task
    starts it becomes a record of its own with a new job id, except the last one, which keeps the
    array's id. So a 100,000-task array costs one record until its tasks start.
    """

    id: int
    spec: JobSpec
    submit_time: float
    priority: int
    state: JobState = JobState.PENDING
    reason: str = "None"
    array_id: int | None = None
    task_id: int | None = None
    pending_tasks: IndexSet | None = None
    partition: str | None = None  # where it runs (or, while pending, where it would)
    # When it became (or, in the future, becomes) eligible to start: None while it is held or
    # waits on a dependency, as Slurm clears a job's begin time then (EligibleTime=Unknown).
    eligible_time: float | None = None
    start_time: float | None = None
    end_time: float | None = None
    state_time: float = 0.0
    alloc: Allocation | None = None
    run: int = 0  # how many times it was requeued (Slurm's Restarts)
    exit_code: int = 0
    exit_signal: int = 0
    final_state: JobState | None = None  # while COMPLETING: the state it ends in
    requeue_when_done: bool = False  # while COMPLETING: back to PENDING as a new run (requeue)
    held: bool = False  # ``reason`` then says whose hold it is (``states.HOLD_REASONS``)
    time_limit_s: float | None = None  # effective limit (spec or partition default)
    # While its reason is ``BurstDeferred``: its planned start and what bursting would cost.
    # Worked out by each scheduling pass, never stored.
    burst: BurstDeferral | None = None

    @property
    def is_array_remainder(self) -> bool:
        return self.pending_tasks is not None and self.task_id is None


# The journal's keys for jobs. The store indexes transitions by these strings and finds a job's
# history with them, so their format is part of the store's format and must never change. (It
# happens to be how Slurm writes job and task ids; front ends build their own text.)


def record_key(job: Job) -> str:
    """The journal's key of ``job``: its id (``20``), or ``<array id>_<task id>`` (``20_3``) for
    an array task that has a record of its own."""
    if job.array_id is not None and job.task_id is not None:
        return f"{job.array_id}_{job.task_id}"
    return str(job.id)


def task_record_key(array_id: int, task_id: int) -> str:
    """The journal's key of task ``task_id`` of array ``array_id`` (as :func:`record_key`)."""
    return f"{array_id}_{task_id}"


def tasks_record_key(array_id: int, task_ids: IndexSet) -> str:
    """The journal's key of several pending tasks of an array changed at once:
    ``<array id>_[<ids>]``, the ids as consecutive ranges (``20_[1-3,7]``)."""
    return f"{array_id}_[{task_ids.to_slurm()}]"


# -- nodes -----------------------------------------------------------------------------------------


@dataclass(slots=True, eq=False)
class Node:
    """A node's live state. Resources held are the sums over ``jobs``."""

    defn: NodeDef
    state: NodeState = NodeState.POWERED_DOWN
    state_time: float = 0.0
    reason: str | None = None
    reason_time: float | None = None
    alloc_cpus: int = 0
    alloc_memory_mb: int = 0
    alloc_gpus: int = 0
    jobs: set[int] = field(default_factory=set)
    idle_since: float = 0.0
    responding: bool = True
    exclusive_job: int | None = None
    instance_id: str | None = None
    boot_time: float | None = None
    last_busy_time: float | None = None

    @property
    def name(self) -> str:
        return self.defn.name

    @property
    def free_cpus(self) -> int:
        return self.defn.cpus - self.alloc_cpus

    @property
    def free_memory_mb(self) -> int:
        return self.defn.memory_mb - self.alloc_memory_mb

    @property
    def free_gpus(self) -> int:
        return self.defn.gpus - self.alloc_gpus


@dataclass(slots=True)
class Partition:
    """A partition's live state."""

    defn: PartitionDef
    up: bool = True  # False: INACTIVE (compute fleet stopped, protected mode, or disabled)
    # Disabled by an administrator: INACTIVE whatever the compute fleet does, until enabled.
    disabled: bool = False

    @property
    def name(self) -> str:
        return self.defn.name


# -- what the engine records and decides -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Transition:
    """One recorded change of state: the journal of record for every entity."""

    entity: str  # "job" | "node" | "partition"
    key: str  # job: :func:`record_key` (or :func:`tasks_record_key`); node or partition: its name
    old: str
    new: str
    time: float
    cause: str  # what made it happen: submit, schedule, agent, user, timer, node_fail ...
    reason: str = ""
    run: int = 0


@dataclass(frozen=True, slots=True)
class RunEnd:
    """A run of a job ended: the record accounting keeps (sacct), one per run.

    ``state`` is how the run ended: the job's final state, or NODE_FAIL / REQUEUED for a run
    that was requeued.
    """

    job_id: int
    run: int
    state: str
    start_time: float | None
    end_time: float
    nodes: tuple[str, ...]
    cpus: int
    exit_code: int = 0
    exit_signal: int = 0
    reason: str = ""


@dataclass
class Changes:
    """Everything the engine changed since the last hand-over (see ``Engine.drain_changes``)."""

    transitions: list[Transition]
    jobs: set[int]
    nodes: set[str]
    partitions: set[str]
    runs: list[RunEnd]

    def __bool__(self) -> bool:
        return bool(self.transitions or self.jobs or self.nodes or self.partitions or self.runs)


@dataclass(frozen=True, slots=True)
class LaunchJob:
    """Start job ``job_id`` (run ``run``) on its allocated nodes (batch script on the first)."""

    job_id: int
    run: int
    nodes: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class KillJob:
    """Stop the processes of ``job_id`` run ``run`` on ``nodes``; ``why`` is CANCELLED/TIMEOUT/..."""

    job_id: int
    run: int
    nodes: tuple[str, ...]
    why: str
    signal: str = "TERM"


@dataclass(frozen=True, slots=True)
class PowerUp:
    """Launch an instance for each node (they are POWERING_UP now).

    ``groups`` holds the compute-resource group (:attr:`NodeDef.group`) of each node, in the
    order of ``nodes``, so a fleet can batch its launches per group (:meth:`by_group`). It is a
    function of ``nodes`` and the cluster's configuration, so it takes no part in equality; a
    PowerUp built without it (``PowerUp(nodes)``) is still valid and is one batch.
    """

    nodes: tuple[str, ...]
    groups: tuple[str, ...] = field(default=(), compare=False)

    def by_group(self) -> dict[str, tuple[str, ...]]:
        """The nodes per group, groups in order of first appearance, nodes in their order here.

        Nodes without a known group (``groups`` empty, or a node declared without one) are
        listed under ``""``.
        """
        groups = self.groups if len(self.groups) == len(self.nodes) else ("",) * len(self.nodes)
        out: dict[str, list[str]] = {}
        for name, group in zip(self.nodes, groups, strict=True):
            out.setdefault(group, []).append(name)
        return {g: tuple(names) for g, names in out.items()}


@dataclass(frozen=True, slots=True)
class PowerDown:
    """Terminate the instance of each node (they are POWERING_DOWN or DOWN now)."""

    nodes: tuple[str, ...]


Action = LaunchJob | KillJob | PowerUp | PowerDown


@dataclass(frozen=True, slots=True)
class Rejection:
    """Why a submission can never run here. ``code`` is neutral; front ends word it."""

    # INVALID_PARTITION | CPUS_PER_NODE | MEMORY | GPUS | NODE_COUNT | PROCESSORS | TIME_LIMIT | TASKS
    # | FEATURES
    code: str
    detail: str = ""

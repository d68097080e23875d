"""The seam between the Slurm front end and the rest of stratus.

The Slurm compatibility layer (option parsing, ``#SBATCH`` directives, output formats) never sees
engine objects. It receives plain rows describing jobs, nodes and partitions, produces plain
requests (a parsed ``sbatch``, a parsed ``scancel``), and asks a :class:`SlurmBackend` to act.
The head node implements it over the cluster service (``stratus.slurm.server.backend``); unit tests
implement it in memory.

Vocabulary follows Slurm here on purpose: states are Slurm's long names (``PENDING``,
``RUNNING`` ...), reasons are Slurm's reason codes (``Resources``, ``Priority`` ...), times are
POSIX timestamps (float seconds) and durations are in seconds unless a name says otherwise.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from stratus.engine.indexset import IndexSet

# -- what the client sends ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ClientContext:
    """Who runs a command, from where: the caller as the API established it (``user``, ``uid``,
    ``gid``, ``admin``), and what the thin client sent (directory, environment, ...)."""

    user: str
    uid: int
    gid: int
    cwd: str
    env: Mapping[str, str]
    host: str
    stdin: bytes | None = None  # the client's stdin, only when the command asked for it
    group: str = ""
    umask: int = 0o022  # the client's umask: jobs create their files with it, as in Slurm
    # Files the command asked the client for (``need_file``), by the name given; None: unreadable.
    files: Mapping[str, bytes | None] = field(default_factory=dict)
    admin: bool = False  # root or the cluster's owner: may act on every job


@dataclass(frozen=True, slots=True)
class CommandResult:
    """What a command prints and how it exits. ``need_stdin`` asks the client to resend with stdin."""

    stdout: str = ""
    stderr: str = ""
    exit_code: int = 0
    need_stdin: bool = False
    need_file: str | None = None  # ask the client to send this file's bytes (as given, maybe relative)
    wait_job: int | None = None  # sbatch --wait: the client waits for this job, exits with its code


# -- what the front end asks the backend to do ---------------------------------------------------


@dataclass(frozen=True, slots=True)
class ArraySpec:
    """A parsed ``--array``: the task ids and the ``%N`` limit on tasks running at once."""

    indices: IndexSet
    max_running: int | None = None
    text: str = ""  # as given, for display


@dataclass(slots=True)
class BatchRequest:
    """A fully parsed ``sbatch`` submission (command line over ``#SBATCH`` lines over environment).

    ``None`` means "not given": the backend applies partition and Slurm defaults.
    """

    script: str  # the batch script's full text (for ``--wrap``: the generated script)
    script_args: list[str] = field(default_factory=list)
    script_path: str | None = None  # absolute path of the script file, None for stdin / --wrap
    name: str | None = None  # -J; default: script file name, "sbatch" for stdin, "wrap" for --wrap
    partitions: list[str] = field(default_factory=list)  # -p a,b (empty: the default partition)
    min_nodes: int | None = None  # -N min[-max]
    max_nodes: int | None = None
    ntasks: int | None = None  # -n
    cpus_per_task: int | None = None  # -c
    ntasks_per_node: int | None = None
    mem_per_node_mb: int | None = None  # --mem (0 = all memory of the node)
    mem_per_cpu_mb: int | None = None  # --mem-per-cpu
    gpus_per_node: int | None = None  # --gres=gpu:N / --gpus-per-node
    gpus: int | None = None  # -G/--gpus (total over the job)
    gpu_type: str | None = None  # the type in --gres=gpu:TYPE:N / --gpus=TYPE:N (None: any)
    time_limit_min: int | None = None  # -t; None = not given (partition default)
    time_unlimited: bool = False  # -t UNLIMITED / INFINITE
    # -t to the second (Slurm rounds seconds up to whole minutes; stratus enforces the exact limit)
    time_limit_s: int | None = None
    array: ArraySpec | None = None
    workdir: str = ""  # -D, absolute; default: the submit directory
    stdout: str | None = None  # -o pattern as given (None = slurm-%j.out / slurm-%A_%a.out)
    stderr: str | None = None  # -e pattern as given (None = same file as stdout)
    stdin: str | None = None  # -i
    parsable: bool = False
    hold: bool = False
    nice: int = 0
    account: str | None = None
    comment: str | None = None
    exclusive: bool = False
    requeue: bool | None = None
    open_mode: str | None = None  # "append" | "truncate"
    constraint: str | None = None  # -C
    export: str | None = None  # --export as given (None = ALL)
    begin_time: float | None = None
    dependency: str | None = None
    mail_type: str | None = None
    mail_user: str | None = None
    # --stage-in / --stage-out (stratus's own): [path, s3 URL] pairs, validated (stratus.staging)
    stage_in: list[list[str]] = field(default_factory=list)
    stage_out: list[list[str]] = field(default_factory=list)
    extra: dict[str, str] = field(default_factory=dict)  # accepted options without behaviour yet


@dataclass(frozen=True, slots=True)
class JobTarget:
    """One ``scancel``/``squeue -j`` target: a job, an array task, or array task ids of a job."""

    job_id: int
    task_ids: IndexSet | None = None  # None: the whole job (every task of an array)


@dataclass(slots=True)
class CancelRequest:
    """A parsed ``scancel``: explicit targets and/or filters (all filters must match)."""

    targets: list[JobTarget] = field(default_factory=list)
    user: str | None = None
    states: list[str] = field(default_factory=list)  # Slurm long names
    partitions: list[str] = field(default_factory=list)
    name: str | None = None
    signal: str | None = None  # -s NAME/NUMBER; None = cancel
    quiet: bool = False
    verbose: bool = False
    nodes: list[str] = field(default_factory=list)  # -w: jobs using any of these nodes
    account: str | None = None  # -A (lower case, as scancel folds it)
    qos: str | None = None  # -q
    reservation: str | None = None  # -R


# -- what the backend shows ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class JobRow:
    """One line of ``squeue``: a job, an array task, or the still-pending remainder of an array."""

    job_id: int  # this record's own id; for a pending array remainder: the array job id
    name: str
    user: str
    uid: int
    gid: int
    partition: str
    state: str  # PENDING, CONFIGURING, RUNNING, COMPLETING, COMPLETED, FAILED, CANCELLED, TIMEOUT,
    # NODE_FAIL, OUT_OF_MEMORY, PREEMPTED, BOOT_FAIL, DEADLINE, REQUEUED, SUSPENDED
    reason: str  # Slurm reason code: None, Resources, Priority, PartitionNodeLimit, TimeLimit ...
    submit_time: float
    priority: int = 0
    array_job_id: int | None = None  # set for array tasks and for a pending array remainder
    array_task_id: int | None = None  # set for one materialised task
    array_pending: IndexSet | None = None  # the pending task ids of an array remainder
    array_max_running: int | None = None
    group: str = ""
    account: str | None = None
    nice: int = 0
    eligible_time: float | None = None
    start_time: float | None = None
    end_time: float | None = None
    time_limit_min: int | None = None  # None = UNLIMITED
    nodes: tuple[str, ...] = ()  # allocated nodes (empty while pending)
    num_nodes: int = 1  # allocated, or requested while pending
    num_cpus: int = 1
    num_tasks: int = 1
    cpus_per_task: int = 1
    min_memory_mb: int | None = None  # per node (--mem)
    min_memory_cpu_mb: int | None = None  # per allocated CPU (--mem-per-cpu)
    # Memory its allocation holds, over all its nodes: 0 unless memory is a consumable resource.
    alloc_memory_mb: int = 0
    memory_consumable: bool = False  # the cluster schedules memory (CR_CPU_Memory)
    gpus_per_node: int = 0
    workdir: str = ""
    command: str | None = None
    stdout: str = ""  # the path its output goes to (patterns expanded)
    stderr: str = ""
    # --output/--error as submitted (made absolute, patterns unexpanded); None: not given.
    stdout_given: str | None = None
    stderr_given: str | None = None
    # Free text Slurm shows instead of the reason code (its state_desc), e.g. "job requeued in
    # held state"; scontrol writes it with underscores for blanks.
    state_desc: str | None = None
    stdin: str = "/dev/null"
    exit_code: int = 0
    exit_signal: int = 0
    restarts: int = 0
    requeue: bool = True
    batch_host: str | None = None
    dependency: str | None = None
    features: str | None = None
    comment: str | None = None
    gpu_type: str | None = None  # requested GPU type (None: any)
    qos: str | None = None  # shown as "(null)" when None, as without accounting
    reservation: str | None = None
    oversubscribe: str = "OK"  # squeue's OVER_SUBSCRIBE: OK, NO (--exclusive), USER, MCS, YES
    # stratus's own, while a job waits to avoid paying for cloud nodes (reason BurstDeferred):
    # when the plan starts it on capacity that needs no power-up (scontrol's StartTime), what
    # the nodes it would otherwise power up cost per hour, and that times its time limit in
    # hours (None: no time limit); scontrol shows them as BurstCost.
    planned_start: float | None = None
    burst_price_per_hour: float | None = None
    burst_cost: float | None = None


@dataclass(frozen=True, slots=True)
class NodeRow:
    """One node as ``sinfo``/``scontrol show node`` see it."""

    name: str
    partitions: tuple[str, ...]
    state: str  # base state: IDLE, ALLOCATED, MIXED, DOWN, COMPLETING, FUTURE
    flags: frozenset[str] = frozenset()  # CLOUD, POWERED_DOWN, POWERING_UP, POWERING_DOWN,
    # POWER_DOWN, NOT_RESPONDING, DRAIN, FAIL, COMPLETING, RESERVED, MAINTENANCE
    cpus: int = 1
    alloc_cpus: int = 0
    memory_mb: int = 0  # RealMemory
    alloc_memory_mb: int = 0
    free_memory_mb: int | None = None
    gpus: int = 0
    gpu_type: str | None = None
    alloc_gpus: int = 0
    sockets: int = 1
    cores_per_socket: int = 1
    threads_per_core: int = 1
    weight: int = 1
    features: tuple[str, ...] = ()
    reason: str | None = None
    reason_user: str | None = None
    reason_time: float | None = None
    addr: str | None = None
    hostname: str | None = None
    boot_time: float | None = None
    agent_start_time: float | None = None
    last_busy_time: float | None = None
    cpu_load: float | None = None
    instance_type: str | None = None
    instance_id: str | None = None
    tmp_disk_mb: int = 0  # TmpDisk
    arch: str | None = None  # the node's machine (``uname -m``) once its agent registered
    os: str | None = None  # ``uname -s -r -v`` of the node once its agent registered


@dataclass(frozen=True, slots=True)
class PartitionRow:
    """One partition (a ParallelCluster queue)."""

    name: str
    nodes: tuple[str, ...]
    default: bool = False
    state: str = "UP"  # UP, DOWN, DRAIN, INACTIVE
    max_time_min: int | None = None  # None = UNLIMITED
    default_time_min: int | None = None
    max_nodes: int | None = None
    min_nodes: int = 0
    priority_tier: int = 1
    priority_job_factor: int = 1


@dataclass(frozen=True, slots=True)
class CancelResult:
    """What ``scancel`` did: messages for ``-v`` and errors to print (Slurm wording)."""

    cancelled: int = 0
    errors: Sequence[str] = ()
    exit_code: int = 0
    # "scancel: Terminating job 18_3" lines for jobs chosen by filters (-u, -t, -p ...), shown
    # with -v; the front end writes the lines for job ids given on the command line itself.
    messages: Sequence[str] = ()


@dataclass(slots=True)
class ControlRequest:
    """A job action from ``scontrol`` (hold, release, requeue, update).

    ``action`` is one of ``hold`` (an administrator's hold, JobHeldAdmin, when an administrator
    asks; otherwise the user's, JobHeldUser), ``uhold`` (always the user's hold), ``release``,
    ``requeue``, ``requeuehold``, ``update``. For ``update``, ``fields`` holds the ``Key=Value``
    pairs as given, keys in Slurm's spelling (``TimeLimit``, ``Partition``, ``NumCPUs``,
    ``Nice``, ``JobName``, ``MinMemoryNode`` ...), values unparsed.
    """

    action: str
    targets: list[JobTarget] = field(default_factory=list)
    fields: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ControlResult:
    """What an ``scontrol`` job action did: complete error lines in Slurm's wording, exit code.

    ``failures`` lists the targets refused as a whole, as (job id as the user wrote it, Slurm's
    error string such as ``Invalid job id specified``); scontrol words them itself
    (``<reason> for job <id>``, plus ``slurm_suspend error: <reason>`` for hold and release).
    ``errors`` are printed as they are (for instance per-task lines ``18_3: <reason>``).
    """

    errors: Sequence[str] = ()
    exit_code: int = 0
    failures: Sequence[tuple[str, str]] = ()


@dataclass(frozen=True, slots=True)
class AcctQuery:
    """What ``sacct`` asks of the accounting store (the front end filters the rest itself).

    ``start``/``end`` bound the time window as sacct does (a job is in the window if it was
    eligible, running or ended within it); ``None`` means unbounded. ``job_ids`` empty: all.
    """

    job_ids: tuple[int, ...] = ()
    users: tuple[str, ...] = ()
    start: float | None = None
    end: float | None = None


@dataclass(frozen=True, slots=True)
class AcctRow:
    """One line of ``sacct``: a run of a job, or one step of it (``step`` set).

    A job requeued after a node failure has one row per run (``restarts`` 0, 1 ...); the newest
    run is the job's current state. Steps: ``batch`` (the batch script), ``extern``, ``0`` ...
    Resource figures are what the node agent measured; ``None`` when unknown.
    """

    job_id: int  # the record's own id (JobIDRaw)
    name: str
    user: str
    uid: int
    gid: int
    partition: str
    state: str  # Slurm long name; a CANCELLED one may carry "by <uid>" in ``state_by_uid``
    submit_time: float
    step: str | None = None
    array_job_id: int | None = None
    array_task_id: int | None = None
    array_pending: IndexSet | None = None  # a pending array remainder, shown as 20_[40-64]
    restarts: int = 0
    account: str | None = None
    group: str = ""
    state_by_uid: int | None = None
    reason: str = "None"
    eligible_time: float | None = None
    start_time: float | None = None
    end_time: float | None = None
    time_limit_min: int | None = None  # None = UNLIMITED
    nodes: tuple[str, ...] = ()
    num_nodes: int = 1
    num_cpus: int = 1
    num_tasks: int | None = None
    req_cpus: int = 1
    req_mem_mb: int | None = None  # per node
    req_mem_cpu_mb: int | None = None  # per allocated CPU (--mem-per-cpu)
    req_gpus: int = 0
    exit_code: int = 0
    exit_signal: int = 0
    derived_exit_code: int = 0  # the highest exit code of the job's steps
    derived_exit_signal: int = 0
    max_rss_kb: int | None = None
    max_vmem_kb: int | None = None
    user_cpu_s: float | None = None
    system_cpu_s: float | None = None
    workdir: str = ""
    priority: int = 0
    cluster: str = ""
    # What the job has cost (USD) up to the end of this run, every earlier run included (the
    # newest run: the job's cost so far); None for steps and where unknown. A stratus addition.
    cost: float | None = None


@dataclass(frozen=True, slots=True)
class PriorityWeights:
    """The cluster's priority plugin and its weights (what ``sprio -w`` shows)."""

    priority_type: str = "priority/basic"
    age: int = 0
    fairshare: int = 0
    jobsize: int = 0
    partition: int = 0


@dataclass(frozen=True, slots=True)
class PriorityRow:
    """One pending job in one of its partitions, with its factors (each 0 to 1), for ``sprio``."""

    job_id: int
    partition: str
    user: str
    age: float
    fairshare: float
    jobsize: float
    partition_factor: float
    nice: int
    priority: int  # the job's priority in this partition, as the scheduler computed it


@dataclass(frozen=True, slots=True)
class ShareRow:
    """One association of the fair-share tree (``sshare``): root, an account, or a user in one.

    ``account`` is the account itself, or for a user row the account it is in; ``depth`` is 0
    for root, 1 below it, and so on. ``raw_shares`` and ``norm_usage`` are None for root.
    ``raw_usage`` is decayed CPU-seconds.
    """

    account: str
    user: str | None
    depth: int
    raw_shares: int | None
    norm_shares: float
    raw_usage: float
    norm_usage: float | None
    effective_usage: float
    fairshare: float


class SlurmBackend(Protocol):
    """What the Slurm front end needs from a cluster (see ``stratus.slurm.server.backend``)."""

    cluster_name: str
    max_array_size: int  # Slurm's MaxArraySize: array task ids must be below it

    def submit(self, request: BatchRequest, ctx: ClientContext) -> int:
        """Store the job durably and return its id; raise ``SlurmError`` if it is rejected."""
        ...

    def cancel(self, request: CancelRequest, ctx: ClientContext) -> CancelResult:
        """Cancel (or signal) the matching jobs."""
        ...

    def jobs(self, finished: bool = True) -> Iterable[JobRow]:
        """Every job the controller still knows (pending, running, and recently finished).

        ``finished=False`` leaves out the finished ones (a hint: callers filter anyway).
        """
        ...

    def nodes(self) -> Iterable[NodeRow]:
        """Every node of every partition, powered down ones included."""
        ...

    def partitions(self) -> Iterable[PartitionRow]:
        """Every partition, in configuration order."""
        ...

    def now(self) -> float:
        """The controller's clock (POSIX seconds), for elapsed times and headers."""
        ...

    def estimate(self, request: BatchRequest, ctx: ClientContext) -> tuple[int, float, str, int, str]:
        """sbatch --test-only: (job id it would get, start time, nodes, CPUs, partition).

        Nothing is submitted; raises ``SlurmError`` where ``submit`` would reject the request.
        """
        ...

    def wait_status(self, job_id: int) -> int | None:
        """sbatch --wait: None while the job (every task of an array) runs, else its exit code."""
        ...

    def control(self, request: ControlRequest, ctx: ClientContext) -> ControlResult:
        """Hold, release, requeue or update jobs (scontrol); durable before it returns."""
        ...

    def accounting(self, query: AcctQuery) -> Iterable[AcctRow]:
        """Rows of the accounting store matching ``query`` (every run and step, finished or not)."""
        ...

    def priorities(self) -> tuple[PriorityWeights, list[PriorityRow]]:
        """The priority plugin and weights, and a row per pending job and partition (``sprio``).

        Only jobs that could be scheduled are listed: pending, not held, past their begin time.
        """
        ...

    def shares(self) -> tuple[str, list[ShareRow]]:
        """The priority plugin and the fair-share tree, usage charged up to now (``sshare``)."""
        ...

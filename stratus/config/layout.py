"""What a valid cluster config means: queues, compute resources, node names and their sizes.

The layout is the one place where ParallelCluster's rules for turning a config into a Slurm
cluster are applied, so the controller, the fleet, the Slurm front end and the simulator agree on
them. The rules follow ParallelCluster's head-node cookbook (``pcluster_slurm_config_generator.py``
and ``config_renderer.py`` / ``config_utils.py`` in aws-parallelcluster-cookbook):

* Nodes are named ``{queue}-st-{cr}-{i}`` for i in 1..MinCount (static, always up) and
  ``{queue}-dy-{cr}-{i}`` for i in 1..MaxCount-MinCount (dynamic, powered up on demand).
* CPUs: the smallest vCPU count among the compute resource's instance types; with
  ``DisableSimultaneousMultithreading`` it is divided by the smallest threads-per-core.
* RealMemory: ``SchedulableMemory`` when set, otherwise ``floor(0.95 * EC2 memory in MiB)`` of
  the instance type with the least memory (the cookbook's ``realmemory_to_ec2memory_ratio``
  default of 0.95, ``get_real_memory``).
* GPUs: the smallest NVIDIA GPU count among the instance types, with that type's GPU name.
* Slurm Weight: ``StaticNodePriority`` (default 1) and ``DynamicNodePriority`` (default 1000).
* Features: ``static`` or ``dynamic``, the instance type (only when the compute resource has a
  single one), the compute-resource name, then ``efa`` when ``Efa.Enabled`` and ``gpu`` when the
  node has GPUs.
* The first queue is the default partition.

Every class here is a frozen dataclass: a layout is a value, safe to share and compare.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from stratus.config.catalog import InstanceType, get_instance_type
from stratus.config.scheduling import (
    CustomPartition,
    PartitionSettings,
    SchedulingSettings,
    SettingError,
    custom_entities,
    is_entity,
    partition_settings,
    scheduling_settings,
)
from stratus.config.schema import (
    ClusterConfig,
    QueueCustomActions,
    SharedStorage,
    SlurmComputeResource,
    SlurmQueue,
    StratusProvider,
)

#: CustomActions of a node: (event, its scripts), each script as (script, *args).
NodeActions = tuple[tuple[str, tuple[tuple[str, ...], ...]], ...]

#: ParallelCluster's defaults (pcluster ``constants.py`` and ``cluster_config.py``).
DEFAULT_MIN_COUNT = 0
DEFAULT_MAX_COUNT = 10
DEFAULT_SCALEDOWN_IDLETIME_MIN = 10.0
DEFAULT_BOOTSTRAP_TIMEOUT_S = 1800.0
DEFAULT_STATIC_NODE_PRIORITY = 1
DEFAULT_DYNAMIC_NODE_PRIORITY = 1000
DEFAULT_CAPACITY_TYPE = "ONDEMAND"
#: The cookbook's ``realmemory_to_ec2memory_ratio`` (attributes/slurm_attributes.rb).
REALMEMORY_TO_EC2MEMORY_RATIO = 0.95
#: Where the head node listens for agents unless ``Stratus.HeadNodeAddress`` says otherwise.
DEFAULT_HEAD_NODE_ADDRESS = "127.0.0.1"
DEFAULT_SSH_PORT = 22
#: Where the agent's files go on a host, relative to the login directory.
DEFAULT_AGENT_DIRECTORY = ".stratus-agent"
#: clustermgtd's defaults: how long a compute resource stays disabled after an insufficient
#: capacity error, and how many bootstrap failures of a queue put the fleet in protected mode.
DEFAULT_INSUFFICIENT_CAPACITY_TIMEOUT_S = 600.0
DEFAULT_PROTECTED_FAILURE_COUNT = 10
#: The provider kind of compute resources that name no provider: processes on this machine.
LOCAL = "local"


def split_host(spec: str, default_port: int = DEFAULT_SSH_PORT) -> tuple[str, int]:
    """``host``, ``host:port`` or ``[v6addr]:port`` as (host, port).

    Raises ``ValueError`` naming what is wrong. A bare IPv6 address (several colons) is a host.
    """
    text = spec.strip()
    if not text or any(c.isspace() for c in text):
        raise ValueError(f"'{spec}' is not a host name or address")
    if text.startswith("["):
        host, sep, rest = text[1:].partition("]")
        if not sep or not host or (rest and not rest.startswith(":")):
            raise ValueError(f"'{spec}' is not [address] or [address]:port")
        port_text = rest[1:] if rest else ""
    elif text.count(":") == 1:
        host, _, port_text = text.partition(":")
    else:
        host, port_text = text, ""
    if not host:
        raise ValueError(f"'{spec}' has no host")
    if not port_text:
        return host, default_port
    if not (port_text.isascii() and port_text.isdigit()) or not 1 <= int(port_text) <= 65535:
        raise ValueError(f"'{spec}' has a bad port '{port_text}' (1 to 65535)")
    return host, int(port_text)


@dataclass(frozen=True)
class HostResources:
    """What a host offers its node, as ``slurmd -C`` reports it: CPUs, RealMemory (MiB), GPUs."""

    cpus: int
    memory_mb: int
    gpus: int = 0

    def to_json(self) -> dict[str, int]:
        return {"cpus": self.cpus, "memory_mb": self.memory_mb, "gpus": self.gpus}

    @classmethod
    def from_json(cls, d: Mapping[str, object]) -> HostResources:
        return cls(int(str(d["cpus"])), int(str(d["memory_mb"])), int(str(d.get("gpus", 0))))


@dataclass(frozen=True)
class SshHost:
    """One host of an ssh provider: ``spec`` as the config writes it, where to log in."""

    spec: str
    host: str
    port: int

    @property
    def key(self) -> str:
        """``host:port``: how probe results and pinned host keys are filed."""
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


@dataclass(frozen=True)
class ProviderLayout:
    """A ``Stratus.Providers`` entry: its ``hosts`` in config order (the n-th static node of a
    compute resource naming it runs on the n-th host)."""

    name: str
    kind: str
    hosts: tuple[SshHost, ...]
    user: str | None = None
    identity_file: str | None = None
    agent_directory: str = DEFAULT_AGENT_DIRECTORY
    # ec2: where and how instances are launched (see StratusProvider).
    region: str | None = None
    endpoint_url: str | None = None
    image_id: str | None = None
    subnet_id: str | None = None
    security_group_ids: tuple[str, ...] = ()
    key_name: str | None = None
    instance_profile: str | None = None
    profile: str | None = None
    install_command: str | None = None
    # What one node costs per hour (None: the instance catalog's price, 0 for ssh hosts).
    price_per_hour: float | None = None


#: Probe results by ``SshHost.key``; or a function that probes the hosts it is given.
HostFacts = Mapping[str, HostResources] | Callable[[tuple[ProviderLayout, ...]], Mapping[str, HostResources]]


@dataclass(frozen=True)
class SharedStorageLayout:
    """A shared file system: ``mount_dir`` is absolute (pcluster accepts ``shared`` for ``/shared``).

    ``providers`` are the providers whose nodes have it mounted (``Stratus.SharedStorage``;
    ``local`` for this machine's nodes); empty: every node has it.
    """

    name: str
    storage_type: str
    mount_dir: str
    providers: tuple[str, ...] = ()


@dataclass(frozen=True)
class ComputeResourceLayout:
    """One compute resource of a queue: a group of identical Slurm nodes.

    ``vcpus``, ``memory_mb`` and ``gpus`` are what each node declares to Slurm (``CPUs``,
    ``RealMemory`` in MiB, ``Gres=gpu:<gpu_type>:<gpus>``), derived as the module docstring says.
    ``price_per_hour`` is the on-demand price of the cheapest of ``instance_types``: with
    several types EC2 Fleet's default ``lowest-price`` strategy launches the cheapest one.
    ``static_features`` and ``dynamic_features`` are the Slurm ``Feature=`` lists of the static
    and the dynamic nodes, which differ only in their first element.
    """

    queue: str
    name: str
    instance_types: tuple[str, ...]
    vcpus: int
    memory_mb: int
    gpus: int
    gpu_type: str | None
    price_per_hour: float
    min_count: int
    max_count: int
    static_nodes: tuple[str, ...]
    dynamic_nodes: tuple[str, ...]
    static_weight: int
    dynamic_weight: int
    static_features: tuple[str, ...]
    dynamic_features: tuple[str, ...]
    efa: bool = False
    # The Stratus provider that launches these nodes ("" for the local provider), and its kind.
    provider: str = ""
    provider_kind: str = LOCAL

    @property
    def provider_name(self) -> str:
        """The provider's name as nodes carry it among their features (``local`` for this machine)."""
        return self.provider or LOCAL

    @property
    def node_names(self) -> tuple[str, ...]:
        """Static nodes first, then dynamic nodes, each in index order."""
        return self.static_nodes + self.dynamic_nodes

    def is_static(self, node_name: str) -> bool:
        """Whether ``node_name`` is one of this compute resource's static nodes."""
        return node_name in self.static_nodes

    def features(self, node_name: str) -> tuple[str, ...]:
        """The Slurm features of one of this compute resource's nodes."""
        return self.static_features if self.is_static(node_name) else self.dynamic_features


@dataclass(frozen=True)
class QueueLayout:
    """A queue: one Slurm partition. ``default`` is true for the first queue of the config."""

    name: str
    default: bool
    capacity_type: str
    compute_resources: tuple[ComputeResourceLayout, ...]
    partition: PartitionSettings = field(default_factory=PartitionSettings)  # MaxTime, DefaultTime ...
    # CustomActions: what each node of the queue runs as it boots, by event (OnNodeStart,
    # OnNodeConfigured), each script as (script, *args), in order.
    custom_actions: NodeActions = ()
    # Stratus.Burst: how long a job may wait for free capacity before paid nodes power up for it.
    burst_max_wait_s: float = 0.0

    @property
    def node_names(self) -> tuple[str, ...]:
        """Every node of the partition, compute resource by compute resource."""
        return tuple(name for cr in self.compute_resources for name in cr.node_names)

    def compute_resource(self, name: str) -> ComputeResourceLayout | None:
        """The compute resource called ``name``, if the queue has one."""
        return next((cr for cr in self.compute_resources if cr.name == name), None)


@dataclass(frozen=True)
class ClusterLayout:
    """The cluster a config describes.

    ``scaledown_idletime_s`` is ``ScaledownIdletime`` minutes times 60 (``math.inf`` for -1:
    dynamic nodes never power down); ``resume_timeout_s`` is
    ``DevSettings.Timeouts.ComputeNodeBootstrapTimeout`` (default 1800), Slurm's ResumeTimeout.
    ``tags`` are the cluster-level ``Tags`` in config order.
    """

    region: str | None
    scheduler: str
    head_node_instance_type: str
    scaledown_idletime_s: float
    memory_based_scheduling: bool
    resume_timeout_s: float
    queues: tuple[QueueLayout, ...]
    tags: tuple[tuple[str, str], ...]
    shared_storage: tuple[SharedStorageLayout, ...]
    max_array_size: int = 1001  # Slurm's MaxArraySize (CustomSlurmSettings), default 1001
    min_job_age_s: float = 300.0  # Slurm's MinJobAge: how long finished jobs stay in squeue
    scheduling: SchedulingSettings = field(default_factory=SchedulingSettings)  # policies, priorities
    # Partitions declared in CustomSlurmSettings over nodes of the queues (a node may be in several).
    custom_partitions: tuple[CustomPartition, ...] = ()
    providers: tuple[ProviderLayout, ...] = ()  # Stratus.Providers
    head_node_address: str = DEFAULT_HEAD_NODE_ADDRESS  # Stratus.HeadNodeAddress: where agents dial
    # Stratus.InsufficientCapacityTimeout (<= 0: no fail-over) and Stratus.ProtectedFailureCount
    # (<= 0: no protected mode), clustermgtd's insufficient_capacity_timeout and
    # protected_failure_count.
    insufficient_capacity_timeout_s: float = DEFAULT_INSUFFICIENT_CAPACITY_TIMEOUT_S
    protected_failure_count: int = DEFAULT_PROTECTED_FAILURE_COUNT
    # Stratus.Engine: "stratus" (its own engine) or "slurm" (real Slurm daemons schedule jobs).
    engine: str = "stratus"
    # Stratus.ExistingSlurm.Conf: the slurm.conf of a site's own Slurm these nodes join ("" when
    # the cluster runs its own Slurm or none).
    existing_slurm_conf: str = ""
    # Stratus.ExistingSlurm.MungeKey: the site's munge key, for nodes on other machines ("" if none).
    existing_slurm_munge_key: str = ""
    # Stratus.BatchApi: where the AWS Batch endpoint listens ("" when the cluster serves none;
    # port 0: a free port, kept once chosen).
    batch_api_address: str = ""
    batch_api_port: int = 0
    batch_api_container_runtime: str = "podman"
    # Stratus.Metrics: where the Prometheus endpoint listens ("" when the cluster serves none;
    # port 0: a free port, kept once chosen); open: no bearer token asked.
    metrics_address: str = ""
    metrics_port: int = 0
    metrics_open: bool = False
    # Stratus.S3: the object store every job sees ("" when the cluster names none).
    s3_endpoint_url: str = ""
    s3_region: str = ""
    s3_credentials_file: str = ""
    s3_profile: str = "default"

    def provider(self, name: str) -> ProviderLayout | None:
        """The ``Stratus.Providers`` entry called ``name``, if there is one."""
        return next((p for p in self.providers if p.name == name), None)

    @property
    def has_remote_nodes(self) -> bool:
        """Whether some compute resource runs on machines other than this one."""
        return any(cr.provider for cr in self.compute_resources())

    def required_mounts(self) -> dict[str, tuple[tuple[str, str], ...]]:
        """Node -> (mount directory, storage name) of each shared storage ``Stratus.SharedStorage``
        says the node's provider has: what the node must have mounted to be admitted."""
        out: dict[str, tuple[tuple[str, str], ...]] = {}
        for cr in self.compute_resources():
            wanted = tuple(
                (s.mount_dir, s.name) for s in self.shared_storage if cr.provider_name in s.providers
            )
            if wanted:
                out.update(dict.fromkeys(cr.node_names, wanted))
        return out

    def storage_at(self, path: str) -> SharedStorageLayout | None:
        """The shared storage ``path`` lies in (the deepest mount that holds it), if any."""
        inside = [
            s
            for s in self.shared_storage
            if path == s.mount_dir or path.startswith(s.mount_dir.rstrip("/") + "/")
        ]
        return max(inside, key=lambda s: len(s.mount_dir), default=None)

    @property
    def default_queue(self) -> QueueLayout:
        """The default partition (the first queue)."""
        return self.queues[0]

    def queue(self, name: str) -> QueueLayout | None:
        """The queue called ``name``, if there is one."""
        return next((queue for queue in self.queues if queue.name == name), None)

    def compute_resources(self) -> Iterator[ComputeResourceLayout]:
        """Every compute resource, queue by queue."""
        for queue in self.queues:
            yield from queue.compute_resources

    def node_names(self) -> tuple[str, ...]:
        """Every node of the cluster, queue by queue."""
        return tuple(name for queue in self.queues for name in queue.node_names)

    def compute_resource_of(self, node_name: str) -> ComputeResourceLayout | None:
        """The compute resource a node belongs to, or ``None`` for a name not in the layout."""
        for cr in self.compute_resources():
            if node_name in cr.static_nodes or node_name in cr.dynamic_nodes:
                return cr
        return None


class LayoutError(ValueError):
    """The config cannot be laid out: it was not validated first (a programming error)."""


def provider_layouts(config: ClusterConfig) -> tuple[ProviderLayout, ...]:
    """The config's ``Stratus.Providers``, hosts parsed (the config must have been validated)."""
    out = []
    ami = config.image.custom_ami if config.image is not None else None
    for p in (config.stratus.providers or []) if config.stratus else []:
        out.append(_provider(p, config.region, ami))
    return tuple(out)


def _provider(p: StratusProvider, region: str | None, image_id: str | None) -> ProviderLayout:
    try:
        hosts = tuple(SshHost(spec, *split_host(spec, p.port or DEFAULT_SSH_PORT)) for spec in p.hosts or ())
    except ValueError as exc:
        raise LayoutError(str(exc)) from None
    return ProviderLayout(
        name=p.name,
        kind=p.kind,
        hosts=hosts,
        user=p.user,
        identity_file=p.identity_file,
        agent_directory=p.agent_directory or DEFAULT_AGENT_DIRECTORY,
        region=p.region or region,
        endpoint_url=p.endpoint_url,
        image_id=p.image_id or image_id,
        subnet_id=p.subnet_id,
        security_group_ids=tuple(p.security_group_ids or ()),
        key_name=p.key_name,
        instance_profile=p.instance_profile,
        profile=p.profile,
        install_command=p.install_command,
        price_per_hour=p.price_per_hour,
    )


def used_providers(config: ClusterConfig) -> tuple[ProviderLayout, ...]:
    """The ssh providers some compute resource names, in config order: the hosts to probe."""
    named = {cr.provider for q in config.scheduling.slurm_queues or [] for cr in q.compute_resources}
    return tuple(p for p in provider_layouts(config) if p.name in named and p.kind == "ssh")


def build_layout(config: ClusterConfig, hosts: HostFacts | None = None) -> ClusterLayout:
    """Lay out a validated config.

    The nodes of a compute resource that names a provider get their size from its hosts:
    ``hosts`` holds what each host reported (or probes them when it is a function, called once
    and only if some compute resource names a provider). Raises ``LayoutError`` if the config
    was not validated first (an unknown instance type, a scheduler other than slurm) or if a
    host's resources are not known.
    """
    providers = provider_layouts(config)
    used = used_providers(config)
    facts: Mapping[str, HostResources] = {}
    if used:
        if hosts is None:
            raise LayoutError("the resources of the providers' hosts are needed to lay out this cluster")
        facts = hosts(used) if callable(hosts) else hosts
    scheduling = config.scheduling
    if scheduling.scheduler != "slurm" or not scheduling.slurm_queues:
        raise LayoutError(f"cannot lay out a cluster for scheduler {scheduling.scheduler!r}")
    settings = scheduling.slurm_settings
    idletime_min = DEFAULT_SCALEDOWN_IDLETIME_MIN
    if settings is not None and settings.scaledown_idletime is not None:
        idletime_min = settings.scaledown_idletime
    timeouts = config.dev_settings.timeouts if config.dev_settings else None
    resume_timeout = DEFAULT_BOOTSTRAP_TIMEOUT_S
    if timeouts is not None and timeouts.compute_node_bootstrap_timeout is not None:
        resume_timeout = float(timeouts.compute_node_bootstrap_timeout)
    custom: dict[str, Any] = {}
    entities: list[dict[str, Any]] = []
    for item in (settings.custom_slurm_settings or []) if settings else []:
        if is_entity(item):
            entities.append(item)
        else:
            custom.update(item)
    by_name = {p.name: p for p in providers}
    stratus = config.stratus
    burst = stratus.burst if stratus is not None else None
    max_wait = {q.name: float(q.max_wait) for q in (burst.queues or [] if burst is not None else [])}
    default_wait = float(burst.max_wait or 0) if burst is not None else 0.0
    mounted = {e.name: tuple(e.providers) for e in (stratus.shared_storage or [])} if stratus else {}
    # A provider's name is a node feature (sbatch -C lab) once some compute resource names one.
    tag_providers = any(cr.provider for q in scheduling.slurm_queues for cr in q.compute_resources)
    queues = tuple(
        _queue(
            queue,
            by_name,
            facts,
            default=index == 0,
            burst_max_wait_s=max_wait.get(queue.name, default_wait),
            tag_providers=tag_providers,
            storage=mounted,
        )
        for index, queue in enumerate(scheduling.slurm_queues)
    )
    capacity_timeout = stratus.insufficient_capacity_timeout if stratus is not None else None
    failure_count = stratus.protected_failure_count if stratus is not None else None
    s3 = stratus.s3 if stratus is not None else None
    metrics = stratus.metrics if stratus is not None else None
    try:
        scheduling_conf = scheduling_settings(
            custom, foreign_options=bool(stratus is not None and stratus.engine == "slurm")
        )
        custom_partitions = custom_entities(entities, {q.name: q.node_names for q in queues})
    except SettingError as exc:
        raise LayoutError(str(exc)) from None
    return ClusterLayout(
        custom_partitions=custom_partitions,
        max_array_size=int(custom.get("MaxArraySize", 1001)),
        min_job_age_s=float(custom.get("MinJobAge", 300)),
        scheduling=scheduling_conf,
        region=config.region,
        scheduler=scheduling.scheduler,
        head_node_instance_type=config.head_node.instance_type,
        scaledown_idletime_s=math.inf if idletime_min == -1 else idletime_min * 60.0,
        memory_based_scheduling=bool(settings and settings.enable_memory_based_scheduling),
        resume_timeout_s=resume_timeout,
        queues=queues,
        tags=tuple((tag.key, tag.value) for tag in config.tags or ()),
        shared_storage=tuple(
            _storage(storage, mounted.get(storage.name, ())) for storage in config.shared_storage or ()
        ),
        providers=providers,
        insufficient_capacity_timeout_s=(
            float(capacity_timeout)
            if capacity_timeout is not None
            else DEFAULT_INSUFFICIENT_CAPACITY_TIMEOUT_S
        ),
        protected_failure_count=(
            failure_count if failure_count is not None else DEFAULT_PROTECTED_FAILURE_COUNT
        ),
        engine=(config.stratus.engine if config.stratus and config.stratus.engine else "stratus"),
        existing_slurm_conf=(
            config.stratus.existing_slurm.conf if config.stratus and config.stratus.existing_slurm else ""
        ),
        batch_api_address=(
            (config.stratus.batch_api.address or "127.0.0.1")
            if config.stratus and config.stratus.batch_api
            else ""
        ),
        batch_api_port=(
            (config.stratus.batch_api.port or 0) if config.stratus and config.stratus.batch_api else 0
        ),
        batch_api_container_runtime=(
            (config.stratus.batch_api.container_runtime or "podman")
            if config.stratus and config.stratus.batch_api
            else "podman"
        ),
        metrics_address=(metrics.address or "127.0.0.1") if metrics else "",
        metrics_port=(metrics.port or 0) if metrics else 0,
        metrics_open=bool(metrics.open) if metrics else False,
        s3_endpoint_url=s3.endpoint_url if s3 else "",
        s3_region=(s3.region or config.region or "") if s3 else "",
        s3_credentials_file=(s3.credentials_file or "") if s3 else "",
        s3_profile=(s3.profile or "default") if s3 else "default",
        existing_slurm_munge_key=(
            config.stratus.existing_slurm.munge_key or ""
            if config.stratus and config.stratus.existing_slurm
            else ""
        ),
        head_node_address=(
            config.stratus.head_node_address
            if config.stratus and config.stratus.head_node_address
            else DEFAULT_HEAD_NODE_ADDRESS
        ),
    )


def _queue(
    queue: SlurmQueue,
    providers: Mapping[str, ProviderLayout],
    facts: Mapping[str, HostResources],
    *,
    default: bool,
    burst_max_wait_s: float = 0.0,
    tag_providers: bool = False,
    storage: Mapping[str, tuple[str, ...]] | None = None,
) -> QueueLayout:
    storage = storage or {}
    try:
        partition = partition_settings(queue.custom_slurm_settings or {})
    except SettingError as exc:
        raise LayoutError(str(exc)) from None
    crs = []
    for cr in queue.compute_resources:
        entry = providers.get(cr.provider) if cr.provider is not None else None
        if cr.provider is not None and entry is None:
            raise LayoutError(f"compute resource {cr.name!r} names an unknown provider {cr.provider!r}")
        if entry is not None and entry.kind == "ssh":
            layout = _hosted_compute_resource(queue.name, cr, providers, facts)
        else:
            layout = _compute_resource(queue.name, cr)
            if entry is not None:
                price = entry.price_per_hour
                layout = replace(
                    layout,
                    provider=entry.name,
                    provider_kind=entry.kind,
                    price_per_hour=layout.price_per_hour if price is None else price,
                )
        extra: tuple[str, ...] = (layout.provider_name,) if tag_providers else ()
        # A shared storage only some providers have: its name is a feature of their nodes, so a
        # job whose data lies there (or that asks -C <name>) runs only where it is mounted.
        extra += tuple(name for name, where in storage.items() if layout.provider_name in where)
        if extra:
            layout = replace(
                layout,
                static_features=tuple(dict.fromkeys((*layout.static_features, *extra))),
                dynamic_features=tuple(dict.fromkeys((*layout.dynamic_features, *extra))),
            )
        crs.append(layout)
    return QueueLayout(
        name=queue.name,
        default=default,
        capacity_type=queue.capacity_type or DEFAULT_CAPACITY_TYPE,
        compute_resources=tuple(crs),
        partition=partition,
        custom_actions=_custom_actions(queue.custom_actions),
        burst_max_wait_s=burst_max_wait_s,
    )


def _custom_actions(actions: QueueCustomActions | None) -> NodeActions:
    """A queue's CustomActions as (event, scripts): a ``Script`` with its ``Args``, or each
    script of a ``Sequence`` in order."""
    out = []
    for event, action in (
        ("OnNodeStart", actions.on_node_start if actions else None),
        ("OnNodeConfigured", actions.on_node_configured if actions else None),
    ):
        if action is None:
            continue
        if action.sequence is not None:
            scripts = tuple((s.script, *(s.args or ())) for s in action.sequence)
        else:
            scripts = ((action.script or "", *(action.args or ())),)
        out.append((event, scripts))
    return tuple(out)


def _lookup(name: str) -> InstanceType:
    found = get_instance_type(name)
    if found is None:
        raise LayoutError(f"unknown instance type {name!r}")
    return found


def _compute_resource(queue: str, cr: SlurmComputeResource) -> ComputeResourceLayout:
    names = cr.instance_type_names
    if not names:
        raise LayoutError(f"compute resource {cr.name!r} has no instance type")
    types = [_lookup(name) for name in names]
    vcpus = min(t.vcpus for t in types)
    if cr.disable_simultaneous_multithreading:
        vcpus //= min(t.threads_per_core for t in types)
    if cr.schedulable_memory is not None:
        memory = cr.schedulable_memory
    else:
        memory = math.floor(min(t.memory_mib for t in types) * REALMEMORY_TO_EC2MEMORY_RATIO)
    # As the cookbook: the GPU type is that of the type with the fewest GPUs (first on ties).
    fewest_gpus = min(types, key=lambda t: t.gpus)
    gpus = fewest_gpus.gpus
    gpu_type = fewest_gpus.gpu_type if gpus else None
    min_count = cr.min_count if cr.min_count is not None else DEFAULT_MIN_COUNT
    max_count = cr.max_count if cr.max_count is not None else DEFAULT_MAX_COUNT
    efa = bool(cr.efa and cr.efa.enabled)
    # With several instance types the one a node gets is not known in advance, so the cookbook
    # names no instance type among the features.
    shared_features: list[str] = [names[0], cr.name] if len(names) == 1 else [cr.name]
    if efa:
        shared_features.append("efa")
    if gpus > 0:
        shared_features.append("gpu")
    return ComputeResourceLayout(
        queue=queue,
        name=cr.name,
        instance_types=names,
        vcpus=max(vcpus, 1),
        memory_mb=memory,
        gpus=gpus,
        gpu_type=gpu_type,
        price_per_hour=min(t.price_per_hour for t in types),
        min_count=min_count,
        max_count=max_count,
        static_nodes=tuple(f"{queue}-st-{cr.name}-{i}" for i in range(1, min_count + 1)),
        dynamic_nodes=tuple(f"{queue}-dy-{cr.name}-{i}" for i in range(1, max_count - min_count + 1)),
        static_weight=(
            cr.static_node_priority if cr.static_node_priority is not None else DEFAULT_STATIC_NODE_PRIORITY
        ),
        dynamic_weight=(
            cr.dynamic_node_priority
            if cr.dynamic_node_priority is not None
            else DEFAULT_DYNAMIC_NODE_PRIORITY
        ),
        static_features=("static", *shared_features),
        dynamic_features=("dynamic", *shared_features),
        efa=efa,
    )


def _hosted_compute_resource(
    queue: str,
    cr: SlurmComputeResource,
    providers: Mapping[str, ProviderLayout],
    facts: Mapping[str, HostResources],
) -> ComputeResourceLayout:
    """A compute resource on a provider's hosts: one static node per host, sized by the hosts.

    As with several instance types, the nodes declare what every one of them has: the smallest
    CPU count, memory and GPU count among the hosts (``SchedulableMemory`` replaces the memory).
    """
    provider = providers.get(cr.provider or "")
    if provider is None:
        raise LayoutError(f"compute resource {cr.name!r} names an unknown provider {cr.provider!r}")
    missing = [h.spec for h in provider.hosts if h.key not in facts]
    if missing:
        raise LayoutError(
            f"the resources of host(s) {', '.join(missing)} of provider {provider.name!r} are unknown"
        )
    sizes = [facts[h.key] for h in provider.hosts]
    names = cr.instance_type_names
    shared_features: list[str] = [names[0], cr.name] if len(names) == 1 else [cr.name]
    gpus = min(s.gpus for s in sizes)
    if gpus > 0:
        shared_features.append("gpu")
    count = len(provider.hosts)
    return ComputeResourceLayout(
        queue=queue,
        name=cr.name,
        # The instance type only labels the nodes here; the provider kind does without one.
        instance_types=names or (provider.kind,),
        vcpus=max(min(s.cpus for s in sizes), 1),
        memory_mb=cr.schedulable_memory
        if cr.schedulable_memory is not None
        else min(s.memory_mb for s in sizes),
        gpus=gpus,
        gpu_type=None,
        price_per_hour=provider.price_per_hour or 0.0,
        min_count=count,
        max_count=count,
        static_nodes=tuple(f"{queue}-st-{cr.name}-{i}" for i in range(1, count + 1)),
        dynamic_nodes=(),
        static_weight=(
            cr.static_node_priority if cr.static_node_priority is not None else DEFAULT_STATIC_NODE_PRIORITY
        ),
        dynamic_weight=(
            cr.dynamic_node_priority
            if cr.dynamic_node_priority is not None
            else DEFAULT_DYNAMIC_NODE_PRIORITY
        ),
        static_features=("static", *shared_features),
        dynamic_features=("dynamic", *shared_features),
        efa=False,
        provider=provider.name,
        provider_kind=provider.kind,
    )


def _storage(storage: SharedStorage, providers: tuple[str, ...] = ()) -> SharedStorageLayout:
    mount_dir = storage.mount_dir if storage.mount_dir.startswith("/") else "/" + storage.mount_dir
    return SharedStorageLayout(
        name=storage.name, storage_type=storage.storage_type, mount_dir=mount_dir, providers=providers
    )

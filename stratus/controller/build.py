"""From a validated cluster configuration to the engine's neutral description of the cluster."""

from __future__ import annotations

from stratus.config import ClusterLayout
from stratus.engine.model import EngineConfig, NodeDef, PartitionDef

# The provider kind whose nodes are the site's own hosts (no hourly price, never a burst).
ON_PREM_KIND = "ssh"


def engine_config(layout: ClusterLayout, *, min_job_age_s: float = 300.0) -> EngineConfig:
    """Every node the configuration declares (static and dynamic), grouped into partitions.

    Static nodes come before dynamic ones in each partition, and their lower weight
    (StaticNodePriority 1 vs DynamicNodePriority 1000 by default) makes the scheduler use them
    first, as Slurm does with ParallelCluster's node weights. Each node carries its compute
    resource's hourly price and whether it runs on the site's own hosts (an ssh provider), and
    each partition its queue's burst threshold (``Stratus.Burst``).
    """
    nodes: list[NodeDef] = []
    partitions: list[PartitionDef] = []
    # Partitions declared in CustomSlurmSettings: a node is in its queue's and in these.
    also_in: dict[str, list[str]] = {}
    for custom in layout.custom_partitions:
        for name in custom.nodes:
            also_in.setdefault(name, []).append(custom.name)
    # The last partition declared Default=YES is the default, as in slurm.conf.
    custom_default = next((p.name for p in reversed(layout.custom_partitions) if p.default), None)
    for queue in layout.queues:
        members: list[str] = []
        for cr in queue.compute_resources:
            group = f"{queue.name}/{cr.name}"
            for static, names, weight, features in (
                (True, cr.static_nodes, cr.static_weight, cr.static_features),
                (False, cr.dynamic_nodes, cr.dynamic_weight, cr.dynamic_features),
            ):
                for name in names:
                    nodes.append(
                        NodeDef(
                            name=name,
                            partitions=(queue.name, *also_in.get(name, ())),
                            cpus=cr.vcpus,
                            memory_mb=cr.memory_mb,
                            gpus=cr.gpus,
                            gpu_type=cr.gpu_type,
                            weight=weight,
                            static=static,
                            features=features,
                            instance_type=cr.instance_types[0],
                            group=group,
                            price_per_hour=cr.price_per_hour,
                            on_prem=cr.provider_kind == ON_PREM_KIND,
                        )
                    )
                    members.append(name)
        settings = queue.partition
        partitions.append(
            PartitionDef(
                queue.name,
                tuple(members),
                default=queue.default and custom_default is None,
                max_time_s=settings.max_time_s,
                default_time_s=settings.default_time_s,
                priority_job_factor=settings.priority_job_factor,
                user_limits=settings.user_limits,
                priority_tier=settings.priority_tier,
                burst_max_wait_s=queue.burst_max_wait_s,
            )
        )
    for custom in layout.custom_partitions:
        s = custom.settings
        partitions.append(
            PartitionDef(
                custom.name,
                custom.nodes,
                default=custom.name == custom_default,
                max_time_s=s.max_time_s,
                default_time_s=s.default_time_s,
                priority_job_factor=s.priority_job_factor,
                user_limits=s.user_limits,
                priority_tier=s.priority_tier,
            )
        )
    scheduling = layout.scheduling
    return EngineConfig(
        partitions=tuple(partitions),
        nodes=tuple(nodes),
        scaledown_idle_s=layout.scaledown_idletime_s,
        resume_timeout_s=layout.resume_timeout_s,
        memory_scheduling=layout.memory_based_scheduling,
        min_job_age_s=min_job_age_s,
        policy=scheduling.policy,
        priority=scheduling.priority,
        user_limits=scheduling.user_limits,
        over_time_limit_s=scheduling.over_time_limit_s,
        external_power=layout.engine == "slurm",
    )

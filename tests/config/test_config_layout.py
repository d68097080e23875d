"""The cluster layout: node names, sizes and Slurm attributes derived as ParallelCluster does."""

from __future__ import annotations

from pathlib import Path

import pytest

from stratus.config import ClusterLayout, ComputeResourceLayout, load_cluster_config

DATA = Path(__file__).parent / "data"


def layout_of(text: str) -> ClusterLayout:
    return load_cluster_config(text, suppress_validators=["ALL"]).layout


def cluster(compute_resource: str, *, settings: str = "", extra: str = "") -> str:
    """A one-queue config whose single compute resource is ``compute_resource`` (YAML, 6-space indent)."""
    return (
        "HeadNode:\n"
        "  InstanceType: t3.micro\n"
        "Scheduling:\n"
        "  Scheduler: slurm\n"
        f"{settings}"
        "  SlurmQueues:\n"
        "  - Name: q\n"
        "    ComputeResources:\n"
        "    - Name: cr\n"
        f"{compute_resource}"
        f"{extra}"
    )


def only_cr(text: str) -> ComputeResourceLayout:
    (cr,) = layout_of(text).queues[0].compute_resources
    return cr


def test_walkthrough_layout() -> None:
    layout = load_cluster_config((DATA / "walkthrough.yaml").read_text()).layout
    assert layout.scheduler == "slurm"
    assert layout.head_node_instance_type == "t2.micro"
    assert layout.scaledown_idletime_s == 600.0
    assert layout.resume_timeout_s == 1800.0
    assert layout.memory_based_scheduling is False
    (queue,) = layout.queues
    assert (queue.name, queue.default, queue.capacity_type) == ("queue1", True, "ONDEMAND")
    (cr,) = queue.compute_resources
    assert cr.static_nodes == ()
    assert cr.dynamic_nodes == tuple(f"queue1-dy-t2micro-{i}" for i in range(1, 11))
    assert (cr.vcpus, cr.memory_mb, cr.gpus, cr.gpu_type) == (1, 972, 0, None)
    assert cr.dynamic_features == ("dynamic", "t2.micro", "t2micro")
    assert layout.default_queue is queue


def test_static_and_dynamic_node_names() -> None:
    cr = only_cr(cluster("      InstanceType: c5.large\n      MinCount: 2\n      MaxCount: 5\n"))
    assert cr.static_nodes == ("q-st-cr-1", "q-st-cr-2")
    assert cr.dynamic_nodes == ("q-dy-cr-1", "q-dy-cr-2", "q-dy-cr-3")
    assert cr.node_names == cr.static_nodes + cr.dynamic_nodes
    assert (cr.min_count, cr.max_count) == (2, 5)
    assert cr.features("q-st-cr-1") == ("static", "c5.large", "cr")
    assert cr.features("q-dy-cr-3") == ("dynamic", "c5.large", "cr")
    all_static = only_cr(cluster("      InstanceType: c5.large\n      MinCount: 4\n      MaxCount: 4\n"))
    assert (len(all_static.static_nodes), all_static.dynamic_nodes) == (4, ())


def test_defaults_match_parallelcluster() -> None:
    cr = only_cr(cluster("      InstanceType: c5.large\n"))
    assert (cr.min_count, cr.max_count) == (0, 10)
    assert (cr.static_weight, cr.dynamic_weight) == (1, 1000)
    assert len(cr.dynamic_nodes) == 10


def test_node_priorities_become_weights() -> None:
    text = cluster(
        "      InstanceType: c5.large\n      StaticNodePriority: 5\n      DynamicNodePriority: 50\n"
    )
    cr = only_cr(text)
    assert (cr.static_weight, cr.dynamic_weight) == (5, 50)


@pytest.mark.parametrize(
    ("instance_type", "real_memory"),
    [("t2.micro", 972), ("c5.xlarge", 7782), ("c5n.large", 5107), ("m5.24xlarge", 373555)],
)
def test_real_memory_is_95_percent_of_ec2_memory(instance_type: str, real_memory: int) -> None:
    assert only_cr(cluster(f"      InstanceType: {instance_type}\n")).memory_mb == real_memory


def test_schedulable_memory_overrides_real_memory() -> None:
    cr = only_cr(cluster("      InstanceType: c5.xlarge\n      SchedulableMemory: 8000\n"))
    assert cr.memory_mb == 8000


@pytest.mark.parametrize(
    ("instance_type", "vcpus"),
    [("c5.xlarge", 2), ("c5n.18xlarge", 36), ("t2.xlarge", 4), ("m6g.xlarge", 4), ("hpc7a.96xlarge", 192)],
)
def test_disable_smt_halves_cpus_only_where_there_are_threads(instance_type: str, vcpus: int) -> None:
    text = cluster(f"      InstanceType: {instance_type}\n      DisableSimultaneousMultithreading: true\n")
    assert only_cr(text).vcpus == vcpus


def test_flexible_instance_types_use_the_smallest_figures_and_cheapest_price() -> None:
    text = cluster(
        "      Instances:\n"
        "      - InstanceType: m5.2xlarge\n"
        "      - InstanceType: c5.2xlarge\n"
        "      - InstanceType: m6a.2xlarge\n"
    )
    cr = only_cr(text)
    assert cr.instance_types == ("m5.2xlarge", "c5.2xlarge", "m6a.2xlarge")
    assert cr.vcpus == 8
    assert cr.memory_mb == 15564  # c5.2xlarge: 16384 MiB * 0.95
    assert cr.price_per_hour == pytest.approx(0.34)  # c5.2xlarge is the cheapest
    # No single instance type to name among the features.
    assert cr.dynamic_features == ("dynamic", "cr")


def test_gpus_and_efa_features() -> None:
    text = cluster("      InstanceType: g5.12xlarge\n      Efa:\n        Enabled: true\n")
    cr = only_cr(text)
    assert (cr.gpus, cr.gpu_type, cr.vcpus) == (4, "a10g", 48)
    assert cr.efa is True
    assert cr.static_features == ("static", "g5.12xlarge", "cr", "efa", "gpu")
    mixed = cluster(
        "      Instances:\n      - InstanceType: g4dn.12xlarge\n      - InstanceType: m5.12xlarge\n"
    )
    assert (only_cr(mixed).gpus, only_cr(mixed).gpu_type) == (0, None)


def test_cluster_settings() -> None:
    settings = "  SlurmSettings:\n    ScaledownIdletime: 2.5\n    EnableMemoryBasedScheduling: true\n"
    extra = (
        "Region: ap-south-1\n"
        "Tags:\n"
        "- Key: team\n"
        "  Value: cfd\n"
        "- Key: env\n"
        "  Value: prod\n"
        "DevSettings:\n"
        "  Timeouts:\n"
        "    ComputeNodeBootstrapTimeout: 120\n"
        "SharedStorage:\n"
        "- Name: s\n"
        "  MountDir: shared\n"
        "  StorageType: Efs\n"
    )
    layout = layout_of(cluster("      InstanceType: c5.large\n", settings=settings, extra=extra))
    assert layout.region == "ap-south-1"
    assert layout.scaledown_idletime_s == 150.0
    assert layout.memory_based_scheduling is True
    assert layout.resume_timeout_s == 120.0
    assert layout.tags == (("team", "cfd"), ("env", "prod"))
    (storage,) = layout.shared_storage
    assert (storage.name, storage.storage_type, storage.mount_dir) == ("s", "Efs", "/shared")


def test_lookups_across_queues() -> None:
    layout = load_cluster_config((DATA / "realistic.yaml").read_text()).layout
    assert [q.default for q in layout.queues] == [True, False, False]
    assert [q.capacity_type for q in layout.queues] == ["ONDEMAND", "SPOT", "ONDEMAND"]
    compute = layout.queue("compute")
    assert compute is not None and layout.queue("nope") is None
    hpc = compute.compute_resource("hpc")
    assert hpc is not None and compute.compute_resource("nope") is None
    assert layout.compute_resource_of("compute-dy-hpc-4") is hpc
    assert layout.compute_resource_of("compute-st-c6i-large-2") is compute.compute_resource("c6i-large")
    assert layout.compute_resource_of("compute-dy-hpc-5") is None
    names = layout.node_names()
    assert len(names) == len(set(names)) == 8 + 4 + 20 + 2
    assert [cr.name for cr in layout.compute_resources()] == ["c6i-large", "hpc", "mixed-8", "g5"]
    g5 = layout.queues[2].compute_resources[0]
    assert (g5.memory_mb, g5.gpus, g5.efa) == (188000, 4, True)


def test_custom_slurm_settings_max_array_size_and_min_job_age() -> None:
    from stratus.config import ConfigValidationError, load_cluster_config

    base = (
        "HeadNode:\n  InstanceType: t3.micro\nScheduling:\n  Scheduler: slurm\n  SlurmSettings:\n"
        "    CustomSlurmSettings:\n      - MaxArraySize: 100001\n      - MinJobAge: 60\n"
        "      - SlurmctldDebug: info\n"
        "  SlurmQueues:\n  - Name: q\n    ComputeResources:\n    - Name: c\n      InstanceType: t3.micro\n"
    )
    loaded = load_cluster_config(base)
    assert loaded.layout.max_array_size == 100001
    assert loaded.layout.min_job_age_s == 60.0
    infos = [m.message for m in loaded.messages]
    assert any("CustomSlurmSettings[2].SlurmctldDebug (line 9)" in m for m in infos), infos
    try:
        load_cluster_config(base.replace("100001", "zero"))
    except ConfigValidationError as exc:
        assert any("MaxArraySize must be an integer" in e.message for e in exc.errors)
    else:
        raise AssertionError("a bad MaxArraySize was accepted")

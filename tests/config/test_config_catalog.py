"""The EC2 instance-type catalog: figures users compare with AWS, and near-match suggestions."""

from __future__ import annotations

import pytest

from stratus.config import (
    all_instance_types,
    catalog_source,
    get_instance_type,
    load_cluster_config,
    suggest_instance_types,
)

REQUIRED_FAMILIES = [
    *("t2", "t3", "t3a", "t4g", "m5", "m5a", "m6i", "m6a", "m6g", "m7i", "m7g"),
    *("c5", "c5a", "c5n", "c6i", "c6a", "c6g", "c6gn", "c7i", "c7g", "c7gn", "r5", "r6i", "r7i"),
    *("g4dn", "g5", "g6", "p3", "p4d", "p5", "hpc6a", "hpc7a", "hpc7g", "inf2", "trn1"),
    # current families that real ParallelCluster configs use
    *("c5d", "c6id", "c6in", "c7a", "m5d", "m5dn", "m5n", "m5zn", "m6id", "m6idn", "m6in", "m7a"),
    *("r5d", "r5n", "r6a", "r6id", "r7a", "r7g", "r7iz", "x2idn", "x2iedn", "z1d", "i3", "i3en", "i4i"),
    *("c8g", "m8g", "r8g", "c8i", "m8i", "r8i", "c8a", "m8a", "r8a", "g6e", "p4de", "p5en", "p6-b200"),
]


def test_every_required_family_is_in_the_catalog() -> None:
    """ParallelCluster 3.12 accepts any instance type EC2 offers (its InstanceTypeValidator checks
    EC2's list), so the catalog has every current family, not only the oldest ones."""
    families = {t.name.split(".")[0] for t in all_instance_types()}
    assert set(REQUIRED_FAMILIES) <= families
    assert len(all_instance_types()) > 900


def test_a_real_config_with_current_families_loads() -> None:
    """The config that used to be refused (``c5d.2xlarge``), with flexible instance types and
    SMT off as ParallelCluster 3.12 allows them: nodes get the catalog's CPUs and memory, and
    ParallelCluster's rule that flexible types must have as many cores holds across families."""
    text = (
        "HeadNode:\n  InstanceType: m7a.large\nScheduling:\n  Scheduler: slurm\n  SlurmQueues:\n"
        "  - Name: q\n    ComputeResources:\n"
        "    - Name: ssd\n      InstanceType: c5d.2xlarge\n      MaxCount: 4\n"
        "    - Name: flex\n      DisableSimultaneousMultithreading: true\n      Instances:\n"
        "      - InstanceType: c6id.4xlarge\n      - InstanceType: c7a.2xlarge\n      MaxCount: 2\n"
    )
    layout = load_cluster_config(text).layout
    ssd, flex = layout.queues[0].compute_resources
    assert (ssd.vcpus, ssd.memory_mb) == (8, int(0.95 * 16384))
    assert ssd.price_per_hour == pytest.approx(0.384)
    # c6id.4xlarge: 16 vCPUs, 8 cores; c7a.2xlarge: 8 vCPUs that are 8 cores (no SMT).
    assert flex.vcpus == 8 and flex.instance_types == ("c6id.4xlarge", "c7a.2xlarge")


@pytest.mark.parametrize(
    ("name", "vcpus", "memory_mib", "architecture", "price"),
    [
        ("t2.micro", 1, 1024, "x86_64", 0.0116),
        ("t3.medium", 2, 4096, "x86_64", 0.0416),
        ("m5.xlarge", 4, 16384, "x86_64", 0.192),
        ("c5n.18xlarge", 72, 196608, "x86_64", 3.888),
        ("c5n.large", 2, 5376, "x86_64", 0.108),
        ("m7g.large", 2, 8192, "arm64", 0.0816),
        ("c7g.16xlarge", 64, 131072, "arm64", 2.32),
        ("r7i.48xlarge", 192, 1572864, "x86_64", 12.7008),
        ("hpc7a.96xlarge", 192, 786432, "x86_64", 7.2),
        ("p3.2xlarge", 8, 62464, "x86_64", 3.06),
        ("c5d.2xlarge", 8, 16384, "x86_64", 0.384),
        ("c6in.32xlarge", 128, 262144, "x86_64", 7.2576),
        ("m5zn.large", 2, 8192, "x86_64", 0.1652),
        ("m7a.medium", 1, 4096, "x86_64", 0.05796),
        ("r7g.16xlarge", 64, 524288, "arm64", 3.4272),
        ("r7iz.large", 2, 16384, "x86_64", 0.186),
        ("x2idn.16xlarge", 64, 1048576, "x86_64", 6.669),
        ("z1d.12xlarge", 48, 393216, "x86_64", 4.464),
        ("i3.large", 2, 15616, "x86_64", 0.156),
        ("i4i.32xlarge", 128, 1048576, "x86_64", 10.9824),
        ("m6g.metal", 64, 262144, "arm64", 2.6112),
    ],
)
def test_cpu_and_memory_figures_match_ec2(
    name: str, vcpus: int, memory_mib: int, architecture: str, price: float
) -> None:
    found = get_instance_type(name)
    assert found is not None
    assert (found.vcpus, found.memory_mib, found.architecture) == (vcpus, memory_mib, architecture)
    assert found.price_per_hour == pytest.approx(price)


@pytest.mark.parametrize(
    ("name", "gpus", "gpu_type", "gpu_memory_mib"),
    [
        ("g4dn.xlarge", 1, "t4", 16384),
        ("g4dn.12xlarge", 4, "t4", 4 * 16384),
        # EC2 reports the A10G's 24 GB as 22888 MiB, as the L4's
        ("g5.xlarge", 1, "a10g", 22888),
        ("g5.48xlarge", 8, "a10g", 8 * 22888),
        ("g6.xlarge", 1, "l4", 22888),
        ("p3.16xlarge", 8, "v100", 8 * 16384),
        ("p4d.24xlarge", 8, "a100", 8 * 40960),
        ("p5.48xlarge", 8, "h100", 8 * 81920),
        ("g5g.xlarge", 1, "t4g", 16384),
        ("g6e.12xlarge", 4, "l40s", 4 * 45776),
        ("p4de.24xlarge", 8, "a100", 8 * 81920),
        ("p5en.48xlarge", 8, "h200", 8 * 144384),
        ("p6-b200.48xlarge", 8, "b200", 8 * 183359),
        ("inf1.xlarge", 0, None, 0),
        ("inf2.xlarge", 0, None, 0),
        ("trn1.32xlarge", 0, None, 0),
    ],
)
def test_gpu_figures(name: str, gpus: int, gpu_type: str | None, gpu_memory_mib: int) -> None:
    found = get_instance_type(name)
    assert found is not None
    assert (found.gpus, found.gpu_type, found.gpu_memory_mib) == (gpus, gpu_type, gpu_memory_mib)


def test_efa_and_threads_per_core() -> None:
    def get(name: str) -> tuple[bool, int, int]:
        found = get_instance_type(name)
        assert found is not None
        return found.efa, found.threads_per_core, found.cores

    assert get("c5n.18xlarge") == (True, 2, 36)
    assert get("c5n.xlarge") == (False, 2, 2)
    assert get("hpc7g.16xlarge") == (True, 1, 64)
    assert get("t2.micro") == (False, 1, 1)
    assert get("inf2.48xlarge")[0] is False
    assert get("p5.48xlarge")[0] is True
    # 7th and 8th generation AMD and Graviton vCPUs are physical cores; Intel and older AMD have SMT.
    assert get("c7a.48xlarge") == (True, 1, 192)
    assert get("m8a.medium") == (False, 1, 1)
    assert get("r8g.48xlarge") == (True, 1, 192)
    assert get("m6a.48xlarge") == (True, 2, 96)
    assert get("x2iedn.32xlarge") == (True, 2, 64)
    assert get("c5d.metal") == (False, 2, 48)


def test_every_entry_is_consistent() -> None:
    entries = all_instance_types()
    assert len(entries) > 250
    for entry in entries:
        assert entry.vcpus >= 1 and entry.memory_mib >= 512, entry
        assert entry.architecture in ("x86_64", "arm64"), entry
        assert entry.price_per_hour > 0, entry
        assert entry.threads_per_core in (1, 2), entry
        assert (entry.gpus > 0) == (entry.gpu_type is not None) == (entry.gpu_memory_mib > 0), entry


def test_unknown_and_case_sensitive_lookup() -> None:
    assert get_instance_type("t2.micr") is None
    assert get_instance_type("T2.MICRO") is None
    assert get_instance_type("") is None


def test_suggestions() -> None:
    assert suggest_instance_types("t2.micr")[0] == "t2.micro"
    assert suggest_instance_types("T2.Micro ")[0] == "t2.micro"
    assert suggest_instance_types("c5n.18xlarg", n=1) == ["c5n.18xlarge"]
    assert len(suggest_instance_types("m5.large", n=3)) == 3
    assert suggest_instance_types("zz-not-an-instance") == []
    assert suggest_instance_types("t2.micro", n=0) == []


def test_source_is_recorded() -> None:
    source = catalog_source()
    assert source["region"] == "us-east-1"
    assert source["compiled"]
    assert source["kinds"]

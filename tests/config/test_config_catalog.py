"""The EC2 instance-type catalog: figures users compare with AWS, and near-match suggestions."""

from __future__ import annotations

import pytest

from stratus.config import all_instance_types, catalog_source, get_instance_type, suggest_instance_types

REQUIRED_FAMILIES = [
    *("t2", "t3", "t3a", "t4g", "m5", "m5a", "m6i", "m6a", "m6g", "m7i", "m7g"),
    *("c5", "c5a", "c5n", "c6i", "c6a", "c6g", "c6gn", "c7i", "c7g", "c7gn", "r5", "r6i", "r7i"),
    *("g4dn", "g5", "g6", "p3", "p4d", "p5", "hpc6a", "hpc7a", "hpc7g", "inf2", "trn1"),
]


def test_every_required_family_is_in_the_catalog() -> None:
    families = {t.name.split(".")[0] for t in all_instance_types()}
    assert set(REQUIRED_FAMILIES) <= families


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
        ("g5.xlarge", 1, "a10g", 24576),
        ("g5.48xlarge", 8, "a10g", 8 * 24576),
        ("g6.xlarge", 1, "l4", 22888),
        ("p3.16xlarge", 8, "v100", 8 * 16384),
        ("p4d.24xlarge", 8, "a100", 8 * 40960),
        ("p5.48xlarge", 8, "h100", 8 * 81920),
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

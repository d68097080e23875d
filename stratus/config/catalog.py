"""The EC2 instance-type catalog: what a ParallelCluster ``InstanceType`` means in CPUs, memory and GPUs.

stratus sizes every node from this catalog: the local provider gives a node the slice of the
machine its instance type describes, the Slurm view shows its CPUs and RealMemory, and cost
estimates use its price. The figures are EC2's own (``DescribeInstanceTypes`` fields and the
us-east-1 on-demand Linux price); where they come from and when they were compiled is recorded in
the ``_source`` field of ``instance_types.json``.

The JSON is read once, on first use, and shared afterwards; lookups are dictionary lookups.
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any, Literal

Architecture = Literal["x86_64", "arm64"]


@dataclass(frozen=True)
class InstanceType:
    """One EC2 instance type as stratus models it.

    ``gpus`` counts NVIDIA GPUs only (what ParallelCluster turns into Slurm ``Gres=gpu``);
    Inferentia and Trainium accelerators are not GPUs and count as 0. ``gpu_type`` is the GPU
    name lowercased without spaces, as ParallelCluster writes it in ``Gres=gpu:<type>:<n>``
    (``t4``, ``a10g``, ``l4``, ``v100``, ``a100``, ``h100``), or ``None``. ``gpu_memory_mib``
    is the total over all GPUs. ``price_per_hour`` is the on-demand Linux price in USD for
    us-east-1 (us-east-2 for types not offered there). ``threads_per_core`` is EC2's default
    (1 for Graviton, t2 and the hpc families, which have no SMT or run with it off).
    """

    name: str
    vcpus: int
    memory_mib: int
    gpus: int
    gpu_type: str | None
    gpu_memory_mib: int
    architecture: Architecture
    price_per_hour: float
    efa: bool
    threads_per_core: int = 2

    @property
    def cores(self) -> int:
        """Physical cores: the CPUs a node offers when simultaneous multithreading is disabled."""
        return self.vcpus // self.threads_per_core


@lru_cache(maxsize=1)
def _raw() -> dict[str, Any]:
    text = resources.files("stratus.config").joinpath("instance_types.json").read_text(encoding="utf-8")
    raw: dict[str, Any] = json.loads(text)
    return raw


@lru_cache(maxsize=1)
def _catalog() -> dict[str, InstanceType]:
    return {name: InstanceType(name=name, **fields) for name, fields in _raw()["instance_types"].items()}


def catalog_source() -> dict[str, Any]:
    """The ``_source`` record of the catalog: compilation date, region and how figures were checked."""
    source: dict[str, Any] = dict(_raw()["_source"])
    return source


def get_instance_type(name: str) -> InstanceType | None:
    """The catalog entry for ``name`` (exact, case-sensitive as EC2 is), or ``None`` if unknown."""
    return _catalog().get(name)


def all_instance_types() -> tuple[InstanceType, ...]:
    """Every catalog entry, grouped by family in catalog order."""
    return tuple(_catalog().values())


def suggest_instance_types(name: str, n: int = 3) -> list[str]:
    """Up to ``n`` known instance types that look like ``name``, best match first.

    Meant for "Did you mean ...?" hints after a lookup failed: matching ignores case and
    surrounding blanks, so ``"T2.Micro "`` suggests ``t2.micro``. Returns an empty list when
    nothing is reasonably close.
    """
    wanted = name.strip().lower()
    if not wanted or n <= 0:
        return []
    return difflib.get_close_matches(wanted, list(_catalog()), n=n, cutoff=0.6)

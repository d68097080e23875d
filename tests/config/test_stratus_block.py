"""The Stratus block: ssh providers named by compute resources, validated like the rest."""

from __future__ import annotations

import pytest

from stratus.config import ConfigValidationError, load_cluster_config
from stratus.config.layout import HostResources, LayoutError, split_host

BASE = """\
HeadNode:
  InstanceType: t2.micro
Scheduling:
  Scheduler: slurm
  SlurmQueues:
  - Name: lab
    ComputeResources:
    - Name: lab
      Provider: {ref}
{counts}Stratus:
  Providers:
  - Name: lab
    Type: {kind}
    Hosts: [lab-01, "10.1.2.3:2222"]
"""

FACTS = {"lab-01:22": HostResources(8, 16000, 0), "10.1.2.3:2222": HostResources(4, 32000, 2)}


def _text(ref: str = "lab", kind: str = "ssh", counts: str = "") -> str:
    return BASE.format(ref=ref, kind=kind, counts=counts)


def _errors(text: str) -> list[str]:
    with pytest.raises(ConfigValidationError) as info:
        load_cluster_config(text, hosts=FACTS)
    return [
        m["message"] for m in info.value.to_json()["configurationValidationErrors"] if m["level"] == "ERROR"
    ]


def test_one_static_node_per_host_sized_by_the_smallest_host() -> None:
    loaded = load_cluster_config(_text(), hosts=FACTS)
    cr = loaded.layout.queues[0].compute_resources[0]
    assert cr.static_nodes == ("lab-st-lab-1", "lab-st-lab-2") and cr.dynamic_nodes == ()
    assert (cr.vcpus, cr.memory_mb, cr.gpus, cr.provider) == (4, 16000, 0, "lab")
    assert loaded.layout.has_remote_nodes and loaded.layout.head_node_address == "127.0.0.1"
    assert not [m for m in loaded.messages if "Stratus" in m.message or "Provider" in m.message]


def test_a_probe_function_is_called_with_the_used_providers_only_once_valid() -> None:
    calls = []

    def probe(providers: object) -> dict[str, HostResources]:
        calls.append(providers)
        return FACTS

    load_cluster_config(_text(), hosts=probe)
    assert len(calls) == 1
    with pytest.raises(ConfigValidationError):
        load_cluster_config(_text(ref="lba"), hosts=probe)
    assert len(calls) == 1
    with pytest.raises(LayoutError):
        load_cluster_config(_text(), hosts={})


def test_unknown_provider_gets_did_you_mean_with_path_and_line() -> None:
    (error,) = _errors(_text(ref="lba"))
    assert error.startswith(
        "Scheduling.SlurmQueues[0].ComputeResources[0].Provider (line 9): unknown provider 'lba'"
    )
    assert "Did you mean 'lab'?" in error


def test_unknown_key_in_the_stratus_block() -> None:
    (error,) = _errors(_text().replace("    Hosts:", "    Hostz: [a]\n    Hosts:"))
    assert error.startswith("Stratus.Providers[0].Hostz (line 14): Unknown field. Did you mean 'Hosts'?")


def test_ec2_is_reserved_and_counts_must_match_hosts() -> None:
    (error,) = _errors(_text(kind="ec2"))
    assert "Stratus.Providers[0].Type" in error and "not supported yet" in error
    errors = _errors(_text(counts="      MinCount: 1\n      MaxCount: 3\n".replace("      ", "      ")))
    assert any("MinCount" in e and "must be 2" in e for e in errors), errors
    assert any("MaxCount" in e and "must be 2" in e for e in errors), errors


def test_host_specs() -> None:
    assert split_host("lab-01") == ("lab-01", 22)
    assert split_host("10.1.2.3:2222") == ("10.1.2.3", 2222)
    assert split_host("[::1]:2200") == ("::1", 2200)
    assert split_host("fe80::1") == ("fe80::1", 22)
    with pytest.raises(ValueError, match="bad port"):
        split_host("host:99999")

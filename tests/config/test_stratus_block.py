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


def test_counts_must_match_hosts() -> None:
    errors = _errors(_text(counts="      MinCount: 1\n      MaxCount: 3\n"))
    assert any("MinCount" in e and "must be 2" in e for e in errors), errors
    assert any("MaxCount" in e and "must be 2" in e for e in errors), errors


HYBRID = """\
Region: eu-west-1
HeadNode:
  InstanceType: t2.micro
Scheduling:
  Scheduler: slurm
  SlurmQueues:
  - Name: hybrid
    CapacityType: SPOT
    ComputeResources:
    - Name: lab
      Provider: lab
    - Name: burst
      Provider: aws
      Instances: [{InstanceType: c5.xlarge}, {InstanceType: c5a.xlarge}]
      MaxCount: 8
  - Name: other
    ComputeResources:
    - Name: c5
      InstanceType: c5.large
SharedStorage:
- Name: data
  StorageType: Ebs
  MountDir: /data
- Name: scratch
  StorageType: Ebs
  MountDir: /scratch
Stratus:
  HeadNodeAddress: 10.0.0.1
  Providers:
  - Name: lab
    Type: ssh
    Hosts: [lab-01, "10.1.2.3:2222"]
  - Name: aws
    Type: ec2
    EndpointUrl: http://127.0.0.1:5000
    ImageId: ami-12345678
    SubnetId: subnet-12345678
  Burst:
    MaxWait: 600
    Queues:
    - Name: other
      MaxWait: 0
  SharedStorage:
  - Name: scratch
    Providers: [lab, local]
  InsufficientCapacityTimeout: 120
  ProtectedFailureCount: 3
"""


def test_a_hybrid_queue_of_ssh_hosts_and_ec2_instances() -> None:
    loaded = load_cluster_config(HYBRID, hosts=FACTS)
    layout = loaded.layout
    lab, burst = layout.queues[0].compute_resources
    assert (lab.provider, lab.provider_kind, lab.static_nodes) == (
        "lab",
        "ssh",
        ("hybrid-st-lab-1", "hybrid-st-lab-2"),
    )
    assert (burst.provider, burst.provider_kind, burst.min_count, burst.max_count) == ("aws", "ec2", 0, 8)
    assert burst.dynamic_nodes[0] == "hybrid-dy-burst-1" and burst.vcpus == 4
    assert burst.price_per_hour > 0 and lab.price_per_hour == 0
    # The provider's name is a feature of every node, "local" for this machine's.
    assert "lab" in lab.static_features and burst.dynamic_features[-1] == "aws"
    (c5,) = layout.queues[1].compute_resources
    assert "local" in c5.dynamic_features and c5.provider_kind == "local"
    aws = layout.provider("aws")
    assert aws is not None and (aws.region, aws.image_id, aws.subnet_id) == (
        "eu-west-1",
        "ami-12345678",
        "subnet-12345678",
    )
    assert [q.burst_max_wait_s for q in layout.queues] == [600.0, 0.0]
    assert layout.queues[0].capacity_type == "SPOT"
    assert (layout.insufficient_capacity_timeout_s, layout.protected_failure_count) == (120.0, 3)
    scratch = layout.storage_at("/scratch/run1")
    assert scratch is not None and scratch.providers == ("lab", "local")
    data = layout.storage_at("/data")
    assert data is not None and data.name == "data" and data.providers == ()
    assert layout.storage_at("/database") is None


def test_a_config_without_providers_keeps_its_features() -> None:
    loaded = load_cluster_config(
        HYBRID.split("  - Name: hybrid")[0]
        + "  - Name: q\n    ComputeResources:\n    - Name: c5\n      InstanceType: c5.large\n"
    )
    (cr,) = loaded.layout.queues[0].compute_resources
    assert cr.dynamic_features == ("dynamic", "c5.large", "c5")


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (
            ('    Type: ssh\n    Hosts: [lab-01, "10.1.2.3:2222"]', "    Type: ssh"),
            "Stratus.Providers[0].Hosts (line 30): a provider of type 'ssh' needs Hosts",
        ),
        (
            ("    ImageId: ami-12345678\n", "    ImageId: ami-12345678\n    Hosts: [x]\n"),
            "Stratus.Providers[1].Hosts (line 37): Hosts is not a setting of a provider of type 'ec2'",
        ),
        (
            ("    Hosts: [lab-01", "    Region: eu-west-1\n    Hosts: [lab-01"),
            "Stratus.Providers[0].Region (line 32): Region is not a setting of a provider of type 'ssh'",
        ),
        (("Region: eu-west-1\n", ""), "a provider of type 'ec2' needs a Region"),
        (("    ImageId: ami-12345678\n", ""), "a provider of type 'ec2' needs the image its instances boot"),
        (("    ImageId: ami-12345678", "    ImageId: ubuntu"), "Stratus.Providers[1].ImageId"),
        (
            ("    EndpointUrl: http://127.0.0.1:5000", "    EndpointUrl: 127.0.0.1:5000"),
            "Stratus.Providers[1].EndpointUrl",
        ),
        (
            ("    - Name: other\n      MaxWait: 0", "    - Name: otehr\n      MaxWait: 0"),
            "unknown queue 'otehr' (known: hybrid, other). Did you mean 'other'?",
        ),
        (("      MaxWait: 0", "      MaxWait: -1"), "Stratus.Burst.Queues[0].MaxWait"),
        (
            ("    Providers: [lab, local]", "    Providers: [lab, locla]"),
            "unknown provider 'locla' (known: local, lab, aws). Did you mean 'local'?",
        ),
        (
            ("  - Name: scratch\n    Providers", "  - Name: scrach\n    Providers"),
            "unknown SharedStorage entry 'scrach'",
        ),
        (("      Provider: aws", "      Provider: aws\n      MinCount: -1"), "MinCount"),
        (
            (
                "      Instances: [{InstanceType: c5.xlarge}, {InstanceType: c5a.xlarge}]",
                "      InstanceType: c5.hugeish",
            ),
            "c5.hugeish",
        ),
    ],
)
def test_bad_stratus_settings_name_the_field(edit: tuple[str, str], expected: str) -> None:
    old, new = edit
    assert old in HYBRID
    errors = _errors(HYBRID.replace(old, new, 1))
    assert any(expected in e for e in errors), errors


def test_host_specs() -> None:
    assert split_host("lab-01") == ("lab-01", 22)
    assert split_host("10.1.2.3:2222") == ("10.1.2.3", 2222)
    assert split_host("[::1]:2200") == ("::1", 2200)
    assert split_host("fe80::1") == ("fe80::1", 22)
    with pytest.raises(ValueError, match="bad port"):
        split_host("host:99999")


def test_storage_of_some_providers_is_a_feature_and_a_required_mount_of_their_nodes() -> None:
    layout = load_cluster_config(HYBRID, hosts=FACTS).layout
    lab, burst = layout.queues[0].compute_resources
    (c5,) = layout.queues[1].compute_resources
    assert "scratch" in lab.static_features and "scratch" in c5.dynamic_features
    assert "scratch" not in burst.dynamic_features
    mounts = layout.required_mounts()
    assert mounts["hybrid-st-lab-1"] == (("/scratch", "scratch"),)
    assert mounts["other-dy-c5-1"] == (("/scratch", "scratch"),)
    assert "hybrid-dy-burst-1" not in mounts


def test_the_hybrid_example_of_the_readme_is_valid() -> None:
    from pathlib import Path

    text = (Path(__file__).parents[2] / "examples" / "hybrid.yaml").read_text()
    facts = {"lab-01:22": HostResources(16, 64000), "lab-02:22": HostResources(16, 64000)}
    loaded = load_cluster_config(text, hosts=facts)
    assert not [m for m in loaded.messages if m.level in ("ERROR", "WARNING")]
    lab, burst = loaded.layout.queues[0].compute_resources
    assert lab.static_features == ("static", "lab", "labdata")
    assert (burst.provider_kind, loaded.layout.queues[0].burst_max_wait_s) == ("ec2", 900.0)


EXISTING_SLURM = """\
HeadNode:
  InstanceType: t2.micro
Scheduling:
  Scheduler: slurm
  SlurmQueues:
  - Name: burst
    ComputeResources:
    - Name: dy
      InstanceType: t2.micro
      MinCount: 0
      MaxCount: 2
Stratus:
{engine}  ExistingSlurm:
    Conf: {conf}
"""


def test_existing_slurm_gives_the_site_conf_to_the_layout() -> None:
    loaded = load_cluster_config(
        EXISTING_SLURM.format(engine="  Engine: slurm\n", conf="/etc/slurm/slurm.conf")
    )
    assert loaded.layout.engine == "slurm"
    assert loaded.layout.existing_slurm_conf == "/etc/slurm/slurm.conf"
    assert load_cluster_config(_text(), hosts=FACTS).layout.existing_slurm_conf == ""


@pytest.mark.parametrize(
    ("engine", "conf", "expected"),
    [
        ("", "/etc/slurm/slurm.conf", "Stratus (line 12): Stratus.ExistingSlurm needs Stratus.Engine: slurm"),
        (
            "  Engine: stratus\n",
            "/etc/slurm/slurm.conf",
            "Stratus (line 12): Stratus.ExistingSlurm needs Stratus.Engine: slurm",
        ),
        (
            "  Engine: slurm\n",
            "slurm.conf",
            "Stratus.ExistingSlurm.Conf (line 15): 'slurm.conf' is not an absolute path",
        ),
        ("  Engine: slurm\n", "''", "Stratus.ExistingSlurm.Conf (line 15): Shorter than minimum length 1."),
    ],
)
def test_existing_slurm_needs_the_slurm_engine_and_an_absolute_conf(
    engine: str, conf: str, expected: str
) -> None:
    (error,) = _errors(EXISTING_SLURM.format(engine=engine, conf=conf))
    assert error.startswith(expected), error


def test_existing_slurm_needs_its_conf() -> None:
    text = EXISTING_SLURM.format(engine="  Engine: slurm\n", conf="x").replace(
        "    Conf: x\n", "    Cnf: x\n"
    )
    errors = _errors(text)
    assert any(e.startswith("Stratus.ExistingSlurm.Cnf (line 15): Unknown field.") for e in errors), errors
    assert any("Stratus.ExistingSlurm.Conf" in e for e in errors), errors


S3_CONFIG = """\
Region: eu-west-1
HeadNode:
  InstanceType: t2.micro
Scheduling:
  Scheduler: slurm
  SlurmQueues:
  - Name: q
    ComputeResources:
    - Name: dy
      InstanceType: t2.micro
      MinCount: 0
      MaxCount: 2
Stratus:
  S3:
{body}"""


def test_s3_settings_reach_the_layout_with_their_defaults() -> None:
    layout = load_cluster_config(S3_CONFIG.format(body="    EndpointUrl: http://s3.lab:9000\n")).layout
    assert (layout.s3_endpoint_url, layout.s3_region, layout.s3_credentials_file, layout.s3_profile) == (
        "http://s3.lab:9000",
        "eu-west-1",
        "",
        "default",
    )
    body = (
        "    EndpointUrl: https://s3.example.org\n    Region: us-west-2\n"
        "    CredentialsFile: /etc/stratus/s3\n    Profile: jobs\n"
    )
    layout = load_cluster_config(S3_CONFIG.format(body=body)).layout
    assert (layout.s3_region, layout.s3_credentials_file, layout.s3_profile) == (
        "us-west-2",
        "/etc/stratus/s3",
        "jobs",
    )
    assert load_cluster_config(_text(), hosts=FACTS).layout.s3_endpoint_url == ""


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            "    EndpointUrl: s3.lab:9000\n",
            "Stratus.S3.EndpointUrl (line 15): 's3.lab:9000' is not an endpoint URL",
        ),
        ("    Region: us-east-1\n", "Stratus.S3.EndpointUrl"),
        (
            "    EndpointUrl: http://s3.lab\n    CredentialsFile: creds\n",
            "Stratus.S3.CredentialsFile (line 16): 'creds' is not an absolute path",
        ),
        ("    EndpointUrl: http://s3.lab\n    Bucket: x\n", "Stratus.S3.Bucket (line 16): Unknown field."),
    ],
)
def test_s3_settings_are_checked_with_their_field_named(body: str, expected: str) -> None:
    errors = _errors(S3_CONFIG.format(body=body))
    assert any(e.startswith(expected) for e in errors), errors

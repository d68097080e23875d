"""Loading cluster configs: the walkthrough, a full production config, and every way to fail."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import yaml

from stratus.config import (
    BadYamlError,
    ConfigValidationError,
    LoadedConfig,
    ValidationMessage,
    load_cluster_config,
)
from stratus.errors import UserError

DATA = Path(__file__).parent / "data"
WALKTHROUGH = (DATA / "walkthrough.yaml").read_text()
REALISTIC = (DATA / "realistic.yaml").read_text()

MINIMAL = """\
HeadNode:
  InstanceType: t3.micro
Scheduling:
  Scheduler: slurm
  SlurmQueues:
  - Name: q1
    ComputeResources:
    - Name: cr1
      InstanceType: c5.large
      MinCount: 1
      MaxCount: 3
"""


def errors_of(text: str, **kwargs: object) -> ConfigValidationError:
    with pytest.raises(ConfigValidationError) as caught:
        load_cluster_config(text, **kwargs)  # type: ignore[arg-type]
    return caught.value


def bad_yaml(text: str) -> BadYamlError:
    with pytest.raises(BadYamlError) as caught:
        load_cluster_config(text)
    return caught.value


def only(error: ConfigValidationError) -> ValidationMessage:
    assert len(error.errors) == 1, error.errors
    return error.errors[0]


# --------------------------------------------------------------------------------------------
# Configs that load


def test_walkthrough_loads_with_info_for_keys_without_local_effect() -> None:
    loaded = load_cluster_config(WALKTHROUGH)
    assert loaded.raw == yaml.safe_load(WALKTHROUGH)
    assert all(m.level == "INFO" and m.type == "LocalProviderValidator" for m in loaded.messages)
    texts = [m.message for m in loaded.messages]
    assert texts[0].startswith("Region (line 1): ")
    assert "Image.Os (line 3): has no effect on the local provider." in texts
    assert "HeadNode.Networking.SubnetId (line 7): has no effect on the local provider." in texts
    assert "HeadNode.Ssh.KeyName (line 9): has no effect on the local provider." in texts
    assert (
        "Scheduling.SlurmQueues[0].Networking.SubnetIds (line 21): has no effect on the local provider."
        in texts
    )
    assert len(texts) == 5
    assert loaded.messages_json()[1] == {
        "level": "INFO",
        "type": "LocalProviderValidator",
        "message": "Image.Os (line 3): has no effect on the local provider.",
    }
    assert loaded.layout.region == "eu-west-1"


def test_minimal_config_loads_without_messages() -> None:
    loaded = load_cluster_config(MINIMAL)
    assert loaded.messages == []
    assert loaded.config.head_node.instance_type == "t3.micro"
    assert loaded.layout.region is None


def test_realistic_pcluster_config_loads_without_warnings_or_errors() -> None:
    loaded = load_cluster_config(REALISTIC, failure_level="WARNING")
    assert {m.level for m in loaded.messages} == {"INFO"}
    assert [q.name for q in loaded.layout.queues] == ["compute", "flex", "gpu"]
    ignored = {m.message.split(" (line")[0] for m in loaded.messages}
    assert {"Monitoring", "Iam", "DirectoryService", "LoginNodes.Pools"} <= ignored
    assert "SharedStorage[1].EfsSettings" in ignored
    assert "HeadNode.CustomActions.OnNodeConfigured.Sequence" in ignored
    assert "Scheduling.SlurmQueues[0].ComputeResources[1].Efa.GdrSupport" in ignored
    # Honoured keys are never reported.
    assert not any("MinCount" in key or "ScaledownIdletime" in key or key == "Tags" for key in ignored)


def test_fractional_scaledown_idletime_is_seconds_resolution() -> None:
    text = WALKTHROUGH.replace(
        "  Scheduler: slurm\n", "  Scheduler: slurm\n  SlurmSettings:\n    ScaledownIdletime: 0.05\n"
    )
    assert load_cluster_config(text).layout.scaledown_idletime_s == pytest.approx(3.0)
    never = text.replace("0.05", "-1")
    assert math.isinf(load_cluster_config(never).layout.scaledown_idletime_s)


def test_yaml_anchors_and_merge_keys_are_followed() -> None:
    text = MINIMAL.replace(
        "    - Name: cr1\n      InstanceType: c5.large\n",
        "    - &base\n      Name: cr1\n      InstanceType: c5.large\n    - <<: *base\n      Name: cr2\n",
    )
    loaded = load_cluster_config(text)
    assert [cr.name for cr in loaded.layout.queues[0].compute_resources] == ["cr1", "cr2"]
    assert loaded.source.line(("Scheduling", "SlurmQueues", 0, "ComputeResources", 1, "Name")) == 12


# --------------------------------------------------------------------------------------------
# Not YAML


def test_bad_yaml_names_problem_line_and_column() -> None:
    error = bad_yaml("HeadNode:\n  InstanceType: t2.micro\n   Ssh: x\n")
    assert (error.line, error.column) == (3, 7)
    assert error.to_json() == {
        "message": "Bad Request: Configuration must be a valid YAML document. "
        "Mapping values are not allowed here (line 3, column 7)"
    }
    assert isinstance(error, UserError)


def test_unclosed_flow_sequence() -> None:
    error = bad_yaml("Tags: [a, b\nRegion: x\n")
    assert error.line is not None and error.column is not None
    assert "(line " in error.to_json()["message"]


def test_empty_file_is_bad_yaml() -> None:
    assert bad_yaml("").to_json() == {"message": "Bad Request: configuration is required and cannot be empty"}


@pytest.mark.parametrize("text", ["   \n", "# only a comment\n"])
def test_file_without_content_is_bad_yaml(text: str) -> None:
    assert bad_yaml(text).to_json() == {
        "message": "Bad Request: Configuration must be a valid YAML document. "
        "The file has no content, only blanks or comments."
    }


def test_document_that_is_not_a_mapping() -> None:
    assert "is a list, not a mapping" in bad_yaml("- HeadNode\n").message
    assert "is a single str value" in bad_yaml("just words\n").message


def test_several_documents() -> None:
    error = bad_yaml(MINIMAL + "---\nRegion: x\n")
    assert "single document in the stream, but found another document" in error.message and error.line == 12


def test_parallelcluster_2_ini_file_gets_the_conversion_hint() -> None:
    error = bad_yaml("[global]\ncluster_template = default\n\n[cluster default]\nkey_name = k\n")
    assert "pcluster3-config-converter" in error.to_json()["message"]


# --------------------------------------------------------------------------------------------
# Schema errors


def test_unknown_key_at_top_level() -> None:
    error = errors_of(MINIMAL + "Regoin: us-east-1\n")
    assert list(error.to_json()) == ["configurationValidationErrors", "message"]
    assert error.to_json() == {
        "message": "Invalid cluster configuration.",
        "configurationValidationErrors": [
            {
                "level": "ERROR",
                "type": "ConfigSchemaValidator",
                "message": "Regoin (line 12): Unknown field. Did you mean 'Region'?",
            }
        ],
    }


def test_unknown_key_in_a_nested_section() -> None:
    text = WALKTHROUGH.replace("    KeyName: steyn-mbp", "    KeyNmae: steyn-mbp")
    message = only(errors_of(text)).message
    assert message == "HeadNode.Ssh.KeyNmae (line 9): Unknown field. Did you mean 'KeyName'?"


def test_unknown_key_inside_list_items() -> None:
    text = WALKTHROUGH.replace("      MaxCount: 10", "      MaxCount: 10\n      Weight: 3")
    error = only(errors_of(text))
    assert error.type == "ConfigSchemaValidator"
    assert error.message == "Scheduling.SlurmQueues[0].ComputeResources[0].Weight (line 20): Unknown field."
    text = WALKTHROUGH.replace("      - InstanceType: t2.micro", "      - InstanceTyp: t2.micro")
    # The misspelt key is unknown and the real one is then missing: both are reported.
    assert [m.message for m in errors_of(text).errors] == [
        "Scheduling.SlurmQueues[0].ComputeResources[0].Instances[0].InstanceType (line 17): Missing data "
        "for required field.",
        "Scheduling.SlurmQueues[0].ComputeResources[0].Instances[0].InstanceTyp (line 17): Unknown field. "
        "Did you mean 'InstanceType'?",
    ]


def test_every_schema_problem_is_reported_in_file_order() -> None:
    text = MINIMAL.replace("MinCount: 1", "MinCount: one").replace(
        "Name: cr1", "Name: cr1\n      Colour: red"
    )
    text = "Foo: 1\n" + text
    messages = [m.message for m in errors_of(text).errors]
    assert messages == [
        "Foo (line 1): Unknown field.",
        "Scheduling.SlurmQueues[0].ComputeResources[0].Colour (line 10): Unknown field.",
        "Scheduling.SlurmQueues[0].ComputeResources[0].MinCount (line 12): Not a valid integer. Got: 'one'.",
    ]


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("MaxCount: 3", "MaxCount: ten", "MaxCount (line 11): Not a valid integer. Got: 'ten'."),
        ("MaxCount: 3", "MaxCount: true", "MaxCount (line 11): Not a valid integer. Got: True."),
        ("MaxCount: 3", "MaxCount: 0", "MaxCount (line 11): Must be greater than or equal to 1. Got: 0."),
        ("MinCount: 1", "MinCount: -1", "MinCount (line 10): Must be greater than or equal to 0. Got: -1."),
        ("Name: cr1", "Name: 7", "Name (line 8): Not a valid string. Got: 7."),
        ("InstanceType: c5.large", "InstanceType: [c5.large]", "InstanceType (line 9): Not a valid string."),
    ],
)
def test_wrong_value_types(old: str, new: str, expected: str) -> None:
    message = only(errors_of(MINIMAL.replace(old, new))).message
    assert message.startswith("Scheduling.SlurmQueues[0].ComputeResources[0].")
    assert expected in message


def test_value_outside_allowed_choices() -> None:
    message = only(errors_of(MINIMAL.replace("Scheduler: slurm", "Scheduler: pbs"))).message
    assert message == "Scheduling.Scheduler (line 4): Must be one of: slurm, awsbatch. Got: 'pbs'."


def test_missing_required_fields_point_at_the_enclosing_key() -> None:
    message = only(
        errors_of(MINIMAL.replace("  InstanceType: t3.micro\n", "  Ssh:\n    KeyName: k\n"))
    ).message
    assert message == "HeadNode.InstanceType (line 1): Missing data for required field."
    no_head = MINIMAL.replace("HeadNode:\n  InstanceType: t3.micro\n", "")
    assert only(errors_of(no_head)).message == "HeadNode: Missing data for required field."
    no_name = MINIMAL.replace("    - Name: cr1\n      InstanceType", "    - InstanceType")
    assert only(errors_of(no_name)).message == (
        "Scheduling.SlurmQueues[0].ComputeResources[0].Name (line 8): Missing data for required field."
    )


def test_section_of_the_wrong_shape() -> None:
    message = only(errors_of(MINIMAL + "Monitoring: yes\n")).message
    assert message.startswith("Monitoring (line 12): Invalid input type, expected a mapping of keys.")


def test_schema_rules_keep_parallelcluster_wording() -> None:
    both = MINIMAL.replace(
        "      InstanceType: c5.large\n",
        "      InstanceType: c5.large\n      Instances:\n      - InstanceType: c5.large\n",
    )
    assert only(errors_of(both)).message == (
        "Scheduling.SlurmQueues[0].ComputeResources[0] (line 8): A Compute Resource needs to specify either "
        "InstanceType or Instances."
    )
    neither = MINIMAL.replace("      InstanceType: c5.large\n", "")
    assert (
        "needs to specify Instances, InstanceType or CapacityReservationId."
        in only(errors_of(neither)).message
    )
    reserved = MINIMAL + "Tags:\n- Key: parallelcluster:version\n  Value: x\n"
    assert only(errors_of(reserved)).message == (
        "Tags (line 12): The tag key prefix 'parallelcluster:' is reserved and cannot be used."
    )
    actions = MINIMAL.replace(
        "  InstanceType: t3.micro\n",
        "  InstanceType: t3.micro\n  CustomActions:\n    OnNodeStart:\n"
        "      Script: s3://b/a.sh\n      Sequence: []\n",
    )
    assert (
        "Both Script and Sequence fields are provided. Only one is allowed."
        in only(errors_of(actions)).message
    )


def test_scaledown_idletime_must_be_positive() -> None:
    text = MINIMAL.replace(
        "  Scheduler: slurm\n", "  Scheduler: slurm\n  SlurmSettings:\n    ScaledownIdletime: 0\n"
    )
    message = only(errors_of(text)).message
    assert message.startswith("Scheduling.SlurmSettings.ScaledownIdletime (line 6): Must be greater than 0")


def test_schema_errors_cannot_be_suppressed() -> None:
    error = errors_of(MINIMAL + "Foo: 1\n", suppress_validators=["ALL"], failure_level="ERROR")
    assert only(error).type == "ConfigSchemaValidator"


# --------------------------------------------------------------------------------------------
# Semantic errors


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Queue1", "Invalid name 'Queue1'. Name must begin with a letter and only contain lowercase letters, "
                   "digits and hyphens."),
        ("q_1", "Invalid name 'q_1'. Name must begin with a letter"),
        ("1q", "Invalid name '1q'."),
        ("a" * 26, f"Invalid name '{'a' * 26}'. Name can be at most 25 chars long."),
        ("default", "It is forbidden to use 'default' as a name."),
    ],
)  # fmt: skip
def test_bad_queue_names(name: str, expected: str) -> None:
    message = only(errors_of(MINIMAL.replace("Name: q1", f"Name: {name}"))).message
    assert message.startswith("Scheduling.SlurmQueues[0].Name (line 6): ")
    assert expected in message
    assert only(errors_of(MINIMAL.replace("Name: q1", f"Name: {name}"))).type == "NameValidator"


def test_bad_compute_resource_name() -> None:
    error = only(errors_of(MINIMAL.replace("Name: cr1", "Name: CR1")))
    assert error.type == "NameValidator"
    assert error.message.startswith(
        "Scheduling.SlurmQueues[0].ComputeResources[0].Name (line 8): Invalid name 'CR1'."
    )


def two_queues(second_queue: str = "q2", second_cr: str = "cr1") -> str:
    return MINIMAL + (
        f"  - Name: {second_queue}\n"
        "    ComputeResources:\n"
        f"    - Name: {second_cr}\n"
        "      InstanceType: c5.large\n"
    )


def test_duplicate_queue_names() -> None:
    error = only(errors_of(two_queues(second_queue="q1")))
    assert error.type == "DuplicateNameValidator"
    assert (
        error.message
        == "Scheduling.SlurmQueues[1].Name (line 12): Queue name q1 must be unique (also used at line 6)."
    )


def test_compute_resource_names_are_unique_per_queue_only() -> None:
    loaded = load_cluster_config(two_queues())
    assert [cr.name for cr in loaded.layout.compute_resources()] == ["cr1", "cr1"]
    text = MINIMAL + "    - Name: cr1\n      InstanceType: c5.xlarge\n"
    error = only(errors_of(text))
    assert error.type == "DuplicateNameValidator"
    assert error.message == (
        "Scheduling.SlurmQueues[0].ComputeResources[1].Name (line 12): Compute resource name cr1 must be "
        "unique (also used at line 8)."
    )


STORAGE = """\
SharedStorage:
- Name: one
  MountDir: /shared
  StorageType: Ebs
- Name: two
  MountDir: /scratch
  StorageType: Efs
"""


def test_shared_storage_loads_and_duplicates_are_rejected() -> None:
    loaded = load_cluster_config(MINIMAL + STORAGE)
    assert [(s.name, s.mount_dir) for s in loaded.layout.shared_storage] == [
        ("one", "/shared"),
        ("two", "/scratch"),
    ]
    same_name = only(errors_of(MINIMAL + STORAGE.replace("Name: two", "Name: one")))
    assert (
        same_name.message
        == "SharedStorage[1].Name (line 16): Shared Storage name one must be unique (also used at line 13)."
    )
    same_dir = only(errors_of(MINIMAL + STORAGE.replace("/scratch", "/shared")))
    assert same_dir.type == "DuplicateMountDirValidator"
    assert same_dir.message.startswith(
        "SharedStorage[1].MountDir (line 17): The mount directory `/shared` is used for multiple shared "
        "storage: ['one', 'two']."
    )
    reserved = only(errors_of(MINIMAL + STORAGE.replace("/scratch", "/opt/slurm")))
    assert reserved.type == "SharedStorageMountDirValidator"


def test_min_count_above_max_count() -> None:
    error = only(errors_of(MINIMAL.replace("MinCount: 1", "MinCount: 5")))
    assert error.type == "ComputeResourceSizeValidator"
    assert error.message == (
        "Scheduling.SlurmQueues[0].ComputeResources[0].MaxCount (line 11): Max count must be greater than "
        "or equal to min count (MinCount 5, MaxCount 3)."
    )
    # MaxCount defaults to 10, so MinCount 11 alone is also too many.
    default_max = MINIMAL.replace("      MaxCount: 3\n", "").replace("MinCount: 1", "MinCount: 11")
    assert "(MinCount 11, MaxCount 10)" in only(errors_of(default_max)).message


def test_unknown_instance_type_with_suggestion() -> None:
    text = WALKTHROUGH.replace("- InstanceType: t2.micro", "- InstanceType: t2.micr")
    error = only(errors_of(text))
    assert error.type == "InstanceTypeValidator"
    assert error.message == (
        "Scheduling.SlurmQueues[0].ComputeResources[0].Instances[0].InstanceType (line 17): unknown "
        "instance type 't2.micr'. Did you mean 't2.micro'?"
    )
    head = only(errors_of(MINIMAL.replace("InstanceType: t3.micro", "InstanceType: x9.huge")))
    assert head.message.startswith("HeadNode.InstanceType (line 2): unknown instance type 'x9.huge'.")


def test_instances_must_share_vcpus_and_gpus() -> None:
    mixed = MINIMAL.replace(
        "      InstanceType: c5.large\n",
        "      Instances:\n      - InstanceType: c5.large\n      - InstanceType: c5.xlarge\n",
    )
    error = only(errors_of(mixed))
    assert error.type == "InstancesCPUValidator"
    assert error.message == (
        "Scheduling.SlurmQueues[0].ComputeResources[0].Instances (line 9): Instance types listed under "
        "Compute Resource cr1 must have the same number of vCPUs ({'c5.large': 2, 'c5.xlarge': 4})."
    )
    gpus = mixed.replace("c5.large", "m5.12xlarge").replace("c5.xlarge", "g4dn.12xlarge")
    assert (
        "must have the same number of GPUs ({'m5.12xlarge': 0, 'g4dn.12xlarge': 4})"
        in only(errors_of(gpus)).message
    )
    same = mixed.replace("c5.xlarge", "c6i.large")
    assert load_cluster_config(same).layout.queues[0].compute_resources[0].instance_types == (
        "c5.large",
        "c6i.large",
    )


def test_awsbatch_is_refused_clearly() -> None:
    text = """\
HeadNode:
  InstanceType: t3.micro
Scheduling:
  Scheduler: awsbatch
  AwsBatchQueues:
  - Name: q
    Networking:
      SubnetIds: [subnet-0a1b2c3d4e5f60718]
    ComputeResources:
    - Name: ce
      InstanceTypes: [optimal]
"""
    error = errors_of(text, suppress_validators=["ALL"])
    message = only(error)
    assert message.type == "SchedulerValidator"
    assert message.message.startswith(
        "Scheduling.Scheduler (line 4): awsbatch scheduler is not supported by stratus yet. Supported "
        "schedulers are: slurm."
    )


def test_queue_limits() -> None:
    queues = "".join(
        f"  - Name: q{i}\n    ComputeResources:\n    - Name: c\n      InstanceType: c5.large\n"
        for i in range(51)
    )
    text = MINIMAL.split("  SlurmQueues:\n")[0] + "  SlurmQueues:\n" + queues
    messages = {m.message.split(": ", 1)[1] for m in errors_of(text).errors}
    assert (
        "Invalid number of SlurmQueues (51) specified. Currently only supports up to 50 SlurmQueues."
        in messages
    )
    assert (
        "Invalid number of ComputeResources per Cluster (51) specified. Currently only supports up to 50 "
        "ComputeResources per Cluster." in messages
    )


# --------------------------------------------------------------------------------------------
# Suppression and failure level

EFA_CAPABLE = MINIMAL.replace("InstanceType: c5.large", "InstanceType: c5n.18xlarge")


def test_warnings_pass_at_error_level_and_are_returned() -> None:
    loaded = load_cluster_config(EFA_CAPABLE)
    assert [(m.level, m.type) for m in loaded.messages] == [("WARNING", "EfaValidator")]


def test_failure_level_warning_turns_warnings_into_errors() -> None:
    error = errors_of(EFA_CAPABLE, failure_level="WARNING")
    assert [(m.level, m.type) for m in error.errors] == [("WARNING", "EfaValidator")]
    assert error.to_json()["message"] == "Invalid cluster configuration."


def test_failure_level_info_fails_on_info_messages() -> None:
    error = errors_of(WALKTHROUGH, failure_level="INFO")
    assert len(error.errors) == 5 and error.validation_messages == []


def test_lower_level_messages_are_listed_with_the_errors() -> None:
    text = WALKTHROUGH.replace("Name: queue1", "Name: Queue1")
    error = errors_of(text)
    assert [m.type for m in error.errors] == ["NameValidator"]
    assert len(error.validation_messages) == 5
    listed = error.to_json()["configurationValidationErrors"]
    assert isinstance(listed, list) and len(listed) == 6
    # File order: the queue name (line 13) comes after Region, Image.Os and the head node keys.
    assert [entry["type"] for entry in listed].index("NameValidator") == 4


def test_suppress_by_type_and_all() -> None:
    assert load_cluster_config(EFA_CAPABLE, suppress_validators=["type:EfaValidator"]).messages == []
    loaded = load_cluster_config(
        EFA_CAPABLE, failure_level="WARNING", suppress_validators=["type:EfaValidator"]
    )
    assert loaded.messages == []
    assert load_cluster_config(WALKTHROUGH, suppress_validators=["ALL"], failure_level="INFO").messages == []
    only_local = load_cluster_config(WALKTHROUGH, suppress_validators=["type:LocalProviderValidator"])
    assert only_local.messages == []


def test_blocking_errors_ignore_suppression() -> None:
    text = MINIMAL.replace("InstanceType: c5.large", "InstanceType: c5.larg")
    error = errors_of(text, suppress_validators=["ALL"])
    assert only(error).type == "InstanceTypeValidator"
    names = errors_of(two_queues(second_queue="q1"), suppress_validators=["type:DuplicateNameValidator"])
    assert only(names).type == "DuplicateNameValidator"


def test_suppressible_error_can_be_suppressed() -> None:
    text = MINIMAL.replace("InstanceType: c5.large", "InstanceType: c7g.large")
    assert only(errors_of(text)).type == "InstanceArchitectureCompatibilityValidator"
    loaded = load_cluster_config(
        text, suppress_validators=["type:InstanceArchitectureCompatibilityValidator"]
    )
    assert isinstance(loaded, LoadedConfig)


@pytest.mark.parametrize("expression", ["type:", "all", "type:Name Validator", "NameValidator"])
def test_malformed_suppression_expression(expression: str) -> None:
    with pytest.raises(UserError, match="does not match"):
        load_cluster_config(MINIMAL, suppress_validators=[expression])


def test_unknown_failure_level() -> None:
    with pytest.raises(UserError, match="INFO, WARNING, ERROR"):
        load_cluster_config(MINIMAL, failure_level="FATAL")


def test_error_text_names_the_file() -> None:
    error = errors_of(MINIMAL + "Foo: 1\n", filename="my.yaml")
    assert str(error).startswith("my.yaml: Invalid cluster configuration.")
    assert error.filename == "my.yaml"


def test_cluster_name_is_checked_with_the_config() -> None:
    assert load_cluster_config(MINIMAL, cluster_name="a" * 60).messages == []
    error = only(errors_of(MINIMAL, cluster_name="a" * 61))
    assert error.type == "ClusterNameValidator"
    assert error.message.endswith(
        "It must start with an alphabetic character and can't be longer than 60 characters."
    )
    accounting = MINIMAL.replace(
        "  Scheduler: slurm\n",
        "  Scheduler: slurm\n  SlurmSettings:\n    Database:\n      Uri: db:3306\n      UserName: u\n"
        "      PasswordSecretArn: arn:aws:secretsmanager:us-east-1:1:secret:x\n",
    )
    assert (
        "when using Slurm accounting it can't be longer than 40"
        in only(errors_of(accounting, cluster_name="a" * 41)).message
    )
    assert load_cluster_config(
        MINIMAL, cluster_name="a" * 61, suppress_validators=["type:ClusterNameValidator"]
    )

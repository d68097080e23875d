"""CustomSlurmSettings that ParallelCluster manages itself are refused, as pcluster refuses them."""

from __future__ import annotations

import pytest

from stratus.config import ConfigValidationError, ValidationMessage, load_cluster_config
from stratus.config.validators import SLURM_SETTINGS_DENY_LIST

BASE = """\
HeadNode:
  InstanceType: t3.micro
Scheduling:
  Scheduler: slurm
  SlurmSettings:
{database}    CustomSlurmSettings:
{cluster}  SlurmQueues:
  - Name: q1
    CustomSlurmSettings:
{queue}    ComputeResources:
    - Name: cr1
      InstanceType: c5.large
      MaxCount: 2
      CustomSlurmSettings:
{resource}"""

DATABASE = """\
    Database:
      Uri: db.example.com:3306
      UserName: admin
      PasswordSecretArn: arn:aws:secretsmanager:us-east-1:111111111111:secret:pw
"""


def config(
    *,
    cluster: str = "      - MinJobAge: 10\n",
    queue: str = "      MaxTime: 60\n",
    resource: str = "",
    database: bool = False,
) -> str:
    # An empty CustomSlurmSettings is YAML's null: as if the key were absent.
    return BASE.format(cluster=cluster, queue=queue, resource=resource, database=DATABASE if database else "")


def denied(text: str, **kwargs: object) -> list[ValidationMessage]:
    with pytest.raises(ConfigValidationError) as caught:
        load_cluster_config(text, **kwargs)  # type: ignore[arg-type]
    return [m for m in caught.value.errors if m.type == "CustomSlurmSettingsValidator"]


def test_a_harmless_config_loads() -> None:
    load_cluster_config(config())


def test_cluster_level_parameters_are_refused_with_pclusters_message() -> None:
    """ParallelCluster 3.12 (``CustomSlurmSettingsValidator``): one ERROR per level, "Using the
    following custom Slurm settings at SlurmConf level is not allowed: " and the refused names as
    written, sorted and joined by commas; names compare case-insensitively, as slurm.conf's."""
    text = config(
        cluster="      - SlurmctldHost: elsewhere\n      - MinJobAge: 10\n      - slurmuser: root\n"
    )
    (message,) = denied(text)
    assert message.level == "ERROR"
    assert message.message == (
        "Scheduling.SlurmSettings.CustomSlurmSettings[0].SlurmctldHost (line 7): Using the following custom "
        "Slurm settings at SlurmConf level is not allowed: SlurmctldHost,slurmuser"
    )


def test_queue_and_compute_resource_levels() -> None:
    """ParallelCluster 3.12 refuses Nodes, PartitionName, ResumeTimeout, State, SuspendTime and
    OverSubscribe on a queue, and CPUs, Features, Gres, NodeAddr, NodeHostname, NodeName, State
    and Weight on a compute resource."""
    text = config(
        queue="      State: DOWN\n      OverSubscribe: FORCE\n      MaxTime: 60\n",
        resource="        Weight: 5\n        Gres: gpu:1\n",
    )
    assert [m.message for m in denied(text)] == [
        "Scheduling.SlurmQueues[0].CustomSlurmSettings.State (line 11): Using the following custom Slurm "
        "settings at Queue level is not allowed: OverSubscribe,State",
        "Scheduling.SlurmQueues[0].ComputeResources[0].CustomSlurmSettings.Weight (line 19): Using the "
        "following custom Slurm settings at ComputeResource level is not allowed: Gres,Weight",
    ]


@pytest.mark.parametrize(
    ("level", "name"),
    [(level, name) for level, names in SLURM_SETTINGS_DENY_LIST.items() for name in sorted(names)],
)
def test_every_name_on_the_deny_list_is_refused_at_its_level(level: str, name: str) -> None:
    """The whole ParallelCluster 3.12 ``SLURM_SETTINGS_DENY_LIST``, each name refused even when
    spelled with other capitals than the list's (lowercase) ones."""
    spelled = name.capitalize()
    kwargs: dict[str, object] = {}
    if level in ("SlurmConf", "Accounting"):
        kwargs = {"cluster": f"      - {spelled}: x\n", "database": level == "Accounting"}
        where = "SlurmConf"
    elif level == "Queue":
        kwargs = {"queue": f"      {spelled}: x\n"}
        where = "Queue"
    else:
        kwargs = {"resource": f"        {spelled}: x\n"}
        where = "ComputeResource"
    (message,) = denied(config(**kwargs))  # type: ignore[arg-type]
    assert message.message.endswith(
        f"Using the following custom Slurm settings at {where} level is not allowed: {spelled}"
    )


def test_accounting_parameters_are_refused_only_with_a_database() -> None:
    """ParallelCluster 3.12 checks the Accounting part of the deny list only when
    ``SlurmSettings.Database`` is set: without one, AccountingStorageType is passed through."""
    cluster = "      - AccountingStorageType: accounting_storage/slurmdbd\n"
    load_cluster_config(config(cluster=cluster), failure_level="ERROR")
    (message,) = denied(config(cluster=cluster, database=True))
    assert message.message.endswith("at SlurmConf level is not allowed: AccountingStorageType")


def test_entries_of_several_keys_are_not_checked_at_cluster_level() -> None:
    """ParallelCluster 3.12 skips cluster-level entries with more than one key (a partition, node
    set or node: one slurm.conf line of its own), so ``State`` on a partition is not refused."""
    text = config(cluster="      - PartitionName: all\n        Nodes: ALL\n        MaxTime: 60\n")
    load_cluster_config(text)
    # stratus refuses State on a partition for a reason of its own (it has no partition states),
    # but not as a parameter on ParallelCluster's deny list.
    refused = denied(config(cluster="      - PartitionName: all\n        Nodes: ALL\n        State: UP\n"))
    assert [m.message for m in refused if "is not allowed" in m.message] == []
    assert any("stratus does not support State on a partition" in m.message for m in refused)


def test_the_refusal_can_be_suppressed_as_in_pcluster() -> None:
    """``--suppress-validators type:CustomSlurmSettingsValidator`` (or ALL) drops the finding in
    ParallelCluster 3.12; the parameter then has no effect on stratus (an INFO says so)."""
    text = config(cluster="      - SlurmctldHost: elsewhere\n")
    loaded = load_cluster_config(text, suppress_validators=["type:CustomSlurmSettingsValidator"])
    assert any(m.type == "LocalProviderValidator" and "SlurmctldHost" in m.message for m in loaded.messages)
    assert load_cluster_config(text, suppress_validators=["ALL"]).layout.queues[0].name == "q1"


def test_include_file_and_inline_settings_cannot_be_used_together() -> None:
    """ParallelCluster 3.12 ``CustomSlurmSettingsIncludeFileOnlyValidator``, with its wording."""
    text = config().replace(
        "    CustomSlurmSettings:\n      - MinJobAge",
        "    CustomSlurmSettingsIncludeFile: https://example.com/slurm.conf\n"
        "    CustomSlurmSettings:\n      - MinJobAge",
    )
    with pytest.raises(ConfigValidationError) as caught:
        load_cluster_config(text)
    (message,) = [m for m in caught.value.errors if m.type == "CustomSlurmSettingsIncludeFileOnlyValidator"]
    assert message.message == (
        "Scheduling.SlurmSettings.CustomSlurmSettingsIncludeFile (line 6): CustomSlurmsettings and "
        "CustomSlurmSettingsIncludeFile cannot be used together under SlurmSettings."
    )

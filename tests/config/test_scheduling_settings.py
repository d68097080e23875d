"""Scheduling parameters in CustomSlurmSettings: Slurm's names and formats, clear errors."""

from __future__ import annotations

import pytest

from stratus.config import ConfigValidationError, load_cluster_config
from stratus.config.scheduling import (
    SettingError,
    parse_settings_text,
    partition_settings,
    scheduling_settings,
)
from stratus.engine.model import BACKFILL_CONSERVATIVE, BACKFILL_EASY, BACKFILL_NONE


def config(cluster: str = "", queue: str = "") -> str:
    return (
        "HeadNode:\n  InstanceType: t3.micro\nScheduling:\n  Scheduler: slurm\n  SlurmSettings:\n"
        "    CustomSlurmSettings:\n"
        f"{cluster}"
        "      - SlurmctldDebug: info\n"
        "  SlurmQueues:\n  - Name: q\n"
        f"{queue}"
        "    ComputeResources:\n    - Name: c\n      InstanceType: t3.micro\n"
    )


def test_defaults_are_slurms() -> None:
    s = scheduling_settings({})
    assert (s.scheduler_type, s.policy.backfill, s.priority.kind) == (
        "sched/backfill",
        BACKFILL_EASY,
        "basic",
    )
    assert s.policy.max_job_test == 500
    assert s.over_time_limit_s == 0.0


def test_a_multifactor_cluster() -> None:
    text = config(
        "      - PriorityType: priority/multifactor\n"
        "      - PriorityWeightAge: 1000\n"
        "      - PriorityWeightFairshare: 10000\n"
        "      - PriorityWeightJobSize: 500\n"
        "      - PriorityMaxAge: 7-0\n"
        "      - PriorityDecayHalfLife: '1-12:00'\n"
        "      - PriorityFavorSmall: 'YES'\n"
        "      - SchedulerParameters: bf_max_job_test=100,bf_window=2880,bf_policy=conservative\n"
        "      - MaxJobsPerUser: 4\n"
        "      - OverTimeLimit: UNLIMITED\n",
        "    CustomSlurmSettings:\n      MaxTime: '2:00:00'\n      DefaultTime: 30\n"
        "      PriorityJobFactor: 10\n      MaxNodesPerUser: 2\n",
    )
    layout = load_cluster_config(text).layout
    s = layout.scheduling
    assert s.priority.kind == "multifactor"
    assert (s.priority.weight_age, s.priority.weight_fairshare, s.priority.weight_jobsize) == (
        1000,
        10000,
        500,
    )
    assert s.priority.max_age_s == 7 * 86400
    assert s.priority.decay_half_life_s == 36 * 3600
    assert s.priority.favor_small is True
    assert (s.policy.max_job_test, s.policy.window_s, s.policy.backfill) == (
        100,
        2880 * 60,
        BACKFILL_CONSERVATIVE,
    )
    assert s.user_limits.max_jobs == 4
    assert s.over_time_limit_s is None
    p = layout.queues[0].partition
    assert (p.max_time_s, p.default_time_s, p.priority_job_factor) == (7200, 1800, 10)
    assert p.user_limits.max_nodes == 2


def test_builtin_scheduler_is_first_come_first_served() -> None:
    assert scheduling_settings({"SchedulerType": "sched/builtin"}).policy.backfill == BACKFILL_NONE


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        (
            "PriorityType",
            "priority/fancy",
            "PriorityType must be one of priority/basic, priority/multifactor",
        ),
        ("PriorityWeightAge", "lots", "PriorityWeightAge must be an integer from 0 to 4294967295"),
        ("PriorityMaxAge", "a week", "PriorityMaxAge must be a Slurm duration"),
        ("SchedulerType", "sched/gang", "SchedulerType must be sched/backfill or sched/builtin"),
        ("SchedulerParameters", "bf_policy=greedy", "bf_policy must be easy or conservative"),
        ("SchedulerParameters", "bf_turbo=1", "stratus does not support 'bf_turbo'"),
        ("PriorityFavorSmall", "maybe", "PriorityFavorSmall must be YES or NO"),
        ("MaxJobsPerUser", -1, "MaxJobsPerUser must be an integer"),
        ("OverTimeLimit", "forever", "OverTimeLimit must be an integer from 0 to 65533"),
    ],
)
def test_bad_cluster_parameter_names_the_path_and_line(key: str, value: object, message: str) -> None:
    text = config(f"      - {key}: {value}\n")
    with pytest.raises(ConfigValidationError) as err:
        load_cluster_config(text)
    found = [e for e in err.value.errors if message in e.message]
    assert found, [e.message for e in err.value.errors]
    assert found[0].type == "CustomSlurmSettingsValidator"


def test_bad_queue_parameter_is_rejected() -> None:
    text = config(queue="    CustomSlurmSettings:\n      MaxTime: soon\n")
    with pytest.raises(ConfigValidationError) as err:
        load_cluster_config(text)
    assert any("MaxTime must be a Slurm duration" in e.message for e in err.value.errors)


def test_partition_settings_unlimited() -> None:
    assert partition_settings({"MaxTime": "UNLIMITED"}).max_time_s is None
    with pytest.raises(SettingError, match="PriorityJobFactor"):
        partition_settings({"PriorityJobFactor": 70000})


def test_command_line_settings_keep_scheduler_parameter_commas() -> None:
    parsed = parse_settings_text(
        "PriorityType=priority/multifactor,SchedulerParameters=bf_window=60,bf_continue"
    )
    assert parsed == {
        "PriorityType": "priority/multifactor",
        "SchedulerParameters": "bf_window=60,bf_continue",
    }
    with pytest.raises(SettingError, match="expected Key=Value"):
        parse_settings_text("PriorityType")


TWO_QUEUES = """\
HeadNode:
  InstanceType: t3.micro
Scheduling:
  Scheduler: slurm
  SlurmSettings:
    CustomSlurmSettings:
{entries}
  SlurmQueues:
  - Name: a
    ComputeResources:
    - Name: c
      InstanceType: t3.micro
      MinCount: 1
      MaxCount: 2
  - Name: b
    ComputeResources:
    - Name: c
      InstanceType: c5.large
      MinCount: 2
      MaxCount: 2
"""


def test_custom_partitions_over_the_queues_nodes() -> None:
    from stratus.controller.build import engine_config

    entries = (
        "      - PartitionName: all\n        Nodes: ALL\n        Default: 'YES'\n        MaxTime: 60\n"
        "      - NodeSet: fast\n        Nodes: b-st-c-[1-2]\n"
        "      - PartitionName: short\n        Nodes: fast,a_nodes\n        PriorityJobFactor: 10\n"
        "      - MaxJobsPerUser: 3\n"
    )
    layout = load_cluster_config(TWO_QUEUES.format(entries=entries)).layout
    assert layout.scheduling.user_limits.max_jobs == 3
    config = engine_config(layout)
    parts = {p.name: p for p in config.partitions}
    assert list(parts) == ["a", "b", "all", "short"]
    assert parts["all"].default and not parts["a"].default
    assert parts["all"].nodes == ("a-st-c-1", "a-dy-c-1", "b-st-c-1", "b-st-c-2")
    assert parts["all"].max_time_s == 3600
    assert parts["short"].priority_job_factor == 10
    assert parts["short"].priority_tier == parts["a"].priority_tier == 1  # Slurm's default
    assert {n.name: n.partitions for n in config.nodes}["b-st-c-1"] == ("b", "all", "short")


def test_priority_tier_of_a_partition() -> None:
    from stratus.controller.build import engine_config

    entries = "      - PartitionName: urgent\n        Nodes: ALL\n        PriorityTier: 5\n"
    parts = {
        p.name: p
        for p in engine_config(load_cluster_config(TWO_QUEUES.format(entries=entries)).layout).partitions
    }
    assert (parts["urgent"].priority_tier, parts["a"].priority_tier) == (5, 1)
    bad = "      - PartitionName: urgent\n        Nodes: ALL\n        PriorityTier: 70000\n"
    with pytest.raises(ConfigValidationError) as err:
        load_cluster_config(TWO_QUEUES.format(entries=bad))
    assert any("PriorityTier must be an integer from 0 to 65533" in e.message for e in err.value.errors)


@pytest.mark.parametrize(
    ("entries", "message"),
    [
        ("      - PartitionName: all\n        Nodes: a-st-c-9\n", "'a-st-c-9', which is neither a node"),
        ("      - PartitionName: a\n        Nodes: ALL\n", "a queue or partition has that name already"),
        ("      - PartitionName: all\n        Nodes: ALL\n        OverSubscribe: 'YES'\n", "OverSubscribe"),
        ("      - PartitionName: all\n", "needs Nodes"),
        ("      - NodeName: extra-1\n        CPUs: 4\n", "does not support custom nodes"),
        ("      - PartitionName: all\n        Nodes: ALL\n        MaxTime: soon\n", "MaxTime must be"),
    ],
)
def test_bad_custom_partition(entries: str, message: str) -> None:
    with pytest.raises(ConfigValidationError) as err:
        load_cluster_config(TWO_QUEUES.format(entries=entries))
    found = [e for e in err.value.errors if message in e.message]
    assert found, [e.message for e in err.value.errors]
    assert "CustomSlurmSettings[0]" in found[0].message or "CustomSlurmSettings[0]" in str(err.value)

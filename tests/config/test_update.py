"""The change set of an update: every difference, named as pcluster names it, with its policy."""

from __future__ import annotations

import copy
from typing import Any

from stratus.config.update import Policy, config_changes, unsupported_message

BASE: dict[str, Any] = {
    "Region": "eu-west-1",
    "Image": {"Os": "alinux2"},
    "HeadNode": {"InstanceType": "t2.micro", "Ssh": {"KeyName": "k1"}},
    "Scheduling": {
        "Scheduler": "slurm",
        "SlurmSettings": {"ScaledownIdletime": 10},
        "SlurmQueues": [
            {
                "Name": "queue1",
                "ComputeResources": [
                    {
                        "Name": "cr1",
                        "Instances": [{"InstanceType": "t2.micro"}],
                        "MinCount": 0,
                        "MaxCount": 10,
                    }
                ],
            }
        ],
    },
}


def _changed(edit: Any) -> dict[str, Any]:
    new = copy.deepcopy(BASE)
    edit(new)
    return new


def test_no_difference_no_change() -> None:
    assert config_changes(BASE, copy.deepcopy(BASE)) == []


def test_counts_and_settings_change_live_and_are_named_as_pcluster_names_them() -> None:
    def edit(c: dict[str, Any]) -> None:
        c["Scheduling"]["SlurmQueues"][0]["ComputeResources"][0]["MaxCount"] = 15
        c["Scheduling"]["SlurmSettings"]["ScaledownIdletime"] = 5

    changes = config_changes(BASE, _changed(edit))
    assert [c.to_json() for c in changes] == [
        {"parameter": "Scheduling.SlurmSettings.ScaledownIdletime", "currentValue": 10, "requestedValue": 5},
        {
            # ParallelCluster 3.12's form: queues and compute resources by name, in brackets.
            "parameter": "Scheduling.SlurmQueues[queue1].ComputeResources[cr1].MaxCount",
            "currentValue": 10,
            "requestedValue": 15,
        },
    ]
    assert [c.policy for c in changes] == [Policy.LIVE, Policy.NODES]


def test_a_new_queue_is_live_a_removed_one_needs_the_fleet_stopped() -> None:
    two = _changed(
        lambda c: c["Scheduling"]["SlurmQueues"].append(
            {
                "Name": "queue2",
                "ComputeResources": [{"Name": "cr2", "Instances": [{"InstanceType": "c5.large"}]}],
            }
        )
    )
    (added,) = config_changes(BASE, two)
    assert (added.parameter, added.current, added.requested, added.policy) == (
        "Scheduling.SlurmQueues",
        None,
        "queue2",
        Policy.LIVE,
    )
    (removed,) = config_changes(two, BASE)
    assert (removed.current, removed.requested, removed.policy) == ("queue2", None, Policy.FLEET_STOP)


def test_what_changes_a_node_needs_the_fleet_stopped_what_needs_a_new_cluster_is_refused() -> None:
    def edit(c: dict[str, Any]) -> None:
        c["Scheduling"]["SlurmQueues"][0]["ComputeResources"][0]["Instances"] = [{"InstanceType": "c5.large"}]
        c["HeadNode"]["Ssh"]["KeyName"] = "k2"
        c["Image"]["Os"] = "ubuntu2204"

    by_parameter = {c.parameter: c.policy for c in config_changes(BASE, _changed(edit))}
    assert by_parameter == {
        "Image.Os": Policy.UNSUPPORTED,
        "HeadNode.Ssh.KeyName": Policy.UNSUPPORTED,
        "Scheduling.SlurmQueues[queue1].ComputeResources[cr1].Instances": Policy.FLEET_STOP,
    }
    # ParallelCluster 3.12's words for a change that needs a new cluster.
    assert unsupported_message("KeyName", "k1") == (
        "Update actions are not currently supported for the 'KeyName' parameter. Restore 'KeyName' value "
        "to 'k1'. If you need this change, please consider creating a new cluster instead of updating "
        "the existing one."
    )


def test_where_nodes_come_from_changes_live_unless_nodes_in_use_would_go() -> None:
    with_hosts = _changed(
        lambda c: c.update({"Stratus": {"Providers": [{"Name": "lab", "Type": "ssh", "Hosts": ["a"]}]}})
    )
    more = copy.deepcopy(with_hosts)
    more["Stratus"]["Providers"][0]["Hosts"] = ["a", "b"]
    more["Stratus"]["HeadNodeAddress"] = "10.0.0.1"
    by_parameter = {c.parameter: c.policy for c in config_changes(with_hosts, more)}
    assert by_parameter == {
        "Stratus.Providers[lab].Hosts": Policy.NODES,
        "Stratus.HeadNodeAddress": Policy.FLEET_STOP,
    }


def test_the_existing_slurm_a_cluster_joins_cannot_change() -> None:
    joined = _changed(
        lambda c: c.update(
            {"Stratus": {"Engine": "slurm", "ExistingSlurm": {"Conf": "/etc/slurm/slurm.conf"}}}
        )
    )
    moved = copy.deepcopy(joined)
    moved["Stratus"]["ExistingSlurm"]["Conf"] = "/etc/slurm-llnl/slurm.conf"
    left = copy.deepcopy(joined)
    del left["Stratus"]["ExistingSlurm"]
    by_parameter = {c.parameter: c.policy for c in config_changes(joined, moved)}
    assert by_parameter == {"Stratus.ExistingSlurm.Conf": Policy.UNSUPPORTED}
    by_parameter = {c.parameter: c.policy for c in config_changes(joined, left)}
    assert by_parameter == {"Stratus.ExistingSlurm": Policy.UNSUPPORTED}
    by_parameter = {c.parameter: c.policy for c in config_changes(left, joined)}
    assert by_parameter == {"Stratus.ExistingSlurm": Policy.UNSUPPORTED}

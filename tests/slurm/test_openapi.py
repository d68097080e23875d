"""``squeue --json|--yaml`` and ``sinfo --json|--yaml``: Slurm 22.05's openapi/v0.0.38 documents."""

from __future__ import annotations

import json

import pytest
import yaml

from stratus.engine.indexset import IndexSet
from stratus.slurm import openapi
from stratus.slurm.views import PartitionRow

from .helpers import FakeBackend, at, cloud_node, job, run, static_node

NOW = at("10:00:00")

# dump_job_info's keys in the order it sets them (openapi/v0.0.38 jobs.c, Slurm 22.05);
# job_resources only for a job holding nodes, group_name only with a group id.
JOB_KEYS = [
    "account",
    "accrue_time",
    "admin_comment",
    "array_job_id",
    "array_task_id",
    "array_max_tasks",
    "array_task_string",
    "association_id",
    "batch_features",
    "batch_flag",
    "batch_host",
    "flags",
    "burst_buffer",
    "burst_buffer_state",
    "cluster",
    "cluster_features",
    "command",
    "comment",
    "container",
    "contiguous",
    "core_spec",
    "thread_spec",
    "cores_per_socket",
    "billable_tres",
    "cpus_per_task",
    "cpu_frequency_minimum",
    "cpu_frequency_maximum",
    "cpu_frequency_governor",
    "cpus_per_tres",
    "deadline",
    "delay_boot",
    "dependency",
    "derived_exit_code",
    "eligible_time",
    "end_time",
    "excluded_nodes",
    "exit_code",
    "features",
    "federation_origin",
    "federation_siblings_active",
    "federation_siblings_viable",
    "gres_detail",
    "group_id",
    "group_name",
    "job_id",
    "job_resources",
    "job_state",
    "last_sched_evaluation",
    "licenses",
    "max_cpus",
    "max_nodes",
    "mcs_label",
    "memory_per_tres",
    "name",
    "nodes",
    "nice",
    "tasks_per_core",
    "tasks_per_node",
    "tasks_per_socket",
    "tasks_per_board",
    "cpus",
    "node_count",
    "tasks",
    "het_job_id",
    "het_job_id_set",
    "het_job_offset",
    "partition",
    "prefer",
    "memory_per_node",
    "memory_per_cpu",
    "minimum_cpus_per_node",
    "minimum_tmp_disk_per_node",
    "preempt_time",
    "pre_sus_time",
    "priority",
    "profile",
    "qos",
    "reboot",
    "required_nodes",
    "requeue",
    "resize_time",
    "restart_cnt",
    "resv_name",
    "shared",
    "show_flags",
    "sockets_per_board",
    "sockets_per_node",
    "start_time",
    "state_description",
    "state_reason",
    "standard_error",
    "standard_input",
    "standard_output",
    "submit_time",
    "suspend_time",
    "system_comment",
    "time_limit",
    "time_minimum",
    "threads_per_core",
    "tres_bind",
    "tres_freq",
    "tres_per_job",
    "tres_per_node",
    "tres_per_socket",
    "tres_per_task",
    "tres_req_str",
    "tres_alloc_str",
    "user_id",
    "user_name",
    "wckey",
    "current_working_directory",
]

# _dump_node's keys in its order (openapi/v0.0.38 nodes.c).
NODE_KEYS = [
    "architecture",
    "burstbuffer_network_address",
    "boards",
    "boot_time",
    "comment",
    "cores",
    "cpu_binding",
    "cpu_load",
    "extra",
    "free_memory",
    "cpus",
    "last_busy",
    "features",
    "active_features",
    "gres",
    "gres_drained",
    "gres_used",
    "mcs_label",
    "name",
    "next_state_after_reboot",
    "address",
    "hostname",
    "state",
    "state_flags",
    "next_state_after_reboot_flags",
    "operating_system",
    "owner",
    "partitions",
    "port",
    "real_memory",
    "reason",
    "reason_changed_at",
    "reason_set_by_user",
    "slurmd_start_time",
    "sockets",
    "threads",
    "temporary_disk",
    "weight",
    "tres",
    "slurmd_version",
    "alloc_memory",
    "alloc_cpus",
    "idle_cpus",
    "tres_used",
    "tres_weighted",
]


def backend() -> FakeBackend:
    nodes = [static_node("ALLOCATED", alloc_cpus=2), cloud_node(1), cloud_node(2, "IDLE", flags=())]
    rows = [
        job(10, "alpha", "RUNNING", start="09:59:00", account="proj", time_limit_min=30, min_memory_mb=4096,
            num_cpus=2, nice=5, dependency="afterok:9(unfulfilled)"),
        job(11, "beta", "PENDING", reason="Priority", time_limit_min=None),
        job(13, "delta", "FAILED", start="09:50:00", end="09:55:00", exit_code=3),
        job(20, "arr", "PENDING", reason="Resources", array=(20, -1),
            pending_ids=IndexSet.from_range(40, 64), array_max_running=5),
        job(21, "arr", "RUNNING", start="09:59:57", array=(20, 30), prio_of=20),
    ]  # fmt: skip
    parts = [PartitionRow("queue1", tuple(n.name for n in nodes), default=True)]
    return FakeBackend(clock=NOW, job_rows=rows, node_rows=nodes, part_rows=parts)


def squeue_json(args: str = "") -> dict:
    res = run(backend(), f"squeue --json {args}")
    assert res.exit_code == 0 and res.stderr == ""
    return json.loads(res.stdout)


def test_squeue_json_document_shape() -> None:
    doc = squeue_json()
    assert list(doc) == ["meta", "errors", "jobs"]
    assert doc["meta"] == {
        "plugin": {"type": "openapi/v0.0.38", "name": "Slurm OpenAPI v0.0.38"},
        "Slurm": {"version": {"major": 22, "micro": 8, "minor": 5}, "release": "22.05.8"},
    }
    assert doc["errors"] == []
    assert [j["job_id"] for j in doc["jobs"]] == [10, 11, 13, 20, 21]
    for j in doc["jobs"]:
        expected = [k for k in JOB_KEYS if k != "job_resources" or j["job_state"] == "RUNNING" or j["nodes"]]
        assert list(j) == expected, j["job_id"]


def test_squeue_json_ignores_filters_and_formats() -> None:
    """As the man page says: all other formatting and filtering arguments are ignored."""
    doc = squeue_json("-u nobody -t R -o %i -h -p nowhere")
    assert len(doc["jobs"]) == 5


def test_squeue_json_job_values() -> None:
    jobs = {j["job_id"]: j for j in squeue_json()["jobs"]}
    run_ = jobs[10]
    assert run_["job_state"] == "RUNNING" and run_["state_reason"] == "None"
    assert run_["account"] == "proj" and run_["cluster"] == "oracle"
    assert run_["nodes"] == "queue1-st-local-1" and run_["batch_host"] == "queue1-st-local-1"
    assert run_["start_time"] == int(at("09:59:00"))
    assert run_["end_time"] == int(at("10:29:00"))  # start + time limit while running
    assert run_["time_limit"] == 30 and run_["nice"] == 5
    assert run_["memory_per_node"] == 4096 and run_["memory_per_cpu"] is None
    assert run_["flags"] == ["JOB_MEM_SET"]
    assert run_["tres_req_str"] == "cpu=2,mem=4G,node=1,billing=2"
    assert run_["billable_tres"] == 2.0
    assert run_["dependency"] == "afterok:9(unfulfilled)"
    assert run_["job_resources"]["nodes"] == "queue1-st-local-1"
    assert run_["job_resources"]["allocated_cpus"] == 2
    assert run_["job_resources"]["allocated_nodes"][0]["sockets"] == {
        "0": {"cores": {"0": "allocated", "1": "allocated"}}
    }
    assert run_["show_flags"] == ["SHOW_ALL", "SHOW_DETAIL", "SHOW_LOCAL"]
    assert run_["current_working_directory"] == "/home/user/work"
    pend = jobs[11]
    assert pend["nodes"] == "" and pend["batch_host"] == "" and pend["tres_alloc_str"] == ""
    assert pend["time_limit"] is None  # UNLIMITED
    assert pend["nice"] is None  # nice 0 is Slurm's NICE_OFFSET: null
    assert pend["billable_tres"] is None and "job_resources" not in pend
    assert pend["state_reason"] == "Priority"
    assert jobs[13]["exit_code"] == 3 << 8  # the raw wait status, as slurmctld keeps it
    assert jobs[13]["end_time"] == int(at("09:55:00"))
    arr = jobs[20]
    assert arr["array_job_id"] == 20 and arr["array_task_id"] is None
    assert arr["array_task_string"] == "40-64" and arr["array_max_tasks"] == 5
    task = jobs[21]
    assert task["array_job_id"] == 20 and task["array_task_id"] == 30 and task["array_task_string"] == ""


def test_json_layout_is_json_c_pretty_spaced() -> None:
    text = run(backend(), "squeue --json").stdout
    assert text.startswith('{\n  "meta": {\n    "plugin": {\n      "type": "openapi\\/v0.0.38",\n')
    assert '\n  "errors": [\n  ],\n  "jobs": [\n    {\n      "account": "proj",\n' in text
    assert '"current_working_directory": "\\/home\\/user\\/work"\n    }\n  ]\n}' in text
    assert not text.endswith("\n")  # printf("%s") of json-c's buffer


def test_serializer_escapes_and_numbers() -> None:
    doc = {"s": 'a"b\\c/d\te\x01é', "f": 1.0, "g": 0.1, "n": None, "u": openapi.UNSET, "t": True, "e": {}}
    text = openapi.to_json(doc)
    assert '"s": "a\\"b\\\\c\\/d\\te\\u0001é"' in text
    assert '"f": 1.0' in text and '"g": 0.10000000000000001' in text
    assert '"n": null' in text and '"u": ""' in text and '"t": true' in text
    assert text.endswith('"e": {\n  }\n}')
    assert json.loads(text)["s"] == 'a"b\\c/d\te\x01é'


def test_squeue_yaml_same_data_tagged() -> None:
    res = run(backend(), "squeue --yaml")
    assert res.exit_code == 0
    data = yaml.safe_load(res.stdout)
    from_json = squeue_json()
    assert [j["job_id"] for j in data["jobs"]] == [j["job_id"] for j in from_json["jobs"]]
    assert data["jobs"][0]["account"] == "proj"
    assert data["jobs"][1]["nodes"] is None  # an unset string is null in YAML, "" in JSON
    assert res.stdout.endswith("...\n")
    if getattr(yaml, "__with_libyaml__", False):
        assert res.stdout.startswith(
            "%YAML 1.1\n--- !!map\n!!str meta: !!map\n  !!str plugin: !!map\n"
            "    !!str type: !!str openapi/v0.0.38\n"
        )
        assert "\n!!str errors: !!seq []\n" in res.stdout
        assert "  !!str billable_tres: !!float 2.000000\n" in res.stdout


def test_sinfo_json_nodes() -> None:
    res = run(backend(), "sinfo --json -p nowhere -N")
    assert res.exit_code == 0
    doc = json.loads(res.stdout)
    assert list(doc) == ["meta", "errors", "nodes"]
    nodes = {n["name"]: n for n in doc["nodes"]}
    assert list(nodes) == ["queue1-st-local-1", "queue1-dy-t2micro-1", "queue1-dy-t2micro-2"]
    for n in doc["nodes"]:
        assert list(n) == NODE_KEYS
    st = nodes["queue1-st-local-1"]
    assert st["state"] == "allocated" and st["state_flags"] == []
    assert st["alloc_cpus"] == 2 and st["idle_cpus"] == 0 and st["tres_used"] == "cpu=2"
    assert st["partitions"] == ["queue1"] and st["real_memory"] == 24105
    assert st["next_state_after_reboot"] == "invalid" and st["port"] == 6818
    down = nodes["queue1-dy-t2micro-1"]
    assert down["state"] == "idle" and down["state_flags"] == ["CLOUD", "POWERED_DOWN"]
    assert down["features"] == "dynamic,t2.micro,t2micro"
    assert down["free_memory"] == -2 and down["cpu_load"] == 4294967294  # NO_VAL, as Slurm prints
    assert down["slurmd_version"] == "" and down["tres_used"] is None
    assert nodes["queue1-dy-t2micro-2"]["state_flags"] == ["CLOUD"]


@pytest.mark.parametrize("cmd", ["sinfo --yaml", "squeue --yaml"])
def test_yaml_loads(cmd: str) -> None:
    res = run(backend(), cmd)
    assert res.exit_code == 0
    assert yaml.safe_load(res.stdout)["meta"]["plugin"]["type"] == "openapi/v0.0.38"


def test_regression_squeue_yaml_of_a_job_name_of_raw_bytes_was_an_internal_error() -> None:
    """Found by the fuzzing campaign: libyaml refuses lone surrogates; the bytes show as U+FFFD."""
    import yaml

    from stratus.slurm.openapi import to_yaml

    assert yaml.safe_load(to_yaml({"name": "n\udcff\ud800é"}))["name"] == "n\ufffd\ufffdé"

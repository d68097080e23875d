"""pcluster verbs end to end: create, list, describe, fleet, instances, delete; and bad input."""

from __future__ import annotations

import os
from pathlib import Path

from tests.integration.harness import WALKTHROUGH_CONFIG, Cluster, Stratus, processes_of, wait_for


def _config(idle: float = 0.05, min_count: int = 0, max_count: int = 10) -> str:
    return WALKTHROUGH_CONFIG.format(idle=idle, min_count=min_count, max_count=max_count)


def test_create_list_describe_delete(stratus: Stratus, tmp_path: Path) -> None:
    cfg = tmp_path / "cluster-config.yaml"
    cfg.write_text(_config())
    r = stratus.run("create-cluster", "--cluster-name", "steyn", "--cluster-configuration", str(cfg))
    assert r.code == 0, r.err
    body = r.json
    assert body["cluster"]["clusterName"] == "steyn"
    assert body["cluster"]["clusterStatus"] == "CREATE_IN_PROGRESS"
    assert body["cluster"]["region"] == "eu-west-1"
    assert body["cluster"]["scheduler"] == {"type": "slurm"}
    infos = {m["message"].split(" ")[0] for m in body["validationMessages"]}
    assert {"Region", "Image.Os", "HeadNode.Networking.SubnetId", "HeadNode.Ssh.KeyName"} <= infos
    assert all(m["level"] == "INFO" for m in body["validationMessages"])

    wait_for(lambda: stratus.run("list-clusters").json["clusters"][0]["clusterStatus"] == "CREATE_COMPLETE")
    desc = stratus.run("describe-cluster", "-n", "steyn").json
    assert desc["computeFleetStatus"] == "RUNNING"
    assert desc["headNode"]["state"] == "running" and desc["headNode"]["instanceId"].startswith("i-")
    token = stratus.cluster_dir("steyn") / "token"
    assert oct(token.stat().st_mode & 0o777) == "0o600"

    assert (
        stratus.run("describe-cluster", "-n", "steyn", "--query", "clusterStatus").json == "CREATE_COMPLETE"
    )
    inst = stratus.run("describe-cluster-instances", "-n", "steyn").json["instances"]
    assert [i["nodeType"] for i in inst] == ["HeadNode"]  # dynamic nodes are powered down
    assert stratus.run("describe-compute-fleet", "-n", "steyn").json["status"] == "RUNNING"

    r = stratus.run("delete-cluster", "-n", "steyn", "--wait")
    assert r.code == 0, r.err
    assert r.json == {"message": "Successfully deleted cluster 'steyn'."}
    assert stratus.run("list-clusters").json == {"clusters": []}
    assert not stratus.cluster_dir("steyn").exists()


def test_static_nodes_fleet_stop_and_start(stratus: Stratus, tmp_path: Path) -> None:
    c = stratus.create("fleet", _config(min_count=2, max_count=3), tmp_path)
    inst = stratus.run("describe-cluster-instances", "-n", "fleet", "--node-type", "ComputeNode").json
    assert sorted(i["queueName"] for i in inst["instances"]) == ["queue1", "queue1"]
    agents = c.agent_pids()
    assert sorted(agents) == ["queue1-st-t2micro-1", "queue1-st-t2micro-2"]
    r = stratus.run("update-compute-fleet", "-n", "fleet", "--status", "STOP_REQUESTED")
    assert r.code == 0, r.out
    wait_for(lambda: stratus.run("describe-compute-fleet", "-n", "fleet").json["status"] == "STOPPED", 30)
    assert not processes_of(list(agents.values()))
    r = stratus.run("update-compute-fleet", "-n", "fleet", "--status", "START_REQUESTED")
    assert r.code == 0
    wait_for(lambda: stratus.run("describe-compute-fleet", "-n", "fleet").json["status"] == "RUNNING", 30)
    assert len(c.agent_pids()) == 2


def test_two_clusters_side_by_side(stratus: Stratus, tmp_path: Path) -> None:
    a = stratus.create("alpha", _config(), tmp_path)
    b = stratus.create("beta", _config(), tmp_path)
    names = [c["clusterName"] for c in stratus.run("list-clusters").json["clusters"]]
    assert names == ["alpha", "beta"]
    assert a.controller_pid() != b.controller_pid()
    assert stratus.run("delete-cluster", "-n", "alpha", "--wait").code == 0
    assert [c["clusterName"] for c in stratus.run("list-clusters").json["clusters"]] == ["beta"]


def test_bad_input_leaves_nothing_behind(stratus: Stratus, tmp_path: Path) -> None:
    bad_yaml = tmp_path / "bad.yaml"
    bad_yaml.write_text("Region: eu-west-1\nHeadNode:\n  InstanceType: t2.micro\n   Bad: [1\n")
    r = stratus.run("create-cluster", "-n", "bad", "-c", str(bad_yaml))
    assert r.code == 1
    assert r.json["message"].startswith("Bad Request: Configuration must be a valid YAML document")
    assert "line" in r.json["message"]

    unknown = tmp_path / "unknown.yaml"
    unknown.write_text(_config().replace("  Scheduler: slurm\n", "  Scheduler: slurm\n  Schedular: x\n"))
    r = stratus.run("create-cluster", "-n", "bad", "-c", str(unknown))
    assert r.code == 1 and r.json["message"] == "Invalid cluster configuration."
    errs = r.json["configurationValidationErrors"]
    assert any("Scheduling.Schedular" in e["message"] and "line 12" in e["message"] for e in errs), errs

    typo = tmp_path / "typo.yaml"
    typo.write_text(
        _config().replace("InstanceType: t2.micro\n      MinCount", "InstanceType: t2.micr\n      MinCount")
    )
    r = stratus.run("create-cluster", "-n", "bad", "-c", str(typo))
    assert r.code == 1
    assert any("t2.micro" in e["message"] for e in r.json["configurationValidationErrors"])

    r = stratus.run("create-cluster", "-n", "9bad", "-c", str(unknown))
    assert r.code == 1
    assert r.json == {
        "message": "Bad Request: '9bad' does not match '^[a-zA-Z][a-zA-Z0-9-]+$' - 'cluster-name'"
    }
    r = stratus.run("create-cluster", "-n", "bad", "-c", str(tmp_path / "missing.yaml"))
    assert r.code == 1 and r.json == {
        "message": f"Bad Request: File not found: '{tmp_path / 'missing.yaml'}'"
    }
    r = stratus.run("create-cluster", "-n", "bad")
    assert r.code == 2 and "the following arguments are required: -c/--cluster-configuration" in r.err
    r = stratus.run("describe-cluster", "-n", "nosuch")
    assert r.code == 1 and "does not exist" in r.json["message"]
    r = stratus.run("delete-cluster", "-n", "nosuch")
    assert r.code == 1 and "does not exist" in r.json["message"]
    r = stratus.run("update-compute-fleet", "-n", "nosuch", "--status", "STOP_REQUESTED")
    assert r.code == 1
    # nothing was created by any of the failures
    root = stratus.home / "clusters"
    assert not root.exists() or os.listdir(root) == []


def test_hostile_yaml_gets_the_usual_error(stratus: Stratus, tmp_path: Path) -> None:
    bomb = ["a0: &a0 [" + ",".join(["lol"] * 9) + "]"]
    bomb += [f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 9)]
    hostile = {
        "control": ("HeadNode:\n  InstanceType: t3.mi\x07cro\n", "Unacceptable character #x0007"),
        "recursive": ("a: &a [*a]\n", "Recursive alias"),
        "deep": ("a: " + "[" * 10_000 + "]" * 10_000 + "\n", "Nested too deeply"),
        "bomb": ("\n".join(bomb) + "\n", "Too many values"),
    }
    for name, (text, problem) in hostile.items():
        path = tmp_path / f"{name}.yaml"
        path.write_text(text)
        r = stratus.run("create-cluster", "-n", "hostile", "-c", str(path), "--dryrun", "true", timeout=30)
        assert r.code == 1, (name, r.err)
        assert "Traceback" not in r.err, r.err
        message = r.json["message"]
        assert message.startswith("Bad Request: Configuration must be a valid YAML document. " + problem)
        assert "(line " in message, message
    assert not stratus.cluster_dir("hostile").exists()


def test_existing_name_and_dryrun(stratus: Stratus, tmp_path: Path) -> None:
    stratus.create("dup", _config(), tmp_path)
    cfg = tmp_path / "dup.yaml"
    r = stratus.run("create-cluster", "-n", "dup", "-c", str(cfg))
    assert r.code == 1 and r.json == {"message": "Bad Request: Cluster dup already exists."}
    r = stratus.run("create-cluster", "-n", "dry", "-c", str(cfg), "--dryrun", "true")
    assert r.code == 1 and r.json["message"] == "Request would have succeeded, but DryRun flag is set."
    assert not stratus.cluster_dir("dry").exists()


def test_api_requires_token(stratus: Stratus, tmp_path: Path) -> None:
    import httpx

    c = stratus.create("auth", _config(), tmp_path)
    host, port, _ = (c.root / "endpoint").read_text().split()
    assert host == "127.0.0.1"
    url = f"http://{host}:{port}/v3/clusters/auth"
    assert httpx.get(url).status_code == 401
    assert httpx.get(url, headers={"Authorization": "Bearer wrong"}).status_code == 401
    token = (c.root / "token").read_text().strip()
    r = httpx.get(url, headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200 and r.json()["clusterName"] == "auth"


def _with_actions(text: str, actions: str) -> str:
    """A config whose queue has CustomActions (``actions``: their YAML under the queue)."""
    return text.replace("    Networking:\n      SubnetIds:", actions + "    Networking:\n      SubnetIds:", 1)


def test_custom_actions_run_on_each_node_before_it_joins(stratus: Stratus, tmp_path: Path) -> None:
    """ParallelCluster's CustomActions: OnNodeStart, then OnNodeConfigured (a Sequence), each
    with its Args, on every node as it boots; a failing one fails the node's bootstrap, which
    fails a cluster being created (StaticNodeBootstrapFailure), with the action named."""
    marker = tmp_path / "actions.log"
    start = tmp_path / "start.sh"
    start.write_text(f'#!/bin/sh\necho "start $*" >> {marker}\n')
    start.chmod(0o755)
    configured = tmp_path / "configured.sh"  # not executable: run with /bin/sh, as a script
    configured.write_text(f'echo "configured $*" >> {marker}\n')
    actions = (
        "    CustomActions:\n"
        "      OnNodeStart:\n"
        f"        Script: {start}\n"
        "        Args: [one, two]\n"
        "      OnNodeConfigured:\n"
        "        Sequence:\n"
        f"        - Script: file://{configured}\n"
        "          Args: [three]\n"
    )
    c = stratus.create("act", _with_actions(_config(min_count=1, max_count=2), actions), tmp_path)
    assert marker.read_text().splitlines() == ["start one two", "configured three"]
    assert c.status() == "CREATE_COMPLETE"

    failing = tmp_path / "fail.sh"
    failing.write_text("exit 3\n")
    bad = _with_actions(
        _config(min_count=1, max_count=1),
        f"    CustomActions:\n      OnNodeStart:\n        Script: {failing}\n",
    )
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(bad)
    assert stratus.run("create-cluster", "-n", "badact", "-c", str(cfg)).code == 0
    bad_cluster = Cluster(stratus, "badact", stratus.cluster_dir("badact"))
    wait_for(lambda: bad_cluster.status() == "CREATE_FAILED", 60, what="the cluster to fail")
    failures = stratus.run("describe-cluster", "-n", "badact").json["failures"]
    assert failures[0]["failureCode"] == "StaticNodeBootstrapFailure", failures
    assert f"OnNodeStartExecutionFailure: {failing} exited with status 3" in failures[0]["failureReason"]

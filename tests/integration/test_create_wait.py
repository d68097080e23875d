"""``create-cluster --wait``: pcluster's output on stdout, the validation messages kept on stderr."""

from __future__ import annotations

import json
from pathlib import Path

from tests.integration.harness import WALKTHROUGH_CONFIG, Stratus


def test_wait_prints_describe_cluster_and_keeps_the_validation_messages_on_stderr(
    stratus: Stratus, tmp_path: Path
) -> None:
    """ParallelCluster 3.12's ``create-cluster --wait`` replaces the create answer (cluster and
    validationMessages) with ``describe-cluster`` once the stack is complete: stdout is that
    document alone, exit 0 when CREATE_COMPLETE. The messages a plain create-cluster returns are
    not lost: stratus writes them to stderr, as ``{"validationMessages": [...]}``, before waiting."""
    cfg = tmp_path / "cluster-config.yaml"
    cfg.write_text(WALKTHROUGH_CONFIG.format(idle=10, min_count=0, max_count=2))
    dry = stratus.run("create-cluster", "-n", "waited", "-c", str(cfg), "--dryrun", "true")
    expected = dry.json["validationMessages"]
    assert expected and all(m["level"] == "INFO" for m in expected)

    r = stratus.run("create-cluster", "-n", "waited", "-c", str(cfg), "--wait")
    assert r.code == 0, r.out + r.err
    described = r.json
    assert described["clusterStatus"] == "CREATE_COMPLETE"
    assert described == stratus.run("describe-cluster", "-n", "waited").json
    assert "validationMessages" not in described
    assert json.loads(r.err) == {"validationMessages": expected}

    quiet = tmp_path / "quiet.yaml"
    quiet.write_text(
        "HeadNode:\n  InstanceType: t2.micro\nScheduling:\n  Scheduler: slurm\n  SlurmQueues:\n"
        "  - Name: q\n    ComputeResources:\n    - Name: c\n      InstanceType: t2.micro\n"
    )
    r = stratus.run("create-cluster", "-n", "quiet", "-c", str(quiet), "--wait")
    assert r.code == 0, r.out + r.err
    assert r.json["clusterName"] == "quiet" and r.err == ""

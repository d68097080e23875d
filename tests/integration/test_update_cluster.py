"""update-cluster on a running cluster: pcluster's change set and refusals, and what stratus
applies live (its head node restarts onto the new configuration while jobs keep running).

Facts from ParallelCluster 3.12: the answer ``{"cluster", "changeSet"}`` with UPDATE_IN_PROGRESS;
``"Update failure"`` with ``updateValidationErrors``; the dry run's 412 message; "No changes
found in your cluster configuration."; parameters named like
``Scheduling.SlurmQueues[q].ComputeResources[cr].MaxCount``.
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.integration.harness import WALKTHROUGH_CONFIG, Cluster, Result, Stratus, wait_for

QUEUE2 = """\
  - Name: queue2
    ComputeResources:
    - Name: big
      Instances:
      - InstanceType: c5.large
      MinCount: 0
      MaxCount: 2
    Networking:
      SubnetIds:
      - subnet-0b864625631add41e
"""


def _config(
    max_count: int = 2, *, queue2: bool = False, instance: str = "t2.micro", head: str = "t2.micro"
) -> str:
    text = WALKTHROUGH_CONFIG.format(idle=60, min_count=1, max_count=max_count)
    text = text.replace("InstanceType: t2.micro\n  Networking", f"InstanceType: {head}\n  Networking", 1)
    text = text.replace("- InstanceType: t2.micro", f"- InstanceType: {instance}")
    return text + (QUEUE2 if queue2 else "")


def _update(stratus: Stratus, tmp_path: Path, text: str, *flags: str) -> Result:
    path = tmp_path / "new.yaml"
    path.write_text(text)
    return stratus.run("update-cluster", "-n", "up", "-c", str(path), *flags)


def _state(c: Cluster, job: int) -> str:
    return c.squeue_states("-t", "all").get(str(job), "")


def test_update_cluster_applies_live_and_refuses_as_pcluster(
    stratus: Stratus, tmp_path: Path, workdir: Path
) -> None:
    c = stratus.create("up", _config(), tmp_path)
    job = c.sbatch("--wrap", "sleep 300", cwd=workdir)
    wait_for(lambda: _state(c, job) == "RUNNING", 60, what="the job to run")

    r = _update(stratus, tmp_path, _config())
    assert (r.code, r.json) == (
        1,
        {"message": "Bad Request: No changes found in your cluster configuration."},
    )

    grown = _config(4, queue2=True)
    r = _update(stratus, tmp_path, grown, "--dryrun", "true")
    assert r.code == 1 and r.json["message"] == "Request would have succeeded, but DryRun flag is set."
    assert r.json["changeSet"] == [
        {
            "parameter": "Scheduling.SlurmQueues[queue1].ComputeResources[t2micro].MaxCount",
            "currentValue": 2,
            "requestedValue": 4,
        },
        {"parameter": "Scheduling.SlurmQueues", "currentValue": None, "requestedValue": "queue2"},
    ]
    assert c.status() == "CREATE_COMPLETE"  # a dry run changes nothing

    # Applied live: more nodes and a new queue, while the job keeps running.
    r = _update(stratus, tmp_path, grown, "--wait")
    assert r.code == 0 and r.json["clusterStatus"] == "UPDATE_COMPLETE", r.out + r.err
    parts = c.slurm("sinfo", "-h", "-o", "%P %D").out.split("\n")
    assert parts[:2] == ["queue1* 4", "queue2 2"], parts
    assert _state(c, job) == "RUNNING"
    assert "Restarts=0" in c.slurm("scontrol", "show", "job", str(job)).out
    other = c.sbatch("-p", "queue2", "--wrap", "true", cwd=workdir)
    wait_for(lambda: _state(c, other) == "COMPLETED", 60, what="a job of the new queue to run")

    # What would change running nodes needs a stopped fleet; what needs a new cluster is refused.
    r = _update(stratus, tmp_path, _config(4, queue2=True, instance="t3.micro", head="t3.large"))
    assert r.code == 1 and r.json["message"] == "Update failure", r.out
    by_parameter = {e["parameter"]: e["message"] for e in r.json["updateValidationErrors"]}
    assert by_parameter["HeadNode.InstanceType"].startswith(
        "Update actions are not currently supported for the 'InstanceType' parameter. Restore "
        "'InstanceType' value to 't2.micro'."
    )
    assert by_parameter["Scheduling.SlurmQueues[queue1].ComputeResources[t2micro].Instances"] == (
        "All compute nodes must be stopped. "
        "Stop the compute fleet with the stratus update-compute-fleet command"
    )
    r = _update(stratus, tmp_path, _config(4))  # removing queue2 needs a stopped fleet too
    assert r.code == 1 and "Scheduling.SlurmQueues" in json.dumps(r.json["updateValidationErrors"])

    # Shrinking drops only idle, powered-down nodes: live.
    r = _update(stratus, tmp_path, _config(2, queue2=True), "--wait")
    assert r.code == 0, r.out + r.err
    assert c.slurm("sinfo", "-h", "-p", "queue1", "-o", "%D").out.strip() == "2"
    assert _state(c, job) == "RUNNING"
    assert c.slurm("scancel", str(job)).code == 0

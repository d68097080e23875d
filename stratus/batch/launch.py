"""What a node runs for a Batch job: its command as a script, with the ``AWS_BATCH_*`` variables.

A controller launch builder (as the Slurm door's): given a started job and its payload, the
launch message's fields. The job runs in its submitter's home directory (as on the head node),
with the job definition's and overrides' environment, plus the variables AWS Batch sets:
``AWS_BATCH_JOB_ID``, ``AWS_BATCH_JOB_ATTEMPT`` (1, 2, ...), ``AWS_BATCH_JQ_NAME``,
``AWS_BATCH_CE_NAME`` (the cluster queue it runs in) and, for an array's child,
``AWS_BATCH_JOB_ARRAY_INDEX``. Its output (stdout and stderr together) goes to one file per
attempt under the cluster's ``batch/logs`` directory: ``<jobId>.<attempt>.log``.

A multi-node parallel job (see :mod:`stratus.batch.multinode`) also gets
``AWS_BATCH_JOB_NUM_NODES`` and ``AWS_BATCH_JOB_MAIN_NODE_INDEX``; its script, run on the
allocation's first node (the main node's), is given the engine's job id and the allocation's
other nodes as arguments, which it starts the other nodes' parts on.
"""

from __future__ import annotations

import os
from typing import Any

from stratus.batch.door import BatchDoor
from stratus.engine.model import Job

_PATH = "/usr/local/bin:/usr/bin:/bin"


def log_path(door: BatchDoor, job: Job, info: dict[str, Any]) -> str:
    """Where an attempt of a Batch job writes its output: ``<logDir>/<jobId>[-<index>].<attempt>.log``."""
    batch_id = door.job_id(job.array_id if job.array_id is not None else job.id)
    name = batch_id if job.task_id is None else f"{batch_id}-{job.task_id}"
    return os.path.join(str(info.get("logDir", "/tmp")), f"{name}.{job.run + 1}.log")


class BatchLauncher:
    """Builds the launch of a Batch job (a controller ``LaunchBuilder``)."""

    def __init__(self, door: BatchDoor) -> None:
        self.door = door

    def __call__(self, job: Job, info: dict[str, Any], script: str, env: dict[str, str]) -> dict[str, Any]:
        assert job.alloc is not None
        engine_id = job.array_id if job.array_id is not None else job.id
        batch_id = self.door.job_id(engine_id)
        full = {
            "PATH": _PATH,
            "HOME": info.get("workdir", "/"),
            "USER": job.spec.user,
            "LOGNAME": job.spec.user,
        }
        full.update(env)
        full.update(
            AWS_BATCH_JOB_ID=batch_id if job.task_id is None else f"{batch_id}:{job.task_id}",
            AWS_BATCH_JOB_ATTEMPT=str(job.run + 1),
            AWS_BATCH_JQ_NAME=str(info.get("jobQueue", "")).rsplit("/", 1)[-1],
            AWS_BATCH_CE_NAME=job.partition or "",
        )
        if job.task_id is not None:
            full["AWS_BATCH_JOB_ARRAY_INDEX"] = str(job.task_id)
        args: list[str] = []
        if info.get("numNodes"):
            full["AWS_BATCH_JOB_NUM_NODES"] = str(info["numNodes"])
            full["AWS_BATCH_JOB_MAIN_NODE_INDEX"] = str(info.get("mainNode", 0))
            args = [str(job.id), *job.alloc.nodes[1:]]
        out = log_path(self.door, job, info)
        return {
            "mem_limit_mb": job.spec.mem_per_node_mb or None,
            "script": script,
            "args": args,
            "env": full,
            "cwd": info.get("workdir", "/"),
            "stdout": out,
            "stderr": out,
            "stdin": "/dev/null",
            "open_mode": None,
            "umask": 0o077,
            # Data staging (stratus.batch.data): done by the node around the script, in a fresh
            # working directory of the job's own.
            "stage_in": info.get("stageIn") or [],
            "stage_out": info.get("stageOut") or [],
            "scratch": bool(info.get("stageIn") or info.get("stageOut")),
        }

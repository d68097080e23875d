"""What a node runs for a Batch job: its command as a script, with the ``AWS_BATCH_*`` variables.

A controller launch builder (as the Slurm door's): given a started job and its payload, the
launch message's fields. The job runs in its submitter's home directory (as on the head node),
with the job definition's and overrides' environment, plus the variables AWS Batch sets:
``AWS_BATCH_JOB_ID``, ``AWS_BATCH_JOB_ATTEMPT`` (1, 2, ...), ``AWS_BATCH_JQ_NAME``,
``AWS_BATCH_CE_NAME`` (the cluster queue it runs in) and, for an array's child,
``AWS_BATCH_JOB_ARRAY_INDEX``. Its output (stdout and stderr together) goes to one file per
attempt under the cluster's ``batch/logs`` directory: ``<jobId>.<attempt>.log``.
"""

from __future__ import annotations

import os
from typing import Any

from stratus.batch.door import BatchDoor
from stratus.engine.model import Job

_PATH = "/usr/local/bin:/usr/bin:/bin"


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
        log_name = (batch_id if job.task_id is None else f"{batch_id}-{job.task_id}") + f".{job.run + 1}.log"
        out = os.path.join(info.get("logDir", "/tmp"), log_name)
        return {
            "mem_limit_mb": job.spec.mem_per_node_mb or None,
            "script": script,
            "args": [],
            "env": full,
            "cwd": info.get("workdir", "/"),
            "stdout": out,
            "stderr": out,
            "stdin": "/dev/null",
            "open_mode": None,
            "umask": 0o077,
        }

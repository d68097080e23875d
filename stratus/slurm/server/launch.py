"""How a Slurm job starts on its node: output paths, the ``SLURM_*`` environment, the launch.

The head node's controller asks this front door, through :class:`SlurmLauncher`, what the batch
host's agent must run for a job whose payload it owns; interactive allocations (salloc, srun
outside a job) get the same environment, less what only tasks have.
"""

from __future__ import annotations

import os
import pwd
from dataclasses import replace
from typing import Any

from stratus.engine.model import Job
from stratus.service.interface import Service
from stratus.slurm.arrays import array_step
from stratus.slurm.env import JobEnvInput, batch_job_env
from stratus.slurm.patterns import PatternContext, output_paths

NO_VAL = 4294967294  # Slurm prints this task id in the paths of an array's pending remainder

# Set per task by srun's steps, not for the allocation itself.
_TASK_VARIABLES = (
    "SLURM_PROCID",
    "SLURM_LOCALID",
    "SLURM_NODEID",
    "SLURMD_NODENAME",
    "SLURM_GTIDS",
    "SLURM_TOPOLOGY_ADDR",
    "SLURM_TOPOLOGY_ADDR_PATTERN",
    "SLURM_PRIO_PROCESS",
)


def output_files(job: Job, info: dict[str, Any], node: str) -> tuple[str, str]:
    """The absolute stdout and stderr paths of ``job`` (its ``-o``/``-e`` patterns expanded)."""
    task = job.task_id
    if job.is_array_remainder:
        task = NO_VAL
    workdir = info.get("workdir", "/")
    pctx = PatternContext(
        job_id=job.id,
        job_name=job.spec.name,
        user=job.spec.user,
        workdir=workdir,
        node=node,
        array_job_id=job.array_id,
        array_task_id=task,
    )
    out, err = output_paths(info.get("stdout"), info.get("stderr"), pctx)
    return os.path.join(workdir, out), os.path.join(workdir, err)


def loads_login_env(export: str | None) -> bool:
    """Whether the node loads the user's login environment for a job exported this way.

    sbatch asks for it (``SLURM_GET_USER_ENV=1``, as ``--get-user-env`` does) for
    ``--export=NONE`` and for an explicit list of variables, not for ``ALL`` (the default).
    """
    return export is not None and export.upper() != "ALL"


def login_defaults(env: dict[str, str], user: str, slurm_bin: str, *, login_env: bool = False) -> None:
    """What a job finds whatever it exported: the user's basics, TMPDIR, and Slurm's commands.

    With ``login_env`` (``--export=NONE`` or a list) Slurm gives the job the user's login
    environment, as ``su - USER`` builds it; stratus gives its usual variables where missing:
    HOME, USER, LOGNAME, SHELL, MAIL (``/var/mail/USER``) and a default PATH. Whatever was
    exported, slurmstepd sets TMPDIR to ``/tmp`` when the job has none. The cluster's Slurm
    commands come first on PATH either way, as they are installed system-wide on a Slurm
    cluster, so a job can run ``scontrol show hostnames`` or submit more jobs.
    """
    try:
        pw = pwd.getpwnam(user)
        defaults = {"HOME": pw.pw_dir, "USER": user, "LOGNAME": user, "SHELL": pw.pw_shell or "/bin/sh"}
    except KeyError:
        defaults = {"USER": user, "LOGNAME": user, "SHELL": "/bin/sh"}
    if login_env:
        defaults["MAIL"] = f"/var/mail/{user}"
    defaults["TMPDIR"] = "/tmp"
    for key, value in defaults.items():
        env.setdefault(key, value)
    path = env.get("PATH") or "/usr/local/bin:/usr/bin:/bin"
    if slurm_bin not in path.split(os.pathsep):
        path = slurm_bin + os.pathsep + path
    env["PATH"] = path


class SlurmLauncher:
    """Builds the launch of a Slurm job's batch script (a controller ``LaunchBuilder``)."""

    def __init__(self, service: Service, slurm_conf: str | None = None) -> None:
        self.service = service
        self.slurm_conf = slurm_conf  # the cluster's slurm.conf, given to batch jobs as SLURM_CONF

    def env_input(self, job: Job, info: dict[str, Any]) -> JobEnvInput:
        """What the ``SLURM_*`` environment of a started ``job`` is built from."""
        assert job.alloc is not None
        workdir = info.get("workdir", "/")
        arr = info.get("array")
        step = array_step(arr["text"]) if arr and arr.get("text") else 1
        return JobEnvInput(
            job_id=job.id,
            name=job.spec.name,
            partition=job.partition or "",
            nodes=job.alloc.nodes,
            cpus_per_node=job.alloc.cpus,
            user=job.spec.user,
            uid=job.spec.uid,
            gid=job.spec.gid,
            submit_dir=info.get("submit_dir", workdir),
            submit_host=info.get("submit_host", "localhost"),
            cluster_name=self.service.cluster_name,
            ntasks=info.get("ntasks"),
            cpus_per_task=info.get("cpus_per_task"),
            ntasks_per_node=info.get("ntasks_per_node"),
            mem_per_node_mb=info.get("mem_per_node_mb"),
            mem_per_cpu_mb=info.get("mem_per_cpu_mb"),
            array_job_id=job.array_id,
            array_task_id=job.task_id,
            array_task_count=arr["count"] if arr else None,
            array_task_min=arr["min"] if arr else None,
            array_task_max=arr["max"] if arr else None,
            array_task_step=step,
            account=info.get("account"),
            open_mode=info.get("open_mode"),
            export=info.get("export"),
            prio_process=job.spec.nice,
            controller_port=self.service.api_port,
            restart_count=job.run,
        )

    def allocation_env(self, job: Job, info: dict[str, Any]) -> dict[str, str]:
        """The environment salloc/srun give their command once the allocation is granted."""
        env = batch_job_env(self.env_input(job, info))
        for task_var in _TASK_VARIABLES:
            env.pop(task_var, None)
        return env

    def __call__(self, job: Job, info: dict[str, Any], script: str, env: dict[str, str]) -> dict[str, Any]:
        """What the batch host's agent needs to start ``job``'s batch script."""
        assert job.alloc is not None
        node = job.alloc.nodes[0]
        stdout, stderr = output_files(job, info, node)
        workdir = info.get("workdir", "/")
        full_env = dict(env)
        export = info.get("export")
        if loads_login_env(export):
            # sbatch's request to load the login environment travels with the job (slurmd
            # leaves it in place), so the job sees it as a Slurm job does.
            full_env["SLURM_GET_USER_ENV"] = "1"
        full_env.update(batch_job_env(replace(self.env_input(job, info), slurm_conf=self.slurm_conf)))
        login_defaults(full_env, job.spec.user, self.service.bin_dir, login_env=loads_login_env(export))
        stdin = info.get("stdin") or "/dev/null"
        spec = job.spec
        mem_limit = spec.mem_per_node_mb
        if not mem_limit and spec.mem_per_cpu_mb:
            mem_limit = spec.mem_per_cpu_mb * job.alloc.cpus[0]
        return {
            "mem_limit_mb": mem_limit or None,  # --mem, enforced by the agent (OUT_OF_MEMORY)
            "script": script,
            "args": info.get("args") or [],
            "env": full_env,
            "cwd": workdir,
            "stdout": stdout,
            "stderr": stderr,
            "stdin": stdin if os.path.isabs(stdin) else os.path.join(workdir, stdin),
            "open_mode": info.get("open_mode"),
            "umask": info.get("umask", 0o022),
            "stage_in": info.get("stage_in") or [],  # --stage-in / --stage-out (stratus.staging)
            "stage_out": info.get("stage_out") or [],
        }

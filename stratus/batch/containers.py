"""The script a node runs for a Batch container job: the image's command in a container.

The container runtime is the cluster's (``Stratus.BatchApi.ContainerRuntime``: a command line,
``podman`` by default, or ``docker``; global options such as ``--runtime runc`` go there). The
script, run as the job's user in place of the command itself:

1. has the image: present, or pulled (at most :data:`PULL_TIMEOUT_S`); if it cannot be had, it
   says ``CannotPullContainerError`` and exits with :data:`CANNOT_PULL`, which the door reports
   as the job's ``statusReason`` (never a hang);
2. runs it with ``--rm``, named after the job and attempt, on the host's network, with the job's
   vCPUs (``--cpus``) and memory (``--memory``, MiB) as the container's limits, the job
   definition's ``ulimits``, ``user``, ``privileged`` and ``readonlyRootFilesystem``, and the
   job's environment (the definition's, the overrides', ``AWS_BATCH_*``) passed by name, so no
   value shows in a process listing;
3. stops the container when the job is ended (cancel, terminate, time limit: SIGTERM to the
   script), removes it whatever happened (the runtime client, ended with the job, may not have),
   then reports the container's exit status as the job's;
4. reports a container killed for memory as such: when the container had a memory limit, its
   process was killed (status 137, SIGKILL) without the job being ended, and the kernel counted
   an out-of-memory kill meanwhile (``oom_kill`` in ``/proc/vmstat``, which every user may read
   and every memory cgroup's kills count in), the script says ``OutOfMemoryError: Container
   killed due to memory usage`` and exits with :data:`OUT_OF_MEMORY`, which the engine records
   as the job's ``OUT_OF_MEMORY`` end (``JobSpec.oom_exit_code``). The runtimes' own record
   (``OOMKilled``) is not used: podman on cgroups v1 does not set it. The counter is the node's:
   another container or process killed for memory on the same node while this container is
   killed by SIGKILL for another reason would be taken for this container's.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

#: The exit status of a container job whose image could not be had (podman's and docker's own
#: status for "the engine failed").
CANNOT_PULL = 125
#: How long the image may take to pull.
PULL_TIMEOUT_S = 300
#: How long a stopped container has between SIGTERM and SIGKILL.
STOP_GRACE_S = 10
#: The exit status of a container job whose container was killed for memory (see the module
#: docstring); the engine records the run as out of memory, with exit code 137.
OUT_OF_MEMORY = 247


def script(
    runtime: Sequence[str],
    image: str,
    command: Sequence[str],
    env_names: Iterable[str],
    *,
    vcpus: float | None = None,
    memory_mib: int | None = None,
    container: Mapping[str, Any] | None = None,
    mount_workdir: bool = False,
) -> str:
    """The job script of a container job (see the module docstring). ``mount_workdir``: the
    job's working directory on the node (where its data is staged) is mounted at the same path
    in the container and is the container's working directory."""
    container = container or {}
    rt = shlex.join(runtime)
    docker = bool(runtime) and runtime[0].rsplit("/", 1)[-1] == "docker"
    exists = "image inspect" if docker else "image exists"
    options = ["--rm", '--name "$name"', "--network host"]
    if not docker:
        options.append("--pull never")
    if vcpus:
        options.append(f"--cpus {vcpus:g}")
    if memory_mib:
        options.append(f"--memory {int(memory_mib)}m")
    for limit in container.get("ulimits") or []:
        value = f"{limit['name']}={limit['softLimit']}:{limit['hardLimit']}"
        options.append(f"--ulimit {shlex.quote(value)}")
    if container.get("user"):
        options.append(f"--user {shlex.quote(str(container['user']))}")
    if container.get("privileged"):
        options.append("--privileged")
    if container.get("readonlyRootFilesystem"):
        options.append("--read-only")
    if mount_workdir:
        options += ['-v "$PWD:$PWD"', '-w "$PWD"']
    options += [f"-e {shlex.quote(name)}" for name in sorted(set(env_names))]
    image_q = shlex.quote(image)
    run = f"{rt} run {' '.join(options)} {image_q} {shlex.join(command)}".rstrip()
    cleanup = shlex.quote(f'{rt} stop -t {STOP_GRACE_S} "$1"; {rt} rm -f "$1"')
    oom_check = ""
    if memory_mib:
        oom_check = f"""
# Killed for memory: SIGKILL (137), not by the job's end, and the kernel counted an OOM kill.
if [ -z "$stopped" ] && [ "$status" -eq 137 ] && [ "$(oom_kills)" -gt "$oom_before" ]; then
  echo "OutOfMemoryError: Container killed due to memory usage" >&2
  exit {OUT_OF_MEMORY}
fi"""
    return f"""#!/bin/sh
# A Batch container job: {image} in a container, stopped with the job.
name="stratus-batch-$(printf %s "$AWS_BATCH_JOB_ID" | tr -c 'a-zA-Z0-9_.-' -)-$AWS_BATCH_JOB_ATTEMPT"
if ! {rt} {exists} {image_q} >/dev/null 2>&1 \\
    && ! timeout {PULL_TIMEOUT_S} {rt} pull {image_q} >/dev/null 2>&1; then
  echo "CannotPullContainerError: {image}: the image is not on this node and could not be pulled" >&2
  exit {CANNOT_PULL}
fi
# Stopping and removing run in a session of their own: when the job's grace time is shorter than
# the container's, the job's processes are killed before they are done.
cleanup={cleanup}
stopped=
trap 'stopped=1; setsid sh -c "$cleanup" sh "$name" >/dev/null 2>&1 &' TERM INT HUP
oom_kills() {{ while read -r k v; do [ "$k" = oom_kill ] && echo "$v" && return; done </proc/vmstat; echo 0
}}
oom_before=$(oom_kills)
{run} &
child=$!
wait "$child"
status=$?
if [ -n "$stopped" ]; then wait "$child"; status=$?; fi
# --rm is the runtime client's to do, and a client ended with the job may not have done it.
{rt} rm -f "$name" >/dev/null 2>&1{oom_check}
exit "$status"
"""

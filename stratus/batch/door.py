"""The AWS Batch front door: Batch's operations translated into the cluster's service.

What a Batch object is here:

* A **compute environment** is one of the cluster's queues (``Scheduling.SlurmQueues``): a
  MANAGED environment of that queue's compute resources, VALID while the cluster runs, its
  vCPUs those of the queue's nodes; DISABLED stops new jobs from starting there. The
  configuration's own queues are created, resized and deleted with it (``update-cluster``);
  ``CreateComputeEnvironment`` adds a queue to the configuration (an elastic node group of the
  requested instance types), which ``Update`` resizes and ``Delete`` removes, each applied as
  update-cluster applies a change (:mod:`stratus.batch.environments`).
* A **job queue** is the door's own object (stored durably by the service), an ordered list of
  compute environments: a job submitted to it may run in any of their queues, the first that can
  start it first. ENABLED or DISABLED; deleting one takes DISABLED first and terminates its jobs.
* A **job definition** is stored by name and revision (1, 2, ...), ACTIVE until deregistered.
  Jobs run, as the submitting user, their image in a container (:mod:`stratus.batch.containers`)
  or, when the definition's ``platformCapabilities`` holds ``STRATUS_HOST`` (see
  :mod:`stratus.batch.shapes`), their ``command`` on the node. A multi-node parallel job runs
  each node's part on a node of its own, its status following its main node
  (:mod:`stratus.batch.multinode`); its nodes are ``<jobId>#<nodeIndex>``.
* A **job** is a job of the cluster's engine, listed by ``squeue`` too. Its id is a UUID-shaped
  string that carries the engine's job id (:func:`job_id_of`); an array's children are
  ``<parent>:<index>``. States map as: pending (held or waiting on a dependency) → PENDING,
  pending otherwise → RUNNABLE, configuring (its node powering up) → STARTING, running or
  completing → RUNNING, completed → SUCCEEDED, every other end → FAILED with its reason.
  Retries are the engine's attempts (``retryStrategy.attempts``), timeouts its time limit,
  ``dependsOn`` its dependencies (a failed parent fails its dependants), ``shareIdentifier`` its
  fair-share identifier.

Every method takes a validated request (:mod:`stratus.batch.shapes`) and the caller's
:class:`~stratus.service.model.Identity`, and returns the response body as botocore expects it
(camelCase, epoch milliseconds). A request that cannot be served raises
:class:`~stratus.batch.shapes.BatchClientError` (``ClientException``); nothing is half-done:
objects are written in one call to the service, after every check.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import functools
import hashlib
import json
import math
import pwd
import re
import shlex
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stratus.batch import containers, data, multinode
from stratus.batch import shapes as s
from stratus.batch.shapes import STRATUS_HOST, BatchClientError
from stratus.engine.indexset import IndexSet
from stratus.engine.model import DepCondition, Job, JobSpec, RetryRule
from stratus.engine.states import JobState
from stratus.service.interface import Service
from stratus.service.model import (
    AccessDenied,
    DoorObject,
    Identity,
    Payload,
    Rejected,
    Submission,
    Target,
    Unavailable,
)

if TYPE_CHECKING:
    from stratus.batch.environments import ComputeEnvironments
    from stratus.batch.policies import SchedulingPolicies
    from stratus.batch.tags import ResourceTags

DOOR = "batch"
KIND_DEFINITION = "job-definition"
KIND_QUEUE = "job-queue"
KIND_REASON = "job-reason"

#: Batch statuses, in the order a job goes through them.
STATUSES = ("SUBMITTED", "PENDING", "RUNNABLE", "STARTING", "RUNNING", "SUCCEEDED", "FAILED")
_WAITING_REASONS = frozenset({"Dependency", "JobHeldUser", "JobHeldAdmin", "BeginTime"})
_REF = re.compile(r"Ref::([A-Za-z0-9_-]+)")


def _ms(t: float | None) -> int | None:
    return None if t is None else int(t * 1000)


def _token(offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"o": offset}).encode()).decode()


def _offset(token: str | None) -> int:
    if not token:
        return 0
    try:
        value = json.loads(base64.urlsafe_b64decode(token.encode()))["o"]
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise BatchClientError(  # noqa: B904 (the token's own error says nothing to the caller)
            "nextToken: not a token this service gave (use the one a previous page returned)"
        )
    if not isinstance(value, int) or value < 0:
        raise BatchClientError(
            "nextToken: not a token this service gave (use the one a previous page returned)"
        )
    return value


def _page(
    items: Sequence[Any], token: str | None, limit: int | None, default: int = 100
) -> tuple[list[Any], str | None]:
    start = _offset(token)
    size = limit or default
    chunk = list(items[start : start + size])
    return chunk, (_token(start + size) if start + size < len(items) else None)


class BatchDoor:
    """The Batch door of one cluster (see the module docstring)."""

    def __init__(self, service: Service, cluster_dir: Path) -> None:
        self.service = service
        self.cluster_dir = cluster_dir
        self.region = service.layout.region or "us-east-1"
        digest = hashlib.sha256(str(cluster_dir).encode()).hexdigest()
        # A 12-digit account of the cluster's own, stable across restarts, for its ARNs.
        self.account = str(int(digest[:12], 16) % 10**12).rjust(12, "0")
        self._id_prefix = f"{digest[12:20]}-{digest[20:24]}-{digest[24:28]}-{digest[28:32]}"
        self.log_dir = cluster_dir / "batch" / "logs"
        self.endpoint_url = ""  # set once the endpoint serves

    # -- names ----------------------------------------------------------------------------------

    def arn(self, kind: str, name: str) -> str:
        return f"arn:aws:batch:{self.region}:{self.account}:{kind}/{name}"

    def job_id(self, engine_id: int) -> str:
        """The Batch id of engine job ``engine_id``."""
        return f"{self._id_prefix}-{engine_id:012x}"

    def job_id_of(self, batch_id: str) -> tuple[int, int | None] | None:
        """(engine job id, array index or None) of a Batch job id (or ARN); None if not ours."""
        text = batch_id.rsplit("job/", 1)[-1]
        index: int | None = None
        if ":" in text:
            text, _, idx = text.partition(":")
            if not idx.isdigit():
                return None
            index = int(idx)
        prefix, _, number = text.rpartition("-")
        if prefix != self._id_prefix or len(number) != 12:
            return None
        try:
            return int(number, 16), index
        except ValueError:
            return None

    def definition_of(self, batch_id: str) -> str | None:
        """The job definition name of Batch job ``batch_id`` (None: no job of this door)."""
        ids = self.job_id_of(batch_id)
        if ids is None:
            return None
        name = self.service.payload_info(ids[0]).get("jobDefinitionName")
        return str(name) if name else None

    @staticmethod
    def _name_of(ref: str, kind: str) -> str:
        """A queue's or environment's name from its name or ARN."""
        marker = f":{kind}/"
        return ref.split(marker, 1)[1] if marker in ref else ref

    # -- compute environments: the cluster's queues (stratus.batch.environments) ---------------------

    @functools.cached_property
    def environments(self) -> ComputeEnvironments:
        """Compute environments (:mod:`stratus.batch.environments`)."""
        from stratus.batch.environments import ComputeEnvironments

        return ComputeEnvironments(self)

    def _environments(self) -> dict[str, dict[str, Any]]:
        return self.environments.described()

    def describe_compute_environments(
        self, r: s.DescribeComputeEnvironmentsRequest, who: Identity
    ) -> dict[str, Any]:
        envs = self._environments()
        wanted = [self._name_of(n, "compute-environment") for n in (r.compute_environments or [])]
        items = [envs[n] for n in wanted if n in envs] if wanted else list(envs.values())
        page, token = _page(items, r.next_token, r.max_results)
        return {"computeEnvironments": page, **({"nextToken": token} if token else {})}

    def _no_environment_changes(self) -> BatchClientError:
        names = ", ".join(q.name for q in self.service.layout.queues) or "none"
        return BatchClientError(
            "This cluster's compute environments are its queues (Scheduling.SlurmQueues in the cluster "
            f"configuration: {names}); they are created, changed and deleted with the configuration "
            "(stratus update-cluster), not through this API, except their state (ENABLED or DISABLED). "
            "Compute environments created through this API change here."
        )

    def create_compute_environment(
        self, r: s.CreateComputeEnvironmentRequest, who: Identity
    ) -> dict[str, Any]:
        return self.environments.create(r, who)

    def update_compute_environment(
        self, r: s.UpdateComputeEnvironmentRequest, who: Identity
    ) -> dict[str, Any]:
        return self.environments.update(r, who)

    def delete_compute_environment(
        self, r: s.DeleteComputeEnvironmentRequest, who: Identity
    ) -> dict[str, Any]:
        return self.environments.delete(r, who)

    # -- job queues -------------------------------------------------------------------------------

    def _queue(self, ref: str) -> DoorObject:
        obj = self.service.get_object(DOOR, KIND_QUEUE, self._name_of(ref, "job-queue"))
        if obj is None:
            raise BatchClientError(f"jobQueue: job queue {ref} does not exist")
        return obj

    def _check_order(self, order: Iterable[s.ComputeEnvironmentOrder]) -> list[dict[str, Any]]:
        envs = self._environments()
        out = []
        for i, entry in enumerate(order):
            name = self._name_of(entry.compute_environment, "compute-environment")
            if name not in envs:
                raise BatchClientError(
                    f"computeEnvironmentOrder[{i}].computeEnvironment: compute environment "
                    f"{entry.compute_environment} does not exist (this cluster has: {', '.join(envs)})"
                )
            if envs[name]["status"] != "VALID":
                raise BatchClientError(
                    f"computeEnvironmentOrder[{i}].computeEnvironment: compute environment "
                    f"{entry.compute_environment} is {envs[name]['status']}; a job queue takes VALID ones"
                )
            out.append({"order": entry.order, "computeEnvironment": envs[name]["computeEnvironmentArn"]})
        return out

    def _require_admin(self, who: Identity, what: str) -> None:
        if not who.is_admin:
            raise BatchClientError(
                f"{who.user} is not allowed to {what}: only the cluster's administrators are"
            )

    def create_job_queue(self, r: s.CreateJobQueueRequest, who: Identity) -> dict[str, Any]:
        self._require_admin(who, "create job queues")
        if self.service.get_object(DOOR, KIND_QUEUE, r.job_queue_name) is not None:
            raise BatchClientError(f"jobQueueName: job queue {r.job_queue_name} already exists")
        policy = self.policies.check_arn(r.scheduling_policy_arn) if r.scheduling_policy_arn else None
        arn = self.arn("job-queue", r.job_queue_name)
        body = {
            "jobQueueName": r.job_queue_name,
            "jobQueueArn": arn,
            "state": r.state or "ENABLED",
            "status": "VALID",
            "statusReason": "JobQueue Healthy",
            "priority": r.priority,
            "computeEnvironmentOrder": self._check_order(r.compute_environment_order or []),
            "tags": dict(r.tags or {}),
            "jobStateTimeLimitActions": [
                a.model_dump(by_alias=True, exclude_none=True) for a in r.job_state_time_limit_actions or []
            ],
        }
        if policy:
            body["schedulingPolicyArn"] = policy
        self.service.put_object(DOOR, KIND_QUEUE, r.job_queue_name, body)
        if policy:
            self.policies.apply()
        return {"jobQueueName": r.job_queue_name, "jobQueueArn": arn}

    def update_job_queue(self, r: s.UpdateJobQueueRequest, who: Identity) -> dict[str, Any]:
        self._require_admin(who, "update job queues")
        obj = self._queue(r.job_queue)
        body = dict(obj.body)
        if r.state is not None:
            body["state"] = r.state
        if r.priority is not None:
            body["priority"] = r.priority
        if r.compute_environment_order is not None:
            body["computeEnvironmentOrder"] = self._check_order(r.compute_environment_order)
        if r.scheduling_policy_arn is not None:
            # AWS: a queue's fair-share policy can be replaced, never removed, and a first-in,
            # first-out queue cannot gain one.
            if not body.get("schedulingPolicyArn"):
                raise BatchClientError(
                    f"schedulingPolicyArn: job queue {obj.key} was created without a scheduling policy "
                    "(first in, first out) and cannot be given one; create a new job queue with it"
                )
            body["schedulingPolicyArn"] = self.policies.check_arn(r.scheduling_policy_arn)
        self.service.put_object(DOOR, KIND_QUEUE, obj.key, body)
        if body.get("schedulingPolicyArn") != obj.body.get("schedulingPolicyArn"):
            self.policies.apply()
        return {"jobQueueName": obj.key, "jobQueueArn": body["jobQueueArn"]}

    def delete_job_queue(self, r: s.DeleteJobQueueRequest, who: Identity) -> dict[str, Any]:
        self._require_admin(who, "delete job queues")
        obj = self._queue(r.job_queue)
        if obj.body.get("state") != "DISABLED":
            raise BatchClientError(
                f"jobQueue: job queue {obj.key} is ENABLED; disable it first (UpdateJobQueue state=DISABLED)"
            )
        # Its unfinished jobs end with it (AWS terminates them).
        arn = obj.body["jobQueueArn"]
        ids = [
            j.id for j in self.service.jobs() if not j.state.final and self._info(j).get("jobQueue") == arn
        ]
        if ids:
            self.service.cancel([Target(i) for i in ids], who, cause="job queue deleted")
        self.service.delete_object(DOOR, KIND_QUEUE, obj.key)
        if obj.body.get("schedulingPolicyArn"):
            self.policies.apply()  # its policy's weights may no longer be in use
        return {}

    def describe_job_queues(self, r: s.DescribeJobQueuesRequest, who: Identity) -> dict[str, Any]:
        queues = {o.key: o.body for o in self.service.objects(DOOR, KIND_QUEUE)}
        wanted = [self._name_of(n, "job-queue") for n in (r.job_queues or [])]
        items = [queues[n] for n in wanted if n in queues] if wanted else list(queues.values())
        page, token = _page(items, r.next_token, r.max_results)
        return {"jobQueues": page, **({"nextToken": token} if token else {})}

    # -- job definitions --------------------------------------------------------------------------

    def _definitions(self, name: str | None = None) -> list[dict[str, Any]]:
        out = [o.body for o in self.service.objects(DOOR, KIND_DEFINITION)]
        return [d for d in out if name is None or d["jobDefinitionName"] == name]

    def register_job_definition(self, r: s.RegisterJobDefinitionRequest, who: Identity) -> dict[str, Any]:
        revisions = [d["revision"] for d in self._definitions(r.job_definition_name)]
        revision = max(revisions, default=0) + 1
        arn = self.arn("job-definition", f"{r.job_definition_name}:{revision}")
        body = r.model_dump(by_alias=True, exclude_none=True)
        body.update(
            jobDefinitionArn=arn, revision=revision, status="ACTIVE", containerOrchestrationType="ECS"
        )
        self.service.put_object(DOOR, KIND_DEFINITION, f"{r.job_definition_name}:{revision:08d}", body)
        return {"jobDefinitionName": r.job_definition_name, "jobDefinitionArn": arn, "revision": revision}

    def _definition(self, ref: str, *, active_only: bool = True) -> dict[str, Any]:
        text = ref.split(":job-definition/", 1)[1] if ":job-definition/" in ref else ref
        name, _, rev = text.partition(":")
        found = self._definitions(name)
        if rev:
            if not rev.isdigit():
                raise BatchClientError(f"jobDefinition: {ref} is not a name, name:revision or ARN")
            found = [d for d in found if d["revision"] == int(rev)]
        elif active_only:
            found = [d for d in found if d["status"] == "ACTIVE"]
        if not found:
            raise BatchClientError(f"jobDefinition: job definition {ref} does not exist")
        best = max(found, key=lambda d: int(d["revision"]))
        if active_only and best["status"] != "ACTIVE":
            raise BatchClientError(f"jobDefinition: job definition {ref} is INACTIVE (deregistered)")
        return best

    def deregister_job_definition(self, r: s.DeregisterJobDefinitionRequest, who: Identity) -> dict[str, Any]:
        d = dict(self._definition(r.job_definition, active_only=False))
        d["status"] = "INACTIVE"
        self.service.put_object(
            DOOR, KIND_DEFINITION, f"{d['jobDefinitionName']}:{int(d['revision']):08d}", d
        )
        return {}

    def describe_job_definitions(self, r: s.DescribeJobDefinitionsRequest, who: Identity) -> dict[str, Any]:
        items = self._definitions(r.job_definition_name)
        if r.job_definitions:
            wanted = []
            for ref in r.job_definitions:
                try:
                    wanted.append(self._definition(ref, active_only=False))
                except BatchClientError:
                    continue  # AWS lists what exists
            items = wanted
        if r.status:
            items = [d for d in items if d["status"] == r.status]
        page, token = _page(items, r.next_token, r.max_results)
        return {"jobDefinitions": page, **({"nextToken": token} if token else {})}

    # -- jobs -------------------------------------------------------------------------------------

    def _info(self, job: Job) -> dict[str, Any]:
        return self.service.payload_info(job.array_id if job.array_id is not None else job.id)

    def submit_job(self, r: s.SubmitJobRequest, who: Identity) -> dict[str, Any]:
        queue = self._queue(r.job_queue).body
        # Scheduling policies and queue priority (stratus.batch.policies): a fair-share queue
        # needs a share identifier, a FIFO queue takes none; jobs of a higher-priority queue are
        # considered before those of lower ones (the engine's per-job tier, set below).
        self.policies.check_share(queue, r.share_identifier)
        queue_tier = int(queue.get("priority", 0))
        if queue.get("state") != "ENABLED":
            raise BatchClientError(
                f"jobQueue: job queue {queue['jobQueueName']} is DISABLED: it accepts no jobs"
            )
        order = sorted(queue.get("computeEnvironmentOrder", []), key=lambda e: e["order"])
        partitions = tuple(self._name_of(e["computeEnvironment"], "compute-environment") for e in order)
        if not partitions:
            raise BatchClientError(f"jobQueue: job queue {queue['jobQueueName']} has no compute environment")
        d = self._definition(r.job_definition)
        parameters = {**(d.get("parameters") or {}), **(r.parameters or {})}
        # A multi-node job: each node's part resolved and checked; the main node's container
        # stands for the job's below (its command, environment and every node's resources).
        multi = multinode.plan(d, r, parameters) if multinode.is_multinode(d) else None
        if multi is None and r.node_overrides is not None:
            raise BatchClientError(
                f"nodeOverrides: only valid for multi-node parallel jobs; {d['jobDefinitionArn']} is a "
                "container job definition (use containerOverrides)"
            )
        container = dict(d.get("containerProperties") or {}) if multi is None else multi.main_container()
        on_host = STRATUS_HOST in (d.get("platformCapabilities") or [])
        over = r.container_overrides
        command = list(over.command) if over and over.command else list(container.get("command") or [])
        command = [_REF.sub(lambda m: parameters.get(m.group(1), m.group(0)), arg) for arg in command]
        if not command and STRATUS_HOST in (d.get("platformCapabilities") or []):
            raise BatchClientError("containerOverrides.command: the job has no command to run")
        env = {e["name"]: e.get("value", "") for e in container.get("environment") or []}
        if over and over.environment:
            env.update({e.name: e.value or "" for e in over.environment})
        stage_in, stage_out = data.staging(env, parameters, container=not on_host)
        if multi is not None and (stage_in or stage_out):
            raise BatchClientError(
                f"containerProperties.environment {data.STAGE_IN}/{data.STAGE_OUT}: data staging is not "
                "available to multi-node parallel jobs yet (stage from the main node's command instead)"
            )
        resources = {x["type"]: x["value"] for x in container.get("resourceRequirements") or []}
        if container.get("vcpus"):
            resources.setdefault("VCPU", str(container["vcpus"]))
        if container.get("memory"):
            resources.setdefault("MEMORY", str(container["memory"]))
        if over and over.resource_requirements:
            resources.update({x.type: x.value for x in over.resource_requirements})
        retry = (
            r.retry_strategy.model_dump(by_alias=True, exclude_none=True)
            if r.retry_strategy
            else d.get("retryStrategy")
        )
        timeout = r.timeout.model_dump(by_alias=True, exclude_none=True) if r.timeout else d.get("timeout")
        array = (
            IndexSet.from_range(0, r.array_properties.size - 1)
            if r.array_properties and r.array_properties.size
            else None
        )
        deps, sequential = self._dependencies(r.depends_on or [], array is not None)
        spec = JobSpec(
            name=r.job_name,
            user=who.user,
            uid=who.uid,
            gid=who.gid,
            partitions=partitions,
            cpus_per_task=max(1, math.ceil(float(resources.get("VCPU", "1")))),
            mem_per_node_mb=int(resources["MEMORY"]) if "MEMORY" in resources else None,
            gpus_per_node=int(resources.get("GPU", "0")),
            time_limit_s=float(timeout["attemptDurationSeconds"]) if timeout else None,
            max_attempts=int(retry.get("attempts", 1)) if retry else 1,
            retry_rules=_retry_rules(retry),
            dependencies=deps,
            fail_on_parent_failure=bool(deps),
            kill_on_invalid_dep=bool(deps),
            array_sequential=sequential,
            share_id=r.share_identifier or "",
            tier=queue_tier,
            oom_exit_code=containers.OUT_OF_MEMORY if multi is None and not on_host else None,
        )
        if multi is not None:
            # One task on each of numNodes nodes, each node holding the largest node's request.
            n = multi.num_nodes
            spec = dataclasses.replace(spec, min_nodes=n, max_nodes=n, ntasks=n, ntasks_per_node=1)
        try:
            home = pwd.getpwuid(who.uid).pw_dir
        except KeyError:
            home = "/"
        info = {
            "jobName": r.job_name,
            "jobQueue": queue["jobQueueArn"],
            "jobDefinition": d["jobDefinitionArn"],
            "jobDefinitionName": d["jobDefinitionName"],
            "parameters": parameters,
            "command": command,
            "environment": [{"name": k, "value": v} for k, v in env.items()],
            "resourceRequirements": [{"type": k, "value": v} for k, v in sorted(resources.items())],
            "retryStrategy": retry,
            "timeout": timeout,
            "dependsOn": [x.model_dump(by_alias=True, exclude_none=True) for x in r.depends_on or []],
            "arraySize": r.array_properties.size if array is not None and r.array_properties else None,
            "tags": dict(r.tags or {}),
            "shareIdentifier": r.share_identifier,
            "platformCapabilities": d.get("platformCapabilities") or [],
            "workdir": home,
            "logDir": str(self.log_dir),
        }
        if stage_in or stage_out:
            info["stageIn"], info["stageOut"] = stage_in, stage_out
        runtime = shlex.split(self.service.layout.batch_api_container_runtime or "podman")
        if multi is not None:
            info.update(multi.info())
            if not on_host:
                info["image"] = container["image"]
            srun = str(Path(self.service.bin_dir) / "srun")
            script = multinode.job_script(multi, runtime=runtime, srun=srun, log_dir=str(self.log_dir))
        elif on_host:
            script = "#!/bin/sh\n" + "exec " + shlex.join(command) + "\n"
        else:
            info["image"] = container["image"]
            batch_vars = [
                "AWS_BATCH_JOB_ID",
                "AWS_BATCH_JOB_ATTEMPT",
                "AWS_BATCH_JQ_NAME",
                "AWS_BATCH_CE_NAME",
            ]
            if array is not None:
                batch_vars.append("AWS_BATCH_JOB_ARRAY_INDEX")
            script = containers.script(
                runtime,
                container["image"],
                command,
                [*env, *batch_vars],
                vcpus=float(resources["VCPU"]) if "VCPU" in resources else None,
                memory_mib=int(resources["MEMORY"]) if "MEMORY" in resources else None,
                container=container,
                mount_workdir=bool(stage_in or stage_out),
            )
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.log_dir.chmod(0o1733)  # each job writes its own file; nobody lists the others
        try:
            engine_id = self.service.submit(
                Submission(spec, Payload(DOOR, info, script, env), array=array), who
            )
        except Rejected as exc:
            raise BatchClientError(
                f"the job cannot run on this job queue's compute environments: {exc}"
            ) from exc
        except (AccessDenied, Unavailable) as exc:
            raise BatchClientError(str(exc)) from exc
        job_id = self.job_id(engine_id)
        return {"jobName": r.job_name, "jobId": job_id, "jobArn": self.arn("job", job_id)}

    def _dependencies(
        self, deps: Sequence[s.JobDependency], is_array: bool
    ) -> tuple[tuple[DepCondition, ...], bool]:
        out: list[DepCondition] = []
        sequential = False
        for i, dep in enumerate(deps):
            if dep.type == "SEQUENTIAL":
                sequential = True
                continue
            ids = self.job_id_of(dep.job_id or "")
            if ids is None or not self.service.knows(ids[0]):
                raise BatchClientError(f"dependsOn[{i}].jobId: job {dep.job_id} does not exist")
            engine_id, index = ids
            kind = "aftercorr" if dep.type == "N_TO_N" else "afterok"
            out.append(DepCondition(kind, engine_id, index))
        return tuple(out), sequential

    # -- describing jobs --------------------------------------------------------------------------

    @staticmethod
    def status(job: Job) -> str:
        st = job.state
        if st == JobState.PENDING:
            return "PENDING" if job.held or job.reason in _WAITING_REASONS else "RUNNABLE"
        if st == JobState.CONFIGURING:
            return "STARTING"
        if st in (JobState.RUNNING, JobState.COMPLETING):
            return "RUNNING"
        if st == JobState.COMPLETED:
            return "SUCCEEDED"
        return "FAILED"

    def _status_reason(self, job: Job, status: str) -> str | None:
        if status != "FAILED":
            return None
        note = self.service.get_object(
            DOOR, KIND_REASON, str(job.array_id if job.array_id is not None else job.id)
        )
        if note is not None and job.state == JobState.CANCELLED:
            return str(note.body.get("reason"))
        if job.state == JobState.TIMEOUT:
            return "Job attempt duration exceeded timeout"
        if job.state == JobState.CANCELLED:
            return "Dependent Job failed" if job.reason == "DependencyNeverSatisfied" else "Job cancelled"
        info = self._info(job)
        staged = job.state == JobState.FAILED and (info.get("stageIn") or info.get("stageOut"))
        if staged and data.failure_reason(job.exit_code):
            return data.failure_reason(job.exit_code)
        image = info.get("image")
        if image and job.state == JobState.FAILED and job.exit_code == containers.CANNOT_PULL:
            return f"CannotPullContainerError: {image}: the image is not on the node and could not be pulled"
        if job.state == JobState.OUT_OF_MEMORY:
            return "OutOfMemoryError: Container killed due to memory usage"
        if job.state in (JobState.NODE_FAIL, JobState.BOOT_FAIL):
            return "Host EC2 (instance) terminated."
        return "Essential container in task exited"

    def _batch_id(self, job: Job) -> str:
        if job.array_id is not None and job.task_id is not None:
            return f"{self.job_id(job.array_id)}:{job.task_id}"
        return self.job_id(job.id)

    def _detail(self, job: Job, records: Sequence[Job] = ()) -> dict[str, Any]:
        """The JobDetail of ``job``; for an array's parent, ``records`` are the array's records
        (its pending remainder counts once per pending task, without being expanded)."""
        info = self._info(job)
        status = self.status(job)
        batch_id = self._batch_id(job)
        log_stream = (
            f"{info.get('jobDefinitionName', 'job')}/default/{batch_id.replace(':', '-')}.{job.run + 1}"
        )
        container: dict[str, Any] = {
            **({"image": info["image"]} if info.get("image") else {}),
            "command": info.get("command", []),
            "environment": info.get("environment", []),
            "resourceRequirements": info.get("resourceRequirements", []),
            "logStreamName": log_stream,
        }
        if job.state.final:
            # Killed by a signal (terminated, timed out): the shell's 128 + signal, as a container's.
            container["exitCode"] = 128 + job.exit_signal if job.exit_signal else job.exit_code
            if job.state == JobState.OUT_OF_MEMORY:
                container["reason"] = _END_TEXTS["OUT_OF_MEMORY"][1]
        detail: dict[str, Any] = {
            "jobArn": self.arn("job", batch_id),
            "jobName": job.spec.name,
            "jobId": batch_id,
            "jobQueue": info.get("jobQueue", ""),
            "status": status,
            "attempts": [],
            "createdAt": _ms(job.submit_time),
            "dependsOn": info.get("dependsOn", []),
            "jobDefinition": info.get("jobDefinition", ""),
            "parameters": info.get("parameters", {}),
            "container": container,
            "tags": self.tagging.job_tags(job.array_id if job.array_id is not None else job.id, info),
            "platformCapabilities": info.get("platformCapabilities", []),
            "isCancelled": job.state == JobState.CANCELLED and job.start_time is None,
            "isTerminated": job.state == JobState.CANCELLED and job.start_time is not None,
        }
        for key in ("retryStrategy", "timeout", "shareIdentifier"):
            if info.get(key):
                detail[key] = info[key]
        if job.start_time is not None:
            detail["startedAt"] = _ms(job.start_time)
        if job.state.final and job.end_time is not None:
            detail["stoppedAt"] = _ms(job.end_time)
        reason = self._status_reason(job, status)
        if reason:
            detail["statusReason"] = reason
        if job.alloc is not None and job.alloc.nodes:
            container["containerInstanceArn"] = job.alloc.nodes[0]
        if info.get("arraySize"):
            if job.task_id is not None:
                detail["arrayProperties"] = {"index": job.task_id}
            else:
                summary = {st: 0 for st in STATUSES}
                for rec in records:
                    if rec.is_array_remainder and rec.pending_tasks is not None:
                        summary[self.status(rec)] += len(rec.pending_tasks)
                    elif rec.task_id is not None:
                        summary[self.status(rec)] += 1
                detail["arrayProperties"] = {"size": info["arraySize"], "statusSummary": summary}
                detail["status"] = _parent_status(summary)
        if info.get("numNodes"):
            detail["nodeProperties"] = {
                "numNodes": info["numNodes"],
                "mainNode": info["mainNode"],
                "nodeRangeProperties": info.get("nodeRangeProperties", []),
            }
        return detail

    def _node_details(self, job: Job, indexes: Iterable[int]) -> list[dict[str, Any]]:
        """The JobDetails of nodes ``indexes`` of multi-node job ``job`` (``<jobId>#<index>``; see
        :mod:`stratus.batch.multinode` for their status). Indexes outside the job are left out."""
        info = self._info(job)
        num_nodes = int(info.get("numNodes") or 0)
        wanted = [i for i in indexes if 0 <= i < num_nodes]
        if not wanted:
            return []
        steps: dict[int, Any] = {}
        if any(i != info["mainNode"] for i in wanted) and job.start_time is not None:
            for _, _, records in self.service.accounting(job_ids=[job.id]):
                steps.update(multinode.node_steps(records, job.run))
        out = []
        for index in wanted:
            detail = self._detail(job)
            parent = detail.pop("jobId")
            main = index == info["mainNode"]
            nid = multinode.node_id(parent, index)
            detail.update(jobId=nid, jobArn=self.arn("job", nid))
            detail["nodeDetails"] = {"nodeIndex": index, "isMainNode": main}
            group: dict[str, Any] = next(
                (g for g in info.get("nodeRangeProperties", [])
                 if index in s.target_node_range(g["targetNodes"], num_nodes)),
                {"container": {}},
            )  # fmt: skip
            container = {**group["container"], "logStreamName": detail["container"]["logStreamName"]}
            if main:
                for key in ("exitCode", "reason", "containerInstanceArn"):
                    if key in detail["container"]:
                        container[key] = detail["container"][key]
            else:
                step = steps.get(index)
                status = multinode.node_status(detail["status"], job.state.final, step)
                stream = multinode.log_name(parent, index, job.run + 1)
                container["logStreamName"] = f"{info.get('jobDefinitionName', 'job')}/default/{stream}"
                for key in ("startedAt", "stoppedAt", "statusReason"):
                    detail.pop(key, None)
                if step is not None:
                    detail["startedAt"] = _ms(step["start_time"])
                    container["containerInstanceArn"] = (list(step.get("nodes") or []) or [""])[0]
                    if step.get("end_time") is not None:
                        detail["stoppedAt"] = _ms(step["end_time"])
                        sig = int(step.get("exit_signal") or 0)
                        container["exitCode"] = 128 + sig if sig else int(step.get("exit_code") or 0)
                if status == "FAILED":
                    detail["statusReason"] = (
                        "Essential container in task exited" if step is not None
                        else self._status_reason(job, "FAILED") or "Job ended before this node started"
                    )  # fmt: skip
                detail["status"] = status
            detail["container"] = container
            out.append(detail)
        return out

    def _records(self, engine_id: int) -> list[Job]:
        return self.service.records_of(engine_id)

    def _children(self, records: Sequence[Job], engine_id: int) -> list[Job]:
        """Every task of an array as a Job record (pending ones expanded from the remainder)."""
        out: list[Job] = []
        for rec in records:
            if rec.is_array_remainder and rec.pending_tasks is not None:
                for index in rec.pending_tasks:
                    out.append(_task_view(rec, engine_id, index))
            elif rec.task_id is not None:
                out.append(rec)
        return out

    def describe_jobs(self, r: s.DescribeJobsRequest, who: Identity) -> dict[str, Any]:
        out = []
        for ref in r.jobs:
            split = multinode.split_node_id(ref)
            ids = self.job_id_of(split[0]) if split is not None else None
            if ids is None or split is None:
                continue  # AWS leaves unknown ids out
            engine_id, index = ids
            records = self._records(engine_id)
            if not records or not self._info(records[0]).get("jobQueue"):
                continue  # not a job of this door, or no longer held
            if split[1] is not None:
                if index is None:  # a node of a multi-node job: <jobId>#<nodeIndex>
                    out.extend(self._node_details(records[0], [split[1]]))
            elif index is None:
                if _is_array(records):
                    out.append(self._detail(_array_head(records, engine_id), records))
                else:
                    out.append(self._detail(records[0]))
            else:
                child = next((c for c in self._children(records, engine_id) if c.task_id == index), None)
                if child is not None:
                    out.append(self._detail(child))
        return {"jobs": out}

    def list_jobs(self, r: s.ListJobsRequest, who: Identity) -> dict[str, Any]:
        rows: list[tuple[Job, Sequence[Job]]] = []  # (a job or an array's parent, its records)
        nodes: list[dict[str, Any]] | None = None  # a multi-node job's nodes, described
        if r.array_job_id:
            ids = self.job_id_of(r.array_job_id)
            rows = [(child, ()) for child in self._children(self._records(ids[0]), ids[0])] if ids else []
        elif r.multi_node_job_id:
            ids = self.job_id_of(r.multi_node_job_id)
            records = self._records(ids[0]) if ids is not None and ids[1] is None else []
            head = records[0] if records and self._info(records[0]).get("numNodes") else None
            nodes = self._node_details(head, range(int(self._info(head)["numNodes"]))) if head else []
        else:
            arn = self._queue(r.job_queue or "").body["jobQueueArn"]
            heads: dict[int, Job] = {}
            for job in self.service.jobs():
                engine_id = job.array_id if job.array_id is not None else job.id
                if engine_id in heads or self._info(job).get("jobQueue") != arn:
                    continue
                heads[engine_id] = job
            for engine_id, job in heads.items():
                if job.array_id is None and job.pending_tasks is None:
                    rows.append((job, ()))
                    continue
                records = self._records(engine_id)
                rows.append((_array_head(records, engine_id), records))
        summaries = nodes if nodes is not None else [
            self._detail(job, records)
            for job, records in sorted(rows, key=lambda x: (x[0].submit_time, x[0].id))
        ]
        if r.filters:
            summaries = [d for d in summaries if all(_matches(d, f.name, f.values[0]) for f in r.filters)]
            summaries.sort(key=lambda d: -int(d["createdAt"] or 0))
        else:
            wanted = r.job_status or "RUNNING"
            summaries = [d for d in summaries if d["status"] == wanted]
        page, token = _page(summaries, r.next_token, r.max_results, default=100)
        keys = ("jobArn", "jobId", "jobName", "createdAt", "startedAt", "stoppedAt", "status", "statusReason",
                "arrayProperties", "jobDefinition", "shareIdentifier")  # fmt: skip
        out = []
        for d in page:
            item = {k: d[k] for k in keys if k in d}
            if "nodeProperties" in d:
                item["nodeProperties"] = multinode.summary(d)
            if "exitCode" in d["container"]:
                item["container"] = {"exitCode": d["container"]["exitCode"]}
            out.append(item)
        return {"jobSummaryList": out, **({"nextToken": token} if token else {})}

    def _end(self, job_id: str, reason: str, who: Identity, *, running_too: bool) -> dict[str, Any]:
        ids = self.job_id_of(job_id)
        records = self._records(ids[0]) if ids else []
        if ids is None or not records:
            raise BatchClientError(f"jobId: job {job_id} does not exist")
        engine_id, index = ids
        jobs = self._children(records, engine_id) or records
        if index is not None:
            jobs = [j for j in jobs if j.task_id == index]
        if not running_too:
            jobs = [j for j in jobs if self.status(j) in ("SUBMITTED", "PENDING", "RUNNABLE")]
        targets = _targets(jobs)
        if not targets:
            return {}
        self.service.put_object(DOOR, KIND_REASON, str(engine_id), {"reason": reason})
        for result in self.service.cancel(targets, who, cause="user"):
            if result.problem is not None and result.problem.name == "DENIED":
                raise BatchClientError(f"jobId: {who.user} may not end job {job_id}")
        return {}

    def cancel_job(self, r: s.CancelJobRequest, who: Identity) -> dict[str, Any]:
        return self._end(r.job_id, r.reason, who, running_too=False)

    def terminate_job(self, r: s.TerminateJobRequest, who: Identity) -> dict[str, Any]:
        return self._end(r.job_id, r.reason, who, running_too=True)

    # -- dispatch ---------------------------------------------------------------------------------

    @functools.cached_property
    def policies(self) -> SchedulingPolicies:
        """Scheduling policies (:mod:`stratus.batch.policies`)."""
        from stratus.batch.policies import SchedulingPolicies

        return SchedulingPolicies(self)

    @functools.cached_property
    def tagging(self) -> ResourceTags:
        """Resource tags (:mod:`stratus.batch.tags`); the endpoint routes their operations."""
        from stratus.batch.tags import ResourceTags

        return ResourceTags(self)

    def operations(self) -> dict[str, tuple[type[Any], Callable[[Any, Identity], dict[str, Any]]]]:
        """Operation name → (request model, handler), for ``POST /v1/<operation>`` (the tag
        operations have routes of their own: :attr:`tagging`)."""
        return {
            **self.policies.operations(),
            "SubmitJob": (s.SubmitJobRequest, self.submit_job),
            "DescribeJobs": (s.DescribeJobsRequest, self.describe_jobs),
            "ListJobs": (s.ListJobsRequest, self.list_jobs),
            "CancelJob": (s.CancelJobRequest, self.cancel_job),
            "TerminateJob": (s.TerminateJobRequest, self.terminate_job),
            "RegisterJobDefinition": (s.RegisterJobDefinitionRequest, self.register_job_definition),
            "DescribeJobDefinitions": (s.DescribeJobDefinitionsRequest, self.describe_job_definitions),
            "DeregisterJobDefinition": (s.DeregisterJobDefinitionRequest, self.deregister_job_definition),
            "CreateJobQueue": (s.CreateJobQueueRequest, self.create_job_queue),
            "UpdateJobQueue": (s.UpdateJobQueueRequest, self.update_job_queue),
            "DeleteJobQueue": (s.DeleteJobQueueRequest, self.delete_job_queue),
            "DescribeJobQueues": (s.DescribeJobQueuesRequest, self.describe_job_queues),
            "CreateComputeEnvironment": (s.CreateComputeEnvironmentRequest, self.create_compute_environment),
            "UpdateComputeEnvironment": (s.UpdateComputeEnvironmentRequest, self.update_compute_environment),
            "DeleteComputeEnvironment": (s.DeleteComputeEnvironmentRequest, self.delete_compute_environment),
            "DescribeComputeEnvironments": (
                s.DescribeComputeEnvironmentsRequest,
                self.describe_compute_environments,
            ),
        }


#: The engine's failed ends that can be retried, with the (statusReason, container reason) this
#: door reports for them: what ``onStatusReason`` and ``onReason`` patterns are matched against.
_END_TEXTS = {
    "FAILED": ("Essential container in task exited", ""),
    "OUT_OF_MEMORY": (
        "OutOfMemoryError: Container killed due to memory usage",
        "OutOfMemoryError: Container killed due to memory usage",
    ),
}


def _glob(pattern: str | None, text: str) -> bool:
    """AWS's patterns: exact, or a prefix when they end with ``*``; None matches anything."""
    if pattern is None:
        return True
    return text.startswith(pattern[:-1]) if pattern.endswith("*") else text == pattern


def _retry_rules(retry: dict[str, Any] | None) -> tuple[RetryRule, ...]:
    """``retryStrategy.evaluateOnExit`` in the engine's terms: the reason patterns become the
    end states whose texts they match."""
    rules = []
    for e in (retry or {}).get("evaluateOnExit") or []:
        states = None
        if e.get("onStatusReason") is not None or e.get("onReason") is not None:
            states = tuple(
                state
                for state, (status, reason) in _END_TEXTS.items()
                if _glob(e.get("onStatusReason"), status) and _glob(e.get("onReason"), reason)
            )
        rules.append(RetryRule(str(e["action"]).upper(), e.get("onExitCode"), states))
    return tuple(rules)


def _parent_status(summary: dict[str, int]) -> str:
    """An array's status from its children's (AWS: running while any child runs, done when all are)."""
    total = sum(summary.values())
    if summary["SUCCEEDED"] + summary["FAILED"] == total:
        return "FAILED" if summary["FAILED"] else "SUCCEEDED"
    for status in ("RUNNING", "STARTING"):
        if summary[status]:
            return "RUNNING" if status == "RUNNING" or summary["SUCCEEDED"] + summary["FAILED"] else status
    if summary["SUCCEEDED"] + summary["FAILED"]:
        return "RUNNING"
    return "RUNNABLE" if summary["RUNNABLE"] else "PENDING"


def _is_array(records: Sequence[Job]) -> bool:
    return any(rec.task_id is not None or rec.is_array_remainder for rec in records)


def _task_view(rec: Job, engine_id: int, index: int) -> Job:
    """A pending task of an array, as its own record would show it."""
    return Job(
        id=engine_id,
        spec=rec.spec,
        submit_time=rec.submit_time,
        priority=rec.priority,
        state=rec.state,
        reason=rec.reason,
        array_id=engine_id,
        task_id=index,
        held=rec.held,
    )


def _array_head(records: Sequence[Job], engine_id: int) -> Job:
    """The record that stands for a whole array (its remainder, else its first record)."""
    for rec in records:
        if rec.id == engine_id:
            return Job(id=engine_id, spec=rec.spec, submit_time=rec.submit_time, priority=rec.priority,
                       state=rec.state, reason=rec.reason, array_id=None, task_id=None)  # fmt: skip
    first = records[0]
    return Job(id=engine_id, spec=first.spec, submit_time=first.submit_time, priority=first.priority,
               state=first.state, reason=first.reason)  # fmt: skip


def _targets(jobs: Sequence[Job]) -> list[Target]:
    """Targets for these records: a pending array remainder's tasks by index, others by id."""
    out: list[Target] = []
    pending: dict[int, list[int]] = {}
    for job in jobs:
        if job.array_id is not None and job.task_id is not None and job.state == JobState.PENDING:
            pending.setdefault(job.array_id, []).append(job.task_id)
        else:
            out.append(Target(job.id))
    for array_id, indexes in pending.items():
        out.append(Target(array_id, IndexSet.from_ids(indexes)))
    return out


def _matches(detail: dict[str, Any], name: str, value: str) -> bool:
    """A ListJobs filter (a trailing ``*`` matches a prefix; JOB_NAME ignores case)."""
    if name in ("BEFORE_CREATED_AT", "AFTER_CREATED_AT"):
        created = int(detail.get("createdAt") or 0)
        return created < int(value) if name == "BEFORE_CREATED_AT" else created > int(value)
    field = {"JOB_NAME": "jobName", "JOB_DEFINITION": "jobDefinition", "SHARE_IDENTIFIER": "shareIdentifier"}[
        name
    ]
    have = str(detail.get(field) or "")
    if name == "JOB_NAME":
        have, value = have.lower(), value.lower()
    if name == "JOB_DEFINITION" and ":job-definition/" in have and ":job-definition/" not in value:
        have = have.split(":job-definition/", 1)[1]
        if ":" not in value and "*" not in value:
            have = have.split(":", 1)[0]
    return have.startswith(value[:-1]) if value.endswith("*") else have == value

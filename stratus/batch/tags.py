"""Batch resource tags: TagResource, UntagResource and ListTagsForResource.

Taggable here, by ARN (this cluster's region and account), as in AWS Batch: job queues
(``job-queue/<name>``), job definitions (``job-definition/<name>:<revision>``), scheduling
policies (``scheduling-policy/<name>``), compute environments created through the API
(``compute-environment/<name>``, :mod:`stratus.batch.environments`) and jobs (``job/<id>``; not
an array's children, which AWS does not tag either). The compute environments that are queues of
the configuration carry no tags of their own. An ARN that names nothing is refused with a
``ClientException`` naming ``resourceArn``.

Tags given when a resource is created are its tags; later changes are kept with the resource:
in the job queue's, job definition's, policy's or compute environment's stored object, and for
a job (whose submitted tags are part of its stored payload, which never changes) in a door
object of its own (kind ``job-tags``, keyed by the engine's job id) that replaces them from
then on. Every change is durable when the call returns. A resource has at most 50 tags after
any change; a change that would exceed that changes nothing. Anyone may list tags; changing
them takes what changing the resource takes: a job's owner (or an administrator), an
administrator for job queues, compute environments and scheduling policies, anyone for job
definitions.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from stratus.batch import shapes as s
from stratus.batch.door import DOOR, KIND_DEFINITION, KIND_QUEUE, BatchDoor
from stratus.batch.environments import KIND_ENVIRONMENT
from stratus.batch.policies import ARN_KIND as POLICY_ARN_KIND
from stratus.batch.policies import KIND_POLICY
from stratus.batch.shapes import MAX_TAGS, BatchClientError
from stratus.service.model import Identity

KIND_JOB_TAGS = "job-tags"


class ResourceTags:
    """The tag operations of a :class:`~stratus.batch.door.BatchDoor`."""

    def __init__(self, door: BatchDoor) -> None:
        self.door = door
        self.service = door.service
        # Jobs whose tags changed after submission (engine id -> tags), loaded on first use and
        # kept in step with every write: DescribeJobs reads it for each job it shows.
        self._jobs: dict[int, dict[str, str]] | None = None

    def _changed_jobs(self) -> dict[int, dict[str, str]]:
        if self._jobs is None:
            self._jobs = {
                int(o.key): dict(o.body.get("tags") or {}) for o in self.service.objects(DOOR, KIND_JOB_TAGS)
            }
        return self._jobs

    def job_tags(self, engine_id: int, info: dict[str, Any]) -> dict[str, str]:
        """The tags of job ``engine_id`` now (``info``: its payload summary)."""
        changed = self._changed_jobs().get(engine_id)
        return dict(changed) if changed is not None else dict(info.get("tags") or {})

    # -- resources by ARN -------------------------------------------------------------------------

    def _resource(
        self, arn: str, who: Identity | None = None
    ) -> tuple[dict[str, str], Callable[[dict[str, str]], None]]:
        """The current tags of the resource ``arn`` names, and how to store new ones; with
        ``who``, refused unless they may change it (a job: its owner; a job queue or scheduling
        policy: an administrator; a job definition: anyone, as anyone registers them)."""
        door = self.door

        def under(kind: str) -> str | None:
            prefix = door.arn(kind, "")
            return arn[len(prefix) :] if arn.startswith(prefix) and len(arn) > len(prefix) else None

        name = under("job-queue")
        if name is not None:
            queue = self.service.get_object(DOOR, KIND_QUEUE, name)
            if queue is not None:
                if who is not None:
                    door._require_admin(who, "tag job queues")
                return self._stored(KIND_QUEUE, queue.key, queue.body)
        name = under("compute-environment")
        if name is not None:
            env = self.service.get_object(DOOR, KIND_ENVIRONMENT, name)
            if env is not None:
                if who is not None:
                    door._require_admin(who, "tag compute environments")
                return self._stored(KIND_ENVIRONMENT, env.key, env.body)
            if name in {q.name for q in self.service.layout.queues}:
                raise BatchClientError(
                    f"resourceArn: compute environment {name} is a queue of the cluster's configuration "
                    "and carries no tags (those created with CreateComputeEnvironment do)"
                )
        name = under("job-definition")
        if name is not None:
            base, _, revision = name.rpartition(":")
            if base and revision.isdigit():
                d = self.service.get_object(DOOR, KIND_DEFINITION, f"{base}:{int(revision):08d}")
                if d is not None and d.body.get("jobDefinitionArn") == arn:
                    return self._stored(KIND_DEFINITION, d.key, d.body)
        if under(POLICY_ARN_KIND) is not None:
            policy = door.policies.find(arn)
            if policy is not None:
                if who is not None:
                    door._require_admin(who, "tag scheduling policies")
                return self._stored(KIND_POLICY, policy.key, policy.body)
        job = under("job")
        if job is not None:
            if ":" in job:
                raise BatchClientError(
                    f"resourceArn: {arn} is a child job of an array job; tag the array job instead"
                )
            ids = door.job_id_of(job)
            records = self.service.records_of(ids[0]) if ids is not None else []
            info = self.service.payload_info(ids[0]) if ids is not None and records else {}
            if ids is not None and info.get("jobQueue"):
                if who is not None and not who.is_admin and records[0].spec.user != who.user:
                    raise BatchClientError(f"resourceArn: {who.user} may not tag job {job}")
                return self._job(ids[0], info)
        raise BatchClientError(f"resourceArn: {arn} does not name a resource of this cluster")

    def _stored(
        self, kind: str, key: str, body: dict[str, Any]
    ) -> tuple[dict[str, str], Callable[[dict[str, str]], None]]:
        def store(tags: dict[str, str]) -> None:
            self.service.put_object(DOOR, kind, key, {**body, "tags": tags})

        return dict(body.get("tags") or {}), store

    def _job(
        self, engine_id: int, info: dict[str, Any]
    ) -> tuple[dict[str, str], Callable[[dict[str, str]], None]]:
        def store(tags: dict[str, str]) -> None:
            self.service.put_object(DOOR, KIND_JOB_TAGS, str(engine_id), {"tags": tags})
            self._changed_jobs()[engine_id] = dict(tags)

        return self.job_tags(engine_id, info), store

    # -- operations -------------------------------------------------------------------------------

    def tag(self, r: s.TagResourceRequest, who: Identity) -> dict[str, Any]:
        tags, store = self._resource(r.resource_arn, who)
        merged = {**tags, **r.tags}
        if len(merged) > MAX_TAGS:
            raise BatchClientError(
                f"tags: a resource can have at most {MAX_TAGS} tags; {r.resource_arn} would have "
                f"{len(merged)}"
            )
        if merged != tags:
            store(merged)
        return {}

    def untag(self, r: s.UntagResourceRequest, who: Identity) -> dict[str, Any]:
        tags, store = self._resource(r.resource_arn, who)
        kept = {k: v for k, v in tags.items() if k not in set(r.tag_keys)}
        if kept != tags:
            store(kept)
        return {}

    def list(self, r: s.ListTagsForResourceRequest, who: Identity) -> dict[str, Any]:
        tags, _ = self._resource(r.resource_arn)
        return {"tags": tags}

    def operations(self) -> dict[str, tuple[type[Any], Callable[[Any, Identity], dict[str, Any]]]]:
        """Operation name -> (request model, handler)."""
        return {
            "TagResource": (s.TagResourceRequest, self.tag),
            "UntagResource": (s.UntagResourceRequest, self.untag),
            "ListTagsForResource": (s.ListTagsForResourceRequest, self.list),
        }

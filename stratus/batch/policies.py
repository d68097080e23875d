"""Batch scheduling policies: fair-share policies, stored by the door, weighting the cluster's
fair share.

A scheduling policy is a door object (kind ``scheduling-policy``, by name) holding its
``fairsharePolicy`` as given, with AWS's defaults filled in (``shareDecaySeconds`` 0,
``computeReservation`` 0, an empty ``shareDistribution``), and its tags. Creating, updating and
deleting one takes one of the cluster's administrators, as job queues do. A job queue's
``schedulingPolicyArn`` must name an existing policy; a policy a queue uses cannot be deleted.

What a policy does here: the engine's fair share (:mod:`stratus.engine.fairshare`) charges a
Batch job's usage to its ``shareIdentifier`` (a fair-share account of that name, beside the
Slurm accounts). The ``weightFactor`` of each share identifier of every policy some job queue
uses becomes that account's weight: an identifier of weight ``w`` is entitled to ``1 / w`` of the
share of an unweighted one (AWS: "0.125 gets 8 times the resources of 1.0"); an identifier ending
in ``*`` weighs every account it is a prefix of. Where two policies in use weigh the same
identifier differently, the smaller weight (the larger share) applies: shares are the
cluster's, not each queue's. Whether fair share orders jobs at all is the cluster's priority
configuration: with ``PriorityType: priority/multifactor`` and a ``PriorityWeightFairshare``
it does; with the default ``priority/basic`` jobs start in submission order and the weights are
recorded but change nothing. ``shareDecaySeconds`` and ``computeReservation`` are stored and
described; the usage decay is the cluster's ``PriorityDecayHalfLife`` and no capacity is held
back for inactive shares.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from stratus.batch import shapes as s
from stratus.batch.door import DOOR, KIND_QUEUE, BatchDoor, _page
from stratus.batch.shapes import BatchClientError
from stratus.service.model import DoorObject, Identity

KIND_POLICY = "scheduling-policy"
#: The ARN kind of a scheduling policy (``arn:aws:batch:<region>:<account>:scheduling-policy/<name>``).
ARN_KIND = "scheduling-policy"


def _fairshare(policy: s.FairsharePolicy | None) -> dict[str, Any]:
    """A policy's ``fairsharePolicy`` as described: AWS's defaults for what was not given."""
    out: dict[str, Any] = {"shareDecaySeconds": 0, "computeReservation": 0, "shareDistribution": []}
    if policy is not None:
        out.update(policy.model_dump(by_alias=True, exclude_none=True))
    return out


class SchedulingPolicies:
    """The scheduling-policy operations of a :class:`~stratus.batch.door.BatchDoor`."""

    def __init__(self, door: BatchDoor) -> None:
        self.door = door
        self.service = door.service

    # -- lookups ---------------------------------------------------------------------------------

    def find(self, arn: str) -> DoorObject | None:
        """The policy named by ``arn`` (this cluster's region and account), or None."""
        prefix = self.door.arn(ARN_KIND, "")
        if not arn.startswith(prefix):
            return None
        obj = self.service.get_object(DOOR, KIND_POLICY, arn[len(prefix) :])
        return obj if obj is not None and obj.body.get("arn") == arn else None

    def _existing(self, arn: str, field: str = "arn") -> DoorObject:
        obj = self.find(arn)
        if obj is None:
            raise BatchClientError(f"{field}: scheduling policy {arn} does not exist")
        return obj

    def check_arn(self, arn: str) -> str:
        """``arn`` if it names an existing policy (a queue's ``schedulingPolicyArn``)."""
        return str(self._existing(arn, "schedulingPolicyArn").body["arn"])

    def users(self, arn: str) -> list[str]:
        """The job queues that use policy ``arn``."""
        queues = self.service.objects(DOOR, KIND_QUEUE)
        return sorted(q.key for q in queues if q.body.get("schedulingPolicyArn") == arn)

    @staticmethod
    def check_share(queue: dict[str, Any], share_identifier: str | None) -> None:
        """AWS's rule at SubmitJob: a queue with a scheduling policy needs a share identifier,
        a queue without one (first in, first out) takes none."""
        name = queue.get("jobQueueName", "")
        if queue.get("schedulingPolicyArn") and not share_identifier:
            raise BatchClientError(
                f"shareIdentifier: job queue {name} has a fair-share scheduling policy; "
                "jobs submitted to it need a share identifier"
            )
        if share_identifier and not queue.get("schedulingPolicyArn"):
            raise BatchClientError(
                f"shareIdentifier: job queue {name} has no scheduling policy (it is first in, first "
                "out); jobs submitted to it take no share identifier"
            )

    # -- the engine's weights ---------------------------------------------------------------------

    def weights(self) -> dict[str, float]:
        """Share identifier (or ``prefix*``) -> weight factor, over the policies queues use."""
        used = {
            str(q.body["schedulingPolicyArn"])
            for q in self.service.objects(DOOR, KIND_QUEUE)
            if q.body.get("schedulingPolicyArn")
        }
        out: dict[str, float] = {}
        for policy in self.service.objects(DOOR, KIND_POLICY):
            if policy.body.get("arn") not in used:
                continue
            for share in policy.body.get("fairsharePolicy", {}).get("shareDistribution") or []:
                ident = str(share["shareIdentifier"])
                weight = float(share.get("weightFactor", 1.0))
                out[ident] = min(weight, out.get(ident, weight))
        return out

    def apply(self) -> None:
        """Hand the engine the weights of the policies in use (after any change to them)."""
        self.service.set_share_weights(self.weights())

    # -- operations -------------------------------------------------------------------------------

    def create(self, r: s.CreateSchedulingPolicyRequest, who: Identity) -> dict[str, Any]:
        self.door._require_admin(who, "create scheduling policies")
        if self.service.get_object(DOOR, KIND_POLICY, r.name) is not None:
            raise BatchClientError(f"name: scheduling policy {r.name} already exists")
        arn = self.door.arn(ARN_KIND, r.name)
        body = {"name": r.name, "arn": arn, "fairsharePolicy": _fairshare(r.fairshare_policy),
                "tags": dict(r.tags or {})}  # fmt: skip
        self.service.put_object(DOOR, KIND_POLICY, r.name, body)
        return {"name": r.name, "arn": arn}

    def describe(self, r: s.DescribeSchedulingPoliciesRequest, who: Identity) -> dict[str, Any]:
        found = (self.find(arn) for arn in r.arns)
        return {"schedulingPolicies": [dict(obj.body) for obj in found if obj is not None]}

    def list(self, r: s.ListSchedulingPoliciesRequest, who: Identity) -> dict[str, Any]:
        arns = [{"arn": o.body["arn"]} for o in self.service.objects(DOOR, KIND_POLICY)]
        page, token = _page(arns, r.next_token, r.max_results)
        return {"schedulingPolicies": page, **({"nextToken": token} if token else {})}

    def update(self, r: s.UpdateSchedulingPolicyRequest, who: Identity) -> dict[str, Any]:
        self.door._require_admin(who, "update scheduling policies")
        obj = self._existing(r.arn)
        if r.fairshare_policy is None:
            return {}
        body = {**obj.body, "fairsharePolicy": _fairshare(r.fairshare_policy)}
        self.service.put_object(DOOR, KIND_POLICY, obj.key, body)
        if self.users(r.arn):
            self.apply()
        return {}

    def delete(self, r: s.DeleteSchedulingPolicyRequest, who: Identity) -> dict[str, Any]:
        self.door._require_admin(who, "delete scheduling policies")
        obj = self._existing(r.arn)
        users = self.users(r.arn)
        if users:
            raise BatchClientError(
                f"arn: scheduling policy {obj.key} is used by job queue(s) {', '.join(users)}; "
                "a policy in use cannot be deleted"
            )
        self.service.delete_object(DOOR, KIND_POLICY, obj.key)
        return {}

    def operations(self) -> dict[str, tuple[type[Any], Callable[[Any, Identity], dict[str, Any]]]]:
        """Operation name -> (request model, handler)."""
        return {
            "CreateSchedulingPolicy": (s.CreateSchedulingPolicyRequest, self.create),
            "DescribeSchedulingPolicies": (s.DescribeSchedulingPoliciesRequest, self.describe),
            "ListSchedulingPolicies": (s.ListSchedulingPoliciesRequest, self.list),
            "UpdateSchedulingPolicy": (s.UpdateSchedulingPolicyRequest, self.update),
            "DeleteSchedulingPolicy": (s.DeleteSchedulingPolicyRequest, self.delete),
        }

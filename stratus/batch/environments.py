"""Compute environments: the cluster's queues, and elastic node groups made through the API.

Every compute environment is a queue of the cluster (``Scheduling.SlurmQueues``) and is named
after it. Two kinds exist:

* **The configuration's queues** (written by whoever wrote the cluster's configuration). They
  change with the configuration (``update-cluster``); through the API only their ``state``
  changes. Creating, deleting or resizing one through the API is refused with a
  ``ClientException`` that says so.
* **MANAGED environments created through the API** (``CreateComputeEnvironment``, type EC2 or
  SPOT). Each becomes a new queue of the configuration, applied as ``update-cluster`` applies a
  change: the new configuration is built from the running one, loaded and validated as a
  configuration file is, its changes checked with :func:`stratus.config.update.update_errors`
  (the function update-cluster uses), then written, and the head node restarts onto it while
  jobs keep running. The environment is a door object (kind ``compute-environment``), stored
  before the update is applied.

How a request maps onto the queue:

* ``computeEnvironmentName`` is the queue's name, so it must be a valid queue name
  (ParallelCluster's rules: a lowercase letter first, then lowercase letters, digits and
  hyphens, at most 25 characters, not ``default``).
* ``computeResources.type``: ``EC2`` is ``CapacityType: ONDEMAND``, ``SPOT`` is ``SPOT``.
  Fargate and ECS-managed instances are refused: jobs run on the cluster's own nodes.
* ``instanceTypes``: one compute resource per instance type, named after it (``c5.large`` →
  ``c5-large``). A family (``c5``) is its smallest size in the instance catalog; ``optimal`` and
  ``default_x86_64`` are :data:`OPTIMAL` (AWS's optimal families, C, M and R, at their smallest
  current size), ``default_arm64`` is :data:`OPTIMAL_ARM64`. Unknown types are refused.
* ``maxvCpus`` bounds each instance type's nodes: ``MaxCount`` is ``ceil(maxvCpus / vCPUs of
  the type)``, so a type with more vCPUs than ``maxvCpus`` still has one node (AWS likewise
  lets an environment pass ``maxvCpus`` by at most one instance). With several types, each may
  grow to that bound: the scheduler starts nodes of the types jobs fit best.
* ``minvCpus`` is kept running as static nodes (``MinCount``), taken from the instance types in
  the order given. ``desiredvCpus`` is recorded and shown; the scheduler powers nodes up and down
  with the queue's demand, as Batch moves it.
* Other members (subnets, security groups, roles, launch templates ...) are stored and described
  as given; the cluster places its nodes itself.

Statuses: ``CREATING`` until the head node runs with the new queue, then ``VALID``;
``UPDATING`` while a resize is applied; ``DELETING`` until the head node runs without the queue,
after which the environment is gone; ``INVALID`` (with ``statusReason``) when the update did not
apply, or when the queue left the configuration another way. ``state``: ``DISABLED`` makes the
queue's partition INACTIVE (Slurm's word): no new job starts there, running jobs go on, and it
stays so across compute-fleet starts and head-node restarts
(:meth:`~stratus.service.interface.Service.set_queue_enabled`); ``ENABLED`` lets jobs start
again. Deleting takes a ``DISABLED`` environment that no job queue names (AWS's rules), whose
queue has no unfinished job and no node in use (the check update-cluster makes for a queue's
removal, applied here with the compute fleet running as a forced update would be).

``UNMANAGED`` environments adopt machines the site manages itself: the hosts of an ``ssh``
provider of the configuration (``Stratus.Providers``), named by the environment's tag
``stratus:provider``. The environment becomes a queue whose one compute resource (``hosts``)
has a static node on each of those hosts, applied as above; ``unmanagedvCpus`` is recorded.
Without the tag, or naming no ssh provider, the request is refused with the providers there are.

The configuration file is rewritten from the running document (``yaml.safe_dump``): its values
stay, comments and key quoting of the original text do not.
"""

from __future__ import annotations

import copy
import math
import uuid
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import yaml

from stratus.batch import shapes as s
from stratus.batch.door import DOOR, KIND_QUEUE, BatchDoor
from stratus.batch.shapes import BatchClientError
from stratus.config import BadYamlError, ConfigValidationError, load_cluster_config
from stratus.config.catalog import all_instance_types, get_instance_type, suggest_instance_types
from stratus.config.update import config_changes, update_errors
from stratus.config.validators import name_problems
from stratus.errors import UserError
from stratus.service.model import AccessDenied, DoorObject, Identity

KIND_ENVIRONMENT = "compute-environment"
#: The tag of an UNMANAGED environment that names the ssh provider whose hosts it adopts.
PROVIDER_TAG = "stratus:provider"

#: What ``optimal`` and ``default_x86_64`` stand for: AWS's optimal families (C, M and R) at their
#: smallest current size. Small nodes let the scheduler pack jobs without stranding vCPUs.
OPTIMAL = ("c5.large", "m5.large", "r5.large")
#: What ``default_arm64`` stands for: the Graviton counterparts of :data:`OPTIMAL`.
OPTIMAL_ARM64 = ("c6g.large", "m6g.large", "r6g.large")
_ALIASES = {"optimal": OPTIMAL, "default_x86_64": OPTIMAL, "default_arm64": OPTIMAL_ARM64}

#: Compute resource types this cluster runs (the others are Fargate's and ECS's own capacity).
_CAPACITY = {"EC2": "ONDEMAND", "SPOT": "SPOT"}

_IN_PROGRESS = ("CREATING", "UPDATING", "DELETING")


# -- the queue an environment is ---------------------------------------------------------------


def resolve_instance_types(requested: Sequence[str]) -> list[str]:
    """The catalog instance types ``requested`` (``computeResources.instanceTypes``) stands for,
    in order, without repeats; a ``BatchClientError`` naming the member for one it does not know."""
    out: list[str] = []
    for i, name in enumerate(requested):
        if name in _ALIASES:
            found = list(_ALIASES[name])
        elif get_instance_type(name) is not None:
            found = [name]
        elif "." not in name and (family := _smallest_of_family(name)) is not None:
            found = [family]
        else:
            hints = suggest_instance_types(name)
            hint = f" (did you mean {', '.join(hints)}?)" if hints else ""
            raise BatchClientError(
                f"computeResources.instanceTypes[{i}]: {name} is not an instance type this cluster "
                f"knows{hint}; give instance types, families or optimal"
            )
        out.extend(t for t in found if t not in out)
    return out


def _smallest_of_family(family: str) -> str | None:
    sizes = [t for t in all_instance_types() if t.name.split(".", 1)[0] == family]
    if not sizes:
        return None
    return min(sizes, key=lambda t: (t.vcpus, t.memory_mib)).name


def node_counts(types: Sequence[str], min_vcpus: int, max_vcpus: int) -> list[tuple[int, int]]:
    """(MinCount, MaxCount) of each instance type's compute resource, in order (see the module
    docstring): each type may grow to ``maxvCpus`` (at least one node), and ``minvCpus`` is kept
    up by the first types' static nodes."""
    out: list[tuple[int, int]] = []
    remaining = min_vcpus
    for name in types:
        known = get_instance_type(name)
        vcpus = known.vcpus if known is not None else 1
        most = max(1, math.ceil(max_vcpus / vcpus))
        least = min(most, math.ceil(max(remaining, 0) / vcpus))
        remaining -= least * vcpus
        out.append((least, most))
    return out


def queue_entry(
    name: str, capacity: str, types: Sequence[str], min_vcpus: int, max_vcpus: int, networking: Any = None
) -> dict[str, Any]:
    """The ``Scheduling.SlurmQueues`` entry of a compute environment."""
    resources = [
        {"Name": t.replace(".", "-"), "InstanceType": t, "MinCount": least, "MaxCount": most}
        for t, (least, most) in zip(types, node_counts(types, min_vcpus, max_vcpus), strict=True)
    ]
    entry: dict[str, Any] = {"Name": name, "CapacityType": capacity, "ComputeResources": resources}
    if networking is not None:
        entry["Networking"] = copy.deepcopy(networking)
    return entry


def _queues(config: Mapping[str, Any]) -> list[dict[str, Any]]:
    scheduling = config.get("Scheduling") or {}
    queues = scheduling.get("SlurmQueues") or []
    return list(queues) if isinstance(queues, list) else []


def _entry_types(entry: Mapping[str, Any]) -> list[str]:
    """The instance type of each compute resource of a queue entry, in order."""
    out = []
    for cr in entry.get("ComputeResources") or []:
        t = cr.get("InstanceType") or ((cr.get("Instances") or [{}])[0].get("InstanceType"))
        out.append(str(t))
    return out


# -- the operations ----------------------------------------------------------------------------


class ComputeEnvironments:
    """The compute-environment operations of a :class:`~stratus.batch.door.BatchDoor`."""

    def __init__(self, door: BatchDoor) -> None:
        self.door = door
        self.service = door.service

    # -- what there is ---------------------------------------------------------------------------

    def _disabled(self) -> set[str]:
        return {p.name for p, _ in self.service.partitions() if p.disabled}

    def _updating(self) -> bool:
        return str(self.service.cluster.get("clusterStatus", "")).endswith("_IN_PROGRESS")

    def settle(self) -> dict[str, DoorObject]:
        """The stored environments, their statuses first brought in line with the running
        configuration: CREATING or UPDATING becomes VALID once the head node runs the queue (or
        INVALID if the update is over without it), DELETING ones are forgotten once their queue
        is gone. Writes only what changed."""
        queues = {q.name for q in self.service.layout.queues}
        updating = self._updating()
        out: dict[str, DoorObject] = {}
        for obj in self.service.objects(DOOR, KIND_ENVIRONMENT):
            body = obj.body
            status, present = body.get("status"), obj.key in queues
            new: tuple[str, str] | None = None
            if status == "DELETING" and not present:
                self.service.delete_object(DOOR, KIND_ENVIRONMENT, obj.key)
                continue
            if status in _IN_PROGRESS and not updating:
                if present and status != "DELETING":
                    new = ("VALID", "ComputeEnvironment Healthy")
                elif present:
                    new = ("INVALID", f"the update removing queue {obj.key} did not apply; delete it again")
                else:
                    new = ("INVALID", f"the update adding queue {obj.key} to the cluster did not apply")
            elif status == "VALID" and not present:
                new = ("INVALID", f"queue {obj.key} is no longer in the cluster's configuration")
            if new is not None and (status, body.get("statusReason")) != new:
                obj = self.service.put_object(
                    DOOR, KIND_ENVIRONMENT, obj.key, {**body, "status": new[0], "statusReason": new[1]}
                )
            out[obj.key] = obj
        return out

    def described(self) -> dict[str, dict[str, Any]]:
        """Every compute environment as DescribeComputeEnvironments shows it, by name: the
        configuration's queues, then those created through the API."""
        door = self.door
        stored = self.settle()
        disabled = self._disabled()
        out: dict[str, dict[str, Any]] = {}
        for queue in self.service.layout.queues:
            if queue.name in stored:
                continue
            crs = queue.compute_resources
            min_vcpus = sum(cr.vcpus * len(cr.static_nodes) for cr in crs)
            out[queue.name] = {
                "computeEnvironmentName": queue.name,
                "computeEnvironmentArn": door.arn("compute-environment", queue.name),
                "type": "MANAGED",
                "state": "DISABLED" if queue.name in disabled else "ENABLED",
                "status": "VALID",
                "statusReason": "ComputeEnvironment Healthy",
                "containerOrchestrationType": "ECS",
                "computeResources": {
                    "type": "SPOT" if queue.capacity_type == "SPOT" else "EC2",
                    "minvCpus": min_vcpus,
                    "maxvCpus": sum(cr.vcpus * len(cr.node_names) for cr in crs),
                    "desiredvCpus": min_vcpus,
                    "instanceTypes": sorted({t for cr in crs for t in cr.instance_types}),
                    "subnets": [],
                },
                "tags": {},
            }
        queues = {q.name for q in self.service.layout.queues}
        for name, obj in stored.items():
            body = dict(obj.body)
            if name in queues:
                body["state"] = "DISABLED" if name in disabled else "ENABLED"
            out[name] = body
        return out

    def _stored(self, ref: str) -> tuple[str, DoorObject | None]:
        """(name, stored object or None for a configuration queue) of environment ``ref``."""
        name = self.door._name_of(ref, "compute-environment")
        stored = self.settle()
        if name in stored:
            return name, stored[name]
        if name in {q.name for q in self.service.layout.queues}:
            return name, None
        raise BatchClientError(f"computeEnvironment: compute environment {ref} does not exist")

    def _not_while_updating(self) -> None:
        if self._updating():
            status = self.service.cluster.get("clusterStatus")
            raise BatchClientError(
                f"The cluster is {status}: its configuration is being changed. Try again once the "
                "change is applied (a few seconds; DescribeComputeEnvironments shows the status)"
            )

    # -- applying a configuration change --------------------------------------------------------

    def _checked_text(self, config: dict[str, Any], field: str) -> str:
        """``config`` as the configuration file's text, once loaded and validated as update-cluster
        would load it and its changes allowed now; a ``BatchClientError`` naming ``field``
        otherwise."""
        text = yaml.safe_dump(config, sort_keys=False, default_flow_style=False)
        try:
            # In a thread of its own: hosts of ssh providers not probed yet are probed over SSH,
            # with an event loop of the probe's own (this runs on the head node's loop).
            with ThreadPoolExecutor(max_workers=1) as pool:
                loaded = pool.submit(
                    load_cluster_config,
                    text,
                    cluster_name=self.service.cluster_name,
                    hosts=self.service.host_facts,
                ).result()
        except ConfigValidationError as exc:
            problems = "; ".join(f"{m.type}: {m.message}" for m in exc.errors)
            raise BatchClientError(
                f"{field}: the cluster's configuration with this change is not valid: {problems}"
            ) from None
        except (BadYamlError, UserError) as exc:
            raise BatchClientError(
                f"{field}: the cluster's configuration cannot take this change: {exc}"
            ) from None
        changes = config_changes(self.service.configuration, loaded.raw)
        errors, forceable = update_errors(changes, self.service.check_update(loaded.layout))
        # A queue of this door's leaves with the compute fleet running when nothing uses it,
        # as a forced update-cluster would remove it (the errors that forcing cannot override
        # are those of nodes and jobs in use).
        if errors and not forceable:
            problems = "; ".join(f"{e['message']} ({e['parameter']})" for e in errors)
            raise BatchClientError(f"{field}: the cluster cannot take this change now: {problems}")
        return text

    def _apply(self, name: str, body: dict[str, Any], text: str, who: Identity) -> None:
        """Store ``body`` (its in-progress status), then apply ``text``; a refusal of the update
        leaves the environment INVALID with the reason."""
        self.service.put_object(DOOR, KIND_ENVIRONMENT, name, body)
        try:
            self.service.apply_update(text, who)
        except AccessDenied as exc:
            failed = {
                **body,
                "status": "INVALID",
                "statusReason": f"the configuration update was refused: {exc}",
            }
            self.service.put_object(DOOR, KIND_ENVIRONMENT, name, failed)
            raise BatchClientError(f"{who.user} may not change this cluster's configuration: {exc}") from None
        except Exception as exc:
            failed = {**body, "status": "INVALID", "statusReason": f"the configuration update failed: {exc}"}
            self.service.put_object(DOOR, KIND_ENVIRONMENT, name, failed)
            raise

    # -- operations ------------------------------------------------------------------------------

    def create(self, r: s.CreateComputeEnvironmentRequest, who: Identity) -> dict[str, Any]:
        door = self.door
        door._require_admin(who, "create compute environments")
        name = r.compute_environment_name
        if name in self.described():
            raise BatchClientError(f"computeEnvironmentName: compute environment {name} already exists")
        if r.type == "UNMANAGED":
            return self._create_unmanaged(r, who)
        cr = r.compute_resources
        assert cr is not None  # the request model requires it for MANAGED
        if cr.type not in _CAPACITY:
            raise BatchClientError(
                f"computeResources.type: {cr.type} compute environments are not available on this "
                "cluster: jobs run on the cluster's own nodes (use EC2 or SPOT)"
            )
        problems = name_problems(name)
        if problems:
            raise BatchClientError(
                f"computeEnvironmentName: {name} cannot name a queue of this cluster (a compute "
                f"environment is a queue of its configuration): {' '.join(problems)}"
            )
        if not cr.instance_types:
            raise BatchClientError(
                "computeResources.instanceTypes: required for EC2 and SPOT compute environments "
                "(instance types, families, or optimal)"
            )
        if cr.max_vcpus < 1:
            raise BatchClientError(
                "computeResources.maxvCpus: must be at least 1 (a compute environment of this "
                "cluster has at least one node)"
            )
        types = resolve_instance_types(cr.instance_types)
        self._not_while_updating()
        config = copy.deepcopy(self.service.configuration)
        queues = _queues(config)
        networking = queues[0].get("Networking") if queues else None
        min_vcpus = cr.min_vcpus or 0
        entry = queue_entry(name, _CAPACITY[cr.type], types, min_vcpus, cr.max_vcpus, networking)
        config.setdefault("Scheduling", {})["SlurmQueues"] = [*queues, entry]
        text = self._checked_text(config, "computeResources")
        arn = door.arn("compute-environment", name)
        resources = cr.model_dump(by_alias=True, exclude_none=True)
        resources.setdefault("minvCpus", min_vcpus)
        resources.setdefault("desiredvCpus", min_vcpus)
        resources.setdefault("subnets", [])
        body: dict[str, Any] = {
            "computeEnvironmentName": name,
            "computeEnvironmentArn": arn,
            "uuid": str(uuid.uuid4()),
            "type": "MANAGED",
            "state": r.state or "ENABLED",
            "status": "CREATING",
            "statusReason": "ComputeEnvironment is being created (the head node restarts onto the new queue)",
            "containerOrchestrationType": "ECS",
            "computeResources": resources,
            "tags": dict(r.tags or {}),
        }
        if r.service_role is not None:
            body["serviceRole"] = r.service_role
        if r.state == "DISABLED":
            # Recorded before the queue exists: it starts INACTIVE, never UP for a moment.
            self.service.set_queue_enabled(name, False, who)
        self._apply(name, body, text, who)
        return {"computeEnvironmentName": name, "computeEnvironmentArn": arn}

    def _create_unmanaged(self, r: s.CreateComputeEnvironmentRequest, who: Identity) -> dict[str, Any]:
        """An UNMANAGED environment: a queue over the hosts of the ssh provider its
        ``stratus:provider`` tag names (see the module docstring)."""
        name = r.compute_environment_name
        problems = name_problems(name)
        if problems:
            raise BatchClientError(
                f"computeEnvironmentName: {name} cannot name a queue of this cluster (a compute "
                f"environment is a queue of its configuration): {' '.join(problems)}"
            )
        config = copy.deepcopy(self.service.configuration)
        providers = [
            p for p in (config.get("Stratus") or {}).get("Providers") or [] if str(p.get("Type")) == "ssh"
        ]
        names = [str(p.get("Name")) for p in providers]
        wanted = (r.tags or {}).get(PROVIDER_TAG)
        if wanted not in names:
            have = ", ".join(names) if names else "none: add hosts to Stratus.Providers with update-cluster"
            raise BatchClientError(
                f"tags: an UNMANAGED compute environment adopts the hosts of an ssh provider of the "
                f"cluster's configuration, named by its tag '{PROVIDER_TAG}' (this cluster's ssh "
                f"providers: {have})" + (f"; '{wanted}' is not one of them" if wanted else "")
            )
        self._not_while_updating()
        queues = _queues(config)
        entry: dict[str, Any] = {"Name": name, "ComputeResources": [{"Name": "hosts", "Provider": wanted}]}
        if queues and queues[0].get("Networking") is not None:
            entry["Networking"] = copy.deepcopy(queues[0]["Networking"])
        config.setdefault("Scheduling", {})["SlurmQueues"] = [*queues, entry]
        text = self._checked_text(config, "tags")
        arn = self.door.arn("compute-environment", name)
        body: dict[str, Any] = {
            "computeEnvironmentName": name,
            "computeEnvironmentArn": arn,
            "uuid": str(uuid.uuid4()),
            "type": "UNMANAGED",
            "state": r.state or "ENABLED",
            "status": "CREATING",
            "statusReason": "ComputeEnvironment is being created (the head node restarts onto the new queue)",
            "containerOrchestrationType": "ECS",
            "tags": dict(r.tags or {}),
        }
        if r.unmanaged_vcpus is not None:
            body["unmanagedvCpus"] = r.unmanaged_vcpus
        if r.service_role is not None:
            body["serviceRole"] = r.service_role
        if r.state == "DISABLED":
            self.service.set_queue_enabled(name, False, who)
        self._apply(name, body, text, who)
        return {"computeEnvironmentName": name, "computeEnvironmentArn": arn}

    def update(self, r: s.UpdateComputeEnvironmentRequest, who: Identity) -> dict[str, Any]:
        door = self.door
        door._require_admin(who, "update compute environments")
        name, obj = self._stored(r.compute_environment)
        arn = door.arn("compute-environment", name)
        others = (r.unmanaged_vcpus, r.service_role, r.update_policy, r.context, r.ecs_settings)
        if obj is None:
            # A queue of the configuration: its state only.
            if r.compute_resources is not None or any(v is not None for v in others):
                raise door._no_environment_changes()
            if r.state is not None:
                self.service.set_queue_enabled(name, r.state == "ENABLED", who)
            return {"computeEnvironmentName": name, "computeEnvironmentArn": arn}
        body = dict(obj.body)
        if body.get("status") == "DELETING":
            raise BatchClientError(f"computeEnvironment: compute environment {name} is being deleted")
        if r.unmanaged_vcpus is not None:
            if body.get("type") != "UNMANAGED":
                raise BatchClientError("unmanagedvCpus: only valid for an UNMANAGED compute environment")
            body["unmanagedvCpus"] = r.unmanaged_vcpus
        if r.compute_resources is not None and body.get("type") == "UNMANAGED":
            raise BatchClientError(
                "computeResources: an UNMANAGED compute environment has none (its capacity is its hosts)"
            )
        for member, value in (
            ("updatePolicy", r.update_policy),
            ("context", r.context),
            ("ecsSettings", r.ecs_settings),
        ):
            if value is not None:
                body[member] = value
        if r.service_role is not None:
            body["serviceRole"] = r.service_role
        text: str | None = None
        cu = r.compute_resources
        if cu is not None:
            given = cu.model_dump(by_alias=True, exclude_none=True)
            fixed = sorted(set(given) - {"minvCpus", "maxvCpus", "desiredvCpus"})
            if fixed:
                raise BatchClientError(
                    f"computeResources.{fixed[0]}: this cluster changes a compute environment's "
                    "minvCpus, maxvCpus and desiredvCpus only; create a new compute environment for "
                    "other resources"
                )
            resources: dict[str, Any] = dict(body.get("computeResources") or {})
            low = int(given.get("minvCpus", resources.get("minvCpus", 0)))
            high = int(given.get("maxvCpus", resources.get("maxvCpus", 1)))
            desired = int(given.get("desiredvCpus", max(int(resources.get("desiredvCpus", low)), low)))
            if high < low:
                raise BatchClientError(
                    f"computeResources.maxvCpus: must be at least minvCpus ({low}), got {high}"
                )
            if high < 1:
                raise BatchClientError("computeResources.maxvCpus: must be at least 1")
            if not low <= desired <= high:
                raise BatchClientError(
                    f"computeResources.desiredvCpus: must be between minvCpus ({low}) and maxvCpus ({high}), "
                    f"got {desired}"
                )
            resources.update({"minvCpus": low, "maxvCpus": high, "desiredvCpus": desired})
            body["computeResources"] = resources
            text = self._resized(name, low, high)
            if text is not None and body.get("status") != "VALID":
                raise BatchClientError(
                    f"computeEnvironment: compute environment {name} is {body.get('status')}; its "
                    "resources change once it is VALID"
                )
        if r.state is not None:
            self.service.set_queue_enabled(name, r.state == "ENABLED", who)
            body["state"] = r.state
        if text is None:
            self.service.put_object(DOOR, KIND_ENVIRONMENT, name, body)
        else:
            body.update(status="UPDATING", statusReason="the head node restarts onto the new node counts")
            self._apply(name, body, text, who)
        return {"computeEnvironmentName": name, "computeEnvironmentArn": arn}

    def _resized(self, name: str, min_vcpus: int, max_vcpus: int) -> str | None:
        """The checked configuration text with queue ``name``'s node counts for the vCPU bounds,
        or None when the counts do not change."""
        self._not_while_updating()
        config = copy.deepcopy(self.service.configuration)
        for entry in _queues(config):
            if entry.get("Name") != name:
                continue
            counts = node_counts(_entry_types(entry), min_vcpus, max_vcpus)
            changed = False
            for cr, (least, most) in zip(entry.get("ComputeResources") or [], counts, strict=True):
                changed |= (cr.get("MinCount", 0), cr.get("MaxCount")) != (least, most)
                cr["MinCount"], cr["MaxCount"] = least, most
            return self._checked_text(config, "computeResources") if changed else None
        raise BatchClientError(f"computeEnvironment: queue {name} is not in the cluster's configuration")

    def delete(self, r: s.DeleteComputeEnvironmentRequest, who: Identity) -> dict[str, Any]:
        door = self.door
        door._require_admin(who, "delete compute environments")
        name, obj = self._stored(r.compute_environment)
        if obj is None:
            raise door._no_environment_changes()
        if obj.body.get("status") == "DELETING":
            return {}
        present = name in {q.name for q in self.service.layout.queues}
        if present and name not in self._disabled():
            raise BatchClientError(
                f"computeEnvironment: compute environment {name} is ENABLED; disable it first "
                "(UpdateComputeEnvironment state=DISABLED)"
            )
        arn = obj.body["computeEnvironmentArn"]
        users = sorted(
            q.key
            for q in self.service.objects(DOOR, KIND_QUEUE)
            if any(
                door._name_of(e.get("computeEnvironment", ""), "compute-environment") == name
                for e in q.body.get("computeEnvironmentOrder") or []
            )
        )
        if users:
            raise BatchClientError(
                f"computeEnvironment: compute environment {arn} is in the computeEnvironmentOrder of "
                f"job queue {', '.join(users)}; remove it from there (UpdateJobQueue) first"
            )
        if not present:
            # The queue never came (or left another way): only the record goes.
            self.service.set_queue_enabled(name, True, who)
            self.service.delete_object(DOOR, KIND_ENVIRONMENT, name)
            return {}
        self._not_while_updating()
        config = copy.deepcopy(self.service.configuration)
        config["Scheduling"]["SlurmQueues"] = [q for q in _queues(config) if q.get("Name") != name]
        text = self._checked_text(config, "computeEnvironment")
        body = {
            **obj.body,
            "status": "DELETING",
            "statusReason": "the head node restarts without the queue",
        }
        self._apply(name, body, text, who)
        return {}

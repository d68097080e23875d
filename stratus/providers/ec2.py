"""The EC2 provider: each node is an instance of an EC2-compatible API, launched with boto3.

What it guarantees:

* **One instance per node, launched with everything it needs.** ``create`` calls
  ``RunInstances`` (for a compute resource with several instance types: an instant
  ``CreateFleet`` of one instance over a launch template of the node's own, the types as
  overrides, see :meth:`Ec2Provider.fleet_requests`) once per node of the batch (concurrently,
  a few at a time): each node's user data carries that node's one-time join credential, and
  EC2 lets only the instance itself read its user data (through the instance metadata service,
  IMDSv2 only), so a credential is never on a command line, in a tag, or readable by the
  batch's other instances (which one shared ``RunInstances`` per batch could not avoid). The
  user data installs the node agent, writes the cluster's CA certificate, and starts the agent
  with the credential in its environment (the agent clears it; after its first hello the
  credential is worthless).
* **Tagged at launch.** ``TagSpecifications`` put ParallelCluster's tags
  (``parallelcluster:cluster-name``, ``parallelcluster:node-type`` = ``Compute``,
  ``parallelcluster:queue-name``, ``parallelcluster:compute-resource-name``) and stratus's own
  (``stratus:node``, ``stratus:launch-token``) on the instance as it is created, so no instance
  ever exists without them; ``describe`` finds a cluster's nodes by these tags alone, with no
  record of the provider's own.
* **Idempotent launches.** A token asked again first finds the instances it launched (by the
  ``stratus:launch-token`` tag, those still pending or running) and returns them. Each
  ``RunInstances`` also carries an EC2 ``ClientToken`` derived from the cluster, compute
  resource, token and node, so a request retried after a lost answer (or before a launch shows
  up in ``DescribeInstances``, which is eventually consistent on AWS) returns the same instance.
  If EC2 answers a ClientToken with an instance that has since ended, the next derived token is
  used, so a node that died is launched again, as with the other providers.
* **Spot.** A :class:`~stratus.providers.base.NodeGroup` of capacity type ``SPOT`` is launched
  as one-time spot instances (``InstanceMarketOptions``); ``ONDEMAND`` as on-demand.
* **Errors.** Every failure is a :class:`~stratus.providers.base.ProviderError` of the kind its
  EC2 error code says (capacity, throttling, configuration, quota), its message naming the
  compute resource (and node) and EC2's cause. Missing credentials, an endpoint that cannot be
  reached and parameters the API refuses are configuration errors. ``create`` reports failures
  per node and never raises for them.
* **Terminate** asks EC2 to terminate those of the instances that are not already shutting down
  or gone (batched, 1000 ids a call); unknown and terminated ids are not errors. EC2 shuts the
  instance's operating system down, which stops the agent and its jobs: ``grace_s`` is not the
  provider's to give. An instance is gone from ``describe`` and ``is_alive`` as soon as it is
  shutting down.

Every call to the API runs in a worker thread (boto3 blocks); the coroutines never block their
event loop. A cluster configuration selects it with a ``Stratus.Providers`` entry of type ``ec2``
(:meth:`Ec2Provider.from_layout`).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import logging
import shlex
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import boto3
from botocore import exceptions as boto_errors
from botocore.config import Config

from stratus import __version__
from stratus.agent.protocol import INSTANCE_ENV, JOIN_ENV
from stratus.config.layout import ProviderLayout
from stratus.paths import ClusterPaths
from stratus.providers.base import (
    TAG_CLUSTER,
    TAG_GROUP,
    TAG_NODE,
    Bootstrap,
    ConfigurationError,
    CreateResult,
    Instance,
    NodeGroup,
    ProviderError,
    error_for_code,
)

log = logging.getLogger(__name__)

#: ParallelCluster's tags on a compute node, and stratus's own.
PC_CLUSTER = "parallelcluster:cluster-name"
PC_NODE_TYPE = "parallelcluster:node-type"
PC_QUEUE = "parallelcluster:queue-name"
PC_COMPUTE_RESOURCE = "parallelcluster:compute-resource-name"
STRATUS_NODE = "stratus:node"
STRATUS_TOKEN = "stratus:launch-token"
COMPUTE = "Compute"

#: Instance states in which a machine runs (or is about to run) its agent.
ALIVE_STATES = ("pending", "running")
# Not terminated yet: terminate() must still ask EC2 for these.
_TERMINABLE_STATES = ("pending", "running", "stopping", "stopped")
# EC2 accepts at most this many ids or filter values in one call.
_BATCH = 1000
# Concurrent RunInstances calls of one create(): enough to launch a batch quickly, few enough
# not to spend the account's request rate on one compute resource.
_LAUNCH_WORKERS = 8
# ClientTokens tried for one node before giving up (each one answered by an ended instance).
_TOKEN_ATTEMPTS = 5
# EC2 refuses user data over 16 KiB (before base64).
_USER_DATA_MAX = 16 * 1024
# Tag values are at most 256 characters.
_TAG_VALUE_MAX = 256
# Where the agent lives on an instance, unless the environment of the user data says otherwise.
_AGENT_DIR = "/var/lib/stratus-agent"
AGENT_DIR_ENV = "STRATUS_AGENT_DIR"


def default_install_command() -> str:
    """How an instance installs the node agent: this stratus's version, from the package index."""
    return f"python3 -m pip install --quiet 'stratus-hpc=={__version__}'"


def _token_tag(token: str) -> str:
    return token if len(token) <= _TAG_VALUE_MAX else hashlib.sha256(token.encode()).hexdigest()


def client_token(group: NodeGroup, token: str, node: str, attempt: int) -> str:
    """EC2's idempotency token for launching ``node`` under ``token`` (64 characters, EC2's limit)."""
    raw = "\0".join((group.cluster, group.name, token, node, str(attempt)))
    return hashlib.sha256(raw.encode()).hexdigest()


def user_data(group: NodeGroup, node: str, bootstrap: Bootstrap, install_command: str) -> str:
    """The shell script an instance runs at first boot: install, then start the node agent.

    The join credential is assigned in the script (which only this instance can read) and
    exported into the agent's environment: it never appears in a process's arguments.
    """
    q = shlex.quote
    lines = [
        "#!/bin/sh",
        "# stratus node bootstrap: install the node agent, start it, join the head node.",
        "set -eu",
        "umask 077",
        # An image may keep the agent's files elsewhere (cloud-init's environment).
        f'd="${{{AGENT_DIR_ENV}:-{_AGENT_DIR}}}"',
        'mkdir -p "$d/spool"',
    ]
    if install_command:
        lines.append(install_command)
    args = ["--head", q(bootstrap.head), "--node", q(node), "--instance-id", '"$iid"']
    args += ["--spool", '"$d/spool"', "--kill-wait", q(str(bootstrap.kill_wait_s))]
    args += ["--hostname", q(node)]  # the agent runs as root: jobs see the node's name
    if bootstrap.ca_file:
        ca = Path(bootstrap.ca_file).read_text()
        lines += ["cat > \"$d/ca.pem\" <<'STRATUS_CA'", ca.rstrip("\n"), "STRATUS_CA"]
        args += ["--ca-file", '"$d/ca.pem"']
    actions = bootstrap.actions.get(group.queue)
    if actions:
        args += ["--actions", q(json.dumps(actions))]
    imds = "http://169.254.169.254/latest"
    lines += [
        # IMDSv2: a session token first (the instance is launched with IMDSv1 off).
        f"t=$(curl -sf -X PUT -H 'X-aws-ec2-metadata-token-ttl-seconds: 300' {imds}/api/token)",
        f'iid=$(curl -sf -H "X-aws-ec2-metadata-token: $t" {imds}/meta-data/instance-id)',
        f"{JOIN_ENV}={q(bootstrap.join.get(node, ''))}",
        f'{INSTANCE_ENV}="$iid"',
        f"export {JOIN_ENV} {INSTANCE_ENV}",
        f'setsid python3 -m stratus.agent {" ".join(args)} </dev/null >>"$d/agent.log" 2>&1 &',
        "",
    ]
    return "\n".join(lines)


def _where(group: NodeGroup, node: str = "") -> str:
    return f"compute resource {group.name}" + (f" (node {node})" if node else "")


def _tag(raw: dict[str, Any], key: str) -> str:
    for t in raw.get("Tags") or []:
        if t.get("Key") == key:
            return str(t.get("Value", ""))
    return ""


class Ec2Provider:
    """Launches the nodes of compute resources as instances of the EC2 API at ``endpoint_url``
    (None: AWS's own endpoint of ``region``).

    ``image_id`` is the AMI; ``subnet_id``, ``security_group_ids``, ``key_name`` and
    ``instance_profile`` (a name, or an ARN) are passed to ``RunInstances`` when given.
    ``session`` is the boto3 session whose credentials sign the calls (default: boto3's usual
    chain). ``install_command`` is the shell command that installs the agent on an instance
    ("" for an image that has it). ``max_attempts`` is botocore's retry budget per call
    (tries in all, the first included: throttling and transient errors are retried with backoff
    before they are reported).
    ``paths`` is the cluster's folder, as for every provider (nothing of this one is kept there:
    EC2's tags are its records).
    """

    name = "ec2"

    def __init__(
        self,
        paths: ClusterPaths,
        region: str,
        endpoint_url: str | None = None,
        *,
        image_id: str,
        subnet_id: str | None = None,
        security_group_ids: Sequence[str] = (),
        key_name: str | None = None,
        instance_profile: str | None = None,
        session: Any = None,
        install_command: str | None = None,
        max_attempts: int = 3,
        connect_timeout_s: float = 10.0,
        read_timeout_s: float = 60.0,
        broken: ProviderError | None = None,
    ) -> None:
        # ``broken``: why no call can succeed (e.g. an unknown AWS profile); every call fails so.
        self._broken = broken
        self.paths = paths
        self.region = region
        self.endpoint_url = endpoint_url
        self.image_id = image_id
        self.subnet_id = subnet_id
        self.security_group_ids = list(security_group_ids)
        self.key_name = key_name
        self.instance_profile = instance_profile
        self.install_command = default_install_command() if install_command is None else install_command
        config = Config(
            retries={"total_max_attempts": max_attempts, "mode": "standard"},
            connect_timeout=connect_timeout_s,
            read_timeout=read_timeout_s,
            max_pool_connections=_LAUNCH_WORKERS * 2,
        )
        # A client is thread-safe (a session is not): built once, shared by the worker threads.
        self._client: Any = (session or boto3.session.Session()).client(
            "ec2", region_name=region, endpoint_url=endpoint_url, config=config
        )
        # create() of the same token from two callers must not both launch: one at a time.
        self._create_lock = threading.Lock()

    @classmethod
    def from_layout(cls, paths: ClusterPaths, entry: ProviderLayout) -> Ec2Provider:
        """The provider a ``Stratus.Providers`` entry of type ``ec2`` describes.

        A profile the AWS configuration does not have is a configuration error of every launch
        (reported per node), not an exception here: the head node starts regardless.
        """
        session: Any = None
        if entry.profile:
            try:
                session = boto3.session.Session(profile_name=entry.profile)
            except boto_errors.ProfileNotFound as exc:
                return cls(
                    paths,
                    entry.region or "",
                    entry.endpoint_url,
                    image_id=entry.image_id or "",
                    broken=ConfigurationError("AuthFailure", f"provider {entry.name}: {exc}"),
                )
        return cls(
            paths,
            entry.region or "",
            entry.endpoint_url,
            image_id=entry.image_id or "",
            subnet_id=entry.subnet_id,
            security_group_ids=entry.security_group_ids,
            key_name=entry.key_name,
            instance_profile=entry.instance_profile,
            session=session,
            install_command=entry.install_command,
        )

    # -- calls ----------------------------------------------------------------------------------

    def _call(self, where: str, operation: str, **params: Any) -> Any:
        """``operation`` of the client with ``params``; every failure as a ProviderError."""
        if self._broken is not None:
            raise self._broken
        try:
            return getattr(self._client, operation)(**params)
        except Exception as exc:
            raise self._error(where, exc) from exc

    def _pages(self, where: str, filters: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        """Every instance ``DescribeInstances`` lists for ``filters``, across pages."""
        if self._broken is not None:
            raise self._broken
        try:
            for page in self._client.get_paginator("describe_instances").paginate(Filters=filters):
                for reservation in page.get("Reservations", []):
                    yield from reservation.get("Instances", [])
        except Exception as exc:
            raise self._error(where, exc) from exc

    def _error(self, where: str, exc: Exception) -> ProviderError:
        """What a failed call means, as a provider error naming ``where`` and the cause."""
        if isinstance(exc, boto_errors.ClientError):
            err = exc.response.get("Error", {})
            code = str(err.get("Code", "")) or "InternalError"
            message = str(err.get("Message", "")) or str(exc)
            return error_for_code(code, f"{where}: {code}: {message}")
        if isinstance(exc, boto_errors.NoCredentialsError | boto_errors.PartialCredentialsError):
            return ConfigurationError(
                "AuthFailure", f"{where}: no usable AWS credentials for region {self.region} ({exc})"
            )
        if isinstance(exc, boto_errors.EndpointConnectionError | boto_errors.ConnectTimeoutError):
            endpoint = self.endpoint_url or f"the EC2 endpoint of region {self.region}"
            return ConfigurationError("InvalidParameterValue", f"{where}: cannot reach {endpoint} ({exc})")
        if isinstance(exc, boto_errors.ParamValidationError):
            return ConfigurationError("InvalidParameterValue", f"{where}: {exc}")
        if isinstance(exc, boto_errors.NoRegionError):
            return ConfigurationError("InvalidParameterValue", f"{where}: no region given ({exc})")
        if isinstance(exc, ProviderError):
            return exc
        return ProviderError("InternalError", f"{where}: {exc.__class__.__name__}: {exc}")

    # -- create ---------------------------------------------------------------------------------

    async def create(
        self, group: NodeGroup, names: Sequence[str], token: str, bootstrap: Bootstrap
    ) -> CreateResult:
        return await asyncio.to_thread(self._create, group, list(names), token, bootstrap)

    def _create(self, group: NodeGroup, names: list[str], token: str, bootstrap: Bootstrap) -> CreateResult:
        result = CreateResult()
        with self._create_lock:
            try:
                earlier = {inst.node: inst for inst in self._launched(group, token)}
            except ProviderError as exc:
                # Without knowing what the token launched, launching could make twins.
                result.failures.update(dict.fromkeys(names, exc))
                return result
            todo = []
            for name in names:
                if name in earlier:
                    result.instances.append(earlier[name])
                else:
                    todo.append(name)
            if not todo:
                return result

            def launch(name: str) -> Instance | ProviderError:
                try:
                    return self._launch(group, name, token, bootstrap)
                except ProviderError as exc:
                    return exc

            with ThreadPoolExecutor(min(_LAUNCH_WORKERS, len(todo)), "stratus-ec2") as pool:
                outcomes = list(pool.map(launch, todo))
            for name, outcome in zip(todo, outcomes, strict=True):
                if isinstance(outcome, Instance):
                    result.instances.append(outcome)
                else:
                    result.failures[name] = outcome
        return result

    def _launched(self, group: NodeGroup, token: str) -> list[Instance]:
        """The live instances a launch of ``token`` made for ``group`` (found by their tags)."""
        filters = [
            *self._group_filters(group),
            {"Name": f"tag:{STRATUS_TOKEN}", "Values": [_token_tag(token)]},
        ]
        return [self._instance(raw) for raw in self._pages(_where(group), filters)]

    def _group_filters(self, group: NodeGroup) -> list[dict[str, Any]]:
        return [
            *self._cluster_filters(group.cluster),
            {"Name": f"tag:{PC_QUEUE}", "Values": [group.queue]},
            {"Name": f"tag:{PC_COMPUTE_RESOURCE}", "Values": [group.compute_resource]},
        ]

    @staticmethod
    def _cluster_filters(cluster: str) -> list[dict[str, Any]]:
        return [
            {"Name": f"tag:{PC_CLUSTER}", "Values": [cluster]},
            {"Name": f"tag:{PC_NODE_TYPE}", "Values": [COMPUTE]},
            {"Name": "tag-key", "Values": [STRATUS_NODE]},
            {"Name": "instance-state-name", "Values": list(ALIVE_STATES)},
        ]

    def run_instances_request(
        self, group: NodeGroup, node: str, token: str, bootstrap: Bootstrap
    ) -> dict[str, Any]:
        """The ``RunInstances`` parameters for ``node`` (without its ClientToken)."""
        where = _where(group, node)
        if group.capacity_type not in ("ONDEMAND", "SPOT"):
            raise ConfigurationError(
                "Unsupported", f"{where}: capacity type {group.capacity_type} is not supported"
            )
        try:
            script = user_data(group, node, bootstrap, self.install_command)
        except OSError as exc:
            raise ConfigurationError(
                "InvalidParameterValue", f"{where}: cannot read the CA certificate ({exc})"
            ) from exc
        if len(script.encode()) > _USER_DATA_MAX:
            raise ConfigurationError(
                "InvalidParameterValue",
                f"{where}: the node's user data is {len(script.encode())} bytes, over EC2's "
                f"{_USER_DATA_MAX} (are its CustomActions too long?)",
            )
        tags = {
            PC_CLUSTER: group.cluster,
            PC_NODE_TYPE: COMPUTE,
            PC_QUEUE: group.queue,
            PC_COMPUTE_RESOURCE: group.compute_resource,
            STRATUS_NODE: node,
            STRATUS_TOKEN: _token_tag(token),
            "Name": node,
        }
        params: dict[str, Any] = {
            "ImageId": self.image_id,
            "InstanceType": group.instance_type,
            "MinCount": 1,
            "MaxCount": 1,
            "UserData": script,
            "TagSpecifications": [
                {"ResourceType": "instance", "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}
            ],
            # The user data holds the join credential: only IMDSv2 (a token from the instance
            # itself, one hop) may read it.
            "MetadataOptions": {"HttpTokens": "required", "HttpPutResponseHopLimit": 1},
        }
        if self.subnet_id:
            params["SubnetId"] = self.subnet_id
        if self.security_group_ids:
            params["SecurityGroupIds"] = list(self.security_group_ids)
        if self.key_name:
            params["KeyName"] = self.key_name
        if self.instance_profile:
            key = "Arn" if self.instance_profile.startswith("arn:") else "Name"
            params["IamInstanceProfile"] = {key: self.instance_profile}
        if group.capacity_type == "SPOT":
            params["InstanceMarketOptions"] = {
                "MarketType": "spot",
                "SpotOptions": {"SpotInstanceType": "one-time", "InstanceInterruptionBehavior": "terminate"},
            }
        return params

    def _launch(self, group: NodeGroup, node: str, token: str, bootstrap: Bootstrap) -> Instance:
        where = _where(group, node)
        params = self.run_instances_request(group, node, token, bootstrap)
        if len(group.instance_types) > 1:
            return self._launch_fleet(group, node, token, params)
        for attempt in range(_TOKEN_ATTEMPTS):
            answer = self._call(
                where, "run_instances", ClientToken=client_token(group, token, node, attempt), **params
            )
            raw = (answer.get("Instances") or [{}])[0]
            if not raw.get("InstanceId"):
                raise ProviderError("InternalError", f"{where}: RunInstances returned no instance")
            if raw.get("State", {}).get("Name") in ALIVE_STATES:
                return self._instance(raw)
            # EC2 answered this ClientToken with the instance it launched before, which has
            # ended since: the node needs a new one, under the next token.
        raise ProviderError(
            "InternalError", f"{where}: every launch of request {token} has ended; use a new request"
        )

    def fleet_requests(
        self, group: NodeGroup, node: str, token: str, params: dict[str, Any]
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """The ``CreateLaunchTemplate`` and ``CreateFleet`` parameters that launch ``node`` as one
        instance of any of ``group.instance_types`` (``params``: its RunInstances parameters).

        As ParallelCluster does for a compute resource with several instance types: an instant
        EC2 Fleet of one instance, the types as overrides of a launch template, lowest price
        first (on-demand) or price and capacity (spot), so a type without capacity falls over to
        another. The template is the node's own (its user data holds the node's credential).
        """
        data: dict[str, Any] = {
            "ImageId": params["ImageId"],
            # A launch template's user data is given base64-encoded (RunInstances' is not).
            "UserData": base64.b64encode(params["UserData"].encode()).decode(),
            "MetadataOptions": params["MetadataOptions"],
        }
        for key in ("SecurityGroupIds", "KeyName", "IamInstanceProfile"):
            if key in params:
                data[key] = params[key]
        name = f"stratus-{client_token(group, token, node, 0)[:40]}"
        template = {
            "LaunchTemplateName": name,
            "ClientToken": client_token(group, token, node, 0),
            "LaunchTemplateData": data,
        }
        override: dict[str, Any] = {"SubnetId": params["SubnetId"]} if "SubnetId" in params else {}
        spot = group.capacity_type == "SPOT"
        fleet: dict[str, Any] = {
            "Type": "instant",
            "ClientToken": client_token(group, token, node, 1),
            "TargetCapacitySpecification": {
                "TotalTargetCapacity": 1,
                "DefaultTargetCapacityType": "spot" if spot else "on-demand",
            },
            "LaunchTemplateConfigs": [
                {
                    "LaunchTemplateSpecification": {"LaunchTemplateName": name, "Version": "$Latest"},
                    "Overrides": [{"InstanceType": t, **override} for t in group.instance_types],
                }
            ],
            "TagSpecifications": params["TagSpecifications"],
        }
        if spot:
            fleet["SpotOptions"] = {"AllocationStrategy": "price-capacity-optimized"}
        else:
            fleet["OnDemandOptions"] = {"AllocationStrategy": "lowest-price"}
        return template, fleet

    def _launch_fleet(self, group: NodeGroup, node: str, token: str, params: dict[str, Any]) -> Instance:
        where = _where(group, node)
        template, fleet = self.fleet_requests(group, node, token, params)
        self._call(where, "create_launch_template", **template)
        try:
            answer = self._call(where, "create_fleet", **fleet)
        finally:
            try:
                self._call(where, "delete_launch_template", LaunchTemplateName=template["LaunchTemplateName"])
            except ProviderError as exc:  # a leftover template costs nothing; the launch stands
                log.warning("cannot delete launch template %s: %s", template["LaunchTemplateName"], exc)
        ids = [i for item in answer.get("Instances") or [] for i in item.get("InstanceIds") or []]
        if not ids:
            # An instant fleet reports what it could not launch in Errors, not as an exception.
            errors = answer.get("Errors") or [{}]
            code = str(errors[0].get("ErrorCode") or "InsufficientInstanceCapacity")
            message = str(errors[0].get("ErrorMessage") or "no capacity for any of its instance types")
            types = ",".join(group.instance_types)
            raise error_for_code(code, f"{where}: CreateFleet ({types}): {code}: {message}")
        raws = [
            raw
            for reservation in self._call(where, "describe_instances", InstanceIds=ids[:1]).get(
                "Reservations", []
            )
            for raw in reservation.get("Instances", [])
        ]
        if not raws:
            raise ProviderError("InternalError", f"{where}: instance {ids[0]} of its fleet is not listed")
        return self._instance(raws[0])

    def _instance(self, raw: dict[str, Any]) -> Instance:
        launched = raw.get("LaunchTime")
        queue = _tag(raw, PC_QUEUE)
        placement = raw.get("Placement") or {}
        return Instance(
            instance_id=str(raw["InstanceId"]),
            node=_tag(raw, STRATUS_NODE),
            instance_type=str(raw.get("InstanceType", "")),
            launch_time=launched.timestamp() if launched is not None else 0.0,
            private_ip=str(raw.get("PrivateIpAddress") or ""),
            data={
                "provider": self.name,
                "region": self.region,
                "availability_zone": str(placement.get("AvailabilityZone", "")),
                "market": str(raw.get("InstanceLifecycle") or "on-demand"),
            },
            queue=queue,
            tags={
                TAG_CLUSTER: _tag(raw, PC_CLUSTER),
                TAG_NODE: _tag(raw, STRATUS_NODE),
                TAG_GROUP: f"{queue}/{_tag(raw, PC_COMPUTE_RESOURCE)}",
            },
        )

    # -- describe, liveness ---------------------------------------------------------------------

    async def describe(self, cluster: str) -> list[Instance]:
        return await asyncio.to_thread(self._describe, cluster)

    def _describe(self, cluster: str) -> list[Instance]:
        raws = self._pages(f"cluster {cluster}", self._cluster_filters(cluster))
        return sorted((self._instance(raw) for raw in raws), key=lambda i: i.instance_id)

    def address(self, instance: Instance) -> str:
        return instance.private_ip

    async def is_alive(self, instance: Instance) -> bool:
        """Whether EC2 says the instance is pending or running.

        When EC2 cannot be asked (throttled, unreachable) this says True: an API that does not
        answer says nothing about the machine, and the next check asks again; answering False
        would fail the node and requeue its jobs while they may well be running.
        """
        return await asyncio.to_thread(self._is_alive, instance)

    def _is_alive(self, instance: Instance) -> bool:
        try:
            states = self._states([instance.instance_id], f"instance {instance.instance_id}")
        except ProviderError as exc:
            log.warning("cannot ask EC2 whether %s is alive: %s", instance.instance_id, exc)
            return True
        return states.get(instance.instance_id) in ALIVE_STATES

    def _states(self, ids: Sequence[str], where: str) -> dict[str, str]:
        """The state of each of ``ids`` that EC2 knows (a filter, not ``InstanceIds``: an
        unknown id is simply absent instead of failing the whole call)."""
        out: dict[str, str] = {}
        for chunk in _chunks(list(ids)):
            for raw in self._pages(where, [{"Name": "instance-id", "Values": chunk}]):
                out[str(raw["InstanceId"])] = str(raw.get("State", {}).get("Name", ""))
        return out

    # -- terminate ------------------------------------------------------------------------------

    async def terminate(self, instances: Sequence[Instance], grace_s: float) -> None:
        """Terminate the instances EC2 still runs; raises a ProviderError if EC2 refuses."""
        if instances:
            await asyncio.to_thread(self._terminate, list(instances))

    def _terminate(self, instances: list[Instance]) -> None:
        ids = sorted({inst.instance_id for inst in instances})
        where = "instances " + ", ".join(ids[:5]) + (" ..." if len(ids) > 5 else "")
        states = self._states(ids, where)
        todo = [iid for iid in ids if states.get(iid) in _TERMINABLE_STATES]
        for chunk in _chunks(todo):
            try:
                self._call(where, "terminate_instances", InstanceIds=chunk)
            except ProviderError as exc:
                if exc.code != "InvalidInstanceID.NotFound":
                    raise
                # One vanished between the look-up and the call: the others still need asking.
                for iid in chunk:
                    self._terminate_one(iid)

    def _terminate_one(self, instance_id: str) -> None:
        try:
            self._call(f"instance {instance_id}", "terminate_instances", InstanceIds=[instance_id])
        except ProviderError as exc:
            if exc.code != "InvalidInstanceID.NotFound":
                raise

    def reap(self) -> None:
        """Nothing to collect: instances are not children of this process."""


def _chunks(items: list[str], size: int = _BATCH) -> Iterator[list[str]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]

"""AWS Batch request shapes, validated the way AWS Batch validates them.

Requests arrive as decoded JSON bodies whose members are camelCase, exactly as botocore sends
them. ``parse(Model, body)`` turns one into a frozen pydantic model (attribute names are the
snake_case forms: ``job_name`` for ``jobName``; irregular names such as ``minvCpus`` keep their
AWS alias) or raises ``BatchClientError``, which the front door answers as AWS's
``ClientException`` (HTTP 400). The message names the first bad field with its camelCase path
(``containerProperties.resourceRequirements[0].value: ...``) and says what is expected.

What is validated (at any depth, before anything is stored or scheduled):

* Types: every member has its JSON type (a string where a string is expected, an integer where
  an integer is expected, ``true``/``false`` only for booleans); nothing is coerced.
* Members: an unknown member is refused with botocore's own wording
  (``Unknown parameter in containerProperties: "imagee", must be one of: ...``), so a typo never
  silently becomes a default. Required members must be present.
* Names: job definition, job queue, compute environment and scheduling policy names are 1-128
  letters, digits, hyphens and underscores; job names likewise, starting with a letter or digit.
* Enumerations: job definition ``type`` (``container`` | ``multinode``), platform capabilities,
  resource types, job statuses, dependency types, ListJobs filter names, queue and compute
  environment states and types, allocation strategies, ``evaluateOnExit[].action`` (``RETRY`` |
  ``EXIT``, any case; kept upper-case).
* Ranges and counts: ``schedulingPriority`` and ``schedulingPriorityOverride`` 0-9999; array
  size 2-10,000; at most 20 dependencies; retry ``attempts`` 1-10 with at most 5
  ``evaluateOnExit`` entries (which need ``attempts``), each pattern at most 512 characters with
  an optional trailing ``*`` (``onExitCode`` digits only); ``attemptDurationSeconds`` at least
  60; DescribeJobs 1-100 ids; ListJobs ``maxResults`` 1-1000 (1-100 with filters), each filter
  with exactly one value; Describe* lists at most 100 names and ``maxResults`` 1-100; queue
  ``priority`` 0-1000 and 1-3 compute environments with distinct ``order``s;
  ``jobStateTimeLimitActions[].maxTimeSeconds`` 600-86,400; at most 50 tags (keys 1-128
  characters, values at most 256, no ``aws:`` prefix), UntagResource 1-50 keys; fair-share
  ``shareDecaySeconds`` 0-604,800, ``computeReservation`` 0-99, at most 500 non-overlapping
  share identifiers of at most 255 characters (a trailing ``*`` makes a prefix),
  ``weightFactor`` 0.0001-999.9999.
* Resources: ``VCPU`` a positive number (fractions such as ``0.25`` are Fargate sizes),
  ``MEMORY`` a whole number of MiB, at least 4, ``GPU`` a positive whole number, each type at
  most once per list; the deprecated ``vcpus`` at least 1 and ``memory`` at least 4.
* Environment: variable names are given and do not start with ``AWS_BATCH`` (reserved for the
  variables the service injects).
* Multi-node: ``numNodes`` at least 1, ``mainNode`` one of the nodes, every ``targetNodes``
  (``a:b``, ``:b``, ``a:`` or a single index ``a``) inside ``0..numNodes-1``, the ranges
  together covering every node, and two ranges that share nodes nesting (one inside the other,
  as AWS allows), never crossing or repeating.
* Cross-field rules: a ``container`` job definition needs ``containerProperties`` (and no
  ``nodeProperties``); a ``multinode`` one needs ``nodeProperties`` (and no
  ``containerProperties``; not on Fargate); every container needs an ``image``; ListJobs names
  exactly one of ``jobQueue`` | ``arrayJobId`` | ``multiNodeJobId``; ``N_TO_N`` and
  ``SEQUENTIAL`` dependencies only on array jobs, ``SEQUENTIAL`` without a ``jobId`` and every
  other dependency with one; a ``MANAGED`` compute environment needs ``computeResources`` and an
  ``UNMANAGED`` one must not have them (``unmanagedvCpus`` is for ``UNMANAGED`` only);
  ``minvCpus <= desiredvCpus <= maxvCpus``.
* Unsupported: ECS (``ecsProperties``), EKS (``eksProperties``, ``eksConfiguration``) and
  consumable-resource members, service environments and quota share policies are accepted by
  the wire format but refused with a message saying stratus does not support them.

Members stratus does not use yet (volumes, mount points, ulimits, log configuration, secrets,
launch templates and the like) are kept as loosely typed JSON objects: their JSON type is
checked, their contents are not.

Stratus extension: the platform capability ``STRATUS_HOST``. A job definition whose
``platformCapabilities`` include it runs its jobs directly on the node, without a container:
its containers need no ``image`` but must have a ``command``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, ClassVar, Literal, NoReturn, Self, TypeVar, get_args

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    model_validator,
)
from pydantic.alias_generators import to_camel
from pydantic_core import ErrorDetails, PydanticCustomError

__all__ = [
    "STRATUS_HOST",
    "BatchClientError",
    "CancelJobRequest",
    "CreateComputeEnvironmentRequest",
    "CreateJobQueueRequest",
    "CreateSchedulingPolicyRequest",
    "DeleteComputeEnvironmentRequest",
    "DeleteJobQueueRequest",
    "DeleteSchedulingPolicyRequest",
    "DeregisterJobDefinitionRequest",
    "DescribeComputeEnvironmentsRequest",
    "DescribeJobDefinitionsRequest",
    "DescribeJobQueuesRequest",
    "DescribeJobsRequest",
    "DescribeSchedulingPoliciesRequest",
    "ListJobsRequest",
    "ListSchedulingPoliciesRequest",
    "ListTagsForResourceRequest",
    "RegisterJobDefinitionRequest",
    "SubmitJobRequest",
    "TagResourceRequest",
    "TerminateJobRequest",
    "UntagResourceRequest",
    "UpdateComputeEnvironmentRequest",
    "UpdateJobQueueRequest",
    "UpdateSchedulingPolicyRequest",
    "parse",
    "target_node_range",
]

#: The platform capability of job definitions whose jobs run on the node without a container.
STRATUS_HOST = "STRATUS_HOST"

#: pydantic error type of the rules below; ``parse`` shows their message as is.
RULE_ERROR = "batch_rule"

MAX_NAME_LENGTH = 128
MAX_TAGS = 50
MAX_DEPENDENCIES = 20
MAX_SHARE_IDENTIFIER_LENGTH = 255
MAX_PATTERN_LENGTH = 512


class BatchClientError(Exception):
    """A request AWS Batch refuses as ``ClientException`` (HTTP 400); ``message`` says why."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _rule(message: str, where: str = "") -> NoReturn:
    """Fail validation with ``message``; ``where`` is the bad member's path below the model."""
    raise PydanticCustomError(RULE_ERROR, "{detail}", {"detail": message, "where": where})


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


# --------------------------------------------------------------------------------------------
# Value types

NonEmpty = Annotated[str, StringConstraints(min_length=1)]

_NAME = re.compile(r"[A-Za-z0-9_-]{1,128}")
_JOB_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,127}")


def _resource_name(value: str) -> str:
    if not _NAME.fullmatch(value):
        _rule(
            "must be 1-128 characters long and contain only letters, numbers, hyphens (-) and "
            f"underscores (_), got {_show(value)}"
        )
    return value


def _job_name(value: str) -> str:
    if not _JOB_NAME.fullmatch(value):
        _rule(
            "must be 1-128 characters long, start with a letter or number and contain only letters, "
            f"numbers, hyphens (-) and underscores (_), got {_show(value)}"
        )
    return value


#: A job definition, job queue, compute environment or scheduling policy name.
ResourceName = Annotated[str, AfterValidator(_resource_name)]
JobName = Annotated[str, AfterValidator(_job_name)]


def _tags(value: dict[str, str]) -> dict[str, str]:
    # The tag key and value limits and the reserved ``aws:`` prefix are AWS's documented tagging
    # rules; the 50-tag limit is Batch's own.
    if len(value) > MAX_TAGS:
        _rule(f"A resource can have at most {MAX_TAGS} tags, got {len(value)}")
    for key, tag_value in value.items():
        if not 1 <= len(key) <= 128:
            _rule(f"tag keys must be 1-128 characters long, got {_show(key)}")
        if key.lower().startswith("aws:"):
            _rule("tag keys starting with 'aws:' are reserved for AWS use", key)
        if len(tag_value) > 256:
            _rule("tag values must be at most 256 characters long", key)
    return value


Tags = Annotated[dict[str, str], AfterValidator(_tags)]

#: The names or ARNs one Describe* request may list, and the page size it may ask for.
DescribeNames = Annotated[list[NonEmpty], Field(max_length=100)]
PageSize = Annotated[int, Field(ge=1, le=100)]

#: A job definition's ``schedulingPriority`` or a job's override of it (higher runs first).
SchedulingPriority = Annotated[int, Field(ge=0, le=9999)]

#: The deprecated container ``vcpus`` and ``memory`` (MiB) members, before resourceRequirements.
LegacyVcpus = Annotated[int, Field(ge=1)]
LegacyMemory = Annotated[int, Field(ge=4)]

#: Whether a job queue or compute environment takes new work.
State = Literal["ENABLED", "DISABLED"]


def _upper(value: Any) -> Any:
    return value.upper() if isinstance(value, str) else value


# --------------------------------------------------------------------------------------------
# Shared shapes


class _Shape(BaseModel):
    """A request member: frozen, camelCase on the wire, strictly typed, no unknown members.

    ``_UNSUPPORTED`` names the members the wire format accepts but stratus refuses (attribute
    name -> what is not supported, shown as "stratus does not support <what>" at the member's
    camelCase name). They are checked in the mapping's order, before the model's own
    validators run (pydantic runs inherited after-validators first), so a request that uses
    one is refused for it rather than for whatever else it gets wrong.
    """

    model_config = ConfigDict(
        frozen=True,
        alias_generator=to_camel,
        populate_by_name=False,
        extra="forbid",
        strict=True,
    )

    _UNSUPPORTED: ClassVar[Mapping[str, str]] = {}

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        # A misspelt member would silently never be refused; fail at import instead.
        unknown = set(cls._UNSUPPORTED) - set(cls.model_fields)
        if unknown:
            raise TypeError(f"{cls.__name__}._UNSUPPORTED names no member: {sorted(unknown)}")

    @model_validator(mode="after")
    def _refuse_unsupported(self) -> Self:
        fields = type(self).model_fields
        for member, what in self._UNSUPPORTED.items():
            if getattr(self, member) is not None:
                _rule(f"stratus does not support {what}", str(fields[member].alias))
        return self


def _positive_number(text: str) -> bool:
    if not re.fullmatch(r"[0-9]+(\.[0-9]+)?|\.[0-9]+", text):
        return False
    try:
        return Decimal(text) > 0
    except InvalidOperation:  # pragma: no cover - the pattern admits only decimals
        return False


class ResourceRequirement(_Shape):
    """One resource a container needs; ``value`` is a string, as on the wire."""

    type: Literal["GPU", "VCPU", "MEMORY"]
    value: str

    @model_validator(mode="after")
    def _value_fits_type(self) -> Self:
        value = self.value
        if self.type == "VCPU" and not _positive_number(value):
            _rule(
                f"VCPU must be a positive number of vCPUs (for example 1, 2 or 0.25), got {_show(value)}",
                "value",
            )
        if self.type == "MEMORY" and not (re.fullmatch(r"[0-9]+", value) and int(value) >= 4):
            _rule(f"MEMORY must be a whole number of MiB, at least 4, got {_show(value)}", "value")
        if self.type == "GPU" and not (re.fullmatch(r"[0-9]+", value) and int(value) >= 1):
            _rule(f"GPU must be a positive whole number of GPUs, got {_show(value)}", "value")
        return self


def _one_per_type(value: list[ResourceRequirement]) -> list[ResourceRequirement]:
    # The reference does not say whether AWS accepts a type twice; a second value would be
    # ambiguous, so it is refused.
    seen: set[str] = set()
    for index, requirement in enumerate(value):
        if requirement.type in seen:
            _rule(f"{requirement.type} is given more than once", f"[{index}].type")
        seen.add(requirement.type)
    return value


ResourceRequirements = Annotated[list[ResourceRequirement], AfterValidator(_one_per_type)]


def _environment_name(value: str) -> str:
    if value.startswith("AWS_BATCH"):
        _rule(
            "Environment variable names starting with AWS_BATCH are reserved for variables the service "
            f"sets, got {_show(value)}"
        )
    return value


class KeyValuePair(_Shape):
    """An environment variable; the name is required (a nameless variable cannot be set)."""

    name: Annotated[str, StringConstraints(min_length=1), AfterValidator(_environment_name)]
    value: str | None = None


def _pattern(value: str) -> str:
    if not 1 <= len(value) <= MAX_PATTERN_LENGTH or "*" in value[:-1]:
        _rule(
            f"must be a pattern of 1-{MAX_PATTERN_LENGTH} characters, optionally ending with an "
            f"asterisk (*), got {_show(value)}"
        )
    return value


def _exit_code_pattern(value: str) -> str:
    if len(value) > MAX_PATTERN_LENGTH or not re.fullmatch(r"[0-9]+\*?|\*", value):
        _rule(f"must be digits, optionally ending with an asterisk (*), got {_show(value)}")
    return value


class EvaluateOnExit(_Shape):
    """A retry condition; all the patterns given must match for ``action`` to apply.

    AWS documents the reason patterns as letters, digits, periods, colons and white space; only
    the length and the trailing-asterisk form are enforced here, because real status reasons
    carry other punctuation and refusing it would gain nothing.
    """

    on_status_reason: Annotated[str, AfterValidator(_pattern)] | None = None
    on_reason: Annotated[str, AfterValidator(_pattern)] | None = None
    on_exit_code: Annotated[str, AfterValidator(_exit_code_pattern)] | None = None
    action: Annotated[Literal["RETRY", "EXIT"], BeforeValidator(_upper)]


class RetryStrategy(_Shape):
    attempts: int | None = Field(default=None, ge=1, le=10)
    evaluate_on_exit: list[EvaluateOnExit] | None = Field(default=None, max_length=5)

    @model_validator(mode="after")
    def _attempts_for_conditions(self) -> Self:
        if self.evaluate_on_exit and self.attempts is None:
            _rule("is required when evaluateOnExit is given", "attempts")
        return self


class JobTimeout(_Shape):
    attempt_duration_seconds: int | None = Field(default=None, ge=60)


# --------------------------------------------------------------------------------------------
# Job definitions


class ContainerProperties(_Shape):
    """A container's properties; ``image`` is checked by the job definition (see STRATUS_HOST)."""

    image: NonEmpty | None = None
    vcpus: LegacyVcpus | None = None
    memory: LegacyMemory | None = None
    command: list[str] | None = None
    job_role_arn: str | None = None
    execution_role_arn: str | None = None
    volumes: list[dict[str, Any]] | None = None
    environment: list[KeyValuePair] | None = None
    mount_points: list[dict[str, Any]] | None = None
    readonly_root_filesystem: bool | None = None
    privileged: bool | None = None
    ulimits: list[dict[str, Any]] | None = None
    user: str | None = None
    instance_type: str | None = None
    resource_requirements: ResourceRequirements | None = None
    linux_parameters: dict[str, Any] | None = None
    log_configuration: dict[str, Any] | None = None
    secrets: list[dict[str, Any]] | None = None
    network_configuration: dict[str, Any] | None = None
    fargate_platform_configuration: dict[str, Any] | None = None
    enable_execute_command: bool | None = None
    ephemeral_storage: dict[str, Any] | None = None
    runtime_platform: dict[str, Any] | None = None
    repository_credentials: dict[str, Any] | None = None


_TARGET_NODES = re.compile(r"(?P<start>[0-9]*):(?P<end>[0-9]*)|(?P<single>[0-9]+)")


def _target_nodes(value: str) -> str:
    if not _TARGET_NODES.fullmatch(value):
        _rule(f"must be a node range 'start:end', ':end', 'start:' or a node index, got {_show(value)}")
    return value


TargetNodes = Annotated[str, AfterValidator(_target_nodes)]


def target_node_range(target_nodes: str, num_nodes: int) -> range:
    """The node indexes ``target_nodes`` names in a job of ``num_nodes`` nodes.

    ``a:b`` is ``a`` to ``b`` inclusive; a missing start is 0, a missing end the last node; a
    single index names that node alone (AWS documents only the ranges; a single index is
    accepted as the range ``a:a``). The range may be empty or reach past the last node: callers
    check it. Raises ``ValueError`` when the text is not of these forms.
    """
    match = _TARGET_NODES.fullmatch(target_nodes)
    if match is None:
        raise ValueError(f"not a node range: {target_nodes!r}")
    if match["single"] is not None:
        start = end = int(match["single"])
    else:
        start = int(match["start"]) if match["start"] else 0
        end = int(match["end"]) if match["end"] else num_nodes - 1
    return range(start, end + 1)


def node_range_conflict(spans: list[range]) -> tuple[int, int] | None:
    """The first two node ranges (by position) that overlap without one holding the other, or
    are the same nodes: AWS lets ranges nest (the narrower one wins), and no other overlap."""
    for b, later in enumerate(spans):
        for a, earlier in enumerate(spans[:b]):
            if not later or not earlier or later.start > earlier[-1] or earlier.start > later[-1]:
                continue
            if later == earlier:
                return a, b
            if (earlier.start <= later.start and later[-1] <= earlier[-1]) or (
                later.start <= earlier.start and earlier[-1] <= later[-1]
            ):
                continue
            return a, b
    return None


class NodeRangeProperty(_Shape):
    target_nodes: TargetNodes
    container: ContainerProperties | None = None
    instance_types: list[str] | None = None
    ecs_properties: dict[str, Any] | None = None
    eks_properties: dict[str, Any] | None = None
    consumable_resource_properties: dict[str, Any] | None = None

    _UNSUPPORTED = {
        "ecs_properties": "Amazon ECS properties; use container",
        "eks_properties": "Amazon EKS properties; use container",
        "consumable_resource_properties": "consumable resources",
    }


class NodeProperties(_Shape):
    num_nodes: int = Field(ge=1)
    main_node: int = Field(ge=0)
    node_range_properties: list[NodeRangeProperty] = Field(min_length=1)

    @model_validator(mode="after")
    def _ranges_cover_the_nodes(self) -> Self:
        last = self.num_nodes - 1
        if self.main_node > last:
            _rule(
                f"must be a node index between 0 and {last} (numNodes - 1), got {self.main_node}", "mainNode"
            )
        covered: set[int] = set()
        for index, node_range in enumerate(self.node_range_properties):
            nodes = target_node_range(node_range.target_nodes, self.num_nodes)
            if not nodes or nodes.start > last or nodes.stop - 1 > last:
                _rule(
                    f"must name node indexes between 0 and {last} (numNodes - 1), start before end, "
                    f"got {node_range.target_nodes!r}",
                    f"nodeRangeProperties[{index}].targetNodes",
                )
            covered.update(nodes)
        spans = [target_node_range(x.target_nodes, self.num_nodes) for x in self.node_range_properties]
        conflict = node_range_conflict(spans)
        if conflict is not None:
            _rule(
                f"overlaps nodeRangeProperties[{conflict[0]}] without one range holding the other "
                "(ranges may nest, not cross)",
                f"nodeRangeProperties[{conflict[1]}].targetNodes",
            )
        missing = sorted(set(range(self.num_nodes)) - covered)
        if missing:
            _rule(
                f"the node ranges must cover every node from 0 to {last}; node {missing[0]} is not covered",
                "nodeRangeProperties",
            )
        return self


PlatformCapability = Literal["EC2", "FARGATE", "STRATUS_HOST"]


class RegisterJobDefinitionRequest(_Shape):
    """RegisterJobDefinition. ``platformCapabilities`` also accepts ``STRATUS_HOST``: see the module."""

    job_definition_name: ResourceName
    # The reference lists the two values only, in lower case; no other spelling is accepted.
    type: Literal["container", "multinode"]
    parameters: dict[str, str] | None = None
    scheduling_priority: SchedulingPriority | None = None
    container_properties: ContainerProperties | None = None
    node_properties: NodeProperties | None = None
    retry_strategy: RetryStrategy | None = None
    propagate_tags: bool | None = None
    timeout: JobTimeout | None = None
    tags: Tags | None = None
    platform_capabilities: list[PlatformCapability] | None = None
    eks_properties: dict[str, Any] | None = None
    ecs_properties: dict[str, Any] | None = None
    consumable_resource_properties: dict[str, Any] | None = None

    _UNSUPPORTED = {
        "ecs_properties": "Amazon ECS job definitions (ecsProperties); use containerProperties",
        "eks_properties": "Amazon EKS job definitions (eksProperties); use containerProperties",
        "consumable_resource_properties": "consumable resources",
    }

    @property
    def runs_on_host(self) -> bool:
        """Whether jobs of this definition run on the node without a container."""
        return STRATUS_HOST in (self.platform_capabilities or ())

    @model_validator(mode="after")
    def _properties_fit_type(self) -> Self:
        containers: list[tuple[str, ContainerProperties]] = []
        if self.type == "container":
            if self.node_properties is not None:
                _rule("is only valid for multinode job definitions", "nodeProperties")
            if self.container_properties is None:
                _rule("is required for a container job definition", "containerProperties")
            containers.append(("containerProperties", self.container_properties))
        else:
            if self.container_properties is not None:
                _rule(
                    "is not valid for a multinode job definition; give each node range a container",
                    "containerProperties",
                )
            if self.node_properties is None:
                _rule("is required for a multinode job definition", "nodeProperties")
            if "FARGATE" in (self.platform_capabilities or ()):
                _rule("multinode job definitions are not supported on FARGATE", "platformCapabilities")
            for index, node_range in enumerate(self.node_properties.node_range_properties):
                if node_range.container is not None:
                    containers.append(
                        (f"nodeProperties.nodeRangeProperties[{index}].container", node_range.container)
                    )
        for where, container in containers:
            if self.runs_on_host:
                if not container.command:
                    _rule(
                        "is required: a STRATUS_HOST job definition runs its command on the node, "
                        "without a container",
                        f"{where}.command",
                    )
            elif container.image is None:
                _rule(
                    "is required (unless platformCapabilities includes STRATUS_HOST, whose jobs run "
                    "without a container)",
                    f"{where}.image",
                )
        return self


class DescribeJobDefinitionsRequest(_Shape):
    job_definitions: DescribeNames | None = None
    max_results: PageSize | None = None
    job_definition_name: str | None = None
    status: Literal["ACTIVE", "INACTIVE"] | None = None
    next_token: str | None = None


class DeregisterJobDefinitionRequest(_Shape):
    job_definition: NonEmpty


# --------------------------------------------------------------------------------------------
# Jobs


class ArrayProperties(_Shape):
    size: int | None = Field(default=None, ge=2, le=10_000)


class JobDependency(_Shape):
    job_id: NonEmpty | None = None
    type: Literal["N_TO_N", "SEQUENTIAL"] | None = None


def _dependency_count(value: list[JobDependency]) -> list[JobDependency]:
    if len(value) > MAX_DEPENDENCIES:
        _rule(f"Job cannot have more than {MAX_DEPENDENCIES} dependencies, got {len(value)}")
    return value


#: What a job (or one of its node ranges) may not override: only container overrides are supported.
_UNSUPPORTED_OVERRIDES = {
    "ecs_properties_override": "Amazon ECS properties; use containerOverrides",
    "eks_properties_override": "Amazon EKS properties; use containerOverrides",
    "consumable_resource_properties_override": "consumable resources",
}


class ContainerOverrides(_Shape):
    vcpus: LegacyVcpus | None = None
    memory: LegacyMemory | None = None
    command: list[str] | None = None
    instance_type: str | None = None
    environment: list[KeyValuePair] | None = None
    resource_requirements: ResourceRequirements | None = None


class NodePropertyOverride(_Shape):
    """Overrides of one node range; the range is checked against the job definition later."""

    target_nodes: TargetNodes
    container_overrides: ContainerOverrides | None = None
    ecs_properties_override: dict[str, Any] | None = None
    instance_types: list[str] | None = None
    eks_properties_override: dict[str, Any] | None = None
    consumable_resource_properties_override: dict[str, Any] | None = None

    _UNSUPPORTED = _UNSUPPORTED_OVERRIDES


class NodeOverrides(_Shape):
    num_nodes: int | None = Field(default=None, ge=1)
    node_property_overrides: list[NodePropertyOverride] | None = None


class SubmitJobRequest(_Shape):
    job_name: JobName
    job_queue: NonEmpty
    share_identifier: (
        Annotated[str, StringConstraints(min_length=1, max_length=MAX_SHARE_IDENTIFIER_LENGTH)] | None
    ) = None
    scheduling_priority_override: SchedulingPriority | None = None
    array_properties: ArrayProperties | None = None
    depends_on: Annotated[list[JobDependency], AfterValidator(_dependency_count)] | None = None
    job_definition: NonEmpty
    parameters: dict[str, str] | None = None
    container_overrides: ContainerOverrides | None = None
    node_overrides: NodeOverrides | None = None
    retry_strategy: RetryStrategy | None = None
    propagate_tags: bool | None = None
    timeout: JobTimeout | None = None
    tags: Tags | None = None
    eks_properties_override: dict[str, Any] | None = None
    ecs_properties_override: dict[str, Any] | None = None
    consumable_resource_properties_override: dict[str, Any] | None = None

    _UNSUPPORTED = _UNSUPPORTED_OVERRIDES

    @property
    def array_size(self) -> int | None:
        """The number of children of an array job; None for a single job."""
        return self.array_properties.size if self.array_properties else None

    @model_validator(mode="after")
    def _dependencies_fit_the_job(self) -> Self:
        for index, dependency in enumerate(self.depends_on or ()):
            if dependency.type is not None and self.array_size is None:
                _rule(
                    f"{dependency.type} dependencies are only valid for array jobs (arrayProperties.size)",
                    f"dependsOn[{index}].type",
                )
            if dependency.type == "SEQUENTIAL" and dependency.job_id is not None:
                _rule(
                    "must not be given for a SEQUENTIAL dependency (each child waits for the previous one)",
                    f"dependsOn[{index}].jobId",
                )
            if dependency.type != "SEQUENTIAL" and dependency.job_id is None:
                _rule(
                    "is required (only a SEQUENTIAL dependency goes without one)", f"dependsOn[{index}].jobId"
                )
        return self


class DescribeJobsRequest(_Shape):
    jobs: list[NonEmpty] = Field(min_length=1, max_length=100)


JobStatus = Literal["SUBMITTED", "PENDING", "RUNNABLE", "STARTING", "RUNNING", "SUCCEEDED", "FAILED"]


class KeyValuesPair(_Shape):
    """A ListJobs filter. Trailing ``*`` in a value is a prefix match (interpreted by the service)."""

    name: Literal["JOB_NAME", "JOB_DEFINITION", "BEFORE_CREATED_AT", "AFTER_CREATED_AT", "SHARE_IDENTIFIER"]
    values: list[str] = Field(min_length=1, max_length=1)

    @model_validator(mode="after")
    def _timestamps(self) -> Self:
        if self.name.endswith("_CREATED_AT") and not re.fullmatch(r"[0-9]+", self.values[0]):
            _rule(
                f"{self.name} takes a time in milliseconds since the epoch, got {_show(self.values[0])}",
                "values[0]",
            )
        return self


class ListJobsRequest(_Shape):
    job_queue: NonEmpty | None = None
    array_job_id: NonEmpty | None = None
    multi_node_job_id: NonEmpty | None = None
    job_status: JobStatus | None = None
    max_results: int | None = Field(default=None, ge=1, le=1000)
    next_token: str | None = None
    filters: list[KeyValuesPair] | None = None

    @model_validator(mode="after")
    def _one_scope(self) -> Self:
        given = [
            alias
            for alias, value in (
                ("jobQueue", self.job_queue),
                ("arrayJobId", self.array_job_id),
                ("multiNodeJobId", self.multi_node_job_id),
            )
            if value is not None
        ]
        if len(given) != 1:
            _rule(
                f"exactly one of jobQueue, arrayJobId or multiNodeJobId must be given, got {len(given)}",
                given[1] if given else "jobQueue",
            )
        if self.filters and self.max_results is not None and self.max_results > 100:
            _rule(f"must be at most 100 when filters are given, got {self.max_results}", "maxResults")
        return self


class CancelJobRequest(_Shape):
    job_id: NonEmpty
    reason: NonEmpty


class TerminateJobRequest(_Shape):
    job_id: NonEmpty
    reason: NonEmpty


# --------------------------------------------------------------------------------------------
# Job queues


class ComputeEnvironmentOrder(_Shape):
    order: int = Field(ge=0)
    compute_environment: NonEmpty


def _distinct_orders(value: list[ComputeEnvironmentOrder]) -> list[ComputeEnvironmentOrder]:
    seen: set[int] = set()
    for index, entry in enumerate(value):
        if entry.order in seen:
            _rule(
                f"each compute environment needs a distinct order; {entry.order} is repeated",
                f"[{index}].order",
            )
        seen.add(entry.order)
    return value


ComputeEnvironmentOrders = Annotated[
    list[ComputeEnvironmentOrder], Field(max_length=3), AfterValidator(_distinct_orders)
]


class JobStateTimeLimitAction(_Shape):
    reason: NonEmpty
    state: Literal["RUNNABLE"]
    max_time_seconds: int = Field(ge=600, le=86_400)
    action: Literal["CANCEL", "TERMINATE"]


# The reference does not bound the priority; AWS documents 0-1000 (higher is preferred).
QueuePriority = Annotated[int, Field(ge=0, le=1000)]

JobQueueType = Literal["EKS", "ECS", "ECS_FARGATE", "SAGEMAKER_TRAINING", "ECS_MANAGED_INSTANCES"]


#: Job queues schedule onto compute environments only.
_UNSUPPORTED_QUEUE_MEMBERS = {
    "service_environment_order": "service environments; use computeEnvironmentOrder",
}


class CreateJobQueueRequest(_Shape):
    job_queue_name: ResourceName
    state: State | None = None
    scheduling_policy_arn: NonEmpty | None = None
    priority: QueuePriority
    compute_environment_order: ComputeEnvironmentOrders | None = None
    service_environment_order: list[dict[str, Any]] | None = None
    job_queue_type: JobQueueType | None = None
    tags: Tags | None = None
    job_state_time_limit_actions: list[JobStateTimeLimitAction] | None = None

    _UNSUPPORTED = _UNSUPPORTED_QUEUE_MEMBERS

    @model_validator(mode="after")
    def _has_compute(self) -> Self:
        if not self.compute_environment_order:
            _rule("a job queue needs 1 to 3 compute environments", "computeEnvironmentOrder")
        return self


class UpdateJobQueueRequest(_Shape):
    """UpdateJobQueue; an empty ``computeEnvironmentOrder`` detaches every compute environment."""

    job_queue: NonEmpty
    state: State | None = None
    scheduling_policy_arn: NonEmpty | None = None
    priority: QueuePriority | None = None
    compute_environment_order: ComputeEnvironmentOrders | None = None
    service_environment_order: list[dict[str, Any]] | None = None
    job_state_time_limit_actions: list[JobStateTimeLimitAction] | None = None

    _UNSUPPORTED = _UNSUPPORTED_QUEUE_MEMBERS


class DeleteJobQueueRequest(_Shape):
    job_queue: NonEmpty


class DescribeJobQueuesRequest(_Shape):
    job_queues: DescribeNames | None = None
    max_results: PageSize | None = None
    next_token: str | None = None


# --------------------------------------------------------------------------------------------
# Compute environments

ComputeResourceType = Literal["EC2", "SPOT", "FARGATE", "FARGATE_SPOT", "ECS_MANAGED_INSTANCES"]


def _vcpu_order(minimum: int | None, desired: int | None, maximum: int | None) -> None:
    low = minimum if minimum is not None else 0
    if maximum is not None and low > maximum:
        _rule(f"must be at least minvCpus ({low}), got {maximum}", "maxvCpus")
    if desired is not None:
        if desired < low:
            _rule(f"must be at least minvCpus ({low}), got {desired}", "desiredvCpus")
        if maximum is not None and desired > maximum:
            _rule(f"must be at most maxvCpus ({maximum}), got {desired}", "desiredvCpus")


class ComputeResource(_Shape):
    """A managed compute environment's resources; ``instanceTypes`` may name ``optimal``."""

    type: ComputeResourceType
    allocation_strategy: (
        Literal[
            "BEST_FIT",
            "BEST_FIT_PROGRESSIVE",
            "BEST_FIT_PROGRESSIVE_ORDERED",
            "SPOT_CAPACITY_OPTIMIZED",
            "SPOT_PRICE_CAPACITY_OPTIMIZED",
            "SPOT_CAPACITY_OPTIMIZED_PRIORITIZED",
        ]
        | None
    ) = None
    min_vcpus: int | None = Field(default=None, alias="minvCpus", ge=0)
    max_vcpus: int = Field(alias="maxvCpus", ge=0)
    desired_vcpus: int | None = Field(default=None, alias="desiredvCpus", ge=0)
    instance_types: list[NonEmpty] | None = None
    image_id: str | None = None
    # AWS requires subnets for Fargate resources; stratus places nodes itself, so none are needed.
    subnets: list[str] | None = None
    security_group_ids: list[str] | None = None
    ec2_key_pair: str | None = None
    instance_role: str | None = None
    tags: dict[str, str] | None = None
    placement_group: str | None = None
    bid_percentage: int | None = Field(default=None, ge=0)
    spot_iam_fleet_role: str | None = None
    launch_template: dict[str, Any] | None = None
    ec2_configuration: list[dict[str, Any]] | None = None
    scaling_policy: dict[str, Any] | None = None
    managed_instances_provider: dict[str, Any] | None = None
    capacity_tags: Tags | None = None

    @model_validator(mode="after")
    def _vcpus_in_order(self) -> Self:
        _vcpu_order(self.min_vcpus, self.desired_vcpus, self.max_vcpus)
        return self


class ComputeResourceUpdate(_Shape):
    min_vcpus: int | None = Field(default=None, alias="minvCpus", ge=0)
    max_vcpus: int | None = Field(default=None, alias="maxvCpus", ge=0)
    desired_vcpus: int | None = Field(default=None, alias="desiredvCpus", ge=0)
    subnets: list[str] | None = None
    security_group_ids: list[str] | None = None
    allocation_strategy: (
        Literal[
            "BEST_FIT_PROGRESSIVE",
            "BEST_FIT_PROGRESSIVE_ORDERED",
            "SPOT_CAPACITY_OPTIMIZED",
            "SPOT_PRICE_CAPACITY_OPTIMIZED",
            "SPOT_CAPACITY_OPTIMIZED_PRIORITIZED",
        ]
        | None
    ) = None
    instance_types: list[NonEmpty] | None = None
    ec2_key_pair: str | None = None
    instance_role: str | None = None
    tags: dict[str, str] | None = None
    placement_group: str | None = None
    bid_percentage: int | None = Field(default=None, ge=0)
    launch_template: dict[str, Any] | None = None
    ec2_configuration: list[dict[str, Any]] | None = None
    update_to_latest_image_version: bool | None = None
    type: ComputeResourceType | None = None
    image_id: str | None = None
    scaling_policy: dict[str, Any] | None = None
    managed_instances_provider: dict[str, Any] | None = None
    capacity_tags: Tags | None = None

    @model_validator(mode="after")
    def _vcpus_in_order(self) -> Self:
        # Only the values given are compared; the service checks them against the stored ones.
        _vcpu_order(self.min_vcpus, self.desired_vcpus, self.max_vcpus)
        return self


#: Compute environments run on stratus's own nodes, never on an EKS cluster.
_UNSUPPORTED_ENVIRONMENT_MEMBERS = {"eks_configuration": "Amazon EKS compute environments"}


class CreateComputeEnvironmentRequest(_Shape):
    compute_environment_name: ResourceName
    type: Literal["MANAGED", "UNMANAGED"]
    state: State | None = None
    unmanaged_vcpus: int | None = Field(default=None, alias="unmanagedvCpus", ge=0)
    compute_resources: ComputeResource | None = None
    service_role: str | None = None
    tags: Tags | None = None
    eks_configuration: dict[str, Any] | None = None
    context: str | None = None
    ecs_settings: dict[str, Any] | None = None

    _UNSUPPORTED = _UNSUPPORTED_ENVIRONMENT_MEMBERS

    @model_validator(mode="after")
    def _resources_fit_type(self) -> Self:
        if self.type == "MANAGED":
            if self.compute_resources is None:
                _rule("is required for a MANAGED compute environment", "computeResources")
            if self.unmanaged_vcpus is not None:
                _rule("is only valid for an UNMANAGED compute environment", "unmanagedvCpus")
        elif self.compute_resources is not None:
            _rule("must not be given for an UNMANAGED compute environment", "computeResources")
        return self


class UpdateComputeEnvironmentRequest(_Shape):
    compute_environment: NonEmpty
    state: State | None = None
    unmanaged_vcpus: int | None = Field(default=None, alias="unmanagedvCpus", ge=0)
    compute_resources: ComputeResourceUpdate | None = None
    service_role: str | None = None
    update_policy: dict[str, Any] | None = None
    context: str | None = None
    ecs_settings: dict[str, Any] | None = None
    eks_configuration: dict[str, Any] | None = None

    _UNSUPPORTED = _UNSUPPORTED_ENVIRONMENT_MEMBERS


class DeleteComputeEnvironmentRequest(_Shape):
    compute_environment: NonEmpty


class DescribeComputeEnvironmentsRequest(_Shape):
    compute_environments: DescribeNames | None = None
    max_results: PageSize | None = None
    next_token: str | None = None


# --------------------------------------------------------------------------------------------
# Scheduling policies


def _share_identifier(value: str) -> str:
    # AWS documents "up to 255 alphanumeric characters, optionally followed by an asterisk";
    # only the length and the asterisk's place are enforced, as real identifiers use hyphens.
    stem = value.removesuffix("*")
    if not 1 <= len(stem) <= MAX_SHARE_IDENTIFIER_LENGTH or "*" in stem:
        _rule(
            f"must be 1-{MAX_SHARE_IDENTIFIER_LENGTH} characters, optionally followed by an asterisk (*), "
            f"got {_show(value)}"
        )
    return value


class ShareAttributes(_Shape):
    share_identifier: Annotated[str, AfterValidator(_share_identifier)]
    weight_factor: float | None = Field(default=None, ge=0.0001, le=999.9999)


def _shares_do_not_overlap(value: list[ShareAttributes]) -> list[ShareAttributes]:
    for index, share in enumerate(value):
        mine = share.share_identifier
        for earlier in value[:index]:
            theirs = earlier.share_identifier
            if (
                mine == theirs
                or (theirs.endswith("*") and mine.removesuffix("*").startswith(theirs[:-1]))
                or (mine.endswith("*") and theirs.removesuffix("*").startswith(mine[:-1]))
            ):
                _rule(f"{mine!r} overlaps {theirs!r}", f"[{index}].shareIdentifier")
    return value


class FairsharePolicy(_Shape):
    # The API reference and the user guide disagree on what 0 means (a 600 s minimum, or the
    # current usage only); both are accepted here and the scheduler decides.
    share_decay_seconds: int | None = Field(default=None, ge=0, le=604_800)
    compute_reservation: int | None = Field(default=None, ge=0, le=99)
    share_distribution: (
        Annotated[list[ShareAttributes], Field(max_length=500), AfterValidator(_shares_do_not_overlap)] | None
    ) = None


#: Scheduling policies are fair-share policies here.
_UNSUPPORTED_POLICY_MEMBERS = {"quota_share_policy": "quota share policies; use fairsharePolicy"}


class CreateSchedulingPolicyRequest(_Shape):
    name: ResourceName
    fairshare_policy: FairsharePolicy | None = None
    quota_share_policy: dict[str, Any] | None = None
    tags: Tags | None = None

    _UNSUPPORTED = _UNSUPPORTED_POLICY_MEMBERS


class UpdateSchedulingPolicyRequest(_Shape):
    arn: NonEmpty
    fairshare_policy: FairsharePolicy | None = None
    quota_share_policy: dict[str, Any] | None = None

    _UNSUPPORTED = _UNSUPPORTED_POLICY_MEMBERS


class DeleteSchedulingPolicyRequest(_Shape):
    arn: NonEmpty


class DescribeSchedulingPoliciesRequest(_Shape):
    arns: list[NonEmpty] = Field(min_length=1, max_length=100)


class ListSchedulingPoliciesRequest(_Shape):
    # The reference gives no bound for this operation; AWS documents 1-1000.
    max_results: int | None = Field(default=None, ge=1, le=1000)
    next_token: str | None = None


# --------------------------------------------------------------------------------------------
# Tags (the resource's ARN travels in the request's path; the endpoint adds it as
# ``resourceArn``, and UntagResource's ``tagKeys`` from the query string)


def _tag_key(value: str) -> str:
    if not 1 <= len(value) <= 128:
        _rule(f"tag keys must be 1-128 characters long, got {_show(value)}")
    return value


TagKey = Annotated[str, AfterValidator(_tag_key)]


class TagResourceRequest(_Shape):
    resource_arn: NonEmpty
    tags: Tags


class UntagResourceRequest(_Shape):
    resource_arn: NonEmpty
    tag_keys: list[TagKey] = Field(min_length=1, max_length=MAX_TAGS)


class ListTagsForResourceRequest(_Shape):
    resource_arn: NonEmpty


# --------------------------------------------------------------------------------------------
# Parsing

M = TypeVar("M", bound=BaseModel)

_JSON_TYPES: dict[type, str] = {
    str: "string",
    bool: "boolean",
    int: "integer",
    float: "number",
    list: "list",
    dict: "object",
    type(None): "null",
}

_EXPECTED = {
    "int_type": "an integer",
    "int_parsing": "an integer",
    "int_from_float": "an integer",
    "float_type": "a number",
    "float_parsing": "a number",
    "string_type": "a string",
    "bool_type": "a boolean",
    "bool_parsing": "a boolean",
    "list_type": "a list",
    "dict_type": "an object",
    "model_type": "an object",
    "model_attributes_type": "an object",
}


def parse(model: type[M], body: Mapping[str, Any]) -> M:
    """Validate a decoded JSON request body into ``model``.

    Raises ``BatchClientError`` naming the first unknown member, else the first bad member (its
    camelCase path) and what is expected there.
    """
    if not isinstance(body, Mapping):
        raise BatchClientError(f"The request body must be a JSON object, got {_json_type(body)}")
    try:
        return model.model_validate(dict(body))
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        # An unknown member comes first: AWS refuses it before looking at any value.
        first = next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])
        raise BatchClientError(_describe(model, first)) from exc


def _json_type(value: Any) -> str:
    return _JSON_TYPES.get(type(value), type(value).__name__)


def _path(loc: tuple[int | str, ...], where: str = "") -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    if where:
        out += where if where.startswith("[") or not out else f".{where}"
    return out


def _model_at(model: type[BaseModel], loc: tuple[int | str, ...]) -> type[BaseModel] | None:
    """The model that validates the member at ``loc`` (list indexes skipped)."""
    current: type[BaseModel] | None = model
    for part in loc:
        if isinstance(part, int):
            continue
        if current is None:
            return None
        field = next((f for f in current.model_fields.values() if f.alias == part), None)
        current = _inner_model(field.annotation) if field is not None else None
    return current


def _inner_model(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        found = _inner_model(arg)
        if found is not None:
            return found
    return None


def _describe(model: type[BaseModel], error: ErrorDetails) -> str:
    loc = tuple(error["loc"])
    kind = error["type"]
    ctx: dict[str, Any] = dict(error.get("ctx") or {})
    value = error.get("input")
    if kind == "extra_forbidden":
        owner = _model_at(model, loc[:-1])
        known = ", ".join(str(f.alias) for f in owner.model_fields.values()) if owner else ""
        return f'Unknown parameter in {_path(loc[:-1]) or "input"}: "{loc[-1]}", must be one of: {known}'
    if kind == RULE_ERROR:
        path, problem = _path(loc, str(ctx.get("where", ""))), str(ctx["detail"])
    else:
        path, problem = _path(loc), _problem(kind, ctx, value, error["msg"])
    return f"{path}: {problem}" if path else problem


def _problem(kind: str, ctx: dict[str, Any], value: Any, fallback: str) -> str:
    if kind in _EXPECTED:
        return f"must be {_EXPECTED[kind]}, got {_json_type(value)}"
    if kind == "missing":
        return "is required"
    if kind == "literal_error":
        expected = str(ctx.get("expected", "")).replace("'", "").replace(" or ", ", ")
        return f"must be one of: {expected}; got {_show(value)}"
    if kind == "greater_than_equal":
        return f"must be at least {ctx['ge']}, got {value}"
    if kind == "less_than_equal":
        return f"must be at most {ctx['le']}, got {value}"
    if kind == "too_short":
        count = ctx["min_length"]
        return (
            f"must have at least {count} {'entry' if count == 1 else 'entries'}, got {ctx['actual_length']}"
        )
    if kind == "too_long":
        return f"must have at most {ctx['max_length']} entries, got {ctx['actual_length']}"
    if kind == "string_too_short":
        count = ctx["min_length"]
        return "must not be empty" if count == 1 else f"must be at least {count} characters long"
    if kind == "string_too_long":
        return f"must be at most {ctx['max_length']} characters long, got {len(value)}"
    return fallback

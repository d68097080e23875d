"""The ParallelCluster v3 cluster-config schema as pydantic models.

Every section of ``pcluster``'s own schema (``cli/src/pcluster/schemas/cluster_schema.py`` and
``common_schema.py``, ParallelCluster 3.12) has a model here with the same PascalCase keys, the
same value types, the same allowed values and ranges, and the same cross-field rules, so that:

* any configuration ``pcluster`` accepts loads unchanged, and
* a key ``pcluster`` would reject as ``Unknown field.`` is rejected here too (``extra="forbid"``),
  at any depth, so a typo never silently becomes a default.

Deliberate differences, because stratus's first infrastructure is the machine it runs on:

* ``Image``, ``HeadNode.Networking`` and ``SlurmQueues[].Networking`` are optional (pcluster
  requires them); they describe AWS placement only. Inside them pcluster's rules still apply.
* ``SlurmSettings.ScaledownIdletime`` accepts fractional minutes (``0.05`` is 3 seconds) and must
  be greater than 0, or ``-1`` (never scale down, as in pcluster); pcluster takes whole minutes.
* ``SlurmQueues[].ComputeResources`` is required and must not be empty (pcluster fails later,
  with a less helpful message, when it is missing).
* ``Image.Os`` also accepts ``ubuntu2404`` (supported by newer ParallelCluster releases).

Models are frozen. Attribute names are the snake_case forms of the keys (``min_count`` for
``MinCount``); the YAML keys are the aliases. Errors raised by the cross-field rules carry
ParallelCluster's wording.
"""

from __future__ import annotations

import json
import re
from typing import Annotated, Any, Literal, NoReturn, Self, get_args

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)
from pydantic.alias_generators import to_pascal
from pydantic_core import PydanticCustomError

#: pydantic error type of the rule violations raised below; their message is shown as is.
RULE_ERROR = "stratus_rule"

OsName = Literal[
    "alinux2", "alinux2023", "ubuntu2004", "ubuntu2204", "ubuntu2404", "rhel8", "rocky8", "rhel9", "rocky9"
]
SUPPORTED_OSES: tuple[str, ...] = get_args(OsName)

PCLUSTER_TAG_PREFIX = "parallelcluster:"
MIN_SLURM_NODE_PRIORITY = 1
MAX_SLURM_NODE_PRIORITY = 2**32 - 1


def rule_error(message: str) -> NoReturn:
    """Raise a validation error whose text is ``message`` exactly."""
    raise PydanticCustomError(RULE_ERROR, "{detail}", {"detail": message})


# --------------------------------------------------------------------------------------------
# Value types


def _not_bool(value: Any) -> Any:
    # YAML's true/false would otherwise pass as 1/0; marshmallow's Number fields reject them.
    if isinstance(value, bool):
        raise PydanticCustomError("int_type", "Input should be a valid integer")
    return value


def _not_bool_float(value: Any) -> Any:
    if isinstance(value, bool):
        raise PydanticCustomError("float_type", "Input should be a valid number")
    return value


Int = Annotated[int, BeforeValidator(_not_bool)]
Float = Annotated[float, BeforeValidator(_not_bool_float)]
MAX_NODES_PER_COMPUTE_RESOURCE = 10_000
NonNegativeInt = Annotated[Int, Field(ge=0)]
PositiveInt = Annotated[Int, Field(ge=1)]
NodePriority = Annotated[Int, Field(ge=MIN_SLURM_NODE_PRIORITY, le=MAX_SLURM_NODE_PRIORITY)]

_CIDR = (
    r"^(([0-9]|[1-9][0-9]|1[0-9]{2}|2[0-4][0-9]|25[0-5])\.){3}"
    r"([0-9]|[1-9][0-9]|1[0-9]{2}|2[0-4][0-9]|25[0-5])"
    r"(\/([0-9]|[1-9][0-9]|3[0-2]))$"
)


def _cidr_or_prefix_list(value: str) -> str:
    if not (re.match(_CIDR, value) or re.match(r"^pl-[a-zA-Z0-9]", value)):
        rule_error(f"Invalid value: '{value}' is neither a valid CIDR nor a valid prefix-list.")
    return value


def _not_none_dir(value: str) -> str:
    if re.match(r"^/?NONE$", value):
        rule_error(f"{value} cannot be used as a shared directory")
    return value


def _json_text(value: str) -> str:
    try:
        json.loads(value)
    except ValueError:
        rule_error(f"'{value}' is invalid")
    return value


SubnetId = Annotated[str, StringConstraints(pattern=r"^subnet-[0-9a-z]{8}$|^subnet-[0-9a-z]{17}$")]
SecurityGroupId = Annotated[str, StringConstraints(pattern=r"^sg-[0-9a-z]{8}$|^sg-[0-9a-z]{17}$")]
AmiId = Annotated[str, StringConstraints(pattern=r"^ami-[0-9a-z]{8}$|^ami-[0-9a-z]{17}$")]
FilePath = Annotated[str, StringConstraints(pattern=r"^\/?[^\/.\\][^\/\\]*(\/[^\/.\\][^\/]*)*$")]
AllowedIps = Annotated[str, AfterValidator(_cidr_or_prefix_list)]
IamRoleArn = Annotated[str, StringConstraints(pattern=r"^arn:.*:role/")]
IamInstanceProfileArn = Annotated[str, StringConstraints(pattern=r"^arn:.*:instance-profile/")]
IamPolicyArn = Annotated[str, StringConstraints(pattern=r"^arn:.*:policy/")]
FsxVolumeId = Annotated[str, StringConstraints(pattern=r"^fsvol-[0-9a-f]{17}$")]
VolumeType = Literal["standard", "io1", "io2", "gp2", "st1", "sc1", "gp3"]
DeletionPolicy = Literal["Delete", "Retain"]
DeletionPolicyWithSnapshot = Literal["Delete", "Retain", "Snapshot"]
CapacityType = Literal["ONDEMAND", "SPOT", "CAPACITY_BLOCK"]
ExportPolicy = Literal["NEW", "CHANGED", "DELETED"]


class Section(BaseModel):
    """Base of every section: PascalCase keys only, unknown keys rejected, immutable."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        alias_generator=to_pascal,
        validate_by_name=False,
        validate_by_alias=True,
        regex_engine="python-re",
    )


def _coexist(*values: object) -> int:
    """How many of ``values`` are set (non-empty), as pcluster's ``fields_coexist`` counts."""
    return sum(1 for value in values if value)


# --------------------------------------------------------------------------------------------
# Tags


class Tag(Section):
    key: Annotated[str, StringConstraints(max_length=128)]
    value: Annotated[str, StringConstraints(max_length=256)]


def _check_tags(tags: list[Tag] | None) -> list[Tag] | None:
    seen: set[str] = set()
    for tag in tags or []:
        if tag.key.startswith(PCLUSTER_TAG_PREFIX) and tag.key != "parallelcluster:custom_resource":
            rule_error(f"The tag key prefix '{PCLUSTER_TAG_PREFIX}' is reserved and cannot be used.")
        if tag.key in seen:
            rule_error(
                f"Duplicate tag key ({tag.key}) detected. Tags keys should be unique within the Tags section."
            )
        seen.add(tag.key)
    return tags


Tags = Annotated[list[Tag], AfterValidator(_check_tags)]


# --------------------------------------------------------------------------------------------
# Storage


class HeadNodeRootVolume(Section):
    volume_type: VolumeType | None = None
    iops: Int | None = None
    size: Int | None = None
    throughput: Int | None = None
    encrypted: bool | None = None
    delete_on_termination: bool | None = None


class QueueRootVolume(Section):
    size: Int | None = None
    encrypted: bool | None = None
    volume_type: str | None = None
    iops: Int | None = None
    throughput: Int | None = None


class Raid(Section):
    raid_type: Literal[0, 1] = Field(alias="Type")
    number_of_volumes: Annotated[Int, Field(ge=2, le=5)] | None = None


class EbsSettings(Section):
    volume_type: VolumeType | None = None
    iops: Int | None = None
    size: Int | None = None
    kms_key_id: str | None = None
    throughput: Int | None = None
    encrypted: bool | None = None
    snapshot_id: (
        Annotated[str, StringConstraints(pattern=r"^snap-[0-9a-z]{8}$|^snap-[0-9a-z]{17}$")] | None
    ) = None
    volume_id: Annotated[str, StringConstraints(pattern=r"^vol-[0-9a-z]{8}$|^vol-[0-9a-z]{17}$")] | None = (
        None
    )
    raid: Raid | None = None
    deletion_policy: DeletionPolicyWithSnapshot | None = None


class EphemeralVolume(Section):
    mount_dir: FilePath | None = None


class HeadNodeLocalStorage(Section):
    root_volume: HeadNodeRootVolume | None = None
    ephemeral_volume: EphemeralVolume | None = None


class QueueLocalStorage(Section):
    root_volume: QueueRootVolume | None = None
    ephemeral_volume: EphemeralVolume | None = None


class EfsSettings(Section):
    encrypted: bool | None = None
    kms_key_id: str | None = None
    performance_mode: Literal["generalPurpose", "maxIO"] | None = None
    throughput_mode: Literal["provisioned", "bursting"] | None = None
    provisioned_throughput: Annotated[Int, Field(ge=1, le=1024)] | None = None
    file_system_id: (
        Annotated[str, StringConstraints(pattern=r"^fs-[0-9a-z]{8}$|^fs-[0-9a-z]{17}$")] | None
    ) = None
    deletion_policy: DeletionPolicy | None = None
    access_point_id: Annotated[str, StringConstraints(pattern=r"^fsap-[0-9a-z]{17}$")] | None = None
    encryption_in_transit: bool | None = None
    iam_authorization: bool | None = None

    @model_validator(mode="after")
    def _existing_file_system(self) -> Self:
        if self.file_system_id is not None:
            allowed = {"encryption_in_transit", "iam_authorization", "file_system_id", "access_point_id"}
            ignored = [_alias(type(self), name) for name in self.model_fields_set if name not in allowed]
            if ignored:
                rule_error(
                    " ".join(
                        f"{name} cannot be specified when an existing EFS file system is used."
                        for name in sorted(ignored)
                    )
                )
        return self

    @model_validator(mode="after")
    def _throughput(self) -> Self:
        if self.throughput_mode != "provisioned" and self.provisioned_throughput:
            rule_error(
                "When specifying provisioned throughput, the throughput mode must be set to provisioned"
            )
        if self.throughput_mode == "provisioned" and not self.provisioned_throughput:
            rule_error(
                "When specifying throughput mode to provisioned, the provisioned throughput option must be "
                "specified"
            )
        return self


def _chunk_size(value: int) -> int:
    if not 1 <= value <= 512000:
        rule_error("ImportedFileChunkSize has a minimum size of 1 MiB, and max size of 512,000 MiB")
    return value


ChunkSize = Annotated[Int, AfterValidator(_chunk_size)]


class DataRepositoryAssociation(Section):
    name: str
    batch_import_meta_data_on_create: bool | None = None
    data_repository_path: str
    file_system_path: Annotated[str, StringConstraints(pattern="^[^\u0000\u0085\u2028\u2029\r\n]{1,4096}$")]
    imported_file_chunk_size: ChunkSize | None = None
    auto_export_policy: Annotated[list[ExportPolicy], Field(max_length=3)] | None = None
    auto_import_policy: Annotated[list[ExportPolicy], Field(max_length=3)] | None = None


class FsxLustreSettings(Section):
    storage_capacity: Int | None = None
    deployment_type: Literal["SCRATCH_1", "SCRATCH_2", "PERSISTENT_1", "PERSISTENT_2"] | None = None
    imported_file_chunk_size: ChunkSize | None = None
    export_path: str | None = None
    import_path: str | None = None
    weekly_maintenance_start_time: (
        Annotated[str, StringConstraints(pattern=r"^[1-7]:([01]\d|2[0-3]):([0-5]\d)$")] | None
    ) = None
    automatic_backup_retention_days: Annotated[Int, Field(ge=0, le=35)] | None = None
    copy_tags_to_backups: bool | None = None
    daily_automatic_backup_start_time: (
        Annotated[str, StringConstraints(pattern=r"^([01]\d|2[0-3]):([0-5]\d)$")] | None
    ) = None
    per_unit_storage_throughput: Int | None = None
    backup_id: Annotated[str, StringConstraints(pattern=r"^(backup-[0-9a-f]{8,})$")] | None = None
    kms_key_id: str | None = None
    file_system_id: Annotated[str, StringConstraints(pattern=r"^fs-[0-9a-z]{17}$")] | None = None
    auto_import_policy: Literal["NEW", "NEW_CHANGED", "NEW_CHANGED_DELETED"] | None = None
    drive_cache_type: Literal["READ"] | None = None
    data_compression_type: Literal["LZ4"] | None = None
    fsx_storage_type: Literal["HDD", "SSD"] | None = Field(default=None, alias="StorageType")
    deletion_policy: DeletionPolicy | None = None
    data_repository_associations: list[DataRepositoryAssociation] | None = None

    @model_validator(mode="after")
    def _existing_file_system(self) -> Self:
        if self.file_system_id is not None:
            ignored = [_alias(type(self), name) for name in self.model_fields_set if name != "file_system_id"]
            if ignored:
                rule_error(
                    " ".join(
                        f"{name} cannot be specified when an existing Lustre file system is used."
                        for name in sorted(ignored)
                    )
                )
        return self

    @model_validator(mode="after")
    def _restore_from_backup(self) -> Self:
        if self.backup_id is not None:
            unsupported = {
                "deployment_type",
                "per_unit_storage_throughput",
                "storage_capacity",
                "import_path",
                "export_path",
                "imported_file_chunk_size",
                "kms_key_id",
            }
            names = sorted(_alias(type(self), name) for name in self.model_fields_set & unsupported)
            if names:
                rule_error(
                    " ".join(
                        f"When restoring an FSx Lustre file system from backup, '{name}' cannot be specified."
                        for name in names
                    )
                )
        return self


class FsxOpenZfsSettings(Section):
    volume_id: FsxVolumeId


class FsxOntapSettings(Section):
    volume_id: FsxVolumeId


class FileCacheSettings(Section):
    file_cache_id: Annotated[str, StringConstraints(pattern=r"^(fc-[0-9a-f]{8,18})$")]


StorageType = Literal["Ebs", "FsxLustre", "FsxOpenZfs", "FsxOntap", "Efs", "FileCache"]


class SharedStorage(Section):
    mount_dir: Annotated[FilePath, AfterValidator(_not_none_dir)]
    name: str
    storage_type: StorageType
    ebs_settings: EbsSettings | None = None
    efs_settings: EfsSettings | None = None
    fsx_lustre_settings: FsxLustreSettings | None = None
    fsx_open_zfs_settings: FsxOpenZfsSettings | None = None
    fsx_ontap_settings: FsxOntapSettings | None = None
    file_cache_settings: FileCacheSettings | None = None

    @model_validator(mode="after")
    def _settings_match_type(self) -> Self:
        by_type: dict[str, Section | None] = {
            "Ebs": self.ebs_settings,
            "Efs": self.efs_settings,
            "FsxLustre": self.fsx_lustre_settings,
            "FsxOpenZfs": self.fsx_open_zfs_settings,
            "FsxOntap": self.fsx_ontap_settings,
            "FileCache": self.file_cache_settings,
        }
        if _coexist(*by_type.values()) > 1:
            rule_error("Multiple *Settings sections cannot be specified in the SharedStorage items.")
        for storage_type, settings in by_type.items():
            if settings is not None and storage_type != self.storage_type:
                rule_error(
                    "SharedStorage > *Settings section is not appropriate to the StorageType "
                    f"{self.storage_type}."
                )
        return self

    def existing_id(self) -> str | None:
        """The id of the existing file system or volume this entry mounts, if it mounts one."""
        if self.ebs_settings is not None:
            return self.ebs_settings.volume_id
        if self.efs_settings is not None:
            return self.efs_settings.file_system_id
        if self.fsx_lustre_settings is not None:
            return self.fsx_lustre_settings.file_system_id
        if self.fsx_open_zfs_settings is not None:
            return self.fsx_open_zfs_settings.volume_id
        if self.fsx_ontap_settings is not None:
            return self.fsx_ontap_settings.volume_id
        if self.file_cache_settings is not None:
            return self.file_cache_settings.file_cache_id
        return None


# --------------------------------------------------------------------------------------------
# Networking, access, monitoring


class Proxy(Section):
    http_proxy_address: str | None = None


class _SecurityGroups(Section):
    security_groups: list[SecurityGroupId] | None = None
    additional_security_groups: list[SecurityGroupId] | None = None

    @model_validator(mode="after")
    def _one_kind_of_security_groups(self) -> Self:
        if _coexist(self.security_groups, self.additional_security_groups) > 1:
            rule_error("SecurityGroups and AdditionalSecurityGroups can not be configured together.")
        return self


def _elastic_ip(value: Any) -> Any:
    # pcluster declares ElasticIp as a raw field: true/false or an allocation id / address.
    if value is not None and not isinstance(value, bool | str):
        rule_error("Not a valid ElasticIp: expected true, false or an Elastic IP.")
    return value


class HeadNodeNetworking(_SecurityGroups):
    subnet_id: SubnetId
    elastic_ip: Annotated[Any, AfterValidator(_elastic_ip)] = None
    proxy: Proxy | None = None


class PlacementGroup(Section):
    enabled: bool | None = None
    id: str | None = None
    name: str | None = None


class SlurmQueueNetworking(_SecurityGroups):
    assign_public_ip: bool | None = None
    subnet_ids: Annotated[list[SubnetId], Field(min_length=1)]
    placement_group: PlacementGroup | None = None
    proxy: Proxy | None = None


class AwsBatchQueueNetworking(_SecurityGroups):
    assign_public_ip: bool | None = None
    subnet_ids: Annotated[list[SubnetId], Field(min_length=1, max_length=1)]


class HeadNodeSsh(Section):
    key_name: str | None = None
    allowed_ips: AllowedIps | None = None


class Dcv(Section):
    enabled: bool | None = None
    port: Int | None = None
    allowed_ips: AllowedIps | None = None


class Efa(Section):
    enabled: bool | None = None
    gdr_support: bool | None = None


RetentionDays = Literal[0, 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1827, 3653]


class CloudWatchLogs(Section):
    enabled: bool | None = None
    retention_in_days: RetentionDays | None = None
    deletion_policy: DeletionPolicy | None = None


class Enabled(Section):
    enabled: bool | None = None


class Logs(Section):
    cloud_watch: CloudWatchLogs | None = None
    rotation: Enabled | None = None


class Dashboards(Section):
    cloud_watch: Enabled | None = None


class Monitoring(Section):
    detailed_monitoring: bool | None = None
    logs: Logs | None = None
    dashboards: Dashboards | None = None
    alarms: Enabled | None = None


class Roles(Section):
    lambda_functions_role: str | None = None


class S3Access(Section):
    bucket_name: Annotated[str, StringConstraints(pattern=r"^[\*a-z0-9\-\.]+$")]
    key_name: str | None = None
    enable_write_access: bool | None = None


class ClusterIam(Section):
    roles: Roles | None = None
    permissions_boundary: IamPolicyArn | None = None
    resource_prefix: str | None = None


class AdditionalIamPolicy(Section):
    policy: IamPolicyArn


class _RoleOrPolicies(Section):
    instance_role: IamRoleArn | None = None
    instance_profile: IamInstanceProfileArn | None = None
    additional_iam_policies: list[AdditionalIamPolicy] | None = None

    @model_validator(mode="after")
    def _one_way_to_grant(self) -> Self:
        if _coexist(self.instance_role, self.instance_profile, self.additional_iam_policies) > 1:
            rule_error(
                "InstanceProfile, InstanceRole or AdditionalIamPolicies can not be configured together."
            )
        return self


class NodeIam(_RoleOrPolicies):
    s3_access: list[S3Access] | None = None

    @model_validator(mode="after")
    def _s3_access(self) -> Self:
        if self.s3_access and self.instance_role:
            rule_error("S3Access can not be configured when InstanceRole is set.")
        if self.s3_access and self.instance_profile:
            rule_error("S3Access can not be configured when InstanceProfile is set.")
        return self


class LoginNodesIam(_RoleOrPolicies):
    pass


class HeadNodeImds(Section):
    secured: bool | None = None


class Imds(Section):
    imds_support: Literal["v1.0", "v2.0"] | None = None


class IntelSoftware(Section):
    intel_hpc_platform: bool | None = None


class AdditionalPackages(Section):
    intel_software: IntelSoftware | None = None


class AmiSearchFilters(Section):
    tags: list[Tag] | None = None
    owner: str | None = None


class Timeouts(Section):
    head_node_bootstrap_timeout: PositiveInt | None = None
    compute_node_bootstrap_timeout: PositiveInt | None = None


class CapacityReservationTarget(Section):
    capacity_reservation_id: str | None = None
    capacity_reservation_resource_group_arn: str | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Self:
        if _coexist(self.capacity_reservation_id, self.capacity_reservation_resource_group_arn) != 1:
            rule_error(
                "A Capacity Reservation Target needs to specify either Capacity Reservation ID or Capacity "
                "Reservation Resource Group ARN."
            )
        return self


class Cookbook(Section):
    chef_cookbook: str | None = None
    extra_chef_attributes: Annotated[str, AfterValidator(_json_text)] | None = None


class ClusterDevSettings(Section):
    cookbook: Cookbook | None = None
    node_package: str | None = None
    aws_batch_cli_package: str | None = None
    cluster_template: str | None = None
    ami_search_filters: AmiSearchFilters | None = None
    instance_types_data: str | None = None
    timeouts: Timeouts | None = None
    compute_startup_time_metric_enabled: bool | None = None


class LambdaFunctionsVpcConfig(Section):
    security_group_ids: Annotated[list[SecurityGroupId], Field(min_length=1, max_length=5)]
    subnet_ids: Annotated[list[SubnetId], Field(min_length=1, max_length=16)]


class ClusterDeploymentSettings(Section):
    lambda_functions_vpc_config: LambdaFunctionsVpcConfig | None = None
    disable_sudo_access_for_default_user: bool | None = None
    default_user_home: Literal["Shared", "Local"] | None = None


class HealthChecks(Section):
    gpu: Enabled | None = None


class Image(Section):
    os: OsName
    custom_ami: AmiId | None = None


class NodeImage(Section):
    custom_ami: AmiId | None = None


class CustomActionScript(Section):
    script: str
    args: list[str] | None = None


class CustomAction(Section):
    """One custom action: a single ``Script`` (with ``Args``) or a ``Sequence`` of them."""

    script: str | None = None
    args: list[str] | None = None
    sequence: list[CustomActionScript] | None = None

    @model_validator(mode="after")
    def _script_or_sequence(self) -> Self:
        if self.script is not None and self.sequence is not None:
            rule_error("Both Script and Sequence fields are provided. Only one is allowed.")
        if self.script is None and self.sequence is None:
            rule_error("Either Script or Sequence field must be provided.")
        if self.sequence is not None and self.args is not None:
            rule_error("Args belongs to each Script of the Sequence, not next to Sequence.")
        return self


class QueueCustomActions(Section):
    on_node_start: CustomAction | None = None
    on_node_configured: CustomAction | None = None


class NodeCustomActions(QueueCustomActions):
    on_node_updated: CustomAction | None = None


# --------------------------------------------------------------------------------------------
# Head node and login nodes


class HeadNode(Section):
    instance_type: str
    disable_simultaneous_multithreading: bool | None = None
    networking: HeadNodeNetworking | None = None
    ssh: HeadNodeSsh | None = None
    local_storage: HeadNodeLocalStorage | None = None
    shared_storage_type: Literal["Ebs", "Efs"] | None = None
    dcv: Dcv | None = None
    custom_actions: NodeCustomActions | None = None
    iam: NodeIam | None = None
    imds: HeadNodeImds | None = None
    image: NodeImage | None = None


def _one_login_subnet(value: list[str]) -> list[str]:
    if len(value) != 1:
        rule_error("Only one subnet can be associated with a login node pool.")
    return value


class LoginNodesNetworking(_SecurityGroups):
    subnet_ids: Annotated[list[SubnetId], AfterValidator(_one_login_subnet)]
    proxy: Proxy | None = None


def _login_count(value: int) -> int:
    if value < 0:
        rule_error("The count for LoginNodes Pool must be greater than or equal to 0.")
    return value


def _gracetime(value: int) -> int:
    if not 3 <= value <= 120:
        rule_error("The gracetime period for LoginNodes Pool must be an integer from 3 to 120.")
    return value


class LoginNodesPool(Section):
    name: str
    instance_type: str
    image: NodeImage | None = None
    networking: LoginNodesNetworking
    count: Annotated[Int, AfterValidator(_login_count)]
    dcv: Dcv | None = None
    ssh: HeadNodeSsh | None = None
    custom_actions: NodeCustomActions | None = None
    iam: LoginNodesIam | None = None
    gracetime_period: Annotated[Int, AfterValidator(_gracetime)] | None = None


class LoginNodes(Section):
    pools: list[LoginNodesPool]


# --------------------------------------------------------------------------------------------
# Scheduling


class InstanceTypeItem(Section):
    instance_type: str


class ComputeResourceNetworking(Section):
    placement_group: PlacementGroup | None = None


class SlurmComputeResource(Section):
    name: str
    instance_type: str | None = None
    instances: list[InstanceTypeItem] | None = None
    # ParallelCluster sets no upper bound; stratus keeps a record per node, so a compute resource
    # has at most MAX_NODES_PER_COMPUTE_RESOURCE (ParallelCluster itself is tested to 4,000 nodes).
    max_count: Annotated[Int, Field(ge=1, le=MAX_NODES_PER_COMPUTE_RESOURCE)] | None = None
    min_count: Annotated[Int, Field(ge=0, le=MAX_NODES_PER_COMPUTE_RESOURCE)] | None = None
    spot_price: Annotated[Float, Field(ge=0)] | None = None
    efa: Efa | None = None
    disable_simultaneous_multithreading: bool | None = None
    schedulable_memory: Int | None = None
    capacity_reservation_target: CapacityReservationTarget | None = None
    networking: ComputeResourceNetworking | None = None
    health_checks: HealthChecks | None = None
    custom_slurm_settings: dict[str, Any] | None = None
    tags: Tags | None = None
    static_node_priority: NodePriority | None = None
    dynamic_node_priority: NodePriority | None = None
    # stratus's one key inside ParallelCluster's sections: the Stratus.Providers entry that
    # launches this compute resource's nodes (the local provider when absent).
    provider: str | None = None

    @model_validator(mode="after")
    def _instance_types(self) -> Self:
        if _coexist(self.instance_type, self.instances) > 1:
            rule_error("A Compute Resource needs to specify either InstanceType or Instances.")
        if not self.instances and not self.instance_type and self.provider is None:
            # A provider's hosts give its nodes their size: no instance type is needed then.
            target = self.capacity_reservation_target
            if target is None or not target.capacity_reservation_id:
                rule_error(
                    "A Compute Resource needs to specify Instances, InstanceType or CapacityReservationId."
                )
        seen: set[str] = set()
        for item in self.instances or []:
            if item.instance_type in seen:
                rule_error(
                    f"Duplicate instance type ({item.instance_type}) detected. Instances should not have "
                    "duplicate instance types."
                )
            seen.add(item.instance_type)
        return self

    @property
    def instance_type_names(self) -> tuple[str, ...]:
        """The instance types of this compute resource, single or flexible, in config order."""
        if self.instances:
            return tuple(item.instance_type for item in self.instances)
        return (self.instance_type,) if self.instance_type else ()


class AwsBatchComputeResource(Section):
    name: str
    instance_types: list[str]
    max_vcpus: PositiveInt | None = Field(default=None, alias="MaxvCpus")
    min_vcpus: NonNegativeInt | None = Field(default=None, alias="MinvCpus")
    desired_vcpus: NonNegativeInt | None = Field(default=None, alias="DesiredvCpus")
    spot_bid_percentage: Annotated[Int, Field(gt=0, le=100)] | None = None


class ComputeSettings(Section):
    local_storage: QueueLocalStorage | None = None


class SlurmQueue(Section):
    name: str
    capacity_type: CapacityType | None = None
    allocation_strategy: Literal["lowest-price", "capacity-optimized", "price-capacity-optimized"] | None = (
        None
    )
    compute_resources: Annotated[list[SlurmComputeResource], Field(min_length=1)]
    networking: SlurmQueueNetworking | None = None
    compute_settings: ComputeSettings | None = None
    custom_actions: QueueCustomActions | None = None
    iam: NodeIam | None = None
    image: NodeImage | None = None
    capacity_reservation_target: CapacityReservationTarget | None = None
    health_checks: HealthChecks | None = None
    custom_slurm_settings: dict[str, Any] | None = None
    tags: Tags | None = None
    job_exclusive_allocation: bool | None = None


class AwsBatchQueue(Section):
    name: str
    capacity_type: CapacityType | None = None
    compute_resources: Annotated[list[AwsBatchComputeResource], Field(min_length=1, max_length=1)]
    networking: AwsBatchQueueNetworking


class Dns(Section):
    disable_managed_dns: bool | None = None
    hosted_zone_id: str | None = None
    use_ec2_hostnames: bool | None = None


class Database(Section):
    uri: str
    user_name: str
    password_secret_arn: Annotated[str, StringConstraints(pattern=r"^arn:.*:secret")]
    database_name: (
        Annotated[str, StringConstraints(pattern=r"^[0-9a-z_]+$", min_length=1, max_length=64)] | None
    ) = None


class ExternalSlurmdbd(Section):
    host: str
    port: Int | None = None


def _idletime(value: float) -> float:
    if value != -1 and value <= 0:
        rule_error(
            "Must be greater than 0 (minutes; fractions allowed, 0.05 is 3 seconds), or -1 to never scale "
            "down."
        )
    return value


class SlurmSettings(Section):
    scaledown_idletime: Annotated[Float, AfterValidator(_idletime)] | None = None
    dns: Dns | None = None
    queue_update_strategy: Literal["DRAIN", "COMPUTE_FLEET_STOP", "TERMINATE"] | None = None
    enable_memory_based_scheduling: bool | None = None
    database: Database | None = None
    custom_slurm_settings: list[dict[str, Any]] | None = None
    custom_slurm_settings_include_file: str | None = None
    munge_key_secret_arn: str | None = None
    external_slurmdbd: ExternalSlurmdbd | None = None


class AwsBatchSettings(Section):
    pass


class Scheduling(Section):
    scheduler: Literal["slurm", "awsbatch"]
    scaling_strategy: Literal["all-or-nothing", "best-effort", "greedy-all-or-nothing"] | None = None
    slurm_settings: SlurmSettings | None = None
    slurm_queues: list[SlurmQueue] | None = None
    aws_batch_queues: Annotated[list[AwsBatchQueue], Field(min_length=1, max_length=1)] | None = None
    aws_batch_settings: AwsBatchSettings | None = None

    @model_validator(mode="after")
    def _scheduler_sections(self) -> Self:
        if self.aws_batch_settings is not None and self.slurm_settings is not None:
            rule_error("Multiple *Settings sections cannot be specified in the Scheduling section.")
        if _coexist(self.aws_batch_queues, self.slurm_queues) != 1:
            prefix = "AwsBatch" if self.scheduler == "awsbatch" else self.scheduler.capitalize()
            rule_error(f"{prefix}Queues section must be specified in the Scheduling section.")
        sections = (
            ("awsbatch", self.aws_batch_settings, self.aws_batch_queues),
            ("slurm", self.slurm_settings, self.slurm_queues),
        )
        for scheduler, settings, queues in sections:
            if settings is not None and scheduler != self.scheduler:
                rule_error(
                    f"Scheduling > *Settings section is not appropriate to the Scheduler: {self.scheduler}."
                )
            if queues is not None and scheduler != self.scheduler:
                rule_error(
                    f"Scheduling > *Queues section is not appropriate to the Scheduler: {self.scheduler}."
                )
        return self


class DirectoryService(Section):
    domain_name: str
    domain_addr: str
    password_secret_arn: Annotated[
        str, StringConstraints(pattern=r"^arn:.*:(secretsmanager:.*:.*:secret:|ssm:.*:.*:parameter\/).*$")
    ]
    domain_read_only_user: str
    ldap_tls_ca_cert: str | None = None
    ldap_tls_req_cert: Literal["never", "allow", "try", "demand", "hard"] | None = None
    ldap_access_filter: str | None = None
    generate_ssh_keys_for_users: bool | None = None
    additional_sssd_configs: dict[str, Any] | None = None


class StratusProvider(Section):
    """One entry of ``Stratus.Providers``: machines that compute resources may name.

    Type ``ssh``: ``Hosts`` are ``host`` or ``host:port`` (``[v6addr]:port`` for IPv6), one
    static node each, reached as ``User`` with ``IdentityFile`` (default: the ssh agent/keys).
    Type ``ec2``: nodes are instances of the EC2 API of ``Region`` (default: the config's
    ``Region``) at ``EndpointUrl`` (default: AWS's), launched from ``ImageId`` (default:
    ``Image.CustomAmi``) in ``SubnetId`` with ``SecurityGroupIds``, ``KeyName`` and
    ``InstanceProfile``, signed with the credentials of AWS profile ``Profile`` (default: boto3's
    usual chain). ``InstallCommand`` is how an instance installs the node agent ("" for an image
    that has it; default: pip install of this stratus's version).
    ``PricePerHour`` is what one node of the provider costs per hour (on-prem hosts: 0 unless
    the admin says otherwise; ec2: the instance catalog's price when not given).
    """

    name: Annotated[str, StringConstraints(min_length=1)]
    kind: Literal["ssh", "ec2"] = Field(alias="Type")
    hosts: Annotated[list[Annotated[str, StringConstraints(min_length=1)]], Field(min_length=1)] | None = None
    user: Annotated[str, StringConstraints(min_length=1)] | None = None
    port: Annotated[Int, Field(ge=1, le=65535)] | None = None
    identity_file: Annotated[str, StringConstraints(min_length=1)] | None = None
    # Where the agent's files live on each host (relative paths are under the login directory).
    agent_directory: Annotated[str, StringConstraints(min_length=1)] | None = None
    region: Annotated[str, StringConstraints(pattern=r"^[a-z]{2}(-[a-z]+)+-\d+$")] | None = None
    endpoint_url: Annotated[str, StringConstraints(pattern=r"^https?://[^\s/]+(/\S*)?$")] | None = None
    image_id: Annotated[str, StringConstraints(pattern=r"^ami-[0-9a-z]{8}([0-9a-z]{9})?$")] | None = None
    subnet_id: Annotated[str, StringConstraints(pattern=r"^subnet-[0-9a-z]{8}([0-9a-z]{9})?$")] | None = None
    security_group_ids: (
        list[Annotated[str, StringConstraints(pattern=r"^sg-[0-9a-z]{8}([0-9a-z]{9})?$")]] | None
    ) = None
    key_name: Annotated[str, StringConstraints(min_length=1)] | None = None
    instance_profile: Annotated[str, StringConstraints(min_length=1)] | None = None
    profile: Annotated[str, StringConstraints(min_length=1)] | None = None
    install_command: str | None = None
    price_per_hour: Annotated[float, Field(ge=0, allow_inf_nan=False)] | None = None


class StratusBurstQueue(Section):
    """``Stratus.Burst.Queues`` entry: the burst threshold of one queue."""

    name: Annotated[str, StringConstraints(min_length=1)]
    max_wait: Annotated[Int, Field(ge=0, le=365 * 24 * 3600)] = Field(alias="MaxWait")


class StratusBurst(Section):
    """``Stratus.Burst``: how long a job may wait for free capacity before paid nodes power up
    for it (seconds; 0: at once, as ParallelCluster does), for every queue and per queue."""

    max_wait: Annotated[Int, Field(ge=0, le=365 * 24 * 3600)] | None = Field(default=None, alias="MaxWait")
    queues: list[StratusBurstQueue] | None = None


class StratusStorage(Section):
    """``Stratus.SharedStorage`` entry: the providers whose nodes have the ``SharedStorage``
    entry called ``Name`` mounted (``local`` for the nodes on this machine)."""

    name: Annotated[str, StringConstraints(min_length=1)]
    providers: Annotated[list[Annotated[str, StringConstraints(min_length=1)]], Field(min_length=1)]


def _absolute_path(value: str) -> str:
    if not value.startswith("/"):
        rule_error(f"'{value}' is not an absolute path; give the full path of the site's slurm.conf.")
    return value


class StratusExistingSlurm(Section):
    """``Stratus.ExistingSlurm``: a Slurm cluster stratus did not create (its own slurmctld and
    munged) that this cluster provides nodes to. ``Conf`` is that cluster's slurm.conf: stratus's
    scontrol calls and its nodes' slurmd use it, and its slurmctld powers the nodes up and down.
    ``MungeKey``: the site's munge key, which nodes on other machines (ssh, ec2) need to run a
    munged of the site's; read by the head node and sent to them over their agents' TLS links."""

    conf: Annotated[str, StringConstraints(min_length=1), AfterValidator(_absolute_path)]
    munge_key: Annotated[str, StringConstraints(min_length=1), AfterValidator(_absolute_path)] | None = None


class StratusBatchApi(Section):
    """``Stratus.BatchApi``: the cluster serves the AWS Batch API (boto3, the AWS CLI) on
    ``Address`` (default 127.0.0.1, this machine only) and ``Port`` (default: a free port,
    chosen when the head node first starts and kept across restarts); container jobs run with
    ``ContainerRuntime`` on the nodes."""

    address: Annotated[str, StringConstraints(min_length=1, pattern=r"^[^\s]+$")] | None = None
    port: Annotated[Int, Field(ge=0, le=65535)] | None = None
    # The command line of the container runtime that runs container jobs on the nodes (podman by
    # default, or docker; global options go here too).
    container_runtime: Annotated[str, StringConstraints(min_length=1, max_length=4096)] | None = None


def _endpoint_url(value: str) -> str:
    if not value.startswith(("http://", "https://")) or len(value) < 10:
        rule_error(f"'{value}' is not an endpoint URL; give one such as http://s3.example.org:9000.")
    return value


def _absolute_file(value: str) -> str:
    if not value.startswith("/"):
        rule_error(f"'{value}' is not an absolute path; give the full path of the file on the head node.")
    return value


class StratusS3(Section):
    """``Stratus.S3``: the S3-compatible object store jobs read and write. Every job sees
    ``EndpointUrl`` as ``AWS_ENDPOINT_URL_S3`` (and ``Region``), and the credentials of
    ``Profile`` (default ``default``) in ``CredentialsFile``, a file in the AWS CLI's
    credentials format on the head node; data staging (``--stage-in``/``--stage-out``,
    ``STRATUS_STAGE_IN``/``STRATUS_STAGE_OUT``) goes through it."""

    endpoint_url: Annotated[
        str, StringConstraints(min_length=1, pattern=r"^[^\s]+$"), AfterValidator(_endpoint_url)
    ]
    region: Annotated[str, StringConstraints(min_length=1, pattern=r"^[a-z0-9-]+$")] | None = None
    credentials_file: (
        Annotated[str, StringConstraints(min_length=1), AfterValidator(_absolute_file)] | None
    ) = None
    profile: Annotated[str, StringConstraints(min_length=1, pattern=r"^[^\s\[\]]+$")] | None = None


class StratusMetrics(Section):
    """``Stratus.Metrics``: the head node serves Prometheus metrics on ``Address`` (default
    127.0.0.1) and ``Port`` (default: a free port, chosen when the head node first starts and
    kept), behind the cluster's metrics token unless ``Open`` is true."""

    address: Annotated[str, StringConstraints(min_length=1, pattern=r"^[^\s]+$")] | None = None
    port: Annotated[Int, Field(ge=0, le=65535)] | None = None
    open: bool | None = None


class StratusSettings(Section):
    """What stratus adds to the ParallelCluster schema (the top-level ``Stratus`` block)."""

    # What schedules the cluster's jobs: stratus's own engine, or real Slurm daemons that
    # stratus deploys and keeps fed with nodes (ParallelCluster's way).
    engine: Literal["stratus", "slurm"] | None = None
    providers: list[StratusProvider] | None = None
    head_node_address: Annotated[str, StringConstraints(min_length=1)] | None = None
    burst: StratusBurst | None = None
    shared_storage: list[StratusStorage] | None = None
    # clustermgtd's insufficient_capacity_timeout (seconds; <= 0 turns the fail-over off) and
    # protected_failure_count (<= 0 turns protected mode off).
    insufficient_capacity_timeout: Annotated[Int, Field(le=7 * 24 * 3600)] | None = None
    protected_failure_count: Annotated[Int, Field(le=1_000_000)] | None = None
    # A site's own Slurm that this cluster's nodes join (Engine: slurm only).
    existing_slurm: StratusExistingSlurm | None = None
    # The AWS Batch front door (off unless the block is there).
    batch_api: StratusBatchApi | None = None
    # The object store jobs use (and data staging goes through).
    s3: StratusS3 | None = Field(default=None, alias="S3")
    # Prometheus metrics of the head node (off unless the block is there).
    metrics: StratusMetrics | None = None

    @model_validator(mode="after")
    def _existing_slurm_needs_the_slurm_engine(self) -> Self:
        if self.existing_slurm is not None and self.engine != "slurm":
            rule_error(
                "Stratus.ExistingSlurm needs Stratus.Engine: slurm (the site's slurmctld powers this "
                "cluster's nodes up and down); add 'Engine: slurm' to the Stratus block."
            )
        return self


class ClusterConfig(Section):
    """A whole cluster configuration file."""

    region: str | None = None
    image: Image | None = None
    head_node: HeadNode
    scheduling: Scheduling
    shared_storage: list[SharedStorage] | None = None
    login_nodes: LoginNodes | None = None
    monitoring: Monitoring | None = None
    additional_packages: AdditionalPackages | None = None
    tags: Tags | None = None
    iam: ClusterIam | None = None
    directory_service: DirectoryService | None = None
    imds: Imds | None = None
    custom_s3_bucket: str | None = None
    additional_resources: str | None = None
    dev_settings: ClusterDevSettings | None = None
    deployment_settings: ClusterDeploymentSettings | None = None
    stratus: StratusSettings | None = None

    @model_validator(mode="after")
    def _no_settings_for_batch(self) -> Self:
        if self.scheduling.scheduler == "awsbatch":
            message = "The use of the {} configuration is not supported when using awsbatch as the scheduler."
            intel = self.additional_packages.intel_software if self.additional_packages else None
            if intel is not None and intel.intel_hpc_platform:
                rule_error(message.format("IntelSoftware"))
            actions = self.head_node.custom_actions
            if actions is not None and actions.on_node_updated is not None:
                rule_error(message.format("OnNodeUpdated"))
            if self.directory_service is not None:
                rule_error(message.format("DirectoryService"))
        return self


def _alias(model: type[BaseModel], name: str) -> str:
    alias = model.model_fields[name].alias
    return alias if alias is not None else name

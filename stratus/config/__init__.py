"""Cluster configuration: ParallelCluster v3 YAML in, a validated model and a cluster layout out.

``load_cluster_config`` is the entry point, and ``read_config_file`` reads a file for it within
its size limit; ``catalog`` holds the EC2 instance types that give nodes their size. See
``loader`` for the validation pipeline, ``schema`` for the accepted keys, ``validators`` for the
semantic checks and the keys stratus honours, and ``layout`` for how a config becomes queues and
nodes.
"""

from stratus.config.catalog import (
    InstanceType,
    all_instance_types,
    catalog_source,
    get_instance_type,
    suggest_instance_types,
)
from stratus.config.errors import BadYamlError, ConfigValidationError, ValidationMessage
from stratus.config.layout import (
    ClusterLayout,
    ComputeResourceLayout,
    QueueLayout,
    SharedStorageLayout,
    build_layout,
)
from stratus.config.loader import LoadedConfig, load_cluster_config
from stratus.config.schema import ClusterConfig
from stratus.config.validators import HONOURED_KEYS
from stratus.config.yamlsource import read_config_file

__all__ = [
    "HONOURED_KEYS",
    "BadYamlError",
    "ClusterConfig",
    "ClusterLayout",
    "ComputeResourceLayout",
    "ConfigValidationError",
    "InstanceType",
    "LoadedConfig",
    "QueueLayout",
    "SharedStorageLayout",
    "ValidationMessage",
    "all_instance_types",
    "build_layout",
    "catalog_source",
    "get_instance_type",
    "load_cluster_config",
    "read_config_file",
    "suggest_instance_types",
]

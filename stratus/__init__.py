"""stratus: a self-hosted elastic HPC cluster manager and batch system.

This module is imported by the thin Slurm clients on every command, so it must stay free of
imports: it only carries the version string.
"""

__version__ = "0.1.0"

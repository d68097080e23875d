"""The real-Slurm engine: Slurm's own daemons under a stratus cluster, configured as ParallelCluster does."""

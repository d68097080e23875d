"""Data staging: a job's S3 inputs copied to its node before it runs, its outputs back after.

Both front doors declare staging in their own dialect (the Batch door through the job's
``STRATUS_STAGE_IN``/``STRATUS_STAGE_OUT`` environment, the Slurm door through sbatch's
``--stage-in``/``--stage-out``) and translate it into the same lists of
:class:`~stratus.staging.spec.Transfer` (:mod:`stratus.staging.spec`). The node agent runs the
transfers, as the job's user, in the job's working directory, around its script
(:mod:`stratus.staging.transfer`, ``python -m stratus.staging``), with the S3 endpoint and
credentials the cluster gives every job (:mod:`stratus.staging.env`, ``Stratus.S3``).
"""

"""GPU binding on a node: each job holds distinct device indices, shown as Slurm shows them."""

from __future__ import annotations

from stratus.agent.gpus import GpuBinder, gpu_env


def test_jobs_hold_the_lowest_free_indices_until_they_end() -> None:
    binder = GpuBinder()
    assert binder.bind(1, 2) == (0, 1)
    assert binder.bind(2, 1) == (2,)
    assert binder.bind(1, 2) == (0, 1)  # a step of job 1 sees job 1's GPUs
    binder.release(1)
    assert binder.bind(3, 3) == (0, 1, 3)
    assert binder.bind(4, 0) == ()


def test_the_variables_slurm_sets_for_a_jobs_gpus() -> None:
    # Slurm 22.05's gres/gpu plugin: the job's (and a step's) indices, and how many on the node.
    assert gpu_env((2, 3)) == {
        "CUDA_VISIBLE_DEVICES": "2,3",
        "GPU_DEVICE_ORDINAL": "2,3",
        "SLURM_JOB_GPUS": "2,3",
        "SLURM_GPUS_ON_NODE": "2",
    }
    assert gpu_env((0,), step=True)["SLURM_STEP_GPUS"] == "0"
    assert gpu_env(()) == {}  # a job without GPUs is told nothing

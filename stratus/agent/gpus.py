"""Which of this node's GPUs each job holds: Slurm's gres/gpu binding, by device index.

A job given N GPUs on this node holds the N lowest indices no other job here holds, from its
first process on the node (its batch script or a step's task) until it ends here; its processes
see them as Slurm shows them: ``CUDA_VISIBLE_DEVICES``, ``GPU_DEVICE_ORDINAL``,
``SLURM_JOB_GPUS`` (and ``SLURM_STEP_GPUS`` in steps), ``SLURM_GPUS_ON_NODE``. The indices are
the machine's own (no device cgroup renumbers them), so a program that honours
``CUDA_VISIBLE_DEVICES`` uses exactly its GPUs. The head node's scheduler guarantees the count
fits the node; this only chooses which.
"""

from __future__ import annotations


class GpuBinder:
    """The GPUs each job holds on this node (only the agent's loop touches it)."""

    def __init__(self) -> None:
        self._held: dict[int, tuple[int, ...]] = {}

    def bind(self, job_id: int, count: int) -> tuple[int, ...]:
        """The indices ``job_id`` holds here, choosing ``count`` free ones on its first call."""
        if count <= 0:
            return ()
        held = self._held.get(job_id)
        if held is None:
            taken = {i for ids in self._held.values() for i in ids}
            free: list[int] = []
            index = 0
            while len(free) < count:
                if index not in taken:
                    free.append(index)
                index += 1
            held = self._held[job_id] = tuple(free)
        return held

    def release(self, job_id: int) -> None:
        """``job_id`` ended on this node: its GPUs are free."""
        self._held.pop(job_id, None)


def gpu_env(ids: tuple[int, ...], *, step: bool = False) -> dict[str, str]:
    """The variables that tell a job's process its GPUs (none when it has none)."""
    if not ids:
        return {}
    text = ",".join(str(i) for i in ids)
    env = {
        "CUDA_VISIBLE_DEVICES": text,
        "GPU_DEVICE_ORDINAL": text,
        "SLURM_JOB_GPUS": text,
        "SLURM_GPUS_ON_NODE": str(len(ids)),
    }
    if step:
        env["SLURM_STEP_GPUS"] = text
    return env

"""Which of a job's nodes an srun step gets (``-N -n -w -x -r``), and whether its memory fits:
the head node's side of srun, with Slurm 22.05's refusals."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, cast

import pytest

from stratus.engine.model import Allocation, Job, JobSpec
from stratus.engine.states import JobState
from stratus.service.interface import Service
from stratus.slurm.errors import SlurmError
from stratus.slurm.server.interactive import StepRequest, memory_fits, step_nodes

NODES = ("q-1", "q-2", "q-3")


@dataclass
class _Record:
    node: Any


@dataclass
class _Named:
    name: str


class _Cluster:
    """The one thing step placement asks the service: the cluster's node names."""

    def nodes(self) -> list[_Record]:
        return [_Record(_Named(n)) for n in (*NODES, "q-4")]


def _job(ntasks: int = 3, cpus: int = 2, **spec: Any) -> Job:
    job = Job(1, JobSpec(name="j", user="u", ntasks=ntasks, **spec), submit_time=0.0, priority=1)
    job.state = JobState.RUNNING
    job.alloc = Allocation(NODES, (cpus,) * 3, (0,) * 3, (0,) * 3, (1,) * 3)
    return job


def _req(**kw: Any) -> StepRequest:
    base = StepRequest(
        job_id=1, argv=["true"], name="true", cwd="/", ntasks=None, nodes=None, ntasks_per_node=None,
        cpus_per_task=None, io_host="127.0.0.1", io_port=1, io_token="t", pty=False,
    )  # fmt: skip
    return replace(base, **kw)


def _fail(reason: str) -> SlurmError:
    return SlurmError(f"srun: error: Unable to create step for job 1: {reason}", 1)


def place(job: Job | None = None, **kw: Any) -> tuple[list[str], int]:
    return step_nodes(cast(Service, _Cluster()), job or _job(), _req(**kw), _fail)


def refusal(**kw: Any) -> str:
    with pytest.raises(SlurmError) as info:
        place(**kw)
    return info.value.lines[0]


def test_defaults_and_counts() -> None:
    assert place() == (list(NODES), 3)  # the job's tasks, one node each
    assert place(ntasks=1) == (["q-1"], 1)
    assert place(nodes=2) == (["q-1", "q-2"], 2)  # -N alone: a task per node
    assert place(nodes=2, ntasks_per_node=2) == (["q-1", "q-2"], 4)


def test_nodelist_exclude_and_relative_select_nodes_of_the_job() -> None:
    assert place(nodelist="q-3") == (["q-3"], 1)
    assert place(nodelist="q-[3,1]") == (["q-1", "q-3"], 2)  # in the job's order
    assert place(nodelist="q-3", nodes=2) == (["q-1", "q-3"], 2)  # -N adds nodes to -w's
    assert place(exclude="q-1", nodes=2) == (["q-2", "q-3"], 2)
    assert place(exclude="q-[1-2]", ntasks=2) == (["q-3"], 2)
    assert place(relative=1, nodes=1) == (["q-2"], 1)
    assert place(relative=2, nodes=1, ntasks=2) == (["q-3"], 2)


def test_nodes_the_step_cannot_have_are_refused_in_slurms_words() -> None:
    unavailable = (
        "srun: error: Unable to create step for job 1: Requested node configuration is not available"
    )
    assert refusal(nodelist="q-4") == unavailable  # a node of the cluster, not of the job
    assert refusal(nodelist="q-2", exclude="q-2") == unavailable
    assert refusal(nodes=3, exclude="q-1") == unavailable
    assert (
        refusal(nodelist="nosuch")
        == "srun: error: Unable to create step for job 1: Invalid node name specified"
    )
    assert (
        refusal(nodelist="q-[1-")
        == "srun: error: Unable to create step for job 1: Invalid node name specified"
    )
    assert (
        refusal(exclude="nosuch")
        == "srun: error: Unable to create step for job 1: Invalid node name specified"
    )
    # -r counts from the job's nodes: without -N srun's node count is the job's (Slurm's check).
    assert refusal(relative=1) == (
        "srun: error: --relative and SLURM_JOB_NUM_NODES option incompatible with count of allocated "
        "nodes (1+3>3)"
    )
    assert refusal(relative=2, nodes=2) == (
        "srun: error: --relative and --nodes option incompatible with count of allocated nodes (2+2>3)"
    )


def test_a_steps_memory_must_fit_in_the_jobs() -> None:
    job = _job(mem_per_node_mb=1000)
    assert memory_fits(job, _req(mem_per_node_mb=1000), [2], [1], 1)
    assert not memory_fits(job, _req(mem_per_node_mb=1001), [2], [1], 1)
    per_cpu = _job(mem_per_cpu_mb=100)  # 2 CPUs a node: 200 MB a node
    assert memory_fits(per_cpu, _req(mem_per_cpu_mb=100), [2, 2], [2, 2], 1)
    assert not memory_fits(per_cpu, _req(mem_per_cpu_mb=100), [2, 2], [1, 3], 1)
    # A job without a memory request, or a step without one, bounds nothing.
    assert memory_fits(_job(), _req(mem_per_node_mb=10**6), [2], [1], 1)
    assert memory_fits(job, _req(), [2], [1], 1)

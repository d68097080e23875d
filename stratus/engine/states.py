"""Entity states and the only transitions allowed between them.

Each entity has one state enum and one transition table. Every change of state goes through
:func:`check_transition`, and the engine records it (time, cause, reason) in its journal, which
feeds the front ends' views, accounting and debugging. An illegal transition is a bug in the
engine, never a user error, so it raises ``IllegalTransition``.

State names and reason codes are the engine's own vocabulary, stored as they are. They were chosen
to be Slurm's words, so the Slurm front door prints them unchanged; any other front door maps
them onto its own (the compact codes such as ``PD`` belong to the Slurm front door,
``stratus.slurm.jobstate``).
"""

from __future__ import annotations

from enum import StrEnum


class JobState(StrEnum):
    """A job's life. The values are stored: never rename them."""

    PENDING = "PENDING"
    CONFIGURING = "CONFIGURING"  # allocated; waiting for its powered-down nodes to boot
    RUNNING = "RUNNING"
    COMPLETING = "COMPLETING"  # a kill was sent (cancel, time limit); waiting for the processes
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"
    TIMEOUT = "TIMEOUT"
    NODE_FAIL = "NODE_FAIL"
    OUT_OF_MEMORY = "OUT_OF_MEMORY"
    PREEMPTED = "PREEMPTED"
    BOOT_FAIL = "BOOT_FAIL"
    DEADLINE = "DEADLINE"

    @property
    def final(self) -> bool:
        """True once the job will never run again (a requeue creates a new run from PENDING)."""
        return self in FINAL_JOB_STATES


FINAL_JOB_STATES = frozenset(
    {
        JobState.COMPLETED,
        JobState.FAILED,
        JobState.CANCELLED,
        JobState.TIMEOUT,
        JobState.NODE_FAIL,
        JobState.OUT_OF_MEMORY,
        JobState.PREEMPTED,
        JobState.BOOT_FAIL,
        JobState.DEADLINE,
    }
)

_ENDED_BY_PROCESS = frozenset(
    {JobState.COMPLETED, JobState.FAILED, JobState.OUT_OF_MEMORY, JobState.CANCELLED, JobState.TIMEOUT}
)

JOB_TRANSITIONS: dict[JobState, frozenset[JobState]] = {
    JobState.PENDING: frozenset({JobState.CONFIGURING, JobState.RUNNING, JobState.CANCELLED}),
    JobState.CONFIGURING: frozenset(
        {
            JobState.RUNNING,
            JobState.CANCELLED,
            JobState.PENDING,  # its node failed to boot: requeued
            JobState.NODE_FAIL,  # ... and the job may not be requeued
            JobState.BOOT_FAIL,
        }
    ),
    JobState.RUNNING: _ENDED_BY_PROCESS
    | frozenset({JobState.COMPLETING, JobState.NODE_FAIL, JobState.PENDING}),
    JobState.COMPLETING: _ENDED_BY_PROCESS | frozenset({JobState.NODE_FAIL, JobState.PENDING}),
    # A requeue (``scontrol requeue``) brings a finished job back to PENDING as a new run.
    **{s: frozenset({JobState.PENDING}) for s in FINAL_JOB_STATES},
}


# A pending job waits for capacity that needs no power-up rather than burst (stratus's own code).
BURST_DEFERRED = "BurstDeferred"

# The reason vocabulary of jobs (``Job.reason``): why a pending job waits, or how a finished one
# ended. Stored and shown as they are (the Slurm front door prints them unchanged), so a code is
# never renamed; a new situation gets a new code. "None" means there is nothing to say.
WAIT_REASONS = frozenset(
    {
        "None",
        "Resources",  # the first job that cannot start for lack of resources
        "Priority",  # a job behind one that holds a reservation (or blocks, first come first served)
        "Dependency",  # a dependency is not met yet
        "DependencyNeverSatisfied",  # a dependency can never be met
        "JobHeldUser",  # held by its user (or by anyone with ``uhold``)
        "JobHeldAdmin",  # held by an administrator: only an administrator may release it
        "JobHeldRequeue",  # requeued and held at once (``requeuehold``); its user may release it
        "BeginTime",  # its earliest start time has not come
        "JobArrayTaskLimit",  # its array runs as many tasks as it may at once
        "PartitionInactive",  # the compute fleet is stopped
        "PartitionNodeLimit",  # it asks more nodes than its partition has
        "PartitionTimeLimit",  # it asks a longer time limit than its partition allows
        "QOSMaxJobsPerUserLimit",  # its user holds as many jobs as allowed
        "QOSMaxNodePerUserLimit",  # ... as many nodes
        "QOSMaxCpuPerUserLimit",  # ... as many CPUs
        # stratus's own: it could start now only by powering up paid (cloud) nodes, and the plan
        # starts it on capacity that needs no power-up within its partition's burst threshold
        # (``PartitionDef.burst_max_wait_s``), so it waits for that instead (``Job.burst``).
        BURST_DEFERRED,
    }
)
# The reasons of a held job: it waits until it is released, whatever else it waits for.
HOLD_REASONS = frozenset({"JobHeldUser", "JobHeldAdmin", "JobHeldRequeue"})
END_REASONS = frozenset(
    {
        "None",  # completed, or cancelled
        "TimeLimit",  # killed at its time limit
        "NonZeroExitCode",
        "OutOfMemory",
        "NodeDown",  # a node failed and the job may not be requeued
        "DependencyNeverSatisfied",  # cancelled because a dependency can never be met
    }
)


class NodeState(StrEnum):
    """A compute node's power and health life.

    Whether an UP node is idle, mixed or allocated is not a state: it follows from the jobs on
    it. Front ends show the combination in their own words (the Slurm front door: ``idle~`` for
    POWERED_DOWN, ``alloc#`` for POWERING_UP with jobs, ``mix``, ``idle%`` for POWERING_DOWN ...).
    """

    POWERED_DOWN = "POWERED_DOWN"  # no instance; can be powered up for a job
    POWERING_UP = "POWERING_UP"  # instance launched; waiting for its agent to register
    UP = "UP"  # agent registered; runs jobs
    POWERING_DOWN = "POWERING_DOWN"  # instance being terminated
    DOWN = "DOWN"  # failed (agent lost, boot timed out, launch failed); no instance


NODE_TRANSITIONS: dict[NodeState, frozenset[NodeState]] = {
    NodeState.POWERED_DOWN: frozenset({NodeState.POWERING_UP, NodeState.DOWN}),
    NodeState.POWERING_UP: frozenset({NodeState.UP, NodeState.DOWN, NodeState.POWERING_DOWN}),
    NodeState.UP: frozenset({NodeState.POWERING_DOWN, NodeState.DOWN}),
    NodeState.POWERING_DOWN: frozenset({NodeState.POWERED_DOWN, NodeState.DOWN}),
    NodeState.DOWN: frozenset({NodeState.POWERED_DOWN, NodeState.POWERING_UP}),
}


class IllegalTransition(RuntimeError):
    """An entity was asked to move between states its table does not connect (an engine bug)."""


def check_transition(
    table: dict[JobState, frozenset[JobState]] | dict[NodeState, frozenset[NodeState]],
    entity: str,
    old: JobState | NodeState,
    new: JobState | NodeState,
) -> None:
    """Raise ``IllegalTransition`` unless ``old -> new`` is in ``table``."""
    allowed: frozenset[JobState] | frozenset[NodeState] = table[old]  # type: ignore[index]
    if new not in allowed:
        raise IllegalTransition(f"{entity}: {old} -> {new} is not a legal transition")

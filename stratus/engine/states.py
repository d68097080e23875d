"""Entity states and the only transitions allowed between them.

Each entity has one state enum and one transition table. Every change of state goes through
:func:`check_transition`, and the engine records it (time, cause, reason) in its journal, which
feeds squeue's REASON column, accounting and debugging. An illegal transition is a bug in the
engine, never a user error, so it raises ``IllegalTransition``.
"""

from __future__ import annotations

from enum import StrEnum


class JobState(StrEnum):
    """A job's life, named as Slurm names it (squeue prints the compact code in ``code``)."""

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
    def code(self) -> str:
        """Slurm's compact state code (``PD``, ``R``, ``CG`` ...)."""
        return _JOB_CODES[self]

    @property
    def final(self) -> bool:
        """True once the job will never run again (a requeue creates a new run from PENDING)."""
        return self in FINAL_JOB_STATES


_JOB_CODES = {
    JobState.PENDING: "PD",
    JobState.CONFIGURING: "CF",
    JobState.RUNNING: "R",
    JobState.COMPLETING: "CG",
    JobState.COMPLETED: "CD",
    JobState.FAILED: "F",
    JobState.CANCELLED: "CA",
    JobState.TIMEOUT: "TO",
    JobState.NODE_FAIL: "NF",
    JobState.OUT_OF_MEMORY: "OOM",
    JobState.PREEMPTED: "PR",
    JobState.BOOT_FAIL: "BF",
    JobState.DEADLINE: "DL",
}

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


class NodeState(StrEnum):
    """A compute node's power and health life.

    Whether an UP node is idle, mixed or allocated is not a state: it follows from the jobs on
    it. Slurm shows the combination as ``idle~`` (POWERED_DOWN), ``alloc#`` (POWERING_UP with
    jobs), ``mix`` (UP, partly allocated), ``idle%`` (POWERING_DOWN), ``down~``/``down*`` (DOWN).
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

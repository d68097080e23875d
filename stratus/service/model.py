"""What front doors hand the cluster service, and what it hands back.

Neutral on purpose: no Slurm, Batch or ParallelCluster words. A front door translates its
dialect into these (an ``sbatch`` into a :class:`Submission`, ``scancel 12_3`` into a
:class:`Target`) and the service's answers (:class:`TargetResult`, :class:`ServiceError` codes)
back into its own messages.
"""

from __future__ import annotations

import functools
import grp
import pwd
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from stratus.engine.indexset import IndexSet
from stratus.engine.model import Job, JobSpec, Node
from stratus.providers.base import Instance


@dataclass(frozen=True, slots=True)
class Identity:
    """Who asks. Every request the service serves carries one; authorization looks only here.

    Established by the API, never taken from a request: the kernel names a caller on the head
    node's unix socket, the token names the cluster's owner (see ``stratus.api.callers``).
    ``admin``: the cluster's administrators (root and its owner) act on every job.
    """

    user: str
    uid: int
    gid: int
    group: str = ""
    admin: bool = False

    @property
    def is_admin(self) -> bool:
        return self.admin or self.uid == 0

    def may_act_on(self, job: Job) -> bool:
        """A user acts on their own jobs; the cluster's administrators on every job."""
        return self.is_admin or job.spec.uid == self.uid


@functools.lru_cache(maxsize=256)
def user_name(uid: int) -> str:
    """The login name of ``uid`` on the head node (the number itself when it has none)."""
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


@functools.lru_cache(maxsize=256)
def group_name(gid: int) -> str:
    """The name of group ``gid`` on the head node (the number itself when it has none)."""
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)


def identity_of(uid: int, gid: int, *, admin: bool = False) -> Identity:
    """The identity of an OS user, with names looked up as the head node sees them."""
    return Identity(user=user_name(uid), uid=uid, gid=gid, group=group_name(gid), admin=admin)


@dataclass(slots=True)
class Payload:
    """What a job carries besides its resource request, owned by the front door that made it.

    ``door`` names that front door: when the job starts, the door's launch builder turns the
    payload into what the node runs (for Slurm: the batch script with the ``SLURM_*``
    environment). ``info`` is the small part every listing may read (paths, the submitter's
    umask, display fields); ``script`` and ``env`` are read only to launch.
    """

    door: str
    info: dict[str, Any]
    script: str
    env: dict[str, str]


@dataclass(frozen=True, slots=True)
class Submission:
    """One job (or one array of jobs) to queue."""

    spec: JobSpec
    payload: Payload
    array: IndexSet | None = None
    hold: bool = False
    # Where the job runs (its working directory on the nodes): a shared storage that only some
    # providers have mounted keeps the job on their nodes.
    workdir: str | None = None


@dataclass(frozen=True, slots=True)
class DoorObject:
    """A document a front door keeps besides jobs (a job definition, a queue, an access key):
    ``body`` is the door's JSON, ``created`` and ``updated`` the service's clock (seconds)."""

    door: str
    kind: str
    key: str
    body: dict[str, Any]
    created: float
    updated: float


@dataclass(frozen=True, slots=True)
class Target:
    """A job, or some tasks of an array job (``task_ids``; None: all of it)."""

    job_id: int
    task_ids: IndexSet | None = None


class Problem(StrEnum):
    """Why the service did not do what was asked for one target. Front doors word these."""

    NOT_FOUND = "NOT_FOUND"
    DENIED = "DENIED"
    ALREADY_DONE = "ALREADY_DONE"
    NOT_PENDING = "NOT_PENDING"
    PENDING = "PENDING"  # requeue of a job that has not started
    COMPLETING = "COMPLETING"  # requeue of a job still being torn down
    NO_REQUEUE = "NO_REQUEUE"  # the job asked never to be requeued
    IMPOSSIBLE = "IMPOSSIBLE"  # the change cannot fit any node
    INVALID = "INVALID"  # a value the engine refuses


@dataclass(slots=True)
class TargetResult:
    """What happened to one target: ``problem`` is None when every record was acted on."""

    target: Target
    problem: Problem | None = None
    acted: int = 0  # records changed (cancelled, signalled, held ...)


class ServiceError(Exception):
    """A request the service refuses as a whole. ``code`` is stable; the message is for logs."""

    code = "ERROR"

    def __init__(self, message: str = "", *, detail: str = "") -> None:
        self.detail = detail
        super().__init__(message or self.code)


class NotFound(ServiceError):
    code = "NOT_FOUND"


class AccessDenied(ServiceError):
    code = "DENIED"


class Unavailable(ServiceError):
    """The cluster cannot take the request now (it is being deleted)."""

    code = "UNAVAILABLE"


class Rejected(ServiceError):
    """The request can never run on this cluster; ``rejection`` says why (engine's code)."""

    code = "REJECTED"

    def __init__(self, rejection_code: str, detail: str = "") -> None:
        self.rejection_code = rejection_code
        super().__init__(f"{rejection_code}: {detail}", detail=detail)


class WrongState(ServiceError):
    """The job is not in a state that allows the request; ``problem`` says which."""

    code = "WRONG_STATE"

    def __init__(self, problem: Problem) -> None:
        self.problem = problem
        super().__init__(problem.value)


@dataclass(frozen=True, slots=True)
class NodeRecord:
    """A node as the service shows it: the engine's record plus its machine, if it has one."""

    node: Node
    instance: Instance | None = None

    @property
    def address(self) -> str:
        """Where the node is reached: its machine's address, else its name."""
        return self.instance.private_ip if self.instance is not None else self.node.name


@dataclass(frozen=True, slots=True)
class StepGrant:
    """A job step the service has admitted: its id, its job, and the nodes it may use."""

    job: Job
    step_id: int
    nodes: tuple[str, ...] = field(default_factory=tuple)


@dataclass(frozen=True, slots=True)
class UpdateCheck:
    """What stands in the way of a new configuration, as the cluster is now.

    ``nodes_in_use``: nodes the new configuration drops that hold work or a machine;
    ``partitions_in_use``: partitions it drops that unfinished jobs wait for or run in.
    """

    fleet_stopped: bool
    nodes_in_use: tuple[str, ...] = ()
    partitions_in_use: tuple[str, ...] = ()

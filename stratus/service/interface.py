"""The cluster service as front doors see it: every request they may make, and nothing else.

Front doors (Slurm's commands, the ParallelCluster routes, later the Batch API and the web UI)
are written against this protocol, never against an implementation or anything below it.
:class:`stratus.service.service.ClusterService` implements it over stratus's own engine; an
implementation over a real Slurm controller is the planned second, and the front doors will not
change for it. The guarantees every implementation keeps are stated on ``ClusterService``:
authorization from the :class:`~stratus.service.model.Identity` alone, nothing changed by a
refused request, everything stored before a changing call returns.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, Protocol

from stratus.config import ClusterLayout
from stratus.config.layout import HostFacts
from stratus.engine.cost import JobCost
from stratus.engine.fairshare import ShareRow
from stratus.engine.model import DepCondition, Job, JobSpec, Partition, PriorityConfig, Transition
from stratus.engine.priority import Factors as PriorityFactors
from stratus.service.model import (
    DoorObject,
    Identity,
    NodeRecord,
    StepGrant,
    Submission,
    Target,
    TargetResult,
    UpdateCheck,
)


class Service(Protocol):
    """What a front door may ask of a cluster."""

    cluster_name: str

    @property
    def layout(self) -> ClusterLayout: ...

    @property
    def api_port(self) -> int: ...

    @property
    def bin_dir(self) -> str:
        """Where the cluster's own commands are installed (jobs find them on PATH)."""
        ...

    def now(self) -> float: ...

    @property
    def deleting(self) -> bool: ...

    def check(self, spec: JobSpec) -> None:
        """Raise :class:`Rejected` if ``spec`` can never run on this cluster."""
        ...

    def submit(self, submission: Submission, identity: Identity) -> int:
        """Queue a job (or an array); its id, once the job and its payload are stored."""
        ...

    def estimate(self, spec: JobSpec) -> tuple[int, float, tuple[str, ...], str] | None:
        """When and where ``spec`` would start if submitted now: (its id, start, nodes, partition)."""
        ...

    def jobs(self) -> Iterable[Job]:
        """Every job record the engine holds (pending, running, recently finished)."""
        ...

    def job(self, job_id: int) -> Job | None: ...

    def knows(self, job_id: int) -> bool:
        """Whether ``job_id`` names a job (or array) the engine still holds."""
        ...

    def records(self, target: Target) -> list[Job]:
        """The records ``target`` names: a job, an array's tasks, or some of them."""
        ...

    def records_of(self, job_id: int) -> list[Job]:
        """Every record of ``job_id``: an array's tasks and remainder, or the job itself."""
        ...

    def job_count(self) -> int:
        """How many job records the engine holds."""
        ...

    def dependency_status(self, job: Job) -> list[tuple[DepCondition, str]]:
        """The conditions of ``job``'s dependency still standing: ("unfulfilled" | "failed")."""
        ...

    def partitions(self) -> list[tuple[Partition, bool]]:
        """Every partition in configuration order, and whether it is the default one."""
        ...

    @property
    def priority_config(self) -> PriorityConfig: ...

    def pending_priorities(self) -> list[tuple[Job, str, PriorityFactors]]:
        """(job, partition, factors) of every job that could be scheduled now, per partition."""
        ...

    def shares(self) -> list[ShareRow]:
        """The fair-share tree, usage charged up to now."""
        ...

    def set_share_weights(self, weights: Mapping[str, float]) -> None:
        """Make ``weights`` the fair-share weights: fair-share account (or prefix of accounts
        ending in ``*``) -> weight ``w > 0``, entitled to ``1 / w`` of an unweighted account's
        share. Replaces the previous weights; stored before this returns and applied again
        whenever the head node starts."""
        ...

    def stored_states(self, job_id: int, task_id: int | None) -> list[str]:
        """States of the stored records of a job (or one task of it), newest runs."""
        ...

    def payload_info(self, payload_id: int) -> dict[str, Any]:
        """The small part of a job's payload (the array's id for array tasks)."""
        ...

    def preload_payload_infos(self) -> None:
        """Load every live job's payload summary in one query (after a restart)."""
        ...

    def forget_payload_infos(self) -> None:
        """Drop summaries of jobs the engine no longer holds (bounded memory)."""
        ...

    def nodes(self) -> Iterator[NodeRecord]:
        """Every node, powered down ones included, with its machine when it has one."""
        ...

    def node_reachable(self, name: str) -> bool:
        """Whether the node's agent is connected now (a step can be started there)."""
        ...

    def accounting(
        self,
        *,
        job_ids: Iterable[int] = (),
        users: Iterable[str] = (),
        start: float | None = None,
        end: float | None = None,
    ) -> list[tuple[Job, dict[str, Any], list[dict[str, Any]]]]:
        """Stored jobs (finished long ago too) with their payload summary and run/step records."""
        ...

    def job_costs(self) -> list[JobCost]:
        """What every job that ever ran has cost up to now (USD, see :mod:`stratus.engine.cost`),
        by job id: every recorded run, plus the current one while it runs; read from the
        durable records, so a job's figure never decreases while prices stay the same."""
        ...

    def cost_totals(self) -> dict[tuple[str, str, str], float]:
        """What jobs have cost up to now (USD), by (user, account, partition): every recorded run
        since the cluster was created plus the current run of every running job; each call
        reads only the runs recorded since the previous one."""
        ...

    def events(self, after_seq: int = 0, limit: int = 1000) -> list[tuple[int, Transition]]:
        """The journal from ``after_seq`` on: (sequence number, transition), oldest first."""
        ...

    def scheduler_stats(self) -> dict[str, float]:
        """The scheduler's cycle figures (see the implementation for the keys)."""
        ...

    def history(self, entity: str, key: str) -> list[Transition]:
        """Every recorded transition of one entity, oldest first."""
        ...

    def objects(self, door: str, kind: str) -> list[DoorObject]:
        """The stored objects of ``kind`` of front door ``door``, by key."""
        ...

    def get_object(self, door: str, kind: str, key: str) -> DoorObject | None:
        """One stored object, or None."""
        ...

    def put_object(self, door: str, kind: str, key: str, body: dict[str, Any]) -> DoorObject:
        """Create or replace an object; durable when this returns."""
        ...

    def delete_object(self, door: str, kind: str, key: str) -> bool:
        """Remove an object (durably); whether it existed."""
        ...

    def cancel(
        self, targets: Sequence[Target], identity: Identity, cause: str = "user"
    ) -> list[TargetResult]:
        """Cancel each target; one result per target; everything stored in one transaction."""
        ...

    def signal(self, targets: Sequence[Target], signal: str, identity: Identity) -> list[TargetResult]:
        """Send ``signal`` to the running records of each target (nothing is stored)."""
        ...

    def hold(
        self, targets: Sequence[Target], identity: Identity, *, held: bool, user_hold: bool = False
    ) -> list[TargetResult]:
        """Hold (or release) jobs not finished; an administrator's hold is theirs to release.

        A hold by an administrator is an administrator's hold unless ``user_hold``; anyone
        else's is a user hold. Releasing an administrator's hold takes an administrator
        (``DENIED`` otherwise); a finished job is ``ALREADY_DONE``.
        """
        ...

    def requeue(
        self, targets: Sequence[Target], identity: Identity, *, hold: bool = False
    ) -> list[TargetResult]:
        """Send started or finished jobs back to pending as a new run (held if ``hold``)."""
        ...

    def update(
        self, targets: Sequence[Target], identity: Identity, changes: dict[str, object]
    ) -> list[TargetResult]:
        """Change jobs' requests (engine spec field names; ``total_cpus`` spreads over tasks)."""
        ...

    def wait_status(self, job_id: int) -> int | None:
        """None while the job (every task of an array) runs; then its worst exit code."""
        ...

    def allocation_seen(self, job_id: int) -> None:
        """The client holding an interactive allocation is alive (see :meth:`_expire_allocations`)."""
        ...

    def release_allocation(self, job_id: int, exit_code: int, identity: Identity) -> None:
        """The client gives its allocation up: the job ends with the client command's exit code."""
        ...

    def admit_step(self, job_id: int, identity: Identity) -> Job:
        """The running job a new step of ``identity`` may use; raises NotFound, WrongState, AccessDenied."""
        ...

    def next_step(self, job: Job) -> StepGrant:
        """A new step id for the job's current run (ids continue across head-node restarts)."""
        ...

    def start_step(
        self,
        grant: StepGrant,
        name: str,
        ntasks: int,
        cpus: int,
        messages: dict[str, dict[str, Any]],
    ) -> None:
        """Record the step as started, then hand each node its part (``messages`` by node)."""
        ...

    @property
    def cluster(self) -> dict[str, Any]:
        """The cluster's record (status, fleet status, head node, failures), read only."""
        ...

    @property
    def config_path(self) -> str: ...

    @property
    def configuration(self) -> dict[str, Any]:
        """The running configuration, as loaded (the document it was created or updated with)."""
        ...

    @property
    def host_facts(self) -> HostFacts | None:
        """The resources of the configuration's hosts, to load a new configuration with."""
        ...

    def check_update(self, layout: ClusterLayout) -> UpdateCheck:
        """What a change to ``layout`` would find in the way, now."""
        ...

    def apply_update(self, text: str, identity: Identity) -> None:
        """Make ``text`` (a checked configuration) the cluster's; the head node restarts onto it.

        Stored (the file, then UPDATE_IN_PROGRESS) before this returns; the owner's or root's.
        """
        ...

    def set_queue_enabled(self, name: str, enabled: bool, identity: Identity) -> None:
        """Disable queue ``name`` (running jobs go on, nothing new starts there; it stays so
        across compute-fleet starts and head-node restarts) or enable it again; stored before
        this returns. A queue an update is adding takes the state when it exists. The owner's
        or root's."""
        ...

    def request_fleet(self, start: bool, identity: Identity) -> None:
        """Start (``start``) or stop the compute fleet; stored before this returns."""
        ...

    def delete_cluster(self, identity: Identity) -> None:
        """Begin deleting the cluster (stored before this returns)."""
        ...

    def owner(self) -> Identity:
        """The cluster's owner: the user its head node runs as."""
        ...

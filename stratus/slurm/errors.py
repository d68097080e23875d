"""Errors raised by the Slurm front end, carrying Slurm's own wording and exit code.

Besides :class:`SlurmError`, this module holds Slurm's exact message strings (from Slurm 22.05's
``slurm_errno.c`` and the client commands) and small factories that build the errors a backend
raises from ``submit``. The backend must use these rather than writing its own text, so that a
rejected ``sbatch`` prints what real Slurm prints, byte for byte.
"""

from __future__ import annotations

from stratus.errors import UserError


class SlurmError(UserError):
    """A rejected command: ``lines`` go to stderr as printed, then the command exits ``exit_code``.

    ``lines`` are complete lines as Slurm prints them, prefix included
    (``sbatch: error: Invalid --time specification``). ``reason`` is the controller's error
    string when the controller refused the request (``Requested node configuration is not
    available``), for commands that word that refusal their own way (``sbatch --test-only``).
    """

    def __init__(self, lines: str | list[str], exit_code: int = 1, *, reason: str | None = None) -> None:
        self.lines = [lines] if isinstance(lines, str) else list(lines)
        self.exit_code = exit_code
        self.reason = reason
        super().__init__("\n".join(self.lines))


# -- Slurm error strings (slurm_strerror), printed after "Batch job submission failed: " ----------

INVALID_PARTITION_NAME = "Invalid partition name specified"
REQUESTED_NODE_CONFIG_UNAVAILABLE = "Requested node configuration is not available"
REQUESTED_PART_CONFIG_UNAVAILABLE = "Requested partition configuration not available now"
NODE_COUNT_INVALID = "Node count specification invalid"
TOO_MANY_PROCESSORS = "More processors requested than permitted"
INVALID_TIME_LIMIT = "Requested time limit is invalid (missing or exceeds some limit)"
INVALID_JOB_ARRAY = "Invalid job array specification"
DEPENDENCY_PROBLEM = "Job dependency problem"
INVALID_FEATURE = "Invalid feature specification"
INVALID_JOB_ID = "Invalid job id specified"
ALREADY_DONE = "Job/step already completing or completed"
INVALID_TIME_LIMIT = "Requested time limit is invalid (missing or exceeds some limit)"
INVALID_GRES = "Invalid generic resource (gres) specification"
INVALID_TRES = "Invalid Trackable RESource (TRES) specification"
INVALID_ACCOUNT = "Invalid account or account/partition combination specified"
MEMORY_NOT_AVAILABLE = "Memory required by task is not available"
ACCESS_DENIED = "Access/permission denied"

# -- Slurm error strings for refused job actions (scontrol hold, release, requeue, update) -------
# A backend puts these in ControlResult.failures; scontrol prints "<reason> for job <id>".

JOB_NOT_PENDING = "Job is no longer pending execution"
JOB_PENDING = "Job is pending execution"
JOB_FINISHED = "Job has already finished"
TRANSITION_STATE_NO_UPDATE = "Job can not be altered now, try again later"
DISABLED = "Requested operation is presently disabled"
BATCH_ONLY = "Only batch jobs are accepted or processed"
JOB_HELD = "Job is in held state, pending scheduler release"

# -- detail lines sbatch prints before the "submission failed" line ------------------------------

MEMORY_UNSATISFIABLE = "Memory specification can not be satisfied"
CPUS_UNSATISFIABLE = "CPU count per node can not be satisfied"


def command_error(prog: str, msg: str, exit_code: int = 1) -> SlurmError:
    """One line, ``<prog>: error: <msg>``, as Slurm's ``error()`` prints it; exits ``exit_code``."""
    return SlurmError(f"{prog}: error: {msg}", exit_code)


def command_fatal(prog: str, msg: str, exit_code: int = 1) -> SlurmError:
    """One line, ``<prog>: fatal: <msg>``, as Slurm's ``fatal()`` prints it; exits ``exit_code``."""
    return SlurmError(f"{prog}: fatal: {msg}", exit_code)


def submit_failed(reason: str, *details: str) -> SlurmError:
    """``sbatch: error: <detail>`` lines, then ``sbatch: error: Batch job submission failed: <reason>``.

    Exit code 1, as sbatch exits after a rejected submission.
    """
    lines = [f"sbatch: error: {d}" for d in details]
    lines.append(f"sbatch: error: Batch job submission failed: {reason}")
    return SlurmError(lines, 1, reason=reason)


def invalid_partition(name: str) -> SlurmError:
    """``-p`` names a partition that does not exist (two lines, exit 1)."""
    return submit_failed(INVALID_PARTITION_NAME, f"invalid partition specified: {name}")


def memory_unsatisfiable() -> SlurmError:
    """``--mem``/``--mem-per-cpu`` larger than any node of the partition (two lines, exit 1)."""
    return submit_failed(REQUESTED_NODE_CONFIG_UNAVAILABLE, MEMORY_UNSATISFIABLE)


def cpus_unsatisfiable() -> SlurmError:
    """More CPUs per node than any node has, where the request is rejected at submit."""
    return submit_failed(REQUESTED_NODE_CONFIG_UNAVAILABLE, CPUS_UNSATISFIABLE)


def node_config_unavailable() -> SlurmError:
    """A request no node configuration can ever satisfy (no detail line)."""
    return submit_failed(REQUESTED_NODE_CONFIG_UNAVAILABLE)


def node_count_invalid() -> SlurmError:
    """``-N`` larger than the partition allows, where rejected at submit (``EnforcePartLimits``)."""
    return submit_failed(NODE_COUNT_INVALID)


def too_many_processors() -> SlurmError:
    """``-n``/``-c`` beyond what the partition allows, where rejected at submit."""
    return submit_failed(TOO_MANY_PROCESSORS)


def invalid_time_limit() -> SlurmError:
    """A time limit over the partition's MaxTime, where rejected at submit (``EnforcePartLimits``)."""
    return submit_failed(INVALID_TIME_LIMIT)


def invalid_array() -> SlurmError:
    """A bad ``--array`` (checked by the controller in Slurm, hence exit 1, not 255)."""
    return submit_failed(INVALID_JOB_ARRAY)


def dependency_problem() -> SlurmError:
    """A bad ``--dependency`` (syntax, or a job depending on itself)."""
    return submit_failed(DEPENDENCY_PROBLEM)


def invalid_feature() -> SlurmError:
    """``-C`` names a feature no node of the partition has."""
    return submit_failed(INVALID_FEATURE)


def invalid_gres() -> SlurmError:
    """A ``--gres``/``--gpus*`` request that cannot be parsed or satisfied."""
    return submit_failed(INVALID_GRES)


def kill_job_error(job_id: str, reason: str = INVALID_JOB_ID) -> str:
    """The scancel line for a job it could not cancel, e.g. an unknown id.

    ``scancel: error: Kill job error on job id 999999: Invalid job id specified``; backends put
    it in :attr:`stratus.slurm.views.CancelResult.errors`.
    """
    return f"scancel: error: Kill job error on job id {job_id}: {reason}"


def check_clusters(prog: str, value: str, cluster_name: str, from_env: bool = False) -> None:
    """``-M/--clusters``: accept ``all`` or a list naming this cluster; refuse anything else.

    The refusal is Slurm's (print_db_notok) for a cluster it cannot reach.
    """
    names = [n for n in value.split(",") if n]
    if not names or "all" in (n.lower() for n in names) or cluster_name in names:
        return
    where = "SLURM_CLUSTERS" if from_env else "--cluster"
    raise SlurmError(
        f"{prog}: error: '{value}' can't be reached now, or it is an invalid entry for {where}.  "
        "Use 'sacctmgr list clusters' to see available clusters.",
        1,
    )

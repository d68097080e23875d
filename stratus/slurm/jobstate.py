"""Job state names: long (``PENDING``), compact (``PD``), and how squeue treats each.

Slurm keeps a base state and flag bits (``CONFIGURING`` is a running job whose nodes are still
booting; ``COMPLETING`` a finished one whose processes are being cleaned up). The backend gives
one name per job; this module knows which names are flags, which count as pending or running,
and the compact spelling squeue prints.
"""

from __future__ import annotations

# Base states, in Slurm's enum order (job_state_num tries them first).
BASE_STATES: tuple[tuple[str, str], ...] = (
    ("PENDING", "PD"),
    ("RUNNING", "R"),
    ("SUSPENDED", "S"),
    ("COMPLETED", "CD"),
    ("CANCELLED", "CA"),
    ("FAILED", "F"),
    ("TIMEOUT", "TO"),
    ("NODE_FAIL", "NF"),
    ("PREEMPTED", "PR"),
    ("BOOT_FAIL", "BF"),
    ("DEADLINE", "DL"),
    ("OUT_OF_MEMORY", "OOM"),
)
# Flag states, in the order job_state_num tries them.
FLAG_STATES: tuple[tuple[str, str], ...] = (
    ("COMPLETING", "CG"),
    ("CONFIGURING", "CF"),
    ("RESIZING", "RS"),
    ("RESV_DEL_HOLD", "RD"),
    ("REQUEUED", "RQ"),
    ("REQUEUE_FED", "RF"),
    ("REQUEUE_HOLD", "RH"),
    ("REVOKED", "RV"),
    ("SIGNALING", "SI"),
    ("SPECIAL_EXIT", "SE"),
    ("STAGE_OUT", "SO"),
    ("STOPPED", "ST"),
)
COMPACT: dict[str, str] = dict(BASE_STATES + FLAG_STATES)

# States squeue lists without -t: pending, running, suspended, completing, staging out, and
# the flag states whose base state is one of those.
ACTIVE = frozenset(
    {
        "PENDING", "RUNNING", "SUSPENDED", "COMPLETING", "CONFIGURING", "STAGE_OUT", "RESIZING",
        "REQUEUED", "REQUEUE_FED", "REQUEUE_HOLD", "SPECIAL_EXIT", "STOPPED", "SIGNALING",
        "RESV_DEL_HOLD",
    }
)  # fmt: skip
# States whose base is PENDING: they show a (Reason) and no elapsed time.
PENDING_LIKE = frozenset({"PENDING", "REQUEUE_HOLD", "SPECIAL_EXIT", "RESV_DEL_HOLD", "REQUEUE_FED"})
# Finished states (base state past RUNNING) that squeue shows as "(Reason)".
REASON_SHOWN = frozenset({"STAGE_OUT", "TIMEOUT", "OUT_OF_MEMORY", "DEADLINE", "FAILED"})


def compact(state: str) -> str:
    """``PD``, ``R``, ``CF`` ...; ``?`` for an unknown name (as Slurm prints)."""
    return COMPACT.get(state, "?")


def long_name(state: str) -> str:
    """The long name as squeue prints it (the backend's name when known, else ``?``)."""
    return state if state in COMPACT else "?"


def parse_state_name(text: str) -> str | None:
    """job_state_num(): a long or compact name, any case, to the long name; None if unknown."""
    t = text.upper()
    for name, short in BASE_STATES + FLAG_STATES:
        if t in (name, short):
            return name
    return None


def valid_states_text() -> str:
    """The list squeue prints after an invalid ``-t`` value."""
    return ",".join(name for name, _ in BASE_STATES + FLAG_STATES)


def is_pending(state: str) -> bool:
    """Base state PENDING."""
    return state in PENDING_LIKE


def is_running(state: str) -> bool:
    """Base state RUNNING (CONFIGURING and the like included)."""
    return state in ("RUNNING", "CONFIGURING", "RESIZING", "SIGNALING", "STOPPED")


def is_finished(state: str) -> bool:
    """A terminal state (nothing runs or will run)."""
    return state not in ACTIVE

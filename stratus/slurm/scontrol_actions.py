"""scontrol's job actions: ``hold``, ``uhold``, ``release``, ``requeue`` and ``requeuehold``.

Guarantees: one :class:`ControlRequest` per job argument, as scontrol sends one RPC per
argument; job ids are read with scancel's parser; refusals print ``<reason> for job <id>``, and
after a failed hold or release scontrol's ``slurm_suspend error: <reason>`` follows.
"""

from __future__ import annotations

from collections.abc import Sequence

from stratus.engine.indexset import IndexSet
from stratus.slurm import jobstate
from stratus.slurm.errors import INVALID_JOB_ID, SlurmError
from stratus.slurm.scancel import parse_job_ids
from stratus.slurm.scontrol_session import Session
from stratus.slurm.views import ControlRequest, ControlResult, JobTarget

# Hold and release report a failure a second time through slurm_perror with this label.
HOLD_PERROR = "slurm_suspend error"


def _strip_job_prefix(arg: str) -> str:
    """scontrol accepts ``JobID=18`` and ``Job=18`` where a job id is expected."""
    if arg[:6].lower() == "jobid=":
        arg = arg[6:]
    if arg[:4].lower() == "job=":
        arg = arg[4:]
    return arg


def parse_targets(text: str) -> list[JobTarget] | None:
    """A job id argument (``18``, ``18_5``, ``18_[1-3]``, ``18,19``) by scancel's rules; None if bad.

    Spaces separate ids like commas, as in scontrol's own check.
    """
    words = [w for w in text.replace(" ", ",").split(",") if w]
    if not words:
        return None
    try:
        return [p.target for p in parse_job_ids([",".join(words)])]
    except SlurmError:
        return None


def report(s: Session, result: ControlResult, action: str) -> None:
    """Print a control result the way scontrol does for ``action``."""
    reasons: list[str] = []
    for line in result.errors:
        s.error(line)
        # A backend may word whole-job refusals itself ("<reason> for job <id>").
        reason, sep, _ = line.rpartition(" for job ")
        if sep:
            reasons.append(reason)
    for job_text, reason in result.failures:
        s.error(f"{reason} for job {job_text}")
        reasons.append(reason)
    if reasons and action in ("hold", "uhold", "release"):
        # slurm_perror after a failed hold or release repeats the last error.
        s.error(f"{HOLD_PERROR}: {reasons[-1]}")
    if result.exit_code:
        s.exit_code = max(s.exit_code, result.exit_code)


def job_action(s: Session, action: str, words: Sequence[str]) -> None:
    """hold / uhold / release / requeue / requeuehold: one request per job argument."""
    if len(words) < 2:
        s.error(f"too few arguments for keyword:{words[0]}")
        return
    args = list(words[1:])
    if action in ("requeue", "requeuehold"):
        # Leading flags (parse_requeue_flags) are accepted; stratus requeues the same way.
        while args and _is_requeue_flag(args[0]):
            args.pop(0)
    for arg in args:
        if action not in ("hold", "uhold", "release") and not arg:
            s.exit_code = 1
            continue
        text = _strip_job_prefix(arg)
        targets = parse_targets(text)
        if targets is None:
            if action in ("hold", "uhold", "release") and (
                text[:5].lower() == "name=" or text[:8].lower() == "jobname="
            ):
                targets = _targets_by_name(s, text.partition("=")[2])
                if not targets:
                    continue
            else:
                s.error(f"{INVALID_JOB_ID} for job {text}")
                if action in ("hold", "uhold", "release"):
                    s.error(f"{HOLD_PERROR}: {INVALID_JOB_ID}")
                continue
        result = s.backend.control(ControlRequest(action=action, targets=targets), s.ctx)
        report(s, result, action)


def _is_requeue_flag(arg: str) -> bool:
    """``Incomplete`` (any abbreviation) or ``State=SpecialExit``/``State=SE...``, as scontrol reads them."""
    low = arg.lower()
    if "incomplete".startswith(low):
        return True
    rest = low[6:] if low.startswith("state=") else None
    return rest is not None and (rest.startswith("specialexit") or rest.startswith("se"))


def _targets_by_name(s: Session, name: str) -> list[JobTarget]:
    """``hold Name=x``: every job of that name (array records as their array)."""
    out: list[JobTarget] = []
    for r in s.backend.jobs():
        if r.name != name:
            continue
        if r.array_pending is not None and r.array_job_id is not None:
            out.append(JobTarget(r.array_job_id, r.array_pending.copy()))
        elif r.array_task_id is not None and r.array_job_id is not None:
            if not jobstate.is_pending(r.state):
                continue  # started tasks are skipped silently, as scontrol does
            out.append(JobTarget(r.array_job_id, IndexSet.from_ids([r.array_task_id])))
        else:
            out.append(JobTarget(r.job_id))
    return out

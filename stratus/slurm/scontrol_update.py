"""``scontrol update``: job keys to a :class:`ControlRequest`, checked as scontrol checks them.

Guarantees: keys are matched in scontrol's order by Slurm's abbreviations and stored in Slurm's
spelling; values scontrol itself checks fail with its messages; a relative ``TimeLimit`` is
resolved against the job's current limit before the request is sent; updates of anything but
jobs are refused with a message.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from stratus.engine.indexset import IndexSet
from stratus.slurm.cparse import isdigits
from stratus.slurm.errors import INVALID_JOB_ID
from stratus.slurm.scontrol_actions import parse_targets, report
from stratus.slurm.scontrol_session import PROG, Session, kw
from stratus.slurm.scontrol_show import job_records
from stratus.slurm.timefmt import TimeSpecError, duration_mins
from stratus.slurm.views import ControlRequest, JobTarget

NICE_OFFSET = 0x80000000  # scontrol's limit for Nice= is NICE_OFFSET - 3


@dataclass(frozen=True, slots=True)
class _UpdateKey:
    """One ``scontrol update`` job key: its Slurm spelling and minimum abbreviation."""

    name: str
    min_len: int
    check: Callable[[str], str | None] | None = None  # returns an error message, or None


def _check_uint(name: str) -> Callable[[str], str | None]:
    def check(val: str) -> str | None:
        return None if isdigits(val) else f"Invalid {name} value: {val}"

    return check


def _check_num_cpus(val: str) -> str | None:
    lo, dash, hi = val.partition("-")
    ok = isdigits(lo) and int(lo) > 0 and (not dash or (isdigits(hi) and int(hi) >= int(lo)))
    return None if ok else f"Invalid NumCPUs value: {val}"


def _check_nice(val: str) -> str | None:
    digits = val.lstrip("+-")
    n = int(val) if isdigits(digits) else 0
    if abs(n) > NICE_OFFSET - 3:
        return f"Nice value out of range (+/- {NICE_OFFSET - 3}). Value ignored"
    return None


def _check_yes_no(name: str) -> Callable[[str], str | None]:
    def check(val: str) -> str | None:
        v = val.lower()
        if v and ("yes".startswith(v) or "no".startswith(v) or isdigits(v)):
            return None
        return f"Invalid {name} value: {val}"

    return check


# In scontrol's order (update_job.c): the first key the tag abbreviates wins.
UPDATE_KEYS: tuple[_UpdateKey, ...] = (
    _UpdateKey("JobId", 3),
    _UpdateKey("AdminComment", 6),
    _UpdateKey("SiteFactor", 5),
    _UpdateKey("ArrayTaskThrottle", 10, _check_uint("ArrayTaskThrottle")),
    _UpdateKey("Comment", 3),
    _UpdateKey("Clusters", 8),
    _UpdateKey("ClusterFeatures", 8),
    _UpdateKey("DelayBoot", 5),
    _UpdateKey("TimeLimit", 5),
    _UpdateKey("TimeMin", 5),
    _UpdateKey("Priority", 2, _check_uint("Priority")),
    _UpdateKey("Nice", 2, _check_nice),
    _UpdateKey("CPUsPerTask", 9, _check_uint("CPUsPerTask")),
    _UpdateKey("CpusPerTres", 9),
    _UpdateKey("NumCPUs", 6, _check_num_cpus),
    _UpdateKey("NumTasks", 8, _check_uint("NumTasks")),
    _UpdateKey("ReqProcs", 8, _check_uint("NumTasks")),
    _UpdateKey("Requeue", 4, _check_uint("Requeue")),
    _UpdateKey("ReqNodes", 8),
    _UpdateKey("NumNodes", 8),
    _UpdateKey("ReqSockets", 4, _check_uint("ReqSockets")),
    _UpdateKey("ReqCores", 4, _check_uint("ReqCores")),
    _UpdateKey("TasksPerNode", 2, _check_uint("TasksPerNode")),
    _UpdateKey("ReqThreads", 4, _check_uint("ReqThreads")),
    _UpdateKey("MinCPUsNode", 4, _check_uint("MinCPUsNode")),
    _UpdateKey("MinMemoryNode", 10, _check_uint("MinMemoryNode")),
    _UpdateKey("MinMemoryCPU", 10, _check_uint("MinMemoryCPU")),
    _UpdateKey("MinTmpDiskNode", 5, _check_uint("MinTmpDiskNode")),
    _UpdateKey("Partition", 2),
    _UpdateKey("QOS", 2),
    _UpdateKey("ReservationName", 3),
    _UpdateKey("Name", 2),
    _UpdateKey("JobName", 4),
    _UpdateKey("WCKey", 1),
    _UpdateKey("StdOut", 6),
    _UpdateKey("Switches", 5),
    _UpdateKey("wait-for-switch", 5, _check_uint("wait-for-switch")),
    _UpdateKey("OverSubscribe", 2, _check_yes_no("OverSubscribe")),
    _UpdateKey("Shared", 2, _check_yes_no("OverSubscribe")),
    _UpdateKey("Contiguous", 3, _check_yes_no("Contiguous")),
    _UpdateKey("CoreSpec", 4),
    _UpdateKey("MemPerTres", 5),
    _UpdateKey("ThreadSpec", 4),
    _UpdateKey("TresBind", 5),
    _UpdateKey("TresFreq", 5),
    _UpdateKey("TresPerJob", 8),
    _UpdateKey("TresPerNode", 8),
    _UpdateKey("TresPerSocket", 8),
    _UpdateKey("TresPerTask", 8),
    _UpdateKey("ExcNodeList", 3),
    _UpdateKey("NodeList", 8),
    _UpdateKey("ReqNodeList", 8),
    _UpdateKey("Features", 1),
    _UpdateKey("Prefer", 3),
    _UpdateKey("Gres", 2),
    _UpdateKey("Account", 1),
    _UpdateKey("BurstBuffer", 1),
    _UpdateKey("Dependency", 1),
    _UpdateKey("Licenses", 1),
    _UpdateKey("EligibleTime", 2),
    _UpdateKey("StartTime", 2),
    _UpdateKey("EndTime", 2),
    _UpdateKey("Reboot", 3, _check_yes_no("reboot")),
    _UpdateKey("UserID", 3),
    _UpdateKey("Deadline", 3),
    _UpdateKey("WorkDir", 2),
    _UpdateKey("MailType", 5),
    _UpdateKey("MailUser", 5),
)
# Spellings that name the same setting.
_CANONICAL = {"Name": "JobName", "ReqProcs": "NumTasks", "ReqNodes": "NumNodes", "Shared": "OverSubscribe",
              "ReqNodeList": "NodeList", "StartTime": "EligibleTime"}  # fmt: skip


def _match_update_key(tag: str) -> _UpdateKey | None:
    return next((k for k in UPDATE_KEYS if kw(tag, k.name, k.min_len)), None)


def parse_update(words: Sequence[str]) -> tuple[ControlRequest | None, list[str]]:
    """``update JobId=18 TimeLimit=1:00:00 ...`` to a request, or (None, error lines).

    Keys are matched as scontrol matches them (any case, Slurm's abbreviations, ``Key Value``
    as two words) and stored in Slurm's spelling with the value as given. Values scontrol
    checks itself are checked here, with its messages. A relative ``TimeLimit`` (``+=10``,
    ``=+10``, ``-=5``, ``=-5``) is stored as ``+N``/``-N`` minutes for :func:`run_scontrol` to
    resolve against the job's current limit, as scontrol does before sending the update.
    ``UserID=`` only narrows a ``JobName=`` lookup and is kept under ``UserID``.
    """
    fields: dict[str, str] = {}
    job_text: str | None = None
    i = 0
    while i < len(words):
        word = words[i]
        tag, eq, val = word.partition("=")
        sign = ""
        if eq:
            if len(tag) > 1 and tag[-1] in "+-":
                sign, tag = tag[-1], tag[:-1]
        elif kw(word, "Nice", 2):
            fields["Nice"] = "100"
            i += 1
            continue
        elif kw(word, "ResetAccrueTime", 3):
            fields["ResetAccrueTime"] = ""
            i += 1
            continue
        elif i + 1 < len(words):
            val = words[i + 1]
            i += 1
        else:
            return None, [f"Invalid input: {word}", "Request aborted"]
        i += 1
        key = _match_update_key(tag)
        if key is None:
            return None, [f"Update of this parameter is not supported: {word}", "Request aborted"]
        if key.name == "JobId":
            job_text = val
        elif key.name == "TimeLimit":
            if val[:1] in ("+", "-"):
                if sign:
                    return None, [f"{PROG}: error: Invalid syntax, variations of +=- are not accepted."]
                sign, val = val[0], val[1:]
            try:
                minutes = duration_mins(val)
            except TimeSpecError:
                return None, [f"{PROG}: error: Invalid TimeLimit value"]
            if sign:
                if job_text is None:
                    return None, [f"{PROG}: error: JobId must precede TimeLimit increment or decrement"]
                fields["TimeLimit"] = f"{sign}{minutes if minutes is not None else 'UNLIMITED'}"
                sign = ""
            else:
                fields["TimeLimit"] = val
        elif key.name == "UserID":
            fields["UserID"] = val
        else:
            if key.check is not None:
                msg = key.check(val)
                if msg is not None:
                    return None, [f"{PROG}: error: {msg}"]
            fields[_CANONICAL.get(key.name, key.name)] = val
        if sign and key.name != "AdminComment":
            return None, [f"{PROG}: error: Option {word} does not accept [+|-]= syntax"]
    if not [k for k in fields if k != "UserID"]:
        return None, ["No changes specified"]
    if job_text is None:
        if "JobName" not in fields:
            return None, [f"{PROG}: error: No job ID specified"]
        return ControlRequest(action="update", fields=fields), []
    targets = parse_targets(job_text)
    if targets is None:
        return None, [f"{INVALID_JOB_ID} for job {job_text}"]
    req = ControlRequest(action="update", targets=targets, fields=fields)
    if "TimeLimit" in fields and fields["TimeLimit"][:1] in ("+", "-"):
        req.fields["JobId"] = job_text  # the relative limit is resolved against this job
    return req, []


def _resolve_relative_limit(s: Session, req: ControlRequest) -> bool:
    """Turn ``TimeLimit=+N``/``-N`` into an absolute limit from the job's current one.

    scontrol does this itself (_get_job_time) before sending the update; errors are its own.
    """
    job_text = req.fields.pop("JobId", "")
    rel = req.fields.get("TimeLimit", "")
    if rel[:1] not in ("+", "-"):
        return True
    head, us, tail = job_text.partition("_")
    if not isdigits(head) or (us and not isdigits(tail)):
        s.error(f"{PROG}: error: Invalid job ID {job_text}", always=True)
        return False
    records = job_records(list(s.backend.jobs()), int(head))
    if not records:
        s.error(f"{PROG}: error: Could not load state information for job {job_text}: {INVALID_JOB_ID}",
                always=True)  # fmt: skip
        return False
    task = int(tail) if us else None
    if len(records) > 1 and task is None:
        s.error(f"{PROG}: error: TimeLimit increment/decrement not supported for job arrays", always=True)
        return False
    match = next(
        (
            r
            for r in records
            if task is None
            or r.array_task_id == task
            or (r.array_pending is not None and task in r.array_pending)
        ),
        None,
    )
    if match is None:
        s.exit_code = 1
        return False
    delta = rel[1:]
    if match.time_limit_min is None or delta == "UNLIMITED":
        req.fields["TimeLimit"] = "UNLIMITED"
        return True
    current, change = match.time_limit_min, int(delta)
    if rel[0] == "+":
        req.fields["TimeLimit"] = str(current + change)
    elif change > current:
        s.error(
            f"{PROG}: error: TimeLimit decrement larger than current time limit ({change} > {current})",
            always=True,
        )
        return False
    else:
        req.fields["TimeLimit"] = str(current - change)
    return True


def run_update(s: Session, words: Sequence[str]) -> None:
    if len(words) < 2:
        s.error(f"too few arguments for {words[0]} keyword", always=True)
        return
    args = list(words[1:])
    entity = _update_entity(args)
    if entity is None:
        for line in (
            "No valid entity in update command",
            'Input line must include "NodeName", "PartitionName", "Reservation", '
            '"JobId", or "SlurmctldDebug"',
        ):
            s.error(line, always=True)
        return
    if entity != "job":
        s.error(f"{PROG}: error: scontrol update of {entity} is not supported by stratus", always=True)
        return
    req, errs = parse_update(args)
    if req is None:
        for line in errs:
            s.error(line, always=True)
        return
    if not _resolve_relative_limit(s, req):
        return
    user = req.fields.pop("UserID", None)
    if not req.targets:
        # JobName= without JobId=: the jobs of that name (_job_name2id), of one user if UserID= given.
        name = req.fields["JobName"]
        targets = [
            JobTarget(r.array_job_id, IndexSet.from_ids([r.array_task_id]))
            if r.array_job_id is not None and r.array_task_id is not None
            else JobTarget(r.job_id)
            for r in s.backend.jobs()
            if r.name == name and (user is None or user in (r.user, str(r.uid)))
        ]
        if not targets:
            who = "" if user is None else f"user ID {user} and "
            s.error(f"{PROG}: error: No jobs with {who}name '{name}'", always=True)
            return
        req.targets = targets
    report(s, s.backend.control(req, s.ctx), "update")


def _update_entity(args: Sequence[str]) -> str | None:
    """Which entity an update names (scontrol's _update_it): job first, then the others."""
    found: set[str] = set()
    i = 0
    while i < len(args):
        tag, eq, _ = args[i].partition("=")
        if not eq:
            i += 1  # "Key Value": the next word is the value
        if kw(tag, "NodeName", 3):
            found.add("nodes")
        elif kw(tag, "PartitionName", 3):
            found.add("partitions")
        elif kw(tag, "JobId", 3) or kw(tag, "JobNAME", 3):
            found.add("job")
        elif kw(tag, "StepId", 4):
            found.add("steps")
        elif kw(tag, "FrontendName", 2):
            found.add("front end nodes")
        elif kw(tag, "ReservationName", 3):
            found.add("reservations")
        elif kw(tag, "SlurmctldDebug", 2):
            found.add("the controller's debug level")
        i += 1
    for entity in ("job", "steps", "reservations", "nodes", "front end nodes", "partitions",
                   "the controller's debug level"):  # fmt: skip
        if entity in found:
            return entity
    return None

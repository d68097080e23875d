"""Slurm's ``Dependency=`` text (``scontrol show job``, ``squeue -o %E``) from the engine's status.

The engine reports the conditions of a job that still stand, each with its state
(``Engine.dependency_status``: ``unfulfilled`` or ``failed``); this module words them as Slurm
does: ``afterok:12(unfulfilled),singleton(unfulfilled)``, conditions in the order they were given,
joined by ``,`` (all must hold) or ``?`` (any one suffices). A task is ``12_3``, every task of an
array ``12_*``; an ``after`` delay is ``+<minutes>``.
"""

from __future__ import annotations

from collections.abc import Sequence

from stratus.engine.model import DepCondition


def dependency_text(status: Sequence[tuple[DepCondition, str]], any_of: bool) -> str | None:
    """The ``Dependency=`` text of the conditions in ``status``; None when none stands.

    Slurm shows a standing ``singleton`` as unfulfilled whatever the engine says about it.
    """
    parts = []
    for c, state in status:
        if c.kind == "singleton":
            parts.append("singleton(unfulfilled)")
            continue
        target = str(c.job_id)
        if c.task_id is not None:
            target += "_*" if c.task_id < 0 else f"_{c.task_id}"
        delay = f"+{int(c.delay_s // 60)}" if c.delay_s else ""
        parts.append(f"{c.kind}:{target}{delay}({state})")
    return ("?" if any_of else ",").join(parts) or None

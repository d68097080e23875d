"""The cluster service: authorization in one place, nothing changed by a refused request,
everything stored before an answer, and the journal as an event feed.

Driven directly (no front door) on a real in-process head node.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from stratus.engine.model import JobSpec
from stratus.service.model import AccessDenied, Identity, Payload, Problem, Submission, Target
from stratus.service.service import ClusterService
from tests.controller.inprocess import RecordingProvider, head_node

ALICE = Identity("alice", 1000, 1000)
BOB = Identity("bob", 1001, 1001)
ROOT = Identity("root", 0, 0)


def _submission(who: Identity, name: str = "job", *, hold: bool = True, **spec_fields: Any) -> Submission:
    spec = JobSpec(name=name, user=who.user, uid=who.uid, gid=who.gid, **spec_fields)
    return Submission(spec, Payload("test", {"workdir": "/tmp"}, "#!/bin/sh\ntrue\n", {}), hold=hold)


async def _scenario(tmp_path: Path) -> None:
    async with head_node(tmp_path, RecordingProvider()) as head:
        service: ClusterService = head.service
        store = head.controller.store

        # Nobody submits as someone else (root may).
        with pytest.raises(AccessDenied):
            service.submit(_submission(ALICE), BOB)
        job = service.submit(_submission(ALICE), ALICE)
        assert service.submit(_submission(BOB, "for-bob"), ROOT) > job
        with store.reading() as conn:
            info, script, _ = store.load_payload(conn, job)
        assert info["door"] == "test" and script.startswith("#!/bin/sh")  # stored, tagged

        # Another user is refused, per target, and nothing changes; unknown ids are named.
        seq = service.events()[-1][0]
        for results in (
            service.cancel([Target(job), Target(999_999)], BOB),
            service.hold([Target(job)], BOB, held=False),
            service.requeue([Target(job)], BOB),
            service.update([Target(job)], BOB, {"nice": 5}),
        ):
            assert results[0].problem == Problem.DENIED
        assert service.cancel([Target(999_999)], BOB)[0].problem == Problem.NOT_FOUND
        record = service.job(job)
        assert record is not None and record.state == "PENDING" and record.held and record.spec.nice == 0
        assert service.events(seq) == []  # no transition was journaled

        # The owner acts, and what changed is journaled before the call returns.
        (released,) = service.hold([Target(job)], ALICE, held=False)
        assert released.problem is None and released.acted == 1
        (cancelled,) = service.cancel([Target(job)], ALICE)
        assert cancelled.problem is None and cancelled.acted == 1
        feed = service.events(seq)
        assert [(t.key, t.new) for _, t in feed][-1] == (str(job), "CANCELLED")
        assert [s for s, _ in feed] == sorted(s for s, _ in feed)  # the cursor only moves on
        (again,) = service.cancel([Target(job)], ALICE)
        assert again.problem == Problem.ALREADY_DONE

        # Root acts on anyone's job.
        other = max(j.id for j in service.jobs())
        assert service.cancel([Target(other)], ROOT)[0].problem is None

        # Users may ask for less, never more: a longer time limit, a negative nice are the
        # administrators' (as in Slurm); the owner of the cluster is one of them.
        mine = service.submit(_submission(ALICE, "limited", time_limit_s=600), ALICE)
        for changes in ({"time_limit_s": 1200}, {"time_limit_s": None}, {"nice": -5}):
            assert service.update([Target(mine)], ALICE, changes)[0].problem == Problem.DENIED, changes
        assert service.update([Target(mine)], ALICE, {"time_limit_s": 300, "nice": 5})[0].problem is None
        owner = Identity("owner", 1002, 1002, admin=True)
        assert service.update([Target(mine)], owner, {"time_limit_s": 3600, "nice": -5})[0].problem is None
        eager = _submission(ALICE, "eager", nice=-1)
        with pytest.raises(AccessDenied):
            service.submit(eager, ALICE)
        assert service.submit(eager, ROOT) > mine


def test_the_service_authorizes_in_one_place_and_stores_before_answering(tmp_path: Path) -> None:
    asyncio.run(_scenario(tmp_path))

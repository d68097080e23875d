"""Whose rights a job runs with: the agent never runs a job as anyone but its user."""

from __future__ import annotations

import os
import pwd

import pytest

from stratus.agent.users import RefusedUser, RunAs, append_as, run_as


def _unknown_uid() -> int:
    uid = 54321
    while True:
        try:
            pwd.getpwuid(uid)
        except KeyError:
            return uid
        uid += 1


def test_the_agents_own_user_runs_as_it_is() -> None:
    me = os.geteuid()
    who = run_as("me", me, os.getegid(), "n1")
    assert who.uid == me and not who.switch and who.popen() == {}  # nothing to drop


def test_a_user_the_node_does_not_know_is_refused() -> None:
    uid = _unknown_uid()
    with pytest.raises(RefusedUser, match=rf"(unknown on node n1|runs jobs as uid {os.geteuid()} only)"):
        run_as("ghost", uid, uid, "n1")
    if os.geteuid() == 0:
        with pytest.raises(RefusedUser, match="names no user"):
            run_as("", -1, -1, "n1")


@pytest.mark.skipif(os.geteuid() != 0, reason="only root drops to another user")
def test_root_drops_to_the_jobs_user_with_their_groups() -> None:
    nobody = pwd.getpwnam("nobody")
    who = run_as("nobody", nobody.pw_uid, nobody.pw_gid, "n1")
    assert who.switch and who.popen()["user"] == nobody.pw_uid and who.popen()["group"] == nobody.pw_gid
    assert nobody.pw_gid not in who.groups  # the primary group is set apart


def test_courtesy_lines_are_appended_with_the_users_rights(tmp_path: os.PathLike[str]) -> None:
    path = os.path.join(tmp_path, "err")
    same = RunAs("me", os.geteuid(), os.getegid())
    assert append_as(same, path, "line\n") is None
    with open(path) as f:
        assert f.read() == "line\n"
    if os.geteuid() == 0:
        # As root, a child running as the user appends: it cannot write where the user could not.
        nobody = pwd.getpwnam("nobody")
        other = run_as("nobody", nobody.pw_uid, nobody.pw_gid, "n1")
        proc = append_as(other, path, "more\n")
        assert proc is not None and proc.wait(timeout=10) != 0
        with open(path) as f:
            assert f.read() == "line\n"

"""Whose rights a job runs with on this node.

Guarantees:

* An agent running as root runs every job (its batch script, its steps' tasks) as the job's
  user: the user's uid, primary gid and supplementary groups (as this node's user database
  lists them) are set in the child before anything of the job runs. Everything the job opens
  or creates (its ``-o``/``-e`` files, its working directory) is then opened with the user's
  rights, and is theirs.
* An agent running as an ordinary user runs only that user's jobs; any other job is refused.
* A user this node does not know is refused (as slurmd refuses one), never run as some
  other identity.

The head node names the user (the job's owner, as its API authenticated them); the agent drops
to them itself, so the same holds wherever the node runs.
"""

from __future__ import annotations

import os
import pwd
import subprocess
from dataclasses import dataclass
from typing import Any


class RefusedUser(Exception):
    """A job this node cannot run as its user; the message says why."""


@dataclass(frozen=True, slots=True)
class RunAs:
    """The identity a job's processes get. ``switch``: the agent is root and sets it in the child."""

    user: str
    uid: int
    gid: int
    groups: tuple[int, ...] = ()
    switch: bool = False

    def popen(self) -> dict[str, Any]:
        """The ``subprocess.Popen`` arguments that start a process as this identity."""
        if not self.switch:
            return {}
        return {"user": self.uid, "group": self.gid, "extra_groups": list(self.groups)}

    def chown(self, path: str) -> None:
        """Give ``path`` (made by the agent for the job, such as its script) to the job's user."""
        if self.switch:
            os.chown(path, self.uid, self.gid)


def run_as(user: str, uid: int, gid: int, node: str) -> RunAs:
    """Whose rights a job of ``user`` (``uid``, ``gid``) gets here; :class:`RefusedUser` if none."""
    me = os.geteuid()
    if uid == me:
        return RunAs(user, uid, gid)  # the agent's own user: nothing to drop
    if me != 0:
        if uid != me:
            raise RefusedUser(
                f"node {node} runs jobs as uid {me} only, not {user} (uid {uid}): "
                "a cluster shared by several users has a head node run by root"
            )
        return RunAs(user, uid, gid)
    if uid < 0 or gid < 0:
        raise RefusedUser("the job names no user to run as")
    try:
        entry = pwd.getpwuid(uid)
    except KeyError:
        raise RefusedUser(f"user {user} (uid {uid}) is unknown on node {node}") from None
    groups = tuple(g for g in os.getgrouplist(entry.pw_name, gid) if g != gid)
    return RunAs(entry.pw_name, uid, gid, groups, switch=True)


# Appends its first argument to the file named by the second, as whoever runs it.
_APPEND = 'printf "%s" "$1" >>"$2"'


def append_as(who: RunAs, path: str, text: str) -> subprocess.Popen[bytes] | None:
    """Append ``text`` to the job's file ``path`` with the job user's rights.

    As root, a child process running as the user does it (root itself must not open a path the
    user controls: it could be a link to any file); the child is returned for the caller to reap
    (:func:`reap`). Otherwise the file is appended here. Failures are ignored: these are
    courtesy lines.
    """
    if not who.switch:
        try:
            with open(path, "ab") as f:
                f.write(text.encode("utf-8", "surrogateescape"))
        except OSError:
            pass
        return None
    try:
        return subprocess.Popen(
            ["/bin/sh", "-c", _APPEND, "slurmstepd", text, path],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            cwd="/",
            close_fds=True,
            **who.popen(),
        )
    except OSError:
        return None


def reap(child: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    """Wait for an :func:`append_as` child; one still blocked after ``timeout`` (its file is a
    FIFO nobody reads) is killed. Blocking: run it in a thread."""
    try:
        child.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait()

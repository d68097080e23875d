"""A site's own slurm.conf (``Stratus.ExistingSlurm``), as a node of another machine runs on it.

The site's hosts read its slurm.conf from their disks; a node stratus launches on another
machine (an ssh host, an EC2 instance) has none, so the head node sends it one when it joins:

* :func:`flatten`: the site's slurm.conf with each ``Include`` line replaced by the files it
  names (relative names from the including file's directory, glob patterns as Slurm expands
  them), read when the node joins, so that it holds the lines the site added last (stratus's
  ``burst.conf`` among them).
* :func:`localize`: the lines naming a path of the host slurmd runs on (``AuthInfo``'s munged
  socket, ``SlurmdSpoolDir``, ``SlurmdPidFile``, ``SlurmdLogFile``) replaced by the node's own,
  in its agent's daemon directory; every other line as the site wrote it.
* :data:`COMPANIONS`: the files Slurm reads next to slurm.conf that travel with it when the site
  has them.

Neither touches the site's files.
"""

from __future__ import annotations

import glob
import re
from pathlib import Path

#: Files Slurm looks for in slurm.conf's directory that a node needs as the site has them.
COMPANIONS = ("gres.conf", "cgroup.conf", "topology.conf", "acct_gather.conf", "job_container.conf")

#: Settings whose value is a path on the host slurmd runs on, replaced by :func:`localize`.
NODE_KEYS = ("authinfo", "slurmdspooldir", "slurmdpidfile", "slurmdlogfile")

#: How deep Include lines may nest (Slurm's own limit is of this order).
MAX_DEPTH = 8

_INCLUDE = re.compile(r"^\s*include\s+(\S.*?)\s*$", re.IGNORECASE)


class SiteConfError(Exception):
    """The site's slurm.conf (or a file it includes) cannot be read."""


def flatten(path: Path, skip: Path | None = None, _depth: int = 0) -> str:
    """The text of slurm.conf ``path`` with its ``Include`` lines replaced by what they name.
    ``skip``: a file left out wherever it is included (its lines are not replaced by anything).
    Raises :class:`SiteConfError` naming the file that cannot be read or nests too deep."""
    if _depth > MAX_DEPTH:
        raise SiteConfError(f"{path}: Include lines nest more than {MAX_DEPTH} deep")
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise SiteConfError(f"cannot read {path}: {exc}") from exc
    out: list[str] = []
    for line in text.splitlines():
        found = _INCLUDE.match(line)
        if found is None:
            out.append(line)
            continue
        pattern = found.group(1)
        if not pattern.startswith("/"):
            pattern = str(path.parent / pattern)
        names = sorted(glob.glob(pattern)) if glob.has_magic(pattern) else [pattern]
        out.append(f"# {line.strip()}")
        for name in names:
            included = Path(name)
            if skip is not None and included.resolve() == skip.resolve():
                continue
            out.append(flatten(included, skip, _depth + 1).rstrip("\n"))
    return "\n".join(out) + "\n"


def _key(line: str) -> str:
    """The (lower-case) key of a ``Key=value`` line; "" for comments and other lines."""
    stripped = line.strip()
    if not stripped or stripped.startswith("#") or "=" not in stripped:
        return ""
    return stripped.split("=", 1)[0].strip().lower()


def has_setting(text: str, key: str) -> bool:
    """Whether slurm.conf ``text`` sets ``key`` (case-insensitive)."""
    return any(_key(line) == key.lower() for line in text.splitlines())


def localize(text: str, directory: str, munge_socket: str) -> str:
    """slurm.conf ``text`` for a node whose daemons live in ``directory`` and whose munged
    listens on ``munge_socket``: the site's ``AuthInfo`` options kept but its ``socket=``, and
    slurmd's spool, pid and log files in ``directory`` (``%n``-named, as several nodes may share
    a host)."""
    auth: list[str] = []
    out: list[str] = []
    for line in text.splitlines():
        key = _key(line)
        if key not in NODE_KEYS:
            out.append(line)
            continue
        if key == "authinfo":
            value = line.split("=", 1)[1].split("#", 1)[0].strip()
            auth = [o for o in value.split(",") if o and not o.strip().lower().startswith("socket=")]
        out.append(f"# (for this node below) {line.strip()}")
    d = directory.rstrip("/")
    out += [
        "# This node's own paths (stratus):",
        f"AuthInfo={','.join([*auth, f'socket={munge_socket}'])}",
        f"SlurmdSpoolDir={d}/%n",
        f"SlurmdPidFile={d}/slurmd-%n.pid",
        f"SlurmdLogFile={d}/slurmd-%n.log",
    ]
    return "\n".join(out) + "\n"

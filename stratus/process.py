"""Starting stratus's own long-lived processes (head nodes, node agents)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path


def package_root() -> str:
    """The directory that holds the ``stratus`` package being run."""
    return str(Path(__file__).resolve().parents[1])


def spawn_detached(
    module: str,
    args: list[str],
    log: Path,
    *,
    extra_env: Mapping[str, str] | None = None,
    python: str | None = None,
) -> subprocess.Popen[bytes]:
    """Run ``python -m module args`` in a session of its own, output appended to ``log``.

    The child imports this very stratus, wherever it is installed (``PYTHONPATH`` is set), and
    outlives its parent: it is not in the parent's session or process group.
    """
    env = dict(os.environ)
    env.update(extra_env or {})
    env["PYTHONPATH"] = package_root() + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    with open(log, "ab") as out:
        return subprocess.Popen(
            [python or sys.executable, "-m", module, *args],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=out,
            start_new_session=True,
            close_fds=True,
            env=env,
            cwd="/",
        )

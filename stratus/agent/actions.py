"""ParallelCluster's CustomActions on a node: scripts it runs as it boots, before it joins.

``OnNodeStart`` scripts run first, then ``OnNodeConfigured`` ones, each with its arguments, in
the order the configuration gives, as the agent's user (root on a shared install, as
ParallelCluster runs them), their output in the node's log. A script is a path on the node,
a ``file://`` URL or an ``http(s)://`` URL (downloaded first). The first failure stops the boot:
the node reports it to the head node as ParallelCluster names it
(``OnNodeStartDownloadFailure``, ``OnNodeStartExecutionFailure``, and ``OnNodeConfigured...``),
and the head node fails the node, as a failed bootstrap.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile

EVENTS = ("OnNodeStart", "OnNodeConfigured")


def run_actions(actions: dict[str, list[list[str]]]) -> str:
    """Run every script of ``actions``; "" when all succeeded, else why the first one failed."""
    for event in EVENTS:
        for script, *args in actions.get(event, []):
            try:
                path, temporary = _fetch(script)
            except OSError as exc:
                return f"{event}DownloadFailure: cannot get {script}: {exc}"
            try:
                argv = [path, *args] if os.access(path, os.X_OK) else ["/bin/sh", path, *args]
                code = subprocess.run(
                    argv, stdin=subprocess.DEVNULL, stdout=sys.stderr, stderr=sys.stderr, check=False
                ).returncode
            except OSError as exc:
                return f"{event}ExecutionFailure: cannot run {script}: {exc}"
            finally:
                if temporary:
                    os.unlink(path)
            if code != 0:
                return f"{event}ExecutionFailure: {script} exited with status {code}"
    return ""


def _fetch(script: str) -> tuple[str, bool]:
    """A local path to ``script``, and whether it is a temporary copy to remove after."""
    if script.startswith("file://"):
        return script[len("file://") :], False
    if script.startswith(("http://", "https://")):
        import urllib.request

        with urllib.request.urlopen(script, timeout=60) as answer:  # the administrator's URL
            data = answer.read()
        fd, path = tempfile.mkstemp(prefix="custom-action-")
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        return path, True
    if "://" in script:
        raise OSError(f"this node cannot fetch {script.split('://', 1)[0]}:// URLs")
    if not os.path.exists(script):
        raise OSError("no such file")
    return script, False

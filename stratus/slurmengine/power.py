"""Slurm's ResumeProgram, SuspendProgram and ResumeFailProgram for a cluster whose engine is Slurm.

``<cluster>/slurm/bin/resume <hostlist>`` and ``.../suspend <hostlist>`` (written by the head
node, see :mod:`stratus.slurmengine.head`) call this with the cluster's directory, the action and
the node names slurmctld gives as one hostlist. It asks the head node, which launches or retires
the nodes through its providers and records them: this program writes nothing itself, so a
head node that restarts finds every request it acknowledged in its own state.

It answers slurmctld quickly: the launch goes on in the head node. Exit status 0 when the head
node took the request, 1 otherwise (slurmctld logs it; nodes it asked for and that never come
up reach ResumeTimeout, as with any launch that fails). Each call is logged, with its outcome, in
``<cluster>/slurm/log/power.log``.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

#: How long the head node has to answer.
TIMEOUT_S = 60.0


def _log(cluster: Path, line: str) -> None:
    try:
        with open(cluster / "slurm" / "log" / "power.log", "a") as f:
            f.write(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} [{os.getpid()}] {line}\n")
    except OSError:
        pass


def main(argv: list[str] | None = None) -> int:
    """``main([cluster_dir, "resume"|"suspend", hostlist, ...])``: the exit status."""
    # slurmctld runs its power programs with most signals blocked, and children inherit the mask.
    import signal

    signal.pthread_sigmask(signal.SIG_SETMASK, [])
    args = sys.argv[1:] if argv is None else argv
    if len(args) < 2 or args[1] not in ("resume", "suspend"):
        print("usage: power CLUSTER_DIR resume|suspend HOSTLIST", file=sys.stderr)
        return 2
    cluster, action, names = Path(args[0]), args[1], ",".join(args[2:])
    if not names:
        return 0
    import httpx

    from stratus.paths import ClusterPaths, read_endpoint, read_token

    paths = ClusterPaths(cluster)
    try:
        host, port, _ = read_endpoint(paths)
        r = httpx.post(
            f"http://{host}:{port}/slurmengine/v1/power",
            json={"action": action, "nodes": names},
            headers={"Authorization": f"Bearer {read_token(paths)}"},
            timeout=TIMEOUT_S,
        )
    except (OSError, ValueError, httpx.HTTPError) as exc:
        _log(cluster, f"{action} {names}: the head node did not answer: {exc}")
        return 1
    _log(cluster, f"{action} {names}: HTTP {r.status_code} {r.text.strip()}")
    return 0 if r.status_code == 200 else 1


if __name__ == "__main__":
    sys.exit(main())

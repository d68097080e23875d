"""``salloc``: get a job allocation, run a command (a shell by default) in it, release it.

The allocation is an interactive job: the head node grants it like any job (its nodes power up
if needed) but launches nothing; this client runs the command with the allocation's ``SLURM_*``
environment, so ``srun`` inside it runs steps on the allocated nodes. While the command runs,
salloc tells the head node it is alive; if salloc disappears, the head node cancels the
allocation after a minute. When the command ends, the job ends with the command's exit code.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import subprocess
import sys
import threading
import time
from typing import Any

from stratus.net import connect_unix

HEARTBEAT_S = 10.0


class _UnixConnection(http.client.HTTPConnection):
    """HTTP over the head node's unix socket, where the kernel tells it who this process runs as."""

    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self.path = path

    def connect(self) -> None:
        self.sock = connect_unix(self.path, self.timeout or 60.0)


class Head:
    """The cluster's head node, as these clients talk to it: over its unix socket.

    No credential is sent: the head node learns this process's user from the kernel.
    """

    def __init__(self, cluster_dir: str) -> None:
        self.socket = os.path.join(cluster_dir, "api.sock")

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> tuple[int, dict[str, Any]]:
        conn = _UnixConnection(self.socket, timeout=60)
        try:
            conn.request(
                method,
                path,
                json.dumps(body) if body is not None else None,
                {"Content-Type": "application/json"},
            )
            r = conn.getresponse()
            return r.status, json.loads(r.read() or b"{}")
        finally:
            conn.close()


def allocate(head: Head, prog: str, argv: list[str]) -> tuple[int, list[str], dict[str, str]]:
    """Queue an allocation and wait until it is granted: (job id, command, SLURM_* environment).

    Prints what salloc/srun print while waiting. Exits the process (code 1) if it is refused
    or ends before it is granted.
    """
    body = {
        "prog": prog,
        "argv": argv,
        "cwd": os.getcwd(),
        "env": dict(os.environ),
        "host": os.uname().nodename,
        "umask": _umask(),
    }
    status, reply = head.call("POST", "/slurm/v1/allocations", body)
    if status != 200:
        sys.stderr.write(str(reply.get("message", f"{prog}: error: HTTP {status}")) + "\n")
        sys.exit(int(reply.get("exit_code", 1)))
    job_id = int(reply["job_id"])
    if prog == "salloc":
        sys.stderr.write(f"salloc: Pending job allocation {job_id}\n")
    said_waiting = False
    delay = 0.05
    while True:
        _, state = head.call("GET", f"/slurm/v1/allocations/{job_id}")
        if state.get("state") == "RUNNING" and "env" in state:
            break
        if state.get("state") not in ("PENDING", "CONFIGURING"):
            sys.stderr.write(f"{prog}: error: Job allocation {job_id} has been revoked.\n")
            sys.exit(1)
        if not said_waiting and state.get("state") == "PENDING" and delay > 0.2:
            sys.stderr.write(f"{prog}: job {job_id} queued and waiting for resources\n")
            said_waiting = True
        time.sleep(delay)
        delay = min(delay * 1.5, 1.0)
    if said_waiting or prog == "salloc":
        sys.stderr.write(f"{prog}: job {job_id} has been allocated resources\n")
    if prog == "salloc":
        sys.stderr.write(f"salloc: Granted job allocation {job_id}\n")
    return job_id, list(reply.get("command") or []), dict(state["env"])


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


class KeepAlive(threading.Thread):
    """Tells the head node this client is alive; notices when the allocation is revoked."""

    def __init__(self, head: Head, job_id: int) -> None:
        super().__init__(daemon=True)
        self.head, self.job_id = head, job_id
        self.revoked = threading.Event()
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(HEARTBEAT_S):
            try:
                _, state = self.head.call("GET", f"/slurm/v1/allocations/{self.job_id}")
            except (OSError, ValueError):
                continue  # the head node may be restarting: keep the allocation
            if state.get("state") not in ("RUNNING", "CONFIGURING", "PENDING", None):
                self.revoked.set()
                return


def relinquish(head: Head, job_id: int, exit_code: int) -> None:
    body = {"exit_code": exit_code}
    head.call("POST", f"/slurm/v1/allocations/{job_id}/done", body)


def main(cluster_dir: str) -> None:
    argv = sys.argv[1:]
    if argv and argv[0] in ("-h", "--help", "--usage"):
        sys.stdout.write("Usage: salloc [sbatch's resource options] [command [args...]]\n")
        sys.exit(0)
    try:
        head = Head(cluster_dir)
        job_id, command, env = allocate(head, "salloc", argv)
    except OSError:
        sys.stderr.write("salloc: error: Job submit/allocate failed: Unable to contact slurm controller\n")
        sys.exit(1)
    child_env = dict(os.environ)
    child_env.update(env)
    if not command:
        command = [os.environ.get("SHELL") or "/bin/sh"]
    keep = KeepAlive(head, job_id)
    keep.start()
    try:
        proc = subprocess.Popen(command, env=child_env)
    except OSError as exc:
        sys.stderr.write(f"salloc: error: {command[0]}: {exc.strerror}\n")
        relinquish(head, job_id, 127)
        sys.exit(127)
    while proc.poll() is None:
        if keep.revoked.wait(0.2):
            sys.stderr.write(f"salloc: Job allocation {job_id} has been revoked.\n")
            proc.terminate()
            proc.wait()
            break
    code = proc.returncode if proc.returncode >= 0 else 128 - proc.returncode
    keep.stopped.set()
    sys.stderr.write(f"salloc: Relinquishing job allocation {job_id}\n")
    # If the head node cannot be told, it cancels an allocation whose client stopped asking.
    with contextlib.suppress(OSError):
        relinquish(head, job_id, code)
    sys.exit(code)

"""Boots the instances of an EC2-compatible endpoint on this machine, as cloud-init would.

moto launches instances that run nothing. :func:`booting` watches the endpoint and, for each new
instance that stratus tagged (``stratus:node``), fetches its user data (``DescribeInstanceAttribute``)
and runs it with ``sh`` in a directory of its own, so the whole path RunInstances → user data →
agent joins the head node → job runs → TerminateInstances is real. What the user data needs from
an instance is given to it here:

* the instance metadata service: a ``curl`` on ``PATH`` that answers IMDSv2's token and the
  instance's id (and nothing else);
* ``python3``: this interpreter (its ``stratus`` package stands for the one an image installs);
* ``setsid``: the real one, after recording the pid it keeps (the agent's), so that the
  instance's "machine" can be switched off: when the instance leaves ``pending``/``running``
  (terminated by stratus or by anyone), the agent and every process under it are killed, as
  the instance's shutdown would. Everything still running is killed when the context ends.

Instances whose node is in ``Booter.hold`` are left unbooted (an instance that never joins).
"""

from __future__ import annotations

import base64
import contextlib
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from tests.ec2_endpoint import client

_CURL = """#!/bin/sh
# The instance metadata service of one instance (IMDSv2): a token, then the instance id.
for a in "$@"; do
  case "$a" in
    */api/token) echo imds-token; exit 0 ;;
    */meta-data/instance-id) echo "$TEST_INSTANCE_ID"; exit 0 ;;
  esac
done
exit 22
"""

_SETSID = """#!/bin/sh
# Record the pid that becomes the agent's (exec keeps it), then the real setsid.
echo $$ > "$STRATUS_AGENT_DIR/agent.pid"
exec {setsid} "$@"
"""


@dataclass
class Booter:
    """What :func:`booting` booted, by instance id; ``hold``: nodes whose instances stay unbooted."""

    root: Path
    booted: dict[str, Path] = field(default_factory=dict)
    ended: set[str] = field(default_factory=set)
    hold: set[str] = field(default_factory=set)
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def agent_log(self, instance_id: str) -> str:
        path = self.booted[instance_id] / "agent.log"
        return path.read_text(errors="replace") if path.exists() else ""


def _shims(root: Path) -> Path:
    bin_dir = root / "bin"
    bin_dir.mkdir(parents=True, exist_ok=True)
    setsid = shutil.which("setsid") or "/usr/bin/setsid"
    for name, text in (("curl", _CURL), ("setsid", _SETSID.format(setsid=setsid))):
        path = bin_dir / name
        path.write_text(text)
        path.chmod(0o755)
    # A script, not a link: this interpreter finds its environment from the path it is run as.
    python = bin_dir / "python3"
    python.write_text(f'#!/bin/sh\nexec {sys.executable} "$@"\n')
    python.chmod(0o755)
    return bin_dir


def _kill_tree(pid_file: Path) -> None:
    """Kill the process recorded in ``pid_file`` and everything under it (its jobs too)."""
    try:
        proc = psutil.Process(int(pid_file.read_text().strip()))
    except (OSError, ValueError, psutil.NoSuchProcess):
        return
    with contextlib.suppress(psutil.NoSuchProcess):
        procs = [proc, *proc.children(recursive=True)]
        for p in procs:
            with contextlib.suppress(psutil.NoSuchProcess):
                p.kill()
        psutil.wait_procs(procs, timeout=10)


def _boot(booter: Booter, client: Any, bin_dir: Path, raw: dict[str, Any]) -> None:
    iid = str(raw["InstanceId"])
    attr = client.describe_instance_attribute(InstanceId=iid, Attribute="userData")
    data = base64.b64decode(attr.get("UserData", {}).get("Value", "") or b"")
    home = booter.root / iid
    home.mkdir(parents=True)
    script = home / "user-data"
    script.write_bytes(data)
    env = dict(os.environ)
    env.update(
        PATH=f"{bin_dir}{os.pathsep}{env.get('PATH', '')}",
        STRATUS_AGENT_DIR=str(home),
        TEST_INSTANCE_ID=iid,
    )
    done = subprocess.run(
        ["sh", str(script)], env=env, cwd=home, capture_output=True, timeout=60, check=False
    )
    if done.returncode != 0:
        booter.errors.append(f"{iid}: user data exited {done.returncode}: {done.stderr.decode()[-500:]}")


def _poll(booter: Booter, client: Any, bin_dir: Path) -> None:
    alive: dict[str, dict[str, Any]] = {}
    paginator = client.get_paginator("describe_instances")
    for page in paginator.paginate(Filters=[{"Name": "tag-key", "Values": ["stratus:node"]}]):
        for reservation in page.get("Reservations", []):
            for raw in reservation.get("Instances", []):
                if raw.get("State", {}).get("Name") in ("pending", "running"):
                    alive[str(raw["InstanceId"])] = raw
    for iid, raw in alive.items():
        node = next((t["Value"] for t in raw.get("Tags", []) if t["Key"] == "stratus:node"), "")
        if iid not in booter.booted and node not in booter.hold:
            with booter.lock:
                booter.booted[iid] = booter.root / iid
            _boot(booter, client, bin_dir, raw)
    for iid, home in list(booter.booted.items()):
        if iid not in alive and iid not in booter.ended:
            booter.ended.add(iid)
            # Off the polling thread: waiting for the processes to die must not delay boots.
            threading.Thread(target=_kill_tree, args=(home / "agent.pid",), daemon=True).start()


@contextlib.contextmanager
def booting(endpoint: str, root: Path, interval_s: float = 0.2) -> Iterator[Booter]:
    """Boot the instances launched at ``endpoint`` until the context ends; then switch every
    booted instance off (kill its agent and everything under it)."""
    booter = Booter(root)
    bin_dir = _shims(root)
    ec2 = client(endpoint)
    stop = threading.Event()

    def loop() -> None:
        while not stop.wait(interval_s):
            try:
                _poll(booter, ec2, bin_dir)
            except Exception as exc:  # the endpoint may be going away: report, keep going
                booter.errors.append(f"poll: {exc.__class__.__name__}: {exc}")

    thread = threading.Thread(target=loop, name="ec2-boot", daemon=True)
    thread.start()
    try:
        yield booter
    finally:
        stop.set()
        thread.join(timeout=30)
        for home in booter.booted.values():
            _kill_tree(home / "agent.pid")

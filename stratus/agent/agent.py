"""The node agent: runs on every compute node and runs its job steps.

Guarantees:

* Batch scripts and job steps run as :mod:`~stratus.agent.executor` and
  :mod:`~stratus.agent.steps` describe; every run's end reaches the head node exactly once.
* The agent keeps running its jobs when the head node goes away, reconnects when it comes back,
  and reports every exit until the head node acknowledges it (:mod:`~stratus.agent.connection`).
* It stops, killing its jobs, when told to shut down (power down), when the head node rejects
  it (a stale instance, a wrong credential), on SIGTERM, or when its lifeline path (if given)
  disappears.
* It knows only what its command line and environment give it (the head node's agent address,
  its node name, instance id, spool directory, and its join credential, which it removes from
  its environment so that no job inherits it); it never reads the head node's files.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from pathlib import Path
from typing import TYPE_CHECKING

from stratus.agent.connection import HeadLink, Rejected
from stratus.agent.daemons import DaemonKeeper
from stratus.agent.executor import Executor, log
from stratus.agent.gpus import GpuBinder
from stratus.agent.mounts import mount_points
from stratus.agent.protocol import (
    JOIN_ENV,
    Ack,
    Daemon,
    Hello,
    Kill,
    KillStep,
    Launch,
    Message,
    RunRef,
    Shutdown,
    Step,
    Unknown,
)
from stratus.agent.steps import StepRunner

if TYPE_CHECKING:
    import ssl


class Agent:
    """One node's agent. ``run()`` until shut down."""

    def __init__(
        self,
        head: tuple[str, int],
        node: str,
        instance_id: str,
        spool: Path,
        *,
        join: str = "",
        kill_wait: float = 30.0,
        lifeline: Path | None = None,
        tls: ssl.SSLContext | None = None,
        bootstrap_error: str = "",
    ) -> None:
        self.node = node
        self.bootstrap_error = bootstrap_error  # told in every hello: the head node fails the node
        self.instance_id = instance_id
        self.lifeline = lifeline
        self.stopping = asyncio.Event()
        # The agent's own secret: after the first hello, only it admits this instance.
        self.secret = os.urandom(32).hex()  # (os, not secrets: an import less at start-up)
        self.gpus = GpuBinder()
        self.steps = StepRunner(node, instance_id, report=self._send, gpus=self.gpus)
        self.join = join
        self.daemons = DaemonKeeper(spool)
        self.link = HeadLink(head[0], head[1], hello=self._hello, tls=tls)
        self.executor = Executor(
            node,
            instance_id,
            spool,
            kill_wait,
            report=self.link.report,
            notify=self._send,
            kill_steps=self.steps.signal,
            gpus=self.gpus,
        )

    def _hello(self) -> Hello:
        """This agent's hello: its credentials, what runs here and what ended meanwhile."""
        return Hello(
            node=self.node,
            instance_id=self.instance_id,
            secret=self.secret,
            join=self.join,
            pid=os.getpid(),
            running=[RunRef(j, r, pid) for (j, r), pid in self.executor.running().items()],
            finished=list(self.link.unacked.values()),
            bootstrap_error=self.bootstrap_error,
            mounts=mount_points(),
        )

    def _send(self, msg: Message) -> None:
        self.link.send(msg)

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, self._on_sigterm)
        loop.add_signal_handler(signal.SIGINT, self._on_sigterm)
        backoff = 0.05
        while not self.stopping.is_set():
            if self.lifeline is not None and not self.lifeline.exists():
                log(f"{self.lifeline} is gone: the cluster no longer exists; stopping")
                break
            try:
                await self.link.session(self._handle, self.stopping)
                backoff = 0.05
            except Rejected as exc:
                log(f"rejected by the head node: {exc}")
                break
            except (OSError, ValueError, asyncio.IncompleteReadError) as exc:
                log(f"head node unreachable ({exc.__class__.__name__}: {exc}); retrying")
            except Exception as exc:  # a bad message must not orphan the jobs: reconnect
                log(f"session failed ({exc.__class__.__name__}: {exc}); reconnecting")
            if self.stopping.is_set():
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), timeout=backoff)
            backoff = min(backoff * 2, 2.0)
        await self.executor.stop_all("SHUTDOWN")
        await asyncio.to_thread(self.daemons.stop_all)
        await self.link.drain()
        return 0

    def _on_sigterm(self) -> None:
        log("SIGTERM: stopping jobs and exiting")
        self.stopping.set()

    async def _handle(self, msg: Message) -> None:
        self.executor.node_address = self.steps.node_address = self.link.local_address
        if isinstance(msg, Launch):
            self.executor.launch(msg, (msg.job_id, msg.run) in self.link.unacked)
        elif isinstance(msg, Step):
            self.steps.start(msg)
        elif isinstance(msg, KillStep):
            self.steps.kill(msg.job_id, msg.run, msg.step_id)
        elif isinstance(msg, Kill):
            self.executor.kill((msg.job_id, msg.run), msg.why, msg.signal)
            if msg.why == "END":  # the job has ended (its processes here are gone): its GPUs too
                self.gpus.release(msg.job_id)
        elif isinstance(msg, Daemon):
            await asyncio.to_thread(self.daemons.ensure, msg)  # a fresh boot waits up to 1.5 s
        elif isinstance(msg, Ack):
            self.link.ack(msg.job_id, msg.run)
        elif isinstance(msg, Shutdown):
            log("shutdown requested (power down)")
            self.stopping.set()
        elif isinstance(msg, Unknown):
            log(f"ignoring unknown message {msg.name!r}")
        else:
            log(f"ignoring unexpected message {msg.type!r}")


def _address(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not (port.isascii() and port.isdigit()):
        raise ValueError(f"--head must be HOST:PORT, not {text!r}")
    return host.strip("[]"), int(port)


_CLONE_NEWUTS = 0x04000000  # <sched.h>


def own_hostname(name: str) -> str | None:
    """Give this process (and every job it starts) a host name of its own: ``name``.

    The node is then ``name`` to its jobs (``hostname``, MPI's host lists), as a real node
    is, although it shares a machine with others. Needs root (a UTS namespace of its own);
    returns why not when it cannot, and nothing changes.
    """
    import ctypes
    import socket

    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(_CLONE_NEWUTS) != 0:
        return os.strerror(ctypes.get_errno())
    try:
        socket.sethostname(name)
    except OSError as exc:
        return str(exc)
    return None


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="stratus-agent", description="stratus node agent")
    parser.add_argument("--head", required=True, help="the head node's agent address, HOST:PORT")
    parser.add_argument("--node", required=True)
    parser.add_argument("--instance-id", required=True)
    parser.add_argument("--spool", required=True, help="where job scripts are kept while they run")
    parser.add_argument("--kill-wait", type=float, default=30.0)
    parser.add_argument("--lifeline", help="stop (killing every job) once this path is gone")
    parser.add_argument("--ca-file", help="speak TLS to the head node, trusting this CA bundle")
    parser.add_argument("--hostname", help="the host name this node's jobs see (needs root)")
    parser.add_argument("--actions", help="CustomActions to run first: JSON {event: [[script, ...]]}")
    args = parser.parse_args(argv)
    if args.hostname:
        why = own_hostname(args.hostname)
        if why is not None:
            log(f"jobs keep the machine's host name: {why}")
    os.umask(0o077)  # its spool holds job scripts; each job batch sets the submitter's umask
    # The join credential is for this agent only: no job may inherit it.
    join = os.environ.pop(JOIN_ENV, "")
    tls = None
    if args.ca_file:
        import ssl

        tls = ssl.create_default_context(cafile=args.ca_file)
    bootstrap_error = ""
    if args.actions:
        import json

        from stratus.agent.actions import run_actions

        bootstrap_error = run_actions(json.loads(args.actions))
        if bootstrap_error:
            log(f"bootstrap failed: {bootstrap_error}")
    agent = Agent(
        _address(args.head),
        args.node,
        args.instance_id,
        Path(args.spool),
        join=join,
        kill_wait=args.kill_wait,
        lifeline=Path(args.lifeline) if args.lifeline else None,
        tls=tls,
        bootstrap_error=bootstrap_error,
    )
    log(f"agent for {args.node} ({args.instance_id}) pid {os.getpid()} starting")
    return asyncio.run(agent.run())

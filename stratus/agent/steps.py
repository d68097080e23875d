"""Job steps on this node: srun's tasks, their terminals and pipes, and the stream to srun.

A step's tasks run as process groups of their own with the job's environment plus each task's
``SLURM_*`` variables. Their output goes to the ``srun`` that asked for them as it comes; srun's
stdin, signals and window size come back the same way (see :mod:`stratus.agent.stepio`). A step
whose srun goes away is killed, as Slurm kills it; each step's end (the worst exit of its tasks
here, and what they used) is reported to the head node once. Tasks run with the job user's
rights (see :mod:`stratus.agent.users`), as the batch script does.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from stratus.agent.executor import log, signum
from stratus.agent.gpus import GpuBinder, gpu_env
from stratus.agent.protocol import INSTANCE_ENV, NODE_ADDRESS_ENV, Step, StepFinished
from stratus.agent.stepio import MAX_LINE, decode, encode
from stratus.agent.users import RefusedUser, RunAs, run_as

# A step task's first process: its working directory, its pid as SLURM_TASK_PID, then the program.
_TASK_WRAPPER = r"""cd "$1" 2>/dev/null || cd /tmp
shift
SLURM_TASK_PID=$$; export SLURM_TASK_PID
exec "$@"
"""


@dataclass
class RunningStep:
    """A job step's tasks on this node, and the stream to the ``srun`` that started it."""

    job_id: int
    run: int
    step_id: int
    procs: list[subprocess.Popen[bytes]]
    runner: asyncio.Task[None] | None = None
    # Where srun's stdin goes, by task id: the task's stdin pipe, or its pseudo-terminal.
    inputs: dict[int, asyncio.WriteTransport] = field(default_factory=dict)
    pty_fd: int | None = None  # the master side of task 0's terminal (srun --pty)
    finished: bool = False  # every task here has exited and srun has been told


class StepRunner:
    """The job steps running on one node."""

    def __init__(
        self,
        node: str,
        instance_id: str,
        report: Callable[[StepFinished], None],
        gpus: GpuBinder | None = None,
    ) -> None:
        self.node = node
        self.gpus = gpus or GpuBinder()
        self.instance_id = instance_id
        self.node_address = ""  # see NODE_ADDRESS_ENV; set once the link is up
        self._report = report
        self.job_steps: dict[tuple[int, int, int], RunningStep] = {}

    def start(self, msg: Step) -> None:
        """Run this node's tasks of a step (a repeated request for a running step is ignored)."""
        key = (msg.job_id, msg.run, msg.step_id)
        if key not in self.job_steps:
            rs = RunningStep(*key, procs=[])
            self.job_steps[key] = rs
            rs.runner = asyncio.get_running_loop().create_task(self._run_step(rs, msg))

    async def _run_step(self, rs: RunningStep, msg: Step) -> None:
        """Run this node's tasks of a step; stream their output and exits to srun."""
        key = (rs.job_id, rs.run, rs.step_id)
        io: asyncio.StreamWriter | None = None
        codes: list[tuple[int, int]] = []
        usage: dict[str, float] = {}
        try:
            try:
                reader, writer = await asyncio.wait_for(
                    asyncio.open_connection(msg.io_host, msg.io_port, limit=MAX_LINE), timeout=10.0
                )
                writer.write(encode({"type": "hello", "token": msg.io_token, "node": self.node}))
                io = writer
            except (OSError, TimeoutError) as exc:
                log(f"step {key}: cannot reach srun: {exc}")
                codes.append((1, 0))
                return
            assert io is not None
            loop = asyncio.get_running_loop()
            watcher = loop.create_task(self._watch_srun(reader, rs))
            refused = ""
            try:
                who = run_as(msg.user, msg.uid, msg.gid, self.node)
            except RefusedUser as exc:
                log(f"step {key}: refused: {exc}")
                who, refused = RunAs(msg.user, msg.uid, msg.gid), f"slurmstepd: error: {exc}\n"
            started: list[tuple[int, subprocess.Popen[bytes], list[asyncio.Task[None]]]] = []
            for t in msg.tasks:
                if refused:  # no task runs as anyone but the job's user
                    io.write(encode({"type": "err", "procid": t.procid, "data": refused}))
                    io.write(encode({"type": "exit", "procid": t.procid, "code": 1, "signal": 0}))
                    codes.append((1, 0))
                    continue
                env = dict(msg.env)
                env.update(t.env)
                env.update(gpu_env(self.gpus.bind(msg.job_id, msg.gpus), step=True))
                env[INSTANCE_ENV] = self.instance_id
                if self.node_address:
                    env[NODE_ADDRESS_ENV] = self.node_address
                procid = t.procid
                argv = ["/bin/sh", "-c", _TASK_WRAPPER, "slurmstepd", msg.cwd, *msg.argv]
                try:
                    if msg.pty and procid == 0:
                        proc, streams = await self._spawn_on_terminal(rs, argv, env, who)
                    else:
                        proc, streams = await self._spawn_with_pipes(rs, procid, argv, env, who)
                except OSError as exc:
                    io.write(encode({"type": "err", "procid": procid, "data": f"{exc}\n"}))
                    io.write(encode({"type": "exit", "procid": procid, "code": 2, "signal": 0}))
                    codes.append((2, 0))
                    continue
                rs.procs.append(proc)
                pumps = [loop.create_task(_pump(s, io, kind, procid)) for kind, s in streams]
                started.append((procid, proc, pumps))
            io.write(encode({"type": "ready", "node": self.node}))  # srun may send stdin now
            for procid, proc, pumps in started:
                rc, rusage = await _reap_with_usage(proc)
                if rusage is not None:
                    usage["utime"] = usage.get("utime", 0.0) + rusage.ru_utime
                    usage["stime"] = usage.get("stime", 0.0) + rusage.ru_stime
                    usage["maxrss_kb"] = max(usage.get("maxrss_kb", 0), rusage.ru_maxrss)
                code, sig = (0, -rc) if rc < 0 else (rc, 0)
                codes.append((code, sig))
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(proc.pid, signal.SIGKILL)  # what the task left behind ends with it
                await asyncio.gather(*pumps, return_exceptions=True)
                io.write(encode({"type": "exit", "procid": procid, "code": code, "signal": sig}))
            rs.finished = True
            for transport in rs.inputs.values():
                if not transport.is_closing():  # one whose task went away is closed already
                    transport.abort()
            rs.inputs.clear()
            # Half-close and let srun close: it may still be sending stdin, and a reset
            # connection would lose the exits it has not read yet.
            with contextlib.suppress(OSError, RuntimeError, TimeoutError):
                io.write_eof()
                await asyncio.wait_for(io.drain(), timeout=5.0)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(watcher), timeout=30.0)
            watcher.cancel()
        finally:
            if io is not None:
                io.close()
            self.job_steps.pop(key, None)
            worst = max(codes, default=(0, 0), key=lambda c: (c[1] != 0, c[0] or c[1]))
            self._report(
                StepFinished(
                    rs.job_id,
                    rs.run,
                    rs.step_id,
                    exit_code=worst[0],
                    signal=worst[1],
                    end_time=time.time(),
                    usage=usage,
                )
            )

    async def _spawn_with_pipes(
        self, rs: RunningStep, procid: int, argv: list[str], env: dict[str, str], who: RunAs
    ) -> tuple[subprocess.Popen[bytes], list[tuple[str, asyncio.StreamReader]]]:
        """A task in a process group of its own, stdin from srun, stdout and stderr to it."""
        # Popen, not asyncio's subprocesses: the agent reaps each task itself with wait4,
        # whose rusage is the step's CPU time and peak memory (sacct).
        proc = subprocess.Popen(
            argv,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            process_group=0,
            close_fds=True,
            **who.popen(),
        )
        loop = asyncio.get_running_loop()
        transport, _ = await loop.connect_write_pipe(asyncio.BaseProtocol, proc.stdin)
        rs.inputs[procid] = transport
        return proc, [("out", await _stream_of(proc.stdout)), ("err", await _stream_of(proc.stderr))]

    async def _spawn_on_terminal(
        self, rs: RunningStep, argv: list[str], env: dict[str, str], who: RunAs
    ) -> tuple[subprocess.Popen[bytes], list[tuple[str, asyncio.StreamReader]]]:
        """``srun --pty``: task 0 in a session of its own whose controlling terminal is a pty."""
        import fcntl
        import pty
        import termios

        master, slave = pty.openpty()
        try:
            proc = subprocess.Popen(
                argv,
                env=env,
                stdin=slave,
                stdout=slave,
                stderr=slave,
                start_new_session=True,
                # After setsid (which Popen runs first): the terminal becomes the session's.
                preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0),
                close_fds=True,
                **who.popen(),
            )
        except BaseException:
            os.close(master)
            raise
        finally:
            os.close(slave)
        loop = asyncio.get_running_loop()
        writer = os.fdopen(os.dup(master), "wb", buffering=0)
        transport, _ = await loop.connect_write_pipe(asyncio.BaseProtocol, writer)
        rs.inputs[0] = transport
        rs.pty_fd = master
        return proc, [("out", await _stream_of(os.fdopen(master, "rb", buffering=0)))]

    async def _watch_srun(self, reader: asyncio.StreamReader, rs: RunningStep) -> None:
        """srun's stdin, signals and window size for the tasks; srun going away kills the step."""
        with contextlib.suppress(OSError, asyncio.IncompleteReadError, ValueError):
            while True:
                msg = decode(await reader.readuntil(b"\n"))
                kind = msg.get("type")
                if kind == "signal":
                    for proc in rs.procs:
                        with contextlib.suppress(ProcessLookupError):
                            os.killpg(proc.pid, signum(str(msg.get("signal", "TERM"))))
                elif kind in ("in", "eof"):
                    target = msg.get("procid")
                    for procid, transport in list(rs.inputs.items()):
                        if target is not None and int(target) != procid:
                            continue
                        if transport.is_closing():  # the task closed its stdin or exited
                            del rs.inputs[procid]
                            continue
                        if kind == "in":
                            transport.write(str(msg["data"]).encode("utf-8", "surrogateescape"))
                        elif procid == 0 and rs.pty_fd is not None:
                            transport.write(b"\x04")  # end of input on a terminal: ^D
                        else:
                            transport.close()  # the task reads end of file
                            del rs.inputs[procid]
                elif kind == "winch" and rs.pty_fd is not None:
                    import fcntl
                    import struct
                    import termios

                    size = struct.pack("HHHH", int(msg["rows"]), int(msg["cols"]), 0, 0)
                    with contextlib.suppress(OSError):
                        fcntl.ioctl(rs.pty_fd, termios.TIOCSWINSZ, size)
        if not rs.finished:
            self.kill(rs.job_id, rs.run, rs.step_id)

    def kill(self, job_id: int, run: int, step_id: int | None = None) -> None:
        """SIGKILL the tasks of a job's steps on this node (one step, or all of them)."""
        self.signal(job_id, run, step_id, signal.SIGKILL)

    def signal(self, job_id: int, run: int, step_id: int | None, signum: int) -> None:
        """Send ``signum`` to the tasks of a job's steps on this node (one step, or all)."""
        for (j, r, s), rs in list(self.job_steps.items()):
            if j == job_id and r == run and (step_id is None or s == step_id):
                for proc in rs.procs:
                    with contextlib.suppress(ProcessLookupError, PermissionError):
                        os.killpg(proc.pid, signum)


async def _stream_of(pipe: Any) -> asyncio.StreamReader:
    """An asyncio reader over a task's stdout or stderr pipe (the transport closes the pipe)."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=MAX_LINE, loop=loop)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader, loop=loop), pipe)
    return reader


async def _reap_with_usage(proc: subprocess.Popen[bytes]) -> tuple[int, Any]:
    """Wait for a task without blocking the loop; its exit code and rusage (None if lost)."""
    loop = asyncio.get_running_loop()
    exited: asyncio.Future[None] = loop.create_future()
    pidfd = os.pidfd_open(proc.pid)

    def readable() -> None:
        if not exited.done():
            exited.set_result(None)

    loop.add_reader(pidfd, readable)
    try:
        await exited
    finally:
        loop.remove_reader(pidfd)
        os.close(pidfd)
    try:
        _, status, rusage = os.wait4(proc.pid, 0)
    except ChildProcessError:
        proc.returncode = proc.returncode if proc.returncode is not None else 1
        return proc.returncode, None
    proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, rusage


async def _pump(stream: asyncio.StreamReader, io: asyncio.StreamWriter, kind: str, procid: int) -> None:
    """Forward a task's stdout or stderr to srun, chunk by chunk, as it comes."""
    while True:
        try:
            data = await stream.read(65536)
        except OSError:
            return  # EIO: a terminal's other side closed (srun --pty), the task is gone
        if not data:
            return
        if not io.is_closing():
            io.write(
                encode({"type": kind, "procid": procid, "data": data.decode("utf-8", "surrogateescape")})
            )
            await io.drain()

"""The node agent: runs on every compute node and runs its job steps.

Guarantees:

* A job's batch script runs as its own process group inside the agent's session, with the job's
  environment, working directory and output files. When it exits, whatever it left behind in its
  process group is killed (Slurm does the same with cgroups), and so are the job's steps here.
* A job step (``srun``) runs its tasks here as process groups of their own, streams their output
  and exit codes to the ``srun`` that asked for them, and reports the step's end to the
  controller. A step whose ``srun`` goes away is killed, as Slurm kills it.
* The agent keeps running its jobs when the controller goes away, reconnects when it comes back,
  and reports every exit until the controller acknowledges it (see ``protocol``).
* It stops, killing its jobs, when told to shut down (power down), when the controller rejects
  it (a stale instance), on SIGTERM, or when its cluster no longer exists on disk.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stratus.agent.protocol import MAX_LINE, decode, encode
from stratus.paths import ClusterPaths, read_endpoint, read_token

INSTANCE_ENV = "STRATUS_INSTANCE_ID"  # also set by the local provider for the agent itself

# The batch script's first process. It sets the umask, opens the job's files and changes directory
# in the child (a FIFO or a hung mount then blocks the job, never the agent), exports the pid as
# SLURM_TASK_PID (only the child knows it), and replaces itself with the script, so that pid is
# the script's. Arguments: umask stdin stdout stderr("" = stdout) mode(append|truncate) cwd
# script args...
_WRAPPER = r"""umask "$1"
exec <"$2" || exit 1
if [ "$5" = append ]; then exec >>"$3"; else exec >"$3"; fi || exit 1
if [ -z "$4" ]; then exec 2>&1
elif [ "$5" = append ]; then exec 2>>"$4"
else exec 2>"$4"; fi || exit 1
cd "$6" 2>/dev/null || {
  printf "slurmstepd: error: couldn't chdir to \`%s': " "$6" >&2
  echo "No such file or directory: going to /tmp instead" >&2
  cd /tmp
}
SLURM_TASK_PID=$$; export SLURM_TASK_PID
shift 6
exec "$@"
"""
HEARTBEAT_S = 5.0

# A step task's first process: its working directory, its pid as SLURM_TASK_PID, then the program.
_TASK_WRAPPER = r"""cd "$1" 2>/dev/null || cd /tmp
shift
SLURM_TASK_PID=$$; export SLURM_TASK_PID
exec "$@"
"""


def _signum(name: str) -> int:
    """A signal given as ``TERM``, ``SIGUSR1`` or ``10``."""
    if name.isdigit():
        return int(name)
    upper = name.upper()
    return int(getattr(signal, upper if upper.startswith("SIG") else "SIG" + upper, signal.SIGTERM))


def _log(msg: str) -> None:
    sys.stderr.write(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} {msg}\n")
    sys.stderr.flush()


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


@dataclass
class Batch:
    """A job's running batch script."""

    job_id: int
    run: int
    proc: subprocess.Popen[bytes]
    pidfd: int
    stderr_path: str
    spool_dir: str
    why_killed: str | None = None
    kill_handle: asyncio.TimerHandle | None = None
    mem_limit_kb: int | None = None
    max_rss_kb: int = 0
    oom: bool = False


class Agent:
    """One node's agent. ``run()`` until shut down."""

    def __init__(self, paths: ClusterPaths, node: str, instance_id: str, kill_wait: float = 30.0) -> None:
        self.paths = paths
        self.node = node
        self.instance_id = instance_id
        self.kill_wait = kill_wait
        self.batches: dict[tuple[int, int], Batch] = {}
        self.unacked: dict[tuple[int, int], dict[str, Any]] = {}
        self.writer: asyncio.StreamWriter | None = None
        self.stopping = asyncio.Event()
        self.loop: asyncio.AbstractEventLoop | None = None
        self.memory_watch: asyncio.Task[None] | None = None
        self.job_steps: dict[tuple[int, int, int], RunningStep] = {}

    # -- main loop ------------------------------------------------------------------------------

    async def run(self) -> int:
        self.loop = asyncio.get_running_loop()
        self.loop.add_signal_handler(signal.SIGTERM, self._on_sigterm)
        self.loop.add_signal_handler(signal.SIGINT, self._on_sigterm)
        backoff = 0.05
        while not self.stopping.is_set():
            if not self.paths.db.exists():
                _log("cluster state is gone; stopping")
                break
            try:
                await self._session()
                backoff = 0.05
            except (OSError, ValueError, asyncio.IncompleteReadError) as exc:
                _log(f"controller unreachable ({exc.__class__.__name__}: {exc}); retrying")
            except Exception as exc:  # a bad message must not orphan the jobs: reconnect
                _log(f"session failed ({exc.__class__.__name__}: {exc}); reconnecting")
            self.writer = None
            if self.stopping.is_set():
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), timeout=backoff)
            backoff = min(backoff * 2, 2.0)
        await self._stop_all("SHUTDOWN")
        return 0

    def _on_sigterm(self) -> None:
        _log("SIGTERM: stopping jobs and exiting")
        self.stopping.set()

    async def _session(self) -> None:
        host, _, agent_port = read_endpoint(self.paths)
        token = read_token(self.paths)
        reader, writer = await asyncio.open_connection(host, agent_port, limit=MAX_LINE)
        hello = {
            "type": "hello",
            "token": token,
            "node": self.node,
            "instance_id": self.instance_id,
            "pid": os.getpid(),
            "running": [{"job_id": s.job_id, "run": s.run, "pid": s.proc.pid} for s in self.batches.values()],
            "finished": list(self.unacked.values()),
        }
        writer.write(encode(hello))
        await writer.drain()
        first = decode(await reader.readuntil(b"\n"))
        if first["type"] == "reject":
            _log(f"rejected by controller: {first.get('reason')}")
            self.stopping.set()
            writer.close()
            return
        if first["type"] != "welcome":
            raise ValueError(f"unexpected first message {first['type']!r}")
        _log("connected to controller")
        self.writer = writer
        beat = asyncio.create_task(self._heartbeat(writer))
        stop = asyncio.create_task(self.stopping.wait())
        try:
            while True:
                read = asyncio.create_task(reader.readuntil(b"\n"))
                done, _ = await asyncio.wait({read, stop}, return_when=asyncio.FIRST_COMPLETED)
                if stop in done:
                    read.cancel()
                    return
                line = read.result()
                await self._handle(decode(line))
        finally:
            beat.cancel()
            stop.cancel()
            writer.close()

    async def _heartbeat(self, writer: asyncio.StreamWriter) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_S)
            writer.write(encode({"type": "heartbeat"}))

    def _send(self, msg: dict[str, Any]) -> None:
        if self.writer is not None and not self.writer.is_closing():
            self.writer.write(encode(msg))

    async def _handle(self, msg: dict[str, Any]) -> None:
        kind = msg["type"]
        if kind == "launch":
            self._launch(msg)
        elif kind == "step":
            key = (int(msg["job_id"]), int(msg["run"]), int(msg["step_id"]))
            if key not in self.job_steps:
                rs = RunningStep(*key, procs=[])
                self.job_steps[key] = rs
                rs.runner = asyncio.get_running_loop().create_task(self._run_step(rs, msg))
        elif kind == "kill_step":
            self._kill_steps(int(msg["job_id"]), int(msg["run"]), int(msg["step_id"]))
        elif kind == "kill":
            self._kill((msg["job_id"], msg["run"]), msg.get("why", "CANCELLED"), msg.get("signal", "TERM"))
        elif kind == "ack":
            self.unacked.pop((msg["job_id"], msg["run"]), None)
        elif kind == "shutdown":
            _log("shutdown requested (power down)")
            self.stopping.set()
        else:
            _log(f"ignoring unknown message {kind!r}")

    # -- job steps ------------------------------------------------------------------------------

    def _launch(self, msg: dict[str, Any]) -> None:
        key = (int(msg["job_id"]), int(msg["run"]))
        if key in self.batches or key in self.unacked:
            return  # a repeated launch (controller restarted between send and ack)
        job_id, run = key
        spool = self.paths.spool(self.node) / f"job{job_id:05d}.{run}"
        env = dict(msg["env"])
        # Marks every process of the job as this instance's (see providers.local).
        env[INSTANCE_ENV] = self.instance_id
        stderr = msg.get("stderr") or ""
        same = not stderr or stderr == msg["stdout"]
        proc: subprocess.Popen[bytes] | None = None
        try:
            spool.mkdir(parents=True, exist_ok=True, mode=0o700)
            script = spool / "slurm_script"
            script.write_bytes(msg["script"].encode("utf-8", "surrogateescape"))
            script.chmod(0o700)
            proc = subprocess.Popen(
                [
                    "/bin/sh",
                    "-c",
                    _WRAPPER,
                    "slurmstepd",
                    f"{int(msg.get('umask', 0o022)):03o}",
                    msg.get("stdin") or "/dev/null",
                    msg["stdout"],
                    "" if same else stderr,
                    "append" if msg.get("open_mode") == "append" else "truncate",
                    msg["cwd"],
                    str(script),
                    *msg.get("args", []),
                ],
                cwd="/",
                env=env,
                stdin=subprocess.DEVNULL,
                process_group=0,
                close_fds=True,
            )
            pidfd = os.pidfd_open(proc.pid)
        except (OSError, ValueError) as exc:
            error = f"{exc.__class__.__name__}: {exc}"
            _log(f"job {job_id} run {run}: launch failed: {error}")
            if proc is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            shutil.rmtree(spool, ignore_errors=True)
            self._report(job_id, run, exit_code=1, sig=0, error=error, usage={})
            return
        batch = Batch(job_id, run, proc, pidfd, msg["stdout"] if same else stderr, str(spool))
        if msg.get("mem_limit_mb"):
            batch.mem_limit_kb = int(msg["mem_limit_mb"]) * 1024
            if self.memory_watch is None:
                self.memory_watch = asyncio.get_running_loop().create_task(self._watch_memory())
        self.batches[key] = batch
        assert self.loop is not None
        self.loop.add_reader(pidfd, self._reap, key)
        self._send({"type": "started", "job_id": job_id, "run": run, "pid": proc.pid})
        _log(f"job {job_id} run {run}: started pid {proc.pid}")

    def _reap(self, key: tuple[int, int]) -> None:
        batch = self.batches.get(key)
        if batch is None:
            return
        try:
            pid, status, rusage = os.wait4(batch.proc.pid, os.WNOHANG)
        except ChildProcessError:
            pid, status, rusage = batch.proc.pid, 0, None
        if pid == 0:
            return
        assert self.loop is not None
        self.loop.remove_reader(batch.pidfd)
        os.close(batch.pidfd)
        if batch.kill_handle is not None:
            batch.kill_handle.cancel()
        code = os.waitstatus_to_exitcode(status)
        batch.proc.returncode = code
        # Whatever the script left running in its process group ends with it, and its steps.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(batch.proc.pid, signal.SIGKILL)
        self._kill_steps(*key)
        del self.batches[key]
        shutil.rmtree(batch.spool_dir, ignore_errors=True)
        usage = {}
        if rusage is not None:
            usage = {
                "maxrss_kb": max(rusage.ru_maxrss, batch.max_rss_kb),
                "utime": rusage.ru_utime,
                "stime": rusage.ru_stime,
            }
        exit_code, sig = (0, -code) if code < 0 else (code, 0)
        _log(
            f"job {key[0]} run {key[1]}: exited code={exit_code} signal={sig}{' (out of memory)' * batch.oom}"
        )
        self._report(key[0], key[1], exit_code=exit_code, sig=sig, error="", usage=usage, oom=batch.oom)

    def _report(
        self,
        job_id: int,
        run: int,
        *,
        exit_code: int,
        sig: int,
        error: str,
        usage: dict[str, Any],
        oom: bool = False,
    ) -> None:
        msg = {
            "type": "finished",
            "job_id": job_id,
            "run": run,
            "exit_code": exit_code,
            "signal": sig,
            "end_time": time.time(),
            "oom": oom,
            "error": error,
            "usage": usage,
        }
        self.unacked[(job_id, run)] = msg
        self._send(msg)

    async def _watch_memory(self) -> None:
        """Every second, the resident memory of each job with a limit; over it: OUT_OF_MEMORY.

        A job's memory is the sum over its process group (the batch script and what it
        started), as a memory cgroup would count it. psutil is imported only when some job has
        a limit, so the agent starts fast.
        """
        import psutil

        while any(s.mem_limit_kb for s in self.batches.values()):
            by_group: dict[int, int] = {}
            for p in psutil.process_iter(["memory_info"]):
                try:
                    pgid = os.getpgid(p.pid)
                    mem = p.info["memory_info"]
                except (ProcessLookupError, PermissionError, psutil.Error):
                    continue
                if mem is not None:
                    by_group[pgid] = by_group.get(pgid, 0) + mem.rss // 1024
            for key, batch in list(self.batches.items()):
                rss = by_group.get(batch.proc.pid, 0)
                batch.max_rss_kb = max(batch.max_rss_kb, rss)
                if batch.mem_limit_kb and rss > batch.mem_limit_kb and not batch.oom:
                    batch.oom = True
                    _log(f"job {key[0]} run {key[1]}: {rss} KB > limit {batch.mem_limit_kb} KB: killing")
                    with contextlib.suppress(OSError), open(batch.stderr_path, "ab") as f:
                        f.write(
                            f"slurmstepd-{self.node}: error: Detected 1 oom-kill event(s) in "
                            f"StepId={key[0]}.batch. Some of your processes may have been killed "
                            "by the cgroup out-of-memory handler.\n".encode()
                        )
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(batch.proc.pid, signal.SIGKILL)
            await asyncio.sleep(1.0)
        self.memory_watch = None

    # -- job steps (srun) -----------------------------------------------------------------------

    async def _run_step(self, rs: RunningStep, msg: dict[str, Any]) -> None:
        """Run this node's tasks of a step; stream their output and exits to srun."""
        key = (rs.job_id, rs.run, rs.step_id)
        io: asyncio.StreamWriter | None = None
        codes: list[tuple[int, int]] = []
        usage: dict[str, float] = {}
        try:
            try:
                reader, writer = await asyncio.wait_for(
                    asyncio.open_connection(msg["io_host"], int(msg["io_port"]), limit=MAX_LINE), timeout=10.0
                )
                writer.write(encode({"type": "hello", "token": msg["io_token"], "node": self.node}))
                io = writer
            except (OSError, TimeoutError) as exc:
                _log(f"step {key}: cannot reach srun: {exc}")
                codes.append((1, 0))
                return
            assert io is not None
            loop = asyncio.get_running_loop()
            watcher = loop.create_task(self._watch_srun(reader, rs))
            started: list[tuple[int, subprocess.Popen[bytes], list[asyncio.Task[None]]]] = []
            for t in msg["tasks"]:
                env = dict(msg["env"])
                env.update(t["env"])
                env[INSTANCE_ENV] = self.instance_id
                procid = int(t["procid"])
                argv = ["/bin/sh", "-c", _TASK_WRAPPER, "slurmstepd", msg["cwd"], *msg["argv"]]
                try:
                    if msg.get("pty") and procid == 0:
                        proc, streams = await self._spawn_on_terminal(rs, argv, env)
                    else:
                        proc, streams = await self._spawn_with_pipes(rs, procid, argv, env)
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
            self._send(
                {
                    "type": "step_finished",
                    "job_id": rs.job_id,
                    "run": rs.run,
                    "step_id": rs.step_id,
                    "node": self.node,
                    "exit_code": worst[0],
                    "signal": worst[1],
                    "end_time": time.time(),
                    "usage": usage,
                }
            )

    async def _spawn_with_pipes(
        self, rs: RunningStep, procid: int, argv: list[str], env: dict[str, str]
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
        )
        loop = asyncio.get_running_loop()
        transport, _ = await loop.connect_write_pipe(asyncio.BaseProtocol, proc.stdin)
        rs.inputs[procid] = transport
        return proc, [("out", await _stream_of(proc.stdout)), ("err", await _stream_of(proc.stderr))]

    async def _spawn_on_terminal(
        self, rs: RunningStep, argv: list[str], env: dict[str, str]
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
                            os.killpg(proc.pid, _signum(str(msg.get("signal", "TERM"))))
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
            self._kill_steps(rs.job_id, rs.run, rs.step_id)

    def _kill_steps(self, job_id: int, run: int, step_id: int | None = None) -> None:
        """SIGKILL the tasks of a job's steps on this node (one step, or all of them)."""
        self._signal_steps(job_id, run, signal.SIGKILL, step_id)

    def _signal_steps(self, job_id: int, run: int, signum: int, step_id: int | None = None) -> None:
        for (j, r, s), rs in list(self.job_steps.items()):
            if j == job_id and r == run and (step_id is None or s == step_id):
                for proc in rs.procs:
                    with contextlib.suppress(ProcessLookupError, PermissionError):
                        os.killpg(proc.pid, signum)

    def _kill(self, key: tuple[int, int], why: str, sig_name: str) -> None:
        if why == "SIGNAL":
            self._signal_steps(*key, _signum(sig_name))  # --signal / scancel -s: the steps too
        elif why != "SIGNAL_BATCH":
            self._kill_steps(*key)  # a job's steps end with it, here too
        batch = self.batches.get(key)
        if batch is None:
            return
        if why in ("SIGNAL", "SIGNAL_BATCH"):
            # scancel -s, --signal: deliver the signal to the job, nothing more.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(batch.proc.pid, _signum(sig_name))
            return
        if batch.why_killed is None and why in ("CANCELLED", "TIMEOUT"):
            stamp = time.strftime("%Y-%m-%dT%H:%M:%S")
            tail = " DUE TO TIME LIMIT" if why == "TIMEOUT" else ""
            line = (
                f"slurmstepd-{self.node}: error: *** JOB {key[0]} ON {self.node} "
                f"CANCELLED AT {stamp}{tail} ***\n"
            )
            try:
                with open(batch.stderr_path, "ab") as f:
                    f.write(line.encode())
            except OSError:
                pass
        batch.why_killed = batch.why_killed or why
        signum = _signum(sig_name)
        try:
            os.killpg(batch.proc.pid, signal.SIGCONT)
            os.killpg(batch.proc.pid, signum)
        except ProcessLookupError:
            return
        if batch.kill_handle is None and self.loop is not None:
            batch.kill_handle = self.loop.call_later(self.kill_wait, self._force_kill, key)

    def _force_kill(self, key: tuple[int, int]) -> None:
        batch = self.batches.get(key)
        if batch is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(batch.proc.pid, signal.SIGKILL)

    async def _stop_all(self, why: str) -> None:
        for key in list(self.batches):
            self._kill(key, why, "TERM")
        deadline = time.monotonic() + min(self.kill_wait, 10.0)
        while self.batches and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        for key in list(self.batches):
            self._force_kill(key)
        await asyncio.sleep(0)
        if self.writer is not None:
            with contextlib.suppress(OSError, TimeoutError):
                await asyncio.wait_for(self.writer.drain(), timeout=1.0)


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


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="stratus-agent", description="stratus node agent")
    parser.add_argument("--cluster-dir", required=True)
    parser.add_argument("--node", required=True)
    parser.add_argument("--instance-id", required=True)
    parser.add_argument("--kill-wait", type=float, default=30.0)
    args = parser.parse_args(argv)
    os.umask(0o077)  # its spool holds job scripts; each job batch sets the submitter's umask
    agent = Agent(ClusterPaths(Path(args.cluster_dir)), args.node, args.instance_id, args.kill_wait)
    _log(f"agent for {args.node} ({args.instance_id}) pid {os.getpid()} starting")
    return asyncio.run(agent.run())

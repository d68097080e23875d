"""The node agent: runs on every compute node and runs its job steps.

Guarantees:

* A job step runs as its own process group inside the agent's session, with the job's
  environment, working directory and output files. When the batch script exits, whatever it left
  behind in its process group is killed (Slurm does the same with cgroups).
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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stratus.agent.protocol import MAX_LINE, decode, encode
from stratus.paths import ClusterPaths, read_endpoint, read_token

INSTANCE_ENV = "STRATUS_INSTANCE_ID"  # also set by the local provider for the agent itself

# The job step's first process. It sets the umask, opens the job's files and changes directory
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
class Step:
    """A running batch script."""

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
        self.steps: dict[tuple[int, int], Step] = {}
        self.unacked: dict[tuple[int, int], dict[str, Any]] = {}
        self.writer: asyncio.StreamWriter | None = None
        self.stopping = asyncio.Event()
        self.loop: asyncio.AbstractEventLoop | None = None
        self.memory_watch: asyncio.Task[None] | None = None

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
            "running": [{"job_id": s.job_id, "run": s.run, "pid": s.proc.pid} for s in self.steps.values()],
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
        if key in self.steps or key in self.unacked:
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
        step = Step(job_id, run, proc, pidfd, msg["stdout"] if same else stderr, str(spool))
        if msg.get("mem_limit_mb"):
            step.mem_limit_kb = int(msg["mem_limit_mb"]) * 1024
            if self.memory_watch is None:
                self.memory_watch = asyncio.get_running_loop().create_task(self._watch_memory())
        self.steps[key] = step
        assert self.loop is not None
        self.loop.add_reader(pidfd, self._reap, key)
        self._send({"type": "started", "job_id": job_id, "run": run, "pid": proc.pid})
        _log(f"job {job_id} run {run}: started pid {proc.pid}")

    def _reap(self, key: tuple[int, int]) -> None:
        step = self.steps.get(key)
        if step is None:
            return
        try:
            pid, status, rusage = os.wait4(step.proc.pid, os.WNOHANG)
        except ChildProcessError:
            pid, status, rusage = step.proc.pid, 0, None
        if pid == 0:
            return
        assert self.loop is not None
        self.loop.remove_reader(step.pidfd)
        os.close(step.pidfd)
        if step.kill_handle is not None:
            step.kill_handle.cancel()
        code = os.waitstatus_to_exitcode(status)
        step.proc.returncode = code
        # Whatever the script left running in its process group ends with it.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(step.proc.pid, signal.SIGKILL)
        del self.steps[key]
        shutil.rmtree(step.spool_dir, ignore_errors=True)
        usage = {}
        if rusage is not None:
            usage = {
                "maxrss_kb": max(rusage.ru_maxrss, step.max_rss_kb),
                "utime": rusage.ru_utime,
                "stime": rusage.ru_stime,
            }
        exit_code, sig = (0, -code) if code < 0 else (code, 0)
        _log(
            f"job {key[0]} run {key[1]}: exited code={exit_code} signal={sig}{' (out of memory)' * step.oom}"
        )
        self._report(key[0], key[1], exit_code=exit_code, sig=sig, error="", usage=usage, oom=step.oom)

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

        while any(s.mem_limit_kb for s in self.steps.values()):
            by_group: dict[int, int] = {}
            for p in psutil.process_iter(["memory_info"]):
                try:
                    pgid = os.getpgid(p.pid)
                    mem = p.info["memory_info"]
                except (ProcessLookupError, PermissionError, psutil.Error):
                    continue
                if mem is not None:
                    by_group[pgid] = by_group.get(pgid, 0) + mem.rss // 1024
            for key, step in list(self.steps.items()):
                rss = by_group.get(step.proc.pid, 0)
                step.max_rss_kb = max(step.max_rss_kb, rss)
                if step.mem_limit_kb and rss > step.mem_limit_kb and not step.oom:
                    step.oom = True
                    _log(f"job {key[0]} run {key[1]}: {rss} KB > limit {step.mem_limit_kb} KB: killing")
                    with contextlib.suppress(OSError), open(step.stderr_path, "ab") as f:
                        f.write(
                            f"slurmstepd-{self.node}: error: Detected 1 oom-kill event(s) in "
                            f"StepId={key[0]}.batch. Some of your processes may have been killed "
                            "by the cgroup out-of-memory handler.\n".encode()
                        )
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(step.proc.pid, signal.SIGKILL)
            await asyncio.sleep(1.0)
        self.memory_watch = None

    def _kill(self, key: tuple[int, int], why: str, sig_name: str) -> None:
        step = self.steps.get(key)
        if step is None:
            return
        if why == "SIGNAL":
            # scancel -s: deliver the signal to the job, nothing more.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(step.proc.pid, _signum(sig_name))
            return
        if step.why_killed is None and why in ("CANCELLED", "TIMEOUT"):
            stamp = time.strftime("%Y-%m-%dT%H:%M:%S")
            tail = " DUE TO TIME LIMIT" if why == "TIMEOUT" else ""
            line = (
                f"slurmstepd-{self.node}: error: *** JOB {key[0]} ON {self.node} "
                f"CANCELLED AT {stamp}{tail} ***\n"
            )
            try:
                with open(step.stderr_path, "ab") as f:
                    f.write(line.encode())
            except OSError:
                pass
        step.why_killed = step.why_killed or why
        signum = _signum(sig_name)
        try:
            os.killpg(step.proc.pid, signal.SIGCONT)
            os.killpg(step.proc.pid, signum)
        except ProcessLookupError:
            return
        if step.kill_handle is None and self.loop is not None:
            step.kill_handle = self.loop.call_later(self.kill_wait, self._force_kill, key)

    def _force_kill(self, key: tuple[int, int]) -> None:
        step = self.steps.get(key)
        if step is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(step.proc.pid, signal.SIGKILL)

    async def _stop_all(self, why: str) -> None:
        for key in list(self.steps):
            self._kill(key, why, "TERM")
        deadline = time.monotonic() + min(self.kill_wait, 10.0)
        while self.steps and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        for key in list(self.steps):
            self._force_kill(key)
        await asyncio.sleep(0)
        if self.writer is not None:
            with contextlib.suppress(OSError, TimeoutError):
                await asyncio.wait_for(self.writer.drain(), timeout=1.0)


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="stratus-agent", description="stratus node agent")
    parser.add_argument("--cluster-dir", required=True)
    parser.add_argument("--node", required=True)
    parser.add_argument("--instance-id", required=True)
    parser.add_argument("--kill-wait", type=float, default=30.0)
    args = parser.parse_args(argv)
    os.umask(0o077)  # its spool holds job scripts; each job step sets the submitter's umask
    agent = Agent(ClusterPaths(Path(args.cluster_dir)), args.node, args.instance_id, args.kill_wait)
    _log(f"agent for {args.node} ({args.instance_id}) pid {os.getpid()} starting")
    return asyncio.run(agent.run())

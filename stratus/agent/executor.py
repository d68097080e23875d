"""The agent's executor: starts, watches and stops jobs' batch scripts on this node.

Guarantees:

* A job's batch script runs as its own process group inside the agent's session, with the job's
  environment, working directory and output files. When it exits, whatever it left behind in its
  process group is killed (Slurm does the same with cgroups), and so are the job's steps here.
* Every run ends in exactly one :class:`~stratus.agent.protocol.Finished` report (a launch that
  fails is reported as ended with exit code 1); the connection repeats it until acknowledged.
* ``--mem`` is enforced: a job whose process group's resident memory passes its limit is killed
  and reported as out of memory, with Slurm's oom-kill line in its stderr.

* The script runs with its user's rights (see :mod:`stratus.agent.users`): its files are opened
  and its working directory entered by the script's first process, already as the user, so a job
  cannot write where its user could not.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from stratus.agent.gpus import GpuBinder, gpu_env
from stratus.agent.protocol import INSTANCE_ENV, NODE_ADDRESS_ENV, Finished, Launch, Started
from stratus.agent.users import RefusedUser, RunAs, append_as, reap, run_as

# The batch script's first process. It sets the umask, opens the job's files and changes directory
# in the child (a FIFO or a hung mount then blocks the job, never the agent), exports the pid as
# SLURM_TASK_PID (only the child knows it), and replaces itself with the script, so that pid is
# the script's. Arguments: umask stdin stdout stderr("" = stdout) mode(append|truncate) cwd
# script args... With data staging, "--stage python program spec" comes before the script: the
# program stages in (a failure ends the job with its status, the script never runs), the script
# runs as a child, then the program stages out; the job's status is the script's, or the
# stage-out's failure when the script succeeded.
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
if [ "$1" = --stage ]; then
  py=$2 program=$3 spec=$4
  shift 4
  "$py" -I "$program" in "$spec" || exit $?
  "$@"
  status=$?
  "$py" -I "$program" out "$spec"
  out=$?
  if [ "$status" -eq 0 ] && [ "$out" -ne 0 ]; then status=$out; fi
  exit "$status"
fi
exec "$@"
"""
# The node's staging program (standard library only), copied into each staged run's spool
# folder so that the job's user can read it wherever the agent itself is installed.
_STAGING = Path(__file__).with_name("staging.py")


def signum(name: str) -> int:
    """A signal given as ``TERM``, ``SIGUSR1`` or ``10``."""
    if name.isascii() and name.isdigit():
        return int(name)
    upper = name.upper()
    return int(getattr(signal, upper if upper.startswith("SIG") else "SIG" + upper, signal.SIGTERM))


def log(msg: str) -> None:
    """The agent's log line (its stderr goes to the node's log file)."""
    sys.stderr.write(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} {msg}\n")
    sys.stderr.flush()


@dataclass
class Batch:
    """A job's running batch script."""

    job_id: int
    run: int
    proc: subprocess.Popen[bytes]
    pidfd: int
    stderr_path: str
    spool_dir: str
    who: RunAs
    why_killed: str | None = None
    kill_handle: asyncio.TimerHandle | None = None
    mem_limit_kb: int | None = None
    max_rss_kb: int = 0
    oom: bool = False


class Executor:
    """Batch scripts of one node. ``report`` receives each run's end; ``notify`` other messages."""

    def __init__(
        self,
        node: str,
        instance_id: str,
        spool: Path,
        kill_wait: float,
        *,
        report: Callable[[Finished], None],
        notify: Callable[[Started], None],
        kill_steps: Callable[[int, int, int | None, int], None],
        gpus: GpuBinder | None = None,
    ) -> None:
        self.node = node
        self.instance_id = instance_id
        self.node_address = ""  # see NODE_ADDRESS_ENV; set once the link is up
        self.spool = spool
        self.kill_wait = kill_wait
        self._report = report
        self._notify = notify
        self._kill_steps = kill_steps  # (job, run, step or None, signal): the job's steps here
        self.gpus = gpus or GpuBinder()
        self.batches: dict[tuple[int, int], Batch] = {}
        self.memory_watch: asyncio.Task[None] | None = None

    def running(self) -> dict[tuple[int, int], int]:
        """(job, run) -> pid of every batch script running here."""
        return {key: b.proc.pid for key, b in self.batches.items()}

    def launch(self, msg: Launch, already_reported: bool) -> None:
        """Start a run's batch script (a repeated launch of a known run is ignored)."""
        key = (msg.job_id, msg.run)
        if key in self.batches or already_reported:
            return  # a repeated launch (head node restarted between send and ack)
        job_id, run = key
        spool = self.spool / f"job{job_id:05d}.{run}"
        env = dict(msg.env)
        # Marks every process of the job as this instance's (see providers.local).
        env[INSTANCE_ENV] = self.instance_id
        if self.node_address:
            env[NODE_ADDRESS_ENV] = self.node_address
        env.update(gpu_env(self.gpus.bind(job_id, msg.gpus)))
        stderr = msg.stderr
        same = not stderr or stderr == msg.stdout
        proc: subprocess.Popen[bytes] | None = None
        try:
            who = run_as(msg.user, msg.uid, msg.gid, self.node)
            spool.mkdir(parents=True, exist_ok=True, mode=0o700)
            if who.switch:
                # The user's script lives here: they may pass through, not list or write.
                for parent in (self.spool, self.spool.parent):
                    parent.chmod(0o711)
                who.chown(str(spool))
            script = spool / "slurm_script"
            script.write_bytes(msg.script.encode("utf-8", "surrogateescape"))
            script.chmod(0o700)
            who.chown(str(script))
            cwd = msg.cwd
            if msg.scratch:
                work = spool / "work"
                work.mkdir(mode=0o700, exist_ok=True)
                who.chown(str(work))
                cwd = str(work)
            stage: list[str] = []
            if msg.stage_in or msg.stage_out:
                spec = spool / "stage.json"
                spec.write_text(json.dumps({"in": msg.stage_in, "out": msg.stage_out}))
                program = spool / "staging.py"
                shutil.copyfile(_STAGING, program)
                for path in (spec, program):
                    path.chmod(0o600)
                    who.chown(str(path))
                stage = ["--stage", sys.executable, str(program), str(spec)]
            proc = subprocess.Popen(
                [
                    "/bin/sh",
                    "-c",
                    _WRAPPER,
                    "slurmstepd",
                    f"{msg.umask:03o}",
                    msg.stdin or "/dev/null",
                    msg.stdout,
                    "" if same else stderr,
                    "append" if msg.open_mode == "append" else "truncate",
                    cwd,
                    *stage,
                    str(script),
                    *msg.args,
                ],
                cwd="/",
                env=env,
                stdin=subprocess.DEVNULL,
                process_group=0,
                close_fds=True,
                **who.popen(),
            )
            pidfd = os.pidfd_open(proc.pid)
        except (OSError, ValueError, RefusedUser) as exc:
            error = str(exc) if isinstance(exc, RefusedUser) else f"{exc.__class__.__name__}: {exc}"
            log(f"job {job_id} run {run}: launch failed: {error}")
            if proc is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            shutil.rmtree(spool, ignore_errors=True)
            self.gpus.release(job_id)
            self._report(Finished(job_id, run, exit_code=1, end_time=time.time(), error=error))
            return
        batch = Batch(job_id, run, proc, pidfd, msg.stdout if same else stderr, str(spool), who)
        if msg.mem_limit_mb:
            batch.mem_limit_kb = msg.mem_limit_mb * 1024
            if self.memory_watch is None:
                self.memory_watch = asyncio.get_running_loop().create_task(self._watch_memory())
        self.batches[key] = batch
        asyncio.get_running_loop().add_reader(pidfd, self._reap, key)
        self._notify(Started(job_id, run, proc.pid))
        log(f"job {job_id} run {run}: started pid {proc.pid}")

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
        asyncio.get_running_loop().remove_reader(batch.pidfd)
        os.close(batch.pidfd)
        if batch.kill_handle is not None:
            batch.kill_handle.cancel()
        code = os.waitstatus_to_exitcode(status)
        batch.proc.returncode = code
        # Whatever the script left running in its process group ends with it, and its steps.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(batch.proc.pid, signal.SIGKILL)
        self._kill_steps(key[0], key[1], None, signal.SIGKILL)
        del self.batches[key]
        self.gpus.release(key[0])  # its processes here are gone
        shutil.rmtree(batch.spool_dir, ignore_errors=True)
        usage: dict[str, float] = {}
        if rusage is not None:
            usage = {
                "maxrss_kb": max(rusage.ru_maxrss, batch.max_rss_kb),
                "utime": rusage.ru_utime,
                "stime": rusage.ru_stime,
            }
        exit_code, sig = (0, -code) if code < 0 else (code, 0)
        log(
            f"job {key[0]} run {key[1]}: exited code={exit_code} signal={sig}{' (out of memory)' * batch.oom}"
        )
        self._report(
            Finished(
                key[0],
                key[1],
                exit_code=exit_code,
                signal=sig,
                end_time=time.time(),
                oom=batch.oom,
                usage=usage,
            )
        )

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
                    log(f"job {key[0]} run {key[1]}: {rss} KB > limit {batch.mem_limit_kb} KB: killing")
                    self._append(
                        batch,
                        f"slurmstepd-{self.node}: error: Detected 1 oom-kill event(s) in "
                        f"StepId={key[0]}.batch. Some of your processes may have been killed "
                        "by the cgroup out-of-memory handler.\n",
                    )
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(batch.proc.pid, signal.SIGKILL)
            await asyncio.sleep(1.0)
        self.memory_watch = None

    @staticmethod
    def _append(batch: Batch, line: str) -> None:
        """Add Slurm's line to the job's stderr file, with the job user's rights."""
        writer = append_as(batch.who, batch.stderr_path, line)
        if writer is not None:
            asyncio.get_running_loop().run_in_executor(None, reap, writer)

    def kill(self, key: tuple[int, int], why: str, sig_name: str) -> None:
        """Stop (or, for SIGNAL/SIGNAL_BATCH, signal) a run; SIGKILL after the kill wait."""
        if why == "SIGNAL":
            self._kill_steps(key[0], key[1], None, signum(sig_name))  # --signal / scancel -s: steps too
        elif why != "SIGNAL_BATCH":
            self._kill_steps(key[0], key[1], None, signal.SIGKILL)  # a job's steps end with it
        batch = self.batches.get(key)
        if batch is None:
            return
        if why in ("SIGNAL", "SIGNAL_BATCH"):
            # scancel -s, --signal: deliver the signal to the job, nothing more.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(batch.proc.pid, signum(sig_name))
            return
        if batch.why_killed is None and why in ("CANCELLED", "TIMEOUT"):
            stamp = time.strftime("%Y-%m-%dT%H:%M:%S")
            tail = " DUE TO TIME LIMIT" if why == "TIMEOUT" else ""
            line = (
                f"slurmstepd-{self.node}: error: *** JOB {key[0]} ON {self.node} "
                f"CANCELLED AT {stamp}{tail} ***\n"
            )
            self._append(batch, line)
        batch.why_killed = batch.why_killed or why
        try:
            os.killpg(batch.proc.pid, signal.SIGCONT)
            os.killpg(batch.proc.pid, signum(sig_name))
        except ProcessLookupError:
            return
        if batch.kill_handle is None:
            batch.kill_handle = asyncio.get_running_loop().call_later(self.kill_wait, self.force_kill, key)

    def force_kill(self, key: tuple[int, int]) -> None:
        batch = self.batches.get(key)
        if batch is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(batch.proc.pid, signal.SIGKILL)

    async def stop_all(self, why: str) -> None:
        """Stop every run (TERM, then KILL after at most ten seconds) and wait for their ends."""
        for key in list(self.batches):
            self.kill(key, why, "TERM")
        deadline = time.monotonic() + min(self.kill_wait, 10.0)
        while self.batches and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        for key in list(self.batches):
            self.force_kill(key)
        await asyncio.sleep(0)

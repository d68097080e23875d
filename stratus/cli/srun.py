"""``srun``: run a command as a job step on the tasks of a job allocation.

Inside a batch job (``SLURM_JOB_ID`` set, or ``--jobid``), srun asks the head node for a step;
the head node lays the tasks out on the job's nodes and tells their agents, which run the tasks
and stream their output and exit codes back here over a socket this srun listens on, as
slurmstepd does for Slurm's srun. srun prints the output as it comes (``-l`` labels lines with
the task id), and exits with the highest task exit code. If srun is interrupted, the step's tasks
are signalled; if srun dies, the agents kill them.

srun's stdin goes to every task (``-i all``, Slurm's default), to one (``-i N``), to none
(``-i none``: the tasks read end of file), or a file's content goes to every task (``-i FILE``);
it is forwarded once every node has started its tasks. ``--pty`` runs task 0 on a
pseudo-terminal of its own: srun puts its terminal in raw mode, forwards every key and the
window size, and prints the terminal's output as it comes (``srun --pty bash``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import secrets
import signal
import sys
import threading
from typing import Any

from stratus.agent.stepio import MAX_LINE, decode, encode
from stratus.net import LOOPBACK

SIGNAL_NAMES = {
    int(signal.SIGKILL): "Killed",
    int(signal.SIGTERM): "Terminated",
    int(signal.SIGSEGV): "Segmentation fault",
    int(signal.SIGABRT): "Aborted",
    int(signal.SIGINT): "Interrupt",
    int(signal.SIGBUS): "Bus error",
}


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="srun", add_help=True, allow_abbrev=False)
    p.add_argument("-n", "--ntasks", type=int)
    p.add_argument("-N", "--nodes", type=str)
    p.add_argument("-c", "--cpus-per-task", type=int)
    p.add_argument("--ntasks-per-node", type=int)
    p.add_argument("-J", "--job-name")
    p.add_argument("-l", "--label", action="store_true")
    p.add_argument("--jobid", type=int)
    p.add_argument("-D", "--chdir")
    p.add_argument("--export")
    p.add_argument("-K", "--kill-on-bad-exit", nargs="?", const="1")
    p.add_argument("-i", "--input", default="all")
    p.add_argument("--pty", action="store_true")
    # Accepted for compatibility; they change nothing here (no MPI plugins, no CPU binding).
    for flag in ("--mpi", "--cpu-bind", "--cpu_bind", "--distribution", "-m", "-t", "--time", "--mem"):
        p.add_argument(flag, dest=None)
    for flag in ("-u", "--unbuffered", "--overlap", "--exclusive", "-Q", "--quiet", "-v", "--verbose"):
        p.add_argument(flag, action="count")
    p.add_argument("command", nargs=argparse.REMAINDER)
    return p


def _post(cluster_dir: str, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    from stratus.cli.salloc import Head

    return Head(cluster_dir).call("POST", path, body)


class Step:
    """The running step, seen from srun: connections from agents, output, task exits."""

    def __init__(self, token: str, label: bool, raw: bool = False) -> None:
        self.ntasks: int | None = None  # known once the head node has laid the step out
        self.nnodes: int | None = None
        self.token = token
        self.label = label and not raw
        self.raw = raw  # --pty: the terminal's bytes as they come
        self.exits: dict[int, tuple[int, int, str]] = {}  # procid -> (code, signal, node)
        self.partial: dict[tuple[int, str], str] = {}
        self.done = asyncio.Event()
        self.writers: list[asyncio.StreamWriter] = []
        self.nodes_ready = 0
        self.ready = asyncio.Event()  # every node has started its tasks: stdin may flow

    async def connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        node = "?"
        try:
            hello = decode(await reader.readuntil(b"\n"))
            if hello.get("type") != "hello" or hello.get("token") != self.token:
                writer.close()
                return
            node = str(hello.get("node"))
            self.writers.append(writer)
            while True:
                msg = decode(await reader.readuntil(b"\n"))
                kind = msg.get("type")
                if kind in ("out", "err"):
                    self.write(int(msg["procid"]), kind, str(msg["data"]))
                elif kind == "exit":
                    procid = int(msg["procid"])
                    self.flush(procid)
                    self.exits[procid] = (int(msg["code"]), int(msg["signal"]), node)
                    self.check_done()
                elif kind == "ready":
                    self.nodes_ready += 1
                    self.check_ready()
        except (asyncio.IncompleteReadError, ConnectionError, ValueError, asyncio.CancelledError):
            pass  # an agent done (or srun done with it): nothing more to read
        finally:
            writer.close()

    def check_done(self) -> None:
        if self.ntasks is not None and len(self.exits) >= self.ntasks:
            self.done.set()

    def check_ready(self) -> None:
        if self.nnodes is not None and self.nodes_ready >= self.nnodes:
            self.ready.set()

    def send(self, msg: dict[str, Any]) -> None:
        for w in self.writers:
            if not w.is_closing():
                with contextlib.suppress(OSError, RuntimeError):
                    w.write(encode(msg))

    def write(self, procid: int, kind: str, data: str) -> None:
        try:
            self._write(procid, kind, data)
        except BrokenPipeError:
            _reader_gone()

    def _write(self, procid: int, kind: str, data: str) -> None:
        stream = sys.stdout if kind == "out" else sys.stderr
        if self.raw:
            stream.buffer.write(data.encode("utf-8", "surrogateescape"))
            stream.flush()
            return
        if not self.label:
            stream.write(data)
            stream.flush()
            return
        # With -l every line starts with its task id; keep partial lines until they end.
        text = self.partial.pop((procid, kind), "") + data
        lines = text.split("\n")
        self.partial[(procid, kind)] = lines.pop()
        for line in lines:
            stream.write(f"{procid}: {line}\n")
        stream.flush()

    def flush(self, procid: int) -> None:
        for kind in ("out", "err"):
            rest = self.partial.pop((procid, kind), "")
            if rest:
                try:
                    (sys.stdout if kind == "out" else sys.stderr).write(f"{procid}: {rest}\n")
                except BrokenPipeError:
                    _reader_gone()

    def signal(self, name: str) -> None:
        self.send({"type": "signal", "signal": name})


def _reader_gone() -> None:
    """srun's output has no reader any more (``srun ... | head -1``): end quietly, as SIGPIPE ends
    a C program (status 141, no traceback). The agents see srun go and kill the step's tasks."""
    os._exit(128 + signal.SIGPIPE)


def _window_size() -> tuple[int, int] | None:
    import fcntl
    import struct
    import termios

    try:
        rows, cols, _, _ = struct.unpack("HHHH", fcntl.ioctl(0, termios.TIOCGWINSZ, b"\0" * 8))
    except OSError:
        return None
    return rows, cols


async def _forward_stdin(step: Step, mode: str) -> None:
    """Once every node is ready: srun's stdin (or a file) to the tasks ``-i`` names, then EOF.

    A daemon thread does the blocking reads, so a terminal that never ends its input does not
    keep srun alive after the step.
    """
    await step.ready.wait()
    if mode.lower() == "none":
        step.send({"type": "eof", "procid": None})
        return
    target: int | None = int(mode) if mode.isascii() and mode.isdigit() else None
    if target is not None:  # the other tasks read /dev/null
        for procid in range(step.ntasks or 0):
            if procid != target:
                step.send({"type": "eof", "procid": procid})
    try:
        fd = 0 if mode.lower() == "all" or target is not None else os.open(mode, os.O_RDONLY)
    except OSError as exc:
        sys.stderr.write(f"srun: error: Could not open stdin file: {exc}\n")
        step.send({"type": "eof", "procid": None})
        return
    loop = asyncio.get_running_loop()

    def pump() -> None:
        while True:
            try:
                data = os.read(fd, 65536)
            except OSError:
                data = b""
            msg = {"type": "in", "procid": target, "data": data.decode("utf-8", "surrogateescape")}
            if not data:
                msg = {"type": "eof", "procid": target}
            with contextlib.suppress(RuntimeError):  # the loop is gone: srun is done
                loop.call_soon_threadsafe(step.send, msg)
            if not data:
                return

    threading.Thread(target=pump, name="srun-stdin", daemon=True).start()


# srun options that shape the step only: not passed on when srun asks for an allocation.
_STEP_ONLY_FLAGS = {"-l", "--label", "-u", "--unbuffered", "--overlap", "-K", "--kill-on-bad-exit", "-Q",
                    "--quiet", "-v", "--verbose", "--pty"}  # fmt: skip
_STEP_ONLY_WITH_VALUE = {"--mpi", "--cpu-bind", "--cpu_bind", "--distribution", "-m", "--jobid", "-i",
                         "--input"}  # fmt: skip


def allocation_options(options: list[str]) -> list[str]:
    """srun's options minus those that only shape the step: what an allocation is asked with."""
    out: list[str] = []
    skip = False
    for tok in options:
        if skip:
            skip = False
            continue
        name = tok.split("=", 1)[0]
        if name in _STEP_ONLY_FLAGS:
            continue
        if name in _STEP_ONLY_WITH_VALUE:
            skip = "=" not in tok and not (tok.startswith("-") and not tok.startswith("--") and len(tok) > 2)
            continue
        out.append(tok)
    return out


def main_outside(cluster_dir: str, args: argparse.Namespace, options: list[str]) -> int:
    """srun without an allocation: get one (as salloc does), run the step in it, release it."""
    from stratus.cli.salloc import Head, KeepAlive, allocate, relinquish

    head = Head(cluster_dir)
    job_id, _, env = allocate(head, "srun", [*allocation_options(options), *args.command])
    os.environ.update(env)
    args.jobid = job_id
    keep = KeepAlive(head, job_id)
    keep.start()
    code = 1
    try:
        code = asyncio.run(_run(cluster_dir, args))
    finally:
        keep.stopped.set()
        with contextlib.suppress(OSError):
            relinquish(head, job_id, code)
    return code


async def _run(cluster_dir: str, args: argparse.Namespace) -> int:
    job_id = args.jobid or int(os.environ.get("SLURM_JOB_ID", "0") or 0)
    command = list(args.command)
    if command and command[0] == "--":
        command = command[1:]
    if not command:
        sys.stderr.write("srun: fatal: No command given to execute.\n")
        return 1
    token = secrets.token_hex(16)
    step = Step(token, args.label, raw=args.pty)
    server = await asyncio.start_server(step.connection, LOOPBACK, 0, limit=MAX_LINE)
    port = server.sockets[0].getsockname()[1]
    env = dict(os.environ)
    if args.export is not None and args.export.upper() == "NONE":
        env = {k: v for k, v in env.items() if k.startswith("SLURM_")}
    body = {
        "job_id": job_id,
        "argv": command,
        "cwd": args.chdir or os.getcwd(),
        "env": env,
        "ntasks": args.ntasks,
        "nodes": int(args.nodes.split("-")[0]) if args.nodes else None,
        "cpus_per_task": args.cpus_per_task,
        "ntasks_per_node": args.ntasks_per_node,
        "name": args.job_name,
        "io_host": LOOPBACK,
        "io_port": port,
        "io_token": token,
        "pty": bool(args.pty),
    }
    try:
        status, reply = await asyncio.to_thread(_post, cluster_dir, "/slurm/v1/steps", body)
    except (OSError, ValueError) as exc:
        sys.stderr.write(f"srun: error: Unable to contact slurm controller (connect failure): {exc}\n")
        server.close()
        return 1
    if status != 200:
        sys.stderr.write(str(reply.get("message", f"srun: error: HTTP {status}")) + "\n")
        server.close()
        return 1
    step.ntasks = int(reply["ntasks"])
    step.nnodes = len(reply.get("layout") or {})
    step.check_done()
    step.check_ready()
    loop = asyncio.get_running_loop()
    for signum, name in ((signal.SIGINT, "INT"), (signal.SIGTERM, "TERM")):
        loop.add_signal_handler(signum, step.signal, name)
    saved_tty: list[Any] | None = None
    if args.pty and os.isatty(0):
        import termios
        import tty

        saved_tty = termios.tcgetattr(0)
        tty.setraw(0)

        def resized() -> None:
            size = _window_size()
            if size is not None:
                step.send({"type": "winch", "rows": size[0], "cols": size[1]})

        loop.add_signal_handler(signal.SIGWINCH, resized)
    # With --pty the keys are task 0's (its terminal); the other tasks read end of file.
    mode = "0" if args.pty and args.input.lower() == "all" else args.input
    stdin_task = loop.create_task(_forward_stdin(step, mode))
    try:
        if saved_tty is not None:
            await step.ready.wait()
            resized()  # the terminal's size, once task 0's terminal exists
        await step.done.wait()
    finally:
        stdin_task.cancel()
        if saved_tty is not None:
            import termios

            termios.tcsetattr(0, termios.TCSADRAIN, saved_tty)
    server.close()
    worst = 0
    by_outcome: dict[tuple[str, int, int], list[int]] = {}
    for procid, (code, sig, node) in sorted(step.exits.items()):
        if code or sig:
            by_outcome.setdefault((node, code, sig), []).append(procid)
        worst = max(worst, 128 + sig if sig else code)
    for (node, code, sig), procids in sorted(by_outcome.items()):
        tasks = ",".join(str(p) for p in procids)
        what = SIGNAL_NAMES.get(sig, f"signal {sig}") if sig else f"Exited with exit code {code}"
        sys.stderr.write(f"srun: error: {node}: task{'s' if len(procids) > 1 else ''} {tasks}: {what}\n")
    return worst


def main(cluster_dir: str) -> None:
    args = _parser().parse_args(sys.argv[1:])
    if args.command and args.command[0] == "--":
        args.command = args.command[1:]
    if not args.command:
        sys.stderr.write("srun: fatal: No command given to execute.\n")
        sys.exit(1)
    if not (args.jobid or os.environ.get("SLURM_JOB_ID")):
        raw = sys.argv[1:]
        options = raw[: len(raw) - len(args.command)]
        if options and options[-1] == "--":
            options.pop()
        sys.exit(main_outside(cluster_dir, args, options))
    sys.exit(asyncio.run(_run(cluster_dir, args)))

"""``salloc``: get a job allocation, run a command (a shell by default) in it, release it.

The allocation is an interactive job: the head node grants it like any job (its nodes power up
if needed) but launches nothing; this client runs the command with the allocation's ``SLURM_*``
environment, so ``srun`` inside it runs steps on the allocated nodes. While the command runs,
salloc tells the head node it is alive; if salloc disappears, the head node cancels the
allocation after a minute. When the command ends, the job ends with the command's exit code.

Options are Slurm 22.05's salloc table: the sbatch options salloc shares (read here with getopt
as salloc reads them, then sent to the head node in sbatch's spelling, where sbatch's parser
checks their values) and salloc's own (``--bell``, ``--no-bell``, ``-K/--kill-command``,
``-I/--immediate``, ``--x11``). ``SALLOC_*`` variables set options as salloc's do; ``SBATCH_*``
variables are sbatch's and are not read. This module also holds what salloc and srun share:
the head node client, the option tables and their translation, and the wait for an allocation.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from stratus.net import connect_unix
from stratus.slurm import version_line
from stratus.slurm.errors import SlurmError, command_error
from stratus.slurm.options import Arg, LongOpt, OptionError, getopt_long
from stratus.slurm.sbatch_options import EARLY_KEYS, LONG_BY_KEY, LONGOPTS

HEARTBEAT_S = 10.0
BELL_AFTER_S = 10.0  # Slurm rings the terminal's bell when an allocation took at least this long
EXIT_USAGE = 255  # a bad option or option value: slurm_process_option_or_exit() exits -1


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


# -- option tables shared with srun ----------------------------------------------------------------

_SBATCH_KEYS = frozenset(lo.key for lo in LONGOPTS)


def option_table(lacks: Collection[str], own: Iterable[LongOpt]) -> tuple[tuple[LongOpt, ...], str]:
    """A command's getopt tables: sbatch's options but those it ``lacks`` (by long name), then its
    ``own``; and the short-option string (``+``: options end at the command, as in Slurm).

    An own option whose key is a short letter is that letter's option (``-K``), so a command's
    letters must not collide with the sbatch letters it keeps.
    """
    longopts = tuple(lo for lo in LONGOPTS if lo.name not in lacks) + tuple(own)
    spec = "+"
    seen: set[str] = set()
    for lo in longopts:
        if len(lo.key) == 1 and lo.key not in seen:
            seen.add(lo.key)
            spec += lo.key + {Arg.NONE: "", Arg.REQUIRED: ":", Arg.OPTIONAL: "::"}[lo.arg]
    return longopts, spec


def sbatch_argv(opts: Iterable[tuple[str, str | None]], skip: Collection[str] = ()) -> list[str]:
    """The options an allocation is asked with, as sbatch spells them (``--name[=value]``).

    Only options sbatch has are kept, less ``skip`` (those the command keeps for itself) and the
    ones every command acts on locally (``--help``, ``-Q``, ``-v`` ...). The ``=`` form keeps a
    value that starts with ``-`` a value.
    """
    out: list[str] = []
    for key, val in opts:
        if key in skip or key in EARLY_KEYS or key not in _SBATCH_KEYS:
            continue
        name = LONG_BY_KEY[key]
        out.append(f"--{name}" if val is None else f"--{name}={val}")
    return out


def env_options(
    env: Mapping[str, str], table: Iterable[tuple[str, str]], longopts: Iterable[LongOpt]
) -> list[tuple[str, str | None]]:
    """Options set by input variables (``table``: variable, option key; in Slurm's order).

    They come before the command line's, which therefore override them. A variable of an option
    without an argument sets it whatever its value, as in Slurm.
    """
    kinds = {lo.key: lo.arg for lo in longopts}
    out: list[tuple[str, str | None]] = []
    for var, key in table:
        if var in env and key in kinds:
            out.append((key, None if kinds[key] is Arg.NONE else env[var]))
    return out


def signal_number(text: str) -> int | None:
    """A signal given as ``TERM``, ``SIGTERM`` or ``15`` (Slurm's sig_name2num); None if unknown."""
    if text.isascii() and text.isdigit():
        return int(text) if 0 < int(text) < signal.NSIG else None
    name = text.upper()
    name = name if name.startswith("SIG") else "SIG" + name
    sig = getattr(signal, name, None)
    return int(sig) if isinstance(sig, signal.Signals) else None


# -- salloc's own table -----------------------------------------------------------------------------

# sbatch options salloc does not have (Slurm 22.05's salloc table).
_NOT_IN_SALLOC = frozenset(
    {
        "array", "batch", "error", "export", "export-file", "ignore-pbs", "input", "kill-on-invalid-dep",
        "no-requeue", "open-mode", "output", "parsable", "propagate", "requeue", "test-only", "wait",
        "wrap",
    }
)  # fmt: skip
_SALLOC_OWN = (
    LongOpt("bell", Arg.NONE, "bell"),
    LongOpt("immediate", Arg.OPTIONAL, "I"),
    LongOpt("kill-command", Arg.OPTIONAL, "K"),
    LongOpt("no-bell", Arg.NONE, "no-bell"),
    LongOpt("no-shell", Arg.NONE, "no-shell"),
    LongOpt("x11", Arg.OPTIONAL, "x11"),
)
SALLOC_LONGOPTS, SALLOC_SHORTOPTS = option_table(_NOT_IN_SALLOC, _SALLOC_OWN)
# Options salloc keeps for itself: never sent to the head node.
_SALLOC_KEYS = frozenset(lo.key for lo in _SALLOC_OWN)
# Refused: stratus cancels an allocation whose salloc is gone, so salloc cannot leave one behind.
_SALLOC_REFUSED = frozenset({"no-shell"})

# salloc's input variables (Slurm 22.05), those with an option in its table.
_SALLOC_ENV = (
    ("SALLOC_ACCOUNT", "A"), ("SALLOC_ACCTG_FREQ", "acctg-freq"), ("SALLOC_BELL", "bell"),
    ("SALLOC_BURST_BUFFER", "bb"), ("SALLOC_CLUSTER_CONSTRAINT", "cluster-constraint"),
    ("SALLOC_CLUSTERS", "M"), ("SLURM_CLUSTERS", "M"), ("SALLOC_CONTAINER", "container"),
    ("SALLOC_CONSTRAINT", "C"), ("SALLOC_CORE_SPEC", "S"), ("SALLOC_CPU_FREQ_REQ", "cpu-freq"),
    ("SALLOC_CPUS_PER_GPU", "cpus-per-gpu"), ("SALLOC_DELAY_BOOT", "delay-boot"),
    ("SALLOC_EXCLUSIVE", "exclusive"), ("SALLOC_GPUS", "G"), ("SALLOC_GPU_BIND", "gpu-bind"),
    ("SALLOC_GPU_FREQ", "gpu-freq"), ("SALLOC_GPUS_PER_NODE", "gpus-per-node"),
    ("SALLOC_GPUS_PER_SOCKET", "gpus-per-socket"), ("SALLOC_GPUS_PER_TASK", "gpus-per-task"),
    ("SALLOC_GRES", "gres"), ("SALLOC_GRES_FLAGS", "gres-flags"), ("SALLOC_IMMEDIATE", "I"),
    ("SALLOC_HINT", "hint"), ("SLURM_HINT", "hint"), ("SALLOC_KILL_CMD", "K"),
    ("SALLOC_MEM_BIND", "mem-bind"), ("SALLOC_MEM_PER_CPU", "mem-per-cpu"),
    ("SALLOC_MEM_PER_GPU", "mem-per-gpu"), ("SALLOC_MEM_PER_NODE", "mem"),
    ("SALLOC_NETWORK", "network"), ("SALLOC_NO_BELL", "no-bell"), ("SALLOC_NO_KILL", "k"),
    ("SALLOC_OVERCOMMIT", "O"), ("SALLOC_PARTITION", "p"), ("SALLOC_POWER", "power"),
    ("SALLOC_PROFILE", "profile"), ("SALLOC_QOS", "q"), ("SALLOC_RESERVATION", "reservation"),
    ("SALLOC_SIGNAL", "signal"), ("SALLOC_SPREAD_JOB", "spread-job"),
    ("SALLOC_THREAD_SPEC", "thread-spec"), ("SALLOC_THREADS_PER_CORE", "threads-per-core"),
    ("SALLOC_TIMELIMIT", "t"), ("SALLOC_USE_MIN_NODES", "use-min-nodes"),
    ("SALLOC_WAIT_ALL_NODES", "wait-all-nodes"), ("SALLOC_WCKEY", "wckey"),
)  # fmt: skip

SALLOC_USAGE = """\
Usage: salloc [-N numnodes|[min nodes]-[max nodes]] [-n num-processors]
              [-c cpus-per-node] [-p partition] [--hold] [-t minutes]
              [--account=name] [--qos=qos] [-J jobname] [--mem=MB] [--mem-per-cpu=MB]
              [--gres=list] [--gpus=n] [--gpus-per-node=n] [-C list] [--exclusive]
              [-w hosts...] [-x hosts...] [--begin=time] [--dependency=type:jobid]
              [--kill-command[=signal]] [--bell] [--no-bell] [--chdir=path]
              [executable [args...]]
"""

SALLOC_HELP = """\
Usage: salloc [OPTIONS...] [command [args...]]

Parallel run options:
  -A, --account=name          charge job to specified account
  -b, --begin=time            defer job until HH:MM MM/DD/YY
      --bell                  ring the terminal bell when the job is allocated
  -c, --cpus-per-task=ncpus   number of cpus required per task
  -d, --dependency=type:jobid[:time] defer job until condition on jobid is satisfied
  -D, --chdir=path            change working directory
  -H, --hold                  submit job in held state
  -J, --job-name=jobname      name of job
  -K, --kill-command[=signal] signal to send terminating job
  -n, --ntasks=N              number of processors required
  -N, --nodes=N               number of nodes on which to run (N = min[-max])
      --no-bell               do NOT ring the terminal bell
      --ntasks-per-node=n     number of tasks to invoke on each node
  -p, --partition=partition   partition requested
  -q, --qos=qos               quality of service
  -Q, --quiet                 quiet mode (suppress informational messages)
  -t, --time=minutes          time limit

Constraint options:
  -C, --constraint=list       specify a list of constraints
      --mem=MB                minimum amount of real memory
      --mem-per-cpu=MB        maximum amount of real memory per allocated cpu
      --exclusive[=user]      allocate nodes in exclusive mode
  -w, --nodelist=hosts...     request a specific list of hosts
  -x, --exclude=hosts...      exclude a specific list of hosts

GPU scheduling options:
  -G, --gpus=n                count of GPUs required for the job
      --gpus-per-node=n       number of GPUs required per allocated node
      --gres=list             required generic resources (gpu[:type]:count)

Help options:
  -h, --help                  show this help message
      --usage                 display brief usage message

Other options:
  -V, --version               output version information and exit

This is stratus's salloc: every other option of Slurm 22.05's salloc is accepted and
recorded; --no-shell is not supported yet.
"""


@dataclass(slots=True)
class SallocOptions:
    """salloc's command line and ``SALLOC_*`` variables, read."""

    alloc_argv: list[str] = field(default_factory=list)  # the allocation's options, sbatch's spelling
    command: list[str] = field(default_factory=list)
    early: str | None = None  # --help, --usage or --version: print this and exit 0
    quiet: bool = False
    bell: bool | None = None  # --bell / --no-bell; None: ring after a long wait on a terminal
    kill_signal: int = int(signal.SIGTERM)  # sent to the command if the allocation is revoked


def parse_salloc(argv: list[str], env: Mapping[str, str]) -> SallocOptions:
    """Read salloc's options as Slurm 22.05's salloc does; raises ``SlurmError`` (salloc's words).

    Values of the options salloc shares with sbatch are checked by the head node, with sbatch's
    rules, when the allocation is asked for.
    """
    try:
        cli, command = getopt_long("salloc", argv, SALLOC_SHORTOPTS, SALLOC_LONGOPTS)
    except OptionError as exc:
        early = early_text(exc.parsed, SALLOC_HELP, SALLOC_USAGE)
        if early is not None:
            return SallocOptions(early=early)
        raise SlurmError([str(exc), 'Try "salloc --help" for more information'], EXIT_USAGE) from None
    early = early_text(cli, SALLOC_HELP, SALLOC_USAGE)
    if early is not None:
        return SallocOptions(early=early)
    opts = [*env_options(env, _SALLOC_ENV, SALLOC_LONGOPTS), *cli]
    out = SallocOptions(command=list(command), alloc_argv=sbatch_argv(opts, skip=_SALLOC_KEYS))
    for key, val in opts:
        if key in _SALLOC_REFUSED:
            raise command_error("salloc", f"--{key} is not supported by stratus yet")
        if key == "Q":
            out.quiet = True
        elif key in ("bell", "no-bell"):
            out.bell = key == "bell"
        elif key == "K" and val is not None:
            sig = signal_number(val)
            if sig is None:
                raise command_error("salloc", "Invalid --kill-command specification", EXIT_USAGE)
            out.kill_signal = sig
    return out


def early_text(opts: Iterable[tuple[str, str | None]], help_text: str, usage: str) -> str | None:
    """What ``--help``, ``--usage`` or ``--version`` prints (the first of them given wins), or None.

    Slurm's commands act on these in a first pass over the command line, before any value is
    checked, so a later typo does not hide them.
    """
    for key, _ in opts:
        if key == "h":
            return help_text
        if key == "usage":
            return usage
        if key == "V":
            return version_line()
    return None


def allocate(
    head: Head,
    prog: str,
    options: list[str],
    command: list[str],
    *,
    quiet: bool = False,
    bell: bool | None = None,
) -> tuple[int, list[str], dict[str, str]]:
    """Queue an allocation and wait until it is granted: (job id, command, SLURM_* environment).

    ``options`` are the allocation's options in sbatch's spelling (see :func:`sbatch_argv`).
    Prints what salloc/srun print while waiting (not with ``quiet``, Slurm's ``-Q``), and rings
    the terminal's bell as ``bell`` says. Exits the process with Slurm's words and exit code if
    the allocation is refused or ends before it is granted.
    """
    body = {
        "prog": prog,
        "argv": [*options, "--", *command],
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

    def say(text: str) -> None:
        if not quiet:  # Slurm's informational messages, which -Q silences
            sys.stderr.write(text + "\n")

    if prog == "salloc":
        say(f"salloc: Pending job allocation {job_id}")
    said_waiting = False
    delay = 0.05
    started = time.monotonic()
    while True:
        _, state = head.call("GET", f"/slurm/v1/allocations/{job_id}")
        if state.get("state") == "RUNNING" and "env" in state:
            break
        if state.get("state") not in ("PENDING", "CONFIGURING"):
            sys.stderr.write(f"{prog}: error: Job allocation {job_id} has been revoked.\n")
            sys.exit(1)
        if not said_waiting and state.get("state") == "PENDING" and delay > 0.2:
            say(f"{prog}: job {job_id} queued and waiting for resources")
            said_waiting = True
        time.sleep(delay)
        delay = min(delay * 1.5, 1.0)
    if said_waiting or prog == "salloc":
        say(f"{prog}: job {job_id} has been allocated resources")
    if bell or (bell is None and time.monotonic() - started >= BELL_AFTER_S and os.isatty(1)):
        sys.stdout.write("\a")
        sys.stdout.flush()
    if prog == "salloc":
        say(f"salloc: Granted job allocation {job_id}")
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
    try:
        opts = parse_salloc(sys.argv[1:], os.environ)
    except SlurmError as exc:
        sys.stderr.write("".join(line + "\n" for line in exc.lines))
        sys.exit(exc.exit_code)
    if opts.early is not None:
        sys.stdout.write(opts.early)
        sys.exit(0)
    try:
        head = Head(cluster_dir)
        job_id, command, env = allocate(
            head, "salloc", opts.alloc_argv, opts.command, quiet=opts.quiet, bell=opts.bell
        )
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
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(opts.kill_signal)
            proc.wait()
            break
    code = proc.returncode if proc.returncode >= 0 else 128 - proc.returncode
    keep.stopped.set()
    if not opts.quiet:
        sys.stderr.write(f"salloc: Relinquishing job allocation {job_id}\n")
    # If the head node cannot be told, it cancels an allocation whose client stopped asking.
    with contextlib.suppress(OSError):
        relinquish(head, job_id, code)
    sys.exit(code)

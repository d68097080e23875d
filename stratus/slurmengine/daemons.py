"""Starting and stopping one cluster's Slurm daemons: munged, slurmctld and a slurmd per node.

Every daemon runs in the foreground as a child of the process that started it (``munged -F``,
``slurmctld -D``, ``slurmd -D -N <node>``), in a session of its own, and is stopped by its pid
(SIGTERM, a wait, then SIGKILL), never by name: several clusters, and a site's own Slurm, can
run on one machine. Files live in the cluster's own directory and in the :class:`SlurmSite`'s
directories:

* ``<directory>/slurm.conf``, ``gres.conf``: the rendered texts; ``<directory>/munge.key``: a
  random 1024-byte key, mode 0400, made once and kept across restarts;
  ``<directory>/munged.seed``: munged's PRNG seed.
* ``site.munge_socket``: munged's socket, named in slurm.conf as ``AuthInfo=...,socket=``, which
  is how Slurm's auth/munge and cred/munge plugins (daemons and clients alike) reach a munged
  that does not listen on munge's default socket. A cluster's own munged must have one.
* ``site.log_dir``: ``slurmctld.log`` and ``slurmd-<node>.log`` (the daemons' own logs) and
  ``<daemon>.out`` (what each writes to stdout and stderr: in the foreground munged logs only
  there, and Slurm's daemons copy their log lines there too).
* ``site.pid_dir``: the pid files, ``site.state_dir``: slurmctld's state, ``site.spool_dir``:
  one spool directory per slurmd (slurmd makes it).

Clients (sbatch, squeue, scontrol, sinfo) reach the cluster with :meth:`SlurmDaemons.client_env`:
``SLURM_CONF`` is all they need, since the munge socket is in slurm.conf.

Users. Everything here is started by root. munged runs as the user that starts it and refuses
a key file that user does not own or that others can read, so the key is written by (owned by)
that user, mode 0400. munged also refuses a socket that other users cannot reach: the socket's
directory and every directory above it must be searchable by all (o+x), and not writable by
others. slurmctld, started as root, creates its pid and log files, then switches to
``SlurmUser`` (``site.slurm_user``), which must be able to write ``site.state_dir`` (handed to
it here) and read slurm.conf (mode 0644 in a 0755 directory). slurmd stays root: it starts each
job step as the job's owner.

An install without root (not exercised here) would need: ``site.slurm_user`` set to the user
running stratus (slurmctld then does not switch users), munged and its key that user's (as
written here), and slurmd run as root by someone who can (an administrator's service, or a sudo
rule for exactly ``slurmd -D -N <node> -f <slurm.conf>`` and for signalling that pid); a slurmd
that is not root can run only its own user's jobs, if it starts at all.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import signal
import stat
import subprocess
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from stratus.slurmengine.render import SlurmSite

#: The longest path of a Unix socket (sockaddr_un holds 108 bytes with the final NUL).
MAX_SOCKET_PATH = 107

#: Log lines quoted when a daemon fails.
LOG_TAIL_LINES = 10


class DaemonError(RuntimeError):
    """A Slurm daemon did not start, or a file it needs could not be written."""


@dataclass
class DaemonHandle:
    """One daemon started by :class:`SlurmDaemons`: its name (``munged``, ``slurmctld`` or
    ``slurmd <node>``), its pid, its output and log files (each with its size when the daemon
    started, so that a failure quotes only what this start wrote) and the child process."""

    name: str
    pid: int
    logs: Mapping[Path, int]
    process: subprocess.Popen[bytes] = field(repr=False)

    def running(self) -> bool:
        """Whether the process has not exited yet."""
        return self.process.poll() is None


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _tail(logs: Mapping[Path, int], lines: int = LOG_TAIL_LINES) -> str:
    """The last ``lines`` lines written to the first of these files (path: size when the
    daemon started) that has any since then."""
    for path, start in logs.items():
        try:
            with open(path, "rb") as f:
                f.seek(start if _size(path) >= start else 0)
                text = f.read().decode(errors="replace")
        except OSError:
            continue
        last = text.rstrip("\n").splitlines()[-lines:]
        if last:
            return f"[{path}]\n" + "\n".join(last)
    return "(nothing in " + ", ".join(str(p) for p in logs) + ")"


def _wait_for(
    condition: Callable[[], bool], timeout: float, alive: Callable[[], bool], interval: float = 0.2
) -> bool:
    """Poll ``condition`` until it holds (True), ``alive`` turns False or ``timeout`` passes (False)."""
    deadline = time.monotonic() + timeout
    while True:
        if condition():
            return True
        if not alive() or time.monotonic() >= deadline:
            return condition()
        time.sleep(interval)


def _is_socket(path: Path) -> bool:
    try:
        return stat.S_ISSOCK(path.stat().st_mode)
    except OSError:
        return False


class SlurmDaemons:
    """One cluster's munged, slurmctld and slurmd, started from rendered configuration.

    ``directory`` is the cluster's own (it must exist or be creatable, and should not be
    writable by other users); ``site`` the :class:`SlurmSite` the texts were rendered for (its
    ``munge_socket`` is required); ``slurm_conf`` and ``gres_conf`` the rendered texts.
    ``start_timeout`` bounds each readiness wait, ``stop_timeout`` the wait after SIGTERM.

    Usable as a context manager: leaving it stops whatever it started.
    """

    def __init__(
        self,
        directory: str | os.PathLike[str],
        site: SlurmSite,
        slurm_conf: str,
        gres_conf: str | None = None,
        *,
        start_timeout: float = 60.0,
        stop_timeout: float = 30.0,
    ) -> None:
        if not site.munge_socket:
            raise DaemonError(
                "a cluster's own munged needs its own socket: set SlurmSite.munge_socket "
                "(slurm.conf names it as AuthInfo=socket=...)"
            )
        if len(os.fsencode(site.munge_socket)) > MAX_SOCKET_PATH:
            raise DaemonError(
                f"munge socket path {site.munge_socket!r} is longer than {MAX_SOCKET_PATH} bytes"
            )
        self.directory = Path(directory)
        self.site = site
        self.slurm_conf_text = slurm_conf
        self.gres_conf_text = gres_conf
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self._started: list[DaemonHandle] = []

    # -- paths --------------------------------------------------------------------------------

    @property
    def slurm_conf(self) -> Path:
        return self.directory / "slurm.conf"

    @property
    def gres_conf(self) -> Path:
        return self.directory / "gres.conf"

    @property
    def munge_key(self) -> Path:
        return self.directory / "munge.key"

    @property
    def munge_socket(self) -> Path:
        assert self.site.munge_socket
        return Path(self.site.munge_socket)

    @property
    def log_dir(self) -> Path:
        return Path(self.site.log_dir)

    @property
    def pid_dir(self) -> Path:
        return Path(self.site.pid_dir)

    def slurmd_log(self, node: str) -> Path:
        """slurmd's own log of ``node`` (``SlurmdLogFile`` with ``%n``)."""
        return self.log_dir / f"slurmd-{node}.log"

    @property
    def handles(self) -> tuple[DaemonHandle, ...]:
        """The daemons started and not yet stopped, in the order they were started."""
        return tuple(self._started)

    def client_env(self, base: Mapping[str, str] | None = None) -> dict[str, str]:
        """The environment with which sbatch, squeue, scontrol and sinfo reach this cluster:
        ``base`` (the current environment when None) with ``SLURM_CONF`` set. The munge socket
        travels in slurm.conf (``AuthInfo=socket=``), so nothing else is needed."""
        env = dict(os.environ if base is None else base)
        env["SLURM_CONF"] = str(self.slurm_conf)
        return env

    # -- files --------------------------------------------------------------------------------

    def write_files(self) -> None:
        """Write slurm.conf, gres.conf (when given) and the munge key (kept when there is one);
        make the site's directories, handing those slurmctld writes to ``SlurmUser`` when
        running as root."""
        self.directory.mkdir(parents=True, exist_ok=True)
        self.directory.chmod(0o755)
        self._write(self.slurm_conf, self.slurm_conf_text, 0o644)
        if self.gres_conf_text is not None:
            self._write(self.gres_conf, self.gres_conf_text, 0o644)
        self._write_key()
        for name in (self.site.state_dir, self.site.spool_dir, self.site.log_dir, self.site.pid_dir):
            Path(name).mkdir(parents=True, exist_ok=True)
        sockets = self.munge_socket.parent
        if not sockets.exists():
            sockets.mkdir(parents=True)
            sockets.chmod(0o755)  # whatever the umask: every user's clients connect
        for path in (sockets, *sockets.resolve().parents):
            # munged refuses a socket other users cannot reach (clients of every user connect).
            if path.stat().st_mode & 0o001 == 0:
                raise DaemonError(
                    f"munged's socket {self.munge_socket} is out of other users' reach: "
                    f"{path} must be searchable by all (o+x)"
                )
        if os.geteuid() == 0:
            try:
                user = pwd.getpwnam(self.site.slurm_user)
            except KeyError as exc:
                raise DaemonError(f"SlurmUser {self.site.slurm_user!r} does not exist") from exc
            os.chown(self.site.state_dir, user.pw_uid, user.pw_gid)

    @staticmethod
    def _write(path: Path, text: str, mode: int) -> None:
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(text)
        tmp.chmod(mode)
        tmp.replace(path)

    def _write_key(self) -> None:
        # The cluster's key, kept across restarts of the head node: nodes of other machines run
        # munged with a copy of it, and keep running while the head node restarts. A new key
        # (readable by its owner only: the user munged runs as, this process's) when there is
        # none, or when the one there is not a key of ours.
        with contextlib.suppress(OSError):
            st = self.munge_key.stat()
            if st.st_size == 1024 and st.st_uid == os.geteuid() and stat.S_IMODE(st.st_mode) == 0o400:
                return
        if self.munge_key.exists():
            self.munge_key.unlink()
        fd = os.open(self.munge_key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o400)
        try:
            os.write(fd, os.urandom(1024))
        finally:
            os.close(fd)
        os.chmod(self.munge_key, 0o400)

    # -- starting -----------------------------------------------------------------------------

    def _spawn(self, name: str, argv: list[str], out: Path, log: Path) -> DaemonHandle:
        """Start a foreground daemon, stdout and stderr appended to ``out`` (in the foreground
        the daemons write their log lines there too, and fatal errors met before their log
        file is open only there)."""
        env = self.client_env()
        logs = {out: _size(out), log: _size(log)}
        try:
            with open(out, "ab") as sink:
                process = subprocess.Popen(
                    argv,
                    stdin=subprocess.DEVNULL,
                    stdout=sink,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                    close_fds=True,
                    env=env,
                    cwd=self.directory,
                )
        except OSError as exc:
            raise DaemonError(f"{name} did not start: {exc}") from exc
        handle = DaemonHandle(name, process.pid, logs, process)
        self._started.append(handle)
        return handle

    def _ready(self, handle: DaemonHandle, condition: Callable[[], bool], timeout: float | None) -> None:
        if _wait_for(condition, self.start_timeout if timeout is None else timeout, handle.running):
            return
        state = (
            f"exited with status {handle.process.returncode}" if not handle.running() else "not ready in time"
        )
        self._stop_one(handle)
        raise DaemonError(f"{handle.name} did not start ({state}): {_tail(handle.logs)}")

    def start_munged(self, timeout: float | None = None) -> DaemonHandle:
        """Start munged on the cluster's socket and key; ready when its pid file names it and
        its socket is there."""
        log = self.log_dir / "munged.log"
        if self._named("munged") is not None:
            raise DaemonError("munged is already running")
        pid_file = self.pid_dir / "munged.pid"
        handle = self._spawn(
            "munged",
            [
                "munged",
                "--foreground",
                f"--socket={self.munge_socket}",
                f"--key-file={self.munge_key}",
                f"--pid-file={pid_file}",
                f"--log-file={log}",
                f"--seed-file={self.directory / 'munged.seed'}",
            ],
            self.log_dir / "munged.out",
            log,
        )
        # munged binds its socket, then writes its pid file (the socket alone could be another
        # munged's; probing it with a connection only fills munged's log with complaints).
        self._ready(
            handle,
            lambda: _pid_in(pid_file) == handle.pid and _is_socket(self.munge_socket),
            timeout,
        )
        return handle

    def ping(self) -> bool:
        """Whether ``scontrol ping`` says this cluster's slurmctld is UP."""
        try:
            done = subprocess.run(
                ["scontrol", "ping"],
                env=self.client_env(),
                capture_output=True,
                text=True,
                timeout=15,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired):
            return False
        return " is UP" in done.stdout

    def start_slurmctld(self, timeout: float | None = None) -> DaemonHandle:
        """Start slurmctld in the foreground; ready when ``scontrol ping`` says UP."""
        if self._named("slurmctld") is not None:
            raise DaemonError("slurmctld is already running")
        handle = self._spawn(
            "slurmctld",
            ["slurmctld", "-D", "-f", str(self.slurm_conf)],
            self.log_dir / "slurmctld.out",
            self.log_dir / "slurmctld.log",
        )
        self._ready(handle, self.ping, timeout)
        return handle

    def start(self) -> None:
        """Write the files, then start munged and slurmctld (slurmd are started per node). When
        one does not start, what was started is stopped again before the error is raised."""
        try:
            self.write_files()
            self.start_munged()
            self.start_slurmctld()
        except BaseException:
            self.stop()
            raise

    def slurmd(self, node: str) -> DaemonHandle | None:
        """The running slurmd of ``node`` started here, if any."""
        return self._named(f"slurmd {node}")

    def _named(self, name: str) -> DaemonHandle | None:
        return next((h for h in self._started if h.name == name), None)

    def start_slurmd(self, node: str, timeout: float | None = None) -> DaemonHandle:
        """Start the slurmd of ``node``; ready when its pid file names it (slurmd writes the file
        once it has read its configuration and bound its port)."""
        if self.slurmd(node) is not None:
            raise DaemonError(f"slurmd {node} is already running")
        pid_file = self.pid_dir / f"slurmd-{node}.pid"
        # slurmd makes its spool directory only after complaining that it is missing.
        (Path(self.site.spool_dir) / node).mkdir(mode=0o755, parents=True, exist_ok=True)
        handle = self._spawn(
            f"slurmd {node}",
            ["slurmd", "-D", "-N", node, "-f", str(self.slurm_conf)],
            self.log_dir / f"slurmd-{node}.out",
            self.slurmd_log(node),
        )
        self._ready(handle, lambda: _pid_in(pid_file) == handle.pid, timeout)
        return handle

    def stop_slurmd(self, node: str) -> None:
        """Stop the slurmd of ``node`` (nothing when none runs)."""
        handle = self.slurmd(node)
        if handle is not None:
            self._stop_one(handle)

    # -- stopping -----------------------------------------------------------------------------

    def _stop_one(self, handle: DaemonHandle) -> None:
        """SIGTERM, a wait of ``stop_timeout``, then SIGKILL: by pid, the child only."""
        if handle.running():
            with contextlib.suppress(ProcessLookupError):
                os.kill(handle.pid, signal.SIGTERM)
            try:
                handle.process.wait(timeout=self.stop_timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(handle.pid, signal.SIGKILL)
                handle.process.wait()
        if handle in self._started:
            self._started.remove(handle)

    def stop(self) -> None:
        """Stop everything started here, last started first."""
        for handle in reversed(list(self._started)):
            self._stop_one(handle)

    def __enter__(self) -> SlurmDaemons:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _pid_in(path: Path) -> int | None:
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None

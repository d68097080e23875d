"""Slurm accounting for one cluster: its own MariaDB and slurmdbd, started and stopped by pid.

A cluster whose configuration asks for accounting (``Scheduling.SlurmSettings.Database``) gets a
MariaDB server of its own on the head node, and a slurmdbd that stores the accounting there;
slurmctld sends it jobs and steps, and ``sacct`` and ``sacctmgr`` read them back. Both daemons
run in the foreground as children of the process that started them (``mariadbd``, ``slurmdbd
-D``), in a session of their own, and are stopped by pid (SIGTERM, a wait, then SIGKILL), last
started first, never by name: several clusters, and a site's own MariaDB or slurmdbd, can run on
one machine.

Files. Under the accounting's ``directory``:

* ``mariadb/``: owned by the user mariadbd runs as (mode 0700): ``data/`` the data directory
  (made once by ``mariadb-install-db``, kept across restarts), ``mariadbd.sock`` its socket,
  ``mariadbd.pid`` its pid file and, while it starts, ``init.sql`` (mode 0600), the statements
  that create the database and its user and set the user's password.
* ``slurmdbd.conf``: mode 0600, owned by ``SlurmUser`` (slurmdbd refuses it otherwise: it
  holds the database password). slurmdbd has no option naming its configuration file: it reads
  ``slurmdbd.conf`` in the directory of ``SLURM_CONF``, which is set to
  ``<directory>/slurm.conf`` for it (slurm.conf need not exist there: slurmdbd starts without).

and in the :class:`SlurmSite`'s directories: ``site.log_dir`` holds ``mariadb-install-db.out``
(what making the data directory wrote), ``mariadbd.out`` (what mariadbd writes: in the
foreground and without ``--log-error`` its whole log),
``slurmdbd.log`` (slurmdbd's own log) and ``slurmdbd.out`` (its stdout and stderr, where it
also copies its log lines); ``site.pid_dir`` holds ``slurmdbd.pid``.

Network. MariaDB listens on 127.0.0.1 only, on its own port (Slurm's MySQL plugin reaches its
server by TCP only: ``StorageHost`` and ``StoragePort``, no socket), and resolves no host names;
its user for slurmdbd may connect from 127.0.0.1 only, with a random password made for each
start. slurmdbd listens on ``DbdPort``, reached by slurmctld and the clients at
``AccountingStorageHost`` (see :meth:`SlurmAccounting.slurm_conf_lines`). Messages to and from
slurmdbd are authenticated by the cluster's own munged, on ``site.munge_socket``: slurmdbd is
told so by ``AuthInfo=socket=`` in slurmdbd.conf, slurmctld and the clients by
``AccountingStoragePass=<socket>`` in slurm.conf (their connections to slurmdbd do not use
slurm.conf's ``AuthInfo``: without it they look for munge's default socket, and slurmctld exits
with "we have no TRES from it"). munged must run before slurmctld starts; slurmdbd starts without
it (it only logs that a first message could not be signed). A slurmdbd that cannot reach its
database keeps trying every 5 seconds, and so is reported as not ready in time.

Users. When started by root, mariadbd runs as ``db_user`` (Debian's ``mysql`` by default: it
owns the data directory; every directory above ``directory`` must be searchable by it) and
slurmdbd starts as root, opens its log and pid files, then switches to ``SlurmUser``
(``site.slurm_user``). Started by another user, both run as that user (``SlurmUser`` must then
be that user).

Registration. With ``AccountingStorageType=accounting_storage/slurmdbd``, slurmctld (Slurm
22.05) adds its cluster (``ClusterName``) to the accounting database when it first registers
with slurmdbd, so nothing is registered here.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import secrets
import signal
import socket
import subprocess
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from stratus.slurmengine.daemons import (
    MAX_SOCKET_PATH,
    DaemonError,
    DaemonHandle,
    _pid_in,
    _size,
    _tail,
    _wait_for,
)
from stratus.slurmengine.render import SlurmSite

#: slurmdbd's default ``StorageLoc``.
DEFAULT_DATABASE_NAME = "slurm_acct_db"

#: How often (seconds) slurmd samples a job's processes for accounting.
DEFAULT_JOB_ACCT_GATHER_FREQUENCY = 30

#: MariaDB settings slurmdbd checks at start (it logs an error, and goes on, when they are lower).
MARIADB_SETTINGS = ("--innodb-lock-wait-timeout=900", "--innodb-log-file-size=64M")

#: What mariadbd writes once it accepts connections.
READY = "ready for connections"

_DATABASE_NAME = re.compile(r"^[0-9a-z_]{1,64}$")
_STORAGE_USER = re.compile(r"^[A-Za-z0-9_]{1,32}$")


def free_port(host: str = "127.0.0.1", avoid: Sequence[int] = ()) -> int:
    """A TCP port nobody listens on at ``host`` now (one the kernel hands out for port 0),
    other than those in ``avoid``. Another program may take it before it is used."""
    for _ in range(100):
        with socket.socket() as s:
            s.bind((host, 0))
            port = int(s.getsockname()[1])
        if port not in avoid:
            return port
    raise DaemonError(f"no free TCP port on {host}")


def _listening(pid: int, port: int) -> bool:
    """Whether process ``pid`` holds a TCP socket listening on ``port`` (any address): its
    open sockets, from ``/proc/<pid>/fd``, against the LISTEN entries of ``/proc/net/tcp*``."""
    inodes: set[str] = set()
    try:
        for fd in os.scandir(f"/proc/{pid}/fd"):
            with contextlib.suppress(OSError):
                target = os.readlink(fd.path)
                if target.startswith("socket:["):
                    inodes.add(target[8:-1])
    except OSError:
        return False
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                rows = f.read().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()
            # local_address is ADDR:PORT in hex; state 0A is LISTEN; the inode is field 9.
            if (
                len(fields) > 9
                and fields[3] == "0A"
                and fields[9] in inodes
                and int(fields[1].rsplit(":", 1)[1], 16) == port
            ):
                return True
    return False


def _says(path: Path, start: int, text: str) -> bool:
    """Whether ``text`` is in what was written to ``path`` after its first ``start`` bytes."""
    try:
        with open(path, "rb") as f:
            f.seek(start)
            return text.encode() in f.read()
    except OSError:
        return False


class SlurmAccounting:
    """One cluster's accounting: a private MariaDB and the slurmdbd that uses it.

    ``directory`` is the accounting's own (made when missing; it may be the cluster's
    directory); ``site`` the cluster's :class:`SlurmSite` (its ``munge_socket``, ``log_dir``,
    ``pid_dir`` and ``slurm_user`` are used). ``database_name`` (slurmdbd's ``StorageLoc``) and
    ``storage_user`` (its ``StorageUser``) name the database and its MariaDB user; the password
    is random, new at each :meth:`start`. ``dbd_addr`` is where slurmctld and the clients reach
    slurmdbd (``AccountingStorageHost``; the site's ``controller_addr`` by default),
    ``dbd_port`` and ``mariadb_port`` the TCP ports (free ones by default, chosen here).
    ``db_user`` is the user mariadbd runs as when started by root (``mysql`` by default).
    ``mariadbd_options`` are added to mariadbd's command line. ``start_timeout`` bounds each
    readiness wait, ``stop_timeout`` the wait after SIGTERM.

    Usable as a context manager: leaving it stops whatever it started.
    """

    def __init__(
        self,
        directory: str | os.PathLike[str],
        site: SlurmSite,
        *,
        database_name: str = DEFAULT_DATABASE_NAME,
        storage_user: str = "slurm",
        dbd_addr: str | None = None,
        dbd_port: int | None = None,
        mariadb_port: int | None = None,
        db_user: str | None = None,
        job_acct_gather_frequency: int = DEFAULT_JOB_ACCT_GATHER_FREQUENCY,
        mariadbd_options: Sequence[str] = (),
        start_timeout: float = 60.0,
        stop_timeout: float = 30.0,
    ) -> None:
        if not site.munge_socket:
            raise DaemonError(
                "slurmdbd reaches the cluster's own munged by its socket: set SlurmSite.munge_socket"
            )
        if not _DATABASE_NAME.match(database_name):
            raise DaemonError(f"database name must be 1 to 64 of [0-9a-z_], not {database_name!r}")
        if not _STORAGE_USER.match(storage_user):
            raise DaemonError(f"database user must be 1 to 32 of [A-Za-z0-9_], not {storage_user!r}")
        self.directory = Path(directory).absolute()
        if len(os.fsencode(self.mariadb_socket)) > MAX_SOCKET_PATH:
            raise DaemonError(
                f"MariaDB's socket path {str(self.mariadb_socket)!r} is longer than "
                f"{MAX_SOCKET_PATH} bytes: use a shorter directory"
            )
        self.site = site
        self.database_name = database_name
        self.storage_user = storage_user
        self.dbd_addr = dbd_addr or site.controller_addr
        taken = [site.controller_port, site.slurmd_port]
        self.mariadb_port = mariadb_port or free_port(avoid=taken)
        self.dbd_port = dbd_port or free_port(avoid=[*taken, self.mariadb_port])
        if self.dbd_port == self.mariadb_port:
            raise DaemonError("slurmdbd and MariaDB cannot share a port")
        root = os.geteuid() == 0
        self.db_user = (db_user or "mysql") if root else pwd.getpwuid(os.geteuid()).pw_name
        self.job_acct_gather_frequency = job_acct_gather_frequency
        self.mariadbd_options = tuple(mariadbd_options)
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self._password = ""
        self._started: list[DaemonHandle] = []

    # -- paths --------------------------------------------------------------------------------

    @property
    def mariadb_dir(self) -> Path:
        """The directory mariadbd owns: its data directory, socket and pid file."""
        return self.directory / "mariadb"

    @property
    def data_dir(self) -> Path:
        return self.mariadb_dir / "data"

    @property
    def mariadb_socket(self) -> Path:
        return self.directory / "mariadb" / "mariadbd.sock"

    @property
    def mariadb_pid_file(self) -> Path:
        return self.mariadb_dir / "mariadbd.pid"

    @property
    def init_file(self) -> Path:
        return self.mariadb_dir / "init.sql"

    @property
    def slurmdbd_conf(self) -> Path:
        return self.directory / "slurmdbd.conf"

    @property
    def log_dir(self) -> Path:
        return Path(self.site.log_dir)

    @property
    def pid_dir(self) -> Path:
        return Path(self.site.pid_dir)

    @property
    def slurmdbd_log(self) -> Path:
        return self.log_dir / "slurmdbd.log"

    @property
    def slurmdbd_pid_file(self) -> Path:
        return self.pid_dir / "slurmdbd.pid"

    @property
    def handles(self) -> tuple[DaemonHandle, ...]:
        """The daemons started and not yet stopped, in the order they were started."""
        return tuple(self._started)

    # -- what slurm.conf needs ----------------------------------------------------------------

    def slurm_conf_lines(self) -> list[str]:
        """The slurm.conf lines (``Key=value``) with which slurmctld, slurmd and the clients use
        this accounting: slurmdbd's address and port, and job accounting gathered by slurmd
        from /proc every ``job_acct_gather_frequency`` seconds. They go with a slurm.conf
        that sets none of these keys (``JobCompType=jobcomp/none`` is kept: job completion
        records are a separate plugin, not needed by sacct)."""
        return [
            "AccountingStorageType=accounting_storage/slurmdbd",
            f"AccountingStorageHost={self.dbd_addr}",
            f"AccountingStoragePort={self.dbd_port}",
            f"AccountingStoragePass={self.site.munge_socket}",
            "JobAcctGatherType=jobacct_gather/linux",
            f"JobAcctGatherFrequency={self.job_acct_gather_frequency}",
        ]

    def slurmdbd_conf_text(self, password: str) -> str:
        """The slurmdbd.conf with which slurmdbd stores into this MariaDB with ``password``."""
        return "\n".join(
            [
                f"# slurmdbd.conf of stratus cluster {self.site.cluster_name}.",
                "AuthType=auth/munge",
                f"AuthInfo=socket={self.site.munge_socket}",
                "DbdHost=localhost",
                f"DbdAddr={self.dbd_addr}",
                f"DbdPort={self.dbd_port}",
                f"SlurmUser={self.site.slurm_user}",
                "DebugLevel=info",
                f"LogFile={self.slurmdbd_log}",
                f"PidFile={self.slurmdbd_pid_file}",
                "StorageType=accounting_storage/mysql",
                "StorageHost=127.0.0.1",
                f"StoragePort={self.mariadb_port}",
                f"StorageUser={self.storage_user}",
                f"StoragePass={password}",
                f"StorageLoc={self.database_name}",
                "",
            ]
        )

    # -- files --------------------------------------------------------------------------------

    def _db_ids(self) -> tuple[int, int]:
        if os.geteuid() != 0:
            return os.geteuid(), os.getegid()
        try:
            user = pwd.getpwnam(self.db_user)
        except KeyError as exc:
            raise DaemonError(f"MariaDB's user {self.db_user!r} does not exist") from exc
        return user.pw_uid, user.pw_gid

    def _slurm_ids(self) -> tuple[int, int]:
        if os.geteuid() != 0:
            return os.geteuid(), os.getegid()
        try:
            user = pwd.getpwnam(self.site.slurm_user)
        except KeyError as exc:
            raise DaemonError(f"SlurmUser {self.site.slurm_user!r} does not exist") from exc
        return user.pw_uid, user.pw_gid

    def write_files(self) -> None:
        """Make the directories, and MariaDB's data directory when it has none yet (with
        ``mariadb-install-db``: system tables only, no test database, MariaDB's root user
        reachable only through the socket by the OS user it runs as). Writes nothing that holds
        a password: :meth:`start_mariadb` and :meth:`start_slurmdbd` do."""
        uid, gid = self._db_ids()
        self.directory.mkdir(parents=True, exist_ok=True)
        for name in (self.log_dir, self.pid_dir):
            name.mkdir(parents=True, exist_ok=True)
        if uid != os.geteuid():
            for path in (self.directory, *self.directory.parents):
                if path.stat().st_mode & 0o001 == 0:
                    raise DaemonError(
                        f"MariaDB's directory {self.mariadb_dir} is out of reach of user "
                        f"{self.db_user!r}: {path} must be searchable by all (o+x)"
                    )
        self.mariadb_dir.mkdir(mode=0o700, exist_ok=True)
        os.chown(self.mariadb_dir, uid, gid)
        self.mariadb_dir.chmod(0o700)
        if (self.data_dir / "mysql").is_dir():
            return
        out = self.log_dir / "mariadb-install-db.out"
        argv = [
            "mariadb-install-db",
            "--no-defaults",
            f"--datadir={self.data_dir}",
            "--auth-root-authentication-method=socket",
            "--skip-test-db",
            *MARIADB_SETTINGS,
        ]
        if os.geteuid() == 0:
            argv.insert(2, f"--user={self.db_user}")
        start = _size(out)
        try:
            with open(out, "ab") as sink:
                done = subprocess.run(
                    argv,
                    stdin=subprocess.DEVNULL,
                    stdout=sink,
                    stderr=subprocess.STDOUT,
                    cwd=self.mariadb_dir,
                    timeout=self.start_timeout,
                    check=False,
                )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise DaemonError(f"mariadb-install-db did not run: {exc}: {_tail({out: start})}") from exc
        if done.returncode != 0:
            raise DaemonError(f"mariadb-install-db failed (status {done.returncode}): {_tail({out: start})}")

    @staticmethod
    def _write_secret(path: Path, text: str, uid: int, gid: int) -> None:
        """Write ``text`` to ``path``, mode 0600, owned by ``uid``:``gid``, never readable by
        others on the way."""
        tmp = path.with_name(path.name + ".tmp")
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, text.encode())
            os.fchmod(fd, 0o600)
            if (uid, gid) != (os.geteuid(), os.getegid()):
                os.fchown(fd, uid, gid)
        finally:
            os.close(fd)
        tmp.replace(path)

    def _init_sql(self, password: str) -> str:
        user = f"'{self.storage_user}'@'127.0.0.1'"
        return "\n".join(
            [
                f"CREATE DATABASE IF NOT EXISTS `{self.database_name}`;",
                f"CREATE USER IF NOT EXISTS {user} IDENTIFIED BY '{password}';",
                f"ALTER USER {user} IDENTIFIED BY '{password}';",
                f"GRANT ALL PRIVILEGES ON `{self.database_name}`.* TO {user};",
                "",
            ]
        )

    # -- starting -----------------------------------------------------------------------------

    def _spawn(
        self, name: str, argv: list[str], out: Path, logs: Mapping[Path, int], env: Mapping[str, str]
    ) -> DaemonHandle:
        try:
            with open(out, "ab") as sink:
                process = subprocess.Popen(
                    argv,
                    stdin=subprocess.DEVNULL,
                    stdout=sink,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                    close_fds=True,
                    env=dict(env),
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

    def _named(self, name: str) -> DaemonHandle | None:
        return next((h for h in self._started if h.name == name), None)

    def start_mariadb(self, timeout: float | None = None) -> DaemonHandle:
        """Start mariadbd on the data directory (:meth:`write_files` first) with a new random
        password for the database user; ready when its pid file names it, it listens on
        ``mariadb_port`` and it says it is ready for connections (it says so after running the
        statements that make the database and the user, and exits when one fails). The file
        of statements is removed once mariadbd is ready or has failed."""
        if self._named("mariadbd") is not None:
            raise DaemonError("mariadbd is already running")
        uid, gid = self._db_ids()
        self._password = secrets.token_hex(24)
        self._write_secret(self.init_file, self._init_sql(self._password), uid, gid)
        out = self.log_dir / "mariadbd.out"
        argv = [
            "mariadbd",
            "--no-defaults",
            f"--datadir={self.data_dir}",
            f"--socket={self.mariadb_socket}",
            f"--pid-file={self.mariadb_pid_file}",
            "--bind-address=127.0.0.1",
            f"--port={self.mariadb_port}",
            "--skip-name-resolve",
            f"--init-file={self.init_file}",
            *MARIADB_SETTINGS,
            *self.mariadbd_options,
        ]
        if os.geteuid() == 0:
            argv.insert(2, f"--user={self.db_user}")
        start = _size(out)
        try:
            handle = self._spawn("mariadbd", argv, out, {out: start}, os.environ)
            self._ready(
                handle,
                lambda: (
                    _pid_in(self.mariadb_pid_file) == handle.pid
                    and _listening(handle.pid, self.mariadb_port)
                    and _says(out, start, READY)
                ),
                timeout,
            )
        finally:
            with contextlib.suppress(FileNotFoundError):
                self.init_file.unlink()
        return handle

    def start_slurmdbd(self, timeout: float | None = None) -> DaemonHandle:
        """Write slurmdbd.conf (mode 0600, owned by ``SlurmUser``) for the running mariadbd and
        start slurmdbd in the foreground; ready when its pid file names it and it listens on
        ``dbd_port``."""
        if self._named("slurmdbd") is not None:
            raise DaemonError("slurmdbd is already running")
        if self._named("mariadbd") is None or not self._password:
            raise DaemonError("slurmdbd needs its MariaDB: start_mariadb() first")
        uid, gid = self._slurm_ids()
        self._write_secret(self.slurmdbd_conf, self.slurmdbd_conf_text(self._password), uid, gid)
        env = dict(os.environ)
        env["SLURM_CONF"] = str(self.directory / "slurm.conf")
        out = self.log_dir / "slurmdbd.out"
        handle = self._spawn(
            "slurmdbd",
            ["slurmdbd", "-D"],
            out,
            {out: _size(out), self.slurmdbd_log: _size(self.slurmdbd_log)},
            env,
        )
        self._ready(
            handle,
            lambda: _pid_in(self.slurmdbd_pid_file) == handle.pid and _listening(handle.pid, self.dbd_port),
            timeout,
        )
        return handle

    def start(self) -> None:
        """Write the files, then start mariadbd and slurmdbd. When one does not start, what was
        started is stopped again before the error is raised."""
        try:
            self.write_files()
            self.start_mariadb()
            self.start_slurmdbd()
        except BaseException:
            self.stop()
            raise

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
        """Stop everything started here, last started first (slurmdbd, then mariadbd, which
        shuts down cleanly on SIGTERM)."""
        for handle in reversed(list(self._started)):
            self._stop_one(handle)

    def __enter__(self) -> SlurmAccounting:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

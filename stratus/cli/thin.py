"""The thin Slurm clients (``sbatch``, ``squeue``, ``sinfo``, ``scancel`` ...).

A Slurm command must answer in a few milliseconds, and Python's start-up alone is about 10 ms
with ``-I -S``. So these clients import only built-in C modules (``posix``, ``_socket``,
``_json``, ``pwd``): no ``os``, ``socket``, ``json`` or ``http.client``, which together would cost
more than the rest of the command. They send argv, working directory and environment to the head
node, which does all parsing and formatting (see ``stratus.slurm.server.routes``), and print what
it answers. The request is a minimal HTTP/1.1 POST over the cluster's unix socket ``api.sock``;
no credential travels: the head node learns the caller's uid and gid from the kernel. The
answer's body is stdout then stderr.

Generated per cluster into ``<cluster>/bin`` by ``stratus`` (see :func:`write_shims`), with the
cluster directory baked in.
"""

import sys

# The commands the head node implements (stratus.slurm.commands.COMMANDS; a test keeps them equal).
COMMANDS = ("sbatch", "squeue", "sinfo", "scancel", "scontrol", "sacct", "sprio", "sshare")

# What Slurm prints when slurmctld cannot be reached, per command (then exit 1).
_CONNECT_FAILURE = "Unable to contact slurm controller (connect failure)"
_UNREACHABLE = {
    "sbatch": f"sbatch: error: Batch job submission failed: {_CONNECT_FAILURE}",
    "squeue": "slurm_load_jobs error: Unable to contact slurm controller (connect failure)",
    "sinfo": "slurm_load_partitions: Unable to contact slurm controller (connect failure)",
    "scancel": "scancel: error: Kill job error: Unable to contact slurm controller (connect failure)",
    "sprio": f"Couldn't get priority factors from controller: {_CONNECT_FAILURE}",
}


_MAX_FILE = 4 * 1024 * 1024  # the head node refuses larger batch scripts anyway


def _read(path: str, limit: int = _MAX_FILE) -> bytes:
    import posix

    fd = posix.open(path, posix.O_RDONLY)
    try:
        return _read_fd(fd, limit)
    finally:
        posix.close(fd)


def _read_fd(fd: int, limit: int = _MAX_FILE + 1) -> bytes:
    import posix

    chunks = []
    size = 0
    while size < limit:
        b = posix.read(fd, min(65536, limit - size))
        if not b:
            break
        chunks.append(b)
        size += len(b)
    return b"".join(chunks)


def _q(s: str) -> str:
    import _json

    return _json.encode_basestring_ascii(s)


def _body(argv: list[str], stdin: bytes | None, files: dict[str, bytes | None]) -> bytes:
    import posix

    def dec(b: bytes) -> str:
        return b.decode("utf-8", "surrogateescape")

    env = posix.environ
    parts = [
        '{"argv":[',
        ",".join(_q(a) for a in argv),
        '],"cwd":',
        _q(posix.getcwd()),
        ',"env":{',
        ",".join(_q(dec(k)) + ":" + _q(dec(v)) for k, v in env.items()),
        '},"host":',
        _q(posix.uname().nodename),
    ]
    if stdin is not None:
        parts += [',"stdin":', _q(dec(stdin))]
    if files:
        parts.append(',"files":{')
        parts.append(",".join(_q(k) + ":" + ("null" if v is None else _q(dec(v))) for k, v in files.items()))
        parts.append("}")
    mask = posix.umask(0o022)
    posix.umask(mask)
    parts += [',"umask":', str(mask), "}"]
    return "".join(parts).encode("ascii")


def _post(sock_path: str, path: str, body: bytes, method: str = "POST") -> tuple[int, dict[str, str], bytes]:
    """One request over the head node's unix socket at ``sock_path``; (status, headers, body).

    A socket path too long for ``sun_path`` is reached through its directory's descriptor.
    """
    import _socket
    import posix

    s = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    s.settimeout(120.0)  # a stalled head node must not hang scripts forever
    fd = -1
    address = sock_path
    if len(sock_path.encode()) > 107:
        directory, _, name = sock_path.rpartition("/")
        fd = posix.open(directory or "/", posix.O_PATH | posix.O_DIRECTORY)
        address = f"/proc/self/fd/{fd}/{name}"
    try:
        s.connect(address)
    except BaseException:
        s.close()
        raise
    finally:
        if fd >= 0:
            posix.close(fd)
    try:
        head = (
            f"{method} {path} HTTP/1.1\r\nHost: localhost\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        ).encode("ascii")
        s.sendall(head + body)
        chunks = []
        while True:
            b = s.recv(262144)
            if not b:
                break
            chunks.append(b)
    finally:
        s.close()
    raw = b"".join(chunks)
    header_end = raw.find(b"\r\n\r\n")
    if header_end < 0:
        raise OSError("truncated response")
    lines = raw[:header_end].decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    payload = raw[header_end + 4 :]
    if headers.get("transfer-encoding", "").lower() == "chunked":
        payload = _dechunk(payload)
    return status, headers, payload


def _dechunk(data: bytes) -> bytes:
    out: list[bytes] = []
    i = 0
    while True:
        j = data.find(b"\r\n", i)
        size = int(data[i:j].split(b";")[0], 16)
        if size == 0:
            return b"".join(out)
        out.append(data[j + 2 : j + 2 + size])
        i = j + 2 + size + 2


def _write(fd: int, data: bytes) -> None:
    """Write all of ``data``; a reader that went away ends the command quietly, as SIGPIPE ends a
    C program (``squeue | head -1``): exit status 141, no traceback."""
    import posix

    while data:
        try:
            n = posix.write(fd, data)
        except BrokenPipeError:
            posix._exit(128 + 13)
        data = data[n:]


def run(cluster_dir: str, argv: list[str]) -> int:
    """Run Slurm command ``argv[0]`` against the cluster in ``cluster_dir``; return its exit code."""
    import posix

    cmd = argv[0].rsplit("/", 1)[-1]
    name = cluster_dir.rstrip("/").rsplit("/", 1)[-1]
    sock = cluster_dir + "/api.sock"
    try:
        stdin: bytes | None = None
        files: dict[str, bytes | None] = {}
        for _ in range(4):
            body = _body(argv[1:], stdin, files)
            status, headers, payload = _post(sock, "/slurm/v1/" + cmd, body)
            need = headers.get("x-need", "")
            if need == "stdin" and stdin is None:
                stdin = _read_fd(0)
            elif need.startswith("file:"):
                import urllib.parse  # rare path: a script sbatch must read here (a pipe, a FIFO)

                name = urllib.parse.unquote(need[5:])
                if name in files:
                    break
                try:
                    files[name] = _read(name, _MAX_FILE + 1)
                except OSError:
                    files[name] = None
            else:
                break
    except (OSError, ValueError) as exc:
        if b"STRATUS_DEBUG" in posix.environ:
            _write(2, f"stratus: {exc.__class__.__name__}: {exc}\n".encode())
        msg = _UNREACHABLE.get(cmd, f"{cmd}: error: Unable to contact slurm controller (connect failure)")
        if isinstance(exc, PermissionError):
            hint = f"stratus: cluster '{name}' is served to its owner only (its head node runs as them)"
        else:
            hint = f"stratus: the head node of cluster '{name}' is not running; start it with: " + (
                f"stratus start-head-node -n {name}"
            )
        _write(2, f"{msg}\n{hint}\n".encode())
        return 1
    if status != 200:
        _write(2, f"{cmd}: error: head node answered HTTP {status}: ".encode() + _message(payload) + b"\n")
        return 1
    n = int(headers.get("x-stdout-length", len(payload)))
    _write(1, payload[:n])
    _write(2, payload[n:])
    wait_job = headers.get("x-wait-job")
    if wait_job:
        return _wait(sock, wait_job)
    return int(headers.get("x-exit-code", "0"))


def _message(payload: bytes) -> bytes:
    """The message of an error answer (``{"message": ...}``), else its first bytes."""
    import json  # a rare path: the cost does not matter here

    try:
        return str(json.loads(payload)["message"]).encode("utf-8", "replace")
    except (ValueError, KeyError, TypeError):
        return payload[:500]


def _wait(sock: str, job_id: str) -> int:
    """sbatch --wait: poll until the job has ended; its exit code becomes ours."""
    import time

    delay = 0.1
    while True:
        try:
            _, headers, _ = _post(sock, "/slurm/v1/wait/" + job_id, b"", "GET")
        except OSError:
            headers = {}  # the head node may restart meanwhile: keep waiting
        if headers.get("x-done") == "1":
            return int(headers.get("x-exit-code", "0"))
        time.sleep(delay)
        delay = min(delay * 1.5, 2.0)


def main(cluster_dir: str) -> None:
    import posix

    code = run(cluster_dir, sys.argv)
    # Everything was written with posix.write (unbuffered): skip the interpreter's tear-down,
    # which is a tenth of the command's time.
    posix._exit(code)


def shim_text(python: str, package_root: str, cluster_dir: str) -> str:
    """The executable text of one client (the same for every command; argv[0] names it).

    It imports this module straight from its directory, not through the ``stratus`` package,
    so nothing else is imported.
    """
    here = package_root.rstrip("/") + "/stratus/cli"
    return (
        f"#!{python} -IS\n"
        "import sys\n"
        f"sys.path.insert(0, {here!r})\n"
        "from thin import main\n"
        f"main({cluster_dir!r})\n"
    )


# Commands that do more than forward a request (srun streams its tasks' output): full programs.
PROGRAMS = {"srun": "stratus.cli.srun", "salloc": "stratus.cli.salloc"}


def program_text(python: str, package_root: str, cluster_dir: str, module: str) -> str:
    """The executable text of a command that is a full stratus program."""
    return (
        f"#!{python} -IS\n"
        "import sys\n"
        f"sys.path.insert(0, {package_root!r})\n"
        f"from {module} import main\n"
        f"main({cluster_dir!r})\n"
    )


def write_shims(bin_dir: str, python: str, package_root: str, cluster_dir: str) -> None:
    """(Re)write ``bin_dir/<command>`` for every command, atomically, only where they differ."""
    import os

    os.makedirs(bin_dir, exist_ok=True)
    texts = {cmd: shim_text(python, package_root, cluster_dir) for cmd in COMMANDS}
    for cmd, module in PROGRAMS.items():
        texts[cmd] = program_text(python, package_root, cluster_dir, module)
    for cmd, text in texts.items():
        path = os.path.join(bin_dir, cmd)
        try:
            with open(path) as f:
                if f.read() == text:
                    continue
        except OSError:
            pass
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            f.write(text)
        os.chmod(tmp, 0o755)
        os.replace(tmp, path)

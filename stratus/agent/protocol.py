"""The node plane's wire protocol: typed, versioned messages between the head node and agents.

One JSON object per line over a TCP stream (TLS-ready: both sides take an optional SSL
context). The agent dials the head node (agents may sit behind NAT; the head node never dials
out) and opens with :class:`Hello`; the head node answers :class:`Welcome` or :class:`Reject`.

agent -> head node
    Hello, Started, Finished, StepFinished, Heartbeat
head node -> agent
    Welcome, Reject, Launch, Kill, Step, KillStep, Ack, Shutdown

Every message class below is the one definition of its fields (plain slotted dataclasses, not
frozen ones, which cost the agent's start-up a few milliseconds more; treat them as values).
:func:`decode` checks each field's type and refuses anything else with ``ProtocolError`` (a
``ValueError``), so a malformed or hostile line never reaches the code that acts on it. Unknown
fields are ignored (a newer peer may add some); a message of an unknown type decodes to
:class:`Unknown`.

Authentication: each launch gives its node's agent a random *join credential* of its own (never
the users' API token); the head node keeps only its digest. On its first hello an agent presents
it together with a random *node secret* of its own; the head node records the secret's digest
durably, and from then on only that secret admits the instance, so a join credential seen after
the join is worthless.

Delivery guarantees: a ``Finished`` report is repeated (in the next ``Hello``) until acked, so a
head-node crash between a job's exit and the write of its end loses nothing; the head node
ignores reports for a run it no longer expects (or from a node the run is not on), so a repeat
never ends a newer run.

Imported by the agent at start-up: the standard library only.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any, ClassVar

PROTOCOL_VERSION = 1
MAX_LINE = 64 * 1024 * 1024  # a launch carries the script and its environment
JOIN_ENV = "STRATUS_JOIN_CREDENTIAL"  # how a provider hands an agent its join credential
# Set for an agent and every process it starts: marks them as one instance's (a local
# provider finds what a node left behind by it, never by process name).
INSTANCE_ENV = "STRATUS_INSTANCE_ID"
# The address this node reaches the head node from, in a job's environment: where srun, run on
# the node, listens for the agents of the step's other nodes.
NODE_ADDRESS_ENV = "STRATUS_NODE_ADDRESS"
HEARTBEAT_S = 5.0  # an agent sends a Heartbeat this often; the head node allows three missed


class ProtocolError(ValueError):
    """A line that is not a valid message of this protocol."""


# -- field checks ---------------------------------------------------------------------------------


def _int(v: Any) -> int:
    if isinstance(v, bool) or not isinstance(v, int):
        raise ProtocolError(f"expected an integer, got {type(v).__name__}")
    return v


def _float(v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise ProtocolError(f"expected a number, got {type(v).__name__}")
    return float(v)


def _str(v: Any) -> str:
    if not isinstance(v, str):
        raise ProtocolError(f"expected a string, got {type(v).__name__}")
    return v


def _bool(v: Any) -> bool:
    if not isinstance(v, bool):
        raise ProtocolError(f"expected true or false, got {type(v).__name__}")
    return v


def _opt(check: Any) -> Any:
    return lambda v: None if v is None else check(v)


def _list(check: Any) -> Any:
    def f(v: Any) -> list[Any]:
        if not isinstance(v, list):
            raise ProtocolError(f"expected a list, got {type(v).__name__}")
        return [check(x) for x in v]

    return f


def _dict(check: Any) -> Any:
    def f(v: Any) -> dict[str, Any]:
        if not isinstance(v, dict):
            raise ProtocolError(f"expected an object, got {type(v).__name__}")
        return {_str(k): check(x) for k, x in v.items()}

    return f


def _nested(cls: type[Any]) -> Any:
    return lambda v: _from_obj(cls, v)


_CHECKS: dict[str, Any] = {
    "int": _int,
    "float": _float,
    "str": _str,
    "bool": _bool,
    "int | None": _opt(_int),
    "float | None": _opt(_float),
    "str | None": _opt(_str),
    "list[str]": _list(_str),
    "list[list[str]]": _list(_list(_str)),
    "dict[str, str]": _dict(_str),
    "dict[str, float]": _dict(_float),
}


def _check_for(annotation: str) -> Any:
    check = _CHECKS.get(annotation)
    if check is not None:
        return check
    if annotation.startswith("list[") and annotation[5:-1] in _PARTS:
        return _list(_nested(_PARTS[annotation[5:-1]]))
    raise TypeError(f"no wire check for {annotation!r}")


_PLANS: dict[type[Any], list[tuple[str, Any, bool]]] = {}


def _plan(cls: type[Any]) -> list[tuple[str, Any, bool]]:
    """(field, check, required) for each wire field of ``cls``, worked out once per class."""
    plan = _PLANS.get(cls)
    if plan is None:
        plan = [
            (
                f.name,
                _check_for(str(f.type)),
                f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING,
            )
            for f in dataclasses.fields(cls)
        ]
        _PLANS[cls] = plan
    return plan


def _from_obj(cls: type[Any], obj: Any) -> Any:
    """An instance of dataclass ``cls`` from a decoded JSON object, every field checked."""
    if not isinstance(obj, dict):
        raise ProtocolError(f"{cls.__name__}: expected an object")
    kwargs: dict[str, Any] = {}
    for name, check, required in _plan(cls):
        if name in obj:
            try:
                kwargs[name] = check(obj[name])
            except ProtocolError as exc:
                raise ProtocolError(f"{cls.__name__}.{name}: {exc}") from None
        elif required:
            raise ProtocolError(f"{cls.__name__}: {name} is missing")
    return cls(**kwargs)


# -- parts of messages ----------------------------------------------------------------------------


@dataclass(slots=True)
class RunRef:
    """A batch script running on the agent's node."""

    job_id: int
    run: int
    pid: int = 0


@dataclass(slots=True)
class Task:
    """One task of a step on this node: its rank and the variables only it has."""

    procid: int
    env: dict[str, str] = field(default_factory=dict)


_PARTS: dict[str, type[Any]] = {"RunRef": RunRef, "Task": Task}


# -- messages -------------------------------------------------------------------------------------


@dataclass(slots=True)
class Message:
    """Base of every message; ``type`` is its name on the wire."""

    type: ClassVar[str] = ""


@dataclass(slots=True)
class Finished(Message):
    """A batch script ended (repeated until acked). ``usage``: utime, stime, maxrss_kb."""

    type: ClassVar[str] = "finished"
    job_id: int
    run: int
    exit_code: int = 0
    signal: int = 0
    end_time: float = 0.0
    oom: bool = False
    error: str = ""
    usage: dict[str, float] = field(default_factory=dict)


_PARTS["Finished"] = Finished


@dataclass(slots=True)
class Hello(Message):
    """An agent (re)connects: who it is, its credentials, what runs and what ended meanwhile."""

    type: ClassVar[str] = "hello"
    node: str
    instance_id: str
    secret: str  # the agent's own node secret; its hash admits the instance after the join
    join: str = ""  # the join credential, needed until the head node has recorded the secret
    version: int = PROTOCOL_VERSION
    pid: int = 0
    running: list[RunRef] = field(default_factory=list)
    finished: list[Finished] = field(default_factory=list)
    bootstrap_error: str = ""  # the node failed to boot (a custom action): fail it, run nothing
    mounts: list[str] = field(default_factory=list)  # the node's mount points (shared storage checks)


@dataclass(slots=True)
class Started(Message):
    type: ClassVar[str] = "started"
    job_id: int
    run: int
    pid: int = 0


@dataclass(slots=True)
class StepFinished(Message):
    """This node's tasks of a step ended: the worst exit, and what they used (summed)."""

    type: ClassVar[str] = "step_finished"
    job_id: int
    run: int
    step_id: int
    exit_code: int = 0
    signal: int = 0
    end_time: float = 0.0
    usage: dict[str, float] = field(default_factory=dict)


@dataclass(slots=True)
class Heartbeat(Message):
    type: ClassVar[str] = "heartbeat"


@dataclass(slots=True)
class Welcome(Message):
    """The hello was accepted."""

    type: ClassVar[str] = "welcome"


@dataclass(slots=True)
class Reject(Message):
    """The hello was refused (wrong credential, unknown instance): the agent stops for good."""

    type: ClassVar[str] = "reject"
    reason: str = ""


@dataclass(slots=True)
class Launch(Message):
    """Start a job's batch script on this (its first) node."""

    type: ClassVar[str] = "launch"
    job_id: int
    run: int
    node: str
    script: str
    cwd: str
    stdout: str
    stderr: str = ""  # "" or the same path as stdout: one file
    stdin: str = "/dev/null"
    args: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    open_mode: str | None = None  # "append" | "truncate" (None: truncate)
    umask: int = 0o022
    mem_limit_mb: int | None = None  # enforced by the agent (OUT_OF_MEMORY)
    gpus: int = 0  # the job's GPUs on this node: the agent binds that many device indices
    # The job's owner: its script runs with their rights (an agent running as root drops to them).
    user: str = ""
    uid: int = -1
    gid: int = -1
    # Data staging (stratus.staging): [path, s3 URL] pairs copied in before the script runs and
    # out after it, as the job's user, in its working directory.
    stage_in: list[list[str]] = field(default_factory=list)
    stage_out: list[list[str]] = field(default_factory=list)
    # The run works in a fresh directory of its own on the node (``cwd`` is then ignored),
    # created for it, owned by its user, and removed with everything in it when the run ends.
    scratch: bool = False


@dataclass(slots=True)
class Kill(Message):
    """Stop (or signal) a run. ``why``: CANCELLED, TIMEOUT, REQUEUE, NODE_FAIL, END, SIGNAL, ..."""

    type: ClassVar[str] = "kill"
    job_id: int
    run: int
    why: str = "CANCELLED"
    signal: str = "TERM"


@dataclass(slots=True)
class Step(Message):
    """Run this node's tasks of a job step; stream their output to srun at ``io_host:io_port``."""

    type: ClassVar[str] = "step"
    job_id: int
    run: int
    step_id: int
    argv: list[str]
    cwd: str
    io_host: str
    io_port: int
    io_token: str
    env: dict[str, str] = field(default_factory=dict)
    tasks: list[Task] = field(default_factory=list)
    pty: bool = False
    gpus: int = 0  # the job's GPUs on this node (its tasks see the ones the job holds here)
    # The job's owner: its tasks run with their rights, as its batch script does.
    user: str = ""
    uid: int = -1
    gid: int = -1


@dataclass(slots=True)
class KillStep(Message):
    type: ClassVar[str] = "kill_step"
    job_id: int
    run: int
    step_id: int


@dataclass(slots=True)
class Ack(Message):
    """A ``Finished`` report is stored: the agent forgets it."""

    type: ClassVar[str] = "ack"
    job_id: int
    run: int


@dataclass(slots=True)
class Shutdown(Message):
    """Power down: stop every job and exit."""

    type: ClassVar[str] = "shutdown"


@dataclass(slots=True)
class DaemonFile:
    """A file a daemon needs on the node (its configuration, a key): ``path`` relative to the
    agent's daemon directory, ``data`` base64, ``mode`` its permission bits."""

    path: str
    data: str
    mode: int = 0o644


_PARTS["DaemonFile"] = DaemonFile

#: Stands for the agent's daemon directory (a short directory of its own, on the node) in a
#: :class:`Daemon`'s argv, environment and files.
DAEMON_DIR = "{daemon_dir}"


@dataclass(slots=True)
class Daemon(Message):
    """Keep a daemon running on the node, as a child of the agent, until the agent stops:
    Slurm's slurmd (and, on nodes of other machines, munged) when real Slurm is the cluster's
    engine. Idempotent: a daemon called ``name`` that still runs is left alone, one that exited
    is started again.

    ``files`` are written (replaced) before it starts; :data:`DAEMON_DIR` in ``argv``, ``env`` and
    the files' text is the agent's daemon directory. ``ready``: a path (relative to that
    directory) the daemon makes when it is ready to serve (a socket); the agent handles its next
    message only then, or after a timeout. ``fresh_boot``: start it in a new time namespace whose
    uptime starts near zero, so that the boot time it reports is after the moment it was asked
    for (slurmctld accepts a powered-up node only then)."""

    type: ClassVar[str] = "daemon"
    name: str
    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    fresh_boot: bool = False
    files: list[DaemonFile] = field(default_factory=list)
    ready: str = ""


@dataclass(slots=True)
class Unknown(Message):
    """A message type this side does not know (from a newer peer): logged and ignored."""

    name: str = ""


MESSAGES: dict[str, type[Message]] = {
    cls.type: cls
    for cls in (
        Hello,
        Started,
        Finished,
        StepFinished,
        Heartbeat,
        Welcome,
        Reject,
        Launch,
        Kill,
        Step,
        KillStep,
        Daemon,
        Ack,
        Shutdown,
    )
}


# -- codec ----------------------------------------------------------------------------------------


def encode(msg: Message) -> bytes:
    """One line on the wire: the message's fields and its ``type``."""
    body = dataclasses.asdict(msg)
    body["type"] = msg.type
    return json.dumps(body, separators=(",", ":")).encode() + b"\n"


def decode(line: bytes) -> Message:
    """A message from one line; raises :class:`ProtocolError` for anything malformed."""
    try:
        obj = json.loads(line)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise ProtocolError(f"not JSON: {exc}") from None
    if not isinstance(obj, dict) or not isinstance(obj.get("type"), str):
        raise ProtocolError("not a protocol message")
    cls = MESSAGES.get(obj["type"])
    if cls is None:
        return Unknown(name=obj["type"][:64])
    result: Message = _from_obj(cls, obj)
    return result


# -- credentials ----------------------------------------------------------------------------------


def secret_digest(secret: str) -> str:
    """What the head node records of a credential: its SHA-256 (the credential is never stored)."""
    import hashlib  # the head node's side: the agent does not pay for it at start-up

    return hashlib.sha256(secret.encode()).hexdigest()

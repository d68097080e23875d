"""ParallelCluster's AWS Batch commands (``awsbsub``, ``awsbstat``, ``awsbout``, ``awsbkill``,
``awsbqueues``, ``awsbhosts``) and ``stratus logs``, on a cluster's Batch endpoint.

Each command is a client of the cluster's AWS Batch endpoint (``Stratus.BatchApi``), as
pcluster's awsbatch-cli is a client of AWS Batch: boto3, signed with the caller's own access key
(the one ``stratus batch-credentials`` prints, asked of the head node over its unix socket), so
a user sees and ends what the endpoint lets that user see and end. The options, defaults, tables
and messages are pcluster's; where pcluster leans on AWS services a stratus cluster does not
have, the commands do the stratus thing:

* The cluster is ``-c/--cluster``; without it, ``$STRATUS_CLUSTER`` (set in ``stratus ssh``
  sessions), else the only cluster there is (with several, the option is required).
* Job queues: a stratus cluster may have several. ``awsbsub`` takes ``--job-queue`` (default: the
  only ENABLED one); ``awsbstat`` and ``awsbqueues`` show every job queue unless told one.
* Job definition: ``awsbsub`` registers, on first use, the host job definition ``awsbsub``
  (``platformCapabilities: ["STRATUS_HOST"]``): ``/bin/sh`` makes and enters the job's working
  directory (``-w``, or ``job-$AWS_BATCH_JOB_ID`` under ``-pw``, default the home directory) and
  runs the job's ``command`` parameter there.
* No S3: a command file (``-cf``), a script on standard input and input files (``-if``) travel
  inside the job's command, base64-encoded, and are written into the working directory before
  the command runs (at most :data:`MAX_INLINE_BYTES` in all).
* Output: the job's log stream, read with CloudWatch Logs' ``GetLogEvents`` on the same endpoint
  (``awsbout`` and ``stratus logs`` share :func:`print_output`).
* Hosts: the compute nodes that ``describe-cluster-instances`` lists, in the compute
  environments that ``DescribeComputeEnvironments`` gives, with the Batch jobs running on each.

Errors are plain text on stderr and exit code 1, as pcluster's tools print them; never JSON,
never a traceback.
"""

from __future__ import annotations

import argparse
import base64
import math
import os
import re
import shlex
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NoReturn, TextIO

#: Batch's job statuses, in the order a job goes through them (awsbstat sorts by it).
STATUSES = ("SUBMITTED", "PENDING", "RUNNABLE", "STARTING", "RUNNING", "SUCCEEDED", "FAILED")
ACTIVE = STATUSES[:5]
FINAL = ("SUCCEEDED", "FAILED")
LOG_GROUP = "/aws/batch/job"

#: The job definition awsbsub registers and submits to.
DEFINITION = "awsbsub"
#: What its jobs run: ``Ref::workdir`` (a shell word) and ``Ref::command`` (shell text) are the
#: job's parameters; the endpoint substitutes them once, so neither is scanned for ``Ref::`` again.
RUNNER = "mkdir -p Ref::workdir && cd Ref::workdir && Ref::command"
DEFAULT_WORKDIR = '"$HOME/job-$AWS_BATCH_JOB_ID"'
DEFINITION_BODY: dict[str, Any] = {
    "jobDefinitionName": DEFINITION,
    "type": "container",
    "platformCapabilities": ["STRATUS_HOST"],
    "parameters": {
        "workdir": DEFAULT_WORKDIR,
        "command": "echo 'awsbsub: this job was submitted without a command' >&2; exit 2",
    },
    "containerProperties": {
        "command": ["/bin/sh", "-c", RUNNER],
        "resourceRequirements": [{"type": "VCPU", "value": "1"}, {"type": "MEMORY", "value": "128"}],
    },
}

#: The definition of ``awsbsub -n N`` (N > 1): a multi-node parallel job whose every node runs
#: the same command (as pcluster's), the node count given at submission.
MNP_DEFINITION = "awsbsub-mnp"
MNP_DEFINITION_BODY: dict[str, Any] = {
    "jobDefinitionName": MNP_DEFINITION,
    "type": "multinode",
    "platformCapabilities": ["STRATUS_HOST"],
    "parameters": DEFINITION_BODY["parameters"],
    "nodeProperties": {
        "numNodes": 1,
        "mainNode": 0,
        "nodeRangeProperties": [{"targetNodes": "0:", "container": DEFINITION_BODY["containerProperties"]}],
    },
}

#: Variables ``-e all`` leaves out unless ``-eb`` names others (pcluster's list).
ENV_DENYLIST = ("HOME", "LD_LIBRARY_PATH", "PATH", "PWD", "TERM", "TERMCAP", "USER", "VCPUS")
_RESERVED_ENV = ("PCLUSTER_", "AWS_", "LESS_TERMCAP_")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
#: The most bytes of command file, script and input files one job carries (they travel in its
#: command, one argument of ``/bin/sh -c``, which the kernel caps at 128 KiB).
MAX_INLINE_BYTES = 64 * 1024
_DEPENDENCY = re.compile(r"(jobId|type)=[^\s,;=]+(,(jobId|type)=[^\s,;=]+)?")
#: How many job ids one DescribeJobs call takes.
DESCRIBE_CHUNK = 100


class AwsbError(Exception):
    """What a command prints on stderr before exiting with code 1."""


# -- the endpoint ---------------------------------------------------------------------------------


def resolve_cluster(name: str | None) -> str:
    """The cluster a command acts on: ``name``, else ``$STRATUS_CLUSTER``, else the only one."""
    if name:
        return name
    env = os.environ.get("STRATUS_CLUSTER")
    if env:
        return env
    from stratus.cli.clusters import list_clusters

    names = [c["clusterName"] for c in list_clusters()["clusters"]]
    if len(names) == 1:
        return str(names[0])
    if not names:
        raise AwsbError("Error: cluster parameter is required (-c/--cluster): there is no cluster")
    raise AwsbError(
        "Error: cluster parameter is required (-c/--cluster): there are several clusters "
        f"({', '.join(names)})"
    )


@dataclass
class Endpoint:
    """The Batch and CloudWatch Logs clients of one cluster's endpoint, signed with the caller's key."""

    cluster: str
    url: str
    batch: Any
    logs: Any

    @classmethod
    def connect(cls, cluster: str) -> Endpoint:
        from stratus.cli.clusters import CliError, batch_credentials

        try:
            creds = batch_credentials(cluster)
        except CliError as exc:
            if "Stratus.BatchApi" in str(exc):
                raise AwsbError(
                    f"Cluster '{cluster}' serves no AWS Batch endpoint: Stratus.BatchApi is not set in "
                    "its configuration (add 'Stratus: {BatchApi: {}}' and run stratus update-cluster)"
                ) from None
            raise
        import boto3
        from botocore.config import Config

        config = Config(retries={"max_attempts": 2, "mode": "standard"}, connect_timeout=10, read_timeout=60)

        def client(service: str) -> Any:
            return boto3.client(
                service,
                endpoint_url=creds["EndpointUrl"],
                region_name=creds["Region"],
                aws_access_key_id=creds["AccessKeyId"],
                aws_secret_access_key=creds["SecretAccessKey"],
                config=config,
            )

        return cls(cluster, str(creds["EndpointUrl"]), client("batch"), client("logs"))

    # -- reads every command shares --------------------------------------------------------------

    def describe_jobs(self, job_ids: Sequence[str]) -> list[dict[str, Any]]:
        """The jobs among ``job_ids`` that exist, in DescribeJobs' order (100 ids a call)."""
        out: list[dict[str, Any]] = []
        for i in range(0, len(job_ids), DESCRIBE_CHUNK):
            out += self.batch.describe_jobs(jobs=list(job_ids[i : i + DESCRIBE_CHUNK]))["jobs"]
        return out

    def job(self, job_id: str) -> dict[str, Any]:
        """One job; AwsbError if the endpoint knows no such job."""
        jobs = self.describe_jobs([job_id])
        if not jobs:
            raise AwsbError(f"Job ({job_id}) not found.")
        return jobs[0]

    def job_queues(self, names: Sequence[str] = ()) -> list[dict[str, Any]]:
        pages = self.batch.get_paginator("describe_job_queues").paginate(jobQueues=list(names))
        return [q for page in pages for q in page["jobQueues"]]

    def list_jobs(self, status: str, **where: str) -> list[dict[str, Any]]:
        pages = self.batch.get_paginator("list_jobs").paginate(jobStatus=status, **where)
        return [j for page in pages for j in page["jobSummaryList"]]


def _client_error_message(exc: Any) -> str:
    error = exc.response.get("Error", {})
    message = error.get("Message") or error.get("Code") or str(exc)
    return f"{exc.operation_name}: {message}"


def run_command(cluster: str | None, body: Callable[[Endpoint], int]) -> int:
    """Run ``body`` on the cluster's endpoint; every failure becomes a plain message on stderr
    and exit code 1 (an interrupt ends quietly with 0, as pcluster's tools do)."""
    from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError

    from stratus.errors import StratusError

    name = ""
    try:
        name = resolve_cluster(cluster)
        return body(Endpoint.connect(name))
    except AwsbError as exc:
        _error(str(exc))
    except ClientError as exc:
        _error(_client_error_message(exc))
    except EndpointConnectionError as exc:
        _error(
            f"Cannot reach the AWS Batch endpoint of cluster '{name}' ({exc}): is its head node running? "
            f"(stratus start-head-node -n {name})"
        )
    except BotoCoreError as exc:
        _error(f"Error talking to the AWS Batch endpoint of cluster '{name}': {exc}")
    except StratusError as exc:
        _error(str(exc))
    except PermissionError as exc:
        _error(f"Forbidden: {exc.strerror}: {exc.filename}")
    except KeyboardInterrupt:
        return 0
    except BrokenPipeError:
        # The reader went away (| head): stop quietly, and let the exit's flush go nowhere.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    return 1


def _error(message: str) -> None:
    sys.stdout.flush()
    sys.stderr.write(message.rstrip("\n") + "\n")


# -- output as pcluster prints it ------------------------------------------------------------------


def date(ms: int | float | None) -> str:
    """An epoch-millisecond time as pcluster shows it: local ISO 8601 to the second, '-' if none."""
    if ms is None:
        return "-"
    return datetime.fromtimestamp(ms / 1000, tz=UTC).astimezone().replace(microsecond=0).isoformat()


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def table(rows: Sequence[Sequence[Any]], headers: Sequence[str], out: TextIO) -> None:
    """tabulate's ``simple`` table (what pcluster prints): a header line, dashes under each column,
    columns two spaces apart, numbers right-aligned, text left-aligned."""
    widths = [len(h) + 2 for h in headers]
    numeric = [bool(rows) and all(_is_number(r[i]) for r in rows) for i in range(len(headers))]
    cells = [[str(v) for v in r] for r in rows]
    for r in cells:
        widths = [max(w, len(v)) for w, v in zip(widths, r, strict=True)]

    def line(values: Sequence[str]) -> str:
        parts = [v.rjust(w) if num else v.ljust(w) for v, w, num in zip(values, widths, numeric, strict=True)]
        return "  ".join(parts).rstrip()

    out.write(line(headers) + "\n")
    out.write("  ".join("-" * w for w in widths) + "\n")
    for r in cells:
        out.write(line(r) + "\n")


def details(items: Sequence[dict[str, Any]], keys: Sequence[str], out: TextIO) -> None:
    """pcluster's detailed view: ``key: value`` per line, 25 dashes after each item."""
    if not items:
        out.write("No items to show\n")
        return
    for item in items:
        for key in keys:
            out.write(f"{key:25}: {item.get(key, '-')!s}\n")
        out.write("-" * 25 + "\n")


# -- awsbsub --------------------------------------------------------------------------------------


def _positive(option: str, value: int | None, low: int, high: int | None = None) -> None:
    if value is None:
        return
    if value < low or (high is not None and value > high):
        bounds = f"between {low:,} and {high:,}" if high is not None else f"at least {low:,}"
        raise AwsbError(f"Parameters validation error: {option} must be {bounds}, got {value}")


def parse_depends_on(text: str | None) -> list[dict[str, str]]:
    """``jobId=<id>,type=<type>;...`` as SubmitJob's ``dependsOn`` (pcluster's syntax; each entry
    a jobId, a type, or both)."""
    if not text:
        return []
    out = []
    for entry in text.split(";"):
        entry = entry.strip()
        if not entry:
            continue
        if not _DEPENDENCY.fullmatch(entry):
            raise AwsbError(
                f"Parameters validation error: please double check --depends-on parameter syntax "
                f"(jobId=<string>,type=<string>;...): {entry!r}"
            )
        dep = dict(part.split("=", 1) for part in entry.split(","))
        if dep.get("type", "N_TO_N") not in ("N_TO_N", "SEQUENTIAL"):
            raise AwsbError(
                "Parameters validation error: --depends-on type must be N_TO_N or SEQUENTIAL, "
                f"got {dep['type']}"
            )
        out.append(dep)
    return out


def job_environment(names: str | None, denylist: str | None) -> list[dict[str, str]]:
    """The variables ``-e`` exports from this environment, as pcluster picks them: the names
    given, or ``all`` but the denylist; never PCLUSTER_*, AWS_* or shell functions."""
    if not names:
        return []
    deny = [v.strip() for v in denylist.split(",")] if denylist else list(ENV_DENYLIST)
    chosen: list[str] = []
    for raw in names.split(","):
        name = raw.strip()
        if name == "all":
            chosen += [n for n in os.environ if n not in deny]
        elif name in os.environ:
            chosen.append(name)
        elif name:
            sys.stderr.write(f"Environment variable ({name}) does not exist.\n")
    out: dict[str, str] = {}
    for name in chosen:
        if name.upper().startswith(_RESERVED_ENV) or not _ENV_NAME.fullmatch(name):
            continue
        out[name] = os.environ[name]
    return [{"name": k, "value": v} for k, v in out.items()]


def _inline(files: Iterable[tuple[str, bytes]]) -> list[str]:
    """Shell commands that write each (name, content) into the working directory."""
    return [
        f"printf %s {base64.b64encode(data).decode()} | base64 -d > {shlex.quote(n)}" for n, data in files
    ]


def _read_file(path: str, what: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read(MAX_INLINE_BYTES + 1)
    except OSError as exc:
        raise AwsbError(f"The {what} ({path}) cannot be read: {exc.strerror}") from None


def job_command(args: argparse.Namespace, stdin: TextIO) -> tuple[str, str]:
    """(the job's ``command`` parameter, its default name) from awsbsub's arguments: the command
    and its arguments, or the command file (or standard input) with its arguments, after the
    input files are written."""
    arguments = list(args.arguments or [])
    inputs = [(os.path.basename(p), _read_file(p, "input file")) for p in args.input_file or []]
    steps: list[str] = []
    if args.command_file or args.job_command is None:
        if args.command_file:
            if args.job_command is None:
                raise AwsbError("The command parameter is required with --command-file option")
            if not os.path.isfile(args.job_command):
                raise AwsbError(f"The command parameter ({args.job_command}) must be an existing file")
            script = _read_file(args.job_command, "command file")
            default_name = re.sub(r"\W+", "_", os.path.basename(args.job_command))
        else:
            if stdin.isatty():
                raise AwsbError("Parameters validation error: command parameter is required.")
            script = stdin.buffer.read(MAX_INLINE_BYTES + 1)
            if not script.strip():
                raise AwsbError(
                    "Parameters validation error: no command given and nothing on standard input."
                )
            default_name = "STDIN"
        name = (args.job_name or default_name) + ".sh"
        inputs.append((name, script))
        steps.append(f"chmod +x {shlex.quote(name)}")
        run = shlex.join([f"./{name}", *arguments])
    else:
        default_name = re.sub(r"\W+", "_", os.path.basename(args.job_command))
        run = shlex.join([args.job_command, *arguments])
    size = sum(len(data) for _, data in inputs)
    if size > MAX_INLINE_BYTES:
        raise AwsbError(
            f"The command and input files travel inside the job and may hold {MAX_INLINE_BYTES // 1024} KiB "
            "in all: put larger files where the compute nodes can read them (the working directory "
            "is on the nodes' file system)"
        )
    return " && ".join([*_inline(inputs), *steps, run]), default_name


def _workdir(args: argparse.Namespace) -> str:
    """The ``workdir`` parameter: a shell word the job expands on its node."""
    if args.working_dir:
        return shlex.quote(os.path.expanduser(args.working_dir))
    if args.parent_working_dir:
        return shlex.quote(os.path.expanduser(args.parent_working_dir)) + '/job-"$AWS_BATCH_JOB_ID"'
    return DEFAULT_WORKDIR


def choose_job_queue(ep: Endpoint, wanted: str | None) -> str:
    """The job queue to submit to: ``wanted``, else the only ENABLED one."""
    if wanted:
        return wanted
    queues = ep.job_queues()
    enabled = [q["jobQueueName"] for q in queues if q.get("state") == "ENABLED"]
    if len(enabled) == 1:
        return str(enabled[0])
    if not queues:
        raise AwsbError(
            f"Cluster '{ep.cluster}' has no job queue: its administrators create one "
            "(aws batch create-job-queue, on the endpoint that stratus batch-credentials names)"
        )
    listed = ", ".join(f"{q['jobQueueName']} ({q.get('state', '-')})" for q in queues)
    raise AwsbError(f"Choose a job queue with --job-queue: cluster '{ep.cluster}' has {listed}")


def _same_definition(found: dict[str, Any], body: dict[str, Any]) -> bool:
    def command(d: dict[str, Any]) -> Any:
        if "nodeProperties" in d:
            ranges = (d.get("nodeProperties") or {}).get("nodeRangeProperties") or [{}]
            return (ranges[0].get("container") or {}).get("command")
        return (d.get("containerProperties") or {}).get("command")

    return bool(
        found.get("platformCapabilities") == body["platformCapabilities"]
        and found.get("parameters") == body["parameters"]
        and found.get("type", "container") == body["type"]
        and command(found) == command(body)
    )


def job_definition(ep: Endpoint, *, multinode: bool = False) -> str:
    """The ARN of the awsbsub job definition (``multinode``: the one of ``-n N``), registered on
    first use (or again, as a new revision, if its latest active revision is not the one this
    stratus submits to)."""
    body = MNP_DEFINITION_BODY if multinode else DEFINITION_BODY
    pages = ep.batch.get_paginator("describe_job_definitions").paginate(
        jobDefinitionName=body["jobDefinitionName"], status="ACTIVE"
    )
    found = [d for page in pages for d in page["jobDefinitions"]]
    latest = max(found, key=lambda d: int(d["revision"]), default=None)
    if latest is not None and _same_definition(latest, body):
        return str(latest["jobDefinitionArn"])
    return str(ep.batch.register_job_definition(**body)["jobDefinitionArn"])


def validate_submit(args: argparse.Namespace) -> None:
    """pcluster's checks of awsbsub's options, before anything is asked of the endpoint."""
    if args.env_denylist and args.env != "all":
        raise AwsbError('--env-denylist parameter can be used only associated with --env "all"')
    if args.working_dir and args.parent_working_dir:
        raise AwsbError("--parent-working-dir and --working-dir parameters cannot be used at the same time")
    _positive("-p/--vcpus", args.vcpus, 1)
    _positive("-m/--memory", args.memory, 4)
    _positive("-r/--retry-attempts", args.retry_attempts, 1, 10)
    _positive("-t/--timeout", args.timeout, 60)
    _positive("-n/--nodes", args.nodes, 1)
    _positive("-a/--array-size", args.array_size, 2, 10_000)
    if args.nodes and args.nodes > 1 and args.array_size:
        raise AwsbError(
            "--nodes and --array-size cannot be used together: AWS Batch has no multi-node array jobs"
        )


def awsbsub(ep: Endpoint, args: argparse.Namespace, stdin: TextIO, out: TextIO) -> int:
    command, default_name = job_command(args, stdin)
    depends_on = parse_depends_on(args.depends_on)
    environment = job_environment(args.env, args.env_denylist)
    queue = choose_job_queue(ep, args.job_queue)
    multinode = bool(args.nodes and args.nodes > 1)
    overrides = {
        "environment": environment,
        "resourceRequirements": [
            {"type": "VCPU", "value": str(args.vcpus)},
            {"type": "MEMORY", "value": str(args.memory)},
        ],
    }
    request: dict[str, Any] = {
        "jobName": args.job_name or default_name,
        "jobQueue": queue,
        "jobDefinition": job_definition(ep, multinode=multinode),
        "parameters": {"workdir": _workdir(args), "command": command},
        "dependsOn": depends_on,
        "retryStrategy": {"attempts": args.retry_attempts},
    }
    if multinode:
        # Every node runs the command, each with its AWS_BATCH_JOB_NODE_INDEX (node 0 the main one).
        request["nodeOverrides"] = {
            "numNodes": args.nodes,
            "nodePropertyOverrides": [{"targetNodes": "0:", "containerOverrides": overrides}],
        }
    else:
        request["containerOverrides"] = overrides
    if args.array_size:
        request["arrayProperties"] = {"size": args.array_size}
    if args.timeout:
        request["timeout"] = {"attemptDurationSeconds": args.timeout}
    answer = ep.batch.submit_job(**request)
    out.write(f"Job {answer['jobId']} ({answer['jobName']}) has been submitted.\n")
    return 0


# -- awsbstat -------------------------------------------------------------------------------------

STAT_KEYS = (
    "jobId", "jobName", "createdAt", "startedAt", "stoppedAt", "status", "statusReason", "jobDefinition",
    "jobQueue", "command", "exitCode", "reason", "vcpus", "memory[MB]", "nodes", "logStream", "log",
)  # fmt: skip
STAT_TABLE = ("jobId", "jobName", "status", "startedAt", "stoppedAt", "exitCode")


def _is_array(job: dict[str, Any]) -> bool:
    return "size" in (job.get("arrayProperties") or {})


def _resource(container: dict[str, Any], kind: str) -> Any:
    """A job's VCPU or MEMORY requirement as awsbstat shows it: a number, or '-' if none."""
    for r in container.get("resourceRequirements") or []:
        if r.get("type") == kind:
            value = str(r.get("value"))
            try:
                return int(value) if value.isdigit() else float(value)
            except ValueError:
                return value
    return "-"


def _amount(job: dict[str, Any], kind: str) -> float:
    value = _resource(job.get("container") or {}, kind)
    return float(value) if _is_number(value) else 0.0


def job_row(job: dict[str, Any], cluster: str) -> dict[str, Any]:
    """One job (a DescribeJobs detail or a ListJobs summary) as awsbstat's columns."""
    container = job.get("container") or {}
    array = _is_array(job)
    params = job.get("parameters") or {}
    definition = str(job.get("jobDefinition", "")).rsplit("/", 1)[-1] or "-"
    if definition.split(":", 1)[0] == DEFINITION and "command" in params:
        command = params["command"]  # what the user asked for, not the runner around it
    else:
        command = shlex.join(container["command"]) if container.get("command") else "-"
    stream = container.get("logStreamName") if not array else None
    return {
        "jobId": f"{job['jobId']} [{job['arrayProperties']['size']}]" if array else job["jobId"],
        "id": job["jobId"],
        "jobName": job.get("jobName", "-"),
        "createdAt": date(job.get("createdAt")),
        "startedAt": date(job.get("startedAt")),
        "stoppedAt": date(job.get("stoppedAt")),
        "status": job.get("status", "UNKNOWN"),
        "statusReason": job.get("statusReason", "-"),
        "jobDefinition": definition,
        "jobQueue": str(job["jobQueue"]).rsplit("/", 1)[-1] if job.get("jobQueue") else "-",
        "command": command,
        "exitCode": container.get("exitCode", "-"),
        "reason": container.get("reason", "-"),
        "vcpus": _resource(container, "VCPU"),
        "memory[MB]": _resource(container, "MEMORY"),
        "nodes": (job.get("nodeProperties") or {}).get("numNodes", 1),
        "logStream": stream or "-",
        "log": f"stratus awsbout -c {cluster} {job['jobId']}" if stream else "-",
    }


def _by_reference(jobs: Iterable[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Jobs by their id and by their ARN (either names a job on the command line)."""
    out: dict[str, dict[str, Any]] = {}
    for job in jobs:
        out[job["jobId"]] = job
        if job.get("jobArn"):
            out[job["jobArn"]] = job
    return out


def _children_ids(job: dict[str, Any]) -> list[str]:
    return [f"{job['jobId']}:{i}" for i in range(int(job["arrayProperties"]["size"]))]


def awsbstat(ep: Endpoint, args: argparse.Namespace, out: TextIO) -> int:
    wanted = [s.strip().upper() for s in args.status.split(",") if s.strip()]
    unknown = [s for s in wanted if s not in (*STATUSES, "ALL")]
    if unknown or not wanted:
        raise AwsbError(
            f"Parameters validation error: invalid status {', '.join(unknown) or repr(args.status)}: "
            f"accepted values are {', '.join(STATUSES)}, ALL"
        )
    statuses = list(STATUSES) if "ALL" in wanted else list(dict.fromkeys(wanted))
    rows: list[dict[str, Any]] = []
    missing: list[str] = []
    if args.job_ids:
        # The jobs asked for, each array's children after it; a single simple job in detail.
        found = _by_reference(ep.describe_jobs(args.job_ids))
        jobs = [found.get(job_id) for job_id in args.job_ids]
        missing = [job_id for job_id, job in zip(args.job_ids, jobs, strict=True) if job is None]
        arrays = [j for j in jobs if j is not None and _is_array(j)]
        children = _by_reference(ep.describe_jobs([c for j in arrays for c in _children_ids(j)]))
        for job in jobs:
            if job is not None:
                rows.append(job_row(job, ep.cluster))
                if _is_array(job):
                    rows += [job_row(children[c], ep.cluster) for c in _children_ids(job) if c in children]
        show_details = args.details or (len(args.job_ids) == 1 and len(rows) == 1)
    else:
        queues = [args.job_queue] if args.job_queue else [q["jobQueueName"] for q in ep.job_queues()]
        summaries: list[dict[str, Any]] = []
        for queue in queues:
            for status in statuses:
                summaries += ep.list_jobs(status, jobQueue=queue)
        parents = [j for j in summaries if _is_array(j)] if args.expand_children else []
        singles = [j for j in summaries if not (args.expand_children and _is_array(j))]
        if args.details:
            singles = ep.describe_jobs([j["jobId"] for j in singles])
        expanded = ep.describe_jobs([c for p in parents for c in _children_ids(p)])
        rows = [job_row(j, ep.cluster) for j in [*singles, *expanded]]
        rows.sort(key=lambda r: (STATUSES.index(r["status"]), r["startedAt"], r["id"]))
        show_details = args.details
    if show_details:
        details(rows, STAT_KEYS, out)
    else:
        table([[r[k] for k in STAT_TABLE] for r in rows], STAT_TABLE, out)
    for job_id in missing:
        _error(f"Job ({job_id}) not found.")
    return 1 if missing else 0


# -- awsbout and stratus logs ----------------------------------------------------------------------


def _stream_of(job: dict[str, Any], attempt: int | None) -> str:
    """The log stream of the job's attempt ``attempt`` (default: its latest)."""
    if _is_array(job):
        raise AwsbError(f"No output available for the Job ({job['jobId']}). Please ask for its children.")
    stream = str((job.get("container") or {}).get("logStreamName") or "")
    if attempt is None or not stream:
        return stream
    base, _, latest = stream.rpartition(".")
    if not latest.isdigit() or not 1 <= attempt <= int(latest):
        raise AwsbError(f"Job ({job['jobId']}) has no attempt {attempt}: its attempts are 1 to {latest or 1}")
    return f"{base}.{attempt}"


def _events(ep: Endpoint, stream: str, **request: Any) -> dict[str, Any] | None:
    """One GetLogEvents answer; None while the stream does not exist (the job has not written)."""
    from botocore.exceptions import ClientError

    try:
        answer: dict[str, Any] = ep.logs.get_log_events(
            logGroupName=LOG_GROUP, logStreamName=stream, **request
        )
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
            return None
        raise
    return answer


def print_output(
    ep: Endpoint,
    job_id: str,
    out: TextIO,
    *,
    head: int | None = None,
    tail: int | None = None,
    follow: bool = False,
    period: float = 5.0,
    attempt: int | None = None,
    timestamps: bool = True,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """Print a job's output from its log stream: all of it, its first ``head`` or last ``tail``
    lines, then, with ``follow``, what it writes next, every ``period`` seconds, until the job
    has ended and its stream is read to the end. A job that has not written yet: with
    ``follow``, wait for it; without, say so (pcluster's message). With ``timestamps`` each line
    is prefixed with its event time, as awsbout prints it."""

    def write(events: Iterable[dict[str, Any]]) -> None:
        for e in events:
            out.write(f"{date(e['timestamp'])}: {e['message']}\n" if timestamps else e["message"] + "\n")
        out.flush()

    job = ep.job(job_id)
    stream = _stream_of(job, attempt)
    request: dict[str, Any] = {"startFromHead": True}
    if head:
        request = {"startFromHead": True, "limit": head}
    elif tail:
        request = {"startFromHead": False, "limit": tail}
    answer = _events(ep, stream, **request) if stream else None
    while answer is None:
        if not follow or job["status"] in FINAL:
            out.write(f"No log stream found for job ({job_id}) in the status ({job['status']})\n")
            return 0
        sleep(period)
        job = ep.job(job_id)
        stream = _stream_of(job, attempt)
        answer = _events(ep, stream, **request) if stream else None
    if not answer["events"] and not follow:
        out.write("No events found.\n")
    write(answer["events"])
    if head:
        return 0
    token = answer["nextForwardToken"]
    ended = job["status"] in FINAL
    while True:
        if follow and not ended:
            sleep(period)
            # Whether it had ended before this read: then this read is the stream's last.
            ended = ep.job(job_id)["status"] in FINAL
        answer = _events(ep, stream, nextToken=token, startFromHead=True)
        if answer is None:
            return 0
        write(answer["events"])
        same = answer["nextForwardToken"] == token
        token = answer["nextForwardToken"]
        if same and (not follow or ended):
            return 0


# -- awsbkill -------------------------------------------------------------------------------------


def awsbkill(ep: Endpoint, args: argparse.Namespace, out: TextIO) -> int:
    found = _by_reference(ep.describe_jobs(args.job_ids))
    missing = 0
    for job_id in args.job_ids:
        job = found.get(job_id)
        if job is None:
            _error(f"Job ({job_id}) not found.")
            missing += 1
            continue
        status = job["status"]
        if status in FINAL:
            out.write(f"Job ({job_id}) is already in ({status}) status.\n")
            continue
        ep.batch.terminate_job(jobId=job["jobId"], reason=args.reason)
        action = "cancellation" if status in ("SUBMITTED", "PENDING", "RUNNABLE") else "termination"
        out.write(f"Your job {action} request for job ({job_id}) in status ({status}) has been submitted.\n")
    return 1 if missing else 0


# -- awsbqueues -----------------------------------------------------------------------------------

QUEUE_KEYS = ("jobQueueArn", "jobQueueName", "priority", "state", "status", "statusReason")


def awsbqueues(ep: Endpoint, args: argparse.Namespace, out: TextIO) -> int:
    queues = ep.job_queues(args.job_queues)
    rows = [{k: q.get(k, "-") for k in QUEUE_KEYS} for q in queues]
    known = {q["jobQueueName"] for q in queues} | {q["jobQueueArn"] for q in queues}
    missing = [name for name in args.job_queues if name not in known]
    if args.details or args.job_queues:
        details(rows, QUEUE_KEYS, out)
    else:
        table([[r["jobQueueName"], r["status"]] for r in rows], ["jobQueueName", "status"], out)
    for name in missing:
        _error(f"Job queue ({name}) not found.")
    return 1 if missing else 0


# -- awsbhosts ------------------------------------------------------------------------------------

HOST_KEYS = (
    "ec2InstanceId", "containerInstanceArn", "status", "instanceType", "privateIpAddress", "publicIpAddress",
    "privateDnsName", "publicDnsName", "runningJobs", "pendingJobs", "registeredCPUs", "registeredMemory[MB]",
    "availableCPUs", "availableMemory[MB]",
)  # fmt: skip
HOST_TABLE = ("ec2InstanceId", "instanceType", "privateIpAddress", "publicIpAddress", "runningJobs")
#: ECS's container instance status for each EC2 state describe-cluster-instances reports.
_HOST_STATUS = {"running": "ACTIVE", "pending": "REGISTERING", "shutting-down": "DEREGISTERING"}


def _node_names(cluster: str) -> dict[str, tuple[str, int, int]]:
    """Instance id → (node name, its vCPUs, its memory in MiB), from the cluster's records."""
    from stratus.cli import clusters as c
    from stratus.store.store import Store

    paths = c.existing(cluster)
    c.read_cluster(paths)  # its administrators only, as describe-cluster-instances
    layout = c._layout_or_none(paths)
    sizes = {
        node: (cr.vcpus, cr.memory_mb)
        for q in (layout.queues if layout else ())
        for cr in q.compute_resources
        for node in cr.node_names
    }
    store = Store.open_readonly(paths.db)
    try:
        with store.reading() as conn:
            rows = store.node_instances(conn)
    finally:
        store.close()
    return {inst["instance_id"]: (name, *sizes.get(name, (0, 0))) for name, _, inst in rows}


def _running_on_nodes(ep: Endpoint) -> dict[str, list[dict[str, Any]]]:
    """Node name → the STARTING and RUNNING Batch jobs (array children included) on it."""
    ids: list[str] = []
    for queue in ep.job_queues():
        for status in ("STARTING", "RUNNING"):
            for job in ep.list_jobs(status, jobQueue=queue["jobQueueName"]):
                if _is_array(job):
                    ids += [c["jobId"] for c in ep.list_jobs(status, arrayJobId=job["jobId"])]
                else:
                    ids.append(job["jobId"])
    out: dict[str, list[dict[str, Any]]] = {}
    for job in ep.describe_jobs(list(dict.fromkeys(ids))):
        node = (job.get("container") or {}).get("containerInstanceArn")
        if node and job.get("status") in ("STARTING", "RUNNING"):
            out.setdefault(node, []).append(job)
    return out


def awsbhosts(ep: Endpoint, args: argparse.Namespace, out: TextIO) -> int:
    from stratus.cli.clusters import describe_cluster_instances

    pages = ep.batch.get_paginator("describe_compute_environments").paginate()
    environments = {e["computeEnvironmentName"] for page in pages for e in page["computeEnvironments"]}
    instances = [
        i
        for i in describe_cluster_instances(ep.cluster, "ComputeNode", None)["instances"]
        if i.get("queueName") in environments
    ]
    nodes = _node_names(ep.cluster)
    jobs = _running_on_nodes(ep)
    rows = []
    for inst in instances:
        name, cpus, memory = nodes.get(inst["instanceId"], ("-", 0, 0))
        here = jobs.get(name, [])
        used_cpus = math.ceil(sum(_amount(j, "VCPU") for j in here))
        used_mem = int(sum(_amount(j, "MEMORY") for j in here))
        rows.append({
            "ec2InstanceId": inst["instanceId"],
            "containerInstanceArn": name,
            "status": _HOST_STATUS.get(inst.get("state", ""), "INACTIVE"),
            "instanceType": inst.get("instanceType", "-"),
            "privateIpAddress": inst.get("privateIpAddress", "-"),
            "publicIpAddress": "-",
            "privateDnsName": name,
            "publicDnsName": "-",
            "runningJobs": sum(1 for j in here if j["status"] == "RUNNING"),
            "pendingJobs": sum(1 for j in here if j["status"] == "STARTING"),
            "registeredCPUs": cpus or "-",
            "registeredMemory[MB]": memory or "-",
            "availableCPUs": max(cpus - used_cpus, 0) if cpus else "-",
            "availableMemory[MB]": max(memory - used_mem, 0) if memory else "-",
        })  # fmt: skip
    missing = []
    if args.instance_ids:
        missing = [i for i in args.instance_ids if i not in {r["ec2InstanceId"] for r in rows}]
        rows = [r for r in rows if r["ec2InstanceId"] in args.instance_ids]
    if args.details or args.instance_ids:
        details(rows, HOST_KEYS, out)
    else:
        table([[r[k] for k in HOST_TABLE] for r in rows], HOST_TABLE, out)
    for instance_id in missing:
        _error(f"Instance ({instance_id}) not found among the cluster's compute nodes.")
    return 1 if missing else 0


# -- the verbs' options ---------------------------------------------------------------------------

#: Verb → its help text (``stratus --help``).
VERBS = {
    "awsbsub": "Submit a job to the cluster's AWS Batch job queue (pcluster's awsbsub).",
    "awsbstat": "Show the jobs of the cluster's AWS Batch job queues (pcluster's awsbstat).",
    "awsbout": "Show the output of an AWS Batch job (pcluster's awsbout).",
    "awsbkill": "Cancel or terminate AWS Batch jobs (pcluster's awsbkill).",
    "awsbqueues": "Show the cluster's AWS Batch job queues (pcluster's awsbqueues).",
    "awsbhosts": "Show the hosts of the cluster's AWS Batch compute environments (pcluster's awsbhosts).",
    "logs": "Print an AWS Batch job's output (its log stream on the cluster's Batch endpoint).",
}


def _usage_error(parser: argparse.ArgumentParser) -> Callable[[str], NoReturn]:
    def error(message: str) -> NoReturn:
        # Bad input is exit code 1, as for every other failure of these commands.
        parser.print_usage(sys.stderr)
        sys.stderr.write(f"{parser.prog}: error: {message}\n")
        sys.exit(1)

    return error


def add_arguments(p: argparse.ArgumentParser, verb: str) -> None:
    """The options of ``verb`` (one of :data:`VERBS`), pcluster's where it has the verb."""
    p.error = _usage_error(p)  # type: ignore[assignment]
    if verb == "logs":
        p.add_argument("-n", "--cluster-name", required=True, help="Name of the cluster.")
        p.add_argument("job_id", help="The job ID (an array's child: <id>:<index>).")
        p.add_argument("--attempt", type=int, help="The attempt whose output to print (default: the latest).")
        p.add_argument(
            "-f", "--follow", action="store_true", help="Keep printing new output until the job has ended."
        )
        return
    p.add_argument(
        "-c", "--cluster", help="Cluster to use (default: $STRATUS_CLUSTER, else the only cluster there is)."
    )
    if verb == "awsbsub":
        _submit_arguments(p)
    elif verb == "awsbstat":
        p.add_argument(
            "-s",
            "--status",
            default=",".join(ACTIVE),
            help='Comma separated list of job status to ask, defaults to "active" jobs. Accepted values are: '
            f"{', '.join(STATUSES)}, ALL",
        )
        p.add_argument(
            "-e", "--expand-children", action="store_true", help="Expand jobs with children (arrays)."
        )
        p.add_argument("-d", "--details", action="store_true", help="Show jobs details.")
        p.add_argument("--job-queue", help="Only this job queue's jobs (default: every job queue's).")
        p.add_argument(
            "job_ids",
            nargs="*",
            help="A space separated list of job IDs to show. An array's children are shown too; a single "
            "job is shown in detail.",
        )
    elif verb == "awsbout":
        p.add_argument("-hd", "--head", type=int, help="Gets the first <head> lines of the job output.")
        p.add_argument("-t", "--tail", type=int, help="Gets the last <tail> lines of the job output.")
        p.add_argument(
            "-s",
            "--stream",
            action="store_true",
            help="Gets the job output and waits for additional output to be produced, until the job has "
            "ended. It can be used with --tail to start from the latest <tail> lines.",
        )
        p.add_argument("-sp", "--stream-period", type=int, help="Sets the streaming period. Default is 5.")
        p.add_argument("job_id", help="The job ID.")
    elif verb == "awsbkill":
        p.add_argument(
            "-r",
            "--reason",
            default="Terminated by the user",
            help="A message to attach to the job that explains the reason for canceling it.",
        )
        p.add_argument("job_ids", nargs="+", help="A space separated list of job IDs to cancel/terminate.")
    elif verb == "awsbqueues":
        p.add_argument("-d", "--details", action="store_true", help="Show queues details.")
        p.add_argument(
            "job_queues",
            nargs="*",
            help="A space separated list of queue names to show (shown in detail). Default: every job queue.",
        )
    elif verb == "awsbhosts":
        p.add_argument("-d", "--details", action="store_true", help="Show hosts details.")
        p.add_argument(
            "instance_ids",
            nargs="*",
            help="A space separated list of instance IDs to show (shown in detail).",
        )


def _submit_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "-jn",
        "--job-name",
        help="The name of the job. The first character must be alphanumeric; up to 128 letters, numbers, "
        "hyphens and underscores.",
    )
    p.add_argument(
        "-cf",
        "--command-file",
        action="store_true",
        help="The command is a file to be transferred to the compute nodes (inline, with the job).",
    )
    p.add_argument(
        "-w",
        "--working-dir",
        help="The folder to use as job working directory. If not specified the job runs in the "
        "job-<AWS_BATCH_JOB_ID> subfolder of the user's home.",
    )
    p.add_argument(
        "-pw",
        "--parent-working-dir",
        help="Parent folder for the job working directory (default: the user's home); a subfolder named "
        "job-<AWS_BATCH_JOB_ID> is created in it. Alternative to --working-dir.",
    )
    p.add_argument(
        "-if",
        "--input-file",
        action="append",
        help="File to be transferred to the compute nodes, in the job working directory. Repeatable.",
    )
    p.add_argument("-p", "--vcpus", type=int, default=1, help="The number of vCPUs to reserve. Default is 1.")
    p.add_argument(
        "-m",
        "--memory",
        type=int,
        default=128,
        help="The hard limit (in MiB) of memory of the job; a job that exceeds it is killed. Default is 128.",
    )
    p.add_argument(
        "-e",
        "--env",
        help="Comma separated list of environment variable names to export to the job environment. Use "
        "'all' to export all of them, except those listed by --env-denylist and those starting with "
        "PCLUSTER_ and AWS_.",
    )
    p.add_argument(
        "-eb",
        "--env-denylist",
        "--env-blacklist",
        help="Comma separated list of environment variable names NOT to export with --env all. Default: "
        f"{', '.join(ENV_DENYLIST)}.",
    )
    p.add_argument(
        "-r",
        "--retry-attempts",
        type=int,
        default=1,
        help="The number of times to move a job to the RUNNABLE status (1 to 10). Default is 1.",
    )
    p.add_argument(
        "-t",
        "--timeout",
        type=int,
        help="Seconds (from the attempt's start) after which the job is terminated; at least 60.",
    )
    p.add_argument(
        "-n",
        "--nodes",
        type=int,
        help="The number of nodes to reserve for the job: above 1, a multi-node parallel job whose "
        "every node runs the command.",
    )
    p.add_argument("-a", "--array-size", type=int, help="The size of the array, 2 to 10,000.")
    p.add_argument(
        "-d",
        "--depends-on",
        help="A semicolon separated list of dependencies: jobId=<string>,type=<string>;... (type: "
        "N_TO_N or SEQUENTIAL, for arrays).",
    )
    p.add_argument(
        "--job-queue",
        help="The job queue to submit to (a stratus addition; default: the only ENABLED job queue).",
    )
    p.add_argument(
        "job_command",  # not "command": that is the verb's destination in stratus's parser
        metavar="command",
        nargs="?",
        help="The command to submit (it must be available on the compute nodes), or the file to transfer "
        "(--command-file). Without it, the job script is read from standard input.",
    )
    p.add_argument(
        "arguments",
        nargs=argparse.REMAINDER,
        help="Arguments for the command or the command file (options after the command are its own).",
    )


def main(args: argparse.Namespace) -> int:
    """Run one of :data:`VERBS` with its parsed arguments; the exit code."""
    verb = args.command
    out = sys.stdout
    if verb == "logs":
        if args.attempt is not None and args.attempt < 1:
            return _fail(f"Parameters validation error: --attempt must be at least 1, got {args.attempt}")
        return run_command(
            args.cluster_name,
            lambda ep: print_output(ep, args.job_id, out, attempt=args.attempt, follow=args.follow,
                                    period=1.0, timestamps=False),
        )  # fmt: skip
    commands: dict[str, Callable[[Endpoint], int]] = {
        "awsbsub": lambda ep: awsbsub(ep, args, sys.stdin, out),
        "awsbstat": lambda ep: awsbstat(ep, args, out),
        "awsbout": lambda ep: print_output(
            ep,
            args.job_id,
            out,
            head=args.head,
            tail=args.tail,
            follow=args.stream,
            period=args.stream_period or 5,
        ),
        "awsbkill": lambda ep: awsbkill(ep, args, out),
        "awsbqueues": lambda ep: awsbqueues(ep, args, out),
        "awsbhosts": lambda ep: awsbhosts(ep, args, out),
    }
    try:
        _check_options(args)
    except AwsbError as exc:
        return _fail(str(exc))
    return run_command(args.cluster, commands[verb])


def _check_options(args: argparse.Namespace) -> None:
    """Checks that need no cluster (pcluster's, and the ranges the endpoint would refuse)."""
    if args.command == "awsbsub":
        validate_submit(args)
        parse_depends_on(args.depends_on)
    elif args.command == "awsbout":
        problem = "Parameters validation error: "
        if args.head and args.tail:
            raise AwsbError(problem + "--tail and --head option cannot be set at the same time")
        if args.head and args.stream:
            raise AwsbError(problem + "--stream and --head option cannot be set at the same time")
        if args.stream_period and not args.stream:
            raise AwsbError(problem + "--stream-period can be used only with --stream option")
        for option, value in (("-hd/--head", args.head), ("-t/--tail", args.tail)):
            _positive(option, value, 1, 10_000)
        _positive("-sp/--stream-period", args.stream_period, 1)


def _fail(message: str) -> int:
    _error(message)
    return 1

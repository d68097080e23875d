"""Multi-node parallel Batch jobs: one job over several nodes, each node running its part.

A multi-node parallel (MNP) job definition names ``nodeProperties``: ``numNodes``, the
``mainNode`` index and ``nodeRangeProperties``, each a ``targetNodes`` range (``a:b``, ``:b``,
``a:`` or an index) and the container (or, for ``STRATUS_HOST`` definitions, the command) its
nodes run. Ranges may nest, as in AWS Batch: a node takes the narrowest range that holds it
(``0:3`` and ``1:1``: node 1 runs the second). Ranges that overlap without one holding the other
are refused (which would win is not defined), as are nodes no range covers.

What :func:`plan` guarantees at SubmitJob, before anything is stored:

* ``nodeOverrides.numNodes`` only with an open-ended range (``a:``) whose start, and the main
  node, are below it; each ``nodePropertyOverrides`` range inside the job's nodes; its
  ``containerOverrides`` replace the command, add environment and resources of those nodes;
  ``Ref::`` parameters are substituted in every node's command;
* an MNP job is neither an array job (``arrayProperties``) nor given ``containerOverrides``
  (``nodeOverrides`` says what each node runs), and a single-node job has no ``nodeOverrides``;
* every node has something to run (an image, or a command on the host).

How it runs. The job is one job of the cluster's engine over ``numNodes`` nodes, one task per
node, each node holding the largest VCPU, MEMORY and GPU request of the job's nodes. Its
script runs on the allocation's first node, which is the **main node**'s; the other node
indexes take the allocation's other nodes in order. The script (:func:`job_script`):

1. starts the main node's part there, with ``AWS_BATCH_JOB_NODE_INDEX`` = ``mainNode``;
2. then starts every other node's part on its node, as a step of the job, through the
   cluster's own ``srun`` (the program in the cluster's ``bin`` directory, by its path, never
   one found on ``PATH``), with its node index and ``AWS_BATCH_JOB_MAIN_NODE_PRIVATE_IPV4_ADDRESS``,
   the address the main node reaches the head node from (which the other nodes reach it at);
3. waits for the main node's part: its exit status is the job's (so the job's state, its
   retries and its ``statusReason`` follow the main node, as in AWS Batch); then stops the other
   parts (SIGTERM, which a container part turns into a stop of its container; SIGKILL
   :data:`STOP_GRACE_S` later) and exits.

Every node sees ``AWS_BATCH_JOB_ID`` = ``<jobId>#<nodeIndex>``, ``AWS_BATCH_JOB_NUM_NODES``,
``AWS_BATCH_JOB_MAIN_NODE_INDEX``, its own environment (its range's and its overrides', never
another range's) and no ``SLURM_*`` variable. Why ``srun`` as a program: a step is started by
the head node's step service and its tasks stream their exit back to whoever asked, which must
listen on the job's node; the cluster's ``srun`` is that listener, and if it dies (the job's
script killed), the nodes' agents kill the step, so no part outlives its job. A part's output
goes to its own log file, ``<jobId>-<nodeIndex>.<attempt>.log`` (the main node's to the job's).

Engines: the job is a job of stratus's engine, started through the Batch door; its steps go
through the cluster's own ``srun`` and head node, whatever ``Stratus.Engine`` says. A node's
part runs where the node's agent runs it; with nodes on other machines, the cluster's ``bin``
directory must be at the same path there (as the Slurm door's jobs need for their commands).

A node job's status (``DescribeJobs`` of ``<jobId>#<i>``): the main node's is the job's; another
node's is the job's until its step starts, ``RUNNING`` while it runs, then ``SUCCEEDED`` (exit 0)
or ``FAILED`` (stopped, or a non-zero exit), ``FAILED`` if the job ended before it started.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from stratus.batch import containers
from stratus.batch import shapes as s
from stratus.batch.shapes import STRATUS_HOST, BatchClientError

#: How long the other nodes' parts have, once the main node's has ended, between SIGTERM and
#: SIGKILL: a container's own stop grace, and a little for the runtime.
STOP_GRACE_S = containers.STOP_GRACE_S + 5
#: The variable that carries the address a node reaches the head node from (set by the node's
#: agent in every job's environment).
NODE_ADDRESS_ENV = "STRATUS_NODE_ADDRESS"
#: What a node job's id adds to its job's: ``<jobId>#<nodeIndex>``.
NODE_SEPARATOR = "#"

_REF = re.compile(r"Ref::([A-Za-z0-9_-]+)")
_SHELL_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_BATCH_VARIABLES = (
    "AWS_BATCH_JOB_ID",
    "AWS_BATCH_JOB_ATTEMPT",
    "AWS_BATCH_JQ_NAME",
    "AWS_BATCH_CE_NAME",
    "AWS_BATCH_JOB_NODE_INDEX",
    "AWS_BATCH_JOB_MAIN_NODE_INDEX",
    "AWS_BATCH_JOB_NUM_NODES",
)


def is_multinode(definition: Mapping[str, Any]) -> bool:
    """Whether a stored job definition is a multi-node parallel one."""
    return definition.get("type") == "multinode" or bool(definition.get("nodeProperties"))


def split_node_id(ref: str) -> tuple[str, int | None] | None:
    """(the job's id or ARN, node index or None) of ``ref``; None when its index is not a number."""
    parent, sep, index = ref.rpartition(NODE_SEPARATOR)
    if not sep:
        return ref, None
    if not index.isdigit() or not parent:
        return None
    return parent, int(index)


def node_id(job_id: str, index: int) -> str:
    return f"{job_id}{NODE_SEPARATOR}{index}"


def log_name(job_id: str, index: int, attempt: int | str) -> str:
    """The log file (and log stream) name of a node that is not the main node, for one attempt."""
    return f"{job_id}-{index}.{attempt}"


@dataclass(frozen=True)
class NodePart:
    """What one node runs: its container (``command`` before ``Ref::`` substitution in
    ``raw_command``), environment and resources, with the job's overrides applied."""

    index: int
    container: dict[str, Any]
    raw_command: list[str]
    command: list[str]
    environment: dict[str, str]
    resources: dict[str, str]


@dataclass(frozen=True)
class Plan:
    """A multi-node job, checked: its nodes and what each runs (see the module docstring)."""

    num_nodes: int
    main_node: int
    on_host: bool
    parts: tuple[NodePart, ...]

    @property
    def main(self) -> NodePart:
        return self.parts[self.main_node]

    def resources(self) -> dict[str, str]:
        """What every node of the allocation holds: the largest request of any node."""
        out: dict[str, str] = {}
        for part in self.parts:
            for key, value in part.resources.items():
                if key not in out or float(value) > float(out[key]):
                    out[key] = value
        return out

    def main_container(self) -> dict[str, Any]:
        """The main node's container as a single-node job's would be, holding the job's resources."""
        container = dict(self.main.container)
        container.pop("vcpus", None)
        container.pop("memory", None)
        container["command"] = list(self.main.raw_command)
        container["environment"] = [{"name": k, "value": v} for k, v in self.main.environment.items()]
        container["resourceRequirements"] = _requirements(self.resources())
        return container

    def groups(self) -> list[dict[str, Any]]:
        """The nodes as ranges of nodes that run the same thing (``nodeRangeProperties`` as the
        job runs them: overrides applied, parameters substituted, every range closed)."""
        out: list[dict[str, Any]] = []
        last: dict[str, Any] | None = None
        start = 0
        for part in self.parts:
            shown = self.shown(part)
            if last is not None and shown != last:
                out.append({"targetNodes": f"{start}:{part.index - 1}", "container": last})
                start = part.index
            last = shown
        assert last is not None
        out.append({"targetNodes": f"{start}:{self.num_nodes - 1}", "container": last})
        return out

    @staticmethod
    def shown(part: NodePart) -> dict[str, Any]:
        container = {k: v for k, v in part.container.items() if k not in ("vcpus", "memory")}
        container["command"] = part.command
        container["environment"] = [{"name": k, "value": v} for k, v in part.environment.items()]
        container["resourceRequirements"] = _requirements(part.resources)
        return container

    def info(self) -> dict[str, Any]:
        """What the job's payload summary keeps of it (for DescribeJobs and the launch)."""
        return {
            "numNodes": self.num_nodes,
            "mainNode": self.main_node,
            "nodeRangeProperties": self.groups(),
        }


def _requirements(resources: Mapping[str, str]) -> list[dict[str, str]]:
    return [{"type": k, "value": v} for k, v in sorted(resources.items())]


def _closed(target: str, num_nodes: int, where: str) -> range:
    nodes = s.target_node_range(target, num_nodes)
    if not nodes or nodes.start >= num_nodes or nodes.stop > num_nodes:
        raise BatchClientError(
            f"{where}: must name node indexes between 0 and {num_nodes - 1} (numNodes - 1), start "
            f"before end, got {target!r}"
        )
    return nodes


def _resources(container: Mapping[str, Any]) -> dict[str, str]:
    out = {x["type"]: str(x["value"]) for x in container.get("resourceRequirements") or []}
    if container.get("vcpus"):
        out.setdefault("VCPU", str(container["vcpus"]))
    if container.get("memory"):
        out.setdefault("MEMORY", str(container["memory"]))
    return out


def plan(definition: Mapping[str, Any], r: s.SubmitJobRequest, parameters: Mapping[str, str]) -> Plan:
    """Check a SubmitJob of a multi-node definition and resolve what each node runs; raises
    :class:`BatchClientError` naming the field (see the module docstring)."""
    if r.array_properties is not None and r.array_properties.size:
        raise BatchClientError(
            "arrayProperties: a multi-node parallel job cannot be an array job "
            f"({definition['jobDefinitionArn']} is a multinode job definition)"
        )
    if r.container_overrides is not None:
        raise BatchClientError(
            "containerOverrides: not valid for a multi-node parallel job; override its nodes "
            "with nodeOverrides.nodePropertyOverrides"
        )
    props = definition.get("nodeProperties") or {}
    ranges = list(props.get("nodeRangeProperties") or [])
    num_nodes = int(props["numNodes"])
    main_node = int(props["mainNode"])
    overrides = r.node_overrides
    if overrides is not None and overrides.num_nodes is not None:
        n = overrides.num_nodes
        open_starts = [
            s.target_node_range(x["targetNodes"], n).start for x in ranges if x["targetNodes"].endswith(":")
        ]
        if not open_starts:
            raise BatchClientError(
                "nodeOverrides.numNodes: needs a node range with an open end ('n:') in the job "
                "definition's nodeRangeProperties"
            )
        if min(open_starts) >= n:
            raise BatchClientError(
                f"nodeOverrides.numNodes: must be more than the start of the definition's open-ended "
                f"node range ({min(open_starts)}), got {n}"
            )
        if main_node >= n:
            raise BatchClientError(
                f"nodeOverrides.numNodes: must be more than the definition's mainNode ({main_node}), got {n}"
            )
        num_nodes = n
    spans = [
        _closed(x["targetNodes"], num_nodes, f"nodeProperties.nodeRangeProperties[{i}].targetNodes")
        for i, x in enumerate(ranges)
    ]
    conflict = s.node_range_conflict(spans)
    if conflict is not None:
        a, b = conflict
        raise BatchClientError(
            f"nodeProperties.nodeRangeProperties[{b}].targetNodes: overlaps nodeRangeProperties[{a}] "
            "without one range holding the other (ranges may nest, not cross)"
        )
    on_host = STRATUS_HOST in (definition.get("platformCapabilities") or [])
    node_overrides = list(overrides.node_property_overrides or []) if overrides is not None else []
    override_spans = [
        _closed(o.target_nodes, num_nodes, f"nodeOverrides.nodePropertyOverrides[{i}].targetNodes")
        for i, o in enumerate(node_overrides)
    ]
    parts = []
    for index in range(num_nodes):
        holding = [k for k, span in enumerate(spans) if index in span]
        if not holding:
            raise BatchClientError(
                f"nodeProperties.nodeRangeProperties: node {index} of {num_nodes} is in no node range"
            )
        k = min(holding, key=lambda k: len(spans[k]))  # the narrowest range wins (AWS's nesting)
        container = dict(ranges[k].get("container") or {})
        command = list(container.get("command") or [])
        env = {e["name"]: e.get("value", "") for e in container.get("environment") or []}
        resources = _resources(container)
        where = f"nodeProperties.nodeRangeProperties[{k}].container"
        for o, span in zip(node_overrides, override_spans, strict=True):
            over = o.container_overrides
            if index not in span or over is None:
                continue
            if over.command:
                command = list(over.command)
            env.update({e.name: e.value or "" for e in over.environment or []})
            if over.vcpus:
                resources["VCPU"] = str(over.vcpus)
            if over.memory:
                resources["MEMORY"] = str(over.memory)
            resources.update({x.type: x.value for x in over.resource_requirements or []})
        odd = next((name for name in env if not _SHELL_NAME.fullmatch(name)), None)
        if odd is not None:
            # The other nodes get their variables through the job's shell script.
            raise BatchClientError(
                f"{where}.environment: {odd!r}: a multi-node job's variable names are letters, digits "
                "and underscores, not starting with a digit"
            )
        if on_host and not command:
            raise BatchClientError(f"{where}.command: node {index} has no command to run")
        if not on_host and not container.get("image"):
            raise BatchClientError(f"{where}.image: node {index} has no image to run")
        subst = [_REF.sub(lambda m: parameters.get(m.group(1), m.group(0)), arg) for arg in command]
        parts.append(NodePart(index, container, command, subst, env, resources))
    return Plan(num_nodes, main_node, on_host, tuple(parts))


# -- the job's script -----------------------------------------------------------------------------

# The container a container part runs is named from these (as the container script names it).
_CONTAINER_NAME = (
    "stratus-batch-$(printf %s \"$AWS_BATCH_JOB_ID\" | tr -c 'a-zA-Z0-9_.-' -)-$AWS_BATCH_JOB_ATTEMPT"
)

# What a node's agent gives a job's script and a step's tasks that a node's part must not see:
# the Slurm variables (SLURM_TASK_PID, a step's SLURM_STEP_ID ...).
_UNSET_SLURM = (
    "for v in $(env | sed -n 's/^\\(SLURMD\\{0,1\\}_[A-Za-z0-9_]*\\)=.*/\\1/p'); do unset \"$v\"; done\n"
)


def _part_script(part: NodePart, plan: Plan, runtime: Sequence[str], *, main: bool) -> str:
    """The shell text one node runs (no variable's value is in it: those come by environment)."""
    head = _UNSET_SLURM  # what the node's agent gives every job and step, Slurm's words
    if plan.on_host:
        return head + "exec " + shlex.join(part.command) + "\n"
    names = [*part.environment, *_BATCH_VARIABLES]
    if not main:
        names.append("AWS_BATCH_JOB_MAIN_NODE_PRIVATE_IPV4_ADDRESS")
    vcpus = part.resources.get("VCPU")
    memory = part.resources.get("MEMORY")
    body = containers.script(
        runtime,
        str(part.container["image"]),
        part.command,
        names,
        vcpus=float(vcpus) if vcpus else None,
        memory_mib=int(memory) if memory else None,
        container=part.container,
    )
    rt = shlex.join(runtime)
    # A part that is killed outright (a terminated job's steps get SIGKILL) cannot stop its
    # container; a watcher in a session of its own does once the part's shell is gone.
    guard = (
        f"name=\"{_CONTAINER_NAME}\"\n"
        "setsid sh -c 'while kill -0 \"$1\" 2>/dev/null; do sleep 1; done\n"
        f"  {rt} stop -t {containers.STOP_GRACE_S} \"$2\"; {rt} rm -f \"$2\"' sh $$ \"$name\" "
        "</dev/null >/dev/null 2>&1 &\n"
    )
    return head + guard + "exec /bin/sh -c " + shlex.quote(body) + " sh\n"


def _exports(env: Mapping[str, str]) -> str:
    return "".join(f"export {name}={shlex.quote(value)}\n" for name, value in env.items())


def job_script(plan: Plan, *, runtime: Sequence[str], srun: str, log_dir: str) -> str:
    """The job's script (see the module docstring). Its arguments, given at launch: the engine's
    job id, then the allocation's nodes after the first, which the other node indexes take in
    order."""
    main = plan.main
    others = [p for p in plan.parts if p.index != plan.main_node]
    pattern_dir = log_dir.replace("%", "%%")  # srun reads -o as a file name pattern
    lines = [
        "#!/bin/sh",
        f"# A multi-node parallel Batch job of {plan.num_nodes} nodes: the main node's part",
        f"# (node {plan.main_node}) here, the others as steps on their own nodes.",
        'job=$1; shift',
        'parent=$AWS_BATCH_JOB_ID',
        f'main_address=${{{NODE_ADDRESS_ENV}:-127.0.0.1}}',
        f"export AWS_BATCH_JOB_NUM_NODES={plan.num_nodes} AWS_BATCH_JOB_MAIN_NODE_INDEX={plan.main_node}",
        "children=",
        "stop_children() {",
        "  for pid in $children; do kill -TERM \"$pid\" 2>/dev/null; done",
        "}",
        "trap 'kill -TERM \"$main\" 2>/dev/null; stop_children' TERM INT HUP",
        f"AWS_BATCH_JOB_ID=\"$parent{NODE_SEPARATOR}{main.index}\" AWS_BATCH_JOB_NODE_INDEX={main.index} \\",
        f"  /bin/sh -c {shlex.quote(_part_script(main, plan, runtime, main=True))} sh &",
        "main=$!",
    ]
    main_names = set(main.environment)
    for part in others:
        gone = sorted(main_names - set(part.environment))
        log = f"{pattern_dir}/{log_name('$parent', part.index, '$AWS_BATCH_JOB_ATTEMPT')}.log"
        lines += [
            f"# node {part.index}: a step on its own node",
            "node=$1; shift",
            "(",
            *([f"  unset {' '.join(gone)}"] if gone else []),
            *("  " + line for line in _exports(part.environment).splitlines()),
            f"  export AWS_BATCH_JOB_ID=\"$parent{NODE_SEPARATOR}{part.index}\"",
            f"  export AWS_BATCH_JOB_NODE_INDEX={part.index}",
            "  export AWS_BATCH_JOB_MAIN_NODE_PRIVATE_IPV4_ADDRESS=\"$main_address\"",
            f"  exec {shlex.quote(srun)} --jobid=\"$job\" -N1 -n1 -w \"$node\" -Q \\",
            f"    -J aws-batch-node-{part.index} \\",
            f"    -o \"{log}\" /bin/sh -c {shlex.quote(_part_script(part, plan, runtime, main=False))} sh",
            ") </dev/null &",
            'children="$children $!"',
        ]
    lines += [
        "# The job is its main node's part: its end ends the job, and stops the others.",
        'wait "$main"',
        "status=$?",
        'while kill -0 "$main" 2>/dev/null; do wait "$main"; status=$?; done',
        "stop_children",
        f"left={STOP_GRACE_S * 2}",
        "while [ \"$left\" -gt 0 ]; do",
        "  alive=",
        "  for pid in $children; do kill -0 \"$pid\" 2>/dev/null && alive=1; done",
        "  [ -n \"$alive\" ] || break",
        "  sleep 0.5; left=$((left - 1))",
        "done",
        "for pid in $children; do kill -KILL \"$pid\" 2>/dev/null; done",
        "wait",
        'exit "$status"',
    ]
    return "\n".join(lines) + "\n"


# -- describing nodes ---------------------------------------------------------------------------


def node_status(job_status: str, job_final: bool, step: Mapping[str, Any] | None) -> str:
    """A node's status when it is not the main node, from its step's record (see the module)."""
    if step is None:
        if job_final:
            return "FAILED"
        return "STARTING" if job_status == "RUNNING" else job_status
    if step.get("end_time") is None:
        return "FAILED" if job_final else "RUNNING"
    return "SUCCEEDED" if not step.get("exit_code") and not step.get("exit_signal") else "FAILED"


def node_steps(records: Iterable[Mapping[str, Any]], run: int) -> dict[int, Mapping[str, Any]]:
    """The steps that ran the job's other nodes in run ``run``, by node index."""
    out: dict[int, Mapping[str, Any]] = {}
    for rec in records:
        name = str(rec.get("name", ""))
        if rec.get("kind") == "step" and rec.get("run") == run and name.startswith("aws-batch-node-"):
            index = name.rsplit("-", 1)[1]
            if index.isdigit():
                out[int(index)] = rec
    return out


def summary(detail: Mapping[str, Any]) -> dict[str, Any]:
    """ListJobs' ``nodeProperties`` of a job (``numNodes``) or of a node (its index, whether main)."""
    if "nodeDetails" in detail:
        nd = detail["nodeDetails"]
        num = detail["nodeProperties"]["numNodes"]
        return {"isMainNode": nd["isMainNode"], "numNodes": num, "nodeIndex": nd["nodeIndex"]}
    return {"numNodes": detail["nodeProperties"]["numNodes"]}

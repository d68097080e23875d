"""``stratus``: ParallelCluster's verbs, flags, JSON output and exit codes, on local infrastructure.

Output is pretty-printed JSON on stdout and exit code 0; errors are a JSON object with a
``message`` (and pcluster's extra keys where it has them) and exit code 1.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from stratus import __version__
from stratus.errors import StratusError


def _print(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, indent=2) + "\n")


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="stratus",
        description="stratus: elastic HPC clusters from ParallelCluster configs, with Slurm's commands.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    def verb(name: str, help_text: str, api: bool = True) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text)
        if api:
            p.add_argument("-r", "--region", help="Accepted for compatibility; clusters are local.")
            p.add_argument("--debug", action="store_true", help="Turn on debug logging.")
            p.add_argument("--query", help="JMESPath query to perform on output.")
        return p

    def name_arg(p: argparse.ArgumentParser) -> None:
        p.add_argument("-n", "--cluster-name", required=True, help="Name of the cluster.")

    p = verb("create-cluster", "Create a cluster from a ParallelCluster v3 configuration.")
    name_arg(p)
    p.add_argument("-c", "--cluster-configuration", required=True, help="Cluster configuration file (YAML).")
    p.add_argument("--dryrun", default="false", nargs="?", const="true", help="Only validate.")
    p.add_argument(
        "--wait",
        action="store_true",
        help="Wait for the creation to finish, then print describe-cluster "
        "(validation messages go to stderr).",
    )
    p.add_argument("--suppress-validators", nargs="+", default=[], metavar="SUPPRESS_VALIDATORS")
    p.add_argument("--validation-failure-level", choices=["INFO", "WARNING", "ERROR"], default="ERROR")
    p.add_argument("--rollback-on-failure", default="true", help="Accepted for compatibility.")

    p = verb("list-clusters", "Retrieve the list of existing clusters.")
    p.add_argument("--cluster-status", nargs="+", default=None, choices=STATUSES)

    p = verb("describe-cluster", "Describe a cluster.")
    name_arg(p)

    p = verb("update-cluster", "Update a running cluster's configuration (jobs keep running).")
    name_arg(p)
    p.add_argument("-c", "--cluster-configuration", required=True, help="The new configuration (YAML).")
    p.add_argument("--dryrun", default="false", nargs="?", const="true", help="Only validate.")
    p.add_argument(
        "--force-update", default="false", nargs="?", const="true", help="Override the update checks."
    )
    p.add_argument("--suppress-validators", nargs="+", default=[], metavar="SUPPRESS_VALIDATORS")
    p.add_argument("--validation-failure-level", choices=["INFO", "WARNING", "ERROR"], default="ERROR")
    p.add_argument("--wait", action="store_true", help="Wait for the update to finish.")

    p = verb("delete-cluster", "Delete a cluster and every node it runs.")
    name_arg(p)
    p.add_argument("--wait", action="store_true", help="Wait until the cluster is gone.")

    p = verb("describe-compute-fleet", "Describe the compute fleet's status.")
    name_arg(p)

    p = verb("update-compute-fleet", "Start or stop the compute fleet.")
    name_arg(p)
    p.add_argument(
        "--status", required=True, choices=["START_REQUESTED", "STOP_REQUESTED", "ENABLED", "DISABLED"]
    )

    p = verb("describe-cluster-instances", "Describe the instances of a cluster.")
    name_arg(p)
    p.add_argument("--node-type", choices=["HeadNode", "ComputeNode"])
    p.add_argument("--queue-name")

    p = verb(
        "ssh", "Open a shell on the head node, where sbatch, squeue, sinfo ... talk to the cluster.", False
    )
    name_arg(p)
    p.add_argument("--dryrun", default="false", nargs="?", const="true")
    p.add_argument("remote_command", nargs=argparse.REMAINDER, help="Command to run instead of a shell.")

    p = verb("start-head-node", "Start a cluster's head node again (after a crash or a reboot).")
    name_arg(p)

    p = verb(
        "batch-credentials",
        "Print your access key for the cluster's AWS Batch endpoint (Stratus.BatchApi), with the "
        "endpoint's URL and region, as JSON (issued on first use; the same key afterwards).",
    )
    name_arg(p)

    p = verb(
        "slurm-burst-lines",
        "Print the slurm.conf lines that let an existing Slurm (Stratus.ExistingSlurm) power up "
        "this cluster's nodes: nodes, partitions and power programs.",
        False,
    )
    name_arg(p)
    p.add_argument(
        "--include",
        action="store_true",
        help="Print only the 'include' line that reads them from the cluster's burst.conf.",
    )

    p = verb(
        "simulate",
        "Replay a workload trace (Standard Workload Format) through the scheduler, on a plain machine "
        "or on the cluster a configuration describes: waits, slowdowns, utilization and cost.",
        False,
    )
    _simulate_args(p)

    p = verb(
        "configure",
        "Write a cluster configuration (ParallelCluster v3 YAML) by answering pcluster configure's "
        "questions.",
        False,
    )
    p.add_argument("-c", "--config", required=True, help="Path to output the generated config file.")
    p.add_argument("-r", "--region", help="The region to write (the wizard then does not ask for it).")
    p.add_argument("--debug", action="store_true", help="Accepted for compatibility.")

    verb("version", "Show the version.", False)
    return parser


def _simulate_args(p: argparse.ArgumentParser) -> None:
    from stratus.cli.simulate import OVERSIZED_ACTIONS, OVERSIZED_HELP, POLICIES, POLICY_HELP

    p.add_argument("--trace", required=True, help="The workload: an SWF file, gzipped or not.")
    where = p.add_mutually_exclusive_group()
    where.add_argument(
        "-c", "--cluster-configuration", help="Replay on this cluster (ParallelCluster v3 YAML)."
    )
    where.add_argument(
        "--procs",
        type=int,
        help="Replay on a plain machine of this many processors (default: the trace header's MaxProcs).",
    )
    p.add_argument(
        "--policy", choices=list(POLICIES), help=POLICY_HELP + " Default: the configuration's, else easy."
    )
    p.add_argument(
        "--priority",
        action="append",
        metavar="SETTINGS",
        help="Slurm scheduling parameters, Key=Value,...: PriorityType=priority/multifactor, "
        "PriorityWeightAge=1000, PriorityWeightFairshare=10000, PriorityMaxAge=7-0 ... (repeatable; "
        "they override the configuration's CustomSlurmSettings).",
    )
    p.add_argument(
        "--boot-time",
        type=float,
        metavar="SECONDS",
        help="How long a powered-down node takes to boot (default: 0, or 120 with a configuration).",
    )
    p.add_argument(
        "--queue-map",
        metavar="N=QUEUE,...",
        help="Send the trace's queue numbers to these queues (default: all to the first queue).",
    )
    p.add_argument(
        "--runtime",
        default="truncate",
        choices=["truncate", "overrun"],
        help="truncate: jobs run at most their requested time (default, as pyss); overrun: as logged.",
    )
    p.add_argument(
        "--processors",
        default="allocated",
        choices=["allocated", "requested"],
        help="Processors of a job: allocated (default, as pyss) or requested.",
    )
    p.add_argument(
        "--unusable",
        default="simulate",
        choices=["simulate", "drop"],
        help="Records with no run time or processors: replayed as 1-second jobs and left out of "
        "the figures (default, as pyss), or dropped.",
    )
    p.add_argument(
        "--skip-bad-lines",
        action="store_true",
        help="Skip malformed records (counted in the report) instead of stopping at the first.",
    )
    p.add_argument(
        "--oversized", default=OVERSIZED_ACTIONS[0], choices=list(OVERSIZED_ACTIONS), help=OVERSIZED_HELP
    )
    p.add_argument("--output", metavar="FILE", help="Write the report as JSON to FILE.")
    p.add_argument("--plot", metavar="FILE", help="Draw waiting jobs and busy CPUs over time (.png or .svg).")
    p.add_argument("--json", action="store_true", help="Print the JSON report instead of the summary.")
    p.add_argument("--no-progress", action="store_true", help="No progress bar.")


STATUSES = [
    "CREATE_IN_PROGRESS",
    "CREATE_FAILED",
    "CREATE_COMPLETE",
    "DELETE_IN_PROGRESS",
    "DELETE_FAILED",
    "UPDATE_IN_PROGRESS",
    "UPDATE_COMPLETE",
    "UPDATE_FAILED",
]


def _bool(text: str, param: str) -> bool:
    """pcluster's boolean parameters take a value: true/True/TRUE or false/False/FALSE."""
    if text in ("true", "True", "TRUE"):
        return True
    if text in ("false", "False", "FALSE"):
        return False
    from stratus.cli.clusters import CliError

    raise CliError(f"Bad Request: Wrong type, expected 'boolean' for parameter '{param}'")


def _emit(obj: Any, query: str | None) -> None:
    if query:
        import jmespath
        from jmespath.exceptions import JMESPathError

        from stratus.cli.clusters import CliError

        try:
            obj = jmespath.search(query, obj)
        except JMESPathError as exc:
            raise CliError("Invalid query string.", {"query": query}) from exc
        if obj is None:
            return
    _print(obj)


def main(argv: list[str] | None = None) -> int:
    args = _build_parser().parse_args(argv)
    if args.command is None:
        _build_parser().print_help()
        return 1
    from stratus.cli import clusters as c

    query = getattr(args, "query", None)
    try:
        if args.command == "version":
            _print({"version": __version__})
            return 0
        if args.command == "simulate":
            from stratus.cli.simulate import SimulateOptions
            from stratus.cli.simulate import main as simulate

            return simulate(
                SimulateOptions(
                    trace=args.trace,
                    cluster_configuration=args.cluster_configuration,
                    procs=args.procs,
                    policy=args.policy,
                    priority=args.priority,
                    boot_time=args.boot_time,
                    output=args.output,
                    plot=args.plot,
                    skip_bad_lines=args.skip_bad_lines,
                    runtime=args.runtime,
                    processors=args.processors,
                    unusable=args.unusable,
                    queue_map=args.queue_map,
                    json=args.json,
                    progress=not args.no_progress,
                    oversized=args.oversized,
                )
            )
        if args.command == "configure":
            from stratus.cli.configure import main as configure

            return configure(args.config, region=args.region)
        if args.command == "create-cluster":
            body, code = c.create_cluster(
                args.cluster_name,
                args.cluster_configuration,
                dryrun=_bool(args.dryrun, "dryrun"),
                wait=args.wait,
                suppress_validators=args.suppress_validators,
                failure_level=args.validation_failure_level,
            )
            _bool(args.rollback_on_failure, "rollbackOnFailure")
            _emit(body, query)
            return code
        if args.command == "list-clusters":
            _emit(c.list_clusters(args.cluster_status), query)
        elif args.command == "describe-cluster":
            _emit(c.describe_cluster(args.cluster_name), query)
        elif args.command == "update-cluster":
            _emit(
                c.update_cluster(
                    args.cluster_name,
                    args.cluster_configuration,
                    dryrun=_bool(args.dryrun, "dryrun"),
                    force=_bool(args.force_update, "forceUpdate"),
                    suppress_validators=args.suppress_validators,
                    failure_level=args.validation_failure_level,
                    wait=args.wait,
                ),
                query,
            )
        elif args.command == "delete-cluster":
            _emit(c.delete_cluster(args.cluster_name, wait=args.wait), query)
        elif args.command == "describe-compute-fleet":
            _emit(c.describe_compute_fleet(args.cluster_name), query)
        elif args.command == "update-compute-fleet":
            if args.status in ("ENABLED", "DISABLED"):
                raise c.CliError(
                    "Bad Request: the update compute fleet status can only be set to `START_REQUESTED` or "
                    "`STOP_REQUESTED` for Slurm scheduler clusters."
                )
            _emit(c.update_compute_fleet(args.cluster_name, args.status), query)
        elif args.command == "describe-cluster-instances":
            _emit(c.describe_cluster_instances(args.cluster_name, args.node_type, args.queue_name), query)
        elif args.command == "start-head-node":
            _emit(c.start_head_node(args.cluster_name), query)
        elif args.command == "batch-credentials":
            _emit(c.batch_credentials(args.cluster_name), query)
        elif args.command == "slurm-burst-lines":
            sys.stdout.write(c.slurm_burst_lines(args.cluster_name, include=args.include))
        elif args.command == "ssh":
            cmd = list(args.remote_command)
            if cmd and cmd[0] == "--":
                cmd = cmd[1:]
            return c.ssh(args.cluster_name, cmd, dryrun=_bool(args.dryrun, "dryrun"))
        return 0
    except c.CliError as exc:
        _print(exc.body)
        return exc.exit_code
    except StratusError as exc:
        _print({"message": str(exc)})
        return 1
    except PermissionError as exc:
        # A shared install's user asking for what only its administrators may do.
        _print({"message": f"Forbidden: {exc.strerror}: {exc.filename}"})
        return 1


if __name__ == "__main__":
    sys.exit(main())

"""``stratus``: ParallelCluster's verbs, flags, JSON output and exit codes, on local infrastructure.

pcluster's verbs print pretty-printed JSON on stdout and exit with 0; their errors are a JSON
object with a ``message`` (and pcluster's extra keys where it has them) and exit code 1. The
awsbatch CLI's verbs (``awsbsub`` ...) and ``stratus logs`` print as pcluster's awsbatch CLI
does (tables, plain errors on stderr, exit code 1); ``simulate``, ``configure`` and ``serve``
say what they print in their own modules.
"""

from __future__ import annotations

import argparse
import json
import os
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

    _log_verbs(verb, name_arg)

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
        "Replay a workload trace (Standard Workload Format) or a cluster's own history through the "
        "scheduler, on a plain machine or on the cluster a configuration describes: waits, slowdowns, "
        "utilization and cost (--compare: the history on two configurations side by side).",
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

    from stratus.cli.awsb import VERBS as AWSB_VERBS
    from stratus.cli.awsb import add_arguments as awsb_arguments

    for name, help_text in AWSB_VERBS.items():
        awsb_arguments(verb(name, help_text, False), name)

    p = verb(
        "serve",
        "Serve ParallelCluster's REST API (/v3/clusters) and the web console for every cluster of "
        "this STRATUS_HOME, behind the home's serve token ($STRATUS_HOME/serve/token).",
        False,
    )
    p.add_argument("--host", default="127.0.0.1", help="Address to listen on (default: 127.0.0.1).")
    p.add_argument("--port", type=int, default=8080, help="Port to listen on (default: 8080; 0: a free one).")

    verb("version", "Show the version.", False)
    return parser


def _log_verbs(verb: Any, name_arg: Any) -> None:
    """list-cluster-log-streams, get-cluster-log-events and export-cluster-logs (pcluster's)."""
    from stratus.cli.cluster_logs import FILTERS_PATTERN, parse_time

    filters_help = (
        "Filter the log streams. Format: 'Name=a,Values=1 Name=b,Values=2,3'. Accepted filters are: "
        "private-dns-name - the start of the host name (ip-127-0-0-1 for the head node, the node name "
        "for a compute node); node-type - HeadNode or ComputeNode."
    )
    p = verb("list-cluster-log-streams", "Retrieve the list of log streams associated with a cluster.")
    name_arg(p)
    p.add_argument("--filters", nargs="+", help=filters_help)
    p.add_argument("--next-token", help="Token to use for paginated requests.")

    p = verb("get-cluster-log-events", "Retrieve the events associated with a log stream.")
    name_arg(p)
    p.add_argument("--log-stream-name", required=True, help="Name of the log stream.")
    p.add_argument("--next-token", help="Token to use for paginated requests.")
    p.add_argument(
        "--start-from-head",
        help="If the value is true, the earliest log events are returned first. If the value is false, "
        "the latest log events are returned first. (Defaults to 'false'.)",
    )
    p.add_argument(
        "--limit",
        help="The maximum number of log events returned (at most 10000, and at most 1 MB of them).",
    )
    p.add_argument(
        "--start-time",
        help="The start of the time range, in ISO 8601 format (e.g. '2021-01-01T20:00:00.000Z'). Events "
        "with a timestamp equal to this time or later are included.",
    )
    p.add_argument(
        "--end-time",
        help="The end of the time range, in ISO 8601 format (e.g. '2021-01-01T20:00:00.000Z'). Events "
        "with a timestamp equal to or later than this time are not included.",
    )

    def iso8601(text: str) -> Any:
        try:
            return parse_time(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(
                "Start time and end time filters must be in the ISO 8601 UTC format: YYYY-MM-DDThh:mm:ssZ "
                f"(e.g. 1984-09-15T19:20:30Z or 1984-09-15). {exc}"
            ) from None

    def log_filter(text: str) -> str:
        import re

        if not re.match(FILTERS_PATTERN, text):
            raise argparse.ArgumentTypeError(f"filters parameter must be in the form {FILTERS_PATTERN} ")
        return text

    p = verb(
        "export-cluster-logs",
        "Export the logs of the cluster to a tar.gz archive: a local file, or an object of the "
        "cluster's object store (Stratus.S3).",
    )
    p.add_argument(
        "-n", "--cluster-name", required=True, help="Export the logs of the cluster name provided here."
    )
    p.add_argument(
        "--bucket", help="Bucket of the cluster's object store (Stratus.S3) to upload the archive to."
    )
    p.add_argument("--bucket-prefix", help="Key path under which the archive is stored in the bucket.")
    p.add_argument(
        "--output-file",
        type=os.path.realpath,
        help="File path to save the archive to. If given, the logs are saved locally; otherwise they are "
        "uploaded to --bucket and a presigned URL is printed.",
    )
    p.add_argument(
        "--keep-s3-objects",
        default="false",
        nargs="?",
        const="true",
        help="Accepted for compatibility: no intermediate objects are made. (Defaults to 'false'.)",
    )
    p.add_argument(
        "--start-time",
        type=iso8601,
        help="Start time of interval of interest for log events. ISO 8601 format: YYYY-MM-DDThh:mm:ssZ "
        "(e.g. 1984-09-15T19:20:30Z), time elements might be omitted. Defaults to creation time",
    )
    p.add_argument(
        "--end-time",
        type=iso8601,
        help="End time of interval of interest for log events. ISO 8601 format: YYYY-MM-DDThh:mm:ssZ "
        "(e.g. 1984-09-15T19:20:30Z), time elements might be omitted. Defaults to current time",
    )
    p.add_argument("--filters", nargs="+", type=log_filter, help=filters_help)


def _simulate_args(p: argparse.ArgumentParser) -> None:
    from stratus.cli.simulate import OVERSIZED_ACTIONS, OVERSIZED_HELP, POLICIES, POLICY_HELP

    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--trace", help="The workload: an SWF file, gzipped or not.")
    source.add_argument(
        "--history",
        metavar="CLUSTER",
        help="The workload: this cluster's own finished jobs (its accounting), replayed on its own "
        "configuration unless -c names another.",
    )
    p.add_argument(
        "--since",
        metavar="ISO8601",
        help="With --history: only jobs submitted from this time on (e.g. 2024-05-01T08:00:00Z; UTC "
        "without a zone).",
    )
    p.add_argument(
        "--until", metavar="ISO8601", help="With --history: only jobs submitted before this time."
    )
    p.add_argument(
        "--compare",
        action="store_true",
        help="With --history and -c NEW.yaml: replay on the cluster's own configuration and on NEW.yaml, "
        "and report both side by side with their differences.",
    )
    p.add_argument(
        "--export-swf",
        metavar="FILE",
        help="With --history: write the history as a Standard Workload Format trace to FILE (no replay).",
    )
    where = p.add_mutually_exclusive_group()
    where.add_argument(
        "-c",
        "--cluster-configuration",
        help="Replay on this cluster (ParallelCluster v3 YAML); with --history, the what-if configuration.",
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
        help="How long a powered-down node takes to boot (default: 0, or 120 with a configuration; with "
        "--history, the median boot its cluster recorded).",
    )
    p.add_argument(
        "--queue-map",
        metavar="N=QUEUE,...",
        help="Send the trace's queue numbers to these queues (default: all to the first queue); with "
        "--history, OLD=NEW sends a queue's jobs to another queue (default: the queue of the same name).",
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


def _int(text: str, param: str) -> int:
    """pcluster's integer parameters: what Python's ``int`` reads, else its message."""
    try:
        return int(text)
    except ValueError:
        from stratus.cli.clusters import CliError

        raise CliError(f"Bad Request: Wrong type, expected 'number' for parameter '{param}'") from None


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
    from stratus.cli.awsb import VERBS as AWSB_VERBS

    if args.command in AWSB_VERBS:
        # pcluster's awsbatch-cli commands and `logs`: tables and plain-text errors, not JSON.
        from stratus.cli.awsb import main as awsb

        return awsb(args)
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
                    trace=args.trace or "",
                    history=args.history,
                    since=args.since,
                    until=args.until,
                    compare=args.compare,
                    export_swf=args.export_swf,
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
        if args.command == "serve":
            from stratus.cli.serve import serve

            return serve(args.host, args.port)
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
        elif args.command == "list-cluster-log-streams":
            from stratus.cli import cluster_logs

            _emit(
                cluster_logs.list_cluster_log_streams(args.cluster_name, args.filters, args.next_token), query
            )
        elif args.command == "get-cluster-log-events":
            from stratus.cli import cluster_logs

            _emit(
                cluster_logs.get_cluster_log_events(
                    args.cluster_name,
                    args.log_stream_name,
                    start_time=args.start_time,
                    end_time=args.end_time,
                    start_from_head=(
                        None
                        if args.start_from_head is None
                        else _bool(args.start_from_head, "start-from-head")
                    ),
                    limit=None if args.limit is None else _int(args.limit, "limit"),
                    next_token=args.next_token,
                ),
                query,
            )
        elif args.command == "export-cluster-logs":
            from stratus.cli import cluster_logs

            _bool(args.keep_s3_objects, "keep-s3-objects")
            _emit(
                cluster_logs.export_cluster_logs(
                    args.cluster_name,
                    output_file=args.output_file,
                    bucket=args.bucket,
                    bucket_prefix=args.bucket_prefix,
                    start_time=args.start_time,
                    end_time=args.end_time,
                    filters=args.filters,
                ),
                query,
            )
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

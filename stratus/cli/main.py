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

    def verb(name: str, help_text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.add_argument("--debug", action="store_true", help="Turn on debug logging.")
        return p

    def name_arg(p: argparse.ArgumentParser) -> None:
        p.add_argument("-n", "--cluster-name", required=True, help="Name of the cluster.")

    p = verb("create-cluster", "Create a cluster from a ParallelCluster v3 configuration.")
    name_arg(p)
    p.add_argument("-c", "--cluster-configuration", required=True, help="Cluster configuration file (YAML).")
    p.add_argument("--dryrun", type=_bool, default=False, nargs="?", const=True, help="Only validate.")
    p.add_argument("--wait", action="store_true", help="Wait for the creation to finish.")
    p.add_argument("--suppress-validators", nargs="+", default=[], metavar="VALIDATOR")
    p.add_argument("--validation-failure-level", choices=["INFO", "WARNING", "ERROR"], default="ERROR")
    p.add_argument("--rollback-on-failure", type=_bool, default=True, help="Accepted for compatibility.")

    p = verb("list-clusters", "List clusters.")
    p.add_argument("--cluster-status", nargs="+", default=None, metavar="STATUS")

    p = verb("describe-cluster", "Describe a cluster.")
    name_arg(p)

    p = verb("delete-cluster", "Delete a cluster and every node it runs.")
    name_arg(p)
    p.add_argument("--wait", action="store_true", help="Wait until the cluster is gone.")

    p = verb("describe-compute-fleet", "Describe the compute fleet's status.")
    name_arg(p)

    p = verb("update-compute-fleet", "Start or stop the compute fleet.")
    name_arg(p)
    p.add_argument("--status", required=True, choices=["START_REQUESTED", "STOP_REQUESTED"])

    p = verb("describe-cluster-instances", "Describe the instances of a cluster.")
    name_arg(p)
    p.add_argument("--node-type", choices=["HeadNode", "ComputeNode"])
    p.add_argument("--queue-name")

    p = verb("ssh", "Open a shell on the head node, where sbatch, squeue, sinfo ... talk to the cluster.")
    name_arg(p)
    p.add_argument("--dryrun", type=_bool, default=False, nargs="?", const=True)
    p.add_argument("remote_command", nargs=argparse.REMAINDER, help="Command to run instead of a shell.")

    p = verb("start-head-node", "Start a cluster's head node again (after a crash or a reboot).")
    name_arg(p)

    verb("version", "Show the version.")
    return parser


def _bool(text: str) -> bool:
    if text.lower() in ("true", "1", "yes"):
        return True
    if text.lower() in ("false", "0", "no"):
        return False
    raise argparse.ArgumentTypeError(f"invalid boolean value: '{text}'")


def main(argv: list[str] | None = None) -> int:
    args = _build_parser().parse_args(argv)
    if args.command is None:
        _build_parser().print_help()
        return 1
    from stratus.cli import clusters as c

    try:
        if args.command == "version":
            _print({"version": __version__})
            return 0
        if args.command == "create-cluster":
            body, code = c.create_cluster(
                args.cluster_name,
                args.cluster_configuration,
                dryrun=bool(args.dryrun),
                wait=args.wait,
                suppress_validators=args.suppress_validators,
                failure_level=args.validation_failure_level,
            )
            _print(body)
            return code
        if args.command == "list-clusters":
            _print(c.list_clusters(args.cluster_status))
        elif args.command == "describe-cluster":
            _print(c.describe_cluster(args.cluster_name))
        elif args.command == "delete-cluster":
            _print(c.delete_cluster(args.cluster_name, wait=args.wait))
        elif args.command == "describe-compute-fleet":
            _print(c.describe_compute_fleet(args.cluster_name))
        elif args.command == "update-compute-fleet":
            _print(c.update_compute_fleet(args.cluster_name, args.status))
        elif args.command == "describe-cluster-instances":
            _print(c.describe_cluster_instances(args.cluster_name, args.node_type, args.queue_name))
        elif args.command == "start-head-node":
            _print(c.start_head_node(args.cluster_name))
        elif args.command == "ssh":
            cmd = list(args.remote_command)
            if cmd and cmd[0] == "--":
                cmd = cmd[1:]
            return c.ssh(args.cluster_name, cmd, dryrun=bool(args.dryrun))
        return 0
    except c.CliError as exc:
        _print(exc.body)
        return exc.exit_code
    except StratusError as exc:
        _print({"message": str(exc)})
        return 1


if __name__ == "__main__":
    sys.exit(main())

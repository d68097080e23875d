"""``stratus configure``: ``pcluster configure``'s interactive wizard, writing a cluster config.

The ParallelCluster tutorial starts with ``pcluster configure --config config-file.yaml``; this is
the same conversation, asked in the same order with the same prompts (``Message [default]: ``,
numbered choices, ``ERROR: X is not an acceptable value for Message`` and the question again),
less the questions that need an AWS account:

1. AWS Region ID (skipped with ``-r``), EC2 Key Pair Name (free text here: there are no EC2 key
   pairs to list; empty leaves ``Ssh`` out), Scheduler (``slurm``), Operating System.
2. Head node instance type, Number of queues, and for each queue its name, its number of compute
   resources and, for each of those, the instance type, EFA (asked only where the type supports
   it), and the minimum and maximum instance count (ParallelCluster asks only the maximum and
   writes ``MinCount: 0``; stratus asks for static nodes too).
3. The head node and compute subnet IDs, instead of ParallelCluster's VPC and subnet discovery
   and creation: they have no effect on the local provider, so they may be left empty (then no
   ``Networking`` is written, not even the placement group pcluster adds to a queue with EFA),
   and the compute subnet defaults to the head node's.

Answers are checked as pcluster checks them (queue names by ``NameValidator``, instance types
against the catalog, counts within ParallelCluster's limits), and the file is written only at the
end, only if the config it holds loads with stratus's loader, with mode 0600, and never over an
existing file. Interrupting the wizard (Ctrl-C, or the end of its input) writes nothing.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

#: Regions ParallelCluster 3.12 supports (its ``supported-regions`` list), in the order its wizard
#: lists them.
REGIONS: tuple[str, ...] = tuple(
    sorted(
        (
            "af-south-1",
            "ap-east-1",
            "ap-northeast-1",
            "ap-northeast-2",
            "ap-south-1",
            "ap-southeast-1",
            "ap-southeast-2",
            "ap-southeast-3",
            "ca-central-1",
            "cn-north-1",
            "cn-northwest-1",
            "eu-central-1",
            "eu-north-1",
            "eu-south-1",
            "eu-west-1",
            "eu-west-2",
            "eu-west-3",
            "il-central-1",
            "me-south-1",
            "sa-east-1",
            "us-east-1",
            "us-east-2",
            "us-gov-east-1",
            "us-gov-west-1",
            "us-iso-east-1",
            "us-isob-east-1",
            "us-west-1",
            "us-west-2",
        )
    )
)
#: The instance type ParallelCluster proposes when a region has no free-tier type; stratus cannot
#: ask EC2 which type is free-tier eligible in a region.
DEFAULT_INSTANCE_TYPE = "t3.micro"
DEFAULT_REGION = "us-east-1"
#: ParallelCluster's ``DEFAULT_MIN_COUNT`` and ``DEFAULT_MAX_COUNT``.
DEFAULT_MIN_COUNT = 0
DEFAULT_MAX_COUNT = 10
_KEY_NAME = re.compile(r"^[\x20-\x7e]{1,255}$")  # EC2 key pair names: up to 255 ASCII characters
_SUBNET_ID = re.compile(r"^subnet-[0-9a-z]{8}$|^subnet-[0-9a-z]{17}$")
_EFA_TEXT = (
    "The EC2 instance selected supports enhanced networking capabilities using Elastic Fabric Adapter "
    "(EFA). EFA enables you to run applications requiring high levels of inter-node communications at "
    "scale on AWS at no additional charge (https://docs.aws.amazon.com/parallelcluster/latest/ug/efa-v3.html)."
)

#: A check of one answer: ``None`` when acceptable, else why not (shown under pcluster's ERROR line).
Check = Callable[[str], str | None]


class ConfigureError(Exception):
    """The wizard stops without writing anything; the message says why and what to do."""


class Prompter:
    """Asks one question at a time, as pcluster's ``prompt`` does, until the answer is acceptable.

    ``read`` gets a line for a prompt (``input`` by default: with a terminal, line editing works);
    ``write`` prints a line. An empty answer takes the default; for a question with choices, a
    number picks the choice of that rank (``1`` is the first).
    """

    def __init__(self, read: Callable[[str], str] = input, write: Callable[[str], None] = print) -> None:
        self.read = read
        self.write = write

    def ask(self, message: str, check: Check, default: str = "") -> str:
        """The first acceptable answer to ``message`` (stripped; empty means ``default``)."""
        while True:
            try:
                answer = self.read(f"{message} [{default}]: ").strip() or default
            except EOFError:
                raise ConfigureError(
                    f"no answer for {message} (end of input); nothing was written."
                ) from None
            problem = check(answer)
            if problem is None:
                return answer
            self.write(f"ERROR: {answer} is not an acceptable value for {message}")
            self.write(f"  {problem}")

    def choose(self, message: str, options: Sequence[str], default: str) -> str:
        """One of ``options``, listed and numbered first; ``default`` must be one of them."""
        self.write(f"Allowed values for {message}:")
        for rank, option in enumerate(options, start=1):
            self.write(f"{rank}. {option}")

        def pick(answer: str) -> str:
            if answer.isascii() and answer.isdigit() and 1 <= int(answer) <= len(options):
                return options[int(answer) - 1]
            return answer

        choice = self.ask(
            message,
            lambda answer: (
                None
                if pick(answer) in options
                else f"Answer one of the values listed, or its number (1 to {len(options)})."
            ),
            default,
        )
        return pick(choice)

    def count(self, message: str, low: int, high: int, default: int) -> int:
        """A whole number from ``low`` to ``high``."""

        def check(answer: str) -> str | None:
            if answer.isascii() and answer.isdigit() and low <= int(answer) <= high:
                return None
            return f"Answer a whole number from {low} to {high}."

        return int(self.ask(message, check, str(default)))

    def yes(self, message: str, default: bool) -> bool:
        """``y`` or ``n``."""
        answer = self.ask(
            f"{message} (y/n)",
            lambda a: None if a in ("y", "n") else "Answer y or n.",
            "y" if default else "n",
        )
        return answer == "y"


def instance_type_check(name: str) -> str | None:
    """An instance type must be in the catalog (ParallelCluster checks it against EC2's list)."""
    from stratus.config import get_instance_type
    from stratus.config.validators import unknown_instance_type_text

    if get_instance_type(name) is not None:
        return None
    text = unknown_instance_type_text(name)
    return text[0].upper() + text[1:]


def run_wizard(prompter: Prompter, *, region: str | None = None) -> dict[str, Any]:
    """Ask every question and return the config as a mapping, keys in pcluster's order.

    With ``region``, the region question is skipped (``pcluster configure -r``).
    """
    from stratus.config.catalog import get_instance_type
    from stratus.config.schema import MAX_NODES_PER_COMPUTE_RESOURCE, SUPPORTED_OSES
    from stratus.config.validators import (
        MAX_COMPUTE_RESOURCES_PER_CLUSTER,
        MAX_NUMBER_OF_QUEUES,
        name_problems,
    )

    ask = prompter
    if region is None:
        wanted = os.environ.get("AWS_DEFAULT_REGION") or os.environ.get("AWS_REGION") or DEFAULT_REGION
        region = ask.choose("AWS Region ID", REGIONS, wanted if wanted in REGIONS else DEFAULT_REGION)
    ask.write("The key pair has no effect on the local provider; leave it empty for none.")
    key_name = ask.ask(
        "EC2 Key Pair Name",
        lambda a: None if a == "" or _KEY_NAME.match(a) else "A key pair name is 1 to 255 ASCII characters.",
    )
    scheduler = ask.choose("Scheduler", ("slurm",), "slurm")
    base_os = ask.choose("Operating System", SUPPORTED_OSES, "alinux2")
    head_type = ask.ask("Head node instance type", instance_type_check, DEFAULT_INSTANCE_TYPE)
    queue_count = ask.count("Number of queues", 1, MAX_NUMBER_OF_QUEUES, 1)
    cr_limit = MAX_COMPUTE_RESOURCES_PER_CLUSTER // queue_count

    queues: list[dict[str, Any]] = []
    efa_queues: list[bool] = []
    names: list[str] = []
    for q in range(1, queue_count + 1):

        def queue_name_check(answer: str) -> str | None:
            problems = name_problems(answer)
            if problems:
                return " ".join(problems)
            if answer in names:
                # pcluster's wording for a repeated queue name.
                return (
                    f"Error: The name {answer} cannot be used for multiple queues. Please insert a "
                    "different queue name."
                )
            return None

        name = ask.ask(f"Name of queue {q}", queue_name_check, f"queue{q}")
        names.append(name)
        cr_count = ask.count(f"Number of compute resources for {name}", 1, cr_limit, 1)
        resources: list[dict[str, Any]] = []
        efa_in_queue = False
        for c in range(1, cr_count + 1):
            used = [r["Instances"][0]["InstanceType"] for r in resources]

            def compute_type_check(answer: str, used: list[str] = used) -> str | None:
                if answer in used:
                    return (
                        f"Error: Instance type {answer} cannot be specified for multiple compute resources "
                        "in the same queue. Please insert a different instance type."
                    )
                return instance_type_check(answer)

            itype = ask.ask(
                f"Compute instance type for compute resource {c} in {name}",
                compute_type_check,
                DEFAULT_INSTANCE_TYPE,
            )
            found = get_instance_type(itype)
            efa: bool | None = None
            if found is not None and found.efa:
                ask.write(_EFA_TEXT)
                efa = ask.yes(f"Enable EFA on {itype}", True)
                efa_in_queue = efa_in_queue or efa
            low = ask.count("Minimum instance count", 0, MAX_NODES_PER_COMPUTE_RESOURCE, DEFAULT_MIN_COUNT)
            high = ask.count(
                "Maximum instance count",
                max(low, 1),
                MAX_NODES_PER_COMPUTE_RESOURCE,
                max(DEFAULT_MAX_COUNT, low),
            )
            resource: dict[str, Any] = {
                # pcluster names a compute resource after its instance type, less what a name
                # may not hold (t2.micro -> t2micro).
                "Name": re.sub(r"[^A-Za-z0-9]", "", itype),
                "Instances": [{"InstanceType": itype}],
                "MinCount": low,
                "MaxCount": high,
            }
            if efa is not None:
                resource["Efa"] = {"Enabled": efa}
            resources.append(resource)
        queues.append({"Name": name, "ComputeResources": resources})
        efa_queues.append(efa_in_queue)

    ask.write("Subnets have no effect on the local provider; leave them empty to write none.")

    def subnet_check(answer: str) -> str | None:
        if answer == "" or _SUBNET_ID.match(answer):
            return None
        return "A subnet ID is subnet- followed by 8 or 17 lowercase letters and digits."

    head_subnet = ask.ask("head node subnet ID", subnet_check)
    compute_subnet = ask.ask("compute subnet ID", subnet_check, head_subnet)
    # A queue's Networking needs SubnetIds; without a subnet it is left out, placement group
    # and all (neither has an effect on the local provider).
    if compute_subnet:
        for queue, efa_in_queue in zip(queues, efa_queues, strict=True):
            networking: dict[str, Any] = {}
            if efa_in_queue:
                # pcluster asks for an existing placement group here; there are none on the
                # local provider, so the answer is what leaving it empty gives: one made for it.
                networking["PlacementGroup"] = {"Enabled": True}
            networking["SubnetIds"] = [compute_subnet]
            queue["Networking"] = networking

    head: dict[str, Any] = {"InstanceType": head_type}
    if head_subnet:
        head["Networking"] = {"SubnetId": head_subnet}
    if key_name:
        head["Ssh"] = {"KeyName": key_name}
    return {
        "Region": region,
        "Image": {"Os": base_os},
        "HeadNode": head,
        "Scheduling": {"Scheduler": scheduler, "SlurmQueues": queues},
    }


def render(config: dict[str, Any]) -> str:
    """The config as YAML, keys in the wizard's order, checked by stratus's loader.

    Raises ``ConfigureError`` if the loader refuses it (the answers are checked one by one, so
    this would be a fault of the wizard, not of the answers).
    """
    import yaml

    from stratus.config import BadYamlError, ConfigValidationError, load_cluster_config

    text = yaml.safe_dump(config, sort_keys=False, default_flow_style=False)
    try:
        load_cluster_config(text)
    except (BadYamlError, ConfigValidationError) as exc:
        raise ConfigureError(f"the configuration does not load; nothing was written:\n{exc}") from None
    return text


def write_config(path: Path, text: str) -> None:
    """Write ``text`` to a new file at ``path`` (parents made as needed), readable by its owner only.

    Raises ``ConfigureError`` if something exists there already or the file cannot be made.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise _exists(path) from None
    except OSError as exc:
        raise ConfigureError(
            f"cannot write {path}: {exc.strerror or exc}; choose another path with -c."
        ) from None
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)


def _exists(path: Path) -> ConfigureError:
    # pcluster's wording.
    return ConfigureError(f"A file/folder exists at {path}. Please specify a different file path")


def main(config_path: str, *, region: str | None = None, prompter: Prompter | None = None) -> int:
    """Run ``stratus configure -c FILE``: 0 when the file is written; 1 (and nothing written) when
    the path is taken, the region is unknown, or the wizard is interrupted."""
    path = Path(config_path)
    ask = prompter or Prompter()
    try:
        if os.path.lexists(path):
            raise _exists(path)
        if region is not None and region not in REGIONS:
            raise ConfigureError(
                f"unknown region '{region}' for -r/--region; ParallelCluster supports: {', '.join(REGIONS)}."
            )
        ask.write(f"INFO: Configuration file {path} will be written.")
        ask.write("Press CTRL-C to interrupt the procedure.\n\n")
        config = run_wizard(ask, region=region)
        write_config(path, render(config))
    except ConfigureError as exc:
        sys.stderr.write(f"ERROR: {exc}\n")
        return 1
    except KeyboardInterrupt:
        sys.stderr.write("\nInterrupted; nothing was written.\n")
        return 1
    ask.write(f"Configuration file written to {path}")
    ask.write(
        "You can edit your configuration file or simply run 'stratus create-cluster --cluster-configuration "
        f"{path} --cluster-name cluster-name --region {config['Region']}' to create your cluster."
    )
    return 0

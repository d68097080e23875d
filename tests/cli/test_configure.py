"""``stratus configure``: pcluster's wizard, driven through a real pseudo-terminal.

Each test runs ``python -m stratus.cli.main configure`` as a child of ``pty.fork``, so the
wizard sees a terminal as a user's shell gives it one (echo, line editing, Ctrl-C as SIGINT),
answers each prompt when it appears, and checks the file it writes with stratus's loader. The
child is the only process a test starts; it is waited for, and killed by its pid if it hangs.
"""

from __future__ import annotations

import errno
import os
import pty
import select
import signal
import stat
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml

from stratus.cli.configure import REGIONS, ConfigureError, Prompter, run_wizard
from stratus.config import load_cluster_config

REPO = Path(__file__).resolve().parents[2]

#: The tutorial's cluster-config.yaml (README "The walkthrough"), as ParallelCluster 3.12's
#: wizard writes it from the answers in ``TUTORIAL_ANSWERS``.
TUTORIAL_CONFIG = """\
Region: eu-west-1
Image:
  Os: alinux2
HeadNode:
  InstanceType: t2.micro
  Networking:
    SubnetId: subnet-08c245b78a82c3924
  Ssh:
    KeyName: steyn-mbp
Scheduling:
  Scheduler: slurm
  SlurmQueues:
  - Name: queue1
    ComputeResources:
    - Name: t2micro
      Instances:
      - InstanceType: t2.micro
      MinCount: 0
      MaxCount: 10
    Networking:
      SubnetIds:
      - subnet-0b864625631add41e
"""


class Terminal:
    """A child process on a pseudo-terminal: wait for text, type lines, collect the exit code."""

    def __init__(self, *args: str, env: dict[str, str] | None = None) -> None:
        pid, fd = pty.fork()
        if pid == 0:  # the child: becomes the wizard
            try:
                # As a shell starts a command: Ctrl-C interrupts it, whatever this test process
                # (or a test before it) did with SIGINT; an ignored signal would be inherited.
                signal.signal(signal.SIGINT, signal.SIG_DFL)
                os.chdir(REPO)
                os.execve(
                    sys.executable,
                    [sys.executable, "-m", "stratus.cli.main", *args],
                    env if env is not None else dict(os.environ),
                )
            finally:
                os._exit(127)
        self.pid = pid
        self.fd = fd
        self.output = ""
        self._seen = 0  # how much of ``output`` earlier expectations consumed
        self.code: int | None = None

    def _read(self, timeout: float) -> bool:
        ready, _, _ = select.select([self.fd], [], [], timeout)
        if not ready:
            return True
        try:
            data = os.read(self.fd, 4096)
        except OSError as exc:  # EIO: the child closed the terminal (it exited)
            if exc.errno != errno.EIO:
                raise
            return False
        if not data:
            return False
        self.output += data.decode(errors="replace").replace("\r\n", "\n")
        return True

    def expect(self, text: str, timeout: float = 30.0) -> str:
        """Wait for ``text`` after what earlier calls consumed; return everything up to its end."""
        deadline = time.monotonic() + timeout
        while text not in self.output[self._seen :]:
            left = deadline - time.monotonic()
            if left <= 0 or not self._read(min(left, 0.5)):
                raise AssertionError(f"never saw {text!r}; the terminal showed:\n{self.output[self._seen :]}")
        end = self.output.index(text, self._seen) + len(text)
        chunk = self.output[self._seen : end]
        self._seen = end
        return chunk

    def answer(self, prompt: str, line: str) -> str:
        """Wait for ``prompt``, then type ``line`` and Enter; return what was shown until the prompt."""
        shown = self.expect(prompt)
        os.write(self.fd, line.encode() + b"\r")
        return shown

    def keys(self, data: bytes) -> None:
        os.write(self.fd, data)

    def closes_within(self, seconds: float) -> bool:
        """Whether the terminal closes (the child exits) within ``seconds``."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if not self._read(0.1):
                return True
        return False

    def wait(self, timeout: float = 30.0) -> int:
        """Read until the terminal closes (the child exited); the child's exit code."""
        deadline = time.monotonic() + timeout
        while self._read(0.2):
            if time.monotonic() > deadline:
                raise AssertionError(f"the wizard did not exit; the terminal showed:\n{self.output}")
        _, status = os.waitpid(self.pid, 0)
        self.code = os.waitstatus_to_exitcode(status)
        return self.code

    def close(self) -> None:
        if self.code is None:
            try:
                os.kill(self.pid, signal.SIGKILL)
                os.waitpid(self.pid, 0)
            except ChildProcessError:
                pass
        os.close(self.fd)


Start = Callable[..., Terminal]


@pytest.fixture
def terminals() -> Iterator[Start]:
    """Starts wizards on terminals; each is waited for (or killed by its pid) afterwards."""
    started: list[Terminal] = []

    def start(*args: str, env: dict[str, str] | None = None) -> Terminal:
        term = Terminal(*args, env=env)
        started.append(term)
        return term

    yield start
    for term in started:
        term.close()


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("AWS_DEFAULT_REGION", "AWS_REGION")}
    env.update(extra)
    return env


def test_the_tutorial_config_through_a_terminal_with_every_kind_of_wrong_answer(
    tmp_path: Path, terminals: Start
) -> None:
    """The ParallelCluster 3.12 tutorial starts with ``pcluster configure``: region, key pair,
    scheduler, OS, head node type, number of queues, queue name, compute resources, their
    instance type and counts, subnets. The same answers write the tutorial's config; a wrong
    answer gets pcluster's ``ERROR: X is not an acceptable value for Question`` (plus why) and
    the same question again, and a number picks a listed choice."""
    path = tmp_path / "sub" / "cluster-config.yaml"
    term = terminals("configure", "-c", str(path), env=_env())
    shown = term.answer("AWS Region ID [us-east-1]: ", "mars-north-1")
    assert f"INFO: Configuration file {path} will be written." in shown
    assert "Allowed values for AWS Region ID:\n1. af-south-1\n" in shown
    shown = term.answer("AWS Region ID [us-east-1]: ", str(REGIONS.index("eu-west-1") + 1))
    assert "ERROR: mars-north-1 is not an acceptable value for AWS Region ID" in shown
    term.answer("EC2 Key Pair Name []: ", "steyn-mbp")
    shown = term.answer("Scheduler [slurm]: ", "pbs")
    assert "Allowed values for Scheduler:\n1. slurm\n" in shown
    term.answer("Scheduler [slurm]: ", "")
    shown = term.answer("Operating System [alinux2]: ", "")
    assert "Allowed values for Operating System:\n1. alinux2\n2. alinux2023\n" in shown
    term.answer("Head node instance type [t3.micro]: ", "t2.micr")
    shown = term.answer("Head node instance type [t3.micro]: ", "t2.micro")
    assert "ERROR: t2.micr is not an acceptable value for Head node instance type" in shown
    assert "Unknown instance type 't2.micr'. Did you mean 't2.micro'?" in shown
    term.answer("Number of queues [1]: ", "51")
    shown = term.answer("Number of queues [1]: ", "")
    assert "ERROR: 51 is not an acceptable value for Number of queues" in shown
    assert "Answer a whole number from 1 to 50." in shown
    term.answer("Name of queue 1 [queue1]: ", "Queue_1")
    shown = term.answer("Name of queue 1 [queue1]: ", "")
    assert (
        "Invalid name 'Queue_1'. Name must begin with a letter and only contain lowercase letters, "
        "digits and hyphens." in shown
    )
    term.answer("Number of compute resources for queue1 [1]: ", "")
    term.answer("Compute instance type for compute resource 1 in queue1 [t3.micro]: ", "t2.micro")
    term.answer("Minimum instance count [0]: ", "")
    term.answer("Maximum instance count [10]: ", "0")
    shown = term.answer("Maximum instance count [10]: ", "")
    assert "Answer a whole number from 1 to 10000." in shown
    term.answer("head node subnet ID []: ", "subnet-08c245b78a")
    shown = term.answer("head node subnet ID []: ", "subnet-08c245b78a82c3924")
    assert "A subnet ID is subnet- followed by 8 or 17 lowercase letters and digits." in shown
    term.answer("compute subnet ID [subnet-08c245b78a82c3924]: ", "subnet-0b864625631add41e")
    assert term.wait() == 0, term.output
    assert f"Configuration file written to {path}" in term.output
    assert path.read_text() == TUTORIAL_CONFIG
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    loaded = load_cluster_config(path.read_text())
    (queue,) = loaded.layout.queues
    assert [cr.name for cr in queue.compute_resources] == ["t2micro"]


def test_two_queues_efa_static_nodes_and_no_subnets(tmp_path: Path, terminals: Start) -> None:
    """ParallelCluster 3.12's wizard: at most 50 // queues compute resources per queue, a repeated
    queue name or instance type is refused with its wording, an instance type that supports EFA
    gets the EFA question, compute resources are named after their instance type. With ``-r`` the
    region is not asked. Without subnets no Networking is written (a queue's needs SubnetIds), so
    the placement group pcluster adds for EFA is left out too."""
    path = tmp_path / "two.yaml"
    term = terminals("configure", "-c", str(path), "-r", "us-east-2", env=_env())
    shown = term.answer("EC2 Key Pair Name []: ", "")
    assert "AWS Region ID" not in shown
    term.answer("Scheduler [slurm]: ", "1")
    term.answer("Operating System [alinux2]: ", "rocky9")
    term.answer("Head node instance type [t3.micro]: ", "")
    term.answer("Number of queues [1]: ", "2")
    term.answer("Name of queue 1 [queue1]: ", "cpu")
    term.answer("Number of compute resources for cpu [1]: ", "26")
    shown = term.answer("Number of compute resources for cpu [1]: ", "2")
    assert "Answer a whole number from 1 to 25." in shown
    term.answer("Compute instance type for compute resource 1 in cpu [t3.micro]: ", "c5d.2xlarge")
    term.answer("Minimum instance count [0]: ", "2")
    term.answer("Maximum instance count [10]: ", "1")
    shown = term.answer("Maximum instance count [10]: ", "8")
    assert "Answer a whole number from 2 to 10000." in shown
    term.answer("Compute instance type for compute resource 2 in cpu [t3.micro]: ", "c5d.2xlarge")
    shown = term.answer("Compute instance type for compute resource 2 in cpu [t3.micro]: ", "hpc7a.96xlarge")
    assert (
        "Error: Instance type c5d.2xlarge cannot be specified for multiple compute resources in the same "
        "queue. Please insert a different instance type." in shown
    )
    shown = term.answer("Enable EFA on hpc7a.96xlarge (y/n) [y]: ", "maybe")
    assert "supports enhanced networking capabilities using Elastic Fabric Adapter (EFA)" in shown
    term.answer("Enable EFA on hpc7a.96xlarge (y/n) [y]: ", "y")
    term.answer("Minimum instance count [0]: ", "")
    term.answer("Maximum instance count [10]: ", "4")
    term.answer("Name of queue 2 [queue2]: ", "cpu")
    shown = term.answer("Name of queue 2 [queue2]: ", "gpu")
    assert (
        "Error: The name cpu cannot be used for multiple queues. Please insert a different queue name."
        in shown
    )
    term.answer("Number of compute resources for gpu [1]: ", "")
    term.answer("Compute instance type for compute resource 1 in gpu [t3.micro]: ", "g6e.xlarge")
    term.answer("Minimum instance count [0]: ", "")
    term.answer("Maximum instance count [10]: ", "")
    term.answer("head node subnet ID []: ", "")
    term.answer("compute subnet ID []: ", "")
    assert term.wait() == 0, term.output
    assert "--region us-east-2' to create your cluster." in term.output
    written = yaml.safe_load(path.read_text())
    assert written == {
        "Region": "us-east-2",
        "Image": {"Os": "rocky9"},
        "HeadNode": {"InstanceType": "t3.micro"},
        "Scheduling": {
            "Scheduler": "slurm",
            "SlurmQueues": [
                {
                    "Name": "cpu",
                    "ComputeResources": [
                        {
                            "Name": "c5d2xlarge",
                            "Instances": [{"InstanceType": "c5d.2xlarge"}],
                            "MinCount": 2,
                            "MaxCount": 8,
                        },
                        {
                            "Name": "hpc7a96xlarge",
                            "Instances": [{"InstanceType": "hpc7a.96xlarge"}],
                            "MinCount": 0,
                            "MaxCount": 4,
                            "Efa": {"Enabled": True},
                        },
                    ],
                },
                {
                    "Name": "gpu",
                    "ComputeResources": [
                        {
                            "Name": "g6exlarge",
                            "Instances": [{"InstanceType": "g6e.xlarge"}],
                            "MinCount": 0,
                            "MaxCount": 10,
                        }
                    ],
                },
            ],
        },
    }
    layout = load_cluster_config(path.read_text()).layout
    cpu, gpu = layout.queues
    assert [cr.min_count for cr in cpu.compute_resources] == [2, 0]
    assert gpu.compute_resources[0].gpus == 1


def test_an_existing_file_is_never_overwritten(tmp_path: Path, terminals: Start) -> None:
    """ParallelCluster 3.12: ``A file/folder exists at PATH. Please specify a different file
    path``, exit 1, before any question."""
    path = tmp_path / "taken.yaml"
    path.write_text("mine\n")
    term = terminals("configure", "-c", str(path), env=_env())
    assert term.wait() == 1
    assert f"ERROR: A file/folder exists at {path}. Please specify a different file path" in term.output
    assert "AWS Region ID" not in term.output
    assert path.read_text() == "mine\n"


def test_ctrl_c_and_end_of_input_write_nothing(tmp_path: Path, terminals: Start) -> None:
    """Interrupting the wizard (Ctrl-C, which the terminal turns into SIGINT, or Ctrl-D at a
    prompt) exits 1 and leaves no file, as ParallelCluster 3.12's wizard writes only at the end."""
    path = tmp_path / "never.yaml"
    term = terminals("configure", "-c", str(path), env=_env(AWS_DEFAULT_REGION="eu-west-1"))
    term.answer("AWS Region ID [eu-west-1]: ", "")
    term.expect("EC2 Key Pair Name []: ")
    term.keys(b"\x03")
    if not term.closes_within(3.0):
        # CPython notices a SIGINT during input() only when it interrupts the read: one that
        # lands between the prompt and the read waits for the next, as a user's second Ctrl-C.
        term.keys(b"\x03")
    assert term.wait() == 1
    assert "Interrupted; nothing was written." in term.output
    assert not path.exists()

    term = terminals("configure", "-c", str(path), "-r", "eu-west-1", env=_env())
    term.answer("EC2 Key Pair Name []: ", "")
    term.expect("Scheduler [slurm]: ")
    term.keys(b"\x04")
    assert term.wait() == 1
    assert "ERROR: no answer for Scheduler (end of input); nothing was written." in term.output
    assert not path.exists()


def test_an_unknown_region_flag_is_refused_before_any_question(tmp_path: Path) -> None:
    from stratus.cli.configure import main

    lines: list[str] = []
    code = main(str(tmp_path / "c.yaml"), region="mars-1", prompter=Prompter(lambda _p: "", lines.append))
    assert code == 1 and lines == []
    assert not (tmp_path / "c.yaml").exists()


def test_every_default_answer_gives_a_config_that_loads() -> None:
    """Enter at every prompt: ParallelCluster 3.12's defaults (slurm, alinux2, one queue named
    queue1, MinCount 0, MaxCount 10), the fallback instance type t3.micro, no subnets, no key."""
    prompts: list[str] = []

    def read(prompt: str) -> str:
        prompts.append(prompt)
        return ""

    config = run_wizard(Prompter(read, lambda _line: None), region="eu-west-1")
    text = yaml.safe_dump(config, sort_keys=False)
    loaded = load_cluster_config(text)
    assert loaded.layout.queues[0].name == "queue1"
    assert config["HeadNode"] == {"InstanceType": "t3.micro"}
    assert prompts == [
        "EC2 Key Pair Name []: ",
        "Scheduler [slurm]: ",
        "Operating System [alinux2]: ",
        "Head node instance type [t3.micro]: ",
        "Number of queues [1]: ",
        "Name of queue 1 [queue1]: ",
        "Number of compute resources for queue1 [1]: ",
        "Compute instance type for compute resource 1 in queue1 [t3.micro]: ",
        "Minimum instance count [0]: ",
        "Maximum instance count [10]: ",
        "head node subnet ID []: ",
        "compute subnet ID []: ",
    ]


def test_prompter_end_of_input_is_an_error() -> None:
    def read(_prompt: str) -> str:
        raise EOFError

    with pytest.raises(ConfigureError, match="no answer for Number of queues"):
        Prompter(read, lambda _line: None).count("Number of queues", 1, 50, 1)


def test_an_efa_queue_with_a_subnet_gets_pclusters_placement_group() -> None:
    """ParallelCluster 3.12's wizard adds ``PlacementGroup: {Enabled: true}`` to the Networking
    of a queue where EFA was enabled (when no existing group is named); the config loads and its
    nodes have the ``efa`` feature."""
    answers = iter(["", "", "", "", "", "", "", "c5n.18xlarge", "", "", "2", "subnet-0b864625631add41e", ""])
    lines: list[str] = []
    config = run_wizard(Prompter(lambda _prompt: next(answers), lines.append), region="eu-west-1")
    (queue,) = config["Scheduling"]["SlurmQueues"]
    assert queue["Networking"] == {
        "PlacementGroup": {"Enabled": True},
        "SubnetIds": ["subnet-0b864625631add41e"],
    }
    assert queue["ComputeResources"][0]["Efa"] == {"Enabled": True}
    assert config["HeadNode"]["Networking"] == {"SubnetId": "subnet-0b864625631add41e"}
    layout = load_cluster_config(yaml.safe_dump(config, sort_keys=False)).layout
    assert layout.queues[0].compute_resources[0].efa

"""Generated command lines for every Slurm command: each ends in output and an exit code, never in
an exception (the head node would answer "internal error"). The fast subset of the campaign in
``benchmarks/fuzz_frontdoors.py``, on the commands' own parsers and formatters.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stratus.slurm.commands import run_command
from tests.slurm.helpers import FakeBackend, job, make_ctx, queue1, static_node

OPTIONS = {
    "sbatch": [
        "-J",
        "-p",
        "-N",
        "-n",
        "-c",
        "--mem",
        "--mem-per-cpu",
        "-t",
        "-o",
        "-e",
        "--array",
        "-D",
        "--hold",
        "--nice",
        "--gres",
        "-G",
        "--export",
        "--begin",
        "-C",
        "-d",
        "--signal",
        "--test-only",
        "--parsable",
        "--wrap",
        "--open-mode",
        "--ntasks-per-node",
    ],
    "squeue": ["-o", "-O", "-h", "-u", "-j", "-p", "-t", "-r", "-S", "--me", "-l", "--json", "--yaml"],
    "scontrol": [
        "show",
        "job",
        "node",
        "partition",
        "config",
        "hold",
        "release",
        "requeue",
        "update",
        "hostnames",
        "hostlist",
        "-o",
        "JobId=1",
        "TimeLimit=",
        "NumNodes=",
        "Nice=",
    ],
    "scancel": ["-u", "-t", "-p", "-n", "-s", "-Q", "-v", "1", "1_[2-3]"],
    "sacct": [
        "-j",
        "-u",
        "-a",
        "-S",
        "-E",
        "-s",
        "-X",
        "-P",
        "-p",
        "-n",
        "-b",
        "-l",
        "--name",
        "--format",
        "-o",
    ],
    "sinfo": ["-o", "-O", "-N", "-l", "-s", "-R", "-p", "-t", "-n", "--json", "--yaml"],
    "sprio": ["-l", "-w", "-j", "-u", "-o"],
    "sshare": ["-l", "-a", "-u", "-A", "-o"],
}
ODD = st.sampled_from(
    [
        "",
        "0",
        "-1",
        "4294967294",
        "18446744073709551616",
        "1e999",
        "%j",
        "%.99999i",
        "[",
        "1-",
        "a,b,,",
        "UNLIMITED",
        "now+1hour",
        "\udcff",
        "\x00",
        "\x1b[2J",
        "é",
        "*",
        "1_[",
        "afterok:9223372036854775808",
        "1\u00b2",
        "\u2460:00",
    ]
)
WORD = st.one_of(ODD, st.text(max_size=12))


@st.composite
def command_lines(draw: st.DrawFn) -> tuple[str, list[str]]:
    cmd = draw(st.sampled_from(sorted(OPTIONS)))
    argv: list[str] = []
    for _ in range(draw(st.integers(0, 5))):
        argv.append(draw(st.sampled_from(OPTIONS[cmd])))
        if draw(st.booleans()):
            argv.append(draw(WORD))
    return cmd, argv


def _backend() -> FakeBackend:
    node = static_node()
    backend = FakeBackend(node_rows=[node], part_rows=[queue1([node])])
    backend.job_rows.append(job(1, "n\udcff", "PENDING"))
    return backend


@settings(max_examples=400, deadline=2000, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(command_lines())
def test_generated_command_lines_never_raise(line: tuple[str, list[str]]) -> None:
    cmd, argv = line
    result = run_command(cmd, argv, make_ctx(stdin=b"#!/bin/sh\ntrue\n"), _backend())
    assert isinstance(result.exit_code, int)
    assert isinstance(result.stdout, str) and isinstance(result.stderr, str)


def test_regression_a_script_name_with_a_nul_was_an_internal_error() -> None:
    """Found by the generated command lines: ``sbatch -J -J $'\\0'`` names a script ``\\0``."""
    result = run_command("sbatch", ["-J", "-J", "\x00"], make_ctx(), _backend())
    assert result.exit_code != 0 and "Unable to open file" in result.stderr


def test_regression_a_superscript_digit_in_a_job_id_was_an_internal_error() -> None:
    """Found by the generated command lines: ``str.isdigit`` takes "²", ``int`` does not."""
    for argv in (["1\u00b2"], ["-j", "1\u00b2"]):
        result = run_command("scancel" if argv[0] != "-j" else "squeue", argv, make_ctx(), _backend())
        assert isinstance(result.exit_code, int)


def test_regression_digits_that_are_not_ascii_were_taken_for_numbers() -> None:
    """``str.isdigit`` takes "²", "①" (``int`` refuses them) and "٣" (``int`` takes it); Slurm's
    C parsers take ASCII digits only. Every option of every command, given such digits, ends in
    output and an exit code."""
    values = ("\u00b2", "1\u00b2", "\u2460", "\u0663", "1:\u00b2", "1-\u00b2", "gpu:\u00b2", "%\u00b2j")
    for cmd, options in OPTIONS.items():
        for option in options:
            for value in values:
                for argv in ([option, value], [f"{option}={value}"], [f"{option}{value}"]):
                    result = run_command(
                        cmd, [*argv, "--wrap", "true"] if cmd == "sbatch" else argv, make_ctx(), _backend()
                    )
                    assert isinstance(result.exit_code, int), (cmd, argv)
    result = run_command("sbatch", ["-n", "\u0663", "--wrap", "true"], make_ctx(), _backend())
    assert result.exit_code != 0  # not three tasks: an invalid number, as Slurm says

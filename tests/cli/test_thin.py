"""The thin Slurm clients: what they import, and which commands exist."""

from __future__ import annotations

import subprocess
import sys

from stratus.cli import thin
from stratus.slurm.commands import COMMANDS


def test_a_client_exists_for_every_command_the_head_node_implements() -> None:
    assert set(thin.COMMANDS) == set(COMMANDS)


def test_the_client_imports_only_builtin_modules() -> None:
    # Regression guard for sbatch latency: importing socket, json or http.client would cost more
    # than the whole request.
    code = (
        "import sys; before = set(sys.modules); sys.path.insert(0, sys.argv[1]); import thin; "
        "print(sorted(set(sys.modules) - before))"
    )
    out = subprocess.run(
        [sys.executable, "-I", "-S", "-c", code, thin.__file__.rsplit("/", 1)[0]],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert out.strip() == "['thin']"


def test_regression_squeue_into_head_printed_a_broken_pipe_traceback() -> None:
    """``squeue -r | head -1``: the reader goes away; the client must end quietly, as Slurm's do."""
    code = "import sys; sys.path.insert(0, sys.argv[1]); import thin; thin._write(1, b'x\\n' * 200_000)"
    proc = subprocess.Popen(
        [sys.executable, "-I", "-S", "-c", code, str(thin.__file__).rsplit("/", 1)[0]],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    assert proc.stdout.read(2) == b"x\n"  # like head -1: read a line, then go away
    proc.stdout.close()
    err = proc.stderr.read()
    assert proc.wait(timeout=30) == 141  # 128 + SIGPIPE, what a shell shows for Slurm's commands
    assert err == b""

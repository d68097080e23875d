"""The entry point of the Slurm front end: ``run_command(name, argv, ctx, backend)``.

The thin client sends the command name, its arguments (without the program name), the working
directory and the environment; the controller calls :func:`run_command` and returns the
:class:`CommandResult` for the client to print and exit with. A command that needs the
client's stdin (``sbatch`` with no script file) answers ``need_stdin=True`` and is called again
with ``ctx.stdin`` set.

Every refusal is a :class:`SlurmError` carrying Slurm's lines and exit code; it is turned into
stderr here, so commands never print half an error. Other exceptions (a backend failure) are
not caught: they are the controller's to report.

Versions: ``-V``/``--version`` prints ``slurm 22.05.8 (stratus <version>)`` — Slurm's line,
whose second word tools parse, followed by the stratus version.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from stratus.slurm.errors import SlurmError
from stratus.slurm.sacct import run_sacct
from stratus.slurm.sbatch import run_sbatch
from stratus.slurm.scancel import run_scancel
from stratus.slurm.scontrol import run_scontrol
from stratus.slurm.sinfo import run_sinfo
from stratus.slurm.sprio import run_sprio
from stratus.slurm.squeue import run_squeue
from stratus.slurm.sshare import run_sshare
from stratus.slurm.views import ClientContext, CommandResult, SlurmBackend

Command = Callable[[Sequence[str], ClientContext, SlurmBackend], CommandResult]

# New commands (scontrol, sacct, srun) register here with the same signature.
COMMANDS: dict[str, Command] = {
    "sbatch": run_sbatch,
    "squeue": run_squeue,
    "sinfo": run_sinfo,
    "scancel": run_scancel,
    "scontrol": run_scontrol,
    "sacct": run_sacct,
    "sprio": run_sprio,
    "sshare": run_sshare,
}


def run_command(name: str, argv: list[str], ctx: ClientContext, backend: SlurmBackend) -> CommandResult:
    """Run Slurm command ``name`` with ``argv`` (arguments only) for the client ``ctx``.

    Unknown command names answer ``<name>: command not found`` with exit 127, as a shell would.
    """
    cmd = COMMANDS.get(name)
    if cmd is None:
        return CommandResult(stderr=f"{name}: command not found\n", exit_code=127)
    try:
        return cmd(argv, ctx, backend)
    except SlurmError as exc:
        return CommandResult(stderr="".join(line + "\n" for line in exc.lines), exit_code=exc.exit_code)

"""Errors raised by the Slurm front end, carrying Slurm's own wording and exit code."""

from __future__ import annotations

from stratus.errors import UserError


class SlurmError(UserError):
    """A rejected command: ``lines`` go to stderr as printed, then the command exits ``exit_code``.

    ``lines`` are complete lines as Slurm prints them, prefix included
    (``sbatch: error: Invalid --time specification``).
    """

    def __init__(self, lines: str | list[str], exit_code: int = 1) -> None:
        self.lines = [lines] if isinstance(lines, str) else list(lines)
        self.exit_code = exit_code
        super().__init__("\n".join(self.lines))

"""Slurm compatibility front end: ``sbatch``, ``squeue``, ``sinfo``, ``scancel`` as users know them.

Entry point: :func:`stratus.slurm.commands.run_command`. The seam with the rest of stratus is
:mod:`stratus.slurm.views` (plain rows and requests) and :mod:`stratus.slurm.errors` (Slurm's
messages). Parsers and formatters: :mod:`~stratus.slurm.timefmt`, :mod:`~stratus.slurm.hostlist`,
:mod:`~stratus.slurm.arrays`, :mod:`~stratus.slurm.depend`, :mod:`~stratus.slurm.patterns`,
:mod:`~stratus.slurm.env`, :mod:`~stratus.slurm.jobstate`, :mod:`~stratus.slurm.nodestate`.
"""

from stratus import __version__

# The Slurm release whose behaviour and output the front end reproduces (``-V``, show config ...).
SLURM_VERSION = "22.05.8"


def version_line() -> str:
    """``-V``/``--version``: Slurm's version line, naming stratus (tools parse the second word)."""
    return f"slurm {SLURM_VERSION} (stratus {__version__})\n"

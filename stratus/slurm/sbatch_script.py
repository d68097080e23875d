"""The batch script: where sbatch finds it, the checks it makes, and its ``#SBATCH`` lines.

Guarantees: Slurm's sanity checks and messages (empty, whitespace only, no ``#!``, NUL bytes,
DOS line breaks, larger than 4 MB); ``#SBATCH`` (and ``#SLURM``) arguments are split as
Slurm's ``get_argument`` splits them, up to the first command line; a script that exists only
on the client's side (a pipe, a FIFO) is asked of the client instead of read here.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from pathlib import Path

from stratus.slurm import errors
from stratus.slurm.errors import SlurmError, command_fatal
from stratus.slurm.sbatch_options import EXIT_ERROR, PROG, sbatch_error
from stratus.slurm.views import ClientContext

WRAP_HEADER = "#!/bin/sh\n# This script was created by sbatch --wrap.\n\n"


def wrap_script(command: str) -> str:
    """The script sbatch generates for ``--wrap=<command>``."""
    return f"{WRAP_HEADER}{command}\n"


def check_script(body: bytes) -> str:
    """Slurm's sanity checks of a batch script; returns it decoded (UTF-8, bytes kept as escapes)."""
    if not body:
        raise sbatch_error("Batch script is empty!", EXIT_ERROR)
    text = body.decode("utf-8", errors="surrogateescape")
    if not text.strip():
        raise sbatch_error("Batch script contains only whitespace!", EXIT_ERROR)
    if not text.startswith("#!"):
        raise SlurmError(
            [
                f"{PROG}: error: This does not look like a batch script.  The first",
                f"{PROG}: error: line must start with #! followed by the path to an interpreter.",
                f"{PROG}: error: For instance: #!/bin/sh",
            ],
            EXIT_ERROR,
        )
    if "\0" in text:
        raise SlurmError(
            [
                f"{PROG}: error: The Slurm controller does not allow scripts that",
                f"{PROG}: error: contain a NULL character '\\0'.",
            ],
            EXIT_ERROR,
        )
    if "\r\n" in text:
        raise SlurmError(
            [
                f"{PROG}: error: Batch script contains DOS line breaks (\\r\\n)",
                f"{PROG}: error: instead of expected UNIX line breaks (\\n).",
            ],
            EXIT_ERROR,
        )
    return text


def _fatal(msg: str) -> SlurmError:
    return command_fatal(PROG, msg, EXIT_ERROR)


def _get_argument(fname: str, lineno: int, line: str, start: int) -> tuple[str | None, int]:
    """One argument of a directive line (get_argument): quotes group, ``\\`` escapes, ``#`` ends."""
    i = start
    while i < len(line) and line[i].isspace():
        i += 1
    if line[i : i + 1] == ":":
        raise _fatal(f"{fname}: line {lineno}: Unexpected `:` in [{line}]")
    if i >= len(line):
        return None, i
    out: list[str] = []
    quote = ""
    escape = False
    while i < len(line) and (quote or not line[i].isspace()) and line[i] != "\n":
        ch = line[i]
        if escape:
            escape = False
        elif ch == "\\":
            escape = True
            i += 1
            continue
        elif quote:
            if ch == quote:
                quote = ""
                i += 1
                continue
        elif ch in "\"'":
            quote = ch
            i += 1
            continue
        elif ch == "#":
            break
        out.append(ch)
        i += 1
    if quote:
        raise _fatal(f"{fname}: line {lineno}: Unmatched `{quote}` in [{line}]")
    return ("".join(out) if out else None), i


def directive_args(script: str, fname: str) -> tuple[list[str], list[str]]:
    """The arguments of the script's ``#SBATCH`` (and ``#SLURM``) lines, and warnings.

    Only lines before the first command count; a line is a command if it has anything other
    than blanks before a ``#``. The magic word must start the line; text after an unquoted
    ``#`` is a comment.
    """
    args: list[str] = []
    warnings: list[str] = []
    for lineno, line in enumerate(script.split("\n"), start=1):
        if line.startswith("#SBATCH"):
            pos = 7
        elif line.startswith("#SLURM"):
            pos = 6
            if not warnings:
                warnings.append(
                    f"{PROG}: error: Change from #SLURM to #SBATCH in your script and "
                    "verify the options are valid in sbatch"
                )
        else:
            stripped = line.lstrip()
            if stripped and not stripped.startswith("#"):
                break
            continue
        while True:
            arg, pos = _get_argument(fname, lineno, line, pos)
            if arg is None:
                break  # end of line, a comment, or an empty quoted word (Slurm stops there too)
            args.append(arg)
    return args, warnings


MAX_SCRIPT_SIZE = 4 * 1024 * 1024  # Slurm's default max_script_size


def script_bytes(given: str, path: str, ctx: ClientContext) -> bytes | None:
    """The script's bytes, or None to have the client send them.

    The head node reads a regular file itself (fast, and what users mostly submit). Anything
    else (a pipe from ``sbatch <(...)``, a FIFO, ``/dev/stdin``) exists only in the client's
    world, so the client reads it; so nothing the user names can block or flood the head node.
    """
    if given in ctx.files:
        data = ctx.files[given]
        if data is None:
            raise sbatch_error(f"Unable to open file {given}", EXIT_ERROR)
    else:
        if path.startswith(("/dev/", "/proc/")):
            return None
        try:
            st = os.stat(path)
        except (OSError, ValueError):  # ValueError: a NUL in the name, which no file can have
            raise sbatch_error(f"Unable to open file {given}", EXIT_ERROR) from None
        if stat.S_ISDIR(st.st_mode):
            raise sbatch_error(f"Unable to open file {given}", EXIT_ERROR)
        if not stat.S_ISREG(st.st_mode):
            return None
        if st.st_size > MAX_SCRIPT_SIZE:
            raise _too_large()
        try:
            data = Path(path).read_bytes()
        except OSError:
            raise sbatch_error(f"Unable to open file {given}", EXIT_ERROR) from None
    if len(data) > MAX_SCRIPT_SIZE:
        raise _too_large()
    return data


def _too_large() -> SlurmError:
    return errors.submit_failed("Batch script is larger than 4 MB (max_script_size)")


def resolve_script(name: str, cwd: str, env: Mapping[str, str]) -> str:
    """Where sbatch finds the script (search_path): the working directory, then ``PATH``.

    Names starting with ``.`` or ``/`` are taken as written (relative to ``cwd``); the result
    is absolute, joined the way Slurm joins it (no normalisation).
    """
    if name.startswith("/"):
        return name
    if not name.startswith("."):
        for d in [cwd] + [d for d in env.get("PATH", "").split(":") if d]:
            cand = f"{cwd}/{d}/{name}" if d.startswith(".") else f"{d}/{name}"
            if os.path.exists(cand):
                return cand
    return f"{cwd}/{name}"

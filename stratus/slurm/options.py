"""GNU ``getopt_long`` as Slurm's commands use it: same parsing, same error messages.

Users type Slurm commands from habit (``squeue -hj 18``, ``sbatch --part=q1``, ``scancel 18 -v``),
and scripts rely on details such as unique-prefix abbreviations of long options, arguments glued
to short options, and permutation of non-options. This module reproduces glibc's behaviour for
the subset Slurm uses, including the wording of its diagnostics, so a mistyped option fails the
same way it would on a real cluster.

Guarantees: options are returned in command-line order as ``(key, value)`` pairs, ``value`` being
``None`` for options without an argument; a long option and its short letter share one key.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum


class Arg(Enum):
    """Whether an option takes an argument (``no_argument`` ...)."""

    NONE = 0
    REQUIRED = 1
    OPTIONAL = 2


@dataclass(frozen=True, slots=True)
class LongOpt:
    """One long option: ``--name``, its argument kind, and the key reported for it."""

    name: str
    arg: Arg
    key: str


class OptionError(Exception):
    """A getopt diagnostic, worded as glibc prints it (``sbatch: unrecognized option '--x'``).

    ``parsed`` holds the options read before the mistake: a command that acts on options as
    getopt returns them (``--help`` exits at once) must see them.
    """

    def __init__(self, message: str, parsed: list[tuple[str, str | None]] | None = None) -> None:
        super().__init__(message)
        self.parsed = parsed or []


@dataclass(frozen=True, slots=True)
class _Short:
    arg: Arg


def _parse_shortopts(spec: str) -> dict[str, _Short]:
    out: dict[str, _Short] = {}
    i = 0
    if spec.startswith(("+", "-")):
        i = 1
    while i < len(spec):
        ch = spec[i]
        i += 1
        kind = Arg.NONE
        if spec[i : i + 2] == "::":
            kind = Arg.OPTIONAL
            i += 2
        elif spec[i : i + 1] == ":":
            kind = Arg.REQUIRED
            i += 1
        out[ch] = _Short(kind)
    return out


def _match_long(prog: str, text: str, longopts: Sequence[LongOpt]) -> LongOpt:
    """Exact name first, else a unique prefix (several names of one option are not ambiguous)."""
    for lo in longopts:
        if lo.name == text:
            return lo
    cands = [lo for lo in longopts if lo.name.startswith(text)]
    if not cands:
        raise OptionError(f"{prog}: unrecognized option '--{text}'")
    first = cands[0]
    if all(c.key == first.key and c.arg == first.arg for c in cands):
        return first
    names = " ".join(f"'--{c.name}'" for c in cands)
    raise OptionError(f"{prog}: option '--{text}' is ambiguous; possibilities: {names}")


def getopt_long(
    prog: str,
    argv: Sequence[str],
    shortopts: str,
    longopts: Sequence[LongOpt],
) -> tuple[list[tuple[str, str | None]], list[str]]:
    """Parse ``argv`` (without the program name) like glibc ``getopt_long``.

    A ``shortopts`` starting with ``+`` stops at the first non-option (sbatch, so that the
    script's own arguments are left alone); otherwise non-options are collected and parsing
    continues (squeue, sinfo, scancel). ``--`` ends the options. Returns the options in order
    and the remaining non-option arguments; raises :class:`OptionError` on the first mistake.
    """
    opts: list[tuple[str, str | None]] = []
    rest: list[str] = []
    try:
        _scan(prog, argv, shortopts, longopts, opts, rest)
    except OptionError as exc:
        raise OptionError(str(exc), list(opts)) from None
    return opts, rest


def _scan(
    prog: str,
    argv: Sequence[str],
    shortopts: str,
    longopts: Sequence[LongOpt],
    opts: list[tuple[str, str | None]],
    rest: list[str],
) -> None:
    shorts = _parse_shortopts(shortopts)
    stop_at_nonoption = shortopts.startswith("+")
    i = 0
    n = len(argv)
    while i < n:
        arg = argv[i]
        i += 1
        if arg == "--":
            rest.extend(argv[i:])
            break
        if not arg.startswith("-") or arg == "-":
            if stop_at_nonoption:
                rest.append(arg)
                rest.extend(argv[i:])
                break
            rest.append(arg)
            continue
        if arg.startswith("--"):
            body = arg[2:]
            name, eq, value = body.partition("=")
            try:
                lo = _match_long(prog, name, longopts)
            except OptionError as exc:
                if "unrecognized" in str(exc):
                    # glibc quotes everything after the dashes, "=value" included.
                    raise OptionError(f"{prog}: unrecognized option '--{body}'") from None
                raise
            if lo.arg is Arg.NONE:
                if eq:
                    raise OptionError(f"{prog}: option '--{lo.name}' doesn't allow an argument")
                opts.append((lo.key, None))
            elif lo.arg is Arg.OPTIONAL:
                opts.append((lo.key, value if eq else None))
            else:
                if eq:
                    opts.append((lo.key, value))
                elif i < n:
                    opts.append((lo.key, argv[i]))
                    i += 1
                else:
                    raise OptionError(f"{prog}: option '--{lo.name}' requires an argument")
            continue
        # A cluster of short options: -hv, -j18, -j 18.
        j = 1
        while j < len(arg):
            ch = arg[j]
            j += 1
            spec = shorts.get(ch)
            if spec is None or ch == ":":
                raise OptionError(f"{prog}: invalid option -- '{ch}'")
            if spec.arg is Arg.NONE:
                opts.append((ch, None))
                continue
            tail = arg[j:]
            if spec.arg is Arg.OPTIONAL:
                opts.append((ch, tail or None))
            elif tail:
                opts.append((ch, tail))
            elif i < n:
                opts.append((ch, argv[i]))
                i += 1
            else:
                raise OptionError(f"{prog}: option requires an argument -- '{ch}'")
            break

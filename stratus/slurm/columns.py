"""Column specifications and padding, shared by squeue and sinfo.

Both commands take ``-o "%.18i %9P ..."`` (``%[.][width]<letter><suffix>``) and
``-O "name[:[.]width][suffix],..."``, and print every value with one routine
(``_print_str``): a ``.`` right-justifies, a width pads, and values are cut to the width
unless the field is one Slurm never cuts (node lists, elapsed times). These details decide
where columns line up, so they are reproduced exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

from stratus.slurm.cparse import isdigits

DEFAULT_LONG_WIDTH = 20  # -O fields without ":width"


@dataclass(frozen=True, slots=True)
class ColumnSpec:
    """One parsed field: ``code`` is the letter (``-o``) or the lower-cased name (``-O``).

    ``code == ""`` is a literal prefix whose text is in ``suffix``.
    """

    code: str
    width: int
    right: bool
    suffix: str | None
    token: str = ""  # the text as written, for error messages


def print_str(value: str | None, width: int, right: bool, cut: bool) -> str:
    """Slurm's ``_print_str``: justify ``value`` in ``width`` columns, cutting it if asked.

    A missing value prints ``(null)`` as glibc's printf does. Left-justified values are always
    cut (``%.Ns``); right-justified ones only when ``cut`` is set, keeping their left part.
    """
    s = "(null)" if value is None else value
    if width > 0 and right:
        out = s.rjust(width)
        if cut:
            out = out[:width]
    elif width > 0:
        out = s[:width]
    else:
        out = s
    return out.ljust(width) if width > 0 else out


def _split_prefix(fmt: str) -> tuple[str | None, str]:
    pos = fmt.find("%")
    if pos < 0:
        return fmt, ""
    if pos == 0:
        return None, fmt
    return fmt[:pos], fmt[pos:]


def parse_percent_format(fmt: str, all_codes: str = "") -> list[ColumnSpec]:
    """``-o`` specs: an optional literal prefix, then ``%[.][width]X<suffix>`` tokens.

    Tokens are what lies between ``%`` signs, so ``%%`` yields nothing (as with strtok).
    ``%all`` expands to every letter in ``all_codes`` separated by ``|``.
    """
    specs: list[ColumnSpec] = []
    prefix, body = _split_prefix(fmt)
    if prefix is not None:
        specs.append(ColumnSpec("", 0, False, prefix, prefix))
        if not body:
            return specs
    if body.lower() == "%all" and all_codes:
        body = "|".join(f"%{c}" for c in all_codes)
    for tok in body.split("%"):
        if not tok:
            continue
        i = 0
        right = tok.startswith(".")
        if right:
            i = 1
        j = i
        while j < len(tok) and isdigits(tok[j]):
            j += 1
        width = int(tok[i:j]) if j > i else 0
        code = tok[j : j + 1]
        suffix = tok[j + 1 :]
        specs.append(ColumnSpec(code, width, right, suffix, tok))
    return specs


def parse_long_format(fmt: str) -> list[ColumnSpec]:
    """``-O`` specs: ``name[:[.]width][suffix]`` separated by commas; width 20 by default."""
    specs: list[ColumnSpec] = []
    for tok in fmt.split(","):
        if not tok:
            continue
        name, colon, rest = tok.partition(":")
        if not colon:
            specs.append(ColumnSpec(name.lower(), DEFAULT_LONG_WIDTH, False, None, tok))
            continue
        right = rest.startswith(".")
        if right:
            rest = rest[1:]
        j = 0
        if j < len(rest) and rest[j] in "+-":
            j += 1
        while j < len(rest) and isdigits(rest[j]):
            j += 1
        num = rest[:j]
        width = int(num) if isdigits(num.lstrip("+-")) else 0
        suffix = rest[j:] or None
        specs.append(ColumnSpec(name.lower(), width, right, suffix, tok))
    return specs

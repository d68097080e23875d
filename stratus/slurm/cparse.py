"""C library parsing behaviour that Slurm's option parsers rely on.

This is the one ``strtol`` of the Slurm front end: every parser that reads a number the way
Slurm's C code does (``strtol``, ``atoi``) goes through it, so they all accept the same
blanks, sign and digits and stop at the same place.
"""

from __future__ import annotations


def strtol(s: str, pos: int) -> tuple[int, int]:
    """C ``strtol(s + pos, &end, 10)``: (value, end position).

    Leading whitespace and one sign are accepted; with no digits the value is 0 and ``end`` is
    ``pos``, exactly as C reports "nothing parsed". ``strtol(s, 0)[0]`` is C's ``atoi(s)``.
    """
    i = pos
    while i < len(s) and s[i] in " \t\n\r\f\v":
        i += 1
    j = i
    if j < len(s) and s[j] in "+-":
        j += 1
    k = j
    while k < len(s) and "0" <= s[k] <= "9":  # ASCII only, as C: isdigit() takes "²" too
        k += 1
    if k == j:
        return 0, pos
    return int(s[i:k]), k


def strtol_rest(s: str) -> tuple[int | None, str]:
    """:func:`strtol` over all of ``s``: (value, the text after it); (None, ``s``) with no digits.

    For parsers that tell "no number" from 0 and go on with the rest of the text.
    """
    value, end = strtol(s, 0)
    if end == 0:
        return None, s
    return value, s[end:]


def isdigits(s: str) -> bool:
    """C's ``isdigit`` over every character of a non-empty ``s``: ASCII ``0``-``9`` only.

    ``str.isdigit`` also takes "²" or "①", which ``int`` then refuses: an internal error where
    Slurm says the value is invalid.
    """
    return s.isascii() and s.isdigit()

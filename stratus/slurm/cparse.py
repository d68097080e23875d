"""C library parsing behaviour that Slurm's option parsers rely on."""

from __future__ import annotations


def strtol(s: str, pos: int) -> tuple[int, int]:
    """C ``strtol(s + pos, &end, 10)``: (value, end position).

    Leading whitespace and one sign are accepted; with no digits the value is 0 and ``end`` is
    ``pos``, exactly as C reports "nothing parsed".
    """
    i = pos
    while i < len(s) and s[i] in " \t\n\r\f\v":
        i += 1
    j = i
    if j < len(s) and s[j] in "+-":
        j += 1
    k = j
    while k < len(s) and s[k].isdigit():
        k += 1
    if k == j:
        return 0, pos
    return int(s[i:k]), k

"""Node states as Slurm encodes, names and orders them (``idle~``, ``alloc#``, ``IDLE+CLOUD``).

Slurm keeps a node's state as a base value plus flag bits, and several outputs depend on that
encoding, not just on the names: sinfo orders its lines by the numeric state (``-t``: a node
with more or higher flag bits sorts first), and a name such as ``idle~`` is chosen from the
flags by a fixed precedence. :func:`encode` turns a :class:`NodeRow`'s base state and flag
names into Slurm's number; the string functions reproduce ``node_state_string``,
``node_state_string_compact`` and ``node_state_string_complete`` (slurm_protocol_defs.c).
"""

from __future__ import annotations

from stratus.slurm.views import NodeRow

UNKNOWN, DOWN, IDLE, ALLOCATED, ERROR, MIXED, FUTURE = range(7)
BASE_MASK = 0x0F
BASE_NAMES = ("UNKNOWN", "DOWN", "IDLE", "ALLOCATED", "ERROR", "MIXED", "FUTURE")

NET = 1 << 4
RES = 1 << 5
UNDRAIN = 1 << 6
CLOUD = 1 << 7
RESUME = 1 << 8
DRAIN = 1 << 9
COMPLETING = 1 << 10
NO_RESPOND = 1 << 11
POWERED_DOWN = 1 << 12
FAIL = 1 << 13
POWERING_UP = 1 << 14
MAINT = 1 << 15
REBOOT_REQUESTED = 1 << 16
REBOOT_CANCEL = 1 << 17
POWERING_DOWN = 1 << 18
DYNAMIC_FUTURE = 1 << 19
REBOOT_ISSUED = 1 << 20
PLANNED = 1 << 21
INVALID_REG = 1 << 22
POWER_DOWN = 1 << 23
POWER_UP = 1 << 24
POWER_DRAIN = 1 << 25
DYNAMIC_NORM = 1 << 26

# NodeRow flag names (and their Slurm aliases) -> bits.
FLAG_BITS: dict[str, int] = {
    "PERFCTRS": NET,
    "RESERVED": RES,
    "CLOUD": CLOUD,
    "RESUME": RESUME,
    "DRAIN": DRAIN,
    "COMPLETING": COMPLETING,
    "NOT_RESPONDING": NO_RESPOND,
    "NO_RESPOND": NO_RESPOND,
    "POWERED_DOWN": POWERED_DOWN,
    "FAIL": FAIL,
    "POWERING_UP": POWERING_UP,
    "MAINTENANCE": MAINT,
    "MAINT": MAINT,
    "REBOOT_REQUESTED": REBOOT_REQUESTED,
    "REBOOT_CANCEL": REBOOT_CANCEL,
    "POWERING_DOWN": POWERING_DOWN,
    "DYNAMIC_FUTURE": DYNAMIC_FUTURE,
    "REBOOT_ISSUED": REBOOT_ISSUED,
    "PLANNED": PLANNED,
    "INVALID_REG": INVALID_REG,
    "POWER_DOWN": POWER_DOWN,
    "POWER_UP": POWER_UP,
    "POWER_DRAIN": POWER_DRAIN,
    "DYNAMIC_NORM": DYNAMIC_NORM,
}

# The order scontrol lists flags in (node_state_flags[] in slurm_protocol_defs.c).
_FLAG_ORDER: tuple[tuple[int, str], ...] = (
    (CLOUD, "CLOUD"),
    (COMPLETING, "COMPLETING"),
    (DRAIN, "DRAIN"),
    (DYNAMIC_FUTURE, "DYNAMIC_FUTURE"),
    (DYNAMIC_NORM, "DYNAMIC_NORM"),
    (INVALID_REG, "INVALID_REG"),
    (FAIL, "FAIL"),
    (MAINT, "MAINTENANCE"),
    (POWER_DOWN, "POWER_DOWN"),
    (POWER_UP, "POWER_UP"),
    (NET, "PERFCTRS"),
    (POWERED_DOWN, "POWERED_DOWN"),
    (REBOOT_REQUESTED, "REBOOT_REQUESTED"),
    (REBOOT_ISSUED, "REBOOT_ISSUED"),
    (RES, "RESERVED"),
    (RESUME, "RESUME"),
    (NO_RESPOND, "NOT_RESPONDING"),
    (PLANNED, "PLANNED"),
    (POWERING_UP, "POWERING_UP"),
    (POWERING_DOWN, "POWERING_DOWN"),
)

_BASE_BY_NAME = {
    "UNKNOWN": UNKNOWN,
    "DOWN": DOWN,
    "IDLE": IDLE,
    "ALLOCATED": ALLOCATED,
    "ALLOC": ALLOCATED,
    "ERROR": ERROR,
    "MIXED": MIXED,
    "MIX": MIXED,
    "FUTURE": FUTURE,
}


def encode(node: NodeRow) -> int:
    """Slurm's numeric state of ``node``, as sinfo sees it.

    ``COMPLETING`` as a base name means an idle node with the completing flag. Like sinfo, a
    node that is not draining and has some but not all CPUs allocated is ``MIXED``.
    """
    name = node.state.upper()
    if name == "COMPLETING":
        state = IDLE | COMPLETING
    else:
        state = _BASE_BY_NAME.get(name, UNKNOWN)
    for flag in node.flags:
        state |= FLAG_BITS.get(flag.upper(), 0)
    if not state & DRAIN and 0 < node.alloc_cpus < node.cpus:
        state = (state & ~BASE_MASK) | MIXED
    return state


def _suffix(state: int, *, with_planned: bool = False, with_comp: bool = False) -> str:
    """The one-character suffix Slurm appends, by its precedence (``$^@#%~!*``)."""
    if state & MAINT:
        return "$"
    if state & REBOOT_ISSUED:
        return "^"
    if state & REBOOT_REQUESTED:
        return "@"
    if state & POWERING_UP:
        return "#"
    if state & POWERING_DOWN:
        return "%"
    if state & POWERED_DOWN:
        return "~"
    if state & POWER_DOWN:
        return "!"
    if state & NO_RESPOND:
        return "*"
    if with_comp and state & COMPLETING:
        return "+"
    if with_planned and state & PLANNED:
        return "-"
    return ""


def state_string(state: int, *, compact: bool = False) -> str:
    """node_state_string / node_state_string_compact (upper case, as Slurm returns them)."""
    base = state & BASE_MASK
    comp = bool(state & COMPLETING)
    drain = bool(state & DRAIN)
    no_resp = "*" if state & NO_RESPOND else ""
    if state & INVALID_REG:
        return "INVAL"
    if state & MAINT and not (drain or base in (ALLOCATED, DOWN, MIXED)):
        return "MAINT" + no_resp
    if state & (REBOOT_REQUESTED | REBOOT_ISSUED) and base not in (ALLOCATED, MIXED):
        word = "BOOT" if compact else "REBOOT"
        if state & REBOOT_ISSUED:
            return word + "^"
        return word + no_resp
    if drain:
        if comp or base in (ALLOCATED, MIXED):
            return ("DRNG" if compact else "DRAINING") + _suffix(state)
        return ("DRAIN" if compact else "DRAINED") + _suffix(state)
    if state & FAIL:
        if comp or base == ALLOCATED:
            return ("FAILG" if compact else "FAILING") + no_resp
        return "FAIL" + no_resp
    if base == DOWN:
        return "DOWN" + _suffix(state)
    if base == ALLOCATED:
        return ("ALLOC" if compact else "ALLOCATED") + _suffix(state, with_comp=True)
    if comp:
        return ("COMP" if compact else "COMPLETING") + _suffix(state)
    if base == IDLE:
        sfx = _suffix(state)
        if sfx:
            return "IDLE" + sfx
        if state & NET:
            return "NPC" if compact else "PERFCTRS"
        if state & RES:
            return "RESV" if compact else "RESERVED"
        if state & PLANNED:
            return "PLND" if compact else "PLANNED"
        return "IDLE"
    if base == MIXED:
        return ("MIX" if compact else "MIXED") + _suffix(state, with_planned=True)
    if base == FUTURE:
        return ("FUTR" if compact else "FUTURE") + _suffix(state)
    if state & RESUME:
        return "RESM" if compact else "RESUME"
    if base == UNKNOWN:
        return ("UNK" if compact else "UNKNOWN") + no_resp
    return "?"


def flag_names(state: int) -> list[str]:
    """The flag names of ``state`` in node_state_flag_string_single's order."""
    return [name for bit, name in _FLAG_ORDER if state & bit]


def state_complete(state: int) -> str:
    """node_state_string_complete: ``IDLE+CLOUD+POWERED_DOWN`` (scontrol's State=)."""
    base = state & BASE_MASK
    out = BASE_NAMES[base] if base < len(BASE_NAMES) else "INVALID"
    return "+".join([out, *flag_names(state)])


def _prefix_eq(name: str, text: str) -> bool:
    return name[: len(text)].upper() == text.upper()


def parse_sinfo_state(text: str) -> int | None:
    """A ``sinfo -t`` state name (prefixes accepted, any case) as Slurm's value; None if unknown.

    Base states match exactly against the node's base state; flag values match nodes with
    that flag; ``DRAIN``, ``DRAINED`` and ``DRAINING`` have their own rules (see
    :func:`sinfo_state_matches`).
    """
    if not text:
        return None
    for base in range(len(BASE_NAMES)):
        if _prefix_eq(state_string(base, compact=True), text) or _prefix_eq(state_string(base), text):
            return base
    if _prefix_eq("PLANNED", text) or _prefix_eq("PLND", text):
        return PLANNED
    if _prefix_eq("DRAIN", text):
        return DRAIN
    if _prefix_eq("DRAINED", text):
        return DRAIN | IDLE
    if _prefix_eq("RESV", text) or _prefix_eq("RESERVED", text):
        return RES
    if _prefix_eq("PERFCTRS", text) or _prefix_eq("NPC", text):
        return NET
    if _prefix_eq("DRAINING", text) or _prefix_eq("DRNG", text):
        return DRAIN | ALLOCATED
    for bit, long_name, short in (
        (COMPLETING, "COMPLETING", "COMP"),
        (NO_RESPOND, "NO_RESPOND", "NO_RESPOND"),
        (POWERING_DOWN, "POWERING_DOWN", "POWRING_DN"),
        (POWERED_DOWN, "POWERED_DOWN", "POWERED_DN"),
        (POWER_DOWN, "POWER_DOWN", "POW_DN"),
        (POWERING_UP, "POWERING_UP", "POWERING_UP"),
        (FAIL, "FAIL", "FAIL"),
        (MAINT, "MAINT", "MAINT"),
        (REBOOT_REQUESTED, "REBOOT", "BOOT"),
        (REBOOT_ISSUED, "REBOOT^", "BOOT^"),
        (CLOUD, "CLOUD", "CLOUD"),
    ):
        if _prefix_eq(long_name, text) or _prefix_eq(short, text):
            return bit
    return None


def valid_sinfo_states() -> str:
    """The list sinfo prints after ``Bad state string``."""
    names = [state_string(b) for b in range(len(BASE_NAMES))]
    names += ["DRAIN", "DRAINED", "DRAINING", "NO_RESPOND", "RESERVED", "PERFCTRS", "CLOUD",
              "COMPLETING", "POWERING_DOWN", "POWERED_DOWN", "POWER_DOWN", "POWERING_UP", "FAIL",
              "MAINT", "REBOOT", "REBOOT^", "PLANNED"]  # fmt: skip
    return ",".join(names).lower()


def _draining(state: int) -> bool:
    return bool(state & DRAIN) and (state & BASE_MASK) in (ALLOCATED, MIXED)


def sinfo_state_matches(wanted: int, state: int, alloc_cpus: int) -> bool:
    """Does a node in ``state`` match one ``sinfo -t`` value (_filter_out in sinfo.c)?"""
    if wanted == DRAIN:
        return bool(state & DRAIN)
    if wanted & DRAIN and (wanted & BASE_MASK) in (ALLOCATED, MIXED):
        return _draining(state)
    if wanted & DRAIN:
        return bool(state & DRAIN) and not _draining(state)
    if wanted & ~BASE_MASK:
        return bool(wanted & state)
    if wanted == ALLOCATED:
        return alloc_cpus > 0
    return (state & BASE_MASK) == wanted

"""``sshare``: the fair-share tree, usage and factors, as Slurm 22.05 prints them.

stratus computes fair share with Slurm's classic formula (``PriorityFlags=NO_FAIR_TREE``, see
:mod:`stratus.engine.fairshare`), so the columns are the classic ones: FairShare is shown on
every row and ``-l`` has no LevelFS. Rows come in Slurm's order (root, then depth first, users
before sub-accounts); the Account column is indented one space per level and a user row shows
the account it is in. Without ``-a`` or ``-u`` only the caller's own user rows are listed;
account rows always are. RawUsage is decayed CPU-seconds.

Output follows ``print_fields``: every cell ends with a space (so lines end with one), a header
and a line of dashes unless ``-n``; ``-p`` and ``-P`` print ``|``-separated values (``-p`` with a
trailing ``|``). ``-o`` takes Slurm's field names, any unique-enough prefix, with ``%WIDTH``.
"""

from __future__ import annotations

import pwd
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from stratus import __version__
from stratus.slurm import SLURM_VERSION
from stratus.slurm.cparse import isdigits
from stratus.slurm.errors import SlurmError
from stratus.slurm.options import Arg, LongOpt, OptionError, getopt_long
from stratus.slurm.views import ClientContext, CommandResult, ShareRow, SlurmBackend

PROG = "sshare"

LONGOPTS: tuple[LongOpt, ...] = tuple(
    LongOpt(n, a, k)
    for n, a, k in (
        ("accounts", Arg.REQUIRED, "A"),
        ("all", Arg.NONE, "a"),
        ("helpformat", Arg.NONE, "e"),
        ("long", Arg.NONE, "l"),
        ("partition", Arg.NONE, "m"),
        ("cluster", Arg.REQUIRED, "M"),
        ("clusters", Arg.REQUIRED, "M"),
        ("noheader", Arg.NONE, "n"),
        ("format", Arg.REQUIRED, "o"),
        ("parsable", Arg.NONE, "p"),
        ("parsable2", Arg.NONE, "P"),
        ("users", Arg.REQUIRED, "u"),
        ("Users", Arg.NONE, "U"),
        ("verbose", Arg.NONE, "v"),
        ("version", Arg.NONE, "V"),
        ("help", Arg.NONE, "help"),
        ("usage", Arg.NONE, "usage"),
    )
)
SHORTOPTS = "aA:ehlM:no:pPUu:vVm"

USAGE = """\
Usage:  sshare [OPTION]
  Valid OPTIONs are:
    -a or --all            list all users
    -A or --accounts=      display specific accounts (comma separated list)
    -e or --helpformat     Print a list of fields that can be specified
                           with the '--format' option
    -l or --long           include normalized usage in output
    -m or --partition      print the partition part of the association
    -M or --cluster=name   cluster to issue commands to.  Default is
                           current cluster.  cluster with no name will
                           reset to default.
    -n or --noheader       omit header from output
    -o or --format=        Comma separated list of fields (use
                           "--helpformat" for a list of available fields).
    -p or --parsable       '|' delimited output with a trailing '|'
    -P or --parsable2      '|' delimited output without a trailing '|'
    -u or --users=         display specific users (comma separated list)
    -U or --Users          display only user information
    -v or --verbose        display more information
    -V or --version        display tool version number
          --help           display this usage description
          --usage          display this usage description
"""


@dataclass(frozen=True, slots=True)
class _Field:
    name: str
    width: int  # negative: left-justified
    kind: str  # "str", "uint" or "double"
    value: Callable[[ShareRow, int, str], object]  # (row, association id, cluster name)


def _grp_tres_raw(row: ShareRow) -> str:
    return f"cpu={int(row.raw_usage // 60)}"


FIELDS: tuple[_Field, ...] = (
    _Field("Account", -20, "str", lambda r, i, c: " " * r.depth + r.account),
    _Field("Cluster", 10, "str", lambda r, i, c: c),
    _Field("EffectvUsage", 13, "double", lambda r, i, c: r.effective_usage),
    _Field("FairShare", 10, "double", lambda r, i, c: r.fairshare),
    _Field("GrpTRESMins", 30, "str", lambda r, i, c: None),
    _Field("GrpTRESRaw", 30, "str", lambda r, i, c: _grp_tres_raw(r)),
    _Field("ID", 6, "uint", lambda r, i, c: i),
    _Field("LevelFS", 10, "double", lambda r, i, c: None),
    _Field("NormShares", 11, "double", lambda r, i, c: r.norm_shares),
    _Field("NormUsage", 11, "double", lambda r, i, c: r.norm_usage),
    _Field("Partition", 12, "str", lambda r, i, c: None),
    _Field("RawShares", 10, "uint", lambda r, i, c: r.raw_shares),
    _Field("RawUsage", 11, "uint", lambda r, i, c: int(r.raw_usage)),
    _Field("TRESRunMins", 30, "str", lambda r, i, c: None),
    _Field("User", 10, "str", lambda r, i, c: r.user),
)
DEFAULT_FIELDS = "A,User,RawShares,NormShares,RawUsage,Eff,Fairshare"
DEFAULT_FIELDS_PARTITION = "A,User,P,RawShares,NormShares,RawUsage,Eff,Fairshare"
# Classic fair share (NO_FAIR_TREE) has no LevelFS column.
LONG_FIELDS = "A,User,RawShares,NormShares,RawUsage,NormUsage,Eff,Fairshare,GrpTRESMins,TRESRunMins"


@dataclass
class _Column:
    field: _Field
    width: int


@dataclass
class _Args:
    all_users: bool = False
    accounts: list[str] | None = None
    long: bool = False
    partition: bool = False
    no_header: bool = False
    fmt: str | None = None
    parsable: int = 0  # 1: -p (trailing |), 2: -P
    users: list[str] | None = None
    users_only: bool = False


def _err(message: str) -> SlurmError:
    return SlurmError(f"{PROG}: error: {message}", 1)


def columns(spec: str) -> list[_Column]:
    """``-o`` names (case-insensitive prefixes, first match in table order) with ``%WIDTH``."""
    out: list[_Column] = []
    for item in spec.split(","):
        item = item.strip()
        if not item:
            continue
        name, pct, width_text = item.partition("%")
        lowered = name.lower()
        match = next((f for f in FIELDS if f.name.lower().startswith(lowered)), None) if lowered else None
        if match is None:
            raise _err(f'Invalid field requested: "{name}"')
        width = match.width
        if pct:
            try:
                width = int(width_text)
            except ValueError:
                raise _err(f'Invalid field requested: "{item}"') from None
        out.append(_Column(match, width))
    return out


def _cell(value: object, kind: str, width: int) -> str:
    """One non-parsable cell, as print_fields prints it (trailing space included)."""
    w = abs(width)
    if value is None:
        return " " * w + " "
    if kind == "str":
        text = str(value)
        if len(text) > w:
            text = text[: w - 1] + "+" if w > 0 else text
        return (text.ljust(w) if width < 0 else text.rjust(w)) + " "
    if kind == "uint":
        return f"{value:>{w}d} "
    number = float(value)  # type: ignore[arg-type]
    text = f"{number:>{w}f}"
    precision = w
    while len(text) > w and precision > 0:
        text = f"{number:>{w}.{precision}e}"
        precision -= 1
    return text + " "


def _parsable_cell(value: object, kind: str) -> str:
    if value is None:
        return ""
    if kind == "double":
        return f"{float(value):f}"  # type: ignore[arg-type]
    return str(value)


def _parse(argv: Sequence[str]) -> _Args | CommandResult:
    try:
        opts, rest = getopt_long(PROG, argv, SHORTOPTS, LONGOPTS)
    except OptionError as exc:
        return CommandResult(stderr=f'{exc}\nTry "sshare --help" for more information\n', exit_code=1)
    a = _Args()
    for key, value in opts:
        if key == "a":
            a.all_users = True
        elif key == "A":
            a.accounts = [x.lower() for x in (value or "").split(",") if x]
        elif key == "e":
            names = [f.name for f in FIELDS]
            lines = ["".join(f"{n:<17s}" for n in names[i : i + 4]).rstrip() for i in range(0, len(names), 4)]
            return CommandResult(stdout="\n".join(lines) + "\n")
        elif key == "l":
            a.long = True
        elif key == "m":
            a.partition = True
        elif key == "n":
            a.no_header = True
        elif key == "o":
            a.fmt = value
        elif key == "p":
            a.parsable = 1
        elif key == "P":
            a.parsable = 2
        elif key == "u":
            a.users = [x for x in (value or "").split(",") if x]
        elif key == "U":
            a.users_only = True
        elif key == "V":
            return CommandResult(stdout=f"slurm {SLURM_VERSION} (stratus {__version__})\n")
        elif key in ("help", "usage"):
            return CommandResult(stdout=USAGE)
    if rest:
        return CommandResult(stderr=f"{PROG}: error: Unknown arguments: {' '.join(rest)}\n", exit_code=1)
    return a


def _users(a: _Args, ctx: ClientContext) -> set[str] | None:
    """The users whose rows are shown (None: all)."""
    if a.all_users or (a.users is not None and "-1" in a.users):
        return None
    if a.users is None:
        return {ctx.user}
    names: set[str] = set()
    for u in a.users:
        if isdigits(u):
            try:
                names.add(pwd.getpwuid(int(u)).pw_name)
            except KeyError:
                raise _err(f"Invalid user id: {u}") from None
        else:
            names.add(u)
    return names


def run_sshare(argv: Sequence[str], ctx: ClientContext, backend: SlurmBackend) -> CommandResult:
    """Run sshare against ``backend`` and print as Slurm 22.05 does."""
    parsed = _parse(argv)
    if isinstance(parsed, CommandResult):
        return parsed
    a = parsed
    spec = a.fmt or (LONG_FIELDS if a.long else DEFAULT_FIELDS_PARTITION if a.partition else DEFAULT_FIELDS)
    cols = columns(spec)
    _kind, rows = backend.shares()
    users = _users(a, ctx)
    shown: list[tuple[int, ShareRow]] = []
    for assoc_id, row in enumerate(rows, start=1):
        if row.user is None:
            if a.users_only:
                continue
        elif users is not None and row.user not in users:
            continue
        if a.accounts is not None and row.account.lower() not in a.accounts:
            continue
        shown.append((assoc_id, row))
    out: list[str] = []
    cluster = backend.cluster_name
    if a.parsable:
        end = "|" if a.parsable == 1 else ""
        if not a.no_header:
            out.append("|".join(c.field.name for c in cols) + end + "\n")
        for assoc_id, row in shown:
            cells = [_parsable_cell(c.field.value(row, assoc_id, cluster), c.field.kind) for c in cols]
            out.append("|".join(cells) + end + "\n")
        return CommandResult(stdout="".join(out))
    if not a.no_header:
        out.append("".join(_cell(c.field.name, "str", c.width) for c in cols) + "\n")
        out.append("".join("-" * abs(c.width) + " " for c in cols) + "\n")
    for assoc_id, row in shown:
        out.append(
            "".join(_cell(c.field.value(row, assoc_id, cluster), c.field.kind, c.width) for c in cols) + "\n"
        )
    return CommandResult(stdout="".join(out))

"""``sinfo``: group nodes into lines and print them like Slurm 22.05.

How lines are formed and ordered (src/sinfo/sinfo.c, sort.c):

* Unless ``-N``, every partition first gets an empty line of its own (so a partition whose
  nodes are all filtered out still prints, with 0 nodes and state ``n/a``), then each node of
  each partition, in node-table order, joins the first line of that partition whose printed
  attributes match: the state *string* when a state is printed (so ``alloc`` nodes with and
  without the CLOUD flag share a line), features when printed, and so on; otherwise it
  starts a new line. With ``-N`` every (node, partition) pair is a line.
* A line takes the numeric state of its first node. Lines are sorted by ``#P,-t``: partition
  in configuration order, then numeric state *descending* (flags are high bits, so
  ``alloc~`` / ``idle%`` / ``idle~`` lines come before plain ``idle``/``alloc``, and a CLOUD
  ``idle`` before a non-cloud ``alloc``); ``-N`` sorts by node name. Ties keep creation order.
* Node lists are printed sorted and compressed (``queue1-dy-t2micro-[1-3],queue1-st-local-1``);
  the default partition carries a ``*``.
* ``--json``/``--yaml`` (sinfo.c): every node as :mod:`stratus.slurm.openapi` dumps it, all
  other formatting and filtering options ignored.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from stratus import __version__
from stratus.slurm import SLURM_VERSION, hostlist, nodestate, openapi
from stratus.slurm.columns import parse_long_format, parse_percent_format, print_str
from stratus.slurm.cparse import isdigits
from stratus.slurm.errors import SlurmError, check_clusters
from stratus.slurm.options import Arg, LongOpt, OptionError, getopt_long
from stratus.slurm.timefmt import (
    convert_num_unit,
    fmt_date_header,
    fmt_elapsed_unbounded,
    fmt_sinfo_limit,
    fmt_timestamp,
)
from stratus.slurm.views import ClientContext, CommandResult, NodeRow, PartitionRow, SlurmBackend

PROG = "sinfo"
MIN_FIELD_SIZE = 9

FMT_DEFAULT = "partition:9 ,available:.5 ,time:.10 ,nodes:.6 ,statecompact:.6 ,nodelist:0"
FMT_LONG = (
    "partition:9 ,available:.5 ,time:.10 ,size:.10 ,root:.4 ,oversubscribe:.8 ,groups:.10 ,"
    "nodes:.6 ,statelong:.11 ,nodelist:0"
)
FMT_SUMMARIZE = "partition:9 ,available:.5 ,time:.10 ,nodeaiot:.16 ,nodelist:0"
FMT_NODE = "nodelist:0 ,nodes:.6 ,partition:.9 ,statecompact:6"
FMT_NODE_LONG = (
    "nodelist:0 ,nodes:.6 ,partition:.9 ,statelong:.11 ,cpus:4 ,socketcorethread:.8 ,"
    "memory:.6 ,disk:.8 ,weight:.6 ,features:.8 ,reason:20"
)
FMT_REASONS = "reason:20 ,user:9 ,timestamp:19 ,nodelist:0"
FMT_REASONS_LONG = "reason:20 ,userlong:12 ,timestamp:19 ,statecompact:6 ,nodelist:0"

LONGOPTS: tuple[LongOpt, ...] = tuple(
    LongOpt(n, a, k)
    for n, a, k in (
        ("all", Arg.NONE, "a"),
        ("dead", Arg.NONE, "d"),
        ("exact", Arg.NONE, "e"),
        ("federation", Arg.NONE, "federation"),
        ("help", Arg.NONE, "help"),
        ("hide", Arg.NONE, "hide"),
        ("iterate", Arg.REQUIRED, "i"),
        ("local", Arg.NONE, "local"),
        ("long", Arg.NONE, "l"),
        ("cluster", Arg.REQUIRED, "M"),
        ("clusters", Arg.REQUIRED, "M"),
        ("nodes", Arg.REQUIRED, "n"),
        ("noconvert", Arg.NONE, "noconvert"),
        ("noheader", Arg.NONE, "h"),
        ("Node", Arg.NONE, "N"),
        ("format", Arg.REQUIRED, "o"),
        ("Format", Arg.REQUIRED, "O"),
        ("partition", Arg.REQUIRED, "p"),
        ("responding", Arg.NONE, "r"),
        ("list-reasons", Arg.NONE, "R"),
        ("summarize", Arg.NONE, "s"),
        ("sort", Arg.REQUIRED, "S"),
        ("states", Arg.REQUIRED, "t"),
        ("reservation", Arg.NONE, "T"),
        ("usage", Arg.NONE, "usage"),
        ("verbose", Arg.NONE, "v"),
        ("version", Arg.NONE, "V"),
        ("json", Arg.NONE, "json"),
        ("yaml", Arg.NONE, "yaml"),
    )
)
SHORTOPTS = "adehi:lM:n:No:O:p:rRsS:t:TvV"


def _err(msg: str, code: int = 1) -> SlurmError:
    return SlurmError(f"{PROG}: error: {msg}", code)


@dataclass(slots=True)
class SinfoParams:
    """A parsed sinfo command line."""

    no_header: bool = False
    long: bool = False
    node_flag: bool = False
    summarize: bool = False
    list_reasons: bool = False
    exact: bool = False
    dead: bool = False
    responding: bool = False
    noconvert: bool = False
    reservations: bool = False
    verbose: int = 0
    iterate: int = 0
    fmt: str | None = None
    long_form: bool = False
    sort: str | None = None
    partitions: list[str] | None = None
    nodes: list[str] | None = None
    states: list[int] | None = None
    states_and: bool = False
    clusters: str | None = None
    clusters_from_env: bool = False
    node_field_flag: bool = False
    part_field_flag: bool = False
    mimetype: str | None = None  # --json / --yaml: dump every node, other options ignored


def _parse_states(text: str) -> tuple[list[int], bool]:
    if text.lower() == "all":
        return [*range(len(nodestate.BASE_NAMES)), nodestate.DRAIN, nodestate.COMPLETING], False
    out: list[int] = []
    for tok in [t for t in text.replace("&", ",").split(",") if t]:
        v = nodestate.parse_sinfo_state(tok)
        if v is None:
            raise SlurmError(
                [
                    f'{PROG}: error: Bad state string: "{tok}"',
                    f"{PROG}: error: valid states: {nodestate.valid_sinfo_states()}",
                ],
                1,
            )
        out.append(v)
    return out, "&" in text


def parse_sinfo_args(argv: Sequence[str], ctx: ClientContext) -> SinfoParams | CommandResult:
    """Parse argv (without the program name); a CommandResult for --help/--usage/--version."""
    p = SinfoParams()
    env = ctx.env
    opt_a = opt_p = False
    if "SINFO_PARTITION" in env:
        p.partitions = [t for t in env["SINFO_PARTITION"].split(",") if t]
    if "SINFO_SORT" in env:
        p.sort = env["SINFO_SORT"]
    if "SLURM_CLUSTERS" in env:
        p.clusters, p.clusters_from_env = env["SLURM_CLUSTERS"], True
    try:
        opts, _rest = getopt_long(PROG, argv, SHORTOPTS, LONGOPTS)
    except OptionError as exc:
        raise SlurmError([str(exc), f'Try "{PROG} --help" for more information'], 1) from None
    for key, val in opts:
        v = val or ""
        if key == "a":
            opt_a = True
            p.partitions = None
        elif key == "d":
            p.dead = True
        elif key == "e":
            p.exact = True
        elif key == "h":
            p.no_header = True
        elif key == "i":
            n = int(v) if isdigits(v.lstrip("-")) else 0
            if n <= 0:
                raise _err(f"Error: invalid entry for --iterate={v}")
            p.iterate = n
        elif key == "l":
            p.long = True
        elif key == "M":
            p.clusters, p.clusters_from_env = v, False
        elif key == "noconvert":
            p.noconvert = True
        elif key == "n":
            try:
                p.nodes = hostlist.expand(v)
            except hostlist.HostlistError:
                raise _err(f"'{v}' invalid entry for --nodes") from None
        elif key == "N":
            p.node_flag = True
        elif key == "o":
            p.fmt, p.long_form = v, False
        elif key == "O":
            p.fmt, p.long_form = v, True
        elif key == "p":
            opt_p = True
            p.partitions = [t for t in v.split(",") if t]
        elif key == "r":
            p.responding = True
        elif key == "R":
            p.list_reasons = True
        elif key == "s":
            p.summarize = True
        elif key == "S":
            p.sort = v
        elif key == "t":
            p.states, p.states_and = _parse_states(v)
        elif key == "T":
            p.reservations = True
        elif key == "v":
            p.verbose += 1
        elif key == "V":
            return CommandResult(stdout=f"slurm {SLURM_VERSION} (stratus {__version__})\n")
        elif key == "help":
            return CommandResult(stdout=HELP)
        elif key == "usage":
            return CommandResult(stdout=USAGE)
        elif key in ("json", "yaml"):
            p.mimetype = key
    if p.long and p.fmt is not None:
        raise SlurmError(
            f"{PROG}: fatal: Options -o(--format) and -l(--long) are mutually exclusive. "
            "Please remove one and retry.",
            1,
        )
    if opt_a and opt_p:
        raise _err("Conflicting options, -a and -p, specified. Please choose one or the other.")
    if p.fmt is None:
        p.long_form = True
        if p.summarize:
            p.part_field_flag = True
            p.fmt = FMT_SUMMARIZE
        elif p.node_flag:
            p.node_field_flag = p.part_field_flag = True
            p.fmt = FMT_NODE_LONG if p.long else FMT_NODE
        elif p.list_reasons:
            p.fmt = FMT_REASONS_LONG if p.long else FMT_REASONS
        elif "SINFO_FORMAT" in env:
            p.fmt, p.long_form = env["SINFO_FORMAT"], False
        else:
            p.part_field_flag = True
            p.fmt = FMT_LONG if p.long else FMT_DEFAULT
    if p.list_reasons and p.states is None:
        p.states = [nodestate.DOWN, nodestate.FAIL, nodestate.DRAIN]
    return p


# -- lines ------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Line:
    """One output line: nodes of one partition (or several, with -R) sharing printed attributes."""

    part: PartitionRow | None
    part_inx: int
    nodes: list[NodeRow] = field(default_factory=list)
    state: int = 0  # the first node's encoded state
    alloc_nodes: int = 0
    idle_nodes: int = 0
    other_nodes: int = 0
    cpus_alloc: int = 0
    cpus_idle: int = 0
    cpus_other: int = 0
    cpus_total: int = 0

    @property
    def first(self) -> NodeRow | None:
        return self.nodes[0] if self.nodes else None

    def names(self) -> list[str]:
        return [n.name for n in self.nodes]


def _features(n: NodeRow) -> str | None:
    return ",".join(n.features) if n.features else None


def _gres(n: NodeRow) -> str | None:
    if not n.gpus:
        return None
    return f"gpu:{n.gpu_type}:{n.gpus}" if n.gpu_type else f"gpu:{n.gpus}"


def _gres_used(n: NodeRow) -> str:
    if not n.gpus:
        return "gpu:0"
    if n.gpu_type:
        return f"gpu:{n.gpu_type}:{n.alloc_gpus}(IDX:N/A)"
    return f"gpu:{n.alloc_gpus}(IDX:N/A)"


@dataclass(frozen=True, slots=True)
class _Match:
    """Which attributes must be equal for two nodes to share a line (sinfo's match_flags)."""

    node_attrs: tuple[Callable[[NodeRow], object], ...]
    state: bool
    state_complete: bool
    part_attrs: tuple[Callable[[PartitionRow], object], ...]
    partition: bool
    exact_attrs: tuple[Callable[[NodeRow], object], ...]


# Field code -> (header, value fn, match attribute kind, header cut?).
LineFn = Callable[[_Line, "_Ctx"], "str | None"]


@dataclass(frozen=True, slots=True)
class _Ctx:
    noconvert: bool
    cluster: str
    node_field_size: int = 0
    part_field_size: int = 0


def _minmax(vals: Sequence[int], *, range_: bool, suffix: bool, noconvert: bool) -> str:
    lo, hi = min(vals), max(vals)

    def fmt(v: int) -> str:
        return convert_num_unit(float(v), noconvert=noconvert) if suffix else str(v)

    if lo == hi:
        return fmt(hi)
    return f"{fmt(lo)}-{fmt(hi)}" if range_ else f"{fmt(lo)}+"


def _avail(ln: _Line, c: _Ctx) -> str:
    if ln.part is None:
        return "n/a"
    return {"UP": "up", "DOWN": "down", "DRAIN": "drain", "INACTIVE": "inactive"}.get(
        ln.part.state.upper(), "unknown"
    )


def _state(ln: _Line, compact: bool) -> str:
    if not ln.nodes:
        return "n/a"
    return nodestate.state_string(ln.state, compact=compact).lower()


def _time(ln: _Line, c: _Ctx) -> str:
    if ln.part is None:
        return "n/a"
    return fmt_sinfo_limit(ln.part.max_time_min)


def _default_time(ln: _Line, c: _Ctx) -> str:
    if ln.part is None or ln.part.default_time_min is None:
        return "n/a"
    return fmt_elapsed_unbounded(ln.part.default_time_min * 60)


def _size(ln: _Line, c: _Ctx) -> str:
    if ln.part is None:
        return "n/a"
    lo = ln.part.min_nodes
    hi = ln.part.max_nodes
    if lo < 1 and (hi is None or hi > 0):
        lo = 1
    if hi is None:
        return f"{convert_num_unit(float(lo))}-infinite"
    return _minmax([lo, hi], range_=True, suffix=True, noconvert=c.noconvert)


def _partition(ln: _Line, c: _Ctx, width: int) -> str:
    if ln.part is None:
        return "n/a"
    name = ln.part.name
    if ln.part.default:
        if len(name) < width or width == 0:
            name += "*"
        elif width > 0:
            name = name[: width - 1] + "*"
    return name


def _cpu_load(ln: _Line, c: _Ctx) -> str:
    loads = [n.cpu_load for n in ln.nodes]
    if not loads:
        return "N/A"
    vals = ["N/A" if x is None else f"{x:.2f}" for x in loads]
    known = [x for x in loads if x is not None]
    if not known:
        return "N/A"
    lo, hi = min(known), max(known)
    if len(set(vals)) == 1:
        return vals[0]
    return f"{lo:.2f}-{hi:.2f}"


def _free_mem(ln: _Line, c: _Ctx) -> str:
    mems = [n.free_memory_mb for n in ln.nodes]
    if not mems or all(m is None for m in mems):
        return "N/A"
    known = [m for m in mems if m is not None]
    lo, hi = min(known), max(known)
    return str(hi) if lo == hi else f"{lo}-{hi}"


def _reason(ln: _Line, c: _Ctx) -> str:
    r = ln.first.reason if ln.first else None
    return "none" if not r or r.startswith("(null)") else r


def _user(ln: _Line, c: _Ctx, long: bool) -> str:
    f = ln.first
    if f is None or f.reason_user is None:
        return "Unknown"
    return f.reason_user


def _timestamp(ln: _Line, c: _Ctx) -> str:
    f = ln.first
    if f is None or not f.reason_time:
        return "Unknown"
    return fmt_timestamp(f.reason_time)


def _first_or(ln: _Line, fn: Callable[[NodeRow], str | None]) -> str | None:
    return fn(ln.first) if ln.first else None


@dataclass(frozen=True, slots=True)
class _Field:
    header: str
    value: LineFn
    header_cut: bool = True
    node_attr: Callable[[NodeRow], object] | None = None  # groups lines by this when printed
    part_attr: Callable[[PartitionRow], object] | None = None
    exact_attr: Callable[[NodeRow], object] | None = None  # only with -e
    kind: str = ""  # "state", "statecomplete", "partition", "nodelist", "hostnames"


def _vals(ln: _Line, fn: Callable[[NodeRow], int]) -> list[int]:
    return [fn(n) for n in ln.nodes] or [0]


FIELDS: dict[str, _Field] = {
    "a": _Field("AVAIL", _avail, part_attr=lambda p: p.state.upper()),
    "A": _Field("NODES(A/I)", lambda ln, c: f"{ln.alloc_nodes}/{ln.idle_nodes}"),
    "b": _Field("ACTIVE_FEATURES", lambda ln, c: _first_or(ln, _features), node_attr=_features),
    "B": _Field("MAX_CPUS_PER_NODE", lambda ln, c: "UNLIMITED"),
    "c": _Field(
        "CPUS",
        lambda ln, c: _minmax(_vals(ln, lambda n: n.cpus), range_=False, suffix=True, noconvert=c.noconvert),
        exact_attr=lambda n: n.cpus,
    ),
    "C": _Field(
        "CPUS(A/I/O/T)",
        lambda ln, c: f"{ln.cpus_alloc}/{ln.cpus_idle}/{ln.cpus_other}/{ln.cpus_total}",
        exact_attr=lambda n: n.cpus,
    ),
    "d": _Field(
        "TMP_DISK",
        lambda ln, c: _minmax(_vals(ln, lambda n: n.tmp_disk_mb), range_=False, suffix=False, noconvert=True),
        exact_attr=lambda n: n.tmp_disk_mb,
    ),
    "D": _Field("NODES", lambda ln, c: str(len(ln.nodes))),
    "e": _Field("FREE_MEM", _free_mem, exact_attr=lambda n: n.free_memory_mb),
    "E": _Field("REASON", _reason, node_attr=lambda n: n.reason),
    "f": _Field("AVAIL_FEATURES", lambda ln, c: _first_or(ln, _features), node_attr=_features),
    "F": _Field(
        "NODES(A/I/O/T)",
        lambda ln, c: f"{ln.alloc_nodes}/{ln.idle_nodes}/{ln.other_nodes}/{len(ln.nodes)}",
    ),
    "g": _Field("GROUPS", lambda ln, c: "all" if ln.part else "n/a", part_attr=lambda p: "all"),
    "G": _Field("GRES", lambda ln, c: _first_or(ln, _gres), node_attr=_gres),
    "h": _Field("OVERSUBSCRIBE", lambda ln, c: "NO", part_attr=lambda p: "NO"),
    "H": _Field("TIMESTAMP", _timestamp, node_attr=lambda n: n.reason_time),
    "I": _Field(
        "PRIO_JOB_FACTOR",
        lambda ln, c: str(ln.part.priority_job_factor) if ln.part else "n/a",
        part_attr=lambda p: p.priority_job_factor,
    ),
    "l": _Field("TIMELIMIT", _time, part_attr=lambda p: p.max_time_min),
    "L": _Field("DEFAULTTIME", _default_time, part_attr=lambda p: p.default_time_min),
    "m": _Field(
        "MEMORY",
        lambda ln, c: _minmax(_vals(ln, lambda n: n.memory_mb), range_=False, suffix=False, noconvert=True),
        exact_attr=lambda n: n.memory_mb,
    ),
    "M": _Field("PREEMPT_MODE", lambda ln, c: "OFF", part_attr=lambda p: "OFF"),
    "n": _Field(
        "HOSTNAMES",
        lambda ln, c: hostlist.compress(n.hostname or n.name for n in ln.nodes),
        header_cut=False,
        kind="hostnames",
    ),
    "N": _Field("NODELIST", lambda ln, c: hostlist.compress(ln.names()), header_cut=False, kind="nodelist"),
    "o": _Field(
        "NODE_ADDR",
        lambda ln, c: hostlist.compress(n.addr or n.name for n in ln.nodes),
        header_cut=False,
        node_attr=lambda n: n.addr or n.name,
    ),
    "O": _Field("CPU_LOAD", _cpu_load, exact_attr=lambda n: n.cpu_load),
    "p": _Field(
        "PRIO_TIER",
        lambda ln, c: str(ln.part.priority_tier) if ln.part else "n/a",
        part_attr=lambda p: p.priority_tier,
    ),
    "P": _Field("PARTITION", lambda ln, c: "", kind="partition"),
    "r": _Field("ROOT", lambda ln, c: "no" if ln.part else "n/a", part_attr=lambda p: "no"),
    "R": _Field("PARTITION", lambda ln, c: ln.part.name if ln.part else "n/a", kind="partitionname"),
    "s": _Field("JOB_SIZE", _size, part_attr=lambda p: (p.min_nodes, p.max_nodes)),
    "S": _Field("ALLOCNODES", lambda ln, c: "all" if ln.part else "n/a"),
    "t": _Field("STATE", lambda ln, c: _state(ln, True), kind="state"),
    "T": _Field("STATE", lambda ln, c: _state(ln, False), kind="state"),
    "u": _Field("USER", lambda ln, c: _user(ln, c, False), node_attr=lambda n: n.reason_user),
    "U": _Field("USER", lambda ln, c: _user(ln, c, True), node_attr=lambda n: n.reason_user),
    "v": _Field("VERSION", lambda ln, c: "N/A"),
    "V": _Field("CLUSTER", lambda ln, c: c.cluster),
    "w": _Field(
        "WEIGHT",
        lambda ln, c: _minmax(_vals(ln, lambda n: n.weight), range_=False, suffix=False, noconvert=True),
        exact_attr=lambda n: n.weight,
    ),
    "X": _Field(
        "SOCKETS",
        lambda ln, c: _minmax(
            _vals(ln, lambda n: n.sockets), range_=False, suffix=True, noconvert=c.noconvert
        ),
        exact_attr=lambda n: n.sockets,
    ),
    "Y": _Field(
        "CORES",
        lambda ln, c: _minmax(
            _vals(ln, lambda n: n.cores_per_socket), range_=False, suffix=True, noconvert=c.noconvert
        ),
        exact_attr=lambda n: n.cores_per_socket,
    ),
    "Z": _Field(
        "THREADS",
        lambda ln, c: _minmax(
            _vals(ln, lambda n: n.threads_per_core), range_=False, suffix=True, noconvert=c.noconvert
        ),
        exact_attr=lambda n: n.threads_per_core,
    ),
    "z": _Field(
        "S:C:T",
        lambda ln, c: ":".join(
            _minmax(_vals(ln, f), range_=False, suffix=True, noconvert=c.noconvert)
            for f in (
                lambda n: n.sockets,
                lambda n: n.cores_per_socket,
                lambda n: n.threads_per_core,
            )
        ),
        exact_attr=lambda n: (n.sockets, n.cores_per_socket, n.threads_per_core),
    ),
}

LONG_NAMES: dict[str, str] = {
    "available": "a", "nodeai": "A", "features_act": "b", "maxcpuspernode": "B", "cpus": "c",
    "cpusstate": "C", "disk": "d", "nodes": "D", "freemem": "e", "reason": "E",
    "features": "f", "nodeaiot": "F", "groups": "g", "gres": "G", "oversubscribe": "h",
    "share": "h", "timestamp": "H", "priorityjobfactor": "I", "time": "l", "defaulttime": "L",
    "memory": "m", "preemptmode": "M", "nodehost": "n", "nodelist": "N", "nodeaddr": "o",
    "cpusload": "O", "prioritytier": "p", "partition": "P", "root": "r", "partitionname": "R",
    "size": "s", "allocnodes": "S", "statecompact": "t", "statelong": "T", "user": "u",
    "userlong": "U", "version": "v", "cluster": "V", "weight": "w", "sockets": "X",
    "cores": "Y", "threads": "Z", "socketcorethread": "z",
}  # fmt: skip

EXTRA_LONG: dict[str, _Field] = {
    "allocmem": _Field(
        "ALLOCMEM",
        lambda ln, c: str(ln.nodes[-1].alloc_memory_mb if ln.nodes else 0),
        node_attr=lambda n: n.alloc_memory_mb,
    ),
    "comment": _Field("COMMENT", lambda ln, c: None),
    "extra": _Field("EXTRA", lambda ln, c: None),
    "gresused": _Field("GRES_USED", lambda ln, c: _first_or(ln, _gres_used), node_attr=_gres_used),
    "port": _Field("PORT", lambda ln, c: "6818"),
    "statecomplete": _Field(
        "STATECOMPLETE",
        lambda ln, c: nodestate.state_complete(ln.state).lower() if ln.nodes else "n/a",
        kind="statecomplete",
    ),
}


@dataclass(frozen=True, slots=True)
class _Col:
    fld: _Field | None
    width: int
    right: bool
    suffix: str | None


def build_columns(p: SinfoParams) -> tuple[list[_Col], list[str]]:
    """The columns of ``p.fmt`` and error lines for unknown fields (printed, not fatal)."""
    assert p.fmt is not None
    cols: list[_Col] = []
    errs: list[str] = []
    if p.long_form:
        for spec in parse_long_format(p.fmt):
            if spec.code == "all":
                cols.extend(_letter_cols("%all", errs))
                continue
            letter = LONG_NAMES.get(spec.code)
            fld = FIELDS.get(letter) if letter else EXTRA_LONG.get(spec.code)
            if fld is None:
                errs.append(f"{PROG}: error: Invalid job format specification: {spec.code}")
            cols.append(_Col(fld, spec.width, spec.right, spec.suffix))
        return cols, errs
    return _letter_cols(p.fmt, errs), errs


def _letter_cols(fmt: str, errs: list[str]) -> list[_Col]:
    cols: list[_Col] = []
    format_all = fmt.lower() == "%all"
    letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
    body = fmt
    if format_all:
        body = "|".join(f"%{c}" for c in letters[:26]) + "|" + "|".join(f"%{c} " for c in letters[26:])
    for spec in parse_percent_format(body):
        if spec.code == "":
            cols.append(_Col(None, 0, False, spec.suffix))
            continue
        fld = FIELDS.get(spec.code)
        if fld is None:
            if not format_all:
                errs.append(f"Invalid node format specification: {spec.code}")
                cols.append(_Col(None, spec.width, spec.right, "%" + spec.token))
            continue
        cols.append(_Col(fld, spec.width, spec.right, spec.suffix))
    return cols


def _match_spec(cols: Sequence[_Col], exact: bool) -> _Match:
    node_attrs: list[Callable[[NodeRow], object]] = []
    part_attrs: list[Callable[[PartitionRow], object]] = []
    exact_attrs: list[Callable[[NodeRow], object]] = []
    state = complete = partition = False
    for col in cols:
        f = col.fld
        if f is None:
            continue
        if f.node_attr is not None:
            node_attrs.append(f.node_attr)
        if f.part_attr is not None:
            part_attrs.append(f.part_attr)
        if exact and f.exact_attr is not None:
            exact_attrs.append(f.exact_attr)
        if f.kind == "state":
            state = True
        elif f.kind == "statecomplete":
            complete = True
        elif f.kind in ("partition", "partitionname"):
            partition = True
        elif f.kind == "hostnames":
            node_attrs.append(lambda n: n.hostname or n.name)
    return _Match(tuple(node_attrs), state, complete, tuple(part_attrs), partition, tuple(exact_attrs))


def _node_matches(ln: _Line, node: NodeRow, state: int, m: _Match) -> bool:
    first = ln.first
    if first is None:
        return True
    if any(a(node) != a(first) for a in m.node_attrs):
        return False
    if m.state and nodestate.state_string(state) != nodestate.state_string(ln.state):
        return False
    if m.state_complete and nodestate.state_complete(state) != nodestate.state_complete(ln.state):
        return False
    return all(a(node) == a(first) for a in m.exact_attrs)


def _part_matches(ln: _Line, part: PartitionRow, m: _Match, list_reasons: bool) -> bool:
    if list_reasons or ln.part is part:
        return True
    if ln.part is None:
        return False
    if m.partition and ln.part.name != part.name:
        return False
    return all(a(part) == a(ln.part) for a in m.part_attrs)


def _add(ln: _Line, node: NodeRow, state: int) -> None:
    if any(n.name == node.name for n in ln.nodes):
        return
    if not ln.nodes:
        ln.state = state
    ln.nodes.append(node)
    base = state & nodestate.BASE_MASK
    drain_or_down = bool(state & nodestate.DRAIN) or base == nodestate.DOWN
    if base in (nodestate.ALLOCATED, nodestate.MIXED) or state & nodestate.COMPLETING:
        ln.alloc_nodes += 1
    elif drain_or_down:
        ln.other_nodes += 1
    else:
        ln.idle_nodes += 1
    ln.cpus_alloc += node.alloc_cpus
    ln.cpus_total += node.cpus
    rest = node.cpus - node.alloc_cpus
    if drain_or_down:
        ln.cpus_other += rest
    else:
        ln.cpus_idle += rest


def _keep_node(node: NodeRow, state: int, p: SinfoParams) -> bool:
    if p.nodes is not None and node.name not in p.nodes:
        return False
    no_resp = bool(state & nodestate.NO_RESPOND)
    if p.dead and not no_resp:
        return False
    if p.responding and no_resp:
        return False
    if p.states is not None:
        results = [nodestate.sinfo_state_matches(w, state, node.alloc_cpus) for w in p.states]
        return all(results) if p.states_and else any(results)
    return True


def build_lines(
    parts: Sequence[PartitionRow], nodes: Sequence[NodeRow], p: SinfoParams, cols: Sequence[_Col]
) -> list[_Line]:
    """Group nodes into output lines, in creation order (before sorting)."""
    m = _match_spec(cols, p.exact)
    lines: list[_Line] = []
    wanted = [(i, part) for i, part in enumerate(parts) if p.partitions is None or part.name in p.partitions]
    if not p.node_flag and m.partition:
        lines.extend(_Line(part, i) for i, part in wanted)
    states = {n.name: nodestate.encode(n) for n in nodes}
    order = {n.name: k for k, n in enumerate(nodes)}
    by_name = {n.name: n for n in nodes}
    for inx, part in wanted:
        members = sorted((by_name[x] for x in part.nodes if x in by_name), key=lambda n: order[n.name])
        for node in members:
            state = states[node.name]
            if not _keep_node(node, state, p):
                continue
            target: _Line | None = None
            if not p.node_flag:
                for ln in lines:
                    if not _part_matches(ln, part, m, p.list_reasons):
                        continue
                    if ln.nodes and not _node_matches(ln, node, state, m):
                        continue
                    target = ln
                    break
            if target is None:
                target = _Line(part, inx)
                lines.append(target)
            _add(target, node, state)
    return lines


def _sort_lines(lines: list[_Line], spec: str) -> list[_Line]:
    """sinfo's sort: keys applied from last to first, stable; ``#P`` is configuration order."""
    keys: dict[str, Callable[[_Line], object]] = {
        "a": lambda ln: ln.part.state if ln.part else "",
        "A": lambda ln: (ln.alloc_nodes, ln.idle_nodes),
        "F": lambda ln: (ln.alloc_nodes, ln.idle_nodes),
        "b": lambda ln: _first_or(ln, _features) or "",
        "f": lambda ln: _first_or(ln, _features) or "",
        "c": lambda ln: min(_vals(ln, lambda n: n.cpus)),
        "d": lambda ln: min(_vals(ln, lambda n: n.tmp_disk_mb)),
        "D": lambda ln: len(ln.nodes),
        "E": lambda ln: (ln.first.reason or "") if ln.first else "",
        "H": lambda ln: (ln.first.reason_time or 0) if ln.first else 0,
        "l": lambda ln: ln.part.max_time_min if ln.part and ln.part.max_time_min is not None else 2**32,
        "m": lambda ln: min(_vals(ln, lambda n: n.memory_mb)),
        "N": lambda ln: hostlist.sort_key(sorted(ln.names(), key=hostlist.sort_key)[0]) if ln.nodes else (),
        "n": lambda ln: hostlist.sort_key(sorted(ln.names(), key=hostlist.sort_key)[0]) if ln.nodes else (),
        "p": lambda ln: ln.part.priority_tier if ln.part else 0,
        "S": lambda ln: ln.part.priority_job_factor if ln.part else 0,
        "s": lambda ln: ln.part.min_nodes if ln.part else 0,
        "t": lambda ln: ln.state,
        "T": lambda ln: ln.state,
        "u": lambda ln: (ln.first.reason_user or "") if ln.first else "",
        "U": lambda ln: (ln.first.reason_user or "") if ln.first else "",
        "w": lambda ln: min(_vals(ln, lambda n: n.weight)),
        "X": lambda ln: min(_vals(ln, lambda n: n.sockets)),
        "Y": lambda ln: min(_vals(ln, lambda n: n.cores_per_socket)),
        "Z": lambda ln: min(_vals(ln, lambda n: n.threads_per_core)),
    }
    i = len(spec) - 1
    while i >= 0:
        ch = spec[i]
        if ch in ",#+-":
            i -= 1
            continue
        reverse = i > 0 and spec[i - 1] == "-"
        part_order = i > 0 and spec[i - 1] == "#"
        if ch in ("P", "R"):
            if part_order:
                lines.sort(key=lambda ln: ln.part_inx, reverse=reverse)
            else:
                lines.sort(key=lambda ln: ln.part.name if ln.part else "", reverse=reverse)
        elif ch in keys:
            lines.sort(key=keys[ch], reverse=reverse)  # type: ignore[arg-type]
        i -= 1
    return lines


def _render(cols: Sequence[_Col], ln: _Line | None, c: _Ctx) -> str:
    out: list[str] = []
    for col in cols:
        f = col.fld
        if f is not None:
            width = col.width
            if f.kind == "nodelist" and c.node_field_size:
                width = c.node_field_size
            if f.kind in ("partition", "partitionname") and c.part_field_size:
                width = c.part_field_size
            if ln is None:
                out.append(print_str(f.header, width, col.right, f.header_cut))
            else:
                val = _partition(ln, c, width) if f.kind == "partition" else f.value(ln, c)
                out.append(print_str(val, width, col.right, True))
        if col.suffix:
            out.append(col.suffix)
    return "".join(out) + "\n"


def run_sinfo(argv: Sequence[str], ctx: ClientContext, backend: SlurmBackend) -> CommandResult:
    """Run sinfo against ``backend`` and print as Slurm does."""
    parsed = parse_sinfo_args(argv, ctx)
    if isinstance(parsed, CommandResult):
        return parsed
    p = parsed
    if p.mimetype is not None:
        return CommandResult(stdout=openapi.serialize(openapi.nodes_document(backend.nodes()), p.mimetype))
    if p.clusters is not None:
        check_clusters(PROG, p.clusters, backend.cluster_name, p.clusters_from_env)
    now = backend.now()
    out: list[str] = []
    if not p.no_header and (p.iterate or p.verbose or p.long):
        out.append(fmt_date_header(now) + "\n")
    if p.clusters is not None and not p.no_header:
        out.append(f"CLUSTER: {backend.cluster_name}\n")
    if p.reservations:
        if not p.no_header:
            out.append(f"{'RESV_NAME':<9s}  {'STATE':>8s}  {'START_TIME':>19s}  {'END_TIME':>19s}  "
                       f"{'DURATION':>11s}  NODELIST\n")  # fmt: skip
        return CommandResult(stdout="".join(out))
    cols, errs = build_columns(p)
    lines = build_lines(list(backend.partitions()), list(backend.nodes()), p, cols)
    lines = _sort_lines(lines, p.sort or ("N" if p.node_flag else "#P,-t"))
    node_w = part_w = 0
    if p.node_field_flag:
        node_w = max([MIN_FIELD_SIZE, *(len(hostlist.compress(ln.names())) for ln in lines)])
    if p.part_field_flag:
        part_w = max(
            [MIN_FIELD_SIZE, *(len(ln.part.name) + (1 if ln.part.default else 0) for ln in lines if ln.part)]
        )
    c = _Ctx(p.noconvert, backend.cluster_name, node_w, part_w)
    if not p.no_header:
        out.append(_render(cols, None, c))
    for ln in lines:
        out.append(_render(cols, ln, c))
    return CommandResult(stdout="".join(out), stderr="".join(e + "\n" for e in errs))


USAGE = """\
Usage: sinfo [-adelNRrsTv] [-i seconds] [-t states] [-p partition] [-n nodes]
             [-S fields] [-o format] [-O Format] [--federation] [--local]
"""

HELP = """\
Usage: sinfo [OPTIONS]
  -a, --all                  show all partitions (including hidden and those
                             not accessible)
  -d, --dead                 show only non-responding nodes
  -e, --exact                group nodes only on exact match of configuration
  -h, --noheader             no headers on output
  --hide                     do not show hidden or non-accessible partitions
  -i, --iterate=seconds      specify an iteration period
  -l, --long                 long output - displays more information
  -M, --clusters=names       clusters to issue commands to.
  -n, --nodes=NODES          report on specific node(s)
  --noconvert                don't convert units from their original type
                             (e.g. 2048M won't be converted to 2G).
  -N, --Node                 Node-centric format
  -o, --format=format        format specification
  -O, --Format=format        long format specification
  -p, --partition=PARTITION  report on specific partition
  -r, --responding           report only responding nodes
  -R, --list-reasons         list reason nodes are down or drained
  -s, --summarize            report state summary only
  -S, --sort=fields          comma separated list of fields to sort on
  -t, --states=node_state    specify the what states of nodes to view
  -T, --reservation          show only reservation information
  -v, --verbose              verbosity level
  -V, --version              output version information and exit

Help options:
  --help                     show this help message
  --usage                    display brief usage message
"""

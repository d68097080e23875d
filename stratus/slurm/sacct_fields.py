"""sacct's field table (Slurm 22.05's ``src/sacct/sacct.c``) and its ``--format`` lists.

Guarantees: ``--format`` names are matched case-insensitively by prefix, first in Slurm's table
order and then among the fields of later versions (:data:`EXTENSION_FIELDS`); ``name%N`` sets
the width of every column of that field, the last width given winning, as in Slurm. ``sacct -e``
lists the 22.05 table only.
"""

from __future__ import annotations

from dataclasses import dataclass

from stratus.slurm.cparse import strtol
from stratus.slurm.errors import command_error, command_fatal

PROG = "sacct"

BRIEF_FIELDS = "jobid,state,exitcode"
DEFAULT_FIELDS = "jobid,jobname,partition,account,alloccpus,state,exitcode"
LONG_FIELDS = (
    "jobid,jobidraw,jobname,partition,maxvmsize,maxvmsizenode,maxvmsizetask,avevmsize,maxrss,"
    "maxrssnode,maxrsstask,averss,maxpages,maxpagesnode,maxpagestask,avepages,mincpu,mincpunode,"
    "mincputask,avecpu,ntasks,alloccpus,elapsed,state,exitcode,avecpufreq,reqcpufreqmin,"
    "reqcpufreqmax,reqcpufreqgov,reqmem,consumedenergy,maxdiskread,maxdiskreadnode,maxdiskreadtask,"
    "avediskread,maxdiskwrite,maxdiskwritenode,maxdiskwritetask,avediskwrite,reqtres,alloctres,"
    "tresusageinave,tresusageinmax,tresusageinmaxn,tresusageinmaxt,tresusageinmin,tresusageinminn,"
    "tresusageinmint,tresusageintot,tresusageoutmax,tresusageoutmaxn,tresusageoutmaxt,"
    "tresusageoutave,tresusageouttot"
)


# -- the field table ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FieldDef:
    """One sacct field: its name, default width (negative: left-justified) and print routine.

    ``kind`` is the print_fields routine: ``str`` (cut with ``+``), ``uint`` (unsigned, never
    cut, blank when unset), ``secs`` (a duration from seconds), ``date``; and stratus's ``usd``
    (dollars with :data:`COST_DECIMALS` decimals, right-justified and never cut like numbers,
    blank when unset).
    """

    name: str
    width: int
    kind: str


def _f(width: int, name: str, kind: str = "str") -> FieldDef:
    return FieldDef(name, width, kind)


# Slurm 22.05's table (src/sacct/sacct.c), in its order: prefix matching picks the first hit.
FIELDS: tuple[FieldDef, ...] = (
    _f(10, "Account"), _f(15, "AdminComment"), _f(10, "AllocCPUS", "uint"), _f(10, "AllocNodes"),
    _f(10, "AllocTRES"), _f(7, "AssocID", "uint"), _f(10, "AveCPU"), _f(10, "AveCPUFreq"),
    _f(14, "AveDiskRead"), _f(14, "AveDiskWrite"), _f(10, "AvePages"), _f(10, "AveRSS"),
    _f(10, "AveVMSize"), _f(16, "BlockID"), _f(10, "Cluster"), _f(14, "Comment"),
    _f(19, "Constraints"), _f(14, "ConsumedEnergy"), _f(17, "ConsumedEnergyRaw", "uint"),
    _f(19, "Container"), _f(10, "CPUTime", "secs"), _f(10, "CPUTimeRAW", "uint"),
    _f(-10, "DBIndex", "uint"), _f(15, "DerivedExitCode"), _f(10, "Elapsed", "secs"),
    _f(10, "ElapsedRaw", "uint"), _f(19, "Eligible", "date"), _f(19, "End", "date"),
    _f(8, "ExitCode"), _f(19, "Flags"), _f(6, "GID", "uint"), _f(9, "Group"), _f(-12, "JobID"),
    _f(-12, "JobIDRaw"), _f(10, "JobName"), _f(9, "Layout"), _f(12, "MaxDiskRead"),
    _f(15, "MaxDiskReadNode"), _f(15, "MaxDiskReadTask", "uint"), _f(12, "MaxDiskWrite"),
    _f(16, "MaxDiskWriteNode"), _f(16, "MaxDiskWriteTask", "uint"), _f(8, "MaxPages"),
    _f(12, "MaxPagesNode"), _f(14, "MaxPagesTask", "uint"), _f(10, "MaxRSS"), _f(10, "MaxRSSNode"),
    _f(10, "MaxRSSTask", "uint"), _f(10, "MaxVMSize"), _f(14, "MaxVMSizeNode"),
    _f(14, "MaxVMSizeTask", "uint"), _f(12, "McsLabel"), _f(10, "MinCPU"), _f(10, "MinCPUNode"),
    _f(10, "MinCPUTask", "uint"), _f(10, "NCPUS", "uint"), _f(8, "NNodes", "uint"),
    _f(15, "NodeList"), _f(8, "NTasks", "uint"), _f(10, "Partition"), _f(10, "Priority", "uint"),
    _f(10, "QOS"), _f(6, "QOSRAW", "uint"), _f(22, "Reason"), _f(10, "ReqCPUFreq"),
    _f(13, "ReqCPUFreqGov"), _f(13, "ReqCPUFreqMax"), _f(13, "ReqCPUFreqMin"),
    _f(8, "ReqCPUS", "uint"), _f(10, "ReqMem"), _f(8, "ReqNodes"), _f(10, "ReqTRES"),
    _f(20, "Reservation"), _f(8, "ReservationId", "uint"), _f(10, "Reserved", "secs"),
    _f(10, "ResvCPU", "secs"), _f(10, "ResvCPURAW", "uint"), _f(19, "Start", "date"),
    _f(10, "State"), _f(19, "Submit", "date"), _f(20, "SubmitLine"), _f(10, "Suspended", "secs"),
    _f(15, "SystemComment"), _f(10, "SystemCPU"), _f(10, "Timelimit"), _f(10, "TimelimitRaw"),
    _f(10, "TotalCPU"), _f(14, "TRESUsageInAve"), _f(14, "TRESUsageInMax"),
    _f(18, "TRESUsageInMaxNode"), _f(18, "TRESUsageInMaxTask"), _f(14, "TRESUsageInMin"),
    _f(18, "TRESUsageInMinNode"), _f(18, "TRESUsageInMinTask"), _f(14, "TRESUsageInTot"),
    _f(15, "TRESUsageOutAve"), _f(15, "TRESUsageOutMax"), _f(19, "TRESUsageOutMaxNode"),
    _f(19, "TRESUsageOutMaxTask"), _f(15, "TRESUsageOutMin"), _f(19, "TRESUsageOutMinNode"),
    _f(19, "TRESUsageOutMinTask"), _f(15, "TRESUsageOutTot"), _f(6, "UID", "uint"), _f(9, "User"),
    _f(10, "UserCPU"), _f(10, "WCKey"), _f(10, "WCKeyID", "uint"), _f(20, "WorkDir"),
)  # fmt: skip
# Fields beyond Slurm 22.05's, matched after its table and never listed by -e or ALL: those of
# later Slurm versions, then stratus's own. ``Cost`` (USD, see COST_DECIMALS) is stratus's: no
# Slurm version up to 25.05 has a field of that name or one that ``Cos`` begins, so no Slurm
# field name or prefix can mean it.
EXTENSION_FIELDS: tuple[FieldDef, ...] = (_f(8, "Restarts", "uint"), _f(10, "Cost", "usd"))
#: The decimals of ``Cost``: hundredths of a cent, as cloud prices per hour are quoted.
COST_DECIMALS = 4


# -- the --format list ----------------------------------------------------------------------


@dataclass(slots=True)
class Column:
    """One output column: its field and width (shared by every column of the field)."""

    fdef: FieldDef
    width: int


def parse_fields(text: str) -> list[Column]:
    """The ``--format`` list: prefix-matched names with optional ``%width``.

    Raises ``Invalid field requested: "X"`` (exit 1) for a name no field starts with.
    """
    widths: dict[str, int] = {}
    chosen: list[FieldDef] = []
    for raw in text.split(","):
        tok = raw.lstrip(" \t\n\r\f\v")
        if not tok:
            continue
        name, pct, width_text = tok.partition("%")
        new_width = strtol(width_text, 0)[0] if pct else None
        if "ALL".startswith(name.upper()):
            for fd in FIELDS:
                if new_width is not None:
                    widths[fd.name] = new_width
                chosen.append(fd)
            continue
        fd_hit = next(
            (fd for fd in FIELDS + EXTENSION_FIELDS if fd.name.lower().startswith(name.lower())), None
        )
        if fd_hit is None:
            if name.lower() == "allocgres":
                raise command_fatal(PROG, "AllocGRES has been removed, please use AllocTRES")
            if name.lower() == "reqgres":
                raise command_fatal(PROG, "ReqGRES has been removed, please use ReqTRES")
            raise command_error(PROG, f'Invalid field requested: "{name}"')
        if new_width is not None:
            widths[fd_hit.name] = new_width
        chosen.append(fd_hit)
    return [Column(fd, widths.get(fd.name, fd.width)) for fd in chosen]


def help_fields() -> str:
    """``sacct -e``: the 22.05 field names, four per line in 19-character columns."""
    out = []
    for i, fd in enumerate(FIELDS):
        if i & 3:
            out.append(" ")
        elif i:
            out.append("\n")
        out.append(f"{fd.name:<19}")
    out.append("\n")
    return "".join(out)

"""``sacct``: the accounting records of jobs and their steps, printed like Slurm 22.05.

What decides the output, and where it comes from (Slurm's ``src/sacct``, ``print_fields.c``,
``slurmdb_defs.c`` and the MySQL accounting plugin's ``as_mysql_jobacct_process.c``):

* The time window (``slurmdb_job_cond_def_start_end``). Without ``-j`` and ``-s``: from
  midnight today (``-S``) to now (``-E``), and a job is listed if it became eligible before
  the end and had not ended before the start (so a held job, never eligible, is not). With
  ``-j``: from the epoch, and a job is listed if it was submitted before the end and had not
  ended before the start. With ``-s``: the window defaults to the instant *now* (or to the
  epoch when ``-j`` is also given), and each state has its own test: ``PENDING`` jobs that
  were pending in the window, ``RUNNING`` jobs that ran in it, any other state for jobs that
  ended in it (both ends included). The end is exclusive; an end equal to the start or to
  now is moved one second later. Steps are listed if they overlap the window.
* Runs (``-D``): a requeued job has one record per run. Without ``-D`` only the newest run of
  each job id among those in the window is shown, as the accounting database keeps only the
  first row per job id in newest-first order; with ``-D`` every run is, each with its steps.
* Order: by submit time, then array job id (0 for other jobs), array task id, job id
  (``_sort_desc_submit_time``, which despite its name sorts oldest first); each job's steps
  follow it in the order the store returns them.
* Users: root sees every user's jobs; others only their own unless ``-a``, ``-u``, ``-j`` or
  ``-N`` is given.
* Fields (``-o``): names are matched case-insensitively by prefix, first in Slurm's table
  order (``jobid`` is ``JobID``, ``state`` is ``State``; ``a`` is ``ALL``); ``name%N`` sets a
  width (negative: left-justified). The width belongs to the field, not the column: the last
  width given for a field applies to every column of it, as in Slurm. Text wider than its
  column is cut with a ``+``; numbers and durations are never cut. ``-p``/``-P`` print
  ``|``-separated values (with/without a trailing ``|``); ``--delimiter`` changes the ``|``.
* Values: job lines (``18``, ``18_5``, ``18_[6-64]``) carry the job's fields; step lines
  (``18.batch``, ``18.0``) leave job-only fields (``Partition``, ``User``, ``Timelimit`` ...)
  blank, and usage fields (``MaxRSS``, ``MaxVMSize``) are printed for steps only, in Slurm's
  units (``4552K``). ``TotalCPU``/``UserCPU``/``SystemCPU`` of a job line add up its listed
  finished steps (zero with ``-X``), printed as ``MM:SS.mmm`` below an hour. ``State`` of a
  cancelled job reads ``CANCELLED by <uid>``; ``ExitCode`` is ``code:signal``.

Known differences from Slurm 22.05:

* ``--array`` (one line per pending task of an array) and the ``Restarts`` field come from
  later Slurm versions (23.02 and later); ``Restarts`` is not listed by ``-e`` nor by ``ALL``,
  whose output stays 22.05's.
* Fields stratus has no data for print blank: energy, disk and page counters, CPU
  frequencies, ``AveCPU``/``AveRSS``/``MinCPU``, the ``TRESUsage*`` fields, ``QOS``,
  ``AssocID``, ``WCKey``, ``Flags``, ``Layout``, ``SubmitLine``, ``Reserved``.
* ``-C``, ``-F``, ``-i``, ``-I``, ``-k``, ``-K``, ``-q``, ``-R``, ``-W``, ``-x``, ``--json``
  and ``--yaml`` are refused with a message; ``-c``/``-f`` answer ``Slurm job completion is
  disabled`` as a cluster without job completion logging does. ``-B``/``--env-vars`` print
  ``NONE`` for every job (scripts and environments are not kept in accounting).
* ``SLURM_TIME_FORMAT`` is not applied to dates.
"""

from __future__ import annotations

import grp
import pwd
import re
import time as _time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from stratus.slurm import hostlist, jobstate
from stratus.slurm.arrays import format_task_ids
from stratus.slurm.errors import SlurmError
from stratus.slurm.options import Arg, LongOpt, OptionError, getopt_long
from stratus.slurm.sbatch import version_line
from stratus.slurm.timefmt import (
    NO_VAL,
    UNIT_MEGA,
    UNIT_NONE,
    convert_num_unit,
    fmt_mins_long,
    fmt_secs_long,
    fmt_timestamp,
)
from stratus.slurm.views import AcctQuery, AcctRow, ClientContext, CommandResult, SlurmBackend

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

# The states sacct accepts for -s (_supported_state): these are what accounting records.
SUPPORTED_STATES = frozenset(
    {
        "PENDING", "RUNNING", "SUSPENDED", "COMPLETED", "CANCELLED", "FAILED", "TIMEOUT",
        "NODE_FAIL", "PREEMPTED", "BOOT_FAIL", "DEADLINE", "OUT_OF_MEMORY", "REQUEUED",
        "RESIZING", "REVOKED",
    }
)  # fmt: skip

# Step ids as Slurm names its special steps.
SPECIAL_STEPS = ("batch", "extern", "interactive")


# -- the field table ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FieldDef:
    """One sacct field: its name, default width (negative: left-justified) and print routine.

    ``kind`` is the print_fields routine: ``str`` (cut with ``+``), ``uint`` (unsigned, never
    cut, blank when unset), ``secs`` (a duration from seconds), ``date``.
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
# Fields of later Slurm versions, matched after the 22.05 table and never listed by -e or ALL.
EXTENSION_FIELDS: tuple[FieldDef, ...] = (_f(8, "Restarts", "uint"),)


# -- errors ---------------------------------------------------------------------------------


def _error(msg: str) -> SlurmError:
    return SlurmError(f"{PROG}: error: {msg}", 1)


def _fatal(msg: str) -> SlurmError:
    return SlurmError(f"{PROG}: fatal: {msg}", 1)


def _unsupported(option: str) -> SlurmError:
    return _error(f"{option} is not supported by stratus")


# -- times (parse_time in src/common/parse_time.c, past=1) ---------------------------------


class TimeParseError(ValueError):
    """A time sacct rejects; ``pos`` is where Slurm's parser stopped (printed in the message)."""

    def __init__(self, pos: int) -> None:
        super().__init__(pos)
        self.pos = pos


_UNIT_NAMES = (
    ("seconds", 1), ("second", 1), ("minutes", 60), ("minute", 60), ("hours", 3600),
    ("hour", 3600), ("days", 86400), ("day", 86400), ("weeks", 604800), ("week", 604800),
)  # fmt: skip


class _Scanner:
    """C-string access: characters past the end read as NUL."""

    def __init__(self, s: str) -> None:
        self.s = s

    def __getitem__(self, i: int) -> str:
        return self.s[i] if 0 <= i < len(self.s) else "\0"

    def starts(self, i: int, word: str) -> bool:
        return self.s[i : i + len(word)].lower() == word


def _digit(ch: str) -> bool:
    return "0" <= ch <= "9"


def _get_delta(s: _Scanner, pos: int) -> tuple[int, int]:
    """``+N[unit]`` after ``now``: (seconds, new position); raises with Slurm's position."""
    cnt = 0
    digits = 0
    offset = pos + 1
    while s[offset] not in ("\0", "\n"):
        if s[offset].isspace():
            offset += 1
            continue
        unit = next(((name, mult) for name, mult in _UNIT_NAMES if s.starts(offset, name)), None)
        if unit is not None:
            offset += len(unit[0])
            cnt *= unit[1]
            break
        if _digit(s[offset]):
            cnt = cnt * 10 + int(s[offset])
            digits += 1
            offset += 1
            continue
        raise TimeParseError(offset - 1)
    if not digits:
        raise TimeParseError(pos)
    return cnt, offset - 1


def _minutes_or_seconds(s: _Scanner, off: int) -> tuple[int, int]:
    """Exactly two digits, 00 to 59: (value, new position); errors point where Slurm's do."""
    value = 0
    for at in (off, off + 1):
        if not _digit(s[at]):
            raise TimeParseError(at)
        value = value * 10 + int(s[at])
    if value > 59:
        raise TimeParseError(off)
    return value, off + 2


def _get_time(s: _Scanner, pos: int) -> tuple[int, int, int, int]:
    """``HH:MM[:SS] [AM|PM]``: (hour, minute, second, new position)."""
    off = pos
    if not _digit(s[off]):
        raise TimeParseError(off)
    hr = int(s[off])
    off += 1
    if s[off] != ":":
        if not _digit(s[off]):
            raise TimeParseError(off)
        hr = hr * 10 + int(s[off])
        off += 1
    if hr > 23:
        raise TimeParseError(off - 2)
    if s[off] != ":":
        raise TimeParseError(off)
    mi, off = _minutes_or_seconds(s, off + 1)
    sec = 0
    if s[off] == ":":
        sec, off = _minutes_or_seconds(s, off + 1)
    while s[off] != "\0" and s[off].isspace():
        off += 1
    if s.starts(off, "pm"):
        hr += 12
        if hr > 23:
            if hr != 24:
                raise TimeParseError(off)
            hr = 12
        off += 2
    elif s.starts(off, "am"):
        if hr > 11:
            if hr != 12:
                raise TimeParseError(off)
            hr = 0
        off += 2
    return hr, mi, sec, off - 1


def _two_digits(s: _Scanner, off: int) -> tuple[int, int]:
    """One digit, or two: (value, new offset); the first character is taken as a digit."""
    v = ord(s[off]) - ord("0")
    off += 1
    if _digit(s[off]):
        v = v * 10 + int(s[off])
        off += 1
    return v, off


def _get_date(s: _Scanner, pos: int) -> tuple[int, int, int | None, int]:
    """``YYYY-MM-DD``, ``MMDD[YY]``, ``MM/DD[/YY]``, ``MM.DD[.YY]``: (month 0-11, day, year, pos)."""
    off = pos
    if len(s.s) >= off + 7 and s[off + 4] == "-" and s[off + 7] == "-":
        yr = 0
        for _ in range(4):
            if not _digit(s[off]):
                raise TimeParseError(off)
            yr = yr * 10 + int(s[off])
            off += 1
        off += 1
        mon, off = _two_digits(s, off)
        if not 1 <= mon <= 12:
            raise TimeParseError(off - 2)
        off += 1
        if not _digit(s[off]):
            raise TimeParseError(off)
        day, off = _two_digits(s, off)
        if not 1 <= day <= 31:
            raise TimeParseError(off - 2)
        return mon - 1, day, yr, off - 1
    mon, off = _two_digits(s, off)
    if not 1 <= mon <= 12:
        raise TimeParseError(off - 2)
    if s[off] in (".", "/"):
        off += 1
    if not _digit(s[off]):
        raise TimeParseError(off)
    day, off = _two_digits(s, off)
    if not 1 <= day <= 31:
        raise TimeParseError(off - 2)
    if s[off] in (".", "/"):
        off += 1
    year: int | None = None
    if _digit(s[off]):
        yr = int(s[off])
        off += 1
        if not _digit(s[off]):
            raise TimeParseError(off)
        yr = yr * 10 + int(s[off])
        off += 1
        year = 2000 + yr if yr else None
    return mon - 1, day, year, off - 1


def parse_time(text: str, now: float, past: bool = True) -> int:
    """Slurm's parse_time: a time as POSIX seconds; 0 when the text names no time at all.

    ``past`` resolves a time or date without a day or year to the most recent one (sacct's
    ``-S``/``-E``); otherwise to the next. Accepts ``now[+-N[unit]]``, ``today``,
    ``tomorrow``, ``midnight``, ``noon``, ``fika``, ``teatime``, ``HH:MM[:SS] [AM|PM]``,
    ``YYYY-MM-DD[THH:MM[:SS]]``, ``MMDD[YY]``, ``MM/DD[/YY]``, ``MM.DD[.YY]`` and
    ``uts<seconds>``. Raises :class:`TimeParseError` with the position Slurm reports.
    """
    s = _Scanner(text)
    if text[:3].lower() == "uts":
        # strtol over the rest, which must be all digits and at least 1000000.
        m = re.fullmatch(r"[ \t\n\r\f\v]*([+-]?\d+)", text[3:])
        if m is None or int(m.group(1)) < 1000000:
            raise TimeParseError(0)
        return int(m.group(1))
    nowt = _time.localtime(now)
    hour = minute = -1
    second = 0
    month = mday = year = -1
    pos = 0
    while s[pos] not in ("\0", "\n"):
        ch = s[pos]
        if ch in " \t-T":
            pos += 1
            continue
        if s.starts(pos, "today"):
            month, mday, year = nowt.tm_mon - 1, nowt.tm_mday, nowt.tm_year
            pos += 5
            continue
        if s.starts(pos, "tomorrow"):
            t = _time.localtime(now + 86400)
            month, mday, year = t.tm_mon - 1, t.tm_mday, t.tm_year
            pos += 8
            continue
        named = next(
            (
                (w, h)
                for w, h in (("midnight", 0), ("noon", 12), ("fika", 15), ("teatime", 16))
                if s.starts(pos, w)
            ),
            None,
        )
        if named is not None:
            hour, minute, second = named[1], 0, 0
            pos += len(named[0])
            continue
        if s.starts(pos, "now"):
            delta = 0
            i = pos + 3
            while True:
                if s[i] in ("+", "-"):
                    sign = s[i]
                    pos += i  # Slurm adds the absolute index to the position here
                    delta, pos = _get_delta(s, pos)
                    if sign == "-":
                        delta = -delta
                    break
                if s[i] in (" ", "\t"):
                    i += 1
                    continue
                if s[i] in ("\0", "\n"):
                    pos += i - 1
                    break
                raise TimeParseError(pos + i)
            t = _time.localtime(now + delta)
            month, mday, year = t.tm_mon - 1, t.tm_mday, t.tm_year
            hour, minute, second = t.tm_hour, t.tm_min, t.tm_sec
            pos += 1
            continue
        if not _digit(ch):
            raise TimeParseError(pos)
        if s[pos + 1] == ":" or s[pos + 2] == ":":
            hour, minute, second, pos = _get_time(s, pos)
        else:
            month, mday, yr, pos = _get_date(s, pos)
            if yr is not None:
                year = yr
        pos += 1
    if hour == -1 and month == -1:
        return 0
    if hour == -1:
        hour, minute = 0, 0
    elif month == -1:
        if past or (hour, minute) > (nowt.tm_hour, nowt.tm_min):
            month, mday, year = nowt.tm_mon - 1, nowt.tm_mday, nowt.tm_year
        else:
            t = _time.localtime(now + 86400)
            month, mday, year = t.tm_mon - 1, t.tm_mday, t.tm_year
    if year == -1:
        if past:
            year = nowt.tm_year - 1 if month > nowt.tm_mon - 1 else nowt.tm_year
        elif (month, mday, hour, minute) > (nowt.tm_mon - 1, nowt.tm_mday, nowt.tm_hour, nowt.tm_min):
            year = nowt.tm_year
        else:
            year = nowt.tm_year + 1
    try:
        return int(_time.mktime((year, month + 1, mday, hour, minute, second, 0, 0, -1)))
    except (OverflowError, ValueError):
        raise TimeParseError(pos) from None


def _time_opt(text: str, now: float) -> int:
    try:
        return parse_time(text, now, past=True)
    except TimeParseError as exc:
        raise SlurmError(f"Invalid time specification (pos={exc.pos}): {text}", 1) from None


# -- command line ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StepSelector:
    """One ``-j`` entry: ``18``, ``18_5``, ``18.batch``, ``18_5.0`` (slurm_parse_step_str)."""

    job_id: int
    task_id: int | None = None
    step: str | None = None  # None: the whole job


@dataclass(slots=True)
class SacctParams:
    """A parsed sacct command line."""

    all_users: bool = False
    users: list[str] | None = None  # -u entries as given (names or uids)
    groups: list[str] | None = None  # -g entries as given (names or gids)
    accounts: list[str] | None = None
    partitions: list[str] | None = None
    names: list[str] | None = None
    states: list[str] | None = None
    steps: list[StepSelector] | None = None
    nodes: list[str] | None = None
    clusters: list[str] | None = None
    all_clusters: bool = False
    start: int = 0
    end: int = 0
    no_steps: bool = False
    duplicates: bool = False
    truncate: bool = False
    header: bool = True
    parsable: int = 0  # 1: -p (trailing delimiter), 2: -P
    delimiter: str | None = None
    noconvert: bool = False
    units: int | None = None  # --units: UNIT_NONE .. UNIT_PETA
    array: bool = False
    script: bool = False
    env_vars: bool = False
    columns: list[Column] = field(default_factory=list)  # the output fields, parsed
    brief: bool = False
    long: bool = False
    help: int = 0  # 1: --help, 2: --helpformat, 3: --usage


LONGOPTS: tuple[LongOpt, ...] = tuple(
    LongOpt(n, a, k)
    for n, a, k in (
        ("allusers", Arg.NONE, "a"),
        ("accounts", Arg.REQUIRED, "A"),
        ("allocations", Arg.NONE, "X"),
        ("array", Arg.NONE, "array"),
        ("brief", Arg.NONE, "b"),
        ("batch-script", Arg.NONE, "B"),
        ("completion", Arg.NONE, "c"),
        ("constraints", Arg.REQUIRED, "C"),
        ("delimiter", Arg.REQUIRED, "delimiter"),
        ("duplicates", Arg.NONE, "D"),
        ("federation", Arg.NONE, "federation"),
        ("helpformat", Arg.NONE, "e"),
        ("help-fields", Arg.NONE, "e"),
        ("endtime", Arg.REQUIRED, "E"),
        ("env-vars", Arg.NONE, "env-vars"),
        ("file", Arg.REQUIRED, "f"),
        ("flags", Arg.REQUIRED, "F"),
        ("gid", Arg.REQUIRED, "g"),
        ("group", Arg.REQUIRED, "g"),
        ("help", Arg.NONE, "h"),
        ("local", Arg.NONE, "local"),
        ("name", Arg.REQUIRED, "name"),
        ("nnodes", Arg.REQUIRED, "i"),
        ("ncpus", Arg.REQUIRED, "I"),
        ("jobs", Arg.REQUIRED, "j"),
        ("timelimit-min", Arg.REQUIRED, "k"),
        ("timelimit-max", Arg.REQUIRED, "K"),
        ("long", Arg.NONE, "l"),
        ("allclusters", Arg.NONE, "L"),
        ("cluster", Arg.REQUIRED, "M"),
        ("clusters", Arg.REQUIRED, "M"),
        ("nodelist", Arg.REQUIRED, "N"),
        ("noconvert", Arg.NONE, "noconvert"),
        ("units", Arg.REQUIRED, "units"),
        ("noheader", Arg.NONE, "n"),
        ("fields", Arg.REQUIRED, "o"),
        ("format", Arg.REQUIRED, "o"),
        ("parsable", Arg.NONE, "p"),
        ("parsable2", Arg.NONE, "P"),
        ("qos", Arg.REQUIRED, "q"),
        ("partition", Arg.REQUIRED, "r"),
        ("reason", Arg.REQUIRED, "R"),
        ("state", Arg.REQUIRED, "s"),
        ("starttime", Arg.REQUIRED, "S"),
        ("truncate", Arg.NONE, "T"),
        ("uid", Arg.REQUIRED, "u"),
        ("use-local-uid", Arg.NONE, "use-local-uid"),
        ("usage", Arg.NONE, "U"),
        ("user", Arg.REQUIRED, "u"),
        ("verbose", Arg.NONE, "v"),
        ("version", Arg.NONE, "V"),
        ("wckeys", Arg.REQUIRED, "W"),
        ("whole-hetjob", Arg.OPTIONAL, "whole-hetjob"),
        ("associations", Arg.REQUIRED, "x"),
        ("json", Arg.NONE, "json"),
        ("yaml", Arg.NONE, "yaml"),
    )
)
SHORTOPTS = "aA:bBcC:DeE:f:F:g:hi:I:j:k:K:lLM:nN:o:pPq:r:s:S:Ttu:UvVW:x:X"


def split_list(text: str) -> list[str]:
    """slurm_parse_char_list: comma-separated, empty items skipped, one leading quote honoured.

    A list that starts with a quote ends at the matching quote; other quotes become backquotes.
    """
    s = text
    if s[:1] in ("'", '"'):
        q = s[0]
        s = s[1:]
        end = s.find(q)
        if end >= 0:
            s = s[:end]
    s = s.replace('"', "`").replace("'", "`")
    out: list[str] = []
    for item in s.split(","):
        if item and item not in out:
            out.append(item)
    return out


def parse_step_list(text: str) -> list[StepSelector]:
    """``-j`` entries (slurm_addto_step_list); raises sacct's fatal messages for bad ones."""
    out: list[StepSelector] = []
    for name in split_list(text):
        if not name[:1].isdigit():
            raise _fatal(f"Bad job/step specified: {name}")
        base, dot, step_text = name.partition(".")
        step: str | None = None
        if dot:
            if step_text in SPECIAL_STEPS:
                step = step_text
            elif step_text[:1].isdigit():
                digits = ""
                for ch in step_text:
                    if not ch.isdigit():
                        break
                    digits += ch
                step = str(int(digits))
                if "+" in step_text:
                    step += "+" + step_text.partition("+")[2]
            else:
                raise _fatal(f"Bad step specified: {base}")
        job_part, under, task_text = base.partition("_")
        task: int | None = None
        if under:
            if not task_text[:1].isdigit():
                raise _fatal(f"Bad job array element specified: {job_part}")
            task = _atoi(task_text)
        elif "+" in base and not (dot and "+" in step_text):
            job_part, _, offset = base.partition("+")
            if not offset[:1].isdigit():
                raise _fatal(f"Bad hetjob offset specified: {job_part}")
            continue  # stratus has no heterogeneous jobs: a component matches nothing
        sel = StepSelector(_atoi(job_part), task, step)
        if sel not in out:
            out.append(sel)
    return out


def _atoi(text: str) -> int:
    digits = ""
    for ch in text:
        if not ch.isdigit():
            break
        digits += ch
    return int(digits) if digits else 0


def _c_atoi(text: str) -> int:
    """C atoi: leading blanks, a sign, digits; 0 when there are none."""
    s = text.lstrip(" \t\n\r\f\v")
    sign = -1 if s[:1] == "-" else 1
    if s[:1] in "+-":
        s = s[1:]
    return sign * _atoi(s)


@dataclass(frozen=True, slots=True)
class _Who:
    """Resolved ``-u``/``-g`` entries: ids, and names the system does not know but jobs carry."""

    ids: frozenset[int]
    names: frozenset[str]

    def matches(self, id_: int, name: str) -> bool:
        return id_ in self.ids or name in self.names


def _resolve(
    tokens: Sequence[str], kind: str, own: tuple[str, int], lookup: Callable[[str], int], seen: set[str]
) -> _Who:
    """uid_from_string/gid_from_string over ``-u``/``-g`` entries.

    A number is an id; a name is looked up on this machine, else accepted when it is the
    caller's own or one the accounting records carry (clients may know users the head node
    does not); anything else is Slurm's ``Invalid user id: X`` / ``Invalid group id: X``.
    """
    ids: set[int] = set()
    names: set[str] = set()
    for name in tokens:
        if name.isdigit():
            ids.add(int(name))
        elif name == own[0] and name:
            ids.add(own[1])
        else:
            try:
                ids.add(lookup(name))
            except KeyError:
                if name not in seen:
                    raise _error(f"Invalid {kind} id: {name}") from None
                names.add(name)
    return _Who(frozenset(ids), frozenset(names))


def _state_list(text: str) -> list[str]:
    out: list[str] = []
    for name in split_list(text):
        state = jobstate.parse_state_name(name)
        if state is None:
            raise _fatal(f"unrecognized job state value '{name}'")
        if state not in SUPPORTED_STATES:
            raise _fatal(f"job state {name} is not supported / accounted")
        if state not in out:
            out.append(state)
    return out


_UNIT_LETTERS = "KMGTP"


def parse_sacct_args(argv: Sequence[str], ctx: ClientContext, now: float) -> SacctParams | CommandResult:
    """Parse argv (without the program name); a CommandResult for ``--version``.

    Option errors are Slurm's: getopt's message (exit 1), ``Invalid time specification``,
    ``unrecognized job state value``, ``Bad job/step specified``, ``Invalid user id``.
    """
    p = SacctParams()
    try:
        opts, rest = getopt_long(PROG, argv, SHORTOPTS, LONGOPTS)
    except OptionError as exc:
        raise SlurmError(str(exc), 1) from None
    fields: list[str] = []
    for key, val in opts:
        v = val or ""
        if key == "a":
            p.all_users = True
        elif key == "A":
            p.accounts = (p.accounts or []) + split_list(v)
        elif key == "array":
            p.array = True
        elif key == "b":
            p.brief = True
        elif key == "B":
            p.script = True
            p.no_steps = True
        elif key in ("c", "f"):
            raise SlurmError("Slurm job completion is disabled", 1)
        elif key == "delimiter":
            p.delimiter = v
        elif key == "D":
            p.duplicates = True
        elif key == "e":
            p.help = 2
        elif key == "E":
            p.end = _time_opt(v, now)
        elif key == "env-vars":
            p.env_vars = True
            p.no_steps = True
        elif key == "g":
            p.groups = (p.groups or []) + split_list(v)
        elif key == "h":
            p.help = 1
        elif key == "j":
            p.steps = (p.steps or []) + parse_step_list(v)
            if not p.steps:
                p.steps = None
        elif key == "l":
            p.long = True
        elif key == "L":
            p.all_clusters = True
        elif key == "M":
            if v.lower() in ("all", "-1"):
                p.all_clusters = True
            else:
                p.all_clusters = False
                p.clusters = (p.clusters or []) + split_list(v)
        elif key == "n":
            p.header = False
        elif key == "N":
            if p.nodes is None:
                try:
                    p.nodes = hostlist.expand(v)
                except hostlist.HostlistError:
                    p.nodes = [v]
        elif key == "name":
            p.names = (p.names or []) + split_list(v)
        elif key == "noconvert":
            p.noconvert = True
        elif key == "o":
            fields.append(v)
        elif key == "p":
            p.parsable = 1
        elif key == "P":
            p.parsable = 2
        elif key == "r":
            p.partitions = (p.partitions or []) + split_list(v)
        elif key == "s":
            p.states = (p.states or []) + [s for s in _state_list(v) if s not in (p.states or [])]
        elif key == "S":
            p.start = _time_opt(v, now)
        elif key == "T":
            p.truncate = True
        elif key == "u":
            if v == "-1":
                p.all_users = True
            else:
                p.all_users = False
                p.users = (p.users or []) + split_list(v)
        elif key == "U":
            p.help = 3
        elif key == "units":
            letter = v[:1].upper()
            if letter not in _UNIT_LETTERS or not letter:
                raise _fatal("Invalid unit type")
            p.units = _UNIT_LETTERS.index(letter) + 1
        elif key == "V":
            return CommandResult(stdout=version_line())
        elif key == "whole-hetjob":
            if val is not None and val.lower() not in ("yes", "y", "no", "n"):
                raise _error(f'Invalid --whole-hetjob value "{val}". Valid values: [yes|no].')
        elif key in ("t", "X"):
            p.no_steps = True
        elif key in ("C", "F", "i", "I", "k", "K", "q", "R", "W", "x"):
            long_name = next(lo.name for lo in LONGOPTS if lo.key == key)
            raise _unsupported(f"-{key}/--{long_name}")
        elif key in ("json", "yaml"):
            raise _unsupported(f"--{key}")
        # --federation, --local, --use-local-uid, -v: nothing to change with one local cluster.
    if not p.steps and (p.script or p.env_vars):
        what = "job scripts" if p.script else "job environment"
        if p.env_vars:
            what = "job environment"
        raise _fatal(f"When requesting {what} you must also request specific jobs with the '-j' option.")
    if p.script and p.env_vars:
        raise _fatal("Options --batch-script and --env-vars are mutually exclusive")
    if p.long and fields:
        raise _fatal(
            "Options -o(--format) and -l(--long) are mutually exclusive. Please remove one and retry."
        )
    _default_window(p, now)
    if p.end and p.start > p.end:
        raise _error(
            f"Start time ({fmt_timestamp(p.start)}) requested is after end time ({fmt_timestamp(p.end)})."
        )
    text = "".join(f + "," for f in fields)
    if p.brief:
        text += BRIEF_FIELDS + ","
    if p.long:
        text += LONG_FIELDS + ","
    if not text:
        text = ctx.env.get("SACCT_FORMAT", DEFAULT_FIELDS) + ","
    p.columns = parse_fields(text)
    if rest:
        raise SlurmError([f"{PROG}: error: Unknown arguments:"] + [f"{PROG}: error:  {a}" for a in rest], 1)
    return p


def _default_window(p: SacctParams, now: float) -> None:
    """slurmdb_job_cond_def_start_end: fill in -S and -E; the end becomes exclusive."""
    nowi = int(now)
    if p.states:
        if not p.start and not p.steps:
            p.start = nowi
        if p.start and not p.end:
            p.end = p.start
    elif not p.steps and not p.start:
        t = _time.localtime(nowi)
        p.start = int(_time.mktime((t.tm_year, t.tm_mon, t.tm_mday, 0, 0, 0, 0, 0, -1)))
    if not p.end:
        p.end = nowi
    if p.end == p.start or p.end == nowi:
        p.end += 1


# -- fields ---------------------------------------------------------------------------------


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
        new_width = _c_atoi(width_text) if pct else None
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
                raise _fatal("AllocGRES has been removed, please use AllocTRES")
            if name.lower() == "reqgres":
                raise _fatal("ReqGRES has been removed, please use ReqTRES")
            raise _error(f'Invalid field requested: "{name}"')
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


# -- records --------------------------------------------------------------------------------


@dataclass(slots=True)
class _Rec:
    """One output line: a job run or a step, with the times Slurm derives for it."""

    row: AcctRow
    is_step: bool
    start: float | None
    end: float | None
    elapsed: int
    start_none: bool = False  # a job that ended without ever starting: Start prints "None"
    user_cpu: float = 0.0
    sys_cpu: float = 0.0
    task_override: int | None = None  # --array: one pending task of a remainder
    job: AcctRow | None = None  # a step's job run (Slurm's step->job_ptr)


@dataclass(frozen=True, slots=True)
class _Ctx:
    noconvert: bool
    units: int | None
    cluster: str


def _window_times(
    start: float | None, end: float | None, p: SacctParams, now: float
) -> tuple[float | None, float | None, int]:
    """(start, end, elapsed) as the accounting plugin derives them (``-T`` truncates)."""
    if end is not None and start is not None and start > end:
        start = end
    if p.truncate:
        win_end = min(float(p.end), now)
        if start and start < p.start:
            start = float(p.start)
        if not end or end > win_end:
            end = win_end
        if not start:
            start = end
        elapsed = int(end - start) if start is not None and end is not None else 0
    elif not start:
        elapsed = 0
    elif not end:
        elapsed = int(now) - int(start)
    else:
        elapsed = int(end) - int(start)
    return start, end, max(elapsed, 0)


def _job_in_window(r: AcctRow, p: SacctParams) -> bool:
    """The accounting database's time and state condition for one job record."""
    s, e = p.start, p.end
    eligible = r.eligible_time or 0
    start = r.start_time or 0
    end = r.end_time or 0
    if not p.states:
        if p.steps:
            return r.submit_time < e and (end >= s or not end)
        return bool(eligible) and eligible < e and (end >= s or not end)
    for state in p.states:
        if state == "PENDING":
            ok = bool(eligible) and (
                (start and s < start)
                or (not start and end and s < end)
                or (not start and not end and r.state == state)
            )
            if ok and e > eligible:
                return True
        elif state == "RUNNING":
            if start and (s < end or (not end and r.state == state)) and e > start:
                return True
        elif state == "SUSPENDED":
            if r.state == state:
                return True
        elif r.state == state and end and s <= end <= e:
            return True
    return False


def _selected(r: AcctRow, sel: StepSelector) -> bool:
    if sel.task_id is not None:
        return r.array_job_id == sel.job_id and r.array_task_id == sel.task_id
    return sel.job_id in (r.job_id, r.array_job_id)


def _job_filter(r: AcctRow, p: SacctParams, users: _Who | None, groups: _Who | None, cluster: str) -> bool:
    if p.clusters is not None and not p.all_clusters and (r.cluster or cluster) not in p.clusters:
        return False
    if p.steps and not any(_selected(r, sel) for sel in p.steps):
        return False
    if users is not None and not users.matches(r.uid, r.user):
        return False
    if groups is not None and not groups.matches(r.gid, r.group):
        return False
    if p.accounts is not None and (r.account or "").lower() not in {a.lower() for a in p.accounts}:
        return False
    if p.partitions is not None and r.partition not in p.partitions:
        return False
    if p.names is not None and r.name not in p.names:
        return False
    if p.nodes is not None and not set(p.nodes) & set(r.nodes):
        return False
    if not p.duplicates and r.state == "REVOKED":
        return False
    return _job_in_window(r, p)


def _users_all(p: SacctParams, ctx_uid: int) -> bool:
    """Whose jobs: everyone's for root, -a, -j and -N (unless -u names users)."""
    if p.users:
        return p.all_users
    return p.all_users or bool(p.steps) or p.nodes is not None or ctx_uid == 0


def _newest_runs(rows: Iterable[AcctRow]) -> list[AcctRow]:
    """Without -D: each job id's newest run only (a resizing record is always kept)."""
    best: dict[int, AcctRow] = {}
    kept: list[AcctRow] = []
    for r in rows:
        if r.state == "RESIZING":
            kept.append(r)
            continue
        cur = best.get(r.job_id)
        if cur is None or (r.restarts, r.submit_time) > (cur.restarts, cur.submit_time):
            best[r.job_id] = r
    return kept + list(best.values())


def _sort_key(r: AcctRow) -> tuple[float, int, int, int, int]:
    task = NO_VAL if r.array_task_id is None else r.array_task_id
    return (r.submit_time, r.array_job_id or 0, task, r.job_id, r.restarts)


def build_records(
    rows: Sequence[AcctRow], p: SacctParams, now: float, ctx: ClientContext, cluster: str
) -> list[_Rec]:
    """Filter, deduplicate and order the store's rows into output lines (jobs, then their steps).

    Raises ``Invalid user id``/``Invalid group id`` for ``-u``/``-g`` names nobody has.
    """
    seen_users = {r.user for r in rows}
    seen_groups = {r.group for r in rows if r.group}
    users: _Who | None = None
    if not _users_all(p, ctx.uid):
        users = (
            _resolve(p.users, "user", (ctx.user, ctx.uid), lambda n: pwd.getpwnam(n).pw_uid, seen_users)
            if p.users
            else _Who(frozenset({ctx.uid}), frozenset())
        )
    groups = (
        _resolve(p.groups, "group", (ctx.group, ctx.gid), lambda n: grp.getgrnam(n).gr_gid, seen_groups)
        if p.groups is not None
        else None
    )
    jobs = [r for r in rows if r.step is None and _job_filter(r, p, users, groups, cluster)]
    if not p.duplicates:
        jobs = _newest_runs(jobs)
    jobs.sort(key=_sort_key)
    steps_of: dict[tuple[int, int], list[AcctRow]] = {}
    for r in rows:
        if r.step is not None:
            steps_of.setdefault((r.job_id, r.restarts), []).append(r)
    out: list[_Rec] = []
    for j in jobs:
        show_job = True
        wanted_steps: set[str] | None = None
        for sel in p.steps or ():
            if not _selected(j, sel):
                continue
            if sel.step is None:
                show_job = True
                break
            wanted_steps = (wanted_steps or set()) | {sel.step}
            show_job = False
        steps: list[_Rec] = []
        if not p.no_steps:
            for st in steps_of.get((j.job_id, j.restarts), ()):
                if wanted_steps is not None and st.step not in wanted_steps:
                    continue
                st_start = st.start_time or 0
                if st_start > p.end or (st.end_time is not None and st.end_time < p.start):
                    continue
                if st.end_time is None and j.end_time is not None:
                    # A step still open when its job ended ended with it, in the job's state.
                    st = replace(st, end_time=j.end_time, state=j.state)
                s0, e0, el = _window_times(st.start_time, st.end_time, p, now)
                steps.append(
                    _Rec(
                        st,
                        True,
                        s0,
                        e0,
                        el,
                        user_cpu=st.user_cpu_s or 0.0,
                        sys_cpu=st.system_cpu_s or 0.0,
                        job=j,
                    )
                )
        if show_job:
            start, end, elapsed = _window_times(j.start_time, j.end_time, p, now)
            # A job that ended without starting prints Start=None (unless -T moved its start).
            rec = _Rec(j, False, start, end, elapsed, start_none=not start and j.end_time is not None)
            # get_data: a job's CPU times are the sums of its finished steps.
            for step_rec in steps:
                if jobstate.is_finished(step_rec.row.state):
                    rec.user_cpu += step_rec.user_cpu
                    rec.sys_cpu += step_rec.sys_cpu
            if p.array and j.array_pending is not None and len(j.array_pending) > 1:
                out.extend(replace(rec, task_override=t) for t in j.array_pending)
            else:
                out.append(rec)
        out.extend(steps)
    return out


# -- values ---------------------------------------------------------------------------------


def _job_id_text(r: AcctRow, task_override: int | None) -> str:
    """slurmdb_get_job_id_str: ``18``, ``18_5``, ``18_[6-64]``."""
    if r.array_job_id is not None:
        if task_override is not None:
            return f"{r.array_job_id}_{task_override}"
        if r.array_pending is not None:
            return f"{r.array_job_id}_[{format_task_ids(r.array_pending)}]"
        if r.array_task_id is not None:
            return f"{r.array_job_id}_{r.array_task_id}"
    return str(r.job_id)


def _cpu_time(secs: float) -> str:
    """sacct's _elapsed_time: ``00:05.123`` below an hour with milliseconds, else ``[D-]HH:MM:SS``."""
    whole = int(secs)
    usecs = round((secs - whole) * 1e6)
    if usecs >= 1000000:
        whole += usecs // 1000000
        usecs %= 1000000
    subsec = usecs // 1000 if usecs > 0 else 0
    s, m, h, d = whole % 60, (whole // 60) % 60, (whole // 3600) % 24, whole // 86400
    if d:
        return f"{d}-{h:02d}:{m:02d}:{s:02d}"
    if h:
        return f"{h:02d}:{m:02d}:{s:02d}"
    if subsec:
        return f"{m:02d}:{s:02d}.{subsec:03d}"
    return f"00:{m:02d}:{s:02d}"


def _size(value: float, unit: int, c: _Ctx) -> str:
    """A size as sacct prints it: converted while exact, or to --units, or kept (--noconvert)."""
    if c.units is not None:
        num = value
        u = unit
        while u < c.units:
            num /= 1024
            u += 1
        while u > c.units:
            num *= 1024
            u -= 1
        if int(num) == 0:
            return "0"
        suffix = "\0KMGTP"[u] if 0 <= u <= 5 else "?"
        suffix = suffix.replace("\0", "")
        return f"{int(num)}{suffix}" if float(int(num)) == num else f"{num:.2f}{suffix}"
    return convert_num_unit(value, unit, noconvert=c.noconvert)


def _exit_text(code: int, signal: int) -> str:
    if signal:
        return f"0:{signal}"
    return f"{code - 128 if code >= 128 else code}:0"


def _tres(pairs: Mapping[str, str]) -> str | None:
    """A TRES string as sacct prints it: ``name=value`` sorted by text."""
    if not pairs:
        return None
    return ",".join(sorted(f"{k}={v}" for k, v in pairs.items()))


def _mem_total(r: AcctRow) -> int | None:
    return r.req_mem_mb * max(r.num_nodes, 1) if r.req_mem_mb else None


def _alloc_tres(rec: _Rec, c: _Ctx) -> str | None:
    r = rec.row
    if not rec.is_step and not r.nodes:
        return None
    pairs = {"cpu": str(r.num_cpus), "node": str(r.num_nodes)}
    if not rec.is_step:
        pairs["billing"] = str(r.num_cpus)
        mem = _mem_total(r)
        if mem:
            pairs["mem"] = _size(float(mem), UNIT_MEGA, c)
        if r.req_gpus:
            pairs["gres/gpu"] = str(r.req_gpus * max(r.num_nodes, 1))
    return _tres(pairs)


def _req_tres(rec: _Rec, c: _Ctx) -> str | None:
    r = rec.row
    if rec.is_step:
        return None
    pairs = {"billing": str(r.req_cpus), "cpu": str(r.req_cpus), "node": str(r.num_nodes)}
    mem = _mem_total(r)
    if mem:
        pairs["mem"] = _size(float(mem), UNIT_MEGA, c)
    if r.req_gpus:
        pairs["gres/gpu"] = str(r.req_gpus * max(r.num_nodes, 1))
    return _tres(pairs)


Value = str | int | None


def _date(t: float | None, none: bool = False) -> str:
    if none:
        return "None"
    return fmt_timestamp(t)


def field_value(name: str, rec: _Rec, c: _Ctx) -> Value:
    """The value of field ``name`` for one line (None: blank, as Slurm prints missing data)."""
    r = rec.row
    job = not rec.is_step
    jr = rec.job if rec.job is not None else r  # job-level values of a step come from its job
    if name == "Account":
        return jr.account
    if name in ("AllocCPUS", "NCPUS"):
        return r.num_cpus
    if name == "AllocNodes":
        return str(r.num_nodes if (rec.is_step or r.nodes) else 0)
    if name == "AllocTRES":
        return _alloc_tres(rec, c)
    if name == "Cluster":
        return jr.cluster or c.cluster
    if name == "CPUTime":
        return rec.elapsed * r.num_cpus
    if name == "CPUTimeRAW":
        return rec.elapsed * r.num_cpus
    if name == "DerivedExitCode":
        return _exit_text(r.derived_exit_code, r.derived_exit_signal) if job else ""
    if name == "Elapsed" or name == "ElapsedRaw":
        return rec.elapsed
    if name == "Eligible":
        return _date(r.eligible_time if job else rec.start)
    if name == "End":
        return _date(rec.end)
    if name == "ExitCode":
        return _exit_text(r.exit_code, r.exit_signal)
    if name == "GID":
        return r.gid if job else None
    if name == "Group":
        if not job:
            return None
        if r.group and not r.group.isdigit():
            return r.group
        try:
            return grp.getgrgid(r.gid).gr_name
        except (KeyError, OverflowError):
            return None
    if name == "JobID":
        text = _job_id_text(jr, rec.task_override)
        return f"{text}.{r.step}" if rec.is_step else text
    if name == "JobIDRaw":
        return f"{jr.job_id}.{r.step}" if rec.is_step else str(r.job_id)
    if name == "JobName":
        return r.name
    if name == "MaxRSS":
        return (
            _size(float(r.max_rss_kb) * 1024, UNIT_NONE, c)
            if rec.is_step and r.max_rss_kb is not None
            else ""
        )
    if name == "MaxVMSize":
        return (
            _size(float(r.max_vmem_kb) * 1024, UNIT_NONE, c)
            if rec.is_step and r.max_vmem_kb is not None
            else ""
        )
    if name == "NNodes":
        return r.num_nodes
    if name == "NodeList":
        text = hostlist.compress(r.nodes)
        return text if text else ("None assigned" if job else None)
    if name == "NTasks":
        return r.num_tasks if rec.is_step else None
    if name == "Partition":
        return r.partition if job else None
    if name == "Priority":
        return r.priority if job else None
    if name == "Reason":
        return r.reason if job else None
    if name == "ReqCPUS":
        return r.req_cpus if job else r.num_cpus
    if name == "ReqMem":
        mem = _mem_total(r) if job else None
        return _size(float(mem), UNIT_MEGA, c) if mem else ""
    if name == "ReqNodes":
        return _size(float(r.num_nodes), UNIT_NONE, c)
    if name == "ReqTRES":
        return _req_tres(rec, c)
    if name == "Restarts":
        return r.restarts if job else None
    if name == "Start":
        return _date(rec.start, none=job and rec.start_none)
    if name == "State":
        if r.state == "CANCELLED" and r.state_by_uid is not None:
            return f"CANCELLED by {r.state_by_uid}"
        return r.state
    if name == "Submit":
        return _date(r.submit_time if job else rec.start)
    if name == "Suspended":
        return 0
    if name == "SystemCPU":
        return _cpu_time(rec.sys_cpu)
    if name == "Timelimit":
        if not job:
            return None
        return (
            "UNLIMITED"
            if r.time_limit_min is None
            else (fmt_mins_long(r.time_limit_min) if r.time_limit_min else None)
        )
    if name == "TimelimitRaw":
        if not job:
            return None
        return (
            "UNLIMITED" if r.time_limit_min is None else (str(r.time_limit_min) if r.time_limit_min else None)
        )
    if name == "TotalCPU":
        return _cpu_time(rec.user_cpu + rec.sys_cpu)
    if name == "UID":
        return r.uid if job else None
    if name == "User":
        return r.user if job else None
    if name == "UserCPU":
        return _cpu_time(rec.user_cpu)
    if name == "WorkDir":
        return r.workdir if job else None
    return None


# -- printing (src/common/print_fields.c) ---------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Printer:
    parsable: int
    delimiter: str | None

    def sep(self, last: bool) -> str:
        if self.parsable == 2 and last:
            return ""
        return self.delimiter if self.delimiter is not None else "|"

    def header(self, cols: Sequence[Column]) -> str:
        if self.parsable:
            parts = [col.fdef.name + self.sep(i == len(cols) - 1) for i, col in enumerate(cols)]
            return "".join(parts) + "\n"
        names = "".join(_justify(col.fdef.name[: abs(col.width)], col.width) + " " for col in cols)
        dashes = "".join("-" * abs(col.width) + " " for col in cols)
        return names + "\n" + dashes + "\n"

    def cell(self, col: Column, value: Value, last: bool) -> str:
        kind = col.fdef.kind
        width = col.width
        n = abs(width)
        if kind == "date":
            text = "" if value is None else str(value)[:n]
            return text + self.sep(last) if self.parsable else _justify(text, width) + " "
        if kind in ("uint", "secs"):
            if value is None:
                return self.sep(last) if self.parsable else " " * max(n, 1) + " "
            text = fmt_secs_long(int(value)) if kind == "secs" else str(value)
            return text + self.sep(last) if self.parsable else _justify(text, width) + " "
        if self.parsable:
            return ("" if value is None else str(value)) + self.sep(last)
        if value is None:
            return _justify(" "[:n], width) + " "
        text = str(value)
        if len(text) > n:
            text = text[: n - 1] + "+" if n > 0 else ""
        return _justify(text, width) + " "


def _justify(text: str, width: int) -> str:
    """printf ``%*s``: right-justified for a positive width, left for a negative one."""
    return text.rjust(width) if width >= 0 else text.ljust(-width)


# -- the command ----------------------------------------------------------------------------


def run_sacct(argv: Sequence[str], ctx: ClientContext, backend: SlurmBackend) -> CommandResult:
    """Run sacct against ``backend``'s accounting store and print as Slurm does."""
    now = backend.now()
    parsed = parse_sacct_args(argv, ctx, now)
    if isinstance(parsed, CommandResult):
        return parsed
    p = parsed
    cols = p.columns
    if p.help == 1:
        return CommandResult(stdout=HELP)
    if p.help == 2:
        return CommandResult(stdout=help_fields())
    if p.help == 3:
        return CommandResult(stdout=USAGE)
    if p.clusters is not None and not p.all_clusters and backend.cluster_name not in p.clusters:
        rows: list[AcctRow] = []
    else:
        rows = list(backend.accounting(_query(p, ctx)))
    recs = build_records(rows, p, now, ctx, backend.cluster_name)
    if p.script or p.env_vars:
        return CommandResult(stdout="".join(_script_text(rec, p.script) for rec in recs if not rec.is_step))
    c = _Ctx(p.noconvert, p.units, backend.cluster_name)
    printer = _Printer(p.parsable, p.delimiter)
    out: list[str] = []
    if p.header:
        out.append(printer.header(cols))
    for rec in recs:
        line = [
            printer.cell(col, field_value(col.fdef.name, rec, c), i == len(cols) - 1)
            for i, col in enumerate(cols)
        ]
        out.append("".join(line) + "\n")
    return CommandResult(stdout="".join(out))


def _query(p: SacctParams, ctx: ClientContext) -> AcctQuery:
    """What to ask the store: a superset of what sacct lists, filtered exactly afterwards."""
    job_ids = tuple(dict.fromkeys(sel.job_id for sel in p.steps or ()))
    users: tuple[str, ...] = ()
    if not _users_all(p, ctx.uid):
        # Names narrow the store's search; numeric ids are matched here afterwards.
        wanted = p.users or [ctx.user]
        if not any(u.isdigit() for u in wanted):
            users = tuple(wanted)
    return AcctQuery(
        job_ids=job_ids, users=users, start=float(p.start) if p.start else None, end=float(p.end)
    )


def _script_text(rec: _Rec, script: bool) -> str:
    """``-B``/``--env-vars``: stratus keeps neither in accounting, so Slurm's ``NONE``."""
    job_id = _job_id_text(rec.row, rec.task_override)
    head = (
        f"Batch Script for {job_id}"
        if script
        else f"Environment used for {job_id} (must be batch to display)"
    )
    return f"{head}\n{'-' * 80}\nNONE\n\n"


USAGE = "Usage: sacct [options]\n\tUse --help for help\n"

HELP = """\
sacct [<OPTION>]
     Valid <OPTION> values are:
     -a, --allusers:
                   Display jobs for all users. By default, only the
                   current user's jobs are displayed.  If ran by user root
                   this is the default.
     -A, --accounts:
                   Use this comma separated list of accounts to select jobs
                   to display.  By default, all accounts are selected.
         --array:
                   Expand job arrays. Display array tasks on separate lines
                   instead of consolidating them to a single line.
     -b, --brief:
                   Equivalent to '--format=jobstep,state,error'.
     -B, --batch-script:
                   Print batch script of job.
                   NOTE: Requesting specific job(s) with '-j' is required
                         for this.
         --delimiter:
                   ASCII characters used to separate the fields when
                   specifying the  -p  or  -P options. The default delimiter
                   is a '|'. This options is ignored if -p or -P options
                   are not specified.
     -D, --duplicates:
                   If Slurm job ids are reset, some job numbers may
                   appear more than once referring to different jobs.
                   Without this option only the most recent jobs will be
                   displayed.
     -e, --helpformat:
                   Print a list of fields that can be specified with the
                   '--format' option
     -E, --endtime:
                   Select jobs eligible before this time.  If states are
                   given with the -s option return jobs in this state before
                   this period.
         --env-vars:
                   Print the environment to launch the batch script of job.
                   NOTE: Requesting specific job(s) with '-j' is required
                         for this.
     -g, --gid, --group:
                   Use this comma separated list of gids or group names
                   to select jobs to display.  By default, all groups are
                   selected.
     -h, --help:   Print this description of use.
     -j, --jobs:
                   Format is <job(.step)>. Display information about this
                   job or comma-separated list of jobs. The default is all
                   jobs. Adding .step will display the specific job step of
                   that job. (A step id of 'batch' will display the
                   information about the batch step.)
     -l, --long:
                   Equivalent to specifying
                   '--format=jobid,jobidraw,jobname,partition,maxvmsize,
                             maxvmsizenode,maxvmsizetask,avevmsize,maxrss,
                             maxrssnode,maxrsstask,averss,maxpages,
                             maxpagesnode,maxpagestask,avepages,mincpu,
                             mincpunode,mincputask,avecpu,ntasks,alloccpus,
                             elapsed,state,exitcode,avecpufreq,reqcpufreqmin,
                             reqcpufreqmax,reqcpufreqgov,reqmem,
                             consumedenergy,maxdiskread,maxdiskreadnode,
                             maxdiskreadtask,avediskread,maxdiskwrite,
                             maxdiskwritenode,maxdiskwritetask,avediskwrite,
                             reqtres,alloctres,
                             tresusageinave,tresusageinmax,tresusageinmaxn,
                             tresusageinmaxt,tresusageinmin,tresusageinminn,
                             tresusageinmint,tresusageintot,tresusageoutmax,
                             tresusageoutmaxn,tresusageoutmaxt,
                             tresusageoutave,tresusageouttot
     -L, --allclusters:
                   Display jobs ran on all clusters. By default, only jobs
                   ran on the cluster from where sacct is called are
                   displayed.
     -M, --clusters:
                   Only send data about these clusters. Use "all" for all
                   clusters.
     -n, --noheader:
                   No header will be added to the beginning of output.
                   The default is to print a header.
     --noconvert:
                   Don't convert units from their original type
                   (e.g. 2048M won't be converted to 2G).
     -N, --nodelist:
                   Display jobs that ran on any of these nodes,
                   can be one or more using a ranged string.
     --name:
                   Display jobs that have any of these name(s).
     -o, --format:
                   Comma separated list of fields. (use "--helpformat"
                   for a list of available fields).
     -p, --parsable: output will be '|' delimited with a '|' at the end
     -P, --parsable2: output will be '|' delimited without a '|' at the end
     -r, --partition:
                   Comma separated list of partitions to select jobs and
                   job steps from. The default is all partitions.
     -s, --state:
                   Select jobs based on their current state or the state
                   they were in during the time period given: running (r),
                   completed (cd), failed (f), timeout (to), resizing (rs),
                   deadline (dl) and node_fail (nf).
     -S, --starttime:
                   Select jobs eligible after this time.  Default is
                   00:00:00 of the current day, unless '-s' is set then
                   the default is 'now'.
     -T, --truncate:
                   Truncate time.  So if a job started before --starttime
                   the start time would be truncated to --starttime.
                   The same for end time and --endtime.
     -u, --uid, --user:
                   Use this comma separated list of uids or user names
                   to select jobs to display.  By default, the running
                   user's uid is used.
     --units=[KMGTP]:
                   Display values in specified unit type. Takes precedence
                   over --noconvert option.
     --usage:      Display brief usage message.
     -V, --version: Print version.
     -X, --allocations:
                   Only show statistics relevant to the job allocation
                   itself, not taking steps into consideration.

     Note, valid start/end time formats are...
                   HH:MM[:SS] [AM|PM]
                   MMDD[YY] or MM/DD[/YY] or MM.DD[.YY]
                   MM/DD[/YY]-HH:MM[:SS]
                   YYYY-MM-DD[THH:MM[:SS]]
                   now[{+|-}count[seconds(default)|minutes|hours|days|weeks]]

"""

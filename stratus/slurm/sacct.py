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
* ``Cost`` is stratus's own field (in no Slurm version): what the job has cost in USD, with
  four decimals, right-justified like Slurm's numbers (:mod:`stratus.engine.cost` says how it
  is worked out). It is in no default, ``-l``, ``-e`` or ``ALL`` list; ``-o``/``--format``
  select it (``cos`` is enough). A job line carries the job's cost up to the end of its run,
  every earlier run included: the newest run's line (the only one without ``-D``) is the job's
  whole cost, every attempt counted, up to now while it runs; with ``-D`` each earlier run's
  line shows the cost up to its end, so consecutive lines differ by that run's own cost. Step
  lines (``.batch``, ``.0``) are blank: the job's machines are charged to the job, not shared
  out among its steps. ``-T`` does not truncate it.
* Fields stratus has no data for print blank: energy, disk and page counters, CPU
  frequencies, ``AveCPU``/``AveRSS``/``MinCPU``, the ``TRESUsage*`` fields, ``QOS``,
  ``AssocID``, ``WCKey``, ``Flags``, ``Layout``, ``SubmitLine``, ``Reserved``.
* ``-C``, ``-F``, ``-i``, ``-I``, ``-k``, ``-K``, ``-q``, ``-R``, ``-W``, ``-x``, ``--json``
  and ``--yaml`` are refused with a message; ``-c``/``-f`` answer ``Slurm job completion is
  disabled`` as a cluster without job completion logging does. ``-B``/``--env-vars`` print
  ``NONE`` for every job (scripts and environments are not kept in accounting).
* ``SLURM_TIME_FORMAT`` is not applied to dates.

This module runs the command. The parts: :mod:`~stratus.slurm.sacct_args` (the command line),
:mod:`~stratus.slurm.sacct_time` (``-S``/``-E`` times), :mod:`~stratus.slurm.sacct_fields` (the field
table), :mod:`~stratus.slurm.sacct_records` (which rows, in what order) and
:mod:`~stratus.slurm.sacct_values` (values and printing).
"""

from __future__ import annotations

from collections.abc import Sequence

from stratus.slurm.cparse import isdigits
from stratus.slurm.sacct_args import SacctParams, parse_sacct_args
from stratus.slurm.sacct_fields import help_fields
from stratus.slurm.sacct_records import Record, build_records, users_all
from stratus.slurm.sacct_values import Printer, ValueContext, field_value, job_id_text
from stratus.slurm.views import AcctQuery, AcctRow, ClientContext, CommandResult, SlurmBackend

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
    c = ValueContext(p.noconvert, p.units, backend.cluster_name)
    printer = Printer(p.parsable, p.delimiter)
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
    if not users_all(p, ctx.uid):
        # Names narrow the store's search; numeric ids are matched here afterwards.
        wanted = p.users or [ctx.user]
        if not any(isdigits(u) for u in wanted):
            users = tuple(wanted)
    return AcctQuery(
        job_ids=job_ids, users=users, start=float(p.start) if p.start else None, end=float(p.end)
    )


def _script_text(rec: Record, script: bool) -> str:
    """``-B``/``--env-vars``: stratus keeps neither in accounting, so Slurm's ``NONE``."""
    job_id = job_id_text(rec.row, rec.task_override)
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

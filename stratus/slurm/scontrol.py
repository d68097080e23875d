"""``scontrol``: show jobs, nodes, partitions, the configuration and hostlists; hold, release,
requeue and update jobs — printed and worded like Slurm 22.05.

Where the output comes from (Slurm's ``src/api/job_info.c``, ``node_info.c``,
``partition_info.c`` and ``src/scontrol``):

* Records are ``Key=Value`` lines indented by three spaces, each record followed by a blank
  line (``-o``: one line per record, ending in a space). Field order, optional lines and the
  trailing spaces some lines carry are Slurm's.
* ``show job ID`` loads what ``slurm_load_job`` returns: the job itself, and for an array job
  id every record of the array (the pending remainder first, then the split-off tasks newest
  first). ``ID_TASK`` picks the task's record, or the pending remainder printed as that one
  task (``JobId=18 ArrayJobId=18 ArrayTaskId=5``). An unknown job is
  ``slurm_load_jobs error: Invalid job id specified`` on stderr (exit 1); a known array
  without the task is ``Job 18_20 not found`` on *stdout* (exit 1), as in Slurm.
* ``TRES=`` is the allocation once a job has started and the request before: a pending job
  that never ran asks for the memory of the first node of its partition when it gave no
  ``--mem`` (``job_get_tres_mem``), which is why it shows ``mem=24105M`` until it starts.
* Keywords and entities accept Slurm's abbreviations (``scontrol sho j 18``, ``show part``) by
  the same minimum lengths; ``scontrol update`` keys are matched case-insensitively by
  Slurm's prefixes (``jobid=``, ``timel=``).
* Job actions (``hold``, ``uhold``, ``release``, ``requeue``, ``requeuehold``, ``update``)
  go to :meth:`SlurmBackend.control`, one request per job argument as scontrol sends one RPC
  per argument. Job ids are read with scancel's parser. Whole-job refusals come back in
  :attr:`ControlResult.failures` and print ``<reason> for job <id>``, followed for hold and
  release by scontrol's ``slurm_suspend error: <reason>``; other lines in
  :attr:`ControlResult.errors` are printed as they are.

Known differences from Slurm 22.05 (stratus does not keep these values):

* ``AllocNode:Sid`` shows the head node's short host name and session 0.
* ``LastSchedEval`` is the start time of a started job, else its eligible time once that has
  passed, else its submit time; ``Scheduler`` is always ``Main``; ``MCS_label`` is ``N/A``.
* ``-d`` adds ``DerivedExitCode=0:0`` (stratus runs no job steps yet) but not the per-node
  ``CPU_IDs`` lines.
* ``show node`` prints ``Arch``/``OS`` only when the backend reports them, never ``Port``;
  ``CurrentWatts=0 AveWatts=0`` and ``ExtSensorsWatts=0`` are constants.
* ``show config`` lists only what stratus has: ``ClusterName``, ``MaxArraySize``,
  ``SLURM_VERSION``, and whatever the backend's optional ``slurm_config()`` mapping adds.
* Job ids are read as scancel reads them: job-id ranges such as ``[18-20]`` are refused as
  invalid ids, and the requeue flags ``Incomplete``/``State=SpecialExit`` are accepted but do
  not change how stratus requeues.
* Node and partition updates, reservations, steps, suspend/resume and the interactive prompt
  are refused with a message naming the missing feature (exit 1).

This module reads the options and dispatches the keyword. The parts: :mod:`~stratus.slurm.scontrol_session`
(output, keyword matching), :mod:`~stratus.slurm.scontrol_show`, :mod:`~stratus.slurm.scontrol_records`
(record formats), :mod:`~stratus.slurm.scontrol_actions` (hold, release, requeue) and
:mod:`~stratus.slurm.scontrol_update`.
"""

from __future__ import annotations

from collections.abc import Sequence

from stratus.slurm import version_line
from stratus.slurm.errors import SlurmError, check_clusters
from stratus.slurm.options import Arg, LongOpt, OptionError, getopt_long
from stratus.slurm.scontrol_actions import job_action
from stratus.slurm.scontrol_records import short_host
from stratus.slurm.scontrol_session import PROG, USAGE, Session, kw, kw_fixed
from stratus.slurm.scontrol_show import run_show
from stratus.slurm.scontrol_update import run_update
from stratus.slurm.views import ClientContext, CommandResult, SlurmBackend

LONGOPTS: tuple[LongOpt, ...] = tuple(
    LongOpt(n, a, k)
    for n, a, k in (
        ("all", Arg.NONE, "a"),
        ("cluster", Arg.REQUIRED, "M"),
        ("clusters", Arg.REQUIRED, "M"),
        ("details", Arg.NONE, "d"),
        ("federation", Arg.NONE, "federation"),
        ("future", Arg.NONE, "F"),
        ("help", Arg.NONE, "h"),
        ("hide", Arg.NONE, "hide"),
        ("local", Arg.NONE, "local"),
        ("oneliner", Arg.NONE, "o"),
        ("quiet", Arg.NONE, "Q"),
        ("sibling", Arg.NONE, "sibling"),
        ("uid", Arg.REQUIRED, "u"),
        ("usage", Arg.NONE, "h"),
        ("verbose", Arg.NONE, "v"),
        ("version", Arg.NONE, "V"),
    )
)
SHORTOPTS = "adhM:FoQu:vV"


# -- the command -------------------------------------------------------------------------------


def _process(s: Session, words: Sequence[str]) -> None:
    """scontrol's _process_command: the first word picks the keyword, by Slurm's abbreviations."""
    tag = words[0]
    unsupported = (
        ("abort", 5), ("cancel_reboot", 3), ("completing", 2), ("cluster", 2), ("create", 2),
        ("errnumstr", 2), ("errnostr", 2), ("gethost", 7), ("hash_file", 15), ("hash", 9),
    )  # fmt: skip
    if kw(tag, "all", 2) or kw(tag, "details", 1) or kw(tag, "exit", 2):
        return
    for name, n in unsupported:
        if kw(tag, name, n):
            s.error(f"{PROG}: error: {name} is not supported by stratus", always=True)
            return
    if kw(tag, "help", 2):
        if len(words) > 1:
            s.error(f"too many arguments for keyword:{tag}", always=True)
        s.out.append(USAGE)
    elif kw(tag, "hide", 2) or kw(tag, "oneliner", 1):
        return
    elif kw(tag, "pidinfo", 3):
        s.error(f"{PROG}: error: pidinfo is not supported by stratus", always=True)
    elif kw(tag, "ping", 3):
        if len(words) > 1:
            s.error(f"too many arguments for keyword:{tag}", always=True)
        else:
            s.out.append(f"Slurmctld(primary) at {short_host()} is UP\n")
    elif kw_fixed(tag, "\\q") or kw(tag, "quiet", 4) or kw(tag, "quit", 4):
        return
    elif kw(tag, "reboot_nodes", 3) or kw(tag, "reconfigure", 3):
        s.error(f"{PROG}: error: {tag} is not supported by stratus", always=True)
    elif kw(tag, "requeue", 3):
        job_action(s, "requeue", words)
    elif kw_fixed(tag, "requeuehold"):
        job_action(s, "requeuehold", words)
    elif kw_fixed(tag, "holdu") or kw_fixed(tag, "uhold"):
        job_action(s, "uhold", words)
    elif kw_fixed(tag, "hold"):
        job_action(s, "hold", words)
    elif kw(tag, "release", 3):
        job_action(s, "release", words)
    elif any(kw(tag, name, n) for name, n in (
        ("suspend", 2), ("resume", 3), ("top", 3), ("token", 3), ("wait_job", 2),
        ("setdebugflags", 9), ("fsdampeningfactor", 3), ("fairsharedampeningfactor", 3),
        ("setdebug", 2), ("schedloglevel", 3),
    )):  # fmt: skip
        s.error(f"{PROG}: error: {tag} is not supported by stratus", always=True)
    elif kw(tag, "show", 3):
        run_show(s, words)
    elif any(kw(tag, name, n) for name, n in (("write", 5), ("takeover", 8), ("shutdown", 8))):
        s.error(f"{PROG}: error: {tag} is not supported by stratus", always=True)
    elif kw(tag, "update", 1):
        run_update(s, words)
    elif kw(tag, "delete", 1):
        s.error(f"{PROG}: error: delete is not supported by stratus", always=True)
    elif kw(tag, "verbose", 4):
        return
    elif kw(tag, "version", 4):
        s.out.append(version_line())
    elif any(kw(tag, name, n) for name, n in (("listpids", 1), ("getent", 6), ("notify", 1),
                                               ("callerid", 3))):  # fmt: skip
        s.error(f"{PROG}: error: {tag} is not supported by stratus", always=True)
    else:
        s.error(f"invalid keyword: {tag}", always=True)


def run_scontrol(argv: Sequence[str], ctx: ClientContext, backend: SlurmBackend) -> CommandResult:
    """Parse scontrol's options, run its one command against ``backend``, print as Slurm does."""
    if "SLURM_CLUSTERS" in ctx.env:
        check_clusters(PROG, ctx.env["SLURM_CLUSTERS"], backend.cluster_name, from_env=True)
    try:
        opts, words = getopt_long(PROG, argv, SHORTOPTS, LONGOPTS)
    except OptionError as exc:
        raise SlurmError([str(exc), f'Try "{PROG} --help" for more information'], 1) from None
    s = Session(ctx, backend)
    for key, val in opts:
        if key == "d":
            s.details = True
        elif key == "h":
            return CommandResult(stdout=USAGE)
        elif key == "hide":
            s.details = False
        elif key == "M":
            check_clusters(PROG, val or "", backend.cluster_name)
        elif key == "o":
            s.one_liner = True
        elif key == "Q":
            s.quiet = 1
        elif key == "v":
            s.quiet = -1
        elif key == "V":
            return CommandResult(stdout=version_line())
        # -a/--all, -F/--future, -u/--uid, --federation, --local, --sibling: nothing to change.
    if not words:
        raise SlurmError(
            f"{PROG}: error: interactive mode is not supported by stratus; give the command as arguments", 1
        )
    _process(s, words)
    return s.result()

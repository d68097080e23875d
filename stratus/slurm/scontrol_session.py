"""One scontrol invocation: its flags, what it prints, and how its keywords are matched.

Guarantees: error lines go to stderr unless ``-Q`` silences them (some are printed
regardless, as scontrol prints them), any error makes the command exit 1, and keywords are
abbreviations by Slurm's minimum lengths (``xstrncasecmp``). The usage text is here because
``help`` and a bad ``show hostlist`` both print it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from stratus.slurm.views import ClientContext, CommandResult, SlurmBackend

PROG = "scontrol"


# -- output collection -------------------------------------------------------------------------


@dataclass(slots=True)
class Session:
    """One scontrol invocation: its flags and what it has printed so far."""

    ctx: ClientContext
    backend: SlurmBackend
    one_liner: bool = False
    details: bool = False
    quiet: int = 0  # 1: -Q (no error messages), -1: -v (verbose), 0: default
    out: list[str] = field(default_factory=list)
    err: list[str] = field(default_factory=list)
    exit_code: int = 0
    need_file: str | None = None

    def error(self, line: str, *, always: bool = False) -> None:
        """An error line on stderr (not with ``-Q`` unless ``always``); the command exits 1."""
        self.exit_code = 1
        if always or self.quiet != 1:
            self.err.append(line + "\n")

    def result(self) -> CommandResult:
        if self.need_file is not None:
            return CommandResult(need_file=self.need_file)
        return CommandResult(stdout="".join(self.out), stderr="".join(self.err), exit_code=self.exit_code)


# -- keyword matching (xstrncasecmp with Slurm's minimum lengths) ------------------------------


def kw(tag: str, name: str, min_len: int) -> bool:
    """``xstrncasecmp(tag, name, MAX(strlen(tag), min_len)) == 0``: an abbreviation of ``name``.

    The tag must be a prefix of the name at least ``min_len`` long, or the whole name.
    """
    t, n = tag.lower(), name.lower()
    return n.startswith(t) and (len(t) >= min_len or t == n)


def kw_fixed(tag: str, name: str) -> bool:
    """``xstrncasecmp(tag, name, strlen(name)) == 0``: the tag starts with the whole name."""
    return tag.lower().startswith(name.lower())


USAGE = """\
scontrol [<OPTION>] [<COMMAND>]
    Valid <OPTION> values are:
     -a or --all: equivalent to "all" command
     -d or --details: equivalent to "details" command
     -h or --help: equivalent to "help" command
     -M or --cluster: equivalent to "cluster" command
     -o or --oneliner: equivalent to "oneliner" command
     -Q or --quiet: equivalent to "quiet" command
     -v or --verbose: equivalent to "verbose" command
     -V or --version: equivalent to "version" command

  <keyword> may be omitted from the execute line and scontrol will execute
  in interactive mode (not available with stratus).
    Valid <COMMAND> values are:
     help                     show this description of use.
     hold <job_list>          prevent specified job from starting. <job_list>
                              is either a space separate list of job IDs or
                              job names
     ping                     print status of slurmctld daemons.
     release <job_list>       permit specified job to start (see hold).
     requeue <job_id>         re-queue a batch job
     requeuehold <job_id>     re-queue and hold a batch
     show <ENTITY> [<ID>]     display state of identified entity, default
                              is all records.
     uhold <job_list>         place user hold on specified job (see hold).
     update <SPECIFICATIONS>  update job configuration.
     version                  display tool version number.

  <ENTITY> may be "config", "hostnames", "hostlist", "hostlistsorted",
       "job", "licenses", "node", "partition" or "reservation".

  <ID> may be a configuration parameter name, job id, node name, partition
       name, hostlist or hostnames.

  Node names may be specified using simple range expressions,
  (e.g. "lx[10-20]" corresponds to lx10, lx11, lx12, ...)
  The job step id is the job id followed by a period and the step id.

  <SPECIFICATIONS> are specified in the same format as the configuration
  file. You may wish to use the "show" keyword then use its output as
  input for the update keyword, editing as needed.  Bracketed names are
  optional.

  All commands and options are case-insensitive, although node names and
  partition names tests are case-sensitive (node names "LX" and "lx"
  are distinct).
"""

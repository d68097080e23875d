"""``sbatch``: from argv, ``#SBATCH`` lines and ``SBATCH_*`` variables to a :class:`BatchRequest`.

The order of evaluation is Slurm's (src/sbatch/opt.c), and so are its consequences:

1. A first pass over the command line finds syntax errors (``unrecognized option``, exit 255),
   ``--help``/``--usage``/``--version``, ``--wrap`` and the script name; script arguments
   with ``--wrap`` are refused.
2. The script is read (file, generated ``--wrap`` script, or the client's stdin) and checked:
   empty, whitespace only, no ``#!``, NUL bytes, DOS line breaks.
3. Options are applied in increasing precedence: ``#SBATCH`` lines, then ``SBATCH_*``
   environment variables, then the command line. (Environment variables override the script,
   as Slurm documents; the command line overrides both.) A bad value exits 255 with Slurm's
   message (``Invalid --time specification``); a bad number exits 1.
4. Consistency checks and defaults (job name, ``--ntasks-per-node`` implying ``--ntasks``).
5. What slurmctld checks without knowing the cluster (array and dependency syntax) is
   checked last, with its wording (``Batch job submission failed: ...``, exit 1).

Checks that need the cluster (partition names, resource fit) belong to the backend's
``submit``, using the message factories of :mod:`stratus.slurm.errors`.

This module runs the steps above. The parts: :mod:`~stratus.slurm.sbatch_options` (the option and
environment tables), :mod:`~stratus.slurm.sbatch_values` (each option's value, applied to the
request) and :mod:`~stratus.slurm.sbatch_script` (the script and its ``#SBATCH`` lines).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from stratus.slurm import errors, version_line
from stratus.slurm.arrays import DEFAULT_MAX_ARRAY_SIZE, ArraySpecError, parse_array
from stratus.slurm.depend import DependencyError, parse_dependency
from stratus.slurm.errors import SlurmError, check_clusters
from stratus.slurm.options import OptionError, getopt_long
from stratus.slurm.sbatch_options import (
    ENV_OPTIONS,
    EXIT_ERROR,
    HELP,
    LONGOPTS,
    PROG,
    SHORTOPTS,
    USAGE,
    sbatch_error,
    usage_error,
)
from stratus.slurm.sbatch_script import (
    check_script,
    directive_args,
    resolve_script,
    script_bytes,
    wrap_script,
)
from stratus.slurm.sbatch_values import OptionState
from stratus.slurm.timefmt import fmt_timestamp
from stratus.slurm.views import BatchRequest, ClientContext, CommandResult, SlurmBackend


@dataclass(slots=True)
class ParsedSbatch:
    """The outcome of parsing: a request to submit, or output to give right away."""

    request: BatchRequest | None = None
    result: CommandResult | None = None  # --help/--version, or "send me your stdin"
    quiet: bool = False
    warnings: list[str] = field(default_factory=list)
    clusters_from_env: bool = False  # -M came from SBATCH_CLUSTERS/SLURM_CLUSTERS


def _early_result(opts: Sequence[tuple[str, str | None]]) -> CommandResult | None:
    for key, _val in opts:
        if key == "h":
            return CommandResult(stdout=HELP)
        if key == "usage":
            return CommandResult(stdout=USAGE)
        if key == "V":
            return CommandResult(stdout=version_line())
    return None


def parse_sbatch(
    argv: Sequence[str],
    ctx: ClientContext,
    now: float,
    max_array_size: int = DEFAULT_MAX_ARRAY_SIZE,
) -> ParsedSbatch:
    """Turn an sbatch command line (without the program name) into a :class:`BatchRequest`.

    Raises :class:`SlurmError` for anything sbatch itself would refuse. Returns
    ``ParsedSbatch(result=CommandResult(need_stdin=True))`` when the script must come from the
    client's stdin and ``ctx.stdin`` is not set yet.
    """
    try:
        first, rest = getopt_long(PROG, argv, SHORTOPTS, LONGOPTS)
    except OptionError as exc:
        # sbatch acts on early options as getopt returns them: --help before a typo wins.
        early = _early_result(exc.parsed)
        if early is not None:
            return ParsedSbatch(result=early)
        raise usage_error(exc) from None
    early = _early_result(first)
    if early is not None:
        return ParsedSbatch(result=early)
    wrap: str | None = None
    quiet = False
    for key, val in first:
        if key == "wrap":
            wrap = val or ""
        if key == "Q":
            quiet = True
    if rest and wrap is not None:
        raise sbatch_error("Script arguments not permitted with --wrap option", EXIT_ERROR)

    script_path: str | None = None
    script_args: list[str] = []
    if wrap is not None:
        script = wrap_script(wrap)
        fname = "stdin"
    elif rest:
        script_path = resolve_script(rest[0], ctx.cwd, ctx.env)
        script_args = list(rest[1:])
        body = script_bytes(rest[0], script_path, ctx)
        if body is None:
            return ParsedSbatch(result=CommandResult(need_file=rest[0]))
        script = check_script(body)
        fname = os.path.basename(script_path)
    else:
        if ctx.stdin is None:
            return ParsedSbatch(result=CommandResult(need_stdin=True))
        script = check_script(ctx.stdin)
        fname = "stdin"

    opts = OptionState(cwd=ctx.cwd, now=now)
    # 1. #SBATCH directives.
    dargs, warnings = directive_args(script, fname)
    try:
        dopts, drest = getopt_long(PROG, dargs, SHORTOPTS, LONGOPTS)
    except OptionError as exc:
        raise usage_error(exc) from None
    if drest:
        raise sbatch_error(f"Invalid directive found in batch script: {drest[0]}")
    for key, val in dopts:
        opts.apply(key, val)
    # 2. SBATCH_* environment variables.
    for var, key in ENV_OPTIONS:
        if var in ctx.env:
            opts.apply(key, ctx.env[var], from_env=True)
    # 3. The command line.
    for key, val in first:
        opts.apply(key, val)

    request = _verify(opts, ctx, script, script_path, script_args, wrap is not None, warnings)
    try:
        _check_controller_syntax(request, opts, max_array_size)
    except SlurmError as exc:
        if "test-only" in request.extra:
            raise _will_run_failure(exc) from None
        raise
    from_env = any(var in ctx.env for var in ("SBATCH_CLUSTERS", "SLURM_CLUSTERS")) and not any(
        key == "M" for key, _ in first
    )
    return ParsedSbatch(request=request, quiet=quiet, warnings=warnings, clusters_from_env=from_env)


def _verify(
    opts: OptionState,
    ctx: ClientContext,
    script: str,
    script_path: str | None,
    script_args: list[str],
    is_wrap: bool,
    warnings: list[str],
) -> BatchRequest:
    """sbatch's _opt_verify(): defaults and consistency rules."""
    opts.resolve_memory()
    req = opts.request
    ntasks = req.ntasks
    min_nodes, max_nodes = req.min_nodes, req.max_nodes
    if req.ntasks_per_node is not None and ntasks is None and (max_nodes is None or min_nodes == max_nodes):
        ntasks = (min_nodes or 1) * req.ntasks_per_node
    elif min_nodes is not None and ntasks is not None and req.ntasks is not None:
        if max_nodes is not None and ntasks < max_nodes:
            max_nodes = ntasks
        if ntasks < min_nodes:
            warnings.append(
                f"{PROG}: Warning: can't run {ntasks} processes on {min_nodes} nodes, "
                f"setting nnodes to {ntasks}"
            )
            min_nodes = max_nodes = ntasks
    if is_wrap:
        default_name = "wrap"
    elif script_path is not None:
        default_name = os.path.basename(script_path)
    else:
        default_name = "sbatch"
    return replace(
        req,
        script=script,
        script_args=script_args,
        script_path=script_path,
        name=req.name if req.name is not None else default_name,
        min_nodes=min_nodes,
        max_nodes=max_nodes,
        ntasks=ntasks,
        workdir=req.workdir or ctx.cwd,
        extra=dict(req.extra),
    )


def _check_controller_syntax(request: BatchRequest, opts: OptionState, max_array_size: int) -> None:
    """What slurmctld rejects before looking at the cluster: array and dependency syntax."""
    if opts.array_text is not None:
        try:
            request.array = parse_array(opts.array_text, max_array_size)
        except ArraySpecError:
            raise errors.invalid_array() from None
    if request.dependency:
        try:
            parse_dependency(request.dependency)
        except DependencyError:
            raise errors.dependency_problem() from None


def _will_run_failure(exc: SlurmError) -> SlurmError:
    """A controller's refusal as ``sbatch --test-only`` reports it: slurm_perror's single line
    ``allocation failure: <Slurm error>``, exit 1 (no ``sbatch: error:`` lines)."""
    if exc.reason is None:
        return exc  # refused by sbatch itself, before asking the controller
    return SlurmError(f"allocation failure: {exc.reason}", 1)


def run_sbatch(argv: Sequence[str], ctx: ClientContext, backend: SlurmBackend) -> CommandResult:
    """Parse, submit through ``backend``, and print what sbatch prints."""
    parsed = parse_sbatch(argv, ctx, backend.now(), backend.max_array_size)
    if parsed.result is not None:
        return parsed.result
    request = parsed.request
    assert request is not None
    clusters = request.extra.get("clusters")
    if clusters is not None:
        check_clusters(PROG, clusters, backend.cluster_name, parsed.clusters_from_env)
    if "test-only" in request.extra:
        # Nothing is submitted: say when and where it would start (sbatch's info line).
        try:
            job_id, start, nodes, cpus, partition = backend.estimate(request, ctx)
        except SlurmError as exc:
            raise _will_run_failure(exc) from None
        return CommandResult(
            stderr=f"{PROG}: Job {job_id} to start at {fmt_timestamp(start)} using {cpus} processors "
            f"on nodes {nodes} in partition {partition}\n"
        )
    job_id = backend.submit(request, ctx)
    wait_job = job_id if "wait" in request.extra else None
    stderr = "".join(w + "\n" for w in parsed.warnings)
    if parsed.quiet:
        return CommandResult(stderr=stderr, wait_job=wait_job)
    # With -M, sbatch names the cluster it submitted to.
    if request.parsable:
        suffix = f";{backend.cluster_name}" if clusters is not None else ""
        return CommandResult(stdout=f"{job_id}{suffix}\n", stderr=stderr, wait_job=wait_job)
    suffix = f" on cluster {backend.cluster_name}" if clusters is not None else ""
    return CommandResult(stdout=f"Submitted batch job {job_id}{suffix}\n", stderr=stderr, wait_job=wait_job)

"""sbatch's option values: each option's value checked and applied to the request being built.

Guarantees: a value sbatch refuses fails with its message and exit code (255 for a bad
specification, 1 for a bad number); an option given again replaces the earlier value, except
``--mail-type``, which accumulates as in Slurm; options without behaviour in stratus are kept
in ``BatchRequest.extra`` under their long name.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field

from stratus.slurm import errors
from stratus.slurm.cparse import isdigits, strtol
from stratus.slurm.errors import SlurmError, command_fatal
from stratus.slurm.sacct_time import TimeParseError, parse_time
from stratus.slurm.sbatch_options import EARLY_KEYS, EXIT_ERROR, EXIT_USAGE, LONG_BY_KEY, PROG, sbatch_error
from stratus.slurm.timefmt import TimeSpecError, duration_mins, duration_secs, parse_mem_mb
from stratus.slurm.views import BatchRequest
from stratus.staging.spec import MAX_TRANSFERS, StagingSpecError
from stratus.staging.spec import parse as parse_staging

NICE_LIMIT = 0x80000000 - 3


# Options whose effect stratus cannot provide yet; refusing them is better than silently
# submitting a job the user asked only to test, or returning before it ends.
_UNSUPPORTED: set[str] = set()
_MAIL_TYPES = {
    "NONE", "ARRAY_TASKS", "BEGIN", "END", "FAIL", "INVALID_DEPEND", "REQUEUE", "ALL",
    "STAGE_OUT", "TIME_LIMIT", "TIME_LIMIT_90", "TIME_LIMIT_80", "TIME_LIMIT_50",
}  # fmt: skip


def _parse_int(name: str, val: str, positive: bool = True) -> int:
    """parse_int(): a whole decimal number; exit 1 with Slurm's message otherwise."""
    s = val.strip()
    ok = isdigits(s.lstrip("+-"))
    n = int(s) if ok else 0
    if not ok or n < 0 or (positive and n <= 0):
        raise sbatch_error(f'Invalid numeric value "{val}" for {name}.', EXIT_ERROR)
    return n


def _str_to_nodes(text: str) -> tuple[int, str]:
    """A node count with an optional k/m multiplier, and the unparsed rest."""
    n, end = strtol(text, 0)
    rest = text[end:]
    if rest[:1] in ("k", "K"):
        n, rest = n * 1024, rest[1:]
    elif rest[:1] in ("m", "M"):
        n, rest = n * 1048576, rest[1:]
    return n, rest


def parse_nodes(text: str) -> tuple[int, int | None]:
    """``-N min[-max]`` (verify_node_count): ``(min, max)``, max ``None`` when open-ended.

    Raises SlurmError with Slurm's wording (exit 255) for a malformed count.
    """
    if "-" in text:
        lo_s, _, hi_s = text.partition("-")
        lo, rest = _str_to_nodes(lo_s)
        if rest.strip():
            raise sbatch_error(f'"{lo_s}" is not a valid node count')
        lo = max(lo, 1) if lo < 0 else lo
        hi, rest = _str_to_nodes(hi_s)
        if rest.strip():
            raise sbatch_error(f'"{hi_s}" is not a valid node count')
    else:
        lo, rest = _str_to_nodes(text)
        if rest.strip() or lo < 0:
            raise sbatch_error(f'"{text}" is not a valid node count')
        hi = lo
    if hi != 0 and hi < lo:
        raise sbatch_error(f"Maximum node count {hi} is less than minimum node count {lo}")
    return lo, (hi if hi > 0 else None)


def _begin(text: str, now: float) -> float:
    """``--begin`` read by Slurm's parse_time (looking ahead, not back).

    A time it cannot read fails as sbatch does: parse_time's own line, ``Invalid time
    specification (pos=N): <text>``, then ``sbatch: error: Invalid --begin specification``
    (exit 255); text that names no time at all gets only the second line.
    """
    try:
        value = parse_time(text, now, past=False)
    except TimeParseError as exc:
        where = f"Invalid time specification (pos={exc.pos}): {text}"  # parse_time's own line
        raise SlurmError([where, f"{PROG}: error: Invalid --begin specification"], EXIT_USAGE) from None
    if value == 0:
        raise sbatch_error("Invalid --begin specification")
    return float(value)


@dataclass(frozen=True, slots=True)
class GpuRequest:
    """A parsed GPU request: ``count`` GPUs, optionally of one ``type``."""

    count: int
    type: str | None = None


def parse_gpu_count(text: str) -> GpuRequest:
    """``--gpus``/``--gpus-per-node`` value: ``N``, ``type:N``, ``gpu:N``, ``gpu:type:N``."""
    parts = text.split(":")
    if parts and parts[0] == "gpu":
        parts = parts[1:]
    if len(parts) == 1 and isdigits(parts[0]):
        return GpuRequest(int(parts[0]))
    if len(parts) == 2 and isdigits(parts[1]) and parts[0]:
        return GpuRequest(int(parts[1]), parts[0])
    raise ValueError(text)


def parse_gres(text: str) -> tuple[GpuRequest | None, list[str]]:
    """``--gres=gpu[:type][:N][,other...]``: the GPU part and the other GRES entries as given."""
    gpu: GpuRequest | None = None
    others: list[str] = []
    if text.lower() == "none":
        return None, []
    for item in text.split(","):
        item = item.removeprefix("gres:")
        if not item:
            raise ValueError(text)
        fields = item.split(":")
        if fields[0] != "gpu":
            others.append(item)
            continue
        if len(fields) == 1:
            gpu = GpuRequest(1)
        elif len(fields) == 2:
            gpu = GpuRequest(int(fields[1])) if isdigits(fields[1]) else GpuRequest(1, fields[1])
        elif len(fields) == 3 and isdigits(fields[2]) and fields[1]:
            gpu = GpuRequest(int(fields[2]), fields[1])
        else:
            raise ValueError(text)
    return gpu, others


@dataclass(slots=True)
class OptionState:
    """The options applied so far, in increasing precedence.

    Whatever is a :class:`BatchRequest` field is stored straight into ``request``, so that
    dataclass is the one list of the request's fields; ``array_text`` waits for the checks
    slurmctld makes last.
    """

    cwd: str
    now: float
    request: BatchRequest = field(default_factory=lambda: BatchRequest(script=""))
    array_text: str | None = None
    # The memory options given (mem, mem-per-cpu, mem-per-gpu): whether each was last set by
    # an SBATCH_* variable rather than by the script or the command line.
    mem_from_env: dict[str, bool] = field(default_factory=dict)

    def resolve_memory(self) -> None:
        """Slurm's _validate_memory_options: at most one of ``--mem``, ``--mem-per-cpu`` and
        ``--mem-per-gpu`` on the command line and in the script (``sbatch: fatal``, exit 1);
        the one given there wins over the variables; two variables alone are fatal too."""
        given = [k for k, env in self.mem_from_env.items() if not env]
        if len(given) > 1:
            raise command_fatal(PROG, "--mem, --mem-per-cpu, and --mem-per-gpu are mutually exclusive.")
        if not given and len(self.mem_from_env) > 1:
            raise command_fatal(
                PROG, "SLURM_MEM_PER_CPU, SLURM_MEM_PER_GPU, and SLURM_MEM_PER_NODE are mutually exclusive."
            )
        keep = given[0] if given else next(iter(self.mem_from_env), None)
        r = self.request
        if keep != "mem":
            r.mem_per_node_mb = None
        if keep != "mem-per-cpu":
            r.mem_per_cpu_mb = None
        if keep != "mem-per-gpu":
            r.extra.pop("mem-per-gpu", None)

    def apply(self, key: str, val: str | None, *, from_env: bool = False) -> None:
        """Set one option (``from_env``: from an ``SBATCH_*`` variable); raise SlurmError with
        sbatch's message for a bad value."""
        v = val if val is not None else ""
        r = self.request
        if key in ("mem", "mem-per-cpu", "mem-per-gpu"):
            self.mem_from_env[key] = from_env
        if key in EARLY_KEYS:
            # Handled in the first pass over the command line only: sbatch keeps that pass's
            # --quiet, so a "#SBATCH -Q" line does not silence the job id.
            return
        if key in _UNSUPPORTED:
            raise sbatch_error(f"--{LONG_BY_KEY[key]} is not supported by stratus yet", EXIT_ERROR)
        if key == "J":
            r.name = v
        elif key == "p":
            r.partitions = [p for p in v.split(",") if p]
        elif key == "N":
            r.min_nodes, r.max_nodes = parse_nodes(v)
        elif key == "n":
            r.ntasks = _parse_int("--ntasks", v)
        elif key == "c":
            r.cpus_per_task = _parse_int("--cpus-per-task", v)
        elif key == "ntasks-per-node":
            r.ntasks_per_node = _parse_int("--ntasks-per-node", v)
        elif key == "mem":
            try:
                r.mem_per_node_mb = parse_mem_mb(v)
            except ValueError:
                raise sbatch_error("Invalid --mem specification") from None
        elif key == "mem-per-cpu":
            try:
                r.mem_per_cpu_mb = parse_mem_mb(v)
            except ValueError:
                raise sbatch_error("Invalid --mem-per-cpu specification") from None
        elif key == "t":
            try:
                mins = duration_mins(v)
                secs = duration_secs(v)
            except TimeSpecError:
                raise sbatch_error("Invalid --time specification") from None
            # Slurm: 0 means no limit; a negative value wraps to an enormous unsigned limit.
            r.time_unlimited = mins is None or mins <= 0
            r.time_limit_min = None if r.time_unlimited else mins
            r.time_limit_s = None if r.time_unlimited else secs
        elif key == "a":
            self.array_text = v
        elif key == "D":
            r.workdir = posixpath.join(self.cwd, v)  # absolute v as is; "/" + "x" is "/x", not "//x"
        elif key == "o":
            r.stdout = v
        elif key == "e":
            r.stderr = v
        elif key == "i":
            r.stdin = v
        elif key == "parsable":
            r.parsable = True
        elif key == "H":
            r.hold = True
        elif key == "nice":
            n = strtol(v, 0)[0] if val is not None else 100
            if abs(n) > NICE_LIMIT:
                raise sbatch_error(f"Invalid --nice value, out of range (+/- {NICE_LIMIT})")
            r.nice = n
        elif key == "exclusive":
            if val is None or v.lower() == "exclusive":
                r.exclusive = True
            elif v.lower() in ("user", "mcs", "oversubscribe"):
                r.exclusive = False
                r.extra["exclusive"] = v.lower()
            else:
                raise sbatch_error("Invalid --exclusive specification")
        elif key == "gres":
            try:
                gpu, others = parse_gres(v)
            except ValueError:
                raise errors.invalid_gres() from None
            if gpu is not None:
                r.gpus_per_node, r.gpu_type = gpu.count, gpu.type
            if others:
                r.extra["gres"] = ",".join(others)
        elif key in ("G", "gpus-per-node"):
            try:
                req = parse_gpu_count(v)
            except ValueError:
                raise errors.submit_failed(errors.INVALID_TRES) from None
            if key == "G":
                r.gpus = req.count
            else:
                r.gpus_per_node = req.count
            r.gpu_type = req.type or r.gpu_type
        elif key == "requeue":
            r.requeue = True
        elif key == "no-requeue":
            r.requeue = False
        elif key == "open-mode":
            if v[:1] in ("a", "A"):
                r.open_mode = "append"
            elif v[:1] in ("t", "T"):
                r.open_mode = "truncate"
            else:
                raise sbatch_error("Invalid --open-mode specification")
        elif key == "A":
            r.account = v
        elif key == "comment":
            r.comment = v
        elif key == "mail-type":
            # Unknown words are ignored, as in Slurm; the option accumulates over repeats.
            known = [t.upper() for t in v.split(",") if t.upper() in _MAIL_TYPES]
            if not known:
                raise sbatch_error("Invalid --mail-type specification")
            if "NONE" in known:
                # Slurm ORs the parsed bits into what earlier options set; NONE adds nothing.
                r.mail_type = r.mail_type or "NONE"
            else:
                prev = [t for t in (r.mail_type or "").split(",") if t and t != "NONE"]
                r.mail_type = ",".join(dict.fromkeys([*prev, *known]))
        elif key == "mail-user":
            r.mail_user = v
        elif key in ("stage-in", "stage-out"):
            # Each option adds its transfers (repeatable; commas or newlines separate several).
            try:
                transfers = parse_staging(v, stage_in=key == "stage-in")
            except StagingSpecError as exc:
                raise sbatch_error(f"--{key}: {exc}", EXIT_ERROR) from None
            entries = r.stage_in if key == "stage-in" else r.stage_out
            entries.extend(t.to_list() for t in transfers)
            if len(entries) > MAX_TRANSFERS:
                raise sbatch_error(f"--{key}: at most {MAX_TRANSFERS} transfers are allowed", EXIT_ERROR)
        elif key == "export":
            r.export = v
        elif key == "b":
            r.begin_time = _begin(v, self.now)
        elif key == "d":
            r.dependency = v
        elif key == "C":
            r.constraint = v
        else:
            r.extra[LONG_BY_KEY.get(key, key)] = v

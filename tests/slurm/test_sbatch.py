"""sbatch parsing: directives, precedence, option values, scripts, errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from stratus.slurm.errors import SlurmError
from stratus.slurm.sbatch import parse_sbatch
from stratus.slurm.sbatch_script import directive_args, wrap_script
from stratus.slurm.views import BatchRequest

from .helpers import FakeBackend, at, make_ctx, queue1, run, static_node

NOW = at("10:00:00")
FAILED = "sbatch: error: Batch job submission failed: "


def parse(tmp: Path, argv: list[str], script: str | None = None, **env: str) -> BatchRequest:
    if script is not None:
        (tmp / "job.sh").write_text(script)
        argv = [*argv, "job.sh"]
    parsed = parse_sbatch(argv, make_ctx(cwd=str(tmp), **env), NOW)
    assert parsed.request is not None
    return parsed.request


def fails(tmp: Path, argv: list[str], script: str | None = None, **env: str) -> SlurmError:
    with pytest.raises(SlurmError) as info:
        parse(tmp, argv, script, **env)
    return info.value


SCRIPT = """#!/bin/bash
#SBATCH -J fromscript
#SBATCH --ntasks=4 --time=10   # a comment after the options
#SBATCH -o 'out file-%j.log'
#SBATCH --mail-type=END,FAIL
# an ordinary comment

#SBATCH --partition=gpu
srun hostname
#SBATCH --nodes=9
"""


def test_directives(tmp_path: Path) -> None:
    req = parse(tmp_path, [], SCRIPT)
    assert (req.name, req.ntasks, req.time_limit_min, req.stdout) == ("fromscript", 4, 10, "out file-%j.log")
    assert req.partitions == ["gpu"]
    assert req.mail_type == "END,FAIL"
    assert req.min_nodes is None  # after the first command: ignored
    assert req.script == SCRIPT
    assert req.script_path == f"{tmp_path}/job.sh"
    assert req.workdir == str(tmp_path)


def test_precedence_command_line_over_environment_over_script(tmp_path: Path) -> None:
    assert parse(tmp_path, [], SCRIPT).name == "fromscript"
    assert parse(tmp_path, [], SCRIPT, SBATCH_JOB_NAME="fromenv").name == "fromenv"
    assert parse(tmp_path, ["-J", "fromcli"], SCRIPT, SBATCH_JOB_NAME="fromenv").name == "fromcli"
    req = parse(tmp_path, ["--time=5"], SCRIPT, SBATCH_TIMELIMIT="7", SBATCH_PARTITION="p2")
    assert (req.time_limit_min, req.partitions) == (5, ["p2"])


def test_directive_syntax() -> None:
    script = (
        '#!/bin/sh\n#SBATCH -J "a b" --comment=x\\ y\n  #SBATCH -n 3\n#SBATCH\t-c 2\n#SBATCH --x #y z\nls\n'
    )
    # As in Slurm, a backslash does not protect a blank: "x\ y" is two words.
    assert directive_args(script, "s") == (["-J", "a b", "--comment=x", "y", "-c", "2", "--x"], [])
    args, warnings = directive_args("#!/bin/sh\n#SLURM -n 2\n", "s")
    assert args == ["-n", "2"]
    assert warnings == [
        "sbatch: error: Change from #SLURM to #SBATCH in your script and "
        "verify the options are valid in sbatch"
    ]
    with pytest.raises(SlurmError) as info:
        directive_args("#!/bin/sh\n#SBATCH -J 'oops\n", "job.sh")
    assert info.value.lines == ["sbatch: fatal: job.sh: line 2: Unmatched `'` in [#SBATCH -J 'oops]"]


def test_bad_directives(tmp_path: Path) -> None:
    err = fails(tmp_path, [], "#!/bin/sh\n#SBATCH stray\n")
    assert (err.lines, err.exit_code) == (
        ["sbatch: error: Invalid directive found in batch script: stray"],
        255,
    )
    err = fails(tmp_path, [], "#!/bin/sh\n#SBATCH --nope\n")
    assert err.lines == ["sbatch: unrecognized option '--nope'", 'Try "sbatch --help" for more information']


@pytest.mark.parametrize(
    ("argv", "lines", "code"),
    [
        (["-n", "abc"], ['sbatch: error: Invalid numeric value "abc" for --ntasks.'], 1),
        (["-c", "0"], ['sbatch: error: Invalid numeric value "0" for --cpus-per-task.'], 1),
        (["-N", "x"], ['sbatch: error: "x" is not a valid node count'], 255),
        (["-N", "4-2"], ["sbatch: error: Maximum node count 2 is less than minimum node count 4"], 255),
        (["--mem=lots"], ["sbatch: error: Invalid --mem specification"], 255),
        (["--mem-per-cpu=1Q"], ["sbatch: error: Invalid --mem-per-cpu specification"], 255),
        (["--open-mode=x"], ["sbatch: error: Invalid --open-mode specification"], 255),
        (["--exclusive=x"], ["sbatch: error: Invalid --exclusive specification"], 255),
        (["--mail-type=sometimes"], ["sbatch: error: Invalid --mail-type specification"], 255),
        # parse_time's own line comes first (Slurm 22.05, src/common/parse_time.c).
        (["--begin=whenever"], ["Invalid time specification (pos=0): whenever",
                                "sbatch: error: Invalid --begin specification"], 255),
        (["--nice=9999999999"], ["sbatch: error: Invalid --nice value, out of range (+/- 2147483645)"], 255),
        (["--gres=gpu:a:b:c"], [FAILED + "Invalid generic resource (gres) specification"], 1),
        (["--gpus=x:y:z"], [FAILED + "Invalid Trackable RESource (TRES) specification"], 1),
        (["--dependency=afterok:5+0"], [FAILED + "Job dependency problem"], 1),
    ],
)  # fmt: skip
def test_bad_values(tmp_path: Path, argv: list[str], lines: list[str], code: int) -> None:
    err = fails(tmp_path, [*argv, "--wrap=true"])
    assert (err.lines, err.exit_code) == (lines, code)


def test_values(tmp_path: Path) -> None:
    req = parse(
        tmp_path,
        ["-N", "2-4", "--gres=gpu:a100:2", "--exclusive", "--no-requeue", "--open-mode=append", "-H",
         "--nice", "-A", "proj", "--comment", "hi", "--export=NONE", "-D", "sub", "-i", "in.txt",
         "-e", "err-%j", "--mem-per-cpu=2G", "--begin=now+1hour", "-d", "afterok:1:2,afterany:3_4",
         "-C", "skylake", "--mail-user=a@b", "--qos=high", "-t", "1-00:00:00", "--wrap=true"],
    )  # fmt: skip
    assert (req.min_nodes, req.max_nodes) == (2, 4)
    assert (req.gpus_per_node, req.gpu_type) == (2, "a100")
    assert (req.exclusive, req.requeue, req.open_mode, req.hold, req.nice) == (
        True,
        False,
        "append",
        True,
        100,
    )
    assert (req.account, req.comment, req.export) == ("proj", "hi", "NONE")
    assert (req.workdir, req.stdin, req.stderr) == (f"{tmp_path}/sub", "in.txt", "err-%j")
    assert (req.mem_per_cpu_mb, req.time_limit_min, req.time_unlimited) == (2048, 1440, False)
    assert req.begin_time == NOW + 3600
    assert (req.dependency, req.constraint, req.mail_user) == ("afterok:1:2,afterany:3_4", "skylake", "a@b")
    assert req.extra == {"qos": "high"}
    assert req.name == "wrap"


def test_time_limits(tmp_path: Path) -> None:
    assert parse(tmp_path, ["-t", "UNLIMITED", "--wrap=x"]).time_unlimited
    assert parse(tmp_path, ["-t", "0", "--wrap=x"]).time_unlimited
    assert parse(tmp_path, ["-t", "-5", "--wrap=x"]).time_unlimited
    assert parse(tmp_path, ["-t", "90", "--wrap=x"]).time_limit_min == 90
    assert parse(tmp_path, ["--wrap=x"]).time_limit_min is None


def test_nodes_tasks_and_gpus(tmp_path: Path) -> None:
    req = parse(tmp_path, ["-N", "3", "--ntasks-per-node=2", "--wrap=x"])
    assert (req.min_nodes, req.max_nodes, req.ntasks) == (3, 3, 6)
    req = parse(tmp_path, ["-N", "4", "-n", "2", "--wrap=x"])
    assert (req.min_nodes, req.max_nodes) == (2, 2)
    res = run(_backend(), "sbatch -N 4 -n 2 --wrap=x", make_ctx(cwd=str(tmp_path)))
    assert res.stderr == "sbatch: Warning: can't run 2 processes on 4 nodes, setting nnodes to 2\n"
    assert parse(tmp_path, ["-G", "4", "--wrap=x"]).gpus == 4
    assert parse(tmp_path, ["--gpus-per-node=v100:1", "--wrap=x"]).gpus_per_node == 1
    assert parse(tmp_path, ["--gres=gpu", "--wrap=x"]).gpus_per_node == 1
    assert parse(tmp_path, ["--gres=gpu:2,craynetwork:1", "--wrap=x"]).extra == {"gres": "craynetwork:1"}


def _backend() -> FakeBackend:
    nodes = [static_node()]
    return FakeBackend(clock=NOW, node_rows=nodes, part_rows=[queue1(nodes)], next_id=7)


def test_scripts(tmp_path: Path) -> None:
    err = fails(tmp_path, [], "   \n\n")
    assert err.lines == ["sbatch: error: Batch script contains only whitespace!"]
    err = fails(tmp_path, [], "#!/bin/sh\r\ntrue\r\n")
    assert err.lines[0] == "sbatch: error: Batch script contains DOS line breaks (\\r\\n)"
    err = fails(tmp_path, [], "#!/bin/sh\n\0\n")
    assert err.lines[1] == "sbatch: error: contain a NULL character '\\0'."
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "onpath.sh").write_text("#!/bin/sh\ntrue\n")
    req = parse(tmp_path, ["onpath.sh", "a", "b"], PATH=f"{tmp_path}/bin")
    assert (req.script_path, req.script_args, req.name) == (
        f"{tmp_path}/bin/onpath.sh",
        ["a", "b"],
        "onpath.sh",
    )


def test_stdin_and_wrap(tmp_path: Path) -> None:
    b = _backend()
    res = run(b, "sbatch -J x", make_ctx(cwd=str(tmp_path)))
    assert res.need_stdin and b.submitted == []
    res = run(b, "sbatch -J x", make_ctx(cwd=str(tmp_path), stdin=b"#!/bin/sh\n#SBATCH -n 2\ntrue\n"))
    assert res.stdout == "Submitted batch job 7\n"
    assert (b.submitted[0].name, b.submitted[0].ntasks, b.submitted[0].script_path) == ("x", 2, None)
    assert wrap_script("echo hi") == "#!/bin/sh\n# This script was created by sbatch --wrap.\n\necho hi\n"
    assert run(b, "sbatch -Q --wrap=true").stdout == ""
    quiet_script = b"#!/bin/sh\n#SBATCH -Q\ntrue\n"
    assert run(b, "sbatch", make_ctx(cwd=str(tmp_path), stdin=quiet_script)).stdout.startswith("Submitted")
    assert run(b, "sbatch --parsable --wrap=true").stdout == "10\n"


def test_clusters(tmp_path: Path) -> None:
    b = _backend()
    b.cluster_name = "demo"
    ctx = make_ctx(cwd=str(tmp_path))
    assert run(b, "sbatch -M demo --wrap=true", ctx).stdout == "Submitted batch job 7 on cluster demo\n"
    assert run(b, "sbatch --parsable -M demo --wrap=true", ctx).stdout == "8;demo\n"
    res = run(b, "sbatch -M other --wrap=true", ctx)
    assert res.exit_code == 1 and "invalid entry for --cluster." in res.stderr
    res = run(b, "sbatch --wrap=true", make_ctx(cwd=str(tmp_path), SLURM_CLUSTERS="other"))
    assert "invalid entry for SLURM_CLUSTERS." in res.stderr
    assert len(b.submitted) == 2


def test_help_version_usage(tmp_path: Path) -> None:
    b = _backend()
    assert run(b, "sbatch -V").stdout.startswith("slurm 22.05.8 (stratus ")
    assert run(b, "sbatch --help --bogus").stdout.startswith("Usage: sbatch")  # --help acts first
    assert run(b, "sbatch --bogus --help").exit_code == 255
    assert run(b, "sbatch --usage").stdout.startswith("Usage: sbatch [-N nnodes]")
    assert b.submitted == []

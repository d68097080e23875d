"""srun's and salloc's options read as Slurm 22.05 reads them; srun's file name patterns and where a
step's output goes. Messages and exit codes are Slurm 22.05's."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from stratus.cli.salloc import SALLOC_SHORTOPTS, parse_salloc, sbatch_argv
from stratus.cli.srun import (
    MPI_LIST,
    SRUN_SHORTOPTS,
    IoMode,
    Outputs,
    TaskPlace,
    expand_pattern,
    io_mode,
    parse_srun,
    pattern_fields,
    task_ranges,
)
from stratus.slurm.errors import SlurmError, submit_failed
from stratus.slurm.sbatch_options import as_command


def refused(*argv: str, env: dict[str, str] | None = None) -> tuple[list[str], int]:
    with pytest.raises(SlurmError) as info:
        parse_srun(list(argv), env or {}, "/work", 0.0)
    return info.value.lines, info.value.exit_code


def test_submitits_srun_line_reads_its_output_files() -> None:
    """submitit's batch script: ``srun --unbuffered --output F --error F python ...``."""
    opts = parse_srun(
        [
            "--unbuffered",
            "--output",
            "/l/%j_%t_log.out",
            "--error",
            "/l/%j_%t_log.err",
            "python",
            "-u",
            "-m",
            "x",
        ],
        {},
        "/work",
        0.0,
    )
    assert opts.command == ["python", "-u", "-m", "x"]
    assert (opts.request.stdout, opts.request.stderr) == ("/l/%j_%t_log.out", "/l/%j_%t_log.err")
    assert opts.alloc_argv == []  # output files shape the step, not an allocation


def test_allocation_options_go_to_the_allocation_in_sbatchs_spelling() -> None:
    opts = parse_srun(
        ["-p", "q1", "-N2", "-A", "acct", "-q", "hi", "--gres=gpu:1", "-t", "1:00", "--mem", "1G",
         "-C", "a&b", "-w", "n[1-2]", "-x", "n3", "-J", "x", "-l", "-K", "--mpi=pmix", "-o", "f", "-W", "3",
         "bash"],
        {},
        "/work",
        0.0,
    )  # fmt: skip
    assert opts.alloc_argv == [
        "--partition=q1", "--nodes=2", "--account=acct", "--qos=hi", "--gres=gpu:1", "--time=1:00",
        "--mem=1G", "--constraint=a&b", "--nodelist=n[1-2]", "--exclude=n3", "--job-name=x",
    ]  # fmt: skip
    assert (opts.label, opts.kill_on_bad_exit, opts.mpi, opts.wait_s) == (True, True, "pmix", 3)
    assert opts.request.min_nodes == 2 and opts.request.extra["nodelist"] == "n[1-2]"
    # A value starting with "-" stays a value; getopt's glued and abbreviated forms work.
    assert sbatch_argv([("J", "-odd"), ("exclusive", None)]) == ["--job-name=-odd", "--exclusive"]
    assert parse_srun(["--part=q2", "-n2", "true"], {}, "/", 0.0).alloc_argv == [
        "--partition=q2",
        "--ntasks=2",
    ]


def test_input_variables_set_options_under_the_command_line() -> None:
    env = {
        "SLURM_PARTITION": "env-q",
        "SLURM_LABELIO": "1",
        "SLURM_MPI_TYPE": "pmi2",
        "SLURM_STDOUTMODE": "o",
    }
    opts = parse_srun(["-p", "cli-q", "true"], env, "/", 0.0)
    assert opts.alloc_argv == ["--partition=env-q", "--partition=cli-q"]  # the later wins
    assert (opts.label, opts.mpi, opts.request.stdout) == (True, "pmi2", "o")
    # What a job's own environment carries is not read: a step takes its defaults from its job.
    assert (
        parse_srun(["true"], {"SLURM_NTASKS": "4", "SLURM_JOB_NUM_NODES": "2"}, "/", 0.0).request.ntasks
        is None
    )


def test_bad_options_and_values_get_sruns_words_and_exit_codes() -> None:
    assert refused("--bogus", "true") == (
        ["srun: unrecognized option '--bogus'", 'Try "srun --help" for more information'],
        255,
    )
    assert refused("-t", "abc", "true") == (["srun: error: Invalid --time specification"], 255)
    assert refused("-n", "x", "true") == (['srun: error: Invalid numeric value "x" for --ntasks.'], 1)
    assert refused("-W", "soon", "true") == (['srun: error: Invalid numeric value "soon" for --wait.'], 1)
    assert refused() == (["srun: fatal: No command given to execute."], 1)
    # What the controller checks is refused in its words: for an allocation, or for a step.
    gres = "Invalid generic resource (gres) specification"
    assert refused("--gres=gpu:a:b:c", "true") == ([f"srun: error: Unable to allocate resources: {gres}"], 1)
    assert refused("--gres=gpu:a:b:c", "true", env={"SLURM_JOB_ID": "7"}) == (
        [f"srun: error: Unable to create step for job 7: {gres}"],
        1,
    )
    assert refused("--jobid=9", "--gres=gpu:a:b:c", "true")[0] == [
        f"srun: error: Unable to create step for job 9: {gres}"
    ]


def test_srun_consistency_checks_are_sruns() -> None:
    assert refused("--exclusive", "--overlap", "true") == (
        ["srun: error: --exclusive and --overlap are mutually exclusive"],
        1,
    )
    assert refused("--exact", "--whole", "true")[0] == [
        "srun: error: --exact and --whole are mutually exclusive."
    ]
    assert refused("-r1", "-w", "n1", "true")[0] == [
        "srun: error: -r,--relative not allowed with -w,--nodelist or -x,--exclude."
    ]
    assert refused("-v", "-Q", "true")[0] == [
        "srun: error: don't specify both --verbose (-v) and --quiet (-Q)"
    ]
    assert refused("--pty", "-o", "out", "bash")[0] == [
        "srun: error: --error/--input/--output are incompatible with --pty"
    ]
    assert refused("--multi-prog", "conf") == (
        ["srun: error: --multi-prog is not supported by stratus yet"],
        1,
    )
    # -N above -n: Slurm lowers the node count and says so.
    opts = parse_srun(["-N", "2", "-n", "1", "true"], {}, "/", 0.0)
    assert opts.request.min_nodes == 1
    assert opts.warnings == ["srun: Warning: can't run 1 processes on 2 nodes, setting nnodes to 1"]


def test_mpi_types_and_the_list() -> None:
    """Slurm 22.05's plugin list; openmpi is none's alias; an unknown type is refused."""
    listed = parse_srun(["--mpi=list"], {}, "/", 0.0)  # no command needed
    expected = "MPI plugin types are...\n\tnone\n\tpmi2\n\tpmix\n"
    assert listed.early == MPI_LIST == expected + "specific pmix plugin versions available: pmix_v3\n"
    for name, as_set in (("none", "none"), ("pmi2", "pmi2"), ("pmix", "pmix"), ("pmix_v3", "pmix_v3"),
                         ("openmpi", "none")):  # fmt: skip
        assert parse_srun([f"--mpi={name}", "true"], {}, "/", 0.0).mpi == as_set
    assert refused("--mpi=foo", "true") == (
        [
            "srun: error: Couldn't find the specified plugin name for mpi/foo looking at all files",
            "srun: error: cannot find mpi plugin for mpi/foo",
            "srun: error: MPI: Cannot create context for mpi/foo",
            "srun: error: MPI: Unable to load any plugin",
            "srun: error: Invalid MPI type 'foo', --mpi=list for acceptable types",
        ],
        1,
    )


def test_help_usage_and_version_win_over_a_later_typo() -> None:
    assert parse_srun(["--help", "--bogus"], {}, "/", 0.0).early is not None
    assert str(parse_srun(["-V"], {}, "/", 0.0).early).startswith("slurm 22.05")
    assert str(parse_srun(["--usage"], {}, "/", 0.0).early).startswith("Usage: srun")


def test_option_strings_have_every_short_option_once() -> None:
    for spec in (SRUN_SHORTOPTS, SALLOC_SHORTOPTS):
        letters = [c for c in spec[1:] if c != ":"]
        assert len(letters) == len(set(letters)), spec
    assert "W:" in SRUN_SHORTOPTS and "K::" in SRUN_SHORTOPTS and "l" in SRUN_SHORTOPTS
    assert "o:" not in SALLOC_SHORTOPTS and "K::" in SALLOC_SHORTOPTS


def test_salloc_reads_its_table_and_its_variables() -> None:
    opts = parse_salloc(["-p", "q", "-N", "2", "-K", "--bell", "bash", "-c", "srun true"], {})
    assert (opts.alloc_argv, opts.command) == (["--partition=q", "--nodes=2"], ["bash", "-c", "srun true"])
    assert (opts.kill_signal, opts.bell) == (signal.SIGTERM, True)
    assert parse_salloc(["-KKILL"], {}).kill_signal == signal.SIGKILL
    # SALLOC_* variables are salloc's; SBATCH_* are sbatch's.
    assert parse_salloc([], {"SALLOC_PARTITION": "a", "SBATCH_ACCOUNT": "b"}).alloc_argv == ["--partition=a"]
    for argv, lines, code in (
        (["-o", "x"], ["salloc: invalid option -- 'o'", 'Try "salloc --help" for more information'], 255),
        (["-Kbogus"], ["salloc: error: Invalid --kill-command specification"], 255),
        (["--no-shell"], ["salloc: error: --no-shell is not supported by stratus yet"], 1),
    ):
        with pytest.raises(SlurmError) as info:
            parse_salloc(argv, {})
        assert (info.value.lines, info.value.exit_code) == (lines, code)
    assert str(parse_salloc(["--help"], {}).early).startswith("Usage: salloc")


def test_sbatch_refusals_worded_as_salloc_and_srun() -> None:
    exc = submit_failed("Invalid partition name specified", "invalid partition specified: x")
    assert as_command(exc, "salloc", "Job submit/allocate failed").lines == [
        "salloc: error: invalid partition specified: x",
        "salloc: error: Job submit/allocate failed: Invalid partition name specified",
    ]
    assert as_command(exc, "srun", "Unable to allocate resources").lines[1] == (
        "srun: error: Unable to allocate resources: Invalid partition name specified"
    )
    usage = SlurmError(["sbatch: invalid option -- 'y'", 'Try "sbatch --help" for more information'], 255)
    worded = as_command(usage, "salloc", "x")
    assert (worded.lines[1], worded.exit_code) == ('Try "salloc --help" for more information', 255)


def _place(procid: int, nodeid: int = 0, node: str = "n1", array: tuple[int, int] | None = None) -> TaskPlace:
    """Task ``procid`` of step 12.3 (job "jn", user alice), on ``node``."""
    return TaskPlace(
        12, 3, procid, nodeid, node, "alice", "jn", *(array if array is not None else (None, None))
    )


def test_file_name_patterns_are_sruns() -> None:
    place = _place(1, array=(40, 2))
    assert expand_pattern(pattern_fields("%j-%J-%s-%t-%n-%N-%x-%u-%A-%a"), place) == (
        "12-12.3-3-1-0-n1-jn-alice-40-2"
    )
    assert expand_pattern(pattern_fields("%4t.%3j%%"), place) == "0001.012%"
    # Outside an array %A is the job id and %a Slurm's NO_VAL; unknown letters stay as written
    # (after a width, only its last digit: Slurm's quirk); a trailing % stays.
    assert expand_pattern(pattern_fields("%A_%a-%q-%5q-%"), _place(0)) == "12_4294967294-%q-5q-%"
    assert expand_pattern(pattern_fields("%20t"), _place(7)) == "0000000007"  # width capped at 10


def test_io_modes_follow_sruns_rules() -> None:
    assert (
        io_mode(None, 2) == io_mode("all", 2) == io_mode("ALLthings", 2) == io_mode("-", 2) == IoMode("all")
    )
    assert io_mode("none", 2) == IoMode("none")
    assert io_mode("1", 2) == IoMode("one", task=1)
    assert io_mode("5", 2) == IoMode("file", fields=("5",))  # not a task of this step: a file
    assert io_mode("a\\%t", 2) == IoMode("file", fields=("a%t",))  # a backslash turns expansion off
    assert io_mode("log-%t", 2).per_task and io_mode("log-%N", 2).per_task
    assert not io_mode("log-%j.%s", 2).per_task


def test_outputs_route_streams_to_files_labels_and_nowhere(tmp_path: Path) -> None:
    places = [_place(p, nodeid=p // 2, node=f"n{p // 2}") for p in range(12)]
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        # One file per task, relative to the step's directory; stderr with stdout (no -e).
        step_dir = tmp_path / "step"
        step_dir.mkdir()
        out = Outputs(io_mode("t%t.%N", 12), None, places, str(step_dir), append=False, label=False)
        out.write(3, "out", b"three\n")
        out.write(3, "err", b"oops\n")
        out.close()
        assert (step_dir / "t3.n1").read_text() == "three\noops\n"
        assert (step_dir / "t11.n5").read_text() == ""  # opened at the start, as Slurm's are
        # One file for all, relative to srun's directory, labels padded to the widest task id;
        # a partial line waits for its end, and is ended when its task ends.
        (tmp_path / "every-12.3.out").write_text("old\n")
        out = Outputs(io_mode("every-%J.out", 12), None, places, str(step_dir), append=True, label=True)
        out.write(0, "out", b"a\nb")
        out.write(11, "out", b"c\n")
        out.flush(0)
        out.close()
        assert (tmp_path / "every-12.3.out").read_text() == "old\n 0: a\n11: c\n 0: b\n"
        # -o none: nothing anywhere; -e names its own file.
        out = Outputs(IoMode("none"), io_mode("err-%t", 12), places, str(step_dir), append=False, label=False)
        out.write(2, "out", b"dropped\n")
        out.write(2, "err", b"kept\n")
        out.close()
        assert (step_dir / "err-2").read_text() == "kept\n"
        # A file srun cannot create is srun's error; one of a task, slurmstepd's.
        with pytest.raises(SlurmError) as info:
            Outputs(io_mode("missing/x", 12), None, places, str(step_dir), append=False, label=False)
        assert info.value.lines == ["srun: error: Could not open stdout file: No such file or directory"]
        with pytest.raises(SlurmError) as info:
            Outputs(io_mode("missing/%t", 12), None, places, str(step_dir), append=False, label=False)
        assert info.value.lines[0].startswith("slurmstepd-n0: error: Could not open stdout file ")
    finally:
        os.chdir(cwd)


def test_task_ranges_are_slurms() -> None:
    assert task_ranges([5, 0, 1, 2, 7, 8]) == "0-2,5,7-8"
    assert task_ranges([3]) == "3"
    assert task_ranges([]) == ""

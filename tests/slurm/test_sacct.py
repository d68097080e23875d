"""sacct: formats, the time window, runs and steps, errors, and the calls tools make.

The capture of the reference cluster only shows ``Slurm accounting storage is disabled`` (it had
no database), so the expected texts here are built from Slurm 22.05's source, cited per test:

* widths and justification: the field table in ``src/sacct/sacct.c`` (``{-12, "JobID"}``,
  ``{10, "JobName"}``, ``{8, "ExitCode"}`` ...; negative means left-justified);
* the header, the dash line, ``+`` truncation, blank unset numbers and the ``|`` forms:
  ``print_fields_header``/``print_fields_str``/``print_fields_uint32`` in
  ``src/common/print_fields.c``;
* values: ``src/sacct/print.c`` (``CANCELLED by %u``, ``ExitCode``'s ``%d:%d`` with codes
  above 128 reduced, ``_elapsed_time`` for ``TotalCPU``, ``convert_num_unit`` for ``MaxRSS``);
* the window: ``slurmdb_job_cond_def_start_end`` and the queries of
  ``as_mysql_jobacct_process.c``; times: ``parse_time(..., past=1)``.
"""

from __future__ import annotations

import time

import pytest

from stratus.engine.indexset import IndexSet
from stratus.slurm.sacct_fields import FIELDS, help_fields, parse_fields
from stratus.slurm.sacct_time import TimeParseError, parse_time
from stratus.slurm.views import AcctQuery, AcctRow, ClientContext

from .helpers import STATIC, FakeBackend, at, make_ctx, run

NOW = "10:00:00"


def acct(job_id: int, **kw: object) -> AcctRow:
    """A finished job of the reference cluster (root, queue1), one CPU, since 09:21."""
    base: dict[str, object] = {
        "job_id": job_id,
        "name": "hellojob.sh",
        "user": "root",
        "uid": 0,
        "gid": 0,
        "group": "root",
        "partition": "queue1",
        "state": "COMPLETED",
        "submit_time": at("09:21:10"),
        "eligible_time": at("09:21:10"),
        "start_time": at("09:21:12"),
        "end_time": at("09:21:18"),
        "nodes": (STATIC,),
        "time_limit_min": None,
        "workdir": "/home/user/work",
        "cluster": "oracle",
        "priority": 4294901750,
    }
    base.update(kw)
    return AcctRow(**base)  # type: ignore[arg-type]


def step(job_id: int, step_id: str, **kw: object) -> AcctRow:
    kw.setdefault("name", step_id if step_id in ("batch", "extern") else "hostname")
    kw.setdefault("partition", "")
    return acct(job_id, step=step_id, **kw)


def backend(rows: list[AcctRow], clock: str = NOW) -> FakeBackend:
    return FakeBackend(clock=at(clock), acct_rows=rows)


def sacct(b: FakeBackend, args: str, ctx: ClientContext | None = None) -> tuple[str, str, int]:
    res = run(b, f"sacct {args}".strip(), ctx)
    return res.stdout, res.stderr, res.exit_code


HEADER = (
    "JobID           JobName  Partition    Account  AllocCPUS      State ExitCode \n"
    "------------ ---------- ---------- ---------- ---------- ---------- -------- \n"
)


# -- formats --------------------------------------------------------------------------------


def test_default_format_jobs_steps_and_arrays() -> None:
    rows = [
        acct(16, name="longjob.sh", state="CANCELLED", state_by_uid=0, exit_signal=15,
             submit_time=at("09:21:07"), start_time=at("09:21:09"), end_time=at("09:21:16")),
        acct(17),
        step(17, "batch"),
        step(17, "0", exit_code=1),
        acct(19, array_job_id=18, array_task_id=0, submit_time=at("09:21:13")),
        acct(18, state="PENDING", array_job_id=18, array_pending=IndexSet.from_range(6, 64),
             submit_time=at("09:21:13"), start_time=None, end_time=None, nodes=()),
        acct(40, name="wrap", state="FAILED", exit_code=1, submit_time=at("09:22:01")),
    ]  # fmt: skip
    assert sacct(backend(rows), "") == (
        HEADER + "16           longjob.sh     queue1                     1 CANCELLED+     0:15 \n"
        "17           hellojob.+     queue1                     1  COMPLETED      0:0 \n"
        "17.batch          batch                                1  COMPLETED      0:0 \n"
        "17.0           hostname                                1  COMPLETED      1:0 \n"
        "18_0         hellojob.+     queue1                     1  COMPLETED      0:0 \n"
        "18_[6-64]    hellojob.+     queue1                     1    PENDING      0:0 \n"
        "40                 wrap     queue1                     1     FAILED      1:0 \n",
        "",
        0,
    )


def test_parsl_status_call() -> None:
    """Parsl's SlurmProvider: ``sacct -X --noheader --format=jobid,state%20 --job 'IDS'``."""
    rows = [
        acct(16, state="CANCELLED", state_by_uid=0, start_time=None, end_time=at("09:21:16")),
        acct(17, state="RUNNING", end_time=None),
        step(17, "batch", state="RUNNING", end_time=None),
        acct(18, state="PENDING", start_time=None, end_time=None, nodes=(), eligible_time=None),
    ]
    stdout, stderr, code = sacct(backend(rows), "-X --noheader --format=jobid,state%20 --job 16,17,18")
    assert (stderr, code) == ("", 0)
    assert stdout == (
        "16                 CANCELLED by 0 \n"
        "17                        RUNNING \n"
        "18                        PENDING \n"
    )
    # What Parsl does with each line.
    assert [line.split()[:2] for line in stdout.splitlines()] == [["16", "CANCELLED"], ["17", "RUNNING"],
                                                                   ["18", "PENDING"]]  # fmt: skip


def test_snakemake_status_call() -> None:
    """Snakemake's executor: -X --parsable2 --noheader --format=JobIdRaw,State with a window and --name."""
    rows = [acct(40, name="run-uuid", state="FAILED", exit_code=1), acct(41, name="other"),
            acct(42, name="run-uuid", array_job_id=42, array_task_id=3)]  # fmt: skip
    args = (
        "-X --parsable2 --noheader --format=JobIdRaw,State --starttime now-2days --endtime now "
        "--name run-uuid"
    )
    assert sacct(backend(rows), args) == ("40|FAILED\n42|COMPLETED\n", "", 0)


def test_parsable_forms_and_delimiter() -> None:
    b = backend([acct(17, account="physics")])
    assert sacct(b, "-X -p -o jobid,account,elapsed")[0] == "JobID|Account|Elapsed|\n17|physics|00:00:06|\n"
    assert sacct(b, "-X -P -o jobid,account,elapsed")[0] == "JobID|Account|Elapsed\n17|physics|00:00:06\n"
    assert sacct(b, "-X -P -n --delimiter=, -o jobid,ntasks,state")[0] == "17,,COMPLETED\n"
    assert sacct(b, "-X -n -o ntasks,jobid%3")[0] == " " * 8 + "  17 \n"


def test_widths_truncation_and_justification() -> None:
    b = backend([acct(17, name="a-very-long-job-name")])
    # The width belongs to the field: the last %N given applies to every JobName column.
    assert sacct(b, "-X -o jobname%5,jobname%-12,jobid%8")[0] == (
        "JobName      JobName         JobID \n"
        "------------ ------------ -------- \n"
        "a-very-long+ a-very-long+       17 \n"
    )
    stdout = sacct(b, "-X -o jobname%5,jobid%-8")[0]
    assert stdout == "JobNa JobID    \n----- -------- \na-ve+ 17       \n"
    # Numbers and durations are never cut.
    long_run = acct(20, start_time=at("00:00:00"), end_time=at("09:00:00"), num_cpus=64)
    assert sacct(backend([long_run]), "-X -n -o cputimeraw%3,elapsed%2")[0] == "2073600 09:00:00 \n"


def test_field_names_are_prefixes_matched_in_table_order() -> None:
    names = [c.fdef.name for c in parse_fields("jobid,jobidr,jobn,state,end,user,ncpus,maxrss,tot,")]
    assert names == ["JobID", "JobIDRaw", "JobName", "State", "End", "User", "NCPUS", "MaxRSS", "TotalCPU"]
    assert len(parse_fields("a,")) == len(parse_fields("ALL,")) == len(FIELDS) == 109
    assert [c.width for c in parse_fields("state%20,")] == [20]
    assert [c.fdef.name for c in parse_fields("restarts,")] == ["Restarts"]


def test_brief_long_and_helpformat() -> None:
    b = backend([acct(17)])
    assert sacct(b, "-b -X")[0] == (
        "JobID             State ExitCode \n"
        "------------ ---------- -------- \n"
        "17            COMPLETED      0:0 \n"
    )
    assert sacct(b, "-l -X")[0].startswith("JobID        JobIDRaw        JobName  Partition  MaxVMSize ")
    helptext = sacct(b, "-e")[0]
    assert helptext == help_fields()
    first = "Account             AdminComment        AllocCPUS           AllocNodes         "
    assert helptext.splitlines()[0] == first
    assert helptext.splitlines()[-1] == "WorkDir            "
    assert "Restarts" not in helptext


def test_values_of_a_job_and_its_steps() -> None:
    rows = [
        acct(17, req_cpus=2, num_cpus=2, req_mem_mb=100, time_limit_min=90, account="phys", priority=7,
             reason="None", derived_exit_code=2, state="RUNNING", end_time=None),
        step(17, "batch", num_cpus=2, max_rss_kb=4552, max_vmem_kb=2097152, user_cpu_s=0.004,
             system_cpu_s=0.006, num_tasks=1),
        step(17, "0", num_cpus=2, user_cpu_s=3723.5, system_cpu_s=0.0, num_tasks=2, state="RUNNING",
             end_time=None),
    ]  # fmt: skip
    fields = (
        "jobid,jobidraw,partition,user,uid,group,gid,priority,timelimit,timelimitraw,reqmem,reqcpus,"
        "ncpus,ntasks,maxrss,maxvmsize,usercpu,systemcpu,totalcpu,elapsed,elapsedraw,cputime,"
        "derivedexitcode,reason,workdir,cluster,nnodes,nodelist,alloctres,reqtres,restarts"
    )
    lines = sacct(backend(rows), f"-P -n -o {fields}")[0].splitlines()
    assert lines == [
        "17|17|queue1|root|0|root|0|7|01:30:00|90|100M|2|2||||00:00.004|00:00.006|00:00.010|00:38:48|2328|01:17:36|"
        "2:0|None|/home/user/work|oracle|1|queue1-st-local-1|billing=2,cpu=2,mem=100M,node=1|"
        "billing=2,cpu=2,mem=100M,node=1|0",
        "17.batch|17.batch||||||||||2|2|1|4552K|2G|00:00.004|00:00.006|00:00.010|00:00:06|6|00:00:12|"
        "|||oracle|1|queue1-st-local-1|cpu=2,node=1||",
        "17.0|17.0||||||||||2|2|2|||01:02:03|00:00:00|01:02:03|00:38:48|2328|01:17:36|"
        "|||oracle|1|queue1-st-local-1|cpu=2,node=1||",
    ]


def test_a_step_open_when_its_job_ended_ends_with_it() -> None:
    rows = [acct(17, state="TIMEOUT"), step(17, "0", state="RUNNING", end_time=None, user_cpu_s=2.0)]
    lines = sacct(backend(rows), "-P -n -o jobid,state,end,elapsed,usercpu")[0].splitlines()
    assert lines == [
        "17|TIMEOUT|2026-11-22T09:21:18|00:00:06|00:00:02",
        "17.0|TIMEOUT|2026-11-22T09:21:18|00:00:06|00:00:02",
    ]


def test_units_and_noconvert() -> None:
    rows = [acct(17), step(17, "batch", max_rss_kb=1048576)]
    b = backend(rows)
    assert sacct(b, "-P -n -j 17.batch -o maxrss")[0] == "1G\n"
    assert sacct(b, "-P -n -j 17.batch -o maxrss --noconvert")[0] == "1073741824\n"
    assert sacct(b, "-P -n -j 17.batch -o maxrss --units=M")[0] == "1024M\n"
    assert sacct(b, "--units=X")[1] == "sacct: fatal: Invalid unit type\n"


def test_exit_codes_states_and_times() -> None:
    rows = [
        acct(1, state="TIMEOUT", exit_signal=15),
        acct(2, state="FAILED", exit_code=143),
        acct(3, state="CANCELLED", state_by_uid=1000, start_time=None, end_time=at("09:30:00")),
        acct(4, state="RUNNING", end_time=None),
        acct(5, state="PENDING", start_time=None, end_time=None, nodes=()),
    ]
    lines = sacct(backend(rows), "-P -n -o jobid,state,exitcode,start,end,elapsed,nodelist")[0].splitlines()
    assert lines == [
        "1|TIMEOUT|0:15|2026-11-22T09:21:12|2026-11-22T09:21:18|00:00:06|queue1-st-local-1",
        "2|FAILED|15:0|2026-11-22T09:21:12|2026-11-22T09:21:18|00:00:06|queue1-st-local-1",
        "3|CANCELLED by 1000|0:0|None|2026-11-22T09:30:00|00:00:00|queue1-st-local-1",
        "4|RUNNING|0:0|2026-11-22T09:21:12|Unknown|00:38:48|queue1-st-local-1",
        "5|PENDING|0:0|Unknown|Unknown|00:00:00|None assigned",
    ]


def test_array_option_expands_the_pending_remainder() -> None:
    rows = [acct(18, state="PENDING", array_job_id=18, array_pending=IndexSet.from_range(6, 8),
                 start_time=None, end_time=None, nodes=())]  # fmt: skip
    expanded = "18_6|PENDING\n18_7|PENDING\n18_8|PENDING\n"
    assert sacct(backend(rows), "-X -n -P -o jobid,state --array")[0] == expanded
    assert sacct(backend(rows), "-X -n -P -o jobid,state")[0] == "18_[6-8]|PENDING\n"


def test_batch_script_and_environment_are_not_kept() -> None:
    b = backend([acct(17), step(17, "batch")])
    assert sacct(b, "-B -j 17") == ("Batch Script for 17\n" + "-" * 80 + "\nNONE\n\n", "", 0)
    assert sacct(b, "--env-vars -j 17")[0].startswith("Environment used for 17 (must be batch to display)\n")


# -- selection --------------------------------------------------------------------------------


def test_steps_selection_and_allocations() -> None:
    rows = [acct(17), step(17, "batch"), step(17, "extern"), step(17, "0"),
            acct(18, array_job_id=18, array_task_id=5), step(18, "batch")]  # fmt: skip
    b = backend(rows)
    ids = lambda args: sacct(b, f"-P -n -o jobid {args}")[0].split()  # noqa: E731
    assert ids("") == ["17", "17.batch", "17.extern", "17.0", "18_5", "18_5.batch"]
    assert ids("-X") == ["17", "18_5"]
    assert ids("-j 17.batch") == ["17.batch"]
    assert ids("-j 17.batch,17.0") == ["17.batch", "17.0"]
    assert ids("-j 18_5") == ids("-j 18") == ["18_5", "18_5.batch"]
    assert ids("-j 18_4") == []
    assert ids("-j '17,18'") == ids("") and ids('-j "17,18"') == ids("")


def test_filters() -> None:
    rows = [
        acct(1, account="phys", partition="gpu", name="a", nodes=("n1",), gid=100, group="users"),
        acct(2, account="chem", name="b", nodes=("n2",)),
    ]
    b = backend(rows)
    ids = lambda args: sacct(b, f"-X -P -n -o jobid {args}")[0].split()  # noqa: E731
    assert ids("-A PHYS") == ["1"]
    assert ids("-r gpu") == ["1"]
    assert ids("--name b,c") == ["2"]
    assert ids("-N n[2-3]") == ["2"]
    assert ids("-g 100") == ["1"]
    assert ids("-M oracle") == ["1", "2"] and ids("-M other") == [] and ids("-L") == ["1", "2"]


def test_users_root_sees_everyone_others_themselves() -> None:
    rows = [acct(1), acct(2, user="alice", uid=1000, gid=1000)]
    b = backend(rows)
    alice = ClientContext(user="alice", uid=1000, gid=1000, cwd="/", env={}, host="vm")
    ids = lambda args, ctx=None: sacct(b, f"-X -P -n -o jobid {args}", ctx)[0].split()  # noqa: E731
    assert ids("") == ["1", "2"]
    assert ids("", alice) == ["2"]
    assert b.acct_queries[-1].users == ("alice",)
    assert ids("-a", alice) == ["1", "2"] and ids("-u -1", alice) == ["1", "2"]
    assert ids("-j 1", alice) == ["1"]
    # A name the head node does not know is accepted when jobs carry it (or it is the caller's).
    assert ids("-u alice") == ["2"] and ids("-u alice", alice) == ["2"]
    assert ids("-u 0,1000") == ["1", "2"] and ids("-u root", alice) == ["1"]
    assert sacct(b, "-u nosuchuser-xyz") == ("", "sacct: error: Invalid user id: nosuchuser-xyz\n", 1)
    assert sacct(b, "-g nosuchgroup-xyz") == ("", "sacct: error: Invalid group id: nosuchgroup-xyz\n", 1)


# -- the time window ---------------------------------------------------------------------------


def yesterday(hms: str) -> float:
    return at(hms) - 86400


WINDOW_ROWS = [
    acct(1, submit_time=yesterday("22:00:00"), eligible_time=yesterday("22:00:00"),
         start_time=yesterday("22:00:00"), end_time=yesterday("23:00:00")),  # ended yesterday
    acct(2, state="RUNNING", submit_time=yesterday("22:00:00"), eligible_time=yesterday("22:00:00"),
         start_time=yesterday("22:00:00"), end_time=None),  # running since yesterday
    acct(3, state="PENDING", eligible_time=None, start_time=None, end_time=None, nodes=()),  # held
    acct(4),  # completed this morning
    acct(5, state="PENDING", eligible_time=at("09:50:00"), start_time=None, end_time=None, nodes=()),
    acct(6, state="FAILED", end_time=at(NOW)),  # ended this very second
]  # fmt: skip


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ("", ["2", "4", "5", "6"]),  # since midnight; a held job was never eligible
        ("-S 1121", ["1", "2", "4", "5", "6"]),
        ("-S 2026-11-21T23:30", ["2", "4", "5", "6"]),
        ("-E 09:00 -S 1121", ["1", "2"]),
        ("-j 1,3,4", ["1", "3", "4"]),  # -j: from the epoch, held jobs included
        ("-s CD", []),  # -s alone: the window is the instant now
        ("-s F", ["6"]),
        ("-s CD,F -S 00:00 -E now", ["4", "6"]),
        ("-s R", ["2"]),
        ("-s PD", ["5"]),
        ("-s r,pd", ["2", "5"]),
        ("-s CD -j 4", ["4"]),
        ("-S now-30minutes", ["2", "5", "6"]),
        ("-S uts1000000", ["1", "2", "4", "5", "6"]),
    ],
)
def test_time_window(args: str, expected: list[str]) -> None:
    assert sacct(backend(list(WINDOW_ROWS)), f"-X -P -n -o jobid {args}")[0].split() == expected


def test_window_and_query_sent_to_the_store() -> None:
    b = backend(list(WINDOW_ROWS))
    sacct(b, "")
    midnight = time.mktime((2026, 11, 22, 0, 0, 0, 0, 0, -1))
    assert b.acct_queries[-1] == AcctQuery(start=midnight, end=at(NOW) + 1)
    sacct(b, "-j 4,4,3 -E 09:59")
    assert b.acct_queries[-1] == AcctQuery(job_ids=(4, 3), start=None, end=at("09:59:00"))


def test_truncate_moves_times_into_the_window() -> None:
    b = backend([WINDOW_ROWS[1]])
    assert sacct(b, "-X -P -n -o start,elapsed -T")[0] == "2026-11-22T00:00:00|10:00:00\n"
    assert sacct(b, "-X -P -n -o start,elapsed")[0] == "2026-11-21T22:00:00|12:00:00\n"


# -- runs of requeued jobs -----------------------------------------------------------------------


def test_duplicates_shows_every_run_otherwise_the_newest() -> None:
    rows = [
        acct(30, restarts=0, state="NODE_FAIL", end_time=at("09:25:00")),
        # A requeued run is submitted and eligible anew.
        acct(
            30,
            restarts=1,
            state="COMPLETED",
            submit_time=at("09:25:30"),
            eligible_time=at("09:26:00"),
            start_time=at("09:26:00"),
            end_time=at("09:27:00"),
        ),
        step(30, "batch", restarts=1),
    ]
    b = backend(rows)
    assert sacct(b, "-P -n -o jobid,state,restarts")[0] == "30|COMPLETED|1\n30.batch|COMPLETED|\n"
    assert sacct(b, "-D -P -n -o jobid,state,restarts")[0] == (
        "30|NODE_FAIL|0\n30|COMPLETED|1\n30.batch|COMPLETED|\n"
    )
    # Without -D the newest run *in the window* is shown.
    assert sacct(b, "-P -n -o jobid,state -S 09:00 -E 09:25:30 -X")[0] == "30|NODE_FAIL\n"


def test_rows_are_ordered_by_submit_then_array_ids() -> None:
    rows = [
        acct(9, submit_time=at("09:30:00")),
        acct(21, array_job_id=20, array_task_id=1, submit_time=at("09:10:00")),
        acct(20, array_job_id=20, array_task_id=0, submit_time=at("09:10:00")),
        acct(8, submit_time=at("09:10:00")),
    ]
    assert sacct(backend(rows), "-X -P -n -o jobid")[0].split() == ["8", "20_0", "20_1", "9"]


# -- parse_time ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("now", at(NOW)),
        ("now-1hour", at("09:00:00")),
        ("now+30", at("10:00:30")),
        ("now - 2days", at(NOW) - 2 * 86400),
        ("1121", at("00:00:00") - 86400),
        ("11/21", at("00:00:00") - 86400),
        ("11.21.26", at("00:00:00") - 86400),
        ("1223", time.mktime((2025, 12, 23, 0, 0, 0, 0, 0, -1))),  # a later month: last year
        ("2026-11-21T08:30", at("08:30:00") - 86400),
        ("2026-11-21", at("00:00:00") - 86400),
        ("08:30", at("08:30:00")),
        ("11:30:15", at("11:30:15")),  # in the past direction a time of day is today
        ("9:05 pm", at("21:05:00")),
        ("12:00am", at("00:00:00")),
        ("midnight", at("00:00:00")),
        ("today", at("00:00:00")),
        ("tomorrow noon", at("12:00:00") + 86400),
        ("uts1795300000", 1795300000),
        ("", 0),
        ("  ", 0),
    ],
)
def test_parse_time(text: str, expected: float) -> None:
    assert parse_time(text, at(NOW)) == int(expected)


@pytest.mark.parametrize(
    ("text", "pos"),
    [
        ("garbage", 0),
        ("25:00", 0),
        ("10:61", 3),
        ("10:3x", 4),
        ("10:30:75", 6),
        ("10:30:7", 7),
        ("now-1h", 4),
        ("now+", 3),
        ("13/01", 0),
        ("nowx", 3),
        ("uts12", 0),
        ("11/21/2", 7),
    ],
)
def test_parse_time_errors_report_slurms_position(text: str, pos: int) -> None:
    with pytest.raises(TimeParseError) as info:
        parse_time(text, at(NOW))
    assert info.value.pos == pos


# -- errors -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "stderr"),
    [
        ("-o Foo", 'sacct: error: Invalid field requested: "Foo"\n'),
        ("-o jobid,AllocGRES", "sacct: fatal: AllocGRES has been removed, please use AllocTRES\n"),
        ("-s XX", "sacct: fatal: unrecognized job state value 'XX'\n"),
        ("-s CG", "sacct: fatal: job state CG is not supported / accounted\n"),
        ("-S garbage", "Invalid time specification (pos=0): garbage\n"),
        ("-E now-1h", "Invalid time specification (pos=4): now-1h\n"),
        ("-j abc", "sacct: fatal: Bad job/step specified: abc\n"),
        ("-j 18_[1-3]", "sacct: fatal: Bad job array element specified: 18\n"),
        ("-j 18.x", "sacct: fatal: Bad step specified: 18\n"),
        (
            "-S 2026-11-23 -E 2026-11-22",
            "sacct: error: Start time (2026-11-23T00:00:00) requested is after "
            "end time (2026-11-22T00:00:00).\n",
        ),
        (
            "-l -o jobid",
            "sacct: fatal: Options -o(--format) and -l(--long) are mutually exclusive. "
            "Please remove one and retry.\n",
        ),
        (
            "-B",
            "sacct: fatal: When requesting job scripts you must also request specific jobs with the '-j' "
            "option.\n",
        ),
        ("-c", "Slurm job completion is disabled\n"),
        ("-q normal", "sacct: error: -q/--qos is not supported by stratus\n"),
        ("--json", "sacct: error: --json is not supported by stratus\n"),
        ("--bogus", "sacct: unrecognized option '--bogus'\n"),
        ("extra words", "sacct: error: Unknown arguments:\nsacct: error:  extra\nsacct: error:  words\n"),
        (
            "--whole-hetjob=maybe",
            'sacct: error: Invalid --whole-hetjob value "maybe". Valid values: [yes|no].\n',
        ),
    ],
)
def test_errors(args: str, stderr: str) -> None:
    b = backend([acct(17)])
    assert sacct(b, args) == ("", stderr, 1)
    assert b.acct_queries == []


def test_help_usage_version_and_env_format() -> None:
    b = backend([acct(17)])
    assert sacct(b, "--usage") == ("Usage: sacct [options]\n\tUse --help for help\n", "", 0)
    assert sacct(b, "--help")[0].startswith("sacct [<OPTION>]\n")
    assert sacct(b, "-V")[0].startswith("slurm 22.05.8 ")
    ctx = make_ctx(SACCT_FORMAT="jobid,state")
    assert sacct(b, "-X -P -n", ctx)[0] == "17|COMPLETED\n"

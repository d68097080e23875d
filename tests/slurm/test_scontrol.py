"""scontrol beyond the captures: keywords and abbreviations, job actions, updates, hostlists,
every error path, and the calls Parsl and Open OnDemand make (``scontrol hold ID`` /
``scontrol release ID``). Expected texts are Slurm 22.05's (src/scontrol/scontrol.c,
update_job.c, info_job.c)."""

from __future__ import annotations

from dataclasses import dataclass, replace

import pytest

from stratus.engine.indexset import IndexSet
from stratus.slurm.hostlist import compress_in_order
from stratus.slurm.scontrol_update import parse_update
from stratus.slurm.views import ClientContext, ControlRequest, ControlResult, JobRow, JobTarget, PartitionRow

from .helpers import STATIC, FakeBackend, at, cloud_node, job, make_ctx, queue1, run, static_node

YEAR_MIN = 365 * 24 * 60


def backend(jobs: list[JobRow] | None = None, clock: str = "09:30:00") -> FakeBackend:
    b = FakeBackend(clock=at(clock), job_rows=list(jobs or []))
    b.node_rows = [static_node()]
    b.part_rows = [queue1(b.node_rows)]
    return b


def running(job_id: int = 16, **kw: object) -> JobRow:
    kw.setdefault("group", "root")
    kw.setdefault("time_limit_min", 60)
    return job(job_id, "longjob.sh", "RUNNING", start="09:21:09", submit="09:21:07", **kw)  # type: ignore[arg-type]


def pending(job_id: int = 20, name: str = "wrap", **kw: object) -> JobRow:
    kw.setdefault("group", "root")
    return job(job_id, name, "PENDING", submit="09:22:00", eligible_time=at("09:22:00"), **kw)  # type: ignore[arg-type]


def out(b: FakeBackend, cmd: str) -> tuple[str, str, int]:
    res = run(b, cmd)
    return res.stdout, res.stderr, res.exit_code


# -- options and keywords ------------------------------------------------------------------


def test_version_option_and_keyword_print_the_version_line() -> None:
    b = backend()
    for cmd in ("scontrol -V", "scontrol --version", "scontrol version", "scontrol vers"):
        stdout, stderr, code = out(b, cmd)
        assert stdout.startswith("slurm 22.05.8 ") and (stderr, code) == ("", 0), cmd


def test_keywords_and_entities_take_slurms_abbreviations() -> None:
    b = backend([running()])
    full = out(b, "scontrol show job 16")
    for cmd in (
        "scontrol sho j 16",
        "scontrol SHOW JOBS 16",
        "scontrol show jobid=16",
        "scontrol show job=16",
    ):
        assert out(b, cmd) == full, cmd
    assert out(b, "scontrol show part")[0] == out(b, "scontrol show partition")[0]
    assert out(b, "scontrol show n")[0] == out(b, "scontrol show node")[0]


def test_unknown_keyword_and_entity() -> None:
    b = backend()
    assert out(b, "scontrol bogus") == ("", "invalid keyword: bogus\n", 1)
    assert out(b, "scontrol sh job") == ("", "invalid keyword: sh\n", 1)  # "show" needs three letters
    assert out(b, "scontrol show p") == ("", "invalid entity:p for keyword:show \n", 1)
    assert out(b, "scontrol show") == ("", "too few arguments for keyword:show\n", 1)
    assert out(b, "scontrol show job 1 2") == ("", "too many arguments for keyword:show\n", 1)


def test_bad_options_and_no_command() -> None:
    b = backend()
    assert out(b, "scontrol --bogus show job") == (
        "",
        "scontrol: unrecognized option '--bogus'\nTry \"scontrol --help\" for more information\n",
        1,
    )
    _, stderr, code = out(b, "scontrol")
    assert code == 1 and "interactive mode is not supported" in stderr
    assert out(b, "scontrol -h")[0].startswith("scontrol [<OPTION>] [<COMMAND>]")


def test_features_stratus_lacks_are_refused_by_name() -> None:
    b = backend([running()])
    for cmd, word in (
        ("scontrol suspend 16", "suspend"),
        ("scontrol reconfigure", "reconfigure"),
        ("scontrol show steps", "steps"),
        ("scontrol delete PartitionName=x", "delete"),
    ):
        stdout, stderr, code = out(b, cmd)
        assert (stdout, code) == ("", 1) and word in stderr and "not supported by stratus" in stderr, cmd


def test_clusters_option_checks_the_name() -> None:
    b = backend([running()])
    assert out(b, "scontrol -M oracle show job 16")[2] == 0
    _, stderr, code = out(b, "scontrol -M other show job 16")
    assert code == 1 and "'other' can't be reached now" in stderr


def test_ping_reservations_licenses() -> None:
    b = backend()
    stdout, _, code = out(b, "scontrol ping")
    assert code == 0 and stdout.startswith("Slurmctld(primary) at ") and stdout.endswith(" is UP\n")
    assert out(b, "scontrol show reservation") == ("No reservations in the system\n", "", 0)
    assert out(b, "scontrol show reservation r1") == ("Reservation r1 not found\n", "", 1)
    assert out(b, "scontrol show licenses") == ("No licenses configured in Slurm.\n", "", 0)


# -- show job --------------------------------------------------------------------------------


def test_show_job_errors() -> None:
    b = backend([running()])
    assert out(b, "scontrol show job abc") == ("", "scontrol_print_job error: Invalid job id specified\n", 1)
    assert out(b, "scontrol show job 99") == ("", "slurm_load_jobs error: Invalid job id specified\n", 1)
    assert out(b, "scontrol show job 16_3") == ("Job 16_3 not found\n", "", 1)
    assert out(b, "scontrol show job 16+1") == ("Job 16+1 not found\n", "", 1)
    assert out(b, "scontrol -Q show job 16_3") == ("", "", 1)
    assert out(backend(), "scontrol show job") == ("No jobs in the system\n", "", 0)


def test_show_all_jobs_in_id_order_and_verbose_header() -> None:
    b = backend([running(21), pending(20)])
    stdout = out(b, "scontrol show job")[0]
    assert [line.split()[0] for line in stdout.splitlines() if line.startswith("JobId=")] == [
        "JobId=20",
        "JobId=21",
    ]
    verbose = out(b, "scontrol -v show job")[0]
    assert verbose.startswith("last_update_time=2026-11-22T09:30:00, records=2\n")


def test_show_array_job_lists_the_remainder_then_tasks_newest_first() -> None:
    remainder = pending(18, array=(18, -1), pending_ids=IndexSet.from_range(3, 9), name="hello")
    t0 = running(19, array=(18, 0), prio_of=18)
    t1 = running(20, array=(18, 1), prio_of=18)
    b = backend([t0, remainder, t1])
    heads = [ln for ln in out(b, "scontrol show job 18")[0].splitlines() if ln.startswith("JobId=")]
    assert heads == [
        "JobId=18 ArrayJobId=18 ArrayTaskId=3-9 JobName=hello",
        "JobId=20 ArrayJobId=18 ArrayTaskId=1 JobName=longjob.sh",
        "JobId=19 ArrayJobId=18 ArrayTaskId=0 JobName=longjob.sh",
    ]
    # A task's own job id shows that task only; a pending task shows the remainder as itself.
    assert out(b, "scontrol show job 19")[0].startswith("JobId=19 ArrayJobId=18 ArrayTaskId=0 ")
    only5 = out(b, "scontrol show job 18_5")[0]
    assert only5.startswith("JobId=18 ArrayJobId=18 ArrayTaskId=5 ") and "slurm-18_5.out" in only5


def test_array_throttle_and_bitstr_len() -> None:
    remainder = pending(7, array=(7, -1), pending_ids=IndexSet.from_range(1, 3), array_max_running=2)
    first = out(backend([remainder]), "scontrol show job 7")[0].splitlines()[0]
    assert first == "JobId=7 ArrayJobId=7 ArrayTaskId=1-3%2 ArrayTaskThrottle=2 JobName=wrap"


def test_job_details_gpus_comment_and_paths() -> None:
    row = running(
        30,
        gpus_per_node=2,
        gpu_type="a100",
        min_memory_mb=2048,
        comment="a note",
        stdout="out-%A_%a-%j-%u-%x.txt",
        stderr="/abs/err.txt",
        reservation="maint",
        num_cpus=4,
        cpus_per_task=4,
        features="t2micro",
    )
    text = out(backend([row]), "scontrol -d show job 30")[0]
    assert "   DerivedExitCode=0:0\n" in text
    # Under CR_CPU a started job's TRES has no memory, whatever --mem asked (Slurm 22.05).
    assert "   TRES=cpu=4,node=1,billing=4,gres/gpu=2\n" in text
    assert "   MinCPUsNode=4 MinMemoryNode=2G MinTmpDiskNode=0\n" in text
    assert "   Features=t2micro DelayBoot=00:00:00\n   Reservation=maint\n" in text
    assert "   Comment=a note \n" in text
    assert "   StdErr=/abs/err.txt\n" in text
    assert "   StdOut=/home/user/work/out-30_4294967294-30-root-longjob.sh.txt\n" in text
    assert "   Power=\n   TresPerNode=gres:gpu:a100:2\n   \n\n" in text
    assert "EndTime=2026-11-22T10:21:09 " in text  # start + the 60-minute limit


def test_pending_job_requests_the_first_nodes_memory() -> None:
    b = backend([pending(20, num_nodes=2, num_cpus=2)])
    b.node_rows = [cloud_node(1), static_node()]
    b.part_rows = [queue1(b.node_rows)]
    assert "   TRES=cpu=2,mem=1800M,node=2,billing=2\n" in out(b, "scontrol show job 20")[0]


def test_oneliner_keeps_every_field_on_one_line() -> None:
    b = backend([running()])
    one = out(b, "scontrol -o show job 16")[0]
    assert one.count("\n") == 1 and one.endswith("Power= \n")
    assert one.replace(" ", "") == out(b, "scontrol show job 16")[0].replace("\n", "").replace(" ", "") + "\n"


# -- show node / partition ----------------------------------------------------------------------


def test_show_node_by_hostlist_and_unknown_names() -> None:
    b = backend()
    b.node_rows = [cloud_node(1), cloud_node(2), static_node()]
    text, _, code = out(b, "scontrol show node queue1-dy-t2micro-[1-3]")
    assert code == 1
    assert text.count("NodeName=") == 2 and text.endswith("Node queue1-dy-t2micro-3 not found\n")
    assert out(b, "scontrol show node bad[") == ("", "unable to parse node list bad[\n", 1)
    assert out(FakeBackend(), "scontrol show node") == ("No nodes in the system\n", "", 0)


def test_node_with_gpus_jobs_and_a_drain_reason() -> None:
    node = static_node(
        "ALLOCATED",
        alloc_cpus=1,
        alloc_memory_mb=1024,
        gpus=4,
        gpu_type="a100",
        alloc_gpus=1,
        flags=frozenset({"DRAIN"}),
        reason="maintenance\nsecond line",
        reason_user="admin",
        reason_time=at("09:00:00"),
    )
    b = backend()
    b.node_rows = [node]
    text = out(b, "scontrol show node")[0]
    assert "   Gres=gpu:a100:4\n" in text
    assert "   State=MIXED+DRAIN ThreadsPerCore=1 " in text
    assert "   CfgTRES=cpu=2,mem=24105M,billing=2,gres/gpu=4\n   AllocTRES=cpu=1,mem=1G,gres/gpu=1\n" in text
    assert text.endswith("   Reason=maintenance [admin@2026-11-22T09:00:00]\n          second line\n\n")


def test_partition_limits_and_unknown_partition() -> None:
    b = backend()
    b.part_rows = [
        PartitionRow("short", (STATIC,), max_time_min=90, default_time_min=30, max_nodes=4, state="INACTIVE")
    ]
    text = out(b, "scontrol show partition")[0]
    assert "   AllocNodes=ALL Default=NO QoS=N/A\n" in text
    assert "   DefaultTime=00:30:00 DisableRootJobs=NO" in text
    assert "   MaxNodes=4 MaxTime=01:30:00 MinNodes=0 " in text
    assert "   State=INACTIVE TotalCPUs=2 TotalNodes=1 " in text
    assert out(b, "scontrol show partition queue1") == ("Partition queue1 not found\n", "", 1)
    assert out(FakeBackend(), "scontrol show partition") == ("No partitions in the system\n", "", 0)


# -- hostlists ---------------------------------------------------------------------------------


def test_hostnames_and_hostlist() -> None:
    b = backend()
    assert out(b, "scontrol show hostnames n[1-3],m2") == ("n1\nn2\nn3\nm2\n", "", 0)
    ctx = make_ctx(SLURM_NODELIST="a[1-2]")
    assert run(b, "scontrol show hostnames", ctx).stdout == "a1\na2\n"
    assert out(b, "scontrol show hostnames") == ("", "scontrol: error: host list is empty\n", 0)
    assert out(b, "scontrol show hostnames n[") == ("", "Invalid hostlist: n[\n", 0)
    assert out(b, "scontrol show hostlist n3,n1,n2,n2") == ("n[3,1-2,2]\n", "", 0)
    assert out(b, "scontrol show hostlistsorted n3,n1,n2,m") == ("m,n[1-3]\n", "", 0)
    assert out(b, "scontrol show hostlist n[") == ("", "Invalid hostlist: n[\n", 1)
    stdout, stderr, code = out(b, "scontrol show hostlist")
    assert (stderr, code) == ("invalid encode argument\n", 1) and stdout.startswith("scontrol [<OPTION>]")


def test_hostlist_from_a_file_is_asked_of_the_client() -> None:
    b = backend()
    first = run(b, "scontrol show hostlist /tmp/hosts")
    assert first.need_file == "/tmp/hosts"
    ctx = make_ctx()
    with_file = replace(ctx, files={"/tmp/hosts": b"n1\nn2\n\nn4\n"})
    assert run(b, "scontrol show hostlist /tmp/hosts", with_file).stdout == "n[1-2,4]\n"
    missing = replace(ctx, files={"/tmp/hosts": None})
    assert out_ctx(b, "scontrol show hostlist /tmp/hosts", missing) == ("", "Can not open /tmp/hosts\n", 1)


def out_ctx(b: FakeBackend, cmd: str, ctx: ClientContext) -> tuple[str, str, int]:
    res = run(b, cmd, ctx)
    return res.stdout, res.stderr, res.exit_code


def test_compress_in_order_keeps_zero_padding_and_order() -> None:
    assert compress_in_order(["n01", "n02", "n10", "x", "n03"]) == "n[01-02,10],x,n03"
    assert compress_in_order(["n3", "n1", "n2"]) == "n[3,1-2]"
    assert compress_in_order([]) == ""


# -- config ----------------------------------------------------------------------------------


def test_config_without_backend_extras() -> None:
    text = out(backend(), "scontrol show config")[0].splitlines()
    assert text[1:4] == [
        "ClusterName             = oracle",
        "MaxArraySize            = 1001",
        "SLURM_VERSION           = 22.05.8",
    ]
    assert text[4] == ""


# -- job actions -----------------------------------------------------------------------------


def test_parsl_and_open_ondemand_hold_and_release() -> None:
    b = backend([pending(20)])
    assert out(b, "scontrol hold 20") == ("", "", 0)
    assert b.controls[-1] == ControlRequest(action="hold", targets=[JobTarget(20)])
    assert "Priority=0 " in out(b, "scontrol show job 20")[0]
    assert "Reason=JobHeldUser " in out(b, "scontrol show job 20")[0]
    assert out(b, "scontrol release 20") == ("", "", 0)
    assert b.controls[-1] == ControlRequest(action="release", targets=[JobTarget(20)])
    assert "Reason=None " in out(b, "scontrol show job 20")[0]


def test_hold_keywords_and_id_forms() -> None:
    b = backend(
        [pending(20), pending(21), pending(18, array=(18, -1), pending_ids=IndexSet.from_range(0, 9))]
    )
    out(b, "scontrol uhold 20,21")
    assert b.controls[-1] == ControlRequest(action="uhold", targets=[JobTarget(20), JobTarget(21)])
    out(b, "scontrol holdu JobId=18_[1-3]")
    assert b.controls[-1] == ControlRequest(
        action="uhold", targets=[JobTarget(18, IndexSet.from_range(1, 3))]
    )
    b.controls.clear()
    out(b, "scontrol hold 20 Job=21")  # one request per argument, as scontrol sends one RPC each
    assert [r.targets for r in b.controls] == [[JobTarget(20)], [JobTarget(21)]]
    out(b, "scontrol hold Name=wrap")
    assert b.controls[-1].targets == [JobTarget(20), JobTarget(21), JobTarget(18, IndexSet.from_range(0, 9))]


def test_hold_errors_name_the_job_and_repeat_the_reason() -> None:
    b = backend([running()])
    assert out(b, "scontrol hold 999") == (
        "",
        "Invalid job id specified for job 999\nslurm_suspend error: Invalid job id specified\n",
        1,
    )
    assert out(b, "scontrol hold abc") == (
        "",
        "Invalid job id specified for job abc\nslurm_suspend error: Invalid job id specified\n",
        1,
    )
    assert out(b, "scontrol hold 16") == (
        "",
        "Job is no longer pending execution for job 16\n"
        "slurm_suspend error: Job is no longer pending execution\n",
        1,
    )
    assert out(b, "scontrol -Q hold 16") == ("", "", 1)
    assert out(b, "scontrol hold") == ("", "too few arguments for keyword:hold\n", 1)


@dataclass
class WordingBackend(FakeBackend):
    """A backend that words its refusals itself, in ControlResult.errors."""

    def control(self, request: ControlRequest, ctx: ClientContext) -> ControlResult:
        self.controls.append(request)
        return ControlResult(errors=["Job has already finished for job 16", "16_1: Job has already finished"],
                             exit_code=1)  # fmt: skip


def test_backend_worded_errors_are_printed_as_they_are() -> None:
    b = WordingBackend(clock=at("09:30:00"))
    assert out(b, "scontrol release 16") == (
        "",
        "Job has already finished for job 16\n16_1: Job has already finished\n"
        "slurm_suspend error: Job has already finished\n",
        1,
    )
    both = "Job has already finished for job 16\n16_1: Job has already finished\n"
    assert out(b, "scontrol requeue 16")[1] == both


def test_requeue_and_requeuehold() -> None:
    b = backend([running(), pending(20)])
    assert out(b, "scontrol requeue 16") == ("", "", 0)
    assert b.controls[-1] == ControlRequest(action="requeue", targets=[JobTarget(16)])
    assert "JobState=PENDING Reason=BeginTime " in out(b, "scontrol show job 16")[0]
    assert "Restarts=1 " in out(b, "scontrol show job 16")[0]
    assert out(b, "scontrol requeuehold Incomplete 20") == ("", "Job is pending execution for job 20\n", 1)
    assert b.controls[-1].action == "requeuehold"
    assert out(b, "scontrol requeue abc") == ("", "Invalid job id specified for job abc\n", 1)
    assert out(b, "scontrol requeue") == ("", "too few arguments for keyword:requeue\n", 1)


# -- update ----------------------------------------------------------------------------------


def test_update_fields_in_slurms_spelling_any_case() -> None:
    b = backend([pending(20)])
    assert out(b, "scontrol update JobId=20 TimeLimit=1:00:00 JobName=renamed Partition=queue1") == (
        "",
        "",
        0,
    )
    assert b.controls[-1] == ControlRequest(
        action="update",
        targets=[JobTarget(20)],
        fields={"TimeLimit": "1:00:00", "JobName": "renamed", "Partition": "queue1"},
    )
    text = out(b, "scontrol show job 20")[0]
    assert "JobName=renamed" in text and "TimeLimit=01:00:00 " in text
    out(b, "scontrol update jobid=20 timelimit=5 numcpus=2 nice=10 minmemorynode=100 name=x")
    assert b.controls[-1].fields == {
        "TimeLimit": "5", "NumCPUs": "2", "Nice": "10", "MinMemoryNode": "100", "JobName": "x",
    }  # fmt: skip
    out(b, "scontrol update JobId 20 Nice")  # "Key Value" as two words; Nice alone means 100
    assert b.controls[-1].fields == {"Nice": "100"}


def test_update_relative_time_limit_is_resolved_like_scontrol() -> None:
    b = backend([running(time_limit_min=60)])
    out(b, "scontrol update JobId=16 TimeLimit+=30")
    assert b.controls[-1].fields == {"TimeLimit": "90"}
    out(b, "scontrol update JobId=16 TimeLimit=-1:00")  # minus one minute: Slurm's quirk
    assert b.controls[-1].fields == {"TimeLimit": "89"}
    assert out(b, "scontrol update JobId=16 TimeLimit-=5:00:00") == (
        "",
        "scontrol: error: TimeLimit decrement larger than current time limit (300 > 89)\n",
        1,
    )
    assert out(b, "scontrol update TimeLimit+=5 JobId=16") == (
        "",
        "scontrol: error: JobId must precede TimeLimit increment or decrement\n",
        1,
    )
    assert out(b, "scontrol update JobId=16 TimeLimit+=+5")[1] == (
        "scontrol: error: Invalid syntax, variations of +=- are not accepted.\n"
    )


def test_update_by_job_name() -> None:
    b = backend([pending(20), pending(21, name="other")])
    out(b, "scontrol update JobName=wrap Priority=5")
    assert b.controls[-1].targets == [JobTarget(20)]
    assert out(b, "scontrol update JobName=nothing Priority=5") == (
        "",
        "scontrol: error: No jobs with name 'nothing'\n",
        1,
    )


@pytest.mark.parametrize(
    ("args", "lines"),
    [
        ("JobId=20 TimeLimit=garbage", ["scontrol: error: Invalid TimeLimit value"]),
        ("JobId=20 Foo=1", ["Update of this parameter is not supported: Foo=1", "Request aborted"]),
        ("JobId=20", ["No changes specified"]),
        (
            "TimeLimit=10 Priority=1",
            [
                "No valid entity in update command",
                'Input line must include "NodeName", "PartitionName", "Reservation", '
                '"JobId", or "SlurmctldDebug"',
            ],
        ),
        ("JobId=20 NumCPUs=0", ["scontrol: error: Invalid NumCPUs value: 0"]),
        ("JobId=20 MinMemoryNode=100M", ["scontrol: error: Invalid MinMemoryNode value: 100M"]),
        (
            "JobId=20 Nice=99999999999",
            ["scontrol: error: Nice value out of range (+/- 2147483645). Value ignored"],
        ),
        ("JobId=20 Partition+=x", ["scontrol: error: Option Partition+=x does not accept [+|-]= syntax"]),
        ("JobId=abc TimeLimit=5", ["Invalid job id specified for job abc"]),
        ("JobId=20 TimeLimit", ["Invalid input: TimeLimit", "Request aborted"]),
    ],
)
def test_update_syntax_errors(args: str, lines: list[str]) -> None:
    b = backend([pending(20)])
    assert out(b, f"scontrol update {args}") == ("", "".join(x + "\n" for x in lines), 1)
    assert b.controls == []


def test_update_entities_other_than_jobs() -> None:
    b = backend()
    assert out(b, "scontrol update") == ("", "too few arguments for update keyword\n", 1)
    assert out(b, "scontrol update Foo=1") == (
        "",
        "No valid entity in update command\n"
        'Input line must include "NodeName", "PartitionName", "Reservation", "JobId", or "SlurmctldDebug"\n',
        1,
    )
    _, stderr, code = out(b, "scontrol update NodeName=queue1-dy-t2micro-1 State=POWER_DOWN_FORCE")
    assert code == 1 and "update of nodes is not supported by stratus" in stderr


def test_update_unknown_job_reports_the_failure() -> None:
    b = backend()
    assert out(b, "scontrol update JobId=99 TimeLimit=5") == ("", "Invalid job id specified for job 99\n", 1)


def test_parse_update_is_pure() -> None:
    req, errs = parse_update(["JobId=18_[1-2]", "Comment=x y"])
    assert errs == [] and req is not None
    assert req.targets == [JobTarget(18, IndexSet.from_range(1, 2))] and req.fields == {"Comment": "x y"}


def test_unchanged_rows_after_a_refused_update() -> None:
    row = pending(20)
    b = backend([row])
    out(b, "scontrol update JobId=20 TimeLimit=garbage")
    assert b.job_rows == [row]
    assert replace(row) == b.job_rows[0]

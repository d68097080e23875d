"""Slurm 22.05 facts the Slurm front door must keep: a job's environment, memory per CPU in
every listing, holds and requeues as scontrol reports them, output paths in squeue, TRES, and
sbatch's refusals. Each test names the Slurm fact it pins (and where Slurm has it).

Pure tests build rows from engine records as the head node does; the door tests run Slurm's
commands against a real in-process head node.
"""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any, cast

from stratus.engine.engine import Engine
from stratus.engine.indexset import IndexSet
from stratus.engine.model import EngineConfig, Job, NodeDef, PartitionDef
from stratus.service.interface import Service
from stratus.slurm.commands import run_command
from stratus.slurm.sbatch import parse_sbatch
from stratus.slurm.server import rows
from stratus.slurm.server.launch import SlurmLauncher
from stratus.slurm.server.submit import export_env, job_spec, payload
from stratus.slurm.timefmt import fmt_timestamp
from stratus.slurm.views import AcctRow, BatchRequest, ClientContext, CommandResult, JobRow
from tests.controller.inprocess import RecordingProvider, head_node

from .helpers import FakeBackend, at, make_ctx, run

# -- a job's environment -------------------------------------------------------------------------


class _Service:
    """What the launcher asks of the cluster service."""

    cluster_name = "c"
    api_port = 6817
    bin_dir = "/opt/c/bin"


def _engine(memory_scheduling: bool = False) -> Engine:
    nodes = tuple(NodeDef(f"q-st-c-{i}", ("q",), 2, 4000, static=True) for i in (1, 2))
    cfg = EngineConfig(
        partitions=(PartitionDef("q", tuple(n.name for n in nodes), default=True),),
        nodes=nodes,
        memory_scheduling=memory_scheduling,
        requeue_delay_s=0.0,
    )
    e = Engine(cfg, now=0.0)
    e.tick(0.0)
    for n in nodes:
        e.node_up(n.name, 0.0, instance_id=f"i-{n.name}")
    return e


def _submit(e: Engine, argv: list[str], ctx: ClientContext | None = None) -> tuple[Job, BatchRequest]:
    """Parse ``argv`` as sbatch does and queue it on ``e``: (the job record, the request)."""
    ctx = ctx or make_ctx()
    parsed = parse_sbatch([*argv, "--wrap", "true"], ctx, 0.0)
    request = parsed.request
    assert request is not None
    service = cast(Service, _Service())
    array = request.array.indices if request.array is not None else None
    return e.submit(job_spec(request, ctx, service), 0.0, array=array, hold=request.hold), request


def _launch_env(
    job: Job, request: BatchRequest, ctx: ClientContext | None = None, **kw: Any
) -> dict[str, str]:
    ctx = ctx or make_ctx()
    p = payload(request, ctx)
    launcher = SlurmLauncher(cast(Service, _Service()), **kw)
    launch = launcher(job, p.info, p.script, p.env)
    return cast(dict[str, str], launch["env"])


def test_a_requeued_run_sees_its_restart_count() -> None:
    """Slurm 22.05 sets SLURM_RESTART_COUNT in a batch job's environment only when the job was
    requeued (src/common/env.c: ``if (env->restart_cnt)``), to the number of restarts."""
    e = _engine()
    job, request = _submit(e, [])
    e.schedule(0.0)
    assert "SLURM_RESTART_COUNT" not in _launch_env(job, request)
    for run_no in (1, 2):
        e.requeue(job, float(run_no))
        e.job_ended(job.id, job.run, float(run_no), signal=15)
        e.schedule(float(run_no))
        assert job.run == run_no and job.alloc is not None
        assert _launch_env(job, request)["SLURM_RESTART_COUNT"] == str(run_no)


def test_array_task_step_is_the_step_of_the_array_spec() -> None:
    """Slurm 22.05 sets SLURM_ARRAY_TASK_STEP to the number after ``:`` in ``--array``
    (_create_job_array: atoi after the colon), 1 without one."""
    e = _engine()
    job, request = _submit(e, ["--array=1-5:2"])
    e.schedule(0.0)
    task = next(j for j in e.jobs.values() if j.alloc is not None)
    env = _launch_env(task, request)
    assert (env["SLURM_ARRAY_TASK_STEP"], env["SLURM_ARRAY_TASK_MIN"], env["SLURM_ARRAY_TASK_MAX"]) == (
        "2",
        "1",
        "5",
    )
    assert env["SLURM_ARRAY_TASK_COUNT"] == "3" and job.array_id == job.id


def test_batch_jobs_get_the_clusters_slurm_conf() -> None:
    """Slurm 22.05's batch jobs see SLURM_CONF, the path of the cluster's slurm.conf."""
    e = _engine()
    job, request = _submit(e, [])
    e.schedule(0.0)
    assert _launch_env(job, request, slurm_conf="/c/slurm.conf")["SLURM_CONF"] == "/c/slurm.conf"
    assert "SLURM_CONF" not in _launch_env(job, request)  # none written: none promised


def test_export_none_gets_the_login_defaults_and_tmpdir() -> None:
    """Slurm 22.05: ``--export=NONE`` keeps only the SLURM* variables and makes the node load
    the user's login environment (sbatch sets SLURM_GET_USER_ENV=1; ``su -`` gives MAIL);
    slurmstepd sets TMPDIR=/tmp whenever the job has none (task.c, _make_tmpdir)."""
    e = _engine()
    ctx = make_ctx(FOO="bar", SLURM_EXTRA="kept", TMPDIR="/scratch")
    job, request = _submit(e, ["--export=NONE"], ctx)
    e.schedule(0.0)
    env = _launch_env(job, request, ctx)
    assert "FOO" not in env and env["SLURM_EXTRA"] == "kept"
    assert env["MAIL"] == "/var/mail/root" and env["TMPDIR"] == "/tmp" and env["SLURM_GET_USER_ENV"] == "1"
    assert env["USER"] == "root" and env["PATH"].startswith("/opt/c/bin")
    # The default (ALL): the submitter's environment as it is; TMPDIR only where missing.
    job, request = _submit(e, [], ctx)
    e.schedule(0.0)
    env = _launch_env(job, request, ctx)
    assert env["FOO"] == "bar" and env["TMPDIR"] == "/scratch"
    assert "MAIL" not in env and "SLURM_GET_USER_ENV" not in env
    assert _launch_env(job, request, make_ctx())["TMPDIR"] == "/tmp"


def test_export_lists_follow_sbatchs_filter() -> None:
    """Slurm 22.05 (env_merge_filter): a list sets NAME=value, copies NAME, ``ALL`` adds
    everything, and every SLURM_* variable comes along; NONE keeps names starting SLURM."""
    env = {"A": "1", "B": "2", "SLURM_X": "x", "SLURMD_Y": "y"}
    assert export_env("NONE", env) == {"SLURM_X": "x", "SLURMD_Y": "y"}
    assert export_env("A,C=3", env) == {"A": "1", "C": "3", "SLURM_X": "x"}
    assert export_env("ALL,C=3", env) == {**env, "C": "3"}
    assert export_env(None, env) == env == export_env("all", env)


# -- memory per CPU, TRES --------------------------------------------------------------------------


def _row(job: Job, request: BatchRequest, *, consumable: bool = False) -> JobRow:
    return rows.job_row(job, payload(request, make_ctx()).info, memory_consumable=consumable)


def _backend(*job_rows: JobRow, acct: list[AcctRow] | None = None) -> FakeBackend:
    return FakeBackend(clock=at("09:30:00"), job_rows=list(job_rows), acct_rows=list(acct or []))


def test_mem_per_cpu_is_shown_by_squeue_scontrol_and_sacct() -> None:
    """Slurm 22.05: squeue ``%m`` prints the per-CPU figure as it prints a per-node one
    (``100M``); scontrol prints ``MinMemoryCPU=100M``; sacct's ReqMem is the requested TRES
    memory, per CPU times CPUs, without 21.08's c/n suffix."""
    e = _engine()
    job, request = _submit(e, ["-n", "2", "--mem-per-cpu=100M"])
    row = _row(job, request)
    b = _backend(row)
    assert run(b, f"squeue -h -j {job.id} -o %m").stdout == "100M\n"
    show = run(b, f"scontrol show job {job.id}").stdout
    assert "   MinCPUsNode=1 MinMemoryCPU=100M MinTmpDiskNode=0\n" in show
    (acct,) = [r for r in rows.accounting_rows([(job, payload(request, make_ctx()).info, [])], "c")]
    assert acct.req_mem_cpu_mb == 100
    res = run(_backend(acct=[acct]), f"sacct -n -X -P -j {job.id} --format=ReqMem,ReqTRES")
    assert res.stdout == "200M|billing=2,cpu=2,mem=200M,node=1\n"


def test_tres_lists_memory_only_where_memory_is_consumable() -> None:
    """Slurm 22.05 allocates memory only with CR_*_Memory (cons_tres job_test: ``if (!(cr_type
    & CR_MEMORY)) return``): a started job's TRES has no ``mem=`` under CR_CPU, whatever
    ``--mem`` asked; a job that never ran shows its request, memory included."""
    e = _engine()
    job, request = _submit(e, ["--mem=1G"])
    assert (
        "   TRES=cpu=1,mem=1G,node=1,billing=1\n"
        in run(_backend(_row(job, request)), "scontrol show job 1").stdout
    )
    e.schedule(0.0)
    text = run(_backend(_row(job, request)), "scontrol show job 1").stdout
    assert "   TRES=cpu=1,node=1,billing=1\n" in text and "MinMemoryNode=1G" in text
    consumable = _engine(memory_scheduling=True)
    job, request = _submit(consumable, ["--mem=1G"])
    consumable.schedule(0.0)
    text = run(_backend(_row(job, request, consumable=True)), "scontrol show job 1").stdout
    assert "   TRES=cpu=1,mem=1G,node=1,billing=1\n" in text


def test_eligible_and_accrue_times_are_unknown_while_held() -> None:
    """Slurm 22.05 clears a held job's begin time (_hold_job_rec) and its accrue time:
    scontrol shows EligibleTime=Unknown and AccrueTime=Unknown until the release."""
    e = _engine()
    held, request = _submit(e, ["--hold"])
    e.schedule(0.0)
    text = run(_backend(_row(held, request)), f"scontrol show job {held.id}").stdout
    assert "JobState=PENDING Reason=JobHeldUser " in text
    assert " EligibleTime=Unknown\n   AccrueTime=Unknown\n" in text
    e.set_hold(held, False, 5.0)
    e.schedule(5.0)
    text = run(_backend(_row(held, request)), f"scontrol show job {held.id}").stdout
    assert f" EligibleTime={fmt_timestamp(5.0)}\n   AccrueTime={fmt_timestamp(5.0)}\n" in text


# -- holds and requeues as scontrol and squeue show them -------------------------------------------


def test_requeuehold_is_described_as_slurm_describes_it() -> None:
    """Slurm 22.05: a requeue-held job has reason JobHeldUser and state_desc "job requeued in
    held state"; squeue prints the description as it is, scontrol with underscores for blanks
    (slurm_sprint_job_info), and the JSON dump keeps both."""
    e = _engine()
    job, request = _submit(e, [])
    e.schedule(0.0)
    e.requeue(job, 1.0, hold=True)
    e.job_ended(job.id, 0, 1.0, signal=15)
    b = _backend(_row(job, request))
    assert run(b, f"squeue -h -j {job.id} -o %r").stdout == "job requeued in held state\n"
    assert run(b, f"squeue -h -j {job.id} -o %R").stdout == "(job requeued in held state)\n"
    show = run(b, f"scontrol show job {job.id}").stdout
    assert "JobState=PENDING Reason=job_requeued_in_held_state " in show and "Restarts=1 " in show
    assert "Priority=0 " in show
    (dumped,) = json.loads(run(b, "squeue --json").stdout)["jobs"]
    assert (dumped["state_reason"], dumped["state_description"]) == (
        "JobHeldUser",
        "job requeued in held state",
    )


def test_a_requeued_job_shows_its_begin_time_wait() -> None:
    """Slurm 22.05 delays a requeued job (batch_requeue_fini: begin time = now + credential
    lifetime + 1): it is PENDING with reason BeginTime, EligibleTime and StartTime show when it
    may start, and AccrueTime is Unknown (as the ResumeTimeout capture shows)."""
    nodes = (NodeDef("q-st-c-1", ("q",), 2, 4000, static=True),)
    e = Engine(
        EngineConfig(partitions=(PartitionDef("q", ("q-st-c-1",), default=True),), nodes=nodes), now=0.0
    )
    e.tick(0.0)
    e.node_up("q-st-c-1", 0.0, instance_id="i-1")
    start = at("09:29:00")
    job = e.submit(_submit(_engine(), [])[0].spec, start)
    e.schedule(start)
    e.requeue(job, start + 10)
    e.job_ended(job.id, 0, start + 10, signal=15)
    e.schedule(start + 11)
    request = parse_sbatch(["--wrap", "true"], make_ctx(), 0.0).request
    assert request is not None
    b = FakeBackend(clock=start + 11, job_rows=[_row(job, request)])
    assert run(b, f"squeue -h -j {job.id} -o '%t %r'").stdout == "PD BeginTime\n"
    show = run(b, f"scontrol show job {job.id}").stdout
    eligible = start + 10 + e.config.requeue_delay_s
    assert f" EligibleTime={fmt_timestamp(eligible)}\n   AccrueTime=Unknown\n" in show
    assert f"   StartTime={fmt_timestamp(eligible)} EndTime=Unknown " in show


# -- squeue's output paths -------------------------------------------------------------------------


def test_squeue_prints_output_paths_as_submitted() -> None:
    """Slurm 22.05's squeue ``-O STDOUT``/``STDERR`` print the path as sbatch sent it (made
    absolute, patterns unexpanded), else ``<workdir>/slurm-<job id>.out``: for a pending array
    that is the array job's id, never task id 4294967294 (which scontrol prints)."""
    e = _engine()
    plain, plain_request = _submit(e, ["--array=0-9", "-n", "3"])
    given, given_request = _submit(e, ["-o", "out-%A_%a.txt", "-e", "/abs/err-%j"])
    b = _backend(_row(plain, plain_request), _row(given, given_request))
    assert (
        run(b, f"squeue -h -j {plain.id} -O STDOUT:60,STDERR:60").stdout.split()
        == [f"/home/user/work/slurm-{plain.id}.out"] * 2
    )
    assert run(b, f"squeue -h -j {given.id} -O STDOUT:60,STDERR:60").stdout.split() == [
        "/home/user/work/out-%A_%a.txt",
        "/abs/err-%j",
    ]
    assert (
        f"StdOut=/home/user/work/slurm-{plain.id}_4294967294.out"
        in run(b, f"scontrol show job {plain.id}").stdout
    )
    assert IndexSet.from_range(0, 9) == plain.pending_tasks


# -- sbatch's refusals -----------------------------------------------------------------------------


def _sbatch(argv: list[str], **env: str) -> CommandResult:
    return run_command("sbatch", argv, make_ctx(**env), FakeBackend())


def test_memory_options_are_mutually_exclusive() -> None:
    """Slurm 22.05 (_validate_memory_options): two of --mem, --mem-per-cpu, --mem-per-gpu given
    on the command line or in the script are fatal (exit 1); one given there wins over the
    SBATCH_* variables; two variables alone are fatal with their own message."""
    fatal = "sbatch: fatal: --mem, --mem-per-cpu, and --mem-per-gpu are mutually exclusive.\n"
    res = _sbatch(["--mem=10", "--mem-per-cpu=10", "--wrap=true"])
    assert (res.stdout, res.stderr, res.exit_code) == ("", fatal, 1)
    ctx = make_ctx(SBATCH_MEM_PER_NODE="10")
    parsed = parse_sbatch(["--mem-per-cpu=20", "--wrap=true"], ctx, 0.0)
    assert parsed.request is not None
    assert (parsed.request.mem_per_node_mb, parsed.request.mem_per_cpu_mb) == (None, 20)
    res = _sbatch(["--wrap=true"], SBATCH_MEM_PER_NODE="10", SBATCH_MEM_PER_CPU="20")
    assert res.stderr == (
        "sbatch: fatal: SLURM_MEM_PER_CPU, SLURM_MEM_PER_GPU, and SLURM_MEM_PER_NODE are mutually "
        "exclusive.\n"
    )
    assert res.exit_code == 1


def test_a_bad_begin_time_says_where_parse_time_stopped() -> None:
    """Slurm 22.05: parse_time prints ``Invalid time specification (pos=N): <text>`` first,
    then sbatch ``Invalid --begin specification`` (exit 255)."""
    res = _sbatch(["--begin=garbage", "--wrap=true"])
    assert (
        res.stderr
        == "Invalid time specification (pos=0): garbage\nsbatch: error: Invalid --begin specification\n"
    )
    assert res.exit_code == 255
    res = _sbatch(["--begin=now+3parsecs", "--wrap=true"])
    assert res.stderr.startswith("Invalid time specification (pos=4): now+3parsecs\n")


# -- against a real head node ----------------------------------------------------------------------


def _as(user: str, uid: int, *, admin: bool = False) -> ClientContext:
    return ClientContext(user=user, uid=uid, gid=uid, cwd="/tmp", env={"PATH": "/bin"}, host="h", admin=admin)


async def _door_scenario(tmp_path: Path) -> None:
    async with head_node(tmp_path, RecordingProvider()) as head:
        door = head.slurm
        alice = _as("alice", 1000)
        admin = _as("root", 0, admin=True)

        def cmd(ctx: ClientContext, line: str) -> CommandResult:
            words = line.split()
            return run_command(words[0], words[1:], ctx, door)

        # The node boots (CF) for the first job; the next ones wait.
        first = int(cmd(alice, "sbatch --parsable --wrap true").stdout)
        second = int(cmd(alice, "sbatch --parsable --wrap true").stdout)
        assert cmd(admin, f"scontrol hold {second}").exit_code == 0
        assert cmd(alice, f"squeue -h -j {second} -o %r").stdout == "JobHeldAdmin\n"
        denied = cmd(alice, f"scontrol release {second}")
        assert (denied.exit_code, denied.stderr) == (
            1,
            f"Access/permission denied for job {second}\nslurm_suspend error: Access/permission denied\n",
        )
        assert cmd(admin, f"scontrol uhold {second}").exit_code == 0
        assert cmd(alice, f"squeue -h -j {second} -o %r").stdout == "JobHeldUser\n"
        assert cmd(alice, f"scontrol release {second}").exit_code == 0
        # A finished job: "Job has already finished", as slurmctld's job update says.
        assert cmd(alice, f"scancel {second}").exit_code == 0
        done = cmd(alice, f"scontrol release {second}")
        assert (done.exit_code, done.stderr) == (
            1,
            f"Job has already finished for job {second}\nslurm_suspend error: Job has already finished\n",
        )
        # More nodes than the partition has; more CPUs than any node (--test-only words it so).
        res = cmd(alice, "sbatch -N 5 --wrap true")
        assert (res.stderr, res.exit_code) == (
            "sbatch: error: Batch job submission failed: Node count specification invalid\n",
            1,
        )
        # (99 CPUs is more than the partition has in all: with EnforcePartLimits=ALL, Slurm's
        # "More processors requested than permitted"; capture 33 shows it for sbatch.)
        res = cmd(alice, "sbatch --test-only -c 99 --wrap true")
        assert (res.stderr, res.exit_code) == (
            "allocation failure: More processors requested than permitted\n",
            1,
        )
        # The cluster's slurm.conf: written at start, readable by all, shown by show config.
        conf = tmp_path / "c" / "slurm.conf"
        text = conf.read_text()
        assert os.stat(conf).st_mode & 0o777 == 0o644
        assert "ClusterName=c\n" in text and "EnforcePartLimits=ALL\n" in text and "MinJobAge=300\n" in text
        assert "\nNodeName=q-st-c-1 CPUs=" in text and "\nPartitionName=q Nodes=q-st-c-1 Default=YES " in text
        assert f"SLURM_CONF              = {conf}\n" in cmd(alice, "scontrol show config").stdout
        assert first > 0


def test_the_door_words_holds_and_refusals_as_slurm(tmp_path: Path) -> None:
    """Against a real head node: an administrator's ``hold`` is JobHeldAdmin, which its user
    may not release; ``uhold`` is JobHeldUser; releasing a finished job says ``Job has already
    finished`` (Slurm 22.05's ESLURM_JOB_FINISHED); ``-N`` past the partition is refused at
    submit (EnforcePartLimits=ALL); ``--test-only`` reports ``allocation failure: <error>``
    (slurm_perror); and the cluster's slurm.conf exists for SLURM_CONF."""
    asyncio.run(_door_scenario(tmp_path))

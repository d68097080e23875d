"""``stratus simulate`` end to end: a real process reading real files, writing JSON and plots."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

RECORD = "{n} {submit} -1 {run} {procs} -1 -1 {procs} {req} -1 1 {user} 1 -1 {queue} -1 -1 -1"


def trace(tmp_path: Path, bad: str | None = None) -> Path:
    lines = ["; Version: 2.2", "; MaxProcs: 8 (all of them)", ";"]
    for n in range(1, 41):
        lines.append(
            RECORD.format(
                n=n,
                submit=n * 30,
                run=60 + (n * 37) % 500,
                procs=1 + n % 8,
                req=700,
                user=n % 3,
                queue=1 + n % 2,
            )
        )
        if bad is not None and n == 20:
            lines.append(bad)
    p = tmp_path / "small.swf"
    p.write_text("\n".join(lines) + "\n")
    return p


def simulate(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "stratus.cli.main", "simulate", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_json_report_and_output_file(tmp_path: Path) -> None:
    out = tmp_path / "report.json"
    done = simulate(
        "--trace", str(trace(tmp_path)), "--policy", "conservative", "--json", "--output", str(out)
    )
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert json.loads(out.read_text()) == doc
    assert doc["policy"] == "conservative"
    assert doc["machine"] == {"processors": 8}
    assert doc["jobs"]["counted"] == 40
    assert doc["jobModel"] == {"runtime": "truncate", "processors": "allocated", "unusable": "simulate"}
    overall = doc["overall"]
    assert 0 < overall["utilization"] <= 1
    assert overall["meanBoundedSlowdown"] >= 1
    assert overall["medianWaitSeconds"] <= overall["p95WaitSeconds"] <= overall["maxWaitSeconds"]


def test_summary_table_and_policies_differ(tmp_path: Path) -> None:
    path = str(trace(tmp_path))
    fcfs = simulate("--trace", path, "--policy", "fcfs")
    assert fcfs.returncode == 0, fcfs.stderr
    assert "policy fcfs" in fcfs.stdout and "mean bsld" in fcfs.stdout
    waits = {}
    for policy in ("fcfs", "easy", "lxf", "sjbf"):
        done = simulate("--trace", path, "--policy", policy, "--json")
        waits[policy] = json.loads(done.stdout)["overall"]["meanWaitSeconds"]
    assert waits["easy"] <= waits["fcfs"]
    assert len(set(waits.values())) > 1


def test_plot_png_and_svg(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    path = str(trace(tmp_path))
    png, svg = tmp_path / "q.png", tmp_path / "q.svg"
    assert simulate("--trace", path, "--plot", str(png)).returncode == 0
    assert simulate("--trace", path, "--plot", str(svg)).returncode == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert b"<svg" in svg.read_bytes()[:2000]


def test_plot_with_another_extension_fails_before_replaying(tmp_path: Path) -> None:
    done = simulate("--trace", str(trace(tmp_path)), "--plot", str(tmp_path / "q.gif"))
    assert done.returncode == 1
    assert "--plot" in done.stdout and "must end in .png or .svg" in done.stdout


def test_unknown_policy_lists_the_valid_ones(tmp_path: Path) -> None:
    done = simulate("--trace", str(trace(tmp_path)), "--policy", "greedy")
    assert done.returncode == 2
    assert "invalid choice: 'greedy'" in done.stderr
    for name in ("fcfs", "easy", "conservative", "lxf", "sjbf"):
        assert name in done.stderr


def test_bad_line_names_file_line_and_field(tmp_path: Path) -> None:
    bad = RECORD.format(n=99, submit=600, run="ten", procs=2, req=700, user=1, queue=1)
    path = trace(tmp_path, bad=bad)
    done = simulate("--trace", str(path))
    assert done.returncode == 1
    assert json.loads(done.stdout) == {"message": f"{path}:24: field 4 (run time) is not a number: 'ten'"}
    skipped = simulate("--trace", str(path), "--skip-bad-lines", "--json")
    assert skipped.returncode == 0, skipped.stdout
    assert json.loads(skipped.stdout)["skippedLines"] == 1
    assert f"warning: skipped 1 malformed line of the trace (the first: {path}:24:" in skipped.stderr


def test_missing_trace_and_machine_size(tmp_path: Path) -> None:
    done = simulate("--trace", str(tmp_path / "none.swf"))
    assert done.returncode == 1 and "cannot read the trace" in done.stdout
    headerless = tmp_path / "plain.swf"
    headerless.write_text(RECORD.format(n=1, submit=0, run=5, procs=1, req=10, user=1, queue=1) + "\n")
    done = simulate("--trace", str(headerless))
    assert done.returncode == 1 and "--procs" in done.stdout
    assert simulate("--trace", str(headerless), "--procs", "2").returncode == 0


def test_cluster_configuration_costs_static_and_dynamic_nodes(tmp_path: Path) -> None:
    cfg = tmp_path / "cluster.yaml"
    cfg.write_text(
        "Region: us-east-1\nImage:\n  Os: alinux2\nHeadNode:\n  InstanceType: t3.small\n"
        "  Networking:\n    SubnetId: subnet-12345678\n"
        "Scheduling:\n  Scheduler: slurm\n  SlurmSettings:\n    ScaledownIdletime: 5\n"
        "    CustomSlurmSettings:\n      - PriorityType: priority/multifactor\n"
        "      - PriorityWeightAge: 1000\n"
        "  SlurmQueues:\n"
        "    - Name: small\n      ComputeResources:\n"
        "        - Name: c\n          InstanceType: c5.large\n          MinCount: 1\n          MaxCount: 4\n"
        "      Networking:\n        SubnetIds: [subnet-12345678]\n"
        "    - Name: big\n      ComputeResources:\n"
        "        - Name: m\n          InstanceType: c5.2xlarge\n"
        "          MinCount: 0\n          MaxCount: 2\n"
        "      Networking:\n        SubnetIds: [subnet-12345678]\n"
    )
    done = simulate(
        "--trace",
        str(trace(tmp_path)),
        "-c",
        str(cfg),
        "--queue-map",
        "1=small,2=big",
        "--boot-time",
        "60",
        "--json",
    )
    assert done.returncode == 0, done.stdout + done.stderr
    doc = json.loads(done.stdout)
    assert doc["priorityType"] == "multifactor"
    assert doc["bootTimeSeconds"] == 60
    assert set(doc["queues"]) == {"small", "big"}
    assert doc["queues"]["small"]["jobs"] + doc["queues"]["big"]["jobs"] == 40
    small, big = doc["cost"]["small"], doc["cost"]["big"]
    # the static node is paid for the whole replay; the others only while powered up
    assert small["staticNodeHours"] == pytest.approx(doc["makespanSeconds"] / 3600, rel=0.01)
    assert big["staticNodeHours"] == 0 and big["dynamicNodeHours"] > 0
    assert big["cost"] == pytest.approx(big["nodeHours"] * 0.34, rel=0.01)
    assert doc["totalCost"] == pytest.approx(small["cost"] + big["cost"], abs=0.02)


def test_queue_map_to_an_unknown_queue(tmp_path: Path) -> None:
    cfg = Path(__file__).parents[2] / "examples" / "sim-cluster.yaml"
    done = simulate("--trace", str(trace(tmp_path)), "-c", str(cfg), "--queue-map", "1=gpu")
    assert done.returncode == 1
    assert "'gpu' is not a queue of the cluster; it has batch" in done.stdout


def wide_trace(tmp_path: Path) -> Path:
    """20 jobs on an 8-processor machine; jobs 5 and 15 ask for 12, job 10 for 20 (usable all)."""
    lines = ["; MaxProcs: 8"]
    for n in range(1, 21):
        procs = {5: 12, 10: 20, 15: 12}.get(n, 1 + n % 4)
        lines.append(
            RECORD.format(n=n, submit=n * 10, run=100, procs=procs, req=200, user=1, queue=1 + n % 2)
        )
    p = tmp_path / "wide.swf"
    p.write_text("\n".join(lines) + "\n")
    return p


def test_jobs_wider_than_the_machine_are_shrunk_by_default_and_counted(tmp_path: Path) -> None:
    """The classic simulator's convention (jobs capped at the machine) stays the default, but no
    longer silently: the count is on stderr, in the summary and in the JSON report."""
    path = str(wide_trace(tmp_path))
    done = simulate("--trace", path, "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    doc = json.loads(done.stdout)
    assert doc["oversizedJobs"] == {"action": "shrink", "jobs": 3, "counted": 3, "widestProcessors": 20}
    assert doc["jobs"]["counted"] == 20
    assert (
        "warning: 3 jobs asked for more processors than their queue has (up to 20): shrunk to fit their "
        "queue (--oversized shrink; the choices are shrink, drop, fail)" in done.stderr
    )
    table = simulate("--trace", path)
    assert table.returncode == 0 and "3 jobs asked for more processors" in table.stdout


def test_oversized_drop_and_fail(tmp_path: Path) -> None:
    """``--oversized drop`` leaves the wide jobs out of the replay; ``fail`` refuses to replay,
    naming the first such job and the other choices (exit 1, pcluster-style JSON message)."""
    path = str(wide_trace(tmp_path))
    dropped = simulate("--trace", path, "--oversized", "drop", "--json")
    assert dropped.returncode == 0, dropped.stdout + dropped.stderr
    doc = json.loads(dropped.stdout)
    assert doc["oversizedJobs"]["action"] == "drop" and doc["oversizedJobs"]["jobs"] == 3
    assert doc["jobs"]["counted"] == 17
    assert "left out of the replay (--oversized drop" in dropped.stderr

    failed = simulate("--trace", path, "--oversized", "fail")
    assert failed.returncode == 1
    assert json.loads(failed.stdout) == {
        "message": "--oversized fail: 3 jobs of the trace ask for more processors than their queue has "
        "(the first: job 5 asks for 12, the machine has 8). Replay them on the whole queue with "
        "--oversized shrink, or leave them out with --oversized drop."
    }
    assert simulate("--trace", path, "--oversized", "grow").returncode == 2


def test_with_a_cluster_a_job_is_measured_against_the_queue_it_is_sent_to(tmp_path: Path) -> None:
    """ParallelCluster 3.12 declares a queue's nodes in slurm.conf up to MaxCount, so a job wider
    than its queue's MaxCount x vCPUs can never start there, however big another queue is. Here
    queue ``small`` has 2 x 2 = 4 vCPUs and ``big`` 4 x 8 = 32: the jobs of 12 and 20 processors
    are too wide for ``small`` only."""
    cfg = tmp_path / "cluster.yaml"
    cfg.write_text(
        "HeadNode:\n  InstanceType: t3.small\nScheduling:\n  Scheduler: slurm\n  SlurmQueues:\n"
        "    - Name: small\n      ComputeResources:\n"
        "        - Name: c\n          InstanceType: c5.large\n          MaxCount: 2\n"
        "    - Name: big\n      ComputeResources:\n"
        "        - Name: m\n          InstanceType: c5d.2xlarge\n          MaxCount: 4\n"
    )
    path = str(wide_trace(tmp_path))
    done = simulate("--trace", path, "-c", str(cfg), "--queue-map", "1=big,2=small", "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    doc = json.loads(done.stdout)
    # The trace's queue is 1 + n % 2: jobs 5 and 15 (12 processors) go to small, job 10 (20) to big.
    assert doc["oversizedJobs"] == {"action": "shrink", "jobs": 2, "counted": 2, "widestProcessors": 12}
    failed = simulate("--trace", path, "-c", str(cfg), "--queue-map", "1=big,2=small", "--oversized", "fail")
    assert failed.returncode == 1
    assert "(the first: job 5 asks for 12, queue small has 4)" in json.loads(failed.stdout)["message"]

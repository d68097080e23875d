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

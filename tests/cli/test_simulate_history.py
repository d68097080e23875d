"""``stratus simulate --history`` on a live cluster: its own jobs replayed on its configuration and
on a what-if one, side by side, exported as SWF, and the errors of bad input."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from tests.integration.conftest import stratus, workdir
from tests.integration.harness import WALKTHROUGH_CONFIG, Cluster, Stratus, wait_for

__all__ = ["stratus", "workdir"]

FIGURES = (
    "jobs",
    "meanWaitSeconds",
    "p95WaitSeconds",
    "maxWaitSeconds",
    "meanBoundedSlowdown",
    "utilization",
)


def _ran(stratus: Stratus, tmp_path: Path, workdir: Path) -> Cluster:
    """A one-CPU cluster that ran three jobs one after another and had one cancelled while held."""
    c = stratus.create("hist", WALKTHROUGH_CONFIG.format(idle=1, min_count=1, max_count=1), tmp_path)
    ids = [c.sbatch("-t", "1", "--wrap", "sleep 1", cwd=workdir) for _ in range(3)]
    held = c.sbatch("-H", "--wrap", "true", cwd=workdir)
    assert c.slurm("scancel", str(held)).code == 0
    wait_for(
        lambda: all(c.squeue_states("-t", "all").get(str(i)) == "COMPLETED" for i in ids),
        60,
        what="three jobs COMPLETED",
    )
    return c


def test_history_replay_what_if_compare_and_export(stratus: Stratus, tmp_path: Path, workdir: Path) -> None:
    c = _ran(stratus, tmp_path, workdir)
    own = stratus.run("simulate", "--history", "hist", "--json", "--no-progress")
    assert own.code == 0, own.out + own.err
    doc = own.json
    history = doc["history"]
    assert history["cluster"] == "hist" and history["jobs"] == 3
    assert history["leftOut"] == {"neverStarted": 1, "unfinished": 0}
    assert history["recorded"]["jobs"] == 3 and history["recorded"]["meanWaitSeconds"] > 0
    assert doc["machine"]["clusterConfiguration"] == str(c.root / "cluster.yaml")
    assert doc["jobs"]["counted"] == 3
    # One CPU, three jobs submitted together: they wait for each other in the replay too.
    assert doc["overall"]["meanWaitSeconds"] > 0
    assert set(doc["queues"]) == {"queue1"} and "queue1" in doc["cost"]

    # What if the queue had four static nodes: nobody waits, and more node-hours are paid for.
    more = tmp_path / "more.yaml"
    more.write_text(WALKTHROUGH_CONFIG.format(idle=1, min_count=4, max_count=4))
    bigger = stratus.run("simulate", "--history", "hist", "-c", str(more), "--json", "--no-progress")
    assert bigger.code == 0, bigger.out + bigger.err
    what_if = bigger.json
    assert what_if["overall"]["meanWaitSeconds"] <= doc["overall"]["meanWaitSeconds"]
    assert what_if["overall"]["meanWaitSeconds"] == 0

    both = stratus.run(
        "simulate", "--history", "hist", "-c", str(more), "--compare", "--json", "--no-progress"
    )
    assert both.code == 0, both.out + both.err
    cmp = both.json
    assert cmp["history"]["jobs"] == 3
    for key in FIGURES:
        assert cmp["current"]["overall"][key] == doc["overall"][key], key
        assert cmp["whatIf"]["overall"][key] == what_if["overall"][key], key
    diff = cmp["difference"]
    assert diff["overall"]["meanWaitSeconds"] == round(
        what_if["overall"]["meanWaitSeconds"] - doc["overall"]["meanWaitSeconds"], 4
    )
    assert diff["overall"]["meanWaitSeconds"] < 0
    assert diff["cost"]["queue1"]["nodeHours"] >= 0
    assert set(diff["queues"]) == {"queue1"}
    plots = [] if importlib.util.find_spec("matplotlib") is None else ["--plot", str(tmp_path / "q.svg")]
    table = stratus.run(
        "simulate", "--history", "hist", "-c", str(more), "--compare", "--no-progress", *plots
    )
    assert table.code == 0, table.out + table.err
    assert "what if" in table.out and "mean wait (s)" in table.out and "total cost" in table.out
    if plots:  # one picture per configuration
        assert (tmp_path / "q-current.svg").exists() and (tmp_path / "q-whatif.svg").exists()

    # The history as SWF, replayed as a trace on the cluster's configuration: the same figures.
    swf = tmp_path / "hist.swf"
    exported = stratus.run("simulate", "--history", "hist", "--export-swf", str(swf), "--json")
    assert exported.code == 0, exported.out + exported.err
    assert exported.json["history"]["jobs"] == 3
    said = stratus.run("simulate", "--history", "hist", "--export-swf", str(tmp_path / "again.swf"))
    assert said.code == 0 and said.out.startswith(f"wrote 3 jobs of cluster hist to {tmp_path / 'again.swf'}")
    replay = exported.json["replay"].split()
    assert replay[:4] == ["stratus", "simulate", "--trace", str(swf)]
    trace = stratus.run(*replay[1:], "--json", "--no-progress")
    assert trace.code == 0, trace.out + trace.err
    again = trace.json
    assert again["trace"] == str(swf)
    for key in FIGURES:
        assert again["overall"][key] == doc["overall"][key], key
    assert again["queues"] == doc["queues"]
    assert again["cost"] == doc["cost"]
    assert again["makespanSeconds"] == doc["makespanSeconds"]


def test_history_bad_input(stratus: Stratus, tmp_path: Path, workdir: Path) -> None:
    def fails(*args: str) -> str:
        r = stratus.run("simulate", *args, "--no-progress")
        assert r.code == 1, r.out + r.err
        return r.out

    assert "Cluster 'nope' does not exist" in fails("--history", "nope")
    c = stratus.create("quiet", WALKTHROUGH_CONFIG.format(idle=1, min_count=1, max_count=1), tmp_path)
    # No job yet: nothing to replay, and the message says why.
    assert "cluster quiet has no finished job to replay" in fails("--history", "quiet")
    c.sbatch("--wrap", "true", cwd=workdir)
    wait_for(lambda: "COMPLETED" in c.squeue_states("-t", "all").values(), 60, what="a finished job")
    assert "no finished job submitted from 2099-01-01" in fails("--history", "quiet", "--since", "2099-01-01")
    assert "is not an ISO 8601 date" in fails("--history", "quiet", "--until", "yesterday")
    assert "must be later than --since" in fails(
        "--history", "quiet", "--since", "2024-02-01", "--until", "2024-01-01"
    )
    assert "--compare needs -c" in fails("--history", "quiet", "--compare")
    assert "--since needs --history" in fails("--trace", str(tmp_path / "x.swf"), "--since", "2024-01-01")
    broken = tmp_path / "broken.yaml"
    broken.write_text(WALKTHROUGH_CONFIG.format(idle=1, min_count=5, max_count=2))
    out = fails("--history", "quiet", "-c", str(broken), "--compare")
    assert "Invalid cluster configuration" in out and "MaxCount" in out
    assert "cannot read the cluster configuration" in fails(
        "--history", "quiet", "-c", str(tmp_path / "none.yaml")
    )
    # --trace and --history together: a usage error, as every exclusive pair of options.
    both = stratus.run("simulate", "--history", "quiet", "--trace", "x.swf")
    assert both.code == 2 and "not allowed with argument" in both.err

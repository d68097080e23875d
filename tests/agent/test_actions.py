"""CustomActions on a node: run in order with their arguments; the first failure is named as
ParallelCluster names it (``<event>DownloadFailure``, ``<event>ExecutionFailure``)."""

from __future__ import annotations

from pathlib import Path

from stratus.agent.actions import run_actions


def test_scripts_run_in_order_and_the_first_failure_stops_the_boot(tmp_path: Path) -> None:
    log = tmp_path / "log"
    ok = tmp_path / "ok.sh"
    ok.write_text(f'echo "$*" >> {log}\n')
    bad = tmp_path / "bad.sh"
    bad.write_text("exit 4\n")
    actions = {"OnNodeConfigured": [[str(ok), "second"]], "OnNodeStart": [[str(ok), "first"]]}
    assert run_actions(actions) == ""
    assert log.read_text().split() == ["first", "second"]  # OnNodeStart first, whatever the order
    failing = {"OnNodeStart": [[str(bad)], [str(ok), "never"]]}
    assert run_actions(failing) == f"OnNodeStartExecutionFailure: {bad} exited with status 4"
    assert "never" not in log.read_text()


def test_a_script_the_node_cannot_fetch_is_a_download_failure(tmp_path: Path) -> None:
    why = run_actions({"OnNodeConfigured": [["s3://bucket/setup.sh"]]})
    assert why.startswith("OnNodeConfiguredDownloadFailure: cannot get s3://bucket/setup.sh")
    why = run_actions({"OnNodeStart": [[str(tmp_path / "missing.sh")]]})
    assert why.startswith("OnNodeStartDownloadFailure:")

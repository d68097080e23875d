"""What one invalid config gets back: pcluster's two stages, schema first, then every validator.

ParallelCluster 3.12 (``Cluster._validate_and_parse_config``) loads the config with its schema
first; a schema failure raises ``ConfigValidationError`` with the ``ConfigSchemaValidator``
finding at once, so no semantic validator runs on a config whose structure is wrong. Once the
schema passes, every validator runs and, if any finding reaches the failure level, all of them
(every level) come back together as ``configurationValidationErrors``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import cast

import pytest

from stratus.cli.main import main
from stratus.config import ConfigValidationError, load_cluster_config

#: Findings for four validators at three levels, and no schema problem.
SEMANTIC = """\
Region: eu-west-1
HeadNode:
  InstanceType: t2.micr
Scheduling:
  Scheduler: slurm
  SlurmSettings:
    CustomSlurmSettings:
      - SlurmUser: root
  SlurmQueues:
  - Name: Queue1
    ComputeResources:
    - Name: efa
      InstanceType: c5n.18xlarge
      MaxCount: 2
"""


def reported(error: ConfigValidationError) -> list[dict[str, str]]:
    """The ``configurationValidationErrors`` list pcluster prints for ``error``."""
    return cast(list[dict[str, str]], error.to_json()["configurationValidationErrors"])


def test_a_schema_failure_stops_before_any_validator_runs() -> None:
    """ParallelCluster 3.12: a misspelt key is a ``ConfigSchemaValidator`` error, and the
    semantic problems of the same file (an unknown instance type, a bad queue name, a refused
    Slurm parameter) are not reported until the structure is fixed."""
    text = SEMANTIC.replace("  Scheduler: slurm\n", "  Scheduler: slurm\n  Schedular: slurm\n")
    with pytest.raises(ConfigValidationError) as caught:
        load_cluster_config(text)
    error = caught.value
    assert [m["type"] for m in reported(error)] == ["ConfigSchemaValidator"]
    assert error.errors[0].message == (
        "Scheduling.Schedular (line 6): Unknown field. Did you mean 'Scheduler'?"
    )


def test_once_the_schema_passes_every_finding_comes_back_together() -> None:
    """ParallelCluster 3.12 raises one ``ConfigValidationError`` with all validation failures:
    the errors of several validators and the warnings and infos below the failure level, in one
    ``configurationValidationErrors`` list (stratus orders it by line)."""
    with pytest.raises(ConfigValidationError) as caught:
        load_cluster_config(SEMANTIC)
    found = [(m["level"], m["type"]) for m in reported(caught.value)]
    assert found == [
        ("INFO", "LocalProviderValidator"),  # Region, line 1
        ("ERROR", "InstanceTypeValidator"),  # line 3
        ("INFO", "LocalProviderValidator"),  # SlurmUser has no effect either, line 8
        ("ERROR", "CustomSlurmSettingsValidator"),  # line 8
        ("ERROR", "NameValidator"),  # line 10
        ("WARNING", "EfaValidator"),  # line 13
    ]
    assert {m.type for m in caught.value.errors} == {
        "InstanceTypeValidator",
        "CustomSlurmSettingsValidator",
        "NameValidator",
    }


def test_create_cluster_prints_the_schema_errors_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``create-cluster`` answers as ParallelCluster 3.12 does: ``Invalid cluster configuration.``,
    exit 1, with only the schema errors while the schema fails, and nothing created."""
    monkeypatch.setenv("STRATUS_HOME", str(tmp_path / "home"))
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(SEMANTIC.replace("  Scheduler: slurm\n", "  Scheduler: slurm\n  Schedular: slurm\n"))
    assert main(["create-cluster", "-n", "demo", "-c", str(cfg)]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert list(doc) == ["configurationValidationErrors", "message"]  # pcluster's key order
    assert doc["message"] == "Invalid cluster configuration."
    assert [m["type"] for m in doc["configurationValidationErrors"]] == ["ConfigSchemaValidator"]
    assert not (tmp_path / "home" / "clusters" / "demo").exists()

    cfg.write_text(SEMANTIC)
    assert main(["create-cluster", "-n", "demo", "-c", str(cfg)]) == 1
    doc = json.loads(capsys.readouterr().out)
    types = [m["type"] for m in doc["configurationValidationErrors"]]
    assert "ConfigSchemaValidator" not in types and "InstanceTypeValidator" in types

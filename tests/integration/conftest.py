"""Fixtures for integration tests: a private STRATUS_HOME whose clusters are all torn down."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.harness import Cluster, Stratus, kill_all, processes_of, wait_for


@pytest.fixture
def stratus(tmp_path: Path) -> Iterator[Stratus]:
    home = tmp_path / "home"
    s = Stratus(home)
    yield s
    # Tear down every cluster this test left, then make sure none of its processes survive.
    root = home / "clusters"
    pids: list[int] = []
    if root.exists():
        for d in root.iterdir():
            if d.name.startswith("."):
                continue
            c = Cluster(s, d.name, d)
            pid = c.controller_pid()
            pids += [pid] if pid else []
            pids += list(c.agent_pids().values())
            s.run("delete-cluster", "-n", d.name, "--wait")
    try:
        wait_for(lambda: not processes_of(pids), 15, what="every process of the cluster to exit")
    finally:
        leftovers = processes_of(pids)
        kill_all(pids)
    assert not leftovers, f"processes left running: {[p.pid for p in leftovers]}"


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    d = tmp_path / "work"
    d.mkdir()
    return d

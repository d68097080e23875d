"""A site's slurm.conf as a node of another machine gets it (:mod:`stratus.slurmengine.siteconf`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from stratus.slurmengine.siteconf import SiteConfError, flatten, has_setting, localize


def test_include_lines_are_replaced_by_the_files_they_name(tmp_path: Path) -> None:
    (tmp_path / "parts").mkdir()
    (tmp_path / "parts" / "b.conf").write_text("NodeName=b\n")
    (tmp_path / "parts" / "a.conf").write_text("NodeName=a\ninclude nested.conf\n")
    (tmp_path / "parts" / "nested.conf").write_text("PartitionName=p Nodes=a\n")
    (tmp_path / "burst.conf").write_text("NodeName=burst\n")
    conf = tmp_path / "slurm.conf"
    conf.write_text(
        f"ClusterName=site\nInclude parts/[ab].conf\ninclude {tmp_path / 'burst.conf'}\nSlurmctldPort=1\n"
    )
    text = flatten(conf)
    lines = [line for line in text.splitlines() if not line.startswith("#")]
    # Glob matches in sorted order, nested includes relative to the including file, order kept.
    assert lines == ["ClusterName=site", "NodeName=a", "PartitionName=p Nodes=a", "NodeName=b",
                     "NodeName=burst", "SlurmctldPort=1"]  # fmt: skip
    assert "# Include parts/[ab].conf" in text
    # A file can be left out (the site's own includes of burst.conf, when checking the site).
    assert "NodeName=burst" not in flatten(conf, skip=tmp_path / "burst.conf")


def test_unreadable_or_endless_includes_are_named(tmp_path: Path) -> None:
    conf = tmp_path / "slurm.conf"
    conf.write_text("include missing.conf\n")
    with pytest.raises(SiteConfError, match=r"missing\.conf"):
        flatten(conf)
    conf.write_text("include slurm.conf\n")
    with pytest.raises(SiteConfError, match="nest more than"):
        flatten(conf)


def test_localize_gives_the_node_its_own_paths_and_keeps_the_rest() -> None:
    site = (
        "ClusterName=site\n"
        "AuthInfo=cred_expire=70,socket=/run/munge/site.socket\n"
        "SlurmdSpoolDir=/var/spool/slurmd\n"
        "slurmdpidfile=/run/slurmd.pid\n"
        "SlurmdLogFile=/var/log/slurmd.log\n"
        "# AuthInfo=commented out\n"
        "NodeName=n1 CPUs=2\n"
    )
    text = localize(site, "/run/d", "/run/d/munge.socket")
    settings = [line for line in text.splitlines() if line and not line.startswith("#")]
    assert settings == [
        "ClusterName=site",
        "NodeName=n1 CPUs=2",
        "AuthInfo=cred_expire=70,socket=/run/d/munge.socket",
        "SlurmdSpoolDir=/run/d/%n",
        "SlurmdPidFile=/run/d/slurmd-%n.pid",
        "SlurmdLogFile=/run/d/slurmd-%n.log",
    ]
    # A site without AuthInfo (munge's default socket) gets the node's socket all the same.
    assert "AuthInfo=socket=/s\n" in localize("ClusterName=x\n", "/d", "/s")
    assert has_setting(site, "authinfo") and not has_setting(site, "DebugFlags")

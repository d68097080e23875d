"""The mount points an agent reports, read from the kernel's mountinfo."""

from __future__ import annotations

from pathlib import Path

from stratus.agent.mounts import mount_points


def test_mount_points_unescape_paths_and_survive_a_missing_file(tmp_path: Path) -> None:
    info = tmp_path / "mountinfo"
    info.write_text(
        "22 1 0:21 / / rw,relatime - ext4 /dev/sda1 rw\n"
        "23 22 0:22 / /data\\040set rw - nfs srv:/x rw\n"
        "24 22 0:23 / /scratch rw - tmpfs tmpfs rw\n"
        "garbage\n"
    )
    assert mount_points(info) == ["/", "/data set", "/scratch"]
    assert mount_points(tmp_path / "absent") == []


def test_this_process_sees_the_root_mount() -> None:
    assert "/" in mount_points()

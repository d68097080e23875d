"""A provider's own record of what it launched: one JSON file per instance in the cluster's
``instances/`` folder, written before ``create`` returns, so that ``describe`` finds an instance
again after the head node restarts (and a repeated create token is answered with it)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from stratus.providers.base import TAG_CLUSTER, Instance


class InstanceRecords:
    """The records of one provider kind: files ``<prefix>*.json`` (its instance ids' prefix)."""

    def __init__(self, folder: Path, prefix: str) -> None:
        self.folder = folder
        self.prefix = prefix

    def path(self, instance_id: str) -> Path:
        return self.folder / f"{instance_id}.json"

    def write(self, inst: Instance, token: str) -> None:
        """Record ``inst`` and the create token it answers, atomically (owner-only folder)."""
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = self.path(inst.instance_id)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"token": token, "instance": inst.to_json()}))
        tmp.replace(path)

    def remove(self, instance_id: str) -> None:
        self.path(instance_id).unlink(missing_ok=True)

    def read(
        self, cluster: str, mine: Callable[[Instance], bool] = lambda _: True
    ) -> list[tuple[Instance, str]]:
        """(instance, token) of every record of ``cluster`` (and ``mine``), in instance-id order.

        A file removed meanwhile, or not a record of ours, is skipped.
        """
        out: list[tuple[Instance, str]] = []
        if not self.folder.is_dir():
            return out
        for path in sorted(self.folder.glob(f"{self.prefix}*.json")):
            try:
                rec = json.loads(path.read_text())
                inst = Instance.from_json(rec["instance"])
            except (OSError, ValueError, KeyError, TypeError):
                continue
            if inst.tags.get(TAG_CLUSTER) == cluster and mine(inst):
                out.append((inst, str(rec.get("token", ""))))
        return out

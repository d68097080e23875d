"""Job payloads as the head node reads them back: summaries for listings, whole ones to launch.

A payload is stored once, with its job, by the front door that made it (see
:class:`stratus.service.model.Payload`). Listings read only the small ``info`` part of every live
job, kept in memory; launching reads the script and environment too, through a small LRU cache
(array tasks share their array's payload, so a 1,000-task array reads it once).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import Any

from stratus.store.store import Store

PAYLOAD_CACHE = 256  # whole payloads kept for launches


class Payloads:
    """Read-through caches over the store's payloads (the controller is the only writer)."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._infos: dict[int, dict[str, Any]] = {}
        self._full: OrderedDict[int, tuple[dict[str, Any], str, dict[str, str]]] = OrderedDict()

    def remember(self, payload_id: int, info: dict[str, Any]) -> None:
        """The summary of a payload just stored (saves reading it back)."""
        self._infos[payload_id] = info

    def info(self, payload_id: int) -> dict[str, Any]:
        """The summary of a payload; empty if none is stored."""
        info = self._infos.get(payload_id)
        if info is None:
            with self._store.reading() as conn:
                self._infos.update(self._store.load_payload_infos(conn, [payload_id]))
            info = self._infos.get(payload_id, {})
        return info

    def preload(self, payload_ids: Iterable[int]) -> None:
        """Read the summaries of ``payload_ids`` not in memory yet, in one query."""
        missing = [i for i in payload_ids if i not in self._infos]
        if missing:
            with self._store.reading() as conn:
                self._infos.update(self._store.load_payload_infos(conn, missing))

    def prune(self, live_count: int, live_ids: Callable[[], set[int]]) -> None:
        """Forget summaries of jobs no longer live, once there are clearly more than live jobs."""
        if len(self._infos) > 2 * live_count + 100:
            live = live_ids()
            self._infos = {k: v for k, v in self._infos.items() if k in live}

    def full(self, payload_id: int) -> tuple[dict[str, Any], str, dict[str, str]]:
        """(info, script, environment) of a payload, for launching its job."""
        cached = self._full.get(payload_id)
        if cached is not None:
            self._full.move_to_end(payload_id)
            return cached
        with self._store.reading() as conn:
            loaded = self._store.load_payload(conn, payload_id)
        self._full[payload_id] = loaded
        if len(self._full) > PAYLOAD_CACHE:
            self._full.popitem(last=False)
        return loaded

"""In-process cache store: a bounded LRU of entries with per-entry expiry (one gateway process only)."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from semantic_router.server.cache.backends.base import Entry

__all__ = ["MemoryBackend"]


@dataclass
class _Slot:
    entry: Entry
    expires: float


class MemoryBackend:
    """At most `max_entries` live entries; the least recently used goes first. Semantic lookups scan the
    entries of one scope (kept in a per-scope key set), so their cost grows with that scope only."""

    def __init__(self, max_entries: int, clock: Callable[[], float] = time.monotonic) -> None:
        if max_entries < 1:
            raise ValueError(f"max_entries must be >= 1, got {max_entries}")
        self.max_entries = max_entries
        self.clock = clock
        self.evictions = 0
        self._slots: OrderedDict[str, _Slot] = OrderedDict()
        self._scopes: dict[str, dict[str, None]] = {}

    def __len__(self) -> int:
        return len(self._slots)

    def _drop(self, key: str) -> None:
        slot = self._slots.pop(key)
        members = self._scopes.get(slot.entry.scope)
        if members is not None:
            members.pop(key, None)
            if not members:
                del self._scopes[slot.entry.scope]

    def _live(self, key: str, now: float, refresh_ttl: float | None) -> Entry | None:
        slot = self._slots.get(key)
        if slot is None:
            return None
        if slot.expires <= now:
            self._drop(key)
            return None
        self._slots.move_to_end(key)
        if refresh_ttl is not None:
            slot.expires = now + refresh_ttl
        return slot.entry

    async def get(self, key: str, refresh_ttl: float | None = None) -> Entry | None:
        return self._live(key, self.clock(), refresh_ttl)

    async def nearest(self, scope: str, vector: np.ndarray,
                      refresh_ttl: float | None = None) -> tuple[Entry, float] | None:
        now = self.clock()
        keys = [k for k in list(self._scopes.get(scope, ())) if self._slots[k].expires > now]
        for k in set(self._scopes.get(scope, ())) - set(keys):
            self._drop(k)
        keys = [k for k in keys if self._slots[k].entry.vector is not None]
        if not keys:
            return None
        matrix = np.stack([self._slots[k].entry.vector for k in keys])
        sims = matrix @ np.asarray(vector, dtype=matrix.dtype)
        best = int(np.argmax(sims))
        entry = self._live(keys[best], now, refresh_ttl)
        return None if entry is None else (entry, float(sims[best]))

    async def put(self, entry: Entry, ttl: float) -> int:
        if entry.key in self._slots:
            self._drop(entry.key)
        self._slots[entry.key] = _Slot(entry, self.clock() + ttl)
        self._scopes.setdefault(entry.scope, {})[entry.key] = None
        evicted = 0
        while len(self._slots) > self.max_entries:
            self._drop(next(iter(self._slots)))
            evicted += 1
        self.evictions += evicted
        return evicted

    async def aclose(self) -> None:
        self._slots.clear()
        self._scopes.clear()

"""In-process cache store: a bounded LRU of entries with per-entry expiry (one gateway process only)."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from semantic_router.server.act.cache.backends.base import Entry

__all__ = ["MemoryBackend"]


@dataclass
class _Slot:
    entry: Entry
    expires: float


@dataclass
class _Bank:
    """The unit vectors of one scope as rows of one matrix (grown by doubling), so a semantic lookup is one
    matrix-vector product; removed rows are masked out and the matrix is compacted when half of it is dead."""

    keys: list[str | None] = field(default_factory=list)
    rows: dict[str, int] = field(default_factory=dict)
    matrix: np.ndarray | None = None
    alive: np.ndarray | None = None

    def add(self, key: str, vector: np.ndarray) -> None:
        v = np.asarray(vector, dtype=np.float32).reshape(-1)
        if self.matrix is None or self.alive is None:
            self.matrix, self.alive = np.zeros((8, v.shape[0]), dtype=np.float32), np.zeros(8, dtype=bool)
        elif len(self.keys) == len(self.matrix):
            self.matrix = np.concatenate([self.matrix, np.zeros_like(self.matrix)])
            self.alive = np.concatenate([self.alive, np.zeros_like(self.alive)])
        row = len(self.keys)
        self.rows[key] = row
        self.matrix[row], self.alive[row] = v, True
        self.keys.append(key)

    def remove(self, key: str) -> None:
        row = self.rows.pop(key, None)
        if row is None or self.matrix is None or self.alive is None:
            return
        self.keys[row] = None
        self.alive[row] = False
        if len(self.rows) * 2 < len(self.keys):  # compact
            keep = np.flatnonzero(self.alive[:len(self.keys)])
            self.keys = [self.keys[i] for i in keep]
            self.rows = {k: i for i, k in enumerate(self.keys) if k is not None}
            size = max(8, 2 * len(keep))
            matrix, alive = np.zeros((size, self.matrix.shape[1]), dtype=np.float32), np.zeros(size, dtype=bool)
            matrix[:len(keep)], alive[:len(keep)] = self.matrix[keep], True
            self.matrix, self.alive = matrix, alive

    def similarities(self, vector: np.ndarray) -> np.ndarray:
        """Cosine similarity of every row (dead rows: -inf)."""
        assert self.matrix is not None and self.alive is not None
        n = len(self.keys)
        sims = self.matrix[:n] @ np.asarray(vector, dtype=np.float32)
        sims[~self.alive[:n]] = -np.inf
        return sims


class MemoryBackend:
    """At most `max_entries` live entries; the least recently used goes first. Semantic lookups compare the
    query with the entries of one scope in one matrix product."""

    def __init__(self, max_entries: int, clock: Callable[[], float] = time.monotonic) -> None:
        if max_entries < 1:
            raise ValueError(f"max_entries must be >= 1, got {max_entries}")
        self.max_entries = max_entries
        self.clock = clock
        self.evictions = 0
        self._slots: OrderedDict[str, _Slot] = OrderedDict()
        self._banks: dict[str, _Bank] = {}

    def __len__(self) -> int:
        return len(self._slots)

    def _drop(self, key: str) -> None:
        slot = self._slots.pop(key)
        bank = self._banks.get(slot.entry.scope)
        if bank is not None:
            bank.remove(key)
            if not bank.rows:
                del self._banks[slot.entry.scope]

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
        while (bank := self._banks.get(scope)) is not None:
            sims = bank.similarities(vector)
            best = int(np.argmax(sims))
            key = bank.keys[best]
            assert key is not None
            entry = self._live(key, now, refresh_ttl)
            if entry is not None:
                return entry, float(sims[best])
            # the best one had expired (and is gone now): look again
        return None

    async def put(self, entry: Entry, ttl: float) -> int:
        if entry.key in self._slots:
            self._drop(entry.key)
        self._slots[entry.key] = _Slot(entry, self.clock() + ttl)
        if entry.vector is not None:
            self._banks.setdefault(entry.scope, _Bank()).add(entry.key, entry.vector)
        evicted = 0
        while len(self._slots) > self.max_entries:
            self._drop(next(iter(self._slots)))
            evicted += 1
        self.evictions += evicted
        return evicted

    async def aclose(self) -> None:
        self._slots.clear()
        self._banks.clear()

"""The contract every cache store keeps: entries by exact key, nearest entry by vector within a scope."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

__all__ = ["CacheBackend", "CacheUnavailable", "Entry"]


class CacheUnavailable(Exception):
    """The store could not answer (e.g. Redis down); the cache treats it as a miss."""


@dataclass
class Entry:
    """One cached answer: its exact key, scope, the final user text, its unit vector (semantic modes) and the
    answer (a `chat.completion` object)."""

    key: str
    scope: str
    text: str
    answer: dict[str, Any]
    vector: np.ndarray | None = field(default=None, repr=False)


class CacheBackend(Protocol):
    """A bounded store with per-entry TTL. Every method may raise CacheUnavailable."""

    evictions: int

    async def get(self, key: str, refresh_ttl: float | None = None) -> Entry | None:
        """The live entry under `key`; `refresh_ttl` restarts its TTL on a hit."""

    async def nearest(self, scope: str, vector: np.ndarray,
                      refresh_ttl: float | None = None) -> tuple[Entry, float] | None:
        """The live entry of `scope` most similar to the unit `vector`, with its cosine similarity."""

    async def put(self, entry: Entry, ttl: float) -> int:
        """Store (or replace) `entry` for `ttl` seconds; returns how many entries were evicted to make room."""

    async def aclose(self) -> None:
        """Release connections."""

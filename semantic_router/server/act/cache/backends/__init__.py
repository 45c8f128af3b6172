"""Cache stores: `memory` (one process) and `redis` (shared by replicas), behind `CacheBackend`."""

from __future__ import annotations

from semantic_router.extras import extra
from semantic_router.server.act.cache.backends.base import (
    CacheBackend,
    CacheUnavailable,
    Entry,
)
from semantic_router.server.act.cache.backends.memory import MemoryBackend

__all__ = ["CacheBackend", "CacheUnavailable", "Entry", "MemoryBackend", "open_backend"]


def open_backend(backend: str, *, max_entries: int, redis_url: str | None = None, namespace: str = "srcache",
                 timeout: float = 0.25, retry_after: float = 1.0) -> CacheBackend:
    """A new store of kind `backend` ("memory" or "redis")."""
    if backend == "memory":
        return MemoryBackend(max_entries)
    if backend == "redis":
        if not redis_url:
            raise ValueError("the redis cache backend needs a redis_url")
        with extra("redis", "the redis cache backend"):
            from semantic_router.server.act.cache.backends.redis import RedisBackend

        return RedisBackend(redis_url, namespace, max_entries, timeout=timeout, retry_after=retry_after)
    raise ValueError(f"unknown cache backend {backend!r}; use 'memory' or 'redis'")

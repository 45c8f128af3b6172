"""`CacheHub`: the cache stores of one gateway, shared by decisions with the same store settings and kept
across hot reloads (a reload that keeps the settings keeps the cached answers)."""

from __future__ import annotations

from semantic_router.server.act.cache.backends import CacheBackend, open_backend
from semantic_router.server.act.cache.cache import Embed, ResponseCache
from semantic_router.server.act.cache.config import CacheConfig
from semantic_router.server.act.cache.metrics import CacheMetrics

__all__ = ["CacheHub"]


def _store_key(c: CacheConfig) -> tuple[object, ...]:
    return (c.backend, c.redis_url, c.namespace, c.max_entries, c.redis_timeout, c.redis_retry_after)


class CacheHub:
    """Opens each distinct store once; `cache(decision, config, embed)` builds a decision's cache on it."""

    def __init__(self, metrics: CacheMetrics) -> None:
        self.metrics = metrics
        self._stores: dict[tuple[object, ...], CacheBackend] = {}

    def store(self, config: CacheConfig) -> CacheBackend:
        key = _store_key(config)
        if key not in self._stores:
            self._stores[key] = open_backend(config.backend, max_entries=config.max_entries,
                                             redis_url=config.redis_url, namespace=config.namespace,
                                             timeout=config.redis_timeout, retry_after=config.redis_retry_after)
        return self._stores[key]

    def cache(self, decision: str, config: CacheConfig, embed: Embed | None) -> ResponseCache:
        return ResponseCache(decision, config, self.store(config), self.metrics, embed)

    @property
    def evictions(self) -> int:
        return sum(s.evictions for s in self._stores.values())

    async def aclose(self) -> None:
        for s in self._stores.values():
            await s.aclose()
        self._stores.clear()

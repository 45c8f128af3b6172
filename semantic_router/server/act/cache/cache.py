"""`ResponseCache`: one decision's cache: lookup in the configured mode, store cacheable answers.

Never fails a request: a store that is down, an encoder error or a bad entry all count as a miss (logged and
counted) and the request goes on to the model.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from semantic_router.server.act.cache.backends.base import (
    CacheBackend,
    CacheUnavailable,
    Entry,
)
from semantic_router.server.act.cache.config import CacheConfig
from semantic_router.server.act.cache.metrics import CacheMetrics
from semantic_router.server.act.cache.scope import Bypass, CacheRequest, cache_request

__all__ = ["Embed", "Lookup", "ResponseCache"]

log = logging.getLogger("semantic_router.server.act.cache")

Embed = Callable[[list[str]], Awaitable[np.ndarray]]
"""Async text -> dense vectors (one row per text), e.g. the router's encoder run off the event loop."""


@dataclass(frozen=True)
class Lookup:
    """The outcome of a lookup: `hit` with the answer and similarity (1.0 for exact), or `miss` with a reason."""

    status: Literal["hit", "miss"]
    answer: dict[str, Any] | None = None
    similarity: float | None = None
    kind: str | None = None  # exact | semantic on a hit; the miss reason otherwise


def _unit(vector: Any) -> np.ndarray:
    v = np.asarray(vector, dtype=np.float32).reshape(-1)
    norm = float(np.linalg.norm(v))
    return v / norm if norm > 0 else v


class ResponseCache:
    """The cache of one decision over a (possibly shared) backend."""

    def __init__(self, decision: str, config: CacheConfig, backend: CacheBackend, metrics: CacheMetrics,
                 embed: Embed | None = None) -> None:
        if config.semantic and embed is None:
            raise ValueError(f"cache mode {config.mode!r} needs an encoder (the decision's router has none)")
        self.decision = decision
        self.config = config
        self.backend = backend
        self.metrics = metrics
        self.embed = embed

    def request(self, body: dict[str, Any], model: str, tenant: str, rewrite: str = "") -> CacheRequest | Bypass:
        """The cache identity of a request, or why it bypasses the cache (counted)."""
        out = cache_request(body, decision=self.decision, model=model, tenant=tenant, config=self.config,
                            rewrite=rewrite)
        if isinstance(out, Bypass):
            self.metrics.bypass(self.decision, out.reason)
        return out

    def bypassed(self, reason: str) -> None:
        """Count a bypass decided by the caller (e.g. the bypass header)."""
        self.metrics.bypass(self.decision, reason)

    async def _vector(self, req: CacheRequest) -> np.ndarray:
        if req.vector is None:
            assert self.embed is not None
            req.vector = _unit((await self.embed([req.text]))[0])
        return req.vector

    async def _find(self, req: CacheRequest) -> Lookup:
        refresh = self.config.ttl_seconds if self.config.refresh_ttl_on_hit else None
        if self.config.mode in ("exact", "exact_then_semantic"):
            entry = await self.backend.get(req.key, refresh)
            if entry is not None and entry.scope == req.scope:
                return Lookup("hit", entry.answer, 1.0, "exact")
            if self.config.mode == "exact":
                return Lookup("miss", kind="not_found")
        found = await self.backend.nearest(req.scope, await self._vector(req), refresh)
        if found is None:
            return Lookup("miss", kind="not_found")
        entry, similarity = found
        if entry.scope != req.scope:
            return Lookup("miss", kind="not_found")
        if similarity < self.config.similarity_threshold:
            return Lookup("miss", similarity=similarity, kind="below_threshold")
        return Lookup("hit", entry.answer, similarity, "semantic")

    async def lookup(self, req: CacheRequest) -> Lookup:
        """Find a cached answer for `req`; any failure is a miss."""
        start = time.perf_counter()
        try:
            found = await self._find(req)
        except CacheUnavailable as exc:
            self.metrics.error(self.decision, "lookup")
            log.warning("response cache %s: lookup failed (%s); forwarding", self.decision, exc)
            found = Lookup("miss", kind="unavailable")
        except Exception as exc:  # noqa: BLE001 - the encoder or a bad entry must not fail the request
            self.metrics.error(self.decision, "lookup")
            log.warning("response cache %s: lookup error %s: %s; forwarding", self.decision,
                        type(exc).__name__, exc)
            found = Lookup("miss", kind="error")
        seconds = time.perf_counter() - start
        if found.status == "hit":
            self.metrics.hit(self.decision, found.kind or "exact", seconds)
        else:
            self.metrics.miss(self.decision, found.kind or "not_found", seconds)
        return found

    async def store(self, req: CacheRequest, answer: dict[str, Any]) -> bool:
        """Store a cacheable answer for `req`; False (logged, counted) when the store failed."""
        try:
            vector = await self._vector(req) if self.config.semantic else None
            evicted = await self.backend.put(Entry(req.key, req.scope, req.text, answer, vector),
                                             self.config.ttl_seconds)
        except Exception as exc:  # noqa: BLE001 - a failed store never fails the answered request
            self.metrics.error(self.decision, "store")
            log.warning("response cache %s: store failed (%s: %s)", self.decision, type(exc).__name__, exc)
            return False
        self.metrics.stored(self.decision, evicted)
        return True

"""Semantic response cache: a per-decision gateway plugin that answers repeated (or paraphrased) questions.

Modes `exact`, `semantic`, `exact_then_semantic`; stores `memory` (LRU) and `redis` (shared, RediSearch KNN);
per-entry TTL; answers keyed by model, decision, tenant, earlier messages and sampling parameters.
"""

from __future__ import annotations

from semantic_router.server.act.cache.answers import (
           assemble_stream,
           cacheable_answer,
           replay_sse,
)
from semantic_router.server.act.cache.backends import (
           CacheBackend,
           CacheUnavailable,
           Entry,
           MemoryBackend,
           open_backend,
)
from semantic_router.server.act.cache.cache import Embed, Lookup, ResponseCache
from semantic_router.server.act.cache.config import CacheConfig
from semantic_router.server.act.cache.hub import CacheHub
from semantic_router.server.act.cache.metrics import CacheMetrics
from semantic_router.server.act.cache.scope import (
           Bypass,
           CacheRequest,
           cache_request,
)

__all__ = [
           "Bypass",
           "CacheBackend",
           "CacheConfig",
           "CacheHub",
           "CacheMetrics",
           "CacheRequest",
           "CacheUnavailable",
           "Embed",
           "Entry",
           "Lookup",
           "MemoryBackend",
           "ResponseCache",
           "assemble_stream",
           "cache_request",
           "cacheable_answer",
           "open_backend",
           "replay_sse",
]

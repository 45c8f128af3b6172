"""Index backends: one file each, all behind the `Index` contract in `base` (records and search); the
shared ones also implement `Coordinator` (`coordination`: shared state, fenced writes, the writers' lock).
`VECTOR_DTYPES` and `pack_dense` are the byte layouts a backend may store dense vectors in."""

from __future__ import annotations

from typing import Any

from semantic_router.index.base import Hit, HitBatch, Index, Record
from semantic_router.index.coordination import Coordinator, LeaseToken
from semantic_router.index.local import LocalIndex
from semantic_router.vectors import VECTOR_DTYPES, pack_dense

_LAZY = {
    "RedisIndex": "semantic_router.index.redis",
    "QdrantIndex": "semantic_router.index.qdrant",
    "PineconeIndex": "semantic_router.index.pinecone",
    "PostgresIndex": "semantic_router.index.postgres",
}

HybridLocalIndex = LocalIndex  # aurelio's name: LocalIndex stores sparse vectors too

__all__ = ["Coordinator", "Hit", "HitBatch", "HybridLocalIndex", "Index", "LeaseToken", "LocalIndex", "PineconeIndex",
           "PostgresIndex", "QdrantIndex", "Record", "RedisIndex", "VECTOR_DTYPES", "pack_dense"]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'semantic_router.index' has no attribute {name!r}")

"""QdrantIndex factory for the contract suite: in-process (`:memory:`), or the server at $QDRANT_URL.

Indexes of one process share one in-memory client, so two objects with the same name see the same
store, as two instances would on a server.
"""

from __future__ import annotations

import os
import threading

from qdrant_client import QdrantClient

from semantic_router.index.qdrant import QdrantIndex

_client: QdrantClient | None = None
_lock = threading.Lock()


def shared_client() -> QdrantClient:
    global _client
    with _lock:
        if _client is None:
            _client = QdrantClient(location=":memory:")
        return _client


def make_index(name: str) -> QdrantIndex:
    url = os.environ.get("QDRANT_URL")
    if url:
        return QdrantIndex(url=url, name=name)
    return QdrantIndex(client=shared_client(), name=name)


def steal_lock(index: QdrantIndex) -> None:
    """Overwrite the lease point with another owner's, as if ours expired and another writer took it."""
    import time

    from qdrant_client import models

    lease = {"owner": "intruder", "expires": time.time() + 60, "version": 10**6}
    index._client.upsert(f"{index.name}__lock", points=[
        models.PointStruct(id="5b1f3f0e-0000-4000-8000-000000000002", vector={}, payload=lease)], wait=True)

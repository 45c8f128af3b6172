"""QdrantIndex factory for the contract suite: in-process (`:memory:`), or the server at $QDRANT_URL."""

import os

from semantic_router.index.qdrant import QdrantIndex


def make_index(name: str) -> QdrantIndex:
    url = os.environ.get("QDRANT_URL")
    if url:
        return QdrantIndex(url=url, name=name)
    return QdrantIndex(location=":memory:", name=name)

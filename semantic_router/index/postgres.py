"""aurelio's `PostgresIndex` name. There is no pgvector backend here: the name imports (so aurelio
code that only imports it runs), constructing one raises and names the backends there are."""

from __future__ import annotations

from typing import Any

from semantic_router.index.base import Index


class PostgresIndex(Index):
    """Not provided: use RedisIndex, QdrantIndex, PineconeIndex or LocalIndex (docs/migration.md)."""

    type = "postgres"

    def __new__(cls, *args: Any, **kwargs: Any) -> PostgresIndex:
        raise NotImplementedError("PostgresIndex (pgvector) is not provided by this package; use RedisIndex, "
                                  "QdrantIndex, PineconeIndex or LocalIndex (see docs/migration.md)")

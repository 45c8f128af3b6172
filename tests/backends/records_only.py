"""A backend that implements records and search only (no `Coordinator`): the Index contract alone
must hold for it, and a router must serve from it without sharing."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from semantic_router.index.base import HitBatch, Index, Record
from semantic_router.index.local import LocalIndex
from semantic_router.vectors import SparseVector


class RecordsOnlyIndex(Index):
    """Records and search over an in-memory store; coordinates no writers (`coordination` is None)."""

    type = "records-only"

    def __init__(self) -> None:
        self.store = LocalIndex()

    def upsert(self, records: Sequence[Record]) -> None:
        self.store.upsert(records)

    def delete(self, ids: Sequence[str] | None = None, route: str | None = None) -> int:
        return self.store.delete(ids, route)

    def records(self, route: str | None = None) -> list[Record]:
        return self.store.records(route)

    def count(self) -> int:
        return self.store.count()

    def query_batch(self, dense: np.ndarray, sparse: Sequence[SparseVector] | None = None, top_k: int = 5,
                    routes: Sequence[str] | None = None) -> HitBatch:
        return self.store.query_batch(dense, sparse, top_k, routes)

    def clear(self) -> None:
        self.store.clear()

    @property
    def dimensions(self) -> int | None:
        return self.store.dimensions


def make_index(name: str) -> RecordsOnlyIndex:
    return RecordsOnlyIndex()

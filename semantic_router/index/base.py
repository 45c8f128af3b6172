"""The Index contract: store records and search them.

An index knows nothing of thresholds, aggregation or what routes mean: plain data in, plain
data out. Every backend maps this contract onto its client library in one file, and the
shared contract test suite (tests/contract) checks each of them the same way. Coordinating
the writers of a shared index (state blob, fenced writes, lock) is a separate interface,
`index/coordination.py`'s `Coordinator`, that a backend implements or does not.
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from semantic_router.ids import record_id
from semantic_router.index.coordination import Coordinator
from semantic_router.vectors import SparseVector


@dataclass
class Record:
    """One stored utterance with its vectors."""

    route: str
    utterance: str
    dense: np.ndarray
    sparse: SparseVector | None = None
    metadata: dict[str, Any] | None = None
    id: str = ""

    def __post_init__(self) -> None:
        if not self.id:
            self.id = record_id(self.route, self.utterance)
        dense = self.dense
        if not (type(dense) is np.ndarray and dense.dtype == np.float32 and dense.ndim == 1):  # else as given
            self.dense = np.asarray(dense, dtype=np.float32).reshape(-1)


@dataclass(frozen=True)
class Hit:
    """One search result: which utterance, of which route, and how similar."""

    id: str
    route: str
    utterance: str
    dense_score: float
    sparse_score: float | None = None


@dataclass(frozen=True)
class HitBatch:
    """Columnar hits for B queries, k columns each (used by batched routing).

    Rows with fewer than k hits are padded: route "" and dense score -inf.
    """

    ids: np.ndarray  # (B, k) object
    routes: np.ndarray  # (B, k) object: exact route names (a str array would drop trailing NULs)
    utterances: np.ndarray  # (B, k) object
    dense: np.ndarray  # (B, k) float32
    sparse: np.ndarray | None = None  # (B, k) float32, 0 where the record has no sparse vector

    def __len__(self) -> int:
        return self.dense.shape[0]

    def row(self, i: int) -> list[Hit]:
        """The hits of query i as `Hit` objects, padding dropped."""
        out = []
        for j in range(self.dense.shape[1]):
            if self.routes[i, j] == "":
                continue
            sparse = None if self.sparse is None else float(self.sparse[i, j])
            out.append(
                Hit(str(self.ids[i, j]), str(self.routes[i, j]), str(self.utterances[i, j]),
                    float(self.dense[i, j]), sparse)
            )
        return out

    @classmethod
    def from_rows(cls, rows: Sequence[Sequence[Hit]], hybrid: bool = False) -> HitBatch:
        """Pack per-query hit lists (what remote backends return) into columns."""
        k = max((len(r) for r in rows), default=0)
        b = len(rows)
        ids = np.full((b, k), "", dtype=object)
        utts = np.full((b, k), "", dtype=object)
        routes = np.full((b, k), "", dtype=object)
        dense = np.full((b, k), -np.inf, dtype=np.float32)
        sparse = np.zeros((b, k), dtype=np.float32) if hybrid else None
        for i, r in enumerate(rows):
            for j, h in enumerate(r):
                ids[i, j], utts[i, j], routes[i, j], dense[i, j] = h.id, h.utterance, h.route, h.dense_score
                if sparse is not None and h.sparse_score is not None:
                    sparse[i, j] = h.sparse_score
        return cls(ids, routes, utts, dense, sparse)


class Index(ABC):
    """The records-and-search contract. Implement the abstract methods; the rest is derived.

    A backend that can coordinate writers across processes also implements `Coordinator`."""

    #: registry key used in configs (``type: local``)
    type: str = "index"

    # -- records ------------------------------------------------------------------------------
    @abstractmethod
    def upsert(self, records: Sequence[Record]) -> None:
        """Insert or replace records by id (idempotent)."""

    @abstractmethod
    def delete(self, ids: Sequence[str] | None = None, route: str | None = None) -> int:
        """Delete records by id and/or route; return how many were removed."""

    @abstractmethod
    def records(self, route: str | None = None) -> list[Record]:
        """All records (of one route), vectors included."""

    @abstractmethod
    def count(self) -> int:
        """Number of stored records."""

    def ids(self, route: str | None = None) -> list[str]:
        """Ids of the stored records (of one route), without vectors; backends page through them."""
        return [r.id for r in self.records(route)]

    @abstractmethod
    def query_batch(
        self,
        dense: np.ndarray,
        sparse: Sequence[SparseVector] | None = None,
        top_k: int = 5,
        routes: Sequence[str] | None = None,
    ) -> HitBatch:
        """Search B queries at once. Each row holds the top_k records by dense score and, when
        sparse vectors are given, also the top_k by sparse score, each hit carrying both scores."""

    def query(
        self,
        dense: np.ndarray,
        sparse: SparseVector | None = None,
        top_k: int = 5,
        routes: Sequence[str] | None = None,
    ) -> list[Hit]:
        """Search one query; see `query_batch`."""
        vec = np.asarray(dense, dtype=np.float32).reshape(1, -1)
        return self.query_batch(vec, None if sparse is None else [sparse], top_k, routes).row(0)

    @abstractmethod
    def clear(self) -> None:
        """Remove every record (and a coordinating backend's shared state), keeping the index itself."""

    def drop(self) -> None:
        """Delete the index and everything in it (for local indexes the same as clear)."""
        self.clear()

    def describe(self) -> dict[str, Any]:
        """Type, dimensions (None while empty) and record count."""
        return {"type": self.type, "dimensions": self.dimensions, "count": self.count()}

    @property
    def dimensions(self) -> int | None:
        return None

    @property
    def coordination(self) -> Coordinator | None:
        """This backend's coordination of writers (shared state, fenced writes, lease lock), or None
        when it has none (it then serves one router alone: no auto_sync). A backend declares it by
        implementing `Coordinator`, or overrides this to hand out a separate object."""
        return self if isinstance(self, Coordinator) else None

    @property
    def is_remote(self) -> bool:
        """True when other processes can see this index (sync applies)."""
        return False

    def spec(self) -> dict[str, Any]:
        """The config entry that recreates this index (no secrets)."""
        return {"type": self.type}

    def close(self) -> None:
        """Release the clients and connections this index opened (a no-op when it holds none)."""

    async def aclose(self) -> None:
        """Async `close`: also closes the running event loop's async clients."""
        self.close()

    # -- aurelio's names ----------------------------------------------------------------------
    def __len__(self) -> int:
        return self.count()

    def __bool__(self) -> bool:  # an empty index is still an index (`__len__` would make it falsy)
        return True

    def delete_index(self) -> None:
        """aurelio's name for `drop`."""
        self.drop()

    async def alen(self) -> int:
        return await self.acount()

    async def adelete_index(self) -> None:
        await asyncio.to_thread(self.drop)

    # -- async twins: a worker thread unless the backend has a native async client -------------
    async def aupsert(self, records: Sequence[Record]) -> None:
        await asyncio.to_thread(self.upsert, records)

    async def adelete(self, ids: Sequence[str] | None = None, route: str | None = None) -> int:
        return await asyncio.to_thread(self.delete, ids, route)

    async def arecords(self, route: str | None = None) -> list[Record]:
        return await asyncio.to_thread(self.records, route)

    async def acount(self) -> int:
        return await asyncio.to_thread(self.count)

    async def aquery_batch(self, dense, sparse=None, top_k: int = 5, routes=None) -> HitBatch:
        return await asyncio.to_thread(self.query_batch, dense, sparse, top_k, routes)

    async def aquery(self, dense, sparse=None, top_k: int = 5, routes=None) -> list[Hit]:
        """Search one query through `aquery_batch` (native where the backend awaits its client)."""
        vec = np.asarray(dense, dtype=np.float32).reshape(1, -1)
        return (await self.aquery_batch(vec, None if sparse is None else [sparse], top_k, routes)).row(0)


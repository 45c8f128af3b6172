"""Pinecone backend on the `pinecone` SDK's vector API: a serverless index created on the first
upsert (metric "dotproduct" with a sparse field when records carry sparse vectors, else "cosine"),
one namespace per tenant, metadata {route, utterance, sr_metadata (JSON)}, ids = Record ids.

Router state and the writers' lease live in a small shared meta index under namespace
`{name}__{namespace}` (see `_pinecone_meta`).
A dotproduct hybrid score is dense·dense + sparse·sparse, so each hit's two scores are computed
client-side from returned values; the sparse top-k comes from a probe query whose dense part is
scaled by 1e-6. Writes are batched under the 2 MB / 1000-vector limits and sent concurrently.
Calls go straight to the SDK (which retries connection faults); tenacity retries what it gives up
on at status level (5xx, 429). Queries have a native async path on the SDK's `IndexAsyncio`.
Serverless Pinecone is eventually consistent: counts and reads may lag writes briefly, and fenced
state writes are best effort (lease and version re-read right before the write, see docs/backends.md).
"""

from __future__ import annotations

import asyncio
import os
import re
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar

import numpy as np

from semantic_router.extras import extra
from semantic_router.errors import IndexBackendError, StateConflict
from semantic_router.index._common import (
    LoopClients,
    PreparedSearch,
    RetryPolicy,
    batch_dims,
    chunked,
    finite,
    merge_hybrid,
    query_matrix,
    size_batches,
)
from semantic_router.index._pinecone_meta import MetaNamespace
from semantic_router.index._pinecone_wire import (
    candidate,
    sparse_of,
    to_record,
    to_vector,
)
from semantic_router.index.base import HitBatch, Index, Record
from semantic_router.index.coordination import Coordinator, LeaseToken
from semantic_router.index.lease import LeaseLock
from semantic_router.vectors import SparseVector

with extra("pinecone", "PineconeIndex"):
    from pinecone import Pinecone
    from pinecone.errors.exceptions import (
        ApiError,
        ForbiddenError,
        PineconeConnectionError,
        PineconeTimeoutError,
        RateLimitError,
        ServiceError,
        UnauthorizedError,
    )

T = TypeVar("T")
MAX_REQUEST_BYTES = 1_900_000  # Pinecone refuses requests over 2 MB; keep headroom for the envelope
MAX_UPSERT_VECTORS = 1000
FETCH_BATCH = 100  # ids per fetch (a GET: the ids travel in the URL)
CONCURRENCY = 8  # requests in flight at once
META_INDEX = "semantic-router-meta"
_PROBE = 1e-6  # dense weight of the sparse-ranking probe query
_NAME = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,43}[a-z0-9])?$")


@dataclass(frozen=True)
class _Info:
    host: str
    dims: int
    metric: str
    hybrid: bool


def _is_transient(exc: BaseException) -> bool:
    # the SDK's transport already retried connection errors; retry what it gave up on at status level
    return isinstance(exc, (ServiceError, RateLimitError))


class PineconeIndex(Index, Coordinator):
    """Records in a Pinecone serverless index (one namespace per tenant)."""

    type = "pinecone"

    def __init__(
        self,
        api_key: str | None = None,
        name: str = "semantic-router",
        namespace: str = "",
        cloud: str = "aws",
        region: str = "us-east-1",
        host: str | None = None,
        dimensions: int | None = None,
        metric: str | None = None,
        client: Pinecone | None = None,
        control_host: str | None = None,
        meta_index: str = META_INDEX,
        lock_ttl: float = 30.0,
        retries: int = 3,
        ready_timeout: float = 300.0,
    ) -> None:
        for label, value in (("index", name), ("meta index", meta_index)):
            if not _NAME.match(value):
                raise ValueError(f"Pinecone {label} names are 1-45 lowercase letters, digits or hyphens, got {value!r}")
        if meta_index == name:
            raise ValueError(f"the meta index must differ from the records index, both are {name!r}")
        if metric not in (None, "cosine", "dotproduct"):
            raise ValueError(f"metric must be 'cosine' or 'dotproduct' (scores are similarities), got {metric!r}")
        self.name, self.namespace, self._meta_index = name, namespace, meta_index
        self._meta_ns = f"{name}__{namespace}"
        self._cloud, self._region, self._host, self._control_host = cloud, region, host, control_host
        self._dims_hint, self._metric = dimensions, metric
        self._ready_timeout = ready_timeout
        self._owns_client = client is None
        if client is None:
            key = api_key or os.environ.get("PINECONE_API_KEY")
            if not key:
                raise IndexBackendError("Pinecone needs an API key: pass api_key=... or set PINECONE_API_KEY")
            client = Pinecone(api_key=key, host=control_host)
        self._pc = client
        self._retry = RetryPolicy(retries, _is_transient)
        self._info_cache: _Info | None = None
        self._meta_host: str | None = None
        self._clients: dict[str, Any] = {}  # host -> data-plane client
        self._aclients: dict[str, LoopClients[Any]] = {}  # host -> its IndexAsyncio per event loop
        self._pool: ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()
        self._state = MetaNamespace(name, self._meta_ns, self._meta_client, self._call, self._fetch, self._write)
        self._lease = LeaseLock(self._state, ttl=lock_ttl)

    # -- plumbing -----------------------------------------------------------------------------
    def _call(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        """One SDK call, retried on transient faults; failures as IndexBackendError (with status)."""
        try:
            return self._retry.call(fn, *args, **kwargs)
        except Exception as exc:
            raise self._translate(exc) from exc

    def _parallel(self, calls: Sequence[Callable[[], T]]) -> list[T]:
        """Run independent calls CONCURRENCY at a time (results in order)."""
        if len(calls) <= 1:
            return [c() for c in calls]
        with self._pool_lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(CONCURRENCY, thread_name_prefix="sr-pinecone")
        return [f.result() for f in [self._pool.submit(c) for c in calls]]

    def _index_client(self, host: str) -> Any:
        if host not in self._clients:
            self._clients[host] = self._pc.index(host=host)
        return self._clients[host]

    def _data(self) -> Any:
        """The records index's data-plane client."""
        return self._index_client(self._info_cache.host if self._info_cache is not None else str(self._host))

    def _meta(self) -> Any:
        """The meta index's data-plane client (state and lease)."""
        return self._index_client(str(self._meta_host))

    def _adata(self) -> Any:
        """The records index's `IndexAsyncio` for the running loop (queries only)."""
        host = self._info_cache.host if self._info_cache is not None else str(self._host)
        if host not in self._aclients:
            self._aclients[host] = LoopClients(lambda: self._pc.IndexAsyncio(host=host), lambda c: c.close())
        return self._aclients[host].get()

    def _forget(self) -> None:
        self._info_cache = None

    def _translate(self, exc: BaseException) -> IndexBackendError:
        where = self._info_cache.host if self._info_cache else (self._host or self._control_host or "the Pinecone API")
        status = exc.status_code if isinstance(exc, ApiError) else None
        if isinstance(exc, (UnauthorizedError, ForbiddenError)):
            text = (f"Pinecone rejected the API key ({exc.status_code} {type(exc).__name__}) for index {self.name!r} "
                    f"at {where}: check api_key / PINECONE_API_KEY")
        elif isinstance(exc, ApiError):
            text = f"Pinecone index {self.name!r} at {where} answered {exc.status_code}: {exc.message}"
        elif isinstance(exc, (PineconeConnectionError, PineconeTimeoutError)):
            text = f"cannot reach Pinecone at {where}: {exc}"
        else:
            text = f"Pinecone index {self.name!r} at {where} failed: {exc!r}"
        retryable = _is_transient(exc) or isinstance(exc, (PineconeConnectionError, PineconeTimeoutError))
        return IndexBackendError(text, status=status, retryable=retryable)

    def _unless_missing(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T | None:
        """`_call`, or None when the target does not exist (404)."""
        try:
            return self._call(fn, *args, **kwargs)
        except IndexBackendError as exc:
            if exc.status == 404:
                return None
            raise

    @property
    def is_remote(self) -> bool:
        return True

    def spec(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.type, "name": self.name, "namespace": self.namespace,
                               "cloud": self._cloud, "region": self._region}
        dims = self._info_cache.dims if self._info_cache else self._dims_hint
        metric = self._info_cache.metric if self._info_cache else self._metric
        meta = None if self._meta_index == META_INDEX else self._meta_index
        for key, value in (("dimensions", dims), ("metric", metric), ("host", self._host),
                           ("control_host", self._control_host), ("meta_index", meta)):
            if value is not None:
                out[key] = value
        return out

    # -- index lifecycle ------------------------------------------------------------------------
    def _describe(self, name: str, create: dict[str, Any] | None) -> Any:
        """Describe index `name` once it is ready; create it from `create` (fields) if missing,
        else None. A create that loses a race to another writer adopts the winner's index."""
        desc = self._unless_missing(self._pc.indexes.describe, name)
        if desc is None:
            if create is None:
                return None
            deployment = {"deployment_type": "managed", "cloud": self._cloud, "region": self._region}
            try:
                desc = self._call(self._pc.indexes.create, name=name, schema={"fields": create},
                                  deployment=deployment, timeout=-1)
            except IndexBackendError as exc:
                if exc.status != 409:
                    raise
                desc = self._call(self._pc.indexes.describe, name)
        deadline = time.monotonic() + self._ready_timeout
        while not desc.status.ready:
            if time.monotonic() >= deadline:
                raise IndexBackendError(f"Pinecone index {name!r} not ready after {self._ready_timeout:.0f}s",
                                        retryable=True)
            time.sleep(1.0)
            desc = self._call(self._pc.indexes.describe, name)
        return desc

    def _info(self, create: tuple[int, bool] | None = None) -> _Info | None:
        """The records index (dimension, metric, host), created for (dims, hybrid) if missing."""
        if self._info_cache is not None:
            return self._info_cache
        if self._host:
            stats = self._call(self._data().describe_index_stats)
            metric = stats.metric or "cosine"
            self._info_cache = _Info(self._host, int(stats.dimension), metric, metric == "dotproduct")
            return self._info_cache
        fields = None
        if create is not None:
            metric = self._metric or ("dotproduct" if create[1] else "cosine")
            fields = {"_values": {"type": "dense_vector", "dimension": create[0], "metric": metric}}
            if metric == "dotproduct":
                fields["_sparse_values"] = {"type": "sparse_vector"}
        desc = self._describe(self.name, fields)
        if desc is None:
            return None
        dense = desc.schema.fields.get("_values")
        if dense is None:
            raise IndexBackendError(f"Pinecone index {self.name!r} is not a vector index (no '_values' field)")
        self._clients.pop(desc.host, None)  # a recreated index may reuse its host: fresh connections
        self._info_cache = _Info(desc.host, int(dense.dimension), str(dense.metric),
                                 "_sparse_values" in desc.schema.fields)
        return self._info_cache

    def _meta_ready(self, create: bool) -> bool:
        """Whether the meta index exists (creating it if asked); remembers its host."""
        if self._meta_host is None:
            fields = {"_values": {"type": "dense_vector", "dimension": 1, "metric": "cosine"}} if create else None
            desc = self._describe(self._meta_index, fields)
            if desc is None:
                return False
            self._meta_host = desc.host
        return True

    @property
    def dimensions(self) -> int | None:
        info = self._info()
        return None if info is None else info.dims

    def drop(self) -> None:
        """Delete the records index (with a tenant namespace: only that namespace) and this
        router's state and lease; the shared meta index stays."""
        if not self.namespace and not self._host:
            self._unless_missing(self._pc.indexes.delete, self.name, timeout=int(self._ready_timeout))
        elif self._info() is not None:
            self._unless_missing(self._data().delete, delete_all=True, namespace=self.namespace)
        if self._meta_ready(False):
            self._unless_missing(self._meta().delete, delete_all=True, namespace=self._meta_ns)
        self._forget()

    # -- records --------------------------------------------------------------------------------
    def upsert(self, records: Sequence[Record]) -> None:
        if not records:
            return
        dims = batch_dims(records)
        if self._dims_hint is not None and dims != self._dims_hint:
            raise ValueError(f"records have dimension {dims}, index {self.name!r} was configured for {self._dims_hint}")
        hybrid = any(r.sparse is not None and len(r.sparse) for r in records)
        vectors = [to_vector(r) for r in {r.id: r for r in records}.values()]
        for attempt in range(2):
            info = self._info((dims, hybrid))
            assert info is not None
            if info.dims != dims:
                raise ValueError(f"records have dimension {dims}, index {self.name!r} holds {info.dims}")
            if hybrid and not info.hybrid:
                raise ValueError(f"Pinecone index {self.name!r} has no sparse field (metric {info.metric}): hybrid "
                                 "records need a dotproduct index with one; drop it or use another name")
            try:
                self._write(vectors, self.namespace, self._data())
                return
            except IndexBackendError as exc:
                if attempt or self._host or exc.status != 404:
                    raise
                self._forget()  # the index was deleted meanwhile: create it again

    def _write(self, vectors: list[dict[str, Any]], namespace: str, client: Any) -> None:
        batches = size_batches(vectors, MAX_REQUEST_BYTES, MAX_UPSERT_VECTORS)
        self._parallel([partial(self._call, client.upsert, vectors=b, namespace=namespace) for b in batches])

    def _pages(self, method: Callable[..., Any], **kwargs: Any) -> list[Any]:
        """Every page of a paginated data-plane call (`list_paginated`, `fetch_by_metadata`)."""
        pages: list[Any] = []
        token = None
        while True:
            page = self._call(method, namespace=self.namespace, limit=100, pagination_token=token, **kwargs)
            pages.append(page)
            token = page.pagination.next if page.pagination else None
            if not token:
                return pages

    def _list(self) -> list[str]:
        return [item.id for page in self._pages(self._data().list_paginated) for item in page.vectors]

    def _fetch(self, ids: Sequence[str], namespace: str, client: Any) -> dict[str, Any]:
        found: dict[str, Any] = {}
        for resp in self._parallel([partial(self._call, client.fetch, ids=list(b), namespace=namespace)
                                    for b in chunked(list(ids), FETCH_BATCH)]):
            found.update(resp.vectors)
        return found

    def _by_route(self, route: str) -> dict[str, Any]:
        pages = self._pages(self._data().fetch_by_metadata, filter={"route": {"$eq": route}})
        return {vid: v for page in pages for vid, v in page.vectors.items()}

    def records(self, route: str | None = None) -> list[Record]:
        if self._info() is None:
            return []
        found = self._fetch(self._list(), self.namespace, self._data()) if route is None else self._by_route(route)
        return [to_record(v) for v in found.values()]

    def ids(self, route: str | None = None) -> list[str]:
        if self._info() is None:
            return []
        return self._list() if route is None else list(self._by_route(route))

    def count(self) -> int:
        if self._info() is None:
            return 0
        summary = self._call(self._data().describe_index_stats).namespaces.get(self.namespace)
        return 0 if summary is None else int(summary.vector_count)

    def delete(self, ids: Sequence[str] | None = None, route: str | None = None) -> int:
        if self._info() is None:
            return 0
        data = self._data()
        wanted = [i for i in dict.fromkeys(ids or []) if i.isascii() and 0 < len(i) <= 512]
        targets = set(self._fetch(wanted, self.namespace, data)) if wanted else set()
        if route is not None:
            targets |= set(self._by_route(route))
        self._parallel([partial(self._call, data.delete, ids=list(b), namespace=self.namespace)
                        for b in chunked(sorted(targets), 1000)])
        return len(targets)

    def clear(self) -> None:
        if self._info() is not None:
            self._unless_missing(self._data().delete, delete_all=True, namespace=self.namespace)
        if self._meta_ready(False):
            self._unless_missing(self._meta().delete, filter={"kind": {"$in": ["state", "state_chunk"]}},
                                 namespace=self._meta_ns)

    # -- search ---------------------------------------------------------------------------------
    def _search(self, dense: np.ndarray, sparse: Sequence[SparseVector] | None, top_k: int,
                routes: Sequence[str] | None, info: Callable[[], _Info | None]) -> PreparedSearch | HitBatch:
        """One query request per query (plus a sparse probe per hybrid query), as keyword sets."""
        q = query_matrix(dense, sparse)
        b = q.shape[0]
        empty = HitBatch.from_rows([[] for _ in range(b)], sparse is not None)
        if top_k <= 0 or b == 0 or (routes is not None and not list(routes)):
            return empty
        have = info()
        if have is None:
            return empty
        if q.shape[1] != have.dims:
            raise ValueError(f"query vector has dimension {q.shape[1]}, index holds {have.dims}")
        flt = None if routes is None else {"route": {"$in": list(routes)}}
        hybrid = sparse is not None and have.hybrid
        common = {"top_k": min(top_k, 1000), "namespace": self.namespace, "filter": flt, "include_metadata": True}
        requests = [{"vector": finite(v), "include_values": hybrid, **common} for v in q]
        probes = [i for i in range(b) if hybrid and len(sparse[i])]
        requests += [{"vector": finite(q[i] * _PROBE), "include_values": True, **common,
                      "sparse_vector": {"indices": list(sparse[i].indices), "values": list(sparse[i].values)}}
                     for i in probes]

        def finish(results: list[Any]) -> HitBatch:
            by_probe = dict(zip(probes, results[b:]))
            rows = []
            for i in range(b):
                dense_hits = [candidate(m, float(m.score)) for m in results[i].matches]
                sparse_hits = [candidate(m, sparse[i].dot(sparse_of(m.sparse_values) or SparseVector()))
                               for m in by_probe[i].matches] if i in by_probe else []
                rows.append(merge_hybrid(dense_hits, sparse_hits, q[i], None if sparse is None else sparse[i],
                                         cosine=have.metric == "cosine"))
            return HitBatch.from_rows(rows, sparse is not None)

        return PreparedSearch(requests, finish, empty)

    def query_batch(self, dense: np.ndarray, sparse: Sequence[SparseVector] | None = None, top_k: int = 5,
                    routes: Sequence[str] | None = None) -> HitBatch:
        search = self._search(dense, sparse, top_k, routes, self._info)
        if isinstance(search, HitBatch):
            return search
        data = self._data()
        return search.finish(self._parallel([partial(self._call, data.query, **kw) for kw in search.requests]))

    async def aquery_batch(self, dense: np.ndarray, sparse: Sequence[SparseVector] | None = None, top_k: int = 5,
                           routes: Sequence[str] | None = None) -> HitBatch:
        """Native async search: the query requests go concurrently through the SDK's IndexAsyncio."""
        if self._info_cache is None:
            await asyncio.to_thread(self._info)
        search = self._search(dense, sparse, top_k, routes, lambda: self._info_cache)
        if isinstance(search, HitBatch):
            return search
        client, gate = self._adata(), asyncio.Semaphore(CONCURRENCY)

        async def one(kw: dict[str, Any]) -> Any:
            async with gate:
                return await self._retry.acall(client.query, **kw)

        try:
            results = await asyncio.gather(*(one(kw) for kw in search.requests))
        except Exception as exc:
            raise self._translate(exc) from exc
        return search.finish(list(results))

    # -- shared state ---------------------------------------------------------------------------
    def _meta_client(self, create: bool) -> Any:
        """The meta index's client for `MetaNamespace` (None if missing and not `create`)."""
        return self._meta() if self._meta_ready(create) else None

    def read_state(self) -> dict[str, Any] | None:
        return self._state.read_state()

    def write_state(self, state: dict[str, Any], *, expected_version: int | None = None,
                    lease: LeaseToken | None = None) -> None:
        """Best-effort fencing: the lease and the stored version are re-read right before the write
        (Pinecone has no conditional write, so a writer racing within that window can still win)."""
        if lease is not None and not self._lease.holds(lease):
            raise StateConflict(f"the lock of Pinecone index {self.name!r} was lost (lease expired or taken over) "
                                "before the state write; nothing was written")
        if expected_version is not None:
            found = self._state.stored_version()
            if found != expected_version:
                raise StateConflict(f"the shared state of Pinecone index {self.name!r} moved on: expected version "
                                    f"{expected_version}, found {found}; nothing was written")
        self._state.write_state(state)

    def lock(self, timeout: float = 10.0):
        return self._lease.hold(timeout)

    # -- lifecycle ----------------------------------------------------------------------------------
    def close(self) -> None:
        """Close the data-plane clients, the worker pool and (if ours) the control-plane client;
        async clients of other event loops are dropped."""
        for client in self._clients.values():
            client.close()
        self._clients.clear()
        for per_loop in self._aclients.values():
            per_loop.forget()
        if self._pool is not None:
            self._pool.shutdown(wait=False)
            self._pool = None
        if self._owns_client:
            self._pc.close()

    async def aclose(self) -> None:
        """Close the async clients of the running event loop, then everything `close` closes."""
        for per_loop in self._aclients.values():
            await per_loop.aclose()
        self.close()

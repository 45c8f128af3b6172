"""Qdrant backend: one collection per index with a named dense vector ("dense", cosine) and a named
sparse vector ("sparse", dot product), payload {route, utterance, metadata}, point ids = Record ids.

The collection is created on the first upsert, when the dimension is known. Router state lives in
`{name}__state`, the writers' lease in `{name}__lock` (see `lease`; its conditional upsert needs a
Qdrant server >= 1.16). Calls go straight to `QdrantClient`, retried on transient faults by
tenacity; queries have a native async path on `AsyncQdrantClient`, every other async method runs
in a worker thread. Cosine vectors are stored normalised, so `records()` gives back unit vectors.
An in-process client (`location=":memory:"` or `path=`) still counts as remote (a shared store;
see `_qdrant_clients` for clients shared per folder).
"""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from collections.abc import Callable, Sequence
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
    decode_state,
    finite,
    merge_hybrid,
    query_matrix,
)
from semantic_router.index.base import HitBatch, Index, Record
from semantic_router.index.coordination import Coordinator, LeaseToken
from semantic_router.index.lease import Lease, LeaseLock
from semantic_router.vectors import SparseVector

with extra("qdrant", "QdrantIndex"):
    import httpx
    from qdrant_client import AsyncQdrantClient, QdrantClient, models
    from qdrant_client.http.exceptions import (
        ResponseHandlingException,
        UnexpectedResponse,
    )

    from semantic_router.index._qdrant_clients import (
        open_path,
        release_path,
        swap_guard,
    )
    from semantic_router.index._qdrant_wire import (
        DENSE,
        SPARSE,
        candidate,
        equals,
        route_filter,
        sparse_of,
        to_point,
        valid_id,
    )

T = TypeVar("T")
_STATE_ID = "5b1f3f0e-0000-4000-8000-000000000001"
_LOCK_ID = "5b1f3f0e-0000-4000-8000-000000000002"
_PAGE = 256
_TRANSIENT = {408, 429, 500, 502, 503, 504}

def _is_transient(exc: BaseException) -> bool:
    if isinstance(exc, UnexpectedResponse):
        return exc.status_code in _TRANSIENT
    return isinstance(exc, (ResponseHandlingException, httpx.TransportError, ConnectionError, TimeoutError))


def _missing(exc: IndexBackendError) -> bool:
    return exc.status == 404


class QdrantIndex(Index, Coordinator):
    """Records in a Qdrant collection; hybrid search with one batched request per call."""

    type = "qdrant"

    def __init__(
        self,
        url: str | None = None,
        api_key: str | None = None,
        location: str | None = None,
        path: str | None = None,
        name: str = "semantic-router",
        client: QdrantClient | None = None,
        aclient: AsyncQdrantClient | None = None,
        timeout: int = 10,
        prefer_grpc: bool = False,
        lock_ttl: float = 30.0,
        retries: int = 3,
        *,
        index_name: str | None = None,
        dimensions: int | None = None,
        namespace: str | None = None,
        init_async_index: bool = False,
    ) -> None:
        """`retries` is the number of attempts per call on transient faults (timeouts, 5xx, 429).
        A given `client`/`aclient` is not closed by `close()`. Without `url`, `location`, `path` or
        `client`: `$QDRANT_URL`, else an in-memory store (as aurelio). aurelio's `index_name` is
        `name`; `dimensions` and `init_async_index` are accepted (the collection is sized on the first
        write, async methods always work); `namespace` is not supported."""
        if namespace is not None:
            raise ValueError(f"QdrantIndex namespaces are not supported (got namespace={namespace!r}); "
                             "use one collection (name=...) per tenant")
        name = index_name if index_name is not None else name
        if not name or "/" in name:
            raise ValueError(f"invalid Qdrant collection name {name!r}")
        if client is None and url is None and location is None and path is None:
            url = os.environ.get("QDRANT_URL")
            location = None if url else ":memory:"
        self.name = name
        self._url, self._location, self._path = url, location, path
        self._api_key = api_key if api_key is not None else os.environ.get("QDRANT_API_KEY")
        self._timeout, self._prefer_grpc = timeout, prefer_grpc
        self._path_key: str | None = None
        self._owns_client = client is None
        if client is None:
            if path is not None:
                self._path_key, client = open_path(path)
            elif location is not None:
                client = QdrantClient(location=location, api_key=self._api_key, timeout=timeout,
                                      check_compatibility=False)
            else:
                client = QdrantClient(url=url, api_key=self._api_key, timeout=timeout, prefer_grpc=prefer_grpc,
                                      check_compatibility=False)
        self._client = client
        self._local = type(getattr(self._client, "_client", None)).__name__ == "QdrantLocal"
        self._aclient = aclient
        self._aclients: LoopClients[AsyncQdrantClient] = LoopClients(
            lambda: AsyncQdrantClient(url=url, api_key=self._api_key, timeout=timeout, prefer_grpc=prefer_grpc,
                                      check_compatibility=False), lambda c: c.close())
        self._where = url or (f"path {path}" if path else f"location {location}" if location else "the given client")
        self._retry = RetryPolicy(retries, _is_transient)
        self._dims_cache: int | None = None
        self._meta_ready: set[str] = set()
        self._state_coll, self._lock_coll = f"{name}__state", f"{name}__lock"
        self._lease = LeaseLock(_QdrantLease(self), ttl=lock_ttl)

    # -- plumbing -----------------------------------------------------------------------------
    def _call(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        """One client call, retried on transient faults; failures as IndexBackendError."""
        try:
            return self._retry.call(fn, *args, **kwargs)
        except Exception as exc:
            raise self._translate(exc) from exc

    async def _acall(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        """`_call` for an async client method."""
        try:
            return await self._retry.acall(fn, *args, **kwargs)
        except Exception as exc:
            raise self._translate(exc) from exc

    def _async_client(self) -> AsyncQdrantClient | None:
        """The async client for the running loop: given, or built for a URL; None for in-process
        storage (its async twin would be a separate store), so those calls go to a worker thread."""
        if self._aclient is not None:
            return self._aclient
        return None if self._url is None else self._aclients.get()

    def _translate(self, exc: BaseException) -> IndexBackendError:
        if isinstance(exc, UnexpectedResponse):
            body = exc.content.decode("utf-8", "replace")[:300]
            return IndexBackendError(f"Qdrant at {self._where} answered {exc.status_code} {exc.reason_phrase}: {body}",
                                     status=exc.status_code, retryable=exc.status_code in _TRANSIENT)
        if isinstance(exc, ResponseHandlingException):
            return IndexBackendError(f"cannot reach Qdrant at {self._where}: {exc.source!r}", retryable=True)
        text = str(exc).lower()  # the in-process store raises plain ValueErrors for these
        status = 404 if "not found" in text else 409 if "already exists" in text else None
        return IndexBackendError(f"Qdrant at {self._where} failed: {exc!r}", status=status,
                                 retryable=_is_transient(exc))

    def spec(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.type, "name": self.name}
        for key, value in (("url", self._url), ("location", self._location), ("path", self._path)):
            if value is not None:
                out[key] = value
        return out

    @property
    def is_remote(self) -> bool:
        return True

    # -- collections ----------------------------------------------------------------------------
    def _dims(self) -> int | None:
        """The records collection's dimension (cached), None while it does not exist."""
        if self._dims_cache is None:
            try:
                info = self._call(self._client.get_collection, self.name)
            except IndexBackendError as exc:
                if _missing(exc):
                    return None
                raise
            vectors = info.config.params.vectors
            if not isinstance(vectors, dict) or DENSE not in vectors:
                raise IndexBackendError(f"Qdrant collection {self.name!r} at {self._where} has no named {DENSE!r} "
                                        "vector: it was not made by semantic-router")
            self._dims_cache = int(vectors[DENSE].size)
        return self._dims_cache

    @property
    def dimensions(self) -> int | None:
        return self._dims()

    def _create(self, dims: int) -> int | None:
        try:
            self._call(self._client.create_collection, self.name,
                       vectors_config={DENSE: models.VectorParams(size=dims, distance=models.Distance.COSINE)},
                       sparse_vectors_config={SPARSE: models.SparseVectorParams()})
        except IndexBackendError as exc:
            if exc.status != 409:  # else another writer created it first
                raise
        if not self._local:  # the route filter of every query runs on this keyword index
            self._call(self._client.create_payload_index, self.name, "route",
                       field_schema=models.PayloadSchemaType.KEYWORD)
        self._dims_cache = None
        return self._dims()

    def _meta_upsert(self, collection: str, point: models.PointStruct, **kwargs: Any) -> None:
        """Upsert into a vector-less side collection, creating it (again, if dropped) when missing."""
        for attempt in range(2):
            if collection not in self._meta_ready:
                try:
                    self._call(self._client.create_collection, collection, vectors_config={})
                except IndexBackendError as exc:
                    if exc.status != 409:
                        raise
                self._meta_ready.add(collection)
            try:
                self._call(self._client.upsert, collection, points=[point], wait=True, **kwargs)
                return
            except IndexBackendError as exc:
                if attempt or not _missing(exc):
                    raise
                self._meta_ready.discard(collection)

    def _retrieve(self, collection: str, point_id: str) -> dict[str, Any] | None:
        """The payload of one point of a side collection, or None."""
        try:
            points = self._call(self._client.retrieve, collection, ids=[point_id], with_payload=True)
        except IndexBackendError as exc:
            if _missing(exc):
                return None
            raise
        return dict(points[0].payload) if points else None

    # -- records --------------------------------------------------------------------------------
    def upsert(self, records: Sequence[Record]) -> None:
        if not records:
            return
        dims = batch_dims(records)
        for r in records:
            if not valid_id(r.id):
                raise ValueError(f"Qdrant point ids must be UUIDs, got {r.id!r} for route {r.route!r}")
        have = self._dims()
        if have is None:
            have = self._create(dims)
        if have != dims:
            raise ValueError(f"records have dimension {dims}, index {self.name!r} holds {have}")
        points = [to_point(r) for r in {r.id: r for r in records}.values()]
        for batch in chunked(points, _PAGE):
            try:
                self._call(self._client.upsert, self.name, points=list(batch), wait=True)
            except IndexBackendError as exc:
                if not _missing(exc):
                    raise
                self._dims_cache = None  # dropped meanwhile by another writer: create it again
                self._create(dims)
                self._call(self._client.upsert, self.name, points=list(batch), wait=True)

    def _scroll(self, route: str | None, with_data: bool) -> list[Any]:
        points: list[Any] = []
        offset = None
        while True:
            try:
                page, offset = self._call(self._client.scroll, self.name, scroll_filter=route_filter(route),
                                          limit=_PAGE, offset=offset, with_payload=with_data, with_vectors=with_data)
            except IndexBackendError as exc:
                if _missing(exc):
                    return []
                raise
            points.extend(page)
            if offset is None:
                return points

    def records(self, route: str | None = None) -> list[Record]:
        return [Record(p.payload["route"], p.payload["utterance"], np.asarray(p.vector[DENSE], dtype=np.float32),
                       sparse_of(p.vector), p.payload.get("metadata"), str(p.id)) for p in self._scroll(route, True)]

    def ids(self, route: str | None = None) -> list[str]:
        return [str(p.id) for p in self._scroll(route, False)]

    def count(self) -> int:
        try:
            return self._call(self._client.count, self.name, exact=True).count
        except IndexBackendError as exc:
            if _missing(exc):
                return 0
            raise

    def delete(self, ids: Sequence[str] | None = None, route: str | None = None) -> int:
        wanted = list(dict.fromkeys(i for i in ids or [] if valid_id(i)))
        try:
            found = self._call(self._client.retrieve, self.name, ids=wanted, with_payload=["route"]) if wanted else []
            in_route = 0
            if route is not None:
                in_route = self._call(self._client.count, self.name, count_filter=route_filter(route),
                                      exact=True).count
                found = [p for p in found if p.payload.get("route") != route]  # counted with the route
        except IndexBackendError as exc:
            if _missing(exc):
                return 0
            raise
        if found:
            self._call(self._client.delete, self.name, points_selector=models.PointIdsList(points=[p.id for p in found]),
                       wait=True)
        if in_route:
            self._call(self._client.delete, self.name, points_selector=models.FilterSelector(filter=route_filter(route)),
                       wait=True)
        return len(found) + in_route

    def clear(self) -> None:
        for coll, selector in ((self.name, models.FilterSelector(filter=models.Filter())),
                               (self._state_coll, models.PointIdsList(points=[_STATE_ID]))):
            try:
                self._call(self._client.delete, coll, points_selector=selector, wait=True)
            except IndexBackendError as exc:
                if not _missing(exc):
                    raise

    def drop(self) -> None:
        for coll in (self.name, self._state_coll, self._lock_coll):
            try:
                self._call(self._client.delete_collection, coll)
            except IndexBackendError as exc:
                if not _missing(exc):
                    raise
        self._dims_cache = None
        self._meta_ready.clear()

    # -- search ---------------------------------------------------------------------------------
    def _search(self, dense: np.ndarray, sparse: Sequence[SparseVector] | None, top_k: int,
                routes: Sequence[str] | None, dims: Callable[[], int | None]) -> PreparedSearch | HitBatch:
        """One `query_batch_points` request for B queries: B dense searches plus one sparse search
        per query with a sparse vector (hybrid); or the answer itself when nothing needs asking."""
        q = query_matrix(dense, sparse)
        b, hybrid = q.shape[0], sparse is not None
        empty = HitBatch.from_rows([[] for _ in range(b)], hybrid)
        if top_k <= 0 or b == 0 or (routes is not None and not list(routes)):
            return empty
        have = dims()
        if have is None:
            return empty
        if q.shape[1] != have:
            raise ValueError(f"query vector has dimension {q.shape[1]}, index holds {have}")
        flt = route_filter(routes)
        requests = [models.QueryRequest(query=finite(v), using=DENSE, limit=top_k, filter=flt, with_payload=True,
                                        with_vector=[SPARSE] if hybrid else False) for v in q]
        probes = [i for i in range(b) if sparse is not None and len(sparse[i])]
        requests += [models.QueryRequest(
            query=models.SparseVector(indices=list(sparse[i].indices), values=list(sparse[i].values)),
            using=SPARSE, limit=top_k, filter=flt, with_payload=True, with_vector=[DENSE]) for i in probes]

        def finish(found: Any) -> HitBatch:
            by_probe = dict(zip(probes, found[b:]))
            rows = [merge_hybrid([candidate(p) for p in found[i].points],
                                 [candidate(p) for p in by_probe[i].points] if i in by_probe else [],
                                 q[i], sparse[i] if sparse is not None else None, cosine=True) for i in range(b)]
            return HitBatch.from_rows(rows, hybrid)

        return PreparedSearch(requests, finish, empty)

    def _vanished(self, exc: IndexBackendError, search: PreparedSearch) -> HitBatch:
        """The collection was dropped meanwhile: nothing found (else the error stands)."""
        if not _missing(exc):
            raise exc
        self._dims_cache = None
        return search.empty

    def query_batch(self, dense: np.ndarray, sparse: Sequence[SparseVector] | None = None, top_k: int = 5,
                    routes: Sequence[str] | None = None) -> HitBatch:
        search = self._search(dense, sparse, top_k, routes, self._dims)
        if isinstance(search, HitBatch):
            return search
        try:
            return search.finish(self._call(self._client.query_batch_points, self.name, requests=search.requests))
        except IndexBackendError as exc:
            return self._vanished(exc, search)

    async def aquery_batch(self, dense: np.ndarray, sparse: Sequence[SparseVector] | None = None, top_k: int = 5,
                           routes: Sequence[str] | None = None) -> HitBatch:
        """Native async search on the async client (a worker thread for in-process storage)."""
        client = self._async_client()
        if client is None:
            return await super().aquery_batch(dense, sparse, top_k, routes)
        if self._dims_cache is None:
            await asyncio.to_thread(self._dims)
        search = self._search(dense, sparse, top_k, routes, lambda: self._dims_cache)
        if isinstance(search, HitBatch):
            return search
        try:
            found = await self._acall(client.query_batch_points, self.name, requests=search.requests)
        except IndexBackendError as exc:
            return self._vanished(exc, search)
        return search.finish(found)

    # -- shared state and the writers' lock -------------------------------------------------------
    def read_state(self) -> dict[str, Any] | None:
        payload = self._retrieve(self._state_coll, _STATE_ID)
        return None if payload is None else decode_state(payload["state"], f"Qdrant collection {self._state_coll!r}")

    def write_state(self, state: dict[str, Any], *, expected_version: int | None = None,
                    lease: LeaseToken | None = None) -> None:
        """Fenced write: the lease is checked first, then the upsert is conditioned on the stored
        version (a server-side compare-and-set, Qdrant >= 1.16) and read back to see it landed."""
        if lease is not None and not self._lease.holds(lease):
            raise StateConflict(f"the lock of Qdrant index {self.name!r} was lost (lease expired or taken over) "
                                "before the state write; nothing was written")
        nonce = uuid.uuid4().hex
        version = state.get("version", 0)
        payload = {"state": json.dumps(state), "version": version, "nonce": nonce}
        point = models.PointStruct(id=_STATE_ID, vector={}, payload=payload)
        if expected_version is None:
            self._meta_upsert(self._state_coll, point)
            return
        stored = self._retrieve(self._state_coll, _STATE_ID)
        if stored is not None and "version" not in stored:  # written before fencing: version only in the JSON
            found = int(json.loads(stored["state"]).get("version", 0))
            condition = models.Filter(must=[models.IsEmptyCondition(is_empty=models.PayloadField(key="version"))])
        else:
            found = 0 if stored is None else int(stored["version"])
            condition = models.Filter(must=[equals("version", expected_version)])
        if found == expected_version:
            self._meta_upsert(self._state_coll, point, update_filter=condition)
            now = self._retrieve(self._state_coll, _STATE_ID)
            if now is not None and now.get("nonce") == nonce:
                return
            found = None if now is None else now.get("version")
        raise StateConflict(f"the shared state of Qdrant index {self.name!r} moved on: expected version "
                            f"{expected_version}, found {found}; nothing was written")

    def lock(self, timeout: float = 10.0):
        return self._lease.hold(timeout)

    # -- lifecycle ----------------------------------------------------------------------------------
    def close(self) -> None:
        """Close the clients this index opened (a shared in-process store with its last index);
        async clients of other event loops are dropped."""
        if self._path_key is not None:
            key, self._path_key = self._path_key, None
            release_path(key)
        elif self._owns_client:
            self._client.close()
        self._aclients.forget()

    async def aclose(self) -> None:
        """Close the async client of the running event loop, then everything `close` closes."""
        await self._aclients.aclose()
        self.close()


class _QdrantLease:
    """The lease point in `{name}__lock`; a swap is an upsert conditioned on the stored version."""

    def __init__(self, index: QdrantIndex) -> None:
        self._index = index

    def read(self) -> Lease | None:
        p = self._index._retrieve(self._index._lock_coll, _LOCK_ID)
        return None if p is None else Lease(str(p["owner"]), float(p["expires"]), int(p["version"]))

    def swap(self, expected: Lease | None, new: Lease) -> bool:
        version = expected.version if expected is not None else -1  # -1: insert only if absent
        condition = models.Filter(must=[equals("version", version)])
        payload = {"owner": new.owner, "expires": new.expires, "version": new.version}
        point = models.PointStruct(id=_LOCK_ID, vector={}, payload=payload)
        with swap_guard(self._index._client):
            self._index._meta_upsert(self._index._lock_coll, point, update_filter=condition)
            got = self.read()
        return got is not None and got.owner == new.owner and got.version == new.version


__all__ = ["QdrantIndex"]

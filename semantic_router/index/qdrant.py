"""Qdrant backend: one collection per index with a named dense vector ("dense", cosine) and a named
sparse vector ("sparse", dot product), payload {route, utterance, metadata}, point ids = Record ids.

The collection is created on the first upsert, when the dimension is known. Router state lives in
`{name}__state`, the writers' lease in `{name}__lock` (see `lease`; its conditional upsert needs a
Qdrant server >= 1.16). Every operation is written once as a plan (see `remote`) and run by the
sync client or, for the async twins, `AsyncQdrantClient`. Cosine vectors are stored normalised,
so `records()` gives back unit vectors.
An in-process client (`location=":memory:"` or `path=`) still counts as remote (a shared store):
clients on one path are shared within the process, and lease swaps on one client are serialised.
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
import uuid
import weakref
from collections.abc import Sequence
from typing import Any

import httpx
import numpy as np
from qdrant_client import AsyncQdrantClient, QdrantClient, models
from qdrant_client.http.exceptions import ResponseHandlingException, UnexpectedResponse

from semantic_router.vectors import SparseVector
from semantic_router.errors import IndexBackendError
from semantic_router.index.base import HitBatch, Record
from semantic_router.index.lease import Lease, LeaseLock
from semantic_router.index.remote import (Candidate, Driver, Plan, PlannedIndex, batch_dims, call, chunked, finite,
                                          merge_hybrid, query_matrix)

DENSE, SPARSE = "dense", "sparse"
_STATE_ID = "5b1f3f0e-0000-4000-8000-000000000001"
_LOCK_ID = "5b1f3f0e-0000-4000-8000-000000000002"
_PAGE = 256
_TRANSIENT = {408, 429, 500, 502, 503, 504}

_REGISTRY = threading.Lock()
_PATH_CLIENTS: dict[str, QdrantClient] = {}  # one client per storage folder (Qdrant locks the folder)
_GUARDS: dict[int, threading.Lock] = {}  # per client: serialises lease swaps inside this process


def _guard(client: Any) -> threading.Lock:
    with _REGISTRY:
        return _GUARDS.setdefault(id(client), threading.Lock())


def _make_client(url: str | None, api_key: str | None, location: str | None, path: str | None,
                 timeout: int, prefer_grpc: bool) -> QdrantClient:
    if path is not None:
        key = os.path.realpath(path)
        with _REGISTRY:
            if key not in _PATH_CLIENTS:
                _PATH_CLIENTS[key] = QdrantClient(path=path)
            return _PATH_CLIENTS[key]
    if location is not None:
        return QdrantClient(location=location, api_key=api_key, timeout=timeout, check_compatibility=False)
    return QdrantClient(url=url, api_key=api_key, timeout=timeout, prefer_grpc=prefer_grpc, check_compatibility=False)


def _not_found(exc: BaseException) -> bool:
    if isinstance(exc, UnexpectedResponse):
        return exc.status_code == 404
    return isinstance(exc, ValueError) and "not found" in str(exc).lower()


def _exists_error(exc: BaseException) -> bool:
    text = exc.content.decode("utf-8", "replace") if isinstance(exc, UnexpectedResponse) else str(exc)
    return isinstance(exc, (UnexpectedResponse, ValueError)) and "already exists" in text


def _is_transient(exc: BaseException) -> bool:
    if isinstance(exc, UnexpectedResponse):
        return exc.status_code in _TRANSIENT
    return isinstance(exc, (ResponseHandlingException, httpx.TransportError, ConnectionError, TimeoutError))


def _valid_id(value: str) -> bool:
    try:
        uuid.UUID(str(value))
        return True
    except ValueError:
        return False


def _route_filter(routes: Sequence[str] | str | None) -> models.Filter | None:
    if routes is None:
        return None
    match: Any = models.MatchValue(value=routes) if isinstance(routes, str) else models.MatchAny(any=list(routes))
    return models.Filter(must=[models.FieldCondition(key="route", match=match)])


def _sparse_of(vectors: Any) -> SparseVector | None:
    sv = vectors.get(SPARSE) if isinstance(vectors, dict) else None
    return None if sv is None else SparseVector(tuple(sv.indices), tuple(float(v) for v in sv.values))


def _candidate(p: Any) -> Candidate:
    vec = p.vector if isinstance(p.vector, dict) else {}
    return Candidate(str(p.id), p.payload["route"], p.payload["utterance"], float(p.score), vec.get(DENSE),
                     _sparse_of(vec))


class QdrantIndex(PlannedIndex):
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
    ) -> None:
        if not name or "/" in name:
            raise ValueError(f"invalid Qdrant collection name {name!r}")
        if client is None and url is None and location is None and path is None:
            url = os.environ.get("QDRANT_URL", "http://localhost:6333")
        self.name = name
        self._url, self._location, self._path = url, location, path
        self._api_key = api_key if api_key is not None else os.environ.get("QDRANT_API_KEY")
        self._timeout, self._prefer_grpc = timeout, prefer_grpc
        self._client = client or _make_client(url, self._api_key, location, path, timeout, prefer_grpc)
        self._local = type(getattr(self._client, "_client", None)).__name__ == "QdrantLocal"
        self._aclient = aclient
        self._aclients: weakref.WeakKeyDictionary[Any, AsyncQdrantClient] = weakref.WeakKeyDictionary()
        self._where = url or (f"path {path}" if path else f"location {location}" if location else "the given client")
        self._dims: int | None = None
        self._meta_ready: set[str] = set()
        self._state_coll, self._lock_coll = f"{name}__state", f"{name}__lock"
        self._driver = Driver(lambda _t: self._client, self._async_client, _is_transient, self._translate, retries,
                              backend_error=lambda e: _not_found(e) or _exists_error(e))
        self._lease = LeaseLock(_QdrantLease(self), ttl=lock_ttl)

    # -- plumbing -----------------------------------------------------------------------------
    def _async_client(self, _target: str) -> AsyncQdrantClient | None:
        """The async client for the running loop: given, or built for a URL; None for in-process
        storage (its async twin would be a separate store), so those calls go to a worker thread."""
        if self._aclient is not None:
            return self._aclient
        if self._url is None:
            return None
        loop = asyncio.get_running_loop()
        if loop not in self._aclients:
            self._aclients[loop] = AsyncQdrantClient(url=self._url, api_key=self._api_key, timeout=self._timeout,
                                                     prefer_grpc=self._prefer_grpc, check_compatibility=False)
        return self._aclients[loop]

    def _translate(self, exc: BaseException) -> BaseException:
        if isinstance(exc, UnexpectedResponse):
            body = exc.content.decode("utf-8", "replace")[:300]
            return IndexBackendError(f"Qdrant at {self._where} answered {exc.status_code} {exc.reason_phrase}: {body}")
        if isinstance(exc, ResponseHandlingException):
            return IndexBackendError(f"cannot reach Qdrant at {self._where}: {exc.source!r}")
        return IndexBackendError(f"Qdrant at {self._where} failed: {exc!r}")

    def spec(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.type, "name": self.name}
        for key, value in (("url", self._url), ("location", self._location), ("path", self._path)):
            if value is not None:
                out[key] = value
        return out

    # -- plans ----------------------------------------------------------------------------------
    def _dims_plan(self) -> Plan[int | None]:
        if self._dims is None:
            try:
                info = yield call("c", "get_collection", self.name)
            except Exception as exc:
                if _not_found(exc):
                    return None
                raise
            vectors = info.config.params.vectors
            if not isinstance(vectors, dict) or DENSE not in vectors:
                raise IndexBackendError(f"Qdrant collection {self.name!r} at {self._where} has no named {DENSE!r} "
                                        "vector: it was not made by semantic-router")
            self._dims = int(vectors[DENSE].size)
        return self._dims

    def _create_plan(self, dims: int) -> Plan[int | None]:
        try:
            yield call("c", "create_collection", self.name,
                       vectors_config={DENSE: models.VectorParams(size=dims, distance=models.Distance.COSINE)},
                       sparse_vectors_config={SPARSE: models.SparseVectorParams()})
        except Exception as exc:
            if not _exists_error(exc):  # else another writer created it first
                raise
        if not self._local:  # the route filter of every query runs on this keyword index
            yield call("c", "create_payload_index", self.name, "route", field_schema=models.PayloadSchemaType.KEYWORD)
        self._dims = None
        return (yield from self._dims_plan())

    def _meta_write_plan(self, collection: str, point: models.PointStruct, **kwargs: Any) -> Plan[None]:
        """Upsert into a vector-less side collection, creating it (again, if dropped) when missing."""
        for attempt in range(2):
            if collection not in self._meta_ready:
                try:
                    yield call("c", "create_collection", collection, vectors_config={})
                except Exception as exc:
                    if not _exists_error(exc):
                        raise
                self._meta_ready.add(collection)
            try:
                yield call("c", "upsert", collection, points=[point], wait=True, **kwargs)
                return
            except Exception as exc:
                if attempt or not _not_found(exc):
                    raise
                self._meta_ready.discard(collection)

    def _upsert_plan(self, records: Sequence[Record]) -> Plan[None]:
        if not records:
            return
        dims = batch_dims(records)
        for r in records:
            if not _valid_id(r.id):
                raise ValueError(f"Qdrant point ids must be UUIDs, got {r.id!r} for route {r.route!r}")
        have = yield from self._dims_plan()
        if have is None:
            have = yield from self._create_plan(dims)
        if have != dims:
            raise ValueError(f"records have dimension {dims}, index {self.name!r} holds {have}")
        points = [self._point(r) for r in {r.id: r for r in records}.values()]
        for batch in chunked(points, _PAGE):
            try:
                yield call("c", "upsert", self.name, points=list(batch), wait=True)
            except Exception as exc:
                if not _not_found(exc):
                    raise
                self._dims = None  # dropped meanwhile by another writer: create it again
                yield from self._create_plan(dims)
                yield call("c", "upsert", self.name, points=list(batch), wait=True)

    @staticmethod
    def _point(r: Record) -> models.PointStruct:
        vector: dict[str, Any] = {DENSE: finite(r.dense)}
        if r.sparse is not None and len(r.sparse):
            vector[SPARSE] = models.SparseVector(indices=list(r.sparse.indices), values=list(r.sparse.values))
        payload = {"route": r.route, "utterance": r.utterance, "metadata": r.metadata}
        return models.PointStruct(id=r.id, vector=vector, payload=payload)

    def _query_plan(self, dense: np.ndarray, sparse: Sequence[SparseVector] | None, top_k: int,
                    routes: Sequence[str] | None) -> Plan[HitBatch]:
        q = query_matrix(dense, sparse)
        b, hybrid = q.shape[0], sparse is not None
        empty = HitBatch.from_rows([[] for _ in range(b)], hybrid)
        if top_k <= 0 or b == 0 or (routes is not None and not list(routes)):
            return empty
        dims = yield from self._dims_plan()
        if dims is None:
            return empty
        if q.shape[1] != dims:
            raise ValueError(f"query vector has dimension {q.shape[1]}, index holds {dims}")
        flt = _route_filter(routes)
        requests = [models.QueryRequest(query=finite(v), using=DENSE, limit=top_k, filter=flt, with_payload=True,
                                        with_vector=[SPARSE] if hybrid else False) for v in q]
        probes = [i for i in range(b) if sparse is not None and len(sparse[i])]
        requests += [models.QueryRequest(
            query=models.SparseVector(indices=list(sparse[i].indices), values=list(sparse[i].values)),
            using=SPARSE, limit=top_k, filter=flt, with_payload=True, with_vector=[DENSE]) for i in probes]
        try:
            found = yield call("c", "query_batch_points", self.name, requests=requests)
        except Exception as exc:
            if _not_found(exc):
                self._dims = None
                return empty
            raise
        by_probe = dict(zip(probes, found[b:]))
        rows = [merge_hybrid([_candidate(p) for p in found[i].points],
                             [_candidate(p) for p in by_probe[i].points] if i in by_probe else [],
                             q[i], sparse[i] if sparse is not None else None, cosine=True) for i in range(b)]
        return HitBatch.from_rows(rows, hybrid)

    def _scroll_plan(self, route: str | None, with_data: bool) -> Plan[list[Any]]:
        points: list[Any] = []
        offset = None
        while True:
            try:
                page, offset = yield call("c", "scroll", self.name, scroll_filter=_route_filter(route), limit=_PAGE,
                                          offset=offset, with_payload=with_data, with_vectors=with_data)
            except Exception as exc:
                if _not_found(exc):
                    return []
                raise
            points.extend(page)
            if offset is None:
                return points

    def _records_plan(self, route: str | None) -> Plan[list[Record]]:
        points = yield from self._scroll_plan(route, True)
        return [Record(p.payload["route"], p.payload["utterance"], np.asarray(p.vector[DENSE], dtype=np.float32),
                       _sparse_of(p.vector), p.payload.get("metadata"), str(p.id)) for p in points]

    def _count_plan(self) -> Plan[int]:
        try:
            return (yield call("c", "count", self.name, exact=True)).count
        except Exception as exc:
            if _not_found(exc):
                return 0
            raise

    def _delete_plan(self, ids: Sequence[str] | None, route: str | None) -> Plan[int]:
        wanted = list(dict.fromkeys(i for i in ids or [] if _valid_id(i)))
        try:
            found = (yield call("c", "retrieve", self.name, ids=wanted, with_payload=["route"])) if wanted else []
            in_route = 0
            if route is not None:
                in_route = (yield call("c", "count", self.name, count_filter=_route_filter(route), exact=True)).count
                found = [p for p in found if p.payload.get("route") != route]  # counted with the route
        except Exception as exc:
            if _not_found(exc):
                return 0
            raise
        if found:
            by_id = models.PointIdsList(points=[p.id for p in found])
            yield call("c", "delete", self.name, points_selector=by_id, wait=True)
        if in_route:
            by_route = models.FilterSelector(filter=_route_filter(route))
            yield call("c", "delete", self.name, points_selector=by_route, wait=True)
        return len(found) + in_route

    def _clear_plan(self) -> Plan[None]:
        for coll, selector in ((self.name, models.FilterSelector(filter=models.Filter())),
                               (self._state_coll, models.PointIdsList(points=[_STATE_ID]))):
            try:
                yield call("c", "delete", coll, points_selector=selector, wait=True)
            except Exception as exc:
                if not _not_found(exc):
                    raise

    def _read_state_plan(self) -> Plan[dict[str, Any] | None]:
        try:
            points = yield call("c", "retrieve", self._state_coll, ids=[_STATE_ID], with_payload=True)
        except Exception as exc:
            if _not_found(exc):
                return None
            raise
        return json.loads(points[0].payload["state"]) if points else None

    def _write_state_plan(self, state: dict[str, Any]) -> Plan[None]:
        point = models.PointStruct(id=_STATE_ID, vector={}, payload={"state": json.dumps(state)})
        yield from self._meta_write_plan(self._state_coll, point)

    def _ids_plan(self, route: str | None) -> Plan[list[str]]:
        return [str(p.id) for p in (yield from self._scroll_plan(route, False))]

    def drop(self) -> None:
        for coll in (self.name, self._state_coll, self._lock_coll):
            try:
                self._client.delete_collection(coll)
            except Exception as exc:
                if not _not_found(exc):
                    raise self._translate(exc) from exc
        self._dims = None
        self._meta_ready.clear()


class _QdrantLease:
    """The lease point in `{name}__lock`; a swap is an upsert conditioned on the stored version."""

    def __init__(self, index: QdrantIndex) -> None:
        self._index = index

    def _read_plan(self) -> Plan[Lease | None]:
        try:
            points = yield call("c", "retrieve", self._index._lock_coll, ids=[_LOCK_ID], with_payload=True)
        except Exception as exc:
            if _not_found(exc):
                return None
            raise
        if not points:
            return None
        p = points[0].payload
        return Lease(str(p["owner"]), float(p["expires"]), int(p["version"]))

    def _swap_plan(self, expected: Lease | None, new: Lease) -> Plan[bool]:
        version = expected.version if expected is not None else -1  # -1: insert only if absent
        condition = models.Filter(must=[models.FieldCondition(key="version", match=models.MatchValue(value=version))])
        payload = {"owner": new.owner, "expires": new.expires, "version": new.version}
        point = models.PointStruct(id=_LOCK_ID, vector={}, payload=payload)
        yield from self._index._meta_write_plan(self._index._lock_coll, point, update_filter=condition)
        got = yield from self._read_plan()
        return got is not None and got.owner == new.owner and got.version == new.version

    def read(self) -> Lease | None:
        return self._index._driver.run(self._read_plan())

    def swap(self, expected: Lease | None, new: Lease) -> bool:
        with _guard(self._index._client):
            return self._index._driver.run(self._swap_plan(expected, new))

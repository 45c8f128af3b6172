"""Pinecone backend on the `pinecone` SDK's vector API: a serverless index created on the first
upsert (metric "dotproduct" with a sparse field when records carry sparse vectors, else "cosine"),
one namespace per tenant, metadata {route, utterance, sr_metadata (JSON)}, ids = Record ids.

Router state and the writers' lease need no dimension, so they live in a small shared index
(`meta_index`, 1-d, one per project) under namespace `{name}__{namespace}`, usable before any
record exists; state is chunked under the 40 KB metadata cap and switched by a header record.
A dotproduct hybrid score is dense·dense + sparse·sparse, so each hit's two scores are computed
client-side from returned values; the sparse top-k comes from a probe query whose dense part is
scaled by 1e-6. Writes are batched under the 2 MB / 1000-vector limits. Serverless Pinecone is
eventually consistent: counts and reads may lag writes briefly.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import re
import uuid
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from pinecone import Pinecone
from pinecone.errors.exceptions import (ApiError, ConflictError, ForbiddenError, NotFoundError, PineconeConnectionError,
                                        PineconeTimeoutError, RateLimitError, ServiceError, UnauthorizedError)

from semantic_router.vectors import SparseVector
from semantic_router.errors import IndexBackendError
from semantic_router.index.base import HitBatch, Record
from semantic_router.index.lease import Lease, LeaseLock
from semantic_router.index.remote import (Candidate, Driver, Plan, PlannedIndex, Sleep, batch_dims, call, chunked,
                                          finite, merge_hybrid, query_matrix, size_batches)

MAX_REQUEST_BYTES = 1_900_000  # Pinecone refuses requests over 2 MB; keep headroom for the envelope
MAX_UPSERT_VECTORS = 1000
FETCH_BATCH = 100  # ids per fetch (a GET: the ids travel in the URL)
CONCURRENCY = 8  # requests in flight per step
META_INDEX = "semantic-router-meta"
_STATE_ID, _LOCK_ID = "sr-state", "sr-lock"
_CHUNK = 30_000  # characters of state JSON per meta record
_PROBE = 1e-6  # dense weight of the sparse-ranking probe query
_NAME = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,43}[a-z0-9])?$")


@dataclass(frozen=True)
class _Info:
    host: str
    dims: int
    metric: str
    hybrid: bool


def _sparse_of(raw: Any) -> SparseVector | None:
    if raw is None or not raw.indices:
        return None
    return SparseVector(tuple(int(i) for i in raw.indices), tuple(float(v) for v in raw.values))


def _is_transient(exc: BaseException) -> bool:
    # the SDK's transport already retried connection errors; retry what it gave up on at status level
    return isinstance(exc, (ServiceError, RateLimitError))


def _meta_vector(vid: str, metadata: dict[str, Any]) -> dict[str, Any]:
    return {"id": vid, "values": [1.0], "metadata": metadata}


class PineconeIndex(PlannedIndex):
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
        if client is None:
            key = api_key or os.environ.get("PINECONE_API_KEY")
            if not key:
                raise IndexBackendError("Pinecone needs an API key: pass api_key=... or set PINECONE_API_KEY")
            client = Pinecone(api_key=key, host=control_host)
        self._pc = client
        self._info: _Info | None = None
        self._meta_host: str | None = None
        self._clients: dict[str, Any] = {}
        self._aclients: weakref.WeakKeyDictionary[Any, dict[str, Any]] = weakref.WeakKeyDictionary()
        self._driver = Driver(self._resolve, self._aresolve, _is_transient, self._translate, retries, CONCURRENCY)
        self._lease = LeaseLock(_PineconeLease(self), ttl=lock_ttl)

    # -- plumbing -----------------------------------------------------------------------------
    def _host_of(self, target: str) -> str:
        if target == "meta":
            return str(self._meta_host)
        return self._info.host if self._info is not None else str(self._host)

    def _resolve(self, target: str) -> Any:
        """The control plane, or the data plane ("data": records, "meta": state and lease)."""
        if target == "control":
            return self._pc
        if target not in self._clients:
            self._clients[target] = self._pc.index(host=self._host_of(target))
        return self._clients[target]

    def _aresolve(self, target: str) -> Any:
        """A data plane's AsyncIndex for the running loop; control calls go to a worker thread."""
        if target == "control":
            return None
        per_loop = self._aclients.setdefault(asyncio.get_running_loop(), {})
        if target not in per_loop:
            per_loop[target] = self._pc.IndexAsyncio(host=self._host_of(target))
        return per_loop[target]

    def _forget(self) -> None:
        self._info = None
        self._clients.pop("data", None)
        for per_loop in self._aclients.values():
            per_loop.pop("data", None)

    def _translate(self, exc: BaseException) -> BaseException:
        where = self._info.host if self._info else (self._host or self._control_host or "the Pinecone API")
        if isinstance(exc, (UnauthorizedError, ForbiddenError)):
            return IndexBackendError(f"Pinecone rejected the API key ({exc.status_code} {type(exc).__name__}) for "
                                     f"index {self.name!r} at {where}: check api_key / PINECONE_API_KEY")
        if isinstance(exc, ApiError):
            return IndexBackendError(f"Pinecone index {self.name!r} at {where} answered {exc.status_code}: "
                                     f"{exc.message}")
        if isinstance(exc, (PineconeConnectionError, PineconeTimeoutError)):
            return IndexBackendError(f"cannot reach Pinecone at {where}: {exc}")
        return IndexBackendError(f"Pinecone index {self.name!r} at {where} failed: {exc!r}")

    def spec(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.type, "name": self.name, "namespace": self.namespace,
                               "cloud": self._cloud, "region": self._region}
        dims = self._info.dims if self._info else self._dims_hint
        metric = self._info.metric if self._info else self._metric
        meta = None if self._meta_index == META_INDEX else self._meta_index
        for key, value in (("dimensions", dims), ("metric", metric), ("host", self._host),
                           ("control_host", self._control_host), ("meta_index", meta)):
            if value is not None:
                out[key] = value
        return out

    # -- index lifecycle ------------------------------------------------------------------------
    def _describe_plan(self, name: str, create: dict[str, Any] | None) -> Plan[Any]:
        """Describe index `name` once it is ready; create it from `create` (fields) if missing,
        else None. A create that loses a race to another writer adopts the winner's index."""
        try:
            desc = yield call("control", "indexes.describe", name)
        except NotFoundError:
            if create is None:
                return None
            deployment = {"deployment_type": "managed", "cloud": self._cloud, "region": self._region}
            try:
                desc = yield call("control", "indexes.create", name=name, schema={"fields": create},
                                  deployment=deployment, timeout=-1)
            except ConflictError:
                desc = yield call("control", "indexes.describe", name)
        waited = 0.0
        while not desc.status.ready:
            if waited >= self._ready_timeout:
                raise IndexBackendError(f"Pinecone index {name!r} not ready after {waited:.0f}s")
            yield Sleep(1.0)
            waited += 1.0
            desc = yield call("control", "indexes.describe", name)
        return desc

    def _info_plan(self, create: tuple[int, bool] | None = None) -> Plan[_Info | None]:
        """The records index (dimension, metric, host), created for (dims, hybrid) if missing."""
        if self._info is not None:
            return self._info
        if self._host:
            stats = yield call("data", "describe_index_stats")
            metric = stats.metric or "cosine"
            self._info = _Info(self._host, int(stats.dimension), metric, metric == "dotproduct")
            return self._info
        fields = None
        if create is not None:
            metric = self._metric or ("dotproduct" if create[1] else "cosine")
            fields = {"_values": {"type": "dense_vector", "dimension": create[0], "metric": metric}}
            if metric == "dotproduct":
                fields["_sparse_values"] = {"type": "sparse_vector"}
        desc = yield from self._describe_plan(self.name, fields)
        if desc is None:
            return None
        dense = desc.schema.fields.get("_values")
        if dense is None:
            raise IndexBackendError(f"Pinecone index {self.name!r} is not a vector index (no '_values' field)")
        self._clients.pop("data", None)
        self._info = _Info(desc.host, int(dense.dimension), str(dense.metric), "_sparse_values" in desc.schema.fields)
        return self._info

    def _meta_plan(self, create: bool) -> Plan[bool]:
        """Whether the meta index exists (creating it if asked); remembers its host."""
        if self._meta_host is None:
            fields = {"_values": {"type": "dense_vector", "dimension": 1, "metric": "cosine"}} if create else None
            desc = yield from self._describe_plan(self._meta_index, fields)
            if desc is None:
                return False
            self._meta_host = desc.host
        return True

    def _dims_plan(self) -> Plan[int | None]:
        return getattr((yield from self._info_plan()), "dims", None)

    def drop(self) -> None:
        """Delete the records index (with a tenant namespace: only that namespace) and this
        router's state and lease; the shared meta index stays."""
        self._driver.run(self._drop_plan())
        self._forget()

    def _drop_plan(self) -> Plan[None]:
        if not self.namespace and not self._host:
            deleting = call("control", "indexes.delete", self.name, timeout=int(self._ready_timeout))
            yield from self._ignore_missing(deleting)
        elif (yield from self._info_plan()) is not None:
            yield from self._ignore_missing(call("data", "delete", delete_all=True, namespace=self.namespace))
        if (yield from self._meta_plan(False)):
            yield from self._ignore_missing(call("meta", "delete", delete_all=True, namespace=self._meta_ns))

    def _ignore_missing(self, c: Any) -> Plan[Any]:
        try:
            return (yield c)
        except NotFoundError:
            return None

    # -- records --------------------------------------------------------------------------------
    def _vector(self, r: Record) -> dict[str, Any]:
        meta: dict[str, Any] = {"route": r.route, "utterance": r.utterance}
        if r.metadata is not None:
            meta["sr_metadata"] = json.dumps(r.metadata)
        out: dict[str, Any] = {"id": r.id, "values": finite(r.dense), "metadata": meta}
        if r.sparse is not None and len(r.sparse):
            out["sparse_values"] = {"indices": list(r.sparse.indices), "values": list(r.sparse.values)}
        return out

    @staticmethod
    def _record(v: Any) -> Record:
        meta = v.metadata or {}
        extra = json.loads(meta["sr_metadata"]) if "sr_metadata" in meta else None
        return Record(meta["route"], meta["utterance"], np.asarray(v.values, dtype=np.float32),
                      _sparse_of(v.sparse_values), extra, v.id)

    def _upsert_plan(self, records: Sequence[Record]) -> Plan[None]:
        if not records:
            return
        dims = batch_dims(records)
        if self._dims_hint is not None and dims != self._dims_hint:
            raise ValueError(f"records have dimension {dims}, index {self.name!r} was configured for {self._dims_hint}")
        hybrid = any(r.sparse is not None and len(r.sparse) for r in records)
        vectors = [self._vector(r) for r in {r.id: r for r in records}.values()]
        for attempt in range(2):
            info = yield from self._info_plan((dims, hybrid))
            if info.dims != dims:
                raise ValueError(f"records have dimension {dims}, index {self.name!r} holds {info.dims}")
            if hybrid and not info.hybrid:
                raise ValueError(f"Pinecone index {self.name!r} has no sparse field (metric {info.metric}): hybrid "
                                 "records need a dotproduct index with one; drop it or use another name")
            try:
                yield from self._write_plan(vectors, self.namespace)
                return
            except NotFoundError:
                if attempt or self._host:
                    raise
                self._forget()  # the index was deleted meanwhile: create it again

    def _write_plan(self, vectors: list[dict[str, Any]], namespace: str, target: str = "data") -> Plan[None]:
        batches = size_batches(vectors, MAX_REQUEST_BYTES, MAX_UPSERT_VECTORS)
        for group in chunked(batches, CONCURRENCY):
            yield [call(target, "upsert", vectors=b, namespace=namespace) for b in group]

    def _pages_plan(self, method: str, **kwargs: Any) -> Plan[list[Any]]:
        """Every page of a paginated data-plane call (`list_paginated`, `fetch_by_metadata`)."""
        pages: list[Any] = []
        token = None
        while True:
            page = yield call("data", method, namespace=self.namespace, limit=100, pagination_token=token, **kwargs)
            pages.append(page)
            token = page.pagination.next if page.pagination else None
            if not token:
                return pages

    def _list_plan(self) -> Plan[list[str]]:
        return [item.id for page in (yield from self._pages_plan("list_paginated")) for item in page.vectors]

    def _fetch_plan(self, ids: Sequence[str], namespace: str, target: str = "data") -> Plan[dict[str, Any]]:
        found: dict[str, Any] = {}
        for group in chunked(chunked(list(ids), FETCH_BATCH), CONCURRENCY):
            for resp in (yield [call(target, "fetch", ids=list(b), namespace=namespace) for b in group]):
                found.update(resp.vectors)
        return found

    def _by_route_plan(self, route: str) -> Plan[dict[str, Any]]:
        pages = yield from self._pages_plan("fetch_by_metadata", filter={"route": {"$eq": route}})
        return {vid: v for page in pages for vid, v in page.vectors.items()}

    def _records_plan(self, route: str | None) -> Plan[list[Record]]:
        if (yield from self._info_plan()) is None:
            return []
        if route is None:
            found = yield from self._fetch_plan((yield from self._list_plan()), self.namespace)
        else:
            found = yield from self._by_route_plan(route)
        return [self._record(v) for v in found.values()]

    def _ids_plan(self, route: str | None) -> Plan[list[str]]:
        if (yield from self._info_plan()) is None:
            return []
        if route is None:
            return (yield from self._list_plan())
        return list((yield from self._by_route_plan(route)))

    def _count_plan(self) -> Plan[int]:
        if (yield from self._info_plan()) is None:
            return 0
        stats = yield call("data", "describe_index_stats")
        summary = stats.namespaces.get(self.namespace)
        return 0 if summary is None else int(summary.vector_count)

    def _delete_plan(self, ids: Sequence[str] | None, route: str | None) -> Plan[int]:
        if (yield from self._info_plan()) is None:
            return 0
        wanted = [i for i in dict.fromkeys(ids or []) if i.isascii() and 0 < len(i) <= 512]
        targets = set((yield from self._fetch_plan(wanted, self.namespace))) if wanted else set()
        if route is not None:
            targets |= set((yield from self._by_route_plan(route)))
        for group in chunked(chunked(sorted(targets), 1000), CONCURRENCY):
            yield [call("data", "delete", ids=list(b), namespace=self.namespace) for b in group]
        return len(targets)

    def _clear_plan(self) -> Plan[None]:
        if (yield from self._info_plan()) is not None:
            yield from self._ignore_missing(call("data", "delete", delete_all=True, namespace=self.namespace))
        if (yield from self._meta_plan(False)):
            yield from self._ignore_missing(call("meta", "delete", filter={"kind": {"$in": ["state", "state_chunk"]}},
                                                 namespace=self._meta_ns))

    # -- search ---------------------------------------------------------------------------------
    def _query_plan(self, dense: np.ndarray, sparse: Sequence[SparseVector] | None, top_k: int,
                    routes: Sequence[str] | None) -> Plan[HitBatch]:
        q = query_matrix(dense, sparse)
        b = q.shape[0]
        empty = HitBatch.from_rows([[] for _ in range(b)], sparse is not None)
        if top_k <= 0 or b == 0 or (routes is not None and not list(routes)):
            return empty
        info = yield from self._info_plan()
        if info is None:
            return empty
        if q.shape[1] != info.dims:
            raise ValueError(f"query vector has dimension {q.shape[1]}, index holds {info.dims}")
        k = min(top_k, 1000)  # Pinecone's cap when metadata or values come back
        flt = None if routes is None else {"route": {"$in": list(routes)}}
        hybrid = sparse is not None and info.hybrid
        common = dict(top_k=k, namespace=self.namespace, filter=flt, include_metadata=True)
        calls = [call("data", "query", vector=finite(v), include_values=hybrid, **common) for v in q]
        probes = [i for i in range(b) if hybrid and len(sparse[i])]
        calls += [call("data", "query", vector=finite(q[i] * _PROBE), include_values=True, **common,
                       sparse_vector={"indices": list(sparse[i].indices), "values": list(sparse[i].values)})
                  for i in probes]
        results: list[Any] = []
        for group in chunked(calls, 4 * CONCURRENCY):
            results.extend((yield list(group)))
        by_probe = dict(zip(probes, results[b:]))
        rows = []
        for i in range(b):
            dense_hits = [self._candidate(m, float(m.score)) for m in results[i].matches]
            sparse_hits = [self._candidate(m, sparse[i].dot(_sparse_of(m.sparse_values) or SparseVector()))
                           for m in by_probe[i].matches] if i in by_probe else []
            rows.append(merge_hybrid(dense_hits, sparse_hits, q[i], None if sparse is None else sparse[i],
                                     cosine=info.metric == "cosine"))
        return HitBatch.from_rows(rows, sparse is not None)

    @staticmethod
    def _candidate(m: Any, score: float) -> Candidate:
        meta = m.metadata or {}
        return Candidate(m.id, meta.get("route", ""), meta.get("utterance", ""), score, m.values or None,
                         _sparse_of(m.sparse_values))

    # -- shared state ---------------------------------------------------------------------------
    def _read_state_plan(self) -> Plan[dict[str, Any] | None]:
        if not (yield from self._meta_plan(False)):
            return None
        for _ in range(3):
            head = (yield from self._fetch_plan([_STATE_ID], self._meta_ns, "meta")).get(_STATE_ID)
            if head is None:
                return None
            meta = head.metadata
            names = [f"{_STATE_ID}:{meta['gen']}:{i}" for i in range(int(meta["chunks"]))]
            parts = yield from self._fetch_plan(names, self._meta_ns, "meta")
            if len(parts) == len(names):
                text = "".join(parts[n].metadata["text"] for n in names)
                if hashlib.sha256(text.encode()).hexdigest() == meta["sha256"]:
                    return json.loads(text)
            yield Sleep(0.2)  # a writer replaced the state meanwhile: read the new header
        raise IndexBackendError(f"the router state of Pinecone index {self.name!r} is incomplete (missing chunks)")

    def _write_state_plan(self, state: dict[str, Any]) -> Plan[None]:
        text = json.dumps(state)
        yield from self._meta_plan(True)
        gen = uuid.uuid4().hex[:12]
        pieces = [text[i : i + _CHUNK] for i in range(0, len(text), _CHUNK)] or [""]
        chunks = [_meta_vector(f"{_STATE_ID}:{gen}:{i}", {"kind": "state_chunk", "gen": gen, "seq": i, "text": p})
                  for i, p in enumerate(pieces)]
        yield from self._write_plan(chunks, self._meta_ns, "meta")
        head = {"kind": "state", "gen": gen, "chunks": len(pieces), "sha256": hashlib.sha256(text.encode()).hexdigest()}
        yield call("meta", "upsert", vectors=[_meta_vector(_STATE_ID, head)], namespace=self._meta_ns)
        stale = {"kind": {"$eq": "state_chunk"}, "gen": {"$ne": gen}}
        yield call("meta", "delete", filter=stale, namespace=self._meta_ns)


class _PineconeLease:
    """The lease record in the router's meta namespace; a swap is an update-by-filter on its
    version (Pinecone reports how many records matched). The first lease ever is seeded free by a
    plain upsert, which can race with another process's first lock: best effort, see `lease`."""

    def __init__(self, index: PineconeIndex) -> None:
        self._index = index

    def _read_plan(self) -> Plan[Lease | None]:
        idx = self._index
        if not (yield from idx._meta_plan(False)):
            return None
        got = (yield from idx._fetch_plan([_LOCK_ID], idx._meta_ns, "meta")).get(_LOCK_ID)
        if got is None:
            return None
        m = got.metadata
        return Lease(str(m["owner"]), float(m["expires"]), int(m["version"]))

    def _swap_plan(self, expected: Lease | None, new: Lease) -> Plan[bool]:
        idx = self._index
        yield from idx._meta_plan(True)
        if expected is None:
            expected = Lease("", 0.0, 0)
            seed = _meta_vector(_LOCK_ID, {"kind": "lock", "owner": "", "expires": 0.0, "version": 0})
            yield call("meta", "upsert", vectors=[seed], namespace=idx._meta_ns)
        resp = yield call("meta", "update", filter={"kind": {"$eq": "lock"}, "version": {"$eq": expected.version}},
                          set_metadata={"owner": new.owner, "expires": new.expires, "version": new.version},
                          namespace=idx._meta_ns)
        if resp.matched_records is not None:
            return resp.matched_records == 1
        got = yield from self._read_plan()
        return got is not None and (got.owner, got.version) == (new.owner, new.version)

    def read(self) -> Lease | None:
        return self._index._driver.run(self._read_plan())

    def swap(self, expected: Lease | None, new: Lease) -> bool:
        return self._index._driver.run(self._swap_plan(expected, new))

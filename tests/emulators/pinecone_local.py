"""In-memory emulator of the Pinecone REST API subset the `pinecone` SDK's vector API uses.

Like Pinecone Local, it serves the control plane (create / describe / list / delete index) and,
for each index, a data plane (upsert, query with sparse values and metadata filters, fetch,
fetch_by_metadata, list, update, delete by ids / filter / deleteAll, describe_index_stats,
namespaces) over real HTTP, so the real SDK is exercised end to end:

    with PineconeEmulator() as emu:
        pc = Pinecone(api_key="pclocal", host=emu.url)   # control plane
        # describe_index(...).host -> http://127.0.0.1:PORT/data/NAME (data plane, plain http)

It enforces the service limits tests care about (2 MB per request -> 413, 1000 vectors per
upsert, 40 KB metadata per vector, dimension and sparse-support checks -> 400), checks the API key
(401 for a key it does not know) and serves injected faults (`emu.faults.fail(500, times=3)`).
"""

from __future__ import annotations

import base64
import json
import re
import threading
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from tests.emulators.server import FaultPlan, RequestLog, RunningServer, apply_fault, start_server

MAX_REQUEST_BYTES = 2 * 1024 * 1024
MAX_UPSERT_VECTORS = 1000
MAX_METADATA_BYTES = 40 * 1024
MAX_LIST_PAGE = 100
_NAME = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,43}[a-z0-9])?$")


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _bad(message: str) -> ApiError:
    return ApiError(400, "INVALID_ARGUMENT", message)


@dataclass
class Vec:
    values: np.ndarray
    sparse: dict[int, float] | None
    metadata: dict[str, Any] | None

    def as_json(self, vid: str, values: bool = True, metadata: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {"id": vid, "values": self.values.tolist() if values else []}
        if values and self.sparse:
            out["sparseValues"] = {"indices": list(self.sparse), "values": list(self.sparse.values())}
        if metadata and self.metadata is not None:
            out["metadata"] = self.metadata
        return out


@dataclass
class IndexState:
    name: str
    dimension: int
    metric: str
    sparse: bool
    schema: dict[str, Any]
    deployment: dict[str, Any]
    host: str
    namespaces: dict[str, dict[str, Vec]] = field(default_factory=dict)

    def model(self) -> dict[str, Any]:
        return {"name": self.name, "status": {"ready": True, "state": "Ready"}, "schema": self.schema,
                "deployment": self.deployment, "deletion_protection": "disabled", "host": self.host, "tags": None}


# -- metadata filters ----------------------------------------------------------------------------
_MISSING = object()


def _op(op: str, value: Any, arg: Any) -> bool:
    values = value if isinstance(value, list) else [value]
    if op == "$eq":
        return value is not _MISSING and arg in values
    if op == "$ne":
        return value is _MISSING or arg not in values
    if op == "$in":
        return value is not _MISSING and any(v in arg for v in values)
    if op == "$nin":
        return value is _MISSING or not any(v in arg for v in values)
    if op == "$exists":
        return (value is not _MISSING) == bool(arg)
    if op in ("$gt", "$gte", "$lt", "$lte"):
        if value is _MISSING or isinstance(value, (str, list, bool)):
            return False
        return {"$gt": value > arg, "$gte": value >= arg, "$lt": value < arg, "$lte": value <= arg}[op]
    raise _bad(f"unsupported filter operator {op}")


def matches(metadata: dict[str, Any] | None, flt: dict[str, Any] | None) -> bool:
    if not flt:
        return True
    meta = metadata or {}
    for key, cond in flt.items():
        if key == "$and":
            ok = all(matches(meta, f) for f in cond)
        elif key == "$or":
            ok = any(matches(meta, f) for f in cond)
        else:
            conds = cond if isinstance(cond, dict) else {"$eq": cond}
            ok = all(_op(op, meta.get(key, _MISSING), arg) for op, arg in conds.items())
        if not ok:
            return False
    return True


def _check_metadata(vid: str, metadata: Any) -> None:
    if metadata is None:
        return
    if not isinstance(metadata, dict):
        raise _bad(f"metadata of vector {vid} must be an object")
    for key, value in metadata.items():
        strings = isinstance(value, list) and all(isinstance(v, str) for v in value)
        if not (isinstance(value, (str, int, float, bool)) or strings):
            raise _bad(f"Metadata value for field {key!r} of vector {vid} must be a string, number, boolean "
                       "or list of strings")
    size = len(json.dumps(metadata, separators=(",", ":")).encode())
    if size > MAX_METADATA_BYTES:
        raise _bad(f"Metadata size is {size} bytes, which exceeds the limit of {MAX_METADATA_BYTES} bytes per vector")


def _sparse(raw: Any, where: str) -> dict[int, float]:
    indices, values = raw.get("indices", []), raw.get("values", [])
    if len(indices) != len(values) or len(set(indices)) != len(indices):
        raise _bad(f"sparse values of {where} need as many unique indices as values")
    return {int(i): float(v) for i, v in zip(indices, values)}


def _token(value: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode()


def _untoken(token: str | None, default: Any) -> Any:
    if not token:
        return default
    try:
        return json.loads(base64.urlsafe_b64decode(token.encode()))
    except ValueError as exc:
        raise _bad("invalid pagination token") from exc


class PineconeEmulator:
    """The emulated service; `start()` serves it on a free port (`url`), `stop()` ends it."""

    def __init__(self, api_keys: set[str] | None = None) -> None:
        self.api_keys = {"pclocal"} if api_keys is None else api_keys
        self.faults = FaultPlan()
        self.log = RequestLog()
        self.indexes: dict[str, IndexState] = {}
        self._lock = threading.RLock()
        self._server: RunningServer | None = None
        self.url = ""
        self.app = self._build_app()

    def start(self) -> PineconeEmulator:
        self._server = start_server(self.app)
        self.url = self._server.url
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None

    def __enter__(self) -> PineconeEmulator:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def paths(self, suffix: str) -> list[str]:
        """Paths of logged requests ending with `suffix` (e.g. "/vectors/upsert")."""
        return [r["path"] for r in list(self.log.requests) if r["path"].endswith(suffix)]

    # -- request plumbing ---------------------------------------------------------------------
    async def _enter(self, request: Request) -> dict[str, Any]:
        body = await request.body()
        self.log.add({"method": request.method, "path": request.url.path, "bytes": len(body)})
        fault = await apply_fault(self.faults.next())
        if fault is not None:
            raise ApiError(fault.status or 500, "UNAVAILABLE", "injected fault")
        if self.api_keys and request.headers.get("api-key") not in self.api_keys:
            raise ApiError(401, "UNAUTHENTICATED", "Invalid API Key")
        if len(body) > MAX_REQUEST_BYTES:
            raise ApiError(413, "OUT_OF_RANGE", f"Request size {len(body)} bytes exceeds the maximum supported "
                                                f"size of {MAX_REQUEST_BYTES} bytes")
        try:
            return json.loads(body) if body else {}
        except ValueError as exc:
            raise _bad("request body is not JSON") from exc

    def _index(self, name: str) -> IndexState:
        if name not in self.indexes:
            raise ApiError(404, "NOT_FOUND", f"Resource {name} not found")
        return self.indexes[name]

    def _build_app(self) -> FastAPI:
        app = FastAPI()

        @app.exception_handler(ApiError)
        async def _error(_request: Request, exc: ApiError) -> JSONResponse:
            return JSONResponse({"error": {"code": exc.code, "message": exc.message}, "status": exc.status}, exc.status)

        def route(method: str, path: str, handler: Any, status: int = 200) -> None:
            async def endpoint(request: Request) -> JSONResponse:
                body = await self._enter(request)
                with self._lock:
                    result = handler(body, request.query_params, **request.path_params)
                return JSONResponse(result, status)

            app.add_api_route(path, endpoint, methods=[method])

        route("GET", "/indexes", lambda b, q: {"indexes": [i.model() for i in self.indexes.values()]})
        route("POST", "/indexes", self._create, 201)
        route("GET", "/indexes/{name}", lambda b, q, name: self._index(name).model())
        route("DELETE", "/indexes/{name}", self._drop, 202)
        data = "/data/{name}"
        route("POST", data + "/vectors/upsert", self._upsert)
        route("POST", data + "/query", self._query)
        route("GET", data + "/vectors/fetch", self._fetch)
        route("POST", data + "/vectors/fetch_by_metadata", self._fetch_by_metadata)
        route("GET", data + "/vectors/list", self._list)
        route("POST", data + "/vectors/update", self._update)
        route("POST", data + "/vectors/delete", self._delete)
        route("POST", data + "/describe_index_stats", self._stats)
        route("GET", data + "/namespaces", self._namespaces)
        route("GET", data + "/namespaces/{ns}", self._namespace)
        route("DELETE", data + "/namespaces/{ns}", self._drop_namespace, 202)
        return app

    # -- control plane ------------------------------------------------------------------------
    def _create(self, body: dict[str, Any], _q: Any) -> dict[str, Any]:
        name = body.get("name", "")
        if not _NAME.match(name):
            raise _bad(f"Index name {name!r} must be 1-45 lowercase letters, digits or hyphens")
        if name in self.indexes:
            raise ApiError(409, "ALREADY_EXISTS", f"Resource {name} already exists")
        fields = (body.get("schema") or {}).get("fields") or {}
        dense = fields.get("_values") or {}
        if dense.get("type") != "dense_vector" or not isinstance(dense.get("dimension"), int):
            raise _bad("this emulator serves vector indexes: the schema needs a '_values' dense_vector field")
        metric = dense.get("metric", "cosine")
        if metric not in ("cosine", "dotproduct", "euclidean") or not 1 <= dense["dimension"] <= 20000:
            raise _bad(f"invalid metric {metric!r} or dimension {dense['dimension']}")
        sparse = "_sparse_values" in fields
        if sparse and metric != "dotproduct":
            raise _bad("sparse values need a dense field with the 'dotproduct' metric")
        deployment = body.get("deployment") or {"deployment_type": "managed", "cloud": "aws", "region": "us-east-1"}
        host = f"{self.url}/data/{name}"
        state = IndexState(name, dense["dimension"], metric, sparse, {"fields": fields}, deployment, host)
        self.indexes[name] = state
        return state.model()

    def _drop(self, _b: Any, _q: Any, name: str) -> dict[str, Any]:
        self._index(name)
        del self.indexes[name]
        return {}

    # -- data plane ---------------------------------------------------------------------------
    def _upsert(self, body: dict[str, Any], _q: Any, name: str) -> dict[str, Any]:
        idx = self._index(name)
        vectors = body.get("vectors") or []
        if len(vectors) > MAX_UPSERT_VECTORS:
            raise _bad(f"Batch size {len(vectors)} exceeds the limit of {MAX_UPSERT_VECTORS} vectors per upsert")
        staged: dict[str, Vec] = {}
        for v in vectors:
            vid = v.get("id")
            if not isinstance(vid, str) or not vid or len(vid) > 512 or not vid.isascii():
                raise _bad(f"invalid vector id {vid!r}")
            values = np.asarray(v.get("values") or [], dtype=np.float32)
            if values.shape[0] != idx.dimension:
                raise _bad(f"Vector dimension {values.shape[0]} does not match the index dimension {idx.dimension}")
            if not np.any(values):
                raise _bad(f"Dense vector {vid} must contain at least one non-zero value")
            sparse = None
            if v.get("sparseValues") is not None:
                if not idx.sparse:
                    raise _bad(f"Index {name} does not support sparse values (declare a sparse_vector field)")
                sparse = _sparse(v["sparseValues"], vid)
            _check_metadata(vid, v.get("metadata"))
            staged[vid] = Vec(values, sparse, v.get("metadata"))
        idx.namespaces.setdefault(body.get("namespace", ""), {}).update(staged)
        return {"upsertedCount": len(vectors)}

    def _query(self, body: dict[str, Any], _q: Any, name: str) -> dict[str, Any]:
        idx = self._index(name)
        ns = body.get("namespace", "")
        top_k = body.get("topK", 10)
        cap = 1000 if body.get("includeValues") or body.get("includeMetadata") else 10000
        if not 1 <= top_k <= cap:
            raise _bad(f"topK must be between 1 and {cap} (1000 with values or metadata), got {top_k}")
        records = idx.namespaces.get(ns, {})
        if body.get("id") is not None:
            if body["id"] not in records:
                return {"matches": [], "namespace": ns}
            q = records[body["id"]].values
        elif body.get("vector") is not None:
            q = np.asarray(body["vector"], dtype=np.float32)
        else:
            raise _bad("a dense index needs a query vector")
        if q.shape[0] != idx.dimension:
            raise _bad(f"Query vector dimension {q.shape[0]} does not match the dimension of the index {idx.dimension}")
        qs = None
        if body.get("sparseVector") is not None:
            if idx.metric != "dotproduct" or not idx.sparse:
                raise _bad(f"Cannot query index with '{idx.metric}' metric and no sparse field with sparse values")
            qs = _sparse(body["sparseVector"], "the query")
        scored = []
        for vid, rec in records.items():
            if not matches(rec.metadata, body.get("filter")):
                continue
            if idx.metric == "cosine":
                score = float(q @ rec.values) / float(np.linalg.norm(q) * np.linalg.norm(rec.values) or 1.0)
            elif idx.metric == "euclidean":
                score = float(np.sum((q - rec.values) ** 2))
            else:
                score = float(q @ rec.values)
                if qs and rec.sparse:
                    score += sum(w * rec.sparse.get(i, 0.0) for i, w in qs.items())
            scored.append((score, vid, rec))
        scored.sort(key=lambda t: t[0], reverse=idx.metric != "euclidean")
        out = []
        for score, vid, rec in scored[:top_k]:
            m = rec.as_json(vid, body.get("includeValues", False), body.get("includeMetadata", False))
            m["score"] = score
            out.append(m)
        return {"matches": out, "namespace": ns, "usage": {"readUnits": 1 + len(records) // 1000}}

    def _fetch(self, _b: Any, query: Any, name: str) -> dict[str, Any]:
        idx = self._index(name)
        ids = query.getlist("ids")
        if not ids or len(ids) > 1000:
            raise _bad(f"fetch takes 1 to 1000 ids, got {len(ids)}")
        ns = query.get("namespace", "")
        records = idx.namespaces.get(ns, {})
        return {"vectors": {i: records[i].as_json(i) for i in ids if i in records}, "namespace": ns,
                "usage": {"readUnits": 1 + len(ids) // 10}}

    def _fetch_by_metadata(self, body: dict[str, Any], _q: Any, name: str) -> dict[str, Any]:
        idx = self._index(name)
        if not body.get("filter"):
            raise _bad("fetch_by_metadata needs a non-empty filter")
        ns = body.get("namespace", "")
        limit = body.get("limit", 100)
        after = _untoken(body.get("paginationToken"), "")
        records = idx.namespaces.get(ns, {})
        hits = sorted(i for i, r in records.items() if i > after and matches(r.metadata, body["filter"]))
        page = hits[:limit]
        out: dict[str, Any] = {"vectors": {i: records[i].as_json(i) for i in page}, "namespace": ns}
        if len(hits) > limit:
            out["pagination"] = {"next": _token(page[-1])}
        return out

    def _list(self, _b: Any, query: Any, name: str) -> dict[str, Any]:
        idx = self._index(name)
        ns = query.get("namespace", "")
        limit = int(query.get("limit", MAX_LIST_PAGE))
        if not 1 <= limit <= MAX_LIST_PAGE:
            raise _bad(f"limit must be between 1 and {MAX_LIST_PAGE}")
        prefix, after = query.get("prefix", ""), _untoken(query.get("paginationToken"), "")
        ids = sorted(i for i in idx.namespaces.get(ns, {}) if i.startswith(prefix) and i > after)
        out: dict[str, Any] = {"vectors": [{"id": i} for i in ids[:limit]], "namespace": ns, "usage": {"readUnits": 1}}
        if len(ids) > limit:
            out["pagination"] = {"next": _token(ids[limit - 1])}
        return out

    def _update(self, body: dict[str, Any], _q: Any, name: str) -> dict[str, Any]:
        idx = self._index(name)
        records = idx.namespaces.get(body.get("namespace", ""), {})
        if body.get("id") is not None:
            targets = [body["id"]] if body["id"] in records else []
        elif body.get("filter"):
            targets = [i for i, r in records.items() if matches(r.metadata, body["filter"])]
        else:
            raise _bad("update needs an id or a filter")
        if not body.get("dryRun"):
            for vid in targets:
                rec = records[vid]
                if body.get("values") is not None:
                    rec.values = np.asarray(body["values"], dtype=np.float32)
                if body.get("sparseValues") is not None:
                    rec.sparse = _sparse(body["sparseValues"], vid)
                if body.get("setMetadata"):
                    merged = {**(rec.metadata or {}), **body["setMetadata"]}
                    _check_metadata(vid, merged)
                    rec.metadata = merged
        return {"matchedRecords": len(targets)}

    def _delete(self, body: dict[str, Any], _q: Any, name: str) -> dict[str, Any]:
        idx = self._index(name)
        ns = body.get("namespace", "")
        records = idx.namespaces.get(ns, {})
        if body.get("deleteAll"):
            idx.namespaces.pop(ns, None)
        elif body.get("ids") is not None:
            if len(body["ids"]) > 1000:
                raise _bad("delete takes at most 1000 ids per request")
            for i in body["ids"]:
                records.pop(i, None)
        elif body.get("filter"):
            for i in [i for i, r in records.items() if matches(r.metadata, body["filter"])]:
                del records[i]
        else:
            raise _bad("delete needs ids, a filter or deleteAll")
        return {}

    def _stats(self, _b: Any, _q: Any, name: str) -> dict[str, Any]:
        idx = self._index(name)
        spaces = {ns: {"vectorCount": len(r)} for ns, r in idx.namespaces.items() if r}
        return {"namespaces": spaces, "dimension": idx.dimension, "indexFullness": 0.0, "metric": idx.metric,
                "totalVectorCount": sum(s["vectorCount"] for s in spaces.values()), "vectorType": "dense"}

    def _namespaces(self, _b: Any, _q: Any, name: str) -> dict[str, Any]:
        idx = self._index(name)
        spaces = [{"name": ns, "record_count": len(r)} for ns, r in sorted(idx.namespaces.items()) if r]
        return {"namespaces": spaces, "total_count": len(spaces)}

    def _namespace(self, _b: Any, _q: Any, name: str, ns: str) -> dict[str, Any]:
        idx = self._index(name)
        if not idx.namespaces.get(ns):
            raise ApiError(404, "NOT_FOUND", f"Namespace {ns} not found")
        return {"name": ns, "record_count": len(idx.namespaces[ns])}

    def _drop_namespace(self, _b: Any, _q: Any, name: str, ns: str) -> dict[str, Any]:
        self._namespace(_b, _q, name, ns)
        del self._index(name).namespaces[ns]
        return {}

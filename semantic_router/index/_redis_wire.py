"""Redis wire details for RedisIndex: route tags, reply parsing, record <-> hash.

Pure functions over redis-py replies (RESP2 lists or RESP3 maps); no connection is made here.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from semantic_router.errors import IndexBackendError
from semantic_router.index.base import Hit, Record
from semantic_router.vectors import VECTOR_DTYPES, SparseVector, pack_dense, unpack_dense

#: hash field holding `route_tag(route)`, the TAG field route filters search
TAG_FIELD = "rt"
#: the fields every record's hash holds (`sparse` and `metadata` only when the record has them)
CORE_FIELDS = ("id", "route", TAG_FIELD, "utterance", "dense")


@functools.lru_cache(maxsize=4096)  # a bulk write tags thousands of records of few routes
def route_tag(route: str) -> str:
    """The TAG value stored for a route: hex SHA-256 of its name. Hex needs no escaping, and
    RediSearch neither trims, splits nor case-folds it, so every route name filters exactly."""
    return hashlib.sha256(route.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def tag_filter(routes: Sequence[str]) -> str:
    """``@rt:{h1|h2}``: the records of any of `routes`."""
    return f"@{TAG_FIELD}:{{" + "|".join(sorted({route_tag(r) for r in routes})) + "}"


def text(x: Any) -> str:
    """A reply item as str (redis-py gives bytes)."""
    return x.decode() if isinstance(x, bytes) else str(x)


def info_field(reply: Any, name: str) -> Any:
    """One top-level field of an FT.INFO reply (RESP2 flat list or RESP3 map)."""
    pairs = reply.items() if isinstance(reply, dict) else zip(reply[::2], reply[1::2])
    return next((v for k, v in pairs if text(k) == name), None)


def parse_search(reply: Any) -> tuple[int, list[tuple[str, dict[str, Any]]]]:
    """(total, [(key, fields)]) from an FT.SEARCH reply in RESP2 or RESP3 shape."""
    if isinstance(reply, dict):
        top = {text(k): v for k, v in reply.items()}
        docs = []
        for d in top.get("results", []):
            d = {text(k): v for k, v in d.items()}
            docs.append((text(d["id"]), {text(k): v for k, v in (d.get("extra_attributes") or {}).items()}))
        return int(top["total_results"]), docs
    keys, fields = reply[1::2], reply[2::2]
    return int(reply[0]), [(text(k), {text(f[i]): f[i + 1] for i in range(0, len(f), 2)}) for k, f in zip(keys, fields)]


#: optional hash fields, stored only when the record has them
OPTIONAL_FIELDS = ("sparse", "metadata")
#: records per write script call: about 170 kB of 384-d records, a few ms of server time
WRITE_BATCH = 100
#: write script calls sent ahead of the replies read: the server never waits for the client
WRITE_WINDOW = 32
#: writes a batch of records in one call (one reply, not one per record): HSET each record's fields,
#: then HDEL the optional fields it lacks, only where the hash existed (HSET added fewer than the core
#: fields). ARGV: the core field count, then per record its field/value count n, its lacking-field
#: count d, the n field/value items, the d field names. A record refused (a key holding another type)
#: does not stop the others; the first refusal is the reply. Idempotent: a re-sent stream is harmless.
WRITE_RECORDS = """
local core, i, refused = tonumber(ARGV[1]), 2, nil
for k = 1, #KEYS do
  local n, d = tonumber(ARGV[i]), tonumber(ARGV[i + 1])
  local added = redis.pcall('HSET', KEYS[k], unpack(ARGV, i + 2, i + 1 + n))
  if type(added) == 'table' then
    refused = refused or added.err
  elseif d > 0 and added < core then
    redis.call('HDEL', KEYS[k], unpack(ARGV, i + 2 + n, i + 1 + n + d))
  end
  i = i + 2 + n + d
end
if refused then return redis.error_reply(refused) end
return #KEYS
"""


def write_command(prefix: str, records: Sequence[Record], dtype: str = "float32") -> tuple[Any, ...]:
    """The EVAL of `WRITE_RECORDS` storing `records` under key prefix `prefix`, vectors as `dtype`."""
    keys: list[str] = []
    argv: list[Any] = [len(CORE_FIELDS)]
    for r in records:
        fields = record_args(r, dtype)
        lacking = [f for f in OPTIONAL_FIELDS if getattr(r, f) is None]
        keys.append(prefix + r.id)
        argv += (len(fields), len(lacking), *fields, *lacking)
    return ("EVAL", WRITE_RECORDS, len(keys), *keys, *argv)


def record_args(r: Record, dtype: str = "float32") -> tuple[Any, ...]:
    """The hash fields stored for a record (its route tag included), as HSET's field, value, ... list."""
    args: tuple[Any, ...] = ("id", r.id, "route", r.route, TAG_FIELD, route_tag(r.route), "utterance", r.utterance,
                             "dense", pack_dense(r.dense, dtype))
    if r.sparse is not None:
        args += ("sparse", json.dumps({str(k): v for k, v in r.sparse.to_dict().items()}))
    if r.metadata is not None:
        args += ("metadata", json.dumps(r.metadata))
    return args


def stored_dtype(meta: dict[str, Any]) -> str:
    """The vector type of the FT index `meta` describes (indexes made before dtypes hold float32)."""
    return str(meta.get("dtype", "float32"))


def check_layout(name: str, meta: dict[str, Any], dims: int, dtype: str) -> None:
    """A ValueError unless the FT index `meta` describes holds vectors of `dims` stored as `dtype`."""
    held = (meta["dims"], stored_dtype(meta))
    if held != (dims, dtype):
        hint = f" (open it with dtype={held[1]!r} or without dtype)" if held[1] != dtype else ""
        raise ValueError(f"Redis index {name!r} holds vectors of dimension {held[0]} stored as {held[1]}, "
                         f"not of dimension {dims} stored as {dtype}{hint}")


def corrupt(key: str, why: str) -> IndexBackendError:
    """The error for a record hash that is not what a router wrote (edited, truncated, renamed fields)."""
    return IndexBackendError(f"Redis record {key!r} is corrupt ({why}); delete it, or re-sync from a router whose "
                             "copy is the truth (auto_sync='local')")


def hash_record(raw: dict[Any, Any], key: str, record_id: str, dtype: str = "float32") -> Record:
    """The record a stored hash holds, its vector stored as `dtype`; IndexBackendError naming the key when
    it is corrupt (a field missing, an id not its key's, a vector truncated, NaN, infinite or zero, JSON that is not)."""
    f = {text(k): v for k, v in raw.items()}
    missing = [n for n in ("id", "route", "utterance", "dense") if n not in f]
    if missing:
        raise corrupt(key, f"no {', '.join(missing)} field")
    if text(f["id"]) != record_id:
        raise corrupt(key, f"its id field is {text(f['id'])!r:.60}")
    blob = f["dense"]
    if not isinstance(blob, bytes) or not blob or len(blob) % np.dtype(VECTOR_DTYPES[dtype]).itemsize:
        raise corrupt(key, f"a vector of {len(blob)} bytes")
    dense = unpack_dense(blob, dtype)
    if not (np.isfinite(dense).all() and dense.any()):
        raise corrupt(key, "its vector is NaN, infinite or zero")
    try:
        sparse = None
        if "sparse" in f:
            sparse = SparseVector.from_dict({int(k): v for k, v in json.loads(f["sparse"]).items()})
        meta = json.loads(f["metadata"]) if "metadata" in f else None
    except (ValueError, TypeError, AttributeError) as exc:
        raise corrupt(key, f"unreadable sparse vector or metadata: {exc}") from None
    return Record(text(f["route"]), text(f["utterance"]), dense, sparse, meta, record_id)


def parse_layout(raw: Any, key: str) -> dict[str, Any] | None:
    """The FT index layout stored in the meta key ({dims, algorithm, schema, dtype}), None when absent;
    IndexBackendError naming the key when it holds anything else."""
    if raw is None:
        return None
    try:
        meta = json.loads(raw)
    except (ValueError, RecursionError):
        meta = None
    dims = meta.get("dims") if isinstance(meta, dict) else None
    if not isinstance(dims, int) or isinstance(dims, bool) or dims < 1 or stored_dtype(meta) not in VECTOR_DTYPES:
        raise IndexBackendError(f"Redis key {key!r} is corrupt (expected the FT index layout {{dims, algorithm, "
                                f"schema, dtype}}, got {raw!r:.80}); delete it and the FT index, or the whole index")
    return meta


def search_hits(docs: list[tuple[str, dict[str, Any]]], qs: SparseVector | None, top_k: int,
                routes: Sequence[str] | None, record_prefix: str) -> list[Hit]:
    """Top_k by dense, plus (hybrid) the top_k by client-side sparse score among the candidates."""
    wanted = None if routes is None else set(routes)
    qmap = None if qs is None else qs.to_dict()
    cands = []
    for key, f in docs:
        try:
            route, utterance, dense = text(f["route"]), text(f["utterance"]), 1.0 - float(f["__score"])
        except (KeyError, ValueError) as exc:
            raise corrupt(key, f"no usable {exc} field") from None
        if not math.isfinite(dense):  # a NaN or zero vector scores NaN: never a silent "no route"
            raise corrupt(key, "its vector is NaN, infinite or zero")
        if wanted is not None and route not in wanted:
            continue
        score = None
        if qmap is not None:
            stored = json.loads(f["sparse"]) if "sparse" in f else {}
            score = float(sum(float(v) * qmap.get(int(i), 0.0) for i, v in stored.items()))
        rid = text(f["id"]) if "id" in f else key[len(record_prefix):]
        cands.append(Hit(rid, route, utterance, dense, score))
    top = cands[:top_k]
    if qmap is None:
        return top
    seen = {h.id for h in top}
    by_sparse = sorted((h for h in cands if (h.sparse_score or 0.0) > 0), key=lambda h: -(h.sparse_score or 0.0))
    return top + [h for h in by_sparse[:top_k] if h.id not in seen]

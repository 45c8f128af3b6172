"""Redis wire details for RedisIndex: TAG escaping, URL redaction, reply parsing, record <-> hash.

Pure functions over redis-py replies (RESP2 lists or RESP3 maps); no connection is made here.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import numpy as np
import redis

from semantic_router.vectors import SparseVector
from semantic_router.index.base import Record

_TRANSIENT = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)


def escape_tag(value: str) -> str:
    """Escape a TAG value for a ``@field:{...}`` query (punctuation and spaces get a backslash)."""
    return "".join("\\" + c if c.isspace() or (c.isascii() and not c.isalnum() and c != "_") else c for c in value)


def _route_filter(routes: Sequence[str]) -> str:
    """``@route:{a|b}``; stripped because RediSearch trims stored tags (callers re-check exactly)."""
    return "@route:{" + "|".join(sorted({escape_tag(r.strip()) for r in routes})) + "}"


def strip_password(url: str) -> str:
    """The URL without its password (userinfo or ``?password=``), safe to log or save."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if parts.password is not None:
        host = parts.hostname or ""
        host = f"[{host}]" if ":" in host else host
        netloc = (f"{parts.username}@" if parts.username else "") + host + (f":{parts.port}" if parts.port else "")
    query = urlencode([(k, v) for k, v in parse_qsl(parts.query) if k.lower() != "password"])
    return urlunsplit(parts._replace(netloc=netloc, query=query))


def _transient(exc: BaseException) -> bool:
    """Worth retrying: a lost connection or a timeout, but not refused credentials."""
    return isinstance(exc, _TRANSIENT) and not isinstance(exc, redis.exceptions.AuthenticationError)


def _s(x: Any) -> str:
    return x.decode() if isinstance(x, bytes) else str(x)


def _info_field(reply: Any, name: str) -> Any:
    """One top-level field of an FT.INFO reply (RESP2 flat list or RESP3 map)."""
    pairs = reply.items() if isinstance(reply, dict) else zip(reply[::2], reply[1::2])
    return next((v for k, v in pairs if _s(k) == name), None)


def _parse_search(reply: Any) -> tuple[int, list[tuple[str, dict[str, Any]]]]:
    """(total, [(key, fields)]) from an FT.SEARCH reply in RESP2 or RESP3 shape."""
    if isinstance(reply, dict):
        top = {_s(k): v for k, v in reply.items()}
        docs = []
        for d in top.get("results", []):
            d = {_s(k): v for k, v in d.items()}
            docs.append((_s(d["id"]), {_s(k): v for k, v in (d.get("extra_attributes") or {}).items()}))
        return int(top["total_results"]), docs
    keys, fields = reply[1::2], reply[2::2]
    return int(reply[0]), [(_s(k), {_s(f[i]): f[i + 1] for i in range(0, len(f), 2)}) for k, f in zip(keys, fields)]


def _fields(r: Record) -> dict[str, Any]:
    f: dict[str, Any] = {"id": r.id, "route": r.route, "utterance": r.utterance, "dense": r.dense.tobytes()}
    if r.sparse is not None:
        f["sparse"] = json.dumps({str(k): v for k, v in r.sparse.to_dict().items()})
    if r.metadata is not None:
        f["metadata"] = json.dumps(r.metadata)
    return f


def _record(raw: dict[Any, Any]) -> Record:
    f = {_s(k): v for k, v in raw.items()}
    sparse = None
    if "sparse" in f:
        sparse = SparseVector.from_dict({int(k): v for k, v in json.loads(f["sparse"]).items()})
    meta = json.loads(f["metadata"]) if "metadata" in f else None
    dense = np.frombuffer(f["dense"], dtype=np.float32).copy()
    return Record(_s(f["route"]), _s(f["utterance"]), dense, sparse, meta, _s(f["id"]))

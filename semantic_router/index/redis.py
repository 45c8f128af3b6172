"""Redis index: one hash per record, searched by the Redis query engine (RediSearch KNN).

Needs Redis 8 (query engine built in) or Redis Stack 7.2+. Keys of one router live under
P = ``sr:<name>:`` (the name percent-encoded, so it holds no ``:`` and router ``a`` never
sees router ``a-b`` or ``a:x``):

    P rec:<id>   hash: id, route, utterance, dense (float32 bytes), sparse/metadata (JSON)
    P idx        FT index over ``P rec:`` (route TAG, dense VECTOR FLOAT32 COSINE), made lazily
    P meta       JSON {dims, algorithm} of that FT index
    P state      the shared router state (JSON);  P lock: the writers' lease lock

Every operation is written once, sans-I/O: a generator that yields lists of commands (one
pipelined round trip each) and receives their replies. `_drive` runs it on the sync client,
`_adrive` on a ``redis.asyncio`` client, both retrying transient connection errors.

Limitations:
- Hybrid search: Redis has no sparse-vector search. With sparse query vectors the dense KNN
  is widened to max(4*top_k, 50) candidates, their sparse dot products are computed client-
  side from the stored sparse vectors, and the top_k by sparse among them join the dense
  top_k. A record far from the query densely is found by its sparse score only if it is
  among those candidates.
- Route filters are an escaped TAG query, re-checked exactly client-side because RediSearch
  trims tags: a filtered KNN for route " a" may return fewer than top_k hits when route "a"
  crowds it out. Route names must not contain ``\\x1f`` (the tag separator).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
import weakref
from collections.abc import Generator, Iterator, Sequence
from typing import Any, TypeVar
from urllib.parse import quote

import numpy as np
import redis
import redis.asyncio
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import NoBackoff
from redis.retry import Retry
from tenacity import AsyncRetrying, Retrying, retry_if_exception, stop_after_attempt, wait_exponential, wait_random

from semantic_router.vectors import SparseVector
from semantic_router.errors import IndexBackendError
from semantic_router.index.base import Hit, HitBatch, Index, Record
from semantic_router.index.lease import poll_until, renewed
from semantic_router.index.redis_wire import (
    _fields,
    _info_field,
    _parse_search,
    _record,
    _route_filter,
    _s,
    _TRANSIENT,
    _transient,
    escape_tag,
    strip_password,
)

T = TypeVar("T")
Cmd = tuple[Any, ...]
Plan = Generator[list[Cmd], list[Any], T]

__all__ = ["RedisIndex", "escape_tag", "strip_password"]

log = logging.getLogger(__name__)

_PAGE = 500  # keys per SCAN/FT.SEARCH page and commands per pipelined round trip
_TAG_SEP = "\x1f"  # TAG separator no route name uses (the default "," would split "a,b")
_OPTIONAL = ("sparse", "metadata")
_LENIENT = ("no such index", "unknown index name", "index already exists")  # races on the FT index
_RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0"
_RENEW = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) end return 0"


class RedisIndex(Index):
    """Records as Redis hashes, searched by RediSearch KNN (FLAT or HNSW, cosine)."""

    type = "redis"

    def __init__(
        self, url: str = "redis://localhost:6379", name: str = "semantic-router", algorithm: str = "flat",
        client: redis.Redis | None = None, prefix: str | None = None, *, aclient: redis.asyncio.Redis | None = None,
        lock_lease: float = 10.0, retries: int = 4, socket_timeout: float = 5.0, connect_timeout: float = 2.0,
        hnsw_m: int = 16, hnsw_ef_construction: int = 200,
    ) -> None:
        """Connect and PING (failing fast with IndexBackendError); the FT index is made on first upsert.

        `prefix` replaces the ``sr:<name>:`` key namespace; `lock_lease` is the lock's lease in
        seconds; `retries` is how often a command is retried on connection errors or timeouts.
        """
        if algorithm.lower() not in ("flat", "hnsw"):
            raise ValueError(f"algorithm must be 'flat' or 'hnsw', got {algorithm!r}")
        self.url, self.name, self.algorithm = url, name, algorithm.lower()
        self.safe_url = strip_password(url)
        base = prefix if prefix is not None else f"sr:{quote(name, safe='-_.~')}:"
        self.prefix = base if base.endswith(":") else base + ":"
        self._custom_prefix = prefix is not None
        self.record_prefix = self.prefix + "rec:"
        self.index_name, self.meta_key = self.prefix + "idx", self.prefix + "meta"
        self.state_key, self.lock_key = self.prefix + "state", self.prefix + "lock"
        self.lock_lease = lock_lease
        self._hnsw = ("M", hnsw_m, "EF_CONSTRUCTION", hnsw_ef_construction)
        self._retry_kw: dict[str, Any] = dict(
            stop=stop_after_attempt(retries + 1), wait=wait_exponential(multiplier=0.1, max=2.0) + wait_random(0, 0.1),
            retry=retry_if_exception(_transient), reraise=True,
        )
        # our own clients: RESP2 replies, no redis-py retries (tenacity does it), short timeouts
        self._conn_kw: dict[str, Any] | None = None
        if client is None:
            self._conn_kw = dict(protocol=2, socket_timeout=socket_timeout, socket_connect_timeout=connect_timeout)
            client = redis.Redis.from_url(url, retry=Retry(NoBackoff(), 0), **self._conn_kw)
        elif client.get_connection_kwargs().get("decode_responses"):
            raise ValueError("RedisIndex needs a client with decode_responses=False (vectors are bytes)")
        self._client, self._aclient = client, aclient
        self._aclients: weakref.WeakKeyDictionary[Any, redis.asyncio.Redis] = weakref.WeakKeyDictionary()
        self._dims: int | None = None  # cached FT index dimensions, re-read from meta on mismatch
        try:
            self._client.ping()
        except redis.exceptions.RedisError as exc:
            raise IndexBackendError(f"cannot reach Redis at {self.safe_url}: {exc}") from exc

    @property
    def is_remote(self) -> bool:
        return True

    def spec(self) -> dict[str, Any]:
        out = {"type": self.type, "url": self.safe_url, "name": self.name, "algorithm": self.algorithm}
        return {**out, "prefix": self.prefix} if self._custom_prefix else out

    # -- running plans ------------------------------------------------------------------------
    def _unreachable(self, exc: Exception) -> IndexBackendError:
        return IndexBackendError(f"Redis at {self.safe_url} is unreachable ({type(exc).__name__}: {exc})")

    @staticmethod
    def _pipeline(client: Any, cmds: list[Cmd]) -> Any:
        """A non-transactional pipeline (sync or async) with `cmds` queued: one round trip."""
        pipe = client.pipeline(transaction=False)
        for c in cmds:
            pipe.execute_command(*c)
        return pipe

    def _execute(self, cmds: list[Cmd]) -> list[Any]:
        try:
            for attempt in Retrying(**self._retry_kw):
                with attempt:
                    return self._pipeline(self._client, cmds).execute(raise_on_error=False)
        except _TRANSIENT as exc:
            raise self._unreachable(exc) from exc
        raise AssertionError("unreachable")  # pragma: no cover

    async def _aexecute(self, client: redis.asyncio.Redis, cmds: list[Cmd]) -> list[Any]:
        try:
            async for attempt in AsyncRetrying(**self._retry_kw):
                with attempt:
                    return await self._pipeline(client, cmds).execute(raise_on_error=False)
        except _TRANSIENT as exc:
            raise self._unreachable(exc) from exc
        raise AssertionError("unreachable")  # pragma: no cover

    def _drive(self, plan: Plan[T]) -> T:
        try:
            cmds = next(plan)
            while True:
                cmds = plan.send(self._execute(cmds))
        except StopIteration as done:
            return done.value

    async def _adrive(self, plan: Plan[T]) -> T:
        client = self._async_client()
        if client is None:  # a sync client was given without an async one
            return await asyncio.to_thread(self._drive, plan)
        try:
            cmds = next(plan)
            while True:
                cmds = plan.send(await self._aexecute(client, cmds))
        except StopIteration as done:
            return done.value

    def _async_client(self) -> redis.asyncio.Redis | None:
        """The given async client, else one of our own per event loop (connections are loop-bound)."""
        if self._aclient is not None or self._conn_kw is None:
            return self._aclient
        loop = asyncio.get_running_loop()
        if loop not in self._aclients:
            self._aclients[loop] = redis.asyncio.Redis.from_url(
                self.url, retry=AsyncRetry(NoBackoff(), 0), **self._conn_kw)
        return self._aclients[loop]

    def _check(self, reply: Any, cmd: Cmd, lenient: bool) -> Any:
        """The reply; None for a missing/existing FT index if lenient; else a clear error."""
        if not isinstance(reply, Exception):
            return reply
        msg = str(reply).lower()
        if lenient and any(m in msg for m in _LENIENT):
            return None
        if "unknown command" in msg and _s(cmd[0]).upper().startswith("FT."):
            raise IndexBackendError(
                f"Redis at {self.safe_url} has no query engine (RediSearch): use Redis 8 or Redis Stack 7.2+")
        raise IndexBackendError(f"Redis at {self.safe_url} refused {_s(cmd[0])}: {reply}") from reply

    def _run(self, cmds: list[Cmd], lenient: bool = False) -> Plan[list[Any]]:
        """Send commands in pipelined round trips of at most _PAGE; return the checked replies."""
        out: list[Any] = []
        for lo in range(0, len(cmds), _PAGE):
            chunk = cmds[lo:lo + _PAGE]
            out += [self._check(r, c, lenient) for r, c in zip((yield chunk), chunk)]
        return out

    # -- plans ---------------------------------------------------------------------------------
    def _keys_plan(self, route: str | None = None) -> Plan[list[str]]:
        """Record keys (of one route): SCAN on the prefix, or the route TAG search, paged."""
        keys: list[str] = []
        if route is None:
            pattern = "".join("\\" + c if c in "*?[]\\" else c for c in self.record_prefix) + "*"
            cursor: Any = 0
            while True:
                ((cursor, batch),) = yield from self._run([("SCAN", cursor, "MATCH", pattern, "COUNT", 1000)])
                keys += [_s(k) for k in batch]
                if int(cursor) == 0:
                    return sorted(set(keys))  # SCAN may return a key twice
        offset, query = 0, _route_filter([route])
        while True:
            cmd = ("FT.SEARCH", self.index_name, query, "RETURN", 1, "route", "LIMIT", offset, _PAGE, "DIALECT", 2)
            (reply,) = yield from self._run([cmd], lenient=True)
            if reply is None:
                return []
            total, docs = _parse_search(reply)
            keys += [k for k, f in docs if _s(f.get("route", "")) == route]
            offset += _PAGE
            if offset >= total:
                return keys

    def _records_plan(self, route: str | None) -> Plan[list[Record]]:
        keys = yield from self._keys_plan(route)
        raws = yield from self._run([("HGETALL", k) for k in keys])
        return [_record(raw) for raw in raws if raw]  # {} if deleted meanwhile

    def _info_plan(self) -> Plan[tuple[int | None, int]]:
        """(dimensions stored in meta, number of indexed records) in one round trip."""
        meta, info = yield from self._run([("GET", self.meta_key), ("FT.INFO", self.index_name)], lenient=True)
        count = 0 if info is None else int(_info_field(info, "num_docs") or 0)
        return (json.loads(meta)["dims"] if meta else None), count

    def _create_plan(self, dims: int, drop: bool) -> Plan[None]:
        algo = ("FLAT", 6) if self.algorithm == "flat" else ("HNSW", 6 + len(self._hnsw))
        params = ("TYPE", "FLOAT32", "DIM", dims, "DISTANCE_METRIC", "COSINE") + (
            self._hnsw if self.algorithm == "hnsw" else ())
        cmds: list[Cmd] = [("FT.DROPINDEX", self.index_name)] if drop else []
        cmds += [
            ("FT.CREATE", self.index_name, "ON", "HASH", "PREFIX", 1, self.record_prefix, "SCHEMA",
             "route", "TAG", "SEPARATOR", _TAG_SEP, "CASESENSITIVE", "dense", "VECTOR", *algo, *params),
            ("SET", self.meta_key, json.dumps({"dims": dims, "algorithm": self.algorithm})),
        ]
        yield from self._run(cmds, lenient=True)

    def _upsert_plan(self, records: Sequence[Record]) -> Plan[None]:
        if not records:
            return
        dims = records[0].dense.shape[0]
        for r in records:
            if r.dense.shape[0] != dims:
                raise ValueError(f"record {r.id} for route {r.route!r} has dimension {r.dense.shape[0]}, "
                                 f"batch holds {dims}")
        stored, count = yield from self._info_plan()
        if stored != dims:
            if count:
                raise ValueError(f"records for route {records[0].route!r} have dimension {dims}, index holds {stored}")
            yield from self._create_plan(dims, drop=stored is not None)
        self._dims = dims
        cmds: list[Cmd] = []
        for r in {r.id: r for r in records}.values():  # last write of an id wins
            key, fields = self.record_prefix + r.id, _fields(r)
            cmds.append(("HSET", key, *(x for kv in fields.items() for x in kv)))
            gone = [f for f in _OPTIONAL if f not in fields]
            if gone:
                cmds.append(("HDEL", key, *gone))
        yield from self._run(cmds)

    def _delete_plan(self, ids: Sequence[str] | None, route: str | None) -> Plan[int]:
        keys = {self.record_prefix + i for i in ids or ()}
        if route is not None:
            keys.update((yield from self._keys_plan(route)))
        ordered = sorted(keys)
        replies = yield from self._run([("DEL", *ordered[lo:lo + _PAGE]) for lo in range(0, len(ordered), _PAGE)])
        return sum(int(n) for n in replies)

    def _clear_plan(self, drop: bool) -> Plan[None]:
        keys = yield from self._keys_plan()
        cmds: list[Cmd] = [("DEL", *keys[lo:lo + _PAGE]) for lo in range(0, len(keys), _PAGE)]
        cmds.append(("DEL", self.state_key))
        if drop:  # the FT index (without DD: its records are deleted above) and its meta
            cmds += [("FT.DROPINDEX", self.index_name), ("DEL", self.meta_key)]
            self._dims = None
        yield from self._run(cmds, lenient=True)

    def _query_plan(self, dense: np.ndarray, sparse: Sequence[SparseVector] | None, top_k: int,
                    routes: Sequence[str] | None) -> Plan[HitBatch]:
        q = np.asarray(dense, dtype=np.float32)
        q = q[None, :] if q.ndim == 1 else q
        b, hybrid = q.shape[0], sparse is not None
        if sparse is not None and len(sparse) != b:
            raise ValueError(f"got {b} dense and {len(sparse)} sparse query vectors")
        empty = HitBatch.from_rows([[] for _ in range(b)], hybrid)
        if top_k <= 0 or b == 0 or (routes is not None and not routes):
            return empty
        k = max(4 * top_k, 50) if hybrid else top_k
        flt = "*" if routes is None else f"({_route_filter(routes)})"
        fields = ("id", "route", "utterance", "__score") + (("sparse",) if hybrid else ())
        cmds: list[Cmd] = [
            ("FT.SEARCH", self.index_name, f"{flt}=>[KNN {k} @dense $vec AS __score]", "PARAMS", 2, "vec",
             row.tobytes(), "SORTBY", "__score", "ASC", "RETURN", len(fields), *fields, "LIMIT", 0, k, "DIALECT", 2)
            for row in q
        ]
        if self._dims != q.shape[1]:  # unknown (first query) or different: re-read the index's meta
            (meta,) = yield from self._run([("GET", self.meta_key)])
            if meta is None:
                return empty
            self._dims = json.loads(meta)["dims"]
            if self._dims != q.shape[1]:
                raise ValueError(f"query vector has dimension {q.shape[1]}, index holds {self._dims}")
        replies = yield from self._run(cmds, lenient=True)
        rows: list[list[Hit]] = []
        for i, reply in enumerate(replies):  # None: the FT index vanished (dropped meanwhile)
            docs = [] if reply is None else _parse_search(reply)[1]
            rows.append(self._hits(docs, None if sparse is None else sparse[i], top_k, routes))
        return HitBatch.from_rows(rows, hybrid)

    def _hits(self, docs: list[tuple[str, dict[str, Any]]], qs: SparseVector | None, top_k: int,
              routes: Sequence[str] | None) -> list[Hit]:
        """Top_k by dense, plus (hybrid) the top_k by client-side sparse score among the candidates."""
        wanted = None if routes is None else set(routes)
        qmap = None if qs is None else qs.to_dict()
        cands = []
        for key, f in docs:
            route = _s(f["route"])
            if wanted is not None and route not in wanted:
                continue
            score = None
            if qmap is not None:
                stored = json.loads(f["sparse"]) if "sparse" in f else {}
                score = float(sum(float(v) * qmap.get(int(i), 0.0) for i, v in stored.items()))
            rid = _s(f["id"]) if "id" in f else key[len(self.record_prefix):]
            cands.append(Hit(rid, route, _s(f["utterance"]), 1.0 - float(f["__score"]), score))
        top = cands[:top_k]
        if qmap is None:
            return top
        seen = {h.id for h in top}
        by_sparse = sorted((h for h in cands if (h.sparse_score or 0.0) > 0), key=lambda h: -(h.sparse_score or 0.0))
        return top + [h for h in by_sparse[:top_k] if h.id not in seen]

    def _read_state_plan(self) -> Plan[dict[str, Any] | None]:
        (raw,) = yield from self._run([("GET", self.state_key)])
        return None if raw is None else json.loads(raw)

    # -- the contract --------------------------------------------------------------------------
    def upsert(self, records: Sequence[Record]) -> None:
        self._drive(self._upsert_plan(records))

    def delete(self, ids: Sequence[str] | None = None, route: str | None = None) -> int:
        return self._drive(self._delete_plan(ids, route))

    def records(self, route: str | None = None) -> list[Record]:
        return self._drive(self._records_plan(route))

    def ids(self, route: str | None = None) -> list[str]:
        n = len(self.record_prefix)
        return [k[n:] for k in self._drive(self._keys_plan(route))]

    def count(self) -> int:
        return self._drive(self._info_plan())[1]

    @property
    def dimensions(self) -> int | None:
        return self.describe()["dimensions"]

    def describe(self) -> dict[str, Any]:
        dims, count = self._drive(self._info_plan())
        return {"type": self.type, "dimensions": dims if count else None, "count": count,
                "name": self.name, "algorithm": self.algorithm}

    def query_batch(self, dense: np.ndarray, sparse: Sequence[SparseVector] | None = None, top_k: int = 5,
                    routes: Sequence[str] | None = None) -> HitBatch:
        return self._drive(self._query_plan(dense, sparse, top_k, routes))

    def clear(self) -> None:
        self._drive(self._clear_plan(drop=False))

    def drop(self) -> None:
        self._drive(self._clear_plan(drop=True))

    def read_state(self) -> dict[str, Any] | None:
        return self._drive(self._read_state_plan())

    def write_state(self, state: dict[str, Any]) -> None:
        self._drive(self._run([("SET", self.state_key, json.dumps(state))]))

    # -- async twins (same plans, redis.asyncio) ---------------------------------------------
    async def aupsert(self, records: Sequence[Record]) -> None:
        await self._adrive(self._upsert_plan(records))

    async def adelete(self, ids: Sequence[str] | None = None, route: str | None = None) -> int:
        return await self._adrive(self._delete_plan(ids, route))

    async def arecords(self, route: str | None = None) -> list[Record]:
        return await self._adrive(self._records_plan(route))

    async def acount(self) -> int:
        return (await self._adrive(self._info_plan()))[1]

    async def aquery_batch(self, dense, sparse=None, top_k: int = 5, routes=None) -> HitBatch:
        return await self._adrive(self._query_plan(dense, sparse, top_k, routes))

    async def aquery(self, dense, sparse=None, top_k: int = 5, routes=None) -> list[Hit]:
        vec = np.asarray(dense, dtype=np.float32).reshape(1, -1)
        return (await self.aquery_batch(vec, None if sparse is None else [sparse], top_k, routes)).row(0)

    async def aread_state(self) -> dict[str, Any] | None:
        return await self._adrive(self._read_state_plan())

    async def awrite_state(self, state: dict[str, Any]) -> None:
        await self._adrive(self._run([("SET", self.state_key, json.dumps(state))]))

    async def aclose(self) -> None:
        """Close the async client of the running event loop (our own clients only)."""
        client = self._aclients.pop(asyncio.get_running_loop(), None)
        if client is not None:
            await client.aclose()

    def close(self) -> None:
        """Close the sync client's connections."""
        self._client.close()

    # -- lease lock ----------------------------------------------------------------------------
    @contextlib.contextmanager
    def lock(self, timeout: float = 10.0) -> Iterator[None]:
        """Hold the writers' lease lock: SET NX PX with an owner token, renewed while held.

        A holder that crashes stops renewing, so its lease expires after `lock_lease` s.
        """
        token, lease_ms = uuid.uuid4().hex, max(1, int(self.lock_lease * 1000))

        def take() -> bool | None:
            _, holder = self._drive(self._run([("SET", self.lock_key, token, "NX", "PX", lease_ms),
                                               ("GET", self.lock_key)]))
            return True if holder is not None and _s(holder) == token else None  # GET: a retried SET may have landed

        poll_until(take, timeout, lambda: f"could not take the lock of Redis index {self.name!r} at "
                   f"{self.safe_url} within {timeout:.1f}s: another writer holds it", poll=0.01, max_delay=0.5)

        def renew() -> bool:
            (ok,) = self._drive(self._run([("EVAL", _RENEW, 1, self.lock_key, token, lease_ms)]))
            return bool(ok)

        with renewed(renew, lambda: self._drive(self._run([("EVAL", _RELEASE, 1, self.lock_key, token)])),
                     lease_ms / 3000, f"the lock of Redis index {self.name!r}"):
            yield

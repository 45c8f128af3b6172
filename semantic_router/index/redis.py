"""Redis index: one hash per record, searched by the Redis query engine (RediSearch KNN).

Needs Redis 8 (query engine built in) or Redis Stack 7.2+. Keys of one router live under
P = ``sr:<name>:`` (the name percent-encoded, so it holds no ``:`` and router ``a`` never
sees router ``a-b`` or ``a:x``):

    P rec:<id>   hash: id, route, rt (route tag), utterance, dense (bytes of `dtype`), sparse/metadata (JSON)
    P idx        FT index over ``P rec:`` (rt TAG, dense VECTOR <dtype> COSINE), made lazily
    P meta       JSON {dims, algorithm, schema, dtype} of that FT index
    P state      the shared router state (JSON);  P lock: the writers' lease lock

Route filters search ``rt``, the hex SHA-256 of the route name, so every name a Route accepts
(control characters, NBSP, U+3000, punctuation...) filters exactly; indexes made before the tag
(schema 1, a ``route`` TAG) are migrated when opened. Calls go straight to redis-py, whose `Retry`
(jittered exponential backoff on connection errors and timeouts) is the only retry layer. Queries
have a native async path on ``redis.asyncio``; every other async method runs in a worker thread.
State writes are fenced by one Lua script (lease token and stored version checked, then SET).
Record writes are streamed on one connection (`_redis_stream`) as calls of one small Lua script, each
writing 100 records (an HSET per record, and an HDEL of optional fields only for a hash that existed):
one reply per 100 records halves the client's work. No MULTI, since a commit's atomicity comes from
the fenced state write, not from the records.

Limitation: Redis has no sparse-vector search. With sparse query vectors the dense KNN is widened
to max(4*top_k, 50) candidates, their sparse dot products are computed client-side from the stored
sparse vectors, and the top_k by sparse among them join the dense top_k. A record far from the
query densely is found by its sparse score only if it is among those candidates.
"""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import Iterator, Sequence
from typing import Any
from urllib.parse import quote

import numpy as np
from tenacity import Retrying, retry_if_result, stop_after_delay, wait_fixed

from semantic_router.extras import extra
from semantic_router.checks import check_int
from semantic_router.errors import IndexBackendError, StateConflict
from semantic_router.index._common import (
    LoopClients,
    PreparedSearch,
    batch_dims,
    decode_state,
    query_matrix,
)
from semantic_router.redis_urls import strip_password
from semantic_router.index._redis_wire import (
    TAG_FIELD,
    WRITE_BATCH,
    WRITE_WINDOW,
    check_layout,
    corrupt,
    hash_record,
    info_field,
    parse_layout,
    parse_search,
    search_hits,
    route_tag,
    stored_dtype,
    tag_filter,
    text,
    write_command,
)
from semantic_router.index._redis_scripts import RELEASE, RENEW, WRITE_STATE
from semantic_router.index.base import HitBatch, Index, Record
from semantic_router.index.coordination import Coordinator, LeaseToken
from semantic_router.index.lease import poll_until, renewed
from semantic_router.vectors import SparseVector, check_vector_dtype, pack_dense

with extra("redis", "RedisIndex"):
    import redis
    import redis.asyncio
    from redis.asyncio.retry import Retry as AsyncRetry
    from redis.backoff import EqualJitterBackoff
    from redis.retry import Retry

    from semantic_router.index._redis_stream import stream

__all__ = ["RedisIndex", "route_tag", "strip_password"]

Cmd = tuple[Any, ...]

_PAGE = 500  # keys per SCAN/FT.SEARCH page and commands per pipelined round trip
_SCHEMA = 2  # FT index layout: 2 = route filters on the hashed route tag
_LENIENT = ("no such index", "unknown index name", "index already exists")  # races on the FT index
_UNREACHABLE = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)


class RedisUnreachableError(IndexBackendError, redis.exceptions.ConnectionError):
    """Redis could not be reached; also redis-py's ConnectionError, which code written for redis-py
    (and RedisVL) catches."""


def _not_auth(exc: Exception) -> bool:
    return not isinstance(exc, redis.exceptions.AuthenticationError)


class _Retry(Retry):
    """redis-py's Retry, except for refused credentials (retrying a wrong password only delays it)."""

    def call_with_retry(self, do: Any, fail: Any, is_retryable: Any = None, with_failure_count: bool = False) -> Any:
        return super().call_with_retry(do, fail, is_retryable or _not_auth, with_failure_count)


class RedisIndex(Index, Coordinator):
    """Records as Redis hashes, searched by RediSearch KNN (FLAT or HNSW, cosine)."""

    type = "redis"

    def __init__(
        self, url: str = "redis://localhost:6379", name: str = "semantic-router", algorithm: str = "flat",
        client: redis.Redis | None = None, prefix: str | None = None, *, aclient: redis.asyncio.Redis | None = None,
        lock_lease: float = 10.0, retries: int = 4, socket_timeout: float = 5.0, connect_timeout: float = 2.0,
        hnsw_m: int = 16, hnsw_ef_construction: int = 200, max_connections: int = 64, pool_timeout: float = 10.0,
        dtype: str | None = None,
    ) -> None:
        """Connect and PING (failing fast with IndexBackendError); the FT index is made on first upsert.

        `prefix` replaces the ``sr:<name>:`` key namespace; `lock_lease` is the lock's lease in
        seconds; `retries` is how often redis-py retries a command on connection errors or timeouts.
        Async queries share at most `max_connections` connections per event loop: more concurrent
        ones wait for a free connection, up to `pool_timeout` s (redis-py's default async pool
        refuses them at its cap instead). A given `client` must not decode responses; it and
        `aclient` are used as configured (their own retry policy and pool) and are not closed by `close()`.
        `dtype` is the type vectors are stored in (float32, float16, float64, bfloat16); None: the
        stored index's, float32 for a new one.
        """
        check_int(max_connections, "max_connections", 1)
        if algorithm.lower() not in ("flat", "hnsw"):
            raise ValueError(f"algorithm must be 'flat' or 'hnsw', got {algorithm!r}")
        given_dtype = None if dtype is None else check_vector_dtype(dtype)
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
        backoff = EqualJitterBackoff(cap=1.0, base=0.05)
        # our own clients: RESP2 replies, redis-py retries with backoff, short timeouts
        self._conn_kw = {"protocol": 2, "socket_timeout": socket_timeout, "socket_connect_timeout": connect_timeout,
                         "client_name": f"semantic-router:{quote(name, safe='-_.~')}"}
        self._async_retry = AsyncRetry(backoff, retries)
        self._owns_client = client is None
        if client is None:
            client = redis.Redis.from_url(url, retry=_Retry(backoff, retries), **self._conn_kw)
        elif client.get_connection_kwargs().get("decode_responses"):
            raise ValueError("RedisIndex needs a client with decode_responses=False (vectors are bytes)")
        self._client, self._aclient = client, aclient
        pool_kw = {"max_connections": max_connections, "timeout": pool_timeout, "retry": self._async_retry,
                   **self._conn_kw}
        self._aclients: LoopClients[redis.asyncio.Redis] = LoopClients(  # a waiting (bounded) pool per event loop
            lambda: redis.asyncio.Redis.from_pool(redis.asyncio.BlockingConnectionPool.from_url(url, **pool_kw)),
            lambda c: c.aclose())
        self._write_script = self._client.register_script(WRITE_STATE)
        try:
            self._client.ping()
        except redis.exceptions.RedisError as exc:
            raise self._unreachable(exc) from exc
        meta = self._meta()
        self.dtype = given_dtype or stored_dtype(meta or {})
        self._migrate(meta)

    @property
    def is_remote(self) -> bool:
        return True

    def spec(self) -> dict[str, Any]:
        out = {"type": self.type, "url": self.safe_url, "name": self.name, "algorithm": self.algorithm}
        out = {**out, "dtype": self.dtype} if self.dtype != "float32" else out
        return {**out, "prefix": self.prefix} if self._custom_prefix else out

    @property
    def client(self) -> redis.Redis:
        """The redis-py client this index talks through (bytes replies)."""
        return self._client

    # -- round trips ----------------------------------------------------------------------------
    def _unreachable(self, exc: Exception) -> IndexBackendError:
        kind = RedisUnreachableError if isinstance(exc, redis.exceptions.ConnectionError) else IndexBackendError
        return kind(f"Redis at {self.safe_url} is unreachable ({type(exc).__name__}: {exc})",
                    retryable=isinstance(exc, _UNREACHABLE) and _not_auth(exc))

    def _check(self, reply: Any, cmd: Cmd, lenient: bool) -> Any:
        """The reply; None for a missing/existing FT index if lenient; else a clear error."""
        if not isinstance(reply, Exception):
            return reply
        msg = str(reply).lower()
        if lenient and any(m in msg for m in _LENIENT):
            return None
        if "unknown command" in msg and text(cmd[0]).upper().startswith("FT."):
            raise IndexBackendError(
                f"Redis at {self.safe_url} has no query engine (RediSearch): use Redis 8 or Redis Stack 7.2+")
        raise IndexBackendError(f"Redis at {self.safe_url} refused {text(cmd[0])}: {reply}") from reply

    @staticmethod
    def _queued(client: Any, cmds: list[Cmd]) -> Any:
        """A non-transactional pipeline (sync or async) with `cmds` queued: one round trip."""
        pipe = client.pipeline(transaction=False)
        for c in cmds:
            pipe.execute_command(*c)
        return pipe

    def _send(self, cmds: list[Cmd]) -> list[Any]:
        """Send commands in pipelined round trips of at most _PAGE; the raw replies (errors included)."""
        try:
            return [r for lo in range(0, len(cmds), _PAGE)
                    for r in self._queued(self._client, cmds[lo:lo + _PAGE]).execute(raise_on_error=False)]
        except _UNREACHABLE as exc:
            raise self._unreachable(exc) from exc

    async def _asend(self, client: redis.asyncio.Redis, cmds: list[Cmd]) -> list[Any]:
        """`_send` on an async client."""
        try:
            return [r for lo in range(0, len(cmds), _PAGE)
                    for r in await self._queued(client, cmds[lo:lo + _PAGE]).execute(raise_on_error=False)]
        except _UNREACHABLE as exc:
            raise self._unreachable(exc) from exc

    def _run(self, cmds: list[Cmd], lenient: bool = False) -> list[Any]:
        """`_send`, each reply checked (see `_check`)."""
        return [self._check(r, c, lenient) for r, c in zip(self._send(cmds), cmds)]

    def _async_client(self) -> redis.asyncio.Redis | None:
        """The given async client, else our own for the running loop (connections are loop-bound);
        None when a sync client was given without an async one."""
        if self._aclient is not None or not self._owns_client:
            return self._aclient
        return self._aclients.get()

    # -- the FT index -----------------------------------------------------------------------------
    def _meta(self) -> dict[str, Any] | None:
        (raw,) = self._run([("GET", self.meta_key)])
        return parse_layout(raw, self.meta_key)

    def _info(self) -> tuple[dict[str, Any], int]:
        """(the FT index's layout, {} if none; number of indexed records) in one round trip."""
        raw, info = self._run([("GET", self.meta_key), ("FT.INFO", self.index_name)], lenient=True)
        count = 0 if info is None else int(info_field(info, "num_docs") or 0)
        return parse_layout(raw, self.meta_key) or {}, count

    def _create(self, dims: int, drop: bool, dtype: str) -> None:
        """(Re)make the FT index (dropping it keeps its records) and record its layout in meta."""
        algo = ("FLAT", 6) if self.algorithm == "flat" else ("HNSW", 6 + len(self._hnsw))
        params = ("TYPE", dtype.upper(), "DIM", dims, "DISTANCE_METRIC", "COSINE") + (
            self._hnsw if self.algorithm == "hnsw" else ())
        cmds: list[Cmd] = [("FT.DROPINDEX", self.index_name)] if drop else []
        cmds += [
            ("FT.CREATE", self.index_name, "ON", "HASH", "PREFIX", 1, self.record_prefix, "SCHEMA",
             TAG_FIELD, "TAG", "CASESENSITIVE", "dense", "VECTOR", *algo, *params),
            ("SET", self.meta_key, json.dumps({"dims": dims, "algorithm": self.algorithm, "schema": _SCHEMA, "dtype": dtype})),
        ]
        self._run(cmds, lenient=True)

    def _migrate(self, meta: dict[str, Any] | None) -> None:
        """Bring an FT index made before route tags (schema 1) up to date: tag every record, remake
        the index. Idempotent, so two processes opening it at once both succeed."""
        if meta is None or meta.get("schema") == _SCHEMA:
            return
        keys = self._keys()
        routes = self._run([("HGET", k, "route") for k in keys])
        self._run([("HSET", k, TAG_FIELD, route_tag(text(r))) for k, r in zip(keys, routes) if r is not None])
        self._create(int(meta["dims"]), drop=True, dtype=stored_dtype(meta))
        indexing = Retrying(stop=stop_after_delay(120), wait=wait_fixed(0.05), retry=retry_if_result(bool),
                            retry_error_callback=lambda _state: False)
        indexing(lambda: self._indexing())  # remade over existing hashes, the index fills in the background

    def _indexing(self) -> bool:
        """Whether the FT index is still indexing existing records."""
        (info,) = self._run([("FT.INFO", self.index_name)], lenient=True)
        return info is not None and str(text(info_field(info, "indexing"))) not in ("0", "0.0")

    # -- records ------------------------------------------------------------------------------------
    def _keys(self, route: str | None = None) -> list[str]:
        """Record keys (of one route): SCAN on the prefix, or the route tag search, paged."""
        if route is None:
            pattern = "".join("\\" + c if c in "*?[]\\" else c for c in self.record_prefix) + "*"
            try:
                return sorted({text(k) for k in self._client.scan_iter(match=pattern, count=1000)})
            except _UNREACHABLE as exc:
                raise self._unreachable(exc) from exc
        keys: list[str] = []
        offset, query = 0, tag_filter([route])
        while True:
            cmd = ("FT.SEARCH", self.index_name, query, "RETURN", 1, "route", "LIMIT", offset, _PAGE, "DIALECT", 2)
            (reply,) = self._run([cmd], lenient=True)
            if reply is None:
                return []
            total, docs = parse_search(reply)
            for k, f in docs:  # the route tag is the hash of the route name: a name that differs was edited
                if text(f.get("route", "")) != route:
                    raise corrupt(k, f"its route field {text(f.get('route', '(missing)'))!r:.60} does not match its "
                                     "route tag")
            keys += [k for k, _ in docs]
            offset += _PAGE
            if offset >= total:
                return keys

    def upsert(self, records: Sequence[Record]) -> None:
        if not records:
            return
        dims = batch_dims(records)
        meta, count = self._info()
        if (meta.get("dims"), stored_dtype(meta)) != (dims, self.dtype):
            if count:
                check_layout(self.name, meta, dims, self.dtype)
            self._create(dims, drop=bool(meta), dtype=self.dtype)
        unique = list({r.id: r for r in records}.values())  # last write of an id wins
        batches = [unique[lo:lo + WRITE_BATCH] for lo in range(0, len(unique), WRITE_BATCH)]
        try:
            replies = stream(self._client, batches, lambda batch: write_command(self.record_prefix, batch, self.dtype),
                             chunk=1, window=WRITE_WINDOW)  # each batch is one command, sent on its own
        except _UNREACHABLE as exc:
            raise self._unreachable(exc) from exc
        for reply in replies:
            self._check(reply, ("HSET",), False)

    def delete(self, ids: Sequence[str] | None = None, route: str | None = None) -> int:
        keys = {self.record_prefix + i for i in ids or ()}
        if route is not None:
            keys.update(self._keys(route))
        ordered = sorted(keys)
        replies = self._run([("DEL", *ordered[lo:lo + _PAGE]) for lo in range(0, len(ordered), _PAGE)])
        return sum(int(n) for n in replies)

    def records(self, route: str | None = None) -> list[Record]:
        keys = self._keys(route)
        meta, *raws = self._run([("GET", self.meta_key)] + [("HGETALL", k) for k in keys])
        layout = parse_layout(meta, self.meta_key)
        dtype = stored_dtype(layout) if layout else self.dtype  # as stored, whatever was given
        n = len(self.record_prefix)
        return [hash_record(raw, k, k[n:], dtype) for k, raw in zip(keys, raws) if raw]  # {} if deleted meanwhile

    def ids(self, route: str | None = None) -> list[str]:
        n = len(self.record_prefix)
        return [k[n:] for k in self._keys(route)]

    def count(self) -> int:
        return self._info()[1]

    @property
    def dimensions(self) -> int | None:
        return self.describe()["dimensions"]

    def describe(self) -> dict[str, Any]:
        """What is stored; `dtype` is the stored FT index's vector type (None: no FT index yet)."""
        meta, count = self._info()
        return {"type": self.type, "dimensions": meta.get("dims") if count else None, "count": count,
                "name": self.name, "algorithm": self.algorithm, "dtype": stored_dtype(meta) if meta else None}

    def _wipe(self, drop: bool) -> None:
        keys = self._keys()
        cmds: list[Cmd] = [("DEL", *keys[lo:lo + _PAGE]) for lo in range(0, len(keys), _PAGE)]
        cmds.append(("DEL", self.state_key, self.state_key + ":nonce"))
        if drop:  # the FT index (without DD: its records are deleted above) and its meta
            cmds += [("FT.DROPINDEX", self.index_name), ("DEL", self.meta_key)]
        self._run(cmds, lenient=True)

    def clear(self) -> None:
        self._wipe(drop=False)

    def drop(self) -> None:
        self._wipe(drop=True)

    # -- search ---------------------------------------------------------------------------------------
    def _search(self, dense: np.ndarray, sparse: Sequence[SparseVector] | None, top_k: int,
                routes: Sequence[str] | None) -> PreparedSearch | HitBatch:
        """The round trip answering a batch (GET meta, then one FT.SEARCH per query), or the
        answer itself when nothing needs asking."""
        q = query_matrix(dense, sparse)
        b, hybrid = q.shape[0], sparse is not None
        empty = HitBatch.from_rows([[] for _ in range(b)], hybrid)
        if top_k <= 0 or b == 0 or (routes is not None and not list(routes)):
            return empty
        k = max(4 * top_k, 50) if hybrid else top_k
        flt = "*" if routes is None else f"({tag_filter(routes)})"
        fields = ("id", "route", "utterance", "__score") + (("sparse",) if hybrid else ())
        cmds: list[Cmd] = [("GET", self.meta_key)] + [
            ("FT.SEARCH", self.index_name, f"{flt}=>[KNN {k} @dense $vec AS __score]", "PARAMS", 2, "vec",
             pack_dense(row, self.dtype), "SORTBY", "__score", "ASC", "RETURN", len(fields), *fields, "LIMIT", 0, k, "DIALECT", 2)
            for row in q
        ]

        def finish(replies: list[Any]) -> HitBatch:
            meta = parse_layout(self._check(replies[0], cmds[0], False), self.meta_key)
            if meta is None:  # no FT index yet
                return empty
            check_layout(self.name, meta, q.shape[1], self.dtype)
            rows = []
            for i, (raw, cmd) in enumerate(zip(replies[1:], cmds[1:])):
                reply = self._check(raw, cmd, True)  # None: the FT index vanished (dropped meanwhile)
                docs = [] if reply is None else parse_search(reply)[1]
                rows.append(search_hits(docs, None if sparse is None else sparse[i], top_k, routes, self.record_prefix))
            return HitBatch.from_rows(rows, hybrid)

        return PreparedSearch(cmds, finish, empty)

    def query_batch(self, dense: np.ndarray, sparse: Sequence[SparseVector] | None = None, top_k: int = 5,
                    routes: Sequence[str] | None = None) -> HitBatch:
        search = self._search(dense, sparse, top_k, routes)
        return search if isinstance(search, HitBatch) else search.finish(self._send(search.requests))

    async def aquery_batch(self, dense: np.ndarray, sparse: Sequence[SparseVector] | None = None, top_k: int = 5,
                           routes: Sequence[str] | None = None) -> HitBatch:
        """Native async search on ``redis.asyncio`` (a worker thread if only a sync client was given)."""
        client = self._async_client()
        if client is None:
            return await super().aquery_batch(dense, sparse, top_k, routes)
        search = self._search(dense, sparse, top_k, routes)
        return search if isinstance(search, HitBatch) else search.finish(await self._asend(client, search.requests))

    # -- shared state and the writers' lock -------------------------------------------------------------
    def read_state(self) -> dict[str, Any] | None:
        (raw,) = self._run([("GET", self.state_key)])
        return None if raw is None else decode_state(raw, f"Redis key {self.state_key!r} at {self.safe_url}")

    def write_state(self, state: dict[str, Any], *, expected_version: int | None = None,
                    lease: LeaseToken | None = None) -> None:
        """One Lua script checks the lease token and the stored version, then SETs: atomic."""
        args = [json.dumps(state), "" if expected_version is None else str(int(expected_version)),
                "" if lease is None else lease.token, uuid.uuid4().hex]
        try:
            verdict = text(self._write_script(keys=[self.state_key, self.lock_key, self.state_key + ":nonce"],
                                              args=args))
        except _UNREACHABLE as exc:
            raise self._unreachable(exc) from exc
        except redis.exceptions.ResponseError as exc:
            raise IndexBackendError(f"Redis at {self.safe_url} refused the state write: {exc}") from exc
        if verdict == "lease":
            raise StateConflict(f"the lock of Redis index {self.name!r} was lost (lease expired or taken over) "
                                "before the state write; nothing was written")
        if verdict.startswith("version:"):
            raise StateConflict(f"the shared state of Redis index {self.name!r} moved on: expected version "
                                f"{expected_version}, found {verdict[8:]}; nothing was written")

    @contextlib.contextmanager
    def lock(self, timeout: float = 10.0) -> Iterator[LeaseToken]:
        """Hold the writers' lease lock: SET NX PX with an owner token, renewed while held.

        A holder that crashes (or is frozen) stops renewing, so its lease expires after
        `lock_lease` s; its fenced state writes then fail with StateConflict.
        """
        token, lease_ms = uuid.uuid4().hex, max(1, int(self.lock_lease * 1000))

        def take() -> bool | None:
            _, holder = self._run([("SET", self.lock_key, token, "NX", "PX", lease_ms), ("GET", self.lock_key)])
            return True if holder is not None and text(holder) == token else None  # a retried SET may have landed

        poll_until(take, timeout, lambda: f"could not take the lock of Redis index {self.name!r} at "
                   f"{self.safe_url} within {timeout:.1f}s: another writer holds it", poll=0.01, max_delay=0.5)

        def renew() -> bool:
            (ok,) = self._run([("EVAL", RENEW, 1, self.lock_key, token, lease_ms)])
            return bool(ok)

        with renewed(renew, lambda: self._run([("EVAL", RELEASE, 1, self.lock_key, token)]),
                     lease_ms / 3000, f"the lock of Redis index {self.name!r}"):
            yield LeaseToken(token)

    # -- lifecycle ----------------------------------------------------------------------------------------
    def close(self) -> None:
        """Close the clients this index opened (given clients stay open); async clients of other
        event loops are dropped (their connections cannot be closed from outside their loop)."""
        if self._owns_client:
            self._client.close()
        self._aclients.forget()

    async def aclose(self) -> None:
        """Close the async client of the running event loop, then everything `close` closes."""
        await self._aclients.aclose()
        self.close()

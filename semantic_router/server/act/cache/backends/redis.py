"""Shared cache store in Redis: one hash per entry with a native TTL, vectors searched by RediSearch KNN.

Keys under the namespace N (replicas using one N share the cache):

    N:e:<key>    hash: scope (TAG), text, answer (JSON), vec (float32 bytes), exp (expiry, epoch ms); PEXPIREs
    N:lru        sorted set: entry key -> last access (ms); the oldest go first past max_entries
    N:idx<dims>  FT index over N:e: (scope TAG, vec FLAT FLOAT32 COSINE), made on the first store of a vector

The library's RedisIndex stores routes (no TTL, no LRU), so entries are written here with redis-py directly.
A store is one Lua script (write, expire, LRU bump, eviction) so concurrent replicas never overshoot by much.
Scripts touch evicted keys they do not declare, so use a single Redis (not a cluster). Any failure raises
CacheUnavailable and Redis is skipped for `retry_after` seconds, so a dead Redis costs no latency per request.
A restarted Redis has lost the FT index: lookups miss until the next store recreates it.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

import numpy as np
import redis
import redis.asyncio
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from semantic_router.redis_urls import strip_password
from semantic_router.server.act.cache.backends.base import CacheUnavailable, Entry

__all__ = ["RedisBackend"]

log = logging.getLogger("semantic_router.server.act.cache")

_PUT = """
local key, lru = KEYS[1], KEYS[2]
local now, ttl, max = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
redis.call('DEL', key)
redis.call('HSET', key, unpack(ARGV, 4))
redis.call('PEXPIRE', key, ttl)
redis.call('ZADD', lru, now, key)
redis.call('ZREMRANGEBYSCORE', lru, '-inf', now - ttl)
local over = redis.call('ZCARD', lru) - max
local evicted = 0
if over > 0 then
  local old = redis.call('ZPOPMIN', lru, over)
  for i = 1, #old, 2 do evicted = evicted + redis.call('DEL', old[i]) end
end
return evicted
"""
_NO_INDEX = ("no such index", "unknown index name")


def _s(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class RedisBackend:
    """A cache store many gateway processes share. See the module docstring for the key layout."""

    def __init__(self, url: str, namespace: str, max_entries: int, timeout: float = 0.25,
                 retry_after: float = 1.0) -> None:
        if max_entries < 1:
            raise ValueError(f"max_entries must be >= 1, got {max_entries}")
        self.url, self.safe_url = url, strip_password(url)
        self.prefix = f"{namespace}:"
        self.lru = self.prefix + "lru"
        self.max_entries = max_entries
        self.retry_after = retry_after
        self.evictions = 0
        self.failures = 0
        self._down_until = 0.0
        self._indexed: set[int] = set()
        # one quick reconnect on a dropped connection (a restarted Redis), short timeouts, binary replies
        self._client = redis.asyncio.Redis.from_url(url, protocol=2, socket_timeout=timeout,
                                                    socket_connect_timeout=timeout, retry=Retry(NoBackoff(), 1))
        self._put = self._client.register_script(_PUT)

    def _key(self, key: str) -> str:
        return f"{self.prefix}e:{key}"

    def _index(self, dims: int) -> str:
        return f"{self.prefix}idx{dims}"

    async def _call(self, what: str, coro: Any) -> Any:
        """Await a Redis call; failures mark Redis down for `retry_after` seconds and raise CacheUnavailable."""
        try:
            return await coro
        except redis.exceptions.ResponseError:
            raise  # Redis answered: a command problem, not an outage (callers decide)
        except redis.exceptions.RedisError as exc:
            self.failures += 1
            self._down_until = time.monotonic() + self.retry_after
            log.warning("response cache: Redis at %s failed on %s (%s: %s); missing for %.1fs",
                        self.safe_url, what, type(exc).__name__, exc, self.retry_after)
            raise CacheUnavailable(f"Redis at {self.safe_url}: {type(exc).__name__}") from None

    def _check_up(self) -> None:
        if time.monotonic() < self._down_until:
            raise CacheUnavailable(f"Redis at {self.safe_url} failed recently")

    def _entry(self, key: str, fields: dict[str, Any], now_ms: int) -> Entry | None:
        """A decoded entry, or None when it is expired or malformed."""
        try:
            if int(fields["exp"]) <= now_ms:
                return None
            vec = fields.get("vec")
            vector = np.frombuffer(vec, dtype=np.float32) if vec else None
            return Entry(key=key, scope=_s(fields["scope"]), text=_s(fields["text"]),
                         answer=json.loads(fields["answer"]), vector=vector)
        except (KeyError, ValueError, TypeError):
            return None

    async def _touch(self, key: str, now_ms: int, refresh_ttl: float | None) -> None:
        pipe = self._client.pipeline(transaction=False)
        pipe.zadd(self.lru, {self._key(key): now_ms}, xx=True)
        if refresh_ttl is not None:
            ttl_ms = max(1, int(refresh_ttl * 1000))
            pipe.hset(self._key(key), "exp", now_ms + ttl_ms)
            pipe.pexpire(self._key(key), ttl_ms, xx=True)
        await self._call("touch", pipe.execute())

    async def get(self, key: str, refresh_ttl: float | None = None) -> Entry | None:
        self._check_up()
        try:
            raw = await self._call("get", self._client.hgetall(self._key(key)))
        except redis.exceptions.ResponseError as exc:
            raise CacheUnavailable(f"cache get failed: {exc}") from None
        now_ms = int(time.time() * 1000)
        entry = self._entry(key, {_s(k): v for k, v in raw.items()}, now_ms) if raw else None
        if entry is not None:
            await self._touch(key, now_ms, refresh_ttl)
        return entry

    async def nearest(self, scope: str, vector: np.ndarray,
                      refresh_ttl: float | None = None) -> tuple[Entry, float] | None:
        self._check_up()
        vec = np.asarray(vector, dtype=np.float32)
        query = f"(@scope:{{{scope}}})=>[KNN 1 @vec $B AS dist]"
        try:
            reply = await self._call("search", self._client.execute_command(
                "FT.SEARCH", self._index(vec.shape[0]), query, "PARAMS", "2", "B", vec.tobytes(),
                "RETURN", "6", "scope", "text", "answer", "vec", "exp", "dist", "LIMIT", "0", "1", "DIALECT", "2"))
        except redis.exceptions.ResponseError as exc:
            if not any(m in str(exc).lower() for m in _NO_INDEX):
                raise CacheUnavailable(f"cache search failed: {exc}") from None
            self._indexed.discard(vec.shape[0])  # no index yet, or lost with a restarted Redis
            return None
        if not reply or int(reply[0]) == 0:
            return None
        doc, flat = _s(reply[1]), reply[2]
        fields = {_s(flat[i]): flat[i + 1] for i in range(0, len(flat), 2)}
        key = doc.removeprefix(self.prefix + "e:")
        now_ms = int(time.time() * 1000)
        entry = self._entry(key, fields, now_ms)
        if entry is None:
            return None
        await self._touch(key, now_ms, refresh_ttl)
        return entry, 1.0 - float(_s(fields["dist"]))

    async def _ensure_index(self, dims: int) -> None:
        if dims in self._indexed:
            return
        try:
            await self._call("create index", self._client.execute_command(
                "FT.CREATE", self._index(dims), "ON", "HASH", "PREFIX", "1", self.prefix + "e:", "SCHEMA",
                "scope", "TAG", "vec", "VECTOR", "FLAT", "6", "TYPE", "FLOAT32", "DIM", str(dims),
                "DISTANCE_METRIC", "COSINE"))
        except redis.exceptions.ResponseError as exc:
            if "already exists" not in str(exc).lower():
                raise CacheUnavailable(f"cannot create the cache index: {exc}") from None
        self._indexed.add(dims)

    async def put(self, entry: Entry, ttl: float) -> int:
        self._check_up()
        now_ms = int(time.time() * 1000)
        ttl_ms = max(1, int(ttl * 1000))
        fields: list[Any] = ["scope", entry.scope, "text", entry.text, "exp", now_ms + ttl_ms,
                             "answer", json.dumps(entry.answer, ensure_ascii=False, separators=(",", ":"))]
        if entry.vector is not None:
            vec = np.asarray(entry.vector, dtype=np.float32)
            await self._ensure_index(vec.shape[0])
            fields += ["vec", vec.tobytes()]
        try:
            evicted = int(await self._call("store", self._put(
                keys=[self._key(entry.key), self.lru], args=[now_ms, ttl_ms, self.max_entries, *fields])))
        except redis.exceptions.ResponseError as exc:
            raise CacheUnavailable(f"cache store failed: {exc}") from None
        self.evictions += evicted
        return evicted

    async def aclose(self) -> None:
        await self._client.aclose()

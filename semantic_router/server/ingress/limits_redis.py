"""`RedisKeyStore`: virtual keys and their counters on Redis, shared by every replica.

Admission is one Lua script (check the key exists, budgets, the minute's tokens; then increment the minute's
request counter, undone when it passes `rpm`), so replicas together never admit more than a key's limit.
Charging is one MULTI transaction. Keys (under `<namespace>:`): `key:<sha256>` -> the record (JSON),
`id:<id>` -> its digest, `rpm:<id>:<window>` / `tpm:<id>:<window>` (expire after two minutes),
`spend:<id>`, `tokens:<id>`, `tenant:<tenant>`. A revoked key is deleted, so every replica refuses it at once.
"""

from __future__ import annotations

import json
from typing import Any, cast, get_args

from semantic_router.extras import extra
from semantic_router.server.ingress.errors import APIError
from semantic_router.server.ingress.limits import Admission, Grant, KeyRecord, KeySpend, Refusal, window_of

__all__ = ["RedisKeyStore"]

_ADMIT = """
-- KEYS: the key's id entry, rpm counter, tpm counter, key spend, tenant spend
-- ARGV: rpm, tpm, key budget, tenant budget (-1: none), counter ttl, tokens to reserve
if redis.call('EXISTS', KEYS[1]) == 0 then return 'revoked' end
local function num(key) return tonumber(redis.call('GET', key) or '0') end
local kb, tb = tonumber(ARGV[3]), tonumber(ARGV[4])
if kb >= 0 and num(KEYS[4]) >= kb then return 'key_budget' end
if tb >= 0 and num(KEYS[5]) >= tb then return 'tenant_budget' end
local tpm = tonumber(ARGV[2])
if tpm >= 0 and num(KEYS[3]) >= tpm then return 'tpm' end
local n = redis.call('INCR', KEYS[2])
if n == 1 then redis.call('EXPIRE', KEYS[2], ARGV[5]) end
local rpm = tonumber(ARGV[1])
if rpm >= 0 and n > rpm then
  redis.call('DECR', KEYS[2])
  return 'rpm'
end
if tonumber(ARGV[6]) > 0 then
  redis.call('INCRBY', KEYS[3], ARGV[6])
  redis.call('EXPIRE', KEYS[3], ARGV[5])
end
return 'ok'
"""
_OUTCOMES = frozenset(get_args(Refusal))
_TTL = 120  # a window's counters outlive it by a minute (a late answer is still charged to it)


def _opt(value: float | None) -> str:
    return "-1" if value is None else repr(value)


class RedisKeyStore:
    """The key store on Redis at `url` under `namespace` (redis-py, the `redis` extra)."""

    def __init__(self, url: str, namespace: str, timeout: float = 1.0) -> None:
        with extra("redis", "virtual keys on Redis (limits: with cluster.redis_url)"):
            import redis.asyncio
            from redis.asyncio.retry import Retry
            from redis.backoff import NoBackoff

            from semantic_router.redis_urls import strip_password
        self._fault = redis.exceptions.RedisError
        self.safe_url = strip_password(url)
        self.prefix = namespace + ":"
        self._client = redis.asyncio.Redis.from_url(url, protocol=2, socket_timeout=timeout,
                                                    socket_connect_timeout=timeout, retry=Retry(NoBackoff(), 1))
        self._admit = self._client.register_script(_ADMIT)

    def _unavailable(self, exc: Exception) -> APIError:
        return APIError(503, f"the key store (Redis at {self.safe_url}) is unavailable ({type(exc).__name__}); "
                             "retry shortly", code="key_store_unavailable")

    async def _call(self, work: Any) -> Any:
        try:
            return await work
        except self._fault as exc:
            raise self._unavailable(exc) from None

    async def add(self, digest: str, record: KeyRecord) -> None:
        created = await self._call(self._client.set(self.prefix + "id:" + record.id, digest, nx=True))
        if not created:
            raise ValueError(f"a key with id {record.id!r} already exists")
        await self._call(self._client.set(self.prefix + "key:" + digest, json.dumps(record.as_dict())))

    async def find(self, digest: str) -> KeyRecord | None:
        raw = await self._call(self._client.get(self.prefix + "key:" + digest))
        return None if raw is None else KeyRecord.from_dict(json.loads(raw))

    async def records(self) -> list[KeyRecord]:
        async def scan() -> list[Any]:
            return [k async for k in self._client.scan_iter(match=self.prefix + "key:*", count=500)]

        keys = await self._call(scan())
        values = await self._call(self._client.mget(keys)) if keys else []
        return sorted((KeyRecord.from_dict(json.loads(v)) for v in values if v is not None), key=lambda r: r.id)

    async def revoke(self, key_id: str) -> bool:
        digest = await self._call(self._client.getdel(self.prefix + "id:" + key_id))
        if digest is None:
            return False
        digest = digest.decode() if isinstance(digest, bytes) else digest
        await self._call(self._client.delete(self.prefix + "key:" + digest))
        return True

    def _keys(self, record: KeyRecord, window: int) -> list[str]:
        p = self.prefix
        return [f"{p}rpm:{record.id}:{window}", f"{p}tpm:{record.id}:{window}", f"{p}spend:{record.id}",
                f"{p}tenant:{record.tenant}"]

    async def admit(self, record: KeyRecord, tenant_budget: float | None, now: float, reserve: int) -> Admission:
        w = window_of(now)
        outcome = await self._call(self._admit(
            keys=[self.prefix + "id:" + record.id, *self._keys(record, w)],  # revoking deletes `id:` first
            args=[_opt(record.rpm), _opt(record.tpm), _opt(record.budget), _opt(tenant_budget), _TTL, reserve]))
        text = outcome.decode() if isinstance(outcome, bytes) else str(outcome)
        if text not in _OUTCOMES:
            raise APIError(503, f"the key store answered {text[:40]!r} to an admission", code="key_store_unavailable")
        return Admission(cast(Refusal, text), w)

    async def charge(self, record: KeyRecord, grant: Grant, tokens: int, cost: float) -> None:
        _, tpm, spend, tenant = self._keys(record, grant.window)
        async with self._client.pipeline(transaction=True) as pipe:
            pipe.incrby(tpm, tokens - grant.reserved)
            pipe.expire(tpm, _TTL)
            pipe.incrbyfloat(spend, cost)
            pipe.incrby(self.prefix + "tokens:" + record.id, tokens)
            pipe.incrbyfloat(tenant, cost)
            await self._call(pipe.execute())

    async def spend(self, record: KeyRecord, now: float) -> KeySpend:
        requests, tokens, _, _ = self._keys(record, window_of(now))
        _, _, spend, tenant = self._keys(record, 0)
        values = await self._call(self._client.mget([spend, self.prefix + "tokens:" + record.id, tenant,
                                                     requests, tokens]))
        s, t, ts, wr, wt = (0 if v is None else float(v) for v in values)
        return KeySpend(s, int(t), ts, int(wr), int(wt))

    async def aclose(self) -> None:
        await self._client.aclose()

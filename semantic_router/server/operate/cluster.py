"""Replicas on one Redis: each publishes its `/stats` counters under a key with a TTL; any replica sums them.

Keys: `<namespace>:replica:<id>` -> JSON snapshot, expiring `ttl_seconds` after the last publish, so a stopped
replica drops out of the aggregate on its own. A Redis outage never fails `/stats`: the aggregate is replaced
by an error note. redis-py (the `redis` extra) is imported when a `ClusterStats` is made: a gateway without
`cluster:` runs on the `server` extra alone.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from semantic_router.extras import extra
from semantic_router.server.config import ClusterConfig

__all__ = ["ClusterStats", "aggregate", "replica_id"]

log = logging.getLogger("semantic_router.server.operate.cluster")
_COUNTS = ("total_requests", "sticky_requests", "route_requests", "client_errors")
_MAPS = ("routes", "decisions", "models", "upstream_errors")
_CACHE = ("hits", "misses", "bypasses", "stores", "evictions", "errors")


def replica_id(configured: str | None) -> str:
    """The configured id, else $SR_REPLICA_ID, else `<hostname>-<pid>`."""
    return configured or os.environ.get("SR_REPLICA_ID") or f"{socket.gethostname()}-{os.getpid()}"


def aggregate(snapshots: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The sum of replicas' `/stats` counters (latency percentiles do not add up, so they stay per replica)."""
    out: dict[str, Any] = {k: sum(int(s.get(k) or 0) for s in snapshots.values()) for k in _COUNTS}
    for key in _MAPS:
        total: Counter[str] = Counter()
        for s in snapshots.values():
            total.update({k: int(v) for k, v in (s.get(key) or {}).items()})
        out[key] = dict(total)
    cache = {k: sum(int((s.get("cache") or {}).get(k) or 0) for s in snapshots.values()) for k in _CACHE}
    looked = cache["hits"] + cache["misses"]
    cache["hit_rate"] = round(cache["hits"] / looked, 4) if looked else None
    out["cache"] = cache
    out["replicas"] = len(snapshots)
    return out


class ClusterStats:
    """Publishes this replica's snapshot and reads everyone's."""

    def __init__(self, config: ClusterConfig, replica: str, timeout: float = 1.0) -> None:
        with extra("redis", "the gateway's cluster stats (cluster:)"):
            import redis.asyncio
            from redis.asyncio.retry import Retry
            from redis.backoff import NoBackoff

            from semantic_router.redis_urls import strip_password
        self._fault = redis.exceptions.RedisError
        self.config = config
        self.replica = replica
        self.prefix = f"{config.namespace}:replica:"
        self.safe_url = strip_password(config.redis_url)
        self._client = redis.asyncio.Redis.from_url(config.redis_url, protocol=2, socket_timeout=timeout,
                                                    socket_connect_timeout=timeout, retry=Retry(NoBackoff(), 1))
        self._last_warning = 0.0

    def _warn(self, what: str, exc: Exception) -> None:
        now = time.monotonic()
        if now - self._last_warning > 30:  # one line per 30 s while Redis is away
            self._last_warning = now
            log.warning("cluster stats: %s on Redis at %s failed: %s: %s", what, self.safe_url,
                        type(exc).__name__, exc)

    async def publish(self, snapshot: dict[str, Any]) -> bool:
        try:
            await self._client.set(self.prefix + self.replica, json.dumps(snapshot, separators=(",", ":")),
                                   px=int(self.config.ttl_seconds * 1000))
        except self._fault as exc:
            self._warn("publish", exc)
            return False
        return True

    async def replicas(self) -> dict[str, dict[str, Any]]:
        """Every live replica's last snapshot, by id."""
        keys = [k async for k in self._client.scan_iter(match=self.prefix + "*", count=500)]
        if not keys:
            return {}
        values = await self._client.mget(keys)
        out = {}
        for key, raw in zip(keys, values):
            if raw is None:
                continue
            try:
                out[(key.decode() if isinstance(key, bytes) else key)[len(self.prefix):]] = json.loads(raw)
            except ValueError:
                continue
        return out

    async def view(self, snapshot: dict[str, Any]) -> dict[str, Any]:
        """Publish `snapshot` now, then {"replicas": [...], "aggregate": {...}} (or {"error": ...})."""
        await self.publish(snapshot)
        try:
            everyone = await self.replicas()
        except self._fault as exc:
            self._warn("read", exc)
            return {"error": f"Redis at {self.safe_url} unavailable ({type(exc).__name__})"}
        return {"replicas": sorted(everyone), "aggregate": aggregate(everyone)}

    async def run(self, snapshot: Callable[[], dict[str, Any]]) -> None:
        """Publish every `publish_seconds` until cancelled."""
        while True:
            await self.publish(snapshot())
            await asyncio.sleep(self.config.publish_seconds)

    async def aclose(self) -> None:
        try:
            await self._client.delete(self.prefix + self.replica)
        except self._fault:
            pass
        await self._client.aclose()

"""Where a RedisVL-style router lives: its index (Redis, or in memory without Redis) and the copy
of its dict RedisVL keeps at ``<name>:route_config``, kept apart from the router so each file has
one job.

The shared router state under ``sr:<name>:`` is the truth this library reads; the route_config key
is written beside it for RedisVL's tooling and read back only to open a router RedisVL stored.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from semantic_router.index import Index, LocalIndex

__all__ = ["open_index", "check_stored_dtype", "RouteConfigKey"]

log = logging.getLogger(__name__)


def open_index(name: str, redis_url: str | None, redis_client: Any, dtype: str | None = None) -> Index:
    """A RedisIndex named after the router (keys under `sr:<name>:`, vectors stored as `dtype`,
    None: as stored), or a LocalIndex without Redis."""
    if redis_url is None and redis_client is None:
        return LocalIndex()
    from semantic_router.index import RedisIndex

    return RedisIndex(url=redis_url or "redis://localhost:6379", name=name, client=redis_client, dtype=dtype)


def check_stored_dtype(index: Index, name: str, dtype: str) -> None:
    """RedisVL's ValueError when the router stored under `name` keeps its vectors in another dtype."""
    stored = index.describe().get("dtype") if index.is_remote else None
    if stored not in (None, dtype):
        raise ValueError(f"Existing index {name} schema does not match the user provided schema for the semantic "
                         "router. If you wish to overwrite the index schema, set overwrite=True during initialization. "
                         f"(stored vectors: {stored}, dtype given: {dtype})")


class RouteConfigKey:
    """RedisVL's ``<name>:route_config`` key: the router's dict as JSON, a RedisJSON document where
    the server has RedisJSON (as RedisVL writes it, so RedisVL reads it), else a string."""

    def __init__(self, index: Index, name: str) -> None:
        self.client = getattr(index, "client", None) if index.is_remote else None
        self.key = f"{name}:route_config"

    def write(self, config: Callable[[], dict[str, Any]]) -> None:
        """Store `config()` (not called without Redis). A key holding something else is left alone, logged."""
        if self.client is None:
            return
        import redis

        doc = json.dumps(config())
        try:
            self.client.execute_command("JSON.SET", self.key, "$", doc)
            return
        except redis.exceptions.ResponseError as exc:
            refused = exc
        if "unknown command" in str(refused).lower() and self._type() in ("none", "string"):
            self.client.set(self.key, doc)  # no RedisJSON on this server: RedisVL could not have written it either
        else:
            log.warning("Redis key %s holds a %s, not a router config: RedisVL's copy of the router config is not "
                        "written (%s)", self.key, self._type(), refused)

    def read(self) -> Any:
        """The stored dict (None when the key is missing or holds something else)."""
        if self.client is None:
            return None
        kind = self._type()
        if kind not in ("string", "ReJSON-RL"):
            return None
        raw = self.client.get(self.key) if kind == "string" else self.client.execute_command("JSON.GET", self.key)
        try:
            return json.loads(raw)
        except ValueError:
            log.warning("Redis key %s holds no JSON router config; ignored", self.key)
            return None

    def delete(self) -> None:
        if self.client is not None:
            self.client.delete(self.key)

    def _type(self) -> str:
        if self.client is None:  # no Redis: nothing is stored
            return "none"
        kind = self.client.type(self.key)
        return kind.decode() if isinstance(kind, bytes) else str(kind)

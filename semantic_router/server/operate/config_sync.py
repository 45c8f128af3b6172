"""One config version for every replica: a config a replica adopted (PUT /admin/config, SIGHUP) is published on the
cluster's Redis, and every replica applies the newest published version.

Redis holds one hash `<namespace>:config` {version, sha256, text}, written by one Lua script that bumps the
version and writes all three fields at once (a reader never sees a partial write). A replica publishes only a
config it validated and built; the others poll the version every `poll_seconds` and apply a newer one through
the same checks as a pushed config (it cannot change the encoder or send a key to a new URL: the trust boundary
of `PUT /admin/config`). A replica that cannot apply a version (e.g. a file missing on that machine) keeps the
last good one, says so in /health, /stats and its log, and does not retry that version.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from semantic_router.extras import extra
from semantic_router.server.config import ClusterConfig

__all__ = ["ConfigSync", "Published", "PublishError"]

log = logging.getLogger("semantic_router.server.operate.config_sync")

# KEYS[1]: the config hash; ARGV: sha256, text. Returns the new version.
_PUBLISH = """
local v = tonumber(redis.call('HGET', KEYS[1], 'version') or '0') + 1
redis.call('HSET', KEYS[1], 'version', v, 'sha256', ARGV[1], 'text', ARGV[2])
return v
"""

Published = tuple[int, str, bytes]  # version, sha256 hex, config text
Apply = Callable[[int, bytes], Awaitable[Any]]


class PublishError(Exception):
    """The config could not be published (Redis unreachable): nothing changed anywhere."""


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class ConfigSync:
    """This replica's view of the shared config: the published version it runs (`version`), the one it could not
    apply (`failed_version`, with `error`), and the Redis calls to publish and read versions."""

    def __init__(self, config: ClusterConfig, timeout: float = 1.0) -> None:
        with extra("redis", "the gateway's shared config (cluster:)"):
            import redis.asyncio
            from redis.asyncio.retry import Retry
            from redis.backoff import NoBackoff

            from semantic_router.redis_urls import strip_password
        self._fault = redis.exceptions.RedisError
        self.poll_seconds = config.config_sync.poll_seconds
        self.key = f"{config.namespace}:config"
        self.safe_url = strip_password(config.redis_url)
        self._client = redis.asyncio.Redis.from_url(config.redis_url, protocol=2, socket_timeout=timeout,
                                                    socket_connect_timeout=timeout, retry=Retry(NoBackoff(), 1))
        self._script = self._client.register_script(_PUBLISH)
        self.version: int | None = None
        self.failed_version: int | None = None
        self.error: str | None = None
        self._last_warning = 0.0

    async def publish(self, text: bytes) -> int:
        """Publish a validated config; its new version number. PublishError when Redis cannot take it."""
        try:
            version = int(await self._script(keys=[self.key], args=[hashlib.sha256(text).hexdigest(), text]))
        except self._fault as exc:
            raise PublishError(f"could not publish the config on Redis at {self.safe_url} "
                               f"({type(exc).__name__}); nothing changed") from None
        self.version, self.failed_version, self.error = version, None, None
        log.info("published config version %d", version)
        return version

    async def latest(self) -> int | None:
        """The newest published version number (None: nothing published yet)."""
        raw = await self._client.hget(self.key, "version")
        return None if raw is None else int(raw)

    async def fetch(self) -> Published | None:
        """The newest published (version, sha256, text); None when nothing is published."""
        version, digest, text = await self._client.hmget(self.key, ["version", "sha256", "text"])
        if version is None or digest is None or text is None:
            return None
        return int(version), _text(digest), text if isinstance(text, bytes) else str(text).encode()

    def failed(self, version: int, error: str) -> None:
        self.failed_version = version
        self.error = f"cannot apply config version {version}: {error}"
        log.error("%s; keeping version %s", self.error, self.version if self.version is not None else "(start-up)")

    def applied(self, version: int) -> None:
        self.version, self.failed_version, self.error = version, None, None

    async def adopt(self, apply: Apply) -> bool:
        """Apply the newest published version if this replica does not run it yet (and has not failed it):
        `apply(version, text)`; the text's sha256 is checked first. True when a new version was applied."""
        latest = await self.latest()
        if latest is None or latest == self.failed_version or (self.version is not None and latest <= self.version):
            return False
        fetched = await self.fetch()
        if fetched is None:
            return False
        version, digest, text = fetched
        if hashlib.sha256(text).hexdigest() != digest:
            self.failed(version, "its text does not match its sha256 (a corrupt or foreign write)")
            return False
        return bool(await apply(version, text))

    async def run(self, apply: Apply, ready: Callable[[], bool]) -> None:
        """Adopt newer versions every `poll_seconds` once `ready()`, until cancelled; a Redis outage is logged
        (once per 30 s) and waited out."""
        while True:
            if ready():
                try:
                    await self.adopt(apply)
                except self._fault as exc:
                    now = time.monotonic()
                    if now - self._last_warning > 30:
                        self._last_warning = now
                        log.warning("config sync: reading Redis at %s failed: %s", self.safe_url, type(exc).__name__)
            await asyncio.sleep(self.poll_seconds)

    def status(self) -> dict[str, Any]:
        return {"shared": True, "version": self.version, "error": self.error}

    async def aclose(self) -> None:
        await self._client.aclose()

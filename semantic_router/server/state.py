"""What the gateway app keeps across reloads (`GatewayState`): the current Runtime, metrics, stats, cache stores.

It is the app's one shared object: the front door reads the current Runtime from it, and it is the `Observer`
the act phase reports to (so act/ never imports the metrics and stats of operate/).
"""

from __future__ import annotations

import logging
import time
from typing import Any

from semantic_router.server.act.cache import CacheHub, CacheMetrics
from semantic_router.errors import ConfigError
from semantic_router.server.config import GatewayConfig
from semantic_router.server.decide.classify import Classification
from semantic_router.server.decide.guards import GuardOutcome
from semantic_router.server.ingress.errors import APIError
from semantic_router.server.ingress.limits import KeyStore, Limiter, MemoryKeyStore
from semantic_router.server.ingress.limits_redis import RedisKeyStore
from semantic_router.server.operate.metrics import Metrics
from semantic_router.server.operate.reload import RuntimeHolder
from semantic_router.server.operate.stats import Stats
from semantic_router.server.runtime import Runtime

__all__ = ["GatewayState"]

log = logging.getLogger("semantic_router.server")


class GatewayState:
    """What the app keeps across reloads: the current Runtime (in a lease-counting holder), metrics, stats
    and the response-cache stores."""

    def __init__(self, runtime: Runtime | None) -> None:
        self.holder: RuntimeHolder[Runtime] = RuntimeHolder(None)
        self.metrics = Metrics()
        self.stats = Stats()
        self.cache_metrics = CacheMetrics(self.metrics.registry)
        self.cache_hub = CacheHub(self.cache_metrics)
        self.created = int(time.time())
        self.startup_error: str | None = None
        self.key_stores: dict[tuple[str, ...], KeyStore] = {}  # kept across reloads: keys and counters survive
        if runtime is not None:
            self.prepare(runtime)
            self.holder.swap(runtime)

    @property
    def runtime(self) -> Runtime | None:
        return self.holder.current

    def prepare(self, runtime: Runtime) -> Runtime:
        """Attach a Runtime's plugins to this app's services (before it serves); ConfigError if one refuses."""
        runtime.bind_plugins(self.metrics.registry, {"cache_hub": self.cache_hub})
        runtime.limiter = self.limiter_for(runtime.config)
        return runtime

    def limiter_for(self, config: GatewayConfig) -> Limiter | None:
        """The `limits:` section over this app's key store for it (memory, or Redis with `cluster.redis_url`);
        a reload that keeps the store keeps its keys and counters."""
        limits = config.limits
        if limits is None:
            return None
        if limits.store == "redis" and config.cluster is None:
            raise ConfigError("limits.store: 'redis' needs cluster.redis_url")
        url = config.cluster.redis_url if config.cluster is not None and limits.store != "memory" else None
        ident = ("memory",) if url is None else ("redis", url, limits.namespace)
        store = self.key_stores.get(ident)
        if store is None:
            store = self.key_stores[ident] = (MemoryKeyStore() if url is None
                                              else RedisKeyStore(url, limits.namespace, limits.redis_timeout))
        return Limiter(limits, store, list(config.models))

    async def aclose_key_stores(self) -> None:
        """Close the key stores (at shutdown, after the current Runtime's background charges)."""
        if self.runtime is not None and self.runtime.limiter is not None:
            await self.runtime.limiter.drained()
        for store in self.key_stores.values():
            await store.aclose()
        self.key_stores.clear()

    def swap(self, runtime: Runtime) -> Runtime | None:
        """Install a prepared Runtime; requests already running keep the one they started with (the old one
        closes after them). Returns the old. The new one keeps the health of the backends it shares with the old
        one and starts its health checks."""
        current = self.holder.current
        if current is not None and current is not runtime:
            runtime.upstreams.adopt(current.upstreams)
        runtime.upstreams.start(self)
        old = self.holder.swap(runtime)
        self.metrics.ready.set(1 if runtime.ready else 0)
        return old

    def require_ready(self, rt: Runtime | None) -> Runtime:
        if rt is None or not rt.ready:
            why = f" ({self.startup_error})" if self.startup_error else ""
            raise APIError(503, f"the router is still loading{why}; retry shortly", code="not_ready")
        return rt

    # -- observations: the act phase's `Observer` (and the front door's classification) ---------------------
    def observe_classification(self, c: Classification) -> None:
        self.metrics.routing_seconds.observe(c.ms / 1e3)
        for s in c.signals:
            if s.matched:
                self.metrics.signal_matches.labels(s.type, s.name).inc()

    def observe_guards(self, outcome: GuardOutcome) -> None:
        """Count each guard's verdict: its action when it fired, `pass` when not."""
        for v in outcome.verdicts:
            self.metrics.guard_verdicts.labels(v.name, v.action if v.matched else "pass").inc()
        self.stats.record_guards([(v.name, v.action if v.matched else "pass") for v in outcome.verdicts])

    def record_forward(self, route: str | None, decision: str, model: str, sticky: bool) -> None:
        self.metrics.requests.labels(decision, model).inc()
        self.stats.record(route, decision, model, sticky)

    def record_latency(self, ms: float) -> None:
        self.stats.record_latency(ms)

    def client_error(self, code: str) -> None:
        """A request refused with a 4xx (`code`: the error's code or status)."""
        self.stats.record_client_error()
        self.metrics.client_errors.labels(code).inc()

    def client_gone(self, phase: str) -> None:
        """A client that went away: mid-`request` body, waiting for the `upstream`, or mid-`stream` answer."""
        self.stats.record_client_disconnect(phase)
        self.metrics.client_disconnects.labels(phase).inc()

    def upstream_error(self, model: str, reason: str) -> None:
        self.metrics.upstream_errors.labels(model, reason).inc()
        self.stats.record_upstream_error(reason)

    def backend_ejected(self, model: str, backend: str, seconds: float) -> None:
        self.metrics.backend_ejections.labels(model, backend).inc()
        log.warning("backend %s of model %r ejected for %.1f s", backend, model, seconds)

    def backend_healthy(self, model: str, backend: str, healthy: bool) -> None:
        self.metrics.backend_healthy.labels(model, backend).set(1 if healthy else 0)
        if healthy:
            log.info("backend %s of model %r is back", backend, model)

    def observe_ttft(self, model: str, seconds: float) -> None:
        self.metrics.ttft_seconds.labels(model).observe(seconds)
        self.stats.record_latency(seconds * 1e3)

    def observe_usage(self, model: str, usage: dict[str, Any] | None) -> None:
        if not usage:
            return
        for kind in ("prompt_tokens", "completion_tokens"):
            value = usage.get(kind)
            if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
                self.metrics.tokens.labels(model, kind.removesuffix("_tokens")).inc(value)

"""Prometheus metrics of the response cache, registered once on the registry the app passes in.

Kept apart from the caches themselves: a hot reload builds new caches that report into the same metrics.
Plain counters mirror the Prometheus ones for `/stats` and the dashboard (hit rate per decision).
"""

from __future__ import annotations

from collections import Counter as Tally
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram

__all__ = ["CacheMetrics"]

_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25)


class CacheMetrics:
    """Hits (exact/semantic), misses (by reason), bypasses, stores, evictions, errors and lookup latency."""

    def __init__(self, registry: CollectorRegistry) -> None:
        r = registry
        self.hits = Counter("router_cache_hits", "Answers served from the cache", ["decision", "kind"], registry=r)
        self.misses = Counter("router_cache_misses", "Cache lookups that found no answer", ["decision", "reason"],
                              registry=r)
        self.bypasses = Counter("router_cache_bypasses", "Requests that skipped the cache", ["decision", "reason"],
                                registry=r)
        self.stores = Counter("router_cache_stores", "Answers stored in the cache", ["decision"], registry=r)
        self.evictions = Counter("router_cache_evictions", "Entries evicted to stay under max_entries",
                                 ["decision"], registry=r)
        self.errors = Counter("router_cache_errors", "Cache store failures (the request went on uncached)",
                              ["decision", "op"], registry=r)
        self.lookup_seconds = Histogram("router_cache_lookup_seconds", "Time of one cache lookup", ["decision"],
                                        buckets=_BUCKETS, registry=r)
        self.tally: Tally[tuple[str, str]] = Tally()

    def hit(self, decision: str, kind: str, seconds: float) -> None:
        self.hits.labels(decision, kind).inc()
        self.lookup_seconds.labels(decision).observe(seconds)
        self.tally[(decision, "hits")] += 1

    def miss(self, decision: str, reason: str, seconds: float) -> None:
        self.misses.labels(decision, reason).inc()
        self.lookup_seconds.labels(decision).observe(seconds)
        self.tally[(decision, "misses")] += 1

    def bypass(self, decision: str, reason: str) -> None:
        self.bypasses.labels(decision, reason).inc()
        self.tally[(decision, "bypasses")] += 1

    def stored(self, decision: str, evicted: int) -> None:
        self.stores.labels(decision).inc()
        self.tally[(decision, "stores")] += 1
        if evicted:
            self.evictions.labels(decision).inc(evicted)
            self.tally[(decision, "evictions")] += evicted

    def error(self, decision: str, op: str) -> None:
        self.errors.labels(decision, op).inc()
        self.tally[(decision, "errors")] += 1

    def snapshot(self) -> dict[str, Any]:
        """{"hits", "misses", "bypasses", "stores", "evictions", "errors", "hit_rate", "decisions": {...}}."""
        per: dict[str, dict[str, int]] = {}
        for (decision, what), n in self.tally.items():
            per.setdefault(decision, {})[what] = n
        kinds = ("hits", "misses", "bypasses", "stores", "evictions", "errors")
        total = {k: sum(d.get(k, 0) for d in per.values()) for k in kinds}
        looked = total["hits"] + total["misses"]
        return {**total, "hit_rate": round(total["hits"] / looked, 4) if looked else None,
                "decisions": {d: {k: v.get(k, 0) for k in kinds} for d, v in sorted(per.items())}}

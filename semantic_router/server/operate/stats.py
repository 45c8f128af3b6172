"""Counters behind `GET /stats`: total requests and counts per route, decision and model."""

from __future__ import annotations

import threading
import time
from collections import Counter, deque
from typing import Any

import numpy as np

__all__ = ["Stats"]


class Stats:
    """Thread-safe counts of forwarded chat completions (and of /v1/route classifications, separately)."""

    def __init__(self, latency_window: int = 4096) -> None:
        self._lock = threading.Lock()
        self.latencies: deque[float] = deque(maxlen=latency_window)  # ms of the most recent answers
        self.started = time.time()
        self.total = 0
        self.routes: Counter[str] = Counter()
        self.decisions: Counter[str] = Counter()
        self.models: Counter[str] = Counter()
        self.upstream_errors: Counter[str] = Counter()
        self.client_errors = 0
        self.client_disconnects: Counter[str] = Counter()
        self.classifications = 0
        self.sticky = 0
        self.guards: Counter[str] = Counter()  # "guard:outcome" (its action when it fired, pass when not)

    def record(self, route: str | None, decision: str, model: str, sticky: bool = False) -> None:
        with self._lock:
            self.total += 1
            self.routes[route or "none"] += 1
            self.decisions[decision] += 1
            self.models[model] += 1
            self.sticky += sticky

    def record_latency(self, ms: float) -> None:
        """Time to the answer's first byte (whole answer when not streamed; cache hits included)."""
        with self._lock:
            self.latencies.append(ms)

    def latency_percentiles(self) -> dict[str, float | int | None]:
        with self._lock:
            window = np.fromiter(self.latencies, dtype=float)
        if not window.size:
            return {"p50": None, "p90": None, "p99": None, "window": 0}
        p50, p90, p99 = np.percentile(window, [50, 90, 99])
        return {"p50": round(float(p50), 3), "p90": round(float(p90), 3), "p99": round(float(p99), 3),
                "window": int(window.size)}

    def record_classification(self, n: int = 1) -> None:
        with self._lock:
            self.classifications += n

    def record_guards(self, verdicts: list[tuple[str, str]]) -> None:
        """(guard, outcome) of one chat request's guards."""
        if verdicts:
            with self._lock:
                self.guards.update(f"{name}:{outcome}" for name, outcome in verdicts)

    def record_upstream_error(self, reason: str) -> None:
        with self._lock:
            self.upstream_errors[reason] += 1

    def record_client_error(self) -> None:
        with self._lock:
            self.client_errors += 1

    def record_client_disconnect(self, phase: str) -> None:
        with self._lock:
            self.client_disconnects[phase] += 1

    def snapshot(self, extra: dict[str, Any] | None = None) -> dict[str, Any]:
        with self._lock:
            out = {"total_requests": self.total, "routes": dict(self.routes), "decisions": dict(self.decisions),
                   "models": dict(self.models), "sticky_requests": self.sticky,
                   "guards": dict(self.guards),
                   "route_requests": self.classifications, "upstream_errors": dict(self.upstream_errors),
                   "client_errors": self.client_errors,
                   "client_disconnects": dict(self.client_disconnects), "uptime_seconds": round(time.time() - self.started, 3)}
        return {**out, "latency_ms": self.latency_percentiles(), **(extra or {})}

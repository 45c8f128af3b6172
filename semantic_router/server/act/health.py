"""The health of one backend (`BackendHealth`) and the order a request tries a model's backends (`choose`).

A backend is `healthy`, `ejected` (in its cooldown: no request reaches it) or, once the cooldown is over,
`half_open`: the next request is its one trial (others skip it meanwhile); the trial's success brings it back,
a failure ejects it again for twice as long (capped). Repeat ejections are forgotten after the backend stayed
healthy for `max_ejection_seconds`. Only failures that are the backend's (5xx, timeout, connection error)
count; a 4xx is the client's. Everything runs on the event loop, so no lock; the clock is injectable for tests.
"""

from __future__ import annotations

import random
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from semantic_router.server.act.health_config import BalancingConfig

__all__ = ["BackendHealth", "HealthListener", "choose"]


class HealthListener(Protocol):
    """Told when a backend is ejected (and for how long) and when its health changes (metrics live in operate/)."""

    def backend_ejected(self, model: str, backend: str, seconds: float) -> None: ...

    def backend_healthy(self, model: str, backend: str, healthy: bool) -> None: ...


class BackendHealth:
    """Outlier detection, in-flight count and latency average of one backend of one model."""

    def __init__(self, model: str, url: str, policy: BalancingConfig,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.model = model
        self.url = url
        self.policy = policy
        self.clock = clock
        self.listener: HealthListener | None = None
        self.inflight = 0
        self.ewma_ms: float | None = None
        self.requests = 0
        self.failures = 0  # every failed request, for /stats
        self.consecutive = 0
        self.ejections = 0  # ejections since it last stayed healthy for max_ejection_seconds
        self.total_ejections = 0
        self.ejected_until = 0.0  # clock time its cooldown ends (0: never ejected)
        self.ejected_at: float | None = None  # clock time of the latest ejection
        self.restored_at = 0.0
        self.trial = False  # half-open: a trial request is in flight
        self.check_failures = 0  # active health checks failed in a row
        self._window: deque[tuple[float, bool]] = deque()

    # -- state ----------------------------------------------------------------------------------------------
    @property
    def ejected(self) -> bool:
        """Taken out (cooling down, or half-open and not yet proven)."""
        return self.ejected_at is not None

    def state(self, now: float | None = None) -> str:
        if self.ejected_at is None:
            return "healthy"
        now = self.clock() if now is None else now
        return "ejected" if now < self.ejected_until or self.trial else "half_open"

    def available(self, now: float) -> bool:
        """Whether a request may go to it now (healthy, or half-open with no trial running)."""
        return self.ejected_at is None or (now >= self.ejected_until and not self.trial)

    # -- a request's life -----------------------------------------------------------------------------------
    def begin(self) -> bool:
        """A request starts; True when it is the half-open trial."""
        self.inflight += 1
        self.requests += 1
        if self.ejected_at is not None and not self.trial and self.clock() >= self.ejected_until:
            self.trial = True
            return True
        return False

    def release(self) -> None:
        """A request's answer is over (its body read or its stream closed)."""
        self.inflight = max(0, self.inflight - 1)

    def abandon(self, trial: bool) -> None:
        """An attempt that proved nothing (cancelled, or a stale pooled connection): if it was the trial, the
        next request gets to be the trial."""
        if trial:
            self.trial = False

    def settle(self, ok: bool, ms: float | None, trial: bool) -> None:
        """The outcome of a request: `ok` (a final status from the backend) with its latency, or a failure."""
        now = self.clock()
        if trial:
            self.trial = False
        outlier = self.policy.outlier
        self._window.append((now, ok))
        while self._window and self._window[0][0] < now - outlier.window_seconds:
            self._window.popleft()
        if ok:
            self.consecutive = 0
            if ms is not None:
                a = self.policy.latency_alpha
                self.ewma_ms = ms if self.ewma_ms is None else a * ms + (1 - a) * self.ewma_ms
            if trial and self.ejected_at is not None:
                self.restore(now)
            return
        self.failures += 1
        self.consecutive += 1
        if not outlier.enabled:
            return
        if trial or (self.ejected_at is None and self._tripped()):
            self.eject(now)

    def _tripped(self) -> bool:
        outlier = self.policy.outlier
        if self.consecutive >= outlier.consecutive_failures:
            return True
        if outlier.error_rate is None or len(self._window) < outlier.min_requests:
            return False
        failed = sum(1 for _, ok in self._window if not ok)
        return failed / len(self._window) >= outlier.error_rate

    # -- transitions ------------------------------------------------------------------------------------------
    def eject(self, now: float | None = None) -> float:
        """Take it out for its next cooldown (base * 2^repeats, capped); returns the cooldown in seconds."""
        now = self.clock() if now is None else now
        outlier = self.policy.outlier
        if self.ejected_at is None and self.ejections and now - self.restored_at >= outlier.max_ejection_seconds:
            self.ejections = 0  # it stayed healthy long enough: repeats start over
        seconds = min(outlier.base_ejection_seconds * (1 << min(self.ejections, 30)), outlier.max_ejection_seconds)
        was_healthy = self.ejected_at is None
        self.ejections += 1
        self.total_ejections += 1
        self.ejected_at, self.ejected_until = now, now + seconds
        self.trial = False
        self.consecutive = 0
        self._window.clear()
        if self.listener is not None:
            self.listener.backend_ejected(self.model, self.url, seconds)
            if was_healthy:
                self.listener.backend_healthy(self.model, self.url, False)
        return seconds

    def restore(self, now: float | None = None) -> None:
        """Bring it back (a trial or an active check passed)."""
        self.ejected_at = None
        self.trial = False
        self.consecutive = 0
        self.check_failures = 0
        self.restored_at = self.clock() if now is None else now
        if self.listener is not None:
            self.listener.backend_healthy(self.model, self.url, True)

    def checked(self, ok: bool) -> None:
        """An active health check's result."""
        if ok:
            self.check_failures = 0
            if self.ejected_at is not None and self.clock() >= self.ejected_until and not self.trial:
                self.restore()
            return
        self.check_failures += 1
        check = self.policy.health_check
        threshold = check.unhealthy_threshold if check is not None else 1
        if self.check_failures >= threshold and self.available(self.clock()):
            self.check_failures = 0
            self.eject()

    def snapshot(self, wall_offset: float) -> dict[str, Any]:
        """For /stats: state, `ejected_until` (epoch seconds, or None), in flight, latency average, counts."""
        now = self.clock()
        until = None if self.ejected_at is None else round(self.ejected_until + wall_offset, 3)
        return {"url": self.url, "state": self.state(now), "healthy": self.ejected_at is None,
                "ejected_until": until,
                "cooldown_seconds": None if self.ejected_at is None else round(self.ejected_until - self.ejected_at, 3),
                "inflight": self.inflight,
                "ewma_ms": None if self.ewma_ms is None else round(self.ewma_ms, 3), "requests": self.requests,
                "failures": self.failures, "consecutive_failures": self.consecutive,
                "ejections": self.total_ejections}


def choose(items: Sequence[Any], health: Callable[[Any], BackendHealth], weight: Callable[[Any], float],
           policy: BalancingConfig, rng: random.Random, now: float) -> list[Any]:
    """The available items (backends) in the order a request tries them, by the policy's strategy; the ones
    taken out are left off (an empty list: every one is ejected)."""
    ready = [b for b in items if health(b).available(now)]
    if len(ready) <= 1:
        return ready
    strategy = policy.strategy
    if strategy == "latency" and rng.random() < policy.latency_explore:
        strategy = "weighted"
    if strategy == "least_outstanding":
        return sorted(ready, key=lambda b: (health(b).inflight / weight(b), rng.random()))
    if strategy == "latency":  # unmeasured first (so each gets measured), then the fastest, crowded ones later
        return sorted(ready, key=lambda b: ((health(b).ewma_ms or 0.0) * (1 + health(b).inflight), rng.random()))
    return sorted(ready, key=lambda b: rng.random() ** (1.0 / weight(b)), reverse=True)

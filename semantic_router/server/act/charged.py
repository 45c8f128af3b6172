"""`Charged`: an `Observer` that also charges a virtual key for the usage its answer reports (whole or streamed)."""

from __future__ import annotations

from typing import Any

from semantic_router.server.act.chat import Observer
from semantic_router.server.ingress.limits import Grant, KeyRecord, Limiter

__all__ = ["Charged"]


class Charged:
    """Reports to `inner` as it would, and charges `key` (under the `grant` it was admitted with) with the
    tokens of the backend's `usage`."""

    def __init__(self, inner: Observer, limiter: Limiter, key: KeyRecord, grant: Grant) -> None:
        self.inner = inner
        self.limiter = limiter
        self.key = key
        self.grant = grant

    def record_forward(self, route: str | None, decision: str, model: str, sticky: bool) -> None:
        self.inner.record_forward(route, decision, model, sticky)

    def record_latency(self, ms: float) -> None:
        self.inner.record_latency(ms)

    def client_gone(self, phase: str) -> None:
        self.inner.client_gone(phase)

    def upstream_error(self, model: str, reason: str) -> None:
        self.inner.upstream_error(model, reason)

    def observe_ttft(self, model: str, seconds: float) -> None:
        self.inner.observe_ttft(model, seconds)

    def observe_usage(self, model: str, usage: dict[str, Any] | None) -> None:
        self.inner.observe_usage(model, usage)
        self.limiter.charge_later(self.key, self.grant, model, usage)

"""Prometheus metrics of one app, in its own CollectorRegistry (never the process-global one)."""

from __future__ import annotations

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

__all__ = ["CONTENT_TYPE_LATEST", "Metrics"]

_LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0)
_TTFT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class Metrics:
    """Requests by model and decision, routing latency, signal matches, guard verdicts, upstream errors, TTFT,
    tokens."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter("router_requests", "Chat completion requests by decision and model",
                                ["decision", "model"], registry=r)
        self.routing_seconds = Histogram("router_routing_seconds", "Time to classify and decide",
                                         buckets=_LATENCY_BUCKETS, registry=r)
        self.signal_matches = Counter("router_signal_matches", "Signals that matched", ["type", "name"], registry=r)
        self.upstream_errors = Counter("router_upstream_errors", "Failed upstream attempts by reason",
                                       ["model", "reason"], registry=r)
        self.ttft_seconds = Histogram("router_time_to_first_token_seconds",
                                      "Request start to the first upstream byte", ["model"],
                                      buckets=_TTFT_BUCKETS, registry=r)
        self.tokens = Counter("router_tokens", "Tokens reported by upstream usage", ["model", "kind"], registry=r)
        self.client_errors = Counter("router_client_errors", "Requests refused with a 4xx", ["code"], registry=r)
        self.client_disconnects = Counter("router_client_disconnects", "Clients that went away before their answer "
                                          "was complete, by phase (request, upstream, stream)", ["phase"], registry=r)
        self.batch_size = Histogram("router_classify_batch_size", "Requests per micro-batch",
                                    buckets=(1, 2, 4, 8, 16, 32, 64, 128), registry=r)
        self.guard_verdicts = Counter("router_guard_verdicts", "Guard verdicts by guard and outcome (its action when "
                                      "it fired: block, route, redact, tag; pass when not)", ["guard", "outcome"],
                                      registry=r)
        self.ready = Gauge("router_ready", "1 once the router model is loaded and warm", registry=r)

    def render(self) -> bytes:
        return generate_latest(self.registry)

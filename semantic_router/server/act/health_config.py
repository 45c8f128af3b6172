"""The `balancing:` section of a gateway config: how a model's backends are chosen, when one is taken out
(passive outlier detection), and the optional active health checks. Gateway-wide, with per-model overrides
(`models.NAME.balancing`: the fields it sets replace the gateway-wide ones, see `effective_balancing`)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = ["ActiveHealthConfig", "BalancingConfig", "OutlierConfig", "Strategy", "effective_balancing"]

Strategy = Literal["weighted", "least_outstanding", "latency"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class OutlierConfig(_Strict):
    """Passive outlier detection: a backend whose answers fail (5xx, timeout, connection error) is ejected for a
    cooldown: `base_ejection_seconds`, doubled on each repeat ejection, at most `max_ejection_seconds`. After the
    cooldown it is half-open: one trial request; success brings it back, failure ejects it again (longer)."""

    enabled: bool = True
    consecutive_failures: int = Field(default=5, ge=1, le=1000,
                                      description="failures in a row that eject a backend")
    error_rate: float | None = Field(default=0.5, gt=0.0, le=1.0,
                                     description="share of failed requests within window_seconds that ejects "
                                                 "(None: off)")
    window_seconds: float = Field(default=30.0, gt=0.0, le=3600.0)
    min_requests: int = Field(default=20, ge=1, le=100_000,
                              description="requests the window needs before error_rate is judged")
    base_ejection_seconds: float = Field(default=10.0, gt=0.0, le=86400.0)
    max_ejection_seconds: float = Field(default=300.0, gt=0.0, le=86400.0)

    @model_validator(mode="after")
    def _caps(self) -> OutlierConfig:
        if self.max_ejection_seconds < self.base_ejection_seconds:
            raise ValueError(f"max_ejection_seconds ({self.max_ejection_seconds}) must be at least "
                             f"base_ejection_seconds ({self.base_ejection_seconds})")
        return self


class ActiveHealthConfig(_Strict):
    """A periodic `GET <base_url><path>` to every backend (with the backend's key); a status below 400 passes.
    `unhealthy_threshold` failed checks in a row eject the backend (as a passive ejection would); once its
    cooldown is over, a passing check brings it back without waiting for a client's trial request."""

    path: str = "/models"
    interval_seconds: float = Field(default=10.0, ge=0.05, le=3600.0)
    timeout_seconds: float = Field(default=2.0, gt=0.0, le=60.0)
    unhealthy_threshold: int = Field(default=2, ge=1, le=100)

    @field_validator("path")
    @classmethod
    def _path(cls, v: str) -> str:
        if not v.startswith("/") or "//" in v or any(c.isspace() for c in v) or "://" in v:
            raise ValueError(f"path must be an absolute path under the backend's base_url like '/models', got {v!r}")
        return v

    @model_validator(mode="after")
    def _bounded(self) -> ActiveHealthConfig:
        if self.timeout_seconds > self.interval_seconds:
            raise ValueError(f"timeout_seconds ({self.timeout_seconds}) must not exceed interval_seconds "
                             f"({self.interval_seconds})")
        return self


class BalancingConfig(_Strict):
    """How a request picks among a model's healthy backends: `weighted` (random by weight), `least_outstanding`
    (fewest requests in flight per unit of weight) or `latency` (lowest moving average of observed latency;
    `latency_explore` of requests go weighted so a backend that was slow once gets measured again)."""

    strategy: Strategy = "weighted"
    outlier: OutlierConfig = Field(default_factory=OutlierConfig)
    health_check: ActiveHealthConfig | None = None
    latency_alpha: float = Field(default=0.3, gt=0.0, le=1.0, description="weight of the newest latency sample")
    latency_explore: float = Field(default=0.05, ge=0.0, le=1.0)


def effective_balancing(gateway: BalancingConfig, model: BalancingConfig | None) -> BalancingConfig:
    """A model's balancing: the gateway-wide section with the fields the model's own section sets replacing it."""
    if model is None:
        return gateway
    return gateway.model_copy(update={k: getattr(model, k) for k in model.model_fields_set})

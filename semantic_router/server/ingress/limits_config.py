"""`LimitsConfig`: the `limits:` section of the gateway config (virtual API keys, their limits and budgets).

Keys themselves are created at run time (`POST /admin/keys`) and live in a key store: in memory, or on the
cluster's Redis (`cluster.redis_url`) so that every replica sees and enforces the same keys and counters.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["KEY_PREFIX", "LimitsConfig", "TenantLimits"]

KEY_PREFIX = "sk-sr-"  # every virtual key's secret starts with it: other bearer tokens are the static gateway keys


class TenantLimits(BaseModel):
    """A budget shared by every key of one tenant."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    budget: float = Field(gt=0.0, description="spend (in `budget_unit`) after which the tenant's keys get 429")


class LimitsConfig(BaseModel):
    """Virtual keys: where they are stored, how spend is counted and the tenants' budgets."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    store: Literal["auto", "memory", "redis"] = Field(
        default="auto", description="auto: Redis when `cluster.redis_url` is set, else memory (one replica)")
    namespace: str = Field(default="srkeys", pattern=r"^[A-Za-z0-9_.-]{1,64}$",
                           description="key prefix in Redis; replicas sharing it share keys, counters and spend")
    require_key: bool = Field(default=False, description="refuse (401) requests that carry no virtual key")
    budget_unit: Literal["tokens", "price"] = Field(
        default="tokens", description="tokens: spend = total tokens; price: tokens / 1000 * prices[model]")
    prices: dict[str, float] = Field(default_factory=dict,
                                     description="price per 1000 tokens (prompt + completion) per configured model")
    tenants: dict[str, TenantLimits] = Field(default_factory=dict)
    redis_timeout: float = Field(default=1.0, gt=0.0, le=30.0,
                                 description="seconds a Redis call may take before the request gets 503")

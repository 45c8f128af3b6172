"""`CacheConfig`: the options of the `cache` plugin of a decision (strict pydantic, unknown keys refused)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = ["CacheConfig", "CacheMode"]

CacheMode = Literal["exact", "semantic", "exact_then_semantic"]


class CacheConfig(BaseModel):
    """How a decision caches answers: lookup mode, similarity threshold, backend, TTL, size and what is cacheable."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    mode: CacheMode = "exact_then_semantic"
    similarity_threshold: float = Field(default=0.92, gt=0.0, le=1.0,
                                        description="cosine similarity a semantic hit needs")
    backend: Literal["memory", "redis"] = "memory"
    redis_url: str | None = Field(default=None, description="redis://host:port/db (backend: redis)")
    namespace: str = Field(default="srcache", pattern=r"^[A-Za-z0-9_.-]{1,64}$",
                           description="key prefix in Redis; replicas sharing a namespace share the cache")
    ttl_seconds: float = Field(default=3600.0, gt=0.0)
    refresh_ttl_on_hit: bool = False
    max_entries: int = Field(default=10_000, gt=0)
    max_temperature: float = Field(default=0.0, ge=0.0,
                                   description="requests with a higher temperature are never cached")
    default_temperature: float = Field(default=0.0, ge=0.0,
                                       description="temperature assumed when a request sends none")
    max_n: int = Field(default=1, ge=1, description="requests asking for more choices are never cached")
    bypass_header: str = Field(default="x-router-cache-bypass", pattern=r"^[A-Za-z0-9-]{1,64}$",
                               description="a request carrying this header (any value but 0/false) skips the cache")
    redis_timeout: float = Field(default=0.25, gt=0.0, le=10.0, description="seconds per Redis call")
    redis_retry_after: float = Field(default=1.0, ge=0.0,
                                     description="seconds to skip Redis after it failed (misses meanwhile)")

    @model_validator(mode="after")
    def _backend_needs(self) -> CacheConfig:
        if self.backend == "redis" and not self.redis_url:
            raise ValueError("backend 'redis' needs redis_url")
        if self.backend == "memory" and self.redis_url:
            raise ValueError("redis_url is only used with backend 'redis'")
        return self

    @property
    def semantic(self) -> bool:
        return self.mode != "exact"

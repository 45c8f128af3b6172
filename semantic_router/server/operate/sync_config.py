"""The `cluster.config_sync:` section: one config version for every replica on the cluster's Redis."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["ConfigSyncConfig"]


class ConfigSyncConfig(BaseModel):
    """With `enabled` (the default once `cluster:` is set), a config reload on any replica (PUT /admin/config,
    SIGHUP) is published on Redis as a numbered version and every replica applies it within `poll_seconds`."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    enabled: bool = True
    poll_seconds: float = Field(default=1.0, ge=0.05, le=60.0,
                                description="how often a replica looks for a newer published version")

"""The `ext_proc:` section of the gateway config: how the external processor answers Envoy."""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = ["ExtProcConfig"]

_HEADER = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")


class ExtProcConfig(BaseModel):
    """`fail_open`: on an internal failure (a bug, the router not ready yet, a decision past `timeout_seconds`)
    let the request through unchanged (true) or answer it with an OpenAI-shaped 500/503/504 (false, the default,
    like Envoy's own `failure_mode_allow: false`). Client faults (bad JSON, unknown model, oversized body, a
    missing gateway key) are always answered like the HTTP proxy answers them. `model_header` carries the chosen
    model to Envoy's route table. `timeout_seconds` bounds the decision of one request so Envoy's
    `message_timeout` (set it above this) never fires first."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    fail_open: bool = False
    model_header: str = Field(default="x-selected-model", description="request header Envoy routes on")
    timeout_seconds: float = Field(default=5.0, gt=0.0, le=300.0)

    @field_validator("model_header")
    @classmethod
    def _lower_header(cls, value: str) -> str:
        if not _HEADER.match(value) or value.startswith("x-router-"):
            raise ValueError(f"model_header {value!r} must be a lower-case header name (letters, digits, '-'), "
                             "not one of the gateway's own x-router-* headers")
        return value

"""Optional gateway API keys: `Authorization: Bearer <key>`, compared in constant time."""

from __future__ import annotations

import hmac
import os

from semantic_router.errors import ConfigError
from semantic_router.server.config import ServerConfig
from semantic_router.server.errors import APIError

__all__ = ["GatewayKeys"]


class GatewayKeys:
    """The accepted keys (from an env var, comma-separated, and/or a file, one per line); none = open."""

    def __init__(self, keys: list[str]) -> None:
        self._keys = tuple(k.encode() for k in keys)

    @classmethod
    def from_config(cls, server: ServerConfig, resolve) -> GatewayKeys:
        keys: list[str] = []
        if server.api_keys_env is not None:
            value = os.environ.get(server.api_keys_env)
            if not value:
                raise ConfigError(f"server.api_keys_env: environment variable {server.api_keys_env!r} is not set")
            keys += [k.strip() for k in value.split(",") if k.strip()]
        if server.api_keys_file is not None:
            path = resolve(server.api_keys_file, "server.api_keys_file")
            try:
                keys += [line.strip() for line in path.read_text(encoding="utf-8").splitlines()
                         if line.strip() and not line.startswith("#")]
            except OSError as exc:
                raise ConfigError(f"server.api_keys_file: cannot read {server.api_keys_file!r}: {exc.strerror}") from None
        if (server.api_keys_env or server.api_keys_file) and not keys:
            raise ConfigError("server: gateway API keys are configured but none was found")
        return cls(keys)

    @property
    def enabled(self) -> bool:
        return bool(self._keys)

    def check(self, authorization: str | None) -> None:
        """Raise 401 unless the header carries an accepted key; every key is compared (no early exit)."""
        if not self._keys:
            return
        scheme, _, token = (authorization or "").partition(" ")
        given = token.strip().encode() if scheme.lower() == "bearer" else b""
        ok = False
        for key in self._keys:
            ok |= hmac.compare_digest(given, key)
        if not ok:
            raise APIError(401, "missing or invalid API key (send 'Authorization: Bearer <key>')",
                           code="invalid_api_key")

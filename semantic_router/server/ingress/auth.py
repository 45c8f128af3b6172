"""Optional gateway API keys (`Authorization: Bearer <key>`, compared in constant time) and the tenant a request
belongs to, which is derived from its key and nothing else."""

from __future__ import annotations

import hashlib
import hmac
import os

from semantic_router.errors import ConfigError
from semantic_router.server.config import ServerConfig
from semantic_router.server.ingress.errors import APIError

__all__ = ["GatewayKeys", "tenant_id"]


def _bearer(authorization: str | None) -> str:
    scheme, _, token = (authorization or "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def tenant_id(authorization: str | None) -> str:
    """A stable, non-reversible id of the caller's key ("anonymous" without one). Every cache entry and sticky
    session is scoped by it. With gateway keys configured only an accepted key gets this far; without them the
    bearer token is the only identity there is, and keeps clients sending different tokens apart."""
    token = _bearer(authorization)
    if not token:
        return "anonymous"
    return "key-" + hashlib.sha256(b"sr-tenant\0" + token.encode()).hexdigest()[:24]


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

    def check(self, authorization: str | None) -> str:
        """The request's tenant id; 401 unless the header carries an accepted key (every key is compared, no
        early exit)."""
        if not self._keys:
            return tenant_id(authorization)
        given = _bearer(authorization).encode()
        ok = False
        for key in self._keys:
            ok |= hmac.compare_digest(given, key)
        if not ok:
            raise APIError(401, "missing or invalid API key (send 'Authorization: Bearer <key>')",
                           code="invalid_api_key")
        return tenant_id(authorization)

"""Upstream models: one pooled `httpx.AsyncClient` per backend, weighted choice, retries and fallback.

A timeout, connection error or 5xx moves on to another backend of the same model (in weighted-random order),
then to the next model of the chain (the decision's fallback). A 4xx is the client's problem and is returned
unchanged. Retries only happen before the client received a byte, so no request is answered twice.
Backend API keys come from the environment and live only in the clients' default headers.
"""

from __future__ import annotations

import asyncio
import os
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from semantic_router.errors import ConfigError
from semantic_router.server.config import GatewayConfig, ModelConfig

__all__ = ["Backend", "ModelPool", "Opened", "UpstreamFailure", "Upstreams"]

# idle connections are dropped before the usual 5 s server keep-alive, so a reused one is rarely already closed
_LIMITS = httpx.Limits(max_connections=512, max_keepalive_connections=128, keepalive_expiry=4.0)
# a connection the server closed while idle fails like this before any answer: worth one fresh try
_STALE = (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError)


@dataclass(eq=False)
class Backend:
    """One server of a model."""

    url: str
    weight: float
    client: httpx.AsyncClient


class ModelPool:
    """The backends of one configured model."""

    def __init__(self, name: str, config: ModelConfig, backends: list[Backend]) -> None:
        self.name = name
        self.config = config
        self.backends = backends
        self.timeout = httpx.Timeout(config.timeout, connect=config.connect_timeout)

    def order(self, rng: random.Random) -> list[Backend]:
        """Every backend once, in weighted-random order (heavier ones tend to come first)."""
        if len(self.backends) == 1:
            return list(self.backends)
        return sorted(self.backends, key=lambda b: rng.random() ** (1.0 / b.weight), reverse=True)


@dataclass
class Opened:
    """An upstream response whose status is final (2xx or 4xx): its model, backend and open response."""

    model: str
    backend: Backend
    response: httpx.Response
    attempts: int


class UpstreamFailure(Exception):
    """Every backend of every model in the chain failed; `reason` is the last failure's kind."""

    def __init__(self, reason: str, detail: str, status: int = 502) -> None:
        super().__init__(detail)
        self.reason = reason
        self.status = status


class Upstreams:
    """All model pools; build with `from_config`, close with `aclose()`."""

    def __init__(self, pools: dict[str, ModelPool], rng: random.Random | None = None) -> None:
        self.pools = pools
        self.rng = rng or random.Random()

    @classmethod
    def from_config(cls, config: GatewayConfig) -> Upstreams:
        pools = {}
        for name, model in config.models.items():
            backends = []
            for i, b in enumerate(model.backends):
                headers = {}
                if b.api_key_env is not None:
                    key = os.environ.get(b.api_key_env)
                    if not key:
                        raise ConfigError(f"models.{name}.backends[{i}].api_key_env: environment variable "
                                          f"{b.api_key_env!r} is not set")
                    headers.update({"x-api-key": key} if b.auth == "x-api-key" else {"authorization": f"Bearer {key}"})
                client = httpx.AsyncClient(headers=headers, limits=_LIMITS, trust_env=False)
                backends.append(Backend(b.base_url, b.weight, client))
            pools[name] = ModelPool(name, model, backends)
        return cls(pools)

    async def aclose(self) -> None:
        await asyncio.gather(*(b.client.aclose() for p in self.pools.values() for b in p.backends))

    async def _attempt(self, model: str, pool: ModelPool, backend: Backend, payload: dict[str, Any],
                       stream: bool, path: str, headers: dict[str, str] | None) -> tuple[httpx.Response | None, str, str, bool]:
        """One POST: (the response when its status is final, else None with the failure's reason, detail and
        whether a fresh connection may help)."""
        response = None
        try:
            request = backend.client.build_request("POST", f"{backend.url}{path}", json=payload,
                                                   headers=headers, timeout=pool.timeout)
            response = await backend.client.send(request, stream=True)
            if response.status_code >= 500:
                await response.aclose()
                return None, "http_5xx", f"model {model!r} answered HTTP {response.status_code}", False
            if not stream:
                await response.aread()
            return response, "", "", False
        except httpx.TimeoutException:
            failure = ("timeout", f"model {model!r} timed out", False)
        except httpx.TransportError as exc:
            failure = ("connect", f"model {model!r} unreachable ({type(exc).__name__})", isinstance(exc, _STALE))
        except BaseException:  # cancelled (the client went away): release the connection
            if response is not None:
                await response.aclose()
            raise
        if response is not None:
            await response.aclose()
        return None, *failure

    async def open(self, chain: list[str], payload_for: Callable[[str], dict[str, Any]], stream: bool,
                   on_error: Callable[[str, str], None], path: str = "/chat/completions",
                   headers: dict[str, str] | None = None) -> Opened:
        """POST the request (a chat completion unless `path` names another API, with `headers` added) to the
        first backend that answers with a final status.

        `payload_for(model)` builds the body for a model (names and reasoning fields differ per model);
        `on_error(model, reason)` is told of every failed attempt. Non-streaming bodies are read here, so a
        timeout while reading also moves on to the next backend."""
        attempts, reason, detail = 0, "no_backend", "no backend configured"
        for model in chain:
            pool = self.pools[model]
            payload = payload_for(model)
            for backend in pool.order(self.rng):
                for _ in range(2):  # a second, fresh try only when the connection was found closed
                    attempts += 1
                    response, reason, detail, stale = await self._attempt(model, pool, backend, payload, stream, path, headers)
                    if response is not None:
                        return Opened(model, backend, response, attempts)
                    on_error(model, reason)
                    if not stale:
                        break
        status = 504 if reason == "timeout" else 502
        raise UpstreamFailure(reason, f"all upstream attempts failed ({attempts}); last: {detail}", status)

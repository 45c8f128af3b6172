"""Upstream models: one pooled `httpx.AsyncClient` per backend, health-aware choice, retries and fallback.

A timeout, connection error or 5xx moves on to another backend of the same model (in the order of the model's
balancing strategy, ejected backends left out, see `health.py`), then to the next model of the chain (the
decision's fallback); a model whose backends are all ejected is skipped. When no backend of the chain answered
and some were skipped as ejected, the least recently ejected one gets one try rather than failing outright.
A 4xx is the client's problem and is returned unchanged. Retries only happen before the client received a
byte, so no request is answered twice. Backend API keys come from the environment and live only in the
clients' default headers.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from semantic_router.errors import ConfigError
from semantic_router.server.act.health import BackendHealth, HealthListener, choose
from semantic_router.server.act.health_config import BalancingConfig, effective_balancing
from semantic_router.server.act.probe import run_health_checks
from semantic_router.server.config import GatewayConfig, ModelConfig

__all__ = ["Backend", "ModelPool", "Opened", "UpstreamFailure", "Upstreams"]

# idle connections are dropped before the usual 5 s server keep-alive, so a reused one is rarely already closed
_LIMITS = httpx.Limits(max_connections=512, max_keepalive_connections=128, keepalive_expiry=4.0)
# a connection the server closed while idle fails like this before any answer: worth one fresh try
_STALE = (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError)


def public_url(url: str) -> str:
    """A backend URL safe to show (/stats, metrics): no user:password, query or fragment."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    host = f"[{host}]" if ":" in host else host
    return urlunsplit((parts.scheme, host if parts.port is None else f"{host}:{parts.port}", parts.path, "", ""))


@dataclass(eq=False)
class Backend:
    """One server of a model, with its health (outlier detection, in-flight count, latency average)."""

    url: str
    weight: float
    client: httpx.AsyncClient
    health: BackendHealth


class ModelPool:
    """The backends of one configured model and its balancing policy."""

    def __init__(self, name: str, config: ModelConfig, backends: list[Backend],
                 policy: BalancingConfig | None = None) -> None:
        self.name = name
        self.config = config
        self.backends = backends
        self.policy = policy or BalancingConfig()
        self.timeout = httpx.Timeout(config.timeout, connect=config.connect_timeout)

    def order(self, rng: random.Random) -> list[Backend]:
        """The backends a request may try now, in the policy's order (ejected ones left out)."""
        return choose(self.backends, lambda b: b.health, lambda b: b.weight, self.policy, rng, time.monotonic())


@dataclass
class Opened:
    """An upstream response whose status is final (2xx or 4xx): its model, backend and open response.
    `release()` (idempotent) ends its in-flight count: once the body was read or the stream closed."""

    model: str
    backend: Backend
    response: httpx.Response
    attempts: int
    released: bool = field(default=False, repr=False)

    def release(self) -> None:
        if not self.released:
            self.released = True
            self.backend.health.release()


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
        self._checks: asyncio.Task[None] | None = None

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
                policy = effective_balancing(config.balancing, model.balancing)
                backends.append(Backend(b.base_url, b.weight, client,
                                        BackendHealth(name, public_url(b.base_url), policy)))
            pools[name] = ModelPool(name, model, backends, effective_balancing(config.balancing, model.balancing))
        return cls(pools)

    def start(self, listener: HealthListener | None = None) -> None:
        """Report health changes to `listener` and start the active health checks of the models that have them
        (in the running loop; idempotent)."""
        for backend in self.backends():
            backend.health.listener = listener
            if listener is not None:
                listener.backend_healthy(backend.health.model, backend.health.url, not backend.health.ejected)
        checked = [(b, p.policy.health_check) for p in self.pools.values() for b in p.backends
                   if p.policy.health_check is not None]
        if checked and self._checks is None:
            self._checks = asyncio.get_running_loop().create_task(run_health_checks(checked))

    def adopt(self, previous: Upstreams) -> None:
        """Keep the health of the backends `previous` (the replaced runtime's) shares with these (same model and
        URL), under the new policy, so a reload neither forgets an ejection nor loses in-flight counts."""
        known = {(b.health.model, b.url): b.health for b in previous.backends()}
        for pool in self.pools.values():
            for backend in pool.backends:
                health = known.get((pool.name, backend.url))
                if health is not None:
                    health.policy = backend.health.policy
                    backend.health = health

    def backends(self) -> list[Backend]:
        return [b for p in self.pools.values() for b in p.backends]

    def health(self) -> dict[str, list[dict[str, Any]]]:
        """Per model, each backend's health for /stats."""
        offset = time.time() - time.monotonic()
        return {name: [b.health.snapshot(offset) for b in p.backends] for name, p in self.pools.items()}

    async def aclose(self) -> None:
        if self._checks is not None:
            self._checks.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._checks
        await asyncio.gather(*(b.client.aclose() for p in self.pools.values() for b in p.backends))

    async def _attempt(self, model: str, pool: ModelPool, backend: Backend, payload: dict[str, Any],
                       stream: bool, path: str, headers: dict[str, str] | None) -> tuple[httpx.Response | None, str, str, bool]:
        """One POST: (the response when its status is final, else None with the failure's reason, detail and
        whether a fresh connection may help). The backend's health learns the outcome; a final response stays
        in its in-flight count until `Opened.release()`."""
        response = None
        health = backend.health
        trial = health.begin()
        started = time.perf_counter()
        settled = False
        try:
            request = backend.client.build_request("POST", f"{backend.url}{path}", json=payload,
                                                   headers=headers, timeout=pool.timeout)
            response = await backend.client.send(request, stream=True)
            if response.status_code >= 500:
                await response.aclose()
                health.release()
                health.settle(False, None, trial)
                settled = True
                return None, "http_5xx", f"model {model!r} answered HTTP {response.status_code}", False
            if not stream:
                await response.aread()
            health.settle(True, (time.perf_counter() - started) * 1e3, trial)
            settled = True
            return response, "", "", False
        except httpx.TimeoutException:
            failure = ("timeout", f"model {model!r} timed out", False)
        except httpx.TransportError as exc:
            failure = ("connect", f"model {model!r} unreachable ({type(exc).__name__})", isinstance(exc, _STALE))
        except BaseException:  # cancelled (the client went away): release the connection
            if response is not None:
                await response.aclose()
            if not settled:
                health.release()
                health.abandon(trial)
            raise
        if response is not None:
            await response.aclose()
        health.release()
        if failure[2]:  # a closed idle connection is the pool's fault, not the backend's: the fresh retry counts
            health.abandon(trial)
        else:
            health.settle(False, None, trial)
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
        skipped: list[tuple[str, Backend]] = []  # taken out (ejected) when their model's turn came
        for model in chain:
            pool = self.pools[model]
            order = pool.order(self.rng)
            skipped += [(model, b) for b in pool.backends if b not in order]
            if not order:
                continue
            payload = payload_for(model)
            for backend in order:
                opened, reason, detail, attempts = await self._try(model, pool, backend, payload, stream, attempts,
                                                                   on_error, reason, detail, path, headers)
                if opened is not None:
                    return opened
        if skipped:  # nothing healthy answered: the backend ejected longest ago rather than no answer at all
            model, backend = min(skipped, key=lambda mb: mb[1].health.ejected_at or 0.0)
            reason, detail = "ejected", f"every backend of {chain} is ejected or failed"
            opened, reason, detail, attempts = await self._try(model, self.pools[model], backend, payload_for(model),
                                                               stream, attempts, on_error, reason, detail, path, headers)
            if opened is not None:
                return opened
        status = 504 if reason == "timeout" else 502
        raise UpstreamFailure(reason, f"all upstream attempts failed ({attempts}); last: {detail}", status)

    async def _try(self, model: str, pool: ModelPool, backend: Backend, payload: dict[str, Any], stream: bool,
                   attempts: int, on_error: Callable[[str, str], None], reason: str, detail: str, path: str,
                   headers: dict[str, str] | None) -> tuple[Opened | None, str, str, int]:
        """One backend: a second, fresh try only when the connection was found closed."""
        for _ in range(2):
            attempts += 1
            response, reason, detail, stale = await self._attempt(model, pool, backend, payload, stream, path, headers)
            if response is not None:
                opened = Opened(model, backend, response, attempts)
                if not stream:
                    opened.release()  # the body is read: no longer in flight
                return opened, reason, detail, attempts
            on_error(model, reason)
            if not stale:
                break
        return None, reason, detail, attempts

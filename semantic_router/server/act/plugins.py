"""Per-decision plugins: a hook between deciding and forwarding (a response cache, headers, guards).

A decision's `plugins:` mapping names registered plugins with their options. For each request the pipeline
calls `before_forward(ctx)` of the decision's plugins in order; a plugin may return a response to answer the
request itself (a cache hit) or None to continue. After the upstream answered, `after_response(ctx, status,
body)` lets plugins see it (a cache stores it); for a streamed answer it is called once the stream completed,
with the whole SSE body if the plugin sets `wants_stream_body = True` (else None). A plugin that needs app
services (metrics registry, encoder, shared stores) defines `bind(env: PluginEnv, decision: str)`, called when
its Runtime is installed in an app. Register new kinds with `register_plugin`; `cache` is built in.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from starlette.responses import Response

__all__ = ["Plugin", "PluginContext", "PluginEnv", "ResponseHeaders", "build_plugin", "known_plugins",
           "register_plugin"]


@dataclass
class PluginContext:
    """What a plugin sees of a request: the decision, the chosen model, the client's body (before the
    decision's rewrite; a plugin may replace it) and extra headers to add to the response. `tenant` comes from
    the gateway API key; `rewrite` identifies the decision's rewrite for `model`; `answered_by` is the model
    that answered (the fallback's name when it did), set before `after_response`."""

    decision: str
    model: str
    body: dict[str, Any]
    stream: bool
    response_headers: dict[str, str] = field(default_factory=dict)
    state: dict[str, Any] = field(default_factory=dict)
    tenant: str = "anonymous"
    request_headers: Mapping[str, str] = field(default_factory=dict)
    rewrite: str = ""
    answered_by: str | None = None


@dataclass
class PluginEnv:
    """What an app offers plugins when their Runtime is installed: its metrics registry, the router's
    encoder (async texts -> dense vectors; None without semantic routes) and app-lifetime services by name
    (e.g. "cache_hub"), which survive hot reloads."""

    registry: Any
    embed: Callable[[list[str]], Awaitable[Any]] | None
    services: dict[str, Any] = field(default_factory=dict)


@runtime_checkable
class Plugin(Protocol):
    """A decision's plugin. One that may answer in the backend's place (a cache) says so with a true
    `answers_requests` attribute: it is skipped for requests a guard acted on."""

    name: str

    async def before_forward(self, ctx: PluginContext) -> Response | None:
        """Answer the request (return a response) or let it continue to the upstream (None)."""

    async def after_response(self, ctx: PluginContext, status: int, body: bytes | None) -> None:
        """See the upstream's answer (body is None when it was streamed)."""


PluginFactory = Callable[[Mapping[str, Any]], Plugin]
_REGISTRY: dict[str, PluginFactory] = {}


def register_plugin(name: str, factory: PluginFactory) -> None:
    """Make `name` usable in a decision's `plugins:`; `factory(options)` raises ValueError on bad options."""
    _REGISTRY[name] = factory


def _builtins() -> None:
    if "cache" not in _REGISTRY:
        from semantic_router.server.act.cache.plugin import CachePlugin

        register_plugin(CachePlugin.name, CachePlugin)


def known_plugins() -> list[str]:
    _builtins()
    return sorted(_REGISTRY)


def build_plugin(name: str, options: Mapping[str, Any]) -> Plugin:
    _builtins()
    if name not in _REGISTRY:
        raise ValueError(f"unknown plugin {name!r}; known: {', '.join(known_plugins()) or 'none'}")
    return _REGISTRY[name](options)


class ResponseHeaders:
    """Built-in plugin `response_headers`: adds fixed headers to every response of the decision."""

    name = "response_headers"

    def __init__(self, options: Mapping[str, Any]) -> None:
        headers = options.get("headers")
        if set(options) - {"headers"} or not isinstance(headers, dict) or not headers or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in headers.items()):
            raise ValueError("response_headers takes {headers: {name: value, ...}} (strings, at least one)")
        self.headers = dict(headers)

    async def before_forward(self, ctx: PluginContext) -> Response | None:
        ctx.response_headers.update(self.headers)
        return None

    async def after_response(self, ctx: PluginContext, status: int, body: bytes | None) -> None:
        return None


register_plugin(ResponseHeaders.name, ResponseHeaders)

"""The act phase of a chat completion: plan (plugins, rewrite per model) -> plugins -> upstream -> response.

`plan_chat` is pure (no I/O, no FastAPI `Request`): a second front door turns the same `ChatPlan` into
mutations. `forward_chat` is the HTTP proxy's half: it runs the plugins, forwards and reports to an `Observer`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import quote

from fastapi import Request
from starlette.responses import Response

from semantic_router.server.act.forward import (
    ClientGone,
    StreamHooks,
    race_disconnect,
    streamed_response,
    usage_of_body,
    whole_response,
)
from semantic_router.server.act.plugins import Plugin, PluginContext
from semantic_router.server.act.apis import rewrite_for
from semantic_router.server.act.upstream import UpstreamFailure, Upstreams
from semantic_router.server.config import DecisionConfig, GatewayConfig
from semantic_router.server.decide.classify import Classification, Routed
from semantic_router.server.ingress.errors import APIError
from semantic_router.server.ingress.apis import API_PATHS
from semantic_router.server.ingress.requests import ChatRequest

__all__ = ["ActServices", "ChatPlan", "Observer", "forward_chat", "plan_chat", "guard_refusal", "plugin_answer", "router_headers"]

log = logging.getLogger("semantic_router.server")


class ActServices(Protocol):
    """What the act phase uses of a Runtime: its config (models), plugins per decision, upstream clients."""

    @property
    def config(self) -> GatewayConfig: ...

    @property
    def plugins(self) -> Mapping[str, list[Plugin]]: ...

    @property
    def upstreams(self) -> Upstreams: ...

    def rewrite_id(self, decision: DecisionConfig, model: str) -> str: ...


class Observer(Protocol):
    """Where the act phase reports what happened (metrics and stats live in operate/, behind this)."""

    def record_forward(self, route: str | None, decision: str, model: str, sticky: bool) -> None: ...

    def record_latency(self, ms: float) -> None: ...

    def client_gone(self, phase: str) -> None: ...

    def upstream_error(self, model: str, reason: str) -> None: ...

    def observe_ttft(self, model: str, seconds: float) -> None: ...

    def observe_usage(self, model: str, usage: dict[str, Any] | None) -> None: ...


def _header_value(text: str) -> str:
    return quote(text, safe=" ,:;._-/@+=()[]")


def router_headers(c: Classification | None, model: str) -> dict[str, str]:
    """x-router-* headers: decision, model, route, confidence and the matched signals."""
    if c is None:
        return {"x-router-decision": "direct", "x-router-model": _header_value(model), "x-router-route": "",
                "x-router-confidence": "", "x-router-signals": ""}
    matched = ",".join(s.key for s in c.signals if s.matched)
    out = {"x-router-decision": _header_value(c.decision.name), "x-router-model": _header_value(model),
           "x-router-route": _header_value(c.route or ""),
           "x-router-confidence": "" if c.confidence is None else f"{c.confidence:.4f}",
           "x-router-signals": _header_value(matched)}
    if c.sticky:
        out["x-router-sticky"] = "1"
    return out


@dataclass
class ChatPlan:
    """What acting on a routed request will do, before any I/O: its plugins, their context (plugins may edit its
    body) and the request body for each model of the chain."""

    request: ChatRequest
    routed: Routed
    plugins: list[Plugin]
    ctx: PluginContext
    config: GatewayConfig
    upstream_headers: dict[str, str] | None = None  # client headers an API needs forwarded (anthropic-version)

    @property
    def path(self) -> str:
        """Where the request goes under a backend's base URL (the client's API)."""
        return API_PATHS[self.request.api]

    def payload_for(self, model: str) -> dict[str, Any]:
        """The body sent to `model`: the (plugin-edited) body rewritten by the decision for that model."""
        return rewrite_for(self.request.api, self.ctx.body, self.routed.decision, model, self.config.models[model])

    def headers_for(self, model: str) -> dict[str, str]:
        """The response's x-router-* headers (guards' and plugins' included) when `model` answered."""
        return {**router_headers(self.routed.classification, model), **self.routed.guards.headers(),
                **self.ctx.response_headers}


def plan_chat(services: ActServices, request: ChatRequest, routed: Routed, tenant: str,
              request_headers: Mapping[str, str]) -> ChatPlan:
    """The act phase's plan for a routed request (pure). Its chain keeps the models whose backends serve the
    request's API (400 when none does); plugins (the response cache among them) act on chat completions only,
    and never on a request a guard acted on (routed, redacted) when they may answer in the backend's place (the
    response cache: such a request is neither served from it nor stored)."""
    api, models = request.api, services.config.models
    chain = [m for m in routed.chain if api in models[m].apis]
    if not chain:
        raise APIError(400, f"no model for this request serves the {api!r} API (tried {', '.join(routed.chain)}); "
                       f"list it in the model's 'apis'", param="model", code="api_not_served")
    if chain != routed.chain:
        routed = Routed(routed.classification, chain, routed.guards)
    decision, first = routed.decision, chain[0]
    plugins = [] if decision is None or api != "chat" else list(services.plugins.get(decision.name, []))
    if routed.guards.guarded:
        plugins = [p for p in plugins if not getattr(p, "answers_requests", False)]
    body = request.body if routed.guards.body is None else routed.guards.body
    ctx = PluginContext(routed.decision_name, first, body, request.stream, tenant=tenant,
                        request_headers=request_headers,
                        rewrite=services.rewrite_id(decision, first) if decision is not None and plugins else "")
    forwarded = {k: v for k, v in request_headers.items() if k.lower().startswith("anthropic-")} \
        if api == "messages" else None
    return ChatPlan(request, routed, plugins, ctx, services.config, forwarded)


def guard_refusal(routed: Routed) -> tuple[APIError, dict[str, str]] | None:
    """A request a guard blocked: its refusal (HTTP 400 `content_filter`) and the headers it leaves with (before
    the response cache and any backend); None when no guard blocked it. Both front doors answer with it."""
    if routed.guards.blocked is None:
        return None
    return routed.guards.refusal(), {**router_headers(routed.classification, ""), **routed.guards.headers()}


async def plugin_answer(plan: ChatPlan) -> Response | None:
    """Run the plan's plugins before forwarding, in order: the first one's own answer (a cache hit), with the
    router's headers, or None to forward. Both front doors call it (the HTTP proxy relays the answer, the
    external processor sends it as an immediate response)."""
    for plugin in plan.plugins:
        answered = await plugin.before_forward(plan.ctx)
        if answered is not None:
            answered.headers.update(plan.headers_for(plan.routed.chain[0]))
            return answered
    return None


async def forward_chat(client: Request, plan: ChatPlan, upstreams: Upstreams, observer: Observer) -> Response:
    """Run the plan's plugins (one may answer, e.g. a cache hit), else forward along the chain, racing the
    client's disconnect, and relay the answer (whole or streamed)."""
    req, c, ctx, plugins = plan.request, plan.routed.classification, plan.ctx, plan.plugins
    chain, started = plan.routed.chain, req.started
    route, sticky = (None, False) if c is None else (c.route, c.sticky)
    answered = await plugin_answer(plan)
    if answered is not None:  # answered by a plugin (a cache hit): counted like a forwarded request
        observer.record_forward(route, ctx.decision, chain[0], sticky)
        observer.record_latency((time.perf_counter() - started) * 1e3)
        return answered
    try:
        opened = await race_disconnect(client, upstreams.open(chain, plan.payload_for, req.stream,
                                                              observer.upstream_error, plan.path,
                                                              plan.upstream_headers))
    except UpstreamFailure as exc:
        raise APIError(exc.status, str(exc), code=f"upstream_{exc.reason}") from None
    except ClientGone:
        observer.client_gone("upstream")
        return Response(status_code=499)
    ctx.answered_by = opened.model
    headers = plan.headers_for(opened.model)
    if opened.model != chain[0]:
        headers["x-router-fallback"] = _header_value(chain[0])
    observer.record_forward(route, ctx.decision, opened.model, sticky)
    if req.stream and opened.response.status_code < 300:
        status = opened.response.status_code
        readers = [p for p in plugins if getattr(p, "wants_stream_body", False)]

        async def completed(body: bytes) -> None:
            for plugin in plugins:
                try:
                    await plugin.after_response(ctx, status, body if plugin in readers else None)
                except Exception:  # the answer is already out: a plugin fault only gets logged
                    log.exception("plugin %s failed after a streamed answer", plugin.name)

        model = opened.model
        hooks = StreamHooks(first_byte=lambda s: observer.observe_ttft(model, s),
                            done=lambda usage: observer.observe_usage(model, usage),
                            body=completed if plugins else None,
                            broke=lambda reason: observer.upstream_error(model, reason),
                            client_gone=lambda: observer.client_gone("stream"))
        return streamed_response(opened, headers, started, hooks, plan.config.models[model].stream_idle_timeout)
    if req.stream:
        try:
            await opened.response.aread()  # a 4xx to a streaming request: pass its body through unchanged
        finally:
            opened.release()
    observer.observe_ttft(opened.model, time.perf_counter() - started)
    observer.observe_usage(opened.model, usage_of_body(opened.response.content))
    for plugin in plugins:
        await plugin.after_response(ctx, opened.response.status_code, opened.response.content)
    return whole_response(opened, headers)

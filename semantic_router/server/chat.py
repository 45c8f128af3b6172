"""The chat-completions pipeline: parse -> classify -> decide -> plugins -> rewrite -> forward.

Each step is a small function over a `ChatRequest`, so a per-decision cache or guard plugs into the
plugin hook without touching the handler.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from fastapi import Request
from starlette.responses import Response

from semantic_router.server.config import DecisionConfig
from semantic_router.server.errors import APIError
from semantic_router.server.forward import (
    ClientGone,
    StreamHooks,
    race_disconnect,
    streamed_response,
    usage_of_body,
    whole_response,
)
from semantic_router.server.ingress import read_json
from semantic_router.server.plugins import PluginContext
from semantic_router.server.requests import conversation_of
from semantic_router.server.rewrite import rewrite
from semantic_router.server.runtime import Classification, Runtime
from semantic_router.server.signals.base import Conversation
from semantic_router.server.upstream import UpstreamFailure

__all__ = ["ChatRequest", "handle_chat", "router_headers"]

log = logging.getLogger("semantic_router.server")


@dataclass
class ChatRequest:
    """One chat completion moving through the pipeline."""

    body: dict[str, Any]
    model: str
    stream: bool
    conversation: Conversation
    started: float
    classification: Classification | None = None
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def decision(self) -> DecisionConfig | None:
        return None if self.classification is None else self.classification.decision


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


def parse(body: dict[str, Any], started: float) -> ChatRequest:
    model = body.get("model")
    if model is None:
        raise APIError(400, "'model' is required (a configured model or a virtual one such as 'auto')",
                       param="model", code="missing_required_parameter")
    if not isinstance(model, str):
        raise APIError(400, f"'model' must be a string, got {type(model).__name__}", param="model")
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        raise APIError(400, f"'stream' must be a boolean, got {type(stream).__name__}", param="stream")
    options = body.get("stream_options")
    if options is not None and not isinstance(options, dict):
        raise APIError(400, f"'stream_options' must be an object, got {type(options).__name__}",
                       param="stream_options")
    return ChatRequest(body, model, stream, conversation_of(body.get("messages")), started)


async def classify(rt: Runtime, req: ChatRequest, session_id: str | None, tenant: str) -> None:
    if req.model in rt.virtual_models:
        req.classification = await rt.classify(req.conversation, session_id, sticky=True, tenant=tenant)
    elif not rt.is_configured_model(req.model):
        raise APIError(404, f"The model '{req.model}' does not exist; known: "
                       f"{', '.join([*sorted(rt.virtual_models), *rt.model_names])}",
                       param="model", code="model_not_found")


async def handle_chat(request: Request, gw: Any) -> Response:
    """POST /v1/chat/completions. `gw` is the app's GatewayState (runtime, metrics, stats)."""
    started = time.perf_counter()
    rt: Runtime = gw.require_ready(gw.runtime)  # read once: a reload swaps it, this request keeps its own
    tenant = rt.keys.check(request.headers.get("authorization"))  # the tenant is the key's, never a header's
    rt.expect_classification()
    try:
        req = parse(await read_json(request, rt.config.server.max_body_bytes), started)
    finally:
        rt.classification_arriving()
    await classify(rt, req, request.headers.get(rt.config.sessions.header), tenant)
    c = req.classification
    if c is not None:
        gw.observe_classification(c)
    chain = [req.model] if c is None else c.chain()
    plugins = [] if req.decision is None else rt.plugins.get(req.decision.name, [])
    ctx = PluginContext(req.decision.name if req.decision else "direct", chain[0], req.body, req.stream,
                        tenant=tenant, request_headers=request.headers,
                        rewrite=rt.rewrite_id(req.decision, chain[0]) if req.decision is not None and plugins else "")
    for plugin in plugins:
        answered = await plugin.before_forward(ctx)
        if answered is not None:  # answered by a plugin (a cache hit): counted like a forwarded request
            answered.headers.update({**router_headers(c, chain[0]), **ctx.response_headers})
            gw.record_forward(None if c is None else c.route, ctx.decision, chain[0], c is not None and c.sticky)
            gw.stats.record_latency((time.perf_counter() - started) * 1e3)
            return answered

    def payload_for(model: str) -> dict[str, Any]:
        return rewrite(ctx.body, req.decision, model, rt.config.models[model])  # plugins may have edited it

    try:
        opened = await race_disconnect(request, rt.upstreams.open(chain, payload_for, req.stream, gw.upstream_error))
    except UpstreamFailure as exc:
        raise APIError(exc.status, str(exc), code=f"upstream_{exc.reason}") from None
    except ClientGone:
        gw.client_gone("upstream")
        return Response(status_code=499)
    ctx.answered_by = opened.model
    headers = {**router_headers(c, opened.model), **ctx.response_headers}
    if opened.model != chain[0]:
        headers["x-router-fallback"] = _header_value(chain[0])
    route = None if c is None else c.route
    gw.record_forward(route, ctx.decision, opened.model, c is not None and c.sticky)
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
        hooks = StreamHooks(first_byte=lambda s: gw.observe_ttft(model, s),
                            done=lambda usage: gw.observe_usage(model, usage),
                            body=completed if plugins else None,
                            broke=lambda reason: gw.upstream_error(model, reason),
                            client_gone=lambda: gw.client_gone("stream"))
        return streamed_response(opened, headers, started, hooks, rt.config.models[model].stream_idle_timeout)
    if req.stream:
        await opened.response.aread()  # a 4xx to a streaming request: pass its body through unchanged
    gw.observe_ttft(opened.model, time.perf_counter() - started)
    gw.observe_usage(opened.model, usage_of_body(opened.response.content))
    for plugin in plugins:
        await plugin.after_response(ctx, opened.response.status_code, opened.response.content)
    return whole_response(opened, headers)

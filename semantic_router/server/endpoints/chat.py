"""`POST /v1/chat/completions` and the other routed client APIs (`/v1/completions`, `/v1/responses`, Anthropic's
`/v1/messages`): ingress (parse) -> decide (`route_chat`) -> act (`plan_chat`, `forward_chat`), one walk for all;
and `/v1/embeddings`, passed through to the model it names."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from semantic_router.server.act.charged import Charged
from semantic_router.server.act.chat import Observer, forward_chat, guard_refusal, plan_chat
from semantic_router.server.act.embeddings import forward_embeddings
from semantic_router.server.decide.classify import route_chat
from semantic_router.server.endpoints.deps import AnthropicTenant, ReadyRuntime, State, Tenant, VirtualKey
from semantic_router.server.ingress.apis import parse_completions, parse_embeddings, parse_messages, parse_responses
from semantic_router.server.ingress.body import read_json
from semantic_router.server.ingress.errors import error_response
from semantic_router.server.ingress.limits import KeyRecord, reserve_of
from semantic_router.server.ingress.openapi import CHAT_OPERATION
from semantic_router.server.ingress.requests import ChatRequest, parse_chat
from semantic_router.server.runtime import Runtime
from semantic_router.server.state import GatewayState

__all__ = ["router"]

router = APIRouter()


async def serve_routed(request: Request, gw: GatewayState, rt: Runtime, tenant: str, key: KeyRecord | None,
                       parse: Callable[[dict[str, Any], float], ChatRequest]) -> Response:
    """Parse with `parse`, admit (a virtual key's models and limits), decide, plan and forward: the same walk for
    every routed API."""
    started = time.perf_counter()
    rt.classifier.expect()
    try:
        req = parse(await read_json(request, rt.config.server.max_body_bytes), started)
    finally:
        rt.classifier.arrived()
    observer: Observer = gw
    if key is not None and rt.limiter is not None:  # ingress: the key's models and limits, before any work
        grant = await rt.limiter.admit(key, req.model, reserve_of(req.body))
        observer = Charged(gw, rt.limiter, key, grant)
    routed = await route_chat(rt.classifier, req, request.headers.get(rt.config.sessions.header), tenant)
    if routed.classification is not None:
        gw.observe_classification(routed.classification)
    gw.observe_guards(routed.guards)
    refused = guard_refusal(routed)
    if refused is not None:  # refused before the cache and any backend
        refusal, headers = refused
        gw.client_error(refusal.code or str(refusal.status))
        return error_response(refusal, headers)
    plan = plan_chat(rt, req, routed, tenant, request.headers)
    return await forward_chat(request, plan, rt.upstreams, observer)


@router.post("/v1/chat/completions", openapi_extra=CHAT_OPERATION)
async def chat_completions(request: Request, gw: State, rt: ReadyRuntime, tenant: Tenant, key: VirtualKey) -> Response:
    return await serve_routed(request, gw, rt, tenant, key, parse_chat)


@router.post("/v1/completions")
async def completions(request: Request, gw: State, rt: ReadyRuntime, tenant: Tenant, key: VirtualKey) -> Response:
    """OpenAI's legacy completions: routed on the prompt, forwarded to the chosen model's `/completions`."""
    return await serve_routed(request, gw, rt, tenant, key, parse_completions)


@router.post("/v1/responses")
async def responses(request: Request, gw: State, rt: ReadyRuntime, tenant: Tenant, key: VirtualKey) -> Response:
    """OpenAI's Responses API (streaming included): routed on the input's user turns."""
    return await serve_routed(request, gw, rt, tenant, key, parse_responses)


@router.post("/v1/messages")
async def messages(request: Request, gw: State, rt: ReadyRuntime, tenant: AnthropicTenant, key: VirtualKey) -> Response:
    """Anthropic's Messages API (streaming included), to models whose backends list `messages` in `apis`."""
    return await serve_routed(request, gw, rt, tenant, key, parse_messages)


@router.post("/v1/embeddings")
async def embeddings(request: Request, gw: State, rt: ReadyRuntime, tenant: Tenant, key: VirtualKey) -> Response:
    """Embeddings: passed through to the configured model the request names (never routed)."""
    req = parse_embeddings(await read_json(request, rt.config.server.max_body_bytes), time.perf_counter())
    observer: Observer = gw
    if key is not None and rt.limiter is not None:
        observer = Charged(gw, rt.limiter, key, await rt.limiter.admit(key, req.model, reserve_of(req.body)))
    return await forward_embeddings(request, req, rt.config, rt.upstreams, observer)

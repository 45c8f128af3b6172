"""`POST /v1/chat/completions`: ingress (parse) -> decide (`route_chat`) -> act (`plan_chat`, `forward_chat`)."""

from __future__ import annotations

import time

from fastapi import APIRouter, Request
from starlette.responses import Response

from semantic_router.server.act.chat import Observer, forward_chat, plan_chat
from semantic_router.server.act.charged import Charged
from semantic_router.server.decide.classify import route_chat
from semantic_router.server.endpoints.deps import ReadyRuntime, State, Tenant, VirtualKey
from semantic_router.server.ingress.body import read_json
from semantic_router.server.ingress.limits import reserve_of
from semantic_router.server.ingress.openapi import CHAT_OPERATION
from semantic_router.server.ingress.requests import parse_chat

__all__ = ["router"]

router = APIRouter()


@router.post("/v1/chat/completions", openapi_extra=CHAT_OPERATION)
async def chat_completions(request: Request, gw: State, rt: ReadyRuntime, tenant: Tenant,
                           key: VirtualKey) -> Response:
    started = time.perf_counter()
    rt.classifier.expect()
    try:
        req = parse_chat(await read_json(request, rt.config.server.max_body_bytes), started)
    finally:
        rt.classifier.arrived()
    observer: Observer = gw
    if key is not None and rt.limiter is not None:  # ingress: the key's models and limits, before any work
        grant = await rt.limiter.admit(key, req.model, reserve_of(req.body))
        observer = Charged(gw, rt.limiter, key, grant)
    routed = await route_chat(rt.classifier, req, request.headers.get(rt.config.sessions.header), tenant)
    if routed.classification is not None:
        gw.observe_classification(routed.classification)
    plan = plan_chat(rt, req, routed, tenant, request.headers)
    return await forward_chat(request, plan, rt.upstreams, observer)

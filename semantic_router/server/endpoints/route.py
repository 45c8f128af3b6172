"""`POST /v1/route`: classify one request or a batch without forwarding (ingress -> decide only)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from semantic_router.server.endpoints.deps import CallerOrAdmin, ReadyRuntime, State
from semantic_router.server.ingress.body import read_json
from semantic_router.server.ingress.errors import APIError
from semantic_router.server.ingress.openapi import ROUTE_OPERATION
from semantic_router.server.ingress.requests import (
    MAX_ROUTE_BATCH,
    Conversation,
    conversation_of,
    prompt_conversation,
)

__all__ = ["router"]

router = APIRouter()


@router.post("/v1/route", openapi_extra=ROUTE_OPERATION, dependencies=[CallerOrAdmin])
async def route(request: Request, gw: State, rt: ReadyRuntime) -> dict[str, Any]:
    rt.classifier.expect()
    try:
        body = await read_json(request, rt.config.server.max_body_bytes)
    finally:
        rt.classifier.arrived()
    if "batch" in body:
        items = body["batch"]
        if set(body) != {"batch"} or not isinstance(items, list) or not items:
            raise APIError(400, "'batch' must be a non-empty array and the only field", param="batch")
        if len(items) > MAX_ROUTE_BATCH:
            raise APIError(400, f"'batch' holds {len(items)} items; at most {MAX_ROUTE_BATCH}", param="batch")
        convs = [route_input(item, f"batch[{i}]") for i, item in enumerate(items)]
        results = await rt.classifier.classify_many(convs)
        gw.stats.record_classification(len(results))
        return {"results": [r.as_dict() for r in results]}
    result = await rt.classifier.classify(route_input(body, None))
    gw.stats.record_classification()
    return result.as_dict()


def route_input(item: Any, where: str | None) -> Conversation:
    """A /v1/route item: {"messages": [...]} or {"prompt": "..."}."""
    prefix = f"{where}." if where else ""
    if not isinstance(item, dict):
        raise APIError(400, f"{where or 'body'} must be an object", param=where)
    if ("messages" in item) == ("prompt" in item):
        raise APIError(400, f"{where or 'body'} needs exactly one of 'messages' or 'prompt'", param=where)
    if "messages" in item:
        return conversation_of(item["messages"], f"{prefix}messages")
    return prompt_conversation(item["prompt"], f"{prefix}prompt")

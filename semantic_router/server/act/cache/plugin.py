"""The `cache` plugin of a decision: answers repeated or paraphrased questions from the response cache.

Config (a decision's `plugins: {cache: {...}}`) is `CacheConfig`. Headers: `x-router-cache: hit|miss|bypass`
and, when a semantic comparison was made, `x-router-cache-similarity`. A request carrying the bypass header
(default `x-router-cache-bypass: 1`) skips the cache. Streamed answers are stored once they completed; a hit
on a streaming request is replayed as SSE. Duck-typed against `server.plugins` (no import of it, no cycle).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError
from starlette.responses import JSONResponse, Response, StreamingResponse

from semantic_router.server.act.cache.answers import (
    assemble_stream,
    cacheable_answer,
    replay_sse,
)
from semantic_router.server.act.cache.cache import ResponseCache
from semantic_router.server.act.cache.config import CacheConfig
from semantic_router.server.act.cache.scope import Bypass

__all__ = ["HEADER", "SIMILARITY_HEADER", "CachePlugin"]

HEADER = "x-router-cache"
SIMILARITY_HEADER = "x-router-cache-similarity"
_STATE = "cache_request"


def _options_error(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'cache'}: {e['msg'].removeprefix('Value error, ')}"
                     for e in exc.errors())


def _truthy(value: str | None) -> bool:
    return value is not None and value.strip().lower() not in ("", "0", "false", "no", "off")


class CachePlugin:
    """Per-decision response cache; `bind(env, decision)` attaches it to the app's shared stores."""

    name = "cache"
    wants_stream_body = True
    answers_requests = True  # may answer in the backend's place: never for a request a guard acted on

    def __init__(self, options: Mapping[str, Any]) -> None:
        try:
            self.config = CacheConfig.model_validate(dict(options))
        except ValidationError as exc:
            raise ValueError(_options_error(exc)) from None
        self.cache: ResponseCache | None = None

    def bind(self, env: Any, decision: str) -> None:
        """Open (or reuse) the store through the app's cache hub; the encoder comes from the router."""
        hub = env.services.get("cache_hub")
        if hub is None:
            raise ValueError("the cache plugin needs the app's cache hub (create the app with create_app)")
        self.cache = hub.cache(decision, self.config, env.embed)

    async def before_forward(self, ctx: Any) -> Response | None:
        cache = self.cache
        if cache is None:
            return None
        if _truthy(ctx.request_headers.get(self.config.bypass_header)):
            cache.bypassed("header")
            ctx.response_headers[HEADER] = "bypass"
            return None
        req = cache.request(ctx.body, ctx.model, ctx.tenant, ctx.rewrite)
        if isinstance(req, Bypass):
            ctx.response_headers[HEADER] = "bypass"
            return None
        found = await cache.lookup(req)
        if found.similarity is not None:
            ctx.response_headers[SIMILARITY_HEADER] = f"{found.similarity:.4f}"
        if found.status == "hit" and found.answer is not None:
            ctx.response_headers[HEADER] = "hit"
            if ctx.stream:
                include_usage = bool((ctx.body.get("stream_options") or {}).get("include_usage"))
                return StreamingResponse(iter(replay_sse(found.answer, include_usage)),
                                         media_type="text/event-stream")
            return JSONResponse(found.answer)
        ctx.response_headers[HEADER] = "miss"
        ctx.state[_STATE] = req
        return None

    async def after_response(self, ctx: Any, status: int, body: bytes | None) -> None:
        req = ctx.state.pop(_STATE, None)
        if req is None or self.cache is None or status != 200 or body is None:
            return
        if ctx.answered_by not in (None, ctx.model):  # the fallback answered: not the routed model's answer
            return
        answer = assemble_stream([body]) if ctx.stream else cacheable_answer(status, body)
        if answer is not None:
            await self.cache.store(req, answer)

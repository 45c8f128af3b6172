"""One HTTP request as Envoy shows it over one ext_proc stream: its messages in order, each answered at once.

request headers -> (BUFFERED) request body -> response headers -> response body. A chat completion
(`POST /v1/chat/completions`) is parsed by ingress, decided by `route_chat` and planned by `plan_chat`, the very
code of the HTTP proxy; instead of `forward_chat` the plan becomes mutations (the rewritten body, a corrected
`content-length`, the chosen model in `model_header`, the `x-router-*` headers) or, where the gateway would not
forward (a plugin's own answer such as a cache hit, a client fault), an immediate response. Every other request
passes through untouched. Nothing here leaves Envoy waiting: every failure becomes an answer (see `handle`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, Literal

from envoy.extensions.filters.http.ext_proc.v3 import processing_mode_pb2 as pm
from envoy.service.ext_proc.v3 import external_processor_pb2 as ep
from starlette.responses import Response, StreamingResponse

from semantic_router.server.act.chat import ChatPlan, guard_refusal, plan_chat, plugin_answer
from semantic_router.server.act.forward import usage_of_body, usage_of_sse
from semantic_router.server.decide.classify import route_chat
from semantic_router.server.extproc.config import ExtProcConfig
from semantic_router.server.extproc.messages import (
    Phase,
    continue_response,
    headers_of,
    immediate,
    immediate_error,
    json_bytes,
    mutated,
)
from semantic_router.server.ingress.body import parse_json
from semantic_router.server.ingress.errors import APIError
from semantic_router.server.ingress.requests import ChatRequest, parse_chat
from semantic_router.server.runtime import Runtime
from semantic_router.server.state import GatewayState

__all__ = ["CHAT_PATH", "Exchange", "Outcome"]

log = logging.getLogger("semantic_router.server.extproc")

CHAT_PATH = "/v1/chat/completions"
MAX_KEPT_BODY = 4 * 1024 * 1024  # an upstream answer kept for usage and the cache (as the HTTP proxy keeps streams)
Outcome = Literal["forwarded", "answered", "refused", "passthrough", "failed_open", "failed_closed", "cancelled"]
_RESPONSE_PHASES = ("response_headers", "response_body", "response_trailers")
# a streamed answer's body mode, asked for in the answer to its response headers (Envoy honours it with the
# filter's `allow_mode_override: true`; BUFFERED would hold the whole stream back until it ended)
STREAM_ANSWER = pm.ProcessingMode(response_body_mode=pm.ProcessingMode.STREAMED)


class _Misconfigured(Exception):
    """Envoy sends what this processor cannot act on (a request body not BUFFERED)."""


class Exchange:
    """The state of one ext_proc stream. `handle(message)` answers one message; `after()` does the work that
    may wait until that answer is sent (plugins seeing the upstream's answer); `done` says an immediate
    response ended the stream; `outcome` is what became of the request."""

    def __init__(self, gw: GatewayState, runtime: Runtime | None, fallback: ExtProcConfig) -> None:
        self.gw = gw
        self.rt = runtime
        self.settings = runtime.config.ext_proc if runtime is not None else fallback
        self.started = time.perf_counter()
        self.headers: dict[str, str] = {}
        self.tenant = "anonymous"
        self.expecting = False
        self.passthrough = False
        self.done = False
        self.outcome: Outcome | None = None
        self.plan: ChatPlan | None = None
        self.model = ""
        self.status = 0
        self.streamed = False
        self.kept: list[bytes] | None = []
        self.size = 0
        self.finished = False

    # -- the one entry point ------------------------------------------------------------------------------
    async def handle(self, message: ep.ProcessingRequest) -> ep.ProcessingResponse:
        """The answer to one message. A client fault is answered as the HTTP proxy answers it (an OpenAI-shaped
        4xx); any other failure while deciding continues unchanged (`fail_open`) or answers 5xx (fail-closed);
        a failure once the request went upstream only gets logged (the answer passes untouched)."""
        phase: Phase | None = message.WhichOneof("request")
        if phase is None:
            raise _Misconfigured("a ProcessingRequest without a request or response part")
        if self.passthrough or (self.plan is None and phase in _RESPONSE_PHASES):
            if self.expecting and phase == "response_headers":  # a chat request went upstream unseen
                log.error("ext_proc: a chat request was forwarded without its body being sent here: set Envoy's "
                          "processing_mode.request_body_mode to BUFFERED for this processor")
                self._arrived()
                self.outcome = "failed_open"  # it went upstream as the client sent it
            return continue_response(phase)
        try:
            if phase == "request_headers":
                return self._request_headers(message.request_headers)
            if phase == "request_body":
                return await self._request_body(message.request_body)
            if phase == "response_headers":
                return self._response_headers(message.response_headers)
            if phase == "response_body":
                return self._response_body(message.response_body)
            return continue_response(phase)  # trailers: nothing to do
        except APIError as exc:
            if exc.status < 500:
                self.gw.client_error(exc.code or str(exc.status))
                return self._end(immediate_error(exc), "refused")
            return self._failed(phase, exc)
        except asyncio.TimeoutError:
            return self._failed(phase, APIError(504, f"routing took longer than ext_proc.timeout_seconds "
                                                     f"({self.settings.timeout_seconds:g} s)", code="routing_timeout"))
        except _Misconfigured as exc:
            log.error("ext_proc: %s", exc)
            return self._failed(phase, APIError(500, str(exc), code="ext_proc_misconfigured"))
        except Exception as exc:  # noqa: BLE001 - a bug must become an answer, never a stream Envoy waits on
            log.exception("ext_proc: unexpected error on %s", phase)
            return self._failed(phase, APIError(500, f"internal error ({type(exc).__name__})", code="internal_error"))

    def _end(self, response: ep.ProcessingResponse, outcome: Outcome) -> ep.ProcessingResponse:
        self.done, self.outcome = True, outcome
        self._arrived()
        return response

    def _failed(self, phase: Phase, exc: APIError) -> ep.ProcessingResponse:
        if phase in _RESPONSE_PHASES:  # the request is upstream already: never replace its answer
            log.error("ext_proc: %s failed after forwarding: %s", phase, exc.message)
            return continue_response(phase)
        if self.settings.fail_open:
            log.warning("ext_proc: passing the request through unchanged (fail_open): %s", exc.message)
            self.passthrough, self.outcome = True, "failed_open"
            self._arrived()
            return continue_response(phase)
        return self._end(immediate_error(exc), "failed_closed")

    # -- request ---------------------------------------------------------------------------------------
    def _request_headers(self, message: ep.HttpHeaders) -> ep.ProcessingResponse:
        self.headers = headers_of(message)
        path = self.headers.get(":path", "").partition("?")[0]
        if self.headers.get(":method") != "POST" or path != CHAT_PATH:
            self.passthrough, self.outcome = True, "passthrough"
            return continue_response("request_headers")
        rt = self.gw.require_ready(self.rt)
        self.tenant = rt.keys.check(self.headers.get("authorization"))
        limit = rt.config.server.max_body_bytes
        declared = self.headers.get("content-length", "")
        if declared.isdigit() and (len(declared) > 18 or int(declared) > limit):
            raise APIError(413, f"request body of {declared[:20]} bytes exceeds the limit of {limit} bytes",
                           code="request_too_large")
        if message.end_of_stream:  # a POST without a body: the same 400 the HTTP proxy answers
            parse_json(b"")
        rt.classifier.expect()  # the micro-batcher may wait a moment for this request's text
        self.expecting = True
        return continue_response("request_headers")

    def _arrived(self) -> None:
        if self.expecting and self.rt is not None:
            self.expecting = False
            self.rt.classifier.arrived()

    async def _request_body(self, message: ep.HttpBody) -> ep.ProcessingResponse:
        rt = self.rt
        if rt is None or not self.headers:  # headers were passed (or never seen): nothing to decide
            return continue_response("request_body")
        if not message.end_of_stream:
            raise _Misconfigured("the request body came in pieces: set Envoy's processing_mode.request_body_mode "
                                 "to BUFFERED for this processor")
        limit = rt.config.server.max_body_bytes
        try:
            if len(message.body) > limit:
                raise APIError(413, f"request body exceeds the limit of {limit} bytes", code="request_too_large")
            req = parse_chat(parse_json(message.body), self.started)
        finally:
            self._arrived()
        plan, answered = await asyncio.wait_for(self._decide(rt, req), self.settings.timeout_seconds)
        if plan is None:  # a guard blocked it: refused before the cache and any backend
            return self._end(answered, "refused")
        c = plan.routed.classification
        route, sticky = (None, False) if c is None else (c.route, c.sticky)
        first = plan.routed.chain[0]
        self.gw.record_forward(route, plan.ctx.decision, first, sticky)
        if answered is not None:  # a plugin's own answer (a cache hit): Envoy answers with it
            self.gw.record_latency((time.perf_counter() - self.started) * 1e3)
            return self._end(answered, "answered")
        self.plan, self.model, self.outcome = plan, first, "forwarded"
        payload = json_bytes(plan.payload_for(first))
        headers = {self.settings.model_header: first, **plan.headers_for(first), "content-length": str(len(payload))}
        # a gateway key is the gateway's, not the model server's: it never travels upstream
        remove = ["authorization"] if rt.keys.enabled else []
        return mutated("request_body", headers, remove, payload, clear_route_cache=True)

    async def _decide(self, rt: Runtime, req: ChatRequest) -> tuple[ChatPlan | None, ep.ProcessingResponse | None]:
        """decide (`route_chat`, guards) and act's plan (`plan_chat`, plugins before forwarding): the HTTP proxy's
        code. (None, the refusal) for a request a guard blocked; (plan, an immediate answer or None) else."""
        routed = await route_chat(rt.classifier, req, self.headers.get(rt.config.sessions.header), self.tenant)
        if routed.classification is not None:
            self.gw.observe_classification(routed.classification)
        self.gw.observe_guards(routed.guards)
        refused = guard_refusal(routed)
        if refused is not None:
            refusal, headers = refused
            self.gw.client_error(refusal.code or str(refusal.status))
            return None, immediate_error(refusal, headers)
        plan = plan_chat(rt, req, routed, self.tenant, self.headers)
        answered = await plugin_answer(plan)
        return plan, None if answered is None else await _as_immediate(answered, plan.ctx.decision)

    # -- response --------------------------------------------------------------------------------------
    def _response_headers(self, message: ep.HttpHeaders) -> ep.ProcessingResponse:
        plan = self.plan
        assert plan is not None  # handle() passes response messages of requests it did not forward
        headers = headers_of(message)
        status = headers.get(":status", "")
        self.status = int(status) if status.isdigit() else 0
        self.streamed = plan.request.stream or headers.get("content-type", "").startswith("text/event-stream")
        self.gw.observe_ttft(self.model, time.perf_counter() - self.started)
        if message.end_of_stream:
            self.finished = True
        answer = mutated("response_headers", plan.headers_for(self.model))
        if self.streamed:  # chunks reach the client as they come, even where the filter BUFFERs answers
            answer.mode_override.CopyFrom(STREAM_ANSWER)
        return answer

    def _response_body(self, message: ep.HttpBody) -> ep.ProcessingResponse:
        """Passed through untouched (streamed or whole); kept (bounded) for usage and the plugins."""
        if self.kept is not None:
            self.size += len(message.body)
            if self.size <= MAX_KEPT_BODY:
                self.kept.append(message.body)
            else:
                self.kept = None
        if message.end_of_stream:
            self.finished = True
        return continue_response("response_body")

    async def after(self) -> None:
        """Once the upstream's answer has passed whole: its token usage and the plugins' `after_response` (the
        cache stores it). Failures only get logged: the answer is already on its way."""
        plan = self.plan
        if not self.finished or plan is None:
            return
        self.finished, self.plan = False, None
        body = b"".join(self.kept) if self.kept is not None else None
        usage = None if body is None else (usage_of_sse(body[-16384:]) if self.streamed else usage_of_body(body))
        self.gw.observe_usage(self.model, usage)
        plan.ctx.answered_by = self.model
        for plugin in plan.plugins:
            wanted = body if not self.streamed or getattr(plugin, "wants_stream_body", False) else None
            try:
                await plugin.after_response(plan.ctx, self.status, wanted)
            except Exception:  # noqa: BLE001
                log.exception("ext_proc: plugin %s failed after the answer", plugin.name)

    def close(self) -> None:
        """The stream ended: a request it never answered (Envoy cancelled the stream, or ended it, because the
        downstream client went away) counts as a client gone."""
        self._arrived()
        if self.outcome is None:
            self.outcome = "cancelled"
            self.gw.client_gone("request")


async def _as_immediate(response: Response, decision: str) -> ep.ProcessingResponse:
    """A plugin's starlette answer (JSON, or SSE replayed from the cache) as an immediate response."""
    body: Any = getattr(response, "body", None)
    if isinstance(response, StreamingResponse):  # its (finite, cached) events
        parts = [chunk if isinstance(chunk, bytes) else str(chunk).encode() async for chunk in response.body_iterator]
        body = b"".join(parts)
    headers = {k: v for k, v in response.headers.items() if k != "content-length"}
    return immediate(response.status_code, headers, bytes(body), f"semantic_router_{decision}_answered")

"""Stand-in OpenAI-compatible chat backends for the demo (`serve --demo-backends`) and the tests.

A `DemoBackend` answers `POST /v1/chat/completions` (and, in their own shapes, `/v1/completions`, `/v1/responses`,
Anthropic's `/v1/messages` and `/v1/embeddings`) with text naming the model it was asked for, echoes the
fields a gateway rewrites (model, system prompt, reasoning switches) in an `echo` object, streams its answer as
SSE chunks with a configurable delay, and fails or stalls the next requests on demand. `run_in_thread` serves
any ASGI app with uvicorn on loopback in a background thread.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
import socket
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Literal

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse

__all__ = ["DemoBackend", "ThreadServer", "run_in_thread"]


@dataclass
class ThreadServer:
    """A uvicorn server running in a daemon thread; `url` is its base address."""

    url: str
    port: int
    server: uvicorn.Server
    thread: threading.Thread

    def stop(self, timeout: float = 5.0) -> None:
        self.server.should_exit = True
        self.thread.join(timeout)


def run_in_thread(app: Any, host: str = "127.0.0.1", port: int = 0, lifespan: Literal["auto", "on", "off"] = "on",
                  startup_timeout: float = 60.0) -> ThreadServer:
    """Serve `app` on host:port (0: a free port, bound before the thread starts) and wait until it listens."""
    # IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY on accepted connections only when the proto says TCP; without
    # it every keep-alive response waits ~40 ms (Nagle against the client's delayed ACK)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", lifespan=lifespan, access_log=False,
                            timeout_graceful_shutdown=1, timeout_keep_alive=30)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True, name=f"server-{port}")
    thread.start()
    deadline = time.monotonic() + startup_timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"server on {host}:{port} did not start")
        time.sleep(0.01)
    return ThreadServer(f"http://{host}:{port}", port, server, thread)


@dataclass
class _Fault:
    status: int | None = None  # an HTTP error status, or None for a stall
    stall: float = 0.0


@dataclass
class DemoBackend:
    """One stand-in model server. `models`: names it accepts (empty: any); `delay`: seconds between streamed
    chunks; `latency`: seconds before answering. Thread-safe counters for tests."""

    name: str = "demo"
    models: tuple[str, ...] = ()
    delay: float = 0.0
    latency: float = 0.0
    requests: list[dict[str, Any]] = field(default_factory=list)
    cancelled: int = 0
    completed: int = 0
    _faults: list[_Fault] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def fail(self, status: int, times: int = 1) -> None:
        """Answer the next `times` requests with HTTP `status`."""
        with self._lock:
            self._faults += [_Fault(status=status) for _ in range(times)]

    def stall(self, seconds: float, times: int = 1) -> None:
        """Hold the next `times` requests for `seconds` (or until the client goes away)."""
        with self._lock:
            self._faults += [_Fault(stall=seconds) for _ in range(times)]

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
            self._faults.clear()
            self.cancelled = self.completed = 0

    def _next_fault(self) -> _Fault | None:
        with self._lock:
            return self._faults.pop(0) if self._faults else None

    def _count(self, what: str) -> None:
        with self._lock:
            setattr(self, what, getattr(self, what) + 1)

    def app(self) -> FastAPI:
        api = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
        api.post("/v1/chat/completions")(self._completions)
        for name in ("completions", "responses", "messages", "embeddings"):
            api.post(f"/v1/{name}")(functools.partial(self._other, api=name))

        @api.get("/v1/models")
        async def models() -> dict[str, Any]:
            return {"object": "list", "data": [{"id": m, "object": "model"} for m in self.models]}

        return api

    # -- HTTP -------------------------------------------------------------------------------------
    async def _completions(self, request: Request) -> Any:
        try:
            body = await request.json()
        except ValueError:
            return _error(400, "body is not JSON")
        messages = body.get("messages") if isinstance(body, dict) else None
        echo = _echo(body if isinstance(body, dict) else {}, self.name)
        with self._lock:
            self.requests.append({**echo, "authorization": request.headers.get("authorization"),
                                  "messages": messages})
        fault = self._next_fault()
        if self.latency:
            await asyncio.sleep(self.latency)
        if fault is not None and fault.stall:
            if await _stalled(request, fault.stall):
                self._count("cancelled")
                return JSONResponse({}, status_code=499)
        elif fault is not None:
            return _error(fault.status or 500, f"injected HTTP {fault.status}")
        if self.models and body.get("model") not in self.models:
            return _error(404, f"The model `{body.get('model')}` does not exist", "model_not_found")
        if not isinstance(messages, list) or not messages:
            return _error(400, "'messages' must be a non-empty array")
        last = next((m.get("content") for m in reversed(messages) if isinstance(m, dict) and m.get("role") == "user"),
                    "")
        text = f"[{body.get('model')}] reply to: {last}"
        if body.get("stream"):
            include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
            return StreamingResponse(self._sse(body, text, echo, include_usage), media_type="text/event-stream")
        self._count("completed")
        return {"id": f"chatcmpl-{self.name}-{time.monotonic_ns()}", "object": "chat.completion",
                "created": int(time.time()), "model": body.get("model"), "echo": echo,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                             "finish_reason": "stop", "logprobs": None}],
                "usage": {"prompt_tokens": 10, "completion_tokens": len(text.split()),
                          "total_tokens": 10 + len(text.split())}}

    async def _sse(self, body: dict[str, Any], text: str, echo: dict[str, Any],
                   include_usage: bool) -> AsyncIterator[bytes]:
        base = {"id": f"chatcmpl-{self.name}-{time.monotonic_ns()}", "object": "chat.completion.chunk",
                "created": int(time.time()), "model": body.get("model")}
        words = text.split(" ")
        try:
            yield _event({**base, "echo": echo, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""},
                                                             "finish_reason": None}]})
            for i, word in enumerate(words):
                if self.delay:
                    await asyncio.sleep(self.delay)
                piece = word if i == 0 else " " + word
                yield _event({**base, "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]})
            yield _event({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
            if include_usage:
                yield _event({**base, "choices": [], "usage": {"prompt_tokens": 10, "completion_tokens": len(words),
                                                               "total_tokens": 10 + len(words)}})
            yield b"data: [DONE]\n\n"
        except (asyncio.CancelledError, GeneratorExit):
            self._count("cancelled")
            raise
        self._count("completed")


    async def _other(self, request: Request, api: str) -> Any:
        """The other APIs (completions, responses, Anthropic messages, embeddings), in their own shapes; the
        request is logged with its `api`, body and the auth headers it came with."""
        try:
            body = await request.json()
        except ValueError:
            return _error(400, "body is not JSON")
        if not isinstance(body, dict):
            return _error(400, "body is not an object")
        with self._lock:
            self.requests.append({"api": api, "backend": self.name, "model": body.get("model"), "body": body,
                                  "authorization": request.headers.get("authorization"),
                                  "x-api-key": request.headers.get("x-api-key"),
                                  "anthropic-version": request.headers.get("anthropic-version")})
        fault = self._next_fault()
        if self.latency:
            await asyncio.sleep(self.latency)
        if fault is not None and fault.status:
            return _error(fault.status, f"injected HTTP {fault.status}")
        if self.models and body.get("model") not in self.models:
            return _error(404, f"The model `{body.get('model')}` does not exist", "model_not_found")
        self._count("completed")
        if api == "embeddings":
            given = body.get("input")
            texts = [given] if isinstance(given, str) else list(given or [])
            return {"object": "list", "model": body.get("model"), "usage": {"prompt_tokens": 3, "total_tokens": 3},
                    "data": [{"object": "embedding", "index": i, "embedding": _vector(str(t))}
                             for i, t in enumerate(texts)]}
        text = f"[{body.get('model')}] {api} reply"
        events = _API_EVENTS[api](body, text, self.name)
        if body.get("stream"):
            return StreamingResponse(_sse_events(events[1:], self.delay), media_type="text/event-stream")
        return events[0]


def _vector(text: str, dims: int = 8) -> list[float]:
    """A deterministic stand-in embedding of `text`."""
    digest = hashlib.sha256(text.encode()).digest()
    return [round(b / 255.0 - 0.5, 4) for b in digest[:dims]]


def _completion_events(body: dict[str, Any], text: str, name: str) -> list[Any]:
    base = {"id": f"cmpl-{name}-{time.monotonic_ns()}", "object": "text_completion", "created": int(time.time()),
            "model": body.get("model")}
    usage = {"prompt_tokens": 10, "completion_tokens": len(text.split()), "total_tokens": 10 + len(text.split())}
    whole = {**base, "choices": [{"index": 0, "text": text, "finish_reason": "stop", "logprobs": None}], "usage": usage}
    chunks = [(None, {**base, "choices": [{"index": 0, "text": w + " ", "finish_reason": None, "logprobs": None}]})
              for w in text.split()]
    return [whole, *chunks, (None, {**base, "choices": [{"index": 0, "text": "", "finish_reason": "stop",
                                                         "logprobs": None}]}), (None, "[DONE]")]


def _response_events(body: dict[str, Any], text: str, name: str) -> list[Any]:
    rid, mid = f"resp_{name}{time.monotonic_ns()}", f"msg_{name}{time.monotonic_ns()}"
    message = {"type": "message", "id": mid, "status": "completed", "role": "assistant",
               "content": [{"type": "output_text", "text": text, "annotations": []}]}
    base: dict[str, Any] = {"id": rid, "object": "response", "created_at": int(time.time()), "model": body.get("model"),
            "instructions": body.get("instructions"), "reasoning": body.get("reasoning"), "tools": [],
            "tool_choice": "auto", "parallel_tool_calls": True}
    usage = {"input_tokens": 10, "output_tokens": len(text.split()), "total_tokens": 10 + len(text.split()),
             "input_tokens_details": {"cached_tokens": 0}, "output_tokens_details": {"reasoning_tokens": 0}}
    done = {**base, "status": "completed", "output": [message], "usage": usage}
    events: list[Any] = [done, ("response.created", {"type": "response.created", "response": {
        **base, "status": "in_progress", "output": []}})]
    for w in text.split():
        events.append(("response.output_text.delta", {"type": "response.output_text.delta", "item_id": mid,
                                                      "output_index": 0, "content_index": 0, "delta": w + " "}))
    events.append(("response.completed", {"type": "response.completed", "response": done}))
    return [events[0], *[(kind, {**data, "sequence_number": i}) for i, (kind, data) in enumerate(events[1:])]]


def _message_events(body: dict[str, Any], text: str, name: str) -> list[Any]:
    mid = f"msg_{name}{time.monotonic_ns()}"
    base = {"id": mid, "type": "message", "role": "assistant", "model": body.get("model"), "stop_sequence": None}
    whole = {**base, "content": [{"type": "text", "text": text}], "stop_reason": "end_turn",
             "usage": {"input_tokens": 10, "output_tokens": len(text.split())}}
    events: list[Any] = [whole, ("message_start", {"type": "message_start", "message": {
        **base, "content": [], "stop_reason": None, "usage": {"input_tokens": 10, "output_tokens": 0}}}),
        ("content_block_start", {"type": "content_block_start", "index": 0,
                                 "content_block": {"type": "text", "text": ""}})]
    for w in text.split():
        events.append(("content_block_delta", {"type": "content_block_delta", "index": 0,
                                               "delta": {"type": "text_delta", "text": w + " "}}))
    events += [("content_block_stop", {"type": "content_block_stop", "index": 0}),
               ("message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                                  "usage": {"output_tokens": len(text.split())}}),
               ("message_stop", {"type": "message_stop"})]
    return events


_API_EVENTS = {"completions": _completion_events, "responses": _response_events, "messages": _message_events}


async def _sse_events(events: list[Any], delay: float) -> AsyncIterator[bytes]:
    """Server-sent events: `(event name or None, data)`; data "[DONE]" is sent as is."""
    for kind, data in events:
        if delay:
            await asyncio.sleep(delay)
        head = b"" if kind is None else f"event: {kind}\n".encode()
        payload = data if isinstance(data, str) else json.dumps(data)
        yield head + b"data: " + payload.encode() + b"\n\n"


async def _stalled(request: Request, seconds: float) -> bool:
    """Sleep up to `seconds`; True when the client disconnected meanwhile."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if await request.is_disconnected():
            return True
        await asyncio.sleep(0.01)
    return False


def _echo(body: dict[str, Any], backend: str) -> dict[str, Any]:
    given = body.get("messages")
    messages = given if isinstance(given, list) else []
    systems = [m.get("content") for m in messages if isinstance(m, dict) and m.get("role") == "system"]
    return {"backend": backend, "model": body.get("model"), "system": systems,
            "chat_template_kwargs": body.get("chat_template_kwargs"), "thinking": body.get("thinking"),
            "reasoning_effort": body.get("reasoning_effort"), "stream": bool(body.get("stream"))}


def _event(data: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(data).encode() + b"\n\n"


def _error(status: int, message: str, code: str | None = None) -> JSONResponse:
    kind = "invalid_request_error" if status < 500 else "server_error"
    return JSONResponse({"error": {"message": message, "type": kind, "param": None, "code": code}},
                        status_code=status)

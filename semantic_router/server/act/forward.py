"""Forwarding an opened upstream response to the client: whole, or streamed event by event (a backend that dies
or stalls mid-answer ends the stream with an error event the OpenAI SDK raises on).

Also: racing an upstream call against the client's disconnect, so a client that goes away cancels its
upstream request, and reading token usage from the answer for metrics.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
from fastapi import Request
from starlette.requests import ClientDisconnect
from starlette.responses import Response, StreamingResponse

from semantic_router.server.ingress.errors import error_body
from semantic_router.server.act.sse import sse_data
from semantic_router.server.act.upstream import Opened

__all__ = [
    "ClientGone",
    "StreamHooks",
    "race_disconnect",
    "streamed_response",
    "until_disconnect",
    "usage_of_body",
    "usage_of_sse",
    "whole_response",
]

log = logging.getLogger("semantic_router.server")
_TIMEOUT = getattr(asyncio, "timeout", None)  # Python 3.11+
T = TypeVar("T")
_PASS_HEADERS = ("content-type", "x-request-id", "openai-processing-ms")
_TAIL = 16384


class ClientGone(Exception):
    """The client disconnected before the upstream answered."""


async def until_disconnect(request: Request) -> None:
    """Return when the client disconnects (the body must already have been read)."""
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            return


async def race_disconnect(request: Request, work: Awaitable[T]) -> T:
    """Await `work`, cancelling it (and raising ClientGone) if the client disconnects first."""
    task = asyncio.ensure_future(work)
    watcher = asyncio.ensure_future(until_disconnect(request))
    try:
        await asyncio.wait({task, watcher}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        watcher.cancel()
    if task.done():
        return task.result()
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await task
    raise ClientGone()


def _headers(opened: Opened, extra: dict[str, str]) -> dict[str, str]:
    out = {k: v for k in _PASS_HEADERS if (v := opened.response.headers.get(k)) is not None}
    return {**out, **extra}


def usage_of_body(body: bytes) -> dict[str, Any] | None:
    """`usage` of a non-streamed JSON answer, if any."""
    try:
        usage = json.loads(body).get("usage")
    except (ValueError, AttributeError):
        return None
    return usage if isinstance(usage, dict) else None


def usage_of_sse(tail: bytes) -> dict[str, Any] | None:
    """`usage` of the last SSE event that carries one (servers send it in the final chunk)."""
    for data in reversed(list(sse_data(tail))):
        if b'"usage"' in data:
            usage = usage_of_body(data.strip())
            if usage:
                return usage
    return None


def whole_response(opened: Opened, headers: dict[str, str]) -> Response:
    """The upstream answer as it came (status, body, content type), plus the router's headers."""
    opened.release()
    return Response(content=opened.response.content, status_code=opened.response.status_code,
                    headers=_headers(opened, headers))


@dataclass
class StreamHooks:
    """What a relayed stream reports: its first byte (seconds since the request started), its end (the usage
    of its last chunk), its whole body once it completed (for a cache; None: not wanted), a break mid-answer
    (`stream_broken` / `stream_timeout`) and a client that went away mid-answer."""

    first_byte: Callable[[float], None]
    done: Callable[[dict[str, Any] | None], None]
    body: Callable[[bytes], Awaitable[None]] | None = None
    broke: Callable[[str], None] = lambda reason: None
    client_gone: Callable[[], None] = lambda: None


def _event_end(data: bytes) -> int:
    """Length of the prefix of `data` made of complete SSE events (ends with a blank line)."""
    if data.endswith(b"\n\n"):
        return len(data)
    ends = [i + len(sep) for sep in (b"\n\n", b"\r\n\r\n", b"\r\r") if (i := data.rfind(sep)) >= 0]
    return max(ends, default=0)


def _error_event(message: str, code: str) -> bytes:
    """An SSE event whose data has an `error` key: the OpenAI SDK raises `openai.APIError` with its message."""
    return b"data: " + json.dumps(error_body(message, "upstream_error", None, code)).encode() + b"\n\n"


async def _next_within(chunks: AsyncIterator[bytes], seconds: float) -> bytes:
    """The next chunk, or asyncio.TimeoutError when it takes longer than `seconds`."""
    if _TIMEOUT is not None:  # Python 3.11+: a rescheduled timer, no task per chunk
        async with _TIMEOUT(seconds):
            return await chunks.__anext__()
    return await asyncio.wait_for(chunks.__anext__(), seconds)


async def _paced(response: httpx.Response, idle: float | None) -> AsyncIterator[bytes]:
    """The response body chunk by chunk; with `idle`, asyncio.TimeoutError when a chunk is that late."""
    chunks = response.aiter_raw()
    if idle is None:  # the client's read timeout (the model's `timeout`) still bounds each read
        async for chunk in chunks:
            yield chunk
        return
    while True:
        try:
            chunk = await _next_within(chunks, idle)
        except StopAsyncIteration:
            return
        yield chunk


class _Relay(StreamingResponse):
    """A StreamingResponse that reports a client gone mid-answer (ASGI 2.4 servers raise on send) instead of
    letting it reach the error handlers as an error."""

    def __init__(self, *args: Any, gone: Callable[[], None], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.gone = gone

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        try:
            await super().__call__(scope, receive, send)
        except ClientDisconnect:
            self.gone()


def streamed_response(opened: Opened, headers: dict[str, str], started: float, hooks: StreamHooks,
                      idle_timeout: float | None = None, max_body: int = 4 * 1024 * 1024) -> StreamingResponse:
    """Relay the upstream body as it arrives, whole SSE events at a time; closing (or a client disconnect)
    closes upstream. A backend that dies mid-answer, or sends nothing for `idle_timeout` seconds (default: the
    model's read timeout), ends the stream with an error event (no `[DONE]`), so clients see an error rather than
    a silently cut answer. With `hooks.body`, the whole body (up to `max_body` bytes) is handed over once the
    stream ended normally (a cache stores it); a broken, cut or oversized stream never reaches it."""
    response = opened.response
    gone_once = [False]

    def gone() -> None:
        if not gone_once[0]:
            gone_once[0] = True
            hooks.client_gone()

    async def relay() -> AsyncIterator[bytes]:
        tail, first, pending = b"", True, b""
        broke: str | None = None
        kept: list[bytes] | None = [] if hooks.body is not None else None
        size = 0
        try:
            try:
                async for chunk in _paced(response, idle_timeout):
                    if first:
                        hooks.first_byte(time.perf_counter() - started)
                        first = False
                    tail = (tail + chunk)[-_TAIL:]
                    if kept is not None:
                        size += len(chunk)
                        if size <= max_body:
                            kept.append(chunk)
                        else:
                            kept = None
                    data = pending + chunk if pending else chunk
                    cut = _event_end(data)
                    pending = data[cut:]  # an event not yet complete waits, so an error never lands inside one
                    if cut:
                        yield data[:cut]
            except (httpx.TimeoutException, asyncio.TimeoutError):
                broke = "stream_timeout"
            except httpx.HTTPError as exc:  # the backend died mid-answer: nothing can be retried now
                broke = "stream_broken"
                log.warning("upstream %s stream broke: %s", opened.model, type(exc).__name__)
            if broke is None:
                if pending:
                    yield pending
            else:
                hooks.broke(broke)
                what = ("sent nothing for too long" if broke == "stream_timeout" else "stopped mid-answer")
                yield _error_event(f"the upstream model {opened.model!r} {what}; the answer is incomplete",
                                   f"upstream_{broke}")
        except (asyncio.CancelledError, GeneratorExit):  # the client went away (or the server is stopping)
            gone()
            raise
        finally:
            opened.release()
            await response.aclose()
        hooks.done(usage_of_sse(tail))
        if hooks.body is not None and kept is not None and broke is None:
            await hooks.body(b"".join(kept))

    return _Relay(relay(), status_code=response.status_code, headers=_headers(opened, headers), gone=gone)

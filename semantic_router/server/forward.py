"""Forwarding an opened upstream response to the client: whole, or streamed chunk by chunk.

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
from typing import Any, TypeVar

import httpx
from fastapi import Request
from starlette.responses import Response, StreamingResponse

from semantic_router.server.upstream import Opened

__all__ = [
    "ClientGone",
    "race_disconnect",
    "streamed_response",
    "until_disconnect",
    "usage_of_body",
    "usage_of_sse",
    "whole_response",
]

log = logging.getLogger("semantic_router.server")
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
    for line in reversed(tail.split(b"\n")):
        line = line.strip()
        if line.startswith(b"data:") and b'"usage"' in line:
            usage = usage_of_body(line[5:].strip())
            if usage:
                return usage
    return None


def whole_response(opened: Opened, headers: dict[str, str]) -> Response:
    """The upstream answer as it came (status, body, content type), plus the router's headers."""
    return Response(content=opened.response.content, status_code=opened.response.status_code,
                    headers=_headers(opened, headers))


def streamed_response(opened: Opened, headers: dict[str, str], started: float,
                      on_first_byte: Callable[[float], None],
                      on_done: Callable[[dict[str, Any] | None], None],
                      on_body: Callable[[bytes], Awaitable[None]] | None = None,
                      max_body: int = 4 * 1024 * 1024) -> StreamingResponse:
    """Relay the upstream body chunk by chunk as it arrives; closing (or a client disconnect) closes upstream.
    With `on_body`, the whole body (up to `max_body` bytes) is handed to it once the stream ended normally
    (a cache stores it); a broken, cut or oversized stream never reaches it."""
    response = opened.response

    async def relay() -> AsyncIterator[bytes]:
        tail, first, broke = b"", True, False
        kept: list[bytes] | None = [] if on_body is not None else None
        size = 0
        try:
            async for chunk in response.aiter_raw():
                if first:
                    on_first_byte(time.perf_counter() - started)
                    first = False
                tail = (tail + chunk)[-_TAIL:]
                if kept is not None:
                    size += len(chunk)
                    if size <= max_body:
                        kept.append(chunk)
                    else:
                        kept = None
                yield chunk
        except httpx.HTTPError as exc:  # the backend died mid-answer: nothing can be retried now
            log.warning("upstream %s stream broke: %s", opened.model, type(exc).__name__)
            broke = True
        finally:
            await response.aclose()
        on_done(usage_of_sse(tail))
        if on_body is not None and kept is not None and not broke:
            await on_body(b"".join(kept))

    return StreamingResponse(relay(), status_code=response.status_code, headers=_headers(opened, headers))

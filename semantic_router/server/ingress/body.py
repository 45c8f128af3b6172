"""Ingress: reading what a client sent, and answering every client fault with an OpenAI-shaped 4xx.

`read_json` reads a body within its size limit and parses it as strict JSON: UTF-8, no `NaN`/`Infinity`,
numbers that fit 64 bits or a finite double, nesting at most `MAX_JSON_DEPTH`, no lone UTF-16 surrogate in any
string. The checks cost nothing for ordinary bodies: the nesting and surrogate walks only run when a quick scan
of the bytes says they might find something. `install_error_handlers` makes every error leave as an OpenAI
body: `APIError` and HTTP errors as themselves, a client that went away mid-body as a counted disconnect (no
log), and anything unexpected as ONE logged 500 (`ErrorBoundary`), never a second traceback from the server.
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from starlette.responses import Response

from semantic_router.server.ingress.errors import APIError, error_body, error_response

__all__ = ["MAX_JSON_DEPTH", "ErrorBoundary", "install_error_handlers", "read_json"]

log = logging.getLogger("semantic_router.server")

MAX_JSON_DEPTH = 100
"""Deepest nesting of arrays and objects a body may have (tool schemas nest a few dozen levels at most)."""
_MAX_INT_DIGITS = 19  # 64-bit integers; larger ones do not survive a trip through most JSON servers anyway
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")  # any \uD800-\uDFFF escape: a lone one may be among them
_CLIENT_GONE = 499  # never seen by the client; what logs and proxies call a client that closed the request


class _BadNumber(ValueError):
    """A number JSON may carry but the gateway does not accept (NaN, Infinity, huge)."""


def _constant(name: str) -> Any:
    raise _BadNumber(f"{name} is not a JSON number")


def _float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _BadNumber(f"{text[:40]} is out of the range of a double")
    return value


def _int(text: str) -> int:
    if len(text.lstrip("-")) > _MAX_INT_DIGITS:
        raise _BadNumber(f"the integer {text[:20]}... has {len(text)} digits; at most {_MAX_INT_DIGITS}")
    return int(text)


def _where(path: tuple[Any, ...]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "body"


def _first_fault(data: Any, check_depth: bool, check_text: bool) -> tuple[str, str] | None:
    """(where, what) of the first container nested too deep or string holding a lone surrogate; iterative, so
    a deep body cannot exhaust the stack here either."""
    stack: list[tuple[Any, tuple[Any, ...]]] = [(data, ())]
    while stack:
        node, path = stack.pop()
        if isinstance(node, str):
            if check_text:
                try:
                    node.encode("utf-8")
                except UnicodeEncodeError:
                    return _where(path), "holds a lone UTF-16 surrogate (not valid Unicode text)"
            continue
        if not isinstance(node, (dict, list)):
            continue
        if check_depth and len(path) >= MAX_JSON_DEPTH:
            return _where(path), f"nests deeper than {MAX_JSON_DEPTH} levels"
        items = node.items() if isinstance(node, dict) else enumerate(node)
        for key, value in items:
            if check_text and isinstance(key, str):
                stack.append((key, (*path, key)))
            stack.append((value, (*path, key)))
    return None


def parse_json(raw: bytes) -> dict[str, Any]:
    """A JSON object from a request body; APIError 400 (`invalid_json`) naming what is wrong."""
    if not raw.strip():
        raise APIError(400, "request body is empty; expected a JSON object", code="invalid_json")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise APIError(400, f"request body is not UTF-8 text: {exc.reason} at byte {exc.start}",
                       code="invalid_json") from None
    try:
        data = json.loads(text, parse_constant=_constant, parse_float=_float, parse_int=_int)
    except _BadNumber as exc:
        raise APIError(400, f"request body holds an unacceptable number: {exc}", code="invalid_json") from None
    except RecursionError:
        raise APIError(400, f"request body nests deeper than {MAX_JSON_DEPTH} levels", code="invalid_json") from None
    except ValueError as exc:  # JSONDecodeError and anything else the decoder refuses
        raise APIError(400, f"request body is not valid JSON: {exc}", code="invalid_json") from None
    if not isinstance(data, dict):
        raise APIError(400, f"request body must be a JSON object, got {type(data).__name__}", code="invalid_json")
    # fewer brackets than the limit cannot nest deeper (one C pass: ~1 us per 1.5 kB)
    deep = len(raw) - len(raw.translate(None, b"[{")) > MAX_JSON_DEPTH
    odd = _SURROGATE_ESCAPE.search(text) is not None
    if deep or odd:
        fault = _first_fault(data, deep, odd)
        if fault is not None:
            where, what = fault
            raise APIError(400, f"{where} {what}", param=None if where == "body" else where, code="invalid_json")
    return data


async def read_json(request: Request, limit: int) -> dict[str, Any]:
    """The body as a checked JSON object (see `parse_json`); 413 past `limit` bytes, checked while reading.
    A client that disconnects mid-body raises starlette's `ClientDisconnect` (answered by the handlers below)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and (len(declared) > 18 or int(declared) > limit):
        raise APIError(413, f"request body of {declared[:20]} bytes exceeds the limit of {limit} bytes",
                       code="request_too_large")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise APIError(413, f"request body exceeds the limit of {limit} bytes", code="request_too_large")
        chunks.append(chunk)
    return parse_json(b"".join(chunks))


class ErrorBoundary:
    """ASGI middleware: an unexpected exception is logged once with its traceback and answered with an
    OpenAI-shaped 500 (when nothing was sent yet); it is not re-raised, so the server logs no second one."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: dict[str, Any]) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:  # noqa: BLE001 - the one place a bug becomes a 500 instead of a dropped connection
            log.exception("unexpected error on %s %s", scope.get("method"), scope.get("path"))
            if not started:
                response = JSONResponse(error_body(f"internal error ({type(exc).__name__})", "server_error"),
                                        status_code=500)
                await response(scope, receive, send)


def install_error_handlers(app: FastAPI, on_client_error: Callable[[str], None],
                           on_disconnect: Callable[[str], None]) -> None:
    """Every error leaves as an OpenAI-style body: a 4xx for the client's mistakes (`on_client_error(code)`
    counts an `APIError`), a client gone mid-body is `on_disconnect("request")` and no log, anything else one
    logged 500."""

    @app.exception_handler(APIError)
    async def api_error(request: Request, exc: APIError) -> JSONResponse:
        if exc.status < 500:
            on_client_error(exc.code or str(exc.status))
        return error_response(exc, exc.headers)

    @app.exception_handler(ClientDisconnect)
    async def client_gone(request: Request, exc: ClientDisconnect) -> Response:
        on_disconnect("request")
        return Response(status_code=_CLIENT_GONE)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        message = exc.detail if isinstance(exc.detail, str) else "request failed"
        if exc.status_code == 404:
            message = f"no such endpoint: {request.method} {request.url.path}"
        elif exc.status_code == 405:
            message = f"method {request.method} is not allowed on {request.url.path}"
        return JSONResponse(error_body(message, "invalid_request_error", None, str(exc.status_code)),
                            status_code=exc.status_code, headers=getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse(error_body(str(exc.errors()[:3]), "invalid_request_error"), status_code=400)

    app.add_middleware(ErrorBoundary)

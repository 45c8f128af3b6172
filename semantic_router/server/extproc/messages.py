"""Envoy's ext_proc messages in and out: headers read from a `HttpHeaders`, and the `ProcessingResponse`s the
processor answers with (continue, header and body mutations, an immediate response). Plain functions over the
published Envoy API messages (the `xds-protos` package)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any, Literal

from envoy.config.core.v3 import base_pb2
from envoy.service.ext_proc.v3 import external_processor_pb2 as ep
from envoy.type.v3 import http_status_pb2

from semantic_router.server.ingress.errors import APIError, error_body

__all__ = ["Phase", "continue_response", "headers_of", "immediate", "immediate_error", "json_bytes", "mutated"]

Phase = Literal["request_headers", "request_body", "response_headers", "response_body", "request_trailers",
                "response_trailers"]
_OVERWRITE = base_pb2.HeaderValueOption.OVERWRITE_IF_EXISTS_OR_ADD


def headers_of(message: ep.HttpHeaders) -> dict[str, str]:
    """Lower-case header names to values (Envoy sends `raw_value` bytes; older Envoys the `value` string)."""
    out: dict[str, str] = {}
    for h in message.headers.headers:
        out[h.key.lower()] = h.raw_value.decode("utf-8", "replace") if h.raw_value else h.value
    return out


def _header_mutation(set_headers: Mapping[str, str], remove: Iterable[str] = ()) -> ep.HeaderMutation:
    return ep.HeaderMutation(
        set_headers=[base_pb2.HeaderValueOption(header=base_pb2.HeaderValue(key=k, raw_value=v.encode("utf-8")),
                                                append_action=_OVERWRITE) for k, v in set_headers.items()],
        remove_headers=list(remove))


def _common(set_headers: Mapping[str, str] | None = None, remove: Iterable[str] = (), body: bytes | None = None,
            clear_route_cache: bool = False) -> ep.CommonResponse:
    common = ep.CommonResponse(status=ep.CommonResponse.CONTINUE, clear_route_cache=clear_route_cache)
    if set_headers or remove:
        common.header_mutation.CopyFrom(_header_mutation(set_headers or {}, remove))
    if body is not None:
        common.body_mutation.CopyFrom(ep.BodyMutation(body=body))
    return common


def _wrap(phase: Phase, common: ep.CommonResponse | None) -> ep.ProcessingResponse:
    if phase in ("request_trailers", "response_trailers"):
        return ep.ProcessingResponse(**{phase: ep.TrailersResponse()})
    if phase in ("request_headers", "response_headers"):
        return ep.ProcessingResponse(**{phase: ep.HeadersResponse(response=common)})
    return ep.ProcessingResponse(**{phase: ep.BodyResponse(response=common)})


def continue_response(phase: Phase) -> ep.ProcessingResponse:
    """Let the message through unchanged."""
    return _wrap(phase, ep.CommonResponse(status=ep.CommonResponse.CONTINUE))


def mutated(phase: Phase, set_headers: Mapping[str, str], remove: Iterable[str] = (), body: bytes | None = None,
            clear_route_cache: bool = False) -> ep.ProcessingResponse:
    """Continue with headers set (overwritten), removed and, for a body phase, the body replaced. With
    `clear_route_cache` Envoy picks the route again (it routes on the headers just set)."""
    return _wrap(phase, _common(set_headers, remove, body, clear_route_cache))


def immediate(status: int, headers: Mapping[str, str], body: bytes, details: str) -> ep.ProcessingResponse:
    """Answer the client at once (Envoy does not forward the request); `details` lands in Envoy's access log."""
    return ep.ProcessingResponse(immediate_response=ep.ImmediateResponse(
        status=http_status_pb2.HttpStatus(code=status),  # an open enum: any HTTP status
        headers=_header_mutation(headers), body=body, details=details))


def immediate_error(exc: APIError, headers: Mapping[str, str] | None = None) -> ep.ProcessingResponse:
    """The OpenAI-shaped error answer the HTTP proxy would give for `exc`."""
    body = json.dumps(error_body(exc.message, exc.type, exc.param, exc.code)).encode()
    return immediate(exc.status, {"content-type": "application/json", **(headers or {})}, body,
                     f"semantic_router_{exc.code or exc.status}")


def json_bytes(data: Any) -> bytes:
    """A request body as compact UTF-8 JSON."""
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode("utf-8")

"""The request and error bodies of the client endpoints as JSON Schema, for the app's OpenAPI document
(`create_app(...).openapi()`): what clients may send and the OpenAI-shaped error every 4xx carries. The
gateway's tests fuzz it from this document; the handlers validate bodies themselves (see `ingress`, `requests`).
"""

from __future__ import annotations

from typing import Any

__all__ = ["CHAT_OPERATION", "ERROR_BODY", "ROUTE_OPERATION"]

_NULLABLE_STRING: dict[str, Any] = {"anyOf": [{"type": "string"}, {"type": "null"}]}

ERROR_BODY: dict[str, Any] = {
    "type": "object",
    "required": ["error"],
    "properties": {"error": {
        "type": "object",
        "required": ["message", "type", "param", "code"],
        "properties": {"message": {"type": "string", "minLength": 1}, "type": {"type": "string"},
                       "param": _NULLABLE_STRING, "code": _NULLABLE_STRING},
    }},
}

_CONTENT_PART: dict[str, Any] = {
    "type": "object",
    "required": ["type"],
    "properties": {"type": {"type": "string", "examples": ["text"]}, "text": {"type": "string"}},
}

_MESSAGE: dict[str, Any] = {
    "type": "object",
    "required": ["role"],
    "properties": {
        "role": {"enum": ["system", "developer", "user", "assistant", "tool", "function"]},
        "content": {"anyOf": [{"type": "string"}, {"type": "array", "items": _CONTENT_PART}, {"type": "null"}]},
        "name": {"type": "string"},
        "tool_call_id": {"type": "string"},
    },
}

_MESSAGES: dict[str, Any] = {"type": "array", "minItems": 1, "items": _MESSAGE}

_CHAT_BODY: dict[str, Any] = {
    "type": "object",
    "required": ["model", "messages"],
    "properties": {
        "model": {"type": "string", "examples": ["auto"]},
        "messages": _MESSAGES,
        "stream": {"type": "boolean"},
        "stream_options": {"type": "object", "properties": {"include_usage": {"type": "boolean"}}},
        "temperature": {"type": "number", "minimum": 0, "maximum": 2},
        "top_p": {"type": "number", "minimum": 0, "maximum": 1},
        "n": {"type": "integer", "minimum": 1, "maximum": 8},
        "max_tokens": {"type": "integer", "minimum": 1},
        "seed": {"type": "integer"},
        "stop": {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}, "maxItems": 4}]},
        "user": {"type": "string"},
        "tools": {"type": "array", "items": {"type": "object"}},
        "tool_choice": {"anyOf": [{"type": "string"}, {"type": "object"}]},
        "response_format": {"type": "object"},
    },
}

_ROUTE_ITEM: dict[str, Any] = {
    "oneOf": [
        {"type": "object", "required": ["prompt"], "properties": {"prompt": {"type": "string", "minLength": 1}},
         "additionalProperties": False},
        {"type": "object", "required": ["messages"], "properties": {"messages": _MESSAGES},
         "additionalProperties": False},
    ],
}

_ROUTE_BODY: dict[str, Any] = {
    "oneOf": [
        _ROUTE_ITEM,
        {"type": "object", "required": ["batch"], "additionalProperties": False,
         "properties": {"batch": {"type": "array", "minItems": 1, "maxItems": 256, "items": _ROUTE_ITEM}}},
    ],
}


def _operation(body: dict[str, Any], answer: str) -> dict[str, Any]:
    error = {"content": {"application/json": {"schema": ERROR_BODY}}}
    return {
        "requestBody": {"required": True, "content": {"application/json": {"schema": body}}},
        "responses": {"200": {"description": answer},
                      "4XX": {"description": "the client's mistake, OpenAI-shaped", **error},
                      "5XX": {"description": "upstream failure (502/504) or not ready (503), OpenAI-shaped", **error}},
    }


CHAT_OPERATION = _operation(_CHAT_BODY, "a chat completion (JSON, or an SSE stream with stream: true)")
ROUTE_OPERATION = _operation(_ROUTE_BODY, "the decision (or {results: [...]} for a batch)")

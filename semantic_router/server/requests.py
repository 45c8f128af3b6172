"""Parsing and validating client bodies (chat completions, /v1/route) into what the pipeline needs."""

from __future__ import annotations

import json
from typing import Any

from fastapi import Request

from semantic_router.server.errors import APIError
from semantic_router.server.signals.base import Conversation

__all__ = ["MAX_ROUTE_BATCH", "conversation_of", "prompt_conversation", "read_json"]

MAX_ROUTE_BATCH = 256
_ROLES = {"system", "developer", "user", "assistant", "tool", "function"}


async def read_json(request: Request, limit: int) -> dict[str, Any]:
    """The body as a JSON object; 413 past `limit` bytes (checked while reading), 400 when it is not JSON."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise APIError(413, f"request body of {declared} bytes exceeds the limit of {limit} bytes",
                       code="request_too_large")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise APIError(413, f"request body exceeds the limit of {limit} bytes", code="request_too_large")
        chunks.append(chunk)
    raw = b"".join(chunks)
    if not raw.strip():
        raise APIError(400, "request body is empty; expected a JSON object", code="invalid_json")
    try:
        data = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise APIError(400, f"request body is not valid JSON: {exc}", code="invalid_json") from None
    if not isinstance(data, dict):
        raise APIError(400, f"request body must be a JSON object, got {type(data).__name__}", code="invalid_json")
    return data


def _text_of(content: Any, param: str) -> str:
    """Text of a message content: a string, or the text parts of a content-part list."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for j, part in enumerate(content):
            if not isinstance(part, dict) or not isinstance(part.get("type"), str):
                raise APIError(400, f"{param}[{j}] must be an object with a 'type'", param=f"{param}[{j}]")
            if part["type"] == "text":
                if not isinstance(part.get("text"), str):
                    raise APIError(400, f"{param}[{j}].text must be a string", param=f"{param}[{j}].text")
                parts.append(part["text"])
        return "\n".join(parts)
    raise APIError(400, f"{param} must be a string or a list of content parts, got {type(content).__name__}",
                   param=param)


def conversation_of(messages: Any, param: str = "messages") -> Conversation:
    """Validate an OpenAI `messages` list and extract what signals read (400 naming the bad field)."""
    if messages is None:
        raise APIError(400, f"'{param}' is required", param=param, code="missing_required_parameter")
    if not isinstance(messages, list):
        raise APIError(400, f"'{param}' must be an array, got {type(messages).__name__}", param=param)
    if not messages:
        raise APIError(400, f"'{param}' must be a non-empty array", param=param)
    users, texts, system = [], [], None
    for i, m in enumerate(messages):
        where = f"{param}[{i}]"
        if not isinstance(m, dict):
            raise APIError(400, f"{where} must be an object, got {type(m).__name__}", param=where)
        role = m.get("role")
        if role not in _ROLES:
            raise APIError(400, f"{where}.role must be one of {sorted(_ROLES)}, got {role!r:.40}",
                           param=f"{where}.role")
        text = _text_of(m.get("content"), f"{where}.content")
        texts.append(text)
        if role == "user" and text.strip():
            users.append(text)
        elif role in ("system", "developer") and system is None:
            system = text
    if not users:
        raise APIError(400, f"'{param}' holds no user message with text to route", param=param)
    return Conversation(tuple(users), "\n".join(texts), system)


def prompt_conversation(prompt: Any, param: str = "prompt") -> Conversation:
    if not isinstance(prompt, str):
        raise APIError(400, f"'{param}' must be a string, got {type(prompt).__name__}", param=param)
    if not prompt.strip():
        raise APIError(400, f"'{param}' is empty", param=param)
    return Conversation((prompt,), prompt, None)

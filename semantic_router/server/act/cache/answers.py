"""Which answers may be cached, and converting between streamed (SSE) and whole chat completions.

A stream is assembled into one `chat.completion` only when it completed (`data: [DONE]`) without an error
or a tool call; a cache hit on a streaming request is replayed as a well-formed SSE stream of that answer.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterable
from typing import Any

from semantic_router.server.act.sse import sse_data, sse_event

__all__ = ["SSE_DONE", "assemble_stream", "cacheable_answer", "replay_sse"]

SSE_DONE = b"data: [DONE]\n\n"
_TEXT_FIELDS = ("content", "reasoning_content", "reasoning", "refusal")
_TOOL_FIELDS = ("tool_calls", "function_call")
_TOOL_FINISH = ("tool_calls", "function_call")


def _clean_choice(choice: Any) -> bool:
    """A choice with a text message and no tool call."""
    if not isinstance(choice, dict) or choice.get("finish_reason") in _TOOL_FINISH:
        return False
    message = choice.get("message")
    if not isinstance(message, dict) or any(message.get(f) for f in _TOOL_FIELDS):
        return False
    return isinstance(message.get("content"), str) or message.get("content") is None


def cacheable_answer(status: int, body: bytes | None) -> dict[str, Any] | None:
    """The parsed answer when it may be cached: a 200 chat completion with text choices, no error, no tool call."""
    if status != 200 or not body:
        return None
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(data, dict) or "error" in data:
        return None
    choices = data.get("choices")
    if not isinstance(choices, list) or not choices or not all(_clean_choice(c) for c in choices):
        return None
    return data


def assemble_stream(chunks: Iterable[bytes]) -> dict[str, Any] | None:
    """A completed chat-completions SSE stream as one `chat.completion`; None if it did not finish with
    `[DONE]`, carried an error, a tool call or an unparsable or oddly shaped event."""
    try:
        return _assemble(chunks)
    except (TypeError, AttributeError, ValueError):  # e.g. "choices": 3 from a broken backend
        return None


def _assemble(chunks: Iterable[bytes]) -> dict[str, Any] | None:
    head: dict[str, Any] = {}
    choices: dict[int, dict[str, Any]] = {}
    usage = None
    done = False
    for data in sse_data(b"".join(chunks)):
        if done:
            return None  # events after [DONE]: not a well-formed stream
        if data.strip() == b"[DONE]":
            done = True
            continue
        try:
            event = json.loads(data)
        except (ValueError, UnicodeDecodeError):
            return None
        if not isinstance(event, dict) or "error" in event:
            return None
        for k in ("id", "created", "model", "system_fingerprint"):
            if k in event and k not in head:
                head[k] = event[k]
        if isinstance(event.get("usage"), dict):
            usage = event["usage"]
        for delta_choice in event.get("choices") or []:
            if not isinstance(delta_choice, dict) or not isinstance(delta_choice.get("index", 0), int):
                return None
            delta = delta_choice.get("delta") or {}
            if not isinstance(delta, dict) or any(delta.get(f) for f in _TOOL_FIELDS):
                return None
            slot = choices.setdefault(delta_choice.get("index", 0), {"role": "assistant", "parts": {},
                                                                      "finish_reason": None})
            if isinstance(delta.get("role"), str):
                slot["role"] = delta["role"]
            for f in _TEXT_FIELDS:
                if isinstance(delta.get(f), str):
                    slot["parts"].setdefault(f, []).append(delta[f])
            if delta_choice.get("finish_reason") is not None:
                slot["finish_reason"] = delta_choice["finish_reason"]
    if not done or not choices or any(c["finish_reason"] in _TOOL_FINISH for c in choices.values()):
        return None
    out: dict[str, Any] = {"id": head.get("id", f"chatcmpl-{uuid.uuid4().hex}"), "object": "chat.completion",
                           "created": head.get("created", int(time.time())), "model": head.get("model", "")}
    if "system_fingerprint" in head:
        out["system_fingerprint"] = head["system_fingerprint"]
    out["choices"] = []
    for index in sorted(choices):
        slot = choices[index]
        message: dict[str, Any] = {"role": slot["role"], "content": "".join(slot["parts"].get("content", []))}
        for f in _TEXT_FIELDS[1:]:
            if f in slot["parts"]:
                message[f] = "".join(slot["parts"][f])
        out["choices"].append({"index": index, "message": message, "finish_reason": slot["finish_reason"]})
    if usage is not None:
        out["usage"] = usage
    return out


def _pieces(text: str, size: int) -> list[str]:
    return [text[i:i + size] for i in range(0, len(text), size)] or [""]


def replay_sse(answer: dict[str, Any], include_usage: bool = False, piece_chars: int = 64) -> list[bytes]:
    """A cached `chat.completion` as the SSE events a streaming client expects: per choice a role delta, the
    text in pieces, a finish delta; then a usage chunk when asked (`stream_options.include_usage`), `[DONE]`."""
    head = {"id": answer.get("id") or f"chatcmpl-{uuid.uuid4().hex}", "object": "chat.completion.chunk",
            "created": answer.get("created", int(time.time())), "model": answer.get("model", "")}
    if "system_fingerprint" in answer:
        head["system_fingerprint"] = answer["system_fingerprint"]
    out: list[bytes] = []
    for choice in answer.get("choices", []):
        index, message = choice.get("index", 0), choice.get("message") or {}
        out.append(sse_event({**head, "choices": [{"index": index, "delta": {"role": message.get("role", "assistant")},
                                              "finish_reason": None}]}))
        for f in _TEXT_FIELDS:
            if isinstance(message.get(f), str) and (message[f] or f == "content"):
                for piece in _pieces(message[f], piece_chars):
                    out.append(sse_event({**head, "choices": [{"index": index, "delta": {f: piece},
                                                          "finish_reason": None}]}))
        out.append(sse_event({**head, "choices": [{"index": index, "delta": {},
                                              "finish_reason": choice.get("finish_reason") or "stop"}]}))
    if include_usage:
        out.append(sse_event({**head, "choices": [], "usage": answer.get("usage")}))
    out.append(SSE_DONE)
    return out

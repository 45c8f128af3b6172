"""Validating the messages of client bodies (chat completions, /v1/route) into what the pipeline needs; the body
itself is read and parsed by `ingress.read_json`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from semantic_router.server.ingress.errors import APIError

__all__ = ["MAX_ROUTE_BATCH", "ChatRequest", "Conversation", "conversation_of", "model_and_stream", "parse_chat",
           "prompt_conversation"]

MAX_ROUTE_BATCH = 256
_ROLES = {"system", "developer", "user", "assistant", "tool", "function"}


@dataclass(frozen=True, slots=True)
class Conversation:
    """The text of a request as signals need it: every user turn (oldest first) and all message text."""

    user_turns: tuple[str, ...]
    all_text: str
    system: str | None = None

    @property
    def last_turn(self) -> str:
        return self.user_turns[-1]


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
        if not isinstance(role, str) or role not in _ROLES:
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


@dataclass(frozen=True)
class ChatRequest:
    """A validated chat completion: its body, the model asked for, streaming or not, and its conversation."""

    body: dict[str, Any]
    model: str
    stream: bool
    conversation: Conversation
    started: float
    api: str = "chat"  # which client API it came in on (ingress/apis.py: chat, completions, responses, messages)


def model_and_stream(body: dict[str, Any]) -> tuple[str, bool]:
    """The `model` (required, a string) and `stream` (a boolean, default false) of any client API's body."""
    model = body.get("model")
    if model is None:
        raise APIError(400, "'model' is required (a configured model or a virtual one such as 'auto')",
                       param="model", code="missing_required_parameter")
    if not isinstance(model, str):
        raise APIError(400, f"'model' must be a string, got {type(model).__name__}", param="model")
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        raise APIError(400, f"'stream' must be a boolean, got {type(stream).__name__}", param="stream")
    return model, stream


def parse_chat(body: dict[str, Any], started: float) -> ChatRequest:
    """Validate a chat-completions body (400 naming the bad field); `started` is the request's perf_counter."""
    model, stream = model_and_stream(body)
    options = body.get("stream_options")
    if options is not None and not isinstance(options, dict):
        raise APIError(400, f"'stream_options' must be an object, got {type(options).__name__}",
                       param="stream_options")
    return ChatRequest(body, model, stream, conversation_of(body.get("messages")), started)

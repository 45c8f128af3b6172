"""Validating the bodies of the other client APIs the gateway routes: OpenAI's `/v1/completions`, `/v1/responses`
and `/v1/embeddings`, Anthropic's `/v1/messages`. Each routed one becomes a `ChatRequest` (its `api` names the
API) whose `Conversation` holds the text signals read, so decide and act handle every API the same way."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from semantic_router.server.config import Api
from semantic_router.server.ingress.errors import APIError
from semantic_router.server.ingress.requests import ChatRequest, Conversation, conversation_of, model_and_stream

__all__ = ["API_PATHS", "Api", "EmbeddingsRequest", "parse_completions", "parse_embeddings", "parse_messages",
           "parse_responses"]

#: the path each API is forwarded to, under a backend's base_url (which ends in /v1)
API_PATHS: dict[str, str] = {"chat": "/chat/completions", "completions": "/completions", "responses": "/responses",
                             "messages": "/messages", "embeddings": "/embeddings"}
_TEXT_PARTS = {"text", "input_text", "output_text"}


def _texts(value: Any, param: str) -> list[str]:
    """A string, or a list of strings (a batch of prompts / inputs); token-id prompts carry no text to route."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return list(value)
    if value is None:
        raise APIError(400, f"'{param}' is required", param=param, code="missing_required_parameter")
    raise APIError(400, f"'{param}' must be a string or a non-empty array of strings (token ids cannot be "
                   f"routed), got {type(value).__name__}", param=param)


def _routable(texts: list[str], param: str, system: str | None = None) -> Conversation:
    users = [t for t in texts if t.strip()]
    if not users:
        raise APIError(400, f"'{param}' holds no text to route", param=param)
    return Conversation(tuple(users), "\n".join(texts if system is None else [system, *texts]), system)


def parse_completions(body: dict[str, Any], started: float) -> ChatRequest:
    """`/v1/completions`: the prompt (or each prompt of a batch) is the text routed on."""
    model, stream = model_and_stream(body)
    return ChatRequest(body, model, stream, _routable(_texts(body.get("prompt"), "prompt"), "prompt"), started,
                       api="completions")


def _part_text(content: Any, param: str) -> str:
    """The text of a Responses content: a string or a list of parts (`input_text`, `output_text`, ...)."""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise APIError(400, f"{param} must be a string or an array of content parts, got {type(content).__name__}",
                       param=param)
    out = []
    for j, part in enumerate(content):
        if not isinstance(part, dict) or not isinstance(part.get("type"), str):
            raise APIError(400, f"{param}[{j}] must be an object with a 'type'", param=f"{param}[{j}]")
        if part["type"] in _TEXT_PARTS:
            if not isinstance(part.get("text"), str):
                raise APIError(400, f"{param}[{j}].text must be a string", param=f"{param}[{j}].text")
            out.append(part["text"])
    return "\n".join(out)


def parse_responses(body: dict[str, Any], started: float) -> ChatRequest:
    """`/v1/responses`: the user turns of `input` (a string or a list of items) are routed on; `instructions` is
    the system text. Items that are not messages (tool calls and their outputs, reasoning) are passed through."""
    model, stream = model_and_stream(body)
    instructions = body.get("instructions")
    if instructions is not None and not isinstance(instructions, str):
        raise APIError(400, f"'instructions' must be a string, got {type(instructions).__name__}",
                       param="instructions")
    given = body.get("input")
    if isinstance(given, str):
        return ChatRequest(body, model, stream, _routable([given], "input", instructions), started, api="responses")
    if not isinstance(given, list) or not given:
        raise APIError(400, "'input' must be a string or a non-empty array of items", param="input")
    users, texts = [], []
    for i, item in enumerate(given):
        where = f"input[{i}]"
        if not isinstance(item, dict):
            raise APIError(400, f"{where} must be an object, got {type(item).__name__}", param=where)
        if item.get("type", "message") != "message":
            continue
        role = item.get("role")
        if role not in ("user", "assistant", "system", "developer"):
            raise APIError(400, f"{where}.role must be user, assistant, system or developer, got {role!r:.40}",
                           param=f"{where}.role")
        text = _part_text(item.get("content"), f"{where}.content")
        texts.append(text)
        if role == "user" and text.strip():
            users.append(text)
    if not users:
        raise APIError(400, "'input' holds no user message with text to route", param="input")
    all_text = "\n".join(texts if instructions is None else [instructions, *texts])
    return ChatRequest(body, model, stream, Conversation(tuple(users), all_text, instructions), started,
                       api="responses")


def parse_messages(body: dict[str, Any], started: float) -> ChatRequest:
    """Anthropic's `/v1/messages`: user/assistant `messages` (text blocks are read) and a top-level `system`."""
    model, stream = model_and_stream(body)
    messages = body.get("messages")
    if isinstance(messages, list):
        for i, m in enumerate(messages):
            if isinstance(m, dict) and m.get("role") not in ("user", "assistant"):
                raise APIError(400, f"messages[{i}].role must be 'user' or 'assistant' (the system text is the "
                               f"top-level 'system'), got {m.get('role')!r:.40}", param=f"messages[{i}].role")
    conversation = conversation_of(messages)
    system = body.get("system")
    if system is not None:
        system = _part_text(system, "system")
        conversation = Conversation(conversation.user_turns, f"{system}\n{conversation.all_text}", system)
    return ChatRequest(body, model, stream, conversation, started, api="messages")


@dataclass(frozen=True)
class EmbeddingsRequest:
    """`/v1/embeddings`: not routed (an embedding must come from the model the caller's index was built with),
    passed through to the configured model it names."""

    body: dict[str, Any]
    model: str
    started: float


def parse_embeddings(body: dict[str, Any], started: float) -> EmbeddingsRequest:
    model, _ = model_and_stream(body)
    value = body.get("input")
    if value is None:
        raise APIError(400, "'input' is required", param="input", code="missing_required_parameter")
    if not isinstance(value, (str, list)) or (isinstance(value, list) and not value):
        raise APIError(400, "'input' must be a string or a non-empty array", param="input")
    return EmbeddingsRequest(body, model, started)

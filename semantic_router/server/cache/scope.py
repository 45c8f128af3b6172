"""What a cached answer is keyed on, so no user ever sees an answer meant for another context.

The *scope* of a request hashes everything that can change the answer except the final user turn: the model,
the decision, the tenant (gateway API key id), the earlier messages (system prompt included) and every sampling
or tool parameter of the body. Entries are only compared within one scope; the *key* adds the final user text
(exact lookups), and semantic lookups compare that text's embedding against the scope's entries.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from semantic_router.server.cache.config import CacheConfig

__all__ = ["Bypass", "CacheRequest", "cache_request", "tenant_id"]

# Body fields that never change the answer's content (transport, bookkeeping); every other field is scoped.
_UNSCOPED = frozenset({"messages", "model", "stream", "stream_options", "user", "metadata", "store",
                       "service_tier", "safety_identifier", "prompt_cache_key"})
_SPACE = re.compile(r"\s+")


@dataclass
class CacheRequest:
    """One cacheable request: its scope digest, exact key, final user text (and its vector once embedded)."""

    scope: str
    key: str
    text: str
    vector: np.ndarray | None = field(default=None, repr=False)


@dataclass(frozen=True)
class Bypass:
    """Why a request is not cacheable (a label for metrics and logs)."""

    reason: str


def tenant_id(authorization: str | None) -> str:
    """A stable, non-reversible id of the caller's gateway key ("anonymous" without one)."""
    scheme, _, token = (authorization or "").partition(" ")
    token = token.strip() if scheme.lower() == "bearer" else ""
    if not token:
        return "anonymous"
    return "key-" + hashlib.sha256(b"sr-tenant\0" + token.encode()).hexdigest()[:24]


def _normalized(text: str) -> str:
    return _SPACE.sub(" ", text).strip()


def _final_user_text(message: Any) -> str | None:
    """The final user turn as plain text; None when it is not a user turn of text only."""
    if not isinstance(message, dict) or message.get("role") != "user":
        return None
    content = message.get("content")
    if isinstance(content, str):
        return _normalized(content) or None
    if isinstance(content, list) and content and all(
            isinstance(p, dict) and p.get("type") == "text" and isinstance(p.get("text"), str) for p in content):
        return _normalized("\n".join(p["text"] for p in content)) or None
    return None  # images, audio or files: the text alone does not determine the answer


def _number(value: Any, default: float) -> float | None:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def _digest(payload: Any) -> str:
    raw = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(raw.encode()).hexdigest()


def cache_request(body: dict[str, Any], *, decision: str, model: str, tenant: str,
                  config: CacheConfig) -> CacheRequest | Bypass:
    """The cache identity of a chat-completions body, or why it must bypass the cache."""
    temperature = _number(body.get("temperature"), config.default_temperature)
    if temperature is None or temperature > config.max_temperature:
        return Bypass("temperature")
    n = _number(body.get("n"), 1)
    if n is None or n > config.max_n:
        return Bypass("n")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return Bypass("no_messages")
    text = _final_user_text(messages[-1])
    if text is None:
        return Bypass("last_turn_not_user_text")
    params = {k: v for k, v in body.items() if k not in _UNSCOPED}
    params["temperature"] = temperature
    scope = _digest({"v": 1, "model": model, "decision": decision, "tenant": tenant,
                     "context": messages[:-1], "params": params})
    return CacheRequest(scope=scope, key=_digest({"scope": scope, "text": text}), text=text)

"""What a cached answer is keyed on, so no user ever sees an answer meant for another context.

The *scope* of a request hashes everything that can change the answer except the final user turn's text: the
routed model, the decision and its rewrite (system prompt, reasoning switch), the tenant (from the gateway API
key), every earlier message whole, the final message's other fields (`name`, ...) and every body field except the
few listed in `_UNSCOPED`, which provably do not change the answer: a field a client or a new API version adds
is in the scope by default. Entries are only compared within one scope; the *key* adds the final user text
(exact lookups), and semantic lookups compare that text's embedding against the scope's entries.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from semantic_router.server.act.cache.config import CacheConfig

__all__ = ["Bypass", "CacheRequest", "cache_request"]

# Body fields that never change the answer's content (transport and bookkeeping); every other field is scoped.
# `messages` and `model` are scoped in their own way (earlier messages whole, the final turn's text as the key;
# the routed model instead of the name the client asked for). See docs/gateway-production.md for each reason.
_UNSCOPED = frozenset({"messages", "model", "stream", "stream_options", "metadata", "store", "service_tier",
                       "prompt_cache_key"})
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


def cache_request(body: dict[str, Any], *, decision: str, model: str, tenant: str, config: CacheConfig,
                  rewrite: str = "") -> CacheRequest | Bypass:
    """The cache identity of a chat-completions body, or why it must bypass the cache. `rewrite` identifies
    what the decision changes in the request for `model` (a reload that changes a system prompt changes it)."""
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
    final = {k: v for k, v in messages[-1].items() if k != "content"}  # name, ...: who asks changes the answer
    scope = _digest({"v": 2, "model": model, "decision": decision, "rewrite": rewrite, "tenant": tenant,
                     "context": messages[:-1], "final": final, "params": params})
    return CacheRequest(scope=scope, key=_digest({"scope": scope, "text": text}), text=text)

"""Sticky conversations: remember which decision and model a conversation went to, for a TTL.

A conversation is identified by the session id header when the client sends one, else by a hash of its
system prompt and user turns: a request is looked up under the hash of its earlier user turns and stored under
the hash of all of them, so the next turn of the same conversation finds it. Either key is scoped by the tenant
(from the gateway API key): another tenant sending the same session id or conversation never finds it.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Sequence
from dataclasses import dataclass

from cachetools import TTLCache

__all__ = ["SessionStore", "Sticky", "conversation_keys"]


@dataclass(frozen=True)
class Sticky:
    decision: str
    model: str


def _digest(tenant: str, system: str | None, turns: Sequence[str]) -> str:
    h = hashlib.blake2b(digest_size=16)
    h.update(tenant.encode() + b"\x00")
    h.update((system or "").encode())
    for t in turns:
        h.update(b"\x00" + t.encode())
    return "h:" + h.hexdigest()


def conversation_keys(session_id: str | None, system: str | None, user_turns: Sequence[str], *,
                      tenant: str) -> tuple[str | None, str]:
    """(key to look up — None for the first turn of an anonymous conversation, key to store under), both
    within `tenant`."""
    if session_id:
        key = f"s:{tenant}:{session_id}"
        return key, key
    lookup = _digest(tenant, system, user_turns[:-1]) if len(user_turns) > 1 else None
    return lookup, _digest(tenant, system, user_turns)


class SessionStore:
    """Thread-safe TTL map from conversation key to its sticky decision."""

    def __init__(self, ttl: float, max_sessions: int) -> None:
        self._cache: TTLCache[str, Sticky] = TTLCache(maxsize=max_sessions, ttl=ttl)
        self._lock = threading.Lock()

    def get(self, key: str | None) -> Sticky | None:
        if key is None:
            return None
        with self._lock:
            return self._cache.get(key)

    def put(self, key: str, sticky: Sticky) -> None:
        with self._lock:
            self._cache[key] = sticky

    def __len__(self) -> int:
        with self._lock:
            return len(self._cache)

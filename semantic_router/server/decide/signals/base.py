"""The result every signal produces; signals read the `Conversation` ingress parsed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from semantic_router.server.ingress.requests import Conversation

__all__ = ["Conversation", "SignalResult"]  # Conversation: the parsed request signals read (ingress owns it)


@dataclass(frozen=True, slots=True)
class SignalResult:
    """One signal's verdict on a request: `type:name` matched or not, with a confidence and its cost in ms."""

    type: str
    name: str
    matched: bool
    confidence: float | None
    ms: float

    @property
    def key(self) -> str:
        return f"{self.type}:{self.name}"

    def as_dict(self) -> dict[str, Any]:
        return {"type": self.type, "name": self.name, "matched": self.matched, "confidence": self.confidence,
                "ms": round(self.ms, 4)}

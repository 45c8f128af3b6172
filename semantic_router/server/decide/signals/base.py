"""The result every signal produces, and the conversation view signals read."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


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


@dataclass(frozen=True, slots=True)
class Conversation:
    """The text of a request as signals need it: every user turn (oldest first) and all message text."""

    user_turns: tuple[str, ...]
    all_text: str
    system: str | None = None

    @property
    def last_turn(self) -> str:
        return self.user_turns[-1]

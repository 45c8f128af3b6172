"""Context signals: token-length ranges of the whole conversation (estimated from its characters)."""

from __future__ import annotations

import math
import time

from semantic_router.server.config import ContextRange
from semantic_router.server.decide.signals.base import Conversation, SignalResult


def estimate_tokens(text: str, chars_per_token: float) -> int:
    """A tokenizer-free estimate: characters / chars_per_token (4 is the usual English average)."""
    return math.ceil(len(text) / chars_per_token)


class ContextSignal:
    """Matched when min_tokens <= estimated tokens of the conversation < max_tokens."""

    type = "context"

    def __init__(self, spec: ContextRange, chars_per_token: float) -> None:
        self.name = spec.name
        self.low = spec.min_tokens
        self.high = spec.max_tokens
        self.chars_per_token = chars_per_token

    def evaluate(self, conversation: Conversation) -> SignalResult:
        start = time.perf_counter()
        tokens = estimate_tokens(conversation.all_text, self.chars_per_token)
        matched = tokens >= self.low and (self.high is None or tokens < self.high)
        return SignalResult(self.type, self.name, matched, 1.0 if matched else 0.0,
                            (time.perf_counter() - start) * 1e3)

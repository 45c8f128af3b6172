"""Keyword signals: named sets of words, phrases or regexes matched case-insensitively unless the set says
case_sensitive (any / all / none)."""

from __future__ import annotations

import re
import time

from semantic_router.server.config import KeywordSet
from semantic_router.server.decide.signals.base import Conversation, SignalResult


def _pattern(word: str, regex: bool, case_sensitive: bool = False) -> re.Pattern[str]:
    flags = 0 if case_sensitive else re.IGNORECASE
    if regex:
        return re.compile(word, flags)
    body = re.escape(word.strip())
    start = r"\b" if re.match(r"\w", word.strip()) else ""
    end = r"\b" if re.search(r"\w$", word.strip()) else ""
    return re.compile(start + body + end, flags)


class KeywordSignal:
    """One keyword set compiled once; evaluated on the last user turn."""

    type = "keywords"

    def __init__(self, spec: KeywordSet) -> None:
        self.name = spec.name
        self.mode = spec.match
        self.patterns = tuple(_pattern(w, spec.regex, spec.case_sensitive) for w in spec.words)

    def evaluate(self, conversation: Conversation) -> SignalResult:
        start = time.perf_counter()
        text = conversation.last_turn
        hits = sum(1 for p in self.patterns if p.search(text))
        if self.mode == "any":
            matched = hits > 0
        elif self.mode == "all":
            matched = hits == len(self.patterns)
        else:
            matched = hits == 0
        confidence = 1.0 if matched else 0.0
        return SignalResult(self.type, self.name, matched, confidence, (time.perf_counter() - start) * 1e3)

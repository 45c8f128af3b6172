"""Decisions: rule trees (AND / OR / NOT over signal matches) evaluated on a request's signals.

The highest-priority matching decision wins; ties go to the higher confidence, then to config order
(`tie_break="order"`: to config order alone, as the vLLM Semantic Router's `strategy: priority` does).
An empty rule is a catch-all (confidence 0, so a specific rule of equal priority beats it). When nothing
matches, the default decision applies (or, without one, a built-in decision on the first model).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from semantic_router.server.config import DecisionConfig, RuleNode
from semantic_router.server.decide.signals.base import SignalResult

__all__ = ["Decided", "Decider", "evaluate_rule"]


def evaluate_rule(node: RuleNode, signals: Mapping[str, SignalResult]) -> tuple[bool, float]:
    """(matched, confidence) of a rule tree. AND: min of its children; OR: max of the matched ones;
    NOT: 1.0 when its child does not match. A signal missing from `signals` does not match."""
    if node.signal is not None:
        result = signals.get(node.signal)
        if result is None or not result.matched:
            return False, 0.0
        return True, 1.0 if result.confidence is None else float(result.confidence)
    if node.all_of is not None:
        outcomes = [evaluate_rule(c, signals) for c in node.all_of]
        ok = all(m for m, _ in outcomes)
        return ok, min(c for _, c in outcomes) if ok else 0.0
    if node.any_of is not None:
        matched = [c for m, c in (evaluate_rule(c, signals) for c in node.any_of) if m]
        return bool(matched), max(matched, default=0.0)
    if node.not_ is not None:
        ok, _ = evaluate_rule(node.not_, signals)
        return not ok, 0.0 if ok else 1.0
    return True, 0.0  # empty rule: catch-all


@dataclass(frozen=True)
class Decided:
    """The decision taken for a request and how sure the rule was."""

    decision: DecisionConfig
    confidence: float
    matched: bool  # False: no rule matched and the default applied


class Decider:
    """Decisions sorted once by priority; `decide(signals)` picks one."""

    def __init__(self, decisions: Sequence[DecisionConfig], default: str | None, first_model: str,
                 tie_break: str = "confidence") -> None:
        self.decisions = sorted(decisions, key=lambda d: -d.priority)  # stable: config order within a priority
        self.by_order = tie_break == "order"
        named = {d.name: d for d in decisions}
        self.default = named[default] if default is not None else DecisionConfig(name="default", model=first_model)

    def decide(self, signals: Mapping[str, SignalResult]) -> Decided:
        best: tuple[DecisionConfig, float] | None = None
        for d in self.decisions:
            if best is not None and d.priority < best[0].priority:
                break
            ok, confidence = evaluate_rule(d.rule, signals)
            if ok and (best is None or confidence > best[1]):
                best = (d, confidence)
                if self.by_order:  # the first match of the highest priority wins
                    break
        if best is None:
            return Decided(self.default, 0.0, False)
        return Decided(best[0], best[1], True)

    def by_name(self, name: str) -> DecisionConfig | None:
        if name == self.default.name:
            return self.default
        return next((d for d in self.decisions if d.name == name), None)

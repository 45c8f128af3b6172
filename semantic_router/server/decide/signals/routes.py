"""The routes signal: one result per semantic route, from the router's choice with every route's score."""

from __future__ import annotations

from collections.abc import Sequence

from semantic_router import RouteChoice
from semantic_router.server.decide.signals.base import SignalResult


def route_results(choice: RouteChoice, route_names: Sequence[str], ms: float) -> list[SignalResult]:
    """`routes:<name>` for every route: matched for the chosen one; confidence = that route's similarity."""
    scores = choice.scores or {}
    out = []
    for name in route_names:
        matched = name == choice.name
        if matched:
            conf = choice.confidence if choice.confidence is not None else choice.similarity_score
        else:
            conf = scores.get(name)
        out.append(SignalResult("routes", name, matched, None if conf is None else float(conf), ms))
    return out

"""Signals: what the gateway knows about a request before deciding (semantic routes, keywords, context length)."""

from semantic_router.server.decide.signals.base import Conversation, SignalResult
from semantic_router.server.decide.signals.context import ContextSignal
from semantic_router.server.decide.signals.keywords import KeywordSignal
from semantic_router.server.decide.signals.routes import route_results

__all__ = ["ContextSignal", "Conversation", "KeywordSignal", "SignalResult", "route_results"]

"""Signals: what the gateway knows about a request before deciding (semantic routes, keywords, context length)."""

from semantic_router.server.signals.base import Conversation, SignalResult
from semantic_router.server.signals.context import ContextSignal
from semantic_router.server.signals.keywords import KeywordSignal
from semantic_router.server.signals.routes import route_results

__all__ = ["ContextSignal", "Conversation", "KeywordSignal", "SignalResult", "route_results"]

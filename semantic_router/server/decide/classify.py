"""Classifying a request: signals -> decision -> model (with session stickiness), as a plain result.

`route_chat(classifier, request, session_id, tenant)` is the whole decide phase for a parsed chat request: no
FastAPI `Request`, no I/O beyond the router's encoder, so the HTTP proxy and an Envoy external processor share it.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from semantic_router import RouteLayer
from semantic_router.server.config import DecisionConfig, GatewayConfig
from semantic_router.server.decide.batching import MicroBatcher
from semantic_router.server.decide.decisions import Decider
from semantic_router.server.decide.guards import GuardOutcome, Guards
from semantic_router.server.decide.learned import Head, LearnedSignal, Scored, Scorer, load_head
from semantic_router.server.decide.sessions import SessionStore, Sticky, conversation_keys
from semantic_router.server.decide.signals import (
    ContextSignal,
    KeywordSignal,
    SignalResult,
    route_results,
)
from semantic_router.server.ingress.errors import APIError
from semantic_router.server.guards_config import ClassifierGuard
from semantic_router.server.ingress.requests import ChatRequest, Conversation

__all__ = ["Classification", "Classifier", "Routed", "route_chat"]


@dataclass(frozen=True)
class Classification:
    """The outcome of classifying one request: decision, model, top route, every signal, timings."""

    decision: DecisionConfig
    model: str
    route: str | None
    score: float | None
    confidence: float | None
    signals: list[SignalResult]
    ms: float
    matched: bool
    sticky: bool = False
    guards: GuardOutcome = GuardOutcome()

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"decision": self.decision.name, "model": self.model, "route": self.route, "score": self.score,
               "confidence": self.confidence, "signals": [s.as_dict() for s in self.signals],
               "ms": round(self.ms, 4), "sticky": self.sticky}
        if self.guards.verdicts:
            out["guards"] = self.guards.as_dict()
        return out

    def chain(self) -> list[str]:
        """Models to try in order: the chosen one, then the decision's fallback."""
        fallback = self.decision.fallback
        return [self.model] if fallback is None or fallback == self.model else [self.model, fallback]


@dataclass(frozen=True)
class Routed:
    """Where a chat request goes: its classification (None for a configured model asked for by name) and the
    models to try, in order."""

    classification: Classification | None
    chain: list[str]
    guards: GuardOutcome = GuardOutcome()

    @property
    def decision(self) -> DecisionConfig | None:
        return None if self.classification is None else self.classification.decision

    @property
    def decision_name(self) -> str:
        return "direct" if self.classification is None else self.classification.decision.name


class Classifier:
    """Signals, decisions and sticky sessions of one config (and its RouteLayer, None without semantic routes)."""

    def __init__(self, config: GatewayConfig, layer: RouteLayer | None, sessions: SessionStore | None = None,
                 rng: random.Random | None = None) -> None:
        self.config = config
        self.layer = layer
        server = config.server
        self.batcher = None if layer is None else MicroBatcher(
            layer, server.batch_window_ms / 1000.0, server.max_batch, enabled=server.batch_window_ms > 0)
        self.keywords = [KeywordSignal(k) for k in config.signals.keywords]
        self.contexts = [ContextSignal(c, server.chars_per_token) for c in config.signals.context]
        self.learned, self.guards, self.scorer = _learned(config, layer)
        self.decider = Decider(config.decisions, config.default_decision, next(iter(config.models)),
                               config.tie_break)
        self.sessions = sessions or SessionStore(config.sessions.ttl_seconds, config.sessions.max_sessions)
        self.virtual_models = frozenset(config.virtual_models)
        self.rng = rng or random.Random()

    def expect(self) -> None:
        """Tell the micro-batcher a request is being parsed (it may wait up to its window for it)."""
        if self.batcher is not None:
            self.batcher.expect()

    def arrived(self) -> None:
        """The request announced by `expect` is parsed (classifying now, or not at all)."""
        if self.batcher is not None:
            self.batcher.arrived()

    async def signals(self, conversation: Conversation) -> tuple[list[SignalResult], str | None, float | None]:
        """Every signal's result, plus the top route and its score."""
        results: list[SignalResult] = []
        route, score = None, None
        if self.batcher is not None and self.layer is not None:
            start = time.perf_counter()
            choice = await self.batcher.classify_conversation(conversation.user_turns)
            ms = (time.perf_counter() - start) * 1e3
            route, score = choice.name, choice.similarity_score
            results += route_results(choice, self.layer.list_route_names(), ms)
        results += [k.evaluate(conversation) for k in self.keywords]
        results += [c.evaluate(conversation) for c in self.contexts]
        return results, route, score

    async def inspect(self, conversation: Conversation,
                      body: dict[str, Any] | None = None) -> tuple[Scored | None, GuardOutcome]:
        """The learned classifiers' scores of the last user turn and every guard's verdict (with `body`, a
        chat request's, pii guards scan and redact its messages), in one worker-thread call."""
        if not self.scorer and not self.guards:
            return None, GuardOutcome()
        return await asyncio.to_thread(self._inspect, conversation, body)

    def _inspect(self, conversation: Conversation, body: dict[str, Any] | None) -> tuple[Scored | None, GuardOutcome]:
        scored = self.scorer.score(conversation.last_turn) if self.scorer else None
        outcome = self.guards.check(scored, [conversation.all_text], body) if self.guards else GuardOutcome()
        return scored, outcome

    def pick_model(self, decision: DecisionConfig) -> str:
        if decision.model is not None:
            return decision.model
        models = decision.models or []
        return self.rng.choices([m.name for m in models], weights=[m.weight for m in models])[0]

    async def classify(self, conversation: Conversation, session_id: str | None = None,
                       sticky: bool = False, tenant: str = "anonymous",
                       body: dict[str, Any] | None = None) -> Classification:
        """Guards and signals -> decision -> model. With `sticky`, a known conversation of `tenant` keeps its
        decision and model unless the new turn's decision is a different one with confidence >=
        sessions.switch_confidence. `body`: the chat request's, for pii guards to redact."""
        start = time.perf_counter()
        results, route, score = await self.signals(conversation)
        scored, outcome = await self.inspect(conversation, body)  # after routing: the turn's vector is cached
        if scored is not None:
            results += [r for s in self.learned for r in s.results(scored.proba[id(s.head)], scored.ms)]
        results += [v.signal() for v in outcome.verdicts]
        decided = self.decider.decide({r.key: r for r in results})
        decision, model, kept = decided.decision, None, False
        if sticky and self.config.sessions.enabled:
            lookup, store = conversation_keys(session_id, conversation.system, conversation.user_turns,
                                              tenant=tenant)
            previous = self.sessions.get(lookup)
            clear_switch = decided.matched and decided.confidence >= self.config.sessions.switch_confidence
            if previous is not None and previous.decision != decision.name and not clear_switch:
                kept_decision = self.decider.by_name(previous.decision)
                if kept_decision is not None and previous.model in self.config.models:
                    decision, model, kept = kept_decision, previous.model, True
            elif previous is not None and previous.decision == decision.name and previous.model in self.config.models:
                model = previous.model  # same decision: stay on the same (weighted) model too
            model = model or self.pick_model(decision)
            self.sessions.put(store, Sticky(decision.name, model))
        model = model or self.pick_model(decision)
        return Classification(decision, model, route, score, decided.confidence if not kept else None, results,
                              (time.perf_counter() - start) * 1e3, decided.matched, kept, outcome)

    async def classify_many(self, conversations: Sequence[Conversation]) -> list[Classification]:
        """Classify many at once (the micro-batcher encodes them together); no session stickiness."""
        return list(await asyncio.gather(*(self.classify(c) for c in conversations)))

    async def aclose(self) -> None:
        if self.batcher is not None:
            await self.batcher.aclose()


async def route_chat(classifier: Classifier, request: ChatRequest, session_id: str | None,
                     tenant: str) -> Routed:
    """The decide phase of a chat request: a virtual model is classified (sticky per tenant and session), a
    configured model goes straight to itself; any other model is a 404 naming the known ones."""
    if request.model in classifier.virtual_models:
        c = await classifier.classify(request.conversation, session_id, sticky=True, tenant=tenant, body=request.body)
        return _guarded(Routed(c, c.chain(), c.guards))
    if request.model not in classifier.config.models:
        raise APIError(404, f"The model '{request.model}' does not exist; known: "
                       f"{', '.join([*sorted(classifier.virtual_models), *classifier.config.models])}",
                       param="model", code="model_not_found")
    _, outcome = await classifier.inspect(request.conversation, request.body)
    return _guarded(Routed(None, [request.model], outcome))


def _guarded(routed: Routed) -> Routed:
    """A prevailing `route` guard sends the request to its model (and only there)."""
    model = routed.guards.route_model
    return routed if model is None else Routed(routed.classification, [model], routed.guards)


def _learned(config: GatewayConfig, layer: RouteLayer | None) -> tuple[list[LearnedSignal], Guards, Scorer]:
    """The classifier signals, guards and the scorer of their heads (each model file loaded once)."""
    loaded: dict[str, Head] = {}

    def head(model: str, field: str) -> Head:
        if model not in loaded:
            loaded[model] = load_head(model, field, config.resolve)
        return loaded[model]

    where = [f"signals.classifiers[{i}]" for i in range(len(config.signals.classifiers))] + ["signals.domains"]
    signals = [LearnedSignal(spec, head(spec.model, f"{where[i]}.model"), where[i])
               for i, spec in enumerate(config.signals.learned)]
    guard_heads = {g.name: head(g.model, f"guards[{i}].model") for i, g in enumerate(config.guards)
                   if isinstance(g, ClassifierGuard)}
    encoder = None if layer is None else layer.encoder
    return signals, Guards(config.guards, guard_heads), Scorer(list({id(h): h for h in loaded.values()}.values()),
                                                               encoder)

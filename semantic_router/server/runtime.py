"""Runtime: everything a config builds (router, signals, decisions, upstream clients), as one object.

The app holds ONE reference to the current Runtime and every request reads it once at its start, so a reload
can build a new Runtime off to the side and swap the reference while requests in flight finish on theirs.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from semantic_router import RouteLayer
from semantic_router.errors import ConfigError, SemanticRouterError
from semantic_router.server.auth import GatewayKeys
from semantic_router.server.batching import MicroBatcher
from semantic_router.server.config import DecisionConfig, GatewayConfig
from semantic_router.server.decisions import Decider
from semantic_router.server.plugins import Plugin, PluginEnv, build_plugin
from semantic_router.server.rewrite import rewrite_id
from semantic_router.server.sessions import SessionStore, Sticky, conversation_keys
from semantic_router.server.signals import (
    ContextSignal,
    Conversation,
    KeywordSignal,
    SignalResult,
    route_results,
)
from semantic_router.server.upstream import Upstreams

__all__ = ["Classification", "Runtime", "build_layer"]

log = logging.getLogger("semantic_router.server")


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

    def as_dict(self) -> dict[str, Any]:
        return {"decision": self.decision.name, "model": self.model, "route": self.route, "score": self.score,
                "confidence": self.confidence, "signals": [s.as_dict() for s in self.signals],
                "ms": round(self.ms, 4), "sticky": self.sticky}

    def chain(self) -> list[str]:
        """Models to try in order: the chosen one, then the decision's fallback."""
        fallback = self.decision.fallback
        return [self.model] if fallback is None or fallback == self.model else [self.model, fallback]


def build_layer(config: GatewayConfig, encoder: Any = None) -> RouteLayer | None:
    """The RouteLayer of `signals.routes` (None when the config has no semantic routes). `encoder` replaces
    the configured one (a reload reuses the loaded model when the encoder section did not change)."""
    spec = config.signals.routes
    if spec is None:
        return None
    extra: dict[str, Any] = {"auto_sync": spec.auto_sync, "refresh_interval": spec.refresh_seconds} \
        if spec.auto_sync else {}
    if encoder is not None:
        extra["encoder"] = encoder
    if spec.path is not None:
        path = config.resolve(spec.path, "signals.routes.path")
        if not path.is_file():
            raise ConfigError(f"signals.routes.path: no such file: {spec.path!r}")
        try:
            if path.suffix.lower() in (".pkl", ".pickle"):
                return RouteLayer.load(path, **extra)
            return RouteLayer.from_file(path, **extra)
        except (SemanticRouterError, ValueError, TypeError) as exc:
            # the library's message may quote the file (its keys, its values): the log keeps it for the operator,
            # the error (an admin's PUT answer) says only what went wrong where
            log.error("signals.routes.path %r: %s", spec.path, exc)
            raise ConfigError(f"signals.routes.path: {spec.path!r} is not a usable router file "
                              f"({type(exc).__name__}; the gateway's log has the details)") from None
    try:
        return RouteLayer.from_dict(dict(spec.router or {}), **extra)
    except (SemanticRouterError, ValueError, TypeError) as exc:
        raise ConfigError(f"signals.routes: {exc}") from None


class Runtime:
    """One immutable routing setup. Build with `Runtime.build(config)`; close with `await rt.aclose()`."""

    def __init__(self, config: GatewayConfig, layer: RouteLayer | None, upstreams: Upstreams,
                 keys: GatewayKeys, sessions: SessionStore | None = None, rng: random.Random | None = None) -> None:
        self.config = config
        self.layer = layer
        server = config.server
        self.batcher = None if layer is None else MicroBatcher(
            layer, server.batch_window_ms / 1000.0, server.max_batch, enabled=server.batch_window_ms > 0)
        self.keywords = [KeywordSignal(k) for k in config.signals.keywords]
        self.contexts = [ContextSignal(c, server.chars_per_token) for c in config.signals.context]
        self.decider = Decider(config.decisions, config.default_decision, next(iter(config.models)))
        self.upstreams = upstreams
        self.keys = keys
        self.sessions = sessions or SessionStore(config.sessions.ttl_seconds, config.sessions.max_sessions)
        self.plugins: dict[str, list[Plugin]] = {
            d.name: [build_plugin(n, o) for n, o in d.plugins.items()] for d in config.decisions}
        self.virtual_models = frozenset(config.virtual_models)
        self.rng = rng or random.Random()
        self._rewrite_ids: dict[tuple[str, str], str] = {}
        self.ready = False

    @classmethod
    def build(cls, config: GatewayConfig, layer: RouteLayer | None = None, encoder: Any = None,
              **kwargs: Any) -> Runtime:
        """Build the router (unless `layer` is given; `encoder` replaces the configured one), check rule
        references to routes, open upstream clients."""
        if layer is None:
            layer = build_layer(config, encoder)
        elif config.signals.routes is None:
            raise ConfigError("a RouteLayer was given but the config has no signals.routes")
        if layer is not None and config.signals.routes is not None and config.signals.routes.auto_sync is None:
            names = set(layer.list_route_names())
            for i, d in enumerate(config.decisions):
                for sig in d.rule.signals():
                    kind, _, name = sig.partition(":")
                    if kind == "routes" and name not in names:
                        raise ConfigError(f"decisions[{i}].rule: unknown route {name!r} in {sig!r}; "
                                          f"the router has {sorted(names)}")
        keys = GatewayKeys.from_config(config.server, config.resolve)
        return cls(config, layer, Upstreams.from_config(config), keys, **kwargs)

    def warm(self) -> None:
        """Load the encoder model and run one query so the first request pays nothing extra."""
        if self.batcher is not None:
            self.batcher.classify_sync(["warm up the router"])
        self.ready = True

    async def embed(self, texts: list[str]) -> Any:
        """Dense query vectors from the router's encoder, off the event loop (the encoder caches queries, so
        the turn routing just encoded costs nothing here)."""
        if self.layer is None:
            raise ConfigError("this gateway has no semantic routes, so no encoder")
        return await asyncio.to_thread(self.layer.encoder.encode_queries, texts)

    def bind_plugins(self, registry: Any, services: dict[str, Any]) -> None:
        """Attach plugins that need app services (see `PluginEnv`); a refusal is a ConfigError naming it."""
        env = PluginEnv(registry, self.embed if self.layer is not None else None, services)
        for decision, plugins in self.plugins.items():
            for plugin in plugins:
                bind = getattr(plugin, "bind", None)
                if bind is None:
                    continue
                try:
                    bind(env, decision)
                except ValueError as exc:
                    raise ConfigError(f"decision {decision!r}: plugin {plugin.name!r}: {exc}") from None

    def rewrite_id(self, decision: DecisionConfig, model: str) -> str:
        """What the decision's rewrite does for `model` (see `rewrite.rewrite_id`), computed once per pair."""
        key = (decision.name, model)
        found = self._rewrite_ids.get(key)
        if found is None:
            found = self._rewrite_ids[key] = rewrite_id(decision, model, self.config.models[model])
        return found

    @property
    def model_names(self) -> list[str]:
        return list(self.config.models)

    def is_configured_model(self, name: str) -> bool:
        return name in self.config.models

    # -- classification -------------------------------------------------------------------------
    def expect_classification(self) -> None:
        """Tell the micro-batcher a request is being parsed (it may wait up to its window for it)."""
        if self.batcher is not None:
            self.batcher.expect()

    def classification_arriving(self) -> None:
        """The request announced by `expect_classification` is parsed (classifying now, or not at all)."""
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

    def pick_model(self, decision: DecisionConfig) -> str:
        if decision.model is not None:
            return decision.model
        models = decision.models or []
        return self.rng.choices([m.name for m in models], weights=[m.weight for m in models])[0]

    async def classify(self, conversation: Conversation, session_id: str | None = None,
                       sticky: bool = False, tenant: str = "anonymous") -> Classification:
        """Signals -> decision -> model. With `sticky`, a known conversation of `tenant` keeps its decision and
        model unless the new turn's decision is a different one with confidence >= sessions.switch_confidence."""
        start = time.perf_counter()
        results, route, score = await self.signals(conversation)
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
                              (time.perf_counter() - start) * 1e3, decided.matched, kept)

    async def classify_many(self, conversations: Sequence[Conversation]) -> list[Classification]:
        """Classify many at once (the micro-batcher encodes them together); no session stickiness."""
        return list(await asyncio.gather(*(self.classify(c) for c in conversations)))

    async def aclose(self) -> None:
        if self.batcher is not None:
            await self.batcher.aclose()
        await self.upstreams.aclose()

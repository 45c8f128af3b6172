"""Runtime: everything a config builds, as one object: the decide phase (`Classifier`: router, signals,
decisions, sessions), the act phase's services (plugins, rewrites, upstream clients) and the ingress keys.

The app holds ONE reference to the current Runtime and every request reads it once at its start, so a reload
can build a new Runtime off to the side and swap the reference while requests in flight finish on theirs.
"""

from __future__ import annotations

import asyncio
import logging
import random
from typing import Any

from semantic_router import RouteLayer
from semantic_router.errors import ConfigError, SemanticRouterError
from semantic_router.server.act.plugins import Plugin, PluginEnv, build_plugin
from semantic_router.server.act.rewrite import rewrite_id
from semantic_router.server.act.upstream import Upstreams
from semantic_router.server.config import DecisionConfig, GatewayConfig, check_route_references
from semantic_router.server.decide.batching import MicroBatcher
from semantic_router.server.decide.classify import Classification, Classifier
from semantic_router.server.decide.decisions import Decider
from semantic_router.server.decide.sessions import SessionStore
from semantic_router.server.ingress.auth import GatewayKeys
from semantic_router.server.ingress.limits import Limiter
from semantic_router.server.ingress.requests import Conversation

__all__ = ["Classification", "Runtime", "build_layer"]

log = logging.getLogger("semantic_router.server")


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
        return RouteLayer.from_dict(confine_encoder(dict(spec.router or {}), config), **extra)
    except (SemanticRouterError, ValueError, TypeError) as exc:
        raise ConfigError(f"signals.routes: {exc}") from None


def confine_encoder(router: dict[str, Any], config: GatewayConfig) -> dict[str, Any]:
    """An inline router whose encoder is an adapted model's folder: the folder resolved against the config's
    folder and confined to its root (a config sent to `PUT /admin/config` never loads weights from elsewhere)."""
    encoder = router.get("encoder")
    if isinstance(encoder, dict) and encoder.get("type") == "adapted":
        where = encoder.get("path")
        if not isinstance(where, str) or not where:
            raise ConfigError(f"signals.routes.router.encoder.path: an adapted encoder needs its folder, got {where!r:.80}")
        router = {**router, "encoder": {**encoder, "path": str(config.resolve(where, "signals.routes.router.encoder.path"))}}
    return router


class Runtime:
    """One immutable routing setup. Build with `Runtime.build(config)`; close with `await rt.aclose()`."""

    def __init__(self, config: GatewayConfig, layer: RouteLayer | None, upstreams: Upstreams,
                 keys: GatewayKeys, sessions: SessionStore | None = None, rng: random.Random | None = None) -> None:
        self.config = config
        self.layer = layer
        self.classifier = Classifier(config, layer, sessions, rng)
        self.upstreams = upstreams
        self.keys = keys
        self.plugins: dict[str, list[Plugin]] = {
            d.name: [build_plugin(n, o) for n, o in d.plugins.items()] for d in config.decisions}
        self._rewrite_ids: dict[tuple[str, str], str] = {}
        self.limiter: Limiter | None = None  # virtual keys (`limits:`), bound to the app's key store by GatewayState
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
            check_route_references(config, layer.list_route_names())
        keys = GatewayKeys.from_config(config.server, config.resolve)
        return cls(config, layer, Upstreams.from_config(config), keys, **kwargs)

    def warm(self) -> None:
        """Load the encoder model and run one query (and the learned classifiers and guards once) so the first
        request pays nothing extra."""
        if self.batcher is not None:
            self.batcher.classify_sync(["warm up the router"])
        self.classifier.warm()
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

    # -- the decide phase (see decide.classify) -------------------------------------------------------
    @property
    def batcher(self) -> MicroBatcher | None:
        return self.classifier.batcher

    @property
    def sessions(self) -> SessionStore:
        return self.classifier.sessions

    @property
    def decider(self) -> Decider:
        return self.classifier.decider

    @property
    def virtual_models(self) -> frozenset[str]:
        return self.classifier.virtual_models

    async def classify(self, conversation: Conversation, session_id: str | None = None,
                       sticky: bool = False, tenant: str = "anonymous") -> Classification:
        """`Classifier.classify` (the CLI's `classify` and tests call it on the Runtime)."""
        return await self.classifier.classify(conversation, session_id, sticky, tenant)

    async def aclose(self) -> None:
        await self.classifier.aclose()
        await self.upstreams.aclose()

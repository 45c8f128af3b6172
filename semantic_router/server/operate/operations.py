"""The operator's side of the gateway app: admin key, hot reload (`PUT /admin/config`, SIGHUP), the dashboard
(`/ui`), route changes at run time (`/admin/routes`), cluster stats for replicas, and request leases on the
current Runtime (so a reload never closes a runtime a request is still using)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, Protocol

from fastapi import FastAPI, Request

from semantic_router.errors import ConfigError
from semantic_router.server.act.cache import CacheMetrics
from semantic_router.server.operate.admin import AdminKey
from semantic_router.server.operate.cluster import ClusterStats, replica_id
from semantic_router.server.operate.config_sync import ConfigSync
from semantic_router.server.config import (
    GatewayConfig,
    RuleNode,
    ServerConfig,
    loads_config,
)
from semantic_router.server.operate.reload import (
    LeaseMiddleware,
    Reloader,
    RuntimeHolder,
    admin_router,
    install_sighup,
)
from semantic_router.server.operate.routes_admin import routes_router
from semantic_router.server.operate.routes_keys import keys_router
from semantic_router.server.operate.stats import Stats
from semantic_router.server.runtime import Runtime
from semantic_router.server.operate.ui import ui_router

__all__ = ["Operations", "Served", "check_pushed_config", "rule_text"]

log = logging.getLogger("semantic_router.server.operate")


class Served(Protocol):
    """What operations need of the app's state (a `GatewayState`): the current Runtime and its holder, adopting
    a new one (`prepare`, then `swap`), and the stats and cache metrics they report."""

    holder: RuntimeHolder[Runtime]
    stats: Stats
    cache_metrics: CacheMetrics

    @property
    def runtime(self) -> Runtime | None: ...

    def prepare(self, runtime: Runtime) -> Runtime: ...

    def swap(self, runtime: Runtime) -> Runtime | None: ...


def rule_text(rule: RuleNode) -> str:
    """A rule tree as one line, e.g. `(routes:code AND NOT keywords:think)`; "" for the catch-all."""
    if rule.signal is not None:
        return rule.signal
    if rule.not_ is not None:
        return f"NOT {rule_text(rule.not_)}"
    for children, op in ((rule.all_of, " AND "), (rule.any_of, " OR ")):
        if children:
            return "(" + op.join(rule_text(c) for c in children) + ")"
    return ""


def _reusable_encoder(current: Runtime | None, config: GatewayConfig) -> Any:
    """The running encoder when the new config's inline router names the same encoder (no model reload)."""
    if current is None or current.layer is None:
        return None
    old, new = current.config.signals.routes, config.signals.routes
    if old is None or new is None or old.router is None or new.router is None:
        return None
    return current.layer.encoder if old.router.get("encoder") == new.router.get("encoder") else None


# parts of an inline router config that load files or reach services with the process's credentials
_PROCESS_COMPONENTS = ("encoder", "sparse_encoder", "llm")


def check_pushed_config(new: GatewayConfig, running: GatewayConfig | None) -> None:
    """What a config sent through `PUT /admin/config` may not do, unlike a file the operator reloads: change the
    router's encoder (it loads model files from disk), or send a backend key (`api_key_env`) to a URL the running
    config does not already send that key to. ConfigError naming the field."""
    routes_now = running.signals.routes if running is not None else None
    old_router = (routes_now.router if routes_now else None) or {}
    spec = new.signals.routes
    new_router = spec.router if spec is not None else None
    for key in _PROCESS_COMPONENTS if new_router is not None else ():
        if new_router is not None and key in new_router and new_router[key] != old_router.get(key):
            raise ConfigError(f"signals.routes.router.{key}: a config sent through PUT /admin/config cannot change "
                              f"the {key}; edit the config file and reload it (SIGHUP or an empty PUT)")
    known = {(b.base_url, b.api_key_env) for m in (running.models.values() if running else ()) for b in m.backends}
    for name, model in new.models.items():
        for i, b in enumerate(model.backends):
            if b.api_key_env is not None and (b.base_url, b.api_key_env) not in known:
                raise ConfigError(f"models.{name}.backends[{i}].api_key_env: a config sent through PUT /admin/config "
                                  f"may send {b.api_key_env!r} only to a base_url the running config sends it to; "
                                  "edit the config file and reload it (SIGHUP or an empty PUT)")


class Operations:
    """Built by `create_app`; `install(app)` adds the routes and middleware, `running(app)` the background work."""

    def __init__(self, gw: Served, config: GatewayConfig | None, config_path: str | Path | None,
                 signals: bool = False, file_root: str | Path | None = None) -> None:
        self.gw = gw
        self.config = config  # the start-up config: what a pushed config is compared with before a runtime runs
        self.config_path = Path(config_path) if config_path is not None else None
        self.signals = signals
        # where paths of a reloaded config resolve and the folder they must stay in, fixed at start-up: the
        # operator's root, else the start-up config's, else its file's folder, else the working directory
        folder = self.config_path.resolve().parent if self.config_path is not None else None
        self.base_dir = (config.base_dir if config is not None else None) or folder or Path.cwd()
        self.root = Path(file_root or (config.root if config is not None else None) or self.base_dir).resolve()
        server = config.server if config is not None else ServerConfig()
        try:
            self.admin = AdminKey.from_env(server.admin_key_env) if server.admin_key_env else None
        except ValueError as exc:
            raise ConfigError(f"server.admin_key_env: {exc}") from None
        self.replica = replica_id(server.replica_id)
        self.cluster = ClusterStats(config.cluster, self.replica) if config is not None and config.cluster else None
        self.reloader: Reloader[Runtime] = Reloader(gw.swap, self._build, self._check)
        if self.config_path is not None:
            with contextlib.suppress(OSError):
                self.reloader.version = Reloader.version_of(self.config_path.read_bytes())
        cluster = config.cluster if config is not None else None
        self.sync = ConfigSync(cluster) if cluster is not None and cluster.config_sync.enabled else None
        if self.sync is not None:
            self.reloader.publish = self.sync.publish

    # -- reload ---------------------------------------------------------------------------------------
    def _build(self, text: bytes | None) -> tuple[Runtime, bytes]:
        """Parse, validate and build (routes encoded) a new Runtime; runs in a worker thread."""
        current = self.gw.runtime
        if text is None:
            if self.config_path is None:
                raise ConfigError("no config file to re-read (the app was given a config object); "
                                  "send the new config as the body of PUT /admin/config")
            try:
                raw = self.config_path.read_bytes()
            except OSError as exc:
                raise ConfigError(f"cannot read {str(self.config_path)!r}: {exc.strerror or exc}") from None
            config = loads_config(raw, str(self.config_path), self.config_path.resolve().parent, self.root)
        else:
            raw = text
            config = loads_config(text, "PUT /admin/config", self.base_dir, self.root)
            try:
                check_pushed_config(config, current.config if current is not None else self.config)
            except ConfigError as exc:
                raise ConfigError(f"PUT /admin/config: {exc}") from None
        running = current.config if current is not None else self.config
        if self.sync is not None and running is not None and config.cluster != running.cluster:
            raise ConfigError("cluster: replicas sharing one config cannot change their cluster section by a reload "
                              "(it would split them); change it in every replica's file and restart them")
        return Runtime.build(config, encoder=_reusable_encoder(current, config)), raw

    async def _check(self, runtime: Runtime) -> None:
        await asyncio.to_thread(runtime.warm)
        self.gw.prepare(runtime)

    # -- one config for all replicas (config_sync) ----------------------------------------------------------
    async def _apply(self, version: int, text: bytes) -> bool:
        """Apply a published config version (validated like a pushed config); a failure is recorded and kept."""
        sync = self.sync
        assert sync is not None  # only the sync calls it
        if Reloader.version_of(text) == self.reloader.version and self.gw.runtime is not None:
            sync.applied(version)  # already running this text (e.g. this replica published it)
            return True
        result = await self.reloader.reload(text, f"cluster v{version}", share=False,
                                            skip=lambda: sync.version is not None and sync.version >= version)
        if not result.ok:
            sync.failed(version, result.error or "rejected")
        elif sync.version is None or sync.version < version:
            sync.applied(version)
        return result.ok

    async def start_from_published(self) -> bool:
        """At start-up, with a shared config: build the runtime from the newest published version (True), else
        (nothing published, Redis away, or it cannot be applied here: reported) False."""
        if self.sync is None:
            return False
        try:
            return await self.sync.adopt(self._apply) and self.gw.runtime is not None
        except Exception as exc:  # noqa: BLE001 - Redis away at start-up: start from the file, sync later
            log.warning("config sync: could not read the published config at start-up (%s); starting from the file",
                        type(exc).__name__)
            return False

    def config_status(self, detail: bool) -> dict[str, Any]:
        """The running config: its hash (sha256 prefix of its text), and with a shared config its published
        version and the version this replica could not apply (`detail`: with the reason, for /stats)."""
        out: dict[str, Any] = {"hash": self.reloader.version, "shared": self.sync is not None, "version": None,
                               "error": None}
        if self.sync is not None:
            out["version"] = self.sync.version
            if self.sync.failed_version is not None:
                out["error"] = self.sync.error if detail else \
                    f"cannot apply config version {self.sync.failed_version} (see /stats or the log)"
        return out

    # -- dashboard ------------------------------------------------------------------------------------
    def overview(self) -> dict[str, Any]:
        rt = self.gw.runtime
        if rt is None:
            return {"routes": [], "decisions": [], "models": [], "virtual_models": [], "guards": [],
                    "replica": self.replica}
        layer = rt.layer
        routes = [] if layer is None else [{"name": r.name, "utterances": len(r.utterances)} for r in layer.routes]
        decisions = [{"name": d.name, "priority": d.priority, "rule": rule_text(d.rule),
                      "model": d.model or ", ".join(f"{m.name} ({m.weight:g})" for m in d.models or []),
                      "plugins": sorted(d.plugins)} for d in rt.decider.decisions]
        guards = [{"name": g.name, "type": g.type, "action": g.action, "model_on_match": g.model_on_match}
                  for g in rt.config.guards]
        return {"routes": routes, "decisions": decisions, "models": rt.model_names, "guards": guards,
                "virtual_models": sorted(rt.virtual_models), "replica": self.replica,
                "config_version": self.reloader.version, "config": self.config_status(True)}

    def allows_admin(self, request: Request) -> bool:
        return self.admin is not None and self.admin.allows(request)

    async def stats_extra(self, snapshot: dict[str, Any]) -> dict[str, Any]:
        """`replica`, `cache` and (with a cluster) `cluster: {replicas, aggregate}` for /stats."""
        snapshot = {**snapshot, "replica": self.replica, "cache": self.gw.cache_metrics.snapshot(),
                    "config": self.config_status(True)}
        if self.cluster is not None:
            snapshot["cluster"] = await self.cluster.view(snapshot)
        return snapshot

    # -- wiring ---------------------------------------------------------------------------------------
    def install(self, app: FastAPI) -> None:
        app.add_middleware(LeaseMiddleware, holder=self.gw.holder)
        app.include_router(ui_router(self.overview, self.admin))
        app.include_router(admin_router(self.reloader, self.admin))
        app.include_router(routes_router(lambda: None if self.gw.runtime is None else self.gw.runtime.layer,
                                         self.admin))
        app.include_router(keys_router(lambda: None if self.gw.runtime is None else self.gw.runtime.limiter,
                                       self._model_names, self.admin))

    def _model_names(self) -> set[str]:
        rt = self.gw.runtime
        return set() if rt is None else set(rt.model_names) | set(rt.virtual_models)

    @contextlib.asynccontextmanager
    async def running(self, app: FastAPI) -> AsyncIterator[None]:
        """SIGHUP reloads (main thread only) and the cluster stats publisher, for the app's lifetime."""
        hup = self.signals and self.config_path is not None and install_sighup(self.reloader)
        publisher = watcher = None
        if self.sync is not None:
            watcher = asyncio.create_task(self.sync.run(self._apply, lambda: self.gw.runtime is not None))
        if self.cluster is not None:
            cluster = self.cluster
            publisher = asyncio.create_task(cluster.run(lambda: self.gw.stats.snapshot(
                {"replica": self.replica, "cache": self.gw.cache_metrics.snapshot()})))
        try:
            yield
        finally:
            if hup:
                asyncio.get_running_loop().remove_signal_handler(signal.SIGHUP)
            if watcher is not None and self.sync is not None:
                watcher.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await watcher
                await self.sync.aclose()
            if publisher is not None:
                publisher.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await publisher
                if self.cluster is not None:  # a publisher runs only beside a cluster
                    await self.cluster.aclose()

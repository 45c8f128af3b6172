"""The FastAPI app: `create_app(config_or_runtime)` with the OpenAI-compatible and router endpoints."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.responses import Response

from semantic_router.server.cache import CacheHub, CacheMetrics
from semantic_router.server.chat import handle_chat
from semantic_router.server.config import GatewayConfig, load_config
from semantic_router.server.errors import APIError
from semantic_router.server.ingress import install_error_handlers, read_json
from semantic_router.server.metrics import CONTENT_TYPE_LATEST, Metrics
from semantic_router.server.openapi import CHAT_OPERATION, ROUTE_OPERATION
from semantic_router.server.operations import Operations
from semantic_router.server.reload import RuntimeHolder
from semantic_router.server.requests import (
    MAX_ROUTE_BATCH,
    conversation_of,
    prompt_conversation,
)
from semantic_router.server.runtime import Classification, Runtime
from semantic_router.server.stats import Stats

__all__ = ["GatewayState", "create_app"]

log = logging.getLogger("semantic_router.server")


class GatewayState:
    """What the app keeps across reloads: the current Runtime (in a lease-counting holder), metrics, stats
    and the response-cache stores."""

    def __init__(self, runtime: Runtime | None) -> None:
        self.holder: RuntimeHolder[Runtime] = RuntimeHolder(None)
        self.metrics = Metrics()
        self.stats = Stats()
        self.cache_metrics = CacheMetrics(self.metrics.registry)
        self.cache_hub = CacheHub(self.cache_metrics)
        self.created = int(time.time())
        self.startup_error: str | None = None
        if runtime is not None:
            self.prepare(runtime)
            self.holder.swap(runtime)

    @property
    def runtime(self) -> Runtime | None:
        return self.holder.current

    def prepare(self, runtime: Runtime) -> Runtime:
        """Attach a Runtime's plugins to this app's services (before it serves); ConfigError if one refuses."""
        runtime.bind_plugins(self.metrics.registry, {"cache_hub": self.cache_hub})
        return runtime

    def swap(self, runtime: Runtime) -> Runtime | None:
        """Install a prepared Runtime; requests already running keep the one they started with (the old one
        closes after them). Returns the old."""
        old = self.holder.swap(runtime)
        self.metrics.ready.set(1 if runtime.ready else 0)
        return old

    def require_ready(self, rt: Runtime | None) -> Runtime:
        if rt is None or not rt.ready:
            why = f" ({self.startup_error})" if self.startup_error else ""
            raise APIError(503, f"the router is still loading{why}; retry shortly", code="not_ready")
        return rt

    # -- observations (called by the pipeline) ----------------------------------------------------
    def observe_classification(self, c: Classification) -> None:
        self.metrics.routing_seconds.observe(c.ms / 1e3)
        for s in c.signals:
            if s.matched:
                self.metrics.signal_matches.labels(s.type, s.name).inc()

    def record_forward(self, route: str | None, decision: str, model: str, sticky: bool) -> None:
        self.metrics.requests.labels(decision, model).inc()
        self.stats.record(route, decision, model, sticky)

    def client_error(self, code: str) -> None:
        """A request refused with a 4xx (`code`: the error's code or status)."""
        self.stats.record_client_error()
        self.metrics.client_errors.labels(code).inc()

    def client_gone(self, phase: str) -> None:
        """A client that went away: mid-`request` body, waiting for the `upstream`, or mid-`stream` answer."""
        self.stats.record_client_disconnect(phase)
        self.metrics.client_disconnects.labels(phase).inc()

    def upstream_error(self, model: str, reason: str) -> None:
        self.metrics.upstream_errors.labels(model, reason).inc()
        self.stats.record_upstream_error(reason)

    def observe_ttft(self, model: str, seconds: float) -> None:
        self.metrics.ttft_seconds.labels(model).observe(seconds)
        self.stats.record_latency(seconds * 1e3)

    def observe_usage(self, model: str, usage: dict[str, Any] | None) -> None:
        if not usage:
            return
        for kind in ("prompt_tokens", "completion_tokens"):
            value = usage.get(kind)
            if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
                self.metrics.tokens.labels(model, kind.removesuffix("_tokens")).inc(value)


def _runtime_of(source: GatewayConfig | Runtime | str | Path,
                file_root: str | Path | None) -> tuple[Runtime | None, GatewayConfig | None]:
    if isinstance(source, Runtime):
        return source, None
    if isinstance(source, (str, Path)):
        return None, load_config(source, file_root)
    if isinstance(source, GatewayConfig):
        return None, source
    raise TypeError(f"create_app takes a GatewayConfig, a Runtime or a config path, got {type(source).__name__}")


def create_app(source: GatewayConfig | Runtime | str | Path, config_path: str | Path | None = None,
               signals: bool = False, file_root: str | Path | None = None) -> FastAPI:
    """The gateway app. Given a config it builds the Runtime at startup in a worker thread; given a Runtime it
    uses it. Either way the model is warmed in the background: /health answers at once, /ready says 503 until
    the router is warm. The app closes its Runtime on shutdown. `config_path` (implied by a path source) is
    what `PUT /admin/config` with an empty body and SIGHUP (with `signals`, main thread only) reload. Paths of a
    reloaded config must stay inside `file_root` (default: the start-up config's folder)."""
    runtime, config = _runtime_of(source, file_root)
    if config_path is None and isinstance(source, (str, Path)):
        config_path = source
    gw = GatewayState(runtime)
    ops = Operations(gw, (runtime.config if runtime is not None else config), config_path, signals, file_root)

    async def prepare() -> None:
        try:
            rt = gw.runtime if gw.runtime is not None else gw.prepare(await asyncio.to_thread(Runtime.build, config))
            if not rt.ready:
                await asyncio.to_thread(rt.warm)
            gw.swap(rt)
        except Exception as exc:  # noqa: BLE001 - reported by /ready, never crashes the server
            gw.startup_error = f"{type(exc).__name__}: {exc}"
            log.error("router failed to start: %s", gw.startup_error)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        task = asyncio.create_task(prepare())
        try:
            async with ops.running(app):
                yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await gw.holder.drained()
            if gw.runtime is not None:
                await gw.runtime.aclose()
            await gw.cache_hub.aclose()

    app = FastAPI(title="semantic-router gateway", lifespan=lifespan, docs_url=None, redoc_url=None,
                  openapi_url=None)
    app.state.gateway = gw
    install_error_handlers(app, gw.client_error, gw.client_gone)
    ops.install(app)

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/ready")
    async def ready() -> JSONResponse:
        rt = gw.runtime
        if rt is None or not rt.ready:
            return JSONResponse({"status": "loading", "error": gw.startup_error}, status_code=503)
        return JSONResponse({"status": "ready"})

    @app.get("/metrics")
    async def metrics() -> Response:
        return Response(gw.metrics.render(), media_type=CONTENT_TYPE_LATEST)

    @app.get("/stats")
    async def stats(request: Request) -> dict[str, Any]:
        rt = gw.runtime
        extra: dict[str, Any] = {}
        if rt is not None:
            if not ops.allows_admin(request):  # the dashboard's admin session may read stats too
                rt.keys.check(request.headers.get("authorization"))
            extra["sessions"] = len(rt.sessions)
            if rt.batcher is not None:
                extra["classifier"] = {"batches": rt.batcher.batches, "items": rt.batcher.items}
        return await ops.stats_extra(gw.stats.snapshot(extra))

    @app.get("/v1/models")
    async def models(request: Request) -> dict[str, Any]:
        rt = gw.require_ready(gw.runtime)
        rt.keys.check(request.headers.get("authorization"))
        names = [*rt.config.virtual_models, *rt.model_names]
        return {"object": "list", "data": [{"id": n, "object": "model", "created": gw.created,
                                            "owned_by": "semantic-router"} for n in names]}

    @app.post("/v1/route", openapi_extra=ROUTE_OPERATION)
    async def route(request: Request) -> dict[str, Any]:
        rt = gw.require_ready(gw.runtime)
        if not ops.allows_admin(request):  # the dashboard's try box runs on the admin session
            rt.keys.check(request.headers.get("authorization"))
        rt.expect_classification()
        try:
            body = await read_json(request, rt.config.server.max_body_bytes)
        finally:
            rt.classification_arriving()
        if "batch" in body:
            items = body["batch"]
            if set(body) != {"batch"} or not isinstance(items, list) or not items:
                raise APIError(400, "'batch' must be a non-empty array and the only field", param="batch")
            if len(items) > MAX_ROUTE_BATCH:
                raise APIError(400, f"'batch' holds {len(items)} items; at most {MAX_ROUTE_BATCH}", param="batch")
            convs = [_route_input(item, f"batch[{i}]") for i, item in enumerate(items)]
            results = await rt.classify_many(convs)
            gw.stats.record_classification(len(results))
            return {"results": [r.as_dict() for r in results]}
        result = await rt.classify(_route_input(body, None))
        gw.stats.record_classification()
        return result.as_dict()

    @app.post("/v1/chat/completions", openapi_extra=CHAT_OPERATION)
    async def chat(request: Request) -> Response:
        return await handle_chat(request, gw)

    return app


def _route_input(item: Any, where: str | None) -> Any:
    """A /v1/route item: {"messages": [...]} or {"prompt": "..."}."""
    prefix = f"{where}." if where else ""
    if not isinstance(item, dict):
        raise APIError(400, f"{where or 'body'} must be an object", param=where)
    if ("messages" in item) == ("prompt" in item):
        raise APIError(400, f"{where or 'body'} needs exactly one of 'messages' or 'prompt'", param=where)
    if "messages" in item:
        return conversation_of(item["messages"], f"{prefix}messages")
    return prompt_conversation(item["prompt"], f"{prefix}prompt")

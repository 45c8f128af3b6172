"""The HTTP front door: `create_app(config_or_runtime)`, the FastAPI app that serves the endpoints (endpoints/,
operate/) over one `GatewayState` and runs its start-up, reload and shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

from fastapi import FastAPI

from semantic_router.server.config import GatewayConfig, load_config
from semantic_router.server.endpoints import chat_router, route_router, service_router
from semantic_router.server.ingress.body import install_error_handlers
from semantic_router.server.operate.operations import Operations
from semantic_router.server.runtime import Runtime
from semantic_router.server.state import GatewayState

__all__ = ["Companion", "GatewayState", "create_app"]

Companion = Callable[[GatewayState, GatewayConfig], AbstractAsyncContextManager[Any]]
"""Something that runs for the app's lifetime over its state and start-up config (a second front door: the
Envoy external processor): entered after start-up began, left before the Runtime closes."""

log = logging.getLogger("semantic_router.server")


def _runtime_of(source: GatewayConfig | Runtime | str | Path,
                file_root: str | Path | None) -> tuple[Runtime | None, GatewayConfig]:
    """The ready Runtime (when given one) and the config the gateway starts from."""
    if isinstance(source, Runtime):
        return source, source.config
    if isinstance(source, (str, Path)):
        return None, load_config(source, file_root)
    if isinstance(source, GatewayConfig):
        return None, source
    raise TypeError(f"create_app takes a GatewayConfig, a Runtime or a config path, got {type(source).__name__}")


def create_app(source: GatewayConfig | Runtime | str | Path, config_path: str | Path | None = None,
               signals: bool = False, file_root: str | Path | None = None,
               companions: Sequence[Companion] = ()) -> FastAPI:
    """The gateway app. Given a config it builds the Runtime at startup in a worker thread; given a Runtime it
    uses it. Either way the model is warmed in the background: /health answers at once, /ready says 503 until
    the router is warm. The app closes its Runtime on shutdown. `config_path` (implied by a path source) is
    what `PUT /admin/config` with an empty body and SIGHUP (with `signals`, main thread only) reload. Paths of a
    reloaded config must stay inside `file_root` (default: the start-up config's folder). `companions` run beside
    the endpoints for the app's lifetime (a failing one fails the start-up)."""
    runtime, config = _runtime_of(source, file_root)
    if config_path is None and isinstance(source, (str, Path)):
        config_path = source
    gw = GatewayState(runtime)
    ops = Operations(gw, config, config_path, signals, file_root)

    async def prepare() -> None:
        try:
            if gw.runtime is None and await ops.start_from_published():
                return  # a replica of a shared config starts on the newest published version
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
            async with ops.running(app), contextlib.AsyncExitStack() as stack:
                for companion in companions:
                    await stack.enter_async_context(companion(gw, config))
                yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await gw.holder.drained()
            if gw.runtime is not None:
                await gw.runtime.aclose()
            await gw.cache_hub.aclose()
            await gw.aclose_key_stores()

    app = FastAPI(title="semantic-router gateway", lifespan=lifespan, docs_url=None, redoc_url=None,
                  openapi_url=None)
    app.state.gateway = gw
    app.state.operations = ops
    install_error_handlers(app, gw.client_error, gw.client_gone)
    ops.install(app)
    for router in (service_router, route_router, chat_router):
        app.include_router(router)
    return app

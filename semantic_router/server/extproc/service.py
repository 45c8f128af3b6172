"""The gRPC service `envoy.service.ext_proc.v3.ExternalProcessor` (grpc.aio) over an app's `GatewayState`.

`ExtProcServer(host, port)` is a companion of `create_app`: the app's lifespan starts it beside the HTTP proxy,
in the same event loop, over the same state (the current Runtime, hot reload, metrics, stats, cache stores),
and stops it before the Runtime closes. `serve_without_http(app)` runs an app's lifespan (Runtime, reload on
SIGHUP, cluster stats) with no HTTP listener, until SIGINT or SIGTERM.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator
from typing import Any

import grpc
from envoy.service.ext_proc.v3 import external_processor_pb2 as ep
from envoy.service.ext_proc.v3 import external_processor_pb2_grpc as epg
from prometheus_client import Counter

from semantic_router.server.config import GatewayConfig
from semantic_router.server.extproc.exchange import Exchange
from semantic_router.server.state import GatewayState

__all__ = ["SERVICE", "ExtProcServer", "ExternalProcessor", "serve_without_http"]

log = logging.getLogger("semantic_router.server.extproc")

SERVICE = "envoy.service.ext_proc.v3.ExternalProcessor"
# Envoy sends a buffered body as ONE message: room for bodies well past any sane server.max_body_bytes, which
# answers them with a 413 (gRPC would refuse a larger message before the processor sees it)
MAX_MESSAGE_BYTES = 64 * 1024 * 1024


class ExternalProcessor:
    """The servicer (`add_ExternalProcessorServicer_to_server` needs only its `Process`): one bidirectional
    stream per HTTP request; every message is answered before the next is read.
    Each stream leases the current Runtime for its whole life (a reload never closes it under the stream)."""

    def __init__(self, gw: GatewayState, config: GatewayConfig) -> None:
        self.gw = gw
        self.config = config  # the start-up config: its ext_proc settings apply until a Runtime is ready
        self.streams = Counter("router_extproc_streams", "Envoy ext_proc streams by outcome (forwarded, answered, "
                               "refused, passthrough, failed_open, failed_closed, cancelled)", ["outcome"],
                               registry=gw.metrics.registry)

    async def Process(self, request_iterator: AsyncIterator[ep.ProcessingRequest],  # noqa: N802 - the proto's name
                      context: grpc.aio.ServicerContext[Any, Any]) -> None:
        # a coroutine writing through `context` (not an async generator): when Envoy cancels the stream, gRPC
        # cancels this task, so the lease and the micro-batcher's count are given back at once, not at GC
        async with self.gw.holder.lease() as runtime:
            exchange = Exchange(self.gw, runtime, self.config.ext_proc)
            try:
                async for message in request_iterator:
                    await context.write(await exchange.handle(message))
                    if exchange.done:
                        break
                    await exchange.after()
            finally:
                exchange.close()
                if exchange.outcome is not None:
                    self.streams.labels(exchange.outcome).inc()


def _address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class ExtProcServer:
    """A grpc.aio server of `ExternalProcessor` on host:port (0: a free port; `port` is the bound one once
    started). Call it with the app's state and config to get its lifespan (what `create_app(companions=...)`
    takes)."""

    def __init__(self, host: str = "127.0.0.1", port: int = 50051, grace_seconds: float = 5.0) -> None:
        self.host = host
        self.port = port
        self.grace_seconds = grace_seconds
        self.server: grpc.aio.Server | None = None

    @contextlib.asynccontextmanager
    async def __call__(self, gw: GatewayState, config: GatewayConfig) -> AsyncIterator[ExtProcServer]:
        server = grpc.aio.server(options=[("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
                                          ("grpc.so_reuseport", 0)])
        epg.add_ExternalProcessorServicer_to_server(ExternalProcessor(gw, config), server)
        try:
            bound = server.add_insecure_port(_address(self.host, self.port))
        except RuntimeError as exc:
            raise OSError(f"cannot listen on {_address(self.host, self.port)} for ext_proc: {exc}") from None
        self.port, self.server = bound, server
        await server.start()
        log.info("ext_proc (%s) listening on %s", SERVICE, _address(self.host, bound))
        try:
            yield self
        finally:
            await server.stop(self.grace_seconds)
            self.server = None


async def _until_signal() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


def serve_without_http(app: Any) -> None:
    """Run `app`'s lifespan (its Runtime, companions such as `ExtProcServer`, reload on SIGHUP) with no HTTP
    listener, until SIGINT or SIGTERM. A start-up failure (e.g. the ext_proc port taken) raises."""

    async def main() -> None:
        async with app.router.lifespan_context(app):
            await _until_signal()

    asyncio.run(main())

"""Hot reload: build a new runtime off to the side, validate it completely, swap it in atomically.

`RuntimeHolder` keeps the current runtime and counts the requests that lease each one; a replaced runtime
is closed once its last request finished (or after `drain_seconds`), so requests in flight finish on the
runtime they started with. `Reloader` builds the replacement in a worker thread (parse, validate, encode the
routes, warm the model); any failure leaves the current runtime untouched and is returned and logged.
`install_sighup` wires SIGHUP to a reload; `admin_router` adds `PUT /admin/config` (admin key only).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse

from semantic_router.server.operate.admin import AdminKey

__all__ = ["LeaseMiddleware", "ReloadResult", "Reloader", "RuntimeHolder", "admin_router", "install_sighup"]

log = logging.getLogger("semantic_router.server.operate.reload")
T = TypeVar("T")
MAX_CONFIG_BYTES = 4 * 1024 * 1024


async def _aclose(runtime: Any) -> None:
    await runtime.aclose()


class RuntimeHolder(Generic[T]):
    """The current runtime plus in-flight counts per runtime; `swap` retires the old one."""

    def __init__(self, current: T | None = None, close: Callable[[T], Awaitable[None]] = _aclose,
                 drain_seconds: float = 600.0) -> None:
        self.current: T | None = current
        self.close = close
        self.drain_seconds = drain_seconds
        self.swaps = 0
        self._inflight: dict[int, int] = {}
        self._retired: dict[int, tuple[T, asyncio.Event]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def inflight(self, runtime: T) -> int:
        return self._inflight.get(id(runtime), 0)

    @contextlib.asynccontextmanager
    async def lease(self) -> AsyncIterator[T | None]:
        """The current runtime, kept open until the block exits (for a streamed answer: until it ends)."""
        rt = self.current
        key = id(rt)
        self._inflight[key] = self._inflight.get(key, 0) + 1
        try:
            yield rt
        finally:
            self._inflight[key] -= 1
            if not self._inflight[key]:
                del self._inflight[key]
                if key in self._retired:
                    self._retired[key][1].set()

    def swap(self, new: T) -> T | None:
        """Install `new` at once; the old runtime closes after its last leased request (or the drain timeout)."""
        old, self.current = self.current, new
        self.swaps += 1
        if old is not None and old is not new:
            done = asyncio.Event()
            self._retired[id(old)] = (old, done)
            if not self.inflight(old):
                done.set()
            task = asyncio.get_running_loop().create_task(self._retire(old, done))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return old

    async def _retire(self, old: T, done: asyncio.Event) -> None:
        try:
            await asyncio.wait_for(done.wait(), self.drain_seconds)
        except asyncio.TimeoutError:
            log.warning("closing a replaced runtime with %d request(s) still running after %.0fs",
                        self.inflight(old), self.drain_seconds)
        finally:
            self._retired.pop(id(old), None)
        try:
            await self.close(old)
        except Exception as exc:  # noqa: BLE001 - a failing close must not hurt the new runtime
            log.warning("closing a replaced runtime failed: %s: %s", type(exc).__name__, exc)

    async def drained(self) -> None:
        """Wait until every replaced runtime has been closed."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)


class LeaseMiddleware:
    """ASGI middleware: every HTTP request leases the current runtime for its whole life (a streamed answer
    included) and finds it as `request.state.runtime`."""

    def __init__(self, app: Any, holder: RuntimeHolder[Any]) -> None:
        self.app = app
        self.holder = holder

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        async with self.holder.lease() as runtime:
            scope.setdefault("state", {})["runtime"] = runtime
            await self.app(scope, receive, send)


@dataclass(frozen=True)
class ReloadResult:
    """What a reload did: `ok`, the new config's `version` (sha256 prefix of its text) or the `error`."""

    ok: bool
    version: str | None
    ms: float
    error: str | None = None
    source: str = "file"
    unavailable: bool = False  # rejected because the shared config could not be published (a 503, not a 400)
    shared_version: int | None = None  # the version number it was published as (replicas on one Redis)

    def as_dict(self) -> dict[str, Any]:
        return {"status": "reloaded" if self.ok else "rejected", "version": self.version, "ms": round(self.ms, 1),
                "error": self.error, "source": self.source, "shared_version": self.shared_version}


class Reloader(Generic[T]):
    """Builds runtimes with `build(text)` (text None: read the config file again) in a worker thread, one
    reload at a time, checks them with `check(runtime)` (e.g. warm the model, bind plugins) and installs them
    with `swap` (e.g. `RuntimeHolder.swap`). Any exception rejects the config; a built runtime that failed its
    check is closed with `close`. With `publish` (replicas sharing one config), a checked config is published
    (`publish(raw)` returns its version number) before it is swapped in: when publishing fails, nothing changes."""

    def __init__(self, swap: Callable[[T], Any], build: Callable[[bytes | None], tuple[T, bytes]],
                 check: Callable[[T], Awaitable[None]] | None = None,
                 close: Callable[[T], Awaitable[None]] = _aclose) -> None:
        self.swap = swap
        self.build = build
        self.check = check
        self.close = close
        self.version: str | None = None
        self.loaded_at: float | None = None
        self.last: ReloadResult | None = None
        self.publish: Callable[[bytes], Awaitable[int]] | None = None
        self._lock = asyncio.Lock()

    @staticmethod
    def version_of(text: bytes) -> str:
        return hashlib.sha256(text).hexdigest()[:12]

    async def reload(self, text: bytes | None = None, source: str = "file", share: bool = True,
                     skip: Callable[[], bool] | None = None) -> ReloadResult:
        """Build, validate (and, with `share` and a `publish` hook, publish) and swap in a new runtime; on failure
        nothing changes and the error is returned. `skip()`, asked once this reload holds the lock, True: do
        nothing (another reload already did this one's work)."""
        async with self._lock:
            start = time.perf_counter()
            if skip is not None and skip():
                return ReloadResult(True, self.version, 0.0, None, source + " (already applied)")
            runtime, shared, unavailable = None, None, False
            try:
                runtime, raw = await asyncio.to_thread(self.build, text)
                if self.check is not None:
                    await self.check(runtime)
                if share and self.publish is not None:
                    unavailable = True
                    shared = await self.publish(raw)
            except Exception as exc:  # noqa: BLE001 - every failure is reported, none changes the runtime
                if runtime is not None:
                    with contextlib.suppress(Exception):
                        await self.close(runtime)
                error = f"{type(exc).__name__}: {exc}" if not isinstance(exc, ValueError) else str(exc)
                result = ReloadResult(False, None, (time.perf_counter() - start) * 1e3, error, source, unavailable)
                log.error("config reload (%s) rejected, keeping version %s: %s", source, self.version, error)
            else:
                self.swap(runtime)
                self.version, self.loaded_at = self.version_of(raw), time.time()
                result = ReloadResult(True, self.version, (time.perf_counter() - start) * 1e3, None, source,
                                      shared_version=shared)
                log.info("config reloaded (%s): version %s in %.0f ms", source, self.version, result.ms)
            self.last = result
            return result


def install_sighup(reloader: Reloader[Any]) -> bool:
    """Reload on SIGHUP in the running loop (False where the platform has no SIGHUP or signals are unavailable)."""
    sig = getattr(signal, "SIGHUP", None)
    if sig is None:
        return False
    loop = asyncio.get_running_loop()
    tasks: set[asyncio.Task[Any]] = set()

    def on_hup() -> None:
        task = loop.create_task(reloader.reload(source="SIGHUP"))
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    try:
        loop.add_signal_handler(sig, on_hup)
    except (NotImplementedError, RuntimeError, ValueError):
        return False
    return True


def admin_router(reloader: Reloader[Any], admin: AdminKey | None, max_bytes: int = MAX_CONFIG_BYTES) -> APIRouter:
    """`PUT /admin/config` (body: a new config as YAML/JSON; empty: re-read the file) and `GET /admin/config`.
    Both need the admin key; without one configured they answer 403."""
    router = APIRouter()

    def guard(request: Request) -> None:
        if admin is None:
            raise HTTPException(403, "admin endpoints are disabled: configure an admin key to use them")
        admin.check(request)

    @router.get("/admin/config")
    async def current(request: Request) -> dict[str, Any]:
        guard(request)
        last = reloader.last.as_dict() if reloader.last else None
        return {"version": reloader.version, "loaded_at": reloader.loaded_at, "last_reload": last}

    @router.put("/admin/config")
    async def replace(request: Request) -> JSONResponse:
        guard(request)
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > max_bytes:
                raise HTTPException(413, f"config body exceeds {max_bytes} bytes")
            chunks.append(chunk)
        body = b"".join(chunks)
        result = await reloader.reload(body if body.strip() else None, "PUT /admin/config" if body.strip()
                                       else "PUT /admin/config (file)")
        if result.ok:
            return JSONResponse(result.as_dict())
        if result.unavailable:
            return JSONResponse({"error": {"message": result.error, "type": "server_error", "param": None,
                                           "code": "config_not_published"}, "reload": result.as_dict()},
                                status_code=503)
        return JSONResponse({"error": {"message": result.error, "type": "invalid_request_error", "param": None,
                                       "code": "invalid_config"}, "reload": result.as_dict()}, status_code=400)

    return router

"""Run an ASGI app (FastAPI emulator) with uvicorn on a free 127.0.0.1 port in a background thread.

Shared by every HTTP emulator under tests/emulators so tests exercise the real SDKs over real
HTTP. Also holds the two things every emulator needs: a request log and fault injection.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from semantic_router.server.demo import ThreadServer, run_in_thread


@dataclass
class Fault:
    """One injected failure: an HTTP status (429, 500, ...) or, with status None, a stall of `delay` seconds."""

    status: int | None = None
    delay: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)
    message: str | None = None  # the error body's message (default: "injected HTTP <status>")


class FaultPlan:
    """Failures to serve for the next N requests, in order; thread-safe (uvicorn runs in its own thread)."""

    def __init__(self) -> None:
        self._queue: list[Fault] = []
        self._lock = threading.Lock()

    def fail(self, status: int, times: int = 1, retry_after: float | None = None,
             retry_after_ms: int | None = None, message: str | None = None) -> None:
        """Answer the next `times` requests with `status` (e.g. 429 or 500), with a `Retry-After`
        (seconds) and/or a `retry-after-ms` header when given (both SDKs honour the latter)."""
        headers = {"retry-after": str(retry_after)} if retry_after is not None else {}
        if retry_after_ms is not None:
            headers["retry-after-ms"] = str(retry_after_ms)
        with self._lock:
            self._queue.extend(Fault(status=status, headers=headers, message=message) for _ in range(times))

    def stall(self, seconds: float, times: int = 1) -> None:
        """Hold the next `times` requests for `seconds` before answering normally (client timeouts)."""
        with self._lock:
            self._queue.extend(Fault(delay=seconds) for _ in range(times))

    def next(self) -> Fault | None:
        with self._lock:
            return self._queue.pop(0) if self._queue else None

    def clear(self) -> None:
        with self._lock:
            self._queue.clear()

    @property
    def pending(self) -> int:
        with self._lock:
            return len(self._queue)


class RequestLog:
    """Requests an emulator received (a dict per request) and the peak number served at once."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._generation = 0
        self._lock = threading.Lock()

    def add(self, entry: dict[str, Any]) -> None:
        with self._lock:
            self.requests.append(entry)

    @contextmanager
    def serving(self) -> Iterator[None]:
        """Count a request as in flight while the block runs (to check client-side concurrency).

        Requests still running from before the last `clear()` (e.g. stalled ones) are not counted.
        """
        with self._lock:
            generation = self._generation
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            yield
        finally:
            with self._lock:
                if generation == self._generation:
                    self.in_flight -= 1

    def clear(self) -> None:
        with self._lock:
            self.requests.clear()
            self.in_flight = self.max_in_flight = 0
            self._generation += 1

    def __len__(self) -> int:
        return len(self.requests)


async def apply_fault(fault: Fault | None) -> Fault | None:
    """Sleep through a stall; return the fault only when it must become an error response."""
    if fault is None:
        return None
    if fault.delay:
        await asyncio.sleep(fault.delay)
    return fault if fault.status is not None else None


async def injected_response(faults: FaultPlan, latency: float, error: Callable[[int, str], Any]) -> Any | None:
    """Wait the emulated latency and the next fault: the error response to send, or None to answer normally."""
    if latency:
        await asyncio.sleep(latency)
    fault = await apply_fault(faults.next())
    if fault is None:
        return None
    response = error(fault.status, fault.message or f"injected HTTP {fault.status}")
    response.headers.update(fault.headers)
    return response


RunningServer = ThreadServer  # a started server; `url` is its base address, e.g. http://127.0.0.1:54321


def start_server(app: Any, startup_timeout: float = 10.0) -> RunningServer:
    """Serve `app` on a free port (the socket is bound before the thread starts, so no port race)."""
    return run_in_thread(app, lifespan="off", startup_timeout=startup_timeout)


@contextmanager
def serve(app: Any) -> Iterator[RunningServer]:
    """Context manager form of `start_server`: stops the server on exit."""
    running = start_server(app)
    try:
        yield running
    finally:
        running.stop()

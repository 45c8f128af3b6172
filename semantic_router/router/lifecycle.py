"""Closing a router: stop its background work, then close every client it holds, never raising.

A router going away must not fail on a client that is already closed or broken, so each close is
called quietly; the async close awaits a client's own `aclose` first where it has one."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
from collections.abc import Callable, Iterable
from typing import Any


def close(stop: Callable[[], None], parts: Iterable[Any]) -> None:
    """`stop()` the background work, then `close()` each part that has one."""
    stop()
    for part in parts:
        _call_quietly(getattr(part, "close", None))


async def aclose(stop: Callable[[], None], parts: Iterable[Any]) -> None:
    """`close` off the event loop's thread, awaiting each part's async `aclose` first."""
    await asyncio.to_thread(stop)
    for part in parts:
        result = _call_quietly(getattr(part, "aclose", None))
        if inspect.isawaitable(result):
            with contextlib.suppress(Exception):
                await result
        _call_quietly(getattr(part, "close", None))  # idempotent: the sync clients too


def _call_quietly(fn: Any) -> Any:
    """Call a close method if there is one; closing never raises (the router is going away)."""
    if callable(fn):
        with contextlib.suppress(Exception):
            return fn()
    return None

"""Lifecycles of SDK clients: one sync client made on first use, one async client per event loop.

An async client's connections belong to the event loop that opened it, so it is never shared
across loops; the owner's `aclose()` closes the running loop's one and `close()` the sync one.
"""

from __future__ import annotations

import asyncio
import threading
import weakref
from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

C = TypeVar("C")
DUMMY_KEY = "not-needed"  # the key sent to self-hosted servers that take none (the SDKs insist on one)


class LazyClient(Generic[C]):
    """One client made on first `get()` (thread-safe); `close()` closes it and the next `get()` reconnects."""

    def __init__(self, make: Callable[[], C], close: Callable[[C], Any]) -> None:
        self._make, self._close = make, close
        self._client: C | None = None
        self._lock = threading.Lock()

    def get(self) -> C:
        client = self._client
        if client is None:
            with self._lock:
                if self._client is None:
                    self._client = self._make()
                client = self._client
        return client

    @property
    def current(self) -> C | None:
        """The client if one is open, without making one."""
        return self._client

    def close(self) -> None:
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            self._close(client)


class LoopClients(Generic[C]):
    """Async clients, one per event loop (their connections are bound to the loop that opened
    them), made on first use; `aclose()` closes the running loop's, `forget()` drops the rest
    (a client of another loop cannot be closed from outside it)."""

    def __init__(self, make: Callable[[], C], close: Callable[[C], Awaitable[Any]]) -> None:
        self._make, self._close = make, close
        self._clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, C] = weakref.WeakKeyDictionary()

    def get(self) -> C:
        loop = asyncio.get_running_loop()
        client = self._clients.get(loop)
        if client is None:
            client = self._clients[loop] = self._make()
        return client

    def current(self) -> C | None:
        """The running loop's client if one is open, without making one."""
        return self._clients.get(asyncio.get_running_loop())

    def __len__(self) -> int:
        return len(self._clients)

    async def aclose(self) -> None:
        client = self._clients.pop(asyncio.get_running_loop(), None)
        if client is not None:
            await self._close(client)

    def forget(self) -> None:
        self._clients.clear()


S = TypeVar("S")
A = TypeVar("A")


class SDKClients(Generic[S, A]):
    """What an encoder or LLM opens: a sync client made on first use and one async client per event
    loop, closed together by the owner's `close()` / `aclose()`."""

    def __init__(self, make: Callable[[], S], close: Callable[[S], Any],
                 amake: Callable[[], A], aclose: Callable[[A], Awaitable[Any]]) -> None:
        self.sync: LazyClient[S] = LazyClient(make, close)
        self.per_loop: LoopClients[A] = LoopClients(amake, aclose)

    def close(self) -> None:
        """Close the sync client; async clients of event loops other than a running one are
        dropped (they cannot be closed from outside their loop). A later call reconnects."""
        self.sync.close()
        self.per_loop.forget()

    async def aclose(self) -> None:
        """Close the running event loop's async client, then everything `close` closes."""
        await self.per_loop.aclose()
        self.close()

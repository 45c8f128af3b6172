"""Micro-batching classifier: requests arriving within a short window share ONE encoder call and ONE search.

Each request submits its conversation (its user turns; a prompt is a one-turn conversation). One worker
collects the requests that arrive within `window` seconds (and, under load, everything that queued while the
previous batch ran) and routes them with ONE `RouteLayer.route_batch(conversations=...)` in a worker thread
(never on the event loop): the library encodes every distinct text once and blends each conversation's turns
exactly as `rl(messages=...)` does.

The window is only waited while more requests are on their way (`expect()` / `arrived()` bracket the
parsing of a request before it asks to be classified), so a lone request never pays for it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from semantic_router import RouteChoice, RouteLayer

__all__ = ["MicroBatcher"]


@dataclass(eq=False)
class _Item:
    turns: list[str]  # user turns, oldest first
    future: asyncio.Future = field(repr=False)


class MicroBatcher:
    """Classifies texts/conversations with a RouteLayer, batching concurrent requests.

    `window` (seconds) is how long the first request of an idle batcher waits for company; `max_batch`
    caps a batch. With `enabled=False` every request makes its own encoder call (the benchmark baseline).
    """

    def __init__(self, layer: RouteLayer, window: float = 0.002, max_batch: int = 64, enabled: bool = True) -> None:
        self.layer = layer
        self.window = window
        self.max_batch = max_batch
        self.enabled = enabled
        self.batches = 0  # encoder calls made (tests and /stats read them)
        self.items = 0
        self._pending: list[_Item] = []
        self._expected = 0  # requests being parsed that will ask for a classification soon
        self._submitted: asyncio.Event | None = None
        self._wakeup: asyncio.Event | None = None
        self._worker: asyncio.Task | None = None
        self._closed = False

    # -- public -----------------------------------------------------------------------------------
    def expect(self) -> None:
        """A request started that will probably ask for a classification: a batch waits for it (<= window)."""
        self._expected += 1

    def arrived(self) -> None:
        """The request announced with `expect()` is about to classify (or will not classify at all)."""
        self._expected = max(0, self._expected - 1)
        if self._submitted is not None:
            self._submitted.set()

    async def classify_texts(self, texts: list[str]) -> RouteChoice:
        """Route one query given as texts (row 0 = the query, then earlier turns, newest first); one entry is a
        plain prompt."""
        return await self.classify_conversation(texts[::-1])

    async def classify_conversation(self, user_turns: Sequence[str]) -> RouteChoice:
        """Route a conversation (its user turns, oldest first) with the library's history blending."""
        if self._closed:
            raise RuntimeError("classifier is closed")
        future = asyncio.get_running_loop().create_future()
        item = _Item(list(user_turns), future)
        if not self.enabled:
            return (await asyncio.to_thread(self._run, [item]))[0]
        self._ensure_worker()
        self._pending.append(item)
        assert self._wakeup is not None and self._submitted is not None
        self._wakeup.set()
        self._submitted.set()
        return await future

    def classify_sync(self, texts: list[str]) -> RouteChoice:
        """`classify_texts` without batching, for warm-up and the CLI."""
        return self._run([_Item(texts[::-1], None)])[0]  # type: ignore[arg-type]

    async def aclose(self) -> None:
        self._closed = True
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
        for item in self._pending:
            if not item.future.done():
                item.future.set_exception(RuntimeError("classifier closed"))
        self._pending.clear()

    # -- worker -----------------------------------------------------------------------------------
    def _ensure_worker(self) -> None:
        if self._worker is None or self._worker.done():
            self._wakeup = asyncio.Event()
            self._submitted = asyncio.Event()
            self._worker = asyncio.get_running_loop().create_task(self._loop(), name="micro-batcher")

    async def _loop(self) -> None:
        assert self._wakeup is not None
        idle = True
        while True:
            await self._wakeup.wait()
            if idle and self.window > 0:
                await self._gather_arrivals()
            batch = self._pending[: self.max_batch]
            del self._pending[: self.max_batch]
            if not self._pending:
                self._wakeup.clear()
            batch = [i for i in batch if not i.future.done()]  # drop requests whose client went away
            if not batch:
                idle = True
                continue
            try:
                results: list[Any] = await asyncio.to_thread(self._run, batch)
            except asyncio.CancelledError:
                for item in batch:
                    if not item.future.done():
                        item.future.set_exception(RuntimeError("classifier closed"))
                raise
            except Exception as exc:  # noqa: BLE001 - every waiter gets the failure
                results = [exc] * len(batch)
            for item, result in zip(batch, results):
                if item.future.done():
                    continue
                if isinstance(result, BaseException):
                    item.future.set_exception(result)
                else:
                    item.future.set_result(result)
            idle = not self._pending  # requests queued during the run have waited long enough

    async def _gather_arrivals(self) -> None:
        """Wait (at most `window`) while announced requests are still on their way and the batch has room."""
        assert self._submitted is not None
        deadline = asyncio.get_running_loop().time() + self.window
        while self._expected > 0 and len(self._pending) < self.max_batch:
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                return
            self._submitted.clear()
            try:
                await asyncio.wait_for(self._submitted.wait(), left)
            except asyncio.TimeoutError:
                return

    def _run(self, batch: list[_Item]) -> list[RouteChoice]:
        """In a worker thread: one batched route of every conversation (one encoder call, one search)."""
        conversations = [[{"role": "user", "content": t} for t in item.turns] for item in batch]
        results = self.layer.route_batch(conversations=conversations, explain=True, simulate_static=True)
        self.batches += 1
        self.items += len(batch)
        return results

"""Micro-batching classifier: requests arriving within a short window share ONE encoder call and ONE search.

Each request submits the texts it needs (a prompt, or a conversation's last user turn followed by earlier
ones, newest first). One worker collects the requests that arrive within `window` seconds (and, under load,
everything that queued while the previous batch ran), encodes every distinct text in one
`encoder.encode_queries` call in a worker thread (never on the event loop), blends each conversation's turns
into one query vector with the library's history-aware blending (`dynamic.conversation`), and routes the whole batch with one
`route_batch(vectors=...)`.

The window is only waited while more requests are on their way (`expect()` / `arrived()` bracket the
parsing of a request before it asks to be classified), so a lone request never pays for it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from semantic_router import RouteChoice, RouteLayer
from semantic_router.dynamic.conversation import History, blend, turn_texts

__all__ = ["MicroBatcher"]


@dataclass(eq=False)
class _Item:
    texts: list[str]
    future: asyncio.Future[RouteChoice] = field(repr=False)


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
        self.history: History = layer.history  # the library's history-aware blending of conversation turns
        self.batches = 0  # encoder calls made (tests and /stats read them)
        self.items = 0
        self._pending: list[_Item] = []
        self._expected = 0  # requests being parsed that will ask for a classification soon
        self._submitted: asyncio.Event | None = None
        self._wakeup: asyncio.Event | None = None
        self._worker: asyncio.Task[None] | None = None
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
        """Route one query given as texts to blend (row 0 = the query); one entry is a plain prompt."""
        if self._closed:
            raise RuntimeError("classifier is closed")
        future: asyncio.Future[RouteChoice] = asyncio.get_running_loop().create_future()
        item = _Item(list(texts), future)
        if not self.enabled:
            return (await asyncio.to_thread(self._run, [item.texts]))[0]
        self._ensure_worker()
        self._pending.append(item)
        assert self._wakeup is not None and self._submitted is not None
        self._wakeup.set()
        self._submitted.set()
        return await future

    async def classify_conversation(self, user_turns: Sequence[str]) -> RouteChoice:
        """Route a conversation (its user turns, oldest first) with the library's history blending."""
        return await self.classify_texts(turn_texts(user_turns, self.history))

    def classify_sync(self, texts: list[str]) -> RouteChoice:
        """The same computation without batching, for warm-up and the CLI."""
        return self._run([list(texts)])[0]

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
                results: Sequence[RouteChoice | Exception] = await asyncio.to_thread(
                    self._run, [item.texts for item in batch])
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

    def _run(self, batch: list[list[str]]) -> list[RouteChoice]:
        """In a worker thread: one encoder call for every distinct text, one batched route (one
        query per entry of `batch`: its texts to blend, row 0 the query)."""
        unique = list(dict.fromkeys(t for texts in batch for t in texts))
        vectors = self.layer.encoder.encode_queries(unique)
        row = {t: i for i, t in enumerate(unique)}
        queries = np.concatenate([blend(vectors[[row[t] for t in texts]], self.history) for texts in batch])
        self.batches += 1
        self.items += len(batch)
        return self.layer.route_batch(vectors=queries, explain=True, simulate_static=True)

"""The async API never blocks the event loop: a 1 ms ticker keeps ticking beside many acalls
against a remote index, including right after a route change.

On a shared 2-core machine under load, wall-clock gaps also measure how long the OS left the
process waiting, so what is asserted is what the loop itself did: no callback ran long on the
loop thread's CPU (encoding, training, decisions), and no blocking index call (the sync client)
ran on the loop thread, nor any encoding. The wall-clock gaps are asserted loosely (the median tick)."""

from __future__ import annotations

import asyncio
import statistics
import threading
import time
import uuid

import pytest

from semantic_router import Route, RouteLayer
from semantic_router.index.redis import RedisIndex

QUERIES = ["don't you love politics?", "lovely weather today", "are aliens real?", "the president spoke today",
           "how's the weather", "vote for me", "sunny and warm", "I want a pizza"]


async def _ticker(gaps: list[float], stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    while not stop.is_set():
        t0 = loop.time()
        await asyncio.sleep(0.001)
        gaps.append(loop.time() - t0)


@pytest.fixture()
def loop_cpu(monkeypatch):
    """The longest CPU time one event-loop callback used on the loop thread (seconds)."""
    longest = [0.0, ""]
    real = asyncio.events.Handle._run

    def timed(handle):
        t0 = time.thread_time()
        try:
            return real(handle)
        finally:
            took = time.thread_time() - t0
            if took > longest[0]:
                longest[0], longest[1] = took, repr(handle)[:300]

    monkeypatch.setattr(asyncio.events.Handle, "_run", timed)
    return longest


def _record_sync_calls(index, loop_thread: threading.Thread, calls: list[str]) -> None:
    for name in ("query_batch", "query", "records", "ids", "count", "read_state", "upsert", "delete"):
        real = getattr(index, name)

        def spy(*a, _real=real, _name=name, **k):
            if threading.current_thread() is loop_thread:
                calls.append(_name)
            return _real(*a, **k)

        setattr(index, name, spy)


@pytest.mark.parametrize("rule", ["knn", "classifier"])
async def test_a_ticker_keeps_ticking_beside_acalls_and_changes(encoder, politics_chitchat, redis_url, rule,
                                                                loop_cpu):
    index = RedisIndex(redis_url, name=f"loop{uuid.uuid4().hex[:8]}")
    rl = RouteLayer(encoder=encoder, routes=politics_chitchat, index=index, rule=rule, auto_sync="local",
                    refresh_interval=0.05)
    blocking: list[str] = []
    _record_sync_calls(index, threading.current_thread(), blocking)
    real_encode = encoder.encode

    def spy_encode(*a, **k):  # a sync encode is CPU-bound work: never on the loop thread
        if threading.current_thread() is threading.main_thread():
            blocking.append("encode")
        return real_encode(*a, **k)

    encoder.encode = spy_encode
    await asyncio.sleep(0)  # ends the loop callback that built the router above (sync set-up, not measured)
    loop_cpu[:] = [0.0, ""]
    try:
        gaps: list[float] = []
        stop = asyncio.Event()
        ticker = asyncio.create_task(_ticker(gaps, stop))
        await asyncio.sleep(0.02)
        texts = [f"{QUERIES[i % len(QUERIES)]} #{i}" for i in range(40)]  # uncached: the encoder runs
        first = await asyncio.gather(*(rl.acall(t) for t in texts[:20]))
        await rl.aadd(Route(name="food", utterances=["I want a pizza", "what's for dinner"]))
        second = await asyncio.gather(*(rl.acall(t) for t in texts[20:]), rl.aroute_batch(texts[:5]),
                                      rl.aroute_many("lovely weather and the president"))
        await rl.adelete("food")
        await rl.arefresh()
        stop.set()
        await ticker
        assert len(first) == 20 and any(c.name == "food" for c in second[:20])
        assert blocking == []  # no sync index call and no encoding on the loop thread
        assert loop_cpu[0] < 0.05, f"a loop callback ran for {loop_cpu[0] * 1000:.0f} ms of CPU: {loop_cpu[1]}"
        assert len(gaps) > 20 and statistics.median(gaps) < 0.02
    finally:
        del encoder.encode
        await rl.aclose()
        index.drop()

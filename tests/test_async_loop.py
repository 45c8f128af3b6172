"""The async API never blocks the event loop: a 1 ms ticker keeps ticking beside many acalls
against a remote index, including right after a route change."""

from __future__ import annotations

import asyncio
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


@pytest.mark.parametrize("rule", ["knn", "classifier"])
async def test_a_ticker_keeps_ticking_beside_acalls_and_changes(encoder, politics_chitchat, redis_url, rule):
    index = RedisIndex(redis_url, name=f"loop{uuid.uuid4().hex[:8]}")
    rl = RouteLayer(encoder=encoder, routes=politics_chitchat, index=index, rule=rule, auto_sync="local",
                    refresh_interval=0.05)
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
        assert len(gaps) > 20
        assert max(gaps) < 0.05, f"the event loop was blocked for {max(gaps) * 1000:.0f} ms"
    finally:
        await rl.aclose()
        index.drop()

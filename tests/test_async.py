"""The async API gives the sync answers and never runs a blocking search inside the event loop."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from semantic_router import Route, RouteLayer
from semantic_router.index.redis import RedisIndex

QUERIES = ["don't you love politics?", "lovely weather today", "are aliens real?", "the president spoke today",
           "how's the weather", "I'm interested in learning about llama 2", "vote for me", "sunny and warm"]


@pytest.fixture()
def rl(encoder, politics_chitchat):
    return RouteLayer(encoder=encoder, routes=politics_chitchat)


@pytest.mark.slow
async def test_200_concurrent_acalls_match_the_sync_path(rl):
    texts = [QUERIES[i % len(QUERIES)] + ("" if i < len(QUERIES) else f" #{i}") for i in range(200)]
    expected = [rl(t) for t in texts]
    got = await asyncio.gather(*(rl.acall(t) for t in texts))
    assert [c.name for c in got] == [c.name for c in expected]
    assert [c.similarity_score for c in got] == pytest.approx(
        [c.similarity_score if c.similarity_score is not None else None for c in expected], abs=1e-5)


async def test_async_many_and_batch_match_sync(rl):
    assert [c.name for c in await rl.aroute_batch(QUERIES)] == [c.name for c in rl.route_batch(QUERIES)]
    many = await rl.aroute_many("the weather and the president", max_k=2)
    assert [c.name for c in many] == [c.name for c in rl.route_many("the weather and the president", max_k=2)]
    vec = rl.encoder.encode(["vote for me"], "query")[0]
    assert (await rl.acall(vector=vec)).name == rl(vector=vec).name


async def test_async_route_changes(rl):
    await rl.aadd(Route(name="food", utterances=["I want a pizza", "what's for dinner"]))
    assert (await rl.acall("a pizza please")).name == "food"
    await rl.adelete("food")
    assert "food" not in rl.list_route_names()
    with pytest.raises(KeyError):
        await rl.adelete("food")


async def test_native_async_search_on_redis(encoder, politics_chitchat, redis_url):
    index = RedisIndex(redis_url, name=f"a{uuid.uuid4().hex[:8]}")
    rl = RouteLayer(encoder=encoder, routes=politics_chitchat, index=index, rule="knn", auto_sync="local")
    expected = [rl(q).name for q in QUERIES]

    def blocking(*args, **kwargs):  # the sync client must not be used by the async path
        raise AssertionError("sync search called from the async path")

    index.query_batch = blocking
    got = await asyncio.gather(*(rl.acall(q) for q in QUERIES))
    assert [c.name for c in got] == expected
    await rl.async_sync("local")
    assert rl.is_synced()
    index.drop()

"""The response cache on both stores: key scope, TTL, LRU bounds, semantic threshold, Redis faults."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest
from prometheus_client import CollectorRegistry

from semantic_router.server.act.cache import (
    Bypass,
    CacheConfig,
    CacheHub,
    CacheMetrics,
    MemoryBackend,
    ResponseCache,
)
from semantic_router.server.ingress.auth import tenant_id
from tests.gateway_prod.conftest import answer, chat

ALICE, BOB = tenant_id("Bearer alice-key"), tenant_id("Bearer bob-key")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(params=["memory", "redis"])
async def make_cache(request, embed):
    """Factory of caches over a fresh memory store or a fresh Redis namespace (same behaviour expected)."""
    made = []

    def make(decision: str = "code", **options) -> ResponseCache:
        if request.param == "redis":
            url = request.getfixturevalue("redis_url")
            options = {"backend": "redis", "redis_url": url, "namespace": f"t{uuid.uuid4().hex[:10]}", **options}
        config = CacheConfig(**options)
        hub = CacheHub(CacheMetrics(CollectorRegistry()))
        made.append(hub)
        return hub.cache(decision, config, embed)

    make.kind = request.param
    yield make
    for hub in made:
        await hub.aclose()


async def remember(cache: ResponseCache, body, content: str, model: str = "m", tenant: str = ALICE) -> None:
    req = cache.request(body, model, tenant)
    assert not isinstance(req, Bypass)
    assert await cache.store(req, answer(content, model))


async def look(cache: ResponseCache, body, model: str = "m", tenant: str = ALICE):
    req = cache.request(body, model, tenant)
    assert not isinstance(req, Bypass), req
    return await cache.lookup(req)


async def test_exact_hit_replays_the_stored_answer(make_cache):
    cache = make_cache(mode="exact")
    await remember(cache, chat("How do I reverse a list in Python?", system="Be brief."), "use reversed()")
    hit = await look(cache, chat("How do I reverse a list in Python?", system="Be brief."))
    assert hit.status == "hit" and hit.kind == "exact" and hit.similarity == 1.0
    assert hit.answer["choices"][0]["message"]["content"] == "use reversed()"
    assert (await look(cache, chat("How do I reverse a list in Python?  ", system="Be brief."))).status == "hit"


async def test_scope_separates_system_prompt_tenant_model_decision_and_params(make_cache):
    cache = make_cache(mode="exact_then_semantic")
    body = chat("How do I reverse a list in Python?", system="Be brief.")
    await remember(cache, body, "use reversed()")
    assert (await look(cache, body)).status == "hit"
    assert (await look(cache, chat("How do I reverse a list in Python?", system="Answer in French."))).status == "miss"
    assert (await look(cache, chat("How do I reverse a list in Python?"))).status == "miss"
    assert (await look(cache, body, tenant=BOB)).status == "miss"
    assert (await look(cache, body, model="other-model")).status == "miss"
    assert (await look(cache, {**body, "max_tokens": 5})).status == "miss"
    assert (await look(cache, {**body, "tools": [{"type": "function", "function": {"name": "f"}}]})).status == "miss"
    other = make_cache("math", mode="exact_then_semantic")  # another decision on its own store
    assert (await look(other, body)).status == "miss"
    # earlier turns are part of the context: same final question after a different history misses
    history = {**body, "messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"},
                                    *body["messages"]]}
    assert (await look(cache, history)).status == "miss"


async def test_temperature_and_n_bypass_by_default_and_are_configurable(make_cache):
    strict = make_cache(mode="exact")
    assert strict.request(chat("q", temperature=0.7), "m", ALICE) == Bypass("temperature")
    assert strict.request(chat("q", n=2), "m", ALICE) == Bypass("n")
    assert strict.request(chat("q", temperature="hot"), "m", ALICE) == Bypass("temperature")
    assert not isinstance(strict.request(chat("q", temperature=0), "m", ALICE), Bypass)
    assert not isinstance(strict.request(chat("q"), "m", ALICE), Bypass)  # no temperature: default_temperature 0
    openai_default = make_cache(mode="exact", default_temperature=1.0)
    assert openai_default.request(chat("q"), "m", ALICE) == Bypass("temperature")
    lax = make_cache(mode="exact", max_temperature=1.0, max_n=2)
    await remember(lax, chat("q", temperature=0.7, n=2), "a")
    assert (await look(lax, chat("q", temperature=0.7, n=2))).status == "hit"
    assert (await look(lax, chat("q", temperature=0.5, n=2))).status == "miss"  # temperature is in the key


async def test_only_a_final_user_text_turn_is_cacheable(make_cache):
    cache = make_cache(mode="exact")
    image = {"model": "auto", "messages": [{"role": "user", "content": [
        {"type": "text", "text": "what is this"}, {"type": "image_url", "image_url": {"url": "data:,x"}}]}]}
    assert cache.request(image, "m", ALICE) == Bypass("last_turn_not_user_text")
    tool_turn = {"model": "auto", "messages": [{"role": "user", "content": "x"},
                                               {"role": "tool", "content": "42", "tool_call_id": "t"}]}
    assert cache.request(tool_turn, "m", ALICE) == Bypass("last_turn_not_user_text")
    parts = {"model": "auto", "messages": [{"role": "user", "content": [{"type": "text", "text": "hello there"}]}]}
    await remember(cache, parts, "hi")
    assert (await look(cache, chat("hello there"))).status == "hit"  # same text either way


async def test_semantic_paraphrase_above_threshold_hits_below_misses(make_cache, embed):
    cache = make_cache(mode="semantic", similarity_threshold=0.9)
    await remember(cache, chat("How do I reverse a list in Python?"), "use reversed()")
    hit = await look(cache, chat("What is the way to reverse a Python list?"))
    assert hit.status == "hit" and hit.kind == "semantic" and 0.9 <= hit.similarity < 1.0
    assert hit.answer["choices"][0]["message"]["content"] == "use reversed()"
    miss = await look(cache, chat("How do I sort a list in Python?"))
    assert miss.status == "miss" and miss.kind == "below_threshold" and miss.similarity < 0.9
    strict = make_cache(mode="semantic", similarity_threshold=0.99)
    await remember(strict, chat("How do I reverse a list in Python?"), "use reversed()")
    assert (await look(strict, chat("What is the way to reverse a Python list?"))).status == "miss"
    assert (await look(strict, chat("how can i reverse a list in python"))).status == "hit"
    # a paraphrase from another tenant never hits
    assert (await look(cache, chat("What is the way to reverse a Python list?"), tenant=BOB)).status == "miss"


async def test_exact_then_semantic_answers_exact_without_encoding(make_cache, embed):
    cache = make_cache(mode="exact_then_semantic", similarity_threshold=0.9)
    await remember(cache, chat("How do I reverse a list in Python?"), "use reversed()")
    calls = embed.calls
    assert (await look(cache, chat("How do I reverse a list in Python?"))).kind == "exact"
    assert embed.calls == calls
    assert (await look(cache, chat("What is the way to reverse a Python list?"))).kind == "semantic"
    assert embed.calls == calls + 1


async def test_expired_entry_misses(make_cache):
    cache = make_cache(mode="exact_then_semantic", ttl_seconds=0.3)
    await remember(cache, chat("How do I reverse a list in Python?"), "use reversed()")
    assert (await look(cache, chat("How do I reverse a list in Python?"))).status == "hit"
    await asyncio.sleep(0.45)
    assert (await look(cache, chat("How do I reverse a list in Python?"))).status == "miss"
    assert (await look(cache, chat("What is the way to reverse a Python list?"))).status == "miss"


@pytest.mark.parametrize("refresh", [False, True])
async def test_ttl_is_refreshed_on_hit_only_when_configured(make_cache, refresh):
    cache = make_cache(mode="exact", ttl_seconds=0.6, refresh_ttl_on_hit=refresh)
    await remember(cache, chat("q"), "a")
    await asyncio.sleep(0.35)
    assert (await look(cache, chat("q"))).status == "hit"
    await asyncio.sleep(0.4)  # 0.75 s after the store, 0.4 s after the hit
    assert (await look(cache, chat("q"))).status == ("hit" if refresh else "miss")


async def test_max_entries_evicts_least_recently_used_and_counts(make_cache):
    cache = make_cache(mode="exact", max_entries=2)
    await remember(cache, chat("one"), "1")
    await remember(cache, chat("two"), "2")
    assert (await look(cache, chat("one"))).status == "hit"  # "two" is now the least recently used
    await remember(cache, chat("three"), "3")
    assert [(await look(cache, chat(t))).status for t in ("one", "two", "three")] == ["hit", "miss", "hit"]
    snap = cache.metrics.snapshot()
    assert snap["evictions"] == 1 and snap["stores"] == 3 and cache.backend.evictions == 1
    assert snap["hits"] == 3 and snap["misses"] == 1 and snap["hit_rate"] == 0.75


async def test_metrics_reach_prometheus():
    registry = CollectorRegistry()
    metrics = CacheMetrics(registry)
    cache = ResponseCache("code", CacheConfig(mode="exact"), MemoryBackend(10), metrics)
    await remember(cache, chat("q"), "a")
    await look(cache, chat("q"))
    await look(cache, chat("other"))
    cache.request(chat("q", temperature=1), "m", ALICE)
    value = registry.get_sample_value
    assert value("router_cache_hits_total", {"decision": "code", "kind": "exact"}) == 1
    assert value("router_cache_misses_total", {"decision": "code", "reason": "not_found"}) == 1
    assert value("router_cache_bypasses_total", {"decision": "code", "reason": "temperature"}) == 1
    assert value("router_cache_stores_total", {"decision": "code"}) == 1
    assert value("router_cache_lookup_seconds_count", {"decision": "code"}) == 2


async def test_memory_store_lru_and_expiry_on_a_fake_clock():
    clock = Clock()
    store = MemoryBackend(3, clock=clock)
    cache = ResponseCache("d", CacheConfig(mode="exact", ttl_seconds=10), store, CacheMetrics(CollectorRegistry()))
    await remember(cache, chat("q"), "a")
    clock.now += 9.9
    assert (await look(cache, chat("q"))).status == "hit"
    clock.now += 0.2
    assert (await look(cache, chat("q"))).status == "miss"
    assert len(store) == 0  # the expired entry is gone, not just hidden


def test_semantic_mode_needs_an_encoder():
    with pytest.raises(ValueError, match="needs an encoder"):
        ResponseCache("d", CacheConfig(mode="semantic"), MemoryBackend(1), CacheMetrics(CollectorRegistry()))


@pytest.mark.parametrize("bad, match", [({"backend": "redis"}, "needs redis_url"),
                                        ({"redis_url": "redis://x"}, "only used with backend 'redis'"),
                                        ({"mode": "fuzzy"}, "mode"), ({"similarity_threshold": 1.5}, "similarity"),
                                        ({"ttl": 3}, "ttl")])
def test_bad_cache_options_are_refused_by_name(bad, match):
    with pytest.raises(ValueError, match=match):
        CacheConfig(**bad)


async def test_two_redis_stores_on_one_namespace_share_answers(redis_url, embed):
    namespace = f"t{uuid.uuid4().hex[:10]}"
    config = CacheConfig(backend="redis", redis_url=redis_url, namespace=namespace, similarity_threshold=0.9)
    first = CacheHub(CacheMetrics(CollectorRegistry())).cache("code", config, embed)
    second = CacheHub(CacheMetrics(CollectorRegistry())).cache("code", config, embed)
    await remember(first, chat("How do I reverse a list in Python?"), "use reversed()")
    assert (await look(second, chat("How do I reverse a list in Python?"))).kind == "exact"
    assert (await look(second, chat("What is the way to reverse a Python list?"))).kind == "semantic"
    await first.backend.aclose()
    await second.backend.aclose()


async def test_redis_down_misses_fast_and_restart_recovers(private_redis, embed):
    config = CacheConfig(backend="redis", redis_url=private_redis.url, namespace="down", similarity_threshold=0.9,
                         redis_retry_after=0.5)
    cache = CacheHub(CacheMetrics(CollectorRegistry())).cache("code", config, embed)
    body, paraphrase = chat("How do I reverse a list in Python?"), chat("What is the way to reverse a Python list?")
    await remember(cache, body, "use reversed()")
    assert (await look(cache, paraphrase)).status == "hit"
    private_redis.kill()
    miss = await look(cache, body)
    assert miss.status == "miss" and miss.kind == "unavailable"
    req = cache.request(body, "m", ALICE)
    assert await cache.store(req, answer("x")) is False
    start = time.perf_counter()
    assert (await look(cache, body)).kind == "unavailable"  # skipped while Redis is marked down: no wait
    assert time.perf_counter() - start < 0.05
    private_redis.start()  # empty: entries and the FT index are gone
    await asyncio.sleep(0.55)
    assert (await look(cache, paraphrase)).status == "miss"
    await remember(cache, body, "use reversed() again")  # recreates the FT index
    hit = await look(cache, paraphrase)
    assert hit.status == "hit" and hit.answer["choices"][0]["message"]["content"] == "use reversed() again"
    snap = cache.metrics.snapshot()
    assert snap["errors"] >= 3
    await cache.backend.aclose()


async def test_memory_semantic_lookup_survives_many_stores_and_removals(embed):
    """The per-scope matrix stays right through growth, LRU evictions and compaction."""
    import numpy as np

    store = MemoryBackend(50)
    rng = np.random.default_rng(1)
    vectors = rng.normal(size=(200, 8)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    from semantic_router.server.act.cache import Entry

    for i, v in enumerate(vectors):
        await store.put(Entry(f"k{i}", "s", str(i), {"i": i}, v), ttl=100)
    assert len(store) == 50 and store.evictions == 150
    for i in (199, 170, 150):  # live ones are found exactly
        entry, sim = await store.nearest("s", vectors[i])
        assert entry.answer == {"i": i} and sim == pytest.approx(1.0, abs=1e-5)
    entry, _ = await store.nearest("s", vectors[3])  # evicted: the nearest live one answers instead
    live = vectors[150:]
    assert entry.answer == {"i": 150 + int(np.argmax(live @ vectors[3]))}
    assert await store.nearest("other", vectors[0]) is None

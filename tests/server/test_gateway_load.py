"""Sticky conversations, micro-batching, a never-blocked event loop and a bounded load test."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from semantic_router.server.decide.batching import MicroBatcher
from tests.server.conftest import CountingEncoder, make_layer

pytestmark = pytest.mark.slow  # thousands of requests through a real gateway

CODING_TURNS = [
    "write a python function that parses a CSV file into a list of dicts",
    "now make it skip rows with missing values",
    "add type hints please",
    "can you write unit tests for it",
    "and now make it faster",
]


async def _converse(client, url, turns, headers=None):
    messages, models = [], []
    for turn in turns:
        messages.append({"role": "user", "content": turn})
        r = await client.post(url + "/v1/chat/completions", json={"model": "auto", "messages": messages},
                              headers=headers or {})
        assert r.status_code == 200, r.text
        models.append(r.headers["x-router-model"])
        messages.append({"role": "assistant", "content": r.json()["choices"][0]["message"]["content"]})
    return models


def test_five_turn_coding_conversation_stays_on_the_code_model(gateway, fresh):
    async def run():
        async with httpx.AsyncClient(timeout=10) as client:
            anonymous = await _converse(client, gateway.url, CODING_TURNS)
            with_id = await _converse(client, gateway.url, CODING_TURNS, {"x-session-id": "conv-42"})
            return anonymous, with_id

    anonymous, with_id = asyncio.run(run())
    assert anonymous == ["code-model"] * 5
    assert with_id == ["code-model"] * 5


def test_sticky_conversation_switches_when_a_turn_clearly_belongs_elsewhere(gateway, fresh):
    headers = {"x-session-id": "conv-switch"}
    first = httpx.post(gateway.url + "/v1/chat/completions", headers=headers, json={
        "model": "auto", "messages": [{"role": "user", "content": CODING_TURNS[0]}]})
    assert first.headers["x-router-model"] == "code-model"
    vague = httpx.post(gateway.url + "/v1/chat/completions", headers=headers, json={
        "model": "auto", "messages": [{"role": "user", "content": "tell me a joke"}]})
    assert vague.headers["x-router-model"] == "code-model" and vague.headers.get("x-router-sticky") == "1"
    forced = httpx.post(gateway.url + "/v1/chat/completions", headers=headers, json={
        "model": "auto", "messages": [{"role": "user", "content": "walk me through how tides work"}]})
    assert forced.headers["x-router-model"] == "deep-model"  # a keyword rule has confidence 1: a clear switch


def test_concurrent_requests_share_one_encoder_call(encoder):
    counting = CountingEncoder(encoder, cache_size=0)  # no cache: every text reaches the model
    layer = make_layer(counting)
    prompts = [f"question number {i}: how do I sort a list of {i} integers in python" for i in range(32)]
    conversation = ["write a C function for string reversal", "now make it handle unicode"]

    async def run(batcher):
        tasks = [batcher.classify_texts([p]) for p in prompts]
        tasks.append(batcher.classify_conversation(conversation))
        try:
            return await asyncio.gather(*tasks)
        finally:
            await batcher.aclose()

    counting.model_calls = 0
    batched = asyncio.run(run(MicroBatcher(layer, window=0.002)))
    assert counting.model_calls == 1  # 34 texts, 33 requests: ONE encoder call
    counting.model_calls = 0
    single = asyncio.run(run(MicroBatcher(layer, enabled=False)))
    assert counting.model_calls == 33
    assert [c.name for c in batched] == [c.name for c in single]
    assert [c.similarity_score for c in batched] == pytest.approx([c.similarity_score for c in single], abs=1e-5)
    expected = layer(messages=[{"role": "user", "content": conversation[0]},
                               {"role": "assistant", "content": "..."},
                               {"role": "user", "content": conversation[1]}])
    assert batched[-1].name == expected.name
    assert batched[-1].similarity_score == pytest.approx(expected.similarity_score, abs=1e-5)


def test_event_loop_is_never_blocked_while_encoding(encoder):
    counting = CountingEncoder(encoder, cache_size=0)
    layer = make_layer(counting)
    texts = [f"{i} " + "please explain in detail how a compiler turns source code into machine code " * 6
             for i in range(96)]

    async def run():
        batcher = MicroBatcher(layer, window=0.002, max_batch=32)
        gaps, stop = [], asyncio.Event()

        async def ticker():
            last = time.perf_counter()
            while not stop.is_set():
                await asyncio.sleep(0.001)
                now = time.perf_counter()
                gaps.append(now - last)
                last = now

        tick = asyncio.create_task(ticker())
        start = time.perf_counter()
        await asyncio.gather(*(batcher.classify_texts([t]) for t in texts))
        busy = time.perf_counter() - start
        stop.set()
        await tick
        await batcher.aclose()
        return max(gaps), busy, len(gaps)

    worst, busy, ticks = asyncio.run(run())
    assert 3 <= counting.model_calls <= 4  # 96 requests in batches of at most 32
    # each of the 3 batches keeps the model busy for about busy/3: had one run on the loop, some tick gap would be
    # that long; the loop kept ticking throughout
    assert worst < busy / 10, (worst, busy)
    assert ticks > busy / 0.01


def test_load_2000_requests_nothing_lost_each_on_its_routed_model(gateway, fresh):
    prompts = [
        "write a python function that reverses a linked list", "fix this bug in my javascript code",
        "write a SQL query that joins orders and customers", "implement quicksort in C++",
        "solve the equation 3x + 5 = 20", "what is the derivative of x cubed",
        "is 97 a prime number", "what is 15 percent of 300",
        "recommend a good book for my holiday", "how do I make green tea", "tell me a fun fact about cats",
        "what should I pack for a hiking trip", "think step by step: why is the sky blue",
    ]
    routed = httpx.post(gateway.url + "/v1/route", json={"batch": [{"prompt": p} for p in prompts]}).json()
    expected = {p: r["model"] for p, r in zip(prompts, routed["results"])}
    assert len(set(expected.values())) >= 4
    total, concurrency = 2000, 32
    before_stats = httpx.get(gateway.url + "/stats").json()
    before = before_stats["total_requests"]

    async def run():
        queue = asyncio.Queue()
        for i in range(total):
            queue.put_nowait(i)
        results = {}
        limits = httpx.Limits(max_connections=concurrency)
        async with httpx.AsyncClient(timeout=30, limits=limits) as client:
            async def worker():
                while not queue.empty():
                    i = queue.get_nowait()
                    prompt = prompts[i % len(prompts)]
                    r = await client.post(gateway.url + "/v1/chat/completions", json={
                        "model": "auto", "user": f"req-{i}", "messages": [{"role": "user", "content": prompt}]})
                    results[i] = (prompt, r.status_code, r.headers.get("x-router-model"), r.json())

            await asyncio.gather(*(worker() for _ in range(concurrency)))
            return results

    results = asyncio.run(run())
    assert len(results) == total
    for prompt, status, header_model, body in results.values():
        assert status == 200
        assert header_model == expected[prompt] == body["echo"]["model"]
    assert fresh.total() == total  # every request reached exactly one backend once
    assert sum(b.completed for b in fresh.backends.values()) == total
    after = httpx.get(gateway.url + "/stats").json()
    assert after["total_requests"] - before == total
    batches = after["classifier"]["batches"] - before_stats["classifier"]["batches"]
    items = after["classifier"]["items"] - before_stats["classifier"]["items"]
    assert items == total and items / batches > 1.5, (items, batches)  # concurrent requests shared encoder calls

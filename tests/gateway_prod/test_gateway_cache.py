"""The cache plugin inside the real gateway (uvicorn on loopback, stand-in backends): hits replay the same
answer (streamed or not, httpx and the OpenAI SDK), scope separates system prompts and tenants, TTL,
paraphrases, bypasses, errors never cached, Redis restart keeps serving; /stats and /metrics see it all."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import openai
import pytest

from tests.server.conftest import gateway_config, start_gateway

CODE = "write a python function that reverses a linked list"
PARAPHRASE = "write a function in python to reverse a linked list"
OTHER_CODE = "explain this stack trace from my java program"
KEYS = ("tenant-a-key-111", "tenant-b-key-222")


def cached_config(fleet, **cache: Any) -> dict[str, Any]:
    """The test gateway with a cache on the `code` decision."""
    config = gateway_config(fleet)
    options = {"mode": "exact_then_semantic", "similarity_threshold": 0.9, **cache}
    config["decisions"] = [{**d, "plugins": {"cache": options}} if d["name"] == "code" else d
                           for d in config["decisions"]]
    return config


@pytest.fixture()
def gw(fleet, layer):
    """A gateway with an empty cache for each test (cheap: the router's layer is shared)."""
    gateway = start_gateway(cached_config(fleet, ttl_seconds=600), layer)
    yield gateway
    gateway.server.stop()


def ask(gateway, content: str, system: str | None = None, key: str | None = None, headers=None, **extra):
    messages = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": content}]
    hdrs = {**({"Authorization": f"Bearer {key}"} if key else {}), **(headers or {})}
    return httpx.post(gateway.url + "/v1/chat/completions", timeout=10, headers=hdrs,
                      json={"model": "auto", "messages": messages, **extra})


def code_calls(fleet) -> int:
    return len(fleet.backends["code_a"].requests) + len(fleet.backends["code_b"].requests)


def content_of(r: httpx.Response) -> str:
    return r.json()["choices"][0]["message"]["content"]


def stores(gateway) -> int:
    return httpx.get(gateway.url + "/stats").json()["cache"]["stores"]


def wait_for(predicate, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.02)


def sse_text(raw: str) -> str:
    out = []
    for line in raw.splitlines():
        if line.startswith("data: ") and line != "data: [DONE]":
            for choice in json.loads(line[6:]).get("choices", []):
                out.append(choice["delta"].get("content") or "")
    return "".join(out)


def test_hit_replays_the_same_answer_without_calling_the_model(gw, fresh):
    first = ask(gw, CODE)
    assert first.status_code == 200 and first.headers["x-router-cache"] == "miss"
    assert first.headers["x-router-decision"] == "code"
    second = ask(gw, CODE)
    assert second.status_code == 200 and second.headers["x-router-cache"] == "hit"
    assert second.headers["x-router-cache-similarity"] == "1.0000"
    assert second.headers["x-router-decision"] == "code" and second.headers["x-router-model"] == "code-model"
    assert content_of(second) == content_of(first) and second.json()["id"] == first.json()["id"]
    assert code_calls(fresh) == 1
    other = ask(gw, "recommend a good book for my holiday")  # general decision: no cache plugin
    assert "x-router-cache" not in other.headers


def test_streamed_answer_is_stored_when_complete_and_replayed_as_sse(gw, fresh):
    prompt = f"{CODE} and explain it"
    before = stores(gw)
    with httpx.stream("POST", gw.url + "/v1/chat/completions", timeout=10,
                      headers={"Authorization": "Bearer sdk-key"},  # the SDK's key below: the same tenant
                      json={"model": "auto", "stream": True, "messages": [{"role": "user", "content": prompt}]}) as r:
        assert r.headers["x-router-cache"] == "miss"
        first = r.read().decode()
    assert code_calls(fresh) == 1
    wait_for(lambda: stores(gw) == before + 1)  # stored just after [DONE] went out
    client = openai.OpenAI(base_url=gw.url + "/v1", api_key="sdk-key", max_retries=0)
    stream = client.chat.completions.create(model="auto", stream=True,
                                            stream_options={"include_usage": True},
                                            messages=[{"role": "user", "content": prompt}])
    pieces, usage = [], None
    for chunk in stream:
        usage = chunk.usage or usage
        pieces += [c.delta.content or "" for c in chunk.choices]
    assert "".join(pieces) == sse_text(first) and f"reply to: {prompt}" in "".join(pieces)
    assert usage is None or usage.total_tokens > 0
    whole = client.chat.completions.with_raw_response.create(model="auto",
                                                             messages=[{"role": "user", "content": prompt}])
    assert whole.headers["x-router-cache"] == "hit"
    assert whole.parse().choices[0].message.content == sse_text(first)
    assert code_calls(fresh) == 1  # three answers, one model call


def test_an_interrupted_stream_is_not_stored(gw, fresh):
    prompt = CODE
    fresh.backends["code_a"].delay = fresh.backends["code_b"].delay = 0.05
    with httpx.stream("POST", gw.url + "/v1/chat/completions", timeout=10,
                      json={"model": "auto", "stream": True, "messages": [{"role": "user", "content": prompt}]}) as r:
        next(r.iter_raw())  # read the first chunk, then hang up
    fresh.backends["code_a"].delay = fresh.backends["code_b"].delay = 0.0
    time.sleep(0.3)
    assert ask(gw, prompt).headers["x-router-cache"] == "miss"


def test_system_prompt_and_sampling_parameters_scope_the_answer(gw, fresh):
    assert ask(gw, CODE, system="Answer tersely.").headers["x-router-cache"] == "miss"
    assert ask(gw, CODE, system="Answer tersely.").headers["x-router-cache"] == "hit"
    assert ask(gw, CODE, system="Answer in French.").headers["x-router-cache"] == "miss"
    assert ask(gw, CODE).headers["x-router-cache"] == "miss"
    assert ask(gw, CODE, max_tokens=12).headers["x-router-cache"] == "miss"
    hot = ask(gw, CODE, temperature=0.8)
    assert hot.headers["x-router-cache"] == "bypass" and "x-router-cache-similarity" not in hot.headers
    assert code_calls(fresh) == 5


def test_bypass_header_skips_the_cache(gw, fresh):
    ask(gw, CODE)
    r = ask(gw, CODE, headers={"x-router-cache-bypass": "1"})
    assert r.headers["x-router-cache"] == "bypass" and code_calls(fresh) == 2
    assert ask(gw, CODE, headers={"x-router-cache-bypass": "0"}).headers["x-router-cache"] == "hit"


def test_paraphrase_above_threshold_hits_and_below_misses(gw, fresh):
    ask(gw, CODE)
    near = ask(gw, f"{PARAPHRASE}")
    assert near.headers["x-router-cache"] == "hit", near.headers
    assert 0.9 <= float(near.headers["x-router-cache-similarity"]) < 1.0
    far = ask(gw, f"{OTHER_CODE}")
    assert far.headers["x-router-cache"] == "miss" and float(far.headers["x-router-cache-similarity"]) < 0.9
    assert code_calls(fresh) == 2


def test_upstream_errors_are_never_cached(gw, fresh):
    prompt = CODE
    for b in ("code_a", "code_b"):
        fresh.backends[b].fail(400)
    assert ask(gw, prompt).status_code == 400  # a 4xx is passed through...
    fresh.reset()  # drops the other backend's pending fault
    r = ask(gw, prompt)
    assert r.status_code == 200 and r.headers["x-router-cache"] == "miss"  # ...and was not stored


def test_stats_and_metrics_count_the_cache(gw, fresh):
    ask(gw, CODE)
    ask(gw, CODE)
    stats = httpx.get(gw.url + "/stats").json()
    cache = stats["cache"]
    assert cache["hits"] >= 1 and cache["stores"] >= 1 and 0 < cache["hit_rate"] < 1
    assert cache["decisions"]["code"]["hits"] == cache["hits"]
    assert stats["latency_ms"]["p50"] > 0 and stats["latency_ms"]["window"] >= 2
    assert stats["replica"]
    metrics = httpx.get(gw.url + "/metrics").text
    assert 'router_cache_hits_total{decision="code",kind="exact"}' in metrics
    assert "router_cache_lookup_seconds_bucket" in metrics


def test_tenants_never_see_each_others_answers(fleet, layer, monkeypatch):
    monkeypatch.setenv("GW_TEST_KEYS", ",".join(KEYS))
    gateway = start_gateway(cached_config(fleet) | {"server": {"api_keys_env": "GW_TEST_KEYS"}}, layer)
    try:
        fleet.reset()
        a, b = KEYS
        assert ask(gateway, CODE, key=a).headers["x-router-cache"] == "miss"
        assert ask(gateway, CODE, key=b).headers["x-router-cache"] == "miss"
        assert ask(gateway, PARAPHRASE, key=b).headers["x-router-cache"] == "hit"  # b's own entry
        assert ask(gateway, CODE, key=a).headers["x-router-cache"] == "hit"
        assert code_calls(fleet) == 2
    finally:
        gateway.server.stop()


def test_expired_entries_miss(fleet, layer):
    gateway = start_gateway(cached_config(fleet, ttl_seconds=0.4), layer)
    try:
        fleet.reset()
        assert ask(gateway, CODE).headers["x-router-cache"] == "miss"
        assert ask(gateway, CODE).headers["x-router-cache"] == "hit"
        time.sleep(0.5)
        assert ask(gateway, CODE).headers["x-router-cache"] == "miss"
        assert code_calls(fleet) == 2
    finally:
        gateway.server.stop()


def test_redis_restart_misses_and_keeps_serving(fleet, layer, private_redis):
    gateway = start_gateway(cached_config(fleet, backend="redis", redis_url=private_redis.url,
                                          redis_retry_after=0.2), layer)
    try:
        fleet.reset()
        assert ask(gateway, CODE).headers["x-router-cache"] == "miss"
        assert ask(gateway, PARAPHRASE).headers["x-router-cache"] == "hit"
        private_redis.kill()
        for _ in range(3):  # Redis gone: every request still answered by the model
            r = ask(gateway, CODE)
            assert r.status_code == 200 and r.headers["x-router-cache"] == "miss"
        private_redis.start()  # back, empty
        time.sleep(0.25)
        assert ask(gateway, PARAPHRASE).headers["x-router-cache"] == "miss"
        assert ask(gateway, PARAPHRASE).headers["x-router-cache"] == "hit"
        assert code_calls(fleet) == 5
        assert httpx.get(gateway.url + "/stats").json()["cache"]["errors"] >= 1
    finally:
        gateway.server.stop()


def test_cache_options_are_checked_with_the_config(fleet):
    from semantic_router.errors import ConfigError
    from semantic_router.server.config import parse_config

    bad = cached_config(fleet, similarity_threshold=2)
    with pytest.raises(ConfigError, match=r"decisions\[\d\]\.plugins.*similarity_threshold"):
        parse_config(bad)

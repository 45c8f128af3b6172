"""The gateway over real HTTP: routing, rewriting, headers, streaming, the OpenAI SDK, /v1/route, /stats, /metrics."""

from __future__ import annotations

import json
import time

import httpx
import openai
import pytest

from tests.server.conftest import UPSTREAM_SECRET

CODE = "write a python function that reverses a linked list"
MATH = "solve the equation 2x + 7 = 19 for x"
GENERAL = "recommend a good book for my holiday"


def chat(gateway, content, model="auto", **extra):
    body = {"model": model, "messages": [{"role": "user", "content": content}], **extra}
    return httpx.post(gateway.url + "/v1/chat/completions", json=body, timeout=10)


@pytest.mark.parametrize("prompt, decision, model, backend_names", [
    (CODE, "code", "code-model", {"code_a", "code_b"}),
    (MATH, "math", "math-model", {"math"}),
    (GENERAL, "general", "general-model", {"general"}),
])
def test_three_prompts_land_on_three_models(gateway, fresh, prompt, decision, model, backend_names):
    r = chat(gateway, prompt)
    assert r.status_code == 200, r.text
    assert r.headers["x-router-decision"] == decision
    assert r.headers["x-router-model"] == model
    assert r.headers["x-router-route"] == decision
    confidence = float(r.headers["x-router-confidence"])
    assert confidence == 0.0 if decision == "general" else confidence > 0.3  # general: the catch-all rule
    assert f"routes:{decision}" in r.headers["x-router-signals"].split(",")
    body = r.json()
    assert body["echo"]["model"] == model and body["echo"]["backend"] in backend_names
    served = [n for n, b in fresh.backends.items() if b.requests]
    assert len(served) == 1 and served[0] in backend_names


def test_rewrites_only_the_decided_fields(gateway, fresh):
    body = {"model": "auto", "temperature": 0.3, "max_tokens": 77, "user": "u-1", "metadata": {"k": "v"},
            "messages": [{"role": "system", "content": "client system"}, {"role": "user", "content": MATH}]}
    r = httpx.post(gateway.url + "/v1/chat/completions", json=body, timeout=10)
    assert r.status_code == 200
    seen = fresh.backends["math"].requests[0]
    # math: reasoning on (Qwen3 style), system prompt replaced; the rest exactly as sent
    assert seen["chat_template_kwargs"] == {"enable_thinking": True}
    assert seen["thinking"] is None and seen["reasoning_effort"] is None
    assert seen["system"] == ["Be rigorous."]
    assert seen["messages"][1] == {"role": "user", "content": MATH}
    # code: system prompt inserted before the client's own, no reasoning field added
    r = httpx.post(gateway.url + "/v1/chat/completions", timeout=10, json={
        **body, "messages": [{"role": "system", "content": "client system"}, {"role": "user", "content": CODE}]})
    code_seen = next(b.requests[0] for n, b in fresh.backends.items() if n.startswith("code") and b.requests)
    assert code_seen["system"] == ["You are a coding assistant.", "client system"]
    assert code_seen["chat_template_kwargs"] is None


def test_keyword_rule_of_higher_priority_forces_reasoning(gateway, fresh):
    r = chat(gateway, "think step by step: " + CODE)
    assert r.headers["x-router-decision"] == "reasoning"
    assert "keywords:think" in r.headers["x-router-signals"]
    assert r.json()["echo"]["thinking"] == {"type": "enabled"}  # DeepSeek-style family


def test_context_rule_and_reasoning_effort_family_and_upstream_key(gateway, fresh):
    long_text = "Tell me about the history of the Roman empire. " * 200  # ~2,400 tokens
    r = chat(gateway, long_text)
    assert r.headers["x-router-decision"] == "long", r.headers
    seen = fresh.backends["o"].requests[0]
    assert seen["reasoning_effort"] == "high"
    assert seen["authorization"] == f"Bearer {UPSTREAM_SECRET}"  # from api_key_env, not the client's header


def test_configured_model_passes_through_unrouted(gateway, fresh):
    r = chat(gateway, MATH, model="general-model")
    assert r.status_code == 200
    assert r.headers["x-router-decision"] == "direct"
    assert fresh.backends["general"].requests[0]["model"] == "general-model"
    assert fresh.backends["math"].requests == []


def test_plugin_hook_adds_headers_of_its_decision(gateway, fresh):
    assert chat(gateway, GENERAL).headers.get("x-demo-plugin") == "general"
    assert "x-demo-plugin" not in chat(gateway, CODE).headers


def test_openai_sdk_non_streaming_and_streaming(gateway, fresh):
    client = openai.OpenAI(base_url=gateway.url + "/v1", api_key="unused", max_retries=0, timeout=10)
    raw = client.chat.completions.with_raw_response.create(model="auto",
                                                           messages=[{"role": "user", "content": MATH}])
    completion = raw.parse()
    assert raw.headers["x-router-model"] == "math-model"
    assert completion.choices[0].message.content == f"[math-model] reply to: {MATH}"
    stream = client.chat.completions.create(model="MoM", stream=True, stream_options={"include_usage": True},
                                            messages=[{"role": "user", "content": CODE}])
    pieces, usage = [], None
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            pieces.append(chunk.choices[0].delta.content)
        usage = chunk.usage or usage
    assert "".join(pieces) == f"[code-model] reply to: {CODE}"
    assert usage is not None and usage.completion_tokens > 0
    models = {m.id for m in client.models.list()}
    assert models == {"auto", "MoM", "code-model", "math-model", "general-model", "deep-model", "o-model"}


def test_stream_first_byte_arrives_before_the_answer_ends(gateway, fresh):
    for b in fresh.backends.values():
        b.delay = 0.15  # per chunk; the answer has ~12 chunks, so ~2 s in all
    body = {"model": "auto", "stream": True, "messages": [{"role": "user", "content": GENERAL}]}
    start = time.perf_counter()
    with httpx.stream("POST", gateway.url + "/v1/chat/completions", json=body, timeout=10) as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        assert r.headers["x-router-model"] == "general-model"
        chunks = r.iter_raw()
        first = next(chunks)
        first_at = time.perf_counter() - start
        rest = b"".join(chunks)
        total = time.perf_counter() - start
    assert first.startswith(b"data: ")
    assert total > 1.5 and first_at < total / 3, (first_at, total)
    events = [json.loads(line[6:]) for line in (first + rest).split(b"\n\n") if line.startswith(b"data: {")]
    text = "".join(e["choices"][0]["delta"].get("content") or "" for e in events if e["choices"])
    assert text == f"[general-model] reply to: {GENERAL}"
    assert rest.rstrip().endswith(b"data: [DONE]")


def test_route_endpoint_single_batch_and_conversation(gateway, layer, fresh):
    r = httpx.post(gateway.url + "/v1/route", json={"prompt": MATH}, timeout=10).json()
    assert (r["decision"], r["model"], r["route"]) == ("math", "math-model", "math")
    assert r["score"] > 0 and r["confidence"] == pytest.approx(r["score"])
    kinds = {(s["type"], s["name"]): s for s in r["signals"]}
    assert set(kinds) == {("routes", "code"), ("routes", "math"), ("routes", "general"), ("keywords", "think"),
                          ("context", "long")}
    assert kinds[("routes", "math")]["matched"] and not kinds[("routes", "code")]["matched"]
    assert all(s["ms"] >= 0 for s in r["signals"]) and r["ms"] > 0
    conversation = [{"role": "user", "content": CODE}, {"role": "assistant", "content": "def rev(head): ..."},
                    {"role": "user", "content": "and add type hints"}]
    batch = httpx.post(gateway.url + "/v1/route", timeout=10, json={"batch": [
        {"prompt": GENERAL}, {"messages": conversation}, {"prompt": "think step by step about dogs"}]}).json()
    assert [x["decision"] for x in batch["results"]] == ["general", "code", "reasoning"]
    # the conversation is routed like the library's history-aware routing
    assert batch["results"][1]["route"] == layer(messages=conversation).name
    assert batch["results"][1]["score"] == pytest.approx(layer(messages=conversation).similarity_score, abs=1e-5)
    assert fresh.total() == 0  # classification never forwards


def test_stats_and_metrics_count_requests(gateway, fresh):
    before = httpx.get(gateway.url + "/stats").json()
    for prompt in (CODE, CODE, MATH):
        assert chat(gateway, prompt).status_code == 200
    after = httpx.get(gateway.url + "/stats").json()
    assert after["total_requests"] - before["total_requests"] == 3
    assert after["routes"]["code"] - before["routes"].get("code", 0) == 2
    assert after["decisions"]["math"] - before["decisions"].get("math", 0) == 1
    assert after["models"]["code-model"] - before["models"].get("code-model", 0) == 2
    text = httpx.get(gateway.url + "/metrics").text
    assert 'router_requests_total{decision="code",model="code-model"}' in text
    assert "router_routing_seconds_bucket" in text
    assert 'router_signal_matches_total{name="math",type="routes"}' in text
    assert 'router_tokens_total{kind="completion",model="math-model"}' in text
    assert "router_time_to_first_token_seconds_count" in text


def test_health_and_ready(gateway):
    health = httpx.get(gateway.url + "/health").json()
    assert health["status"] == "ok"
    # a gateway given a Runtime has no config text: no hash; no cluster: no shared version
    assert health["config"] == {"hash": None, "shared": False, "version": None, "error": None}
    assert httpx.get(gateway.url + "/ready").status_code == 200

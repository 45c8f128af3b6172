"""Upstream faults (retry, fallback, 4xx passthrough, timeouts, disconnects), bad requests and security."""

from __future__ import annotations

import logging
import socket
import time

import httpx
import pytest

from semantic_router.server.demo import DemoBackend, run_in_thread
from tests.server.conftest import (
    GATEWAY_KEY,
    UPSTREAM_SECRET,
    gateway_config,
    start_gateway,
)

pytestmark = pytest.mark.slow  # real servers failing and timing out

CODE = "write a python function that reverses a linked list"
GENERAL = "recommend a good book for my holiday"


def post(gateway, body, **kw):
    return httpx.post(gateway.url + "/v1/chat/completions", json=body, timeout=kw.pop("timeout", 10), **kw)


def ask(content, **extra):
    return {"model": "auto", "messages": [{"role": "user", "content": content}], **extra}


def code_backends(fleet):
    return fleet.backends["code_a"], fleet.backends["code_b"]


def test_5xx_retries_on_the_other_backend_of_the_model(gateway, fresh):
    a, b = code_backends(fresh)
    a.fail(503, times=50)  # backend a is down; the weighted order tries it first about half of the time
    before = httpx.get(gateway.url + "/stats").json()
    for _ in range(10):
        r = post(gateway, ask(CODE))
        assert r.status_code == 200 and r.headers["x-router-model"] == "code-model"
        assert "x-router-fallback" not in r.headers
    assert b.completed == 10 and a.completed == 0  # every request answered exactly once
    assert 1 <= len(a.requests) < 10  # retried from a to b (chance of never trying a first: 1/1024)
    errors = httpx.get(gateway.url + "/stats").json()["upstream_errors"]
    assert errors["http_5xx"] - before["upstream_errors"].get("http_5xx", 0) == len(a.requests)


def test_all_backends_down_falls_back_to_the_decisions_fallback_model(gateway, fresh):
    a, b = code_backends(fresh)
    a.fail(502, times=3)
    b.fail(500, times=3)
    r = post(gateway, ask(CODE))
    assert r.status_code == 200
    assert r.headers["x-router-decision"] == "code"
    assert r.headers["x-router-model"] == "general-model" and r.headers["x-router-fallback"] == "code-model"
    seen = fresh.backends["general"].requests
    assert len(seen) == 1 and seen[0]["model"] == "general-model"
    assert seen[0]["system"] == ["You are a coding assistant."]  # the decision's rewrite still applies


def test_timeout_moves_on_and_total_failure_is_a_clean_5xx(fleet, layer):
    cfg = gateway_config(fleet)
    cfg["models"]["code-model"]["timeout"] = 1.0
    gw = start_gateway(cfg, layer)
    try:
        fleet.reset()
        a, b = code_backends(fleet)
        a.stall(8.0)
        b.stall(8.0)  # code-model times out after 1 s per backend, then general answers
        start = time.perf_counter()
        r = post(gw, ask(CODE))
        assert r.status_code == 200 and r.headers["x-router-model"] == "general-model"
        assert time.perf_counter() - start < 7.0  # did not wait for the stalled backends
        assert _wait(lambda: a.cancelled + b.cancelled == 2)  # the timed-out attempts were closed upstream
        assert httpx.get(gw.url + "/stats").json()["upstream_errors"] == {"timeout": 2}
        fleet.backends["deep"].fail(500, times=1)  # no fallback on this decision: a 502 with an OpenAI body
        r = post(gw, ask("think step by step about boats"))
        assert r.status_code == 502
        assert r.json()["error"]["code"] == "upstream_http_5xx" and r.json()["error"]["type"] == "upstream_error"
    finally:
        gw.server.stop()
        fleet.reset()


def test_unreachable_backend_counts_as_connect_error(fleet, layer):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]  # closed when the block ends: nothing listens there
    cfg = gateway_config(fleet)
    cfg["models"]["code-model"]["backends"][0]["base_url"] = f"http://127.0.0.1:{dead}/v1"
    cfg["models"]["code-model"]["backends"][0]["weight"] = 1000.0  # tried first almost always
    gw = start_gateway(cfg, layer)
    try:
        fleet.reset()
        r = post(gw, ask(CODE))
        assert r.status_code == 200 and fleet.backends["code_b"].completed == 1
        assert "connect" in httpx.get(gw.url + "/stats").json()["upstream_errors"]
    finally:
        gw.server.stop()


def test_upstream_4xx_is_passed_through_unchanged(gateway, fresh):
    fresh.backends["math"].fail(422, times=1)
    r = post(gateway, ask("solve the equation 2x + 7 = 19 for x"))
    assert r.status_code == 422
    assert r.json() == {"error": {"message": "injected HTTP 422", "type": "invalid_request_error", "param": None,
                                  "code": None}}
    assert len(fresh.backends["math"].requests) == 1  # a 4xx is not retried
    assert fresh.backends["general"].requests == []
    fresh.backends["math"].fail(400, times=1)  # also for a streaming request
    r = post(gateway, ask("solve the equation 2x + 7 = 19 for x", stream=True))
    assert r.status_code == 400 and r.json()["error"]["message"] == "injected HTTP 400"


def _wait(predicate, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False


def test_client_disconnect_cancels_the_upstream_request(gateway, fresh):
    general = fresh.backends["general"]
    general.stall(5.0)
    with pytest.raises(httpx.ReadTimeout):
        post(gateway, ask(GENERAL), timeout=0.5)
    assert _wait(lambda: general.cancelled == 1), "non-streaming upstream was not cancelled"
    general.delay = 0.1  # streaming: leave after the first chunks
    with httpx.stream("POST", gateway.url + "/v1/chat/completions", json=ask(GENERAL, stream=True),
                      timeout=10) as r:
        next(r.iter_raw())
    assert _wait(lambda: general.cancelled == 2), "streaming upstream was not cancelled"
    assert general.completed == 0


@pytest.mark.parametrize("raw, status, param", [
    (b"{not json", 400, None),
    (b"", 400, None),
    (b"[1, 2]", 400, None),
    (b'{"messages": [{"role": "user", "content": "hi"}]}', 400, "model"),
    (b'{"model": 5, "messages": [{"role": "user", "content": "hi"}]}', 400, "model"),
    (b'{"model": "auto"}', 400, "messages"),
    (b'{"model": "auto", "messages": []}', 400, "messages"),
    (b'{"model": "auto", "messages": "hi"}', 400, "messages"),
    (b'{"model": "auto", "messages": [{"role": "wizard", "content": "hi"}]}', 400, "messages[0].role"),
    (b'{"model": "auto", "messages": [{"role": "user", "content": 5}]}', 400, "messages[0].content"),
    (b'{"model": "auto", "messages": [{"role": "assistant", "content": "hi"}]}', 400, "messages"),
    (b'{"model": "auto", "stream": "yes", "messages": [{"role": "user", "content": "hi"}]}', 400, "stream"),
    (b'{"model": "gpt-nope", "messages": [{"role": "user", "content": "hi"}]}', 404, "model"),
])
def test_bad_requests_get_a_4xx_openai_error(gateway, fresh, raw, status, param):
    r = httpx.post(gateway.url + "/v1/chat/completions", content=raw, timeout=10,
                   headers={"content-type": "application/json"})
    assert r.status_code == status, r.text
    error = r.json()["error"]
    assert set(error) == {"message", "type", "param", "code"} and error["message"]
    assert error["param"] == param
    assert fresh.total() == 0


def test_body_over_the_limit_and_unknown_paths(gateway, fresh):
    r = post(gateway, ask("x" * 70_000))
    assert r.status_code == 413 and r.json()["error"]["code"] == "request_too_large"
    chunked = httpx.post(gateway.url + "/v1/chat/completions", timeout=10,
                         content=iter([b'{"model": "auto", "messages": [{"role": "user", "content": "',
                                       b"y" * 70_000, b'"}]}']))
    assert chunked.status_code == 413  # no content-length: counted while reading
    assert httpx.get(gateway.url + "/v1/nothing").json()["error"]["message"].startswith("no such endpoint")
    assert httpx.get(gateway.url + "/v1/chat/completions").status_code == 405
    r = httpx.post(gateway.url + "/v1/route", json={"prompt": "a", "messages": []})
    assert r.status_code == 400 and r.json()["error"]["type"] == "invalid_request_error"
    assert httpx.post(gateway.url + "/v1/route", json={"batch": []}).status_code == 400
    assert httpx.post(gateway.url + "/v1/route", json={"prompt": "  "}).json()["error"]["param"] == "prompt"
    assert httpx.get(gateway.url + "/health").status_code == 200  # still serving
    assert fresh.total() == 0


def test_gateway_api_keys_and_upstream_keys_never_leak(fleet, layer, monkeypatch, caplog):
    monkeypatch.setenv("GW_TEST_KEYS", f"other-key, {GATEWAY_KEY}")
    monkeypatch.setenv("GW_TEST_UPSTREAM_KEY", UPSTREAM_SECRET)
    caplog.set_level(logging.DEBUG)
    gw = start_gateway(gateway_config(fleet, api_keys_env="GW_TEST_KEYS"), layer)
    try:
        fleet.reset()
        long_text = "Tell me about the history of the Roman empire. " * 200  # decision "long" -> o-model (keyed)
        assert post(gw, ask(long_text)).status_code == 401
        r = post(gw, ask(long_text), headers={"authorization": "Bearer wrong-key"})
        assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_api_key"
        assert httpx.get(gw.url + "/stats").status_code == 401
        assert httpx.post(gw.url + "/v1/route", json={"prompt": "x"}).status_code == 401
        auth = {"authorization": f"Bearer {GATEWAY_KEY}"}
        ok = post(gw, ask(long_text), headers=auth)
        assert ok.status_code == 200 and ok.headers["x-router-model"] == "o-model"
        assert fleet.backends["o"].requests[0]["authorization"] == f"Bearer {UPSTREAM_SECRET}"
        fleet.backends["o"].fail(500, times=1)
        failed = post(gw, ask(long_text), headers=auth)
        assert failed.status_code == 502
        stats = httpx.get(gw.url + "/stats", headers=auth)
        metrics = httpx.get(gw.url + "/metrics")
        for text in (ok.text, str(ok.headers), failed.text, stats.text, metrics.text, caplog.text):
            assert UPSTREAM_SECRET not in text and GATEWAY_KEY not in text
        assert fleet.backends["o"].requests[0]["authorization"] != f"Bearer {GATEWAY_KEY}"
    finally:
        gw.server.stop()


def test_model_not_loaded_yet_gives_503_until_ready(fleet, encoder):
    """/health answers at once; /ready and requests say 503 until the router's model is warm."""
    import threading

    from semantic_router.server.http import create_app
    from semantic_router.server.config import parse_config
    from semantic_router.server.runtime import Runtime
    from tests.server.conftest import CountingEncoder, make_layer, wait_ready

    gate = threading.Event()
    gated = CountingEncoder(encoder, gate=gate)
    gate.set()
    layer = make_layer(gated)  # utterances encoded; the next model call (warm-up) waits at the gate
    gate.clear()
    server = run_in_thread(create_app(Runtime.build(parse_config(gateway_config(fleet)), layer=layer)))
    try:
        assert httpx.get(server.url + "/health").status_code == 200
        assert httpx.get(server.url + "/ready").status_code == 503
        r = httpx.post(server.url + "/v1/chat/completions", json=ask(GENERAL))
        assert r.status_code == 503 and r.json()["error"]["code"] == "not_ready"
        gate.set()
        wait_ready(server.url, timeout=20)
        assert httpx.post(server.url + "/v1/chat/completions", json=ask(GENERAL)).status_code == 200
    finally:
        gate.set()
        server.stop()


def test_demo_backend_checks_its_model_names():
    backend = DemoBackend(name="x", models=("m1",))
    server = run_in_thread(backend.app())
    try:
        r = httpx.post(server.url + "/v1/chat/completions", json={"model": "m2", "messages": [{"role": "user",
                                                                                             "content": "a"}]})
        assert r.status_code == 404
    finally:
        server.stop()

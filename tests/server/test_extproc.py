"""The Envoy external processor over real gRPC on loopback, driven by an Envoy stand-in that sends exactly the
messages Envoy's ext_proc filter sends in BUFFERED mode, applies the mutations and routes on the model header to
real stand-in backends. The same gateway also serves HTTP: both front doors must decide and rewrite alike."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import grpc
import httpx
import pytest

pytest.importorskip("grpc")
pytest.importorskip("envoy.service.ext_proc.v3")

from semantic_router.server.config import parse_config  # noqa: E402
from semantic_router.server.demo import run_in_thread  # noqa: E402
from semantic_router.server.extproc.service import ExtProcServer  # noqa: E402
from semantic_router.server.http import create_app  # noqa: E402
from semantic_router.server.runtime import Runtime  # noqa: E402
from tests.server.conftest import UPSTREAM_SECRET, Gateway, gateway_config, openai_error, wait_ready  # noqa: E402
from tests.server.envoy_client import (  # noqa: E402
    STREAMED,
    Envoy,
    iter_sse,
    request_body,
    request_headers,
    response_body,
    response_headers,
    set_headers,
)

CODE = "write a python function that reverses a linked list"
MATH = "solve the equation 2x + 7 = 19 for x"
GENERAL = "recommend a good book for my holiday"
MODELS = {"code-model": "code_a", "math-model": "math", "general-model": "general", "deep-model": "deep",
          "o-model": "o"}


def serve_both(config: dict[str, Any], layer: Any = None) -> tuple[Gateway, ExtProcServer]:
    """One app: the HTTP proxy and the external processor (port 0: a free one) over one state."""
    ext = ExtProcServer("127.0.0.1", 0)
    runtime = Runtime.build(parse_config(config), layer=layer)
    app = create_app(runtime, companions=[ext])
    server = run_in_thread(app)
    gw = Gateway(server.url, app, server)
    wait_ready(gw.url)
    assert ext.port != 0
    return gw, ext


def metric(gw: Gateway, name: str, **labels: str) -> float:
    value = gw.state.metrics.registry.get_sample_value(name, labels)
    return 0.0 if value is None else value


@pytest.fixture(scope="module")
def both(fleet, layer) -> Iterator[tuple[Gateway, Envoy]]:
    config = gateway_config(fleet)
    for d in config["decisions"]:  # the catch-all caches its answers: a repeat is answered by the processor
        if d["name"] == "general":
            d["plugins"] = {**d["plugins"], "cache": {"mode": "exact"}}
    mp = pytest.MonkeyPatch()
    mp.setenv("GW_TEST_UPSTREAM_KEY", UPSTREAM_SECRET)
    gw, ext = serve_both(config, layer)
    envoy = Envoy(ext.port, {m: fleet.url(b) for m, b in MODELS.items()})
    yield gw, envoy
    envoy.close()
    gw.server.stop()
    mp.undo()


def chat_body(content: str, model: str = "auto", **extra: Any) -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": content}], **extra}


def test_routing_mutates_model_headers_and_body_as_the_http_proxy_rewrites(both, fresh):
    gw, envoy = both
    body = {"model": "MoM", "temperature": 0.3, "metadata": {"k": "v"},
            "messages": [{"role": "system", "content": "client system"}, {"role": "user", "content": MATH}]}
    out = envoy.chat(body)
    headers_answer, body_answer = out.answers[0], out.answers[1]
    assert not headers_answer.request_headers.response.HasField("header_mutation")  # decided on the body
    common = body_answer.request_body.response
    assert common.clear_route_cache  # Envoy picks the route again, on the header just set
    assert out.upstream_headers["x-selected-model"] == "math-model"
    assert out.upstream_headers["x-router-decision"] == "math" and out.upstream_headers["x-router-route"] == "math"
    sent = out.upstream_body
    assert sent["model"] == "math-model" and sent["temperature"] == 0.3 and sent["metadata"] == {"k": "v"}
    assert sent["chat_template_kwargs"] == {"enable_thinking": True}
    assert sent["messages"] == [{"role": "system", "content": "Be rigorous."}, {"role": "user", "content": MATH}]
    # the backend the header routes to answered, and the client sees the router's headers on the answer
    assert out.status == 200 and out.json()["echo"]["backend"] == "math"
    assert out.client_headers["x-router-model"] == "math-model"
    assert not out.answers[2].HasField("mode_override")  # a whole answer stays in the filter's mode
    # the HTTP proxy makes the same request of the same backend: one decision and rewrite code for both doors
    via_http = httpx.post(gw.url + "/v1/chat/completions", json=body, timeout=10)
    assert via_http.headers["x-router-decision"] == "math"
    seen = fresh.backends["math"].requests
    assert len(seen) == 2 and {k: v for k, v in seen[0].items()} == {k: v for k, v in seen[1].items()}


@pytest.mark.parametrize("prompt, decision, model, field, value", [
    (CODE, "code", "code-model", "chat_template_kwargs", None),
    ("think step by step: " + CODE, "reasoning", "deep-model", "thinking", {"type": "enabled"}),
])
def test_each_reasoning_family_is_set_for_its_model(both, fresh, prompt, decision, model, field, value):
    out = both[1].chat(chat_body(prompt))
    assert out.upstream_headers["x-selected-model"] == model
    assert out.upstream_headers["x-router-decision"] == decision
    assert out.upstream_body.get(field) == value
    assert out.json()["echo"]["model"] == model


def test_a_configured_model_goes_direct_and_usage_is_counted(both, fresh):
    gw, envoy = both
    before = metric(gw, "router_tokens_total", model="general-model", kind="completion")
    out = envoy.chat(chat_body(MATH, model="general-model"))
    assert out.upstream_headers["x-selected-model"] == "general-model"
    assert out.upstream_headers["x-router-decision"] == "direct"
    assert out.upstream_body["model"] == "general-model" and "chat_template_kwargs" not in out.upstream_body
    used = out.json()["usage"]["completion_tokens"]
    assert metric(gw, "router_tokens_total", model="general-model", kind="completion") == before + used


def test_an_unknown_model_and_a_non_json_body_are_answered_like_the_http_proxy(both, fresh):
    gw, envoy = both
    out = envoy.chat(chat_body(MATH, model="no-such-model"))
    assert out.status == 404 and out.immediate is not None
    error = json.loads(out.body)["error"]
    assert error["code"] == "model_not_found" and "no-such-model" in error["message"]
    assert out.client_headers["content-type"] == "application/json"
    out = envoy.chat(b"{not json")
    assert out.status == 400 and json.loads(out.body)["error"]["code"] == "invalid_json"
    via_http = httpx.post(gw.url + "/v1/chat/completions", content=b"{not json", timeout=10)
    assert via_http.status_code == 400 and openai_error(via_http) == json.loads(out.body)["error"]
    out = envoy.chat({"model": "auto", "messages": []})
    assert out.status == 400 and json.loads(out.body)["error"]["param"] == "messages"
    assert fresh.total() == 0


def test_an_oversized_body_is_refused_by_its_declared_length_and_by_its_bytes(both, fresh):
    envoy = both[1]
    big = json.dumps(chat_body("x" * 70_000)).encode()  # server.max_body_bytes is 65536
    stream = envoy.stream()
    answer = stream.send(request_headers(big))  # refused on the declared content-length, before the body
    assert answer.immediate_response.status.code == 413
    assert json.loads(answer.immediate_response.body)["error"]["code"] == "request_too_large"
    assert stream.close() == []
    stream = envoy.stream()  # no content-length (chunked): refused on the body itself
    assert not stream.send(request_headers(big, content_length=False)).HasField("immediate_response")
    answer = stream.send(request_body(big))
    assert answer.immediate_response.status.code == 413
    stream.close()
    assert fresh.total() == 0


def test_other_requests_pass_through_untouched(both, fresh):
    envoy = both[1]
    stream = envoy.stream()
    answer = stream.send(request_headers(None, path="/v1/models", method="GET"))
    common = answer.request_headers.response
    assert not common.HasField("header_mutation") and not common.HasField("body_mutation")
    answer = stream.send(response_headers(200, {"content-type": "application/json"}))
    assert not answer.response_headers.response.HasField("header_mutation")
    stream.close()
    stream = envoy.stream()  # a POST elsewhere (embeddings): its body passes as sent
    payload = json.dumps({"model": "auto", "input": "hi"}).encode()
    stream.send(request_headers(payload, path="/v1/embeddings"))
    answer = stream.send(request_body(payload))
    assert answer.HasField("request_body") and not answer.request_body.response.HasField("body_mutation")
    stream.close()


def test_cache_hit_is_an_immediate_response(both, fresh):
    gw, envoy = both
    prompt = f"{GENERAL} number {time.monotonic_ns()}"
    first = envoy.chat(chat_body(prompt))
    assert first.upstream_headers["x-router-cache"] == "miss" and first.status == 200
    assert len(fresh.backends["general"].requests) == 1  # the answer went through Envoy and filled the cache
    second = envoy.chat(chat_body(prompt))
    assert second.immediate is not None and second.status == 200
    assert second.client_headers["x-router-cache"] == "hit"
    assert second.client_headers["x-router-decision"] == "general"
    assert second.json()["choices"][0]["message"]["content"] == first.json()["choices"][0]["message"]["content"]
    assert len(fresh.backends["general"].requests) == 1
    assert metric(gw, "router_extproc_streams_total", outcome="answered") >= 1
    streamed = envoy.chat(chat_body(prompt, stream=True))  # a streaming client gets the hit replayed as SSE
    assert streamed.immediate is not None
    assert streamed.client_headers["content-type"].startswith("text/event-stream")
    assert b"[DONE]" in streamed.body


def test_a_streamed_answer_passes_untouched_and_its_usage_is_counted(both, fresh):
    gw, envoy = both
    before = metric(gw, "router_tokens_total", model="code-model", kind="completion")
    body = json.dumps(chat_body(CODE, stream=True, stream_options={"include_usage": True})).encode()
    stream = envoy.stream()
    stream.send(request_headers(body))
    mutated = stream.send(request_body(body)).request_body.response
    assert set_headers(mutated)["x-selected-model"] == "code-model"
    upstream = mutated.body_mutation.body
    assert json.loads(upstream)["stream"] is True
    with httpx.stream("POST", both[1].routes["code-model"] + "/chat/completions", content=upstream,
                      headers={"content-type": "application/json"}, timeout=10) as r:
        answer = stream.send(response_headers(200, {"content-type": "text/event-stream"}))
        assert set_headers(answer.response_headers.response)["x-router-model"] == "code-model"
        # the filter BUFFERs answers (envoy_client's protocol_config): this one's chunks must not wait for its end
        assert answer.mode_override.response_body_mode == STREAMED
        chunks = list(r.iter_raw())
    for i, chunk in enumerate(chunks):  # STREAMED response mode: chunk by chunk, every one continued as is
        answer = stream.send(response_body(chunk, end_of_stream=i == len(chunks) - 1))
        assert answer.HasField("response_body") and not answer.response_body.response.HasField("body_mutation")
    stream.close()
    usage = json.loads([e for e in iter_sse(b"".join(chunks)) if b'"usage"' in e][-1])["usage"]
    assert metric(gw, "router_tokens_total", model="code-model", kind="completion") == before + \
        usage["completion_tokens"]


def test_concurrent_streams_each_get_their_own_decision(both, fresh):
    envoy = both[1]
    prompts = [(CODE, "code-model"), (MATH, "math-model"), ("think step by step about " + GENERAL, "deep-model")] * 6
    results: list[tuple[str, str, str]] = []
    errors: list[BaseException] = []

    def one(prompt: str, expected: str) -> None:
        try:
            out = envoy.chat(chat_body(prompt))
            results.append((expected, out.upstream_headers["x-selected-model"], out.json()["echo"]["model"]))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=one, args=p) for p in prompts]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors and len(results) == len(prompts)
    assert all(expected == header == echoed for expected, header, echoed in results), results


def test_a_stream_cancelled_mid_request_is_counted_and_leaves_the_processor_serving(both, fresh):
    gw, envoy = both
    before = metric(gw, "router_extproc_streams_total", outcome="cancelled")
    gone_before = metric(gw, "router_client_disconnects_total", phase="request")
    body = json.dumps(chat_body(MATH)).encode()
    stream = envoy.stream()
    stream.send(request_headers(body))  # headers answered, the body never comes: the downstream client left
    stream.cancel()
    deadline = time.monotonic() + 5
    while metric(gw, "router_extproc_streams_total", outcome="cancelled") == before and time.monotonic() < deadline:
        time.sleep(0.02)
    assert metric(gw, "router_extproc_streams_total", outcome="cancelled") == before + 1
    assert metric(gw, "router_client_disconnects_total", phase="request") == gone_before + 1
    with pytest.raises(grpc.RpcError) as err:
        next(stream.call)
    assert err.value.code() == grpc.StatusCode.CANCELLED
    start = time.perf_counter()  # the micro-batcher is not left waiting for the cancelled request's text
    assert both[1].chat(chat_body(MATH)).upstream_headers["x-selected-model"] == "math-model"
    assert time.perf_counter() - start < 2.0
    assert fresh.total() == 1


def test_a_body_sent_in_pieces_is_a_configuration_error_answered_not_left_waiting(both, fresh):
    envoy = both[1]
    body = json.dumps(chat_body(MATH)).encode()
    stream = envoy.stream()
    stream.send(request_headers(body))
    answer = stream.send(request_body(body[:10], end_of_stream=False))  # STREAMED mode: not what it needs
    assert answer.immediate_response.status.code == 500  # the default is fail-closed
    assert "BUFFERED" in json.loads(answer.immediate_response.body)["error"]["message"]
    stream.close()


def test_a_filter_that_never_sends_the_body_is_reported_not_counted_as_a_client_gone(both, fresh):
    gw, envoy = both
    gone = metric(gw, "router_client_disconnects_total", phase="request")
    before = metric(gw, "router_extproc_streams_total", outcome="failed_open")
    body = json.dumps(chat_body(MATH)).encode()
    stream = envoy.stream()  # request_body_mode NONE: Envoy forwards after the headers, the answer comes back
    assert not stream.send(request_headers(body)).HasField("immediate_response")
    answer = stream.send(response_headers(200, {"content-type": "application/json"}))
    assert not answer.response_headers.response.HasField("header_mutation")
    stream.close()
    deadline = time.monotonic() + 5
    while metric(gw, "router_extproc_streams_total", outcome="failed_open") == before and time.monotonic() < deadline:
        time.sleep(0.02)
    assert metric(gw, "router_extproc_streams_total", outcome="failed_open") == before + 1
    assert metric(gw, "router_client_disconnects_total", phase="request") == gone

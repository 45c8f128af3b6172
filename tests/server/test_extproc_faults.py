"""The external processor's failures: fail-closed vs fail-open on an internal error and on a slow decision, a hot
reload that reaches ext_proc (and its fail_open), gateway keys; a keyword-only gateway (no model to load)."""

from __future__ import annotations

import asyncio
import copy
import json
from collections.abc import Iterator, Mapping
from typing import Any

import httpx
import pytest

pytest.importorskip("grpc")
pytest.importorskip("envoy.service.ext_proc.v3")

from semantic_router.server import register_plugin  # noqa: E402
from tests.server.envoy_client import Envoy, request_body, request_headers  # noqa: E402
from tests.server.test_extproc import metric, serve_both  # noqa: E402

ADMIN = "extproc-admin-key-0123456789abcdef"
GATEWAY_KEY = "extproc-gateway-key-0123456789"


class Explode:
    """A plugin with a bug: `before_forward` raises."""

    name = "extproc_test_explode"

    def __init__(self, options: Mapping[str, Any]) -> None:
        pass

    async def before_forward(self, ctx: Any) -> None:
        raise RuntimeError("planted plugin fault")

    async def after_response(self, ctx: Any, status: int, body: bytes | None) -> None:
        return None


class Dawdle(Explode):
    """A plugin that takes 3 s before letting the request go (a cache on a stalled Redis, say)."""

    name = "extproc_test_dawdle"

    async def before_forward(self, ctx: Any) -> None:
        await asyncio.sleep(3)


register_plugin(Explode.name, Explode)
register_plugin(Dawdle.name, Dawdle)


def config(fleet: Any, fail_open: bool, math_model: str = "math-model", **ext: Any) -> dict[str, Any]:
    return {
        "server": {"admin_key_env": "EXTPROC_TEST_ADMIN"},
        "virtual_models": ["MoM"],
        "models": {"general-model": {"backends": [{"base_url": fleet.url("general")}]},
                   "math-model": {"backends": [{"base_url": fleet.url("math")}],
                                  "reasoning_family": "chat_template_kwargs"}},
        "signals": {"keywords": [{"name": "math", "words": ["equation"]}, {"name": "boom", "words": ["explode"]},
                                 {"name": "slow", "words": ["dawdle"]}]},
        "decisions": [
            {"name": "boom", "priority": 30, "rule": {"signal": "keywords:boom"}, "model": "general-model",
             "plugins": {Explode.name: {}}},
            {"name": "slow", "priority": 30, "rule": {"signal": "keywords:slow"}, "model": "general-model",
             "plugins": {Dawdle.name: {}}},
            {"name": "math", "priority": 10, "rule": {"signal": "keywords:math"}, "model": math_model,
             "reasoning": "on"},
            {"name": "rest", "rule": {}, "model": "general-model"},
        ],
        "default_decision": "rest",
        "ext_proc": {"fail_open": fail_open, "timeout_seconds": 0.5, **ext},
    }


@pytest.fixture()
def small(fleet, monkeypatch) -> Iterator[tuple[Any, Envoy]]:
    monkeypatch.setenv("EXTPROC_TEST_ADMIN", ADMIN)
    monkeypatch.setenv("EXTPROC_TEST_KEYS", GATEWAY_KEY)
    gw, ext = serve_both(config(fleet, fail_open=False))
    envoy = Envoy(ext.port, {"general-model": fleet.url("general"), "math-model": fleet.url("math")})
    yield gw, envoy
    envoy.close()
    gw.server.stop()


def body(text: str, model: str = "MoM") -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": text}]}


def reload(gw: Any, new: dict[str, Any]) -> None:
    r = httpx.put(gw.url + "/admin/config", content=json.dumps(new), timeout=60,
                  headers={"authorization": f"Bearer {ADMIN}"})
    assert r.status_code == 200, r.text


def test_fail_closed_answers_an_internal_error_and_a_slow_decision_with_5xx(small, fresh):
    gw, envoy = small
    out = envoy.chat(body("please explode"))
    assert out.status == 500 and out.immediate is not None
    error = json.loads(out.body)["error"]
    assert error["code"] == "internal_error" and "RuntimeError" in error["message"]
    assert "planted" not in error["message"]  # the fault's text stays in the log, not in the answer
    out = envoy.chat(body("dawdle a while"))
    assert out.status == 504 and json.loads(out.body)["error"]["code"] == "routing_timeout"
    assert metric(gw, "router_extproc_streams_total", outcome="failed_closed") == 2
    assert fresh.total() == 0
    # and the processor goes on serving
    assert envoy.chat(body("solve this equation")).upstream_headers["x-selected-model"] == "math-model"


def test_reload_reaches_ext_proc_and_fail_open_passes_the_request_unchanged(small, fresh):
    gw, envoy = small
    assert envoy.chat(body("solve this equation")).upstream_body["model"] == "math-model"
    new = config(fresh, fail_open=True, math_model="general-model", model_header="x-gateway-model")
    reload(gw, new)
    envoy.model_header = "x-gateway-model"
    out = envoy.chat(body("solve this equation"))  # the new config decides, on both front doors
    assert out.upstream_headers["x-gateway-model"] == "general-model" and "x-selected-model" not in \
        out.upstream_headers
    assert out.upstream_body["model"] == "general-model"
    assert httpx.post(gw.url + "/v1/chat/completions", json=body("solve this equation"),
                      timeout=10).headers["x-router-model"] == "general-model"
    sent = json.dumps(body("please explode")).encode()
    stream = envoy.stream()  # fail-open: the bug lets the request through exactly as the client sent it
    assert not stream.send(request_headers(sent)).HasField("immediate_response")
    answer = stream.send(request_body(sent))
    common = answer.request_body.response
    assert answer.HasField("request_body") and not common.HasField("body_mutation")
    assert not common.HasField("header_mutation")
    stream.close()
    out = envoy.chat(body("dawdle a while"), default_route=fresh.url("general"))  # Envoy's own default route
    assert out.status == 200 and out.upstream_body == body("dawdle a while")
    assert metric(gw, "router_extproc_streams_total", outcome="failed_open") == 2


def test_gateway_keys_are_checked_and_never_sent_upstream(small, fresh):
    gw, envoy = small
    keyed = copy.deepcopy(config(fresh, fail_open=False))
    keyed["server"]["api_keys_env"] = "EXTPROC_TEST_KEYS"
    reload(gw, keyed)
    out = envoy.chat(body("solve this equation"))
    assert out.status == 401 and json.loads(out.body)["error"]["code"] == "invalid_api_key"
    out = envoy.chat(body("solve this equation"), headers={"authorization": f"Bearer {GATEWAY_KEY}"})
    assert out.status == 200 and out.upstream_headers["x-selected-model"] == "math-model"
    assert "authorization" not in out.upstream_headers  # removed by the processor's header mutation
    assert metric(gw, "router_client_errors_total", code="invalid_api_key") == 1


@pytest.mark.parametrize("action", ["block", "redact"])
def test_a_guard_blocks_with_an_immediate_refusal_or_redacts_the_forwarded_body(small, fresh, action):
    pytest.importorskip("presidio_analyzer")  # the `guards` extra
    gw, envoy = small
    guarded = config(fresh, fail_open=False, timeout_seconds=30.0)  # a first PII scan loads its recognizers
    guarded["guards"] = [{"name": "pii", "type": "pii", "entities": ["email"], "action": action}]
    reload(gw, guarded)
    out = envoy.chat(body("solve this equation, then mail it to ada@example.org"))
    if action == "block":  # refused before the cache and any backend, as the HTTP proxy refuses it
        assert out.status == 400 and out.immediate is not None
        assert json.loads(out.body)["error"]["code"] == "content_filter"
        assert out.client_headers["x-router-guard-pii"] == "block"
        assert fresh.total() == 0
        assert metric(gw, "router_extproc_streams_total", outcome="refused") == 1
    else:  # forwarded with the personal data replaced, decided as before
        assert out.status == 200 and out.upstream_headers["x-selected-model"] == "math-model"
        assert out.upstream_body["messages"][0]["content"] == "solve this equation, then mail it to <EMAIL>"
        assert fresh.backends["math"].requests[0]["messages"][0]["content"].endswith("<EMAIL>")
        assert out.upstream_headers["x-router-guard-pii"] == "redact"

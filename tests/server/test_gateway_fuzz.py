"""Fuzzing the real gateway (uvicorn on loopback, stand-in backends, a response cache): schemathesis from the
gateway's own OpenAPI document (bodies that fit it and bodies that break it) and hypothesis-generated bodies
and headers (odd types, NaN, huge numbers, lone surrogates, cut and deep JSON). Every answer is a 2xx or an
OpenAI-shaped 4xx, never a 5xx, and nothing is logged as an error. Bounded: a few hundred requests, ~1 minute."""

from __future__ import annotations

import json
import string
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.server.conftest import UPSTREAM_SECRET, error_logs, gateway_config, openai_error, start_gateway

schemathesis = pytest.importorskip("schemathesis")  # the dev extra installs it
from schemathesis import GenerationMode  # noqa: E402

pytestmark = pytest.mark.slow  # property fuzzing: hundreds of requests (the quick subset skips it)

CHAT, ROUTE = "/v1/chat/completions", "/v1/route"
BOUNDED = settings(max_examples=40, deadline=None, database=None,
                   suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                                          HealthCheck.data_too_large])
SEEN: Counter[str] = Counter()  # (endpoint, status class) over the module: printed by the last test


@pytest.fixture(scope="module")
def fuzz_gw(fleet, layer) -> Iterator[Any]:
    """The test gateway with a memory response cache on its general decision (so cache paths are fuzzed too)."""
    config = gateway_config(fleet)
    for d in config["decisions"]:
        if d["name"] == "general":
            d["plugins"] = {**d["plugins"], "cache": {"mode": "exact_then_semantic", "ttl_seconds": 60}}
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GW_TEST_UPSTREAM_KEY", UPSTREAM_SECRET)
        gateway = start_gateway(config, layer)
    yield gateway
    gateway.server.stop()


def checked(path: str, status: int, content_type: str, body: bytes, stream: bool) -> None:
    """An answer is a 2xx of the right kind or an OpenAI-shaped 4xx; never a 5xx."""
    SEEN[f"{path} {status // 100}xx"] += 1
    assert status < 500, (path, status, body[:300])
    if status >= 400:
        openai_error(httpx.Response(status, content=body))
    elif stream:
        assert content_type.startswith("text/event-stream") and body.rstrip().endswith(b"data: [DONE]"), body[-200:]
    else:
        assert isinstance(json.loads(body), dict)


# -- from the OpenAPI document ---------------------------------------------------------------------------
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=["fits", "breaks"])
@pytest.mark.parametrize("path", [CHAT, ROUTE])
def test_fuzz_from_the_gateways_openapi_schema(fuzz_gw, path, mode):
    schema = schemathesis.openapi.from_dict(fuzz_gw.app.openapi())
    operation = schema[path]["POST"]

    @BOUNDED
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case: Any) -> None:
        response = case.call(base_url=fuzz_gw.url, timeout=30)
        stream = isinstance(case.body, dict) and case.body.get("stream") is True
        checked(path, response.status_code, (response.headers.get("content-type") or [""])[0], response.content,
                stream and response.status_code == 200)

    with error_logs() as errors:
        run()
    assert not errors, [e.getMessage() for e in errors]


# -- hypothesis-generated bodies -------------------------------------------------------------------------
_ODD_TEXT = st.text(st.characters(codec=None, exclude_categories=()), max_size=12)  # lone surrogates included
_SCALARS = (st.none() | st.booleans() | st.integers() | st.integers(min_value=10**18, max_value=10**40)
            | st.floats(allow_nan=True, allow_infinity=True) | _ODD_TEXT)
_JSON = st.recursive(_SCALARS, lambda inner: st.lists(inner, max_size=3)
                     | st.dictionaries(_ODD_TEXT, inner, max_size=3), max_leaves=12)
_PARTS = st.lists(st.fixed_dictionaries({"type": st.sampled_from(["text", "image_url"]) | _JSON},
                                        optional={"text": _ODD_TEXT | _JSON}), max_size=2)
_MESSAGE = st.fixed_dictionaries(
    {"role": st.sampled_from(["user", "user", "system", "assistant", "tool"]) | _JSON},
    optional={"content": st.sampled_from(["write a python function", "recommend a book", "think step by step"])
              | _ODD_TEXT | _PARTS | _JSON, "name": _ODD_TEXT | _JSON})
_MESSAGES = st.lists(_MESSAGE, max_size=3) | _JSON
_TEXTS = st.sampled_from(["write a python function to merge two lists", "recommend a good book",
                          "think step by step about tides", "what is the integral of x squared"]) | st.text(max_size=20)
_USER = st.fixed_dictionaries({"role": st.just("user"), "content": _TEXTS}, optional={"name": _ODD_TEXT | _JSON})
_ODD_CHAT = st.fixed_dictionaries(
    {"model": st.sampled_from(["auto", "MoM", "general-model", "no-such-model"]) | _JSON, "messages": _MESSAGES},
    optional={"stream": st.booleans() | _JSON, "stream_options": st.fixed_dictionaries(
                  {}, optional={"include_usage": st.booleans() | _JSON}) | _JSON,
              "temperature": st.floats(allow_nan=True, allow_infinity=True) | _JSON, "n": _SCALARS,
              "user": _ODD_TEXT, "tools": _JSON, "chat_template_kwargs": _JSON, "seed": _SCALARS})
# mostly well formed, with odd optional fields: these reach routing, the cache, rewriting and the backends
_WELL_FORMED_CHAT = st.fixed_dictionaries(
    {"model": st.sampled_from(["auto", "MoM", "general-model", "code-model"]),
     "messages": st.tuples(st.lists(_USER | _MESSAGE, max_size=2), _USER).map(lambda t: [*t[0], t[1]])},
    optional={"stream": st.booleans(), "stream_options": st.fixed_dictionaries(
                  {}, optional={"include_usage": st.booleans() | _JSON}),
              "temperature": st.floats(0, 2) | _JSON, "n": st.integers(1, 3) | _SCALARS, "user": _ODD_TEXT,
              "tools": _JSON, "chat_template_kwargs": _JSON, "seed": st.integers(), "x_vendor": _JSON})
_CHAT_BODY = _WELL_FORMED_CHAT | _ODD_CHAT
_ROUTE_BODY = (st.fixed_dictionaries({"prompt": _ODD_TEXT | st.just("write a python function") | _JSON})
               | st.fixed_dictionaries({"messages": _MESSAGES})
               | st.fixed_dictionaries({"batch": st.lists(st.fixed_dictionaries({"prompt": _ODD_TEXT}), max_size=3)
                                        | _JSON}) | _JSON)


@st.composite
def raw_bodies(draw: Any, bodies: st.SearchStrategy[Any]) -> bytes:
    """A body as bytes: JSON as Python writes it (NaN, Infinity and \\ud800 escapes included), sometimes cut
    short, nested deep, or not UTF-8."""
    raw = json.dumps(draw(bodies), allow_nan=True).encode()
    how = draw(st.sampled_from(["as is"] * 6 + ["cut", "deep", "latin-1", "empty"]))
    if how == "cut":
        return raw[:draw(st.integers(0, max(len(raw) - 1, 0)))]
    if how == "deep":
        depth = draw(st.integers(90, 3000))
        return b'{"model":"auto","messages":' + b"[" * depth + b"]" * depth + b"}"
    if how == "latin-1":
        return raw + b"\xe9\xff"
    return b"" if how == "empty" else raw


_HEADER = st.text(string.ascii_letters + string.digits + " -_.:/=+", max_size=30).map(str.strip)  # as HTTP allows
_HEADERS = st.fixed_dictionaries({}, optional={"x-session-id": _HEADER,
                                               "authorization": _HEADER.map(lambda t: ("Bearer " + t).strip()),
                                               "x-router-cache-bypass": _HEADER, "content-type": _HEADER})


@pytest.mark.parametrize("path, bodies, examples", [(CHAT, _CHAT_BODY, 150), (ROUTE, _ROUTE_BODY, 100)],
                         ids=["chat", "route"])
def test_fuzz_with_hypothesis_bodies_and_headers(fuzz_gw, path, bodies, examples):
    @settings(BOUNDED, max_examples=examples)
    @given(body=raw_bodies(bodies), headers=_HEADERS)
    def run(body: bytes, headers: dict[str, str]) -> None:
        with httpx.stream("POST", fuzz_gw.url + path, content=body, headers=headers, timeout=30) as r:
            content = r.read()
        stream = r.status_code == 200 and r.headers.get("content-type", "").startswith("text/event-stream")
        checked(path, r.status_code, r.headers.get("content-type", ""), content, stream)

    with error_logs() as errors:
        run()
    assert not errors, [e.getMessage() for e in errors]


def test_the_fuzzing_reached_both_answers_and_refusals():
    """The runs above were not vacuous: each endpoint answered some bodies and refused others."""
    print("fuzz requests by endpoint and status class:", dict(SEEN))
    for path in (CHAT, ROUTE):
        assert SEEN[f"{path} 2xx"] > 0 and SEEN[f"{path} 4xx"] > 0, dict(SEEN)

"""No client input crashes the gateway: bodies that once gave a 500 with tracebacks (a 100k-deep array, a lone
surrogate, NaN, huge numbers, odd types) get a 4xx with an OpenAI-shaped body on both endpoints, a client that
closes its socket mid-body is a counted disconnect and no log, and a real bug is logged once (real gateway)."""

from __future__ import annotations

import socket
import time

import httpx
import pytest

from tests.server.conftest import UPSTREAM_SECRET, error_logs, gateway_config, openai_error, start_gateway

DEEP = b"[" * 100_000 + b"]" * 100_000
CHAT, ROUTE = "/v1/chat/completions", "/v1/route"


def chat_body(content: bytes = b'"hello"', extra: bytes = b"") -> bytes:
    return b'{"model":"auto",' + extra + b'"messages":[{"role":"user","content":' + content + b"}]}"


CASES = {
    "deep array": (chat_body(DEEP), b'{"messages":' + DEEP + b"}", "nests deeper than"),
    "deep object": (chat_body(b'{"a":' * 500 + b"1" + b"}" * 500), b'{"prompt":"x","o":' + b'{"a":' * 500 + b"1"
                    + b"}" * 500 + b"}", "nests deeper than"),
    "lone surrogate": (chat_body(b'"hello \\ud800"'), b'{"prompt":"hello \\ud800"}', "lone UTF-16 surrogate"),
    "lone low surrogate": (chat_body(b'"\\udc00 hi"'), b'{"prompt":"\\udc00 hi"}', "lone UTF-16 surrogate"),
    "surrogate in a key": (chat_body(extra=b'"\\ud800":1,'), b'{"prompt":"x","\\ud800":1}', "lone UTF-16 surrogate"),
    "encoded surrogate": (chat_body(b'"\xed\xa0\x80"'), b'{"prompt":"\xed\xa0\x80"}', "not UTF-8"),
    "NaN": (chat_body(extra=b'"temperature":NaN,'), b'{"prompt":"x","temperature":NaN}', "NaN"),
    "Infinity": (chat_body(extra=b'"temperature":-Infinity,'), b'{"prompt":"x","t":Infinity}', "Infinity"),
    "overflowing float": (chat_body(extra=b'"temperature":1e999,'), b'{"prompt":"x","t":1e999}', "range"),
    "huge integer": (chat_body(extra=b'"n":' + b"9" * 5000 + b","), b'{"prompt":"x","n":' + b"9" * 5000 + b"}",
                     "digits"),
    "4000-digit integer": (chat_body(extra=b'"temperature":' + b"9" * 4000 + b","),
                           b'{"prompt":"x","n":' + b"9" * 4000 + b"}", "digits"),
}


@pytest.fixture(scope="module")
def roomy(fleet, layer):
    """The test gateway with a 1 MiB body limit (the 100k-deep array is 200 kB)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GW_TEST_UPSTREAM_KEY", UPSTREAM_SECRET)
        gw = start_gateway(gateway_config(fleet, max_body_bytes=1 << 20), layer)
    yield gw
    gw.server.stop()


@pytest.mark.parametrize("path", [CHAT, ROUTE])
@pytest.mark.parametrize("case", list(CASES))
def test_bodies_that_crashed_the_gateway_get_a_4xx(roomy, fresh, path, case):
    chat, route, words = CASES[case]
    with error_logs() as errors:
        r = httpx.post(roomy.url + path, content=chat if path == CHAT else route, timeout=30,
                       headers={"content-type": "application/json"})
    assert r.status_code == 400, r.text
    error = openai_error(r)
    assert error["code"] == "invalid_json" and words in error["message"], error
    assert not errors, [e.getMessage() for e in errors]
    assert fresh.total() == 0


@pytest.mark.parametrize("body, param", [
    ({"model": "auto", "messages": [{"role": ["user"], "content": "hi"}]}, "messages[0].role"),
    ({"model": "auto", "messages": [{"role": {"a": 1}, "content": "hi"}]}, "messages[0].role"),
    ({"model": "auto", "stream": True, "stream_options": [1], "messages": [{"role": "user", "content": "hi"}]},
     "stream_options"),
    ({"model": "auto", "stream": True, "stream_options": "yes", "messages": [{"role": "user", "content": "hi"}]},
     "stream_options"),
])
def test_odd_types_the_gateway_reads_get_a_400_naming_the_field(gateway, fresh, body, param):
    with error_logs() as errors:
        r = httpx.post(gateway.url + CHAT, json=body, timeout=10)
    assert r.status_code == 400 and openai_error(r)["param"] == param, r.text
    assert not errors


def test_ordinary_bodies_skip_the_walks_and_valid_text_passes():
    from semantic_router.server.ingress.body import MAX_JSON_DEPTH, parse_json

    # emoji as escaped surrogate pairs (what ensure_ascii encoders send) are valid text
    assert parse_json(b'{"m":"smile \\ud83d\\ude00"}') == {"m": "smile \U0001f600"}
    # a literal backslash before "ud800" is text, not an escape
    assert parse_json(b'{"m":"\\\\ud800"}') == {"m": "\\ud800"}
    nested = b'{"a":' * (MAX_JSON_DEPTH - 1) + b"1" + b"}" * (MAX_JSON_DEPTH - 1)
    assert parse_json(nested)  # exactly at the limit
    assert parse_json(b'{"big":9223372036854775807,"f":1.5e300}') == {"big": 2**63 - 1, "f": 1.5e300}


def _partial_request(port: int, declared: int, sent: bytes) -> None:
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nhost: gw\r\ncontent-type: application/json\r\n"
                  b"content-length: " + str(declared).encode() + b"\r\n\r\n" + sent)
        time.sleep(0.2)


@pytest.mark.slow
def test_a_client_closing_its_socket_mid_body_is_counted_not_logged(gateway, fresh):
    before = httpx.get(gateway.url + "/stats").json()["client_disconnects"].get("request", 0)
    with error_logs() as errors:
        for _ in range(20):
            _partial_request(gateway.server.port, 1000, b'{"model":"auto","mess')
        deadline = time.monotonic() + 5
        while httpx.get(gateway.url + "/stats").json()["client_disconnects"].get("request", 0) < before + 20:
            assert time.monotonic() < deadline, "disconnects were not counted"
            time.sleep(0.05)
    assert not errors, [e.getMessage() for e in errors]
    assert 'router_client_disconnects_total{phase="request"}' in httpx.get(gateway.url + "/metrics").text
    ok = httpx.post(gateway.url + CHAT, json={"model": "auto", "messages": [{"role": "user", "content": "hi"}]})
    assert ok.status_code == 200


def test_an_unexpected_error_is_one_logged_500(fleet, layer, monkeypatch):
    from semantic_router.server.act import chat

    monkeypatch.setenv("GW_TEST_UPSTREAM_KEY", UPSTREAM_SECRET)
    gw = start_gateway(gateway_config(fleet), layer)
    try:
        def broken(*args, **kwargs):
            raise RuntimeError("a bug")

        monkeypatch.setattr(chat, "rewrite_for", broken)
        with error_logs() as errors:
            r = httpx.post(gw.url + CHAT, json={"model": "auto", "messages": [{"role": "user", "content": "hi"}]})
        assert r.status_code == 500 and openai_error(r)["type"] == "server_error"
        assert len(errors) == 1 and errors[0].exc_info is not None  # one traceback, not one per layer
    finally:
        gw.server.stop()

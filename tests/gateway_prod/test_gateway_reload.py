"""Hot reload of the real gateway: PUT /admin/config swaps the config atomically, an invalid one changes nothing,
a stream in flight finishes on the config it started with, the admin key guards it all."""

from __future__ import annotations

import copy
import json
import threading
import time

import httpx
import pytest
import yaml

from tests.server.conftest import example_router, gateway_config, start_gateway

ADMIN = "admin-key-for-reload-tests"
HAIKU = "write a haiku about the sea"


def full_config(fleet) -> dict:
    """The test gateway config with its routes inline (a reload builds them; the encoder is reused)."""
    config = gateway_config(fleet, admin_key_env="GW_TEST_ADMIN")
    config["signals"]["routes"] = {"router": example_router()}
    return config


def with_poetry(config: dict) -> dict:
    new = copy.deepcopy(config)
    new["signals"]["keywords"].append({"name": "poem", "words": ["haiku", "sonnet"]})
    new["decisions"].insert(0, {"name": "poetry", "priority": 30, "rule": {"signal": "keywords:poem"},
                                "model": "general-model", "system_prompt": {"content": "You are a poet."}})
    return new


@pytest.fixture()
def gw(fleet, layer, monkeypatch):
    monkeypatch.setenv("GW_TEST_ADMIN", ADMIN)
    gateway = start_gateway(full_config(fleet), layer)
    yield gateway
    gateway.server.stop()


def put(gateway, config, key=ADMIN):
    body = config if isinstance(config, (bytes, str)) else yaml.safe_dump(config)
    return httpx.put(gateway.url + "/admin/config", content=body, timeout=60,
                     headers={"Authorization": f"Bearer {key}"} if key else {})


def decide(gateway, prompt: str) -> str:
    r = httpx.post(gateway.url + "/v1/route", json={"prompt": prompt}, timeout=10)
    assert r.status_code == 200, r.text
    return r.json()["decision"]


def test_put_config_swaps_in_a_new_config(gw, fleet, fresh, layer):
    assert decide(gw, HAIKU) == "general"
    r = put(gw, with_poetry(full_config(fleet)))
    assert r.status_code == 200 and r.json()["status"] == "reloaded", r.text
    assert decide(gw, HAIKU) == "poetry"
    chat = httpx.post(gw.url + "/v1/chat/completions", timeout=10,
                      json={"model": "auto", "messages": [{"role": "user", "content": HAIKU}]})
    assert chat.headers["x-router-decision"] == "poetry"
    assert fresh.backends["general"].requests[-1]["system"] == ["You are a poet."]
    state = httpx.get(gw.url + "/admin/config", headers={"Authorization": f"Bearer {ADMIN}"}).json()
    assert state["version"] == r.json()["version"]
    assert gw.state.runtime.layer is not layer and gw.state.runtime.layer.encoder is layer.encoder  # model reused
    assert "poetry" in [d["name"] for d in httpx.get(gw.url + "/ui/overview.json",
                                                     headers={"Authorization": f"Bearer {ADMIN}"}).json()["decisions"]]


@pytest.mark.parametrize("bad, words", [
    ("decisions: [", "not valid YAML"),
    ({"models": {}}, "models"),
    ("unknown_model", "unknown model 'nope'"),
    ("bad_cache", "similarity_threshold"),
])
def test_an_invalid_config_changes_nothing_and_says_why(gw, fleet, bad, words, caplog):
    good = with_poetry(full_config(fleet))
    assert put(gw, good).status_code == 200
    before = gw.state.runtime
    if bad == "unknown_model":
        bad = copy.deepcopy(good)
        bad["decisions"][0]["model"] = "nope"
    elif bad == "bad_cache":
        bad = copy.deepcopy(good)
        bad["decisions"][0]["plugins"] = {"cache": {"similarity_threshold": 3}}
    r = put(gw, bad)
    assert r.status_code == 400, r.text
    assert r.json()["error"]["code"] == "invalid_config" and words in r.json()["error"]["message"]
    assert gw.state.runtime is before and decide(gw, HAIKU) == "poetry"
    assert words in caplog.text


def test_a_stream_in_flight_finishes_on_the_config_it_started_with(gw, fleet, fresh):
    fresh.backends["general"].delay = 0.25  # ~3 s of streaming: longer than a reload
    old = gw.state.runtime
    received: list[bytes] = []

    def stream() -> None:
        with httpx.stream("POST", gw.url + "/v1/chat/completions", timeout=20,
                          json={"model": "auto", "stream": True,
                                "messages": [{"role": "user", "content": HAIKU + " with many words in it"}]}) as r:
            received.append(r.headers["x-router-decision"].encode())
            received.extend(r.iter_raw())  # chunk by chunk, as they arrive

    worker = threading.Thread(target=stream)
    worker.start()
    while len(received) < 2:  # the stream has started
        time.sleep(0.005)
    assert put(gw, with_poetry(full_config(fleet))).status_code == 200
    assert gw.state.runtime is not old
    # the PUT leased the old runtime too, until just after its answer was sent: wait for that lease to end
    deadline = time.monotonic() + 5
    while gw.state.holder.inflight(old) > 1 and time.monotonic() < deadline:
        time.sleep(0.005)
    assert gw.state.holder.inflight(old) == 1  # the stream alone
    clients = [b.client for p in old.upstreams.pools.values() for b in p.backends]
    assert not any(c.is_closed for c in clients)  # the old runtime still serves its stream
    worker.join(20)
    body = b"".join(received[1:]).decode()
    assert received[0] == b"general" and body.rstrip().endswith("data: [DONE]")
    words = [json.loads(line[6:])["choices"][0]["delta"].get("content", "")
             for line in body.splitlines() if line.startswith("data: {") and '"choices": [{' in line]
    assert "".join(words).endswith("many words in it")
    assert decide(gw, HAIKU) == "poetry"
    deadline = time.monotonic() + 5
    while not all(c.is_closed for c in clients):  # closed once its last request finished
        assert time.monotonic() < deadline
        time.sleep(0.02)


def test_admin_endpoints_need_the_admin_key(gw, fleet):
    assert put(gw, with_poetry(full_config(fleet)), key=None).status_code == 401
    assert put(gw, with_poetry(full_config(fleet)), key="not-the-key").status_code == 401
    assert httpx.get(gw.url + "/admin/config").status_code == 401
    r = put(gw, b"")  # nothing to re-read: the app was built from an object
    assert r.status_code == 400 and "no config file" in r.json()["error"]["message"]
    assert decide(gw, HAIKU) == "general"


def test_admin_endpoints_are_off_without_an_admin_key(fleet, layer):
    gateway = start_gateway(gateway_config(fleet), layer)
    try:
        r = httpx.put(gateway.url + "/admin/config", content=b"x: 1", headers={"Authorization": "Bearer x"})
        assert r.status_code == 403 and r.json()["error"]["message"].startswith("admin endpoints are disabled")
    finally:
        gateway.server.stop()

"""The AIBrix guide's flow through the HTTP proxy: its config (examples/vllm-sr/aibrix.yaml) served unchanged on a
real uvicorn on loopback, stand-in backends for qwen3-8b and llama3-8b-instruct, the three documented requests
checked by what the backend received (tests/server/vsr_guide.py, shared with the ext_proc front door's tests)."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import yaml

pytest.importorskip("fastapi")

from semantic_router.errors import SemanticRouterError
from semantic_router.server.config import Signals, parse_config
from semantic_router.server.demo import DemoBackend, ThreadServer, run_in_thread
from semantic_router.server.vsr_config import to_native
from tests.server.conftest import wait_ready
from tests.server.vsr_guide import CLIENT_SYSTEM, GUIDE_REQUESTS, example_config, expect_received



def _without_domains() -> str | None:
    """Why the built-in domain classifier (issue 18: `signals.domains`) cannot run here; None when it can."""
    if "domains" not in Signals.model_fields:
        return "the gateway has no signals.domains yet (issue 18)"
    try:
        from semantic_router.learn import load_signal

        load_signal("builtin:domains")
    except (ImportError, SemanticRouterError, OSError, ValueError) as exc:
        return f"the built-in domain classifier is not available ({type(exc).__name__}: {exc})"
    return None


NO_DOMAINS = _without_domains()
DOMAIN_SIGNAL = NO_DOMAINS is None
MODELS = ("llama3-8b-instruct", "qwen3-8b")


def keyword_only(config: dict[str, Any]) -> dict[str, Any]:
    """The example without its domain rules (what runs before the built-in domain signal exists)."""
    out = copy.deepcopy(config)
    out["routing"]["signals"].pop("domains")
    out["routing"]["decisions"] = [d for d in out["routing"]["decisions"]
                                   if all(c["type"] != "domain" for c in d["rules"]["conditions"])]
    return out


class Served:
    """Their config served by our HTTP proxy, its backends moved to stand-ins on free loopback ports."""

    def __init__(self, config: dict[str, Any], encoder: Any = None, admin_key_env: str | None = None) -> None:
        from semantic_router.server.http import create_app
        from semantic_router.server.runtime import Runtime

        self.backends = {name: DemoBackend(name=name) for name in MODELS}
        self.servers: list[ThreadServer] = [run_in_thread(b.app()) for b in self.backends.values()]
        config = copy.deepcopy(config)
        for model, server in zip(MODELS, self.servers):
            entry = next(m for m in config["providers"]["models"] if m["name"] == model)
            entry["backend_refs"][0]["endpoint"] = f"127.0.0.1:{server.port}"
        self.config = config  # as served (backends moved)
        source: dict[str, Any] = config
        if admin_key_env is not None:  # their format has no admin key: the converted config with one added
            source = {**to_native(config), "server": {"admin_key_env": admin_key_env}}
        # `encoder`: the session's loaded model for a config that needs one (semantic cache), instead of a new load
        self.gateway = run_in_thread(create_app(Runtime.build(parse_config(source, "aibrix.yaml"), encoder=encoder)))
        self.servers.append(self.gateway)
        wait_ready(self.gateway.url)

    def chat(self, body: dict[str, Any]) -> tuple[httpx.Response, dict[str, Any]]:
        """POST the body; the answer and the one request a backend received for it."""
        for b in self.backends.values():
            b.reset()
        r = httpx.post(self.gateway.url + "/v1/chat/completions", json=body, timeout=30)
        received = [rec for b in self.backends.values() for rec in b.requests]
        assert len(received) == 1, received
        return r, received[0]

    def stop(self) -> None:
        for s in self.servers:
            s.stop()


@pytest.fixture(scope="module")
def keyword_gateway() -> Iterator[Served]:
    served = Served(keyword_only(example_config()))
    yield served
    served.stop()


def test_walk_me_through_goes_to_qwen3_with_reasoning(keyword_gateway):
    request = next(r for r in GUIDE_REQUESTS if r.name == "walk-me-through")
    r, received = keyword_gateway.chat(request.body)
    assert r.status_code == 200, r.text
    assert received["backend"] == "qwen3-8b"
    expect_received(received, request)
    assert r.headers["x-router-decision"] in request.decisions


def test_nothing_matched_goes_to_the_default_model_untouched(keyword_gateway):
    body = {"model": "MoM", "messages": [{"role": "system", "content": CLIENT_SYSTEM},
                                         {"role": "user", "content": "Tell me about the weather in spring."}]}
    r, received = keyword_gateway.chat(body)
    assert r.status_code == 200, r.text
    assert (received["backend"], received["model"]) == ("llama3-8b-instruct", "llama3-8b-instruct")
    assert received["system"] == [CLIENT_SYSTEM] and received["chat_template_kwargs"] is None


def test_hot_reload_takes_their_format(monkeypatch):
    monkeypatch.setenv("VSR_TEST_ADMIN", "admin-key-vsr")
    served = Served(keyword_only(example_config()), admin_key_env="VSR_TEST_ADMIN")
    try:
        walk = next(r for r in GUIDE_REQUESTS if r.name == "walk-me-through").body
        assert served.chat(walk)[1]["backend"] == "qwen3-8b"
        new = copy.deepcopy(served.config)
        new["routing"]["signals"]["keywords"][0]["keywords"] = ["ponder deeply"]
        r = httpx.put(served.gateway.url + "/admin/config", content=yaml.safe_dump(new), timeout=60,
                      headers={"Authorization": "Bearer admin-key-vsr"})
        assert r.status_code == 200, r.text
        assert served.chat(walk)[1]["backend"] == "llama3-8b-instruct"  # the old keywords are gone
        ponder = {"model": "MoM", "messages": [{"role": "user", "content": "Please ponder deeply: is 91 prime?"}]}
        r, received = served.chat(ponder)
        assert received["backend"] == "qwen3-8b" and received["chat_template_kwargs"] == {"enable_thinking": True}
        bad = copy.deepcopy(new)
        bad["routing"]["decisions"][0]["plugins"][0]["type"] = "jailbreak"
        r = httpx.put(served.gateway.url + "/admin/config", content=yaml.safe_dump(bad), timeout=60,
                      headers={"Authorization": "Bearer admin-key-vsr"})
        assert r.status_code == 400 and "routing.decisions[0].plugins[0].type" in r.text, r.text
        assert served.chat(ponder)[1]["backend"] == "qwen3-8b"  # a refused config changes nothing
    finally:
        served.stop()


@pytest.mark.slow  # loads the bundled encoder for the semantic cache
def test_their_semantic_cache_plugin_answers_a_repeat(encoder):
    config = keyword_only(example_config())
    config["routing"]["decisions"][0]["plugins"].insert(0, {
        "type": "semantic-cache", "configuration": {"enabled": True, "similarity_threshold": 0.9}})
    served = Served(config, encoder)
    try:
        body = {"model": "MoM", "messages": [{"role": "user", "content": "Walk me through setting up a budget."}]}
        first, received = served.chat(body)
        assert first.status_code == 200 and first.headers["x-router-cache"] == "miss"
        served.backends["qwen3-8b"].reset()
        again = httpx.post(served.gateway.url + "/v1/chat/completions", json=body, timeout=30)
        assert again.status_code == 200 and again.headers["x-router-cache"] == "hit", again.headers
        assert served.backends["qwen3-8b"].requests == []  # answered from the cache
        assert again.json()["choices"] == first.json()["choices"]
    finally:
        served.stop()


@pytest.mark.skipif(not DOMAIN_SIGNAL, reason=str(NO_DOMAINS))
@pytest.mark.slow  # the domain classifier loads the bundled model
@pytest.mark.parametrize("request_", GUIDE_REQUESTS, ids=[r.name for r in GUIDE_REQUESTS])
def test_the_guides_three_requests(request_, encoder):
    served = Served(example_config(), encoder)
    try:
        r, received = served.chat(request_.body)
        assert r.status_code == 200, r.text
        expect_received(received, request_)
        assert received["backend"] == request_.model
    finally:
        served.stop()


@pytest.mark.slow  # `semantic-router serve` and its demo backends in a subprocess
def test_serve_their_file_with_demo_backends(tmp_path):
    from tests.server.test_gateway_demo import demo_gateway
    from tests.server.vsr_guide import EXAMPLE

    config = example_config() if DOMAIN_SIGNAL else keyword_only(example_config())
    requests = GUIDE_REQUESTS if DOMAIN_SIGNAL else [r for r in GUIDE_REQUESTS if r.name == "walk-me-through"]
    with demo_gateway(EXAMPLE, tmp_path, config) as url:
        for request in requests:
            r = httpx.post(url + "/v1/chat/completions", json=request.body, timeout=30)
            assert r.status_code == 200, r.text
            echo = r.json()["echo"]  # what the stand-in backend received
            assert echo["backend"] == request.model  # each model's own stand-in
            expect_received({**echo, "messages": request.body["messages"][-1:]}, request)

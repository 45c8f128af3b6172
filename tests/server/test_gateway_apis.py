"""The other client APIs through the gateway, each driven by its official SDK against stand-in backends on
loopback: `/v1/completions`, `/v1/responses` (OpenAI), `/v1/messages` (Anthropic), `/v1/embeddings`. Routed ones
take the same signals and decisions as chat (system prompt and reasoning in the API's own fields)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.server.conftest import UPSTREAM_SECRET, Fleet, Gateway, gateway_config, start_gateway

openai = pytest.importorskip("openai")
anthropic = pytest.importorskip("anthropic")

ALL = ["chat", "completions", "responses", "messages", "embeddings"]


@pytest.fixture(scope="module")
def gw(fleet: Fleet, layer) -> Iterator[Gateway]:
    mp = pytest.MonkeyPatch()
    mp.setenv("GW_TEST_UPSTREAM_KEY", UPSTREAM_SECRET)
    config = gateway_config(fleet)
    models = config["models"]
    for name in ("general-model", "math-model"):
        models[name]["apis"] = ALL
    models["deep-model"]["apis"] = ALL  # an Anthropic-style backend: its key goes in x-api-key
    models["deep-model"]["backends"] = [{"base_url": fleet.url("deep"), "api_key_env": "GW_TEST_UPSTREAM_KEY",
                                         "auth": "x-api-key"}]
    gateway = start_gateway(config, layer)
    yield gateway
    gateway.server.stop()
    mp.undo()


def sent(fleet: Fleet, backend: str) -> dict:
    (request,) = fleet.backends[backend].requests
    return request


def oai(gw: Gateway) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.url + "/v1", api_key="client-key", max_retries=0)


def test_completions_routed_on_the_prompt(gw, fresh):
    raw = oai(gw).completions.with_raw_response.create(model="auto", prompt="solve the integral of x squared dx",
                                                        max_tokens=20)
    answer = raw.parse()
    assert raw.headers["x-router-model"] == "math-model"
    assert answer.choices[0].text.startswith("[math-model] completions reply")
    request = sent(fresh, "math")
    assert request["api"] == "completions" and request["body"]["model"] == "math-model"
    assert "messages" not in request["body"] and "chat_template_kwargs" not in request["body"]  # chat-only fields


def test_completions_stream(gw, fresh):
    chunks = list(oai(gw).completions.create(model="auto", prompt="solve the integral of x squared dx", stream=True))
    assert "".join(c.choices[0].text for c in chunks).strip() == "[math-model] completions reply"


def test_responses_take_the_decisions_system_prompt_and_reasoning(gw, fresh):
    client = oai(gw)
    answer = client.responses.create(model="auto", input="write a python function that reverses a list",
                                     instructions="be brief")
    assert answer.output_text.startswith("[code-model] responses reply")
    (request,) = [r for b in ("code_a", "code_b") for r in fresh.backends[b].requests]
    assert request["body"]["instructions"] == "You are a coding assistant.\n\nbe brief"  # insert: before the client's
    fresh.reset()
    client.responses.create(model="auto", input=[{"role": "user", "content": [
        {"type": "input_text", "text": "solve the integral of x squared dx"}]}], instructions="be brief")
    body = sent(fresh, "math")["body"]
    assert body["instructions"] == "Be rigorous."  # replace
    assert body["chat_template_kwargs"] == {"enable_thinking": True}


def test_responses_stream(gw, fresh):
    events = list(oai(gw).responses.create(model="auto", input="solve the integral of x squared dx", stream=True))
    kinds = [e.type for e in events]
    assert kinds[0] == "response.created" and kinds[-1] == "response.completed"
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert text.strip() == "[math-model] responses reply"


def test_messages_with_the_anthropic_sdk(gw, fresh):
    client = anthropic.Anthropic(base_url=gw.url, api_key="client-key", max_retries=0)
    answer = client.messages.create(model="auto", max_tokens=100, system="answer in French",
                                    messages=[{"role": "user", "content": "think step by step: why is the sky blue?"}])
    assert answer.content[0].text.startswith("[deep-model] messages reply")
    request = sent(fresh, "deep")
    assert request["api"] == "messages"
    assert request["x-api-key"] == UPSTREAM_SECRET and request["authorization"] is None  # the backend's own key
    assert request["anthropic-version"]  # the SDK's version header is forwarded
    assert request["body"]["thinking"] == {"type": "enabled", "budget_tokens": 2048}
    assert request["body"]["system"] == "answer in French"


def test_messages_stream(gw, fresh):
    client = anthropic.Anthropic(base_url=gw.url, api_key="client-key", max_retries=0)
    with client.messages.stream(model="auto", max_tokens=100,
                                messages=[{"role": "user", "content": "think step by step: why is ice slippery?"}]) as s:
        text = s.get_final_text()
    assert text.strip() == "[deep-model] messages reply"


def test_messages_skip_models_whose_backends_do_not_speak_it(gw, fresh):
    client = anthropic.Anthropic(base_url=gw.url, api_key="client-key", max_retries=0)
    answer = client.messages.create(model="auto", max_tokens=50, messages=[
        {"role": "user", "content": [{"type": "text", "text": "write a python function that reverses a list"}]}])
    # the code decision's model lacks `messages`: its fallback (general-model) serves it
    assert answer.content[0].text.startswith("[general-model]")
    assert not fresh.backends["code_a"].requests and not fresh.backends["code_b"].requests
    with pytest.raises(anthropic.BadRequestError, match="api_not_served|does not serve|serves the 'messages'"):
        client.messages.create(model="code-model", max_tokens=50, messages=[{"role": "user", "content": "hi"}])
    assert fresh.total() == 0 or all(r.get("api") == "messages" for r in fresh.backends["general"].requests)


def test_embeddings_pass_through_to_the_named_model(gw, fresh):
    client = oai(gw)
    answer = client.embeddings.create(model="general-model", input=["first text", "second text"])
    assert [len(d.embedding) for d in answer.data] == [8, 8]
    assert answer.data[0].embedding != answer.data[1].embedding
    assert sent(fresh, "general")["body"]["input"] == ["first text", "second text"]
    with pytest.raises(openai.BadRequestError, match="not routed"):
        client.embeddings.create(model="auto", input="x")
    with pytest.raises(openai.NotFoundError, match="does not exist"):
        client.embeddings.create(model="nope", input="x")


@pytest.mark.parametrize(("path", "body", "param"), [
    ("/v1/responses", {"model": "auto", "input": 123}, "input"),
    ("/v1/responses", {"model": "auto", "input": [{"role": "robot", "content": "x"}]}, "input[0].role"),
    ("/v1/completions", {"model": "auto", "prompt": [1, 2, 3]}, "prompt"),
    ("/v1/messages", {"model": "auto", "messages": [{"role": "system", "content": "x"}]}, "messages[0].role"),
    ("/v1/embeddings", {"model": "general-model"}, "input"),
    ("/v1/completions", {"model": 5, "prompt": "x"}, "model"),
])
def test_bad_bodies_get_a_4xx_naming_the_field(gw, fresh, path, body, param):
    r = httpx.post(gw.url + path, json=body)
    assert r.status_code == 400, r.text
    assert r.json()["error"]["param"] == param
    assert fresh.total() == 0

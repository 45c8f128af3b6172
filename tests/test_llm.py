"""OpenAILLM with the real `openai` SDK over real HTTP against the chat emulator in tests/emulators."""

from __future__ import annotations

import json
import pickle
import subprocess
import sys

import pytest

from semantic_router.config import build
from semantic_router.errors import ArgumentError
from semantic_router.llms import LLMS, BaseLLM, LLMError, OpenAILLM
from semantic_router.llms.base import SYSTEM_PROMPT
from semantic_router.dynamic.schemas import get_schemas
from tests.emulators.openai_chat import ChatEmulator

KEY = "sk-test-emulator"


def get_weather(location: str, days: int = 1) -> str:
    """Weather forecast for a place.

    :param location: city name
    :param days: how many days ahead
    """
    return location


def get_time(timezone: str) -> str:
    """Current time in a timezone."""
    return timezone


SCHEMAS = get_schemas(get_weather, get_time)


@pytest.fixture(scope="module")
def emulator():
    emu = ChatEmulator(api_key=KEY)
    server = emu.start()
    emu.url = server.url + "/v1"
    yield emu
    server.stop()


@pytest.fixture(autouse=True)
def fresh(emulator, monkeypatch):
    """Each test starts with an empty log, no faults, nothing queued and no key in the environment."""
    emulator.reset()
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)


def make(emulator, **kw) -> OpenAILLM:
    return OpenAILLM(**{"api_key": KEY, "base_url": emulator.url, "timeout": 5.0, **kw})


def test_default_behaviour_end_to_end_and_request_shape(emulator):
    llm = make(emulator)
    calls = llm.extract_function_call("what's the weather in Paris?", SCHEMAS)
    assert calls == [{"name": "get_weather", "arguments": {"location": "Paris"}}]
    (req,) = emulator.log.requests
    assert req["path"] == "/v1/chat/completions" and req["key_ok"]
    assert req["model"] == "gpt-4o-mini" and req["temperature"] == 0.0
    assert req["tools"] == SCHEMAS and req["tool_choice"] == "required"
    assert req["messages"] == [{"role": "system", "content": SYSTEM_PROMPT},
                               {"role": "user", "content": "what's the weather in Paris?"}]


def test_history_goes_between_system_prompt_and_query(emulator):
    history = [{"role": "user", "content": "I'm flying to Tokyo"}, {"role": "assistant", "content": "Nice trip!"}]
    calls = make(emulator, name="gpt-4o", temperature=None).extract_function_call(
        "what time is it in Tokyo", SCHEMAS, messages=history)
    assert calls == [{"name": "get_time", "arguments": {"timezone": "Tokyo"}}]
    (req,) = emulator.log.requests
    assert req["model"] == "gpt-4o" and req["temperature"] is None  # temperature=None: not sent
    assert req["messages"][1:] == [*history, {"role": "user", "content": "what time is it in Tokyo"}]
    assert history == [{"role": "user", "content": "I'm flying to Tokyo"},
                       {"role": "assistant", "content": "Nice trip!"}]  # not mutated


def test_callables_are_accepted_as_schemas(emulator):
    calls = make(emulator).extract_function_call("weather in Rome for 3 days", [get_weather])
    assert calls == [{"name": "get_weather", "arguments": {"location": "Rome", "days": 3}}]


def test_multiple_tool_calls_are_all_returned(emulator):
    emulator.queue_calls(("get_weather", {"location": "Paris"}), ("get_time", {"timezone": "Europe/Paris"}),
                         ("get_weather", {"location": "Rome", "days": 2}))
    calls = make(emulator).extract_function_call("weather in Paris and Rome, and the time in Paris", SCHEMAS)
    assert calls == [{"name": "get_weather", "arguments": {"location": "Paris"}},
                     {"name": "get_time", "arguments": {"timezone": "Europe/Paris"}},
                     {"name": "get_weather", "arguments": {"location": "Rome", "days": 2}}]
    assert len(emulator.log) == 1


@pytest.mark.parametrize("bad, problem", [
    (("get_weather", {"days": 2}), "missing required argument 'location'"),
    (("get_weather", {"location": "Paris", "days": "2"}), "argument 'days': expected integer, got string '2'"),
    (("get_weather", '{"location": "Paris"'), "arguments are not valid JSON"),
    (("get_news", {"topic": "x"}), "unknown function 'get_news' (available: get_weather, get_time)"),
])
def test_invalid_output_is_retried_with_the_error_as_feedback(emulator, bad, problem):
    emulator.queue_calls(bad)
    emulator.queue_calls(("get_weather", {"location": "Paris", "days": 2}))
    calls = make(emulator).extract_function_call("weather in Paris for 2 days", SCHEMAS)
    assert calls == [{"name": "get_weather", "arguments": {"location": "Paris", "days": 2}}]
    first, second = emulator.log.requests
    assert second["messages"][: len(first["messages"])] == first["messages"]
    assistant, tool = second["messages"][len(first["messages"]):]
    assert assistant["role"] == "assistant" and assistant["tool_calls"][0]["function"]["name"] == bad[0]
    assert tool["role"] == "tool" and tool["tool_call_id"] == assistant["tool_calls"][0]["id"]
    assert problem in tool["content"] and "again" in tool["content"]


def test_one_bad_call_among_several_retries_them_all(emulator):
    emulator.queue_calls(("get_weather", {"location": "Paris"}), ("get_time", {}))
    emulator.queue_calls(("get_weather", {"location": "Paris"}), ("get_time", {"timezone": "CET"}))
    calls = make(emulator).extract_function_call("weather and time in Paris", SCHEMAS)
    assert [c["name"] for c in calls] == ["get_weather", "get_time"]
    tool_ok, tool_bad = emulator.log.requests[1]["messages"][-2:]
    assert tool_ok["content"].startswith("Not run") and "missing required argument 'timezone'" in tool_bad["content"]


def test_text_instead_of_a_tool_call_is_invalid_too(emulator):
    emulator.queue_text("Sure, I can help with that.")
    emulator.queue_calls(("get_weather", {"location": "Oslo"}))
    calls = make(emulator).extract_function_call("weather in Oslo", SCHEMAS)
    assert calls == [{"name": "get_weather", "arguments": {"location": "Oslo"}}]
    feedback = emulator.log.requests[1]["messages"][-1]
    assert feedback["role"] == "user" and "no function was called" in feedback["content"]


def test_raise_after_invalid_retries_are_used_up(emulator):
    for _ in range(3):
        emulator.queue_calls(("get_weather", {"location": 7}))
    with pytest.raises(ArgumentError, match=r"invalid function calls 3 time\(s\).*argument 'location': expected "
                                            "string, got integer 7") as info:
        make(emulator, max_invalid_retries=2).extract_function_call("weather in Paris", SCHEMAS)
    assert isinstance(info.value, ValueError)
    assert len(emulator.log) == 3 and emulator.queued == 0


def test_on_invalid_raise_does_not_retry(emulator):
    emulator.queue_calls(("get_time", {"zone": "UTC"}))
    with pytest.raises(ArgumentError, match=r"1 time\(s\) \(on_invalid='raise'\).*unknown argument 'zone'"):
        make(emulator, on_invalid="raise").extract_function_call("time in UTC", SCHEMAS)
    assert len(emulator.log) == 1


def test_the_sdk_retries_transient_faults(emulator):
    emulator.faults.fail(500, times=2, retry_after_ms=10)
    emulator.faults.fail(429, retry_after=0.05)
    calls = make(emulator).extract_function_call("weather in Lima", SCHEMAS)
    assert calls == [{"name": "get_weather", "arguments": {"location": "Lima"}}]
    assert len(emulator.log) == 4  # three failures, then success: the SDK client retried (max_retries=3)


def test_timeout_is_retried(emulator):
    emulator.faults.stall(2.0)
    calls = make(emulator, timeout=0.5).extract_function_call("weather in Lima", SCHEMAS)
    assert calls == [{"name": "get_weather", "arguments": {"location": "Lima"}}]
    assert len(emulator.log) == 2


async def test_aclose_closes_the_async_client_and_a_later_call_reconnects(emulator):
    llm = make(emulator)
    assert (await llm.aextract_function_call("weather in Oslo", SCHEMAS))[0]["name"] == "get_weather"
    llm.extract_function_call("weather in Oslo", SCHEMAS)
    async_client, sync_client = llm._clients.per_loop.current(), llm._clients.sync.current
    assert not async_client.is_closed() and not sync_client.is_closed()
    await llm.aclose()
    assert async_client.is_closed() and sync_client.is_closed()
    assert (await llm.aextract_function_call("weather in Rome", SCHEMAS))[0]["arguments"] == {"location": "Rome"}
    assert llm._clients.per_loop.current() is not async_client
    await llm.aclose()


def test_wrong_key_is_a_clear_error_and_not_retried(emulator):
    with pytest.raises(LLMError, match=r"rejected the API key \(HTTP 401\).*OPENAI_API_KEY") as info:
        make(emulator, api_key="sk-wrong-key").extract_function_call("weather in Paris", SCHEMAS)
    assert "sk-wrong-key" not in str(info.value)
    assert len(emulator.log) == 1 and not emulator.log.requests[0]["key_ok"]
    assert (info.value.status, info.value.retryable) == (401, False)


def test_unknown_model_and_missing_key(emulator, monkeypatch):
    with pytest.raises(LLMError, match="model 'gpt-9' was not found"):
        make(emulator, name="gpt-9").extract_function_call("weather in Paris", SCHEMAS)
    with pytest.raises(LLMError, match="needs an API key.*OPENAI_API_KEY"):
        OpenAILLM()
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    assert OpenAILLM(base_url=emulator.url).extract_function_call("weather in Oslo", SCHEMAS)[0]["name"] == \
        "get_weather"
    assert emulator.log.requests[-1]["authorization"] == f"Bearer {KEY}"


def test_bad_input_is_refused_before_any_request(emulator):
    llm = make(emulator)
    with pytest.raises(ValueError, match="non-empty string"):
        llm.extract_function_call("  ", SCHEMAS)
    with pytest.raises(ValueError, match="no function schemas"):
        llm.extract_function_call("weather in Paris", [])
    with pytest.raises(ValueError, match="message 0 must be a dict with a 'role'"):
        llm.extract_function_call("weather in Paris", SCHEMAS, messages=[{"content": "hi"}])
    with pytest.raises(ValueError, match="on_invalid must be"):
        make(emulator, on_invalid="ignore")
    assert len(emulator.log) == 0


async def test_async_path_gives_the_same_result(emulator):
    llm = make(emulator)
    emulator.queue_calls(("get_weather", {"location": "Paris", "days": "2"}))
    emulator.faults.fail(500, retry_after_ms=10)
    history = [{"role": "user", "content": "hello"}]
    got = await llm.aextract_function_call("weather in Paris for 2 days", SCHEMAS, messages=history)
    assert got == llm.extract_function_call("weather in Paris for 2 days", SCHEMAS, messages=history)
    assert got == [{"name": "get_weather", "arguments": {"location": "Paris", "days": 2}}]
    # async: a 500, then an invalid answer, then the valid one; sync: one request
    assert len(emulator.log) == 4
    assert emulator.log.requests[2]["messages"][-1]["role"] == "tool"
    with pytest.raises(LLMError, match="rejected the API key"):
        await make(emulator, api_key="sk-wrong-key").aextract_function_call("weather in Paris", SCHEMAS)


def test_spec_has_no_secret_and_rebuilds_the_llm(emulator):
    llm = make(emulator, name="gpt-4o", on_invalid="raise", max_invalid_retries=0)
    spec = llm.spec()
    assert spec == {"type": "openai", "name": "gpt-4o", "base_url": emulator.url, "temperature": 0.0,
                    "timeout": 5.0, "max_retries": 3, "on_invalid": "raise", "max_invalid_retries": 0}
    assert KEY not in json.dumps(spec) and KEY not in repr(llm)
    rebuilt = build({**spec, "api_key": KEY}, LLMS, "llm")
    assert isinstance(rebuilt, OpenAILLM) and isinstance(rebuilt, BaseLLM) and rebuilt.spec() == spec
    clone = pickle.loads(pickle.dumps(llm))
    assert clone.extract_function_call("weather in Paris", SCHEMAS)[0]["arguments"] == {"location": "Paris"}


def test_importing_the_package_does_not_import_openai():
    code = ("import sys, semantic_router, semantic_router.llms, semantic_router.dynamic.schemas; "
            "from semantic_router.llms import OpenAILLM; OpenAILLM(api_key='k'); assert 'openai' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_request_the_api_rejects_is_a_clear_error_and_not_retried(emulator):
    history = [{"role": "assistant", "content": None, "tool_calls": [
        {"id": "call_1", "type": "function", "function": {"name": "get_time", "arguments": "{}"}}]}]
    with pytest.raises(LLMError, match=r"rejected the chat request for model 'gpt-4o-mini' \(HTTP 400\).*call_1"
                       ) as info:
        make(emulator).extract_function_call("time in Paris", SCHEMAS, messages=history)
    assert (info.value.status, info.value.retryable) == (400, False)
    assert len(emulator.log) == 1

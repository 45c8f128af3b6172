"""Dynamic routes (function calls filled by an LLM) and chat-history-aware routing."""

from __future__ import annotations

import pytest

from semantic_router import Route, RouteLayer
from semantic_router.errors import LLMRequiredError
from semantic_router.llms import OpenAILLM
from semantic_router.dynamic.schemas import get_schemas
from tests.emulators.openai_chat import ChatEmulator

KEY = "sk-test-emulator"


def get_weather(location: str, days: int = 1) -> str:
    """Weather forecast for a place.

    :param location: city name
    :param days: how many days ahead
    """
    return location


@pytest.fixture(scope="module")
def emulator():
    emu = ChatEmulator(api_key=KEY)
    server = emu.start()
    emu.url = server.url + "/v1"
    yield emu
    server.stop()


@pytest.fixture()
def routes():
    weather = Route(name="weather", utterances=["what's the weather like in London", "will it rain in Paris",
                                                "weather forecast for Berlin", "is it going to be sunny today"],
                    function_schemas=[get_weather])
    food = Route(name="food", utterances=["I want to order a pizza", "recommend a good restaurant",
                                          "what should I cook for dinner"])
    return [weather, food]


@pytest.fixture()
def llm(emulator):
    emulator.reset()
    return OpenAILLM(api_key=KEY, base_url=emulator.url, timeout=5.0)


def test_schemas_from_callables_are_stored_as_openai_tools(routes):
    assert routes[0].function_schemas == get_schemas(get_weather)
    assert routes[0].function_schemas[0]["function"]["parameters"]["required"] == ["location"]
    assert routes[0].is_dynamic and not routes[1].is_dynamic


def test_dynamic_route_fills_the_function_call(encoder, routes, llm, emulator):
    rl = RouteLayer(encoder=encoder, routes=routes, llm=llm)
    choice = rl("how is the weather in Rome?")
    assert choice.name == "weather"
    assert choice.function_call == [{"name": "get_weather", "arguments": {"location": "Rome"}}]
    (req,) = emulator.log.requests
    assert req["tools"] == routes[0].function_schemas
    assert rl("I want a pizza").function_call is None  # static route: no LLM call
    assert len(emulator.log) == 1


def test_simulate_static_skips_the_llm(encoder, routes, llm, emulator):
    rl = RouteLayer(encoder=encoder, routes=routes, llm=llm)
    choice = rl("how is the weather in Rome?", simulate_static=True)
    assert choice.name == "weather" and choice.function_call is None
    assert len(emulator.log) == 0


def test_no_llm_is_a_clear_error_never_a_default_provider(encoder, routes):
    rl = RouteLayer(encoder=encoder, routes=routes)
    with pytest.raises(LLMRequiredError, match="route 'weather' is dynamic"):
        rl("how is the weather in Rome?")
    assert rl("how is the weather in Rome?", simulate_static=True).name == "weather"
    assert rl("I want a pizza").name == "food"  # static routes need no LLM


def test_dynamic_route_from_a_vector_needs_text(encoder, routes, llm):
    rl = RouteLayer(encoder=encoder, routes=routes, llm=llm)
    vec = encoder.encode(["how is the weather in Rome?"], "query")[0]
    with pytest.raises(ValueError, match="extracted from text"):
        rl(vector=vec)
    assert rl(vector=vec, simulate_static=True).name == "weather"


def test_llm_spec_round_trips_through_config(encoder, routes, llm, tmp_path):
    rl = RouteLayer(encoder=encoder, routes=routes, llm=llm)
    rl.to_yaml(tmp_path / "r.yaml")
    again = RouteLayer.from_yaml(tmp_path / "r.yaml", encoder=encoder, llm=llm)
    assert again.to_dict() == rl.to_dict()
    assert "api_key" not in str(rl.to_dict()["llm"])
    assert again.get("weather").function_schemas == routes[0].function_schemas


async def test_async_dynamic_route(encoder, routes, llm):
    rl = RouteLayer(encoder=encoder, routes=routes, llm=llm)
    choice = await rl.acall("how is the weather in Oslo?")
    assert choice.function_call == [{"name": "get_weather", "arguments": {"location": "Oslo"}}]


CONVERSATION = [
    {"role": "user", "content": "will it rain in Paris today?"},
    {"role": "assistant", "content": "Light rain is expected this afternoon."},
    {"role": "user", "content": "and tomorrow?"},
]


def test_follow_up_stays_on_the_conversation_route(encoder, routes):
    rl = RouteLayer(encoder=encoder, routes=routes)
    assert rl("and tomorrow?").name is None  # alone, the follow-up means nothing
    assert rl(messages=CONVERSATION, simulate_static=True).name == "weather"
    # history_weight=0 routes the last user turn alone: the blend is what carries the topic
    alone = RouteLayer(encoder=encoder, routes=routes, history_weight=0.0)
    assert alone(messages=CONVERSATION, simulate_static=True).name is None


def test_history_passes_to_the_llm(encoder, routes, llm, emulator):
    rl = RouteLayer(encoder=encoder, routes=routes, llm=llm)
    emulator.queue_calls(("get_weather", {"location": "Paris", "days": 2}))
    choice = rl(messages=CONVERSATION)
    assert choice.function_call == [{"name": "get_weather", "arguments": {"location": "Paris", "days": 2}}]
    (req,) = emulator.log.requests
    assert req["messages"][1:] == CONVERSATION  # prior turns as context, the last user turn as the query


@pytest.mark.parametrize("bad, msg", [
    ([], "non-empty list"),
    ("hello", "non-empty list"),
    ([{"role": "assistant", "content": "hi"}], "no user turn"),
    ([{"content": "hi"}], "role"),
    ([{"role": "user", "content": ""}], "without text"),
])
def test_bad_messages(encoder, routes, bad, msg):
    rl = RouteLayer(encoder=encoder, routes=routes)
    with pytest.raises(ValueError, match=msg):
        rl(messages=bad)


async def test_closing_the_router_closes_the_llm_clients(encoder, routes, llm):
    """`async with` / `with` RouteLayer close the LLM's async and sync SDK clients, not only the index's."""
    async with RouteLayer(encoder=encoder, routes=routes, llm=llm) as rl:
        assert (await rl.acall("how is the weather in Rome?")).function_call[0]["arguments"] == {"location": "Rome"}
        async_client = llm._clients.per_loop.current()
        assert not async_client.is_closed()
    assert async_client.is_closed()
    with RouteLayer(encoder=encoder, routes=routes, llm=llm) as rl:
        assert rl("how is the weather in Rome?").function_call[0]["name"] == "get_weather"
        sync_client = llm._clients.sync.current
        assert not sync_client.is_closed()
    assert sync_client.is_closed()


async def test_a_batch_of_conversations_routes_each_as_messages_does(encoder, routes):
    """`route_batch(conversations=...)` is `rl(messages=...)` for many at once: same choices and scores, every
    distinct text encoded once (the gateway's micro-batcher routes through it)."""
    rl = RouteLayer(encoder=encoder, routes=routes)
    pizza = [{"role": "user", "content": "I want to order a pizza"}]
    convs = [CONVERSATION, pizza, [{"role": "user", "content": "and tomorrow?"}], CONVERSATION]
    one_by_one = [rl(messages=c, simulate_static=True) for c in convs]
    encoded = []
    real = rl.encoder.encode_queries
    rl.encoder.encode_queries = lambda texts: encoded.append(list(texts)) or real(texts)
    try:
        batch = rl.route_batch(conversations=convs, simulate_static=True)
    finally:
        del rl.encoder.encode_queries
    assert [c.name for c in batch] == [c.name for c in one_by_one] == ["weather", "food", None, "weather"]
    assert [c.similarity_score for c in batch] == pytest.approx([c.similarity_score for c in one_by_one], abs=1e-5)
    assert len(encoded) == 1 and sorted(encoded[0]) == sorted(set(encoded[0]))  # one call, no text twice
    assert [c.name for c in await rl.aroute_batch(conversations=convs, simulate_static=True)] == [c.name for c in batch]
    assert rl.route_batch(conversations=[]) == []
    with pytest.raises(ValueError, match=r"conversations\[1\]: .*no user turn"):
        rl.route_batch(conversations=[pizza, [{"role": "assistant", "content": "hi"}]])
    with pytest.raises(ValueError, match="exactly one"):
        rl.route_batch(["a"], conversations=[pizza])


def test_a_dynamic_route_in_a_conversation_batch_gets_its_own_history(encoder, routes, llm, emulator):
    rl = RouteLayer(encoder=encoder, routes=routes, llm=llm)
    emulator.queue_calls(("get_weather", {"location": "Paris", "days": 2}))
    pizza = [{"role": "user", "content": "I want to order a pizza"}]
    food, weather = rl.route_batch(conversations=[pizza, CONVERSATION])
    assert food.name == "food" and food.function_call is None
    assert weather.function_call == [{"name": "get_weather", "arguments": {"location": "Paris", "days": 2}}]
    (req,) = emulator.log.requests
    assert req["messages"][1:] == CONVERSATION

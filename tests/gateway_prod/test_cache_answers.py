"""Which answers are cacheable; assembling a completed SSE stream and replaying an answer as SSE."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from semantic_router.server.act.cache import assemble_stream, cacheable_answer, replay_sse
from tests.gateway_prod.conftest import answer


def sse(*events: object, done: bool = True) -> list[bytes]:
    out = [b"data: " + json.dumps(e).encode() + b"\n\n" for e in events]
    return out + ([b"data: [DONE]\n\n"] if done else [])


def delta(content: str | None = None, finish: str | None = None, **extra: object) -> dict:
    d = {} if content is None else {"content": content}
    return {"id": "c1", "object": "chat.completion.chunk", "created": 5, "model": "m",
            "choices": [{"index": 0, "delta": {**d, **extra}, "finish_reason": finish}]}


def test_cacheable_answer_accepts_only_clean_200_text_completions():
    good = json.dumps(answer("hi")).encode()
    assert cacheable_answer(200, good)["choices"][0]["message"]["content"] == "hi"
    assert cacheable_answer(500, good) is None
    assert cacheable_answer(429, good) is None
    assert cacheable_answer(200, b'{"error": {"message": "x"}}') is None
    assert cacheable_answer(200, b"not json") is None
    assert cacheable_answer(200, b'{"choices": []}') is None
    tool = answer("")
    tool["choices"][0]["message"]["tool_calls"] = [{"id": "t", "type": "function",
                                                    "function": {"name": "f", "arguments": "{}"}}]
    assert cacheable_answer(200, json.dumps(tool).encode()) is None
    finish = answer("x")
    finish["choices"][0]["finish_reason"] = "tool_calls"
    assert cacheable_answer(200, json.dumps(finish).encode()) is None


def test_a_completed_stream_assembles_into_one_completion():
    chunks = sse(delta(role="assistant"), delta("Hel"), delta("lo", reasoning_content="think"), delta(finish="stop"),
                 {"id": "c1", "choices": [], "usage": {"total_tokens": 7}})
    whole = assemble_stream([b"".join(chunks)[:17], b"".join(chunks)[17:]])  # split mid-event
    assert whole["object"] == "chat.completion" and whole["id"] == "c1" and whole["usage"] == {"total_tokens": 7}
    assert whole["choices"] == [{"index": 0, "message": {"role": "assistant", "content": "Hello",
                                                         "reasoning_content": "think"}, "finish_reason": "stop"}]


@pytest.mark.parametrize("chunks", [
    sse(delta("Hel"), delta("lo", finish="stop"), done=False),                        # cut before [DONE]
    sse(delta("Hel"), {"error": {"message": "backend died"}}),                          # an error event
    sse(delta(tool_calls=[{"index": 0, "id": "t", "function": {"name": "f"}}]), delta(finish="tool_calls")),
    [b"data: {not json\n\n", b"data: [DONE]\n\n"],
    sse(),                                                                              # no choice at all
    sse(delta("x", finish="stop")) + [b"data: {\"choices\": []}\n\n"],                  # events after [DONE]
    sse({"choices": 3}), sse({"choices": [{"delta": "text"}]}),                         # odd shapes
])
def test_incomplete_or_unsafe_streams_are_not_assembled(chunks):
    assert assemble_stream(chunks) is None


def test_replay_is_a_well_formed_stream_of_the_same_answer():
    original = answer("x" * 150)
    events = replay_sse(original, include_usage=True)
    assert events[-1] == b"data: [DONE]\n\n"
    assert all(e.startswith(b"data: ") and e.endswith(b"\n\n") for e in events)
    payloads = [json.loads(e[6:]) for e in events[:-1]]
    assert all(p["object"] == "chat.completion.chunk" for p in payloads)
    assert payloads[0]["choices"][0]["delta"] == {"role": "assistant"}
    assert payloads[-1]["usage"] == original["usage"] and payloads[-1]["choices"] == []
    assert len([p for p in payloads if p["choices"] and "content" in p["choices"][0]["delta"]]) == 3  # 64-char pieces
    again = assemble_stream(events)
    assert again["choices"] == original["choices"] and again["usage"] == original["usage"]
    assert b"usage" not in b"".join(replay_sse(original))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.text(min_size=0, max_size=90), min_size=1, max_size=3), st.integers(1, 40))
def test_replay_then_assemble_round_trips_any_text(contents, piece):
    original = {"id": "c", "object": "chat.completion", "created": 1, "model": "m",
                "choices": [{"index": i, "message": {"role": "assistant", "content": c}, "finish_reason": "stop"}
                            for i, c in enumerate(contents)]}
    assert assemble_stream(replay_sse(original, piece_chars=piece)) == original

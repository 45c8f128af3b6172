"""The gateway's micro-batched conversation routing equals the library's history-aware routing."""

from __future__ import annotations

import asyncio

import pytest

from semantic_router import Route, RouteLayer
from semantic_router.server.decide.batching import MicroBatcher
from tests.hash_encoder import HashEncoder

ROUTES = [Route(name="code", utterances=["write a python function", "fix this bug in my code", "refactor the class"]),
          Route(name="math", utterances=["solve this equation", "integrate x squared", "prove the theorem"])]
CONVERSATIONS = [
    ["write a python function to sort a list", "and now make it faster"],
    ["solve this equation for x", "what about the next one", "and integrate it"],
    ["refactor the class", "prove the theorem", "fix this bug", "hello there"],
]


@pytest.mark.parametrize("weight,turns", [(0.5, 3), (0.0, 3), (0.9, 1)])
def test_batched_conversations_route_like_rl_with_messages(weight, turns):
    rl = RouteLayer(encoder=HashEncoder(), routes=ROUTES, history_weight=weight, history_turns=turns)
    batcher = MicroBatcher(rl, window=0.01)

    async def run():
        try:
            return await asyncio.gather(*(batcher.classify_conversation(c) for c in CONVERSATIONS))
        finally:
            await batcher.aclose()

    got = asyncio.run(run())
    for turns_, choice in zip(CONVERSATIONS, got):
        expected = rl(messages=[{"role": "user", "content": t} for t in turns_])
        assert (choice.name, round(choice.similarity_score or 0, 5)) == \
            (expected.name, round(expected.similarity_score or 0, 5))
    assert batcher.batches == 1 and batcher.items == len(CONVERSATIONS)  # one encoder call for all three

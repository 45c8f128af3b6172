"""Shared fixtures: the real bundled model, loaded once per test session."""

from __future__ import annotations

import os

import pytest

pytest_plugins = ["tests.redis_server"]  # redis_url / private_redis fixtures (a real redis-server)

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(scope="session")
def encoder():
    """The real bundled all-MiniLM-L6-v2 (HuggingFaceEncoder), shared by every test."""
    from semantic_router.encoders import HuggingFaceEncoder

    enc = HuggingFaceEncoder()
    enc.encode(["warm up"])
    return enc


@pytest.fixture()
def politics_chitchat():
    from semantic_router import Route

    politics = Route(
        name="politics",
        utterances=["isn't politics the best thing ever", "don't you just love the president"],
    )
    chitchat = Route(
        name="chitchat",
        utterances=["how's the weather today?", "lovely weather today"],
        score_threshold=0.4,
        metadata={"team": "bot"},
    )
    return [politics, chitchat]

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


@pytest.fixture(scope="session")
def onnx_cache(tmp_path_factory):
    """A SEMANTIC_ROUTER_CACHE with the bundled model's ONNX export, made once per session by two racing
    processes (tests.onnx_export); tests that run ONNX point SEMANTIC_ROUTER_CACHE at `.path`."""
    from tests.onnx_export import export_in_two_processes

    return export_in_two_processes(tmp_path_factory.mktemp("onnx_cache"))

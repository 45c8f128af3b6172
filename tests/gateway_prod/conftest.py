"""Fixtures of the production-gateway tests: chat bodies and answers, an async embed over the real MiniLM."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("fastapi")  # the [server] extra; the dev extra installs it

from semantic_router.server.demo import run_in_thread
from tests.server.conftest import (  # noqa: F401 - shared fixtures
    UPSTREAM_SECRET,
    counting_encoder,
    fleet,
    fresh,
    layer,
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every production-gateway test is slow (real replicas, Redis, a browser): left out by `-m "not slow"`."""
    here = Path(__file__).parent
    for item in items:
        if here in item.path.parents:
            item.add_marker(pytest.mark.slow)


def chat(text: str, system: str | None = None, **params: Any) -> dict[str, Any]:
    """A chat-completions body whose final turn is `text`."""
    messages = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": text}]
    return {"model": "auto", "messages": messages, **params}


def answer(content: str, model: str = "m") -> dict[str, Any]:
    """A non-streamed chat completion with one text choice."""
    return {"id": "chatcmpl-1", "object": "chat.completion", "created": 1700000000, "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}}


@pytest.fixture()
def embed(encoder):
    """Async text -> vectors on the session's real encoder, counting calls."""

    async def run(texts: list[str]) -> np.ndarray:
        run.calls += 1
        return np.asarray(await asyncio.to_thread(encoder.encode_queries, texts))

    run.calls = 0
    return run



@contextlib.contextmanager
def serving(app: Any) -> Iterator[str]:
    """Serve `app` with a real uvicorn on 127.0.0.1 (a free port) in a daemon thread; yields the base URL."""
    server = run_in_thread(app)
    try:
        yield server.url
    finally:
        server.stop(10)


@pytest.fixture(scope="session", autouse=True)
def upstream_key_env() -> Iterator[None]:
    """The stand-in `o-model` of the shared test config reads its upstream key from this variable."""
    mp = pytest.MonkeyPatch()
    mp.setenv("GW_TEST_UPSTREAM_KEY", UPSTREAM_SECRET)
    yield
    mp.undo()

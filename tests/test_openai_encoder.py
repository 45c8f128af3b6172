"""OpenAIEncoder with the real `openai` SDK over real HTTP against the emulator in tests/emulators."""

from __future__ import annotations

import asyncio
import os
import pickle
import subprocess
import sys
import time

import numpy as np
import pytest

from semantic_router import Route, RouteLayer
from semantic_router.config import ENCODERS, build
from semantic_router.encoders.openai import OpenAIEncoder
from semantic_router.errors import EncoderError
from tests.emulators.openai_embeddings import OpenAIEmulator

KEY = "sk-test-emulator"


@pytest.fixture(scope="module")
def emulator():
    emu = OpenAIEmulator(api_key=KEY, models={"text-embedding-3-small": 1536, "text-embedding-3-large": 3072,
                                              "text-embedding-ada-002": 1536, "nomic-embed-text": 768})
    server = emu.start()
    emu.url = server.url + "/v1"
    yield emu
    server.stop()


@pytest.fixture(autouse=True)
def fresh(emulator, monkeypatch):
    """Each test starts with an empty request log, no pending faults, no latency and no env key."""
    emulator.log.clear()
    emulator.faults.clear()
    emulator.latency = 0.0
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)


def make(emulator, **kw) -> OpenAIEncoder:
    options = {"api_key": KEY, "base_url": emulator.url, "timeout": 5.0, **kw}
    return OpenAIEncoder(**options)


def test_request_shape_and_vectors(emulator):
    enc = make(emulator)
    vectors = enc.encode(["will it rain tomorrow?", "what's the weather forecast", "reset my password"])
    assert vectors.shape == (3, 1536) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    sims = vectors @ vectors.T
    assert sims[0, 1] > 0.8 > 0.2 > sims[0, 2]  # same topic close, unrelated far
    (req,) = emulator.log.requests
    assert req["model"] == "text-embedding-3-small"
    assert req["input"] == ["will it rain tomorrow?", "what's the weather forecast", "reset my password"]
    assert req["dimensions"] is None  # not sent unless asked for
    assert req["key_ok"] and req["path"] == "/v1/embeddings"
    assert enc.dimensions == 1536 and enc.calls == 3


def test_queries_and_documents_are_the_same_request(emulator):
    enc = make(emulator)
    q = enc.encode_queries(["is it sunny"])
    d = enc.encode(["is it sunny"])
    np.testing.assert_allclose(q, d, atol=1e-6)  # OpenAI models are symmetric
    enc.encode_queries(["is it sunny"])  # served from the LRU cache
    assert len(emulator.log) == 2


def test_dimensions_are_sent_for_v3_models(emulator):
    enc = make(emulator, name="text-embedding-3-large", dimensions=256)
    assert enc.dimensions == 256
    assert enc.encode(["hello"]).shape == (1, 256)
    assert emulator.log.requests[-1]["dimensions"] == 256
    assert enc.score_threshold == pytest.approx(0.3)


def test_dimensions_rejected_for_fixed_size_models():
    with pytest.raises(EncoderError, match="ada-002.*1536"):
        OpenAIEncoder(name="text-embedding-ada-002", dimensions=256, api_key=KEY)
    with pytest.raises(EncoderError, match="at most 1536"):
        OpenAIEncoder(dimensions=4096, api_key=KEY)
    assert OpenAIEncoder(name="text-embedding-ada-002", api_key=KEY).score_threshold == pytest.approx(0.8)


def test_unknown_model_on_compatible_server_probes_dimensions(emulator):
    enc = make(emulator, name="nomic-embed-text")
    assert enc.dimensions == 768  # one probe request
    assert len(emulator.log) == 1
    assert enc.encode(["a", "b"]).shape == (2, 768)
    assert enc.score_threshold == 0.5  # no documented default for unknown models


def test_batching_splits_and_keeps_order(emulator):
    texts = [f"sentence number {i}" for i in range(7)]
    batched = make(emulator, batch_size=3).encode(texts)
    assert [r["batch_size"] for r in emulator.log.requests] == [3, 3, 1]
    assert [t for r in emulator.log.requests for t in r["input"]] == texts
    np.testing.assert_allclose(batched, make(emulator).encode(texts), atol=1e-6)
    with pytest.raises(ValueError, match="2048"):
        make(emulator, batch_size=2049)


def test_default_batch_stays_under_the_api_limit(emulator):
    texts = [f"t{i}" for i in range(2100)]
    assert make(emulator, batch_size=2048).encode(texts).shape == (2100, 1536)
    assert [r["batch_size"] for r in emulator.log.requests] == [2048, 52]


def test_retry_after_is_honoured(emulator):
    emulator.faults.fail(429, times=1, retry_after=1)
    start = time.monotonic()
    make(emulator).encode(["x"])
    assert time.monotonic() - start >= 0.95  # the SDK's own first wait is at most 0.5 s
    assert len(emulator.log) == 2


def test_bad_retry_options_are_refused():
    with pytest.raises(ValueError, match="max_retries must be an integer >= 0, got -1"):
        OpenAIEncoder(api_key=KEY, max_retries=-1)
    with pytest.raises(ValueError, match="timeout must be a positive number of seconds, got 0"):
        OpenAIEncoder(api_key=KEY, timeout=0)
    with pytest.raises(ValueError, match="concurrency must be an integer >= 1, got 0"):
        OpenAIEncoder(api_key=KEY, concurrency=0)
    with pytest.raises(TypeError, match="max_retry_time"):  # the SDK backs off: no own budget any more
        OpenAIEncoder(api_key=KEY, max_retry_time=5.0)


def test_timeout_is_retried(emulator):
    emulator.faults.stall(1.5, times=1)
    start = time.monotonic()
    assert make(emulator, timeout=0.3).encode(["slow"]).shape == (1, 1536)
    assert time.monotonic() - start < 1.4 and len(emulator.log) == 2


def test_timeouts_exhausted(emulator):
    emulator.faults.stall(1.0, times=5)
    with pytest.raises(EncoderError, match=r"after up to 1 retry: timed out \(no answer within 0.2s\)") as err:
        make(emulator, timeout=0.2, max_retries=1).encode(["slow"])
    assert (err.value.status, err.value.retryable) == (None, True)
    assert len(emulator.log) == 2


def test_missing_key_is_a_clear_error(monkeypatch):
    with pytest.raises(EncoderError, match="OPENAI_API_KEY"):
        OpenAIEncoder()
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-env")
    assert OpenAIEncoder()._api_key == "sk-from-env"


def test_base_url_needs_no_key(emulator):
    emulator.api_key = None  # a self-hosted server that takes no key
    try:
        enc = OpenAIEncoder(base_url=emulator.url)
        assert enc.encode(["hi"]).shape == (1, 1536)
        assert emulator.log.requests[-1]["authorization"] == "Bearer not-needed"
    finally:
        emulator.api_key = KEY


def test_bad_key_is_reported_without_the_key(emulator):
    with pytest.raises(EncoderError, match="rejected the API key") as err:
        make(emulator, api_key="sk-wrong-secret-123").encode(["hi"])
    assert "sk-wrong-secret-123" not in str(err.value)
    assert len(emulator.log) == 1  # 401 is not retried


def test_wrong_model_names_the_model(emulator):
    with pytest.raises(EncoderError, match="'text-embedding-4-tiny' was not found"):
        make(emulator, name="text-embedding-4-tiny", dimensions=64).encode(["hi"])
    assert len(emulator.log) == 1


async def test_async_path_bounded_concurrency(emulator):
    emulator.latency = 0.2
    enc = make(emulator, batch_size=1, concurrency=3)
    texts = [f"async text {i}" for i in range(9)]
    vectors = await enc.aencode(texts)
    assert len(emulator.log) == 9 and emulator.log.max_in_flight == 3
    emulator.latency = 0.0
    np.testing.assert_allclose(vectors, make(emulator).encode(texts), atol=1e-6)


async def test_async_retries_and_errors(emulator):
    emulator.faults.fail(429, times=1, retry_after_ms=10)
    enc = make(emulator)
    assert (await enc.aencode_queries(["weather?"])).shape == (1, 1536)
    assert len(emulator.log) == 2
    with pytest.raises(EncoderError, match="rejected the API key"):
        await make(emulator, api_key="sk-bad").aencode(["x"])


def test_async_client_per_event_loop(emulator):
    enc = make(emulator)
    first = asyncio.run(enc.aencode(["loop one"]))
    second = asyncio.run(enc.aencode(["loop one"]))  # a new loop must not reuse the old client
    np.testing.assert_allclose(first, second)


def test_spec_has_no_secrets_and_rebuilds(emulator, monkeypatch):
    enc = make(emulator, dimensions=512, api_key="sk-very-secret")
    spec = enc.spec()
    assert spec == {"type": "openai", "name": "text-embedding-3-small", "dimensions": 512,
                    "base_url": emulator.url}
    assert "sk-very-secret" not in repr(spec) + repr(enc)
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    rebuilt = build(spec, ENCODERS, "encoder")
    assert isinstance(rebuilt, OpenAIEncoder) and rebuilt.dimensions == 512
    assert pickle.loads(pickle.dumps(rebuilt)).encode(["x"]).shape == (1, 512)


def test_routing_over_emulated_embeddings(emulator):
    routes = [Route(name="weather", utterances=["how's the weather today?", "is it going to rain"]),
              Route(name="politics", utterances=["who will win the election", "the president said"])]
    layer = RouteLayer(encoder=make(emulator), routes=routes)
    assert layer("sunny forecast for tomorrow?").name == "weather"
    assert layer("government news").name == "politics"
    assert layer("recipe for pancakes").name is None


def test_import_does_not_pull_provider_sdks():
    code = ("import sys, semantic_router, semantic_router.encoders; "
            "print(sorted(m for m in ('openai', 'cohere', 'fastembed', 'onnxruntime') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": os.getcwd()})
    assert out.stdout.strip() == "[]"


async def test_close_and_aclose_release_the_clients(emulator):
    enc = make(emulator)
    enc.encode(["hello"])
    await enc.aencode(["hello"])
    sync_client, (async_client, _) = enc._clients.sync.current, enc._clients.per_loop.current()
    assert not sync_client.is_closed() and not async_client.is_closed()
    await enc.aclose()
    assert sync_client.is_closed() and async_client.is_closed() and not len(enc._clients.per_loop)
    assert enc.encode(["again"]).shape == (1, 1536)  # reconnects on the next call
    enc.close()


def test_errors_carry_status_and_retryable(emulator):
    emulator.faults.fail(503, times=5, retry_after_ms=1)
    with pytest.raises(EncoderError) as gave_up:
        make(emulator, max_retries=1).encode(["x"])
    assert (gave_up.value.status, gave_up.value.retryable) == (503, True)
    emulator.faults.clear()
    with pytest.raises(EncoderError) as refused:
        make(emulator, api_key="sk-wrong").encode(["x"])
    assert (refused.value.status, refused.value.retryable) == (401, False)

"""CohereEncoder with the real `cohere` SDK over real HTTP against the emulator in tests/emulators."""

from __future__ import annotations

import time

import cohere
import numpy as np
import pytest

from semantic_router import Route, RouteLayer
from semantic_router.config import ENCODERS, build
from semantic_router.encoders.cohere import CohereEncoder
from semantic_router.errors import EncoderError
from tests.emulators.cohere_embed import CohereEmulator

KEY = "co-test-emulator"


@pytest.fixture(scope="module")
def emulator():
    emu = CohereEmulator(api_key=KEY)
    server = emu.start()
    emu.url = server.url
    yield emu
    server.stop()


@pytest.fixture(autouse=True)
def fresh(emulator, monkeypatch):
    emulator.log.clear()
    emulator.faults.clear()
    emulator.latency = 0.0
    for var in ("COHERE_API_KEY", "CO_API_KEY", "CO_API_URL"):
        monkeypatch.delenv(var, raising=False)


def make(emulator, **kw) -> CohereEncoder:
    options = {"api_key": KEY, "base_url": emulator.url, "timeout": 5.0, **kw}
    return CohereEncoder(**options)


def test_request_shape_and_input_types(emulator):
    enc = make(emulator)
    docs = enc.encode(["is it going to rain", "lovely sunny weather"])
    query = enc.encode_queries(["what's the weather forecast"])
    assert docs.shape == (2, 1024) and query.shape == (1, 1024)
    doc_req, query_req = emulator.log.requests
    assert doc_req["path"] == "/v2/embed" and doc_req["model"] == "embed-english-v3.0"
    assert doc_req["input_type"] == "search_document" and query_req["input_type"] == "search_query"
    assert doc_req["input"] == ["is it going to rain", "lovely sunny weather"]
    assert doc_req["embedding_types"] == ["float"] and doc_req["dimensions"] is None and doc_req["key_ok"]
    assert float((query @ docs.T).min()) > 0.8  # same topic, across input types
    assert enc.score_threshold == pytest.approx(0.3)


def test_asymmetric_encoding(emulator):
    enc = make(emulator)
    as_query = enc.encode(["reset my password"], input_type="query")
    as_doc = enc.encode(["reset my password"], input_type="document")
    assert float((as_query @ as_doc.T)[0, 0]) < 0.999  # the model sees the input type
    np.testing.assert_allclose(enc.encode_queries(["reset my password"]), as_query, atol=1e-6)


def test_output_dimension_for_v4(emulator):
    enc = make(emulator, name="embed-v4.0", dimensions=512)
    assert enc.encode(["hello"]).shape == (1, 512) and enc.dimensions == 512
    assert emulator.log.requests[-1]["dimensions"] == 512
    with pytest.raises(EncoderError, match="1024-dimensional"):
        make(emulator, dimensions=512)  # v3 models have a fixed size


def test_batches_of_96(emulator):
    texts = [f"text {i}" for i in range(200)]
    vectors = make(emulator).encode(texts)
    assert vectors.shape == (200, 1024)
    assert [r["batch_size"] for r in emulator.log.requests] == [96, 96, 8]
    assert [t for r in emulator.log.requests for t in r["input"]] == texts
    with pytest.raises(ValueError, match="96"):
        make(emulator, batch_size=97)


def test_a_rejected_request_is_not_retried(emulator):
    with pytest.raises(EncoderError, match=r"rejected the embeddings request .*\(HTTP 400\).*output_dimension") as err:
        make(emulator, name="embed-v4.0", dimensions=100).encode(["hello"])
    assert (err.value.status, err.value.retryable) == (400, False)
    assert len(emulator.log) == 1


def test_timeouts_the_sdk_leaves_alone_are_retried_here(emulator):
    emulator.faults.stall(1.5, times=1)
    start = time.monotonic()
    assert make(emulator, timeout=0.3).encode(["slow"]).shape == (1, 1024)
    assert time.monotonic() - start < 1.4 and len(emulator.log) == 2
    emulator.faults.stall(1.0, times=5)
    with pytest.raises(EncoderError, match=r"after up to 1 retry: timed out") as err:
        make(emulator, timeout=0.2, max_retries=1).encode(["slower"])
    assert (err.value.status, err.value.retryable) == (None, True)


def test_a_timeout_after_sdk_retries_is_retried_with_a_fresh_sdk_budget(emulator):
    """A 503 (the SDK retries it) then a stall (the SDK gives up at once; tenacity tries again)."""
    emulator.faults.fail(503, times=1, retry_after_ms=1)
    emulator.faults.stall(1.0, times=1)
    assert make(emulator, timeout=0.3, max_retries=1).encode(["mixed"]).shape == (1, 1024)
    assert len(emulator.log) == 3


def test_missing_key(monkeypatch):
    with pytest.raises(EncoderError, match="COHERE_API_KEY or CO_API_KEY"):
        CohereEncoder()
    monkeypatch.setenv("CO_API_KEY", "from-co-env")
    assert CohereEncoder()._api_key == "from-co-env"
    monkeypatch.setenv("COHERE_API_KEY", "from-cohere-env")
    assert CohereEncoder()._api_key == "from-cohere-env"


def test_env_key_is_used(emulator, monkeypatch):
    monkeypatch.setenv("COHERE_API_KEY", KEY)
    assert CohereEncoder(base_url=emulator.url).encode(["hi"]).shape == (1, 1024)
    assert emulator.log.requests[-1]["key_ok"]


def test_bad_key(emulator):
    with pytest.raises(EncoderError, match=r"rejected the API key \(HTTP 401\)") as err:
        make(emulator, api_key="co-secret-but-wrong").encode(["hi"])
    assert "co-secret-but-wrong" not in str(err.value)
    assert len(emulator.log) == 1


def test_wrong_model(emulator):
    with pytest.raises(EncoderError, match="'embed-klingon-v9' was not found"):
        make(emulator, name="embed-klingon-v9", dimensions=1024).encode(["hi"])


async def test_async_bounded_concurrency(emulator):
    emulator.latency = 0.2
    enc = make(emulator, batch_size=10, concurrency=2)
    texts = [f"doc {i}" for i in range(60)]
    vectors = await enc.aencode(texts)
    assert [r["batch_size"] for r in emulator.log.requests] == [10] * 6
    assert emulator.log.max_in_flight == 2
    queries = await enc.aencode_queries(["doc 1"])
    assert emulator.log.requests[-1]["input_type"] == "search_query"
    emulator.latency = 0.0
    np.testing.assert_allclose(vectors, make(emulator).encode(texts), atol=1e-6)
    assert queries.shape == (1, 1024)


async def test_async_exhausted_retries(emulator):
    emulator.faults.fail(500, times=10, retry_after_ms=1)
    with pytest.raises(EncoderError, match=r"after up to 1 retry: HTTP 500") as err:
        await make(emulator, max_retries=1).aencode(["x"])
    assert (err.value.status, err.value.retryable) == (500, True)
    assert len(emulator.log) == 2


def test_spec_without_secrets(emulator, monkeypatch):
    enc = make(emulator, api_key="co-top-secret")
    assert enc.spec() == {"type": "cohere", "name": "embed-english-v3.0", "dimensions": None,
                          "base_url": emulator.url}
    assert "co-top-secret" not in repr(enc.spec()) + repr(enc)
    monkeypatch.setenv("CO_API_KEY", KEY)
    assert build(enc.spec(), ENCODERS, "encoder").encode(["x"]).shape == (1, 1024)


def test_routing_with_asymmetric_embeddings(emulator):
    routes = [Route(name="billing", utterances=["I want a refund", "my invoice is wrong"]),
              Route(name="weather", utterances=["will it rain", "weather today"])]
    layer = RouteLayer(encoder=make(emulator), routes=routes)
    assert layer("why was I charged twice on my invoice").name == "billing"
    assert layer("sunny tomorrow?").name == "weather"
    assert layer("tell me a joke").name is None
    inputs = {r["input_type"] for r in emulator.log.requests}
    assert inputs == {"search_document", "search_query"}


def test_emulator_serves_the_v1_client(emulator):
    """The older v1 client (`cohere.Client`) reaches /v1/embed on the same emulator."""
    client = cohere.Client(api_key=KEY, base_url=emulator.url, max_retries=0)
    response = client.embed(texts=["hello"], model="embed-english-v3.0", input_type="search_query")
    assert len(response.embeddings[0]) == 1024
    assert emulator.log.requests[-1]["path"] == "/v1/embed"


async def test_close_and_aclose_release_the_http_clients(emulator):
    enc = make(emulator)
    enc.encode(["hello"])
    await enc.aencode(["hello"])
    https = list(enc._http.values())
    assert len(https) == 2 and not any(h.is_closed for h in https)
    await enc.aclose()
    assert all(h.is_closed for h in https) and not enc._http and not len(enc._clients.per_loop)
    assert enc.encode(["again"]).shape == (1, 1024)  # reconnects on the next call
    enc.close()

"""The one retry policy, the same for every remote client: OpenAI and Cohere embeddings and the
OpenAI chat LLM, each with its real SDK over real HTTP against its emulator (tests/emulators).

The SDK client retries transient faults (the emulator sees every try), a rejected request is not
retried, used-up retries raise a retryable error with the status, and the API key never shows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from semantic_router.dynamic.schemas import get_schemas
from semantic_router.encoders.cohere import CohereEncoder
from semantic_router.encoders.openai import OpenAIEncoder
from semantic_router.errors import EncoderError, SemanticRouterError
from semantic_router.llms import LLMError, OpenAILLM
from tests.emulators.cohere_embed import CohereEmulator
from tests.emulators.openai_chat import ChatEmulator
from tests.emulators.openai_embeddings import OpenAIEmulator


def get_weather(location: str) -> str:
    """Weather forecast for a place."""
    return location


@dataclass(frozen=True)
class Client:
    """How to build one kind of remote client against its emulator and make one call with it."""

    emulator: Callable[[], Any]
    url_suffix: str
    make: Callable[..., Any]
    call: Callable[[Any], Any]
    error: type[SemanticRouterError]


CLIENTS = {
    "openai-embeddings": Client(lambda: OpenAIEmulator(api_key=None), "/v1", OpenAIEncoder,
                                lambda c: c.encode(["hello"]), EncoderError),
    "cohere-embeddings": Client(lambda: CohereEmulator(api_key=None), "", CohereEncoder,
                                lambda c: c.encode(["hello"]), EncoderError),
    "openai-chat": Client(lambda: ChatEmulator(api_key=None), "/v1", OpenAILLM,
                          lambda c: c.extract_function_call("weather in Lima", get_schemas(get_weather)), LLMError),
}


@pytest.fixture(scope="module", params=sorted(CLIENTS))
def remote(request) -> Iterator[tuple[Client, Any, str]]:
    """(client kind, its emulator accepting any key, base_url), one emulator per kind for the module."""
    kind = CLIENTS[request.param]
    emulator = kind.emulator()
    server = emulator.start()
    yield kind, emulator, server.url + kind.url_suffix
    server.stop()


@pytest.fixture()
def run(remote) -> Callable[..., Any]:
    """Make one call with a fresh client (options as keyword arguments); the log starts empty."""
    kind, emulator, url = remote
    emulator.log.clear()
    emulator.faults.clear()

    def call(**options: Any) -> Any:
        return kind.call(kind.make(**{"api_key": "test-key", "base_url": url, "timeout": 5.0, **options}))

    return call


@pytest.mark.parametrize("status", [429, 503])
def test_the_sdk_retries_a_transient_fault(remote, run, status):
    _, emulator, _ = remote
    emulator.faults.fail(status, times=2, retry_after_ms=10)  # both SDKs honour the server's delay
    assert len(run()) == 1  # one vector / one function call
    assert len(emulator.log) == 3  # two failures then success: the SDK client retried


def test_a_rejected_request_is_not_retried(remote, run):
    kind, emulator, _ = remote
    emulator.faults.fail(400, times=5, message="field 'x' is invalid")
    with pytest.raises(kind.error, match=r"rejected the .* request .*\(HTTP 400\).*field 'x' is invalid") as err:
        run()
    assert (err.value.status, err.value.retryable) == (400, False)
    assert len(emulator.log) == 1


def test_used_up_retries_raise_a_retryable_error_with_the_status(remote, run):
    kind, emulator, _ = remote
    emulator.faults.fail(502, times=10, retry_after_ms=1)
    with pytest.raises(kind.error, match=r"failed after up to 2 retries: HTTP 502") as err:
        run(max_retries=2)
    assert (err.value.status, err.value.retryable) == (502, True)
    assert len(emulator.log) == 3


def test_max_retries_zero_is_one_try(remote, run):
    kind, emulator, _ = remote
    emulator.faults.fail(429, times=1)
    with pytest.raises(kind.error, match="HTTP 429") as err:
        run(max_retries=0)
    assert err.value.retryable and len(emulator.log) == 1


def test_the_api_key_never_appears_in_errors(remote, run):
    kind, emulator, _ = remote
    secret = "key-echoed-by-the-server-0123456789"
    emulator.faults.fail(503, times=2, retry_after_ms=1, message=f"overloaded for key {secret}")
    with pytest.raises(kind.error) as err:
        run(api_key=secret, max_retries=1)
    assert emulator.log.requests[0]["authorization"] == f"Bearer {secret}"  # the key was sent...
    assert secret not in str(err.value) and "overloaded for key ***" in str(err.value)  # ...never shown

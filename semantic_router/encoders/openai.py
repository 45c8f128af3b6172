"""OpenAI embeddings (and any OpenAI-compatible server via `base_url`: vLLM, Ollama, LiteLLM, TEI).

Thin: batching and error mapping live in `remote.py`; this file only knows the SDK, which retries
every transient fault itself (408/409/429/5xx, timeouts, connection errors; it honours Retry-After).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from semantic_router.extras import extra
from semantic_router.encoders.base import InputType
from semantic_router.encoders.remote import RemoteEncoder
from semantic_router.sdk.failures import Failure, openai_failure

with extra("openai", "OpenAIEncoder"):
    import openai

DEFAULT_MODEL = "text-embedding-3-small"
_KNOWN_DIMENSIONS = {"text-embedding-3-small": 1536, "text-embedding-3-large": 3072, "text-embedding-ada-002": 1536}
# Default similarity thresholds. text-embedding-3-* put unrelated texts much closer to 0 than
# MiniLM does, so their useful thresholds are far lower; ada-002 squeezes everything into ~0.7-1.
# These are starting points to be fitted on your own routes (docs/thresholds.md), not measured.
DEFAULT_THRESHOLDS = {"text-embedding-3-small": 0.3, "text-embedding-3-large": 0.3, "text-embedding-ada-002": 0.8}
MAX_INPUTS = 2048  # inputs per request accepted by the API


class OpenAIEncoder(RemoteEncoder):
    """Dense encoder on the `openai` SDK; same vectors for queries and utterances (symmetric model)."""

    type = "openai"
    provider = "OpenAI"
    key_env = ("OPENAI_API_KEY",)
    max_batch = MAX_INPUTS
    known_dimensions = _KNOWN_DIMENSIONS
    default_thresholds = DEFAULT_THRESHOLDS

    def __init__(
        self,
        name: str = DEFAULT_MODEL,
        dimensions: int | None = None,
        api_key: str | None = None,
        base_url: str | None = None,
        timeout: float = 30.0,
        max_retries: int = 5,
        batch_size: int = 1024,
        score_threshold: float | None = None,
        *,
        openai_api_key: str | None = None,
        openai_base_url: str | None = None,
        **options: Any,
    ) -> None:
        """`dimensions` shortens text-embedding-3 vectors server-side; `max_retries` goes to the SDK client,
        `timeout` bounds each try; `options` (concurrency, cache_size) go to RemoteEncoder.
        `openai_api_key` / `openai_base_url` are aurelio's names for `api_key` / `base_url`."""
        api_key, base_url = api_key or openai_api_key, base_url or openai_base_url
        super().__init__(name, dimensions=dimensions, api_key=api_key, base_url=base_url, timeout=timeout,
                         max_retries=max_retries, batch_size=batch_size, score_threshold=score_threshold, **options)

    @classmethod
    def supports_dimensions(cls, name: str) -> bool:
        return name.startswith("text-embedding-3")

    def _client_options(self) -> dict[str, Any]:
        return {"api_key": self._api_key, "base_url": self.base_url, "timeout": self.timeout,
                "max_retries": self.max_retries}

    def _make_client(self) -> openai.OpenAI:
        return openai.OpenAI(**self._client_options())

    def _make_async_client(self) -> openai.AsyncOpenAI:
        return openai.AsyncOpenAI(**self._client_options())

    def _params(self, texts: list[str]) -> dict[str, Any]:
        params: dict[str, Any] = {"model": self.name, "input": texts}
        if self.dimensions_param is not None:
            params["dimensions"] = self.dimensions_param
        return params

    def _request(self, client: Any, texts: list[str], input_type: InputType) -> Sequence[Sequence[float]]:
        response = client.embeddings.create(**self._params(texts))
        return [item.embedding for item in sorted(response.data, key=lambda item: item.index)]

    async def _arequest(self, client: Any, texts: list[str], input_type: InputType) -> Sequence[Sequence[float]]:
        response = await client.embeddings.create(**self._params(texts))
        return [item.embedding for item in sorted(response.data, key=lambda item: item.index)]

    def _failure(self, exc: BaseException) -> Failure | None:
        return openai_failure(exc, self.timeout)

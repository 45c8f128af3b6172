"""Cohere embeddings on the `cohere` SDK (v2 embed endpoint), asymmetric by input type.

Queries are sent as `search_query` and utterances as `search_document`, the pairing Cohere's v3+
models are trained for. Batching and error mapping live in `remote.py`. The SDK retries 429/5xx and
connection errors itself (`max_retries` per request, honouring Retry-After); it leaves timeouts
alone, so `_failure` marks them for RemoteEncoder's tenacity retries.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from semantic_router.extras import extra
from semantic_router.encoders.base import InputType
from semantic_router.encoders.remote import RemoteEncoder
from semantic_router.sdk.failures import Failure

with extra("cohere", "CohereEncoder"):
    import cohere
    import httpx
    from cohere.core.api_error import ApiError

DEFAULT_MODEL = "embed-english-v3.0"
_KNOWN_DIMENSIONS = {
    "embed-english-v3.0": 1024,
    "embed-multilingual-v3.0": 1024,
    "embed-english-light-v3.0": 384,
    "embed-multilingual-light-v3.0": 384,
    "embed-v4.0": 1536,
}
# Default similarity thresholds: starting points to be fitted on your own routes
# (docs/thresholds.md); Cohere v3/v4 similarities of related short texts sit around 0.3-0.6.
DEFAULT_THRESHOLDS = {name: 0.3 for name in _KNOWN_DIMENSIONS}
MAX_TEXTS = 96  # texts per request accepted by the API
INPUT_TYPES: dict[str, str] = {"query": "search_query", "document": "search_document"}


class CohereEncoder(RemoteEncoder):
    """Dense encoder on Cohere's embed API; `dimensions` picks embed-v4's output_dimension."""

    type = "cohere"
    provider = "Cohere"
    key_env = ("COHERE_API_KEY", "CO_API_KEY")
    max_batch = MAX_TEXTS
    known_dimensions = _KNOWN_DIMENSIONS
    default_thresholds = DEFAULT_THRESHOLDS

    def __init__(
        self,
        name: str = DEFAULT_MODEL,
        api_key: str | None = None,
        base_url: str | None = None,
        dimensions: int | None = None,
        timeout: float = 30.0,
        max_retries: int = 5,
        batch_size: int = MAX_TEXTS,
        score_threshold: float | None = None,
        *,
        cohere_api_key: str | None = None,
        **options: Any,
    ) -> None:
        """`max_retries` goes to the SDK (per request), `timeout` bounds each try; `options`
        (concurrency, cache_size) go to RemoteEncoder. `cohere_api_key` is aurelio's name for `api_key`."""
        api_key = api_key or cohere_api_key
        super().__init__(name, dimensions=dimensions, api_key=api_key, base_url=base_url, timeout=timeout,
                         max_retries=max_retries, batch_size=batch_size, score_threshold=score_threshold, **options)

    @classmethod
    def supports_dimensions(cls, name: str) -> bool:
        return name.startswith("embed-v4")

    def _client_options(self) -> dict[str, Any]:
        return {"api_key": self._api_key, "base_url": self.base_url, "timeout": self.timeout,
                "client_name": "semantic-router"}

    # the SDK clients have no close(): they get HTTP clients we own, closed with them
    def _make_client(self) -> cohere.ClientV2:
        http = httpx.Client(timeout=self.timeout, follow_redirects=True)
        client = cohere.ClientV2(**self._client_options(), httpx_client=http)
        self._http[id(client)] = http
        return client

    def _make_async_client(self) -> cohere.AsyncClientV2:
        http = httpx.AsyncClient(timeout=self.timeout, follow_redirects=True)
        client = cohere.AsyncClientV2(**self._client_options(), httpx_client=http)
        self._http[id(client)] = http
        return client

    def _close_client(self, client: Any) -> None:
        http = self._http.pop(id(client), None)
        if http is not None:
            http.close()

    async def _aclose_client(self, client: Any) -> None:
        http = self._http.pop(id(client), None)
        if http is not None:
            await http.aclose()

    def _init_clients(self) -> None:
        super()._init_clients()
        self._http: dict[int, Any] = {}  # id(SDK client) -> its httpx client

    def _params(self, texts: list[str], input_type: InputType) -> dict[str, Any]:
        # max_retries per request (RequestOptions): older SDKs have no client-level setting
        params: dict[str, Any] = {"model": self.name, "texts": texts, "input_type": INPUT_TYPES[input_type],
                                  "embedding_types": ["float"], "request_options": {"max_retries": self.max_retries}}
        if self.dimensions_param is not None:
            params["output_dimension"] = self.dimensions_param
        return params

    @staticmethod
    def _floats(response: Any) -> Sequence[Sequence[float]]:
        return response.embeddings.float_ or []

    def _request(self, client: Any, texts: list[str], input_type: InputType) -> Sequence[Sequence[float]]:
        return self._floats(client.embed(**self._params(texts, input_type)))

    async def _arequest(self, client: Any, texts: list[str], input_type: InputType) -> Sequence[Sequence[float]]:
        return self._floats(await client.embed(**self._params(texts, input_type)))

    def _failure(self, exc: BaseException) -> Failure | None:
        if isinstance(exc, ApiError) and exc.status_code is not None:
            body = exc.body
            message = body.get("message") if isinstance(body, dict) else body
            return Failure(exc.status_code, str(message or type(exc).__name__))
        if isinstance(exc, httpx.TimeoutException):  # the SDK does not retry these
            return Failure(None, f"timed out (no answer within {self.timeout:g}s)", sdk_retries=False)
        if isinstance(exc, httpx.TransportError):  # the SDK retries failed connects only
            return Failure(None, f"connection failed: {exc}", sdk_retries=isinstance(exc, httpx.ConnectError))
        return None

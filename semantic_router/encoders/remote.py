"""Shared machinery of encoders that call a remote embeddings API (OpenAI, Cohere, compatible servers).

Provider modules only say how to build the SDK client, send one batch and read an SDK exception;
this module does the rest once: API key lookup, batching under the provider's limit, bounded
concurrency across batches on the async path, and failures as `EncoderError`s with `status` and
`retryable` that name the provider and model, never the key. Retries follow the one policy of
`semantic_router.sdk.failures`: the SDK retries transient faults (its client gets `max_retries`);
tenacity retries only those it leaves alone (Cohere's SDK: timeouts).
"""

from __future__ import annotations

import asyncio
import os
import threading
from abc import abstractmethod
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, ClassVar

import numpy as np
from tenacity import AsyncRetrying, Retrying

from semantic_router.checks import check_int
from semantic_router.encoders.base import DenseEncoder, InputType
from semantic_router.errors import EncoderError
from semantic_router.sdk.clients import DUMMY_KEY, SDKClients
from semantic_router.sdk.failures import Failure, RemoteCall, check_call_options


class RemoteEncoder(DenseEncoder):
    """A dense encoder backed by an HTTP embeddings API; subclasses plug in one provider's SDK."""

    #: provider name used in messages ("OpenAI")
    provider: ClassVar[str]
    #: environment variables holding the API key, first found wins
    key_env: ClassVar[tuple[str, ...]]
    #: most texts the provider accepts in one request
    max_batch: ClassVar[int]
    #: vector length per known model
    known_dimensions: ClassVar[dict[str, int]] = {}
    #: default similarity threshold per known model
    default_thresholds: ClassVar[dict[str, float]] = {}

    def __init__(
        self,
        name: str,
        *,
        dimensions: int | None = None,
        api_key: str | None = None,
        base_url: str | None = None,
        timeout: float = 30.0,
        max_retries: int = 5,
        batch_size: int | None = None,
        score_threshold: float | None = None,
        concurrency: int = 4,
        cache_size: int = 4096,
    ) -> None:
        """`timeout` bounds each try (seconds); `max_retries` retries of a transient fault (429, 5xx,
        no answer), done by the SDK with its backoff (see `semantic_router.sdk.failures`);
        `concurrency` caps batches in flight on the async path."""
        super().__init__(cache_size=cache_size)
        batch_size = self.max_batch if batch_size is None else batch_size
        if not 1 <= batch_size <= self.max_batch:
            raise ValueError(f"batch_size must be between 1 and {self.max_batch} for {self.provider}, got {batch_size}")
        check_call_options(timeout, max_retries)
        check_int(concurrency, "concurrency", 1)
        self.name = name
        self.base_url = base_url
        self.timeout = float(timeout)
        self.max_retries = max_retries
        self.batch_size = batch_size
        self.concurrency = concurrency
        self.requested_dimensions = dimensions
        self._dims = self._check_dimensions(dimensions)
        self._api_key = self._resolve_key(api_key)
        if score_threshold is None:
            score_threshold = self.default_thresholds.get(name, DenseEncoder.score_threshold)
        self.score_threshold = score_threshold
        self._init_clients()

    # -- provider hooks ---------------------------------------------------------------------
    @classmethod
    def supports_dimensions(cls, name: str) -> bool:
        """Whether the API can shorten this model's vectors (a `dimensions`-like request field)."""
        return False

    @abstractmethod
    def _make_client(self) -> Any:
        """The provider's sync SDK client, retrying `self.max_retries` times, each try bounded by `self.timeout`."""

    @abstractmethod
    def _make_async_client(self) -> Any:
        """The provider's async SDK client, configured like `_make_client`."""

    def _close_client(self, client: Any) -> None:
        """Release a sync client made by `_make_client` (SDK clients have `close()`)."""
        client.close()

    async def _aclose_client(self, client: Any) -> None:
        """Release an async client made by `_make_async_client`."""
        await client.close()

    @abstractmethod
    def _request(self, client: Any, texts: list[str], input_type: InputType) -> Sequence[Sequence[float]]:
        """Send one batch (at most `max_batch` texts); return one vector per text, in order."""

    @abstractmethod
    async def _arequest(self, client: Any, texts: list[str], input_type: InputType) -> Sequence[Sequence[float]]:
        """Async `_request`."""

    @abstractmethod
    def _failure(self, exc: BaseException) -> Failure | None:
        """Read an SDK/transport exception (and whether the SDK retries its kind); None when it is
        not an API or network failure."""

    # -- setup ------------------------------------------------------------------------------
    def _resolve_key(self, api_key: str | None) -> str:
        key = api_key or next((os.environ[v] for v in self.key_env if os.environ.get(v)), None)
        if key:
            return key
        if self.base_url:
            return DUMMY_KEY  # a self-hosted OpenAI/Cohere-compatible server usually needs none
        raise EncoderError(
            f"{type(self).__name__} needs an API key for {self.provider}: pass api_key=... or set "
            f"{' or '.join(self.key_env)}"
        )

    def _check_dimensions(self, dimensions: int | None) -> int | None:
        native = self.known_dimensions.get(self.name)
        if dimensions is None:
            return native
        dimensions = check_int(dimensions, "dimensions", 1)
        if native is not None and dimensions != native and not self.supports_dimensions(self.name):
            raise EncoderError(f"{self.provider} model {self.name!r} returns {native}-dimensional vectors; "
                               f"it cannot return {dimensions}")
        if native is not None and dimensions > native:
            raise EncoderError(f"{self.provider} model {self.name!r} has at most {native} dimensions, "
                               f"asked for {dimensions}")
        return dimensions

    @property
    def dimensions_param(self) -> int | None:
        """The vector length to ask the API for, or None to leave the model's default."""
        if self.requested_dimensions is not None and self.supports_dimensions(self.name):
            return self.requested_dimensions
        return None

    def _init_clients(self) -> None:
        # per event loop: the async client and the semaphore bounding its batches in flight
        self._clients: SDKClients[Any, tuple[Any, asyncio.Semaphore]] = SDKClients(
            self._make_client, self._close_client,
            lambda: (self._make_async_client(), asyncio.Semaphore(self.concurrency)),
            lambda state: self._aclose_client(state[0]))

    def close(self) -> None:
        """Close the SDK clients this encoder opened (see `SDKClients.close`); a later call reconnects."""
        self._clients.close()

    async def aclose(self) -> None:
        """Close the running event loop's async client, then everything `close` closes."""
        await self._clients.aclose()

    # -- encoding ---------------------------------------------------------------------------
    @property
    def dimensions(self) -> int:
        if self._dims is None:  # a model we do not know (e.g. on a self-hosted server): ask once
            self._dims = len(self._call(["dimension probe"], "document")[0])
        return self._dims

    def _batches(self, texts: list[str]) -> list[list[str]]:
        return [texts[i : i + self.batch_size] for i in range(0, len(texts), self.batch_size)]

    def _encode(self, texts: list[str], input_type: InputType) -> np.ndarray:
        rows: list[Sequence[float]] = []
        for batch in self._batches(texts):
            rows.extend(self._call(batch, input_type))
        return self._matrix(rows)

    async def _aencode(self, texts: list[str], input_type: InputType) -> np.ndarray:
        client, semaphore = self._clients.per_loop.get()

        async def one(batch: list[str]) -> Sequence[Sequence[float]]:
            async with semaphore:
                return await self._acall(client, batch, input_type)

        tasks = [asyncio.ensure_future(one(b)) for b in self._batches(texts)]
        try:
            parts = await asyncio.gather(*tasks)
        except BaseException:
            for task in tasks:
                task.cancel()
            raise
        return self._matrix([row for part in parts for row in part])

    def _call(self, batch: list[str], input_type: InputType) -> Sequence[Sequence[float]]:
        call = self._remote_call()
        with self._errors(call):
            rows = call.retrying(Retrying)(self._request, self._clients.sync.get(), batch, input_type)
        return self._checked(rows, batch)

    async def _acall(self, client: Any, batch: list[str], input_type: InputType) -> Sequence[Sequence[float]]:
        call = self._remote_call()
        with self._errors(call):
            rows = await call.retrying(AsyncRetrying)(self._arequest, client, batch, input_type)
        return self._checked(rows, batch)

    def _matrix(self, rows: list[Sequence[float]]) -> np.ndarray:
        matrix = np.asarray(rows, dtype=np.float32)
        if self._dims is None and matrix.ndim == 2:
            self._dims = matrix.shape[1]
        return matrix

    def _checked(self, rows: Sequence[Sequence[float]], batch: list[str]) -> Sequence[Sequence[float]]:
        if len(rows) != len(batch):
            raise EncoderError(f"{self.provider} returned {len(rows)} vectors for {len(batch)} texts "
                               f"(model {self.name!r})")
        return rows

    # -- retries and errors -----------------------------------------------------------------
    def _remote_call(self) -> RemoteCall:
        return RemoteCall(provider=self.provider, what="embeddings request", model=self.name,
                          where=self.base_url or f"the {self.provider} API", key_env=self.key_env,
                          max_retries=self.max_retries, read=self._failure, hint="is the model name right?",
                          secret=self._api_key)

    @staticmethod
    @contextmanager
    def _errors(call: RemoteCall) -> Iterator[None]:
        """Turn any failure of the block but our own into an `EncoderError` that says what failed."""
        try:
            yield
        except EncoderError:
            raise
        except Exception as exc:
            raise call.error(exc, EncoderError) from exc

    # -- config -----------------------------------------------------------------------------
    def spec(self) -> dict[str, Any]:
        """Type, model, dimensions and base_url; never the API key."""
        return {"type": self.type, "name": self.name, "dimensions": self.requested_dimensions,
                "base_url": self.base_url}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, base_url={self.base_url!r})"

    def __getstate__(self) -> dict[str, Any]:
        state = {k: v for k, v in self.__dict__.items() if k not in ("_clients", "_http")}
        state.pop("_cache_lock", None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._cache_lock = threading.Lock()
        self._init_clients()

"""Shared machinery of encoders that call a remote embeddings API (OpenAI, Cohere, compatible servers).

Provider modules only say how to build the SDK client, send one batch and read an SDK exception;
this module does the rest once: API key lookup, batching under the provider's limit, retries of
429/5xx/timeouts with jittered exponential backoff (bounded attempts and total time), mapping
failures to clear `EncoderError`s, and bounded concurrency across batches on the async path.
The SDKs' own retries are switched off by the providers, so the retries here are the only ones.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import threading
import time
import weakref
from abc import abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import tenacity
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    RetryError,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
)

from semantic_router.encoders.base import DenseEncoder, InputType
from semantic_router.errors import EncoderError

logger = logging.getLogger(__name__)

# tenacity >= 8.3 can stop *before* a sleep that would overrun the time budget
stop_before_delay = getattr(tenacity, "stop_before_delay", tenacity.stop_after_delay)

RETRY_STATUSES = frozenset({408, 409, 429})  # plus every 5xx
AUTH_STATUSES = frozenset({401, 403, 498})  # 498: Cohere's "invalid token"
REQUEST_STATUSES = frozenset({400, 404, 422})
DUMMY_KEY = "not-needed"  # sent to self-hosted servers that take no key; SDKs insist on one


@dataclass(frozen=True)
class Failure:
    """What a provider exception says: HTTP status (None: no answer, e.g. a timeout) and message."""

    status: int | None
    message: str
    retry_after: float | None = None

    @property
    def transient(self) -> bool:
        return self.status is None or self.status in RETRY_STATUSES or self.status >= 500


def parse_retry_after(headers: Any) -> float | None:
    """Seconds from a `Retry-After` header (the HTTP-date form is ignored)."""
    try:
        value = headers.get("retry-after") if headers is not None else None
        return max(float(value), 0.0) if value is not None else None
    except (TypeError, ValueError, AttributeError):
        return None


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
        max_retry_time: float = 60.0,
        backoff: float = 0.5,
        max_backoff: float = 20.0,
        cache_size: int = 4096,
    ) -> None:
        super().__init__(cache_size=cache_size)
        batch_size = self.max_batch if batch_size is None else batch_size
        if not 1 <= batch_size <= self.max_batch:
            raise ValueError(f"batch_size must be between 1 and {self.max_batch} for {self.provider}, got {batch_size}")
        if timeout <= 0 or max_retries < 0 or concurrency < 1 or max_retry_time <= 0 or backoff < 0:
            raise ValueError("timeout, max_retry_time and concurrency must be positive; max_retries, backoff >= 0")
        self.name = name
        self.base_url = base_url
        self.timeout = float(timeout)
        self.max_retries = max_retries
        self.batch_size = batch_size
        self.concurrency = concurrency
        self.max_retry_time = float(max_retry_time)
        self.backoff = float(backoff)
        self.max_backoff = float(max_backoff)
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
        """The provider's sync SDK client, with its own retries disabled and `self.timeout` set."""

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
        """Read an SDK/transport exception; None when it is not an API or network failure."""

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
        if not isinstance(dimensions, int) or dimensions <= 0:
            raise ValueError(f"dimensions must be a positive integer, got {dimensions!r}")
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
        self._client: Any = None
        self._client_lock = threading.Lock()
        self._async: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, tuple[Any, asyncio.Semaphore]] = (
            weakref.WeakKeyDictionary()
        )

    def _sync_client(self) -> Any:
        if self._client is None:
            with self._client_lock:
                if self._client is None:
                    self._client = self._make_client()
        return self._client

    def _async_state(self) -> tuple[Any, asyncio.Semaphore]:
        """Async client and semaphore of the running loop (an async client cannot cross loops)."""
        loop = asyncio.get_running_loop()
        state = self._async.get(loop)
        if state is None:
            state = self._async[loop] = (self._make_async_client(), asyncio.Semaphore(self.concurrency))
        return state

    def close(self) -> None:
        """Close the sync client; async clients of event loops other than a running one are
        dropped (they cannot be closed from outside their loop). A later call reconnects."""
        with self._client_lock:
            client, self._client = self._client, None
        if client is not None:
            self._close_client(client)
        self._async.clear()

    async def aclose(self) -> None:
        """Close the running event loop's async client, then everything `close` closes."""
        state = self._async.pop(asyncio.get_running_loop(), None)
        if state is not None:
            await self._aclose_client(state[0])
        self.close()

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
        client, semaphore = self._async_state()

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
        client = self._sync_client()
        started = time.monotonic()
        try:
            rows = self._retrying(Retrying)(self._request, client, batch, input_type)
        except RetryError as err:
            raise self._gave_up(err, started) from err.last_attempt.exception()
        except EncoderError:
            raise
        except Exception as exc:
            raise self._to_error(exc) from exc
        return self._checked(rows, batch)

    async def _acall(self, client: Any, batch: list[str], input_type: InputType) -> Sequence[Sequence[float]]:
        started = time.monotonic()
        try:
            rows = await self._retrying(AsyncRetrying)(self._arequest, client, batch, input_type)
        except RetryError as err:
            raise self._gave_up(err, started) from err.last_attempt.exception()
        except EncoderError:
            raise
        except Exception as exc:
            raise self._to_error(exc) from exc
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

    # -- retries ----------------------------------------------------------------------------
    def _retrying(self, cls: type[Retrying | AsyncRetrying]) -> Any:
        return cls(
            stop=stop_after_attempt(self.max_retries + 1) | stop_before_delay(self.max_retry_time),
            wait=self._wait,
            retry=retry_if_exception(self._is_transient),
            before_sleep=self._log_retry,
            reraise=False,
        )

    def _is_transient(self, exc: BaseException) -> bool:
        failure = self._failure(exc)
        return failure is not None and failure.transient

    def _wait(self, state: RetryCallState) -> float:
        """Full-jitter exponential backoff, but never less than a server's Retry-After."""
        wait = random.uniform(0, min(self.max_backoff, self.backoff * 2 ** (state.attempt_number - 1)))
        exc = state.outcome.exception() if state.outcome is not None else None
        failure = self._failure(exc) if exc is not None else None
        if failure is not None and failure.retry_after is not None:
            wait = max(wait, min(failure.retry_after, self.max_backoff))
        return wait

    def _log_retry(self, state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome is not None else None
        failure = self._failure(exc) if exc is not None else None
        what = f"HTTP {failure.status}" if failure and failure.status else (failure.message if failure else exc)
        sleep = state.next_action.sleep if state.next_action is not None else 0.0
        logger.warning("%s embeddings (%s): attempt %d failed (%s); retrying in %.2fs",
                       self.provider, self.name, state.attempt_number, what, sleep)

    # -- errors -----------------------------------------------------------------------------
    def _scrub(self, text: str) -> str:
        key = getattr(self, "_api_key", "")
        return text.replace(key, "***") if len(key) >= 4 else text

    def _gave_up(self, err: RetryError, started: float) -> EncoderError:
        exc = err.last_attempt.exception()
        failure = self._failure(exc) if exc is not None else None
        why = f"HTTP {failure.status}: {failure.message}" if failure and failure.status else (
            failure.message if failure else repr(exc))
        return EncoderError(self._scrub(
            f"{self.provider} embeddings for model {self.name!r} failed after {err.last_attempt.attempt_number} "
            f"attempt(s) in {time.monotonic() - started:.1f}s: {why}"
        ), status=failure.status if failure else None, retryable=True)

    def _to_error(self, exc: BaseException) -> EncoderError:
        failure = self._failure(exc)
        where = self.base_url or f"the {self.provider} API"
        if failure is None:
            text = f"{self.provider} embeddings for model {self.name!r} failed: {type(exc).__name__}: {exc}"
        elif failure.status in AUTH_STATUSES:
            text = (f"{self.provider} rejected the API key (HTTP {failure.status}) at {where}; check api_key= or "
                    f"{' / '.join(self.key_env)}: {failure.message}")
        elif failure.status == 404:
            text = f"{self.provider} model {self.name!r} was not found at {where} (HTTP 404): {failure.message}"
        elif failure.status in REQUEST_STATUSES:
            text = (f"{self.provider} rejected the request for model {self.name!r} (HTTP {failure.status}); "
                    f"is the model name right? {failure.message}")
        else:
            text = f"{self.provider} embeddings for model {self.name!r} failed (HTTP {failure.status}): {failure.message}"
        return EncoderError(self._scrub(text), status=failure.status if failure else None,
                            retryable=failure is not None and failure.transient)

    # -- config -----------------------------------------------------------------------------
    def spec(self) -> dict[str, Any]:
        """Type, model, dimensions and base_url; never the API key."""
        return {"type": self.type, "name": self.name, "dimensions": self.requested_dimensions,
                "base_url": self.base_url}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, base_url={self.base_url!r})"

    def __getstate__(self) -> dict[str, Any]:
        state = {k: v for k, v in self.__dict__.items() if k not in ("_client", "_client_lock", "_async", "_http")}
        state.pop("_cache_lock", None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._cache_lock = threading.Lock()
        self._init_clients()


def openai_failure(exc: BaseException, timeout: float) -> Failure | None:
    """What an `openai` SDK exception says, for retry decisions and messages (embeddings and chat)."""
    import openai

    if isinstance(exc, openai.APIStatusError):
        body = exc.body if isinstance(exc.body, dict) else {}
        message = str(body.get("message") or exc.message)
        return Failure(exc.status_code, message, parse_retry_after(exc.response.headers))
    if isinstance(exc, openai.APITimeoutError):
        return Failure(None, f"timed out (no answer within {timeout:g}s)")
    if isinstance(exc, openai.APIConnectionError):
        return Failure(None, f"connection failed: {exc.__cause__ or exc}")
    return None

"""The one retry policy for provider SDK calls, and the clear error when a call fails.

Policy: the SDK retries transient faults itself (`max_retries` on its client: 408/409/429/5xx and
connection errors, with jittered exponential backoff that honours `Retry-After`). Tenacity retries
only the transient failures an SDK leaves alone (Cohere's leaves timeouts), so no fault is retried
by two layers. Failures become the library's errors with `status` and `retryable`, naming the
provider, the model and the endpoint, never the API key.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    wait_random_exponential,
)

from semantic_router.checks import check_int
from semantic_router.errors import SemanticRouterError

logger = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({408, 409, 429})  # plus every 5xx
AUTH_STATUSES = frozenset({401, 403, 498})  # 498: Cohere's "invalid token"
REQUEST_STATUSES = frozenset({400, 404, 422})
GAP_BACKOFF, GAP_MAX_BACKOFF = 0.5, 8.0  # seconds; the OpenAI SDK's own first and longest waits

E = TypeVar("E", bound=SemanticRouterError)
R = TypeVar("R", Retrying, AsyncRetrying)


@dataclass(frozen=True)
class Failure:
    """What an SDK exception says: HTTP status (None: no answer, e.g. a timeout), message, and
    whether the SDK itself retries failures of this kind (then nothing here retries them again)."""

    status: int | None
    message: str
    sdk_retries: bool = True

    @property
    def transient(self) -> bool:
        """Trying again may succeed: no answer, a 408/409/429 or a 5xx."""
        return self.status is None or self.status in RETRY_STATUSES or self.status >= 500

    @property
    def reason(self) -> str:
        return f"HTTP {self.status}: {self.message}" if self.status is not None else self.message


def openai_failure(exc: BaseException, timeout: float) -> Failure | None:
    """What an `openai` SDK exception says (embeddings and chat); the SDK retries every transient kind."""
    import openai

    if isinstance(exc, openai.APIStatusError):
        body = exc.body if isinstance(exc.body, dict) else {}
        return Failure(exc.status_code, str(body.get("message") or exc.message))
    if isinstance(exc, openai.APITimeoutError):
        return Failure(None, f"timed out (no answer within {timeout:g}s)")
    if isinstance(exc, openai.APIConnectionError):
        return Failure(None, f"connection failed: {exc.__cause__ or exc}")
    return None


@dataclass(frozen=True)
class RemoteCall:
    """One kind of call to a provider (e.g. OpenAI embeddings of one model): its retries and its errors."""

    provider: str  # "OpenAI"
    what: str  # "embeddings request", "chat request"
    model: str
    where: str  # base_url, or "the OpenAI API"
    key_env: tuple[str, ...]
    max_retries: int
    read: Callable[[BaseException], Failure | None] = field(repr=False)
    hint: str = "check the request"  # what to check when the API rejects a request (400/422)
    secret: str = field(default="", repr=False)  # scrubbed from every message

    def retrying(self, kind: type[R]) -> R:
        """Tenacity (`Retrying` or `AsyncRetrying`) retrying the SDK's gaps up to `max_retries`
        times; every other exception is raised as it is."""
        return kind(stop=stop_after_attempt(self.max_retries + 1),
                    wait=wait_random_exponential(multiplier=GAP_BACKOFF, max=GAP_MAX_BACKOFF),
                    retry=retry_if_exception(self._sdk_gap), before_sleep=self._log_retry, reraise=True)

    def _sdk_gap(self, exc: BaseException) -> bool:
        failure = self.read(exc)
        return failure is not None and failure.transient and not failure.sdk_retries

    def _log_retry(self, state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome is not None else None
        failure = self.read(exc) if exc is not None else None
        sleep = state.next_action.sleep if state.next_action is not None else 0.0
        logger.warning("%s %s (%s): attempt %d failed (%s); retrying in %.2fs", self.provider, self.what,
                       self.model, state.attempt_number, failure.reason if failure else exc, sleep)

    def error(self, exc: BaseException, kind: type[E]) -> E:
        """`exc` as a `kind` error saying what failed and what to check, with `status` and `retryable`."""
        failure = self.read(exc)
        head = f"{self.provider} {self.what} for model {self.model!r} failed"
        if failure is None:
            text = f"{head}: {type(exc).__name__}: {exc}"
        elif failure.status in AUTH_STATUSES:
            text = (f"{self.provider} rejected the API key (HTTP {failure.status}) at {self.where}; check api_key= "
                    f"or {' / '.join(self.key_env)}: {failure.message}")
        elif failure.status == 404:
            text = f"{self.provider} model {self.model!r} was not found at {self.where} (HTTP 404): {failure.message}"
        elif failure.status in REQUEST_STATUSES:
            text = (f"{self.provider} rejected the {self.what} for model {self.model!r} (HTTP {failure.status}); "
                    f"{self.hint}: {failure.message}")
        elif failure.transient:
            tries = f"{self.max_retries} {'retry' if self.max_retries == 1 else 'retries'}"
            text = f"{head} after up to {tries}: {failure.reason}"
        else:
            text = f"{head}: {failure.reason}"
        return kind(self.scrub(text), status=failure.status if failure else None,
                    retryable=failure is not None and failure.transient)

    def scrub(self, text: str) -> str:
        """`text` with the API key masked (keys shorter than 4 characters are not worth masking)."""
        return text.replace(self.secret, "***") if len(self.secret) >= 4 else text


def check_call_options(timeout: float, max_retries: int) -> None:
    """Refuse a timeout that is not a positive number of seconds or a max_retries that is not an integer >= 0."""
    check_int(max_retries, "max_retries")
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not 0 < timeout < float("inf"):
        raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")

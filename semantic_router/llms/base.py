"""LLMs that fill in the arguments of a dynamic route's functions from the user's query.

`BaseLLM` does everything provider-independent once: the conversation sent (system prompt, prior
messages, query), checking every returned call against the schemas and re-asking with the errors
as feedback, retrying transient faults (429/5xx/timeouts) with jittered backoff, and mapping
failures to clear errors. A provider subclass builds its SDK clients, sends one chat request and
reads an SDK exception. Messages are in OpenAI chat format throughout.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
import weakref
from abc import ABC, abstractmethod
from collections.abc import Generator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import numpy as np
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    RetryError,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
)

from semantic_router.dynamic.schemas import (
    Schema,
    normalize_schemas,
    validate_arguments,
)
from semantic_router.encoders.remote import (
    AUTH_STATUSES,
    REQUEST_STATUSES,
    Failure,
    stop_before_delay,
)
from semantic_router.errors import ArgumentError, SemanticRouterError

logger = logging.getLogger(__name__)

OnInvalid = Literal["retry", "raise"]
FunctionCall = dict[str, Any]  # {"name": str, "arguments": dict}
SYSTEM_PROMPT = (
    "You turn the user's request into function calls. Call the function(s) the latest user message asks for, "
    "one call per distinct request, with argument values taken from that message (earlier messages are context "
    "only). Follow each parameter's type and allowed values exactly, and leave out optional arguments the user "
    "did not give."
)
_FIX = "Call the function(s) again with corrected arguments."
_NOT_RUN = "Not run, because another call in this turn was invalid. Repeat it together with the corrected calls."


class LLMError(SemanticRouterError):
    """An LLM request failed: missing or rejected key, unknown model, rejected request, retries used up."""


@dataclass(frozen=True)
class ToolCall:
    """One call as the model returned it; `arguments` is the raw JSON text, unchecked."""

    name: str
    arguments: str
    id: str


@dataclass(frozen=True)
class Reply:
    """The model's answer to one chat request."""

    calls: tuple[ToolCall, ...]
    content: str | None = None


class BaseLLM(ABC):
    """Extracts validated function calls for a query; subclasses plug in one provider's chat API."""

    type: ClassVar[str]
    provider: ClassVar[str]  # name used in messages ("OpenAI")
    key_env: ClassVar[tuple[str, ...]] = ()  # environment variables that may hold the API key
    base_url: str | None = None
    _secret: str = ""  # scrubbed from every error message

    def __init__(self, name: str, *, temperature: float | None = 0.0, timeout: float = 30.0, max_retries: int = 3,
                 on_invalid: OnInvalid = "retry", max_invalid_retries: int = 1, max_retry_time: float = 60.0,
                 backoff: float = 0.5, max_backoff: float = 20.0, system_prompt: str | None = None) -> None:
        if on_invalid not in ("retry", "raise"):
            raise ValueError(f"on_invalid must be 'retry' or 'raise', got {on_invalid!r}")
        if timeout <= 0 or max_retry_time <= 0 or min(max_retries, max_invalid_retries, backoff, max_backoff) < 0:
            raise ValueError("timeout and max_retry_time must be positive; max_retries, max_invalid_retries, "
                             "backoff and max_backoff must be >= 0")
        self.name = name
        self.temperature = temperature
        self.timeout = float(timeout)
        self.max_retries = max_retries
        self.on_invalid = on_invalid
        self.max_invalid_retries = max_invalid_retries
        self.max_retry_time = float(max_retry_time)
        self.backoff = float(backoff)
        self.max_backoff = float(max_backoff)
        self.system_prompt = system_prompt or SYSTEM_PROMPT
        self._init_clients()

    # -- provider hooks ---------------------------------------------------------------------
    @abstractmethod
    def _make_client(self) -> Any:
        """The sync SDK client, with its own retries off (the ones here are the only ones)."""

    @abstractmethod
    def _make_async_client(self) -> Any:
        """The async SDK client, configured like `_make_client`."""

    @abstractmethod
    def _request(self, client: Any, messages: list[dict[str, Any]], tools: list[Schema]) -> Reply:
        """Send one chat request that must answer with tool calls."""

    @abstractmethod
    async def _arequest(self, client: Any, messages: list[dict[str, Any]], tools: list[Schema]) -> Reply:
        """Async `_request`."""

    @abstractmethod
    def _failure(self, exc: BaseException) -> Failure | None:
        """Read an SDK/transport exception; None when it is not an API or network failure."""

    # -- public API -------------------------------------------------------------------------
    def extract_function_call(self, query: str, schemas: Sequence[Any],
                              messages: Sequence[Mapping[str, Any]] | None = None) -> list[FunctionCall]:
        """Calls `[{"name", "arguments"}, ...]` for `query`, each valid against `schemas` (tool dicts or callables).

        Raises ArgumentError when the model keeps answering invalid calls, LLMError when the API fails.
        """
        tools = normalize_schemas(schemas)
        dialogue = self._dialogue(query, tools, messages)
        request = next(dialogue)
        while True:
            try:
                request = dialogue.send(self._call(request, tools))
            except StopIteration as done:
                return done.value

    async def aextract_function_call(self, query: str, schemas: Sequence[Any],
                                     messages: Sequence[Mapping[str, Any]] | None = None) -> list[FunctionCall]:
        """Async `extract_function_call`."""
        tools = normalize_schemas(schemas)
        dialogue = self._dialogue(query, tools, messages)
        request = next(dialogue)
        while True:
            try:
                request = dialogue.send(await self._acall(request, tools))
            except StopIteration as done:
                return done.value

    def spec(self) -> dict[str, Any]:
        """Constructor options that rebuild this LLM (`{"type": ..., ...}`); never the API key."""
        out = {"type": self.type, "name": self.name, "base_url": self.base_url, "temperature": self.temperature,
               "timeout": self.timeout, "max_retries": self.max_retries, "on_invalid": self.on_invalid,
               "max_invalid_retries": self.max_invalid_retries}
        return out if self.system_prompt == SYSTEM_PROMPT else {**out, "system_prompt": self.system_prompt}

    # -- conversation (no I/O: the two public methods drive it, sync or async) ----------------
    def _dialogue(self, query: str, tools: list[Schema], messages: Sequence[Mapping[str, Any]] | None
                  ) -> Generator[list[dict[str, Any]], Reply, list[FunctionCall]]:
        """Yield each request's messages, receive the reply; return the valid calls or raise ArgumentError."""
        if not isinstance(query, str) or not query.strip():
            raise ValueError(f"query must be a non-empty string, got {query!r:.60}")
        if not tools:
            raise ValueError("no function schemas given: nothing to call")
        by_name = {t["function"]["name"]: t for t in tools}
        convo = [{"role": "system", "content": self.system_prompt}, *_history(messages),
                 {"role": "user", "content": query}]
        attempts = 1 + (self.max_invalid_retries if self.on_invalid == "retry" else 0)
        for attempt in range(1, attempts + 1):
            reply = yield convo
            checked = [_check_call(call, by_name) for call in reply.calls]
            problems = [p for _, p in checked if p] or ([] if reply.calls else
                                                        [f"no function was called; call one of: {', '.join(by_name)}"])
            if not problems:
                return [call for call, _ in checked if call is not None]
            logger.warning("%s (%s): invalid function call (attempt %d of %d): %s", self.provider, self.name,
                           attempt, attempts, "; ".join(problems))
            convo = [*convo, *_feedback(reply, [p for _, p in checked], problems)]
        raise ArgumentError(f"{self.provider} model {self.name!r} returned invalid function calls "
                            f"{attempts} time(s) (on_invalid={self.on_invalid!r}); last: {'; '.join(problems)}")

    # -- transport: retries and error mapping -------------------------------------------------
    def _init_clients(self) -> None:
        self._client: Any = None
        self._client_lock = threading.Lock()
        self._async_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Any] = weakref.WeakKeyDictionary()

    def _call(self, messages: list[dict[str, Any]], tools: list[Schema]) -> Reply:
        with self._client_lock:
            if self._client is None:
                self._client = self._make_client()
        started = time.monotonic()
        try:
            return self._retrying(Retrying)(self._request, self._client, messages, tools)
        except Exception as exc:
            raise self._to_error(exc, started) from exc

    async def _acall(self, messages: list[dict[str, Any]], tools: list[Schema]) -> Reply:
        loop = asyncio.get_running_loop()  # an async client cannot cross event loops
        client = self._async_clients.get(loop)
        if client is None:
            client = self._async_clients[loop] = self._make_async_client()
        started = time.monotonic()
        try:
            return await self._retrying(AsyncRetrying)(self._arequest, client, messages, tools)
        except Exception as exc:
            raise self._to_error(exc, started) from exc

    def _retrying(self, cls: type[Retrying | AsyncRetrying]) -> Any:
        return cls(stop=stop_after_attempt(self.max_retries + 1) | stop_before_delay(self.max_retry_time),
                   wait=self._wait, retry=retry_if_exception(self._is_transient), before_sleep=self._log_retry)

    def _is_transient(self, exc: BaseException) -> bool:
        failure = self._failure(exc)
        return failure is not None and failure.transient

    def _wait(self, state: RetryCallState) -> float:
        """Full-jitter exponential backoff, but never less than a server's Retry-After."""
        wait = float(np.random.uniform(0, min(self.max_backoff, self.backoff * 2 ** (state.attempt_number - 1))))
        failure = self._failure(state.outcome.exception()) if state.outcome and state.outcome.failed else None
        if failure is not None and failure.retry_after is not None:
            wait = max(wait, min(failure.retry_after, self.max_backoff))
        return wait

    def _log_retry(self, state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        sleep = state.next_action.sleep if state.next_action else 0.0
        logger.warning("%s chat (%s): attempt %d failed (%s); retrying in %.2fs", self.provider, self.name,
                       state.attempt_number, self._describe(exc), sleep)

    def _describe(self, exc: BaseException | None) -> str:
        failure = self._failure(exc) if exc is not None else None
        if failure is None:
            return f"{type(exc).__name__}: {exc}"
        return f"HTTP {failure.status}: {failure.message}" if failure.status else failure.message

    def _to_error(self, exc: Exception, started: float) -> Exception:
        """An LLMError saying what failed, key scrubbed; ArgumentError/LLMError/ValueError pass through."""
        if isinstance(exc, (SemanticRouterError, ValueError)):
            return exc
        if isinstance(exc, RetryError):
            attempt = exc.last_attempt
            text = (f"{self.provider} chat request for model {self.name!r} failed after {attempt.attempt_number} "
                    f"attempt(s) in {time.monotonic() - started:.1f}s: {self._describe(attempt.exception())}")
            last = attempt.exception()
            failure = self._failure(last) if last is not None else None
            return LLMError(self._scrub(text), status=failure.status if failure else None, retryable=True)
        failure = self._failure(exc)
        where = self.base_url or f"the {self.provider} API"
        if failure is not None and failure.status in AUTH_STATUSES:
            text = (f"{self.provider} rejected the API key (HTTP {failure.status}) at {where}; check api_key= or "
                    f"{' / '.join(self.key_env)}: {failure.message}")
        elif failure is not None and failure.status == 404:
            text = f"{self.provider} model {self.name!r} was not found at {where} (HTTP 404): {failure.message}"
        elif failure is not None and failure.status in REQUEST_STATUSES:
            text = (f"{self.provider} rejected the chat request for model {self.name!r} (HTTP {failure.status}); "
                    f"check the function schemas and options: {failure.message}")
        else:
            text = f"{self.provider} chat request for model {self.name!r} failed: {self._describe(exc)}"
        return LLMError(self._scrub(text), status=failure.status if failure else None,
                        retryable=failure is not None and failure.transient)

    def _scrub(self, text: str) -> str:
        return text.replace(self._secret, "***") if len(self._secret) >= 4 else text

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, base_url={self.base_url!r})"

    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k not in ("_client", "_client_lock", "_async_clients")}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._init_clients()


def _history(messages: Sequence[Mapping[str, Any]] | None) -> list[dict[str, Any]]:
    """Prior chat messages, checked for shape and copied."""
    if messages is None:
        return []
    if isinstance(messages, (str, Mapping)):
        raise ValueError("messages must be a list of {'role': ..., 'content': ...} dicts")
    for i, m in enumerate(messages):
        if not isinstance(m, Mapping) or not isinstance(m.get("role"), str):
            raise ValueError(f"message {i} must be a dict with a 'role' (and 'content'), got {m!r:.80}")
    return [dict(m) for m in messages]


def _check_call(call: ToolCall, by_name: Mapping[str, Schema]) -> tuple[FunctionCall | None, str | None]:
    """The call with parsed, validated arguments, or None and what is wrong with it."""
    schema = by_name.get(call.name)
    if schema is None:
        return None, f"unknown function {call.name!r} (available: {', '.join(by_name)})"
    try:
        arguments = json.loads(call.arguments) if call.arguments.strip() else {}
    except json.JSONDecodeError as exc:
        return None, f"{call.name}: arguments are not valid JSON ({exc.msg} at position {exc.pos})"
    try:
        return {"name": call.name, "arguments": validate_arguments(schema, arguments)}, None
    except ArgumentError as exc:
        return None, str(exc)


def _feedback(reply: Reply, per_call: list[str | None], problems: list[str]) -> list[dict[str, Any]]:
    """Messages that show the model its invalid answer and why (tool results for tool calls)."""
    if not reply.calls:
        return [{"role": "assistant", "content": reply.content or ""},
                {"role": "user", "content": f"That was invalid: {'; '.join(problems)}. {_FIX}"}]
    assistant = {"role": "assistant", "content": reply.content, "tool_calls": [
        {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}} for c in reply.calls]}
    results = [{"role": "tool", "tool_call_id": c.id, "content": f"Invalid call: {p}. {_FIX}" if p else _NOT_RUN}
               for c, p in zip(reply.calls, per_call)]
    return [assistant, *results]

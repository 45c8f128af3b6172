"""LLMs that fill in the arguments of a dynamic route's functions from the user's query.

`BaseLLM` does everything provider-independent once: the conversation sent (system prompt, prior
messages, query), checking every returned call against the schemas and re-asking with the errors
as feedback (`max_invalid_retries`: no SDK retries invalid output), and mapping failures to clear
errors. Transient faults (429/5xx/timeouts) follow the one retry policy of
`semantic_router.sdk.failures`: the SDK client retries them (`max_retries`). A provider subclass
builds its SDK clients, sends one chat request and reads an SDK exception. Messages are in OpenAI
chat format throughout.
"""

from __future__ import annotations

import json
import logging
from abc import ABC, abstractmethod
from collections.abc import Generator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from tenacity import AsyncRetrying, Retrying

from semantic_router.checks import check_int
from semantic_router.dynamic.schemas import (
    Schema,
    normalize_schemas,
    validate_arguments,
)
from semantic_router.errors import ArgumentError, SemanticRouterError
from semantic_router.plans import adrive, drive
from semantic_router.sdk.clients import SDKClients
from semantic_router.sdk.failures import Failure, RemoteCall, check_call_options

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
                 on_invalid: OnInvalid = "retry", max_invalid_retries: int = 1, system_prompt: str | None = None) -> None:
        """`timeout` bounds each try (seconds); `max_retries` retries of a transient fault, done by the
        SDK; `max_invalid_retries` re-asks after invalid function calls (with `on_invalid="retry"`)."""
        if on_invalid not in ("retry", "raise"):
            raise ValueError(f"on_invalid must be 'retry' or 'raise', got {on_invalid!r}")
        check_call_options(timeout, max_retries)
        check_int(max_invalid_retries, "max_invalid_retries")
        self.name = name
        self.temperature = temperature
        self.timeout = float(timeout)
        self.max_retries = max_retries
        self.on_invalid = on_invalid
        self.max_invalid_retries = max_invalid_retries
        self.system_prompt = system_prompt or SYSTEM_PROMPT
        self._init_clients()

    # -- provider hooks ---------------------------------------------------------------------
    @abstractmethod
    def _make_client(self) -> Any:
        """The sync SDK client, retrying `self.max_retries` times, each try bounded by `self.timeout`."""

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
        """Read an SDK/transport exception (and whether the SDK retries its kind); None when it is
        not an API or network failure."""

    def _close_client(self, client: Any) -> None:
        """Release a sync client made by `_make_client` (SDK clients have `close()`)."""
        client.close()

    async def _aclose_client(self, client: Any) -> None:
        """Release an async client made by `_make_async_client`."""
        await client.close()

    # -- public API -------------------------------------------------------------------------
    def extract_function_call(self, query: str, schemas: Sequence[Any],
                              messages: Sequence[Mapping[str, Any]] | None = None) -> list[FunctionCall]:
        """Calls `[{"name", "arguments"}, ...]` for `query`, each valid against `schemas` (tool dicts or callables).

        Raises ArgumentError when the model keeps answering invalid calls, LLMError when the API fails.
        """
        tools = normalize_schemas(schemas)
        return drive(self._dialogue(query, tools, messages), lambda request: self._call(request, tools))

    async def aextract_function_call(self, query: str, schemas: Sequence[Any],
                                     messages: Sequence[Mapping[str, Any]] | None = None) -> list[FunctionCall]:
        """Async `extract_function_call`."""
        tools = normalize_schemas(schemas)
        return await adrive(self._dialogue(query, tools, messages), lambda request: self._acall(request, tools))

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

    # -- transport: clients, retries and error mapping ---------------------------------------
    def _init_clients(self) -> None:
        self._clients: SDKClients[Any, Any] = SDKClients(self._make_client, self._close_client,
                                                         self._make_async_client, self._aclose_client)

    def close(self) -> None:
        """Close the SDK clients this LLM opened (see `SDKClients.close`); a later call reconnects."""
        self._clients.close()

    async def aclose(self) -> None:
        """Close the running event loop's async client, then everything `close` closes."""
        await self._clients.aclose()

    def _call(self, messages: list[dict[str, Any]], tools: list[Schema]) -> Reply:
        call = self._remote_call()
        try:
            return call.retrying(Retrying)(self._request, self._clients.sync.get(), messages, tools)
        except Exception as exc:
            raise self._to_error(call, exc) from exc

    async def _acall(self, messages: list[dict[str, Any]], tools: list[Schema]) -> Reply:
        call = self._remote_call()
        try:
            return await call.retrying(AsyncRetrying)(self._arequest, self._clients.per_loop.get(), messages, tools)
        except Exception as exc:
            raise self._to_error(call, exc) from exc

    def _remote_call(self) -> RemoteCall:
        return RemoteCall(provider=self.provider, what="chat request", model=self.name,
                          where=self.base_url or f"the {self.provider} API", key_env=self.key_env,
                          max_retries=self.max_retries, read=self._failure,
                          hint="check the function schemas and options", secret=self._secret)

    @staticmethod
    def _to_error(call: RemoteCall, exc: Exception) -> Exception:
        """An LLMError saying what failed, key scrubbed; ArgumentError/LLMError/ValueError pass through."""
        return exc if isinstance(exc, (SemanticRouterError, ValueError)) else call.error(exc, LLMError)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, base_url={self.base_url!r})"

    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "_clients"}

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

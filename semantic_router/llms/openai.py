"""OpenAI chat completions with native tool calling (and any OpenAI-compatible server via `base_url`).

Thin: the conversation, validation, re-asks and error mapping live in `base.py`; this file only
knows the SDK, which it imports on first use so that importing semantic_router never imports
openai. The SDK retries every transient fault itself (408/409/429/5xx, timeouts, connection errors).
"""

from __future__ import annotations

import os
from typing import Any

from semantic_router.dynamic.schemas import Schema
from semantic_router.llms.base import BaseLLM, LLMError, OnInvalid, Reply, ToolCall
from semantic_router.sdk.clients import DUMMY_KEY
from semantic_router.sdk.failures import Failure, openai_failure

DEFAULT_MODEL = "gpt-4o-mini"


class OpenAILLM(BaseLLM):
    """Function-call extraction on `chat.completions` with `tools=schemas, tool_choice="required"`."""

    type = "openai"
    provider = "OpenAI"
    key_env = ("OPENAI_API_KEY",)

    def __init__(self, name: str = DEFAULT_MODEL, api_key: str | None = None, base_url: str | None = None,
                 temperature: float | None = 0.0, timeout: float = 30.0, max_retries: int = 3,
                 on_invalid: OnInvalid = "retry", max_invalid_retries: int = 1, **options: Any) -> None:
        """`temperature=None` leaves it out (models that refuse it); `max_retries` goes to the SDK client;
        `options` go to BaseLLM (system_prompt)."""
        self.base_url = base_url
        key = api_key or os.environ.get("OPENAI_API_KEY") or (DUMMY_KEY if base_url else None)
        if not key:
            raise LLMError("OpenAILLM needs an API key: pass api_key=... or set OPENAI_API_KEY "
                           "(or base_url=... for a self-hosted server that takes no key)")
        self._secret = key
        super().__init__(name, temperature=temperature, timeout=timeout, max_retries=max_retries,
                         on_invalid=on_invalid, max_invalid_retries=max_invalid_retries, **options)

    def _client_options(self) -> dict[str, Any]:
        return {"api_key": self._secret, "base_url": self.base_url, "timeout": self.timeout,
                "max_retries": self.max_retries}

    def _make_client(self) -> Any:
        import openai

        return openai.OpenAI(**self._client_options())

    def _make_async_client(self) -> Any:
        import openai

        return openai.AsyncOpenAI(**self._client_options())

    def _params(self, messages: list[dict[str, Any]], tools: list[Schema]) -> dict[str, Any]:
        params: dict[str, Any] = {"model": self.name, "messages": messages, "tools": tools, "tool_choice": "required"}
        if self.temperature is not None:
            params["temperature"] = self.temperature
        return params

    def _request(self, client: Any, messages: list[dict[str, Any]], tools: list[Schema]) -> Reply:
        return _reply(client.chat.completions.create(**self._params(messages, tools)))

    async def _arequest(self, client: Any, messages: list[dict[str, Any]], tools: list[Schema]) -> Reply:
        return _reply(await client.chat.completions.create(**self._params(messages, tools)))

    def _failure(self, exc: BaseException) -> Failure | None:
        return openai_failure(exc, self.timeout)


def _reply(response: Any) -> Reply:
    """The first choice's function tool calls (ids filled in when a compatible server leaves them out)."""
    if not response.choices:
        return Reply(())
    message = response.choices[0].message
    calls = tuple(ToolCall(tc.function.name, tc.function.arguments or "", tc.id or f"call_{i}")
                  for i, tc in enumerate(message.tool_calls or []) if getattr(tc, "function", None) is not None)
    return Reply(calls, message.content)

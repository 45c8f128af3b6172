"""LLMs that fill in function-call arguments for dynamic routes (routes with `function_schemas`).

No SDK is imported here: `OpenAILLM` imports openai on first request.
"""

from __future__ import annotations

from semantic_router.llms.base import BaseLLM, LLMError
from semantic_router.llms.openai import OpenAILLM

#: spec "type" -> class, for `semantic_router.config.build(spec, LLMS, "llm")`
LLMS = {"openai": "semantic_router.llms.openai:OpenAILLM"}

__all__ = ["LLMS", "BaseLLM", "LLMError", "OpenAILLM"]

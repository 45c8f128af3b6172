"""The AIBrix guide's three documented requests and what the chosen backend must receive, shared by the two front
doors' tests (the HTTP proxy: tests/server/test_vsr_guide.py; the Envoy ext_proc service imports the same).

`GUIDE_REQUESTS` are the client bodies (model "MoM"); `expect_received(record, request)` checks one request as
a stand-in backend recorded it (a `DemoBackend.requests` entry: model, system prompts, chat_template_kwargs...).
The expected system prompts are read from the shipped example, so a change there cannot go unnoticed here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "vllm-sr" / "aibrix.yaml"
CLIENT_SYSTEM = "You are a helpful assistant."  # sent by the client; the decision's prompt must replace it


@dataclass(frozen=True)
class GuideRequest:
    """One documented request: the client's body and where the guide says it lands."""

    name: str
    body: dict[str, Any]
    decisions: tuple[str, ...]  # the decisions of the example that may take it (the guide documents the model)
    model: str  # the model the backend is asked for
    reasoning: bool | None  # chat_template_kwargs.enable_thinking sent; None: no chat_template_kwargs at all


def _body(prompt: str, max_tokens: int, system: bool = False) -> dict[str, Any]:
    messages = ([{"role": "system", "content": CLIENT_SYSTEM}] if system else []) + [{"role": "user", "content": prompt}]
    return {"model": "MoM", "messages": messages, "max_tokens": max_tokens}


GUIDE_REQUESTS = (
    GuideRequest("math", _body("What is the derivative of x^3 + 2x?", 200, system=True),
                 ("math_decision",), "qwen3-8b", True),
    # the guide documents llama3-8b-instruct without reasoning: in MMLU-Pro's taxonomy a market-entry question is
    # business or economics (the built-in classifier says economics, 0.65), and both decisions send it there
    GuideRequest("business", _body("What are the key factors to consider when entering a new market?", 200),
                 ("business_decision", "economics_decision"), "llama3-8b-instruct", None),
    GuideRequest("walk-me-through", _body("Walk me through how to structure a business merger proposal.", 300),
                 ("thinking_decision",), "qwen3-8b", True),
)


def example_config() -> dict[str, Any]:
    """The shipped example as plain data (their format)."""
    data = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def system_prompt_of(decision: str) -> str:
    """The system prompt the example's `decision` puts in (its system_prompt plugin)."""
    d = next(d for d in example_config()["routing"]["decisions"] if d["name"] == decision)
    plugin = next(p for p in d["plugins"] if p["type"] == "system_prompt")
    return str(plugin["configuration"]["system_prompt"])


def expect_received(record: dict[str, Any], request: GuideRequest) -> None:
    """Assert what the backend received for `request` (a DemoBackend record)."""
    assert record["model"] == request.model, record
    assert record["system"] in [[system_prompt_of(d)] for d in request.decisions], record["system"]  # client's gone
    users = [m for m in record["messages"] if m.get("role") == "user"]
    assert users == [m for m in request.body["messages"] if m["role"] == "user"]
    if request.reasoning is None:
        assert record["chat_template_kwargs"] is None, record
    else:
        assert record["chat_template_kwargs"] == {"enable_thinking": request.reasoning}, record
    assert record["thinking"] is None and record["reasoning_effort"] is None, record

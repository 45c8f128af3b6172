"""Request rewriting for a decision: the model name, the system prompt and the reasoning switch.

Only the fields a decision rewrites change; everything else in the client's body is forwarded as sent.
"""

from __future__ import annotations

import copy
import hashlib
import json
from typing import Any

from semantic_router.server.config import DecisionConfig, ModelConfig

__all__ = ["apply_reasoning", "apply_system_prompt", "rewrite", "rewrite_id"]

_DEFAULT_EFFORT = "medium"
_OFF_EFFORT = "minimal"


def apply_system_prompt(messages: list[Any], content: str, mode: str) -> list[Any]:
    """`insert`: a new system message before the first existing one (or first of all); `replace`: the first
    system message's content (inserted when there is none)."""
    first = next((i for i, m in enumerate(messages) if isinstance(m, dict) and m.get("role") == "system"), None)
    out = list(messages)
    if mode == "replace" and first is not None:
        out[first] = {**out[first], "content": content}
    else:
        out.insert(0 if first is None else first, {"role": "system", "content": content})
    return out


def apply_reasoning(body: dict[str, Any], family: str, on: bool, effort: str | None) -> None:
    """Switch reasoning on/off in the form the model's server understands (in place)."""
    if family == "chat_template_kwargs":  # Qwen3 / vLLM, SGLang
        kwargs = body.get("chat_template_kwargs")
        body["chat_template_kwargs"] = {**(kwargs if isinstance(kwargs, dict) else {}), "enable_thinking": on}
    elif family == "thinking":  # DeepSeek style
        body["thinking"] = {"type": "enabled" if on else "disabled"}
    elif family == "reasoning_effort":  # OpenAI style
        body["reasoning_effort"] = (effort or _DEFAULT_EFFORT) if on else _OFF_EFFORT


def rewrite(body: dict[str, Any], decision: DecisionConfig | None, model_name: str, model: ModelConfig) -> dict[str, Any]:
    """A copy of the client's body for `model_name`, with the decision's system prompt and reasoning mode."""
    out = copy.copy(body)
    out["model"] = model.upstream_name or model_name
    if decision is None:
        return out
    if decision.system_prompt is not None:
        out["messages"] = apply_system_prompt(body["messages"], decision.system_prompt.content,
                                              decision.system_prompt.mode)
    if decision.reasoning is not None:
        apply_reasoning(out, model.reasoning_family, decision.reasoning == "on", decision.reasoning_effort)
    return out


_PROBE: dict[str, Any] = {"messages": [{"role": "system", "content": ""}, {"role": "user", "content": ""}]}


def rewrite_id(decision: DecisionConfig | None, model_name: str, model: ModelConfig) -> str:
    """A digest of what `rewrite` does for this decision and model (the rewrite of a probe body), so a cache can
    tell answers apart when a reload changed a system prompt or reasoning switch behind the same names."""
    probe = rewrite(_PROBE, decision, model_name, model)
    return hashlib.sha256(json.dumps(probe, sort_keys=True).encode()).hexdigest()[:16]

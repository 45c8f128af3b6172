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
    """`insert`: a new system message before the first existing one (or first of all); `append`: after the last
    existing one (or first of all); `replace`: the first system message's content (inserted when there is none);
    `replace_all`: every system message removed and the new one put first."""
    systems = [i for i, m in enumerate(messages) if isinstance(m, dict) and m.get("role") == "system"]
    new = {"role": "system", "content": content}
    out = list(messages)
    if mode == "replace_all":
        return [new] + [m for i, m in enumerate(out) if i not in set(systems)]
    if mode == "replace" and systems:
        out[systems[0]] = {**out[systems[0]], "content": content}
    elif mode == "append" and systems:
        out.insert(systems[-1] + 1, new)
    else:
        out.insert(systems[0] if systems else 0, new)
    return out


def apply_reasoning(body: dict[str, Any], family: str, on: bool, effort: str | None,
                    parameter: str | None = None) -> None:
    """Switch reasoning on/off in the form the model's server understands (in place); `parameter`: the key inside
    `chat_template_kwargs` (default enable_thinking)."""
    if family == "chat_template_kwargs":  # Qwen3 / vLLM, SGLang; DeepSeek on vLLM with parameter "thinking"
        kwargs = body.get("chat_template_kwargs")
        body["chat_template_kwargs"] = {**(kwargs if isinstance(kwargs, dict) else {}),
                                        parameter or "enable_thinking": on}
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
        apply_reasoning(out, model.reasoning_family, decision.reasoning == "on", decision.reasoning_effort,
                        model.reasoning_parameter)
    return out


_PROBE: dict[str, Any] = {"messages": [{"role": "system", "content": ""}, {"role": "user", "content": ""}]}


def rewrite_id(decision: DecisionConfig | None, model_name: str, model: ModelConfig) -> str:
    """A digest of what `rewrite` does for this decision and model (the rewrite of a probe body), so a cache can
    tell answers apart when a reload changed a system prompt or reasoning switch behind the same names."""
    probe = rewrite(_PROBE, decision, model_name, model)
    return hashlib.sha256(json.dumps(probe, sort_keys=True).encode()).hexdigest()[:16]

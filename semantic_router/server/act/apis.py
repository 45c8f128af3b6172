"""A decision's rewrite in the shape of each client API: the model name always; the system prompt and the
reasoning switch where the API has them (chat: `rewrite.py`; Responses: `instructions` and `reasoning`;
Anthropic messages: `system` and `thinking`; completions and embeddings: the model only)."""

from __future__ import annotations

import copy
from typing import Any

from semantic_router.server.act.rewrite import apply_reasoning, rewrite
from semantic_router.server.config import DecisionConfig, ModelConfig

__all__ = ["THINKING_BUDGET", "rewrite_for"]

#: Anthropic's `thinking` needs a token budget (at least 1024); a decision that switches reasoning on gets this one
THINKING_BUDGET = 2048


def _joined(prompt: str, given: Any, mode: str) -> Any:
    """`replace`: the decision's prompt alone; `insert`: before the client's system text (a string or blocks)."""
    if mode == "replace" or given is None or given == "":
        return prompt
    if isinstance(given, list):  # Anthropic system blocks
        return [{"type": "text", "text": prompt}, *given]
    return f"{prompt}\n\n{given}"


def rewrite_for(api: str, body: dict[str, Any], decision: DecisionConfig | None, model_name: str,
                model: ModelConfig) -> dict[str, Any]:
    """A copy of the client's body for `model_name`, rewritten as the decision says, in `api`'s fields."""
    if api == "chat":
        return rewrite(body, decision, model_name, model)
    out = copy.copy(body)
    out["model"] = model.upstream_name or model_name
    if decision is None or api in ("completions", "embeddings"):
        return out
    prompt, on = decision.system_prompt, None if decision.reasoning is None else decision.reasoning == "on"
    if api == "responses":
        if prompt is not None:
            out["instructions"] = _joined(prompt.content, body.get("instructions"), prompt.mode)
        if on is not None:
            if model.reasoning_family == "reasoning_effort":
                out["reasoning"] = {**(body.get("reasoning") or {}),
                                    "effort": (decision.reasoning_effort or "medium") if on else "minimal"}
            else:
                apply_reasoning(out, model.reasoning_family, on, decision.reasoning_effort)
    elif api == "messages":
        if prompt is not None:
            out["system"] = _joined(prompt.content, body.get("system"), prompt.mode)
        if on is not None:
            out["thinking"] = {"type": "enabled", "budget_tokens": THINKING_BUDGET} if on else {"type": "disabled"}
    return out

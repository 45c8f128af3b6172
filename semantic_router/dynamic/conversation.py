"""Conversations and dynamic routes: what is routed for a chat history, and how a matched route
with function schemas becomes a function call.

Chat history: the last user turn is the query; earlier user turns are blended into its
embedding with geometrically decaying weights, so a follow-up such as "and tomorrow?" keeps
the topic of the conversation. Dynamic routes: when the chosen route has function schemas, the
router's LLM fills the arguments (validated against the schemas) unless `simulate_static`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from semantic_router.errors import LLMRequiredError
from semantic_router.route import RouteChoice, check_threshold


@dataclass(frozen=True)
class History:
    """How much earlier user turns weigh in a conversation's query vector.

    The query vector is normalise(v_last + sum_j weight**j * v_j) over the `turns` user turns
    before the last one (j = 1 for the one just before). weight=0 routes the last turn alone.
    """

    weight: float = 0.5
    turns: int = 3

    MAX_TURNS = 1000

    def __post_init__(self) -> None:
        check_threshold(self.weight, "history_weight", 0.0, 1.0)  # TypeError for a non-number
        if isinstance(self.turns, bool) or not isinstance(self.turns, (int, np.integer)):
            raise TypeError(f"history_turns must be an integer, got {type(self.turns).__name__}: {self.turns!r:.40}")
        if not 0 <= self.turns <= self.MAX_TURNS:
            raise ValueError(f"history_turns must be within [0, {self.MAX_TURNS}], got {self.turns!r}")


def user_turns(messages: Any) -> list[str]:
    """The user turns of an OpenAI-style message list, oldest first; a clear error for bad input."""
    if isinstance(messages, (str, bytes)) or not isinstance(messages, Sequence) or not messages:
        raise ValueError("messages must be a non-empty list of {'role', 'content'} dicts")
    turns = []
    for i, m in enumerate(messages):
        if not isinstance(m, Mapping) or "role" not in m:
            raise ValueError(f"messages[{i}] must be a dict with 'role' and 'content', got {m!r:.80}")
        if m["role"] == "user":
            content = m.get("content")
            if not isinstance(content, str) or not content.strip():
                raise ValueError(f"messages[{i}] is a user turn without text content: {content!r:.80}")
            turns.append(content)
    if not turns:
        raise ValueError("messages hold no user turn to route")
    return turns


def prior_messages(messages: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The conversation before the last user turn (context for the LLM; the turn itself is the query)."""
    last = max(i for i, m in enumerate(messages) if m.get("role") == "user")
    return list(messages[:last])


def history_texts(messages: Any, history: History) -> list[str]:
    """The texts to encode: last user turn first, then up to `turns` earlier ones, newest first."""
    return turn_texts(user_turns(messages), history)


def turn_texts(turns: Sequence[str], history: History) -> list[str]:
    """`history_texts` for user turns already extracted (oldest first), e.g. by a server."""
    earlier = list(turns[:-1])[::-1][: history.turns] if history.weight > 0 else []
    return [turns[-1], *earlier]


def blend(vectors: np.ndarray, history: History) -> np.ndarray:
    """One unit query vector from the last turn's vector (row 0) and earlier turns' (rows 1..)."""
    weights = history.weight ** np.arange(len(vectors), dtype=np.float32)
    v = (weights[:, None] * vectors).sum(axis=0)
    return (v / np.linalg.norm(v))[None, :]


def needs_llm(choices: Sequence[RouteChoice], routes: Mapping[str, Any], simulate_static: bool) -> list[int]:
    """Positions of choices whose route is dynamic and must have its arguments filled."""
    if simulate_static:
        return []
    return [i for i, c in enumerate(choices) if c.name is not None and routes[c.name].function_schemas]


def check_llm(llm: Any, route: str, text: str | None) -> None:
    if llm is None:
        raise LLMRequiredError(
            f"route {route!r} is dynamic (it has function_schemas) but the router has no llm: pass "
            "RouteLayer(llm=...) or route with simulate_static=True"
        )
    if text is None:
        raise ValueError(f"route {route!r} is dynamic: its arguments are extracted from text, not from a vector")


def fill(llm: Any, routes: Mapping[str, Any], choices: list[RouteChoice], text: str | None, messages: Any,
         simulate_static: bool) -> None:
    """Fill `function_call` of dynamic choices in place (sync LLM calls); `routes` by name."""
    for i in needs_llm(choices, routes, simulate_static):
        route = routes[choices[i].name]
        check_llm(llm, route.name, text)
        choices[i].function_call = llm.extract_function_call(text, route.function_schemas, messages)


async def afill(llm: Any, routes: Mapping[str, Any], choices: list[RouteChoice], text: str | None, messages: Any,
                simulate_static: bool) -> None:
    """Async `fill` on the LLM's async client."""
    for i in needs_llm(choices, routes, simulate_static):
        route = routes[choices[i].name]
        check_llm(llm, route.name, text)
        choices[i].function_call = await llm.aextract_function_call(text, route.function_schemas, messages)

"""Run a routing plan: a generator that yields index searches and returns the decision.

Routing is written once as such a plan, so the sync path (`drive`) and the async path (`adrive`,
on the index's native async client) share every line of the decision logic.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Generator
from typing import Any, TypeVar

T = TypeVar("T")
Plan = Generator[tuple, Any, T]


def drive(plan: Plan[T], search: Callable[..., Any]) -> T:
    """Answer each search request with `search(*request)` until the plan returns."""
    try:
        request = next(plan)
        while True:
            request = plan.send(search(*request))
    except StopIteration as done:
        return done.value


async def adrive(plan: Plan[T], search: Callable[..., Awaitable[Any]]) -> T:
    """Like `drive`, awaiting `search` (no blocking call inside the event loop)."""
    try:
        request = next(plan)
        while True:
            request = plan.send(await search(*request))
    except StopIteration as done:
        return done.value

"""Driving a plan: a generator that yields the requests it needs (index searches, LLM calls) and
returns its result, so one piece of logic serves a sync and an async caller.

`drive(plan, answer)` answers each request with `answer(request)`; `adrive` awaits it. The plan
itself does no I/O, so both paths share every line of the logic.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Generator
from typing import TypeVar

Request = TypeVar("Request")
Answer = TypeVar("Answer")
Result = TypeVar("Result")

__all__ = ["adrive", "drive"]


def drive(plan: Generator[Request, Answer, Result], answer: Callable[[Request], Answer]) -> Result:
    """Run `plan` to its end, answering each request it yields with `answer(request)`; its result."""
    try:
        request = next(plan)
        while True:
            request = plan.send(answer(request))
    except StopIteration as done:
        return done.value


async def adrive(plan: Generator[Request, Answer, Result], answer: Callable[[Request], Awaitable[Answer]]) -> Result:
    """`drive` with an async `answer`, awaited for each request."""
    try:
        request = next(plan)
        while True:
            request = plan.send(await answer(request))
    except StopIteration as done:
        return done.value

"""The shared helpers that replaced copies: driving a plan (sync and async) and polling for a lock
with tenacity's backoff."""

from __future__ import annotations

import time

import pytest

from semantic_router.checks import check_int
from semantic_router.errors import LockTimeout
from semantic_router.index.lease import poll_until
from semantic_router.plans import adrive, drive


def doubling_plan(n: int):
    """Asks for n answers, then returns their sum."""
    total = 0
    for i in range(n):
        total += yield i
    return total


def test_drive_answers_each_request_and_returns_the_result():
    asked: list[int] = []
    assert drive(doubling_plan(3), lambda i: asked.append(i) or i * 2) == 6
    assert asked == [0, 1, 2]
    assert drive(doubling_plan(0), lambda i: 1 / 0) == 0  # a plan that asks nothing: no answer needed


async def test_adrive_awaits_each_answer():
    async def answer(i: int) -> int:
        return i * 10

    assert await adrive(doubling_plan(3), answer) == 30
    assert await adrive(doubling_plan(0), answer) == 0  # no StopIteration escaping the coroutine


def test_poll_until_returns_the_first_answer_and_backs_off():
    calls: list[float] = []

    def attempt() -> str | None:
        calls.append(time.monotonic())
        return "got it" if len(calls) == 4 else None

    assert poll_until(attempt, timeout=5.0, failure=lambda: "never", poll=0.01) == "got it"
    gaps = [b - a for a, b in zip(calls, calls[1:])]
    assert len(calls) == 4 and all(g >= 0.009 for g in gaps)  # it waited between tries


def test_poll_until_times_out_with_the_failure_message_and_never_sleeps_past_the_deadline():
    start = time.monotonic()
    with pytest.raises(LockTimeout, match="held by someone"):
        poll_until(lambda: None, timeout=0.3, failure=lambda: "held by someone", poll=0.05, max_delay=5.0)
    assert 0.3 <= time.monotonic() - start < 0.6


def test_poll_until_lets_an_error_of_the_attempt_through_at_once():
    def attempt() -> None:
        raise ConnectionError("down")

    start = time.monotonic()
    with pytest.raises(ConnectionError, match="down"):
        poll_until(attempt, timeout=5.0, failure=lambda: "never")
    assert time.monotonic() - start < 0.5


@pytest.mark.parametrize("value", [True, 1.0, "3", None, -1])
def test_check_int_refuses_what_is_no_count(value):
    with pytest.raises(ValueError, match=f"retries must be an integer >= 0, got {value!r}"):
        check_int(value, "retries")


def test_check_int_takes_numpy_integers():
    import numpy as np

    assert check_int(np.int64(3), "top_k", 1) == 3 and type(check_int(np.int64(3), "top_k", 1)) is int

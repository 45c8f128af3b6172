"""The shared single-threaded BLAS limit: overlapping users in any threads, restored exactly once, by the last."""

from __future__ import annotations

import random
import threading
import time

import numpy as np
import pytest
from threadpoolctl import threadpool_info, threadpool_limits

from semantic_router._blas import LIMIT, single_threaded_blas


def blas_threads() -> set[int]:
    """Thread counts of every loaded BLAS (numpy's and, once imported, scipy's)."""
    return {i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"}


@pytest.fixture
def two_threads():
    """Two BLAS threads around each test, so a restore is visible even on a 1-CPU machine."""
    np.ones((2, 2)) @ np.ones((2, 2))  # BLAS loaded
    with threadpool_limits(limits=2, user_api="blas"):
        assert blas_threads() == {2}
        yield
    assert LIMIT.users == 0


def test_first_in_and_last_out_in_different_threads_limit_until_the_last_leaves(two_threads):
    a_inside, b_inside, a_left = threading.Event(), threading.Event(), threading.Event()
    seen: dict[str, set[int]] = {}

    def first() -> None:  # enters first, leaves first
        with single_threaded_blas():
            seen["first inside"] = blas_threads()
            a_inside.set()
            assert b_inside.wait(10)
        a_left.set()

    def last() -> None:  # enters while `first` is inside, leaves after it
        assert a_inside.wait(10)
        with single_threaded_blas():
            b_inside.set()
            assert a_left.wait(10)
            seen["last inside, first gone"] = blas_threads()

    threads = [threading.Thread(target=first), threading.Thread(target=last)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert seen == {"first inside": {1}, "last inside, first gone": {1}}
    assert blas_threads() == {2}  # restored to the count from before, not to the last user's view (1)


def test_many_threads_overlapping_at_random_always_see_one_thread_and_leave_the_original(two_threads):
    wrong: list[set[int]] = []

    def user(seed: int) -> None:
        rng = random.Random(seed)
        for _ in range(15):
            with single_threaded_blas():
                time.sleep(rng.random() * 0.004)
                threads = blas_threads()
                if threads != {1}:
                    wrong.append(threads)
            time.sleep(rng.random() * 0.002)

    threads = [threading.Thread(target=user, args=(k,)) for k in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert wrong == []
    assert LIMIT.users == 0 and blas_threads() == {2}


def test_nested_in_one_thread_restores_only_at_the_outer_exit(two_threads):
    with single_threaded_blas():
        with single_threaded_blas():
            assert LIMIT.users == 2
        assert blas_threads() == {1}
    assert blas_threads() == {2}


def test_an_error_inside_still_restores(two_threads):
    with pytest.raises(ZeroDivisionError), single_threaded_blas():
        1 / 0  # noqa: B018
    assert LIMIT.users == 0 and blas_threads() == {2}

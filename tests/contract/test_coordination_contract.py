"""Fenced state writes (`Index.write_state(expected_version=, lease=)`) on every backend."""

from __future__ import annotations

import pytest

from semantic_router.errors import StateConflict
from semantic_router.index.coordination import LeaseToken


def test_fenced_writes_succeed_while_version_and_lease_hold(index):
    with index.lock(timeout=5.0) as lease:
        assert isinstance(lease, LeaseToken) and lease.token
        index.write_state({"version": 1, "routes": ["a"]}, expected_version=0, lease=lease)
        index.write_state({"version": 2, "routes": ["a", "b"]}, expected_version=1, lease=lease)
    assert index.read_state() == {"version": 2, "routes": ["a", "b"]}


def test_version_mismatch_is_a_conflict_and_writes_nothing(index):
    index.write_state({"version": 3, "who": "first"})
    with pytest.raises(StateConflict, match="expected version 2, found 3"):
        index.write_state({"version": 3, "who": "late"}, expected_version=2)
    with pytest.raises(StateConflict, match="expected version 0"):
        index.write_state({"version": 1, "who": "fresh"}, expected_version=0)
    assert index.read_state() == {"version": 3, "who": "first"}
    index.write_state({"version": 4, "who": "next"}, expected_version=3)
    assert index.read_state() == {"version": 4, "who": "next"}


def test_a_released_lease_no_longer_lets_writes_through(index):
    index.write_state({"version": 1})
    with index.lock(timeout=5.0) as lease:
        pass
    with pytest.raises(StateConflict, match="lock"):
        index.write_state({"version": 2}, expected_version=1, lease=lease)
    assert index.read_state() == {"version": 1}


def test_a_stolen_lease_is_a_conflict_and_writes_nothing(backend, make_index):
    index = make_index()
    index.write_state({"version": 1, "who": "before"})
    with index.lock(timeout=5.0) as lease:
        backend.steal_lock(index)  # as if our lease expired and another writer took the lock
        with pytest.raises(StateConflict, match="lock"):
            index.write_state({"version": 2, "who": "stale holder"}, expected_version=1, lease=lease)
    assert index.read_state() == {"version": 1, "who": "before"}


def test_conflicts_are_retryable_sync_errors(index):
    index.write_state({"version": 1})
    with pytest.raises(StateConflict) as err:
        index.write_state({"version": 1}, expected_version=5)
    assert err.value.retryable is True


async def test_async_fenced_write(index):
    with index.lock(timeout=5.0) as lease:
        await index.awrite_state({"version": 1}, expected_version=0, lease=lease)
        with pytest.raises(StateConflict):
            await index.awrite_state({"version": 9}, expected_version=0, lease=lease)
    assert await index.aread_state() == {"version": 1}

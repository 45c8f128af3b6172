"""The coordination contract (`index.coordination`: versioned state, fenced writes, the writers'
lease lock) on every backend that coordinates (tests/backends.BACKENDS)."""

from __future__ import annotations

import importlib

import pytest

from semantic_router.errors import LockTimeout, StateConflict
from semantic_router.index.coordination import Coordinator, LeaseToken
from tests.backends import BACKENDS, backend_params


@pytest.fixture(params=backend_params(BACKENDS))
def backend(request):
    """Only the coordinating backends (records-only ones declare no coordination)."""
    return importlib.import_module(f"tests.backends.{request.param}")


@pytest.fixture()
def coordinator(index) -> Coordinator:
    found = index.coordination
    assert isinstance(found, Coordinator) and found.fences  # declared, not discovered
    return found


def test_state_round_trip_and_clear(index, coordinator):
    assert coordinator.read_state() is None
    state = {"version": 3, "hash": "abc", "routes": [{"name": "x", "utterances": ["y"]}]}
    coordinator.write_state(state)
    assert coordinator.read_state() == state
    index.clear()
    assert coordinator.read_state() is None


def test_lock_excludes_a_second_writer(make_index):
    a = make_index("lockname").coordination
    with a.lock(timeout=1.0), pytest.raises(LockTimeout), a.lock(timeout=0.2):
        pass
    with a.lock(timeout=1.0):  # released afterwards
        pass


def test_fenced_writes_succeed_while_version_and_lease_hold(coordinator):
    with coordinator.lock(timeout=5.0) as lease:
        assert isinstance(lease, LeaseToken) and lease.token
        coordinator.write_state({"version": 1, "routes": ["a"]}, expected_version=0, lease=lease)
        coordinator.write_state({"version": 2, "routes": ["a", "b"]}, expected_version=1, lease=lease)
    assert coordinator.read_state() == {"version": 2, "routes": ["a", "b"]}


def test_version_mismatch_is_a_conflict_and_writes_nothing(coordinator):
    coordinator.write_state({"version": 3, "who": "first"})
    with pytest.raises(StateConflict, match="expected version 2, found 3"):
        coordinator.write_state({"version": 3, "who": "late"}, expected_version=2)
    with pytest.raises(StateConflict, match="expected version 0"):
        coordinator.write_state({"version": 1, "who": "fresh"}, expected_version=0)
    assert coordinator.read_state() == {"version": 3, "who": "first"}
    coordinator.write_state({"version": 4, "who": "next"}, expected_version=3)
    assert coordinator.read_state() == {"version": 4, "who": "next"}


def test_a_released_lease_no_longer_lets_writes_through(coordinator):
    coordinator.write_state({"version": 1})
    with coordinator.lock(timeout=5.0) as lease:
        pass
    with pytest.raises(StateConflict, match="lock"):
        coordinator.write_state({"version": 2}, expected_version=1, lease=lease)
    assert coordinator.read_state() == {"version": 1}


def test_a_stolen_lease_is_a_conflict_and_writes_nothing(backend, make_index):
    index = make_index()
    coordinator = index.coordination
    coordinator.write_state({"version": 1, "who": "before"})
    with coordinator.lock(timeout=5.0) as lease:
        backend.steal_lock(index)  # as if our lease expired and another writer took the lock
        with pytest.raises(StateConflict, match="lock"):
            coordinator.write_state({"version": 2, "who": "stale holder"}, expected_version=1, lease=lease)
    assert coordinator.read_state() == {"version": 1, "who": "before"}


def test_conflicts_are_retryable_sync_errors(coordinator):
    coordinator.write_state({"version": 1})
    with pytest.raises(StateConflict) as err:
        coordinator.write_state({"version": 1}, expected_version=5)
    assert err.value.retryable is True


async def test_async_fenced_write(coordinator):
    with coordinator.lock(timeout=5.0) as lease:
        await coordinator.awrite_state({"version": 1}, expected_version=0, lease=lease)
        with pytest.raises(StateConflict):
            await coordinator.awrite_state({"version": 9}, expected_version=0, lease=lease)
    assert await coordinator.aread_state() == {"version": 1}

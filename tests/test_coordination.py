"""The router shares through what a backend declares (`Index.coordination`, `Coordinator.fences`),
never through what a method's signature looks like; a records-only backend serves one router alone."""

from __future__ import annotations

from typing import Any

import pytest

from semantic_router import Route, RouteLayer
from semantic_router.errors import SyncError
from semantic_router.index.local import LocalIndex
from tests.backends.records_only import RecordsOnlyIndex

ROUTES = [
    Route(name="stocks", utterances=["tell me about the stock market", "how are my shares doing"]),
    Route(name="chitchat", utterances=["how's the weather today?", "lovely weather today"]),
]


class Recording(LocalIndex):
    """Records the keyword arguments of every state write; `**options` hides the fenced parameters'
    names from any signature inspection."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[dict[str, Any]] = []

    def write_state(self, state: dict[str, Any], **options: Any) -> None:
        self.writes.append(options)
        super().write_state(state, **options)


class Unfenced(Recording):
    fences = False  # declares that its writes cannot be fenced: the lock alone protects them


def test_a_declared_fencing_coordinator_gets_fenced_writes_whatever_its_signature(encoder):
    index = Recording()
    rl = RouteLayer(encoder=encoder, routes=ROUTES, index=index, auto_sync="local", refresh_interval=float("inf"))
    rl.add(Route(name="more", utterances=["one more route"]))
    assert len(index.writes) == 2
    assert [w["expected_version"] for w in index.writes] == [0, 1]
    assert all(w["lease"] is not None and w["lease"].token for w in index.writes)
    rl.close()


def test_a_coordinator_declaring_no_fence_is_written_under_the_lock_alone(encoder):
    index = Unfenced()
    rl = RouteLayer(encoder=encoder, routes=ROUTES, index=index, auto_sync="local", refresh_interval=float("inf"))
    rl.add(Route(name="more", utterances=["one more route"]))
    assert index.writes == [{}, {}]
    assert index.read_state()["version"] == 2
    rl.close()


def test_a_records_only_index_routes_but_refuses_sharing_by_name(encoder):
    index = RecordsOnlyIndex()
    assert index.coordination is None
    rl = RouteLayer(encoder=encoder, routes=ROUTES, index=index, rule="knn")
    assert rl("how is the stock market doing").name == "stocks"
    rl.add(Route(name="more", utterances=["one more route"]))
    assert index.count() == 5
    with pytest.raises(SyncError, match=r"'records-only' \(RecordsOnlyIndex\) coordinates no writers"):
        rl.sync("local")
    with pytest.raises(SyncError, match="coordinates no writers"):
        rl.is_synced()
    with pytest.raises(SyncError, match="coordinates no writers"):
        RouteLayer(encoder=encoder, routes=ROUTES, index=RecordsOnlyIndex(), auto_sync="local")
    with pytest.raises(SyncError, match="coordinates no writers"):
        RouteLayer.from_index(RecordsOnlyIndex(), encoder=encoder)
    rl.close()

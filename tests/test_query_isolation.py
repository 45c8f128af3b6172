"""A query sees exactly one snapshot's records, whatever changes run beside it (issue 16 D).

With the knn rule on a local index, a change writes its new records before it swaps the snapshot
and deletes the old ones after: a search between those steps found both. 1,485 of 27,441 batches
matched the old and the new utterances of one route at once before the fix."""

from __future__ import annotations

import threading
import time

import pytest

from semantic_router import Route, RouteLayer
from tests.hash_encoder import HashEncoder

OLD = ["alpha bravo charlie", "delta echo foxtrot"]
NEW = ["golf hotel india", "juliet kilo lima"]

pytestmark = pytest.mark.slow  # thousands of changes racing queries


def test_a_knn_batch_never_matches_old_and_new_utterances_of_one_route_at_once():
    rl = RouteLayer(encoder=HashEncoder(64), rule="knn", top_k=2, score_threshold=0.99, routes=[
        Route(name="moving", utterances=OLD),
        Route(name="still", utterances=["mike november oscar", "papa quebec romeo"]),
    ])
    stop = threading.Event()
    updates: list[int] = []
    errors: list[BaseException] = []

    def writer() -> None:
        try:
            while not stop.is_set():
                for utterances in (NEW, OLD):
                    rl.update("moving", utterances=utterances)
                    updates.append(1)
        except BaseException as exc:  # reported below
            errors.append(exc)

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    mixed, batches, deadline = 0, 0, time.monotonic() + 4.0
    try:
        while time.monotonic() < deadline:
            choices = rl.route_batch([OLD[0], NEW[0], OLD[1], NEW[1]])
            old_hits = sum(c.name == "moving" for c in choices[0::2])
            new_hits = sum(c.name == "moving" for c in choices[1::2])
            mixed += bool(old_hits and new_hits)
            batches += 1
    finally:
        stop.set()
        thread.join(10)
    assert not errors and not thread.is_alive()
    assert len(updates) > 20 and batches > 100  # the race was exercised
    assert mixed == 0, f"{mixed} of {batches} batches matched both the old and the new utterances"
    assert rl.snapshot.fence.open is False  # at rest, hits count by route name: no per-hit id lookup


def test_a_route_untouched_by_thousands_of_changes_stays_readable():
    """Each change wrapped the record ids of untouched routes in one more read-only proxy: after about
    a thousand changes to other routes, reading them raised RecursionError (and so did the change path)."""
    rl = RouteLayer(encoder=HashEncoder(16), rule="knn", routes=[Route(name="moving", utterances=OLD),
                                                                 Route(name="still", utterances=["mike november"])])
    for i in range(1200):
        rl.update("moving", utterances=NEW if i % 2 else OLD)
    assert [u.utterance for u in rl.get_utterances("still")] == ["mike november"]
    rl.update("moving", utterances=NEW)
    assert rl("mike november").name == "still"

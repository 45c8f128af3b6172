"""One immutable snapshot per change: queries racing with changes never raise and never see a
route whose deletion had already returned."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from semantic_router import Route, RouteLayer
from semantic_router.encoders.base import DenseEncoder


class WordHashEncoder(DenseEncoder):
    """A fast deterministic bag-of-words encoder (the race needs many changes per second, not a model)."""

    name = "word-hash"
    score_threshold = 0.3

    @property
    def dimensions(self) -> int:
        return 64

    def _encode(self, texts, input_type):
        out = np.zeros((len(texts), 64), np.float32)
        for i, t in enumerate(texts):
            for w in t.lower().split():
                out[i, sum(map(ord, w)) % 64] += 1.0
        return out / np.linalg.norm(out, axis=1, keepdims=True)

BASE = [
    Route(name="weather", utterances=["will it rain today", "how hot is it outside"]),
    Route(name="music", utterances=["play some jazz", "next song please"]),
    Route(name="billing", utterances=["I was charged twice", "refund my payment"]),
]
TEMP_UTTERANCES = ["order a large pizza", "I want a pizza delivered"]


@pytest.mark.slow
@pytest.mark.parametrize("rule", ["classifier", "centroid", "knn"])
def test_queries_racing_with_changes_never_raise_nor_see_deleted_routes(rule):
    encoder = WordHashEncoder()
    rl = RouteLayer(encoder=encoder, routes=BASE, rule=rule)
    queries = encoder.encode(["order a pizza please", "is it going to rain", "play jazz", "charged twice"], "query")
    deleted_at: dict[str, float] = {}
    errors: list[BaseException] = []
    stale: list[tuple[str, float, float]] = []
    answered: list[str | None] = []
    stop = threading.Event()

    def reader(seed: int) -> None:
        rng = np.random.default_rng(seed)
        while not stop.is_set():
            started = time.monotonic()
            try:
                i = int(rng.integers(len(queries)))
                names = [rl(vector=queries[i]).name]
                names += [c.name for c in rl.route_batch(vectors=queries)]
                names += [c.name for c in rl.route_many(vector=queries[i])]
            except BaseException as exc:  # noqa: BLE001 - every failure is the finding
                errors.append(exc)
                return
            answered.extend(names)
            for name in names:
                gone = deleted_at.get(name or "")
                if gone is not None and gone < started:
                    stale.append((name, gone, started))
            time.sleep(0.0005)  # let the writer have the GIL now and then

    def writer() -> None:
        i = 0
        while not stop.is_set():
            name = f"pizza{i}"
            rl.add(Route(name=name, utterances=TEMP_UTTERANCES))
            time.sleep(0.005)
            rl.delete(name)
            deleted_at[name] = time.monotonic()
            i += 1

    threads = [threading.Thread(target=reader, args=(s,)) for s in range(8)] + [threading.Thread(target=writer)]
    for t in threads:
        t.start()
    time.sleep(3.0)
    stop.set()
    for t in threads:
        t.join(timeout=30)
    assert errors == []
    assert stale == []
    assert any(n and n.startswith("pizza") for n in answered), "the race never showed a temporary route"
    assert len(deleted_at) >= 5


def test_a_query_reads_one_snapshot(encoder):
    """A snapshot is immutable: a change publishes a new one, the old one keeps answering the same."""
    rl = RouteLayer(encoder=encoder, routes=BASE)
    old = rl.snapshot
    rl.add(Route(name="food", utterances=TEMP_UTTERANCES))
    assert "food" not in old.routes and "food" in rl.snapshot.routes
    assert old.vectors["weather"] is rl.snapshot.vectors["weather"]  # untouched routes share their arrays
    with pytest.raises((TypeError, ValueError)):
        old.vectors["weather"][0, 0] = 1.0  # read-only
    with pytest.raises(TypeError):
        old.routes["x"] = BASE[0]  # type: ignore[index]


def test_no_io_on_the_query_path(encoder):
    """Routing a vector under the default rule never touches the index (no count, no records)."""
    rl = RouteLayer(encoder=encoder, routes=BASE)
    calls: list[str] = []
    for name in ("count", "records", "ids", "read_state", "query_batch"):
        real = getattr(rl.index, name)

        def spy(*a, _real=real, _name=name, **k):
            calls.append(_name)
            return _real(*a, **k)

        setattr(rl.index, name, spy)
    q = encoder.encode(["will it rain"], "query")[0]
    assert rl(vector=q).name == "weather"
    rl.route_many(vector=q)
    rl.route_batch(vectors=np.stack([q, q]))
    assert calls == []

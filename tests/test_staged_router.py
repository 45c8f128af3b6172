"""A router whose rule is staged (`pending` interim) serves at once and finishes it in the background.

The store publishes each change with the interim rule, a background worker refines the rule of the
snapshot that is current, and `train_rule` / `evaluate` / `save` wait for the final rule."""

from __future__ import annotations

import math
import threading
import time

import numpy as np

from semantic_router import Route, RouteLayer
from semantic_router.decision.classifier import ClassifierRule
from tests.hash_encoder import HashEncoder

WORDS = ["weather rain sun cloud", "music song band guitar", "food pizza pasta bread",
         "travel flight hotel train", "money bank loan card"]
QUERIES = ["is it going to rain", "play a song by the band", "order a pizza", "book a flight",
           "open a bank account", "rain and sun today", "cheap hotel"]


def make_routes(extra: int = 0) -> list[Route]:
    out = []
    for i, words in enumerate(WORDS + [f"topic{k} alpha{k} beta{k} gamma{k}" for k in range(extra)]):
        w = words.split()
        out.append(Route(name=f"r{i}", utterances=[f"{a} {b} please" for a in w for b in w if a != b]))
    return out


def staged_layer(routes: list[Route]) -> RouteLayer:
    return RouteLayer(encoder=HashEncoder(), routes=routes, rule=ClassifierRule(sync_budget=0.0))


def decisions(rl: RouteLayer) -> list[tuple[str | None, float | None]]:
    return [(c.name, None if c.similarity_score is None else round(c.similarity_score, 5)) for c in map(rl, QUERIES)]


def wait_final(rl: RouteLayer, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while rl.rule.pending:
        assert time.monotonic() < deadline, "the background refinement never published"
        time.sleep(0.01)


def test_background_refinement_publishes_the_full_rule_without_anyone_asking():
    rl = staged_layer(make_routes())
    wait_final(rl)
    full = RouteLayer(encoder=HashEncoder(), routes=make_routes(), rule=ClassifierRule(sync_budget=math.inf))
    assert not full.rule.pending
    assert decisions(rl) == decisions(full)
    assert rl.store.refiner.refinements >= 1


def test_train_rule_waits_and_a_change_during_refinement_is_not_lost():
    rl = staged_layer(make_routes())
    rl.add(Route(name="late", utterances=["zebra giraffe lion", "lion zebra safari"]))
    final = rl.train_rule()
    assert not final.pending and rl.rule is final
    probs = final.scores(rl.encoder.encode(["zebra lion safari"], "query"))
    assert probs.shape == (1, len(WORDS) + 1)  # the refined rule has the route added while it was pending
    assert rl("zebra lion safari").name == "late"


def test_queries_never_fail_while_rules_are_staged_and_refined():
    rl = staged_layer(make_routes(extra=3))
    errors: list[BaseException] = []
    stop = threading.Event()

    def route() -> None:
        while not stop.is_set():
            try:
                for q in QUERIES:
                    rl(q)
            except BaseException as exc:  # noqa: BLE001 - the test reports any
                errors.append(exc)
                return

    threads = [threading.Thread(target=route) for _ in range(4)]
    for t in threads:
        t.start()
    for k in range(6):
        rl.add(Route(name=f"new{k}", utterances=[f"word{k} thing{k}", f"thing{k} word{k} more"]))
        if k % 2:
            rl.delete(f"new{k - 1}")
    rl.train_rule()
    stop.set()
    for t in threads:
        t.join()
    assert errors == []
    assert not rl.rule.pending and rl.rule.scores(rl.encoder.encode(["x"], "query")).shape[1] == len(rl.list_route_names())


def test_save_writes_the_final_rule_and_load_serves_it_without_training(tmp_path):
    rl = staged_layer(make_routes())
    path = tmp_path / "router.pkl"
    rl.save(path)  # waits for the refinement: a saved interim would be loaded as the serving rule
    loaded = RouteLayer.load(path, encoder=HashEncoder())
    assert not loaded.rule.pending
    wait_final(rl)
    assert decisions(loaded) == decisions(rl)


def test_after_close_nothing_refines_in_the_background_but_train_rule_still_finishes():
    rl = staged_layer(make_routes())
    rl.train_rule()
    rl.close()
    rl.add(Route(name="late", utterances=["zebra giraffe lion"]))
    time.sleep(0.2)
    assert rl.rule.pending  # no worker after close: the interim LDA head serves, on the same scale
    assert rl("zebra giraffe lion").name == "late"
    scores = rl.rule.scores(rl.encoder.encode(QUERIES, "query"))
    assert scores.shape == (len(QUERIES), len(WORDS) + 1) and np.isfinite(scores).all()
    assert not rl.train_rule().pending

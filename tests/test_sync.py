"""auto_sync: many router instances share one route set through the index's state."""

from __future__ import annotations

import importlib
import threading
import time
import uuid

import numpy as np
import pytest

from semantic_router import Route, RouteLayer
from semantic_router.encoders.base import DenseEncoder
from semantic_router.errors import SyncError
from semantic_router.index.base import Record
from tests.backends import BACKENDS, backend_params


@pytest.fixture(params=backend_params(BACKENDS))
def shared(request):
    """A factory of index objects that all see the same store (one per simulated instance)."""
    module = importlib.import_module(f"tests.backends.{request.param}")
    name = f"s{uuid.uuid4().hex[:10]}"
    made = []

    def open_index():
        if request.param == "local" and made:
            return made[0]
        idx = module.make_index(name)
        made.append(idx)
        return idx

    yield open_index
    try:
        made[0].drop()
    except Exception:
        pass


def routes():
    return [
        Route(name="politics", utterances=["isn't politics the best thing ever", "don't you just love the president"]),
        Route(name="chitchat", utterances=["how's the weather today?", "lovely weather today"], score_threshold=0.4),
    ]


def test_local_push_then_remote_build_encodes_nothing(shared, encoder):
    a = RouteLayer(encoder=encoder, routes=routes(), index=shared(), auto_sync="local")
    state = a.index.read_state()
    assert state["version"] == a.version >= 1
    assert state["encoder"]["dimensions"] == 384
    assert a.is_synced()
    before = encoder.calls
    b = RouteLayer.from_index(shared(), encoder=encoder)
    assert encoder.calls == before
    assert sorted(b.list_route_names()) == ["chitchat", "politics"]
    assert b.get("chitchat").score_threshold == 0.4
    assert b.is_synced()
    for q in ["don't you love politics?", "lovely weather", "are aliens real?"]:
        assert b(q).name == a(q).name


def test_changes_propagate_on_refresh(shared, encoder):
    a = RouteLayer(encoder=encoder, routes=routes(), index=shared(), auto_sync="local")
    b = RouteLayer(encoder=encoder, index=shared(), auto_sync="remote")
    a.add(Route(name="food", utterances=["I want a pizza", "what's for dinner"]))
    assert b("I'd love a pizza").name is None or b("I'd love a pizza").name != "food"
    assert b.refresh() is True
    assert b("I'd love a pizza").name == "food"
    a.delete("politics")
    b.refresh()
    assert "politics" not in b.list_route_names()
    assert b("don't you love politics?").name != "politics"
    a.update("chitchat", score_threshold=0.2)
    a.score_threshold = 0.3
    b.refresh()
    assert b.get("chitchat").score_threshold == 0.2 and b.score_threshold == 0.3
    assert b.refresh() is False  # nothing new


def test_refresh_runs_in_the_background_never_inside_a_query(shared, encoder):
    a = RouteLayer(encoder=encoder, routes=routes(), index=shared(), auto_sync="local")
    b = RouteLayer(encoder=encoder, index=shared(), auto_sync="remote", refresh_interval=0.05)
    caller = threading.current_thread()
    reads_by_caller = []
    real = b.index.read_state

    def counting_read_state(*args, **kwargs):
        if threading.current_thread() is caller:
            reads_by_caller.append(1)
        return real(*args, **kwargs)

    a.delete("chitchat")
    b.index.read_state = counting_read_state
    try:
        deadline = time.monotonic() + 10
        while "chitchat" in b.list_route_names() and time.monotonic() < deadline:
            b("lovely weather today")  # answered from the last snapshot meanwhile
            time.sleep(0.01)
        assert b("lovely weather today").name is None
        assert reads_by_caller == []  # no state read on the query path
    finally:
        b.index.read_state = real
        b.close()


def test_writes_from_any_instance_apply_to_the_latest_set(shared, encoder):
    a = RouteLayer(encoder=encoder, routes=routes(), index=shared(), auto_sync="local")
    b = RouteLayer(encoder=encoder, index=shared(), auto_sync="remote")
    a.add(Route(name="food", utterances=["pizza"]))
    b.add(Route(name="music", utterances=["play some jazz"]))  # b has not refreshed: its write still keeps food
    a.refresh()
    assert sorted(a.list_route_names()) == sorted(b.list_route_names()) == ["chitchat", "food", "music", "politics"]
    assert sorted(r.route for r in a.index.records()) == sorted(
        r.name for r in a.routes for _ in r.utterances)


def test_sync_encodes_only_new_utterances(shared, encoder):
    RouteLayer(encoder=encoder, routes=routes(), index=shared(), auto_sync="local")
    before = encoder.calls
    more = routes() + [Route(name="food", utterances=["pizza", "pasta"])]
    c = RouteLayer(encoder=encoder, routes=more, index=shared(), auto_sync="merge")
    assert encoder.calls - before == 2
    assert sorted(c.list_route_names()) == ["chitchat", "food", "politics"]


def test_local_mode_deletes_remote_only(shared, encoder):
    RouteLayer(encoder=encoder, routes=routes(), index=shared(), auto_sync="local")
    only = RouteLayer(encoder=encoder, routes=[Route(name="food", utterances=["pizza"])], index=shared(),
                      auto_sync="local")
    assert only.list_route_names() == ["food"]
    assert {r.route for r in only.index.records()} == {"food"}
    assert [r["name"] for r in only.index.read_state()["routes"]] == ["food"]


def test_merge_modes_resolve_conflicts(shared, encoder):
    RouteLayer(encoder=encoder, routes=routes(), index=shared(), auto_sync="local")
    mine = [Route(name="chitchat", utterances=["how are you doing"], score_threshold=0.6),
            Route(name="food", utterances=["pizza"])]
    merged = RouteLayer(encoder=encoder, routes=mine, index=shared(), auto_sync="merge")
    cc = merged.get("chitchat")
    assert cc.utterances == ["how's the weather today?", "lovely weather today", "how are you doing"]
    assert cc.score_threshold == 0.6
    assert sorted(merged.list_route_names()) == ["chitchat", "food", "politics"]
    forced_remote = RouteLayer(encoder=encoder, routes=[Route(name="chitchat", utterances=["yo"])], index=shared(),
                               auto_sync="merge-force-remote")
    assert "yo" not in forced_remote.get("chitchat").utterances
    forced_local = RouteLayer(encoder=encoder, routes=[Route(name="chitchat", utterances=["yo"])], index=shared(),
                              auto_sync="merge-force-local")
    assert forced_local.get("chitchat").utterances == ["yo"]
    assert sorted(forced_local.list_route_names()) == ["chitchat", "food", "politics"]


def test_diff_and_is_synced(shared, encoder):
    a = RouteLayer(encoder=encoder, routes=routes(), index=shared(), auto_sync="local")
    b = RouteLayer(encoder=encoder, index=shared(), auto_sync="remote")
    a.add_utterances("politics", ["vote for me"])
    assert not b.is_synced()
    (d,) = b.diff()
    assert (d.route, d.status, d.utterances_remote_only) == ("politics", "changed", ["vote for me"])
    b.refresh()
    assert b.is_synced() and b.diff() == []


def test_encoder_mismatch_is_refused(shared, encoder):
    RouteLayer(encoder=encoder, routes=routes(), index=shared(), auto_sync="local")

    class Other(DenseEncoder):
        type, name = "other", "other-model"

        @property
        def dimensions(self):
            return 8

        def _encode(self, texts, input_type):
            return np.ones((len(texts), 8))

    with pytest.raises(SyncError, match="other-model"):
        RouteLayer(encoder=Other(), index=shared(), auto_sync="remote")


def test_unpublished_records_are_not_served(shared, encoder):
    a = RouteLayer(encoder=encoder, routes=routes(), index=shared(), auto_sync="local")
    # a writer died after writing a record but before publishing the state
    vec = encoder.encode(["aliens are real and they are here"])[0]
    a.index.upsert([Record("politics", "aliens are real and they are here", vec)])
    b = RouteLayer(encoder=encoder, index=shared(), auto_sync="remote")
    assert b("are aliens real?").name is None
    # the next sync removes the orphan
    b.sync("merge")
    assert "aliens are real and they are here" not in {r.utterance for r in b.index.records()}


@pytest.mark.slow
def test_concurrent_writers_end_with_the_union(shared, encoder):
    RouteLayer(encoder=encoder, routes=routes(), index=shared(), auto_sync="local")
    layers = [RouteLayer(encoder=encoder, index=shared(), auto_sync="remote") for _ in range(3)]
    errors = []

    def work(i, layer):
        try:
            for j in range(3):
                layer.add(Route(name=f"r{i}-{j}", utterances=[f"topic {i} {j}"]))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i, la)) for i, la in enumerate(layers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    final = RouteLayer.from_index(shared(), encoder=encoder)
    expected = {"politics", "chitchat"} | {f"r{i}-{j}" for i in range(3) for j in range(3)}
    assert set(final.list_route_names()) == expected
    ids = [r.id for r in final.index.records()]
    assert len(ids) == len(set(ids)) == 4 + 9


def test_from_index_without_state_is_a_clear_error(shared, encoder):
    with pytest.raises(SyncError, match="no router state"):
        RouteLayer.from_index(shared(), encoder=encoder)

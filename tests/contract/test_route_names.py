"""Every route name that `Route` accepts round-trips through every backend: route filters on
queries, records(route=), ids(route=) and delete(route=) find exactly that route's records."""

from __future__ import annotations

import string
import unicodedata

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from semantic_router import Route
from semantic_router.index.base import Record

DIM = 8
# control characters, every kind of space and line/paragraph separator, and ASCII punctuation
# (RediSearch's query syntax): the characters that broke Redis TAG filters
_SPECIAL = sorted({chr(c) for c in range(0x3000 + 1) if unicodedata.category(chr(c)) in ("Cc", "Zs", "Zl", "Zp")}
                  | set(string.punctuation) | {"\u3000", "\u00a0", "\u2028", "\u2029", "\ufeff", "\u200b"})


def accepted(name: str) -> bool:
    try:
        Route(name=name, utterances=["x"])
        return True
    except (ValidationError, ValueError):
        return False


def vector(i: int) -> np.ndarray:
    v = np.random.default_rng(i).normal(size=DIM).astype(np.float32)
    return v / np.linalg.norm(v)


def check_round_trip(index, names: list[str], sample: int = 20) -> None:
    records = [Record(n, f"utterance {i}", vector(i)) for i, n in enumerate(names)]
    index.upsert(records)
    by_name = {r.route: r for r in records}
    for n in names:
        assert index.ids(route=n) == [by_name[n].id], f"ids(route={n!r})"
        hits = index.query(records[0].dense, top_k=1, routes=[n])  # found even from another route's vector
        assert [h.route for h in hits] == [n], f"query(routes=[{n!r}])"
    for n in names[:: max(1, len(names) // sample)]:
        assert [r.route for r in index.records(route=n)] == [n], f"records(route={n!r})"
    batch = index.query_batch(np.stack([by_name[n].dense for n in names]), top_k=1)
    assert [batch.row(i)[0].route for i in range(len(names))] == names


def test_special_characters_in_route_names(index):
    """Each special character alone (or inside a name where Route refuses it alone, e.g. spaces)."""
    names = [c if accepted(c) else f"a{c}b" for c in _SPECIAL] + ["a\x00", "\x00a"]
    assert len(set(names)) == len(names) > 100 and {"a\u3000b", "a\x1fb", "\x00"} <= set(names) and all(map(accepted, names))
    check_round_trip(index, names)
    doomed = names[::7]
    for n in doomed:
        assert index.delete(route=n) == 1, f"delete(route={n!r})"
    assert index.count() == len(names) - len(doomed)
    assert not {r.route for r in index.records()} & set(doomed)


@pytest.fixture()
def shared(make_index):
    return make_index()


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.text(min_size=1, max_size=8).filter(accepted), min_size=1, max_size=6, unique=True))
def test_any_accepted_route_name_round_trips(shared, names):
    check_round_trip(shared, names)
    for n in names:
        assert shared.delete(route=n) == 1
    assert shared.count() == 0

"""Inputs (issue 8 D, library side): the right answer or a TypeError/ValueError naming the bad value."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from semantic_router import Route, RouteLayer


@pytest.fixture(scope="module")
def rl(encoder):
    return RouteLayer(encoder=encoder, routes=[
        Route(name="weather", utterances=["will it rain today", "how hot is it outside"]),
        Route(name="music", utterances=["play some jazz", "next song please"]),
    ])


def test_one_route_is_taken_as_a_list(encoder):
    one = RouteLayer(encoder=encoder, routes=Route(name="weather", utterances=["will it rain today"]))
    assert one.list_route_names() == ["weather"] and one("is it going to rain").name == "weather"


@pytest.mark.parametrize("routes,match", [
    ("abc", "routes must be a Route or a list of Route objects, got str"),
    ([Route(name="a", utterances=["x"]), "b"], r"routes\[1\] must be a Route, got str"),
    ({"name": "a"}, "got dict"),
    (5, "got int"),
])
def test_bad_routes_are_type_errors(encoder, routes, match):
    with pytest.raises(TypeError, match=match):
        RouteLayer(encoder=encoder, routes=routes)


def test_empty_batches_give_empty_answers(rl):
    assert rl.route_batch([]) == []
    assert rl.route_batch(vectors=[]) == []
    assert rl.route_batch(vectors=np.zeros((0, 384), np.float32)) == []


@pytest.mark.parametrize("vector,error,match", [
    (np.ones((2, 384)), ValueError, r"shape \(2, 384\)"),
    (np.ones(384) * (1 + 1j), TypeError, "complex"),
    (np.full(384, np.inf), ValueError, "infinite"),
    (np.zeros(384), ValueError, "all zeros"),
    (["a"] * 384, TypeError, "numeric"),
])
def test_bad_vectors(rl, vector, error, match):
    with pytest.raises(error, match=match):
        rl(vector=vector)


@pytest.mark.parametrize("scale", [1e30, 1e-30, 1e-38, 1e38])
def test_huge_and_tiny_vectors_normalise_safely(rl, encoder, scale):
    v = encoder.encode(["will it rain today"], "query")[0].astype(np.float64)
    expected = rl(vector=v)
    got = rl(vector=v * scale)
    assert got.name == expected.name == "weather"
    assert got.similarity_score == pytest.approx(expected.similarity_score, abs=1e-5)
    batch = rl.route_batch(vectors=np.stack([v * scale, v, v * 3]))  # a mixed batch: rows rescaled one by one
    assert [c.name for c in batch] == ["weather"] * 3
    for c in batch:
        assert c.similarity_score == pytest.approx(expected.similarity_score, abs=1e-5)


@pytest.mark.parametrize("bad,match", [(np.nan, "NaN or infinite"), (np.inf, "NaN or infinite"), (0.0, "all zeros")])
def test_one_bad_row_fails_the_batch(rl, encoder, bad, match):
    v = encoder.encode(["will it rain today"], "query")[0]
    with pytest.raises(ValueError, match=match):
        rl.route_batch(vectors=np.stack([v, np.full_like(v, bad)]))


def test_lone_surrogates_are_value_errors(rl, encoder):
    with pytest.raises(ValueError, match="not valid Unicode"):
        rl("\ud800")
    with pytest.raises(ValueError, match=r"texts\[1\] is not valid Unicode"):
        rl.route_batch(["fine", "bad \udfff"])
    with pytest.raises(ValueError, match="not valid Unicode"):
        Route(name="x", utterances=["\ud800"])


@pytest.mark.parametrize("name", ["", "  ", " lead", "trail ", "\u3000", "line\u2028", "\ud800"])
def test_blank_padded_or_invalid_route_names_are_refused(name):
    with pytest.raises(ValueError, match="route name"):
        Route(name=name, utterances=["x"])


def test_route_names_that_round_trip_are_kept():
    for name in ("a b", "día", "东京", "a-b_c.d", "emoji 🚀", "a:b/c", "a\x00b", "a\x1fb", "a\u3000b"):
        assert Route(name=name, utterances=["x"]).name == name


@pytest.mark.parametrize("kwargs,match", [
    ({"refresh_interval": math.nan}, "refresh_interval"),
    ({"refresh_interval": -1}, "refresh_interval"),
    ({"lock_timeout": math.nan}, "lock_timeout"),
    ({"lock_timeout": math.inf}, "lock_timeout"),
    ({"lock_timeout": "5"}, "lock_timeout"),
    ({"top_k": 0}, "top_k"),
    ({"top_k": "abc"}, "top_k"),
    ({"alpha": math.nan}, "alpha"),
])
def test_bad_settings_name_the_value(encoder, kwargs, match):
    with pytest.raises((TypeError, ValueError), match=match):
        RouteLayer(encoder=encoder, **kwargs)


def test_add_utterances_needs_some(rl):
    with pytest.raises(ValueError, match="got no utterances"):
        rl.add_utterances("weather", [])
    with pytest.raises(TypeError, match="list of strings"):
        rl.add_utterances("weather", "a string")


# -- property tests over the public API --------------------------------------------------------------
names = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=12).filter(
    lambda s: s == s.strip() and s.strip())
texts = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=40).filter(str.strip)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(routes=st.dictionaries(names, st.lists(texts, min_size=1, max_size=3, unique=True), min_size=1,
                              max_size=4),
       queries=st.lists(texts, min_size=1, max_size=3))
@pytest.mark.slow  # a hypothesis property over many routers
def test_any_valid_routes_and_queries_route_consistently(encoder, routes, queries):
    rl = RouteLayer(encoder=encoder, routes=[Route(name=n, utterances=u) for n, u in routes.items()], rule="centroid")
    single = [rl(q) for q in queries]
    batch = rl.route_batch(queries)
    assert [c.name for c in single] == [c.name for c in batch]
    for c in single:
        assert c.name is None or c.name in routes
    for q in queries:
        many = rl.route_many(q)
        assert len({c.name for c in many}) == len(many) and all(c.name in routes for c in many)
        if rl(q).name is not None:
            assert many[0].name == rl(q).name
    victim = next(iter(routes))
    rl.delete(victim)
    assert all(c.name != victim for c in rl.route_batch(queries))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.floats(allow_nan=True, allow_infinity=True, width=32), min_size=1, max_size=400))
def test_any_vector_gives_an_answer_or_a_clear_error(rl, values):
    try:
        choice = rl(vector=values)
    except (TypeError, ValueError) as exc:
        assert any(w in str(exc) for w in ("shape", "NaN", "infinite", "zeros", "numeric")), exc
    else:
        assert choice.name in (None, "weather", "music")

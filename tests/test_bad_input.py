"""Bad input raises a clear error naming the bad value; nothing is half-applied."""

from __future__ import annotations

import numpy as np
import pytest

from semantic_router import Route, RouteLayer
from semantic_router.errors import RouteNotFoundError


@pytest.fixture()
def rl(encoder, politics_chitchat):
    return RouteLayer(encoder=encoder, routes=politics_chitchat)


@pytest.mark.parametrize("text,exc,msg", [
    ("", ValueError, "empty"),
    ("   ", ValueError, "empty"),
    (42, TypeError, "must be a string, got int"),
    (["a list"], TypeError, "must be a string, got list"),
])
def test_bad_text(rl, text, exc, msg):
    with pytest.raises(exc, match=msg):
        rl(text)


def test_text_and_vector_rules(rl):
    with pytest.raises(ValueError, match="give a text, a vector or messages"):
        rl()
    with pytest.raises(ValueError, match="exactly one of"):
        rl("hi", vector=np.ones(384))
    with pytest.raises(ValueError, match="exactly one of"):
        rl("hi", messages=[{"role": "user", "content": "hi"}])


@pytest.mark.parametrize("vector,msg", [
    (np.ones(10), r"shape \(10,\) does not match the encoder's dimension 384"),
    (np.zeros(384), "all zeros"),
    (np.full(384, np.nan), "NaN"),
    ("text", "numeric"),
])
def test_bad_vectors(rl, vector, msg):
    with pytest.raises((ValueError, TypeError), match=msg):
        rl(vector=vector)


def test_bad_batch(rl):
    with pytest.raises(TypeError, match=r"texts\[1\] must be a string"):
        rl.route_batch(["ok", 3])
    with pytest.raises(ValueError, match="exactly one"):
        rl.route_batch()
    with pytest.raises(ValueError, match="dimension"):
        rl.route_batch(vectors=np.ones((2, 5)))


@pytest.mark.parametrize("kwargs,msg", [
    ({"name": "", "utterances": ["a"]}, "non-empty"),
    ({"name": "x", "utterances": []}, "at least one utterance"),
    ({"name": "x", "utterances": "just a string"}, "list of strings"),
    ({"name": "x", "utterances": ["ok", ""]}, "utterance 1 is empty"),
    ({"name": "x", "utterances": ["ok", 5]}, "utterance 1 must be a string"),
    ({"name": "x", "utterances": ["a"], "score_threshold": 1.5}, "within"),
    ({"name": "x", "utterances": ["a"], "score_threshold": float("nan")}, "within"),
    ({"name": "x", "utterances": ["a"], "distance_threshold": 3}, "distance_threshold"),
    ({"name": "x", "utterances": ["a"], "score_threshold": 0.5, "distance_threshold": 0.5}, "not both"),
    ({"name": "x", "utterances": ["a"], "aggregation": "median"}, "aggregation"),
    ({"name": "x", "utterances": ["a"], "metadata": {"f": object()}}, "JSON"),
])
def test_bad_routes(kwargs, msg):
    with pytest.raises(ValueError, match=msg):
        Route(**kwargs)


def test_utterances_are_deduplicated():
    assert Route(name="x", utterances=["a", "b", "a"]).utterances == ["a", "b"]


@pytest.mark.parametrize("kwargs,exc,msg", [
    ({"top_k": 0}, ValueError, "top_k"),
    ({"aggregation": "median"}, ValueError, "aggregation"),
    ({"alpha": 1.5}, ValueError, "alpha"),
    ({"score_threshold": -2}, ValueError, "score_threshold"),
    ({"auto_sync": "sometimes"}, ValueError, "auto_sync"),
    ({"encoder": "minilm"}, TypeError, "DenseEncoder"),
    ({"index": {}}, TypeError, "Index"),
])
def test_bad_layer_settings(encoder, kwargs, exc, msg):
    with pytest.raises(exc, match=msg):
        RouteLayer(**({"encoder": encoder} | kwargs))


def test_duplicate_routes_refused_at_construction(encoder):
    with pytest.raises(ValueError, match="duplicate route name 'a'"):
        RouteLayer(encoder=encoder, routes=[Route(name="a", utterances=["x"]), Route(name="a", utterances=["y"])])


def test_unknown_route_names(rl):
    for call in (lambda: rl.get("nope"), lambda: rl.delete("nope"), lambda: rl.update("nope", metadata={}),
                 lambda: rl.get_utterances("nope"), lambda: rl("hi", route_filter=["nope"])):
        with pytest.raises(RouteNotFoundError, match="unknown route 'nope'"):
            call()


def test_bad_max_k_and_aggregation(rl):
    with pytest.raises(ValueError, match="max_k"):
        rl.route_many("hi", max_k=0)
    with pytest.raises(ValueError, match="aggregation"):
        rl.route_many("hi", aggregation="median")


def nested(levels: int) -> dict:
    out: dict = {}
    for _ in range(levels):
        out = {"a": out}
    return out


@pytest.mark.parametrize("texts", [{"politics is great": 1, "lovely weather": 2}, {"lovely weather"}])
def test_route_batch_refuses_a_mapping_or_a_set(rl, texts):
    """A dict routed its keys (and a set in no particular order): neither is a list of texts."""
    with pytest.raises(TypeError, match=f"expected a list of strings for texts, got {type(texts).__name__}"):
        rl.route_batch(texts)
    with pytest.raises(TypeError, match="expected a list of strings"):
        rl.add_utterances("politics", texts)


@pytest.mark.parametrize("kwargs,msg", [
    ({"function_schemas": 5}, "expected a list of function schemas, got int: 5"),
    ({"function_schemas": [{"name": "f", "parameters": nested(5000)}]}, r"function_schemas\[0\] is nested deeper"),
    ({"metadata": nested(5000)}, "route metadata is nested deeper than 64 levels"),
    ({"metadata": {"x": object()}}, r"route metadata.x must be plain JSON data"),
])
def test_bad_route_fields_are_clear_errors(kwargs, msg):
    with pytest.raises(ValueError, match=msg):  # not a TypeError or a RecursionError from deep inside
        Route(name="r", utterances=["u"], **kwargs)


@pytest.mark.parametrize("kwargs,exc,msg", [
    ({"history_turns": "x"}, TypeError, "history_turns must be an integer, got str"),
    ({"history_turns": 1.5}, TypeError, "history_turns must be an integer, got float"),
    ({"history_turns": 10**9}, ValueError, "history_turns must be within"),
    ({"history_weight": "x"}, TypeError, "history_weight must be a number"),
])
def test_bad_history_settings(encoder, kwargs, exc, msg):
    with pytest.raises(exc, match=msg):
        RouteLayer(encoder=encoder, **kwargs)


def test_deeply_nested_metadata_is_refused_by_update_and_nothing_changes(rl):
    with pytest.raises(ValueError, match="nested deeper"):
        rl.update("politics", metadata=nested(5000))
    assert rl.get("politics").metadata == {}

"""Property tests over configs and saved files: random route sets round-trip through every format
with identical routing, and random garbage never raises anything but ConfigError."""

from __future__ import annotations

import json
import pickle
import tempfile
from pathlib import Path

import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from semantic_router import Route, RouteLayer
from semantic_router._saved import MAGIC, encode_saved
from semantic_router.errors import ConfigError
from semantic_router.index.local import LocalIndex
from tests.hash_encoder import HashEncoder

pytestmark = pytest.mark.slow  # property tests over many random routers and files

BOUNDED = settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])

words = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=12)
utterance = st.lists(words, min_size=1, max_size=4).map(" ".join).filter(lambda t: t.strip())
threshold = st.none() | st.floats(-1, 1, allow_nan=False)
metadata = st.dictionaries(st.text(max_size=5), st.none() | st.booleans() | st.integers(-9, 9) | st.text(max_size=5),
                           max_size=2)


@st.composite
def routes(draw) -> list[Route]:
    out = []
    for name in draw(st.lists(words, min_size=1, max_size=4, unique=True)):
        try:  # whatever names Route accepts (it may refuse some characters): those must round-trip
            out.append(Route(name=name, utterances=draw(st.lists(utterance, min_size=1, max_size=4)),
                             score_threshold=draw(threshold), metadata=draw(metadata)))
        except (TypeError, ValueError):
            assume(False)
    return out


def same_routing(a: RouteLayer, b: RouteLayer, queries: list[str]) -> None:
    vectors = HashEncoder().encode(queries, "query")
    for vec in vectors:
        x, y = a(vector=vec), b(vector=vec)
        assert (x.name, x.similarity_score) == (y.name, y.similarity_score)


def round_trip(rl: RouteLayer, folder: Path, how: str) -> RouteLayer:
    if how == "dict":
        return RouteLayer.from_dict(rl.to_dict(), encoder=HashEncoder())
    path = folder / f"r.{how}"
    rl.to_file(path)
    return RouteLayer.from_file(path, encoder=HashEncoder())


@BOUNDED
@given(routes=routes(), rule=st.sampled_from(["knn", "centroid", "classifier"]),
       layer_threshold=threshold, top_k=st.integers(1, 6), queries=st.lists(utterance, min_size=1, max_size=4))
@pytest.mark.parametrize("how", ["dict", "yaml", "json", "pkl"])
def test_random_routers_round_trip_with_identical_routing(how, routes, rule, layer_threshold, top_k, queries):
    rl = RouteLayer(encoder=HashEncoder(), routes=routes, rule=rule, score_threshold=layer_threshold, top_k=top_k)
    with tempfile.TemporaryDirectory() as folder:
        back = round_trip(rl, Path(folder), how)
        assert sorted(p.name for p in Path(folder).iterdir()) == ([] if how == "dict" else [f"r.{how}"])
    assert back.to_dict() == rl.to_dict()
    same_routing(rl, back, queries + [u for r in routes for u in r.utterances][:6])


json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
                                                                                     max_size=3), max_leaves=8)
FIELDS = ["format", "version", "encoder", "sparse_encoder", "index", "alpha", "top_k", "aggregation",
          "score_threshold", "routes", "extra", "llm", "history", "encoder_type", "encoder_name"]


def only_config_errors(build) -> None:
    try:
        build()
    except ConfigError:
        pass


@BOUNDED
@given(field=st.sampled_from(FIELDS + ["routes.0." + k for k in ("name", "utterances", "score_threshold",
                                                                     "metadata", "function_schemas", "aggregation",
                                                                     "description")]),
       value=json_values)
def test_any_value_in_any_field_is_accepted_or_a_config_error(field, value):
    data = {"routes": [{"name": "greet", "utterances": ["hello there"]}], "encoder": {"type": "hash"},
            "index": {"type": "local"}}
    if field.startswith("routes.0."):
        data["routes"][0][field.split(".")[-1]] = value
    else:
        data[field] = value
    only_config_errors(lambda: RouteLayer.from_dict(data, encoder=HashEncoder(), index=LocalIndex()))


@BOUNDED
@given(text=st.text(max_size=200) | st.binary(max_size=200).map(lambda b: b.decode("latin-1")),
       suffix=st.sampled_from([".yaml", ".json"]))
def test_garbage_text_files_are_config_errors(text, suffix):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"c{suffix}"
        path.write_text(text, encoding="utf-8")
        only_config_errors(lambda: RouteLayer.from_file(path, encoder=HashEncoder(), index=LocalIndex()))


@BOUNDED
@given(data=json_values)
def test_yaml_and_json_dumps_of_random_data_are_config_errors_or_routers(data):
    with tempfile.TemporaryDirectory() as folder:
        for suffix, text in ((".yaml", yaml.safe_dump(data)), (".json", json.dumps(data))):
            path = Path(folder) / f"c{suffix}"
            path.write_text(text, encoding="utf-8")
            only_config_errors(lambda p=path: RouteLayer.from_file(p, encoder=HashEncoder(), index=LocalIndex()))


@pytest.fixture(scope="module")
def saved_bytes() -> bytes:
    rl = RouteLayer(encoder=HashEncoder(), routes=[Route(name="greet", utterances=["hello there", "hi"]),
                                                   Route(name="bye", utterances=["goodbye now"])])
    with tempfile.TemporaryDirectory() as folder:
        rl.save(Path(folder) / "r.pkl")
        return (Path(folder) / "r.pkl").read_bytes()


@BOUNDED
@given(garbage=st.binary(max_size=300), cut=st.integers(0, 10_000), keep_header=st.booleans())
def test_garbage_and_truncated_saved_files_are_config_errors(saved_bytes, garbage, cut, keep_header):
    candidates = [garbage, saved_bytes[:cut] + garbage, (MAGIC + garbage) if keep_header else garbage[::-1],
                  pickle.dumps(garbage), b"\x80\x05" + garbage]
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "r.pkl"
        for raw in candidates:
            path.write_bytes(raw)
            only_config_errors(lambda: RouteLayer.load(path, encoder=HashEncoder()))


@BOUNDED
@given(payload=json_values, config=st.dictionaries(st.sampled_from(FIELDS), json_values, max_size=3))
def test_well_digested_random_payloads_are_config_errors(payload, config):
    """A file whose digest is right but whose content is random plain data: refused cleanly."""
    records = {"ids": ["x"], "routes": ["greet"], "utterances": ["hello"], "dense": np.ones((1, 32), np.float32),
               "sparse": [None], "metadata": [None]}
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "r.pkl"
        for body in ({"config": payload, "records": payload}, {"config": config, "records": records},
                     {"config": config, "records": records, "rule_state": payload}):
            path.write_bytes(encode_saved(body))
            only_config_errors(lambda: RouteLayer.load(path, encoder=HashEncoder(), index=LocalIndex()))

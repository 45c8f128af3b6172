"""Config round trips (dict/JSON/YAML) and save/load with vectors (loading encodes nothing)."""

from __future__ import annotations

import json
import pickle

import pytest
import yaml

from semantic_router import Route, RouteLayer
from semantic_router.encoders import BM25Encoder, HuggingFaceEncoder
from semantic_router.errors import ConfigError


@pytest.fixture()
def rl(encoder, politics_chitchat):
    return RouteLayer(encoder=encoder, routes=politics_chitchat, top_k=3, aggregation="mean", score_threshold=0.42)


QUERIES = ["don't you love politics?", "lovely weather today", "are aliens real?"]


def answers(rl):
    return [(c.name, None if c.similarity_score is None else round(c.similarity_score, 5)) for c in
            (rl(q) for q in QUERIES)]


def test_dict_round_trip_gives_an_equal_config(rl, encoder):
    d = rl.to_dict()
    assert d["encoder"] == {"type": "huggingface", "name": "sentence-transformers/all-MiniLM-L6-v2"}
    assert d["index"] == {"type": "local"}
    assert (d["top_k"], d["aggregation"], d["score_threshold"]) == (3, "mean", 0.42)
    again = RouteLayer.from_dict(d, encoder=encoder)
    assert again.to_dict() == d
    assert answers(again) == answers(rl)


@pytest.mark.parametrize("suffix", [".json", ".yaml"])
def test_file_round_trip(rl, encoder, tmp_path, suffix):
    path = tmp_path / f"router{suffix}"
    rl.to_file(path)
    text = path.read_text()
    data = json.loads(text) if suffix == ".json" else yaml.safe_load(text)
    assert data["routes"][1]["metadata"] == {"team": "bot"}
    again = RouteLayer.from_file(path, encoder=encoder)
    assert again.to_dict() == rl.to_dict()
    assert answers(again) == answers(rl)
    # explicit names work too
    getattr(rl, f"to_{suffix[1:]}")(path)
    assert getattr(RouteLayer, f"from_{suffix[1:]}")(path, encoder=encoder).to_dict() == rl.to_dict()


def test_hybrid_config_round_trip(encoder, politics_chitchat, tmp_path):
    rl = RouteLayer(encoder=encoder, routes=politics_chitchat, sparse_encoder=BM25Encoder(), alpha=0.6)
    rl.to_yaml(tmp_path / "h.yaml")
    again = RouteLayer.from_yaml(tmp_path / "h.yaml", encoder=encoder)
    assert isinstance(again.sparse_encoder, BM25Encoder) and again.alpha == 0.6
    assert answers(again) == answers(rl)


def test_save_load_encodes_nothing(rl, tmp_path):
    path = tmp_path / "router.pkl"
    rl.save(path)
    fresh = HuggingFaceEncoder()  # a new process would build its own encoder
    loaded = RouteLayer.load(path, encoder=fresh)
    assert fresh.calls == 0
    assert loaded.index.count() == rl.index.count()
    assert loaded.to_dict() == rl.to_dict()
    vec = rl.encoder.encode_queries(["don't you love politics?"])[0]
    assert loaded(vector=vec).name == "politics"
    assert fresh.calls == 0  # routing a vector encodes nothing either
    assert answers(loaded) == answers(rl)


def test_save_load_hybrid(encoder, politics_chitchat, tmp_path):
    rl = RouteLayer(encoder=encoder, routes=politics_chitchat, sparse_encoder=BM25Encoder())
    rl.save(tmp_path / "h.pkl")
    loaded = RouteLayer.load(tmp_path / "h.pkl", encoder=encoder)
    assert answers(loaded) == answers(rl)


def test_load_rebuilds_encoder_from_spec(rl, tmp_path):
    rl.save(tmp_path / "r.pkl")
    loaded = RouteLayer.load(tmp_path / "r.pkl")
    assert isinstance(loaded.encoder, HuggingFaceEncoder)
    assert loaded.encoder.calls == 0 and loaded.encoder._model is None  # weights not even loaded yet


def test_foreign_and_corrupt_files_give_clear_errors(tmp_path, encoder):
    foreign = tmp_path / "foreign.pkl"
    foreign.write_bytes(pickle.dumps({"hello": "world"}))
    with pytest.raises(ConfigError, match="not a saved router"):
        RouteLayer.load(foreign)
    evil = tmp_path / "evil.pkl"
    evil.write_bytes(pickle.dumps(Route(name="x", utterances=["y"])))  # any class: refused, never constructed
    with pytest.raises(ConfigError, match="refusing to load"):
        RouteLayer.load(evil)
    corrupt = tmp_path / "corrupt.pkl"
    corrupt.write_bytes(b"\x80\x05garbage")
    with pytest.raises(ConfigError, match="corrupt or foreign"):
        RouteLayer.load(corrupt)
    with pytest.raises(ConfigError, match="cannot read"):
        RouteLayer.load(tmp_path / "missing.pkl")
    bad_yaml = tmp_path / "bad.yaml"
    bad_yaml.write_text("routes: [unclosed")
    with pytest.raises(ConfigError, match="not valid YAML"):
        RouteLayer.from_yaml(bad_yaml)
    wrong = tmp_path / "wrong.json"
    wrong.write_text(json.dumps({"routes": [{"name": "x", "utterances": []}]}))
    with pytest.raises(ConfigError, match="at least one utterance"):
        RouteLayer.from_json(wrong, encoder=encoder)
    dup = tmp_path / "dup.json"
    dup.write_text(json.dumps({"routes": [{"name": "x", "utterances": ["a"]}, {"name": "x", "utterances": ["b"]}]}))
    with pytest.raises(ConfigError, match="duplicate route name 'x'"):
        RouteLayer.from_json(dup, encoder=encoder)
    unknown = tmp_path / "unknown.json"
    unknown.write_text(json.dumps({"encoder": {"type": "word2vec"}, "routes": []}))
    with pytest.raises(ConfigError, match="unknown encoder type 'word2vec'"):
        RouteLayer.from_json(unknown)


def test_truncated_saved_router_is_refused(rl, tmp_path):
    path = tmp_path / "r.pkl"
    rl.save(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ConfigError):
        RouteLayer.load(path)


def test_reads_other_routers_layout(tmp_path, encoder):
    other = {"encoder_type": "huggingface", "encoder_name": "sentence-transformers/all-MiniLM-L6-v2",
             "routes": [{"name": "politics", "utterances": ["isn't politics the best thing ever"],
                         "description": None, "function_schemas": None, "llm": None, "score_threshold": 0.3,
                         "metadata": {}}]}
    path = tmp_path / "other.json"
    path.write_text(json.dumps(other))
    rl = RouteLayer.from_file(path, encoder=encoder)
    assert rl.get("politics").score_threshold == 0.3
    assert rl("don't you love politics?").name == "politics"

"""Threshold fitting, calibration and persistence of fitted routers, on the real bundled model."""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml

from semantic_router import Route, RouteLayer
from semantic_router.decision.calibration import Calibration
from semantic_router.quality.fit import FitReport, best_threshold, route_thresholds

ROUTES = {
    "weather": ["what's the weather like", "will it rain tomorrow", "is it sunny outside", "how cold is it today"],
    "music": ["play some jazz", "put on my workout playlist", "skip this song", "turn the music up"],
    "billing": ["why was I charged twice", "show me my last invoice", "update my credit card", "I want a refund"],
    "travel": ["book a flight to paris", "find me a hotel in rome", "cancel my train ticket", "when does my flight leave"],
}
DATA = [
    ("do I need an umbrella", "weather"), ("is it going to snow tonight", "weather"), ("forecast for the weekend", "weather"),
    ("play the next track", "music"), ("I want to hear some rock", "music"), ("pause the song", "music"),
    ("there's a double charge on my card", "billing"), ("send me the receipt", "billing"), ("money back please", "billing"),
    ("I need a plane ticket to berlin", "travel"), ("reserve a room for two nights", "travel"),
    ("is my flight delayed", "travel"),
    ("what is the capital of peru", None), ("tell me a joke about cats", None), ("how do I bake sourdough", None),
    ("who won the football game", None), ("what's 17 times 23", None), ("recommend a good novel", None),
]
X = [t for t, _ in DATA]
Y = [r for _, r in DATA]


def make(encoder, **kwargs):
    return RouteLayer(encoder=encoder, routes=[Route(name=n, utterances=u) for n, u in ROUTES.items()], **kwargs)


def decisions(rl, texts=X):
    return [(c.name, None if c.similarity_score is None else round(c.similarity_score, 5)) for c in rl.route_batch(texts)]


def test_best_threshold_by_hand():
    conf = np.array([0.1, 0.2, 0.3, 0.6, 0.7, 0.8])
    pred = np.zeros(6, dtype=np.int64)
    y = np.array([-1, -1, -1, 0, 0, 0])
    t, v = best_threshold(conf, pred, y, "accuracy", 1)
    assert t == pytest.approx(0.45) and v == pytest.approx(1.0)
    # ties in scores are never split; a zero threshold can come out exactly
    t0, _ = best_threshold(np.array([-0.1, 0.1, 0.1]), np.zeros(3, dtype=np.int64), np.array([-1, 0, 0]), "accuracy", 1)
    assert t0 == 0.0 and isinstance(t0, float)
    # balanced weighs the single no-route query as much as all in-scope ones
    conf = np.array([0.5, 0.6, 0.7, 0.8])
    y = np.array([0, 0, 0, -1])
    assert best_threshold(conf, np.zeros(4, dtype=np.int64), y, "accuracy", 1)[0] < 0.5
    tf, vf = best_threshold(conf, np.zeros(4, dtype=np.int64), y, "f1", 1)
    assert 0.0 <= vf <= 1.0
    y = np.array([-1, 0, 0, 0])
    per = route_thresholds(conf, np.zeros(4, dtype=np.int64), y, 0.45, "balanced", ["a", "b"], prior=0.0, window=1.0)
    assert 0.5 < per["a"] < 0.6 and per["b"] == 0.45  # the route's own cut refuses its no-route query
    shrunk = route_thresholds(conf, np.zeros(4, dtype=np.int64), y, 0.45, "balanced", ["a"], prior=4.0, window=1.0)
    assert 0.45 < shrunk["a"] < per["a"]


@pytest.fixture(scope="module")
def vectors(encoder):
    return encoder.encode(X, "query")


def test_fit_is_deterministic_and_stores_plain_floats(encoder, vectors, tmp_path):
    a, b = make(encoder), make(encoder)
    ra = a.fit(X, Y, vectors=vectors, progress=False)
    rb = b.fit(X, Y, progress=False)
    assert isinstance(ra, FitReport)
    assert ra.threshold == rb.threshold and ra.route_thresholds == rb.route_thresholds and ra.params == rb.params
    assert type(a.score_threshold) is float
    assert all(type(r.score_threshold) is float for r in a.routes)
    assert ra.after["accuracy"] >= ra.before["accuracy"]
    cfg = a.to_dict()
    assert cfg["score_threshold"] == ra.threshold and cfg["extra"]["rule"]["lam"] == ra.params["lam"]
    json.dumps(cfg)
    a.to_yaml(tmp_path / "a.yaml")
    assert "!!python" not in (tmp_path / "a.yaml").read_text()
    assert yaml.safe_load((tmp_path / "a.yaml").read_text())["extra"]["fit"]["objective"] == "balanced"
    assert "fit" in str(ra).lower() and json.loads(ra.to_json())["threshold"] == ra.threshold


def test_fitted_behaviour_survives_yaml_json_and_pickle(encoder, vectors, tmp_path):
    rl = make(encoder)
    rl.fit(X, Y, vectors=vectors, calibrate="platt", progress=False)
    before = decisions(rl)
    conf = [c.confidence for c in rl.route_batch(X) if c.name]
    assert conf and all(0.0 <= c <= 1.0 for c in conf)
    rl.to_yaml(tmp_path / "r.yaml")
    rl.to_json(tmp_path / "r.json")
    rl.save(tmp_path / "r.pkl")
    for back in (RouteLayer.from_yaml(tmp_path / "r.yaml", encoder=encoder),
                 RouteLayer.from_json(tmp_path / "r.json", encoder=encoder),
                 RouteLayer.load(tmp_path / "r.pkl", encoder=encoder)):
        assert back.rule.params() == rl.rule.params()
        assert back.score_threshold == rl.score_threshold
        assert decisions(back) == before
        assert [c.confidence for c in back.route_batch(X) if c.name] == pytest.approx(conf)


def test_zero_threshold_is_respected(encoder):
    from semantic_router.quality.fit import _apply

    rl = make(encoder, rule="centroid")
    _apply(rl, {}, 0.0, {n: 0.0 for n in ROUTES}, "balanced", 1, None)
    assert rl.score_threshold == 0.0 and all(r.score_threshold == 0.0 for r in rl.routes)
    assert np.all(rl.snapshot.table.thresholds == 0.0)
    q = encoder.encode(["what is the capital of peru"])
    s = rl.train_rule().scores(q)[0]
    choice = rl(vector=q[0])
    assert (choice.name is not None) == bool(s.max() >= 0.0)
    back = RouteLayer.from_dict(rl.to_dict(), encoder=encoder)
    assert back.score_threshold == 0.0 and all(r.score_threshold == 0.0 for r in back.routes)


@pytest.mark.parametrize("objective", ["accuracy", "f1"])
def test_other_objectives_and_rules(encoder, vectors, objective):
    rl = make(encoder)
    rep = rl.fit(X, Y, objective=objective, vectors=vectors, progress=False, per_route=False)
    assert rep.objective == objective and set(rep.route_thresholds.values()) == {rep.threshold}
    knn = make(encoder, rule="knn")
    rep = knn.fit(X, Y, objective=objective, vectors=vectors, progress=False)
    assert rep.rule == "knn" and rep.params == {} and -1.0 <= rep.threshold <= 1.0
    assert knn.rule_name == "knn"


def test_fit_can_switch_rule_and_calibrate_isotonic(encoder, vectors):
    rl = make(encoder, rule="knn")
    rep = rl.fit(X, Y, rule="classifier", calibrate="isotonic", vectors=vectors, progress=False)
    assert rl.rule_name == "classifier" and rep.calibration == "isotonic"
    cal = rl.snapshot.calibration
    assert cal.kind == "isotonic" and cal.ys == sorted(cal.ys)
    assert Calibration.from_dict(cal.to_dict())(0.5) == cal(0.5)
    rl.fit(X, Y, vectors=vectors, progress=False)  # without calibrate: confidence is raw again
    assert rl("play the next track").confidence is None and "calibration" not in rl.extra


def test_fit_refuses_bad_input(encoder):
    rl = make(encoder)
    with pytest.raises(ValueError, match="objective"):
        rl.fit(X, Y, objective="precision", progress=False)
    with pytest.raises(ValueError, match="lacks"):
        rl.fit(["hi"], ["cooking"], progress=False)
    with pytest.raises(ValueError, match="at least one"):
        rl.fit(["hi"], [None], progress=False)
    with pytest.raises(ValueError, match="no routes"):
        RouteLayer(encoder=encoder).fit(["hi"], [None], progress=False)
    with pytest.raises(ValueError, match="calibrate"):
        rl.fit(X, Y, calibrate="beta", progress=False)


@pytest.mark.slow
def test_cli_fit_and_eval(encoder, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from semantic_router import cli

    rl = make(encoder)
    rl.to_yaml(tmp_path / "r.yaml")
    data = tmp_path / "d.csv"
    data.write_text("text,route\n" + "".join(f'"{t}",{r or ""}\n' for t, r in DATA), encoding="utf-8")
    from semantic_router.cli import loading

    monkeypatch.setattr(loading, "pick_encoder", lambda spec, onnx: encoder)
    runner = CliRunner()
    res = runner.invoke(cli.app, ["fit", str(tmp_path / "r.yaml"), str(data), "--out", str(tmp_path / "f.yaml"),
                                  "--plot", str(tmp_path / "f.png"), "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["objective"] == "balanced"
    assert (tmp_path / "f.png").stat().st_size > 1000
    fitted = RouteLayer.from_yaml(tmp_path / "f.yaml", encoder=encoder)
    assert fitted.extra["fit"]["n"] == len(DATA)
    res = runner.invoke(cli.app, ["eval", str(tmp_path / "f.yaml"), str(data), "--json", "--plot", str(tmp_path / "e.png")])
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["n"] == len(DATA) and (tmp_path / "e.png").stat().st_size > 1000


def test_fitted_values_reach_other_instances_through_sync(encoder, vectors):
    from semantic_router.index.local import LocalIndex

    shared = LocalIndex()
    routes = [Route(name=n, utterances=u) for n, u in ROUTES.items()]
    a = RouteLayer(encoder=encoder, routes=routes, index=shared, auto_sync="local")
    b = RouteLayer(encoder=encoder, index=shared, auto_sync="remote")
    rep = a.fit(X, Y, vectors=vectors, calibrate="platt", progress=False)
    assert b.refresh() is True
    assert b.score_threshold == rep.threshold and b.rule.params() == a.rule.params()
    assert {r.name: r.score_threshold for r in b.routes} == rep.route_thresholds
    assert decisions(b) == decisions(a)
    assert [c.confidence for c in b.route_batch(X)] == [c.confidence for c in a.route_batch(X)]

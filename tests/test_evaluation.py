"""EvalReport, metrics and labelled-data loading, with the real bundled model."""

from __future__ import annotations

import json
import math

import pytest

from semantic_router import RouteLayer
from semantic_router.quality.evaluation import EvalReport, evaluate, load_labelled, metrics


def test_metrics_by_hand():
    y = ["a", "a", "b", None, None, "b"]
    p = ["a", "b", "b", None, "a", None]
    m = metrics(y, p, ["a", "b"], forced=["a", "b", "b", "a", "a", "b"])
    assert m["accuracy"] == pytest.approx(3 / 6)
    assert m["in_scope_accuracy"] == pytest.approx(2 / 4)
    assert m["forced_choice_accuracy"] == pytest.approx(3 / 4)
    assert m["no_route_recall"] == pytest.approx(1 / 2)
    assert m["no_route_precision"] == pytest.approx(1 / 2)
    a = m["per_route"]["a"]
    assert (a.precision, a.recall, a.support, a.predicted) == (pytest.approx(1 / 2), pytest.approx(1 / 2), 2, 2)
    assert m["confusions"][0]["count"] == 1 and len(m["confusions"]) == 3


def test_load_csv_jsonl_json(tmp_path):
    (tmp_path / "d.csv").write_text('text,route\n"hi, there",greet\nbake bread,\n', encoding="utf-8")
    (tmp_path / "d.jsonl").write_text('{"text": "hi", "route": "greet"}\n\n{"text": "bread", "route": null}\n')
    (tmp_path / "d.json").write_text(json.dumps([["hi", "greet"], {"text": "bread", "route": ""}]))
    assert load_labelled(tmp_path / "d.csv") == (["hi, there", "bake bread"], ["greet", None])
    assert load_labelled(tmp_path / "d.jsonl") == (["hi", "bread"], ["greet", None])
    assert load_labelled(tmp_path / "d.json") == (["hi", "bread"], ["greet", None])
    (tmp_path / "bad.csv").write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match="text"):
        load_labelled(tmp_path / "bad.csv")
    (tmp_path / "bad.jsonl").write_text('{"text": "x"}\n{oops\n')
    with pytest.raises(ValueError, match="bad.jsonl:2"):
        load_labelled(tmp_path / "bad.jsonl")


@pytest.fixture()
def layer(encoder, politics_chitchat):
    return RouteLayer(encoder=encoder, routes=politics_chitchat)


def test_evaluate_real_model(layer, tmp_path):
    X = ["I love the president", "the weather is lovely today", "how do I bake sourdough bread"]
    y = ["politics", "chitchat", None]
    report = layer.evaluate(X, y)
    assert isinstance(report, EvalReport)
    assert report.n == 3 and report.n_in_scope == 2 and report.n_no_route == 1
    assert report.forced_choice_accuracy == 1.0
    assert 0.0 <= report.accuracy <= 1.0
    assert set(report.per_route) == {"politics", "chitchat"}
    assert report.latency["decide_ms_per_query"] > 0 and "route_vector_p50_ms" in report.latency
    text = str(report)
    assert "in scope accuracy" in text and "politics" in text
    report.save(tmp_path / "r.json")
    back = json.loads((tmp_path / "r.json").read_text())
    assert back["accuracy"] == report.accuracy and "labels" not in back
    again = EvalReport.from_dict(json.loads(report.to_json(details=True)))
    assert again.per_route["politics"].support == 1 and again.labels == y
    # predictions agree with route_batch
    assert report.predictions == [c.name for c in layer.route_batch(X)]


def test_evaluate_refuses_unknown_labels(layer):
    with pytest.raises(ValueError, match="lacks"):
        evaluate(layer, ["hi"], ["nope"])
    with pytest.raises(ValueError, match="labels"):
        evaluate(layer, ["hi", "there"], ["politics"])


def test_empty_router_reports_all_no_route(encoder):
    report = RouteLayer(encoder=encoder).evaluate(["anything"], [None])
    assert report.accuracy == 1.0 and math.isnan(report.in_scope_accuracy)

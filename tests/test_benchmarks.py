"""The benchmark harness end to end on a tiny CLINC150 slice (real bundled model, temp cache)."""

from __future__ import annotations

import json

import pytest

from benchmarks import data as bd


@pytest.fixture()
def cached(encoder, tmp_path, monkeypatch):
    enc = bd.CachedEncoder(encoder, tmp_path / "cache")
    monkeypatch.setattr(bd, "bundled_encoder", lambda: enc)
    return enc


def test_selections_are_deterministic():
    train = bd.clinc()["train"]
    first = bd.select(train, 10)
    assert len(first) == 150 and all(len(u) == 10 for u in first.values())
    rand = bd.select(train, 10, "random", seed=0)
    assert rand == bd.select(train, 10, "random", seed=0) and rand != first
    assert sum(len(u) for u in bd.select(train, None).values()) == 15000
    texts, labels = bd.labelled("val")
    assert len(texts) == 3100 and labels.count(None) == 100


def test_cached_encoder_reuses_vectors(encoder, tmp_path):
    enc = bd.CachedEncoder(encoder, tmp_path)
    a = enc.encode(["hello there", "book a flight"])
    again = bd.CachedEncoder(encoder, tmp_path)  # reads the file back
    assert (again.encode(["book a flight"])[0] == a[1]).all() and again.misses == 0


def test_harness_runs_end_to_end(cached, tmp_path):
    from benchmarks.__main__ import main

    out = tmp_path / "out"
    doc = tmp_path / "docs" / "benchmarks.md"
    doc.parent.mkdir()
    doc.write_text("# Benchmarks\n\nhand-written text stays\n", encoding="utf-8")
    assert main(["all", "--quick", "--results", str(out), "--doc", str(doc), "--img", str(tmp_path / "docs" / "img")]) == 0
    quality = json.loads((out / "quality-quick.json").read_text())
    rules = quality["selections"][0]["rules"]
    assert set(rules) >= {"knn max (k=5)", "centroid", "classifier"}
    fitted = rules["classifier"]["fits"]["balanced"]
    assert 0.0 <= fitted["test"]["accuracy"] <= 1.0 and "lam" in fitted["params"]
    latency = json.loads((out / "latency-quick.json").read_text())
    assert latency["rows"][0]["vector"]["p50_ms"] > 0
    scale = json.loads((out / "scale-quick.json").read_text())
    assert {r["rule"] for r in scale["rows"]} == {"knn", "centroid", "classifier"}
    text = doc.read_text()
    assert "hand-written text stays" in text
    for section in ("quality-quick", "targets-quick", "latency-quick", "scale-quick"):
        assert f"<!-- {section}:start -->" in text
    assert (tmp_path / "docs" / "img" / "accuracy_vs_threshold-quick.png").stat().st_size > 1000
    assert (tmp_path / "docs" / "img" / "latency_vs_utterances-quick.png").stat().st_size > 1000
    # a rerun replaces the sections instead of appending them
    main(["scale", "--quick", "--results", str(out), "--doc", str(doc), "--img", str(tmp_path / "docs" / "img")])
    assert doc.read_text().count("<!-- scale-quick:start -->") == 1


def test_quality_on_your_own_data(cached, tmp_path):
    from benchmarks.__main__ import main

    (tmp_path / "routes.csv").write_text(
        "text,route\nwill it rain,weather\nis it sunny,weather\nplay jazz,music\nskip this song,music\n")
    (tmp_path / "fit.csv").write_text("text,route\ndo I need an umbrella,weather\nnext track please,music\n"
                                      "what is the capital of peru,\n")
    (tmp_path / "test.csv").write_text("text,route\nforecast for today,weather\nput on some rock,music\n"
                                       "tell me a joke,\n")
    doc = tmp_path / "b.md"
    assert main(["quality", "--routes", str(tmp_path / "routes.csv"), "--fit-data", str(tmp_path / "fit.csv"),
                 "--test-data", str(tmp_path / "test.csv"), "--results", str(tmp_path), "--doc", str(doc),
                 "--img", str(tmp_path)]) == 0
    res = json.loads((tmp_path / "quality-custom.json").read_text())
    assert res["selections"][0]["routes"] == 2 and "classifier" in res["selections"][0]["rules"]
    assert "<!-- quality-custom:start -->" in doc.read_text() and "targets" not in doc.read_text()

"""The production-gateway benchmark's CLINC150 replay on a small slice (real bundled model, temp cache)."""

from __future__ import annotations

import json

import pytest

from benchmarks import data as bd
from benchmarks.gateway_prod import hit_rate, markdown


@pytest.fixture()
def cached(encoder, tmp_path, monkeypatch):
    enc = bd.CachedEncoder(encoder, tmp_path / "cache")
    monkeypatch.setattr(bd, "bundled_encoder", lambda: enc)
    return enc


def test_replay_hit_rate_falls_as_the_threshold_rises(cached):
    res = hit_rate((0.7, 0.8, 0.95), per_intent=3)
    rows = res["rows"]
    assert [r["queries"] for r in rows] == [450] * 3 and res["intents"] == 150
    rates = [r["hit_rate"] for r in rows]
    assert rates[0] > rates[1] > rates[2] >= 0
    assert all(r["hits"] + r["entries"] == 450 for r in rows)  # every miss stored exactly one entry
    assert rows[1]["correct_hits"] > 0.8  # hits mostly serve an answer of the same intent
    table = markdown({"machine": "test", "latency": {}, "hit_rate": res, "reload": []}, "cmd")
    assert "| 0.80 |" in table and "450 queries of 150 intents" in table


def test_main_writes_the_results_json_and_the_markdown_section(tmp_path, monkeypatch, capsys):
    from benchmarks import gateway_prod

    res = {"machine": "test", "latency": {}, "reload": [],
           "hit_rate": {"dataset": "CLINC150", "intents": 2, "rows": [
               {"queries": 4, "threshold": 0.8, "hit_rate": 0.5, "correct_hits": None, "entries": 2}]}}
    monkeypatch.setattr(gateway_prod, "run", lambda quick: res)  # the measurements are tested above
    doc = tmp_path / "benchmarks.md"
    doc.write_text("# Benchmarks\n\nhand-written text stays\n", encoding="utf-8")
    assert gateway_prod.main(["--quick", "--out", str(tmp_path / "out"), "--doc", str(doc)]) == 0
    assert json.loads((tmp_path / "out" / "gateway-prod-quick.json").read_text()) == res
    text = doc.read_text()
    assert "hand-written text stays" in text and "<!-- gateway-prod-quick:start -->" in text
    assert "| 0.80 | 50.0% | - | 2 |" in text
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["benchmarks.md", "gateway-prod-quick.json", "out"]

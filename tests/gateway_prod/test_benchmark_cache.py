"""The production-gateway benchmark's CLINC150 replay on a small slice (real bundled model, temp cache)."""

from __future__ import annotations

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

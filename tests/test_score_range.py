"""Scores are cosines of unit vectors, so they stay in [-1, 1]: float32 dot products landed an ulp outside (a query
equal to an utterance scored 1.0000001192092896, shown as such by `route --json`). They are clipped where they are
computed (index hits, centroid rules, per-route evidence), so every consumer agrees: thresholds, route_many, the
CLI, the gateway. Printed numbers never read "-0.000"."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from semantic_router import Route, RouteLayer
from semantic_router.cli import app, loading
from semantic_router.cli.output import number
from semantic_router.decision.scoring import cosines

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
UTTERANCES = ["lovely weather today", "how's the weather today?", "don't you just love the president",
              "isn't politics the best thing ever"]


def test_cosines_clip_to_the_unit_range_and_keep_padding():
    raw = np.array([[1.0000001, 0.25, -1.0000002, -np.inf, np.nan]], dtype=np.float32)
    out = cosines(raw)
    assert out[0, :3].tolist() == [1.0, 0.25, -1.0] and out[0, 3] == -np.inf and np.isnan(out[0, 4])
    assert raw[0, 0] > 1.0  # the input is left as it was


@pytest.mark.parametrize("rule", ["knn", "centroid", "classifier"])
def test_a_query_equal_to_an_utterance_scores_at_most_one(encoder, rule):
    """One utterance per route, so a route's centroid is that utterance's vector too."""
    routes = [Route(name=f"r{i}", utterances=[u]) for i, u in enumerate(UTTERANCES)]
    rl = RouteLayer(encoder=encoder, routes=routes, rule=rule, score_threshold=-1.0)
    vectors = np.asarray(encoder.encode(UTTERANCES), dtype=np.float32)
    assert (np.einsum("ij,ij->i", vectors, vectors) > 1.0).any()  # float32 self-dot: what overshot
    for choice in rl.route_batch(UTTERANCES, explain=True):
        assert -1.0 <= choice.similarity_score <= 1.0
        assert all(-1.0 <= s <= 1.0 for s in choice.scores.values()), choice.scores
    for many in [rl.route_many(u, max_k=4) for u in UTTERANCES]:
        assert all(-1.0 <= c.similarity_score <= 1.0 for c in many)


def test_route_json_shows_no_similarity_above_one(encoder, monkeypatch):
    monkeypatch.setattr(loading, "pick_encoder", lambda spec, onnx: encoder)
    res = CliRunner().invoke(app, ["route", str(EXAMPLES / "chitchat_politics.yaml"), "lovely weather today", "--json"])
    assert res.exit_code == 0, res.output
    (out,) = json.loads(res.stdout)
    assert out["name"] == "chitchat" and out["similarity_score"] == 1.0  # was 1.0000001192092896
    assert max(out["scores"].values()) <= 1.0


def test_numbers_never_print_as_negative_zero():
    assert [number(v) for v in (-0.0003, -0.0, 0.0004, -0.0006, 0.4567, None)] == \
        ["0.000", "0.000", "0.000", "-0.001", "0.457", "-"]


def test_classify_prints_no_negative_zero():
    pytest.importorskip("fastapi")
    from semantic_router.server.cli import classification_text

    result = {"decision": "general", "model": "general-model", "route": None, "score": None, "confidence": -0.0001,
              "ms": 1.5, "signals": [{"type": "routes", "name": "code", "matched": False, "confidence": -0.0004,
                                      "ms": 1.2}]}
    text = classification_text(result)
    assert "-0.000" not in text
    assert "confidence: 0.000" in text and "routes:code  confidence 0.000  1.20 ms" in text

"""The change-path benchmark: runs end to end on small sizes and writes only to its output folder."""

from __future__ import annotations

import json
import time
from types import SimpleNamespace

import numpy as np
import pytest

from benchmarks import changepath

pytestmark = pytest.mark.slow  # runs the change-path benchmark


def test_changepath_quick_run_writes_only_its_folder(tmp_path):
    from benchmarks.__main__ import main

    out = tmp_path / "out"
    assert main(["changepath", "--quick", "--quiet", "--rules", "lda,centroid,classifier", "--indexes", "local,redis",
                 "--out", str(out)]) == 0
    written = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    assert written == ["benchmarks.md", "results/changepath-quick.json"]  # no temp files left
    res = json.loads((out / "results" / "changepath-quick.json").read_text())
    assert [(r["utterances"], r["routes"]) for r in res["sizes"]] == [(2000, 20), (5000, 50)]
    for row in res["sizes"]:
        assert row["floor_stack_s"] > 0 and row["indexes"]["local"]["build_s"] > 0
        for name in ("lda", "centroid"):
            r = row["rules"][name]
            assert r["build_s"] > 0 and r["add_route_s"] > 0 and r["add_matches_fresh_train"] is True
        staged = row["rules"]["classifier"]  # over its sync budget: a pending interim, then a background refine
        assert staged["pending"] is True and staged["add_matches_fresh_train"] is True
        assert staged["build_refine_s"] > 0 and staged["add_refine_s"] > 0
        assert not row["rules"]["lda"]["pending"] and "add_refine_s" not in row["rules"]["lda"]
        for kind in ("local", "redis"):  # the change through a RouteLayer, a probe thread routing meanwhile
            r = row["router"][kind]
            assert r["rule"] == "classifier" and r["build_pending"] is True and r["add_pending"] is True
            assert 0 < r["build_s"] < r["build_refined_s"] and 0 < r["add_returned_s"] <= r["add_served_s"]
            assert r["add_served_s"] < r["add_refined_s"] and r["refined_serves_new"] is True
            for window in ("refining_build", "adding", "refining_add", "steady"):
                w = r["probe"][window]
                assert w["errors"] == 0 and w["wrong"] == 0, (kind, window, w)
            assert r["probe"]["refining_build"]["calls"] > 0 and r["probe"]["steady"]["calls"] > 0
            assert r["probe"]["steady"]["p99_ms"] > 0
    text = (out / "benchmarks.md").read_text()
    assert "| 2,000 / 20 | lda |" in text and "| 2,000 / 20 | classifier (pending interim) |" in text
    assert "| 5,000 / 50 | redis |" in text and "Machine load" in text


def test_synthetic_routes_are_read_only_unit_vectors():
    v = changepath.clustered(3, 5, dims=16)
    assert list(v) == ["route-00000", "route-00001", "route-00002"]
    for x in v.values():
        assert x.shape == (5, 16) and x.dtype == np.float32 and not x.flags.writeable
        np.testing.assert_allclose(np.linalg.norm(x, axis=1), 1.0, atol=1e-5)
    assert all(np.array_equal(a, b) for a, b in zip(v.values(), changepath.clustered(3, 5, dims=16).values()))


def test_probe_counts_errors_and_wrong_answers_by_window():
    from benchmarks.live_change import Probe

    class Flaky:
        """Answers "a" for the first query vector, "b" for the second, raises for the third."""

        def __call__(self, vector):
            k = int(np.argmax(vector))
            if k == 2:
                raise ValueError("broken snapshot")
            return SimpleNamespace(name="ab"[k])

    queries = np.eye(3, dtype=np.float32)
    with Probe(Flaky(), queries, ["a", "x", "c"], interval=0.0005) as probe:
        while len(probe.calls) < 60:
            time.sleep(0.005)
    w = probe.window(0.0, float("inf"))
    assert w["calls"] == len(probe.calls) >= 60 and w["errors"] > 0 and w["wrong"] > 0
    assert w["calls"] - w["errors"] - w["wrong"] > 0  # query 0 answered right
    assert "ValueError: broken snapshot" in w["first_error"] and w["p99_ms"] >= w["p50_ms"] > 0
    assert probe.window(0.0, 0.0)["calls"] == 0


def test_refine_cost_reports_wall_and_cpu_seconds_and_the_add_agrees_with_a_cold_refine():
    from benchmarks import refine_cost

    res = refine_cost.run(3_000, 30)
    for key in ("build_interim", "refine_build", "add_interim", "refine_add"):
        assert res[f"{key}_s"] > 0 and res[f"{key}_cpu_s"] >= 0
    assert res["add_agrees_with_cold"] >= 0.95
    served = refine_cost.add_served(repeats=2)
    assert 0 < served["add_served_wall_min_s"] <= served["add_served_wall_median_s"]

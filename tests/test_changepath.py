"""The change-path benchmark: runs end to end on small sizes and writes only to its output folder."""

from __future__ import annotations

import json

import numpy as np

from benchmarks import changepath


def test_changepath_quick_run_writes_only_its_folder(tmp_path):
    from benchmarks.__main__ import main

    out = tmp_path / "out"
    assert main(["changepath", "--quick", "--quiet", "--rules", "lda,centroid,classifier", "--out", str(out)]) == 0
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
    text = (out / "benchmarks.md").read_text()
    assert "| 2,000 / 20 | lda |" in text and "| 2,000 / 20 | classifier (pending interim) |" in text


def test_synthetic_routes_are_read_only_unit_vectors():
    v = changepath.clustered(3, 5, dims=16)
    assert list(v) == ["route-00000", "route-00001", "route-00002"]
    for x in v.values():
        assert x.shape == (5, 16) and x.dtype == np.float32 and not x.flags.writeable
        np.testing.assert_allclose(np.linalg.norm(x, axis=1), 1.0, atol=1e-5)
    assert all(np.array_equal(a, b) for a, b in zip(v.values(), changepath.clustered(3, 5, dims=16).values()))

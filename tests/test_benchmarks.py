"""The benchmark harness end to end on a tiny CLINC150 slice (real bundled model, temp cache)."""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import threading
from pathlib import Path

import pytest

from benchmarks import data as bd
from benchmarks import output
from tests.hash_encoder import HashEncoder

pytestmark = pytest.mark.slow  # runs the benchmark harnesses end to end


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


def tracked_outputs() -> dict[str, str]:
    """Hash of every file the benchmarks used to rewrite (docs/, benchmarks/results/)."""
    root = Path(__file__).resolve().parent.parent
    files = [p for d in (root / "docs", root / "benchmarks" / "results") if d.exists() for p in d.rglob("*")
             if p.is_file()]
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


def test_harness_runs_end_to_end_into_its_output_folder(cached, tmp_path, capsys, onnx_cache, monkeypatch):
    from benchmarks.__main__ import main

    monkeypatch.setenv("SEMANTIC_ROUTER_CACHE", str(onnx_cache.path))  # the encoders benchmark reuses its export
    before = tracked_outputs()
    out = tmp_path / "out"
    assert main(["all", "--quick", "--quiet", "--out", str(out)]) == 0
    assert capsys.readouterr().out == ""  # --quiet: no log lines (and no bars off a terminal)
    quality = json.loads((out / "results" / "quality-quick.json").read_text())
    rules = quality["selections"][0]["rules"]
    assert set(rules) >= {"knn max (k=5)", "centroid", "classifier"}
    fitted = rules["classifier"]["fits"]["balanced"]
    assert 0.0 <= fitted["test"]["accuracy"] <= 1.0 and "lam" in fitted["params"]
    latency = json.loads((out / "results" / "latency-quick.json").read_text())
    assert latency["rows"][0]["vector"]["p50_ms"] > 0
    scale = json.loads((out / "results" / "scale-quick.json").read_text())
    assert {r["rule"] for r in scale["rows"]} == {"knn", "centroid", "classifier"}
    core = json.loads((out / "results" / "core-quick.json").read_text())
    assert set(core["rules"]) == {"knn", "classifier"} and Path(core["library"]) == output.ROOT / "semantic_router"
    for r in core["rules"].values():  # each path against the numpy floor measured in the same process
        assert r["floor_single_us"] > 0 and r["single_x_floor"] == pytest.approx(r["single_us"] / r["floor_single_us"],
                                                                                 rel=0.02, abs=0.01)
        assert r["floor_batch_us"] > 0 and r["batch_x_floor"] > 0 and r["batch_vector_qps"] > 0
    text = (out / "benchmarks.md").read_text()
    assert "Machine load (1-minute average" in text
    for section in ("quality-quick", "targets-quick", "latency-quick", "scale-quick", "core-quick"):
        assert f"<!-- {section}:start -->" in text
    assert "](img/accuracy_vs_threshold-quick.png)" in text
    assert (out / "img" / "accuracy_vs_threshold-quick.png").stat().st_size > 1000
    assert (out / "img" / "latency_vs_utterances-quick.png").stat().st_size > 1000
    assert tracked_outputs() == before  # docs/ and benchmarks/results/ untouched without --update-docs
    assert not [p for p in out.rglob("*.tmp")]  # atomic writes leave no temp files
    # every router the harness made is closed: no background refresh polls a Redis it has stopped
    assert [t.name for t in threading.enumerate() if t.name == "semantic-router-refresh"] == []


def test_default_output_folder_leaves_tracked_files_alone(capsys):
    from benchmarks.__main__ import main

    before = tracked_outputs()
    assert main(["coldstart", "--quick"]) == 0
    assert "wrote" in capsys.readouterr().out
    res = json.loads((output.DEFAULT_OUT / "results" / "coldstart-quick.json").read_text())
    steps = {r["step"]: r for r in res["rows"]}
    assert steps["semantic-router routes topics.yaml"]["median_s"] > 0
    assert res["routes_imports_heavy"] == []  # `routes` loads no model runtime
    assert tracked_outputs() == before


def test_update_docs_writes_the_tracked_copies_and_keeps_hand_written_text(tmp_path):
    doc = tmp_path / "docs" / "benchmarks.md"
    doc.parent.mkdir()
    doc.write_text("# Benchmarks\n\nhand-written text stays\n", encoding="utf-8")
    dest = output.Output(tmp_path / "out", update_docs=True, docs=doc, docs_img=tmp_path / "docs" / "img",
                         tracked_results=tmp_path / "results")
    dest.json("x", {"a": 1})
    link = dest.plot("p.png", lambda fh: fh.write(b"png"))
    dest.section("x", f"one ![plot]({link})")
    dest.section("x", "two")  # a rerun replaces the section instead of appending it
    for md in (doc, tmp_path / "out" / "benchmarks.md"):
        text = md.read_text()
        assert text.count("<!-- x:start -->") == 1 and "two" in text and "one" not in text
    assert "hand-written text stays" in doc.read_text()
    assert json.loads((tmp_path / "results" / "x.json").read_text()) == {"a": 1}
    assert (tmp_path / "docs" / "img" / "p.png").read_bytes() == b"png" == (tmp_path / "out" / "img" / "p.png").read_bytes()
    without = output.Output(tmp_path / "out2")
    without.section("y", "body")
    assert "<!-- y:start -->" not in doc.read_text()


def test_a_failed_write_leaves_the_old_file_and_no_temp(tmp_path):
    target = output.write_atomic(tmp_path / "f.json", "old")
    dest = output.Output(tmp_path)

    def broken(fh):
        fh.write(b"half")
        raise RuntimeError("plot failed")

    with pytest.raises(RuntimeError):
        dest.plot("f.png", broken)
    assert target.read_text() == "old" and sorted(p.name for p in tmp_path.rglob("*")) == ["f.json"]


def test_every_benchmark_writer_keeps_the_old_file_when_the_rename_fails(tmp_path, monkeypatch):
    from benchmarks import gateway

    res = {"direct": {}, "rows": [1.5]}
    dest = output.Output(tmp_path / "out")
    cache = bd.CachedEncoder(HashEncoder(dims=8), tmp_path / "cache")
    texts = (f"text {i}" for i in itertools.count())  # a new text: the embedding cache saves its files
    writers = {
        "json": lambda: dest.json("x", res),
        "section": lambda: dest.section("x", "body"),
        "plot": lambda: dest.plot("p.png", lambda fh: fh.write(b"png")),
        "gateway": lambda: gateway.save(res, tmp_path / "gw"),
        "vectors": lambda: cache.encode([next(texts)]),
    }
    monkeypatch.setattr(gateway, "markdown", lambda res: "gateway table\n")
    for write in writers.values():
        write()
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    assert any("cache" in str(p) and p.suffix == ".npy" for p in before)

    def broken(*args, **kwargs):
        raise OSError("rename failed")

    with monkeypatch.context() as m:
        m.setattr(os, "replace", broken)
        for write in writers.values():
            with pytest.raises(OSError, match="rename failed"):
                write()
    after = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    assert after == before  # every old file byte-identical, no temporary file left behind


def test_quality_on_your_own_data(cached, tmp_path):
    from benchmarks.__main__ import main

    (tmp_path / "routes.csv").write_text(
        "text,route\nwill it rain,weather\nis it sunny,weather\nplay jazz,music\nskip this song,music\n")
    (tmp_path / "fit.csv").write_text("text,route\ndo I need an umbrella,weather\nnext track please,music\n"
                                      "what is the capital of peru,\n")
    (tmp_path / "test.csv").write_text("text,route\nforecast for today,weather\nput on some rock,music\n"
                                       "tell me a joke,\n")
    out = tmp_path / "out"
    assert main(["quality", "--routes", str(tmp_path / "routes.csv"), "--fit-data", str(tmp_path / "fit.csv"),
                 "--test-data", str(tmp_path / "test.csv"), "--out", str(out), "--quiet"]) == 0
    res = json.loads((out / "results" / "quality-custom.json").read_text())
    doc = out / "benchmarks.md"
    assert res["selections"][0]["routes"] == 2 and "classifier" in res["selections"][0]["rules"]
    assert "<!-- quality-custom:start -->" in doc.read_text() and "targets" not in doc.read_text()


def test_core_baseline_imports_the_library_of_the_other_tree(tmp_path):
    """`core --baseline TREE` runs the benchmark with TREE's semantic_router and this checkout's benchmarks."""
    import os
    import subprocess
    import sys

    from benchmarks import core

    tree = tmp_path / "old"
    (tree / "semantic_router").mkdir(parents=True)
    (tree / "semantic_router" / "__init__.py").write_text("OLD = True\n")
    work = tmp_path / "work"
    probe = "import benchmarks.core, semantic_router; print(semantic_router.__file__, benchmarks.core.__file__)"
    for where, lib in ((tree, tree / "semantic_router"), (output.ROOT, output.ROOT / "semantic_router")):
        env = {**os.environ, "PYTHONPATH": core.library_path(where, work)}
        done = subprocess.run([sys.executable, "-c", probe], env=env, cwd=work, capture_output=True, text=True,
                              check=True)
        imported, bench = done.stdout.split()
        assert Path(imported).resolve() == (lib / "__init__.py").resolve()
        assert Path(bench).resolve() == output.ROOT / "benchmarks" / "core.py"


def test_core_baseline_must_be_a_source_tree(tmp_path, capsys):
    from benchmarks.__main__ import main

    with pytest.raises(SystemExit) as exc:
        main(["core", "--baseline", str(tmp_path), "--out", str(tmp_path / "out")])
    assert exc.value.code == 2 and "has no semantic_router package" in capsys.readouterr().err

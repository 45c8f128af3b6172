"""Core overhead benchmark: what the router adds on top of its encoder and of a bare numpy scan.

Per decision rule, routes from CLINC150 K=10 first (1,500 utterances), LocalIndex, bundled model:

* text in: the router's p50 against the encoder's own p50 on the same uncached texts (paired), and a
  repeated query served from the cache;
* vectors in, against the numpy floor on the same utterance matrix (`matrix @ v` + argmax per query;
  `vectors @ matrix.T` + argmax for a batch): 1,000 single calls and one `route_batch` of the same
  1,000 vectors. Router and floor alternate for several rounds so machine load hits both alike (best
  round of each); the ratios to the floor compare across runs and machines.

numpy's BLAS runs on one thread while a router is timed (router and floor alike). A staged rule is timed
once refined (`train_rule()`), as the tree before the redesign trained its rule on the first query.

`compare(trees)` runs this in one fresh process per source tree, alternating the trees for several
rounds: two versions of the library (before and after a change) measured back to back, each as
ratios to its own floor. Usage: `python -m benchmarks core [--baseline TREE]`.
"""

from __future__ import annotations

import hashlib
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from benchmarks.output import ROOT, bar, load_average, show_progress

RULES = ("knn", "classifier")
#: figures compared between trees (medians over rounds); the ratios are the ones to read
FIELDS = ("text_overhead_ms", "cache_hit_p50_ms", "single_us", "floor_single_us", "single_x_floor",
          "batch_us", "floor_batch_us", "batch_x_floor", "batch_speedup")


def timed(fn: Callable[[], Any]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def vector_path(rl: Any, matrix: np.ndarray, vectors: np.ndarray, rounds: int) -> dict[str, float]:
    """Single calls and one batch of `vectors`, each against the numpy floor, in alternating rounds; the best
    round of each."""
    def singles() -> None:
        for v in vectors:
            rl(vector=v)

    def floor_singles() -> None:
        for v in vectors:
            int(np.argmax(matrix @ v))

    runs: dict[str, Callable[[], Any]] = {
        "single": singles, "floor_single": floor_singles,
        "batch": lambda: rl.route_batch(vectors=vectors), "floor_batch": lambda: (vectors @ matrix.T).argmax(axis=1)}
    times: dict[str, list[float]] = {k: [] for k in runs}
    for _ in range(rounds):
        for name, fn in runs.items():
            times[name].append(timed(fn))
    us = {k: min(v) / len(vectors) * 1e6 for k, v in times.items()}
    return {"single_us": round(us["single"], 2), "floor_single_us": round(us["floor_single"], 2),
            "single_x_floor": round(us["single"] / us["floor_single"], 2),
            "batch_us": round(us["batch"], 2), "floor_batch_us": round(us["floor_batch"], 2),
            "batch_x_floor": round(us["batch"] / us["floor_batch"], 2),
            "single_vector_qps": round(1e6 / us["single"]), "batch_vector_qps": round(1e6 / us["batch"]),
            "batch_speedup": round(us["single"] / us["batch"], 1)}


def rule_figures(rl: Any, encoder: Any, texts: list[str], n_texts: int, matrix: np.ndarray, vectors: np.ndarray,
                 rounds: int, enc_times: list[float], n_batch: int = 256) -> dict[str, Any]:
    """One router's figures: text in (paired with the encoder alone, whose times go to `enc_times`), cache
    hits, vectors in against the floor, and a batch of texts. `run` calls it with numpy's BLAS on one thread:
    on 2 shared cores a threaded BLAS call can wait a whole scheduler slice for its second thread, which
    swamps a 50 us product (router and floor alike; the encoder's own threads are not limited)."""
    enc, router, hits = [], [], []
    for t in texts[1000:1000 + n_texts]:  # paired: the encoder alone, then the router with an empty query cache
        enc.append(timed(lambda t=t: encoder.encode([t], "query")))
        encoder.clear_cache()
        router.append(timed(lambda t=t: rl(t)))
        hits.append(timed(lambda t=t: rl(t)))  # repeated: served from the query cache
    enc_times += enc
    text_p50 = float(np.median(router) * 1e3)
    batch_texts = texts[5000:5000 + n_batch] if len(texts) > 5000 + n_batch else texts[-n_batch:]
    encoder.clear_cache()
    batch_text_s = timed(lambda: rl.route_batch(batch_texts))
    return {"text_in_p50_ms": round(text_p50, 3),
            "text_overhead_ms": round(float(np.median(np.subtract(router, enc)) * 1e3), 3),
            "cache_hit_p50_ms": round(float(np.median(hits) * 1e3), 3),
            **vector_path(rl, matrix, vectors, rounds),
            "single_text_qps": round(1e3 / text_p50, 1),
            "batch_text_qps": round(len(batch_texts) / batch_text_s, 1)}


def run(n_texts: int = 200, n_vectors: int = 1000, rounds: int = 9, quick: bool = False) -> dict[str, Any]:
    """The figures per rule; `quick` (the harness test, smoke runs) shrinks every size: K=2 routes (300
    utterances), 100 vectors, 32 batched texts, 2 rounds. Its numbers show the harness works, nothing more."""
    import semantic_router
    from semantic_router import Route, RouteLayer
    from semantic_router.encoders import HuggingFaceEncoder

    from benchmarks.data import clinc, labelled, select

    per_route, n_batch = 10, 256
    if quick:
        n_texts, n_vectors, rounds, per_route, n_batch = 20, 100, 2, 2, 32
    load_before = load_average()
    encoder = HuggingFaceEncoder(cache_size=100_000, show_progress=show_progress())
    routes = [Route(name=n, utterances=u) for n, u in select(clinc()["train"], per_route).items()]
    texts, _ = labelled("test")
    out: dict[str, Any] = {"library": str(Path(semantic_router.__file__).resolve().parent),
                           "per_route": per_route, "utterances": sum(len(r.utterances) for r in routes),
                           "vectors": n_vectors, "batch_texts": n_batch, "rounds": rounds, "rules": {}}
    for t in texts[:10]:
        encoder.encode([t], "query")  # warm up
    vectors = np.asarray(encoder.encode(texts[:n_vectors], "query"), dtype=np.float32)
    matrix = np.asarray(encoder.encode([u for r in routes for u in r.utterances]), dtype=np.float32)
    enc_times: list[float] = []
    for rule in bar(RULES, "core overhead"):
        rl = RouteLayer(encoder=encoder, routes=routes, rule=rule)
        rl(vector=vectors[0])  # the tree before the redesign trained its rule here, on the first query
        rl.train_rule()  # a staged rule: time the final one, not the interim while it is refined in the background
        with threadpool_limits(limits=1, user_api="blas"):
            out["rules"][rule] = rule_figures(rl, encoder, texts, n_texts, matrix, vectors, rounds, enc_times,
                                              n_batch)
        getattr(rl, "close", lambda: None)()  # the tree before the redesign has no close()
    out["encoder_p50_ms"] = round(float(np.median(enc_times) * 1e3), 3)
    out["load_avg"] = [load_before, load_average()]
    return out


def markdown(res: dict[str, Any]) -> str:
    lines = [f"Routes: CLINC150 K={res.get('per_route', 10)} first ({res['utterances']:,} utterances), LocalIndex, "
             f"bundled model. Encoder alone, p50 per uncached query: **{res['encoder_p50_ms']} ms**. Vectors in: "
             f"{res.get('vectors', 1000):,} query "
             f"vectors, best of {res['rounds']} rounds alternating with the numpy floor (BLAS on one thread for both) "
             "on the same utterance "
             "matrix (`matrix @ v` + argmax per query; `vectors @ matrix.T` + argmax per batch).", "",
             "| rule | text-in p50 ms | overhead over the encoder ms (median of paired differences) | cache hit p50 ms | "
             f"single vector call us (x floor) | route_batch of {res.get('vectors', 1000):,} vectors us per query (x floor) | "
             "batch speedup | "
             "texts single q/s | texts batched q/s |",
             "|---|---|---|---|---|---|---|---|---|"]
    for rule, r in res["rules"].items():
        lines.append(f"| {rule} | {r['text_in_p50_ms']} | {r['text_overhead_ms']} | {r['cache_hit_p50_ms']} | "
                     f"{r['single_us']} ({r['single_x_floor']}x) | {r['batch_us']} ({r['batch_x_floor']}x) | "
                     f"{r['batch_speedup']}x | {r['single_text_qps']} | {r['batch_text_qps']} |")
    return "\n".join(lines) + "\n"


# -- two source trees, back to back ------------------------------------------------------------------
def library_path(tree: Path, work: Path) -> str:
    """PYTHONPATH that imports `semantic_router` from `tree` and `benchmarks` from this checkout."""
    tree = tree.resolve()
    if tree == ROOT:
        return str(ROOT)
    shim = work / ("lib-" + hashlib.sha1(str(tree).encode()).hexdigest()[:10])
    shim.mkdir(parents=True, exist_ok=True)
    link = shim / "semantic_router"
    if not link.is_symlink():
        link.symlink_to(tree / "semantic_router", target_is_directory=True)
    return os.pathsep.join([str(shim), str(ROOT)])


def commit_of(tree: Path) -> str:
    done = subprocess.run(["git", "-C", str(tree), "log", "-1", "--format=%h %s"], capture_output=True, text=True)
    return done.stdout.strip()[:90] if done.returncode == 0 else "unknown"


def run_tree(tree: Path, work: Path, quick: bool) -> dict[str, Any]:
    """`run()` in a fresh process on the library of `tree` (its results: the last line of its output);
    checks it really imported that library. The child writes no file, so it needs nothing of the
    library but its public API."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
           "PYTHONPATH": library_path(tree, work)}
    argv = [sys.executable, "-m", "benchmarks.core", *(["--quick"] if quick else [])]
    done = subprocess.run(argv, env=env, cwd=work, capture_output=True, text=True, timeout=1800,
                          stdin=subprocess.DEVNULL)  # cwd: not this checkout, whose package would shadow the tree's
    if done.returncode != 0:
        raise RuntimeError(f"core benchmark on {tree} failed: {done.stderr.strip()[-800:]}")
    res = json.loads(done.stdout.strip().splitlines()[-1])
    if Path(res["library"]) != (tree.resolve() / "semantic_router"):
        raise RuntimeError(f"expected the library of {tree}, the benchmark imported {res['library']}")
    return res


def compare(trees: dict[str, Path], work: Path, rounds: int = 3, quick: bool = False,
            log: Callable[[str], None] = print) -> dict[str, Any]:
    """`run()` for each labelled tree in fresh processes, alternating trees for `rounds` rounds."""
    work.mkdir(parents=True, exist_ok=True)
    runs: dict[str, list[dict[str, Any]]] = {label: [] for label in trees}
    load_before = load_average()
    for i in range(rounds):
        for label, tree in trees.items():
            runs[label].append(run_tree(tree, work, quick))
            r = runs[label][-1]["rules"]
            log(f"  round {i + 1}/{rounds} {label}: " + ", ".join(
                f"{k} single {v['single_x_floor']}x / batch {v['batch_x_floor']}x floor" for k, v in r.items()))
    out: dict[str, Any] = {"rounds": rounds, "load_avg": [load_before, load_average()], "trees": {}}
    for label, tree in trees.items():
        first = runs[label][0]
        out["trees"][label] = {
            "tree": str(tree), "commit": commit_of(tree), "utterances": first["utterances"],
            "encoder_p50_ms": round(statistics.median(r["encoder_p50_ms"] for r in runs[label]), 3),
            "rules": {rule: {f: round(statistics.median(r["rules"][rule][f] for r in runs[label]), 3) for f in FIELDS}
                      for rule in first["rules"]},
            "runs": runs[label]}
    return out


def compare_markdown(res: dict[str, Any]) -> str:
    trees = res["trees"]
    lines = [f"Each tree ran in {res['rounds']} fresh processes, alternating (load average {res['load_avg'][0]} "
             f"before, {res['load_avg'][1]} after, {os.cpu_count()} CPUs); cells are medians over the rounds. "
             "Routes: CLINC150 K=10 first (1,500 utterances), LocalIndex, bundled model; vectors in: best of "
             f"{res['trees'][next(iter(res['trees']))]['runs'][0]['rounds']} alternating rounds per process (BLAS on one "
             "thread for both) against "
             "the floor = numpy on the same utterance matrix in the same process (`matrix @ v` + argmax per query, "
             "`vectors @ matrix.T` + argmax per batch of 1,000).", ""]
    lines += [f"- **{label}**: `{t['commit']}` (encoder alone p50 {t['encoder_p50_ms']} ms)" for label, t in trees.items()]
    lines += ["", "| rule | tree | single vector call us | floor us | **x floor** | route_batch us per query | "
              "floor us | **x floor** | batch speedup | text-in overhead over the encoder ms | cache hit p50 ms |",
              "|---|---|---|---|---|---|---|---|---|---|---|"]
    rules = list(next(iter(trees.values()))["rules"])
    for rule in rules:
        for label, t in trees.items():
            r = t["rules"][rule]
            lines.append(f"| {rule} | {label} | {r['single_us']} | {r['floor_single_us']} | **{r['single_x_floor']}** "
                         f"| {r['batch_us']} | {r['floor_batch_us']} | **{r['batch_x_floor']}** | "
                         f"{r['batch_speedup']}x | {r['text_overhead_ms']} | {r['cache_hit_p50_ms']} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":  # pragma: no cover - the child process of `compare`: results as one JSON line
    print(json.dumps(run(quick="--quick" in sys.argv[1:])))

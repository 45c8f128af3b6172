"""Routing quality on CLINC150: every decision rule, routes from K=10 (two selections) and all examples.

For each route selection and rule: forced-choice in-scope accuracy (no thresholds), the
unfitted default threshold, and thresholds fitted with `RouteLayer.fit` on val + oos_val,
all reported on test + oos_test. Also a curve of accuracy against a global threshold, and the
time `fit` takes on the val split with real (uncached) encoding.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from benchmarks import data as bd

SELECTIONS = [
    {"name": "K=10 first", "per_route": 10, "how": "first",
     "note": "first 10 training examples of each intent in file order"},
    {"name": "K=10 random", "per_route": 10, "how": "random", "seed": 0,
     "note": "10 training examples per intent drawn with numpy default_rng(0)"},
    {"name": "ALL", "per_route": None, "how": "first", "note": "all 100 training examples per intent"},
]

RULES = [
    {"name": "knn max (k=5)", "rule": "knn", "note": "previous default: best hit per route"},
    {"name": "knn mean (k=5)", "rule": "knn", "aggregation": "mean", "note": "mean of a route's hits among the top 5"},
    {"name": "knn hybrid (BM25, alpha=0.7)", "rule": "knn", "hybrid": True, "note": "dense + BM25 fusion, max"},
    {"name": "centroid", "rule": "centroid", "note": "cosine to the route's mean vector"},
    {"name": "classifier", "rule": "classifier", "note": "LR head + centroid cosine (default)"},
    {"name": "lda", "rule": "lda", "note": "closed-form shrinkage-LDA head + centroid cosine (fast change path)"},
]

FITS = [
    {"name": "accuracy", "objective": "accuracy"},
    {"name": "balanced", "objective": "balanced"},
    {"name": "balanced, global threshold only", "objective": "balanced", "per_route": False},
]

CURVE = np.round(np.arange(-0.2, 1.0001, 0.02), 3)


def build(routes: dict[str, list[str]], spec: dict[str, Any], encoder: Any) -> Any:
    from semantic_router import Route, RouteLayer

    kwargs: dict[str, Any] = {"rule": spec["rule"]}
    if spec.get("aggregation"):
        kwargs["aggregation"] = spec["aggregation"]
    if spec.get("hybrid"):
        from semantic_router.encoders import BM25Encoder

        kwargs["sparse_encoder"] = BM25Encoder()
    return RouteLayer(encoder=encoder, routes=[Route(name=n, utterances=u) for n, u in routes.items()], **kwargs)


def summary(report: Any) -> dict[str, float]:
    return {k: round(float(v), 4) for k, v in report.summary().items()}


def curve(layer: Any, vectors: np.ndarray, labels: list, sparse: Any = None) -> dict[str, list[float]]:
    """Overall / in-scope accuracy and no-route recall on (vectors, labels) for a global threshold grid."""
    names, agg, _ = layer.score_batch(vectors, sparse)
    filled = np.where(np.isnan(agg), -np.inf, agg)
    pred = filled.argmax(axis=1)
    conf = filled[np.arange(len(pred)), pred]
    code = {n: i for i, n in enumerate(names)}
    y = np.array([-1 if lab is None else code[lab] for lab in labels])
    ins = y >= 0
    out: dict[str, list[float]] = {"threshold": CURVE.tolist(), "accuracy": [], "in_scope_accuracy": [],
                                   "no_route_recall": []}
    for t in CURVE:
        routed = conf >= t
        p = np.where(routed, pred, -1)
        out["accuracy"].append(round(float((p == y).mean()), 4))
        out["in_scope_accuracy"].append(round(float((p[ins] == y[ins]).mean()), 4))
        out["no_route_recall"].append(round(float((~routed[~ins]).mean()), 4) if (~ins).any() else float("nan"))
    return out


def run_selection(sel: dict[str, Any], routes: dict[str, list[str]], encoder: Any, rules: list[dict],
                  fits: list[dict], val: tuple[list, list], test: tuple[list, list], log: Any = print) -> dict[str, Any]:
    """Every rule on one route set: forced choice, default threshold, each fit (on val) -> test."""
    from semantic_router.quality.evaluation import evaluate

    n_utt = sum(len(u) for u in routes.values())
    vx = encoder.encode(val[0], "query")
    tx = encoder.encode(test[0], "query")
    out: dict[str, Any] = {**sel, "routes": len(routes), "utterances": n_utt, "rules": {}}
    for spec in rules:
        t_rule = time.perf_counter()
        t0 = time.perf_counter()
        layer = build(routes, spec, encoder)
        t_build = time.perf_counter() - t0
        t0 = time.perf_counter()
        layer.train_rule()
        t_train = time.perf_counter() - t0
        sparse_t = layer.sparse_encoder.encode_queries(test[0]) if layer.sparse_encoder is not None else None
        row: dict[str, Any] = {"note": spec["note"], "build_s": round(t_build, 3), "train_rule_s": round(t_train, 3)}
        default = evaluate(layer, *test, vectors=tx, latency_sample=0)
        row["default_threshold"] = {**summary(default), "threshold": float(layer.snapshot.table.thresholds[0]),
                                    "settings": layer.rule_settings()}
        row["curve_default"] = curve(layer, tx, test[1], sparse_t)
        row["fits"] = {}
        for f in fits:
            kwargs = {k: v for k, v in f.items() if k != "name"}
            t0 = time.perf_counter()
            rep = layer.fit(val[0], val[1], vectors=vx, progress=False, **kwargs)
            t_fit = time.perf_counter() - t0
            res = evaluate(layer, *test, vectors=tx, latency_sample=0)
            row["fits"][f["name"]] = {"test": summary(res), "val_after": {k: round(v, 4) for k, v in rep.after.items()},
                                      "threshold": round(rep.threshold, 4), "params": rep.params,
                                      "fit_s_cached_vectors": round(t_fit, 3),
                                      "decide_ms_per_query": round(res.latency["decide_ms_per_query"], 4)}
            if f["name"] == "balanced":
                row["curve_fitted"] = curve(layer, tx, test[1], sparse_t)
            log(f"  {sel['name']:12s} {spec['name']:30s} fit={f['name']:32s} test {summary(res)}")
        log(f"  {sel['name']:12s} {spec['name']:30s} forced choice {default.forced_choice_accuracy:.4f} "
            f"default-threshold overall {default.accuracy:.4f} (build {t_build:.1f}s, train {t_train:.1f}s)")
        row["seconds"] = round(time.perf_counter() - t_rule, 1)
        out["rules"][spec["name"]] = row
    return out


def fit_timing(d: dict, encoder: Any, log: Any = print) -> dict[str, Any]:
    """Seconds `RouteLayer.fit` takes on CLINC150 val + oos_val (3,100 queries, 150 routes, ALL
    examples), encoding the queries with the real model and training the classifier head."""
    from semantic_router import Route, RouteLayer

    routes = bd.select(d["train"], None)
    layer = RouteLayer(encoder=encoder, routes=[Route(name=n, utterances=u) for n, u in routes.items()],
                       rule="classifier")
    layer.encoder = encoder.inner  # queries go through the real model, uncached
    layer.encoder.clear_cache()
    texts, labels = bd.labelled("val", d)
    t0 = time.perf_counter()
    rep = layer.fit(texts, labels, objective="balanced", progress=False)
    total = time.perf_counter() - t0
    log(f"  fit on val+oos_val (ALL routes, real encoding): {total:.1f}s {rep.seconds}")
    return {"queries": len(texts), "routes": len(routes), "total_s": round(total, 2),
            "parts_s": {k: round(v, 2) for k, v in rep.seconds.items()}}


def quick_data(d: dict, intents: int = 8) -> tuple[dict, tuple[list, list], tuple[list, list]]:
    """A tiny deterministic slice of CLINC150 (first `intents` intents) for smoke runs and tests."""
    keep = set(sorted({i for _, i in d["train"]})[:intents])
    d = {k: [x for x in v if x[1] in keep or x[1] == "oos"] for k, v in d.items()}
    return d, bd.subset(*bd.labelled("val", d), 3, 10), bd.subset(*bd.labelled("test", d), 3, 20)


def run(quick: bool = False, encoder: Any = None, time_fit: bool = False, log: Any = print) -> dict[str, Any]:
    """The quality benchmark; `quick` runs a small subset (20 intents, few queries) for tests."""
    d = bd.clinc()
    encoder = encoder or bd.bundled_encoder()
    val, test = bd.labelled("val", d), bd.labelled("test", d)
    selections, rules = SELECTIONS, RULES
    if quick:
        d, val, test = quick_data(d)
        selections = [dict(SELECTIONS[0], per_route=3, name="K=3 first", note="first 3 per intent"),
                      dict(SELECTIONS[1], name="K=10 random")]
    encoder.warm(val[0] + test[0] if quick else [t for t, _ in d["train"]] + val[0] + test[0])
    t0 = time.perf_counter()
    results = {"dataset": "CLINC150 (data_full.json)" + (" quick subset" if quick else ""),
               "encoder": encoder.name, "fit_on": "val + oos_val", "report_on": "test + oos_test",
               "val_queries": len(val[0]), "test_queries": len(test[0]),
               "selections": [run_selection(s, bd.select(d["train"], s["per_route"], s["how"], s.get("seed", 0)),
                                            encoder, rules, FITS, val, test, log) for s in selections]}
    results["seconds"] = round(time.perf_counter() - t0, 1)
    if time_fit and not quick:
        results["fit_timing"] = fit_timing(d, encoder, log)
    return results


def run_custom(routes_path: str, fit_path: str, test_path: str, encoder: Any = None, log: Any = print) -> dict[str, Any]:
    """Compare the rules on your own data: routes from a router config (YAML/JSON) or a labelled
    CSV/JSONL (`text,route`), thresholds fitted on `fit_path`, figures on `test_path` (both
    labelled CSV/JSONL, empty route = no route expected)."""
    from semantic_router.quality.evaluation import load_labelled

    encoder = encoder or bd.bundled_encoder()
    if routes_path.lower().endswith((".yaml", ".yml", ".json")):
        from semantic_router.config import read_text_config

        routes = {r.name: list(r.utterances) for r in read_text_config(routes_path).routes}
    else:
        texts, labels = load_labelled(routes_path)
        routes = {}
        for t, lab in zip(texts, labels):
            if lab is not None:
                routes.setdefault(lab, []).append(t)
    val, test = load_labelled(fit_path), load_labelled(test_path)
    encoder.warm([u for us in routes.values() for u in us] + val[0] + test[0])
    t0 = time.perf_counter()
    sel = {"name": "your routes", "note": f"routes from {routes_path}"}
    results = {"dataset": f"{routes_path} (fit {fit_path}, test {test_path})", "encoder": encoder.name,
               "fit_on": fit_path, "report_on": test_path, "val_queries": len(val[0]), "test_queries": len(test[0]),
               "selections": [run_selection(sel, routes, encoder, RULES, FITS, val, test, log)]}
    results["seconds"] = round(time.perf_counter() - t0, 1)
    return results

"""Change-path cost: build a router's decision rule and add one route, against the numpy floor.

Synthetic clustered unit vectors (d=384, one random centre per route, float32, read-only like a
router snapshot's arrays). For each size and rule, in one run:

- *floor*: stacking every route's matrix into one (N, d) array (`np.concatenate`), the least any
  index must do with the vectors;
- *build*: `Rule.train(vectors_by_route, names)` from nothing; separately the index's `upsert` of
  every record (LocalIndex, and with `indexes=("local", "redis")` a RediSearch FLAT index);
- *add one route*: `Rule.train(..., previous=<the built rule>)` with one new 100-utterance route (every
  other route's array is the same object, as in the router's snapshots); the index's upsert of its records;
- *background refine*: for a staged rule (`classifier` over its `sync_budget`) `train` returns a
  pending interim, timed as build / add; `refine()` of the built interim (cold) and of the added one
  (warm-started from the refined build) are timed once each: the time until the final rule is served.

Then the same change THROUGH A RouteLayer with the default rule, on each index (`live_change.py`): build
until the constructor returns and until the refined rule is published, add one route until `rl(vector=)`
names it and until its refined rule is published, while a second thread keeps routing (calls answered,
errors, wrong names and p99 latency during the add and during each background refinement).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from benchmarks import live_change
from benchmarks.output import load_average

DIMS = 384
SIZES = ((1_000, 10), (10_000, 100), (100_000, 1_000))
RULES = ("lda", "classifier", "centroid")


def clustered(n_routes: int, per_route: int, dims: int = DIMS, seed: int = 0) -> dict[str, np.ndarray]:
    """Route name -> read-only (per_route, dims) float32 unit vectors around a random centre."""
    rng = np.random.default_rng(seed)
    out = {}
    for r in range(n_routes):
        x = rng.standard_normal(dims).astype(np.float32) + 0.9 * rng.standard_normal((per_route, dims),
                                                                                      dtype=np.float32)
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        x.setflags(write=False)
        out[f"route-{r:05d}"] = x
    return out


def best_of(fn: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    """Fastest wall time of `repeats` calls, and the last result."""
    best, result = float("inf"), None
    for _ in range(repeats):
        t0 = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t0)
    return best, result


def records(vectors: dict[str, np.ndarray]) -> list[Any]:
    from semantic_router.index.base import Record

    return [Record(route=name, utterance=f"{name} #{i}", dense=row)
            for name, x in vectors.items() for i, row in enumerate(x)]


def make_index(kind: str) -> Any:
    """A fresh, empty index: "local" (in process) or "redis" (RediSearch FLAT on a loopback redis-server
    started for the run, or $REDIS_URL)."""
    if kind == "local":
        from semantic_router.index.local import LocalIndex

        return LocalIndex()
    if kind == "redis":
        import uuid

        from semantic_router.index.redis import RedisIndex
        from tests.redis_server import server_url

        return RedisIndex(server_url(), name=f"changepath{uuid.uuid4().hex[:8]}", algorithm="flat")
    raise ValueError(f"index must be 'local' or 'redis', got {kind!r}")


def upsert_time(vectors: dict[str, np.ndarray], index: Any) -> float:
    recs = records(vectors)
    t0 = time.perf_counter()
    index.upsert(recs)
    return time.perf_counter() - t0


def measure(n_utterances: int, n_routes: int, rules: Sequence[str], repeats: int = 3,
            log: Callable[[str], None] = print, indexes: Sequence[str] = ("local",), steady: float = 1.0
            ) -> dict[str, Any]:
    from semantic_router.decision.rules import Rule, make_rule

    per = n_utterances // n_routes
    vectors = clustered(n_routes, per)
    names = list(vectors)
    extra = clustered(1, 100, seed=1)["route-00000"]
    grown, grown_names = {**vectors, "new-route": extra}, [*names, "new-route"]
    floor, _ = best_of(lambda: np.concatenate([vectors[n] for n in names]), repeats)
    row: dict[str, Any] = {"utterances": n_utterances, "routes": n_routes, "dims": DIMS,
                           "floor_stack_s": floor, "indexes": {}, "rules": {}}
    log(f"  {n_utterances} / {n_routes}: numpy floor {floor:.3f}s")
    for kind in indexes:
        index = make_index(kind)
        build = upsert_time(vectors, index)
        add = upsert_time({"new-route": extra}, index)
        row["indexes"][kind] = {"build_s": build, "add_route_s": add}
        log(f"    {kind} index upsert {build:.3f}s (+{add:.4f}s for one route)")
        index.drop()  # removes a remote index and its records
    q = extra[:8]
    for name in rules:
        rule = make_rule(name)
        build, trained = best_of(lambda rule=rule: rule.train(vectors, names), repeats)
        res: dict[str, Any] = {}
        if trained.pending:  # staged: the interim is published at once, refine() runs in the background
            log(f"    {name}: build interim {build:.3f}s, refining")
            cpu = time.process_time()
            res["build_refine_s"], trained = best_of(trained.refine, 1)
            res["build_refine_cpu_s"] = time.process_time() - cpu
            log(f"    {name}: background refine of the build {res['build_refine_s']:.1f}s")
        add, added = best_of(lambda rule=rule, trained=trained: rule.train(grown, grown_names, previous=trained),
                             repeats)
        fresh = rule.train(grown, grown_names)
        res.update({"build_s": build, "add_route_s": add, "build_x_floor": build / floor, "pending": trained.pending
                    or added.pending, "incremental": type(rule).train is not Rule.train,  # else a full retrain
                    "add_matches_fresh_train": bool(np.allclose(added.scores(q), fresh.scores(q), atol=1e-4))})
        if added.pending:
            cpu = time.process_time()
            res["add_refine_s"], _ = best_of(added.refine, 1)
            res["add_refine_cpu_s"] = time.process_time() - cpu
        row["rules"][name] = res
        refine = f", background refine {res['add_refine_s']:.1f}s" if "add_refine_s" in res else ""
        log(f"    {name}: build {build:.3f}s ({build / floor:.1f}x floor), add one route {add:.3f}s{refine}, "
            f"incremental == fresh: {res['add_matches_fresh_train']}")
    row["router"] = {}
    for kind in indexes:  # the whole change path a user sees, with a thread querying meanwhile
        row["router"][kind] = live_change.measure(vectors, extra, make_index(kind), steady=steady)
        live_change.summary(row["router"][kind], log, f"{kind} ")
    return row


def run(sizes: Sequence[tuple[int, int]] = SIZES, rules: Sequence[str] = RULES, repeats: int = 3,
        log: Callable[[str], None] = print, indexes: Sequence[str] = ("local",), steady: float = 1.0
        ) -> dict[str, Any]:
    t0 = time.perf_counter()
    load_before = load_average()
    out = {"dims": DIMS, "cpus": os.cpu_count(), "blas_threads": os.environ.get("OPENBLAS_NUM_THREADS", "default"),
           "sizes": [measure(n, r, rules, repeats, log, indexes, steady) for n, r in sizes]}
    out["load_avg"] = [load_before, load_average()]
    out["goals"] = goals(out)
    out["seconds"] = round(time.perf_counter() - t0, 1)
    return out


TARGETS = {(1_000, 10): (0.5, 0.05), (10_000, 100): (0.5, 0.2), (100_000, 1_000): (3.0, 2.0)}
#: issue 18 E: (figure, size, limit in seconds), read from the RouteLayer rows on the local index
GOALS = (("refined after a build", (100_000, 1_000), "build_refined_s", 30.0),
         ("refined after an add", (100_000, 1_000), "add_refined_s", 3.0),
         ("an add served", (1_000, 10), "add_served_s", 0.05))


def markdown(res: dict[str, Any], command: str) -> str:
    head = (f"Command: `{command}` (synthetic clustered unit vectors, d={res['dims']}, {res['cpus']} CPUs, "
            f"BLAS threads {res['blas_threads']}; best of repeats, the floor measured in the same run).")
    columns = ("| utterances / routes | rule | build (s) | x floor | add one route (s) | target build / add (s) | "
               "incremental == fresh train | background refine: build / add (s, wall (CPU)) |")
    lines = [head, "", columns, "|---|---|---|---|---|---|---|---|"]
    for row in res["sizes"]:
        size = f"{row['utterances']:,} / {row['routes']:,}"
        target = TARGETS.get((row["utterances"], row["routes"]))
        tgt = f"<= {target[0]} / <= {target[1]}" if target else "-"
        lines.append(f"| {size} | numpy floor (stack) | {row['floor_stack_s']:.3f} | 1.0 | - | - | - | - |")
        for kind, r in row["indexes"].items():
            lines.append(f"| {size} | {kind} index upsert | {r['build_s']:.3f} | "
                         f"{r['build_s'] / row['floor_stack_s']:.1f} | {r['add_route_s']:.4f} | - | - | - |")
        for name, r in row["rules"].items():
            label = f"{name} (pending interim)" if r.get("pending") else name
            refine = " / ".join((f"{r[k]:.1f}" + (f" ({r[k[:-2] + '_cpu_s']:.1f} CPU)" if k[:-2] + "_cpu_s" in r else ""))
                                if k in r else "-" for k in ("build_refine_s", "add_refine_s"))
            lines.append(f"| {size} | {label} | {r['build_s']:.3f} | {r['build_x_floor']:.1f} | {r['add_route_s']:.3f} "
                         f"| {tgt} | {_same(r)} | {refine} |")
    return "\n".join(lines) + "\n\n" + router_markdown(res) + "\n" + goals_markdown(res)


def goals(res: dict[str, Any]) -> list[dict[str, Any]]:
    """The issue's three figures (`GOALS`) from this run's local-index RouteLayer rows, where measured."""
    out = []
    for label, size, key, limit in GOALS:
        row = next((r for r in res["sizes"] if (r["utterances"], r["routes"]) == size), None)
        value = None if row is None or "local" not in row.get("router", {}) else row["router"]["local"][key]
        out.append({"goal": label, "size": size, "seconds": value, "limit_s": limit,
                    "met": None if value is None else value <= limit})
    return out


def goals_markdown(res: dict[str, Any]) -> str:
    lines = ["Goals (issue 18 E), through a `RouteLayer` on the local index, wall time on this machine:", "",
             "| goal | utterances / routes | seconds | limit (s) | met |", "|---|---|---|---|---|"]
    for g in goals(res):
        seconds = "-" if g["seconds"] is None else f"{g['seconds']:.3f}"
        met = "-" if g["met"] is None else "yes" if g["met"] else "**no**"
        lines.append(f"| {g['goal']} | {g['size'][0]:,} / {g['size'][1]:,} | {seconds} | <= {g['limit_s']} | {met} |")
    return "\n".join(lines) + "\n"


WINDOWS = ("refining_build", "adding", "refining_add", "steady")


def router_markdown(res: dict[str, Any]) -> str:
    """The change through a RouteLayer while a probe thread routes: times, targets, and the probe's calls."""
    rows = [(row, kind, r) for row in res["sizes"] for kind, r in row.get("router", {}).items()]
    if not rows:
        return ""
    rule = rows[0][2]["rule"]
    lines = [f"Through a `RouteLayer` (default rule `{rule}`, lookup encoder so no model time), a second thread routing "
             "a random existing route every 2 ms. *Served*: from the start of `rl.add(route)` until `rl(vector=...)` "
             "names the new route; *refined*: until the refined rule is published (`train_rule()` returns), from the "
             "start of the constructor or of the add. Probe: calls started in each window, answered / errors / wrong "
             "route, and p99 (max) latency in ms: while the build's rule is refined, during the add, while the "
             "add's rule is refined, and steady afterwards.", "",
             "| utterances / routes | index | build (s) | x floor | build refined (s) | add: served (s) | "
             "add refined (s) | target build / served (s) | met | probe: refining build | adding | refining add "
             "| steady |", "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for row, kind, r in rows:
        target = TARGETS.get((row["utterances"], row["routes"]))
        probe = r["probe"]
        clean = all(w["errors"] == 0 and w["wrong"] == 0 for w in probe.values())
        met = "-" if target is None else "yes" if (r["build_s"] <= target[0] and r["add_served_s"] <= target[1]
                                                 and clean and r["refined_serves_new"]) else "**no**"
        cells = [_window(probe[w]) for w in WINDOWS]
        lines.append(f"| {row['utterances']:,} / {row['routes']:,} | {kind} | {r['build_s']:.3f} | "
                     f"{r['build_s'] / row['floor_stack_s']:.1f} | {r['build_refined_s']:.2f} | {r['add_served_s']:.3f}"
                     f"{' (interim)' if r['add_pending'] else ''} | {r['add_refined_s']:.2f} | "
                     f"{'-' if target is None else f'<= {target[0]} / <= {target[1]}'} | {met} | "
                     + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _window(w: dict[str, Any]) -> str:
    if not w["calls"]:
        return "0 calls"
    return (f"{w['calls'] - w['errors'] - w['wrong']} / {w['errors']} / {w['wrong']}; "
            f"{w['p99_ms']} ({w['max_ms']})")


def _same(r: dict[str, Any]) -> str:
    if not r.get("incremental", True):
        return "n/a (full retrain)"
    return "yes" if r["add_matches_fresh_train"] else "NO"

"""The classifier's refinement cost (issue 18 E) in wall and CPU seconds: `python -m benchmarks.refine_cost [N R | add1k]`.

On the change path's synthetic clustered vectors (`changepath.clustered`, d=384): the default rule's
interim, then `refine()` of the build (cold), then one more 100-utterance route (`train(previous=)`
and its `refine()`: only the touched columns), each timed in wall and process CPU seconds on one BLAS
thread (as the background refiner runs), and the refined-after-add head against a cold refine of the
grown route set (argmax agreement on 2 utterances per route). The CPU figures are the ones to compare
on a shared machine; `benchmarks/changepath.py` reports the same through a `RouteLayer`.
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any

import numpy as np

from benchmarks.changepath import clustered
from benchmarks.output import load_average


def timed(fn: Any) -> tuple[float, float, Any]:
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return time.perf_counter() - wall, time.process_time() - cpu, out


def run(n_utterances: int = 100_000, n_routes: int = 1_000, compare: bool = True) -> dict[str, Any]:
    from semantic_router._blas import single_threaded_blas
    from semantic_router.decision.classifier import ClassifierRule

    vectors = clustered(n_routes, n_utterances // n_routes)
    names = list(vectors)
    extra = clustered(1, 100, seed=1)["route-00000"]
    grown, grown_names = {**vectors, "new-route": extra}, [*names, "new-route"]
    rule = ClassifierRule()
    res: dict[str, Any] = {"utterances": n_utterances, "routes": n_routes, "cpus": os.cpu_count(),
                           "load_before": load_average()}
    with single_threaded_blas():
        for key, fn in (("build_interim", lambda: rule.train(vectors, names)),):
            res[key + "_s"], res[key + "_cpu_s"], interim = timed(fn)
        res["refine_build_s"], res["refine_build_cpu_s"], built = timed(interim.refine)
        print(json.dumps(res), flush=True)
        res["add_interim_s"], res["add_interim_cpu_s"], added = timed(lambda: rule.train(grown, grown_names, previous=built))
        res["refine_add_s"], res["refine_add_cpu_s"], refined = timed(added.refine)
        print(json.dumps(res), flush=True)
        if compare:
            cold = rule.train(grown, grown_names).refine()
            q = np.concatenate([extra[:20], *(vectors[n][:2] for n in names)])
            res["add_agrees_with_cold"] = float((refined.scores(q).argmax(1) == cold.scores(q).argmax(1)).mean())
    res["load_after"] = load_average()
    return res


def add_served(repeats: int = 20) -> dict[str, Any]:
    """`rl.add(route)` on a 1,000-utterance / 10-route router until `rl(vector=)` names it: wall and this
    thread's CPU seconds (median and best of `repeats` fresh routers; a lookup encoder, no model time)."""
    from benchmarks.scale import LookupEncoder
    from semantic_router import Route, RouteLayer

    vectors = clustered(10, 100)
    extra = clustered(1, 100, seed=1)["route-00000"]
    encoder = LookupEncoder(np.concatenate([*vectors.values(), extra]))
    routes = [Route(name=n, utterances=[f"u{i}" for i in range(100 * r, 100 * r + 100)]) for r, n in enumerate(vectors)]
    new = Route(name="new", utterances=[f"u{i}" for i in range(1000, 1100)])
    target = extra.mean(axis=0) / np.linalg.norm(extra.mean(axis=0))
    walls, cpus = [], []
    for _ in range(repeats):
        rl = RouteLayer(encoder=encoder, routes=routes)
        rl.train_rule()
        wall, cpu = time.perf_counter(), time.thread_time()
        rl.add(new)
        assert rl(vector=target).name == "new"
        walls.append(time.perf_counter() - wall)
        cpus.append(time.thread_time() - cpu)
        rl.close()
    return {"add_served_wall_median_s": float(np.median(walls)), "add_served_wall_min_s": min(walls),
            "add_served_cpu_median_s": float(np.median(cpus)), "add_served_cpu_min_s": min(cpus),
            "load": load_average()}


if __name__ == "__main__":
    if sys.argv[1:2] == ["add1k"]:
        print(json.dumps(add_served()))
    else:
        print(json.dumps(run(*[int(a) for a in sys.argv[1:3]])))

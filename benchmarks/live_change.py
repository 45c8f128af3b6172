"""A route change through a RouteLayer while another thread keeps routing: is any query kept waiting?

`measure(vectors, extra, index)` builds a `RouteLayer` over given vectors (a lookup encoder maps each
utterance text to its vector, so no model time), with the default rule unless told otherwise. A probe
thread then routes, every `interval` seconds, the mean vector of a random existing route and records
each call's latency and answer, while the main thread times:

- *build*: the constructor (it may publish a pending interim rule), then until the refined rule is
  published (`train_rule()`, which waits for the background refinement);
- *add one route*: `rl.add(Route(...))` until `rl(vector=<the new route's mean>)` names the new route,
  then until the rule refined for the new route set is published;
- *steady*: a quiet stretch after both, the probe's reference latency.

The probe's calls are grouped by the window they started in (refining the build, the add, refining
after the add, steady): calls answered, errors, wrong names, p50 / p99 / max latency.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from benchmarks.scale import LookupEncoder

NEW = "new-route"


@dataclass
class Call:
    start: float
    seconds: float
    correct: bool
    error: str | None


@dataclass
class Probe:
    """A thread routing a random existing route's mean vector every `interval` seconds until stopped."""

    rl: Any
    queries: np.ndarray
    expected: list[str]
    interval: float = 0.002
    calls: list[Call] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.loop, name="changepath-probe", daemon=True)

    def loop(self) -> None:
        rng = np.random.default_rng(1)
        while not self.stop.is_set():
            j = int(rng.integers(len(self.queries)))
            t0 = time.perf_counter()
            try:
                name, error = self.rl(vector=self.queries[j]).name, None
            except Exception as exc:  # counted: the benchmark reports errors, it does not hide them
                name, error = None, f"{type(exc).__name__}: {exc}"[:200]
            self.calls.append(Call(t0, time.perf_counter() - t0, name == self.expected[j], error))
            self.stop.wait(self.interval)

    def __enter__(self) -> Probe:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()

    def window(self, begin: float, end: float) -> dict[str, Any]:
        """Calls that started in [begin, end): how many, errors, wrong answers, latency (ms)."""
        inside = [c for c in self.calls if begin <= c.start < end]
        ms = np.array([c.seconds for c in inside]) * 1e3
        out: dict[str, Any] = {"seconds": round(end - begin, 3), "calls": len(inside),
                               "errors": sum(c.error is not None for c in inside),
                               "wrong": sum(c.error is None and not c.correct for c in inside)}
        if len(inside):
            out.update({"p50_ms": round(float(np.percentile(ms, 50)), 3),
                        "p99_ms": round(float(np.percentile(ms, 99)), 3), "max_ms": round(float(ms.max()), 3)})
        first_error = next((c.error for c in inside if c.error), None)
        if first_error:
            out["first_error"] = first_error
        return out


def mean_vector(x: np.ndarray) -> np.ndarray:
    m = x.astype(np.float64).mean(axis=0)
    return (m / np.linalg.norm(m)).astype(np.float32)


def measure(vectors: dict[str, np.ndarray], extra: np.ndarray, index: Any, rule: str | None = None,
            interval: float = 0.002, steady: float = 1.0, timeout: float = 600.0) -> dict[str, Any]:
    """Build, then add route `NEW` (vectors `extra`), through a RouteLayer on `index` under a probe thread."""
    from semantic_router import Route, RouteLayer

    names = list(vectors)
    matrix = np.concatenate([*(vectors[n] for n in names), extra])
    encoder = LookupEncoder(matrix)
    routes, start = [], 0
    for n in names:
        routes.append(Route(name=n, utterances=[f"u{i}" for i in range(start, start + len(vectors[n]))]))
        start += len(vectors[n])
    new = Route(name=NEW, utterances=[f"u{i}" for i in range(start, start + len(extra))])
    queries = np.stack([mean_vector(vectors[n]) for n in names])
    target = mean_vector(extra)

    t0 = time.perf_counter()
    rl = RouteLayer(encoder=encoder, routes=routes, index=index, rule=rule)
    t_built = time.perf_counter()
    res: dict[str, Any] = {"rule": rl.rule_name, "build_pending": rl.rule.pending, "build_s": t_built - t0}
    try:
        with Probe(rl, queries, names, interval) as probe:
            rl.train_rule()
            t_refined = time.perf_counter()
            time.sleep(min(steady, 0.2))  # a few probe calls between the two changes
            a0 = time.perf_counter()
            rl.add(new)
            a_returned = time.perf_counter()
            served_by_pending = rl.rule.pending
            while rl(vector=target).name != NEW:  # the change is published when add returns: one call here
                if time.perf_counter() - a0 > timeout:
                    raise TimeoutError(f"{NEW} not served {timeout} s after add")
            a_served = time.perf_counter()
            rl.train_rule()
            a_refined = time.perf_counter()
            refined_serves_new = rl(vector=target).name == NEW
            time.sleep(steady)
            end = time.perf_counter()
        res.update({
            "build_refined_s": t_refined - t0, "add_returned_s": a_returned - a0, "add_served_s": a_served - a0,
            "add_pending": served_by_pending, "add_refined_s": a_refined - a0,
            "refined_serves_new": refined_serves_new,
            "probe": {"refining_build": probe.window(t_built, t_refined), "adding": probe.window(a0, a_returned),
                      "refining_add": probe.window(a_returned, a_refined), "steady": probe.window(a_refined, end)}})
    finally:
        if getattr(rl.index, "is_remote", False):
            rl.index.drop()
        rl.close()
    return res


def summary(r: dict[str, Any], log: Callable[[str], None] = print, label: str = "") -> None:
    p = r["probe"]
    log(f"    {label}router ({r['rule']}): build {r['build_s']:.3f}s (refined at {r['build_refined_s']:.1f}s), "
        f"add: new route served after {r['add_served_s']:.3f}s (refined at {r['add_refined_s']:.1f}s); probe calls "
        + ", ".join(f"{k} {w['calls']} (p99 {w.get('p99_ms', '-')} ms, {w['errors']} errors, {w['wrong']} wrong)"
                    for k, w in p.items()))

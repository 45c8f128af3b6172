"""Stopping background refinement: `close` aborts it within one training step and joins the worker, and a
process that exits with refinements running (closed or not) stops them first instead of hanging in BLAS."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from benchmarks.changepath import clustered
from semantic_router.decision.classifier import ClassifierRule, train_logistic
from semantic_router.decision.rules import RefineCancelled
from semantic_router.router.refiner import JOIN_TIMEOUT, Refiner

ROOT = Path(__file__).resolve().parent.parent


def small_problem() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((300, 16)).astype(np.float32)
    codes = np.repeat(np.arange(3), 100)
    x[np.arange(300), codes] += 2.0
    return x / np.linalg.norm(x, axis=1, keepdims=True), codes


def test_train_logistic_stops_at_the_first_product_after_should_stop_turns_true():
    x, codes = small_problem()
    asked = []

    def should_stop() -> bool:
        asked.append(True)
        return len(asked) >= 5

    with pytest.raises(RefineCancelled):
        train_logistic(x, codes, 3, should_stop=should_stop)
    assert len(asked) == 5  # asked before each evaluation's two products: two evaluations ran, the third refused


def test_a_should_stop_that_never_fires_changes_nothing():
    x, codes = small_problem()
    w, b = train_logistic(x, codes, 3)
    w2, b2 = train_logistic(x, codes, 3, should_stop=lambda: False)
    np.testing.assert_array_equal(w, w2)
    np.testing.assert_array_equal(b, b2)


@pytest.fixture(scope="module")
def slow_snapshot() -> SimpleNamespace:
    """A snapshot-like object whose staged classifier takes seconds to refine (20,000 utterances / 200 routes)."""
    vectors = clustered(200, 100)
    names = list(vectors)
    rule = ClassifierRule(sync_budget=0.0).train(vectors, names)
    assert rule.pending
    return SimpleNamespace(rule=rule, vectors=vectors, table=SimpleNamespace(names=names))


def test_close_aborts_a_running_refinement_and_joins_its_worker(slow_snapshot):
    installed = []
    refiner = Refiner(lambda: slow_snapshot, lambda snap, rule: installed.append(rule) or True)
    refiner.submit(slow_snapshot)
    worker = refiner.worker
    assert worker is not None and worker.is_alive()
    time.sleep(0.3)  # inside the training
    t0 = time.monotonic()
    refiner.close()
    assert time.monotonic() - t0 < JOIN_TIMEOUT
    assert not worker.is_alive() and refiner.worker is None
    assert installed == [] and refiner.refinements == 0  # aborted, not finished: the interim keeps serving
    refiner.submit(slow_snapshot)
    assert refiner.worker is None  # closed: nothing new starts


def run_worker(mode: str) -> list[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run([sys.executable, "-m", "tests.refine_exit_worker", "3", "8000", "100", mode],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout.split("\n")


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["close", "leave"])
def test_a_process_exits_cleanly_with_refinements_running(mode):
    lines = run_worker(mode)
    running = next(line for line in lines if line.startswith("refining"))
    assert int(running.split()[1]) >= 1, lines  # the exit really happened during refinement
    if mode == "close":
        closed = next(line for line in lines if line.startswith("closed")).split()
        assert float(closed[1]) < 3 * JOIN_TIMEOUT and closed[2] == "0", lines  # close() joined every worker
    assert "at exit 0" in lines, lines  # not closed: the library's exit hook stopped and joined them

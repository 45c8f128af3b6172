"""Calibration: a route's score -> the probability that routing there is right (Platt or isotonic).

Pure numpy. `fit` (quality/) fits it on labelled queries; the query path (router/routing.py)
applies it to `RouteChoice.confidence`, so it lives here, below the router.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np


@dataclass
class Calibration:
    """Maps a route's score to the probability that routing there is right (Platt or isotonic)."""

    kind: str
    a: float = 0.0
    b: float = 0.0
    xs: list[float] = field(default_factory=list)
    ys: list[float] = field(default_factory=list)

    def __call__(self, score: float) -> float:
        if self.kind == "platt":
            return float(1.0 / (1.0 + math.exp(-(self.a * score + self.b))))
        return float(np.interp(score, self.xs, self.ys))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Calibration:
        return cls(**data)

    @classmethod
    def fit(cls, kind: str, scores: np.ndarray, correct: np.ndarray) -> Calibration:
        s = np.asarray(scores, dtype=np.float64)
        t = np.asarray(correct, dtype=np.float64)
        if kind == "platt":
            return cls("platt", *_platt(s, t))
        if kind == "isotonic":
            xs, ys = _isotonic(s, t)
            return cls("isotonic", xs=xs, ys=ys)
        raise ValueError(f"calibrate must be 'platt', 'isotonic' or None, got {kind!r}")


def _platt(s: np.ndarray, t: np.ndarray) -> tuple[float, float]:
    """Platt scaling with smoothed targets, Newton's method from a fixed start."""
    pos, neg = t.sum(), len(t) - t.sum()
    target = np.where(t > 0, (pos + 1) / (pos + 2), 1 / (neg + 2))
    a, b = 1.0, 0.0
    for _ in range(100):
        p = 1.0 / (1.0 + np.exp(-(a * s + b)))
        g = np.array([((p - target) * s).sum(), (p - target).sum()])
        w = p * (1 - p) + 1e-12
        h = np.array([[(w * s * s).sum(), (w * s).sum()], [(w * s).sum(), w.sum()]]) + 1e-9 * np.eye(2)
        step = np.linalg.solve(h, g)
        a, b = a - step[0], b - step[1]
        if np.abs(step).max() < 1e-10:
            break
    return float(a), float(b)


def _isotonic(s: np.ndarray, t: np.ndarray) -> tuple[list[float], list[float]]:
    """Pool-adjacent-violators: non-decreasing fit of t on s; knots at block mean scores."""
    order = np.argsort(s, kind="stable")
    blocks: list[list[float]] = []  # [sum_t, count, sum_s]
    for i in order:
        blocks.append([t[i], 1.0, s[i]])
        while len(blocks) > 1 and blocks[-2][0] / blocks[-2][1] >= blocks[-1][0] / blocks[-1][1]:
            v, c, x = blocks.pop()
            blocks[-1][0] += v
            blocks[-1][1] += c
            blocks[-1][2] += x
    return [float(x / c) for _, c, x in blocks], [float(v / c) for v, c, _ in blocks]

"""Calibration: a route's score -> the probability that routing there is right (Platt or isotonic).

Fitted by `fit(..., calibrate=...)` and carried in a router's `extra`, so it can come from a
config, a saved file or another replica's shared state: every `Calibration` is validated when it
is made (finite parameters, usable isotonic knots), never on the query path.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

KINDS = ("platt", "isotonic")
MAX_KNOTS = 1_000_000  # an isotonic fit has at most one knot per labelled query


def _finite(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError(f"calibration.{name} must be a number, got {type(value).__name__}: {value!r:.60}")
    if not math.isfinite(value):
        raise ValueError(f"calibration.{name} must be finite, got {value!r}")
    return float(value)


def _knots(values: Any, name: str) -> list[float]:
    if not isinstance(values, (list, tuple)) or len(values) > MAX_KNOTS:
        raise ValueError(f"calibration.{name} must be a list of at most {MAX_KNOTS} numbers, "
                         f"got {type(values).__name__}: {values!r:.60}")
    out = [_finite(v, f"{name}[{i}]") for i, v in enumerate(values)]
    if any(b < a for a, b in zip(out, out[1:])):
        raise ValueError(f"calibration.{name} must be non-decreasing, got {values!r:.80}")
    return out


@dataclass
class Calibration:
    """Maps a route's score to the probability that routing there is right (Platt or isotonic)."""

    kind: str
    a: float = 0.0
    b: float = 0.0
    xs: list[float] = field(default_factory=list)
    ys: list[float] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"calibration.kind must be one of {', '.join(KINDS)}, got {self.kind!r:.60}")
        self.a, self.b = _finite(self.a, "a"), _finite(self.b, "b")
        self.xs, self.ys = _knots(self.xs, "xs"), _knots(self.ys, "ys")
        if self.kind == "isotonic":
            if not self.xs or len(self.xs) != len(self.ys):
                raise ValueError(f"calibration.xs and .ys must be equally long and not empty, got {len(self.xs)} "
                                 f"and {len(self.ys)} knots")
            if self.ys[0] < 0.0 or self.ys[-1] > 1.0:
                raise ValueError(f"calibration.ys must be probabilities in [0, 1], got {self.ys[0]}..{self.ys[-1]}")

    def __call__(self, score: float) -> float:
        if self.kind == "platt":
            z = self.a * score + self.b
            if z >= 0:  # the logistic function, without overflow for large |z|
                return float(1.0 / (1.0 + math.exp(-z)))
            e = math.exp(z)
            return float(e / (1.0 + e))
        return float(np.interp(score, self.xs, self.ys))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Any) -> Calibration:
        """A validated Calibration from its plain form; ValueError naming the bad field."""
        if not isinstance(data, dict):
            raise ValueError(f"calibration must be a mapping, got {type(data).__name__}: {data!r:.60}")
        unknown = set(data) - {"kind", "a", "b", "xs", "ys"}
        if unknown or "kind" not in data:
            raise ValueError(f"calibration must have a kind and only a, b, xs, ys; got keys {sorted(map(str, data))}")
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

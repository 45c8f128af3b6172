"""PNG plots of an evaluation: score distributions with thresholds, confusions of the worst routes.

Needs matplotlib (the `fit` extra). The library never imports this module on its routing path.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Protocol

import numpy as np

from semantic_router.extras import extra
from semantic_router._files import atomic_open

NONE = "(no route)"


class RouteScore(Protocol):
    """A route's figures a plot reads (`evaluation.RouteMetrics`)."""

    @property
    def f1(self) -> float: ...

    @property
    def support(self) -> int: ...


class PlottedReport(Protocol):
    """What a plot reads of an `evaluation.EvalReport` (which calls this module, so it is named by shape)."""

    @property
    def per_route(self) -> Mapping[str, RouteScore]: ...

    @property
    def labels(self) -> list[str | None]: ...

    @property
    def predictions(self) -> list[str | None]: ...

    @property
    def top_scores(self) -> list[float]: ...

    @property
    def thresholds(self) -> dict[str, float]: ...

    @property
    def rule(self) -> str: ...


def confusion(report: PlottedReport, worst: int = 10) -> tuple[list[str], np.ndarray]:
    """Labels (the `worst` routes by F1, then "other" and no route) and the count matrix (true x routed)."""
    ranked = sorted((m.f1 if m.f1 == m.f1 else 1.0, name) for name, m in report.per_route.items() if m.support)
    names = [n for _, n in ranked[:worst]]
    labels = names + ["(other)", NONE]
    pos = {n: i for i, n in enumerate(names)}

    def col(v: str | None) -> int:
        return len(labels) - 1 if v is None else pos.get(v, len(labels) - 2)

    mat = np.zeros((len(labels), len(labels)), dtype=np.int64)
    for t, p in zip(report.labels, report.predictions):
        if t is None or t in pos:
            mat[col(t), col(p)] += 1
    return labels, mat


def plot_report(report: PlottedReport, path: str | Path, worst: int = 10) -> Path:
    with extra("fit", "plotting a report"):
        import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not report.labels:
        raise ValueError("the report has no per-query details (evaluate keeps them; JSON without details lacks them)")
    scores = np.asarray(report.top_scores, dtype=float)
    ins = np.array([y is not None for y in report.labels])
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(13, 5.2), gridspec_kw={"width_ratios": [1, 1.15]})
    finite = np.isfinite(scores)
    bins = np.linspace(np.nanmin(scores[finite]) if finite.any() else 0, np.nanmax(scores[finite]) if finite.any() else 1, 40)
    ax1.hist(scores[ins & finite], bins=bins, alpha=0.6, density=True, label=f"in scope ({int(ins.sum())})")
    if (~ins).any():
        ax1.hist(scores[~ins & finite], bins=bins, alpha=0.6, density=True, label=f"no route ({int((~ins).sum())})")
    th = np.array(list(report.thresholds.values()) or [np.nan])
    if np.isfinite(th).any():
        ax1.axvline(float(np.median(th)), color="k", ls="--", label=f"threshold (median {np.median(th):.3f})")
        if th.max() - th.min() > 1e-9:
            ax1.axvspan(th.min(), th.max(), color="k", alpha=0.08, label="range of route thresholds")
    ax1.set_xlabel(f"best route's score (rule {report.rule or '?'})")
    ax1.set_ylabel("density")
    ax1.set_title("Score of the best route: in scope vs no route")
    ax1.legend(fontsize=8)
    labels, mat = confusion(report, worst)
    ax2.imshow(mat, cmap="Blues")
    ax2.set_xticks(range(len(labels)), labels, rotation=60, ha="right", fontsize=7)
    ax2.set_yticks(range(len(labels)), labels, fontsize=7)
    for i in range(mat.shape[0]):
        for j in range(mat.shape[1]):
            if mat[i, j]:
                ax2.text(j, i, str(mat[i, j]), ha="center", va="center", fontsize=6,
                         color="white" if mat[i, j] > mat.max() / 2 else "black")
    ax2.set_xlabel("routed to")
    ax2.set_ylabel("expected")
    ax2.set_title(f"Confusions of the {len(labels) - 2} weakest routes (by F1)")
    fig.tight_layout()
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        with atomic_open(out, "wb") as fh:  # a failed render leaves an older plot intact
            fig.savefig(fh, format=out.suffix.lstrip(".").lower() or "png", dpi=110)
    finally:
        plt.close(fig)
    return out

"""`TrainReport`: what cross-validation measured of a trained signal, and its confusion matrix as a picture."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from semantic_router._files import atomic_open
from semantic_router.extras import extra

__all__ = ["TrainReport", "measure"]


@dataclass(frozen=True)
class TrainReport:
    """Out-of-fold figures (every training text predicted by a model that did not see it).

    `confusion[i][j]`: texts of label i predicted as label j. Binary signals: `threshold` is the chosen
    operating point and `f1` the positive label's F1 there."""

    name: str
    labels: tuple[str, ...]
    n: int
    cv: int
    accuracy: float
    macro_f1: float
    per_label_f1: dict[str, float]
    confusion: list[list[int]]
    seconds: float
    positive_label: str | None = None
    threshold: float | None = None
    f1: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["labels"] = list(self.labels)
        return out

    def plot(self, path: str | Path, title: str | None = None) -> Path:
        """Write the row-normalised confusion matrix as a PNG (needs the `fit` extra's matplotlib)."""
        with extra("fit", "TrainReport.plot"):
            import matplotlib

            matplotlib.use("Agg")
            import matplotlib.pyplot as plt
        counts = np.asarray(self.confusion, dtype=float)
        rates = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
        size = max(4.0, 0.45 * len(self.labels) + 2.5)
        fig, ax = plt.subplots(figsize=(size + 1, size))
        try:
            image = ax.imshow(rates, cmap="Blues", vmin=0, vmax=1)
            ax.set_xticks(range(len(self.labels)), self.labels, rotation=60, ha="right")
            ax.set_yticks(range(len(self.labels)), self.labels)
            ax.set_xlabel("predicted")
            ax.set_ylabel("true")
            for i in range(len(self.labels)):
                for j in range(len(self.labels)):
                    if rates[i, j] >= 0.005:
                        ax.text(j, i, f"{rates[i, j]:.2f}", ha="center", va="center", fontsize=7,
                                color="white" if rates[i, j] > 0.5 else "black")
            ax.set_title(title or f"{self.name}: accuracy {self.accuracy:.3f}, macro F1 {self.macro_f1:.3f}")
            fig.colorbar(image, ax=ax, fraction=0.046)
            fig.tight_layout()
            with atomic_open(path, "wb") as fh:
                fig.savefig(fh, format="png", dpi=110)
        finally:
            plt.close(fig)
        return Path(path)


def measure(name: str, labels: tuple[str, ...], truth: npt.NDArray[np.int64], predicted: npt.NDArray[np.int64],
            *, cv: int, seconds: float, positive_label: str | None = None, threshold: float | None = None,
            extra: dict[str, Any] | None = None) -> TrainReport:
    """A report from true and predicted label ids (accuracy, F1 per label and macro, confusion counts)."""
    k = len(labels)
    confusion = np.zeros((k, k), dtype=np.int64)
    np.add.at(confusion, (truth, predicted), 1)
    tp = np.diag(confusion).astype(float)
    precision = tp / np.maximum(confusion.sum(axis=0), 1)
    recall = tp / np.maximum(confusion.sum(axis=1), 1)
    f1 = np.where(precision + recall > 0, 2 * precision * recall / np.maximum(precision + recall, 1e-12), 0.0)
    per_label = {label: float(f1[i]) for i, label in enumerate(labels)}
    return TrainReport(name=name, labels=labels, n=int(len(truth)), cv=cv,
                       accuracy=float(tp.sum() / max(len(truth), 1)), macro_f1=float(f1.mean()),
                       per_label_f1=per_label, confusion=confusion.tolist(), seconds=seconds,
                       positive_label=positive_label, threshold=threshold,
                       f1=per_label[positive_label] if positive_label is not None else None, extra=dict(extra or {}))

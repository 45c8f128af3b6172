"""Evaluate a router on labelled queries: accuracy, no-route recall/precision, per-route F1, latency.

Labels are route names, or None for "no route expected". `load_labelled` reads CSV or JSONL
(`text,route`, an empty route meaning no route); `evaluate` encodes the texts once and returns
an `EvalReport` that prints as a table and saves as JSON.
"""

from __future__ import annotations

import csv
import json
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from semantic_router._files import atomic_write

if TYPE_CHECKING:
    from semantic_router.router.layer import CoreRouteLayer as RouteLayer

NO_ROUTE = None
_TEXT_KEYS = ("text", "utterance", "query")
_LABEL_KEYS = ("route", "label", "intent")


# -- data -------------------------------------------------------------------------------------
def load_labelled(path: str | Path) -> tuple[list[str], list[str | None]]:
    """Read labelled queries from CSV (header `text,route`) or JSONL (`{"text": .., "route": ..}`).

    An empty or missing route (or JSON null) means "no route expected". `.json` files may hold a
    list of such objects or of `[text, route]` pairs.
    """
    p = Path(path)
    try:
        raw = p.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:  # a binary or non-UTF-8 file too: the message names it
        raise ValueError(f"cannot read labelled data {str(p)!r}: {exc}") from exc
    suffix = p.suffix.lower()
    if suffix in (".jsonl", ".ndjson"):
        rows = []
        for n, line in enumerate(raw.splitlines(), 1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise ValueError(f"{p}:{n}: not valid JSON: {exc}") from exc
    elif suffix == ".json":
        try:
            rows = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{p}: not valid JSON: {exc}") from exc
        if not isinstance(rows, list):
            raise ValueError(f"{p}: expected a list of {{text, route}} objects")
    else:
        reader = csv.DictReader(raw.splitlines())
        if not reader.fieldnames or not any(k in reader.fieldnames for k in _TEXT_KEYS):
            raise ValueError(f"{p}: CSV needs a header with a 'text' column (and 'route'), got {reader.fieldnames}")
        rows = list(reader)
    texts: list[str] = []
    labels: list[str | None] = []
    for n, row in enumerate(rows, 1):
        text, label = _row(row, f"{p} row {n}")
        texts.append(text)
        labels.append(label)
    if not texts:
        raise ValueError(f"{p}: no labelled queries found")
    return texts, labels


def _row(row: Any, where: str) -> tuple[str, str | None]:
    if isinstance(row, (list, tuple)) and len(row) in (1, 2):
        text, label = row[0], row[1] if len(row) == 2 else None
    elif isinstance(row, dict):
        text = next((row[k] for k in _TEXT_KEYS if k in row), None)
        label = next((row[k] for k in _LABEL_KEYS if k in row), None)
    else:
        raise ValueError(f"{where}: expected an object with 'text' and 'route', got {row!r:.80}")
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"{where}: missing or empty text")
    if label is not None and not isinstance(label, str):
        raise ValueError(f"{where}: route must be a string or empty, got {label!r:.80}")
    label = label.strip() if label else None
    return text, label or None


def check_labels(labels: Sequence[Any], known: Sequence[str], n: int) -> list[str | None]:
    """Labels as route names or None; refuses unknown route names (naming them)."""
    if len(labels) != n:
        raise ValueError(f"got {n} queries and {len(labels)} labels")
    out = [None if (y is None or y == "") else y for y in labels]
    bad = [y for y in out if y is not None and not isinstance(y, str)]
    if bad:
        raise TypeError(f"labels must be route names or None, got {bad[0]!r:.80}")
    unknown = sorted({y for y in out if y is not None} - set(known))
    if unknown:
        raise ValueError(f"labels name routes the router lacks: {unknown[:10]}")
    return out


# -- report -----------------------------------------------------------------------------------
@dataclass
class RouteMetrics:
    precision: float
    recall: float
    f1: float
    support: int  # queries labelled with this route
    predicted: int  # queries routed to it


@dataclass
class EvalReport:
    """Quality and speed of a router on labelled queries."""

    n: int
    n_in_scope: int
    n_no_route: int
    accuracy: float  # overall: exact route, or no route where none is expected
    in_scope_accuracy: float  # of queries with a route, fraction routed to it (after thresholds)
    forced_choice_accuracy: float  # of queries with a route, fraction whose best-scoring route is it (no thresholds)
    no_route_recall: float  # of no-route queries, fraction the router refused
    no_route_precision: float  # of refusals, fraction that were no-route queries
    macro_f1: float
    per_route: dict[str, RouteMetrics]
    confusions: list[dict[str, Any]]  # costliest (expected, predicted, count), most first
    latency: dict[str, float]
    rule: str = ""
    settings: dict[str, Any] = field(default_factory=dict)
    # per-query details for plots (not saved by default)
    labels: list[str | None] = field(default_factory=list, repr=False)
    predictions: list[str | None] = field(default_factory=list, repr=False)
    top_scores: list[float] = field(default_factory=list, repr=False)
    thresholds: dict[str, float] = field(default_factory=dict, repr=False)

    def summary(self) -> dict[str, float]:
        return {k: getattr(self, k) for k in ("accuracy", "in_scope_accuracy", "forced_choice_accuracy",
                                              "no_route_recall", "no_route_precision", "macro_f1")}

    def to_dict(self, details: bool = False) -> dict[str, Any]:
        out = asdict(self)
        if not details:
            for k in ("labels", "predictions", "top_scores", "thresholds"):
                out.pop(k)
        return out

    def to_json(self, path: str | Path | None = None, details: bool = False) -> str:
        text = json.dumps(self.to_dict(details), indent=2)
        if path is not None:
            atomic_write(path, text)
        return text

    save = to_json

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EvalReport:
        data = dict(data)
        data["per_route"] = {k: RouteMetrics(**v) for k, v in data.get("per_route", {}).items()}
        return cls(**data)

    def rich_tables(self, worst: int = 10) -> list[Any]:
        from rich.table import Table

        head = Table(title="Routing quality" + (f" (rule {self.rule})" if self.rule else ""))
        head.add_column("metric")
        head.add_column("value", justify="right")
        head.add_row("queries (in scope / no route)", f"{self.n} ({self.n_in_scope} / {self.n_no_route})")
        for k, v in self.summary().items():
            head.add_row(k.replace("_", " "), _fmt(v))
        for k, v in self.latency.items():
            head.add_row(f"latency {k}", f"{v:.3f}")
        routes = Table(title=f"Weakest routes (of {len(self.per_route)}) by F1")
        for col in ("route", "precision", "recall", "F1", "support", "predicted"):
            routes.add_column(col, justify="left" if col == "route" else "right")
        for name, m in sorted(self.per_route.items(), key=lambda kv: (kv[1].f1, kv[0]))[:worst]:
            routes.add_row(name, _fmt(m.precision), _fmt(m.recall), _fmt(m.f1), str(m.support), str(m.predicted))
        conf = Table(title="Costliest confusions")
        for col in ("expected", "routed to", "count"):
            conf.add_column(col, justify="right" if col == "count" else "left")
        for c in self.confusions[:worst]:
            conf.add_row(c["expected"] or "(no route)", c["predicted"] or "(no route)", str(c["count"]))
        return [head, routes, conf]

    def print(self, console: Any = None) -> None:
        """Print the report's tables to a rich console (a new one on stdout by default)."""
        from rich.console import Console

        console = console or Console()
        for t in self.rich_tables():
            console.print(t)

    def plot(self, path: str | Path, worst: int = 10) -> Path:
        """PNG: score distributions (in scope vs no route) with thresholds, and the worst routes' confusions."""
        from semantic_router.quality.plots import plot_report

        return plot_report(self, path, worst)

    def __str__(self) -> str:
        from rich.console import Console

        console = Console(width=100, record=True, file=_Null(), force_terminal=False, color_system=None)
        for t in self.rich_tables():
            console.print(t)
        return console.export_text()

    def __rich_console__(self, console: Any, options: Any):  # pragma: no cover - rich protocol
        yield from self.rich_tables()


class _Null:
    def write(self, _: str) -> int:
        return 0

    def flush(self) -> None:
        pass


def _fmt(v: float) -> str:
    return "-" if v != v else f"{v:.3f}"


# -- metrics ----------------------------------------------------------------------------------
def metrics(labels: Sequence[str | None], predictions: Sequence[str | None], routes: Sequence[str],
            forced: Sequence[str | None] | None = None, top_confusions: int = 20) -> dict[str, Any]:
    """Every quality figure of an `EvalReport` from expected and predicted route names (None = no route)."""
    y = list(labels)
    p = list(predictions)
    n = len(y)
    ins = [i for i in range(n) if y[i] is not None]
    oos = [i for i in range(n) if y[i] is None]
    refused = [i for i in range(n) if p[i] is None]
    correct = sum(y[i] == p[i] for i in range(n))
    per_route: dict[str, RouteMetrics] = {}
    tp = Counter(y[i] for i in range(n) if y[i] is not None and y[i] == p[i])
    sup = Counter(v for v in y if v is not None)
    pred = Counter(v for v in p if v is not None)
    for r in routes:
        prec = tp[r] / pred[r] if pred[r] else float("nan")
        rec = tp[r] / sup[r] if sup[r] else float("nan")
        f1 = 2 * prec * rec / (prec + rec) if pred[r] and sup[r] and prec + rec > 0 else (0.0 if sup[r] else float("nan"))
        per_route[r] = RouteMetrics(prec, rec, f1, sup[r], pred[r])
    f1s = [m.f1 for m in per_route.values() if m.support]
    errors = Counter((y[i], p[i]) for i in range(n) if y[i] != p[i])
    confusions = [{"expected": a, "predicted": b, "count": c}
                  for (a, b), c in sorted(errors.items(), key=lambda kv: (-kv[1], str(kv[0][0]), str(kv[0][1])))]
    fc = float("nan")
    if forced is not None and ins:
        fc = sum(forced[i] == y[i] for i in ins) / len(ins)
    return {
        "n": n, "n_in_scope": len(ins), "n_no_route": len(oos),
        "accuracy": correct / n if n else float("nan"),
        "in_scope_accuracy": sum(p[i] == y[i] for i in ins) / len(ins) if ins else float("nan"),
        "forced_choice_accuracy": fc,
        "no_route_recall": sum(p[i] is None for i in oos) / len(oos) if oos else float("nan"),
        "no_route_precision": sum(y[i] is None for i in refused) / len(refused) if refused else float("nan"),
        "macro_f1": float(np.mean(f1s)) if f1s else float("nan"),
        "per_route": per_route,
        "confusions": confusions[:top_confusions],
    }


# -- evaluation -------------------------------------------------------------------------------
def encode(layer: RouteLayer, texts: Sequence[str]) -> tuple[np.ndarray, float]:
    """Query vectors of `texts` (one batched encode, bypassing the query cache) and the seconds it took."""
    t0 = time.perf_counter()
    vectors = layer.encoder.encode(list(texts), "query")
    return vectors, time.perf_counter() - t0


def evaluate(
    layer: RouteLayer,
    texts: Sequence[str],
    labels: Sequence[str | None],
    *,
    vectors: np.ndarray | None = None,
    latency_sample: int = 200,
) -> EvalReport:
    """Route `texts` with `layer` and compare with `labels` (route names, None = no route expected).

    Texts are encoded once (pass `vectors` to skip encoding). Latency reports the batched encode
    and decision cost per query, and single-query routing of a precomputed vector (p50/p95).
    """
    from semantic_router.encoders.base import check_texts

    items = check_texts(texts, "texts")
    y = check_labels(labels, layer.list_route_names(), len(items))
    encode_s = 0.0
    if vectors is None:
        vectors, encode_s = encode(layer, items)
    vectors = np.asarray(vectors, dtype=np.float32)
    sparse = layer.sparse_encoder.encode_queries(items) if layer.sparse_encoder is not None else None
    layer.train_rule()  # measure the rule that will serve, not a staged interim
    t0 = time.perf_counter()
    names, agg, ok = layer.score_batch(vectors, sparse)
    decide_s = time.perf_counter() - t0
    predictions, forced, top = decisions(names, agg, ok)
    latency = {"encode_ms_per_query": 1000 * encode_s / max(len(items), 1),
               "decide_ms_per_query": 1000 * decide_s / max(len(items), 1)}
    latency.update(single_query_latency(layer, vectors[:latency_sample]) if latency_sample and sparse is None else {})
    m = metrics(y, predictions, layer.list_route_names(), forced)
    table = layer.snapshot.table
    return EvalReport(**m, latency=latency, rule=layer.rule_name, settings=layer.rule_settings(),
                      labels=y, predictions=predictions, top_scores=top,
                      thresholds={n: float(t) for n, t in zip(table.names, table.thresholds)})


def decisions(names: Sequence[str], agg: np.ndarray, ok: np.ndarray) -> tuple[list, list, list[float]]:
    """Routed name (None = no route), forced-choice name and best score per query from (B, R) scores."""
    from semantic_router.decision import scoring

    if not len(names):
        b = agg.shape[0]
        return [None] * b, [None] * b, [float("nan")] * b
    idx, _ = scoring.best(agg, ok)
    filled = np.where(np.isnan(agg), -np.inf, agg)
    fidx = filled.argmax(axis=1)
    top = filled[np.arange(len(fidx)), fidx]
    predictions = [names[i] if i >= 0 else None for i in idx.tolist()]
    forced = [names[i] if np.isfinite(t) else None for i, t in zip(fidx.tolist(), top.tolist())]
    return predictions, forced, [float(t) if np.isfinite(t) else float("nan") for t in top]


def single_query_latency(layer: RouteLayer, vectors: np.ndarray) -> dict[str, float]:
    """p50/p95 milliseconds of `layer(vector=v)` over the given vectors (routing only, no encoding)."""
    if not len(vectors):
        return {}
    layer(vector=vectors[0])  # warm up
    times = []
    for v in vectors:
        t0 = time.perf_counter()
        layer(vector=v)
        times.append(time.perf_counter() - t0)
    ms = 1000 * np.asarray(times)
    return {"route_vector_p50_ms": float(np.percentile(ms, 50)), "route_vector_p95_ms": float(np.percentile(ms, 95))}

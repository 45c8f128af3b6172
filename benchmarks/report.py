"""Benchmark reports: the Markdown of each section and its PNG plots (where they go: benchmarks/output.py)."""

from __future__ import annotations

from typing import Any, BinaryIO

# issue targets (bundled all-MiniLM-L6-v2, CLINC150)
TARGETS = {
    "K=10": {"forced_choice": 0.86, "overall": 0.82, "no_route_recall": 0.80, "in_scope": 0.80},
    "ALL": {"forced_choice": 0.94, "overall": 0.88},
}


# issue 8: the default rule no worse than before the core redesign: its figures on the same protocol
# (benchmarks/results/quality.json at dd2de37~1; the issue quotes them rounded: 0.853 / 0.822, 0.943 / 0.911)
BEFORE_REDESIGN = {"K=10 first": {"forced_choice": 0.8531, "overall": 0.8218},
                   "ALL": {"forced_choice": 0.9431, "overall": 0.9115}}


def _f(v: Any) -> str:
    return "-" if v is None or v != v else f"{v:.3f}"


def _trio(s: dict[str, float]) -> str:
    return f"{_f(s['accuracy'])} / {_f(s['in_scope_accuracy'])} / {_f(s['no_route_recall'])}"


def quality_markdown(res: dict[str, Any], command: str, img: str | None = None) -> str:
    lines = [f"Command: `{command}` ({res['dataset']}, encoder `{res['encoder']}`; thresholds fitted on "
             f"{res['fit_on']} ({res['val_queries']} queries), figures on {res['report_on']} "
             f"({res['test_queries']} queries); took {res['seconds']} s with cached embeddings).", "",
             "Cells: overall accuracy / in-scope accuracy / no-route recall. *Forced choice*: in-scope accuracy "
             "of the best-scoring route with no threshold. *Default*: the unfitted default threshold. "
             "*accuracy*, *balanced*: `fit` objectives on val + oos_val (balanced weighs in-scope accuracy and "
             "no-route recall equally); *global*: balanced with one threshold for all routes.", ""]
    for sel in res["selections"]:
        lines += [f"#### {sel['name']}: {sel['note']} ({sel['routes']} routes, {sel['utterances']} utterances)", "",
                  "| rule | forced choice | default threshold | fit: accuracy | fit: balanced | fit: balanced, global |",
                  "|---|---|---|---|---|---|"]
        for name, row in sel["rules"].items():
            fits = row["fits"]
            cells = [_trio(fits[k]["test"]) if k in fits else "-"
                     for k in ("accuracy", "balanced", "balanced, global threshold only")]
            lines.append(f"| {name} | {_f(row['default_threshold']['forced_choice_accuracy'])} | "
                         f"{_trio(row['default_threshold'])} | " + " | ".join(cells) + " |")
        lines.append("")
        fitted = sel["rules"].get("classifier", {}).get("fits", {})
        if fitted:
            parts = [f"{k}: lam={v['params'].get('lam')}, threshold={v['threshold']}, fit {v['fit_s_cached_vectors']} s"
                     for k, v in fitted.items()]
            lines += ["Classifier fits chose " + "; ".join(parts) + ".", ""]
    if "fit_timing" in res:
        ft = res["fit_timing"]
        lines += [f"`fit` on val + oos_val ({ft['queries']} queries, {ft['routes']} routes from ALL examples, "
                  f"queries encoded by the real model, classifier head trained from scratch): "
                  f"**{ft['total_s']} s** (parts: {ft['parts_s']}).", ""]
    if img:
        lines += [f"![accuracy vs threshold]({img})", ""]
    return "\n".join(lines)


def targets_markdown(res: dict[str, Any]) -> str:
    """The issue's targets against the measured figures (default rule: classifier)."""
    by = {s["name"]: s for s in res["selections"]}
    lines = ["| target | required | measured | met |", "|---|---|---|---|"]

    def row(label: str, need: float, got: float | None) -> None:
        ok = got is not None and got >= need
        shown = f"{got:.4f}" if got is not None and len(f"{need:g}") > 4 else _f(got)  # as precise as the bar
        lines.append(f"| {label} | >= {need:g} | {shown} | {'yes' if ok else '**no**'} |")

    for key, tgt in TARGETS.items():
        for sel in [s for s in by if s.startswith(key)]:
            cls = by[sel]["rules"].get("classifier")
            if not cls:
                continue
            row(f"{sel}: forced choice (in-scope), default lam", tgt["forced_choice"],
                cls["default_threshold"]["forced_choice_accuracy"])
            row(f"{sel}: forced choice (in-scope), lam after fit `balanced`", tgt["forced_choice"],
                cls["fits"]["balanced"]["test"]["forced_choice_accuracy"])
            for obj in ("accuracy", "balanced"):
                t = cls["fits"][obj]["test"]
                row(f"{sel}: overall, fit `{obj}`", tgt["overall"], t["accuracy"])
                if "no_route_recall" in tgt:
                    row(f"{sel}: no-route recall, fit `{obj}`", tgt["no_route_recall"], t["no_route_recall"])
                    row(f"{sel}: in-scope accuracy, fit `{obj}`", tgt["in_scope"], t["in_scope_accuracy"])
    for sel, tgt in BEFORE_REDESIGN.items():
        cls = by.get(sel, {}).get("rules", {}).get("classifier")
        if cls:
            row(f"{sel}: forced choice no worse than before the redesign (issue 8)", tgt["forced_choice"],
                cls["default_threshold"]["forced_choice_accuracy"])
            row(f"{sel}: overall after fit `balanced` no worse than before the redesign (issue 8)", tgt["overall"],
                cls["fits"]["balanced"]["test"]["accuracy"])
    return "\n".join(lines)


def latency_markdown(res: dict[str, Any], command: str) -> str:
    lines = [f"Command: `{command}` (encoder `{res['encoder']}`, {res['singles']} single queries, "
             f"batch of {res['batch_texts']} texts; milliseconds p50 / p95 / p99).", "",
             "| routes | utterances | rule | text-in, cache miss | text-in, cache hit | vector-in | "
             "batch vectors/s | batch texts/s |", "|---|---|---|---|---|---|---|---|"]
    for r in res["rows"]:
        trip = [" / ".join(f"{r[k][p]:.3f}" for p in ("p50_ms", "p95_ms", "p99_ms"))
                for k in ("text_miss", "text_hit", "vector")]
        lines.append(f"| {r['routes']} | {r['utterances']} | {r['rule']} | " + " | ".join(trip)
                     + f" | {r['batch_vectors_per_s']:.0f} | {r['batch_texts_per_s']:.0f} |")
    return "\n".join(lines)


def scale_markdown(res: dict[str, Any], command: str, img: str | None = None) -> str:
    lines = [f"Command: `{command}` (synthetic: {res['routes']} routes, d={res['dim']}, vector-in queries; "
             "floor = bare numpy `matrix @ vector` + `argmax` on the same matrix).", "",
             "| utterances | backend | rule | build s | train rule s | p50 ms | p95 ms | p99 ms | p50 / floor | "
             "batch q/s | numpy floor p50 ms |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in res["rows"]:
        fl = res["floors"][str(r["utterances"])]["p50_ms"]
        lines.append(f"| {r['utterances']:,} | {r['backend']} | {r['rule']} | {r['build_s']:.2f} | "
                     f"{r['train_rule_s']:.2f} | {r['p50_ms']:.3f} | {r['p95_ms']:.3f} | {r['p99_ms']:.3f} | "
                     f"{r['p50_over_floor']} | {r['batch_queries_per_s']:.0f} | {fl:.3f} |")
    if img:
        lines += ["", f"![latency vs utterances]({img})"]
    return "\n".join(lines)


def plot_quality(res: dict[str, Any], out: BinaryIO) -> None:
    """Accuracy against the global threshold per selection and rule, as PNG into `out`."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sels = res["selections"]
    fig, axes = plt.subplots(1, len(sels), figsize=(5.2 * len(sels), 4.2), squeeze=False)
    for ax, sel in zip(axes[0], sels):
        for name, row in sel["rules"].items():
            c = row.get("curve_fitted") or row["curve_default"]
            (line,) = ax.plot(c["threshold"], c["accuracy"], label=name)
            t = row["fits"].get("balanced", {}).get("threshold")
            if t is not None:
                ax.axvline(t, color=line.get_color(), ls=":", lw=1)
        ax.set_title(f"{sel['name']} ({sel['utterances']} utterances)")
        ax.set_xlabel("global threshold (dotted: fitted on val, balanced)")
        ax.set_ylabel("overall accuracy, test + oos_test")
        ax.set_ylim(0.3, 1.0)
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    fig.savefig(out, format="png", dpi=110)
    plt.close(fig)


def plot_scale(res: dict[str, Any], out: BinaryIO) -> None:
    """p50 latency against the number of utterances per backend and rule, as PNG into `out`."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4.2))
    keys = sorted({(r["backend"], r["rule"]) for r in res["rows"]})
    for backend, rule in keys:
        rows = sorted((r for r in res["rows"] if (r["backend"], r["rule"]) == (backend, rule)), key=lambda r: r["utterances"])
        ax.plot([r["utterances"] for r in rows], [r["p50_ms"] for r in rows], marker="o", label=f"{backend} {rule}")
    sizes = sorted(int(k) for k in res["floors"])
    ax.plot(sizes, [res["floors"][str(n)]["p50_ms"] for n in sizes], "k--", label="numpy floor")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("utterances")
    ax.set_ylabel("p50 ms per query (vector in)")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out, format="png", dpi=110)
    plt.close(fig)

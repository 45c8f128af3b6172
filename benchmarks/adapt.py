"""The adapted encoder on CLINC150 (issue 18 B): the bundled MiniLM fine-tuned on each route selection's train
utterances (`adapt_encoder`, defaults), then the default rule on it, on the quality benchmark's protocol: forced
choice on test, thresholds fitted (balanced) on val + oos_val, overall on test + oos_test. Adaptation is timed
apart: wall seconds and this process's CPU seconds (the machine is shared: wall time depends on the load)."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks import data as bd
from benchmarks import quality

RULES = [r for r in quality.RULES if r["name"] == "classifier"]
FITS = [f for f in quality.FITS if f["name"] == "balanced"]
#: today's figures with the frozen encoder (docs/benchmarks.md, Quality): forced choice, overall after fit balanced
FROZEN = {"K=10 first": (0.853, 0.822), "K=10 random": (0.905, 0.870), "ALL": (0.943, 0.911)}


def adapt_selection(sel: dict[str, Any], routes: dict[str, list[str]], val: tuple, test: tuple, work: Path,
                    log: Any = print, **options: Any) -> dict[str, Any]:
    from semantic_router import Route
    from semantic_router.quality.adapt import adapt_encoder

    folder = work / sel["name"].replace(" ", "_").replace("=", "")
    wall, cpu = time.perf_counter(), time.process_time()
    encoder = adapt_encoder([Route(name=n, utterances=u) for n, u in routes.items()], folder, progress=False, **options)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    log(f"  {sel['name']}: adapted in {wall:.0f} s wall, {cpu:.0f} s CPU ({encoder.manifest.training})")
    res = quality.run_selection(sel, routes, encoder, RULES, FITS, val, test, log)
    row = res["rules"]["classifier"]
    return {"selection": sel["name"], "utterances": res["utterances"], "encoder": encoder.name,
            "adapt_wall_s": round(wall, 1), "adapt_cpu_s": round(cpu, 1), "training": encoder.manifest.training,
            "forced_choice": row["default_threshold"]["forced_choice_accuracy"],
            "fitted_balanced": row["fits"]["balanced"]["test"], "frozen": FROZEN.get(sel["name"])}


def run(quick: bool = False, work: Path | None = None, log: Any = print, **options: Any) -> dict[str, Any]:
    d = bd.clinc()
    val, test = bd.labelled("val", d), bd.labelled("test", d)
    # K=10 random first: the target; ALL last (ten times the steps)
    selections = [quality.SELECTIONS[1], quality.SELECTIONS[0], quality.SELECTIONS[2]]
    if quick:
        d, val, test = quality.quick_data(d)
        selections = [dict(quality.SELECTIONS[0], per_route=3, name="K=3 first", note="first 3 per intent")]
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(dir=work) as tmp:
        rows = [adapt_selection(s, bd.select(d["train"], s["per_route"], s["how"], s.get("seed", 0)), val, test,
                                Path(tmp), log, **options) for s in selections]
    return {"dataset": "CLINC150 (data_full.json)" + (" quick subset" if quick else ""), "fit_on": "val + oos_val",
            "report_on": "test + oos_test", "options": options, "selections": rows,
            "seconds": round(time.perf_counter() - t0, 1)}


def markdown(res: dict[str, Any], command: str) -> str:
    lines = [f"Command: `{command}` ({res['dataset']}; adapted on each selection's train utterances only; thresholds "
             f"fitted on {res['fit_on']}, figures on {res['report_on']}; took {res['seconds']} s).", "",
             "| routes from | utterances | adapt wall / CPU s | steps | forced choice (frozen) | overall / in-scope / "
             "no-route after fit balanced (frozen overall) |", "|---|---|---|---|---|---|"]
    for r in res["selections"]:
        f = r["fitted_balanced"]
        frozen = r["frozen"] or ("-", "-")
        lines.append(f"| {r['selection']} | {r['utterances']} | {r['adapt_wall_s']} / {r['adapt_cpu_s']} | "
                     f"{r['training']['steps']} | {r['forced_choice']:.3f} ({frozen[0]}) | {f['accuracy']:.3f} / "
                     f"{f['in_scope_accuracy']:.3f} / {f['no_route_recall']:.3f} ({frozen[1]}) |")
    return "\n".join(lines) + "\n"

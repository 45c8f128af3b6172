"""Cold start: wall time of fresh processes, as a user or a server start pays it.

* imports: `import semantic_router`, and the model runtimes it may load later (torch,
  sentence-transformers, fastembed);
* a saved router in a fresh process: import, `RouteLayer.load`, first query, second query, with
  the bundled model on torch (`HuggingFaceEncoder`) and on ONNX Runtime (`FastEmbedEncoder`);
* the CLI: `--version`, `routes` (never loads a model), `route` on a saved router and on a YAML config,
  with the default runtime (ONNX when fastembed is installed) and with `--torch`.

Every figure is the median (and min) of `repeat` fresh processes with a warm file cache; the ONNX
export is made once before timing. The machine's load average is recorded beside the figures.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.output import ROOT

CONFIG = ROOT / "examples" / "topics.yaml"
QUERY = "how do I reset my password"
HEAVY = ("torch", "sentence_transformers", "transformers", "fastembed", "onnxruntime")

_PROBE = """
import json, sys, time
t0 = time.perf_counter()
from semantic_router import RouteLayer
t1 = time.perf_counter()
overrides = {}
if sys.argv[2] == "onnx":
    from semantic_router.encoders import FastEmbedEncoder
    overrides["encoder"] = FastEmbedEncoder()
rl = RouteLayer.load(sys.argv[1], **overrides)
t2 = time.perf_counter()
first = rl(sys.argv[3]).name
t3 = time.perf_counter()
rl("what is the refund policy")
t4 = time.perf_counter()
print(json.dumps({"import_s": t1 - t0, "load_s": t2 - t1, "first_query_s": t3 - t2, "second_query_s": t4 - t3,
                  "answer": first}))
"""

_ROUTES_PROBE = """
import json, sys
from semantic_router.cli import main
rc = main(["routes", sys.argv[1], "--json"])
print(json.dumps({"rc": rc, "heavy": [m for m in HEAVY if m in sys.modules]}), file=sys.stderr)
""".replace("HEAVY", repr(HEAVY))


def _env() -> dict[str, str]:
    return {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _run(argv: list[str]) -> tuple[float, float, subprocess.CompletedProcess[str]]:
    """Wall and CPU seconds (user + system, all threads) of one fresh process."""
    cpu0, t0 = _cpu(), time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, env=_env(), timeout=600, stdin=subprocess.DEVNULL)
    wall, cpu = time.perf_counter() - t0, _cpu() - cpu0
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({done.returncode}): {done.stderr.strip()[-500:]}")
    return wall, cpu, done


def _stats(samples: list[tuple[float, float]]) -> dict[str, float]:
    walls, cpus = [w for w, _ in samples], [c for _, c in samples]
    return {"median_s": round(statistics.median(walls), 3), "min_s": round(min(walls), 3),
            "cpu_median_s": round(statistics.median(cpus), 3), "n": len(samples)}


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "semantic_router", *args]


def _has(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def run(repeat: int = 5, quick: bool = False, work: Path | None = None, log: Callable[[str], None] = print
        ) -> dict[str, Any]:
    """Measure; `quick` keeps to the steps that load no model (seconds, for tests)."""
    work = Path(work or ROOT / "benchmarks" / "out" / "coldstart")
    work.mkdir(parents=True, exist_ok=True)
    saved = work / "topics.pkl"
    onnx = _has("fastembed")
    steps: list[tuple[str, str, list[str]]] = [
        ("import", "import semantic_router", [sys.executable, "-c", "import semantic_router"]),
        ("cli", "semantic-router --version", _cli("--version")),
        ("cli", "semantic-router routes topics.yaml", _cli("routes", str(CONFIG))),
    ]
    if not quick:
        log("  setup: saving examples/topics.yaml as a router (torch) and making the ONNX export")
        _run([sys.executable, "-c", "import sys; from semantic_router import RouteLayer; "
              "RouteLayer.from_file(sys.argv[1]).save(sys.argv[2])", str(CONFIG), str(saved)])
        if onnx:
            _run(_cli("route", str(saved), QUERY, "--onnx"))
        steps += [(("import", f"import {m}", [sys.executable, "-c", f"import {m}"]))
                  for m in ("torch", "sentence_transformers", "fastembed") if _has(m)]
        steps += [
            ("cli", "semantic-router routes topics.pkl", _cli("routes", str(saved))),
            ("cli", "semantic-router route topics.pkl QUERY" + (" (ONNX)" if onnx else ""),
             _cli("route", str(saved), QUERY)),
            ("cli", "semantic-router route topics.pkl QUERY --torch", _cli("route", str(saved), QUERY, "--torch")),
            ("cli", "semantic-router route topics.yaml QUERY" + (" (ONNX)" if onnx else ""),
             _cli("route", str(CONFIG), QUERY)),
            ("cli", "semantic-router route topics.yaml QUERY --torch", _cli("route", str(CONFIG), QUERY, "--torch")),
        ]
    load_before = os.getloadavg()[0]
    rows = []
    for kind, label, argv in steps:
        samples = [_run(argv)[:2] for _ in range(repeat)]
        rows.append({"kind": kind, "step": label, **_stats(samples)})
        log(f"  {label:55s} {rows[-1]['median_s']:.2f} s (min {rows[-1]['min_s']:.2f}, cpu {rows[-1]['cpu_median_s']:.2f})")
    phases = {}
    for runtime in (["torch", "onnx"] if onnx else ["torch"]) if not quick else []:
        probes = [json.loads(_run([sys.executable, "-c", _PROBE, str(saved), runtime, QUERY])[2].stdout)
                  for _ in range(repeat)]
        phases[runtime] = {k: round(statistics.median(p[k] for p in probes), 3)
                           for k in ("import_s", "load_s", "first_query_s", "second_query_s")}
        phases[runtime]["answer"] = probes[0]["answer"]
        log(f"  saved router on {runtime}: {phases[runtime]}")
    done = _run([sys.executable, "-c", _ROUTES_PROBE, str(CONFIG)])[2]
    routes_heavy = json.loads(done.stderr.strip().splitlines()[-1])["heavy"]
    return {"repeat": repeat, "cpus": os.cpu_count(), "load_avg_before": round(load_before, 2),
            "load_avg_after": round(os.getloadavg()[0], 2), "python": platform.python_version(),
            "onnx_available": onnx, "rows": rows, "phases": phases, "routes_imports_heavy": routes_heavy}


def markdown(res: dict[str, Any]) -> str:
    lines = [f"Fresh processes on {res['cpus']} CPUs (Python {res['python']}; load average {res['load_avg_before']}"
             f" before, {res['load_avg_after']} after: other work shares this machine), median (min) of "
             f"{res['repeat']} runs with a warm file cache; *CPU s* is user + system time of the process (all "
             "threads), which other load on the machine inflates far less than wall time. QUERY = "
             f"`{QUERY}`; topics.pkl is examples/topics.yaml saved with `rl.save`.", "",
             "| step | wall s, median | wall s, min | CPU s, median |", "|---|---|---|---|"]
    lines += [f"| `{r['step']}` | {r['median_s']:.2f} | {r['min_s']:.2f} | {r['cpu_median_s']:.2f} |"
              for r in res["rows"]]
    if res["phases"]:
        lines += ["", "A saved router in a fresh process, by phase (median s):", "",
                  "| model runtime | import | `RouteLayer.load` | first query | second query |", "|---|---|---|---|---|"]
        lines += [f"| {name} | {p['import_s']:.2f} | {p['load_s']:.3f} | {p['first_query_s']:.2f} | "
                  f"{p['second_query_s']:.3f} |" for name, p in res["phases"].items()]
    heavy = res["routes_imports_heavy"]
    lines += ["", f"`semantic-router routes` imports no model runtime: "
              f"{'yes' if not heavy else 'NO (' + ', '.join(heavy) + ')'}."]
    saved = [r for r in res["rows"] if r["step"].startswith("semantic-router route topics.pkl") and "--torch" not in r["step"]]
    if saved:
        met = "met" if saved[0]["median_s"] <= 2.0 else "**not met** on this run"
        lines.append(f"`route` on a saved router within 2 s wall: {saved[0]['median_s']:.2f} s, {met}.")
    return "\n".join(lines)

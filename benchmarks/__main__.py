"""Benchmark harness: `python -m benchmarks quality|latency|scale|core|remote|encoders|coldstart|signals|changepath|extproc|
all [options]`.

Writes JSON results, Markdown sections and PNG plots into an output folder (`--out`, default
benchmarks/out/, git-ignored); tracked files (docs/benchmarks.md, docs/img/, benchmarks/results/)
change only with `--update-docs`. Embeddings are cached in benchmarks/.cache/, so a rerun of the
quality benchmark takes seconds. Progress bars show only on a terminal; `--quiet` silences all.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

# benchmarks that live in their own branches until merged (benchmarks/changepath.py, benchmarks/gateway.py)
OPTIONAL = [m for m in ("changepath", "gateway", "extproc", "adapt") if (Path(__file__).parent / f"{m}.py").is_file()]
WHAT = ["quality", "latency", "scale", "core", "remote", "encoders", "coldstart", "signals", *OPTIONAL, "all"]
# `all` runs these; coldstart, signals, changepath, gateway, extproc and adapt run alone (fresh processes, servers,
# long runs)
ALL = ("quality", "latency", "scale", "core", "remote", "encoders")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    p.add_argument("what", choices=WHAT)
    p.add_argument("--out", type=Path, default=None, help="output folder (default: benchmarks/out/)")
    p.add_argument("--update-docs", action="store_true",
                   help="also write docs/benchmarks.md, docs/img/ and benchmarks/results/ (tracked files)")
    p.add_argument("--quiet", action="store_true", help="no progress bars, no log lines")
    p.add_argument("--quick", action="store_true", help="tiny subset (seconds; for tests and smoke runs)")
    p.add_argument("--time-fit", action="store_true",
                   help="quality: also time fit on CLINC val with real (uncached) encoding")
    p.add_argument("--routes", default=None,
                   help="quality on your data: router config (.yaml/.json) or labelled CSV/JSONL of utterances")
    p.add_argument("--fit-data", default=None, help="quality on your data: labelled CSV/JSONL to fit on")
    p.add_argument("--test-data", default=None, help="quality on your data: labelled CSV/JSONL to report on")
    p.add_argument("--sizes", default="1000,10000,100000", help="scale: utterance counts")
    p.add_argument("--backends", default="local", help="scale: index backends (local, redis-flat, redis-hnsw)")
    p.add_argument("--rules", default=None, help="scale: decision rules (default: knn,centroid,classifier)")
    p.add_argument("--repeat", type=int, default=5, help="coldstart: fresh processes per measurement")
    p.add_argument("--baseline", type=Path, default=None,
                   help="core: also run on the library of this source tree (e.g. a git worktree of an older commit)")
    p.add_argument("--rounds", type=int, default=3, help="core --baseline: alternating rounds of fresh processes")
    p.add_argument("--cv", type=int, default=5, help="signals: cross-validation folds")
    p.add_argument("--cached-only", action="store_true",
                   help="signals: train the domains' vector part on the questions already in the embedding cache")
    p.add_argument("--indexes", default="local", help="changepath: indexes to time (local, redis)")
    return p


def main(argv: list[str] | None = None) -> int:
    p = parser()
    args = p.parse_args(argv)
    if args.routes and not (args.fit_data and args.test_data):
        p.error("--routes needs --fit-data and --test-data")
    if args.cv < 2:
        p.error(f"--cv must be at least 2, got {args.cv}")
    for flag, value in (("--repeat", args.repeat), ("--rounds", args.rounds)):
        if value < 1:
            p.error(f"{flag} must be at least 1, got {value}")
    if args.baseline is not None and not (args.baseline / "semantic_router" / "__init__.py").is_file():
        p.error(f"--baseline {args.baseline} has no semantic_router package")
    from benchmarks import output, report

    output.set_quiet(args.quiet)
    out = output.Output(args.out or output.DEFAULT_OUT, update_docs=args.update_docs)
    if out.out.exists() and not out.out.is_dir():
        p.error(f"--out {out.out} is a file, not a folder")
    suffix = "-quick" if args.quick else ""
    command = "python -m benchmarks " + " ".join(a for a in (argv if argv is not None else sys.argv[1:])
                                                  if a not in ("--update-docs", "--quiet"))
    log = output.log
    loads = [output.load_average()]

    def section(name: str, body: str) -> None:
        """Write a section with the machine's load during its benchmark (the machine is shared and noisy)."""
        out.section(name, body.rstrip() + f"\n\nMachine load (1-minute average, as `uptime` shows): {loads[0]} "
                    f"before, {output.load_average()} after, on {os.cpu_count()} CPUs.\n")
        loads[0] = output.load_average()
    todo = ALL if args.what == "all" else (args.what,)

    if "quality" in todo:
        from benchmarks import quality

        qsuffix = suffix
        if args.routes:
            qsuffix = "-custom"
            log(f"quality: {args.routes}")
            res = quality.run_custom(args.routes, args.fit_data, args.test_data, log=log)
        else:
            log("quality: CLINC150")
            res = quality.run(quick=args.quick, time_fit=args.time_fit, log=log)
        out.json("quality" + qsuffix, res)
        img = out.plot(f"accuracy_vs_threshold{qsuffix}.png", lambda fh: report.plot_quality(res, fh))
        section("quality" + qsuffix, report.quality_markdown(res, command, img))
        if not args.routes:
            out.section("targets" + qsuffix, report.targets_markdown(res))
    if "latency" in todo:
        from benchmarks import latency

        log("latency: CLINC150 routes, bundled model")
        res = latency.run(quick=args.quick, log=log)
        out.json("latency" + suffix, res)
        section("latency" + suffix, report.latency_markdown(res, command))
    if "scale" in todo:
        from benchmarks import scale

        sizes = (1000, 3000) if args.quick else tuple(int(s) for s in args.sizes.split(","))
        backends = tuple(args.backends.split(",")) if args.backends else None
        log(f"scale: {sizes}")
        rules = tuple(args.rules.split(",")) if args.rules else scale.RULES
        res = scale.run(sizes=sizes, backends=backends, rules=rules, singles=50 if args.quick else 500, log=log)
        name = "scale" + ("" if backends == ("local",) else "-" + "-".join(backends)) + suffix
        out.json(name, res)
        img = out.plot(f"latency_vs_utterances{name[5:]}.png", lambda fh: report.plot_scale(res, fh))
        section(name, report.scale_markdown(res, command, img))
    if "core" in todo:
        from benchmarks import core

        if args.baseline:
            log(f"core: this tree against {args.baseline}, {args.rounds} alternating rounds of fresh processes")
            res = core.compare({"current": output.ROOT, "baseline": args.baseline}, out.out / "core",
                               rounds=args.rounds, quick=args.quick, log=log)
            text = core.compare_markdown(res)
        else:
            log("core: router overhead over the encoder and the numpy floor, batch vs single")
            res = core.run(quick=args.quick)
            text = core.markdown(res)
        out.json("core" + suffix, res)
        section("core" + suffix, f"Command: `{command}`\n\n" + text)
    if "remote" in todo:
        from benchmarks import remote

        log("remote: Redis / Qdrant / Local at 5,000 utterances")
        res = remote.run(n_utterances=500 if args.quick else 5000, n_queries=30 if args.quick else 300)
        out.json("remote" + suffix, res)
        section("remote" + suffix, f"Command: `{command}`\n\n" + remote.markdown(res))
    if "encoders" in todo:
        from benchmarks import encoders

        log("encoders: FastEmbed vs HuggingFace on the bundled model")
        res = encoders.run(singles=20, batches=3) if args.quick else encoders.run()
        out.json("encoders" + suffix, res)
        section("encoders" + suffix, f"Command: `{command}`\n\n" + encoders.markdown(res))
    if "coldstart" in todo:
        from benchmarks import coldstart

        log("coldstart: fresh processes (import, load, first query; the CLI)")
        res = coldstart.run(repeat=1 if args.quick else args.repeat, quick=args.quick, work=out.out / "coldstart",
                            log=log)
        out.json("coldstart" + suffix, res)
        section("coldstart" + suffix, f"Command: `{command}`\n\n" + coldstart.markdown(res))
    if "signals" in todo:
        from benchmarks import signals

        log("signals: built-in domains and jailbreak signals from the shared data (issue 18)")
        res = signals.run(out.out, quick=args.quick, log=log, cv=args.cv, cached_only=args.cached_only)
        out.json("signals" + suffix, res)
        img = out.plot(f"signals_domains_confusion{suffix}.png",
                       lambda fh: fh.write((out.out / "img" / "signals_domains_confusion.png").read_bytes()))
        section("signals" + suffix, signals.markdown(res, command, img))
    if "changepath" in todo:
        from benchmarks import changepath

        log("changepath: build and add-one-route against the numpy floor")
        sizes = ((2_000, 20), (5_000, 50)) if args.quick else changepath.SIZES
        res = changepath.run(sizes=sizes, rules=tuple(args.rules.split(",")) if args.rules else changepath.RULES,
                             repeats=1 if args.quick else 3, log=log, indexes=tuple(args.indexes.split(",")),
                             steady=0.2 if args.quick else 1.0)
        out.json("changepath" + suffix, res)
        section("changepath" + suffix, changepath.markdown(res, command))
    if "gateway" in todo:
        from benchmarks import gateway

        log("gateway: HTTP gateway against a bare proxy")
        res = gateway.run(out.out / "gateway", quick=args.quick, log=log)
        out.json("gateway" + suffix, res)
        section("gateway" + suffix, f"Command: `{command}`\n\n" + gateway.markdown(res))
    if "extproc" in todo:
        from benchmarks import extproc

        log("extproc: the Envoy external processor against the HTTP proxy, one gateway, one run")
        res = extproc.run(quick=args.quick, rounds=2 if args.quick else 5, log=log)
        out.json("extproc" + suffix, res)
        section("extproc" + suffix, f"Command: `{command}`\n\n" + extproc.markdown(res))
    if "adapt" in todo:
        from benchmarks import adapt

        log("adapt: the bundled MiniLM fine-tuned on CLINC150's routes (heavy: minutes per selection)")
        res = adapt.run(quick=args.quick, log=log)
        out.json("adapt" + suffix, res)
        section("adapt" + suffix, adapt.markdown(res, command))
    log(f"wrote {out.written()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

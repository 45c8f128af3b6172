"""Benchmark harness: `python -m benchmarks quality|latency|scale|changepath|all [options]`.

Writes JSON results (benchmarks/results/), a Markdown section per benchmark into
docs/benchmarks.md and PNG plots (docs/img/). Embeddings are cached in benchmarks/.cache/, so
a rerun of the quality benchmark takes seconds.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=["quality", "latency", "scale", "core", "remote", "encoders", "changepath",
                                         "gateway", "all"])
    parser.add_argument("--quick", action="store_true", help="tiny subset (seconds; for tests and smoke runs)")
    parser.add_argument("--time-fit", action="store_true",
                        help="quality: also time fit on CLINC val with real (uncached) encoding")
    parser.add_argument("--routes", default=None,
                        help="quality on your data: router config (.yaml/.json) or labelled CSV/JSONL of utterances")
    parser.add_argument("--fit-data", default=None, help="quality on your data: labelled CSV/JSONL to fit on")
    parser.add_argument("--test-data", default=None, help="quality on your data: labelled CSV/JSONL to report on")
    parser.add_argument("--sizes", default="1000,10000,100000", help="scale: utterance counts")
    parser.add_argument("--backends", default="local", help="scale: index backends (local, redis-flat, redis-hnsw)")
    parser.add_argument("--rules", default=None, help="scale: decision rules (default: knn,centroid,classifier)")
    parser.add_argument("--results", type=Path, default=None, help="directory for JSON results")
    parser.add_argument("--doc", type=Path, default=None, help="Markdown file to update (docs/benchmarks.md)")
    parser.add_argument("--out", type=Path, default=None,
                        help="changepath: output folder (default benchmarks/.cache/changepath, git-ignored)")
    parser.add_argument("--indexes", default="local", help="changepath: indexes to time (local, redis)")
    parser.add_argument("--img", type=Path, default=None, help="directory for PNG plots (docs/img)")
    args = parser.parse_args(argv)

    if args.what == "gateway":  # its own runner: results to a git-ignored folder unless --results is given
        from benchmarks import gateway

        extra = ["--quick"] if args.quick else []
        extra += ["--out", str(args.results)] if args.results else []
        return gateway.main(extra + (["--doc", str(args.doc)] if args.doc else []))

    from benchmarks import report

    results = args.results or report.RESULTS
    doc = args.doc or report.DOC
    img = args.img or report.IMG
    rel = os.path.relpath(img, doc.parent)
    suffix = "-quick" if args.quick else ""
    command = "python -m benchmarks " + " ".join(argv if argv is not None else sys.argv[1:])

    def log(msg: str) -> None:
        print(msg, flush=True)

    if args.what in ("quality", "all"):
        from benchmarks import quality

        qsuffix = suffix
        if args.routes:
            if not (args.fit_data and args.test_data):
                parser.error("--routes needs --fit-data and --test-data")
            qsuffix = "-custom"
            log(f"quality: {args.routes}")
            res = quality.run_custom(args.routes, args.fit_data, args.test_data, log=log)
        else:
            log("quality: CLINC150")
            res = quality.run(quick=args.quick, time_fit=args.time_fit, log=log)
        report.write_json("quality" + qsuffix, res, results)
        png = report.plot_quality(res, img / f"accuracy_vs_threshold{qsuffix}.png")
        report.update_section("quality" + qsuffix, report.quality_markdown(res, command, f"{rel}/{png.name}"), doc)
        if not args.routes:
            report.update_section("targets" + qsuffix, report.targets_markdown(res), doc)
    if args.what in ("latency", "all"):
        from benchmarks import latency

        log("latency: CLINC150 routes, bundled model")
        res = latency.run(quick=args.quick, log=log)
        report.write_json("latency" + suffix, res, results)
        report.update_section("latency" + suffix, report.latency_markdown(res, command), doc)
    if args.what in ("scale", "all"):
        from benchmarks import scale

        sizes = (1000, 3000) if args.quick else tuple(int(s) for s in args.sizes.split(","))
        backends = tuple(args.backends.split(",")) if args.backends else None
        log(f"scale: {sizes}")
        rules = tuple(args.rules.split(",")) if args.rules else scale.RULES
        res = scale.run(sizes=sizes, backends=backends, rules=rules, singles=50 if args.quick else 500, log=log)
        name = "scale" + ("" if backends == ("local",) else "-" + "-".join(backends)) + suffix
        report.write_json(name, res, results)
        png = report.plot_scale(res, img / f"latency_vs_utterances{name[5:]}.png")
        report.update_section(name, report.scale_markdown(res, command, f"{rel}/{png.name}"), doc)
    if args.what in ("core", "all"):
        from benchmarks import core

        log("core: router overhead over the encoder and batch vs single")
        res = core.run(quick=args.quick)
        report.write_json("core" + suffix, res, results)
        report.update_section("core" + suffix, f"Command: `{command}`\n\n" + core.markdown(res), doc)
    if args.what in ("remote", "all"):
        from benchmarks import remote

        log("remote: Redis / Qdrant / Local at 5,000 utterances")
        res = remote.run(n_utterances=500 if args.quick else 5000, n_queries=30 if args.quick else 300)
        report.write_json("remote" + suffix, res, results)
        report.update_section("remote" + suffix, f"Command: `{command}`\n\n" + remote.markdown(res), doc)
    if args.what in ("encoders", "all"):
        from benchmarks import encoders

        log("encoders: FastEmbed vs HuggingFace on the bundled model")
        res = encoders.run()
        report.write_json("encoders" + suffix, res, results)
        report.update_section("encoders" + suffix, f"Command: `{command}`\n\n" + encoders.markdown(res), doc)
    if args.what == "changepath":  # writes only to its output folder (never tracked files)
        from benchmarks import changepath

        log("changepath: build and add-one-route against the numpy floor")
        sizes = ((2_000, 20), (5_000, 50)) if args.quick else changepath.SIZES
        res = changepath.run(sizes=sizes, rules=tuple(args.rules.split(",")) if args.rules else changepath.RULES,
                             repeats=1 if args.quick else 3, log=log,
                             indexes=tuple(args.indexes.split(",")))
        paths = changepath.write(res, changepath.markdown(res, command), args.out or changepath.OUT)
        log(f"wrote {paths[0]}, {paths[1]}")
        return 0
    log(f"wrote {results}/, {doc}, {img}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Learned signals (issue 18): the built-in `domains` and `jailbreak` signals trained and measured from the
shared data, the figures of docs/signals.md and docs/benchmarks.md.

- domains: trained on MMLU-Pro `train.jsonl` (5-fold CV inside), measured on `dev.jsonl` (never trained on):
  top-1, per-domain F1, confusion matrix, time per query beyond the encoder, training time.
- jailbreak: trained on prompt-injections `train.jsonl` with CLINC150 `train` queries as known-benign texts
  (the threshold flags at most 1% of them out-of-fold); measured on prompt-injections `test.jsonl` (F1) and
  CLINC150's in-scope `test` queries (the share flagged). No test split chooses anything.

Writes only under --out: results, the confusion PNG, and the trained artifacts (`signals/*.npz`: the package's
built-in signals are these files).
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.output import ROOT

#: the shared data sets (MMLU-Pro, prompt-injections, CLINC150): $SR_DATASETS, else the first ../shared/datasets
#: above the checkout (a git worktree sits one folder deeper than the main checkout)
DATASETS = Path(os.environ.get("SR_DATASETS") or next(
    (p / "shared" / "datasets" for p in (ROOT.parent, ROOT.parent.parent) if (p / "shared" / "datasets").is_dir()),
    ROOT.parent / "shared" / "datasets"))


def _jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").split("\n") if line.strip()]


def datasets(root: Path = DATASETS) -> Path:
    """The shared data folder, checked (a clear error naming what is missing)."""
    for need in ("mmlu-pro/train.jsonl", "mmlu-pro/dev.jsonl", "prompt-injections/train.jsonl",
                 "prompt-injections/test.jsonl", "clinc150/data_full.json"):
        if not (root / need).is_file():
            raise SystemExit(f"error: {root / need} not found (set SR_DATASETS to the shared datasets folder)")
    return root


def _per_query_ms(clf: Any, texts: list[str], vectors: np.ndarray, repeat: int) -> dict[str, float]:
    """The classifier's own cost (vectors given: what it adds to the encoder), one query at a time and batched."""
    singles = []
    for i in range(min(repeat, len(texts))):
        t = time.perf_counter()
        clf.predict_proba(texts[i:i + 1], vectors[i:i + 1])
        singles.append((time.perf_counter() - t) * 1000)
    t = time.perf_counter()
    clf.predict_proba(texts, vectors)
    batch = (time.perf_counter() - t) * 1000 / len(texts)
    singles.sort()
    return {"p50_ms": statistics.median(singles), "p99_ms": singles[int(0.99 * (len(singles) - 1))],
            "batch_ms_per_query": batch}


def _split_model(texts: list[str], labels: list[str], encoded: list[int], encoder: Any, cv: int) -> tuple[Any, Any]:
    """Two heads summed into one `TextClassifier`: a lexical model on every question and a vector model on
    the encoded ones (their logits add: the same linear form the joint model has)."""
    from semantic_router.learn import Settings, TextClassifier, train_signal

    lexical, report = train_signal(texts, labels, encoder=encoder, vectors=np.zeros((len(texts), encoder.dimensions),
                                   dtype=np.float32), name="domains", cv=cv, settings=Settings(c=16.0, dense_scale=0.0),
                                   progress=False)
    if len({labels[i] for i in encoded}) < len(lexical.labels) or len(encoded) < 4 * len(lexical.labels):
        lexical.metadata["vector_part_trained_on"] = 0  # too few encoded questions for a vector part: lexicon only
        return lexical, report
    dense, _ = train_signal([texts[i] for i in encoded], [labels[i] for i in encoded], encoder=encoder, name="domains",
                            cv=cv, settings=Settings(max_terms=0), progress=False)
    assert dense.labels == lexical.labels
    combined = TextClassifier(name="domains", labels=lexical.labels, encoder_name=encoder.name,
                              dense_weights=dense.dense_weights, bias=dense.bias + lexical.bias,
                              lexicon=lexical.lexicon, lexical_weights=lexical.lexical_weights,
                              metadata={**lexical.metadata, "vector_part_trained_on": len(encoded)}, encoder=encoder)
    return combined, report


def run(out: Path, quick: bool = False, log: Callable[[str], None] = print, cv: int = 5,
        cached_only: bool = False) -> dict[str, Any]:
    """`cached_only`: train the domains' vector part on the training questions already in the embedding cache
    (the lexical part on all of them), for machines too slow to encode all 7,213."""
    from benchmarks.data import CachedEncoder
    from semantic_router.encoders import HuggingFaceEncoder
    from semantic_router.learn import Settings, train_signal
    from semantic_router.learn.report import measure
    from benchmarks.output import show_progress

    root = datasets()
    encoder = CachedEncoder(HuggingFaceEncoder(show_progress=show_progress()), cache_dir=out / "cache")
    signals = out / "signals"
    for folder in (signals, out / "img"):
        folder.mkdir(parents=True, exist_ok=True)
    res: dict[str, Any] = {"machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                                       "processor": platform.processor() or platform.machine()}}

    # -- domains --------------------------------------------------------------------------------
    train, dev = _jsonl(root / "mmlu-pro/train.jsonl"), _jsonl(root / "mmlu-pro/dev.jsonl")
    if quick:
        train, dev = train[::20], dev[::10]
    texts, labels = [r["text"] for r in train], [r["domain"] for r in train]
    dev_texts = [r["text"] for r in dev]
    t = time.perf_counter()
    encoder.warm(dev_texts)
    encoded = [i for i, text in enumerate(texts) if encoder.cached(text)] if cached_only else list(range(len(texts)))
    encoder.warm([texts[i] for i in encoded])
    encode_s = time.perf_counter() - t
    log(f"signals: domains on {len(texts)} MMLU-Pro train questions ({len(encoded)} encoded)")
    t = time.perf_counter()
    if len(encoded) == len(texts):  # the designed model: one logistic regression over vector + lexicon
        domains, cv_report = train_signal(texts, labels, encoder=encoder, name="domains", cv=cv,
                                          progress=show_progress())
    else:  # only some questions encoded (a slow machine): the lexicon learns from all, the vector part from those
        domains, cv_report = _split_model(texts, labels, encoded, encoder, cv)
    train_s = time.perf_counter() - t
    dev_vectors = encoder.encode(dev_texts)
    truth = np.array([domains.labels.index(r["domain"]) for r in dev])
    predicted = domains.predict_proba(dev_texts, dev_vectors).argmax(axis=1)
    dev_report = measure("domains", domains.labels, truth, predicted, cv=0, seconds=0.0)
    dev_report.plot(out / "img" / "signals_domains_confusion.png",
                    title=f"MMLU-Pro dev ({len(dev)} questions): top-1 {dev_report.accuracy:.3f}")
    domains.metadata.update({"data": "MMLU-Pro train.jsonl (TIGER-AI-Lab/MMLU-Pro, MIT)",
                             "dev_top1": dev_report.accuracy, "dev_macro_f1": dev_report.macro_f1})
    domains.encoder = None
    domains.save(signals / "domains.npz")
    res["domains"] = {"train": len(texts), "dev": len(dev), "dev_top1": dev_report.accuracy,
                      "dev_macro_f1": dev_report.macro_f1, "dev_per_label_f1": dev_report.per_label_f1,
                      "dev_confusion": dev_report.confusion, "cv_top1": cv_report.accuracy,
                      "train_seconds": train_s, "encode_seconds": encode_s, "encoded_train": len(encoded),
                      "cv_folds": cv, "terms": len(domains.lexicon),
                      "artifact_bytes": (signals / "domains.npz").stat().st_size,
                      "per_query": _per_query_ms(domains, dev_texts, dev_vectors, 200 if quick else 1000)}
    log(f"signals: domains dev top-1 {dev_report.accuracy:.3f}, trained in {train_s:.1f} s")

    # -- jailbreak ------------------------------------------------------------------------------
    pi_train, pi_test = _jsonl(root / "prompt-injections/train.jsonl"), _jsonl(root / "prompt-injections/test.jsonl")
    clinc = json.loads((root / "clinc150/data_full.json").read_text(encoding="utf-8"))
    benign = [text for text, _ in clinc["train"]][::10]  # 1,500 known-benign queries: more drown the injections' signal
    benign_test = [text for text, _ in clinc["test"]]
    if quick:
        benign, benign_test = benign[::30], benign_test[::30]
    if cached_only:
        benign = [text for text in benign if encoder.cached(text)]
    encoder.warm([r["text"] for r in pi_train + pi_test] + benign + benign_test)
    log(f"signals: jailbreak on {len(pi_train)} prompts + {len(benign)} benign CLINC150 train queries")
    t = time.perf_counter()
    names = {0: "benign", 1: "injection"}
    jailbreak, jb_cv = train_signal([r["text"] for r in pi_train], [names[int(r["label"])] for r in pi_train],
                                    encoder=encoder, name="jailbreak", positive_label="injection", benign=benign,
                                    max_flag_rate=0.01, cv=cv, settings=Settings(c=32.0), progress=show_progress())
    jb_train_s = time.perf_counter() - t
    test_texts = [r["text"] for r in pi_test]
    flagged = np.array(jailbreak.predict(test_texts)) == "injection"
    truth_pos = np.array([int(r["label"]) == 1 for r in pi_test])
    tp, fp, fn = int((flagged & truth_pos).sum()), int((flagged & ~truth_pos).sum()), int((~flagged & truth_pos).sum())
    f1 = 2 * tp / max(2 * tp + fp + fn, 1)
    benign_rate = float(np.mean(np.array(jailbreak.predict(benign_test)) == "injection"))
    jailbreak.metadata.update({"data": "deepset prompt-injections train (Apache-2.0) + CLINC150 train as benign "
                                       "(CC BY 3.0)", "test_f1": f1, "clinc_test_flag_rate": benign_rate})
    jailbreak.encoder = None
    jailbreak.save(signals / "jailbreak.npz")
    res["jailbreak"] = {"train": len(pi_train), "benign_train": len(benign), "test": len(pi_test),
                        "threshold": jailbreak.threshold, "cv_f1": jb_cv.f1, "test_f1": f1,
                        "test_precision": tp / max(tp + fp, 1), "test_recall": tp / max(tp + fn, 1),
                        "clinc_test_queries": len(benign_test), "clinc_test_flag_rate": benign_rate,
                        "benign_flag_rate_cv": jailbreak.metadata.get("benign_flag_rate_cv"),
                        "train_seconds": jb_train_s, "artifact_bytes": (signals / "jailbreak.npz").stat().st_size}
    log(f"signals: jailbreak test F1 {f1:.3f}, CLINC150 test flagged {benign_rate:.2%}")
    return res


def markdown(res: dict[str, Any], command: str, image: str) -> str:
    d, j = res["domains"], res["jailbreak"]
    rows = "\n".join(f"| {label} | {f1:.3f} |" for label, f1 in sorted(d["dev_per_label_f1"].items()))
    q = d["per_query"]
    split = ("" if d["encoded_train"] == d["train"] else
             f" (the vector part on the {d['encoded_train']} of them encoded in time, the lexicon on all)")
    return f"""Command: `{command}` ({res['machine']['cpus']} CPUs, {res['machine']['processor']}).

**Domains** (`builtin:domains`): trained on {d['train']} MMLU-Pro train questions{split}, measured on the {d['dev']}
dev questions it never saw: **top-1 {d['dev_top1']:.3f}**, macro F1 {d['dev_macro_f1']:.3f} ({d['cv_folds']}-fold CV on train:
{d['cv_top1']:.3f}). Cost beyond the encoder (vectors given): p50 {q['p50_ms']:.3f} ms, p99 {q['p99_ms']:.3f} ms per
single query, {q['batch_ms_per_query']:.3f} ms per query in a batch. Training (CV + final fit, encoder
vectors cached): {d['train_seconds']:.0f} s; encoding the questions with the bundled MiniLM: {d['encode_seconds']:.0f} s
(0 when cached). Lexicon: {d['terms']} terms; artifact {d['artifact_bytes'] / 1e6:.1f} MB.

| domain | F1 (dev) |
|---|---|
{rows}

![MMLU-Pro dev confusion matrix]({image})

**Jailbreak** (`builtin:jailbreak`): trained on {j['train']} prompt-injections train prompts plus {j['benign_train']}
CLINC150 train queries as known-benign texts; threshold {j['threshold']:.3f} chosen on out-of-fold training
predictions (best F1 with at most 1% of the benign texts flagged). On the test split ({j['test']} prompts):
**F1 {j['test_f1']:.3f}** (precision {j['test_precision']:.3f}, recall {j['test_recall']:.3f}); CLINC150 in-scope
test queries flagged: **{j['clinc_test_flag_rate']:.2%}** of {j['clinc_test_queries']}. Training: {j['train_seconds']:.0f} s.
"""

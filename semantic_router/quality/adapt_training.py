"""The contrastive training loop of `adapt_encoder`: sentence-transformers' losses in a plain torch loop.

Why not `SentenceTransformerTrainer`: it needs `datasets` and `accelerate` (pyarrow, pandas: ~150 MB more
in the `local` extra) for a loop of a few dozen steps, and its batch samplers cannot keep two utterances
of one route out of one batch, which is what makes in-batch negatives honest (see `route_batches`).
The losses themselves are sentence-transformers' own (`MultipleNegativesRankingLoss`...).
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

LOSSES = ("mnrl", "batch-all-triplet")


@dataclass
class TrainingLog:
    """What one adaptation did: steps, the loss of each step, seconds."""

    steps: int = 0
    losses: list[float] = field(default_factory=list)
    seconds: float = 0.0

    def mean_loss(self, first: bool) -> float:
        """Mean loss over the first (or last) tenth of the steps, at least one step."""
        if not self.losses:
            return float("nan")
        k = max(1, len(self.losses) // 10)
        part = self.losses[:k] if first else self.losses[-k:]
        return sum(part) / len(part)


def route_batches(groups: Mapping[str, Sequence[str]], batch_size: int, rng: random.Random) -> list[list[tuple[str, str, int]]]:
    """One epoch of (anchor, positive, route number) triples in batches holding each route at most once.

    Every utterance is an anchor once, its positive another utterance of its route (itself for a
    route of one). With one pair per route per batch, every other pair in a batch is a true negative
    (MNRL's in-batch negatives would otherwise push apart utterances of the same route)."""
    queues: list[list[tuple[str, str, int]]] = []
    for r, texts in enumerate(groups.values()):
        items = list(texts)
        pairs = []
        for i, anchor in enumerate(items):
            others = items[:i] + items[i + 1:]
            pairs.append((anchor, rng.choice(others) if others else anchor, r))
        rng.shuffle(pairs)
        queues.append(pairs)
    batches: list[list[tuple[str, str, int]]] = []
    while any(queues):
        live = [q for q in queues if q]
        rng.shuffle(live)
        for start in range(0, len(live), batch_size):
            batch = [q.pop() for q in live[start:start + batch_size]]
            if len(batch) > 1:  # a batch of one has no negative: dropped (only when one route is left over)
                batches.append(batch)
    rng.shuffle(batches)
    return batches


def make_loss(model: Any, name: str) -> Any:
    """The sentence-transformers loss module `name` names."""
    try:  # sentence-transformers >= 6 moved them (the old path warns)
        from sentence_transformers.sentence_transformer import losses
    except ImportError:  # pragma: no cover - older sentence-transformers
        from sentence_transformers import losses  # type: ignore[attr-defined,no-redef,unused-ignore]  # older path

    if name == "mnrl":
        return losses.MultipleNegativesRankingLoss(model)
    if name == "batch-all-triplet":
        return losses.BatchAllTripletLoss(model)
    raise ValueError(f"loss must be one of {', '.join(LOSSES)}, got {name!r}")


def train(model: Any, groups: Mapping[str, Sequence[str]], *, epochs: int, batch_size: int, lr: float, seed: int,
          loss_name: str, progress: bool, on_step: Callable[[int, float], None] | None = None) -> TrainingLog:
    """Fine-tune `model` (a SentenceTransformer, in place) so utterances of one route come together.

    AdamW with a linear warm-up over the first tenth of the steps then linear decay; seeded, so two
    runs on one machine give the same weights."""
    import time

    import torch
    from tqdm.auto import tqdm

    rng = random.Random(seed)
    torch.manual_seed(seed)
    loss_fn = make_loss(model, loss_name)
    plan = [route_batches(groups, batch_size, rng) for _ in range(epochs)]
    total = sum(len(p) for p in plan)
    log = TrainingLog()
    if total == 0:
        return log
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    warm = max(1, math.ceil(total / 10))
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: (s + 1) / warm if s < warm else max(0.0, (total - s) / max(1, total - warm)))
    t0 = time.perf_counter()
    model.train()
    bar = tqdm(total=total, desc="adapt", unit="step", disable=not progress, leave=False)
    try:
        for epoch in plan:
            for batch in epoch:
                anchors = [a for a, _, _ in batch]
                if loss_name == "mnrl":
                    features = [_features(model, anchors), _features(model, [p for _, p, _ in batch])]
                    labels = None
                else:  # triplet losses: each text with its route number
                    features = [_features(model, anchors + [p for _, p, _ in batch])]
                    labels = torch.tensor([r for _, _, r in batch] * 2)
                value = loss_fn(features, labels)
                optimizer.zero_grad()
                value.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                optimizer.step()
                scheduler.step()
                log.steps += 1
                log.losses.append(float(value.detach()))
                bar.update(1)
                bar.set_postfix(loss=f"{log.losses[-1]:.3f}")
                if on_step is not None:
                    on_step(log.steps, log.losses[-1])
    finally:
        bar.close()
        model.eval()
    log.seconds = time.perf_counter() - t0
    return log


def _features(model: Any, texts: list[str]) -> dict[str, Any]:
    """The model's inputs for `texts` on its device (`preprocess` in sentence-transformers >= 6, else `tokenize`)."""
    prepare = getattr(model, "preprocess", None) or model.tokenize
    return {k: v.to(model.device) if hasattr(v, "to") else v for k, v in prepare(texts).items()}

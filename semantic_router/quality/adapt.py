"""Adapt the encoder to a router's routes: contrastive fine-tuning of its sentence-transformers model.

`adapt_encoder(routes_or_router, out)` fine-tunes the router's model (the bundled MiniLM by default) so
utterances of one route come together and those of different routes apart (MultipleNegativesRankingLoss
over batches holding each route once, see `adapt_training`), writes the model as an adapted-encoder folder
at `out` (atomically) and returns its `AdaptedEncoder`. `adapted_router(router, encoder)` rebuilds the router
with it. Same model size, same query-time cost; the router saved with it names it and carries the folder.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from semantic_router.checks import check_int
from semantic_router.encoders.base import check_texts
from semantic_router.encoders.adapted import AdaptedEncoder, write_model_dir
from semantic_router.encoders.huggingface import DEFAULT_MODEL, HuggingFaceEncoder, bundled_model_path
from semantic_router.quality.adapt_training import LOSSES, TrainingLog, train
from semantic_router.quality.evaluation import check_labels
from semantic_router.route import Route

if TYPE_CHECKING:
    from semantic_router.router.layer import CoreRouteLayer

__all__ = ["DEFAULTS", "adapt_encoder", "adapted_router", "training_groups"]

LayerT = TypeVar("LayerT", bound="CoreRouteLayer")

#: the defaults `adapt_encoder` trains with (sentence-transformers' usual fine-tuning settings; their CLINC150
#: figures are in docs/benchmarks.md, "Adapted encoder")
DEFAULTS: dict[str, Any] = {"epochs": 1, "batch_size": 64, "lr": 5e-5, "loss": "mnrl"}


def training_groups(routes: Sequence[Route], labelled: tuple[Sequence[str], Sequence[str | None]] | None = None,
                    ) -> dict[str, list[str]]:
    """Texts per route to train on: every route's utterances, plus labelled texts of a route (texts labelled
    "no route" are left out: they have no route to come close to). Duplicates within a route count once."""
    groups: dict[str, list[str]] = {r.name: list(dict.fromkeys(r.utterances)) for r in routes}
    if labelled is not None:
        texts = check_texts(labelled[0], "labelled texts")
        labels = check_labels(list(labelled[1]), list(groups), len(texts))
        for text, label in zip(texts, labels):
            if label is not None and text not in groups[label]:
                groups[label].append(text)
    groups = {name: texts for name, texts in groups.items() if texts}
    if len(groups) < 2:
        raise ValueError(f"adapting needs at least 2 routes with utterances, got {len(groups)}")
    return groups


def _base_of(encoder: Any) -> tuple[str, str]:
    """(name, local folder) of the model to start from: a local sentence-transformers model."""
    if encoder is None:
        return DEFAULT_MODEL, str(bundled_model_path())
    if isinstance(encoder, AdaptedEncoder):  # adapt further from an adaptation: its base stays the base
        return encoder.base, str(encoder.path)
    if type(encoder) is HuggingFaceEncoder:
        if encoder.model_path is not None:
            return encoder.name, encoder.model_path
        if encoder.name == DEFAULT_MODEL:
            return DEFAULT_MODEL, str(bundled_model_path())
        if Path(encoder.name).is_dir():
            return encoder.name, encoder.name
    raise TypeError(f"adapting needs a router on a local sentence-transformers model (HuggingFaceEncoder with a "
                    f"local model), got encoder {type(encoder).__name__} {getattr(encoder, 'name', '?')!r}")


def adapt_encoder(
    source: CoreRouteLayer | Sequence[Route],
    out: str | os.PathLike[str],
    *,
    labelled: tuple[Sequence[str], Sequence[str | None]] | None = None,
    epochs: int = DEFAULTS["epochs"],
    batch_size: int = DEFAULTS["batch_size"],
    lr: float = DEFAULTS["lr"],
    loss: str = DEFAULTS["loss"],
    seed: int = 0,
    progress: bool | None = None,
    base_encoder: HuggingFaceEncoder | None = None,
) -> AdaptedEncoder:
    """Fine-tune the router's model (or the bundled MiniLM for a list of routes) on the routes' utterances
    and `labelled` (texts, route names or None), write it to the folder `out` and return its encoder.
    `base_encoder`: the model to start from (default: the router's encoder, else the bundled MiniLM).

    Deterministic for a given seed on one machine. `progress`: a bar while training (default: on a
    terminal only). The returned encoder serves with the model just trained (nothing reloaded)."""
    routes = list(source.routes) if hasattr(source, "routes") else list(source)
    if not all(isinstance(r, Route) for r in routes):
        raise TypeError("adapt_encoder takes a router or a list of Route objects")
    check_int(epochs, "epochs", minimum=1)
    check_int(batch_size, "batch_size", minimum=2)
    check_int(seed, "seed", minimum=0)
    if not (isinstance(lr, (int, float)) and not isinstance(lr, bool) and 0 < lr < 1):
        raise ValueError(f"lr must be a number in (0, 1), got {lr!r}")
    if loss not in LOSSES:
        raise ValueError(f"loss must be one of {', '.join(LOSSES)}, got {loss!r}")
    groups = training_groups(routes, labelled)
    base, folder = _base_of(base_encoder if base_encoder is not None else getattr(source, "encoder", None))
    if progress is None:
        progress = sys.stderr.isatty()

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from sentence_transformers import SentenceTransformer

    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # the weight-loading bar is noise; the training bar is the one that tells
    model = SentenceTransformer(folder, device="cpu", local_files_only=True)
    log: TrainingLog = train(model, groups, epochs=epochs, batch_size=batch_size, lr=lr, seed=seed,
                             loss_name=loss, progress=progress)
    training = {"loss": loss, "epochs": epochs, "batch_size": batch_size, "lr": lr, "seed": seed,
                "routes": len(groups), "texts": sum(len(t) for t in groups.values()), "steps": log.steps,
                "seconds": round(log.seconds, 1), "loss_first": round(log.mean_loss(True), 4),
                "loss_last": round(log.mean_loss(False), 4)}
    write_model_dir(model, out, base, training)
    encoder = AdaptedEncoder(out)
    encoder.use_model(model)
    return encoder


def adapted_router(layer: LayerT, encoder: AdaptedEncoder, **overrides: Any) -> LayerT:
    """`layer`'s routes and settings on `encoder`, every utterance encoded anew; learned state (a fitted rule,
    calibration) is left behind, since it was learned on the other encoder's scores: fit again.

    The new router gets a fresh in-process index unless `index=` is given (a shared index holds the old
    encoder's vectors and names it: point the adapted router at another one)."""
    config = layer.to_config().model_copy(update={"extra": {}})
    if "index" not in overrides and config.index.get("type") != "local":
        raise ValueError(f"the router uses a {config.index.get('type')!r} index that holds the other encoder's "
                         "vectors: pass index= (another index) for the adapted router")
    return type(layer).from_config(config, encoder=encoder, **overrides)

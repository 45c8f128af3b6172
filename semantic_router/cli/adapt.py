"""`semantic-router adapt ROUTER --out ROUTER2`: fine-tune the router's encoder on its routes, write the adapted router."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from semantic_router.cli import loading
from semantic_router.cli.commands import CONFIG_HELP
from semantic_router.cli.output import console, die, show_progress


def adapt_cmd(
    config: Path = typer.Argument(..., help=CONFIG_HELP, show_default=False),
    out: Path = typer.Option(..., "--out", help="write the adapted router here (.yaml/.json config or .pkl); "
                             "the adapted model goes beside it, in <name>.encoder/", show_default=False),
    data: Optional[Path] = typer.Option(None, "--data", help="labelled texts to train on too: CSV or JSONL "
                                        "with text,route (texts without a route are skipped)", show_default=False),
    epochs: int = typer.Option(1, help="passes over the utterances"),
    batch_size: int = typer.Option(64, "--batch-size", help="pairs per step (each route at most once)"),
    seed: int = typer.Option(0, help="random seed (same seed, same machine: same model)"),
    as_json: bool = typer.Option(False, "--json", help="machine-readable output"),
) -> None:
    """Adapt the router's encoder to its routes (contrastive fine-tuning) and write the router on it."""
    from semantic_router import RouteLayer
    from semantic_router.quality.adapt import adapt_encoder
    from semantic_router.router.persist import file_encoder

    if epochs < 1:
        die(f"--epochs must be at least 1, got {epochs}")
    if batch_size < 2:
        die(f"--batch-size must be at least 2, got {batch_size}")
    loading.writable_file(out, "--out", loading.CONFIG_SUFFIXES + loading.SAVED_SUFFIXES)
    cfg = loading.read_config(config)
    labelled = None
    if data is not None:
        from semantic_router.quality.evaluation import load_labelled

        labelled = load_labelled(loading.existing_file(data, "data file"))
        known = {r.name for r in cfg.routes}
        unknown = sorted({lab for lab in labelled[1] if lab is not None and lab not in known})
        if unknown:
            die(f"{data}: unknown route(s) {', '.join(map(repr, unknown[:5]))}; the router has {', '.join(sorted(known))}")
    base = file_encoder(cfg, config)  # built, not loaded: adapting reads its weights
    encoder = adapt_encoder(cfg.routes, out.parent / f"{out.stem}.encoder", labelled=labelled, epochs=epochs,
                            batch_size=batch_size, seed=seed, base_encoder=base,
                            progress=show_progress() and not as_json)
    rl = RouteLayer.from_config(cfg.model_copy(update={"extra": {}}), encoder=encoder)
    if out.suffix.lower() in loading.SAVED_SUFFIXES:
        rl.save(out)
    else:
        rl.to_file(out)
    summary = {"out": str(out), "encoder": encoder.name, "base": encoder.base, "folder": str(encoder.path),
               **encoder.manifest.training}
    if as_json:
        typer.echo(json.dumps(summary, indent=2))
    else:
        t = encoder.manifest.training
        console().print(f"adapted {encoder.base} on {t['texts']} texts of {t['routes']} routes in {t['seconds']} s "
                        f"(loss {t['loss_first']} -> {t['loss_last']}); wrote {out} and {encoder.path}")


def register(app: typer.Typer) -> None:
    app.command("adapt")(adapt_cmd)

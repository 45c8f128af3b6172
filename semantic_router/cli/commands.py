"""`route`, `routes` and `eval`: route queries, list a router's routes (no model), measure accuracy."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

import typer

from semantic_router.cli import loading
from semantic_router.cli.output import console, die, number

CONFIG_HELP = "router config (.yaml/.json) or saved router (.pkl)"
DATA_HELP = "labelled queries: CSV or JSONL with text,route (empty route = none)"
ONNX_HELP = ("run the bundled model on ONNX Runtime (fast start; exported once into the cache) or on torch; "
             "default: ONNX when the 'fastembed' extra is installed")


def check_queries(texts: list[str]) -> list[str]:
    """Every query must hold text: an empty one is bad input, found before any model loads."""
    for i, text in enumerate(texts, 1):
        if not text.strip():
            die(f"query {i} is empty")
    return texts


def route(
    config: Path = typer.Argument(..., help=CONFIG_HELP, show_default=False),
    texts: list[str] = typer.Argument(..., help="one or more queries", show_default=False),
    as_json: bool = typer.Option(False, "--json", help="machine-readable output"),
    onnx: Optional[bool] = typer.Option(None, "--onnx/--torch", help=ONNX_HELP, show_default=False),
) -> None:
    """Route queries and show the choice with every route's score."""
    check_queries(texts)
    rl = loading.load_router(config, onnx=onnx)
    choices = rl.route_batch(texts, explain=True)
    if as_json:
        out = [{"text": t, **c.model_dump(exclude_none=False)} for t, c in zip(texts, choices)]
        typer.echo(json.dumps(out, indent=2))
        return
    from rich.table import Table

    names = rl.list_route_names()
    table = Table(title="routing")
    table.add_column("query")
    table.add_column("route", style="bold green")
    table.add_column("score")
    for n in names:
        table.add_column(n, style="dim")
    for t, c in zip(texts, choices):
        scores = c.scores or {}
        table.add_row(t, c.name or "(none)", number(c.similarity_score), *(number(scores.get(n)) for n in names))
    console().print(table)


def routes(
    config: Path = typer.Argument(..., help=CONFIG_HELP, show_default=False),
    as_json: bool = typer.Option(False, "--json", help="machine-readable output"),
) -> None:
    """List the routes with their utterance counts and thresholds (reads the file only: no model loads)."""
    cfg = loading.read_config(config)
    default = loading.default_threshold(cfg)
    rows: list[dict[str, Any]] = [
        {"name": r.name, "utterances": len(r.utterances),
         "threshold": r.score_threshold if r.score_threshold is not None else default,
         "own_threshold": r.score_threshold, "description": r.description, "metadata": r.metadata}
        for r in cfg.routes
    ]
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    from rich.table import Table

    table = Table(title=f"{len(rows)} routes")
    for col in ("name", "utterances", "threshold", "description"):
        table.add_column(col)
    for r in rows:
        own = "" if r["own_threshold"] is not None else " (default)"
        table.add_row(r["name"], str(r["utterances"]), f"{number(r['threshold'])}{own}", r["description"] or "")
    console().print(table)


def load_data(rl: Any, data: Path) -> tuple[list[str], list[Optional[str]]]:
    """Labelled queries whose every route the router knows (checked before any evaluation or fitting)."""
    from semantic_router.quality.evaluation import load_labelled

    texts, labels = load_labelled(loading.existing_file(data, "data file"))
    if not texts:
        die(f"{data}: no labelled queries")
    known = set(rl.list_route_names())
    unknown = sorted({label for label in labels if label is not None and label not in known})
    if unknown:
        die(f"{data}: unknown route(s) {', '.join(map(repr, unknown[:5]))}; the router has {', '.join(sorted(known))}")
    return texts, labels


def eval_(
    config: Path = typer.Argument(..., help=CONFIG_HELP, show_default=False),
    data: Path = typer.Argument(..., help=DATA_HELP, show_default=False),
    as_json: bool = typer.Option(False, "--json", help="machine-readable output"),
    out: Optional[Path] = typer.Option(None, "--out", help="also save the report as JSON here", show_default=False),
    plot: Optional[Path] = typer.Option(None, "--plot", help="PNG: score distributions and worst confusions",
                                        show_default=False),
    onnx: Optional[bool] = typer.Option(None, "--onnx/--torch", help=ONNX_HELP, show_default=False),
) -> None:
    """Accuracy of the router on a labelled file."""
    loading.writable_file(out, "--out", (".json",))
    loading.writable_file(plot, "--plot", (".png",))
    rl = loading.load_router(config, onnx=onnx)
    texts, labels = load_data(rl, data)
    report = rl.evaluate(texts, labels)
    if out is not None:
        report.save(out)
    if plot is not None:
        report.plot(plot)
    if as_json:
        typer.echo(json.dumps(report.to_dict(), indent=2))
    else:
        report.print(console())


def register(app: typer.Typer) -> None:
    app.command()(route)
    app.command()(routes)
    app.command("eval")(eval_)

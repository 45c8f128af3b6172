"""Command line: `semantic-router route|routes|eval|fit ...` over a router config or saved router."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Optional

import typer
from rich.console import Console
from rich.table import Table

from semantic_router.errors import SemanticRouterError

app = typer.Typer(help="Semantic routing from the command line.", no_args_is_help=True, add_completion=False)
def console() -> Console:
    """Rich output: the terminal's width on a terminal, a fixed wide one in pipes and tests (no wrapping by COLUMNS)."""
    return Console() if sys.stdout.isatty() else Console(width=160)


def fail(problem: object) -> None:
    """Print one unwrapped `error: ...` line on stderr (never wrapped to the terminal width)."""
    typer.echo(f"error: {' '.join(str(problem).split())}", err=True)


def load_router(config: Path):
    """A router from a JSON/YAML config (encodes its utterances) or a saved `.pkl` router."""
    from semantic_router.router.layer import RouteLayer

    if not config.exists():
        fail(f"no such file: {config}")
        raise typer.Exit(2)
    try:
        if config.suffix.lower() in (".pkl", ".pickle"):
            return RouteLayer.load(config)
        return RouteLayer.from_file(config)
    except (SemanticRouterError, ValueError) as exc:
        fail(exc)
        raise typer.Exit(2) from exc


def _fmt(score: Optional[float]) -> str:
    return "-" if score is None else f"{score:.3f}"


@app.command()
def route(
    config: Path = typer.Argument(..., help="router config (.yaml/.json) or saved router (.pkl)"),
    texts: list[str] = typer.Argument(..., help="one or more queries"),
    as_json: bool = typer.Option(False, "--json", help="machine-readable output"),
) -> None:
    """Route queries and show the choice with every route's score."""
    rl = load_router(config)
    choices = rl.route_batch(texts, explain=True)
    if as_json:
        out = [{"text": t, **c.model_dump(exclude_none=False)} for t, c in zip(texts, choices)]
        typer.echo(json.dumps(out, indent=2))
        return
    names = rl.list_route_names()
    table = Table(title="routing")
    table.add_column("query")
    table.add_column("route", style="bold green")
    table.add_column("score")
    for n in names:
        table.add_column(n, style="dim")
    for t, c in zip(texts, choices):
        scores = c.scores or {}
        table.add_row(t, c.name or "(none)", _fmt(c.similarity_score), *(_fmt(scores.get(n)) for n in names))
    console().print(table)


@app.command()
def routes(
    config: Path = typer.Argument(..., help="router config (.yaml/.json) or saved router (.pkl)"),
    as_json: bool = typer.Option(False, "--json", help="machine-readable output"),
) -> None:
    """List the routes with their utterance counts and thresholds."""
    rl = load_router(config)
    thresholds = dict(zip(rl.snapshot.table.names, rl.snapshot.table.thresholds.tolist()))
    rows: list[dict[str, Any]] = [
        {"name": r.name, "utterances": len(r.utterances), "threshold": thresholds[r.name],
         "own_threshold": r.score_threshold, "description": r.description, "metadata": r.metadata}
        for r in rl.routes
    ]
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    table = Table(title=f"{len(rows)} routes")
    for col in ("name", "utterances", "threshold", "description"):
        table.add_column(col)
    for r in rows:
        own = "" if r["own_threshold"] is not None else " (default)"
        table.add_row(r["name"], str(r["utterances"]), f"{r['threshold']:.3f}{own}", r["description"] or "")
    console().print(table)


@app.command("eval")
def eval_(
    config: Path = typer.Argument(..., help="router config (.yaml/.json) or saved router (.pkl)"),
    data: Path = typer.Argument(..., help="labelled queries: CSV or JSONL with text,route (empty route = none)"),
    as_json: bool = typer.Option(False, "--json", help="machine-readable output"),
    out: Optional[Path] = typer.Option(None, "--out", help="also save the report as JSON here"),
    plot: Optional[Path] = typer.Option(None, "--plot", help="PNG: score distributions and worst confusions"),
) -> None:
    """Accuracy of the router on a labelled file."""
    from semantic_router.quality.evaluation import load_labelled

    rl = load_router(config)
    try:
        texts, labels = load_labelled(data)
    except (OSError, ValueError) as exc:
        fail(exc)
        raise typer.Exit(2) from exc
    report = rl.evaluate(texts, labels)
    if out is not None:
        report.save(out)
    if plot is not None:
        report.plot(plot)
    if as_json:
        typer.echo(json.dumps(report.to_dict(), indent=2))
    else:
        report.print(console())


def main() -> None:  # pragma: no cover - entry point
    app()


try:  # fit/eval helpers register extra commands when present
    from semantic_router.cli import fit as _fit_commands  # noqa: F401,E402
except ImportError:  # pragma: no cover
    pass

from semantic_router.server.cli import register as _register_server  # noqa: E402 - serve / classify

_register_server(app)

if __name__ == "__main__":  # pragma: no cover - `python -m semantic_router.cli`
    main()

"""`semantic-router fit CONFIG DATA --out CONFIG2`: fit thresholds and the decision rule from the
command line (registered on the CLI's typer app; cli.py imports this module)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from semantic_router.cli import app, console, fail, load_router


@app.command("fit")
def fit_cmd(
    config: Path = typer.Argument(..., help="router config (.yaml/.json) or saved router (.pkl)"),
    data: Path = typer.Argument(..., help="labelled queries: CSV or JSONL with text,route (empty route = none)"),
    out: Path = typer.Option(..., "--out", help="write the fitted router here (.yaml/.json config or .pkl)"),
    objective: str = typer.Option("balanced", help="accuracy | balanced | f1"),
    rule: Optional[str] = typer.Option(None, help="switch the decision rule first: knn | centroid | classifier"),
    per_route: bool = typer.Option(True, "--per-route/--global-only", help="refine each route's threshold"),
    calibrate: Optional[str] = typer.Option(None, help="platt | isotonic: calibrated RouteChoice.confidence"),
    plot: Optional[Path] = typer.Option(None, "--plot", help="PNG: score distributions and worst confusions"),
    report_path: Optional[Path] = typer.Option(None, "--report", help="also save the fit report as JSON"),
    as_json: bool = typer.Option(False, "--json", help="machine-readable output"),
) -> None:
    """Fit the router's thresholds (and its rule) on labelled queries and write the fitted router."""
    from semantic_router.quality.evaluation import load_labelled

    rl = load_router(config)
    try:
        texts, labels = load_labelled(data)
        report = rl.fit(texts, labels, objective=objective, rule=rule, per_route=per_route, calibrate=calibrate,
                        progress=not as_json)
    except (OSError, ValueError, TypeError) as exc:
        fail(exc)
        raise typer.Exit(2) from exc
    if out.suffix.lower() in (".pkl", ".pickle"):
        rl.save(out)
    else:
        rl.to_file(out)
    if report_path is not None:
        report.save(report_path)
    if plot is not None and report.after_report is not None:
        report.after_report.plot(plot)
    if as_json:
        typer.echo(json.dumps(report.to_dict(), indent=2))
    else:
        for table in report.rich_tables():
            console().print(table)
        console().print(f"wrote {out}" + (f" and {plot}" if plot else ""))

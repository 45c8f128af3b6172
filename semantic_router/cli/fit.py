"""`semantic-router fit CONFIG DATA --out CONFIG2`: fit thresholds and the decision rule on labelled queries."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from semantic_router.cli import loading
from semantic_router.cli.commands import CONFIG_HELP, DATA_HELP, ONNX_HELP, load_data
from semantic_router.cli.output import console, die, show_progress

CALIBRATIONS = ("platt", "isotonic")


def _one_of(value: Optional[str], allowed: tuple[str, ...], option: str) -> None:
    if value is not None and value not in allowed:
        die(f"{option} {value!r} is not one of {', '.join(allowed)}")


def fit_cmd(
    config: Path = typer.Argument(..., help=CONFIG_HELP, show_default=False),
    data: Path = typer.Argument(..., help=DATA_HELP, show_default=False),
    out: Path = typer.Option(..., "--out", help="write the fitted router here (.yaml/.json config or .pkl)",
                             show_default=False),
    objective: str = typer.Option("balanced", help="accuracy | balanced | f1"),
    rule: Optional[str] = typer.Option(None, help="switch the decision rule first: knn | centroid | classifier",
                                       show_default=False),
    per_route: bool = typer.Option(True, "--per-route/--global-only", help="refine each route's threshold"),
    calibrate: Optional[str] = typer.Option(None, help="platt | isotonic: calibrated RouteChoice.confidence",
                                            show_default=False),
    plot: Optional[Path] = typer.Option(None, "--plot", help="PNG: score distributions and worst confusions",
                                        show_default=False),
    report_path: Optional[Path] = typer.Option(None, "--report", help="also save the fit report as JSON",
                                               show_default=False),
    as_json: bool = typer.Option(False, "--json", help="machine-readable output"),
    onnx: Optional[bool] = typer.Option(None, "--onnx/--torch", help=ONNX_HELP, show_default=False),
) -> None:
    """Fit the router's thresholds (and its rule) on labelled queries and write the fitted router."""
    from semantic_router.decision.rules import RULES
    from semantic_router.quality.fit import OBJECTIVES

    _one_of(objective, tuple(OBJECTIVES), "--objective")
    _one_of(rule, tuple(RULES), "--rule")
    _one_of(calibrate, CALIBRATIONS, "--calibrate")
    # every output is checked before fitting, so a bad path never throws the work away
    loading.writable_file(out, "--out", loading.CONFIG_SUFFIXES + loading.SAVED_SUFFIXES)
    loading.writable_file(plot, "--plot", (".png",))
    loading.writable_file(report_path, "--report", (".json",))
    rl = loading.load_router(config, onnx=onnx)
    texts, labels = load_data(rl, data)
    report = rl.fit(texts, labels, objective=objective, rule=rule, per_route=per_route, calibrate=calibrate,
                    progress=show_progress() and not as_json)
    if out.suffix.lower() in loading.SAVED_SUFFIXES:
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


def register(app: typer.Typer) -> None:
    app.command("fit")(fit_cmd)

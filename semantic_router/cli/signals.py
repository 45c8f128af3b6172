"""`semantic-router train-signal DATA --out SIGNAL`: labelled texts (CSV or JSONL) -> a trained signal artifact."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import typer

from semantic_router.cli import loading
from semantic_router.cli.output import console, number, show_progress

if TYPE_CHECKING:
    from rich.table import Table

    from semantic_router.learn import TrainReport


def train_signal_cmd(
    data: Path = typer.Argument(..., help="labelled texts: .csv (header row) or .jsonl", show_default=False),
    out: Path = typer.Option(..., "--out", help="write the signal artifact here (.npz)", show_default=False),
    text_column: str = typer.Option("text", "--text-column", help="column (or JSON key) of the texts"),
    label_column: str = typer.Option("label", "--label-column", help="column (or JSON key) of the labels"),
    name: Optional[str] = typer.Option(None, "--name", help="the signal's name (default: the --out file's stem)",
                                       show_default=False),
    extend: Optional[str] = typer.Option(None, "--extend", help="train on a built-in signal's data plus DATA "
                                         "(e.g. builtin:domains: add your own domains beside the 14)", show_default=False),
    positive: Optional[str] = typer.Option(None, "--positive", help="binary signals: the label to detect "
                                           "(default: 1/true/yes..., else the rarer label)", show_default=False),
    benign: Optional[Path] = typer.Option(None, "--benign", help="binary signals: known-negative texts (.csv/.jsonl "
                                          "with the text column): trained on, and the threshold flags at most "
                                          "--max-flag-rate of them", show_default=False),
    max_flag_rate: float = typer.Option(0.01, "--max-flag-rate", help="with --benign: the share that may be flagged"),
    cv: int = typer.Option(5, "--cv", help="cross-validation folds"),
    plot: Optional[Path] = typer.Option(None, "--plot", help="confusion matrix PNG (default: SIGNAL's name + "
                                        ".png, when matplotlib is installed)", show_default=False),
    as_json: bool = typer.Option(False, "--json", help="print the report as JSON"),
) -> None:
    """Train a signal on labelled texts (binary or multi-class), cross-validate it, report and save it."""
    from semantic_router.learn import extend_data, train_signal
    from semantic_router.learn.data import read_labelled

    loading.writable_file(out, "--out", (".npz",))
    loading.writable_file(plot, "--plot", (".png",))
    texts, labels = read_labelled(loading.existing_file(data, "data file"), text_column, label_column)
    if extend is not None:
        base_texts, base_labels = extend_data(extend)
        texts, labels = base_texts + texts, base_labels + labels
    benign_texts = read_labelled_texts(benign, text_column) if benign is not None else None
    signal, report = train_signal(texts, labels, name=name or out.stem.split(".")[0], cv=cv, positive_label=positive,
                                  benign=benign_texts, max_flag_rate=max_flag_rate,
                                  progress=show_progress() and not as_json)
    signal.save(out)
    picture = write_plot(report, plot if plot is not None else out.with_suffix(".png"), required=plot is not None)
    if as_json:
        typer.echo(json.dumps({**report.to_dict(), "out": str(out), "plot": str(picture) if picture else None}, indent=2))
        return
    console().print(report_table(report))
    console().print(f"wrote {out}" + (f" and {picture}" if picture else ""))


def write_plot(report: TrainReport, path: Path, required: bool) -> Optional[Path]:
    """The confusion-matrix PNG, or None when matplotlib is absent and nobody asked for it (--plot)."""
    try:
        return report.plot(path)
    except ImportError:
        if required:
            raise
        return None


def read_labelled_texts(path: Path, text_column: str) -> list[str]:
    """The texts of a .csv/.jsonl file (its text column only: benign examples carry no label)."""
    from semantic_router.learn.data import read_labelled

    texts, _ = read_labelled(loading.existing_file(path, "benign file"), text_column, text_column)
    return texts


def report_table(report: TrainReport) -> Table:
    """The report as a rich table: per-label F1 and support, then the overall figures."""
    from rich.table import Table
    table = Table(title=f"signal {report.name!r}: {report.n} texts, {report.cv}-fold cross-validation")
    table.add_column("label")
    table.add_column("F1", justify="right")
    table.add_column("support", justify="right")
    for i, label in enumerate(report.labels):
        marker = " (positive)" if label == report.positive_label else ""
        table.add_row(label + marker, number(report.per_label_f1[label]), str(sum(report.confusion[i])))
    table.add_section()
    table.add_row("accuracy", number(report.accuracy), str(report.n))
    table.add_row("macro F1", number(report.macro_f1), "")
    if report.threshold is not None:
        table.add_row("threshold", number(report.threshold), "")
    return table


def register(app: typer.Typer) -> None:
    app.command("train-signal")(train_signal_cmd)

"""`semantic-router train-signal`: bad input is one `error:` line with exit status 2 (before any model loads);
a tiny CSV trains end to end into an artifact, a report table and a confusion-matrix PNG."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from semantic_router.cli import app
from semantic_router.learn import read_classifier

ROWS = [("refund my order", "billing"), ("i want my money back", "billing"), ("charge on my card twice", "billing"),
        ("the invoice is wrong", "billing"), ("the app crashes on start", "bug"), ("error when i log in", "bug"),
        ("the screen stays black", "bug"), ("the button does nothing", "bug")]


def write_csv(path: Path, rows: list[tuple[str, str]], header: tuple[str, str] = ("text", "label")) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def one_error(result, needle: str) -> None:
    lines = result.stderr.strip().splitlines()
    assert result.exit_code == 2, result.output
    assert len(lines) == 1 and lines[0].startswith("error: ") and needle in lines[0], result.stderr


@pytest.fixture()
def runner() -> CliRunner:
    return CliRunner()


def test_missing_data_file(runner, tmp_path):
    one_error(runner.invoke(app, ["train-signal", str(tmp_path / "absent.csv"), "--out", str(tmp_path / "s.npz")]),
              "absent.csv")


def test_missing_column(runner, tmp_path):
    data = write_csv(tmp_path / "d.csv", ROWS, header=("text", "intent"))
    one_error(runner.invoke(app, ["train-signal", str(data), "--out", str(tmp_path / "s.npz")]), "no column 'label'")


def test_one_label_only(runner, tmp_path):
    data = tmp_path / "d.jsonl"
    data.write_text("\n".join(json.dumps({"text": t, "label": "x"}) for t, _ in ROWS), encoding="utf-8")
    one_error(runner.invoke(app, ["train-signal", str(data), "--out", str(tmp_path / "s.npz")]), "at least two labels")


def test_empty_text(runner, tmp_path):
    data = write_csv(tmp_path / "d.csv", ROWS + [("  ", "bug")])
    one_error(runner.invoke(app, ["train-signal", str(data), "--out", str(tmp_path / "s.npz")]), "empty 'text'")


def test_bad_output_and_unknown_file_type(runner, tmp_path):
    data = write_csv(tmp_path / "d.csv", ROWS)
    one_error(runner.invoke(app, ["train-signal", str(data), "--out", str(tmp_path / "s.pkl")]), "unknown file type")
    other = tmp_path / "d.txt"
    other.write_text("text,label\n", encoding="utf-8")
    one_error(runner.invoke(app, ["train-signal", str(other), "--out", str(tmp_path / "s.npz")]), "use .csv or .jsonl")
    one_error(runner.invoke(app, ["train-signal", str(data), "--out", str(tmp_path / "s.npz"), "--extend", "builtin:x"]),
              "no built-in signal")


@pytest.mark.slow
def test_trains_end_to_end_with_the_bundled_model(runner, tmp_path):
    data = write_csv(tmp_path / "support.csv", [(t, y) for t, y in ROWS] * 2)
    out = tmp_path / "support.npz"
    result = runner.invoke(app, ["train-signal", str(data), "--out", str(out), "--cv", "2", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["n"] == 16 and report["labels"] == ["billing", "bug"] and report["positive_label"] == "billing"
    assert Path(report["plot"]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    signal = read_classifier(out)
    assert signal.name == "support" and signal.encoder_name == "sentence-transformers/all-MiniLM-L6-v2"
    table = runner.invoke(app, ["train-signal", str(data), "--out", str(out), "--cv", "2", "--name", "tickets"])
    assert table.exit_code == 0 and "macro F1" in table.stdout and "tickets" in table.stdout

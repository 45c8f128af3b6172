"""Labelled texts from a file: CSV (a header row) or JSONL (one object a line), with named columns."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from semantic_router.errors import ArgumentError

__all__ = ["read_labelled"]


def _cell(row: dict[str, Any], column: str, where: str) -> str:
    if column not in row:
        raise ArgumentError(f"{where}: no column {column!r} (columns: {', '.join(map(str, row))})")
    value = row[column]
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise ArgumentError(f"{where}: {column!r} must be a string or an integer, got {value!r:.80}")
    text = str(value)
    if not text.strip():
        raise ArgumentError(f"{where}: empty {column!r}")
    return text


def read_labelled(path: str | Path, text_column: str = "text", label_column: str = "label") -> tuple[list[str], list[str]]:
    """(texts, labels) from a .csv or .jsonl/.ndjson file; every row needs both columns, non-empty."""
    source = Path(path)
    if not source.is_file():
        raise ArgumentError(f"no such data file: {source}")
    try:
        raw = source.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise ArgumentError(f"cannot read {str(source)!r}: {exc}") from None
    suffix = source.suffix.lower()
    rows: list[tuple[str, Any]] = []
    if suffix in (".jsonl", ".ndjson"):
        for n, line in enumerate(raw.splitlines(), 1):
            if line.strip():
                try:
                    rows.append((f"{source}:{n}", json.loads(line)))
                except json.JSONDecodeError as exc:
                    raise ArgumentError(f"{source}:{n}: not valid JSON: {exc}") from None
    elif suffix == ".csv":
        reader = csv.DictReader(raw.splitlines())
        if not reader.fieldnames:
            raise ArgumentError(f"{source}: empty CSV (it needs a header row)")
        rows = [(f"{source} row {n}", row) for n, row in enumerate(reader, 2)]
    else:
        raise ArgumentError(f"{source}: unknown file type {suffix or '(none)'!r}; use .csv or .jsonl")
    texts, labels = [], []
    for where, row in rows:
        if not isinstance(row, dict):
            raise ArgumentError(f"{where}: expected an object with {text_column!r} and {label_column!r}")
        texts.append(_cell(row, text_column, where))
        labels.append(_cell(row, label_column, where).strip())
    if not texts:
        raise ArgumentError(f"{source}: no labelled rows")
    return texts, labels

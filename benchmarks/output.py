"""Where benchmark results go: an output folder by default, the tracked docs only when asked.

`Output(out)` writes `out/results/NAME.json`, `out/img/*.png` and Markdown sections into
`out/benchmarks.md`. With `update_docs=True` the same sections, plots and JSON also go to
`docs/benchmarks.md`, `docs/img/` and `benchmarks/results/` (the tracked copies). Every file is
written by the package's `atomic_write` (a unique temporary file in its folder, fsynced, renamed),
so an interrupted run leaves no half file.
"""

from __future__ import annotations

import io
import json
import os
import re
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "benchmarks" / "out"  # git-ignored
DOCS = ROOT / "docs" / "benchmarks.md"
DOCS_IMG = ROOT / "docs" / "img"
TRACKED_RESULTS = ROOT / "benchmarks" / "results"

T = TypeVar("T")
_quiet = False


def set_quiet(quiet: bool) -> None:
    """`--quiet`: no progress bars and no log lines."""
    global _quiet
    _quiet = quiet


def show_progress() -> bool:
    """Progress bars only on a terminal, and never with `--quiet`."""
    return not _quiet and sys.stderr.isatty()


def bar(items: Iterable[T], desc: str) -> Iterator[T]:
    """A tqdm bar over `items` when `show_progress()`, else the items as they are."""
    if not show_progress():
        yield from items
        return
    from tqdm import tqdm

    yield from tqdm(items, desc=desc)


def load_average() -> float:
    """The machine's 1-minute load average (what `uptime` shows first), recorded beside every timing."""
    return round(os.getloadavg()[0], 2)


def log(message: str) -> None:
    if not _quiet:
        print(message, flush=True)


def write_atomic(path: Path, data: bytes | str) -> Path:
    """`atomic_write` (text as UTF-8) after creating missing folders: readers see the old file or the new one."""
    # imported here: `core --baseline` imports this module against an older library that has no `_files`
    from semantic_router._files import atomic_write

    path.parent.mkdir(parents=True, exist_ok=True)
    return atomic_write(path, data)


def write_json(path: Path, results: dict[str, Any]) -> Path:
    """Results as indented JSON (numpy numbers as floats), atomically."""
    return write_atomic(path, json.dumps(results, indent=2, default=float) + "\n")


def update_section(doc: Path, name: str, body: str) -> Path:
    """Replace (or append) the Markdown section `name` of `doc`, keeping the rest; atomically."""
    text = doc.read_text(encoding="utf-8") if doc.exists() else "# Benchmarks\n"
    return write_atomic(doc, replace_section(text, name, body))


def replace_section(text: str, name: str, body: str) -> str:
    """`text` with the block between `<!-- name:start -->` and `<!-- name:end -->` replaced (appended if absent)."""
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    block = f"{start}\n{body.rstrip()}\n{end}"
    if start in text and end in text:
        return re.sub(re.escape(start) + r".*?" + re.escape(end), lambda _: block, text, flags=re.S)
    return text.rstrip() + "\n\n" + block + "\n"


@dataclass(frozen=True)
class Output:
    """The destinations of one benchmark run."""

    out: Path = DEFAULT_OUT
    update_docs: bool = False
    docs: Path = DOCS
    docs_img: Path = DOCS_IMG
    tracked_results: Path = TRACKED_RESULTS

    @property
    def doc(self) -> Path:
        return self.out / "benchmarks.md"

    def json(self, name: str, results: dict[str, Any]) -> Path:
        if self.update_docs:
            write_json(self.tracked_results / f"{name}.json", results)
        return write_json(self.out / "results" / f"{name}.json", results)

    def section(self, name: str, body: str) -> None:
        """Put a Markdown section into the output's benchmarks.md (and docs/benchmarks.md with update_docs).
        Image links inside `body` are relative (`img/NAME.png`): both files keep their plots in `img/`."""
        for doc in [self.doc] + ([self.docs] if self.update_docs else []):
            update_section(doc, name, body)

    def plot(self, filename: str, draw: Callable[[BinaryIO], object]) -> str:
        """Render a plot once (`draw` writes the image into a binary file) and write it into the output's
        img/ (and docs/img with update_docs); return its relative link. A failed render writes nothing."""
        image = io.BytesIO()
        draw(image)
        for folder in [self.out / "img"] + ([self.docs_img] if self.update_docs else []):
            write_atomic(folder / filename, image.getvalue())
        return f"img/{filename}"

    def written(self) -> str:
        where = f"{self.out}/ (results/, img/, benchmarks.md)"
        return where + (f" and {self.docs}, {self.docs_img}/, {self.tracked_results}/" if self.update_docs else "")

"""The signals shipped inside the package (`builtin:domains`, `builtin:jailbreak`) and `load_signal`.

Each built-in signal is an artifact in `builtin/` beside the texts it was trained on (`<name>.train.jsonl.gz`,
with their licences in `builtin/LICENSES.md`), so users can retrain it with their own labels added
(`extend_data`, `semantic-router train-signal --extend builtin:domains`).
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import TYPE_CHECKING

from semantic_router.errors import ArgumentError, ConfigError
from semantic_router.learn.artifact import read_classifier
from semantic_router.learn.classifier import TextClassifier

if TYPE_CHECKING:
    from semantic_router.encoders import DenseEncoder

__all__ = ["BUILTIN", "BUILTIN_PREFIX", "builtin_path", "extend_data", "load_signal"]

BUILTIN_PREFIX = "builtin:"
#: built-in signal -> what it answers
BUILTIN = {
    "domains": "the subject of a question: the 14 MMLU-Pro domains (biology ... psychology, other)",
    "jailbreak": "prompt injection / jailbreak attempts (binary: 'injection' vs 'benign')",
}
_FOLDER = Path(__file__).resolve().parent / "builtin"


def builtin_path(name: str) -> Path:
    """The artifact of built-in signal `name` ("domains" or "builtin:domains")."""
    short = name.removeprefix(BUILTIN_PREFIX)
    if short not in BUILTIN:
        raise ArgumentError(f"no built-in signal {name!r}: choose one of "
                            f"{', '.join(BUILTIN_PREFIX + n for n in BUILTIN)}")
    return _FOLDER / f"{short}.npz"


def load_signal(name_or_path: str | Path, encoder: DenseEncoder | None = None) -> TextClassifier:
    """A trained signal: `"builtin:domains"`, `"builtin:jailbreak"`, or the path of an artifact written by
    `train_signal(...)[0].save(path)` / `semantic-router train-signal`. `encoder` defaults to the one the
    signal was trained on (the bundled MiniLM for the built-in ones), loaded offline and lazily."""
    is_builtin = isinstance(name_or_path, str) and name_or_path.startswith(BUILTIN_PREFIX)
    path = builtin_path(name_or_path) if is_builtin else Path(name_or_path)  # type: ignore[arg-type]
    clf = read_classifier(path, encoder)
    if encoder is None:
        from semantic_router.encoders import HuggingFaceEncoder

        clf.encoder = HuggingFaceEncoder(clf.encoder_name)
    return clf


def extend_data(name: str) -> tuple[list[str], list[str]]:
    """The (texts, labels) built-in signal `name` was trained on, to retrain it with rows of one's own."""
    source = builtin_path(name).with_suffix(".train.jsonl.gz")
    texts, labels = [], []
    try:
        with gzip.open(source, "rt", encoding="utf-8") as fh:
            for line in fh:
                row = json.loads(line)
                texts.append(str(row["text"]))
                labels.append(str(row["label"]))
    except (OSError, ValueError, KeyError) as exc:
        raise ConfigError(f"cannot read the training data of {name!r} ({source}): {exc}") from exc
    return texts, labels

"""Reading the signal artifact (`TextClassifier.save` writes it): one .npz file (no pickle), checked on load.

Keys: `meta` (UTF-8 JSON: format, version, name, labels, encoder, operating point, training facts),
`terms` (UTF-8 JSON list: the lexicon), `idf`, `dense_weights`, `lexical_weights`, `bias`. Every field is
validated before a classifier is built, so a crafted or truncated file fails with a `ConfigError` naming it.
"""

from __future__ import annotations

import io
import json
import math
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from semantic_router.errors import ConfigError, ConfigFileNotFoundError
from semantic_router.learn.classifier import FORMAT, VERSION, TextClassifier
from semantic_router.learn.lexical import Lexicon

if TYPE_CHECKING:
    from semantic_router.encoders import DenseEncoder

__all__ = ["read_classifier"]

_ARRAYS = ("idf", "dense_weights", "lexical_weights", "bias")
#: a signal bigger than this is not one we wrote (the built-in ones are a few MB)
_MAX_BYTES = 512 * 1024 * 1024


def _fail(path: Path, what: str) -> ConfigError:
    return ConfigError(f"signal {str(path)!r} is not a valid signal artifact: {what}")


def _read_json(path: Path, data: Any, key: str) -> Any:
    raw = data[key]
    if raw.dtype != np.uint8 or raw.ndim != 1:
        raise _fail(path, f"{key!r} must be UTF-8 JSON bytes")
    try:
        return json.loads(raw.tobytes().decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise _fail(path, f"{key!r} is not UTF-8 JSON ({exc})") from None


def _check_meta(path: Path, meta: Any) -> dict[str, Any]:
    if not isinstance(meta, dict):
        raise _fail(path, "'meta' must be a JSON object")
    if meta.get("format") != FORMAT:
        raise _fail(path, f"format must be {FORMAT!r}, got {meta.get('format')!r}")
    if meta.get("version") != VERSION:
        raise _fail(path, f"version {meta.get('version')!r} is not supported (this library reads {VERSION})")
    name, labels, encoder = meta.get("name"), meta.get("labels"), meta.get("encoder")
    if not isinstance(name, str) or not name:
        raise _fail(path, f"name must be a non-empty string, got {name!r}")
    if not isinstance(encoder, str) or not encoder:
        raise _fail(path, f"encoder must be a non-empty string, got {encoder!r}")
    if (not isinstance(labels, list) or len(labels) < 2 or not all(isinstance(x, str) and x for x in labels)
            or len(set(labels)) != len(labels)):
        raise _fail(path, f"labels must be at least two distinct non-empty strings, got {labels!r}")
    positive, threshold = meta.get("positive_label"), meta.get("threshold")
    if (positive is None) != (threshold is None):
        raise _fail(path, "positive_label and threshold go together (both set or both null)")
    if positive is not None:
        if len(labels) != 2 or positive not in labels:
            raise _fail(path, f"positive_label {positive!r} must be one of a binary signal's labels {labels!r}")
        if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not 0.0 <= threshold <= 1.0:
            raise _fail(path, f"threshold must be a number in [0, 1], got {threshold!r}")
    if not isinstance(meta.get("metadata", {}), dict):
        raise _fail(path, "metadata must be a JSON object")
    return meta


def _check_arrays(path: Path, data: Any, labels: int, terms: int) -> dict[str, npt.NDArray[np.float32]]:
    out = {}
    for key in _ARRAYS:
        arr = data[key]
        if arr.dtype != np.float32:
            raise _fail(path, f"{key!r} must be float32, got {arr.dtype}")
        if not np.isfinite(arr).all():
            raise _fail(path, f"{key!r} holds NaN or infinite values")
        out[key] = arr
    dims = out["dense_weights"].shape[0] if out["dense_weights"].ndim == 2 else -1
    expected = {"idf": (terms,), "dense_weights": (dims, labels), "lexical_weights": (terms, labels), "bias": (labels,)}
    for key, shape in expected.items():
        if out[key].shape != shape or (key == "dense_weights" and dims < 1):
            raise _fail(path, f"{key!r} has shape {out[key].shape}, expected {shape} "
                              f"({labels} labels, {terms} terms, encoder dimensions >= 1)")
    return out


def read_classifier(path: str | Path, encoder: DenseEncoder | None = None) -> TextClassifier:
    """Load and validate the artifact at `path`; `encoder` (if given) is attached for `predict_proba(texts)`."""
    source = Path(path)
    if not source.is_file():
        raise ConfigFileNotFoundError(f"signal {str(source)!r} not found")
    if source.stat().st_size > _MAX_BYTES:
        raise _fail(source, f"it is larger than {_MAX_BYTES} bytes")
    try:
        with np.load(io.BytesIO(source.read_bytes()), allow_pickle=False) as data:
            missing = sorted({"meta", "terms", *_ARRAYS} - set(data.files))
            if missing:
                raise _fail(source, f"missing {', '.join(map(repr, missing))}")
            meta = _check_meta(source, _read_json(source, data, "meta"))
            terms = _read_json(source, data, "terms")
            if not isinstance(terms, list) or not all(isinstance(t, str) for t in terms) or len(set(terms)) != len(terms):
                raise _fail(source, "'terms' must be a list of distinct strings")
            arrays = _check_arrays(source, data, len(meta["labels"]), len(terms))
    except ConfigError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, KeyError) as exc:
        raise _fail(source, f"cannot read it as .npz ({type(exc).__name__}: {exc})") from None
    threshold = meta.get("threshold")
    if encoder is not None and encoder.name != meta["encoder"]:
        raise ConfigError(f"signal {meta['name']!r} was trained on encoder {meta['encoder']!r}, "
                          f"not {encoder.name!r}: pass that encoder or retrain the signal")
    if encoder is not None and encoder.dimensions != arrays["dense_weights"].shape[0]:
        raise ConfigError(f"signal {meta['name']!r} expects {arrays['dense_weights'].shape[0]}-dimensional vectors, "
                          f"encoder {encoder.name!r} makes {encoder.dimensions}")
    return TextClassifier(
        name=meta["name"], labels=meta["labels"], encoder_name=meta["encoder"], dense_weights=arrays["dense_weights"],
        bias=arrays["bias"], lexicon=Lexicon(terms, arrays["idf"]), lexical_weights=arrays["lexical_weights"],
        positive_label=meta.get("positive_label"),
        threshold=None if threshold is None or math.isnan(threshold) else float(threshold),
        metadata=meta.get("metadata", {}), encoder=encoder)

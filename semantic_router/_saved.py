"""The saved-router file: a pickle of plain data behind a digest header.

Layout (version 2)::

    semantic-router/saved v2 sha256=<64 hex digits>\\n
    <pickle of {"format", "version", "config", "records", "rule_state"}>

The pickle holds only dicts, lists, strings, numbers and numpy arrays, so users of other routers
can read it; `load_saved` reads it back through an unpickler that resolves globals from an
explicit allow-list WITHOUT importing anything named by the file, and checks the digest first, so
a corrupted file fails with a clear `ConfigError` instead of routing differently. Version-1 files
(a bare pickle, no digest) still load; saving them again adds the digest.
"""

from __future__ import annotations

import hashlib
import io
import math
import pickle
import re
from pathlib import Path
from typing import Any

import numpy as np

from semantic_router._files import atomic_write
from semantic_router._pickled_arrays import NUMPY_NAMES, finish
from semantic_router.errors import ConfigError

SAVED_FORMAT = "semantic-router/saved"
SAVED_VERSION = 2
MAGIC = b"semantic-router/saved "
_HEADER = re.compile(rb"semantic-router/saved v(\d+) sha256=([0-9a-f]{64})\n")

# (module, name) -> object, for every global a pickle of plain data and numpy arrays refers to,
# under numpy 1.x names too. Looked up, never imported: a file naming anything else is refused
# before any module it names is touched. numpy's names resolve to stand-ins that check declared
# shapes and dtypes against the file's bytes before anything is allocated (_pickled_arrays).
_ALLOWED: dict[tuple[str, str], Any] = {**NUMPY_NAMES, ("builtins", "complex"): complex}


class PlainUnpickler(pickle.Unpickler):
    """Unpickles dicts, lists, strings, numbers and numpy arrays; refuses any other global
    without importing its module."""

    def find_class(self, module: str, name: str) -> Any:
        try:
            return _ALLOWED[(module, name)]
        except (KeyError, TypeError):
            raise ConfigError(f"refusing to load {module}.{name}: saved routers hold only plain data") from None


def encode_saved(payload: dict[str, Any]) -> bytes:
    """The file's bytes: digest header, then the pickle of `payload` (format and version added)."""
    body = pickle.dumps({"format": SAVED_FORMAT, "version": SAVED_VERSION, **payload}, protocol=5)
    digest = hashlib.sha256(body).hexdigest().encode()
    return MAGIC + b"v%d sha256=%s\n" % (SAVED_VERSION, digest) + body


def dump_saved(payload: dict[str, Any], path: str | Path) -> None:
    """Write a saved router atomically: {"config", "records", "rule_state"} as a digested pickle."""
    atomic_write(path, encode_saved(payload))


def decode_saved(raw: bytes, source: str) -> dict[str, Any]:
    """The payload of a saved file's bytes, digest checked; ConfigError for anything else."""
    if raw.startswith(MAGIC):
        head = _HEADER.match(raw)
        if head is None:
            raise ConfigError(f"{source}: saved router header is corrupt")
        version = int(head.group(1))
        if version > SAVED_VERSION:
            raise ConfigError(f"{source}: saved by a newer version of semantic-router (file version {version})")
        body = raw[head.end():]
        if hashlib.sha256(body).hexdigest().encode() != head.group(2):
            raise ConfigError(f"{source}: saved router is corrupt (content does not match its sha256 digest)")
    else:
        version, body = 1, raw  # version 1: a bare pickle without digest
    try:
        payload = PlainUnpickler(io.BytesIO(body)).load()
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from exc
    except Exception as exc:  # any unpickling failure of a truncated or foreign file
        raise ConfigError(f"{source}: not a saved router (corrupt or foreign pickle: {exc!r:.200})") from exc
    _check_size(payload, len(body), source)
    try:
        payload = finish(payload)
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from exc
    if not isinstance(payload, dict) or payload.get("format") != SAVED_FORMAT:
        raise ConfigError(f"{source}: not a saved router (foreign pickle content)")
    if payload.get("version") != version:
        raise ConfigError(f"{source}: saved router is corrupt (payload version {payload.get('version')!r}, "
                          f"file version {version})")
    for key in ("config", "records"):
        if key not in payload:
            raise ConfigError(f"{source}: saved router is missing {key!r}")
    return payload


MAX_DEPTH = 64


def _check_size(payload: Any, n_bytes: int, source: str) -> None:
    """Refuse payloads that are far bigger or deeper than their bytes: pickle's memo lets a few bytes
    refer to one list many times (nested, a "billion laughs" that later checks would walk forever).

    Without shared references every element costs at least one byte of pickle, so a file of n bytes
    holds at most about n elements; arrays count as one (their shapes were checked against their
    bytes while unpickling)."""
    budget = n_bytes + 64
    stack = [(payload, 0)]
    while stack:
        item, depth = stack.pop()
        budget -= 1
        if budget < 0:
            raise ConfigError(f"{source}: saved router is malformed (its content expands far beyond its "
                              f"{n_bytes} bytes)")
        if depth > MAX_DEPTH:
            raise ConfigError(f"{source}: saved router is malformed (nested deeper than {MAX_DEPTH} levels)")
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for kv in item.items() for v in kv)
        elif isinstance(item, (list, tuple, set, frozenset)):
            stack.extend((v, depth + 1) for v in item)


def load_saved(path: str | Path) -> dict[str, Any]:
    """Read and check a saved router file (see `decode_saved`)."""
    p = Path(path)
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read saved router {str(p)!r}: {exc}") from exc
    return decode_saved(raw, str(p))


# -- records ----------------------------------------------------------------------------------------
def records_to_plain(records: list[Any]) -> dict[str, Any]:
    """Columnar plain form of records: one float32 matrix plus lists (compact and fast to load)."""
    return {
        "ids": [r.id for r in records],
        "routes": [r.route for r in records],
        "utterances": [r.utterance for r in records],
        "dense": np.stack([r.dense for r in records]) if records else np.zeros((0, 0), np.float32),
        "sparse": [None if r.sparse is None else r.sparse.to_dict() for r in records],
        "metadata": [r.metadata for r in records],
    }


def check_columns(plain: Any, source: str) -> np.ndarray:
    """Check the columnar records' structure and vectors; returns the (n, d) float32 matrix.

    Refuses columns of different lengths, non-string names, and vectors that are not a finite,
    real 2-D matrix with no zero row (a zero vector has no direction to route by)."""
    if not isinstance(plain, dict):
        raise ConfigError(f"{source}: saved router records are corrupt (not a mapping)")
    missing = {"ids", "routes", "utterances", "dense", "sparse", "metadata"} - set(plain)
    if missing:
        raise ConfigError(f"{source}: saved router records are corrupt (missing {sorted(missing)})")
    dense = plain["dense"]
    if not isinstance(dense, np.ndarray) or dense.ndim != 2 or dense.dtype.kind != "f":
        raise ConfigError(f"{source}: saved vectors must be a 2-D float matrix, got "
                          f"{getattr(dense, 'shape', type(dense).__name__)} {getattr(dense, 'dtype', '')}")
    n = dense.shape[0]
    for key in ("ids", "routes", "utterances", "sparse", "metadata"):
        if not isinstance(plain[key], list) or len(plain[key]) != n:
            raise ConfigError(f"{source}: saved router records are corrupt ({key!r} does not match {n} vectors)")
    for key in ("ids", "routes", "utterances"):
        bad = next((v for v in plain[key] if not isinstance(v, str)), None)
        if bad is not None:
            raise ConfigError(f"{source}: saved record {key} must be strings, got {bad!r:.60}")
    for sparse in plain["sparse"]:
        if sparse is not None and not (isinstance(sparse, dict) and all(
                isinstance(k, int) and isinstance(v, (int, float)) and math.isfinite(v) for k, v in sparse.items())):
            raise ConfigError(f"{source}: saved sparse vectors must be {{index: finite weight}} mappings, "
                              f"got {sparse!r:.60}")
    dense = dense.astype(np.float32)
    if not np.isfinite(dense).all():
        raise ConfigError(f"{source}: saved vectors hold NaN or infinite values")
    if n and not (np.abs(dense).max(axis=1) > 0).all():
        raise ConfigError(f"{source}: saved vectors include a zero vector")
    return dense


def check_rule_state(state: Any, n_routes: int, dims: int, source: str) -> dict[str, Any] | None:
    """A saved rule's learned state, or ConfigError when it cannot belong to `n_routes` routes of
    `dims`-dimensional vectors (every array finite, every axis one of those two sizes)."""
    if state is None:
        return None
    if not isinstance(state, dict) or not isinstance(state.get("name"), str):
        raise ConfigError(f"{source}: saved rule state is corrupt (not a mapping with a rule name)")
    arrays = state.get("arrays", {})
    if not isinstance(arrays, dict) or not isinstance(state.get("params", {}), dict):
        raise ConfigError(f"{source}: saved rule state is corrupt (arrays/params are not mappings)")
    for key, arr in arrays.items():
        if not isinstance(arr, np.ndarray) or arr.dtype.kind != "f" or arr.ndim > 2:
            raise ConfigError(f"{source}: saved rule array {key!r} is not a float vector or matrix")
        if not np.isfinite(arr).all():
            raise ConfigError(f"{source}: saved rule array {key!r} holds NaN or infinite values")
        if any(size not in (n_routes, dims) for size in arr.shape):
            raise ConfigError(f"{source}: saved rule array {key!r} has shape {arr.shape}, which fits neither "
                              f"{n_routes} routes nor {dims} dimensions")
    params = state.get("params", {})
    bad = next((k for k, v in params.items() if isinstance(v, float) and not math.isfinite(v)), None)
    if bad is not None:
        raise ConfigError(f"{source}: saved rule parameter {bad!r} is not finite")
    return state

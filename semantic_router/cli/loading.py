"""What the CLI reads: whole routers (to route), configs alone (to list routes, no model), and paths it will write.

Listing routes never builds a model or encodes anything. Routing a router whose encoder is the bundled
all-MiniLM-L6-v2 runs it on ONNX Runtime (`FastEmbedEncoder`, same model and vectors) when the
`fastembed` extra is installed, because importing torch and sentence-transformers dominates a cold start.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

from semantic_router.extras import install_hint
from semantic_router._saved import load_saved
from semantic_router.cli.output import die
from semantic_router.config import ENCODERS, RouterConfig, build, check_spec, read_text_config
from semantic_router.errors import ConfigError

if TYPE_CHECKING:
    from semantic_router.encoders.base import DenseEncoder
    from semantic_router import RouteLayer

SAVED_SUFFIXES = (".pkl", ".pickle")
CONFIG_SUFFIXES = (".yaml", ".yml", ".json")
_BUNDLED = {"sentence-transformers/all-MiniLM-L6-v2", "all-MiniLM-L6-v2"}


def existing_file(path: Path, what: str = "file") -> Path:
    """`path` if it is a readable file; else stop with one line naming it."""
    if not path.exists():
        die(f"no such {what}: {path}")
    if path.is_dir():
        die(f"{what} {path} is a folder, not a file")
    return path


def writable_file(path: Optional[Path], option: str, suffixes: tuple[str, ...] = ()) -> Optional[Path]:
    """Check an output path BEFORE any work: not a folder, its folder exists, a known file type."""
    if path is None:
        return None
    if path.is_dir():
        die(f"{option} {path} is a folder; give a file name")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        die(f"{option} {path}: no such directory {parent}")
    if suffixes and path.suffix.lower() not in suffixes:
        die(f"{option} {path}: unknown file type {path.suffix or '(none)'!r}; use one of {', '.join(suffixes)}")
    return path


def read_config(path: Path) -> RouterConfig:
    """The router config inside a YAML/JSON file or a saved router, validated whole (`check_components`)
    without building or encoding anything."""
    existing_file(path, "file")
    if path.suffix.lower() in SAVED_SUFFIXES:
        return check_components(RouterConfig.parse(load_saved(path)["config"], str(path)), str(path))
    return check_components(read_text_config(path), str(path))


def check_components(config: RouterConfig, source: str) -> RouterConfig:
    """`config` once every component spec (encoder, index, ...) has a known type and valid options, checked
    without constructing any (ConfigError naming the field). A component whose extra this machine lacks is
    checked by type only: listing its routes still works here, and routing with it names the extra."""
    for kind, spec, registry in config.components():
        try:
            check_spec(spec, registry, kind)
        except ImportError:
            continue
        except ConfigError as exc:
            raise ConfigError(f"{source}: {exc}") from exc
    return config


def is_bundled_model(spec: dict[str, Any]) -> bool:
    """Whether an encoder spec names the bundled all-MiniLM-L6-v2 on sentence-transformers."""
    return (spec.get("type") == "huggingface" and spec.get("name", "all-MiniLM-L6-v2") in _BUNDLED
            and spec.get("model_path") is None)


def onnx_available() -> bool:
    return importlib.util.find_spec("fastembed") is not None


def pick_encoder(spec: dict[str, Any], onnx: Optional[bool]) -> Optional[DenseEncoder]:
    """The encoder to route with: the bundled model on ONNX when asked (or by default, when installed);
    None to let the router build the one its config names."""
    if onnx is False:
        return None
    if not is_bundled_model(spec):
        if onnx:
            die(f"--onnx runs the bundled all-MiniLM-L6-v2 only; this router's encoder is {spec}")
        return None
    if not onnx_available():
        if onnx:
            die(f"--onnx needs the 'fastembed' extra: {install_hint('fastembed')}")
        return None
    from semantic_router.encoders.fastembed import FastEmbedEncoder

    return FastEmbedEncoder(score_threshold=spec.get("score_threshold"))


def load_router(path: Path, onnx: Optional[bool] = None) -> RouteLayer:
    """A router from a JSON/YAML config (encodes its utterances) or a saved `.pkl` router (encodes nothing)."""
    from semantic_router import RouteLayer

    config = read_config(path)
    overrides: dict[str, Any] = {}
    encoder = pick_encoder(config.encoder, onnx)
    if encoder is not None:
        overrides["encoder"] = encoder
    if path.suffix.lower() in SAVED_SUFFIXES:
        return RouteLayer.load(path, **overrides)
    return RouteLayer.from_file(path, **overrides)


def default_threshold(config: RouterConfig) -> Optional[float]:
    """The threshold a route without its own gets: the config's, else the encoder's default (the encoder
    object is only constructed, never loaded); None when the encoder cannot be built here (missing SDK/key)."""
    if config.score_threshold is not None:
        return config.score_threshold
    try:
        return float(build(config.encoder, ENCODERS, "encoder").score_threshold)
    except Exception:  # an SDK or API key this machine lacks: the listing still works
        return None

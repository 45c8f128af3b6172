"""RouteLayer <-> RouterConfig, and save/load of a router with its vectors (nothing re-encoded).

Plain functions that RouteLayer's methods delegate to. File formats: `.json`, `.yaml`/`.yml`
(configs: routes and settings, utterances re-encoded on load) and `.pkl`/`.pickle` (saved
routers: config plus every vector and the trained rule, see `semantic_router._saved`). Every
write is atomic; every read is validated and fails with `ConfigError` naming what is wrong.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from semantic_router._saved import (
    check_columns,
    check_rule_state,
    dump_saved,
    load_saved,
    records_to_plain,
)
from semantic_router.config import (
    ENCODERS,
    INDEXES,
    LLMS,
    HistorySettings,
    RouterConfig,
    build,
    read_text_config,
    write_text_config,
)
from semantic_router.encoders.adapted import AdaptedEncoder, copy_model_dir
from semantic_router.encoders.base import SparseVector
from semantic_router.errors import ConfigError, EncoderError
from semantic_router.index.base import Record

if TYPE_CHECKING:  # the layer above, by its shape: this module never imports it
    from semantic_router.encoders.base import SparseEncoder
    from semantic_router.router.protocols import Layer, PersistedLayer

PICKLE_SUFFIXES = (".pkl", ".pickle")


def to_config(layer: PersistedLayer) -> RouterConfig:
    return RouterConfig(
        encoder=layer.encoder.spec(),
        sparse_encoder=None if layer.sparse_encoder is None else layer.sparse_encoder.spec(),
        index=layer.index.spec(),
        alpha=layer.alpha,
        top_k=layer.top_k,
        aggregation=layer.aggregation,
        score_threshold=layer.score_threshold,
        routes=layer.routes,
        extra=layer.extra,
        llm=None if layer.llm is None else layer.llm.spec(),
        history=HistorySettings(weight=layer.history.weight, turns=layer.history.turns),
    )


def parse(data: object) -> RouterConfig:
    return data if isinstance(data, RouterConfig) else RouterConfig.parse(data)


def warmup(layer: PersistedLayer) -> None:
    """Load and run the encoder once, so the first query does not pay for it (servers)."""
    layer.warmup()


def from_config(cls: type[Layer], config: RouterConfig, warm: bool = False, **overrides: Any) -> Layer:
    """Build a router from a config; `encoder=`, `index=`, `sparse_encoder=` and settings override it.
    `warm=True` loads and runs the encoder before returning."""
    encoder = overrides.pop("encoder", None) or build(config.encoder, ENCODERS, "encoder")
    index = overrides.pop("index", None) or build(config.index, INDEXES, "index")
    sparse = overrides.pop("sparse_encoder", None)
    if sparse is None and config.sparse_encoder is not None:
        sparse = build(config.sparse_encoder, ENCODERS, "sparse_encoder")
    settings: dict[str, Any] = {"alpha": config.alpha, "top_k": config.top_k, "score_threshold": config.score_threshold}
    if "aggregation" in config.model_fields_set:  # an explicit aggregation asks for the knn rule
        settings["aggregation"] = config.aggregation
    if config.llm is not None and "llm" not in overrides:
        settings["llm"] = build(config.llm, LLMS, "llm")
    settings["history_weight"] = config.history.weight
    settings["history_turns"] = config.history.turns
    settings.update(overrides)
    layer = cls(encoder=encoder, routes=config.routes, index=index, sparse_encoder=sparse, **settings)
    try:
        layer.restore_extra(config.extra, trained_rule=overrides.get("trained_rule"))
    except (TypeError, ValueError, KeyError) as exc:
        raise ConfigError(f"extra: cannot restore the saved rule/calibration: {exc}") from exc
    if warm:
        warmup(layer)
    return layer


def from_dict(cls: type[Layer], data: Any, warm: bool = False, **overrides: Any) -> Layer:
    return from_config(cls, parse(data), warm=warm, **overrides)


# -- files ------------------------------------------------------------------------------------------
def file_kind(path: str | Path) -> str:
    """"pickle", "json" or "yaml" by the file's suffix; ConfigError for any other."""
    suffix = Path(path).suffix.lower()
    if suffix in PICKLE_SUFFIXES:
        return "pickle"
    if suffix == ".json":
        return "json"
    if suffix in (".yaml", ".yml"):
        return "yaml"
    raise ConfigError(f"cannot tell the format of {str(path)!r} by its suffix: use .json, .yaml/.yml "
                      "(configs) or .pkl/.pickle (saved routers with their vectors)")


def to_file(layer: PersistedLayer, path: str | Path, fmt: str | None = None) -> None:
    """Write the router as `fmt` ("json", "yaml", "pickle"), else by suffix; atomically."""
    kind = fmt or file_kind(path)
    if kind == "pickle":
        save(layer, path)
    elif kind in ("json", "yaml"):
        write_text_config(_file_config(layer, path), path, kind)
    else:
        raise ValueError(f"format must be 'json', 'yaml' or 'pickle', got {fmt!r}")


def from_file(cls: type[Layer], path: str | Path, fmt: str | None = None, warm: bool = False,
              **overrides: Any) -> Layer:
    """Read a router written by `to_file`/`save`: by `fmt`, else by suffix."""
    kind = fmt or file_kind(path)
    if kind == "pickle":
        return load(cls, path, warm=warm, **overrides)
    config = read_text_config(path, kind)
    with _in_file(path):
        encoder = overrides.pop("encoder", None) or file_encoder(config, path)
        return from_config(cls, config, warm=warm, encoder=encoder, **overrides)


# -- an adapted encoder travels beside the file that names it ------------------------------------------
def _file_config(layer: PersistedLayer, path: str | Path) -> RouterConfig:
    """The config to write at `path`: an adapted encoder's folder is copied beside the file (``<stem>.encoder``,
    unless it already is in the file's folder) and named by its path relative to the file."""
    config = to_config(layer)
    encoder = layer.encoder
    if isinstance(encoder, AdaptedEncoder):
        folder = Path(path).resolve().parent
        source = encoder.path.resolve()
        if not source.is_relative_to(folder):
            target = folder / f"{Path(path).stem}.encoder"
            copy_model_dir(source, target)
            source = target
        config.encoder = {**encoder.spec(), "path": source.relative_to(folder).as_posix()}
    return config


def file_encoder(config: RouterConfig, path: str | Path) -> Any:
    """The encoder a router file names. An adapted encoder's folder must be given relative to the file and
    stay inside the file's folder (no absolute path, no `..`, no symlink out): a file never points the
    process at weights elsewhere; its manifest must name the model the file names."""
    spec = config.encoder
    if spec.get("type") != AdaptedEncoder.type:
        return build(spec, ENCODERS, "encoder")
    where = spec.get("path")
    folder = Path(path).resolve().parent
    if not isinstance(where, str) or not where or Path(where).is_absolute():
        raise ConfigError(f"encoder.path: an adapted encoder in a router file is a folder relative to the file, "
                          f"got {where!r:.100}")
    real = (folder / where).resolve()
    if not real.is_relative_to(folder):
        raise ConfigError(f"encoder.path: {where!r:.100} leads outside the router file's folder")
    try:
        return build({**spec, "path": str(real)}, ENCODERS, "encoder")
    except EncoderError as exc:
        raise ConfigError(f"encoder.path: {exc}") from None


@contextlib.contextmanager
def _in_file(path: str | Path) -> Iterator[None]:
    """Prefix ConfigErrors raised while building from a file (e.g. a bad component spec) with its path."""
    try:
        yield
    except ConfigError as exc:
        if str(exc).startswith(str(path)):
            raise
        raise ConfigError(f"{path}: {exc}") from exc


# -- saved routers (config + vectors + trained rule) -------------------------------------------------
def save(layer: PersistedLayer, path: str | Path) -> None:
    """Write the config, every vector and the trained rule as a digested pickle, atomically."""
    names = set(layer.list_route_names())
    records = [r for r in layer.index.records() if r.route in names]
    dump_saved({"config": _file_config(layer, path).model_dump(mode="json"), "records": records_to_plain(records),
                "rule_state": layer.rule_state()}, path)


def load(cls: type[Layer], path: str | Path, warm: bool = False, reencode: bool = False,
         **overrides: Any) -> Layer:
    """Rebuild a saved router: stored vectors go straight into the index, nothing is encoded.

    Refuses (ConfigError) corrupted files, vectors that are NaN/inf/zero or of the wrong dimension,
    utterances without a vector, rule state that cannot fit the routes, and an `encoder` of
    another model than the one the vectors were made with, unless `reencode=True`: then the
    utterances are encoded anew with `encoder` (stored vectors and learned rule state unused)."""
    source = str(path)
    payload = load_saved(path)
    with _in_file(path):
        config = RouterConfig.parse(payload["config"], source)
        by_key = {(r.route, r.utterance): r for r in _records_from_plain(payload["records"], source)}
        wanted = [(r.name, u) for r in config.routes for u in r.utterances]
        missing = [k for k in wanted if k not in by_key]
        if missing:
            raise ConfigError(f"saved router is inconsistent: {len(missing)} utterance(s) have no stored "
                              f"vector (first: route {missing[0][0]!r}, {missing[0][1]!r:.60})")
        encoder = overrides.pop("encoder", None) or file_encoder(config, path)
        if reencode:  # the caller means another model: its own vectors, its own training
            layer = from_config(cls, config, encoder=encoder, **overrides)
            if warm:
                warmup(layer)
            return layer
        dims = by_key[wanted[0]].dense.shape[0] if wanted else encoder.dimensions
        saved_model = config.encoder.get("name")
        if saved_model in (None, encoder.name) and dims != encoder.dimensions:
            raise ConfigError(f"vectors have dimension {dims}, encoder {encoder.name!r} has {encoder.dimensions}")
        if dims != encoder.dimensions or saved_model not in (None, encoder.name):
            raise ConfigError(
                f"the saved vectors were made by {saved_model or config.encoder.get('type')!r:.100} ({dims} dims); "
                f"encoder {encoder.name!r} ({encoder.dimensions} dims) is another model, whose queries would not "
                "compare with them: pass reencode=True to encode the utterances with it")
        rule_state = check_rule_state(payload.get("rule_state"), len(config.routes), dims, source)
        index = overrides.pop("index", None) or build(config.index, INDEXES, "index")
        index.upsert([by_key[k] for k in wanted])
        if "rule" in overrides:  # a rule asked for by the caller trains anew
            rule_state = None
        # learned state: used when it fits the routes, so nothing is retrained
        layer = from_config(cls, config, encoder=encoder, index=index, trained_rule=rule_state, **overrides)
        if rule_state is not None and rule_state["name"] != layer.rule_name:
            layer.close()
            raise ConfigError(f"saved rule state is for rule {rule_state['name']!r}, the config asks for "
                              f"{layer.rule_name!r}")
    if warm:
        warmup(layer)
    return layer


def _records_from_plain(plain: Any, source: str) -> list[Record]:  # plain: unpickled data, checked here
    dense = check_columns(plain, source)
    try:
        return [
            Record(plain["routes"][i], plain["utterances"][i], dense[i],
                   None if plain["sparse"][i] is None else SparseVector.from_dict(plain["sparse"][i]),
                   plain["metadata"][i])  # ids from today's scheme (files may predate it)
            for i in range(dense.shape[0])
        ]
    except (KeyError, TypeError, ValueError, IndexError, AttributeError) as exc:
        raise ConfigError(f"{source}: saved router records are corrupt: {exc}") from exc


def to_dict(layer: PersistedLayer) -> dict[str, Any]:
    return to_config(layer).model_dump(mode="json")


def to_json(layer: PersistedLayer, path: str | Path) -> None:
    to_file(layer, path, "json")


def to_yaml(layer: PersistedLayer, path: str | Path) -> None:
    to_file(layer, path, "yaml")


def from_json(cls: type[Layer], path: str | Path, warm: bool = False, **overrides: Any) -> Layer:
    return from_file(cls, path, "json", warm=warm, **overrides)


def from_yaml(cls: type[Layer], path: str | Path, warm: bool = False, **overrides: Any) -> Layer:
    return from_file(cls, path, "yaml", warm=warm, **overrides)


def from_index(cls: type[Layer], index: Any, encoder: Any = None, **kwargs: Any) -> Layer:
    """A router on the state stored in a shared index (auto_sync="remote"), encoding nothing.

    The encoder comes from this process (`encoder`, else the bundled default model), never from
    the state: whoever can write the shared index must not choose where queries and credentials
    go. What the state says about the encoder (name, dimensions) is only checked: a mismatch is a
    `SyncError`. Likewise a hybrid state gets `sparse_encoder=`, else the default BM25 encoder."""
    from semantic_router.errors import SyncError
    from semantic_router.router.sync import check_encoder, check_state, coordinator_of

    raw = coordinator_of(index).read_state()
    if raw is None:
        raise SyncError(f"index {index.describe()} holds no router state to build from")
    state = check_state(raw)
    if encoder is None:
        from semantic_router.encoders.huggingface import HuggingFaceEncoder

        encoder = HuggingFaceEncoder()
    check_encoder(state.encoder, encoder, "pass the encoder it was built with (encoder=...)")
    if kwargs.get("sparse_encoder") is None and state.sparse_encoder:
        kwargs["sparse_encoder"] = default_sparse(state.sparse_encoder)
    return cls(encoder=encoder, index=index, auto_sync="remote", **kwargs)


def default_sparse(stored: dict[str, Any]) -> SparseEncoder:
    """The process's default sparse encoder for a hybrid shared state (BM25 with default
    parameters), after checking it is the one the state names; never one built from the state."""
    from semantic_router.encoders.bm25 import BM25Encoder
    from semantic_router.errors import SyncError

    if stored.get("type") == BM25Encoder.type:
        sparse = BM25Encoder()
        if sparse.spec() == stored:
            return sparse
    raise SyncError(f"the shared state uses sparse encoder {stored!r:.200}; pass that encoder "
                    "(sparse_encoder=...)")

"""RouteLayer <-> RouterConfig, and save/load of a router with its vectors (nothing re-encoded)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from semantic_router.config import (
    ENCODERS,
    INDEXES,
    LLMS,
    RouterConfig,
    build,
    dump_saved,
    load_saved,
    records_to_plain,
)
from semantic_router.encoders.base import SparseVector
from semantic_router.errors import ConfigError
from semantic_router.ids import record_id
from semantic_router.index.base import Record

if TYPE_CHECKING:
    from semantic_router.router.layer import RouteLayer


def to_config(layer: RouteLayer) -> RouterConfig:
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
        history={"weight": layer.history.weight, "turns": layer.history.turns},
    )


def parse(data: Any) -> RouterConfig:
    return data if isinstance(data, RouterConfig) else RouterConfig.parse(data)


def from_config(cls: type[RouteLayer], config: RouterConfig, **overrides: Any) -> RouteLayer:
    """Build a router from a config; `encoder=`, `index=`, `sparse_encoder=` and settings override it."""
    encoder = overrides.pop("encoder", None) or build(config.encoder, ENCODERS, "encoder")
    index = overrides.pop("index", None) or build(config.index, INDEXES, "index")
    sparse = overrides.pop("sparse_encoder", None)
    if sparse is None and config.sparse_encoder is not None:
        sparse = build(config.sparse_encoder, ENCODERS, "sparse encoder")
    settings = {"alpha": config.alpha, "top_k": config.top_k, "score_threshold": config.score_threshold}
    if "aggregation" in config.model_fields_set:  # an explicit aggregation asks for the knn rule
        settings["aggregation"] = config.aggregation
    if config.llm is not None and "llm" not in overrides:
        settings["llm"] = build(config.llm, LLMS, "llm")
    settings["history_weight"] = config.history.get("weight", 0.5)
    settings["history_turns"] = config.history.get("turns", 3)
    settings.update(overrides)
    layer = cls(encoder=encoder, routes=config.routes, index=index, sparse_encoder=sparse, **settings)
    layer.restore_extra(config.extra)
    return layer


def save(layer: RouteLayer, path: str | Path) -> None:
    records = [r for r in layer.index.records() if r.route in set(layer.list_route_names())]
    dump_saved({"config": layer.to_dict(), "records": records_to_plain(records),
                "rule_state": layer.rule_state()}, path)


def load(cls: type[RouteLayer], path: str | Path, **overrides: Any) -> RouteLayer:
    """Rebuild a saved router: stored vectors go straight into the index, nothing is encoded."""
    payload = load_saved(path)
    config = RouterConfig.parse(payload["config"], str(path))
    records = _records_from_plain(payload["records"], str(path))
    wanted = {record_id(r.name, u) for r in config.routes for u in r.utterances}
    missing = wanted - {r.id for r in records}
    if missing:
        raise ConfigError(f"{path}: saved router is inconsistent: {len(missing)} utterance(s) have no stored vector")
    encoder = overrides.pop("encoder", None) or build(config.encoder, ENCODERS, "encoder")
    if records and records[0].dense.shape[0] != encoder.dimensions:
        raise ConfigError(
            f"{path}: vectors have dimension {records[0].dense.shape[0]}, encoder {encoder.name!r} has {encoder.dimensions}"
        )
    index = overrides.pop("index", None) or build(config.index, INDEXES, "index")
    index.upsert([r for r in records if r.id in wanted])
    # learned rule state: used when it fits the routes, so nothing is retrained
    return from_config(cls, config, encoder=encoder, index=index, trained_rule=payload.get("rule_state"),
                       **overrides)


def _records_from_plain(plain: Any, source: str) -> list[Record]:
    try:
        dense = np.asarray(plain["dense"], dtype=np.float32)
        n = len(plain["ids"])
        if dense.shape[0] != n or any(len(plain[k]) != n for k in ("routes", "utterances", "sparse", "metadata")):
            raise ValueError("columns have different lengths")
        return [
            Record(plain["routes"][i], plain["utterances"][i], dense[i],
                   None if plain["sparse"][i] is None else SparseVector.from_dict(plain["sparse"][i]),
                   plain["metadata"][i], plain["ids"][i])
            for i in range(n)
        ]
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise ConfigError(f"{source}: saved router records are corrupt: {exc}") from exc


def from_index(cls: type[RouteLayer], index: Any, encoder: Any = None, **kwargs: Any) -> RouteLayer:
    """A router on the state stored in a shared index (auto_sync="remote"), encoding nothing;
    without `encoder`, the one the state names is built."""
    from semantic_router.errors import SyncError
    from semantic_router.router.sync import check_state

    raw = index.read_state()
    if raw is None:
        raise SyncError(f"index {index.describe()} holds no router state to build from")
    state = check_state(raw)
    if encoder is None:
        encoder = build({k: v for k, v in state.encoder.items() if k != "dimensions"}, ENCODERS, "encoder")
    if "sparse_encoder" not in kwargs and state.sparse_encoder:
        kwargs["sparse_encoder"] = build(state.sparse_encoder, ENCODERS, "sparse encoder")
    return cls(encoder=encoder, index=index, auto_sync="remote", **kwargs)

"""Structural types of the router for the modules it delegates to.

`router/layer.py` imports its collaborators; a collaborator that needs to name the layer (persistence
reads its settings and builds new ones) names this Protocol instead, so no import runs back up.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, TypeVar

if TYPE_CHECKING:
    from semantic_router.dynamic.conversation import History
    from semantic_router.encoders.base import DenseEncoder, SparseEncoder
    from semantic_router.index.base import Index
    from semantic_router.route import Route


class PersistedLayer(Protocol):
    """What persistence (router/persist.py) reads of a router and calls on it."""

    encoder: DenseEncoder
    index: Index
    llm: Any
    history: History

    def __init__(self, encoder: DenseEncoder | None = None, routes: Any = None, index: Index | None = None,
                 **settings: Any) -> None: ...

    @property
    def sparse_encoder(self) -> SparseEncoder | None: ...

    @property
    def alpha(self) -> float: ...

    @property
    def top_k(self) -> int: ...

    @property
    def aggregation(self) -> str: ...

    @property
    def score_threshold(self) -> float | None: ...

    @property
    def routes(self) -> list[Route]: ...

    @property
    def extra(self) -> dict[str, Any]: ...

    @property
    def rule_name(self) -> str: ...

    def list_route_names(self) -> list[str]: ...

    def rule_state(self) -> dict[str, Any] | None: ...

    def restore_extra(self, extra: dict[str, Any], trained_rule: dict[str, Any] | None = None) -> None: ...

    def warmup(self) -> None: ...

    def close(self) -> None: ...


#: a concrete router class persistence builds (`cls(...)`) and returns
Layer = TypeVar("Layer", bound=PersistedLayer)

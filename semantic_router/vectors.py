"""Sparse vectors: the plain data sparse encoders produce and indexes store (shared by both sides,
so the index never imports an encoder)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class SparseVector:
    """A sparse vector as parallel index/value lists; the dot product of two is a similarity."""

    indices: tuple[int, ...] = ()
    values: tuple[float, ...] = ()
    _map: dict[int, float] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        if len(self.indices) != len(self.values):
            raise ValueError(
                f"SparseVector needs as many indices as values, got {len(self.indices)} and {len(self.values)}"
            )
        self._map.update(zip(self.indices, self.values))

    @classmethod
    def from_dict(cls, pairs: Mapping[int, float]) -> SparseVector:
        """Build from `{index: weight}` pairs (the wire form remote indexes store)."""
        items = sorted((int(k), float(v)) for k, v in pairs.items())
        return cls(tuple(k for k, _ in items), tuple(v for _, v in items))

    def to_dict(self) -> dict[int, float]:
        return dict(self._map)

    def dot(self, other: SparseVector) -> float:
        small, large = (self, other) if len(self.indices) <= len(other.indices) else (other, self)
        return float(sum(v * large._map.get(i, 0.0) for i, v in zip(small.indices, small.values)))

    def __len__(self) -> int:
        return len(self.indices)

"""Vectors: the plain data encoders produce and indexes store (shared by both sides, so the index never
imports an encoder): the array types dense vectors and scores travel as, and `SparseVector`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypeAlias

import numpy as np
import numpy.typing as npt

#: dense vectors, (n, d) float32 rows: what a dense encoder returns and an index stores
Vectors: TypeAlias = npt.NDArray[np.float32]
#: float arrays of any precision (scores, sums): numpy's arithmetic types its results as `floating[Any]`
Floats: TypeAlias = npt.NDArray[np.floating[Any]]
#: integer arrays (route codes, ranks, indices) of any width
Ints: TypeAlias = npt.NDArray[np.integer[Any]]
#: boolean masks (which routes pass)
Bools: TypeAlias = npt.NDArray[np.bool_]
#: object arrays of exact strings (record ids, route names: a str array would drop trailing NULs)
Objects: TypeAlias = npt.NDArray[np.object_]


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
